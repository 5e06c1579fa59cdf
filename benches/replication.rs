//! Replication bandwidth and server CPU on the in-process test network, 60 ticks per second.
//! Run with `cargo bench --bench replication`.
//!
//! Scenarios, each with the default serde codec and with the quantized [`TransformCodec`]:
//! - arena: 64 entities on 10 m circles at 5 m/s, rotation following the heading, 16 clients
//! - crowd: 1,000 such entities, 4 clients
//! - idle: 10,000 entities that never change, 16 clients

#[path = "../tests/integration/common/orbit.rs"]
mod orbit;
#[path = "../tests/integration/common/transforms.rs"]
mod transforms;

use std::{f32::consts::TAU, time::Duration};

use bevy::prelude::*;
use bevy_netsync::{prelude::*, testing::TestNet};
use orbit::{Orbit, move_on_orbit};

/// Steps before measuring (joins and the initial world).
const WARMUP_STEPS: usize = 120;
/// Measured steps (10 s at 60 Hz).
const MEASURED_STEPS: usize = 600;
/// IPv4 + UDP header bytes per packet.
const IP_UDP_HEADER: f64 = 28.0;

/// How `Transform` goes on the wire.
#[derive(Clone, Copy)]
enum Codec {
    Serde,
    Quantized,
}

impl Codec {
    fn name(self) -> &'static str {
        match self {
            Self::Serde => "serde",
            Self::Quantized => "TransformCodec",
        }
    }

    fn register(self, app: &mut App) {
        match self {
            Self::Serde => app.replicate::<Transform>(),
            Self::Quantized => app.replicate_with::<Transform>(TransformCodec::default()),
        };
    }

    /// The value a client should hold for the server's `value`.
    fn expected(self, value: &Transform) -> Transform {
        match self {
            Self::Serde => *value,
            Self::Quantized => transforms::round_trip(&TransformCodec::default(), value),
        }
    }
}

struct Scenario {
    name: &'static str,
    entities: usize,
    clients: usize,
    moving: bool,
    codec: Codec,
}

struct Figures {
    down_payload: f64,
    down_with_headers: f64,
    packets: f64,
    bits_per_entity_tick: f64,
    up_payload: f64,
    server_median_us: f64,
    server_p99_us: f64,
    correct: Result<(), String>,
}

fn run(scenario: &Scenario) -> Figures {
    let codec = scenario.codec;
    let mut net = TestNet::new(move |app: &mut App| codec.register(app));
    net.server_mut().add_systems(FixedUpdate, move_on_orbit);
    let side = (scenario.entities as f32).sqrt().ceil() as usize;
    let world = net.server_mut().world_mut();
    for i in 0..scenario.entities {
        let center = Vec3::new((i % side) as f32 * 25.0, 0.0, (i / side) as f32 * 25.0);
        let mut entity = world.spawn((Replicated, Transform::from_translation(center)));
        if scenario.moving {
            entity.insert(Orbit {
                center,
                phase: i as f32 / scenario.entities as f32 * TAU,
            });
        }
    }
    for _ in 0..scenario.clients {
        net.add_client();
    }
    net.run(WARMUP_STEPS);

    let down_before: Vec<_> = (0..scenario.clients).map(|c| net.downstream(c)).collect();
    let up_before: Vec<_> = (0..scenario.clients).map(|c| net.upstream(c)).collect();
    let mut server_times = Vec::with_capacity(MEASURED_STEPS);
    for _ in 0..MEASURED_STEPS {
        net.step();
        server_times.push(net.last_server_time());
    }
    let seconds = MEASURED_STEPS as f64 / 60.0;
    let clients = scenario.clients as f64;
    let (mut down_bytes, mut down_packets, mut up_bytes) = (0u64, 0u64, 0u64);
    for client in 0..scenario.clients {
        down_bytes += net.downstream(client).bytes - down_before[client].bytes;
        down_packets += net.downstream(client).packets - down_before[client].packets;
        up_bytes += net.upstream(client).bytes - up_before[client].bytes;
    }
    let down_payload = down_bytes as f64 / clients / seconds;
    let packets = down_packets as f64 / clients / seconds;
    server_times.sort();
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    Figures {
        down_payload,
        down_with_headers: down_payload + packets * IP_UDP_HEADER,
        packets,
        bits_per_entity_tick: down_payload * 8.0 / 60.0 / scenario.entities as f64,
        up_payload: up_bytes as f64 / clients / seconds,
        server_median_us: micros(server_times[server_times.len() / 2]),
        server_p99_us: micros(server_times[server_times.len() * 99 / 100]),
        correct: check(&mut net, scenario),
    }
}

/// Every client holds every server entity with exactly the server's transform (after the
/// codec's quantization, which the server's copy goes through too).
fn check(net: &mut TestNet, scenario: &Scenario) -> Result<(), String> {
    (0..scenario.clients).try_for_each(|client| {
        transforms::compare_transforms(net, client, |value| scenario.codec.expected(value))
    })
}

fn main() {
    let mut scenarios = Vec::new();
    for (name, entities, clients, moving) in [
        ("arena", 64, 16, true),
        ("crowd", 1_000, 4, true),
        ("idle", 10_000, 16, false),
    ] {
        for codec in [Codec::Serde, Codec::Quantized] {
            scenarios.push(Scenario {
                name,
                entities,
                clients,
                moving,
                codec,
            });
        }
    }
    println!("bevy_netsync replication benchmark: 60 ticks/s, perfect link,");
    println!(
        "{MEASURED_STEPS} measured steps after {WARMUP_STEPS} warm-up steps; per-client figures are averages."
    );
    println!(
        "payload = renet packets as handed to the transport (netcode adds its own header and MAC)."
    );
    println!();
    println!(
        "| scenario | Transform codec | entities | clients | s→c B/s per client | with IP/UDP | packets/s | bits/entity/tick | c→s B/s per client | server µs/tick median | p99 | correct |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for scenario in &scenarios {
        let figures = run(scenario);
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.0} | {:.1} | {:.2} | {:.0} | {:.0} | {:.0} | {} |",
            scenario.name,
            scenario.codec.name(),
            scenario.entities,
            scenario.clients,
            figures.down_payload,
            figures.down_with_headers,
            figures.packets,
            figures.bits_per_entity_tick,
            figures.up_payload,
            figures.server_median_us,
            figures.server_p99_us,
            match &figures.correct {
                Ok(()) => "yes".to_string(),
                Err(error) => format!("NO: {error}"),
            }
        );
    }
}
