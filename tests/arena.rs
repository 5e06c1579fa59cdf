//! The arena example, headless: a server and bots over real UDP on loopback, time stepped by
//! hand.

// The example's own files; `main.rs` uses some items the tests do not.
#[allow(dead_code)]
#[path = "../examples/arena/ball/mod.rs"]
mod ball;
#[allow(dead_code)]
#[path = "../examples/arena/bots.rs"]
mod bots;
#[path = "../examples/arena/chat.rs"]
mod chat;
#[allow(dead_code)]
#[path = "../examples/arena/fleet.rs"]
mod fleet;
#[allow(dead_code)]
#[path = "../examples/arena/headless.rs"]
mod headless;
#[path = "../examples/arena/level.rs"]
mod level;
#[path = "../examples/arena/movement.rs"]
mod movement;
#[allow(dead_code)]
#[path = "../examples/arena/net_args.rs"]
mod net_args;
#[path = "../examples/arena/pickup.rs"]
mod pickup;
#[path = "../examples/arena/player.rs"]
mod player;
#[path = "../examples/arena/projectile.rs"]
mod projectile;
#[path = "../examples/arena/protocol.rs"]
mod protocol;
#[path = "../examples/arena/railgun.rs"]
mod railgun;

#[path = "arena_support/ball_play.rs"]
mod ball_play;
#[path = "arena_support/drawing.rs"]
mod drawing;
#[path = "arena_support/fleet_match.rs"]
mod fleet_match;
#[path = "arena_support/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "fleet_support/sdk_stand_in.rs"]
mod sdk_stand_in;

use std::time::Duration;

use drawing::Drawn;
use harness::{Arena, Heard, History};

use bevy::prelude::*;
use bevy_netsync::{prelude::*, transport};
use protocol::{ArenaInput, ChatLine, ChatSend, Health, Player, Score};

#[test]
fn bots_see_every_player_where_the_server_has_it() {
    let mut arena = Arena::new(3, true);
    let mut totals = vec![bots::BotTotals::default(); 3];
    // Four seconds at least, then until enough was compared: a datagram that reaches a bot a
    // step late (a loaded machine) is not compared, so the run goes on rather than fail.
    let mut steps = 0;
    while steps < 240
        || (steps < 960
            && (arena.predictions_checked().0 < 400 || arena.drawings_checked().0.len() < 500))
    {
        arena.step();
        for (bot, totals) in arena.bots.iter_mut().zip(&mut totals) {
            totals.sample(bot);
        }
        if steps == 60 {
            for bot in &mut arena.bots {
                bot.world_mut().resource_mut::<Drawn>().0.clear();
            }
        }
        steps += 1;
    }
    for bot in 0..3 {
        assert_eq!(arena.players_seen(bot), 3);
    }
    // Each bot predicts its own player: where it had it at a tick is where the server put it
    // at that tick (within the codec's millimetre), except around what only the server knows
    // (a respawn after the bots shot each other), which the bot corrects.
    let (compared, right) = arena.predictions_checked();
    assert!(compared >= 400, "only {compared} predictions compared");
    assert!(
        right * 20 >= compared * 19,
        "only {right} of {compared} predictions within 1 cm"
    );
    // What each bot drew of the others: exact within the codec's millimetres, however late a
    // datagram came.
    let (errors, not_interpolated) = arena.drawings_checked();
    let worst = errors.iter().copied().fold(0.0, f32::max);
    eprintln!(
        "{steps} steps: {} interpolated samples compared, worst {worst:.4} m; {not_interpolated} drawn past the newest snapshot",
        errors.len()
    );
    assert!(errors.len() >= 500, "only {} comparisons", errors.len());
    assert!(worst < 0.01, "a bot drew a player {worst} m off");

    let summary = bots::summarize(&totals, harness::FRAME * steps);
    assert_eq!((summary.bots, summary.connected_bots), (3, 3));
    assert_eq!((summary.players_seen_min, summary.players_seen_max), (3, 3));
    assert!(summary.bytes_in_per_s > 0.0 && summary.bytes_out_per_s > 0.0);
    assert!(summary.replicated_entities >= 3.0);
    assert!(summary.interpolation_delay_ms > 0.0);
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["players_seen_min"], 3);
    // The bots moved and fought: it was not a still picture.
    let history = &arena.server.world().resource::<History>().0;
    let last_two: Vec<_> = history.values().rev().take(2).collect();
    assert_ne!(last_two[0], last_two[1], "nobody moved");
}

