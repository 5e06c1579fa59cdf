//! Applying a state frame on the client.
//!
//! - Despawns first, then resources, then entity entries in the order they came.
//! - A spawned entity gets every replicated component in one insertion (with [`FromServer`]), so
//!   hooks and `On<Add, C>` observers see the whole entity; so do components inserted together.
//! - A value is applied only when it is newer than what the entity holds: resends of a change
//!   the client already has write nothing, so `Changed<C>` means "the server changed it".
//! - Entities named inside components map to their client copies, or to
//!   `Entity::PLACEHOLDER` while not replicated here; they are mapped again when the entity
//!   arrives or leaves. Relationships (`ChildOf`) wait for their target instead.
//! - A frame that cannot be read to its end (older than a despawn it raced, or naming a
//!   baseline no longer held) is applied up to there and not acknowledged: the server sends its
//!   news again.

use core::any::TypeId;

use bevy::{ecs::component::ComponentId, prelude::*};

use super::{
    PredictedSpawns,
    replicas::{ListingMapper, RecordingMapper, Replica, Replicas},
};
use crate::shared::{
    codec::read_length_prefixed,
    entity_map::ServerEntityMap,
    erased::ErasedValue,
    error::DecodeError,
    prediction::{Predicted, SpawnedBy},
    registry::{
        NoInterpolation, ReadError, ReplicatedComponent, ReplicationRegistry, ResourceRegistry,
        ValueEncoding,
    },
    tick::NetTick,
    wire::{
        BitReader, DespawnEntry, Shape, StateHeader, ValueKind, read_change_tick, read_despawns,
        read_entry_head, read_index, read_shape, read_value_kind,
    },
};

/// Marks a client entity that mirrors a server entity. Its server entity is in
/// [`ServerEntityMap`]. Inserted by [`ClientSet::Receive`](super::ClientSet::Receive), together
/// with the entity's replicated components.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Default, Reflect)]
#[reflect(Component)]
pub struct FromServer;

/// Marks a client entity the server stopped updating because it is out of this client's view
/// and marked [`FreezeWhenHidden`](crate::server::FreezeWhenHidden) on the server: it shows the
/// entity as last seen. Removed when the entity comes back into view.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Default, Reflect)]
#[reflect(Component)]
pub struct Frozen;

/// Applies a state frame; malformed data is an error (the client then disconnects).
pub(crate) fn apply_state_frame(
    world: &mut World,
    header: StateHeader,
    bytes: &[u8],
    body_start: usize,
) -> Result<(), DecodeError> {
    world.resource_scope(|world, mut replicas: Mut<Replicas>| {
        if replicas.is_stale(header.tick) {
            return Ok(());
        }
        replicas.saw_tick(header.tick);
        // Before this frame's despawns: the tombstone cap counts only live ones.
        replicas.prune();
        world.resource_scope(|world, mut registry: Mut<ReplicationRegistry>| {
            world.resource_scope(|world, mut map: Mut<ServerEntityMap>| {
                let mut frame = FrameApply {
                    world,
                    registry: &mut registry,
                    map: &mut map,
                    replicas: &mut replicas,
                    tick: header.tick,
                    touched_targets: Vec::new(),
                    blob_missing: false,
                };
                let mut reader = BitReader::with_range(bytes, body_start, bytes.len() * 8);
                let complete = frame.run(&mut reader)?;
                frame.resolve_references();
                if complete {
                    replicas.acks.push(header.seq);
                    replicas.part_applied(
                        header.tick,
                        header.part,
                        header.last.map(|last| last.watermark),
                    );
                    if let Some(input) = header.last.and_then(|last| last.input_ack) {
                        replicas.input_ack =
                            Some(replicas.input_ack.map_or(input, |held| held.max(input)));
                    }
                }
                Ok(())
            })
        })
    })
}

/// One component value read from a frame.
struct Staged {
    index: u32,
    tick: NetTick,
    value: StagedValue,
}

