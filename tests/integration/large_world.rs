//! A late joiner into a large world gets it streamed under its byte budget: it converges, the
//! transport never overflows, players already in keep their traffic, and the joiner's clock keeps
//! ticking while the world streams in.

use bevy::prelude::*;
use bevy_netsync::{prelude::*, testing::TestNet};
use serde::{Deserialize, Serialize};

use crate::common::{self, *};

#[derive(Component, Serialize, Deserialize, Clone, PartialEq)]
struct Chunk(Vec<u8>);

fn protocol(app: &mut App) {
    common::protocol(app);
    app.replicate::<Chunk>();
}

/// Server bytes sent to `client` during the next `steps` steps.
fn bytes_over(net: &mut TestNet, client: usize, steps: usize) -> u64 {
    let before = net.downstream(client).bytes;
    net.run(steps);
    net.downstream(client).bytes - before
}

#[test]
fn a_late_joiner_streams_a_world_larger_than_the_old_reliable_limit() {
    const CHUNKS: usize = 34;
    const BUDGET: usize = 2 << 20;
    const CHUNK_BYTES: usize = 1 << 20;
    let mut net = TestNet::new(protocol);
    let player = net.add_client();
    for i in 0..CHUNKS {
        let bytes = (0..CHUNK_BYTES).map(|j| (i * 7 + j) as u8).collect();
        net.spawn_on_server((Replicated, Health(i as u32), Chunk(bytes)));
    }
    // Something that moves every tick, so the player has steady traffic.
    let mover = net.spawn_on_server((Replicated, Position(Vec3::ZERO)));
    let step_mover = |net: &mut TestNet| {
        net.server_mut()
            .world_mut()
            .get_mut::<Position>(mover)
            .unwrap()
            .0
            .x += 0.1;
    };
    // The player gets the world first (quickly: its budget is large), then settles.
    net.run(10);
    let world = net.server_mut().world_mut();
    let player_entity = world
        .query_filtered::<Entity, With<ConnectedClient>>()
        .single(world)
        .unwrap();
    world.entity_mut(player_entity).insert(ReplicationBudget {
        bytes_per_second: 32 << 20,
    });
    let settled = net.run_until(3_000, |net| {
        client_snapshot(net.client_mut(player)).len() == CHUNKS + 1
    });
    assert!(settled, "the first client never got the world");
    let mut steady = 0;
    for _ in 0..60 {
        step_mover(&mut net);
        steady += bytes_over(&mut net, player, 1);
    }

    let joiner = net.add_client();
    // The joiner gets its own budget as soon as it is a connected client.
    let joiner_id = net.client_id(joiner);
    let mut during = 0;
    let mut steps = 0;
    let mut worst_clock_lag = 0;
    while client_snapshot(net.client_mut(joiner)).len() < CHUNKS + 1 {
        let world = net.server_mut().world_mut();
        let client = world
            .query::<(Entity, &ConnectedClient)>()
            .iter(world)
            .find(|(_, client)| client.id() == joiner_id)
            .map(|(entity, _)| entity);
        if let Some(client) = client {
            world.entity_mut(client).insert(ReplicationBudget {
                bytes_per_second: BUDGET,
            });
        }
        step_mover(&mut net);
        during += bytes_over(&mut net, player, 1);
        steps += 1;
        assert!(steps < 3_600, "the joiner did not converge in a minute");
        assert!(net.is_attached(joiner), "the joiner was dropped");
        let server_tick = net.server().world().resource::<ServerTick>().0;
        if let Some(heard) = net
            .client(joiner)
            .world()
            .resource::<ClientTimeline>()
            .newest_server_tick()
        {
            worst_clock_lag = worst_clock_lag.max(server_tick.diff(heard));
        }
    }
    net.run(10);
    assert_converged(&mut net, joiner);
    let chunks_match = {
        let server: Vec<Vec<u8>> = {
            let world = net.server_mut().world_mut();
            let mut chunks: Vec<(u32, Vec<u8>)> = world
                .query::<(&Health, &Chunk)>()
                .iter(world)
                .map(|(health, chunk)| (health.0, chunk.0.clone()))
                .collect();
            chunks.sort_by_key(|(health, _)| *health);
            chunks.into_iter().map(|(_, bytes)| bytes).collect()
        };
        let world = net.client_mut(joiner).world_mut();
        let mut chunks: Vec<(u32, Vec<u8>)> = world
            .query::<(&Health, &Chunk)>()
            .iter(world)
            .map(|(health, chunk)| (health.0, chunk.0.clone()))
            .collect();
        chunks.sort_by_key(|(health, _)| *health);
        chunks
            .into_iter()
            .map(|(_, bytes)| bytes)
            .collect::<Vec<_>>()
            == server
    };
    assert!(chunks_match, "the joiner's chunks differ from the server's");
    // At 2 MiB/s, 34 MiB take about 17 s: streamed, not sent at once, and not slower than the
    // budget allows.
    assert!(
        (900..1_500).contains(&steps),
        "streamed in {steps} steps, the budget allows about 1,020"
    );
    // The player's traffic did not change while someone joined.
    let steady_per_step = steady as f64 / 60.0;
    let during_per_step = during as f64 / steps as f64;
    assert!(
        during_per_step < steady_per_step * 1.25 + 8.0,
        "player traffic {during_per_step:.0} B/step during the join, {steady_per_step:.0} before"
    );
    // The joiner heard the server's tick every few ticks throughout.
    assert!(
        worst_clock_lag <= 10,
        "the joiner's clock went {worst_clock_lag} ticks without news"
    );
}

#[test]
fn a_late_joiner_streams_twenty_thousand_entities() {
    const ENTITIES: u32 = 20_000;
    let mut net = TestNet::new(protocol);
    for i in 0..ENTITIES {
        net.spawn_on_server((Replicated, Health(i), Position(Vec3::splat(i as f32))));
    }
    net.run(2);
    let joiner = net.add_client();
    let converged = net.run_until(1_200, |net| {
        client_snapshot(net.client_mut(joiner)).len() == ENTITIES as usize
    });
    assert!(converged, "not converged");
    assert_converged(&mut net, joiner);
}
