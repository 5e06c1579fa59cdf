//! Client prediction: a client moves the entities it controls with its own inputs at once, and
//! ends up exactly where the server says after corrections.

use std::collections::BTreeMap;

use bevy::prelude::*;
use bevy_netsync::{
    client::PredictionStats,
    prelude::*,
    server::InputStats,
    testing::{LinkConditioner, TestNet},
};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Copy, Default, PartialEq, Debug)]
struct Pad {
    walk: Vec2,
    fire: bool,
}

/// A projectile.
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Debug)]
struct Bolt;

/// Server switch: whether the server fires bolts (off: predicted bolts never get confirmed).
#[derive(Resource)]
struct ServerFires(bool);

fn protocol(app: &mut App) {
    app.replicate::<Transform>()
        .interpolate::<Transform>()
        .predict::<Transform>()
        .replicate::<Bolt>()
        .add_input::<Pad>()
        .add_systems(FixedUpdate, (walk, fire, fly).chain());
}

/// Shared: walks controlled entities at 4 m/s.
fn walk(time: Res<Time<Fixed>>, mut walkers: Query<(&TickInput<Pad>, &mut Transform), Simulated>) {
    let dt = time.timestep().as_secs_f32();
    for (input, mut transform) in &mut walkers {
        let step = input.input.walk.clamp_length_max(1.0) * 4.0 * dt;
        // Standing still leaves the transform unchanged (so the server sends nothing).
        if step != Vec2::ZERO {
            transform.translation += Vec3::new(step.x, 0.0, step.y);
        }
    }
}

/// Shared: fires a bolt (server: replicated; client: predicted, never while re-simulating).
fn fire(
    shooters: Query<(&TickInput<Pad>, &Transform, &ControlledBy, Has<Replicated>), Simulated>,
    resimulating: Res<Resimulating>,
    server_fires: Option<Res<ServerFires>>,
    mut commands: Commands,
) {
    for (input, transform, controller, on_server) in &shooters {
        if !input.input.fire || input.repeated || resimulating.0 {
            continue;
        }
        if on_server && server_fires.as_ref().is_some_and(|fires| !fires.0) {
            continue;
        }
        let mut bolt = commands.spawn((
            Bolt,
            *transform,
            SpawnedBy {
                client_id: controller.client_id,
                tick: input.tick,
                index: 0,
            },
            ControlledBy {
                client_id: controller.client_id,
            },
        ));
        if on_server {
            bolt.insert(Replicated);
        }
    }
}

/// Shared: bolts fly along x.
fn fly(mut bolts: Query<&mut Transform, (With<Bolt>, Simulated, Without<TickInput<Pad>>)>) {
    for mut transform in &mut bolts {
        transform.translation.x += 0.25;
    }
}

/// Positions by tick: the server's, and the client's final predictions.
#[derive(Resource, Default)]
struct Track(BTreeMap<u32, Vec3>);

fn track_server(
    tick: Res<ServerTick>,
    players: Query<&Transform, With<ControlledBy>>,
    mut track: ResMut<Track>,
) {
    if let Some(transform) = players.iter().next() {
        track.0.insert(tick.0.0, transform.translation);
    }
}

fn track_client(
    predicted: Res<PredictedTick>,
    players: Query<&Transform, (With<Predicted>, Without<Bolt>)>,
    mut track: ResMut<Track>,
) {
    if let (Some(tick), Some(transform)) = (predicted.tick(), players.iter().next()) {
        track.0.insert(tick.0, transform.translation);
    }
}

/// The client's scripted stick: turns every half second, fires on some frames.
#[derive(Resource, Default)]
struct Script {
    frame: u32,
    fire_at: Vec<u32>,
}

fn play(mut script: ResMut<Script>, mut input: ResMut<LocalInput<Pad>>) {
    script.frame += 1;
    let angle = (script.frame / 30) as f32 * 1.1;
    input.0 = Pad {
        walk: Vec2::new(angle.cos(), angle.sin()),
        fire: script.fire_at.contains(&script.frame),
    };
}

fn setup(link: LinkConditioner, seed: u64) -> TestNet {
    setup_with(link, seed, |_| {})
}

