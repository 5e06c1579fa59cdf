//! Step 2 of the send pipeline (with `plan_send` and `encode_values`): find what changed since the last send and note it in
//! [`ReplicatedWorld`]: new and gone replicated entities, inserted and removed components (from
//! the [`StructuralLog`]), changed values (from the [`ChangeDetectors`]) and resources.

use core::{any::TypeId, mem};

use bevy::prelude::*;

use super::{
    change_log::{ChangeDetectors, StructuralLog},
    priority::ReplicationPriority,
    replicated_world::{ReplicatedResources, ReplicatedWorld},
    send_plan::SendPlan,
};
use crate::shared::{
    registry::{ReplicationRegistry, ResourceRegistry},
    replicated::Replicated,
    scoped::scoped,
    tick::NetTick,
};

/// Notes this send's changes in [`ReplicatedWorld`] and [`ReplicatedResources`].
pub(crate) fn detect_changes(world: &mut World) {
    let Some(tick) = world.resource::<SendPlan>().tick else {
        return;
    };
    let mut touched = mem::take(&mut world.resource_mut::<StructuralLog>().touched);
    scoped(world, |world, replicated: &mut ReplicatedWorld| {
        replicated.recycle();
        replicated.begin();
        if !replicated.initialized {
            // Entities marked before the server existed were not logged: start them all now.
            replicated.initialized = true;
            let mut query = world.query_filtered::<Entity, With<Replicated>>();
            touched.extend(query.iter(world));
        }
        detect_values(world, replicated, tick);
        touched.sort_unstable();
        touched.dedup();
        let registry = world.resource::<ReplicationRegistry>();
        let hierarchy = registry.index_of(TypeId::of::<ChildOf>());
        for &entity in &touched {
            reconcile(world, registry, replicated, entity, tick);
        }
        // Parents after every entity has its slot: a child may come before its parent.
        for entity in touched {
            if let Some(slot) = replicated.slot_of(entity) {
                read_entity_extras(world, replicated, slot, hierarchy);
            }
        }
    });
    detect_resources(world, tick);
}

/// Runs the change detectors and notes changed values of replicated entities.
fn detect_values(world: &mut World, replicated: &mut ReplicatedWorld, tick: NetTick) {
    // The detectors are lent out of their resource, which stays in place (cheaper than
    // `resource_scope`, see `scoped`).
    let this_run = world.change_tick();
    let mut stored = world.resource_mut::<ChangeDetectors>();
    let mut detectors = mem::take(&mut stored.detectors);
    let mut priority = stored.priority.take();
    // On the first collection no entity is recorded yet, so nothing counts as changed.
    let last_run = stored.last_run.unwrap_or(this_run);
    let hierarchy = world
        .resource::<ReplicationRegistry>()
        .index_of(TypeId::of::<ChildOf>());
    let mut changed = Vec::new();
    for (index, detect) in detectors.iter_mut().enumerate() {
        changed.clear();
        detect(world, last_run, this_run, &mut changed);
        let index = index as u32;
        for &entity in &changed {
            let Some(slot) = replicated.slot_of(entity) else {
                continue;
            };
            // The entity has the component (the detector only lists those): a value that was
            // refused before is present again once it changes.
            replicated.slots[slot as usize].set(index, tick);
            replicated.mark_changed(slot);
            if Some(index) == hierarchy {
                read_entity_extras(world, replicated, slot, hierarchy);
            }
        }
    }
    if let Some(detect) = priority.as_mut() {
        changed.clear();
        detect(world, last_run, this_run, &mut changed);
        for &entity in &changed {
            if let Some(slot) = replicated.slot_of(entity) {
                read_entity_extras(world, replicated, slot, hierarchy);
            }
        }
    }
    let mut stored = world.resource_mut::<ChangeDetectors>();
    stored.detectors = detectors;
    stored.priority = priority;
    stored.last_run = Some(this_run);
}

/// Compares an entity whose structure may have changed with its record: starts or stops
/// replicating it, and notes inserted and removed components.
fn reconcile(
    world: &World,
    registry: &ReplicationRegistry,
    replicated: &mut ReplicatedWorld,
    entity: Entity,
    tick: NetTick,
) {
    let now = world
        .get_entity(entity)
        .ok()
        .filter(|entity| entity.contains::<Replicated>());
    match (replicated.slot_of(entity), now) {
        (None, Some(now)) => {
            let slot = replicated.spawn(entity, tick);
            let record = &mut replicated.slots[slot as usize];
            for (index, component) in registry.components.iter().enumerate() {
                if now.contains_id(component.component_id) {
                    record.set(index as u32, tick);
                }
            }
        }
        (Some(_), None) => {
            replicated.despawn(entity);
        }
        (Some(slot), Some(now)) => {
            let record = &mut replicated.slots[slot as usize];
            let mut changed = false;
            for (index, component) in registry.components.iter().enumerate() {
                let index = index as u32;
                let present = now.contains_id(component.component_id);
                let held = record.component(index).is_some_and(|c| c.present);
                if present && !held {
                    record.set(index, tick);
                    changed = true;
                } else if !present && held {
                    record.unset(index, tick);
                    changed = true;
                }
            }
            if changed {
                replicated.mark_changed(slot);
            }
        }
        (None, None) => {}
    }
}

/// Reads what the record keeps besides components: the replicated parent and the priority.
fn read_entity_extras(
    world: &World,
    replicated: &mut ReplicatedWorld,
    slot: u32,
    hierarchy: Option<u32>,
) {
    let record = &replicated.slots[slot as usize];
    let Ok(entity) = world.get_entity(record.entity) else {
        return;
    };
    let parent = hierarchy
        .and_then(|_| entity.get::<ChildOf>())
        .and_then(|child_of| replicated.slot_of(child_of.parent()));
    let priority = entity
        .get::<ReplicationPriority>()
        .map_or(1.0, |priority| priority.0);
    let record = &mut replicated.slots[slot as usize];
    record.parent = parent;
    record.priority = if priority.is_finite() {
        priority.max(0.0)
    } else {
        1.0
    };
}

/// Notes replicated resources that appeared, changed or disappeared.
fn detect_resources(world: &mut World, tick: NetTick) {
    scoped(world, |world, resources: &mut ReplicatedResources| {
        let this_run = world.change_tick();
        let registry = world.resource::<ResourceRegistry>();
        let last_run = resources.last_run;
        resources
            .records
            .resize(registry.resources.len(), Default::default());
        for (record, resource) in resources.records.iter_mut().zip(&registry.resources) {
            match (resource.changed)(world) {
                Some(changed) => {
                    let new = !record.present
                        || last_run.is_none_or(|last| changed.is_newer_than(last, this_run));
                    if new {
                        record.present = true;
                        record.changed = Some(tick);
                    }
                }
                None if record.present => {
                    record.present = false;
                    record.changed = Some(tick);
                }
                None => {}
            }
        }
        resources.last_run = Some(this_run);
    });
}