enum StagedValue {
    Removed,
    Decoded(Vec<ErasedValue>),
    /// A value that arrived in slices: decoded only if it is still news.
    Blob(u32),
}

/// One entity's entry read from a frame.
struct StagedEntity {
    remote: Entity,
    slot: u32,
    spawn: bool,
    values: Vec<Staged>,
}

/// Why reading stopped early.
enum Stop {
    /// The frame raced a despawn or names a baseline no longer held: apply what was read.
    Abort,
    Malformed(DecodeError),
}

impl From<DecodeError> for Stop {
    fn from(error: DecodeError) -> Self {
        Self::Malformed(error)
    }
}

impl From<ReadError> for Stop {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Malformed(error) => Self::Malformed(error),
            ReadError::MissingBaseline => Self::Abort,
        }
    }
}

struct FrameApply<'a> {
    world: &'a mut World,
    registry: &'a mut ReplicationRegistry,
    map: &'a mut ServerEntityMap,
    replicas: &'a mut Replicas,
    tick: NetTick,
    /// Server entities that appeared or disappeared here: their referrers are mapped again.
    touched_targets: Vec<Entity>,
    /// A large value that is news was not held (the frame is then not acknowledged).
    blob_missing: bool,
}

impl FrameApply<'_> {
    /// Reads and applies the frame; `Ok(false)` when it stopped early.
    fn run(&mut self, reader: &mut BitReader) -> Result<bool, DecodeError> {
        for despawn in read_despawns(reader)? {
            self.despawn(despawn)?;
        }
        match self.read_resources(reader) {
            Ok(()) => {}
            Err(Stop::Abort) => return Ok(false),
            Err(Stop::Malformed(error)) => return Err(error),
        }
        let mut staged = Vec::new();
        let result = self.read_entities(reader, &mut staged);
        self.apply(staged)?;
        match result {
            Ok(()) => Ok(!self.blob_missing),
            Err(Stop::Abort) => Ok(false),
            Err(Stop::Malformed(error)) => Err(error),
        }
    }

    fn read_resources(&mut self, reader: &mut BitReader) -> Result<(), Stop> {
        let count = reader.read_count(4)?;
        for _ in 0..count {
            let index = read_index(reader)?;
            let removed = reader.read_bool()?;
            let changed = read_change_tick(reader, self.tick)?;
            let kind = if removed {
                None
            } else {
                Some(read_value_kind(reader, false)?)
            };
            let inline = match kind {
                Some(ValueKind::Whole | ValueKind::Delta) => Some(read_length_prefixed(reader)?),
                _ => None,
            };
            let registry = self.world.resource::<ResourceRegistry>();
            let resource = registry
                .resources
                .get(index as usize)
                .ok_or(DecodeError::UnknownMessage(index))?;
            let (apply, remove) = (resource.apply_bytes, resource.remove);
            let held = &mut self.replicas.resources;
            if held.len() <= index as usize {
                held.resize(index as usize + 1, None);
            }
            if held[index as usize].is_some_and(|held| !changed.is_newer_than(held)) {
                continue;
            }
            let bytes = match (kind, inline) {
                (None, _) => None,
                (_, Some(bytes)) => Some(bytes),
                (Some(ValueKind::Blob(id)), None) => {
                    let blob = self.replicas.blobs.take(id).ok_or(Stop::Abort)?;
                    Some(read_length_prefixed(&mut BitReader::new(&blob))?)
                }
                (Some(_), None) => continue,
            };
            self.replicas.resources[index as usize] = Some(changed);
            match bytes {
                Some(bytes) => apply(self.world, &bytes)?,
                None => remove(self.world),
            }
        }
        Ok(())
    }

    fn read_entities(
        &mut self,
        reader: &mut BitReader,
        staged: &mut Vec<StagedEntity>,
    ) -> Result<(), Stop> {
        let index_bits = self.registry.index_bits();
        let mut previous_slot = None;
        let mut previous_shape: Option<Shape> = None;
        while let Some(head) = read_entry_head(reader, previous_slot)? {
            previous_slot = Some(head.slot);
            let shape = read_shape(
                reader,
                previous_shape.as_ref(),
                index_bits,
                self.registry.len(),
                self.tick,
            )?;
            let (remote, spawn, stale) = match head.spawn {
                Some(remote) => {
                    let despawned_later = self
                        .replicas
                        .tombstones
                        .get(&remote)
                        .is_some_and(|despawned| !self.tick.is_newer_than(*despawned));
                    let spawned_later =
                        self.replicas.entities.get(&remote).is_some_and(|replica| {
                            replica.last_life_event().is_newer_than(self.tick)
                        });
                    (remote, true, despawned_later || spawned_later)
                }
                None => {
                    let remote = self
                        .replicas
                        .slots
                        .get(&head.slot)
                        .copied()
                        .ok_or(Stop::Abort)?;
                    let replica = self.replicas.entities.get(&remote).ok_or(Stop::Abort)?;
                    if replica.frozen.is_some() || replica.spawned.is_newer_than(self.tick) {
                        return Err(Stop::Abort);
                    }
                    (remote, false, false)
                }
            };
            let values = self.read_values(reader, &shape, remote, spawn)?;
            if !stale {
                staged.push(StagedEntity {
                    remote,
                    slot: head.slot,
                    spawn,
                    values,
                });
            }
            previous_shape = Some(shape);
        }
        Ok(())
    }

    fn read_values(
        &mut self,
        reader: &mut BitReader,
        shape: &Shape,
        remote: Entity,
        spawn: bool,
    ) -> Result<Vec<Staged>, Stop> {
        let mut values = Vec::with_capacity(shape.components.len());
        for &index in &shape.components {
            let removed = !spawn && reader.read_bool()?;
            let changed = read_change_tick(reader, self.tick)?;
            if removed {
                values.push(Staged {
                    index,
                    tick: changed,
                    value: StagedValue::Removed,
                });
                continue;
            }
            let component = self.registry.get_mut(index)?;
            let delta_allowed = shape.baseline.is_some() && component.uses_baselines;
            let copies = if component.interpolated || component.predicted {
                2
            } else {
                1
            };
            let value = match read_value_kind(reader, delta_allowed)? {
                ValueKind::Whole => StagedValue::Decoded(component.fns.read(
                    reader,
                    ValueEncoding::Whole,
                    remote,
                    changed,
                    copies,
                )?),
                ValueKind::Delta => {
                    let (base, previous) = shape.baseline.ok_or(Stop::Abort)?;
                    StagedValue::Decoded(component.fns.read(
                        reader,
                        ValueEncoding::Delta { base, previous },
                        remote,
                        changed,
                        copies,
                    )?)
                }
                ValueKind::Blob(id) => StagedValue::Blob(id),
            };
            values.push(Staged {
                index,
                tick: changed,
                value,
            });
        }
        Ok(values)
    }

    /// Drops a server entity, or freezes it (kept as last seen, no longer updated).
    fn despawn(&mut self, despawn: DespawnEntry) -> Result<(), DecodeError> {
        let remote = despawn.entity;
        if self
            .replicas
            .entities
            .get(&remote)
            .is_some_and(|replica| replica.last_life_event().is_newer_than(self.tick))
        {
            return Ok(());
        }
        if despawn.freeze {
            let Some(replica) = self.replicas.entities.get_mut(&remote) else {
                return Ok(());
            };
            replica.frozen = Some(self.tick);
            if self.replicas.slots.get(&replica.slot) == Some(&remote) {
                self.replicas.slots.remove(&replica.slot);
            }
            if let Some(client) = self.map.to_client(remote)
                && let Ok(mut entity) = self.world.get_entity_mut(client)
            {
                entity.insert(Frozen);
            }
            return Ok(());
        }
        self.replicas.bury(remote, self.tick)?;
        let Some(_) = self.replicas.forget(remote) else {
            return Ok(());
        };
        for component in &mut self.registry.components {
            component.fns.forget_remote(remote);
        }
        let client = self.map.remove_by_server(remote);
        self.detach_relationships_to(remote);
        if let Some(client) = client
            && let Ok(entity) = self.world.get_entity_mut(client)
        {
            entity.despawn();
        }
        self.touched_targets.push(remote);
        Ok(())
    }

    /// Takes relationships naming `target` off the entities holding them (Bevy would despawn
    /// them with it); they wait, with server entities inside, for `target` to come back.
    fn detach_relationships_to(&mut self, target: Entity) {
        let Some(referrers) = self.replicas.named_by.get(&target).cloned() else {
            return;
        };
        for (referrer, index) in referrers {
            let Ok(component) = self.registry.get(index) else {
                continue;
            };
            if !component.relationship {
                continue;
            }
            let (Some(client), Some(replica)) = (
                self.map.to_client(referrer),
                self.replicas.entities.get_mut(&referrer),
            ) else {
                continue;
            };
            let targets = replica.references(index).unwrap_or_default().to_vec();
            if let Ok(mut entity) = self.world.get_entity_mut(client)
                && let Some(value) = component.fns.take_unmapped(&mut entity, &targets)
            {
                replica.deferred.retain(|(held, _)| *held != index);
                replica.deferred.push((index, value));
            }
        }
    }

    fn apply(&mut self, mut staged: Vec<StagedEntity>) -> Result<(), DecodeError> {
        self.decode_blobs(&mut staged)?;
        let spawned_by = self.registry.index_of(TypeId::of::<SpawnedBy>());
        // Map every spawned entity first, so values in this frame that name them resolve.
        for entity in &staged {
            if !entity.spawn {
                continue;
            }
            self.replicas.tombstones.remove(&entity.remote);
            if self.map.to_client(entity.remote).is_none() {
                // The server's copy of an entity this client spawned by prediction takes it
                // over: no duplicate.
                let predicted = spawned_by
                    .and_then(|index| entity.values.iter().find(|value| value.index == index))
                    .and_then(|value| match &value.value {
                        StagedValue::Decoded(copies) => copies.first()?.get::<SpawnedBy>().copied(),
                        _ => None,
                    })
                    .and_then(|key| {
                        self.world
                            .get_resource_mut::<PredictedSpawns>()?
                            .pending
                            .remove(&key)
                    })
                    .map(|(local, _)| local)
                    .filter(|local| {
                        self.world.get_entity(*local).is_ok()
                            && self.map.to_server(*local).is_none()
                    });
                let client = predicted.unwrap_or_else(|| self.world.spawn_empty().id());
                self.map.insert(entity.remote, client);
                self.touched_targets.push(entity.remote);
            }
            let replica = self.replicas.entities.entry(entity.remote).or_default();
            replica.slot = entity.slot;
            replica.spawned = self.tick;
            if replica.frozen.take().is_some()
                && let Some(client) = self.map.to_client(entity.remote)
                && let Ok(mut copy) = self.world.get_entity_mut(client)
            {
                copy.remove::<Frozen>();
            }
            self.replicas.slots.insert(entity.slot, entity.remote);
        }
        for entity in staged {
            self.apply_entity(entity);
        }
        Ok(())
    }

    /// Decodes the large values that are still news; one that is news but gone (evicted) is
    /// left out, and the frame is then not acknowledged, so the server sends it again.
    fn decode_blobs(&mut self, staged: &mut [StagedEntity]) -> Result<(), DecodeError> {
        for entity in staged.iter_mut() {
            let fresh = |index: u32, tick: NetTick| {
                self.replicas
                    .entities
                    .get(&entity.remote)
                    .is_none_or(|replica| replica.is_fresh(index, tick))
            };
            let mut missing = Vec::new();
            for (position, value) in entity.values.iter_mut().enumerate() {
                let StagedValue::Blob(id) = value.value else {
                    continue;
                };
                if !fresh(value.index, value.tick) {
                    continue;
                }
                let Some(bytes) = self.replicas.blobs.take(id) else {
                    missing.push(position);
                    self.blob_missing = true;
                    continue;
                };
                let component = self.registry.get_mut(value.index)?;
                let copies = if component.interpolated || component.predicted {
                    2
                } else {
                    1
                };
                value.value = StagedValue::Decoded(component.fns.read_blob(
                    &bytes,
                    entity.remote,
                    value.tick,
                    copies,
                )?);
            }
            for position in missing.into_iter().rev() {
                entity.values.remove(position);
            }
        }
        Ok(())
    }

    fn apply_entity(&mut self, staged: StagedEntity) {
        let Some(client) = self.map.to_client(staged.remote) else {
            return;
        };
        let Some(mut replica) = self.replicas.entities.remove(&staged.remote) else {
            return;
        };
        let from_server = self.world.register_component::<FromServer>();
        let registry = &*self.registry;
        let map = &*self.map;
        let tick = self.tick;
        let mut inserts: Vec<(ComponentId, ErasedValue)> = Vec::new();
        let mut references: Vec<(u32, Vec<Entity>)> = Vec::new();
        let mut entity = self.world.get_entity_mut(client).ok();
        if staged.spawn {
            if entity
                .as_ref()
                .is_some_and(|entity| !entity.contains::<FromServer>())
            {
                inserts.push((from_server, ErasedValue::new(FromServer)));
            }
            // A spawn is the whole entity: what it does not list is gone.
            let listed: Vec<u32> = staged.values.iter().map(|value| value.index).collect();
            let gone: Vec<u32> = replica
                .present()
                .filter(|index| !listed.contains(index))
                .collect();
            for index in gone {
                if replica.is_fresh(index, tick) {
                    replica.hold(index, tick, false);
                    remove_component(
                        registry,
                        entity.as_mut(),
                        &mut replica,
                        index,
                        &mut references,
                    );
                }
            }
        }
        for value in staged.values {
            if !replica.is_fresh(value.index, value.tick) {
                continue;
            }
            let copies = match value.value {
                StagedValue::Decoded(copies) => Some(copies),
                StagedValue::Removed => None,
                // Not held and not news: nothing to do.
                StagedValue::Blob(_) => continue,
            };
            replica.hold(value.index, value.tick, copies.is_some());
            let Some(mut copies) = copies else {
                remove_component(
                    registry,
                    entity.as_mut(),
                    &mut replica,
                    value.index,
                    &mut references,
                );
                continue;
            };
            let Ok(component) = registry.get(value.index) else {
                continue;
            };
            let mut listing = ListingMapper { seen: Vec::new() };
            copies[0].map_entities(&mut listing);
            let targets = listing.seen;
            replica.deferred.retain(|(held, _)| *held != value.index);
            if component.relationship
                && targets
                    .iter()
                    .any(|target| map.to_client(*target).is_none())
            {
                // Bevy drops a relationship to a missing entity: wait for the target.
                if let Some(entity) = entity.as_mut() {
                    component.fns.remove(entity);
                }
                replica.deferred.push((value.index, copies.swap_remove(0)));
                references.push((value.index, targets));
                continue;
            }
            for copy in &mut copies {
                copy.map_entities(&mut RecordingMapper {
                    map,
                    seen: Vec::new(),
                });
            }
            references.push((value.index, targets));
            if let Some(entity) = entity.as_mut() {
                write_value(component, entity, value.tick, tick, copies, &mut inserts);
            }
        }
        if let Some(entity) = entity.as_mut() {
            ErasedValue::insert_all(entity, inserts);
        }
        self.replicas.entities.insert(staged.remote, replica);
        for (index, targets) in references {
            self.replicas.set_references(staged.remote, index, targets);
        }
    }

    /// Maps the components naming entities that appeared or disappeared in this frame again,
    /// and inserts relationships whose target arrived.
    fn resolve_references(&mut self) {
        let mut targets = core::mem::take(&mut self.touched_targets);
        targets.sort_unstable();
        targets.dedup();
        for target in targets {
            let Some(referrers) = self.replicas.named_by.get(&target).cloned() else {
                continue;
            };
            for (referrer, index) in referrers {
                self.refresh(referrer, index);
            }
        }
    }

    fn refresh(&mut self, referrer: Entity, index: u32) {
        let (Some(client), Some(replica)) = (
            self.map.to_client(referrer),
            self.replicas.entities.get_mut(&referrer),
        ) else {
            return;
        };
        let Ok(component) = self.registry.get(index) else {
            return;
        };
        let targets = replica.references(index).unwrap_or_default().to_vec();
        let Ok(mut entity) = self.world.get_entity_mut(client) else {
            return;
        };
        if let Some(position) = replica.deferred.iter().position(|(held, _)| *held == index) {
            if targets
                .iter()
                .all(|target| self.map.to_client(*target).is_some())
            {
                let (_, mut value) = replica.deferred.swap_remove(position);
                value.map_entities(&mut RecordingMapper {
                    map: self.map,
                    seen: Vec::new(),
                });
                ErasedValue::insert_all(&mut entity, vec![(component.component_id, value)]);
            }
        } else if entity.contains_id(component.component_id) {
            component.fns.remap(&mut entity, &targets, self.map);
        }
    }
}