/// [`setup`], with the client App changed by `customize` too.
fn setup_with(link: LinkConditioner, seed: u64, customize: impl FnOnce(&mut App)) -> TestNet {
    let mut net = TestNet::new(protocol)
        .with_seed(seed)
        .with_default_link(link);
    net.server_mut()
        .init_resource::<Track>()
        .add_systems(FixedPostUpdate, track_server)
        .add_observer(
            |event: On<Add, ConnectedClient>,
             clients: Query<&ConnectedClient>,
             mut commands: Commands| {
                let id = clients.get(event.entity).unwrap().id();
                commands.spawn((
                    Replicated,
                    Transform::default(),
                    ControlledBy { client_id: id },
                ));
            },
        );
    net.add_client_with(|app| {
        app.init_resource::<Track>()
            .init_resource::<Script>()
            .add_systems(Update, play)
            .add_systems(FixedPostUpdate, track_client);
        customize(app);
    });
    net
}

fn stats(net: &TestNet) -> PredictionStats {
    *net.client(0).world().resource::<PredictionStats>()
}

/// Ticks in `range` where the client's final prediction differs from the server.
fn mismatches(net: &TestNet, range: core::ops::Range<u32>) -> Vec<u32> {
    let server = &net.server().world().resource::<Track>().0;
    let client = &net.client(0).world().resource::<Track>().0;
    range
        .filter(|tick| match (server.get(tick), client.get(tick)) {
            (Some(a), Some(b)) => a != b,
            _ => false,
        })
        .collect()
}

#[test]
fn on_a_clean_link_prediction_never_rolls_back_and_matches_the_server() {
    let mut net = setup(LinkConditioner::new(20, 0, 0.0), 1);
    net.run(120);
    let start = stats(&net);
    net.run(600);
    let end = stats(&net);
    assert_eq!(end.rollbacks, start.rollbacks, "rollbacks on a clean link");
    assert_eq!(end.snaps, start.snaps);
    let now = net.server().world().resource::<ServerTick>().0.0;
    let compared = (now - 500)..(now - 10);
    let client = &net.client(0).world().resource::<Track>().0;
    assert!(
        compared.clone().all(|tick| client.contains_key(&tick)),
        "predicted every tick"
    );
    assert_eq!(mismatches(&net, compared), Vec::<u32>::new());
}

#[test]
fn a_server_push_is_corrected_within_a_round_trip_without_a_visible_jump() {
    // 100 ms round trip.
    let mut net = setup(LinkConditioner::new(50, 0, 0.0), 2);
    net.run(180);
    let before = stats(&net);
    // Knockback on the server only: one metre sideways.
    let push_tick = net.server().world().resource::<ServerTick>().0.0 + 1;
    {
        let world = net.server_mut().world_mut();
        let mut players = world.query_filtered::<&mut Transform, With<ControlledBy>>();
        players.single_mut(world).unwrap().translation.z += 1.0;
    }
    let mut worst_step: f32 = 0.0;
    let mut shown = None;
    for _ in 0..60 {
        net.step();
        let world = net.client_mut(0).world_mut();
        let rendered = world
            .query_filtered::<&Transform, (With<Predicted>, Without<Bolt>)>()
            .single(world)
            .unwrap()
            .translation;
        if let Some(previous) = shown {
            worst_step = worst_step.max(rendered.distance(previous));
        }
        shown = Some(rendered);
    }
    let after = stats(&net);
    assert!(
        after.rollbacks > before.rollbacks,
        "the push was not corrected"
    );
    assert!(
        after.largest_correction >= 0.9,
        "{}",
        after.largest_correction
    );
    // Walking moves 4 m/s / 60 = 7 cm per frame; the metre fades in over ~150 ms.
    assert!(
        worst_step < 0.25,
        "the rendered position jumped {worst_step} m in a frame"
    );
    // Corrected within a round trip plus a tick: from then on, prediction equals the server.
    let rtt_ticks = 6 + 2;
    let now = net.server().world().resource::<ServerTick>().0.0;
    assert_eq!(
        mismatches(&net, (push_tick + rtt_ticks)..(now - 10)),
        Vec::<u32>::new()
    );
}

/// Server only: while held, controlled entities do not walk, whatever their input says.
#[derive(Resource)]
struct Held(bool);

