//! Interpolation delay and error, and inputs on time, for clean, P50 and P95 links.
//! Run with `cargo bench --bench timeline`.

#[path = "../tests/integration/common/orbit.rs"]
mod orbit;

use std::f32::consts::TAU;

use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    testing::{LinkConditioner, TestNet},
};
use orbit::{Orbit, move_on_orbit};
use serde::{Deserialize, Serialize};

const ENTITIES: usize = 16;
const WARMUP_STEPS: usize = 300;
const MEASURED_STEPS: usize = 1800;

#[derive(Serialize, Deserialize, Clone, Copy, Default, PartialEq)]
struct Steer(u32);

fn protocol(app: &mut App) {
    app.replicate::<Transform>()
        .interpolate::<Transform>()
        .add_input::<Steer>();
}

fn steer(mut input: ResMut<LocalInput<Steer>>) {
    input.0.0 = input.0.0.wrapping_add(1);
}

struct Figures {
    rtt_ms: f64,
    jitter_ms: f64,
    loss: f64,
    delay_ms: f64,
    mean_error_mm: f64,
    worst_error_mm: f64,
    inputs_on_time: f64,
    late: u64,
}

fn run(link: LinkConditioner) -> Figures {
    let mut net = TestNet::new(protocol).with_seed(17).with_default_link(link);
    net.server_mut().add_systems(FixedUpdate, move_on_orbit);
    let mut orbits = Vec::new();
    for i in 0..ENTITIES {
        let orbit = Orbit {
            center: Vec3::new(i as f32 * 30.0, 0.0, 0.0),
            phase: i as f32 / ENTITIES as f32 * TAU,
        };
        let entity = net
            .server_mut()
            .world_mut()
            .spawn((Replicated, Transform::default(), orbit))
            .id();
        orbits.push((entity, orbit));
    }
    let client = net.add_client();
    net.client_mut(client).add_systems(Update, steer);
    net.run(WARMUP_STEPS);
    let stats_before = input_stats(&mut net);

    let (mut delay_sum, mut error_sum, mut worst, mut samples) = (0.0, 0.0, 0.0f32, 0usize);
    let (mut rtt_sum, mut jitter_sum, mut loss_sum) = (0.0, 0.0, 0.0);
    for _ in 0..MEASURED_STEPS {
        net.step();
        let world = net.client_mut(client).world_mut();
        let timeline = world.resource::<ClientTimeline>().clone();
        delay_sum += timeline.interpolation_delay().as_secs_f64();
        rtt_sum += timeline.rtt().as_secs_f64();
        jitter_sum += timeline.jitter().as_secs_f64();
        loss_sum += world.resource::<bevy_renet::RenetClient>().packet_loss();
        let tick = timeline.interpolation_tick();
        for (entity, orbit) in &orbits {
            let map = world.resource::<ServerEntityMap>();
            let Some(drawn) = map
                .to_client(*entity)
                .and_then(|e| world.get::<Transform>(e))
            else {
                continue;
            };
            let error = drawn.translation.distance(orbit.position(tick));
            error_sum += f64::from(error);
            worst = worst.max(error);
            samples += 1;
        }
    }
    let stats = input_stats(&mut net);
    let on_time = stats.on_time - stats_before.on_time;
    let repeated = stats.repeated - stats_before.repeated;
    let per_step = |sum: f64| sum / MEASURED_STEPS as f64;
    Figures {
        rtt_ms: per_step(rtt_sum) * 1000.0,
        jitter_ms: per_step(jitter_sum) * 1000.0,
        loss: per_step(loss_sum),
        delay_ms: per_step(delay_sum) * 1000.0,
        mean_error_mm: error_sum / samples.max(1) as f64 * 1000.0,
        worst_error_mm: f64::from(worst) * 1000.0,
        inputs_on_time: on_time as f64 / (on_time + repeated).max(1) as f64,
        late: stats.late - stats_before.late,
    }
}

fn input_stats(net: &mut TestNet) -> InputStats {
    let world = net.server_mut().world_mut();
    world
        .query::<&InputStats>()
        .iter(world)
        .next()
        .copied()
        .unwrap_or_default()
}

fn main() {
    let links = [
        ("clean (5 ms each way)", LinkConditioner::new(5, 0, 0.0)),
        ("P50 (66 ± 11 ms RTT, 3 % loss)", LinkConditioner::p50()),
        ("P95 (151 ± 11 ms RTT, 4 % loss)", LinkConditioner::p95()),
    ];
    println!(
        "bevy_netsync timeline benchmark: {ENTITIES} entities on 10 m circles at 5 m/s, one client sending inputs,"
    );
    println!(
        "60 ticks/s, {MEASURED_STEPS} measured steps after {WARMUP_STEPS}; error = drawn position vs the true path at the interpolation tick."
    );
    println!();
    println!(
        "| link | RTT ms | jitter ms | loss seen | interpolation delay ms | mean error mm | worst error mm | inputs on time | late inputs |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (name, link) in links {
        let figures = run(link);
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} % | {:.1} | {:.3} | {:.2} | {:.2} % | {} |",
            figures.rtt_ms,
            figures.jitter_ms,
            figures.loss * 100.0,
            figures.delay_ms,
            figures.mean_error_mm,
            figures.worst_error_mm,
            figures.inputs_on_time * 100.0,
            figures.late
        );
    }
}
