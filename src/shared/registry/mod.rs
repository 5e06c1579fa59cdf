//! [`ReplicationRegistry`]: the replicated component types, in registration order, each with the
//! typed code that encodes it on the server and applies it on the client, and the short value
//! histories that delta coding needs.

mod typed;

use core::any::{Any, TypeId, type_name};

use bevy::{
    ecs::{
        component::ComponentId,
        entity::{EntityHashMap, EntityMapper},
        world::EntityWorldMut,
    },
    prelude::*,
};

use super::{
    codec::{Baseline, ComponentCodec, MAX_VALUE_BYTES},
    entity_map::ServerEntityMap,
    erased::ErasedValue,
    error::{DecodeError, EncodeError},
    history::History,
    interpolate::SnapshotBuffer,
    prediction::Confirmed,
    tick::NetTick,
    wire::{BitReader, BitWriter},
};

/// Marks a client entity whose components are shown as received, never interpolated: the
/// seam for entities the client predicts or owns. Insert it before values arrive (for example
/// in an `On<Add, FromServer>` observer) or at any time to stop interpolating.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoInterpolation;

/// Delta-coded values use baselines at most this many ticks older than the value (about a
/// second at 60 Hz); older ones are sent whole. Clients keep twice as much history and ignore
/// frames older than this behind the newest they saw.
pub const BASELINE_WINDOW_TICKS: u32 = 64;

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

/// The typed work for one replicated component type, behind a trait object.
pub(crate) trait ComponentFns: Send + Sync {
    /// Server: writes `entity`'s value whole; `Ok(false)` when it lacks the component.
    fn write_whole(
        &self,
        world: &World,
        entity: Entity,
        out: &mut BitWriter,
    ) -> Result<bool, EncodeError>;

    /// Server: remembers the value just written whole (bits `start..end` of `written`) as the
    /// client will decode it, the baseline of future deltas. Only for delta codecs.
    fn remember(
        &mut self,
        slot: u32,
        tick: NetTick,
        written: &BitWriter,
        range: (usize, usize),
    ) -> Result<(), DecodeError>;

    /// Server: writes `entity`'s value (set at `tick`) against the client's baselines;
    /// `Ok(false)` and nothing written when the baseline is not held.
    #[allow(clippy::too_many_arguments)]
    fn write_delta(
        &self,
        world: &World,
        entity: Entity,
        slot: u32,
        tick: NetTick,
        base: NetTick,
        previous: Option<NetTick>,
        out: &mut BitWriter,
    ) -> Result<bool, EncodeError>;

    /// Server: forgets the history of a slot (its entity is gone or lost the component).
    fn forget_slot(&mut self, slot: u32);

    /// Client: reads a value of server entity `remote` set at `tick`, decoded once and returned
    /// as `copies` values (the interpolation buffer needs its own), and remembers it for future
    /// deltas.
    fn read(
        &mut self,
        reader: &mut BitReader,
        encoding: ValueEncoding,
        remote: Entity,
        tick: NetTick,
        copies: usize,
    ) -> Result<Vec<ErasedValue>, ReadError>;

    /// Client: decodes a value that arrived in slices (its whole encoding).
    fn read_blob(
        &mut self,
        bytes: &[u8],
        remote: Entity,
        tick: NetTick,
        copies: usize,
    ) -> Result<Vec<ErasedValue>, DecodeError>;

    /// Client: writes over the entity's existing value (in place when the component is
    /// mutable, re-inserted when it is immutable).
    fn overwrite(&self, entity: &mut EntityWorldMut, value: ErasedValue);

    /// Client: adds a snapshot to the entity's interpolation buffer; gives the value back when
    /// the entity has no buffer yet.
    fn push_snapshot(
        &self,
        entity: &mut EntityWorldMut,
        tick: NetTick,
        value: ErasedValue,
    ) -> Option<ErasedValue>;