fn hold_still(held: Option<Res<Held>>, mut walkers: Query<&mut TickInput<Pad>, With<Replicated>>) {
    if held.is_some_and(|held| held.0) {
        for mut input in &mut walkers {
            input.input.walk = Vec2::ZERO;
        }
    }
}

#[test]
fn a_prediction_that_walks_while_the_server_holds_still_is_corrected() {
    // The server never changes the value, so it never sends one: the client must notice that
    // the server's unchanged value is not where it predicted.
    let mut net = setup(LinkConditioner::new(30, 0, 0.0), 5);
    net.server_mut()
        .insert_resource(Held(false))
        .add_systems(FixedUpdate, hold_still.before(walk));
    net.run(120);
    net.server_mut().insert_resource(Held(true));
    let held_from = net.server().world().resource::<ServerTick>().0.0 + 1;
    net.run(120);
    let now = net.server().world().resource::<ServerTick>().0.0;
    let server = net.server().world().resource::<Track>().0[&now];
    assert_eq!(
        net.server().world().resource::<Track>().0[&(held_from + 5)],
        server,
        "the server kept the entity still"
    );
    // The client cannot know the rule, so it keeps walking ahead of each confirmation; but each
    // confirmation pulls it back: it stays within about a round trip of walking (60 ms, the
    // input lead and a few ticks at 4 m/s, some 0.5 m) of where the server holds it, instead of
    // walking away (8 m in these two seconds).
    let client = &net.client(0).world().resource::<Track>().0;
    let predicted = client
        .last_key_value()
        .map(|(_, position)| *position)
        .unwrap();
    let distance = predicted.distance(server);
    assert!(
        distance < 1.0,
        "the prediction is {distance} m from where the server holds the entity"
    );
    assert!(stats(&net).rollbacks > 0);
}

#[test]
fn predictions_hold_over_a_lossy_150_ms_link() {
    let link = LinkConditioner::new(75, 5, 0.04)
        .with_duplicate(0.02)
        .with_reorder(0.02);
    let mut net = setup(link, 3);
    net.run(180);
    let start_tick = net.server().world().resource::<ServerTick>().0.0;
    net.run(30 * 60);
    let now = net.server().world().resource::<ServerTick>().0.0;
    let missed = mismatches(&net, start_tick..(now - 20));
    let total = now - 20 - start_tick;
    // Lost input packets make the server repeat an input now and then; prediction is then
    // corrected, so mismatches stay rare and short.
    assert!(
        missed.len() * 100 < total as usize * 3,
        "{} of {total} ticks mispredicted",
        missed.len()
    );
    let mut run = 1;
    let mut longest = 0;
    for pair in missed.windows(2) {
        run = if pair[1] == pair[0] + 1 { run + 1 } else { 1 };
        longest = longest.max(run);
    }
    assert!(longest <= 20, "mispredicted for {longest} ticks in a row");
}

fn bolts(net: &mut TestNet) -> usize {
    let world = net.client_mut(0).world_mut();
    world.query::<&Bolt>().iter(world).count()
}

#[test]
fn a_predicted_bolt_appears_at_once_and_the_servers_copy_takes_it_over() {
    let mut net = setup(LinkConditioner::new(60, 0, 0.0), 4);
    net.run(120);
    net.client_mut(0)
        .world_mut()
        .resource_mut::<Script>()
        .fire_at = vec![125];
    let mut appeared = None;
    for step in 0..120 {
        net.step();
        let count = bolts(&mut net);
        assert!(count <= 1, "step {step}: {count} bolts");
        if count == 1 && appeared.is_none() {
            appeared = Some(step);
        }
    }
    assert!(
        appeared.is_some_and(|step| step <= 6),
        "the bolt appeared at step {appeared:?}"
    );
    // The server's bolt is this client's bolt.
    let world = net.client_mut(0).world_mut();
    let mut bolts = world.query_filtered::<Entity, With<Bolt>>();
    let bolt = bolts.single(world).unwrap();
    assert!(
        world
            .resource::<ServerEntityMap>()
            .to_server(bolt)
            .is_some()
    );
    assert!(world.get::<Predicted>(bolt).is_some(), "still predicted");
}

