//! Soak: a server and many clients on the in-process test network under yojimbo's soak
//! conditions (1,000 ms ± 100 ms latency each way, 25 % loss, 25 % duplication, reordering),
//! with churn: clients leave and join, entities spawn, change and despawn, and reliable and
//! unreliable messages of random sizes flow both ways, checked for content (and, reliable
//! ones, order) on arrival. Every few simulated seconds the world holds still until every
//! client that has been connected long enough holds exactly the server's world.
//!
//! ```text
//! cargo run --release --example soak -- --clients 64 --seconds 600
//! ```
//!
//! Exits non-zero if a message arrives wrong or a client does not converge.

mod traffic;

use std::{collections::HashMap, process::ExitCode, time::Instant};

use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    testing::{LinkConditioner, SplitMix64, TestNet},
};
use clap::Parser;
use traffic::{Counter, Label, *};

#[derive(Parser)]
#[command(about = "Soak test: many clients on a terrible link, with churn, for a long time.")]
struct Cli {
    /// Clients at once.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Simulated seconds to run (60 steps each).
    #[arg(long, default_value_t = 60.0)]
    seconds: f64,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seconds of calm (no churn) before each convergence check, once a minute or more.
    #[arg(long, default_value_t = 20)]
    calm_seconds: usize,
    /// A perfect link instead of the soak conditions (to tell link trouble from the rest).
    #[arg(long)]
    perfect_link: bool,
}

