//! [`ReplicationRegistry`]: the replicated component types, in registration order, each with the
//! typed code that encodes it on the server and applies it on the client, and the short value
//! histories that delta coding needs.

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
            fns: Box::new(Typed::<C, K> {
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

/// The typed implementation of [`ComponentFns`].
struct Typed<C, K> {
    codec: K,
    /// `C::clone`, once `C` is known to be `Clone` (see [`ReplicationRegistry::set_clone`]).
    clone: Option<fn(&C) -> C>,
    /// Server: values as clients decode them, by slot (delta codecs only).
    server_history: Vec<History<C>>,
    /// Client: values received, by server entity (delta codecs only).
    client_history: EntityHashMap<History<C>>,
}

/// The baseline in effect at `base`, with the distinct one before it at `previous`.
fn baseline_of<C>(
    history: &History<C>,
    base: NetTick,
    previous: Option<NetTick>,
) -> Option<Baseline<'_, C>> {
    let (tick, value) = history.at(base)?;
    let previous = previous
        .and_then(|previous| history.at(previous))
        .filter(|(older, _)| tick.is_newer_than(*older))
        .map(|(older, value)| (value, older));
    Some(Baseline {
        value,
        tick,
        previous,
    })
}

impl<C: Component, K: ComponentCodec<C>> Typed<C, K> {
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
                    .client_history
                    .get(&remote)
                    .and_then(|history| baseline_of(history, base, previous))
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
        let history = self.client_history.entry(remote).or_default();
        history.prune(tick.sub(2 * BASELINE_WINDOW_TICKS));
        history.insert(tick, value);
    }
}

impl<C: Component, K: ComponentCodec<C>> ComponentFns for Typed<C, K> {
    fn write_whole(
        &self,
        world: &World,
        entity: Entity,
        out: &mut BitWriter,
    ) -> Result<bool, EncodeError> {
        let Some(value) = world.get::<C>(entity) else {
            return Ok(false);
        };
        let start = out.bit_len();
        if let Err(error) = self.codec.write(value, out) {
            out.truncate(start);
            return Err(error);
        }
        if out.bit_len() - start > MAX_VALUE_BYTES * 8 {
            out.truncate(start);
            return Err(EncodeError {
                type_name: type_name::<C>(),
                detail: format!("the value is larger than the limit of {MAX_VALUE_BYTES} bytes"),
            });
        }
        Ok(true)
    }

    fn remember(
        &mut self,
        slot: u32,
        tick: NetTick,
        written: &BitWriter,
        (start, end): (usize, usize),
    ) -> Result<(), DecodeError> {
        let mut reader = BitReader::with_range(written.as_bytes(), start, end);
        let value = self.codec.read(&mut reader)?;
        let slot = slot as usize;
        if self.server_history.len() <= slot {
            self.server_history.resize_with(slot + 1, History::default);
        }
        let history = &mut self.server_history[slot];
        history.prune(tick.sub(BASELINE_WINDOW_TICKS));
        history.insert(tick, value);
        Ok(())
    }

    fn write_delta(
        &self,
        world: &World,
        entity: Entity,
        slot: u32,
        tick: NetTick,
        base: NetTick,
        previous: Option<NetTick>,
        out: &mut BitWriter,
    ) -> Result<bool, EncodeError> {
        let (Some(value), Some(history)) = (
            world.get::<C>(entity),
            self.server_history.get(slot as usize),
        ) else {
            return Ok(false);
        };
        let Some(baseline) = baseline_of(history, base, previous) else {
            return Ok(false);
        };
        let start = out.bit_len();
        match self.codec.write_delta(value, tick, baseline, out) {
            Ok(()) => Ok(true),
            Err(error) => {
                out.truncate(start);
                Err(error)
            }
        }
    }

    fn forget_slot(&mut self, slot: u32) {
        if let Some(history) = self.server_history.get_mut(slot as usize) {
            *history = History::default();
        }
    }

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

    fn overwrite(&self, entity: &mut EntityWorldMut, value: ErasedValue) {
        let value = value.take::<C>();
        if <C::Mutability as bevy::ecs::component::ComponentMutability>::MUTABLE {
            // SAFETY: the component is mutable (checked just above).
            if let Some(mut current) = unsafe { entity.get_mut_assume_mutable::<C>() } {
                *current = value;
                return;
            }
        }
        entity.insert(value);
    }

    fn push_snapshot(
        &self,
        entity: &mut EntityWorldMut,
        tick: NetTick,
        value: ErasedValue,
    ) -> Option<ErasedValue> {
        match entity.get_mut::<SnapshotBuffer<C>>() {
            Some(mut buffer) => {
                buffer.push(tick, value.take::<C>());
                None
            }
            None => Some(value),
        }
    }

    fn new_buffer(&self, tick: NetTick, value: ErasedValue) -> ErasedValue {
        let mut buffer = SnapshotBuffer::<C>::default();
        buffer.push(tick, value.take::<C>());
        ErasedValue::new(buffer)
    }

    fn push_confirmed(
        &self,
        entity: &mut EntityWorldMut,
        tick: NetTick,
        value: ErasedValue,
    ) -> Option<ErasedValue> {
        match entity.get_mut::<Confirmed<C>>() {
            Some(mut confirmed) => {
                confirmed.push(tick, value.take::<C>());
                None
            }
            None => Some(value),
        }
    }