#[test]
fn a_shot_at_a_standing_player_hits_and_the_score_changes_everywhere() {
    let mut arena = Arena::new(2, false);
    let (target, shooter) = (arena.server_player(0), arena.server_player(1));
    let world = arena.server.world_mut();
    world.get_mut::<Transform>(target).unwrap().translation = Vec3::new(0.0, 0.0, 8.0);
    world.get_mut::<Transform>(shooter).unwrap().translation = Vec3::new(0.0, 0.0, 12.0);
    let (target_id, shooter_id) = (arena.name(0), arena.name(1));
    // Facing -z (yaw 0), trigger held: a shot every cooldown, three hits kill.
    arena.input(1, ArenaInput::new(Vec2::ZERO, 0.0, true));
    arena.run_until(240, |arena| {
        Arena::scores(&mut arena.server)
            .get(&shooter_id)
            .is_some_and(|score| score.kills == 1)
    });
    arena.input(1, ArenaInput::default());
    arena.run(30);
    for app in std::iter::once(&mut arena.server).chain(arena.bots.iter_mut()) {
        let scores = Arena::scores(app);
        assert_eq!(
            scores[&shooter_id],
            Score {
                kills: 1,
                deaths: 0
            }
        );
        assert_eq!(
            scores[&target_id],
            Score {
                kills: 0,
                deaths: 1
            }
        );
    }
}

#[test]
fn a_chat_flood_is_cut_to_the_allowance_and_the_sender_is_told() {
    let mut arena = Arena::new(2, false);
    for line in 0..20 {
        arena.bots[0]
            .world_mut()
            .write_message(ChatSend(format!("spam {line}")));
    }
    arena.run(10);
    let burst = chat::CHAT_BURST as usize;
    let spam: Vec<ChatLine> = (0..burst)
        .map(|line| ChatLine {
            from: "bot-1".into(),
            text: format!("spam {line}"),
        })
        .collect();
    let heard = |arena: &Arena, bot: usize| arena.bots[bot].world().resource::<Heard>().0.clone();
    assert_eq!(
        heard(&arena, 1),
        spam,
        "the other bot hears the allowance only"
    );
    let sender = heard(&arena, 0);
    assert_eq!(sender[..burst], spam[..]);
    assert_eq!(
        sender.len(),
        burst + 1,
        "one notice, not one per dropped line"
    );
    assert_eq!(sender[burst].from, chat::SERVER_NAME);

    // A second later there is room for one more line.
    arena.run(60);
    arena.bots[0]
        .world_mut()
        .write_message(ChatSend("after a pause".into()));
    arena.run(10);
    let last = heard(&arena, 1).pop().unwrap();
    assert_eq!(last.text, "after a pause");
}

#[test]
fn a_chat_line_reaches_every_bot_and_a_bot_that_leaves_disappears() {
    let mut arena = Arena::new(3, true);
    arena.bots[0]
        .world_mut()
        .write_message(ChatSend("  hello arena  ".into()));
    arena.run(10);
    for bot in 0..3 {
        let heard = &arena.bots[bot].world().resource::<Heard>().0;
        assert_eq!(
            heard,
            &[ChatLine {
                from: "bot-1".into(),
                text: "hello arena".into()
            }],
            "bot {bot}"
        );
    }

    transport::disconnect(arena.bots[2].world_mut());
    arena.run_until(60, |arena| {
        arena.players_seen(0) == 2 && arena.players_seen(1) == 2
    });
    assert_eq!(arena.players_on_server(), 2);
}

#[test]
fn impossible_input_is_held_to_the_rules() {
    let mut arena = Arena::new(2, false);
    let cheater = arena.server_player(0);
    let world = arena.server.world_mut();
    world.get_mut::<Transform>(cheater).unwrap().translation = Vec3::new(-5.0, 0.0, 11.0);
    let start_tick = world.resource::<ServerTick>().0;
    for frame in 0..120 {
        // The longest move vector the wire can carry (about 1.41) and the trigger every tick;
        // every other frame, what NaN and infinity quantize to.
        let input = if frame % 2 == 0 {
            ArenaInput {
                movement: [127, 127],
                aim: u16::MAX,
                fire: true,
                rail: true,
            }
        } else {
            ArenaInput::new(Vec2::NAN, f32::INFINITY, true)
        };
        arena.input(0, input);
        arena.step();
    }
    let id = arena.name(0);
    let history = &arena.server.world().resource::<History>().0;
    let max_step = movement::MAX_SPEED / 60.0 + 1e-4;
    let positions: Vec<Vec3> = history
        .range(start_tick.0 + 1..)
        .filter_map(|(_, players)| players.get(&id).copied())
        .collect();
    assert!(positions.len() > 100);
    for pair in positions.windows(2) {
        let step = pair[0].distance(pair[1]);
        assert!(step <= max_step, "moved {step} m in one tick");
    }
    assert!(positions.iter().all(|p| p.is_finite()));
    let world = arena.server.world_mut();
    let ticks = positions.len() as u32;
    let shots = world
        .query::<&protocol::Projectile>()
        .iter(world)
        .filter(|projectile| projectile.owner == cheater)
        .count() as u32;
    // Projectiles live 90 ticks: at most 90 / cooldown + 1 can be alive at once.
    assert!(shots >= 1, "never fired");
    assert!(
        shots <= movement::LIFETIME_TICKS / movement::FIRE_COOLDOWN_TICKS + 1,
        "{shots} shots alive after {ticks} ticks"
    );
}

