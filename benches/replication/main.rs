//! Replication bandwidth and server CPU on the in-process test network, 60 ticks per second.
//! Run with `cargo bench --bench replication` (`-- --json` adds one JSON object per row,
//! `-- SCENARIO...` runs only those, `-- SCENARIO:CODEC` one codec's row, e.g.
//! `crowd:TransformCodec`).
//!
//! Scenarios (every entity moves on a 10 m circle at 5 m/s, its rotation following its heading,
//! unless it is idle):
//! - arena: 64 moving entities, 16 clients (serde and TransformCodec)
//! - crowd: 1,000 moving entities, 4 clients (serde and TransformCodec)
//! - idle: 10,000 entities that never change, 16 clients
//! - scale: 200 clients, 200 players moving every tick (one per client) and 200 projectiles
//!   that fly for 1.5 s and are replaced
//! - budget: crowd with a 32 KB/s budget per client; reports the worst staleness
//! - open world: 200 clients on a 1 km square, 10,000 entities of which 2,000 move (one of them
//!   each client's player), each client seeing a 56 m circle around its player (about 100
//!   entities)

// Shared with the tests, which also read the exact path (`Orbit::position`).
#[allow(dead_code)]
#[path = "../../tests/integration/common/orbit.rs"]
mod orbit;
#[path = "../../tests/integration/common/transforms.rs"]
mod transforms;

mod open_world;

use std::{f32::consts::TAU, time::Duration};

use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    server::{ViewOrigin, ViewPoint},
    testing::{TestNet, peak_rss_bytes, reset_peak_rss},
};
use open_world::{check_open_world, spread_open_world};
use orbit::{Orbit, RADIUS, SPEED, TICK_SECONDS, move_on_orbit};

/// Steps before measuring (joins and the initial world).
const WARMUP_STEPS: usize = 120;
/// Measured steps (10 s at 60 Hz).
const MEASURED_STEPS: usize = 600;
/// IPv4 + UDP header bytes per packet.
const IP_UDP_HEADER: f64 = 28.0;

/// How `Transform` goes on the wire.
#[derive(Clone, Copy, PartialEq)]
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

#[derive(Clone, Copy)]
struct Scenario {
    name: &'static str,
    entities: usize,
    clients: usize,
    moving: bool,
    codec: Codec,
    /// Per-client bytes per second, when not the default.
    budget: Option<usize>,
    /// Moving entities are projectiles replaced every 1.5 s, besides the orbiting ones.
    projectiles: usize,
    /// Entities spread over a large map, each client seeing around its own player.
    open_world: bool,
}

/// Open world: the map's side, the moving share and the view radius.
const OPEN_WORLD_SIDE: f32 = 1_000.0;
const OPEN_WORLD_MOVING: usize = 2_000;
const OPEN_WORLD_RADIUS: f32 = 56.0;

/// Open world: the next player a connecting client gets.
#[derive(Resource)]
struct Players {
    players: Vec<Entity>,
    next: usize,
}

struct Figures {
    down_payload: f64,
    down_with_headers: f64,
    packets: f64,
    bits_per_entity_tick: f64,
    up_payload: f64,
    server_p50_us: f64,
    server_p99_us: f64,
    /// Process CPU time over the same interval (every thread, as the peer benches measure).
    cpu_p50_us: Option<f64>,
    cpu_p99_us: Option<f64>,
    /// Mean wall time per client per tick: receive, frame, send.
    client_us_per_tick: f64,
    /// Peak resident memory of the process during the scenario (server and every client).
    peak_rss_mib: Option<f64>,
    /// Mean heap bytes the server holds for a client's replication at the end.
    held_per_client: f64,
    worst_staleness_ticks: Option<f64>,
    /// Open world: mean entities each client holds.
    entities_per_client: Option<f64>,
    correct: Result<(), String>,
}

/// A projectile: flies straight from `start` for its life, then is replaced.
#[derive(Component, Clone, Copy)]
struct Flight {
    start: Vec3,
    velocity: Vec3,
    born: u32,
}

const PROJECTILE_LIFE_TICKS: u32 = 90;

