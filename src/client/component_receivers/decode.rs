//! [`TypedDecoder`]: reads one component type's values with its codec, decoding each once, and
//! keeps the values received for each slot as the baselines of later deltas. A fresh value is
//! mostly written as it is read, straight into the entity's component (or its buffer or
//! record), without boxing; the others wait, typed, in its stage until the frame is applied.

use bevy::{ecs::component::ComponentMutability, prelude::*};
use core::any::Any;

use super::{
    DecodeComponent, FreshWrite, ReadError, ReadValue, ValueEncoding,
    write::{self, InPlace},
};
use crate::client::slot_table::SlotTable;
use crate::shared::{
    erased::ErasedValue,
    error::DecodeError,
    history::History,
    registry::BASELINE_WINDOW_TICKS,
    tick::NetTick,
    value_coder::{Decoded, ValueCoder},
    wire::BitReader,
};

/// One value read from a frame: the value and, for an interpolated or predicted type, the copy
/// its buffer or record takes.
struct Copies<C> {
    first: C,
    second: Option<C>,
}

/// The typed implementation of [`DecodeComponent`].
pub(super) struct TypedDecoder<C, K: ValueCoder<C>> {
    /// The codec (shared with the server's encoder in the same App).
    codec: K,
    /// `C::clone`, once `C` is known to be `Clone` (see
    /// [`ComponentReceivers::set_clone`](super::ComponentReceivers::set_clone)).
    clone: Option<fn(&C) -> C>,
    /// Values received, in the coder's kept form, by slot (delta codecs only). A frame names
    /// its entities in slot order, so reading it walks this table in order. A slot's values
    /// are forgotten when its entity is despawned (unless a newer one holds the slot), when
    /// a spawn of another entity than the slot's is read, and, for this type, when the
    /// component is removed: the server starts its history anew at the same points. A frozen
    /// entity keeps its values.
    history: SlotTable<History<K::Kept>>,
    /// Values read from the frame being applied, by position; taken when applied.
    stage: Vec<Option<Copies<C>>>,
}

impl<C: Component, K: ValueCoder<C>> TypedDecoder<C, K> {
    /// A decoder with nothing received yet.
    pub(super) fn new(codec: K) -> Self {
        Self {
            codec,
            clone: None,
            history: SlotTable::default(),
            stage: Vec::new(),
        }
    }

    /// Stages a value and returns its position.
    fn stage(&mut self, copies: Copies<C>) -> u32 {
        self.stage.push(Some(copies));
        self.stage.len() as u32 - 1
    }

    /// Takes the staged value at `at`.
    ///
    /// # Panics
    /// If nothing is staged there (a caller bug).
    fn unstage(&mut self, at: u32) -> Copies<C> {
        self.stage
            .get_mut(at as usize)
            .and_then(Option::take)
            .expect("a staged value is taken once")
    }
}

/// Decodes one value, against `history` when it is a delta.
fn decode_once<C, K: ValueCoder<C>>(
    codec: &K,
    history: Option<&History<K::Kept>>,
    reader: &mut BitReader,
    encoding: ValueEncoding,
    tick: NetTick,
) -> Result<Decoded<C, K::Kept>, ReadError> {
    match encoding {
        ValueEncoding::Whole => Ok(codec.read(reader)?),
        ValueEncoding::Delta { base, previous } => {
            let baseline = history
                .and_then(|history| history.baseline(base, previous))
                .ok_or(ReadError::MissingBaseline)?;
            Ok(codec.read_delta(reader, tick, baseline)?)
        }
    }
}

/// Ticks of reordering a history allows for beyond the oldest baseline the newest deltas
/// named: a frame sent this much earlier still finds its baselines. An older one stops where
/// its first value needs a forgotten baseline; it is not acknowledged, and the server sends
/// its news again. 133 ms at 60 Hz: more keeps more values per history, each a cache line
/// more to sweep through.
const REORDER_TICKS: u32 = 8;

