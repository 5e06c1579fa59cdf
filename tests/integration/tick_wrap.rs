//! The server tick wraps after 2^32 ticks; replication, the client's clocks, inputs and
//! interpolation keep working across the wrap.

use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    server::InputStats,
    testing::{LinkConditioner, TestNet},
};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Copy, Default, PartialEq, Debug)]
struct Count(u32);

/// Moves 3 m/s along x, whatever the tick says.
#[derive(Component)]
struct Walker;

fn protocol(app: &mut App) {
    app.replicate_with::<Transform>(TransformCodec::default())
        .interpolate::<Transform>()
        .add_input::<Count>();
}

fn walk(mut walkers: Query<&mut Transform, With<Walker>>) {
    for mut transform in &mut walkers {
        transform.translation.x += 3.0 / 60.0;
    }
}

fn count(mut input: ResMut<LocalInput<Count>>) {
    input.0.0 += 1;
}

#[test]
fn everything_keeps_working_across_the_tick_wrap() {
    let mut net = TestNet::new(protocol)
        .with_default_link(LinkConditioner::new(30, 5, 0.02))
        .with_seed(4);
    net.server_mut()
        .insert_resource(ServerTick(NetTick(u32::MAX - 240)))
        .add_systems(FixedUpdate, walk);
    let walker = net.spawn_on_server((Replicated, Walker, Transform::default()));
    let client = net.add_client_with(|app| {
        app.add_systems(Update, count);
    });
    net.run(120);
    let before = input_stats(&mut net);
    // About two seconds on each side of the wrap.
    let mut worst_gap: f32 = 0.0;
    for _ in 0..360 {
        net.step();
        let server_x = net
            .server()
            .world()
            .get::<Transform>(walker)
            .unwrap()
            .translation
            .x;
        let world = net.client_mut(client).world_mut();
        let copy = world
            .resource::<ServerEntityMap>()
            .to_client(walker)
            .unwrap();
        let drawn = world.get::<Transform>(copy).unwrap().translation.x;
        // Drawn behind the server by the interpolation delay plus the trip: a few tenths of a
        // metre at 3 m/s, never a jump or a stall.
        worst_gap = worst_gap.max((server_x - drawn).abs());
    }
    let server_tick = net.server().world().resource::<ServerTick>().0;
    assert!(server_tick.0 < 1_000, "the tick wrapped: {server_tick:?}");
    assert!(worst_gap < 0.6, "drawn {worst_gap} m from the server");

    let timeline = net
        .client(client)
        .world()
        .resource::<ClientTimeline>()
        .clone();
    assert!(
        timeline.input_tick().0 < 1_000,
        "{:?}",
        timeline.input_tick()
    );
    assert!(timeline.estimated_tick().0 < 1_000);
    let after = input_stats(&mut net);
    let on_time = after.on_time - before.on_time;
    let repeated = after.repeated - before.repeated;
    assert!(
        on_time as f64 / (on_time + repeated) as f64 > 0.95,
        "{on_time} ticks had their input, {repeated} did not"
    );
}

fn input_stats(net: &mut TestNet) -> InputStats {
    let world = net.server_mut().world_mut();
    world.query::<&InputStats>().single(world).copied().unwrap()
}
