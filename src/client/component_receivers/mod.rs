//! [`ComponentReceivers`]: per replicated component type, the client's typed work, at the type's
//! index in the [`ReplicationRegistry`](crate::shared::registry::ReplicationRegistry):
//!
//! - [`DecodeComponent`] reads values and keeps the received values delta coding needs, by
//!   slot (`decode.rs`);
//! - [`WriteComponent`] puts values on entities: over the component, into its interpolation
//!   buffer or its record of server values, and maps the entities inside (`write.rs`).

mod decode;
mod write;

use core::any::Any;
use std::sync::Arc;

use bevy::{
    ecs::{component::ComponentId, world::EntityWorldMut},
    prelude::*,
};

use crate::shared::{
    codec::ComponentCodec, entity_map::ServerEntityMap, erased::ErasedValue, error::DecodeError,
    interpolate::SnapshotBuffer, prediction::Confirmed, tick::NetTick,
    value_coder::as_transform_codec, wire::BitReader,
};

/// How a value travels in a replication frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ValueEncoding {
    /// Whole, decodable alone.
    Whole,
    /// As a difference from the client's values in effect at `base` (and `previous`).
    Delta {
        base: NetTick,
        previous: Option<NetTick>,
    },
}

/// Why a value could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// The bytes are malformed.
    Malformed(DecodeError),
    /// A delta's baseline is not (or no longer) held: the frame is old or raced a despawn.
    MissingBaseline,
}

impl From<DecodeError> for ReadError {
    fn from(error: DecodeError) -> Self {
        Self::Malformed(error)
    }
}

/// How a fresh value is written in place (see [`DecodeComponent::write_fresh`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct FreshWrite {
    /// The component is predicted and the entity [`Predicted`](crate::shared::prediction::Predicted):
    /// the value goes to its record of server values.
    pub(crate) predicted: bool,
    /// The component is interpolated and the entity not opted out: the value goes to its
    /// interpolation buffer.
    pub(crate) interpolated: bool,
    /// The tick the value was set at.
    pub(crate) tick: NetTick,
    /// The frame's tick.
    pub(crate) frame_tick: NetTick,
    /// The ids of the component, its interpolation buffer and its record of server values in
    /// the entity's world (looked up by id, not by type).
    pub(crate) ids: ReceiverIds,
}

/// Where a value read from a frame sits and how it came (see [`DecodeComponent::read_fresh`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReadValue {
    /// Whole or a delta.
    pub(crate) encoding: ValueEncoding,
    /// The slot of its entity.
    pub(crate) slot: u32,
    /// The tick it was set at.
    pub(crate) tick: NetTick,
    /// The copies the frame's apply keeps of it: 1, or 2 for an interpolated or predicted type.
    pub(crate) copies: usize,
}

/// The component ids one component type's values are written under.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReceiverIds {
    /// The component's.
    pub(crate) component: ComponentId,
    /// Its [`SnapshotBuffer`]'s.
    pub(crate) buffer: ComponentId,
    /// Its [`Confirmed`] record's.
    pub(crate) confirmed: ComponentId,
}

/// Reads one component type's values, keeping what delta coding needs. Values read are written
/// at once ([`Self::read_fresh`]) or wait in the decoder's stage, by position, until the frame
/// is applied (then [`Self::clear_stage`]).
pub(crate) trait DecodeComponent: Send + Sync {
    /// Reads a value (of the entity in `value.slot`, set at `value.tick`), decoded once and
    /// staged as `value.copies` values, and remembers it for future deltas. Returns its
    /// position in the stage.
    fn read(&mut self, reader: &mut BitReader, value: ReadValue) -> Result<u32, ReadError>;

    /// Reads a value like [`Self::read`] and, when it names no entity and the entity holds
    /// what `write` puts it in, writes it there at once like [`Self::write_fresh`]: `None`.
    /// Otherwise it is staged: `Some` of its position. The caller checked that it is fresh.
    fn read_fresh(
        &mut self,
        reader: &mut BitReader,
        value: ReadValue,
        entity: &mut EntityWorldMut,
        write: FreshWrite,
    ) -> Result<Option<u32>, ReadError>;

    /// Decodes a value that arrived in slices (its whole encoding) and stages it, like
    /// [`Self::read`].
    fn read_blob(
        &mut self,
        bytes: &[u8],
        slot: u32,
        tick: NetTick,
        copies: usize,
    ) -> Result<u32, DecodeError>;

    /// Takes the staged value at `at` as boxed values, one per copy.
    ///
    /// # Panics
    /// If it was already taken.
    fn take_erased(&mut self, at: u32) -> Vec<ErasedValue>;

    /// Writes the staged value at `at`, a fresh value that names no entity, into the entity's
    /// component (or its buffer or record, as `write` says) when the entity already holds
    /// them; returns whether it did (else the value stays staged and nothing changed).
    fn write_fresh(&mut self, at: u32, entity: &mut EntityWorldMut, write: FreshWrite) -> bool;

    /// Drops the values staged and not taken.
    fn clear_stage(&mut self);

    /// Forgets the values received for the entity in `slot`.
    fn forget_slot(&mut self, slot: u32);

    /// Forgets every value received (the connection ended).
    fn clear(&mut self);

    /// Lets the copies of a value be clones of one decoded value: `clone` is a `fn(&C) -> C`.
    fn set_clone(&mut self, clone: &dyn Any);
}

/// Puts one component type's values on entities.
pub(crate) trait WriteComponent: Send + Sync {
    /// Writes over the entity's existing value (in place when the component is mutable,
    /// re-inserted when it is immutable).
    fn overwrite(&self, entity: &mut EntityWorldMut, value: ErasedValue);

