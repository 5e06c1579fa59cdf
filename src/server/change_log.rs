//! Recording what may have changed on replicated entities between two sends: observers note the
//! entities whose replication or replicated components changed ([`StructuralLog`]), and one
//! change detector per replicated component finds changed values ([`ChangeDetectors`]).

use bevy::{ecs::change_detection::Tick, prelude::*};

use super::priority::ReplicationPriority;
use crate::shared::replicated::Replicated;

/// Entities whose replicated components or [`Replicated`] marker were added or removed since
/// the last send, recorded by observers in any schedule and consumed by
/// [`ServerSet::Send`](super::ServerSet::Send), which compares each with what clients hold.
#[derive(Resource, Default, Debug)]
pub(crate) struct StructuralLog {
    pub(crate) touched: Vec<Entity>,
}

// The observers log whether or not a server runs right now: they may fire while a system
// holds `RenetServer` out of the world (`resource_scope`). Without a server the log is cleared
// every frame by `clear_log_without_server`.

pub(crate) fn log_started(event: On<Add, Replicated>, mut log: ResMut<StructuralLog>) {
    log.touched.push(event.entity);
}

pub(crate) fn log_stopped(event: On<Remove, Replicated>, mut log: ResMut<StructuralLog>) {
    log.touched.push(event.entity);
}

/// Keeps the log empty while no server runs (a server that starts scans every replicated
/// entity anyway).
pub(crate) fn clear_log_without_server(mut log: ResMut<StructuralLog>) {
    if !log.touched.is_empty() {
        log.touched = Vec::new();
    }
}

/// Adds the observers that log inserts and removals of the replicated component `C`.
pub(crate) fn observe_component<C: Component>(app: &mut App) {
    app.add_observer(
        |event: On<Add, C>,
         replicated: Query<(), With<Replicated>>,
         mut log: ResMut<StructuralLog>| {
            if replicated.contains(event.entity) {
                log.touched.push(event.entity);
            }
        },
    );
    app.add_observer(
        |event: On<Remove, C>,
         replicated: Query<(), With<Replicated>>,
         mut log: ResMut<StructuralLog>| {
            if replicated.contains(event.entity) {
                log.touched.push(event.entity);
            }
        },
    );
}

/// Lists the replicated entities whose component changed in `(last_run, this_run]`.
pub(crate) type DetectFn = Box<dyn FnMut(&World, Tick, Tick, &mut Vec<Entity>) + Send + Sync>;

/// One change detector per replicated component, in registry order, and one for
/// [`ReplicationPriority`].
#[derive(Resource)]
pub(crate) struct ChangeDetectors {
    pub(crate) detectors: Vec<DetectFn>,
    pub(crate) priority: Option<DetectFn>,
    /// World change tick of the previous collection.
    pub(crate) last_run: Option<Tick>,
}

impl FromWorld for ChangeDetectors {
    fn from_world(world: &mut World) -> Self {
        Self {
            detectors: Vec::new(),
            priority: Some(detector::<ReplicationPriority>(world)),
            last_run: None,
        }
    }
}

/// Builds the change detector for `C`.
pub(crate) fn detector<C: Component>(world: &mut World) -> DetectFn {
    // `Changed` reads only the change ticks of `C`, the least memory a scan can touch.
    let mut query = world.query_filtered::<Entity, (With<Replicated>, Changed<C>)>();
    Box::new(move |world, last_run, this_run, changed| {
        query.update_archetypes(world);
        // SAFETY: the query is read-only, its archetypes were just updated from this `world`,
        // the one it was built from.
        let query = unsafe {
            query.query_unchecked_manual_with_ticks(
                world.as_unsafe_world_cell_readonly(),
                last_run,
                this_run,
            )
        };
        changed.extend(query.iter());
    })
}