    /// Client: an interpolation buffer holding one snapshot.
    fn new_buffer(&self, tick: NetTick, value: ErasedValue) -> ErasedValue;

    /// Client: adds a server value of a predicted component (the server's state as of frame
    /// tick `tick`); gives the value back when the entity has no record of them yet.
    fn push_confirmed(
        &self,
        entity: &mut EntityWorldMut,
        tick: NetTick,
        value: ErasedValue,
    ) -> Option<ErasedValue>;

    /// Client: a record of server values holding one.
    fn new_confirmed(&self, tick: NetTick, value: ErasedValue) -> ErasedValue;

    /// Client: removes the component (and its interpolation buffer).
    fn remove(&self, entity: &mut EntityWorldMut);

    /// Client: maps the entities inside the entity's component again: the `n`-th entity the
    /// component names is `targets[n]` on the server, resolved through `map` (or
    /// `Entity::PLACEHOLDER`).
    fn remap(&self, entity: &mut EntityWorldMut, targets: &[Entity], map: &ServerEntityMap);

    /// Client: forgets the history of a server entity.
    fn forget_remote(&mut self, remote: Entity);

    /// Client: takes the component off the entity, with the server entities `targets` put back
    /// inside (the `n`-th entity it names becomes `targets[n]`).
    fn take_unmapped(&self, entity: &mut EntityWorldMut, targets: &[Entity])
    -> Option<ErasedValue>;

    /// Client: forgets every history (the connection ended).
    fn clear_client(&mut self);

    /// Lets the copies of a value be clones of one decoded value: `clone` is a `fn(&C) -> C`.
    fn set_clone(&mut self, clone: &dyn Any);

    /// Server: forgets every history (the server restarted).
    fn clear_server(&mut self);
}

/// One replicated component type.
pub(crate) struct ReplicatedComponent {
    pub(crate) name: &'static str,
    pub(crate) type_id: TypeId,
    /// The component's id in this App's world.
    pub(crate) component_id: ComponentId,
    /// The id of its [`SnapshotBuffer`].
    pub(crate) buffer_id: ComponentId,
    /// Set by [`NetsyncAppExt::interpolate`](crate::NetsyncAppExt::interpolate).
    pub(crate) interpolated: bool,
    /// Set by [`NetsyncAppExt::predict`](crate::NetsyncAppExt::predict).
    pub(crate) predicted: bool,
    /// The id of its record of server values, for predicted entities.
    pub(crate) confirmed_id: ComponentId,
    /// Whether values are delta-coded.
    pub(crate) uses_baselines: bool,
    /// A relationship (like `ChildOf`): never inserted while its target is unknown, since Bevy
    /// drops relationships to missing entities.
    pub(crate) relationship: bool,
    pub(crate) fns: Box<dyn ComponentFns>,
}

/// Every replicated component type, indexed by registration order (the index travels on the
/// wire). Filled by [`NetsyncAppExt::replicate`](crate::NetsyncAppExt::replicate) and
/// `replicate_with`; read by the server's send systems and the client's receive systems.
#[derive(Resource, Default)]
pub struct ReplicationRegistry {
    pub(crate) components: Vec<ReplicatedComponent>,
}

impl ReplicationRegistry {
    /// Number of replicated component types.
    pub fn len(&self) -> usize {
        self.components.len()
    }

    /// Whether no component is replicated.
    pub fn is_empty(&self) -> bool {
        self.components.is_empty()
    }

