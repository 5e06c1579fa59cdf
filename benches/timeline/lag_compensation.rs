//! Lag compensation figures: hit registration on the four links of the issue, server time per
//! query with 200 compensated players and 10 shots a tick, and memory per compensated entity.

use std::time::Instant;

use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    server::{
        HISTORY_BYTES_PER_TICK, HitHistory, HitShape, LagCompensated, LagCompensation,
        MAX_HISTORY_TICKS,
    },
    testing::{LinkConditioner, TestNet},
};

use crate::shooting::{self, Gunner, Strafe, links};

const PLAYERS: usize = 200;
const SHOTS_PER_TICK: usize = 10;

/// Microseconds per query, as measured.
#[derive(Resource, Default)]
struct QueryTimes(Vec<f64>);

/// Ten shots a tick from the origin, fanned out, for the connected client's input of this tick.
fn shoot_volley(
    tick: Res<ServerTick>,
    clients: Query<&ConnectedClient>,
    compensation: LagCompensation,
    mut times: ResMut<QueryTimes>,
) {
    let Some(client) = clients.iter().next() else {
        return;
    };
    let started = Instant::now();
    let mut hits = 0;
    for shot in 0..SHOTS_PER_TICK {
        let angle = shot as f32 / SHOTS_PER_TICK as f32 * core::f32::consts::TAU;
        let direction = Dir3::new(Vec3::new(angle.cos(), 0.0, angle.sin())).unwrap();
        let ray = Ray3d::new(Vec3::Y, direction);
        hits += compensation
            .cast(client.id(), tick.0, ray, 0.0, 100.0, &[])
            .len();
    }
    std::hint::black_box(hits);
    let per_query = started.elapsed().as_secs_f64() * 1e6 / SHOTS_PER_TICK as f64;
    times.0.push(per_query);
}

fn query_cost() -> (f64, f64, usize) {
    let mut net = TestNet::new(shooting::protocol)
        .with_seed(5)
        .with_default_link(LinkConditioner::p50());
    for index in 0..PLAYERS {
        let angle = index as f32 / PLAYERS as f32 * core::f32::consts::TAU;
        let radius = 10.0 + (index % 10) as f32 * 4.0;
        net.spawn_on_server((
            Replicated,
            Transform::from_xyz(angle.cos() * radius, 0.0, angle.sin() * radius),
            Strafe(shooting::SPEED),
            LagCompensated::new(HitShape::Capsule {
                radius: 0.5,
                half_height: 0.5,
            })
            .with_offset(Vec3::Y),
        ));
    }
    net.server_mut()
        .init_resource::<QueryTimes>()
        .add_systems(FixedUpdate, (shooting::strafe, shoot_volley));
    net.add_client_with(|app| {
        app.insert_resource(Gunner {
            frame: 0,
            offset: 0.0,
        })
        .add_systems(Update, shooting::aim);
    });
    net.run(240);
    net.server_mut()
        .world_mut()
        .resource_mut::<QueryTimes>()
        .0
        .clear();
    net.run(600);
    let world = net.server_mut().world_mut();
    let longest = world.resource::<HitHistory>().longest();
    let mut times = core::mem::take(&mut world.resource_mut::<QueryTimes>().0);
    times.sort_by(f64::total_cmp);
    let at = |share: f64| times[((times.len() - 1) as f64 * share) as usize];
    (at(0.5), at(0.99), longest)
}

/// Prints the lag compensation tables.
pub fn print() {
    println!();
    println!(
        "Lag compensation: a target strafes at {} m/s; the shooter fires every sixth frame at the target as its own screen draws it (sphere of {} m); the server resolves each shot against what the shooter saw, and, for comparison, against where the target is when the shot arrives.",
        shooting::SPEED,
        shooting::RADIUS
    );
    println!();
    println!("| link | shots | registered (compensated) | would register (uncompensated) |");
    println!("| --- | ---: | ---: | ---: |");
    for (seed, (name, link)) in links().into_iter().enumerate() {
        let shots = shooting::run(link, seed as u64 + 1, 0.0);
        let share = |hits: u32| f64::from(hits) * 100.0 / f64::from(shots.fired.max(1));
        println!(
            "| {name} | {} | {:.1} % | {:.1} % |",
            shots.fired,
            share(shots.compensated),
            share(shots.uncompensated)
        );
    }
    let (p50, p99, longest) = query_cost();
    println!();
    println!(
        "| {PLAYERS} compensated players, {SHOTS_PER_TICK} shots a tick (P50 link) | µs per query p50 | µs per query p99 | history ticks per entity | bytes per entity (ticks × {HISTORY_BYTES_PER_TICK} B) | most bytes per entity ({MAX_HISTORY_TICKS} ticks) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    println!(
        "| ray casts | {p50:.1} | {p99:.1} | {longest} | {} | {} |",
        longest * HISTORY_BYTES_PER_TICK,
        MAX_HISTORY_TICKS * HISTORY_BYTES_PER_TICK
    );
}
