//! Recording what changed on replicated entities between two sends: observers for structural
//! changes ([`StructuralLog`]) and per-component change detectors ([`ChangeDetectors`]).

use bevy::{ecs::change_detection::Tick, prelude::*};

use super::replicated::Replicated;

/// Structural changes since the last send, recorded by observers in any schedule and consumed
/// by [`ServerSet::Send`](super::ServerSet::Send).
#[derive(Resource, Default, Debug)]
pub(crate) struct StructuralLog {
    /// Entities that gained [`Replicated`].
    pub(crate) started: Vec<Entity>,
    /// Entities that lost [`Replicated`] or were despawned.
    pub(crate) stopped: Vec<Entity>,
    /// `(entity, component index)` added to or removed from a replicated entity.
    pub(crate) touched: Vec<(Entity, u32)>,
}

// The observers log whether or not a server runs right now: they may fire while a system
// holds `RenetServer` out of the world (`resource_scope`). Without a server the log is cleared
// every frame by `clear_log_without_server`.

pub(crate) fn log_started(event: On<Add, Replicated>, mut log: ResMut<StructuralLog>) {
    log.started.push(event.entity);
}

pub(crate) fn log_stopped(event: On<Remove, Replicated>, mut log: ResMut<StructuralLog>) {
    log.stopped.push(event.entity);
}

/// Keeps the log empty while no server runs (a server that starts scans every replicated
/// entity anyway).
pub(crate) fn clear_log_without_server(mut log: ResMut<StructuralLog>) {
    if !log.started.is_empty() || !log.stopped.is_empty() || !log.touched.is_empty() {
        *log = StructuralLog::default();
    }
}

/// Adds the observers that log inserts and removals of the replicated component `C`.
pub(crate) fn observe_component<C: Component>(app: &mut App, index: u32) {
    app.add_observer(
        move |event: On<Add, C>,
              replicated: Query<(), With<Replicated>>,
              mut log: ResMut<StructuralLog>| {
            if replicated.contains(event.entity) {
                log.touched.push((event.entity, index));
            }
        },
    );
    app.add_observer(
        move |event: On<Remove, C>,
              replicated: Query<(), With<Replicated>>,
              mut log: ResMut<StructuralLog>| {
            if replicated.contains(event.entity) {
                log.touched.push((event.entity, index));
            }
        },
    );
}

/// Lists the replicated entities whose component changed in `(last_run, this_run]`.
pub(crate) type DetectFn = Box<dyn FnMut(&World, Tick, Tick, &mut Vec<Entity>) + Send + Sync>;

/// One change detector per replicated component, in registry order.
#[derive(Resource, Default)]
pub(crate) struct ChangeDetectors {
    pub(crate) detectors: Vec<DetectFn>,
    /// World change tick of the previous collection.
    pub(crate) last_run: Option<Tick>,
}

/// Builds the change detector for `C`.
pub(crate) fn detector<C: Component>(world: &mut World) -> DetectFn {
    let mut query = world.query_filtered::<(Entity, Ref<C>), With<Replicated>>();
    Box::new(move |world, last_run, this_run, changed| {
        for (entity, value) in query.iter(world) {
            if value.last_changed().is_newer_than(last_run, this_run) {
                changed.push(entity);
            }
        }
    })
}