    /// Type names in registration (wire) order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.components.iter().map(|component| component.name)
    }

    pub(crate) fn get(&self, index: u32) -> Result<&ReplicatedComponent, DecodeError> {
        self.components
            .get(index as usize)
            .ok_or(DecodeError::UnknownComponent(index))
    }

    pub(crate) fn get_mut(&mut self, index: u32) -> Result<&mut ReplicatedComponent, DecodeError> {
        self.components
            .get_mut(index as usize)
            .ok_or(DecodeError::UnknownComponent(index))
    }

    /// The wire index of a component type.
    pub(crate) fn index_of(&self, type_id: TypeId) -> Option<u32> {
        self.components
            .iter()
            .position(|component| component.type_id == type_id)
            .map(|index| index as u32)
    }

    /// Bits a component index takes on the wire.
    pub(crate) fn index_bits(&self) -> u32 {
        usize::BITS - self.components.len().saturating_sub(1).leading_zeros()
    }

    /// Lets the client clone a decoded `C` instead of decoding it again; `false` if `C` is not
    /// replicated. Interpolated and predicted types are `Clone`, and call this.
    pub(crate) fn set_clone<C: Component + Clone>(&mut self) -> bool {
        let clone: fn(&C) -> C = C::clone;
        match self
            .components
            .iter_mut()
            .find(|c| c.type_id == TypeId::of::<C>())
        {
            Some(component) => {
                component.fns.set_clone(&clone);
                true
            }
            None => false,
        }
    }

    /// Marks `C` as predicted; `false` if `C` is not replicated.
    pub(crate) fn set_predicted(&mut self, type_id: TypeId) -> bool {
        match self.components.iter_mut().find(|c| c.type_id == type_id) {
            Some(component) => {
                component.predicted = true;
                true
            }
            None => false,
        }
    }

    /// Marks `C` as interpolated; `false` if `C` is not replicated.
    pub(crate) fn set_interpolated(&mut self, type_id: TypeId) -> bool {
        match self.components.iter_mut().find(|c| c.type_id == type_id) {
            Some(component) => {
                component.interpolated = true;
                true
            }
            None => false,
        }
    }

    /// Adds `C` with `codec` and returns its wire index.
    pub(crate) fn register<C, K>(&mut self, world: &mut World, codec: K) -> u32
    where
        C: Component,
        K: ComponentCodec<C>,
    {
        let component = ReplicatedComponent {
            name: type_name::<C>(),
            type_id: TypeId::of::<C>(),
            component_id: world.register_component::<C>(),
            buffer_id: world.register_component::<SnapshotBuffer<C>>(),
            interpolated: false,
            predicted: false,
            confirmed_id: world.register_component::<Confirmed<C>>(),
            uses_baselines: codec.uses_baselines(),
            relationship: C::relationship_accessor().is_some(),
            fns: Box::new(typed::Typed::<C, K> {
                codec,
                clone: None,
                server_history: Vec::new(),
                client_history: EntityHashMap::default(),
            }),
        };
        self.components.push(component);
        (self.components.len() - 1) as u32
    }
}

/// A replicated resource type. Values travel as length-prefixed serde bytes.
pub(crate) struct ReplicatedResource {
    pub(crate) name: &'static str,
    /// Server: writes the resource whole; `Ok(false)` when it does not exist.
    pub(crate) write: fn(&World, &mut BitWriter) -> Result<bool, EncodeError>,
    /// Server: the tick the resource last changed at, `None` when it does not exist.
    pub(crate) changed: fn(&World) -> Option<bevy::ecs::change_detection::Tick>,
    /// Client: decodes a value and inserts or overwrites the resource.
    pub(crate) apply_bytes: fn(&mut World, &[u8]) -> Result<(), DecodeError>,
    /// Client: removes the resource.
    pub(crate) remove: fn(&mut World),
}

/// Every replicated resource type, in registration (wire) order. Filled by
/// [`NetsyncAppExt::replicate_resource`](crate::NetsyncAppExt::replicate_resource).
#[derive(Resource, Default)]
pub struct ResourceRegistry {
    pub(crate) resources: Vec<ReplicatedResource>,
}

impl ResourceRegistry {
    /// Number of replicated resource types.
    pub fn len(&self) -> usize {
        self.resources.len()
    }

    /// Whether no resource is replicated.
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }
}

#[cfg(test)]
mod tests;
