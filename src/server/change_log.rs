//! Recording what may have changed on replicated entities between two sends: observers note the
//! entities whose replication or replicated components changed ([`StructuralLog`]), and one
//! change detector per replicated component finds changed values ([`ChangeDetectors`]).

use bevy::{
    ecs::{
        change_detection::{MAX_CHANGE_AGE, Tick},
        component::StorageType,
    },
    prelude::*,
};

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
    let component = world.register_component::<C>();
    let in_tables = C::STORAGE_TYPE == StorageType::Table
        && <Replicated as Component>::STORAGE_TYPE == StorageType::Table;
    Box::new(move |world, last_run, this_run, changed| {
        query.update_archetypes(world);
        if in_tables {
            // The query's tables, scanned column-wise: the same test as `Changed`, in a loop
            // the compiler vectorizes, so a world where little changes costs little to scan.
            let tables = &world.storages().tables;
            for table in query.matched_tables().filter_map(|id| tables.get(id)) {
                if let Some(ticks) = table.get_changed_ticks_slice_for(component) {
                    changed_rows(ticks, table.entities(), last_run, this_run, changed);
                }
            }
            return;
        }
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

/// Appends the entities of the rows whose change tick is newer than `last_run`, as
/// [`Tick::is_newer_than`] decides.
///
/// Blocks of rows are first tested all at once, without branches (the compiler turns the test
/// into a few vector instructions per four rows), and only a block with a change is looked at
/// row by row: a world where little changes costs a fraction of a nanosecond per row.
fn changed_rows(
    ticks: &[core::cell::UnsafeCell<Tick>],
    entities: &[Entity],
    last_run: Tick,
    this_run: Tick,
    changed: &mut Vec<Entity>,
) {
    const BLOCK: usize = 64;
    let now = this_run.get();
    // `is_newer_than` clamps both ages to `MAX_CHANGE_AGE`. Clamping the row's age changes
    // nothing: `since_system` is clamped, so an age at or past the clamp is not newer either way.
    let since_system = now.wrapping_sub(last_run.get()).min(MAX_CHANGE_AGE);
    let newer = |cell: &core::cell::UnsafeCell<Tick>| {
        // SAFETY: the detectors run with the world borrowed immutably, so no system writes
        // change ticks while they are read.
        let tick = unsafe { *cell.get() };
        now.wrapping_sub(tick.get()) < since_system
    };
    for (block, cells) in ticks.chunks(BLOCK).enumerate() {
        if !cells.iter().fold(false, |any, cell| any | newer(cell)) {
            continue;
        }
        let first = block * BLOCK;
        for (offset, cell) in cells.iter().enumerate() {
            if newer(cell) {
                changed.push(entities[first + offset]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_column_scan_lists_exactly_the_changed_replicated_entities() {
        let mut world = World::new();
        let entities: Vec<Entity> = (0..150)
            .map(|i| {
                world
                    .spawn((Replicated, Transform::from_xyz(i as f32, 0.0, 0.0)))
                    .id()
            })
            .collect();
        let unreplicated = world.spawn(Transform::default()).id();
        let mut detect = detector::<Transform>(&mut world);
        let last_run = world.change_tick();
        world.increment_change_tick();
        // Rows at a block's edges, in the short last block, and a block without a change.
        let touched = [0, 63, 64, 65, 127, 140, 149];
        for i in touched {
            world
                .get_mut::<Transform>(entities[i])
                .unwrap()
                .translation
                .y = 1.0;
        }
        world
            .get_mut::<Transform>(unreplicated)
            .unwrap()
            .translation
            .y = 1.0;
        let this_run = world.change_tick();
        let mut changed = Vec::new();
        detect(&world, last_run, this_run, &mut changed);
        changed.sort();
        let mut expected: Vec<Entity> = touched.iter().map(|&i| entities[i]).collect();
        expected.sort();
        assert_eq!(changed, expected);
        // The next collection sees nothing new.
        changed.clear();
        world.increment_change_tick();
        let next_run = world.change_tick();
        detect(&world, this_run, next_run, &mut changed);
        assert!(changed.is_empty());
    }

    #[test]
    fn the_column_scan_agrees_with_bevys_test_on_any_ticks() {
        let mut world = World::new();
        let entities: Vec<Entity> = (0..300).map(|_| world.spawn_empty().id()).collect();
        let mut rng = crate::shared::link::SplitMix64::new(7);
        // Ages around the clamp too: far in the past, recent, and "newer" than now.
        let pick = |rng: &mut crate::shared::link::SplitMix64| match rng.next_u64() % 4 {
            0 => rng.next_u64() as u32,
            1 => MAX_CHANGE_AGE
                .wrapping_add(rng.next_u64() as u32 % 64)
                .wrapping_sub(32),
            _ => rng.next_u64() as u32 % 256,
        };
        for _ in 0..200 {
            let this_run = Tick::new(pick(&mut rng));
            let last_run = Tick::new(this_run.get().wrapping_sub(pick(&mut rng)));
            let ticks: Vec<core::cell::UnsafeCell<Tick>> = (0..entities.len())
                .map(|_| {
                    core::cell::UnsafeCell::new(Tick::new(
                        this_run.get().wrapping_sub(pick(&mut rng)),
                    ))
                })
                .collect();
            let mut changed = Vec::new();
            changed_rows(&ticks, &entities, last_run, this_run, &mut changed);
            let expected: Vec<Entity> = ticks
                .iter()
                .zip(&entities)
                // SAFETY: nothing else holds the cells.
                .filter(|(tick, _)| unsafe { *tick.get() }.is_newer_than(last_run, this_run))
                .map(|(_, &entity)| entity)
                .collect();
            assert_eq!(changed, expected);
        }
    }
}
