//! [`TypedDecoder`]: reads one component type's values with its codec, decoding each once, and
//! keeps the values received for each server entity as the baselines of later deltas.

use core::any::Any;
use std::sync::Arc;

use bevy::{ecs::entity::EntityHashMap, prelude::*};

use super::{DecodeComponent, ReadError, ValueEncoding};
use crate::shared::{
    codec::ComponentCodec, erased::ErasedValue, error::DecodeError, history::History,
    registry::BASELINE_WINDOW_TICKS, tick::NetTick, wire::BitReader,
};

/// The typed implementation of [`DecodeComponent`].
pub(super) struct TypedDecoder<C, K> {
    /// The codec, shared with the server's encoder in the same App.
    codec: Arc<K>,
    /// `C::clone`, once `C` is known to be `Clone` (see
    /// [`ComponentReceivers::set_clone`](super::ComponentReceivers::set_clone)).
    clone: Option<fn(&C) -> C>,
    /// Values received, by server entity (delta codecs only).
    history: EntityHashMap<History<C>>,
}

impl<C: Component, K: ComponentCodec<C>> TypedDecoder<C, K> {
    /// A decoder with nothing received yet.
    pub(super) fn new(codec: Arc<K>) -> Self {
        Self {
            codec,
            clone: None,
            history: EntityHashMap::default(),
        }
    }

    fn decode_once(
        &self,
        reader: &mut BitReader,
        encoding: ValueEncoding,
        remote: Entity,
        tick: NetTick,
    ) -> Result<C, ReadError> {
        match encoding {
            ValueEncoding::Whole => Ok(self.codec.read(reader)?),
            ValueEncoding::Delta { base, previous } => {
                let baseline = self
                    .history
                    .get(&remote)
                    .and_then(|history| history.baseline(base, previous))
                    .ok_or(ReadError::MissingBaseline)?;
                Ok(self.codec.read_delta(reader, tick, baseline)?)
            }
        }
    }

    /// Turns one decoded `value` into `copies` values, plus the baseline a delta codec keeps:
    /// clones when `C` is `Clone`, else decodes `again` (a delta codec's type that is neither
    /// interpolated nor predicted).
    fn spread<E>(
        &mut self,
        value: C,
        copies: usize,
        remote: Entity,
        tick: NetTick,
        again: impl Fn(&Self) -> Result<C, E>,
    ) -> Result<Vec<ErasedValue>, E> {
        let copy = |this: &Self, value: &C| match this.clone {
            Some(clone) => Ok(clone(value)),
            None => again(this),
        };
        let mut values = Vec::with_capacity(copies);
        for _ in 1..copies {
            values.push(ErasedValue::new(copy(self, &value)?));
        }
        if self.codec.uses_baselines() {
            let kept = copy(self, &value)?;
            self.remember_received(remote, tick, kept);
        }
        if copies > 0 {
            values.push(ErasedValue::new(value));
        }
        Ok(values)
    }

    fn remember_received(&mut self, remote: Entity, tick: NetTick, value: C) {
        let history = self.history.entry(remote).or_default();
        history.prune(tick.sub(2 * BASELINE_WINDOW_TICKS));
        history.insert(tick, value);
    }
}

impl<C: Component, K: ComponentCodec<C>> DecodeComponent for TypedDecoder<C, K> {
    fn read(
        &mut self,
        reader: &mut BitReader,
        encoding: ValueEncoding,
        remote: Entity,
        tick: NetTick,
        copies: usize,
    ) -> Result<Vec<ErasedValue>, ReadError> {
        let start = reader.clone();
        let value = self.decode_once(reader, encoding, remote, tick)?;
        self.spread(value, copies, remote, tick, |this| {
            this.decode_once(&mut start.clone(), encoding, remote, tick)
        })
    }

    fn read_blob(
        &mut self,
        bytes: &[u8],
        remote: Entity,
        tick: NetTick,
        copies: usize,
    ) -> Result<Vec<ErasedValue>, DecodeError> {
        let decode = |this: &Self| {
            let mut reader = BitReader::new(bytes);
            let value = this.codec.read(&mut reader)?;
            reader.finish()?;
            Ok::<_, DecodeError>(value)
        };
        let value = decode(self)?;
        self.spread(value, copies, remote, tick, decode)
    }

    fn forget_remote(&mut self, remote: Entity) {
        self.history.remove(&remote);
    }

    fn clear(&mut self) {
        self.history.clear();
    }

    fn set_clone(&mut self, clone: &dyn Any) {
        if let Some(clone) = clone.downcast_ref::<fn(&C) -> C>() {
            self.clone = Some(*clone);
        }
    }
}