/// Resident and peak memory of this process, MiB (Linux; zero elsewhere).
fn memory_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Whether a client holds exactly the server's replicated world.
fn converged(net: &mut TestNet, client: usize) -> Result<(), String> {
    let world = net.server_mut().world_mut();
    let server: HashMap<Entity, (u64, usize, Vec3)> = world
        .query_filtered::<(Entity, &Counter, &Label, &Transform), With<Replicated>>()
        .iter(world)
        .map(|(entity, counter, label, transform)| {
            (entity, (counter.0, label.0.len(), transform.translation))
        })
        .collect();
    let codec = TransformCodec::default();
    let world = net.client_mut(client).world();
    let map = world.resource::<ServerEntityMap>();
    if map.len() != server.len() {
        let missing: Vec<String> = server
            .iter()
            .filter(|(entity, _)| map.to_client(**entity).is_none())
            .map(|(entity, (_, label, _))| format!("{entity} ({label} B label)"))
            .take(3)
            .collect();
        return Err(format!(
            "holds {} entities, the server {}; missing {missing:?}",
            map.len(),
            server.len()
        ));
    }
    for (entity, (counter, label, position)) in &server {
        let local = map
            .to_client(*entity)
            .ok_or_else(|| format!("lacks {entity}"))?;
        let held = world.entity(local);
        let same = held.get::<Counter>().map(|c| c.0) == Some(*counter)
            && held.get::<Label>().map(|l| l.0.len()) == Some(*label)
            && held.get::<Transform>().is_some_and(|transform| {
                codec.matches(transform, &Transform::from_translation(*position))
            });
        if !same {
            return Err(format!(
                "{entity} differs: counter {:?} vs {counter}, label {:?} vs {label}, position {:?} vs {position}",
                held.get::<Counter>().map(|c| c.0),
                held.get::<Label>().map(|l| l.0.len()),
                held.get::<Transform>().map(|t| t.translation),
            ));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let link = if cli.perfect_link {
        LinkConditioner::PERFECT
    } else {
        LinkConditioner::new(1_000, 100, 0.25)
            .with_duplicate(0.25)
            .with_reorder(0.1)
    };
    let mut net = TestNet::new(protocol)
        .with_seed(cli.seed)
        .with_default_link(link);
    net.server_mut()
        .init_resource::<Mail>()
        .insert_resource(World_ {
            rng: SplitMix64::new(cli.seed),
            entities: Vec::new(),
            sequences: HashMap::new(),
            sent: 0,
            spawned: 0,
            despawned: 0,
            calm: false,
        })
        .init_resource::<ServerDrops>()
        .add_observer(
            |event: On<ClientDisconnected>, mut drops: ResMut<ServerDrops>| {
                *drops.0.entry(event.reason.to_string()).or_insert(0) += 1;
            },
        )
        .add_systems(Update, (server_reads, server_churn));
    let mut rng = SplitMix64::new(cli.seed ^ 0x5eed);
    let add = |net: &mut TestNet, seed: u64| {
        net.add_client_with(move |app| {
            app.init_resource::<Mail>()
                .insert_resource(Outbox {
                    rng: SplitMix64::new(seed),
                    id: seed,
                    reliable: 0,
                    unreliable: 0,
                    sent: 0,
                })
                .add_systems(Update, (client_reads, client_sends));
        })
    };
    for client in 0..cli.clients {
        add(&mut net, client as u64 + 1);
    }
    let (mut connects, mut disconnects) = (cli.clients as u64, 0u64);
    // Step at which each client connected last.
    let mut since = vec![0usize; cli.clients];
    // Clients told to leave this step (their connection ending is no failure).
    let mut leaving = vec![false; cli.clients];
    let steps = (cli.seconds * 60.0) as usize;
    let started = Instant::now();
    let (mut checks, mut failures) = (0u64, Vec::new());
    let mut memory_after_warmup: Vec<f64> = Vec::new();
    // Connections that ended without the client leaving, by reason.
    let mut dropped: HashMap<String, u64> = HashMap::new();
    // Every minute (simulated) or more: `calm_seconds` of calm (20 s by default: ten round
    // trips, enough for slices of large values lost several times over), then every settled
    // client must match.
    let calm_steps = cli.calm_seconds * 60;
    let period = (60 * 60).max(calm_steps + 40 * 60);
    for step in 0..steps {
        let phase = step % period;
        let calm = phase >= period - calm_steps;
        net.server_mut().world_mut().resource_mut::<World_>().calm = calm;
        if !calm && rng.chance(1.0 / 60.0) {
            // About one client a second leaves; one that left comes back.
            let client = (rng.next_u64() % cli.clients as u64) as usize;
            if net.is_attached(client) {
                net.disconnect(client);
                leaving[client] = true;
                disconnects += 1;
            } else {
                net.reconnect(client);
                connects += 1;
                since[client] = step;
            }
        }
        let attached: Vec<bool> = (0..cli.clients).map(|c| net.is_attached(c)).collect();
        net.step();
        for (client, was) in attached.into_iter().enumerate() {
            if was && !net.is_attached(client) && !core::mem::take(&mut leaving[client]) {
                let reason = net
                    .client(client)
                    .world()
                    .resource::<LastDisconnect>()
                    .0
                    .clone();
                let renet = net
                    .client(client)
                    .world()
                    .get_resource::<bevy_renet::RenetClient>()
                    .and_then(|renet| renet.disconnect_reason());
                let reason =
                    reason.map_or(format!("renet: {renet:?}"), |reason| reason.to_string());
                *dropped.entry(reason).or_insert(0u64) += 1;
            }
        }
        if phase == period - 1 {
            for (client, joined) in since.iter().enumerate() {
                let connected = *net
                    .client(client)
                    .world()
                    .resource::<State<ClientState>>()
                    .get()
                    == ClientState::Connected;
                if !net.is_attached(client) || !connected || step - joined < calm_steps {
                    continue;
                }
                checks += 1;
                if let Err(why) = converged(&mut net, client) {
                    failures.push(format!("step {step}, client {client}: {why}"));
                }
            }
            let (rss, _) = memory_mib();
            if step >= period {
                memory_after_warmup.push(rss);
            }
            eprintln!(
                "[{:>6.0} s simulated, {:>5.0} s real] {} clients connected, {} checks, rss {rss:.0} MiB",
                step as f64 / 60.0,
                started.elapsed().as_secs_f64(),
                (0..cli.clients).filter(|c| net.is_attached(*c)).count(),
                checks
            );
        }
    }
    let server = net.server().world();
    let churn = server.resource::<World_>();
    let mut verified = server.resource::<Mail>().verified;
    let mut wrong = server.resource::<Mail>().wrong.clone();
    let mut sent = churn.sent;
    for client in 0..cli.clients {
        let world = net.client(client).world();
        verified += world.resource::<Mail>().verified;
        wrong.extend(world.resource::<Mail>().wrong.iter().cloned());
        sent += world.resource::<Outbox>().sent;
    }
    let (rss, peak) = memory_mib();
    let (low, high) = memory_after_warmup
        .iter()
        .fold((f64::MAX, 0.0f64), |(low, high), m| {
            (low.min(*m), high.max(*m))
        });
    println!("soak: {} clients, seed {}", cli.clients, cli.seed);
    println!(
        "duration: {:.0} s simulated in {:.0} s",
        steps as f64 / 60.0,
        started.elapsed().as_secs_f64()
    );
    println!("connects: {connects}, disconnects: {disconnects}");
    println!(
        "messages: {sent} sent, {verified} verified on arrival, {} wrong (lost unreliable ones and those to or from departed clients are not counted)",
        wrong.len()
    );
    println!(
        "entities: {} spawned, {} despawned",
        churn.spawned, churn.despawned
    );
    println!(
        "convergence checks: {checks} run, {} failed",
        failures.len()
    );
    println!("connections dropped other than by leaving: {dropped:?}");
    println!(
        "server-side reasons: {:?}",
        net.server().world().resource::<ServerDrops>().0
    );
    println!(
        "memory: peak {peak:.0} MiB, final {rss:.0} MiB; after warm-up between {:.0} and {high:.0} MiB",
        if low == f64::MAX { 0.0 } else { low }
    );
    for line in wrong.iter().chain(&failures).take(10) {
        println!("  {line}");
    }
    if wrong.is_empty() && failures.is_empty() && dropped.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
