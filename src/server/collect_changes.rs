//! Turning the [`StructuralLog`] and change detection into one tick's [`TickChanges`].

use core::mem;

use bevy::{
    ecs::entity::{EntityHashMap, EntityHashSet},
    prelude::*,
};
use bevy_renet::renet::Bytes;

use super::{
    change_log::{ChangeDetectors, StructuralLog},
    replicated::Replicated,
    replicated_world::{EntityRecord, ReplicatedWorld},
    value_cache::ValueCache,
};
use crate::shared::{registry::ReplicationRegistry, tick::NetTick, wire};

/// What changed since the previous send, ready for every synced client.
#[derive(Default)]
pub(crate) struct TickChanges {
    /// The whole structure frame, or `None` when nothing structural happened.
    pub(crate) structure: Option<Bytes>,
    /// Entities that started being replicated.
    pub(crate) spawned: Vec<Entity>,
    /// Entities that stopped being replicated.
    pub(crate) despawned: Vec<Entity>,
    /// Entities with changed values (may repeat).
    pub(crate) dirty: Vec<Entity>,
}

/// Consumes the structural log, runs the change detectors and updates `replicated`.
pub(crate) fn collect_changes(
    world: &mut World,
    replicated: &mut ReplicatedWorld,
    cache: &mut ValueCache,
    tick: NetTick,
) -> TickChanges {
    let mut log = mem::take(&mut *world.resource_mut::<StructuralLog>());
    if !replicated.initialized {
        // Entities marked before the server existed were not logged: start them all now.
        replicated.initialized = true;
        let mut query = world.query_filtered::<Entity, With<Replicated>>();
        log.started.extend(query.iter(world));
    }
    let mut changes = TickChanges::default();

    // Value changes first: spawns and inserts below read the records they leave.
    let this_run = world.change_tick();
    world.resource_scope(|world, mut detectors: Mut<ChangeDetectors>| {
        // On the first collection no entity is recorded yet, so nothing counts as changed.
        let last_run = detectors.last_run.unwrap_or(this_run);
        let mut changed = Vec::new();
        for (index, detect) in detectors.detectors.iter_mut().enumerate() {
            changed.clear();
            detect(world, last_run, this_run, &mut changed);
            for entity in &changed {
                if let Some(record) = replicated.entities.get_mut(entity) {
                    record.set(index as u32, tick);
                    changes.dirty.push(*entity);
                }
            }
        }
        detectors.last_run = Some(this_run);
    });

    let world = &*world;
    let registry = world.resource::<ReplicationRegistry>();
    let is_replicated = |entity: Entity| {
        world
            .get_entity(entity)
            .is_ok_and(|entity| entity.contains::<Replicated>())
    };
    let mut frame = Vec::new();
    wire::write_structure_header(&mut frame, tick);
    let header_len = frame.len();

    for &entity in &log.stopped {
        if !is_replicated(entity) && replicated.entities.remove(&entity).is_some() {
            wire::write_despawn(&mut frame, entity);
            changes.despawned.push(entity);
        }
    }

    for &entity in &log.started {
        if is_replicated(entity) && !replicated.entities.contains_key(&entity) {
            let record = record_all(world, registry, cache, entity, tick);
            write_spawn(&mut frame, world, registry, cache, entity, &record);
            replicated.entities.insert(entity, record);
            changes.spawned.push(entity);
        }
    }

    // Inserts and removals on entities clients already have, grouped per entity.
    let spawned: EntityHashSet = changes.spawned.iter().copied().collect();
    let mut touched: EntityHashMap<Vec<u32>> = EntityHashMap::default();
    for &(entity, index) in &log.touched {
        if !spawned.contains(&entity) && replicated.entities.contains_key(&entity) {
            let indices = touched.entry(entity).or_default();
            if !indices.contains(&index) {
                indices.push(index);
            }
        }
    }
    for (entity, indices) in touched {
        let Some(record) = replicated.entities.get_mut(&entity) else {
            continue;
        };
        let mut inserted = Vec::new();
        let mut removed = Vec::new();
        for index in indices {
            if cache.get(world, registry, entity, index).is_some() {
                record.set(index, tick);
                inserted.push(index);
            } else {
                record.remove(index);
                removed.push(index);
            }
        }
        wire::write_change_head(&mut frame, entity, inserted.len());
        for index in inserted {
            let bytes = cache
                .get(world, registry, entity, index)
                .unwrap_or_default();
            wire::write_component(&mut frame, index, bytes);
        }
        wire::write_removals(&mut frame, &removed);
    }

    if frame.len() > header_len {
        changes.structure = Some(Bytes::from(frame));
    }
    changes
}

/// A record of every replicated component `entity` has, all changed at `tick`.
fn record_all(
    world: &World,
    registry: &ReplicationRegistry,
    cache: &mut ValueCache,
    entity: Entity,
    tick: NetTick,
) -> EntityRecord {
    let mut record = EntityRecord::default();
    for index in 0..registry.len() as u32 {
        if cache.get(world, registry, entity, index).is_some() {
            record.set(index, tick);
        }
    }
    record
}

/// Appends a spawn entry with every component in `record`.
pub(crate) fn write_spawn(
    frame: &mut Vec<u8>,
    world: &World,
    registry: &ReplicationRegistry,
    cache: &mut ValueCache,
    entity: Entity,
    record: &EntityRecord,
) {
    let indices: Vec<u32> = record
        .components()
        .filter(|&index| cache.get(world, registry, entity, index).is_some())
        .collect();
    wire::write_spawn_head(frame, entity, indices.len());
    for index in indices {
        let bytes = cache
            .get(world, registry, entity, index)
            .unwrap_or_default();
        wire::write_component(frame, index, bytes);
    }
}