    /// Adds a snapshot to the entity's interpolation buffer; gives the value back when the
    /// entity has no buffer yet.
    fn push_snapshot(
        &self,
        entity: &mut EntityWorldMut,
        tick: NetTick,
        value: ErasedValue,
    ) -> Option<ErasedValue>;

    /// An interpolation buffer holding one snapshot.
    fn new_buffer(&self, tick: NetTick, value: ErasedValue) -> ErasedValue;

    /// Adds a server value of a predicted component (the server's state as of frame tick
    /// `tick`); gives the value back when the entity has no record of them yet.
    fn push_confirmed(
        &self,
        entity: &mut EntityWorldMut,
        tick: NetTick,
        value: ErasedValue,
    ) -> Option<ErasedValue>;

    /// A record of server values holding one.
    fn new_confirmed(&self, tick: NetTick, value: ErasedValue) -> ErasedValue;

    /// Removes the component (and its interpolation buffer and record of server values).
    fn remove(&self, entity: &mut EntityWorldMut);

    /// Maps the entities inside the entity's component again: the `n`-th entity the component
    /// names is `targets[n]` on the server, resolved through `map` (or `Entity::PLACEHOLDER`).
    fn remap(&self, entity: &mut EntityWorldMut, targets: &[Entity], map: &ServerEntityMap);

    /// Takes the component off the entity, with the server entities `targets` put back inside
    /// (the `n`-th entity it names becomes `targets[n]`).
    fn take_unmapped(&self, entity: &mut EntityWorldMut, targets: &[Entity])
    -> Option<ErasedValue>;
}

/// The client's work for one replicated component type.
pub(crate) struct ComponentReceiver {
    /// The id of its component, registered with its decoder and writer (so that writes by id
    /// are of the decoder's type, whatever the registry says).
    component_id: ComponentId,
    /// The id of its [`SnapshotBuffer`].
    pub(crate) buffer_id: ComponentId,
    /// The id of its record of server values ([`Confirmed`]), for predicted entities.
    pub(crate) confirmed_id: ComponentId,
    /// Reads its values.
    pub(crate) decoder: Box<dyn DecodeComponent>,
    /// Puts its values on entities.
    pub(crate) writer: Box<dyn WriteComponent>,
}

impl ComponentReceiver {
    /// `C`'s receiver, coded by `codec`; registers its buffer and record components.
    fn new<C: Component, K: ComponentCodec<C>>(world: &mut World, codec: Arc<K>) -> Self {
        Self {
            component_id: world.register_component::<C>(),
            buffer_id: world.register_component::<SnapshotBuffer<C>>(),
            confirmed_id: world.register_component::<Confirmed<C>>(),
            decoder: match as_transform_codec::<C, K>(&*codec) {
                Some(codec) => Box::new(decode::TypedDecoder::<Transform, _>::new(codec)),
                None => Box::new(decode::TypedDecoder::<C, _>::new(codec)),
            },
            writer: Box::new(write::TypedWriter::<C>::new()),
        }
    }

    /// The ids its values are written under (see [`write::write_in_place`]).
    pub(crate) fn ids(&self) -> ReceiverIds {
        ReceiverIds {
            component: self.component_id,
            buffer: self.buffer_id,
            confirmed: self.confirmed_id,
        }
    }
}

/// Every replicated component type's [`ComponentReceiver`], by wire index. Filled by
/// [`NetsyncAppExt::replicate_with`](crate::NetsyncAppExt::replicate_with).
#[derive(Resource, Default)]
pub(crate) struct ComponentReceivers {
    pub(crate) receivers: Vec<ComponentReceiver>,
}

impl ComponentReceivers {
    /// The receiver of the component type with wire index `index`.
    pub(crate) fn get(&self, index: u32) -> Result<&ComponentReceiver, DecodeError> {
        self.receivers
            .get(index as usize)
            .ok_or(DecodeError::UnknownComponent(index))
    }

    /// The receiver of the component type with wire index `index`, to decode with.
    pub(crate) fn get_mut(&mut self, index: u32) -> Result<&mut ComponentReceiver, DecodeError> {
        self.receivers
            .get_mut(index as usize)
            .ok_or(DecodeError::UnknownComponent(index))
    }

    /// Lets the client clone a decoded `C` (wire index `index`) instead of decoding it again.
    /// Interpolated and predicted types are `Clone`, and call this.
    pub(crate) fn set_clone<C: Component + Clone>(&mut self, index: u32) {
        let clone: fn(&C) -> C = C::clone;
        if let Some(receiver) = self.receivers.get_mut(index as usize) {
            receiver.decoder.set_clone(&clone);
        }
    }
}

/// Adds `C`'s receiver, coded by `codec`; called right after `C` joined the registry, so it
/// takes the same index.
pub(crate) fn add_receiver<C: Component, K: ComponentCodec<C>>(world: &mut World, codec: Arc<K>) {
    let mut receiver = ComponentReceiver::new::<C, K>(world, codec);
    set_known_clones(&mut *receiver.decoder);
    world
        .get_resource_or_init::<ComponentReceivers>()
        .receivers
        .push(receiver);
}

/// Lets the decoder clone the Bevy types known to be `Clone` (a delta codec's values are then
/// decoded once, not once more for the baseline kept): only the clone of the decoder's own
/// type takes.
fn set_known_clones(decoder: &mut dyn DecodeComponent) {
    let transform: fn(&Transform) -> Transform = Transform::clone;
    decoder.set_clone(&transform);
}

#[cfg(test)]
mod tests;