#[test]
fn a_predicted_bolt_the_server_never_confirms_disappears() {
    let mut net = setup(LinkConditioner::new(30, 0, 0.0), 5);
    net.server_mut().insert_resource(ServerFires(false));
    net.run(120);
    net.client_mut(0)
        .world_mut()
        .resource_mut::<Script>()
        .fire_at = vec![125];
    net.run(10);
    assert_eq!(bolts(&mut net), 1, "predicted at once");
    net.run(120);
    assert_eq!(bolts(&mut net), 0, "gone after the spawn timeout");
}

/// Client side: how often `FixedUpdate` ran, and how often while re-simulating.
#[derive(Resource, Default)]
struct Runs {
    total: u32,
    resimulating: u32,
    not_resimulating: u32,
}

#[test]
fn a_rollback_resimulates_only_predicted_entities_and_the_flag_is_seen() {
    let mut net = setup(LinkConditioner::new(40, 0, 0.0), 6);
    net.client_mut(0).init_resource::<Runs>().add_systems(
        FixedUpdate,
        (
            |resimulating: Res<Resimulating>, mut runs: ResMut<Runs>| {
                runs.total += 1;
                if resimulating.0 {
                    runs.resimulating += 1;
                }
            },
            (|mut runs: ResMut<Runs>| runs.not_resimulating += 1).run_if(not_resimulating),
        ),
    );
    // A second entity the client does not control: interpolated, never simulated here.
    let other = net.spawn_on_server((
        Replicated,
        Transform::from_xyz(5.0, 0.0, 5.0),
        ControlledBy { client_id: 999 },
    ));
    net.run(120);
    {
        let world = net.server_mut().world_mut();
        let mut players =
            world.query_filtered::<&mut Transform, (With<ControlledBy>, Without<Bolt>)>();
        for mut transform in players.iter_mut(world) {
            if transform.translation.x < 4.0 {
                transform.translation.z += 0.5;
            }
        }
    }
    net.run(60);
    let runs = net.client(0).world().resource::<Runs>();
    assert!(runs.resimulating > 0, "the push caused a re-simulation");
    assert_eq!(runs.total, runs.resimulating + runs.not_resimulating);
    let world = net.client_mut(0).world_mut();
    let copy = world
        .resource::<ServerEntityMap>()
        .to_client(other)
        .unwrap();
    assert!(world.get::<Predicted>(copy).is_none());
    assert!(
        world.get::<TickInput<Pad>>(copy).is_none(),
        "never simulated here"
    );
    assert_eq!(
        world.get::<Transform>(copy).unwrap().translation,
        Vec3::new(5.0, 0.0, 5.0)
    );
}

#[test]
fn the_host_player_moves_with_the_same_systems_without_prediction() {
    let mut net = TestNet::new(protocol);
    let local = bevy_netsync::server::spawn_local_client(net.server_mut().world_mut());
    let player = net.spawn_on_server((
        Replicated,
        Transform::default(),
        ControlledBy {
            client_id: bevy_netsync::server::LOCAL_CLIENT_ID,
        },
    ));
    net.server_mut()
        .world_mut()
        .resource_mut::<LocalInput<Pad>>()
        .0 = Pad {
        walk: Vec2::X,
        fire: false,
    };
    net.run(60);
    let world = net.server().world();
    let x = world.get::<Transform>(player).unwrap().translation.x;
    assert!((3.5..=4.1).contains(&x), "walked {x} m in a second");
    assert!(world.get::<Predicted>(player).is_none());
    let _ = local;
}

#[test]
fn a_simulated_link_on_the_client_adds_latency_without_rollbacks() {
    use bevy_netsync::client::SimulatedLink;
    let mut net = setup_with(LinkConditioner::PERFECT, 9, |app| {
        app.insert_resource(SimulatedLink::new(LinkConditioner::new(100, 0, 0.0), 1));
    });
    net.run(300);
    let start = stats(&net);
    net.run(600);
    let end = stats(&net);
    // The client's clock counts the simulated latency (renet does not see it): its inputs
    // arrive in time and nothing needs correcting.
    assert_eq!(
        end.rollbacks, start.rollbacks,
        "rollbacks behind a simulated link"
    );
    assert_eq!(end.snaps, start.snaps);
    let world = net.server_mut().world_mut();
    let inputs = world
        .query::<&InputStats>()
        .iter(world)
        .next()
        .copied()
        .unwrap();
    assert_eq!(inputs.late, 0, "{inputs:?}");
}
