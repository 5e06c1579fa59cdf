//! Interpolation delay and error, inputs on time and upstream bytes, and client prediction
//! (rollbacks, corrections, re-simulation cost with 1 and 16 predicted entities), for clean, P50
//! and P95 links; lag compensation (hit registration on four links, query cost, memory); client
//! authority (upstream bytes of one owned moving object). Run with `cargo bench --bench timeline`.

#[path = "../../tests/integration/common/authority.rs"]
mod authority;
mod authority_figures;
mod lag_compensation;
#[path = "../../tests/integration/common/orbit.rs"]
mod orbit;
#[path = "../../tests/integration/common/shooting.rs"]
mod shooting;

use std::f32::consts::TAU;

use bevy::prelude::*;
use bevy_netsync::{
    client::PredictionStats,
    prelude::*,
    server::InputStats,
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
    let codec = TransformCodec::default();
    app.replicate_with::<Transform>(codec)
        .interpolate::<Transform>()
        .predict_with::<Transform>(move |a, b| codec.matches(a, b))
        .add_input::<Steer>()
        .add_input::<Pad>()
        .add_systems(FixedUpdate, walk);
}

/// A stick as a game would send it: a quantized direction (about 2 bytes).
#[derive(Serialize, Deserialize, Clone, Copy, Default, PartialEq)]
struct Pad([i8; 2]);

/// Shared by server and client: controlled entities walk at 4 m/s.
fn walk(time: Res<Time<Fixed>>, mut walkers: Query<(&TickInput<Pad>, &mut Transform), Simulated>) {
    let dt = time.timestep().as_secs_f32();
    for (input, mut transform) in &mut walkers {
        let stick = Vec2::new(f32::from(input.input.0[0]), f32::from(input.input.0[1])) / 127.0;
        let step = stick.clamp_length_max(1.0) * 4.0 * dt;
        transform.translation += Vec3::new(step.x, 0.0, step.y);
    }
}

/// The scripted stick: turns every half second.
fn play(mut frame: Local<u32>, mut input: ResMut<LocalInput<Pad>>) {
    *frame += 1;
    let angle = (*frame / 30) as f32 * 1.1;
    input.0 = Pad([(angle.cos() * 127.0) as i8, (angle.sin() * 127.0) as i8]);
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
    up_bytes_per_s: f64,
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
    let up_before = net.upstream(client).bytes;

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
        up_bytes_per_s: (net.upstream(client).bytes - up_before) as f64
            / (MEASURED_STEPS as f64 / 60.0),
    }
}

struct PredictionFigures {
    rollbacks_per_s: f64,
    mean_correction_cm: f64,
    max_correction_cm: f64,
    resimulated_per_rollback: f64,
    resimulation_us_per_frame: f64,
    frame_us: f64,
    up_bytes_per_s: f64,
}

/// Server only, every two seconds: a knockback the client cannot predict (half a metre
/// sideways), so that there is something to correct.
fn knock_back(tick: Res<ServerTick>, mut pushed: Query<&mut Transform, With<ControlledBy>>) {
    if tick.0.0.is_multiple_of(120) {
        for mut transform in &mut pushed {
            transform.translation.x += 0.5;
        }
    }
}

/// One client predicting `predicted` entities it controls, walking them with a scripted stick;
/// the server knocks them back every two seconds.
fn run_prediction(link: LinkConditioner, predicted: usize) -> PredictionFigures {
    let mut net = TestNet::new(protocol).with_seed(23).with_default_link(link);
    net.server_mut().add_systems(FixedPostUpdate, knock_back);
    let client = net.add_client();
    net.client_mut(client).add_systems(Update, play);
    net.run(30);
    let id = net.client_id(client);
    for i in 0..predicted {
        net.spawn_on_server((
            Replicated,
            Transform::from_xyz(i as f32 * 3.0, 0.0, 0.0),
            ControlledBy { client_id: id },
        ));
    }
    net.run(WARMUP_STEPS);
    // Measure from here (the largest correction too).
    net.client_mut(client)
        .world_mut()
        .insert_resource(PredictionStats::default());
    let stats = |net: &TestNet| *net.client(client).world().resource::<PredictionStats>();
    let before = stats(&net);
    let up_before = net.upstream(client).bytes;
    let mut frame_time = std::time::Duration::ZERO;
    for _ in 0..MEASURED_STEPS {
        let started = std::time::Instant::now();
        net.step();
        // The server's share of the step is known; the rest is the client's frame.
        frame_time += started.elapsed().saturating_sub(net.last_server_time());
    }
    let after = stats(&net);
    let seconds = MEASURED_STEPS as f64 / 60.0;
    let rollbacks = after.rollbacks - before.rollbacks;
    let corrections = (after.rollbacks + after.snaps - before.rollbacks - before.snaps).max(1);
    PredictionFigures {
        rollbacks_per_s: rollbacks as f64 / seconds,
        mean_correction_cm: (after.total_correction - before.total_correction) / corrections as f64
            * 100.0,
        max_correction_cm: f64::from(after.largest_correction) * 100.0,
        resimulated_per_rollback: (after.resimulated_ticks - before.resimulated_ticks) as f64
            / rollbacks.max(1) as f64,
        resimulation_us_per_frame: (after.resimulation_time - before.resimulation_time)
            .as_secs_f64()
            * 1e6
            / MEASURED_STEPS as f64,
        frame_us: frame_time.as_secs_f64() * 1e6 / MEASURED_STEPS as f64,
        up_bytes_per_s: (net.upstream(client).bytes - up_before) as f64 / seconds,
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
    // `cargo bench --bench timeline -- authority`: the client authority table alone.
    if std::env::args().any(|arg| arg == "authority") {
        authority_figures::print();
        return;
    }
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
        "| link | RTT ms | jitter ms | loss seen | interpolation delay ms | mean error mm | worst error mm | inputs on time | late inputs | c→s B/s |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (name, link) in links {
        let figures = run(link);
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} % | {:.1} | {:.3} | {:.2} | {:.2} % | {} | {:.0} |",
            figures.rtt_ms,
            figures.jitter_ms,
            figures.loss * 100.0,
            figures.delay_ms,
            figures.mean_error_mm,
            figures.worst_error_mm,
            figures.inputs_on_time * 100.0,
            figures.late,
            figures.up_bytes_per_s
        );
    }
    println!();
    println!(
        "Prediction: one client predicts the entities it controls (walked by a scripted stick that turns every half second, TransformCodec, predicted with its precision); the server knocks them 0.5 m sideways every 2 s, which only a correction can show; {MEASURED_STEPS} measured steps. c→s counts payload bytes (acks and inputs)."
    );
    println!();
    println!(
        "| link | predicted entities | rollbacks/s | mean correction cm | max correction cm | re-simulated ticks per rollback | re-simulation µs per frame | client µs per frame | c→s B/s |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (name, link) in links {
        for predicted in [1, 16] {
            let figures = run_prediction(link, predicted);
            println!(
                "| {name} | {predicted} | {:.2} | {:.2} | {:.2} | {:.1} | {:.1} | {:.0} | {:.0} |",
                figures.rollbacks_per_s,
                figures.mean_correction_cm,
                figures.max_correction_cm,
                figures.resimulated_per_rollback,
                figures.resimulation_us_per_frame,
                figures.frame_us,
                figures.up_bytes_per_s
            );
        }
    }
    lag_compensation::print();
    authority_figures::print();
}