/// Notes the value received at `tick` in a history, after the oldest baseline the delta it
/// came in named (`floor`), and forgets what no baseline can need: values before what a
/// frame sent [`REORDER_TICKS`] earlier could name, and in any case before twice the baseline
/// window.
fn remember<C>(history: &mut History<C>, tick: NetTick, value: C, floor: Option<NetTick>) {
    if let Some(floor) = floor {
        history.raise_floor(floor);
    }
    let window = tick.sub(2 * BASELINE_WINDOW_TICKS);
    let oldest_needed = match history.floor() {
        Some(floor) if floor.sub(REORDER_TICKS).is_newer_than(window) => floor.sub(REORDER_TICKS),
        _ => window,
    };
    history.prune(oldest_needed);
    history.insert(tick, value);
}

impl<C: Component, K: ValueCoder<C>> TypedDecoder<C, K> {
    /// Turns one decoded value into `copies` values (1 or 2), plus the baseline a delta codec
    /// keeps (unless decoding made it): clones when `C` is `Clone`, else decodes `again` (a
    /// delta codec's type that is neither interpolated nor predicted). Every decode happens
    /// before the value joins the history.
    fn spread<E>(
        &mut self,
        Decoded { value, kept }: Decoded<C, K::Kept>,
        floor: Option<NetTick>,
        copies: usize,
        slot: u32,
        tick: NetTick,
        again: impl Fn(&K, Option<&History<K::Kept>>) -> Result<C, E>,
    ) -> Result<Copies<C>, E> {
        let clone = self.clone;
        let uses_baselines = self.codec.uses_baselines();
        let history = if uses_baselines {
            self.history.get_mut(slot)
        } else {
            None
        };
        let codec = &self.codec;
        let copy = |history: Option<&History<K::Kept>>, value: &C| match clone {
            Some(clone) => Ok(clone(value)),
            None => again(codec, history),
        };
        let second = if copies > 1 {
            Some(copy(history.as_deref(), &value)?)
        } else {
            None
        };
        if uses_baselines {
            let kept = match kept {
                Some(kept) => Some(kept),
                None => codec.keep(copy(history.as_deref(), &value)?),
            };
            // (`keep` declines nothing a coder's own read made.)
            if let Some(kept) = kept {
                match history {
                    Some(history) => remember(history, tick, kept, floor),
                    None => remember(self.history.get_or_insert_default(slot), tick, kept, floor),
                }
            }
        }
        Ok(Copies {
            first: value,
            second,
        })
    }

    /// Reads a value (see [`DecodeComponent::read`]) and remembers it, without staging it.
    fn read_copies(
        &mut self,
        reader: &mut BitReader,
        ReadValue {
            encoding,
            slot,
            tick,
            copies,
        }: ReadValue,
    ) -> Result<Copies<C>, ReadError> {
        let start = reader.clone();
        let history = match encoding {
            ValueEncoding::Delta { .. } => {
                // A frame names its entities mostly in consecutive slots: fetch the next
                // one's baselines while this one is decoded.
                if let Some(next) = self.history.get(slot.wrapping_add(1)) {
                    next.prefetch();
                }
                self.history.get(slot)
            }
            ValueEncoding::Whole => None,
        };
        let value = decode_once(&self.codec, history, reader, encoding, tick)?;
        // Only the previous baseline raises the floor: the server names the one it holds only
        // when every value existed then, so a later entry may name an older one than this
        // entry's base.
        let floor = match encoding {
            ValueEncoding::Delta { previous, .. } => previous,
            ValueEncoding::Whole => None,
        };
        self.spread(value, floor, copies, slot, tick, |codec, history| {
            decode_once(codec, history, &mut start.clone(), encoding, tick)
                .map(|decoded| decoded.value)
        })
    }
}