/// Takes component `index` off an entity (and forgets what it named or waited for).
fn remove_component(
    registry: &ReplicationRegistry,
    entity: Option<&mut EntityWorldMut>,
    replica: &mut Replica,
    index: u32,
    references: &mut Vec<(u32, Vec<Entity>)>,
) {
    replica.deferred.retain(|(held, _)| *held != index);
    references.push((index, Vec::new()));
    if let (Ok(component), Some(entity)) = (registry.get(index), entity) {
        component.fns.remove(entity);
    }
}

/// Puts a fresh value on an entity: into the record of server values of a predicted entity,
/// into its interpolation buffer, over its current value, or (new) into the batch inserted at
/// the end. `tick` is when the value was set, `frame_tick` the frame's tick.
fn write_value(
    component: &ReplicatedComponent,
    entity: &mut EntityWorldMut,
    tick: NetTick,
    frame_tick: NetTick,
    mut copies: Vec<ErasedValue>,
    inserts: &mut Vec<(ComponentId, ErasedValue)>,
) {
    let has_value = entity.contains_id(component.component_id);
    if component.predicted && entity.contains::<Predicted>() && copies.len() == 2 {
        // The simulation owns the component; the server's value is checked against what was
        // predicted for the same tick.
        let record_copy = copies.pop();
        let first = copies.pop();
        let (Some(first), Some(record_copy)) = (first, record_copy) else {
            return;
        };
        if has_value {
            if let Some(first) = component.fns.push_confirmed(entity, frame_tick, first) {
                inserts.push((
                    component.confirmed_id,
                    component.fns.new_confirmed(frame_tick, first),
                ));
            }
        } else {
            inserts.push((component.component_id, first));
            inserts.push((
                component.confirmed_id,
                component.fns.new_confirmed(frame_tick, record_copy),
            ));
        }
        return;
    }
    if component.interpolated && !entity.contains::<NoInterpolation>() && copies.len() == 2 {
        let buffer_copy = copies.pop();
        let first = copies.pop();
        let (Some(first), Some(buffer_copy)) = (first, buffer_copy) else {
            return;
        };
        if has_value {
            if let Some(first) = component.fns.push_snapshot(entity, tick, first) {
                // The value stays as drawn; interpolation takes over from the new buffer.
                inserts.push((component.buffer_id, component.fns.new_buffer(tick, first)));
            }
        } else {
            inserts.push((component.component_id, first));
            inserts.push((
                component.buffer_id,
                component.fns.new_buffer(tick, buffer_copy),
            ));
        }
        return;
    }
    let Some(value) = copies.into_iter().next() else {
        return;
    };
    if has_value {
        component.fns.overwrite(entity, value);
    } else {
        inserts.push((component.component_id, value));
    }
}