#[test]
fn inputs_quantize_within_their_step_and_never_decode_to_nonsense() {
    for (movement, aim) in [
        (Vec2::new(0.6, -0.8), 1.0),
        (Vec2::new(-1.0, 0.0), -2.5),
        (Vec2::ZERO, 6.2),
        (Vec2::new(3.0, 4.0), 12.0),
    ] {
        let input = ArenaInput::new(movement, aim, true);
        let expected = movement.clamp_length_max(1.0);
        assert!(
            input.movement().distance(expected) <= 1.5 / 127.0,
            "{movement} became {}",
            input.movement()
        );
        let turned = protocol::yaw_direction(input.aim()).angle_to(protocol::yaw_direction(aim));
        assert!(turned.abs() < 1e-3, "aim {aim} became {}", input.aim());
        assert!(input.fire);
    }
    let nonsense = ArenaInput::new(Vec2::NAN, f32::NAN, false);
    assert_eq!(nonsense.movement(), Vec2::ZERO);
    assert_eq!(nonsense.aim(), 0.0);
    // Bincode carries it in a handful of bytes.
    let bytes = bincode::serde::encode_to_vec(
        ArenaInput::new(Vec2::new(0.7, 0.7), 2.0, true),
        bincode::config::standard(),
    )
    .unwrap();
    assert!(bytes.len() <= 6, "{} bytes", bytes.len());
    // Both triggers share a byte and come back as sent.
    for (fire, rail) in [(false, false), (true, false), (false, true), (true, true)] {
        let sent = ArenaInput::new(Vec2::X, 1.0, fire).with_rail(rail);
        let bytes = bincode::serde::encode_to_vec(sent, bincode::config::standard()).unwrap();
        let (back, _): (ArenaInput, usize) =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
        assert_eq!(back, sent);
    }
}

/// On the `field` level each bot receives what lies within its view radius of its player, and
/// the rest once it comes near; the level itself comes from the server.
#[test]
fn on_the_field_each_bot_receives_only_what_is_near_its_player() {
    let mut arena = Arena::on_level(2, false, "field");
    let radius = arena
        .server
        .world()
        .resource::<level::Level>()
        .view_radius
        .unwrap();
    let places = [Vec3::new(-60.0, 0.0, -60.0), Vec3::new(60.0, 0.0, 60.0)];
    for (bot, place) in places.iter().enumerate() {
        let player = arena.server_player(bot);
        let world = arena.server.world_mut();
        world.get_mut::<Transform>(player).unwrap().translation = *place;
    }
    arena.run(90);
    let world = arena.server.world_mut();
    let server_entities = world
        .query_filtered::<(), With<Replicated>>()
        .iter(world)
        .count() as u32;
    let pickups: Vec<(Entity, Vec3)> = world
        .query_filtered::<(Entity, &Transform), With<pickup::Pickup>>()
        .iter(world)
        .map(|(entity, transform)| (entity, transform.translation))
        .collect();
    for (bot, place) in places.iter().enumerate() {
        let world = arena.bots[bot].world_mut();
        assert_eq!(world.resource::<level::Level>().name, "field");
        assert_eq!(
            world.resource::<player::WorldStats>().entities,
            server_entities,
            "the world's size reaches every bot"
        );
        assert_eq!(arena.players_seen(bot), 1, "bot {bot} sees the far player");
        let world = arena.bots[bot].world();
        let map = world.resource::<ServerEntityMap>();
        let mut near = 0;
        for (pickup, at) in &pickups {
            let distance = at.distance(*place);
            let held = map.to_client(*pickup).is_some();
            if distance < radius * 0.9 {
                near += 1;
                assert!(held, "bot {bot} lacks a pickup {distance:.0} m away");
            } else if distance > radius * 1.2 {
                assert!(!held, "bot {bot} holds a pickup {distance:.0} m away");
            }
        }
        assert!(near > 0, "no pickup near {place}");
        assert!(map.len() < server_entities as usize / 4);
    }
    // The second player walks over to the first: now both see each other.
    let player = arena.server_player(1);
    arena
        .server
        .world_mut()
        .get_mut::<Transform>(player)
        .unwrap()
        .translation = places[0] + Vec3::new(6.0, 0.0, 0.0);
    arena.run(90);
    assert_eq!(arena.players_seen(0), 2);
    assert_eq!(arena.players_seen(1), 2);
}

