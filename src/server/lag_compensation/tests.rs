//! The history and the queries against it, driven tick by tick in a bare World.

use core::time::Duration;

use bevy::{ecs::system::RunSystemOnce, prelude::*};

use super::*;
use crate::shared::tick::{NetTick, ServerTick};

const CLIENT: u64 = 7;

fn world() -> World {
    let mut world = World::new();
    world.insert_resource(ServerTick(NetTick(100)));
    world.insert_resource(Time::<Fixed>::from_hz(60.0));
    world.init_resource::<HitHistory>();
    world.init_resource::<SeenTicks>();
    world.init_resource::<LagCompensationSettings>();
    world
}

/// Advances one tick: `simulate` changes the world, then the history records it.
fn tick(world: &mut World, simulate: impl FnOnce(&mut World)) {
    let next = world.resource::<ServerTick>().0.add(1);
    world.resource_mut::<ServerTick>().0 = next;
    simulate(world);
    world.run_system_once(record_hit_history).unwrap();
}

fn ball() -> LagCompensated {
    LagCompensated::new(HitShape::Sphere { radius: 0.5 })
}

/// Casts straight ahead (-Z) from `x` for the client's input of `input_tick`.
fn shoot(world: &mut World, x: f32, input_tick: NetTick) -> Vec<Entity> {
    world
        .run_system_once(move |compensation: LagCompensation| {
            let ray = Ray3d::new(Vec3::new(x, 0.0, 0.0), Dir3::NEG_Z);
            compensation
                .cast(CLIENT, input_tick, ray, 0.0, 100.0, &[])
                .iter()
                .map(|hit| hit.entity)
                .collect::<Vec<_>>()
        })
        .unwrap()
}

fn now(world: &World) -> NetTick {
    world.resource::<ServerTick>().0
}

#[test]
fn a_shot_hits_where_the_client_saw_the_target_between_two_ticks() {
    let mut world = world();
    // One metre to the right per tick.
    let target = world
        .spawn((Transform::from_xyz(0.0, 0.0, -10.0), ball()))
        .id();
    for _ in 0..20 {
        tick(&mut world, |world| {
            world.get_mut::<Transform>(target).unwrap().translation.x += 1.0;
        });
    }
    let input = now(&world).add(1);
    // The client saw 10.5 ticks before its input: x = 20 - 10.5 + 1 = 10.5 at ... the state
    // of tick `input - 11` blended halfway to the next.
    note_seen(&mut world, CLIENT, input, &[16 * 10 + 8]);
    let seen_x = world.get::<Transform>(target).unwrap().translation.x - 9.5;
    assert_eq!(shoot(&mut world, seen_x, input), [target]);
    assert_eq!(
        shoot(&mut world, seen_x + 0.7, input),
        [],
        "beside what it saw"
    );
    assert_eq!(
        shoot(&mut world, 20.0, input),
        [],
        "where the target is now"
    );
    // The pose a physics engine would use.
    let pose = world
        .run_system_once(move |compensation: LagCompensation| {
            compensation.pose_seen(CLIENT, input, target)
        })
        .unwrap()
        .unwrap();
    assert!((pose.translation.x - seen_x).abs() < 1e-4);
    // Without a claim (the host's player): the newest state.
    assert_eq!(shoot(&mut world, 20.0, input.add(1)), [target]);
    // Switched off: the newest state too.
    world.resource_mut::<LagCompensationSettings>().enabled = false;
    assert_eq!(shoot(&mut world, 20.0, input), [target]);
}

#[test]
fn a_claim_deeper_than_the_link_explains_is_clamped() {
    let mut world = world();
    for _ in 0..200 {
        tick(&mut world, |_| {});
    }
    let input = now(&world).add(1);
    note_seen(&mut world, CLIENT, input, &[u16::MAX]);
    let seen = world
        .run_system_once(move |compensation: LagCompensation| compensation.seen(CLIENT, input))
        .unwrap();
    // No round trip measured: 300 ms of interpolation and 60 ms of margin, 21.6 ticks.
    assert_eq!(input.diff(seen.tick), 22);
    // Claims of the future are pulled back to the newest state.
    let later = input.add(1);
    note_seen(&mut world, CLIENT, later, &[0]);
    let seen = world
        .run_system_once(move |compensation: LagCompensation| compensation.seen(CLIENT, later))
        .unwrap();
    assert_eq!((seen.tick, seen.fraction), (later.sub(1), 0.0));
}

#[test]
fn targets_spawned_or_despawned_in_between_are_as_the_client_saw_them() {
    let mut world = world();
    let old = world
        .spawn((Transform::from_xyz(0.0, 0.0, -10.0), ball()))
        .id();
    for _ in 0..10 {
        tick(&mut world, |_| {});
    }
    let seen_at = now(&world);
    let mut young = Entity::PLACEHOLDER;
    tick(&mut world, |world| {
        world.despawn(old);
        young = world
            .spawn((Transform::from_xyz(0.0, 0.0, -10.0), ball()))
            .id();
    });
    for _ in 0..5 {
        tick(&mut world, |_| {});
    }
    let input = now(&world).add(1);
    // The client still saw `old`, not yet `young`.
    let lag = input.diff(seen_at) as u16 * 16;
    note_seen(&mut world, CLIENT, input, &[lag]);
    assert_eq!(shoot(&mut world, 0.0, input), [old]);
    // A client that saw the newest state sees only `young`.
    assert_eq!(shoot(&mut world, 0.0, input.add(1)), [young]);
}

#[test]
fn the_history_per_entity_is_bounded_and_forgets_the_gone() {
    let mut world = world();
    world.resource_mut::<LagCompensationSettings>().history = Duration::from_millis(500);
    let target = world.spawn((Transform::default(), ball())).id();
    for _ in 0..300 {
        tick(&mut world, |_| {});
    }
    let history = world.resource::<HitHistory>();
    assert_eq!(history.longest(), 30, "half a second at 60 Hz");
    world.resource_mut::<LagCompensationSettings>().history = Duration::from_secs(3600);
    for _ in 0..300 {
        tick(&mut world, |_| {});
    }
    assert_eq!(world.resource::<HitHistory>().longest(), MAX_HISTORY_TICKS);
    world.despawn(target);
    for _ in 0..MAX_HISTORY_TICKS + 1 {
        tick(&mut world, |_| {});
    }
    assert!(world.resource::<HitHistory>().is_empty());
}