fn fly(
    tick: Res<ServerTick>,
    mut commands: Commands,
    mut projectiles: Query<(Entity, &Flight, &mut Transform)>,
) {
    let now = tick.0.0;
    for (entity, flight, mut transform) in &mut projectiles {
        let age = now.wrapping_sub(flight.born);
        if age >= PROJECTILE_LIFE_TICKS {
            commands.entity(entity).despawn();
            let next = Flight {
                born: now,
                ..*flight
            };
            commands.spawn((Replicated, Transform::from_translation(next.start), next));
        } else {
            transform.translation = flight.start + flight.velocity * age as f32 / 60.0;
        }
    }
}

/// The budget of scenarios that do not measure the budget: 64 MiB/s per client.
const UNLIMITED_BYTES_PER_SECOND: usize = 64 << 20;

fn run(scenario: &Scenario) -> Figures {
    reset_peak_rss();
    let codec = scenario.codec;
    let mut net = TestNet::dedicated(move |app: &mut App| codec.register(app));
    net.server_mut()
        .add_systems(FixedUpdate, (move_on_orbit, fly));
    // The scenario's systems made a schedule after `TestNet` set the server single-threaded
    // (as the peer benchmark runs replicon): that schedule too.
    bevy_netsync::single_threaded(net.server_mut());
    // Scenarios without a budget of their own get one no scenario reaches, so that they
    // measure the codec and the server, not the default budget.
    net.server_mut().insert_resource(ServerConfig {
        bytes_per_second: scenario.budget.unwrap_or(UNLIMITED_BYTES_PER_SECOND),
        ..default()
    });
    let orbiting = scenario.entities - scenario.projectiles;
    let side = (orbiting as f32).sqrt().ceil() as usize;
    if scenario.open_world {
        spread_open_world(&mut net, scenario.entities);
    }
    let world = net.server_mut().world_mut();
    let mut orbits = Vec::new();
    for i in 0..if scenario.open_world { 0 } else { orbiting } {
        let center = Vec3::new((i % side) as f32 * 25.0, 0.0, (i / side) as f32 * 25.0);
        let mut entity = world.spawn((Replicated, Transform::from_translation(center)));
        if scenario.moving {
            let orbit = Orbit {
                center,
                phase: i as f32 / orbiting as f32 * TAU,
            };
            entity.insert(orbit);
            orbits.push((entity.id(), orbit));
        }
    }
    for i in 0..scenario.projectiles {
        let angle = i as f32 / scenario.projectiles as f32 * TAU;
        let start = Vec3::new((i % side) as f32 * 25.0, 1.0, (i / side) as f32 * 25.0);
        world.spawn((
            Replicated,
            Transform::from_translation(start),
            Flight {
                start,
                velocity: Vec3::new(angle.cos(), 0.0, angle.sin()) * 18.0,
                // Born in the past (ticks before 0), so that lifetimes are staggered from the
                // first tick: a tick in the future would read as a huge age and replace them all
                // at once, every life.
                born: 0u32.wrapping_sub((i as u32 * 7) % PROJECTILE_LIFE_TICKS),
            },
        ));
    }
    for _ in 0..scenario.clients {
        net.add_client();
    }
    net.run(WARMUP_STEPS);

    let down_before: Vec<_> = (0..scenario.clients).map(|c| net.downstream(c)).collect();
    let up_before: Vec<_> = (0..scenario.clients).map(|c| net.upstream(c)).collect();
    let mut server_times = Vec::with_capacity(MEASURED_STEPS);
    let mut cpu_times = Vec::with_capacity(MEASURED_STEPS);
    let mut clients_time = Duration::ZERO;
    let mut worst_staleness: f64 = 0.0;
    let mut held = 0usize;
    for step in 0..MEASURED_STEPS {
        net.step();
        server_times.push(net.last_server_time());
        cpu_times.extend(net.last_server_cpu_time());
        clients_time += net.last_clients_time();
        if scenario.budget.is_some() && step % 10 == 0 {
            worst_staleness = worst_staleness.max(staleness(&mut net, &orbits));
        }
        if scenario.open_world && step % 60 == 0 {
            held += (0..scenario.clients)
                .map(|client| {
                    net.client(client)
                        .world()
                        .resource::<ServerEntityMap>()
                        .len()
                })
                .sum::<usize>();
        }
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
    cpu_times.sort();
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    let cpu_at = |share: usize| {
        (!cpu_times.is_empty()).then(|| micros(cpu_times[cpu_times.len() * share / 100]))
    };
    let (cpu_p50_us, cpu_p99_us) = (cpu_at(50), cpu_at(99));
    let client_us_per_tick = micros(clients_time) / MEASURED_STEPS as f64 / clients;
    let held_per_client = (0..scenario.clients)
        .filter_map(|client| net.server_bytes_held(client))
        .sum::<usize>() as f64
        / clients;
    let peak_rss_mib = peak_rss_bytes().map(|bytes| bytes as f64 / (1 << 20) as f64);
    let correct = if scenario.open_world {
        freeze(&mut net);
        net.run(120);
        check_open_world(&mut net, scenario)
    } else if scenario.budget.is_some() || scenario.projectiles > 0 {
        // Under a budget clients are behind by design, and projectiles are born and die every
        // tick: let them settle, then compare.
        net.server_mut()
            .world_mut()
            .remove_resource::<ServerConfig>();
        net.server_mut().insert_resource(ServerConfig::default());
        freeze(&mut net);
        net.run(120);
        check(&mut net, scenario)
    } else {
        check(&mut net, scenario)
    };
    Figures {
        down_payload,
        down_with_headers: down_payload + packets * IP_UDP_HEADER,
        packets,
        bits_per_entity_tick: down_payload * 8.0 / 60.0 / scenario.entities as f64,
        up_payload: up_bytes as f64 / clients / seconds,
        server_p50_us: micros(server_times[server_times.len() / 2]),
        server_p99_us: micros(server_times[server_times.len() * 99 / 100]),
        cpu_p50_us,
        cpu_p99_us,
        client_us_per_tick,
        peak_rss_mib,
        held_per_client,
        worst_staleness_ticks: scenario.budget.map(|_| worst_staleness),
        entities_per_client: scenario
            .open_world
            .then(|| held as f64 / (MEASURED_STEPS / 60) as f64 / scenario.clients as f64),
        correct,
    }
}

/// Stops everything moving (for the final comparison of scenarios that never stand still).
fn freeze(net: &mut TestNet) {
    let world = net.server_mut().world_mut();
    let movers: Vec<Entity> = world
        .query_filtered::<Entity, Or<(With<Orbit>, With<Flight>)>>()
        .iter(world)
        .collect();
    for entity in movers {
        world.entity_mut(entity).remove::<(Orbit, Flight)>();
    }
}

/// The largest age, in ticks, of what any client shows of an orbiting entity: its position
/// tells the tick it was true at.
fn staleness(net: &mut TestNet, orbits: &[(Entity, Orbit)]) -> f64 {
    let now = f64::from(net.server().world().resource::<ServerTick>().0.0);
    let angular = f64::from(SPEED / RADIUS) * TICK_SECONDS;
    let mut worst: f64 = 0.0;
    for client in 0..net.client_count() {
        let world = net.client_mut(client).world_mut();
        let map = world.resource::<ServerEntityMap>();
        for (entity, orbit) in orbits {
            let Some(transform) = map
                .to_client(*entity)
                .and_then(|e| world.get::<Transform>(e))
            else {
                // Not even spawned yet: as stale as the run.
                worst = worst.max(now);
                continue;
            };
            let offset = transform.translation - orbit.center;
            let shown = f64::from(offset.z.atan2(offset.x));
            let truth = orbit.angle(now);
            // In (-π, π]: a hair ahead (quantization) is not a whole turn behind.
            let behind = (truth - shown + std::f64::consts::PI).rem_euclid(std::f64::consts::TAU)
                - std::f64::consts::PI;
            worst = worst.max(behind.max(0.0) / angular);
        }
    }
    worst
}

/// Every client holds every server entity with exactly the server's transform (after the
/// codec's quantization, which the server's copy goes through too).
fn check(net: &mut TestNet, scenario: &Scenario) -> Result<(), String> {
    (0..scenario.clients).try_for_each(|client| {
        transforms::compare_transforms(net, client, |value| scenario.codec.expected(value))
    })
}

fn scenarios() -> Vec<Scenario> {
    let base = |name, entities, clients, moving, codec| Scenario {
        name,
        entities,
        clients,
        moving,
        codec,
        budget: None,
        projectiles: 0,
        open_world: false,
    };
    let mut scenarios = Vec::new();
    for (name, entities, clients, moving) in [
        ("arena", 64, 16, true),
        ("crowd", 1_000, 4, true),
        ("idle", 10_000, 16, false),
    ] {
        for codec in [Codec::Serde, Codec::Quantized] {
            scenarios.push(base(name, entities, clients, moving, codec));
        }
    }
    scenarios.push(Scenario {
        projectiles: 200,
        ..base("scale", 400, 200, true, Codec::Quantized)
    });
    for codec in [Codec::Serde, Codec::Quantized] {
        scenarios.push(Scenario {
            budget: Some(32_000),
            ..base("budget", 1_000, 4, true, codec)
        });
    }
    scenarios.push(Scenario {
        open_world: true,
        ..base("open world", 10_000, 200, true, Codec::Quantized)
    });
    scenarios
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|arg| arg == "--json");
    let only: Vec<&String> = args.iter().filter(|arg| !arg.starts_with("--")).collect();
    println!("bevy_netsync replication benchmark: 60 ticks/s, perfect link,");
    println!(
        "{MEASURED_STEPS} measured steps after {WARMUP_STEPS} warm-up steps; per-client figures are averages."
    );
    println!(
        "payload = renet packets as handed to the transport (netcode adds its own header and MAC)."
    );
    println!();
    println!(
        "| scenario | Transform codec | entities | clients | s→c B/s per client | with IP/UDP | packets/s | bits/entity/tick | c→s B/s per client | server µs/tick p50 | p99 | server CPU µs/tick p50 | p99 | client µs/tick | peak RSS MiB | held per client KiB | worst staleness (ticks) | entities per client | correct |"
    );
    println!(
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    );
    let mut rows = Vec::new();
    for scenario in scenarios() {
        // `NAME` runs every codec of a scenario, `NAME:serde` or `NAME:TransformCodec` one.
        let wanted = |name: &&String| {
            let (name, codec) = name.split_once(':').unwrap_or((name, ""));
            name.replace('_', " ") == scenario.name
                && (codec.is_empty() || codec == scenario.codec.name())
        };
        if !only.is_empty() && !only.iter().any(wanted) {
            continue;
        }
        let figures = run(&scenario);
        let correct = match &figures.correct {
            Ok(()) => "yes".to_string(),
            Err(error) => format!("NO: {error}"),
        };
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.0} | {:.1} | {:.2} | {:.0} | {:.0} | {:.0} | {} | {} | {:.1} | {} | {:.1} | {} | {} | {} |",
            scenario.name,
            scenario.codec.name(),
            scenario.entities,
            scenario.clients,
            figures.down_payload,
            figures.down_with_headers,
            figures.packets,
            figures.bits_per_entity_tick,
            figures.up_payload,
            figures.server_p50_us,
            figures.server_p99_us,
            optional(figures.cpu_p50_us, 0),
            optional(figures.cpu_p99_us, 0),
            figures.client_us_per_tick,
            optional(figures.peak_rss_mib, 1),
            figures.held_per_client / 1024.0,
            figures
                .worst_staleness_ticks
                .map_or("-".to_string(), |ticks| format!("{ticks:.1}")),
            figures
                .entities_per_client
                .map_or("-".to_string(), |held| format!("{held:.0}")),
            correct
        );
        rows.push(serde_json::json!({
            "scenario": scenario.name,
            "codec": scenario.codec.name(),
            "entities": scenario.entities,
            "clients": scenario.clients,
            "budget_bytes_per_s": scenario.budget,
            "down_bytes_per_client_s": figures.down_payload,
            "down_with_headers_bytes_per_client_s": figures.down_with_headers,
            "packets_per_client_s": figures.packets,
            "bits_per_entity_tick": figures.bits_per_entity_tick,
            "up_bytes_per_client_s": figures.up_payload,
            "server_us_p50": figures.server_p50_us,
            "server_us_p99": figures.server_p99_us,
            "server_cpu_us_p50": figures.cpu_p50_us,
            "server_cpu_us_p99": figures.cpu_p99_us,
            "client_us_per_tick": figures.client_us_per_tick,
            "peak_rss_mib": figures.peak_rss_mib,
            "held_bytes_per_client": figures.held_per_client,
            "worst_staleness_ticks": figures.worst_staleness_ticks,
            "entities_per_client": figures.entities_per_client,
            "correct": figures.correct.is_ok(),
        }));
    }
    if json {
        println!();
        for row in rows {
            println!("{row}");
        }
    }
}

/// `value` with `decimals`, or `-` where it could not be measured.
fn optional(value: Option<f64>, decimals: usize) -> String {
    value.map_or("-".to_string(), |value| format!("{value:.decimals$}"))
}