/// Where a bot draws the player named `name`.
fn drawn(arena: &mut Arena, bot: usize, name: &str) -> Vec3 {
    let world = arena.bots[bot].world_mut();
    world
        .query::<(&Player, &Transform)>()
        .iter(world)
        .find(|(player, _)| player.name == name)
        .map(|(_, transform)| transform.translation)
        .unwrap()
}

#[test]
fn rail_shots_at_a_running_player_hit_where_the_shooter_draws_it() {
    let mut arena = Arena::new(2, false);
    let (target, shooter) = (arena.server_player(0), arena.server_player(1));
    let world = arena.server.world_mut();
    world.get_mut::<Transform>(target).unwrap().translation = Vec3::new(-3.0, 0.0, 6.0);
    world.get_mut::<Transform>(shooter).unwrap().translation = Vec3::new(0.0, 0.0, 12.0);
    let (target_name, shooter_name) = (arena.name(0), arena.name(1));
    arena.bots[1]
        .init_resource::<Beams>()
        .add_systems(Update, note_beams);
    let mut shots = 0;
    for frame in 0..360 {
        // The target runs back and forth at top speed.
        let run = if (frame / 50) % 2 == 0 {
            Vec2::X
        } else {
            Vec2::NEG_X
        };
        arena.input(0, ArenaInput::new(run, 0.0, false));
        // Every second, the shooter fires at the target where its own screen shows it.
        let at = drawn(&mut arena, 1, &target_name) - drawn(&mut arena, 1, &shooter_name);
        let aim = protocol::direction_yaw(Vec2::new(at.x, at.z).normalize());
        // Kept alive, so it stays in the open (a respawn could put it behind a wall).
        arena
            .server
            .world_mut()
            .get_mut::<Health>(target)
            .unwrap()
            .0 = 100;
        let fire = frame % 60 == 30;
        shots += usize::from(fire);
        arena.input(1, ArenaInput::new(Vec2::ZERO, aim, false).with_rail(fire));
        arena.step();
    }
    arena.run(30);
    let beams = arena.bots[1].world().resource::<Beams>().0.clone();
    assert_eq!(beams.len(), shots, "every shot drew a beam: {beams:?}");
    assert!(
        beams.iter().all(|beam| beam.hit),
        "a shot missed: {beams:?}"
    );
    assert_eq!(shots, 6);
}

/// The rail beams a bot was told about.
#[derive(Resource, Default)]
struct Beams(Vec<railgun::RailBeam>);

fn note_beams(mut beams: MessageReader<railgun::RailBeam>, mut seen: ResMut<Beams>) {
    seen.0.extend(beams.read().copied());
}

#[test]
fn a_capture_of_a_real_udp_session_opens_in_tshark() {
    let path = std::env::temp_dir().join(format!("arena-capture-{}.pcapng", std::process::id()));
    let mut arena = Arena::new(2, true);
    let capture = NetCapture::create(&path, CaptureLimits::default()).unwrap();
    arena.server.insert_resource(capture);
    arena.run(120);
    arena.server.world_mut().resource_mut::<NetCapture>().stop();
    let packets = arena.server.world().resource::<NetCapture>().packets();
    assert!(packets > 200, "{packets} packets");
    let Ok(output) = std::process::Command::new("tshark")
        .arg("-r")
        .arg(&path)
        .args(["-T", "fields", "-e", "frame.comment"])
        .output()
    else {
        eprintln!("skipping the tshark part: tshark not found (apt-get install tshark)");
        return;
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "tshark failed: {stderr}");
    assert!(!stderr.contains("rror"), "tshark complained: {stderr}");
    let comments = String::from_utf8_lossy(&output.stdout);
    assert_eq!(comments.lines().count() as u64, packets);
    // Captured once the bots were in: their replication and their updates.
    for kind in ["STATE", "UPDATE"] {
        assert!(comments.contains(kind), "no {kind} in the capture");
    }
    let _ = std::fs::remove_file(&path);
}
