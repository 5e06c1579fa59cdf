//! Late joins into large worlds, measured: how long a client joining a world of 100 MB of
//! replicated state, or of 100,000 entities, takes to hold all of it, and how many bytes it
//! receives, at the default per-client budget (1 MiB/s) on the in-process test network.
//!
//! ```text
//! cargo run --release --example late_join
//! ```

use std::time::Instant;

use bevy::prelude::*;
use bevy_netsync::{prelude::*, testing::TestNet};
use serde::{Deserialize, Serialize};

#[derive(Component, Serialize, Deserialize, Clone, PartialEq)]
struct Chunk(Vec<u8>);

#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq)]
struct Cell(u32);

fn protocol(app: &mut App) {
    app.replicate::<Chunk>()
        .replicate::<Cell>()
        .replicate_with::<Transform>(TransformCodec::default());
}

/// Joins a client to `net` and steps until it holds `expected` entities whose values match
/// the server's; prints the figures.
fn join(name: &str, mut net: TestNet, expected: usize) {
    let started = Instant::now();
    let client = net.add_client();
    let mut steps = 0;
    loop {
        net.step();
        steps += 1;
        let held = net
            .client(client)
            .world()
            .resource::<ServerEntityMap>()
            .len();
        if held >= expected || steps > 60 * 60 * 10 {
            break;
        }
    }
    // Every value as the server has it.
    let server: Vec<(Entity, Option<usize>, Option<u32>)> = {
        let world = net.server_mut().world_mut();
        world
            .query_filtered::<(Entity, Option<&Chunk>, Option<&Cell>), With<Replicated>>()
            .iter(world)
            .map(|(entity, chunk, cell)| (entity, chunk.map(|c| c.0.len()), cell.map(|c| c.0)))
            .collect()
    };
    let world = net.client(client).world();
    let map = world.resource::<ServerEntityMap>();
    let exact = server.iter().all(|(entity, chunk, cell)| {
        map.to_client(*entity).is_some_and(|local| {
            let local = world.entity(local);
            local.get::<Chunk>().map(|c| c.0.len()) == *chunk
                && local.get::<Cell>().map(|c| c.0) == *cell
        })
    });
    let bytes = net.downstream(client).bytes;
    println!(
        "| {name} | {} | {:.1} s ({steps} ticks) | {:.1} MB | {:.0} KB/s | {} | {:.1} s |",
        server.len(),
        steps as f64 / 60.0,
        bytes as f64 / 1e6,
        bytes as f64 / 1e3 / (steps as f64 / 60.0),
        if exact { "yes" } else { "NO" },
        started.elapsed().as_secs_f64()
    );
}

fn main() {
    println!("Late join at the default budget (1 MiB/s per client), perfect link, 60 ticks/s:");
    println!();
    println!(
        "| world | entities | join time (simulated) | bytes received | rate | exact | wall time |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | --- | ---: |");

    // 100 MB: a hundred values of 1 MB.
    let mut net = TestNet::new(protocol);
    for i in 0..100u32 {
        let bytes = (0..1 << 20).map(|j: u32| (i * 7 + j) as u8).collect();
        net.spawn_on_server((Replicated, Chunk(bytes), Cell(i)));
    }
    net.run(10);
    join("100 MB in 100 values of 1 MB", net, 100);

    // 100,000 entities with a transform and a small component.
    let mut net = TestNet::new(protocol);
    for i in 0..100_000u32 {
        let x = (i % 1_000) as f32;
        let z = (i / 1_000) as f32;
        net.spawn_on_server((Replicated, Cell(i), Transform::from_xyz(x, 0.0, z)));
    }
    net.run(10);
    join("100,000 entities", net, 100_000);
}