    fn new_confirmed(&self, tick: NetTick, value: ErasedValue) -> ErasedValue {
        let mut confirmed = Confirmed::<C>::default();
        confirmed.push(tick, value.take::<C>());
        ErasedValue::new(confirmed)
    }

    fn remove(&self, entity: &mut EntityWorldMut) {
        entity.remove::<(C, SnapshotBuffer<C>, Confirmed<C>)>();
    }

    fn remap(&self, entity: &mut EntityWorldMut, targets: &[Entity], map: &ServerEntityMap) {
        let mut replay = ReplayMapper {
            targets,
            next: 0,
            map,
        };
        if <C::Mutability as bevy::ecs::component::ComponentMutability>::MUTABLE {
            // SAFETY: the component is mutable (checked just above).
            if let Some(mut current) = unsafe { entity.get_mut_assume_mutable::<C>() } {
                C::map_entities(&mut *current, &mut replay);
            }
        } else if let Some(mut current) = entity.take::<C>() {
            C::map_entities(&mut current, &mut replay);
            entity.insert(current);
        }
    }

    fn forget_remote(&mut self, remote: Entity) {
        self.client_history.remove(&remote);
    }

    fn take_unmapped(
        &self,
        entity: &mut EntityWorldMut,
        targets: &[Entity],
    ) -> Option<ErasedValue> {
        let mut value = entity.take::<C>()?;
        let mut back = TargetsMapper { targets, next: 0 };
        C::map_entities(&mut value, &mut back);
        Some(ErasedValue::new(value))
    }

    fn clear_client(&mut self) {
        self.client_history.clear();
    }

    fn set_clone(&mut self, clone: &dyn Any) {
        if let Some(clone) = clone.downcast_ref::<fn(&C) -> C>() {
            self.clone = Some(*clone);
        }
    }

    fn clear_server(&mut self) {
        self.server_history.clear();
    }
}

/// Puts the `n`-th recorded server entity back as the `n`-th entity a component names.
struct TargetsMapper<'a> {
    targets: &'a [Entity],
    next: usize,
}

impl EntityMapper for TargetsMapper<'_> {
    fn get_mapped(&mut self, source: Entity) -> Entity {
        let target = self.targets.get(self.next).copied().unwrap_or(source);
        self.next += 1;
        target
    }

    fn set_mapped(&mut self, _source: Entity, _target: Entity) {}
}

/// Maps the `n`-th entity a component names to the client copy of the `n`-th recorded server
/// entity.
struct ReplayMapper<'a> {
    targets: &'a [Entity],
    next: usize,
    map: &'a ServerEntityMap,
}

impl EntityMapper for ReplayMapper<'_> {
    fn get_mapped(&mut self, source: Entity) -> Entity {
        let Some(&target) = self.targets.get(self.next) else {
            return source;
        };
        self.next += 1;
        self.map.to_client(target).unwrap_or(Entity::PLACEHOLDER)
    }

    fn set_mapped(&mut self, _source: Entity, _target: Entity) {}
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
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;

    #[derive(Component, Clone, Copy, Debug, PartialEq)]
    struct Hp(u8);

    /// Sends `Hp` as a byte and counts its decodes; delta-coded or not.
    struct Counting(Arc<AtomicUsize>, bool);

    impl ComponentCodec<Hp> for Counting {
        fn encode(&self, value: &Hp, _: Option<&Hp>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
            out.push(value.0);
            Ok(())
        }
        fn decode(&self, bytes: &[u8], _: Option<&Hp>) -> Result<Hp, DecodeError> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Ok(Hp(bytes[0]))
        }
        fn uses_baselines(&self) -> bool {
            self.1
        }
    }

    /// Decodes made to read one value as `copies` values.
    fn decodes(clone: bool, delta: bool, copies: usize) -> usize {
        let count = Arc::new(AtomicUsize::new(0));
        let mut registry = ReplicationRegistry::default();
        registry.register::<Hp, _>(&mut World::new(), Counting(count.clone(), delta));
        if clone {
            assert!(registry.set_clone::<Hp>());
        }
        let mut out = BitWriter::new();
        Counting(Arc::default(), delta)
            .write(&Hp(7), &mut out)
            .unwrap();
        let bytes = out.into_bytes();
        let remote = Entity::from_raw_u32(1).unwrap();
        let values = (registry.get_mut(0).unwrap().fns)
            .read(
                &mut BitReader::new(&bytes),
                ValueEncoding::Whole,
                remote,
                NetTick(5),
                copies,
            )
            .unwrap();
        assert_eq!(values.len(), copies);
        assert!(values.iter().all(|value| value.get::<Hp>() == Some(&Hp(7))));
        count.load(Ordering::Relaxed)
    }

    #[test]
    fn a_value_is_decoded_once_when_its_type_is_clone() {
        assert_eq!(decodes(true, true, 2), 1);
        assert_eq!(decodes(true, false, 2), 1);
        assert_eq!(decodes(false, false, 1), 1);
        // Not known to be `Clone` and delta-coded: its baseline copy is decoded again.
        assert_eq!(decodes(false, true, 1), 2);
    }
}
