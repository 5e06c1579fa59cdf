//! Remote entities drawn between snapshots at the client's interpolation tick.

use crate::common::orbit::*;
use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    testing::{LinkConditioner, TestNet},
};

fn protocol(app: &mut App) {
    app.replicate::<Transform>().interpolate::<Transform>();
}

/// A server with one orbiting entity and one client on `link`.
fn orbiting(link: LinkConditioner, seed: u64) -> (TestNet, Entity, Orbit) {
    let mut net = TestNet::new(protocol)
        .with_seed(seed)
        .with_default_link(link);
    net.server_mut().add_systems(FixedUpdate, move_on_orbit);
    let orbit = Orbit {
        center: Vec3::new(3.0, 0.0, -4.0),
        phase: 0.5,
    };
    let entity = net.spawn_on_server((Replicated, Transform::default(), orbit));
    net.add_client();
    (net, entity, orbit)
}

/// Runs `steps` steps after a 2 s warm-up and returns the worst distance between the drawn
/// position and the true position at the interpolation tick; asserts the drawn position never
/// moves backwards along the circle.
fn worst_error(net: &mut TestNet, entity: Entity, orbit: Orbit, steps: usize) -> f32 {
    net.run(120);
    let mut worst = 0.0f32;
    let mut last_angle = f64::MIN;
    let mut between_ticks = 0;
    for _ in 0..steps {
        net.step();
        let world = net.client_mut(0).world_mut();
        let tick = world.resource::<ClientTimeline>().interpolation_tick();
        if tick.fract() > 0.05 && tick.fract() < 0.95 {
            between_ticks += 1;
        }
        let mirrored = world
            .resource::<ServerEntityMap>()
            .to_client(entity)
            .unwrap();
        let drawn = world.get::<Transform>(mirrored).unwrap().translation;
        worst = worst.max(drawn.distance(orbit.position(tick)));
        let offset = drawn - orbit.center;
        let mut angle = f64::from(offset.z.atan2(offset.x));
        // Unwrap onto the increasing angle line.
        while last_angle != f64::MIN && angle < last_angle - std::f64::consts::PI {
            angle += std::f64::consts::TAU;
        }
        assert!(
            last_angle == f64::MIN || angle >= last_angle - 1e-6,
            "moved backwards: {last_angle} -> {angle}"
        );
        last_angle = angle;
    }
    assert!(
        between_ticks > steps / 2,
        "only {between_ticks} frames between ticks"
    );
    worst
}

#[test]
fn interpolated_position_is_within_a_centimetre_on_a_clean_link() {
    // Clean: no jitter, no loss. A delay of 2.4 ticks puts the interpolation tick between
    // ticks (a 2-tick delay on a jitter-free link would land exactly on them).
    let (mut net, entity, orbit) = orbiting(LinkConditioner::new(10, 0, 0.0), 1);
    net.client_mut(0).insert_resource(InterpolationSettings {
        min_delay: std::time::Duration::from_millis(40),
        ..default()
    });
    let worst = worst_error(&mut net, entity, orbit, 600);
    eprintln!("clean link: worst interpolation error {:.5} m", worst);
    assert!(worst < 0.01, "worst error {worst} m");
    let delay = net
        .client(0)
        .world()
        .resource::<ClientTimeline>()
        .interpolation_delay();
    assert!(delay.as_millis() <= 45, "delay {delay:?} on a clean link");
}

#[test]
fn interpolated_position_stays_close_on_a_late_jittery_lossy_link() {
    let (mut net, entity, orbit) = orbiting(LinkConditioner::new(100, 20, 0.05), 7);
    let worst = worst_error(&mut net, entity, orbit, 900);
    eprintln!(
        "100 ms ± 20 ms, 5 % loss: worst interpolation error {:.5} m",
        worst
    );
    assert!(worst < 0.05, "worst error {worst} m");
    let delay = net
        .client(0)
        .world()
        .resource::<ClientTimeline>()
        .interpolation_delay();
    assert!(
        (40..=300).contains(&delay.as_millis()),
        "delay {delay:?} does not cover the jitter"
    );
}

/// A server with one entity (moved by hand along x) and one client on a perfect link.
fn one_entity() -> (TestNet, Entity) {
    let mut net = TestNet::new(protocol);
    let entity = net.spawn_on_server((Replicated, Transform::default()));
    net.add_client();
    (net, entity)
}

/// Puts the server's entity at `x`.
fn move_to(net: &mut TestNet, entity: Entity, x: f32) {
    let world = net.server_mut().world_mut();
    world.get_mut::<Transform>(entity).unwrap().translation.x = x;
}

/// Where the client draws the entity along x.
fn drawn_x(net: &mut TestNet, entity: Entity) -> f32 {
    let world = net.client_mut(0).world_mut();
    let mirrored = world
        .resource::<ServerEntityMap>()
        .to_client(entity)
        .unwrap();
    world.get::<Transform>(mirrored).unwrap().translation.x
}

#[test]
fn a_teleport_snaps_instead_of_sliding() {
    let (mut net, entity) = one_entity();
    net.run(60);
    for step in 0..120 {
        let x = if step < 60 {
            step as f32 * 0.05
        } else {
            100.0 + (step - 60) as f32 * 0.05
        };
        move_to(&mut net, entity, x);
        net.step();
        let drawn = drawn_x(&mut net, entity);
        assert!(!(3.5..100.0).contains(&drawn), "slid through {drawn}");
    }
    net.run(30);
    assert!(drawn_x(&mut net, entity) >= 100.0);
}

#[test]
fn a_starved_buffer_extrapolates_within_its_bound_then_holds() {
    let (mut net, entity) = one_entity();
    let speed_per_tick = 5.0 / 60.0;
    let mut x = 0.0;
    for _ in 0..120 {
        x += speed_per_tick;
        move_to(&mut net, entity, x);
        net.step();
    }
    // The server keeps moving, but nothing reaches the client for a second.
    let newest_value = x;
    net.set_links(0, LinkConditioner::new(0, 0, 1.0), LinkConditioner::PERFECT);
    let limit = net
        .client(0)
        .world()
        .resource::<InterpolationSettings>()
        .max_extrapolation
        .as_secs_f32();
    let mut drawn_positions = Vec::new();
    for _ in 0..60 {
        x += speed_per_tick;
        move_to(&mut net, entity, x);
        net.step();
        drawn_positions.push(drawn_x(&mut net, entity));
    }
    let bound = newest_value + 5.0 * limit + 1e-3;
    assert!(
        drawn_positions.iter().all(|drawn| *drawn <= bound),
        "drifted past {bound}: {drawn_positions:?}"
    );
    assert!(
        drawn_positions
            .iter()
            .any(|drawn| *drawn > newest_value + 0.01),
        "never extrapolated: {drawn_positions:?}"
    );
    let tail = &drawn_positions[30..];
    assert!(
        tail.windows(2).all(|pair| pair[0] == pair[1]),
        "not held: {tail:?}"
    );
}