/// Where a fresh value written in place goes, and under which tick: the record of server
/// values of a predicted entity, the interpolation buffer, or over the component. `two`: the
/// type keeps a second copy (it is interpolated or predicted).
fn in_place_target(write: FreshWrite, two: bool) -> (InPlace, NetTick) {
    if write.predicted && two {
        (InPlace::Confirmed, write.frame_tick)
    } else if write.interpolated && two {
        (InPlace::Snapshot, write.tick)
    } else {
        (InPlace::Component, write.tick)
    }
}

impl<C: Component, K: ValueCoder<C>> DecodeComponent for TypedDecoder<C, K> {
    fn read(&mut self, reader: &mut BitReader, value: ReadValue) -> Result<u32, ReadError> {
        let read = self.read_copies(reader, value)?;
        Ok(self.stage(read))
    }

    fn read_fresh(
        &mut self,
        reader: &mut BitReader,
        value: ReadValue,
        entity: &mut EntityWorldMut,
        write: FreshWrite,
    ) -> Result<Option<u32>, ReadError> {
        let copies = value.copies;
        // With a clone at hand the second copy is made only if the value has to wait: one
        // written in place needs none.
        let clone = self.clone;
        let now = if clone.is_some() { 1 } else { copies };
        let mut read = self.read_copies(
            reader,
            ReadValue {
                copies: now,
                ..value
            },
        )?;
        let (target, at) = in_place_target(write, copies > 1);
        // Over an immutable component the write is an insert, whose hooks and observers run
        // in the apply's order: such values wait.
        let mutation =
            target != InPlace::Component || <C::Mutability as ComponentMutability>::MUTABLE;
        if mutation && !write::names_entities(&mut read.first) {
            let mut held = Some(read);
            if write::write_in_place(entity, target, write.ids, at, || {
                held.take().expect("taken once, when written").first
            }) {
                return Ok(None);
            }
            read = held.expect("kept when nothing was written");
        }
        if let (Some(clone), true) = (clone, copies > 1 && read.second.is_none()) {
            read.second = Some(clone(&read.first));
        }
        Ok(Some(self.stage(read)))
    }

    fn read_blob(
        &mut self,
        bytes: &[u8],
        slot: u32,
        tick: NetTick,
        copies: usize,
    ) -> Result<u32, DecodeError> {
        let decode = |codec: &K| {
            let mut reader = BitReader::new(bytes);
            let decoded = codec.read(&mut reader)?;
            reader.finish()?;
            Ok::<_, DecodeError>(decoded)
        };
        let decoded = decode(&self.codec)?;
        let read = self.spread(decoded, None, copies, slot, tick, |codec, _| {
            decode(codec).map(|decoded| decoded.value)
        })?;
        Ok(self.stage(read))
    }

    fn take_erased(&mut self, at: u32) -> Vec<ErasedValue> {
        let Copies { first, second } = self.unstage(at);
        let mut values = Vec::with_capacity(1 + usize::from(second.is_some()));
        values.push(ErasedValue::new(first));
        values.extend(second.map(ErasedValue::new));
        values
    }

    fn write_fresh(&mut self, at: u32, entity: &mut EntityWorldMut, write: FreshWrite) -> bool {
        let Some(Some(copies)) = self.stage.get_mut(at as usize) else {
            return false;
        };
        if write::names_entities(&mut copies.first) {
            return false;
        }
        let (target, tick) = in_place_target(write, copies.second.is_some());
        let stage = &mut self.stage;
        write::write_in_place(entity, target, write.ids, tick, || {
            stage[at as usize].take().expect("checked just above").first
        })
    }

    fn clear_stage(&mut self) {
        self.stage.clear();
    }

    fn forget_slot(&mut self, slot: u32) {
        self.history.remove(slot);
    }

    fn clear(&mut self) {
        self.history.clear();
        self.stage.clear();
    }

    fn set_clone(&mut self, clone: &dyn Any) {
        if let Some(clone) = clone.downcast_ref::<fn(&C) -> C>() {
            self.clone = Some(*clone);
        }
    }
}
