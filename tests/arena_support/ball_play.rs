//! The ball over real UDP: a bot picks it up (the server grants it authority), carries it
//! (the server takes its values), throws it (the server flies it on from where the holder let
//! go); a holder that leaves gives it back and it falls; bots left to themselves play with it.

use bevy::prelude::*;
use bevy_netsync::{prelude::*, server::LOCAL_CLIENT_ID, transport};

use super::{
    ball::{
        Ball, BallVelocity, UseBall,
        physics::{BALL_RADIUS, carry_point},
    },
    bots,
    harness::Arena,
    level::Level,
    protocol::{ArenaInput, Player, direction_yaw},
};

/// The ball on the server: where it is, how fast it flies, who holds it.
struct ServerBall {
    at: Vec3,
    velocity: Vec3,
    holder: Option<u64>,
}

fn server_ball(arena: &mut Arena) -> ServerBall {
    let world = arena.server.world_mut();
    let (transform, velocity, held) = world
        .query_filtered::<(&Transform, &BallVelocity, Option<&HeldBy>), With<Ball>>()
        .single(world)
        .expect("one ball");
    ServerBall {
        at: transform.translation,
        velocity: velocity.0,
        holder: held.map(|held| held.client_id),
    }
}

/// Where bot `bot` draws the ball, and whether it holds it.
fn bot_ball(arena: &mut Arena, bot: usize) -> Option<(Vec3, bool)> {
    let world = arena.bots[bot].world_mut();
    world
        .query_filtered::<(&Transform, Has<HasAuthority>), With<Ball>>()
        .single(world)
        .ok()
        .map(|(transform, holds)| (transform.translation, holds))
}

fn client_id(arena: &Arena, bot: usize) -> u64 {
    bots::my_client_id(arena.bots[bot].world()).unwrap()
}

/// Puts bot `bot`'s player next to the ball facing +z, presses the ball key there, and waits
/// until the server has the ball where the bot carries it. Returns the carry point.
fn pick_up(arena: &mut Arena, bot: usize) -> Vec3 {
    let ball = server_ball(arena);
    let player = arena.server_player(bot);
    let stand = Vec3::new(ball.at.x, 0.0, ball.at.z + 1.0);
    arena
        .server
        .world_mut()
        .get_mut::<Transform>(player)
        .unwrap()
        .translation = stand;
    arena.input(
        bot,
        ArenaInput::new(Vec2::ZERO, direction_yaw(Vec2::Y), false),
    );
    // The bot's prediction learns where the server put its player.
    arena.run(30);
    arena.bots[bot].world_mut().write_message(UseBall);
    let id = client_id(arena, bot);
    arena.run_until(180, |arena| server_ball(arena).holder == Some(id));
    arena.run_until(120, |arena| {
        bot_ball(arena, bot).is_some_and(|(_, holds)| holds)
    });
    let holder = *arena.server.world().get::<Transform>(player).unwrap();
    let carried = carry_point(arena.server.world().resource::<Level>(), &holder);
    arena.run_until(60, |arena| server_ball(arena).at.distance(carried) < 0.01);
    assert_eq!(server_ball(arena).holder, Some(id), "still held");
    carried
}

#[test]
fn a_thrown_ball_flies_on_from_where_its_holder_let_go() {
    let mut arena = Arena::new(2, false);
    let carried = pick_up(&mut arena, 0);
    assert!(carried.y > BALL_RADIUS + 0.5, "carried at hand height");

    // Thrown along +z: the holder flies it a moment, then the server takes it back mid-air.
    arena.bots[0].world_mut().write_message(UseBall);
    arena.run_until(120, |arena| server_ball(arena).holder.is_none());
    let released = server_ball(&mut arena);
    assert!(
        released.velocity.z > 5.0 && released.at.y > BALL_RADIUS + 0.2,
        "the server took it back in flight: {:?} at {:?}",
        released.velocity,
        released.at
    );
    assert!(released.at.z > carried.z + 0.5, "the holder flew it first");
    let mut farthest = released.at.z;
    arena.run_until(60 * 10, |arena| {
        let ball = server_ball(arena);
        farthest = farthest.max(ball.at.z);
        bot_ball(arena, 0).is_some_and(|(_, holds)| !holds) && ball.velocity == Vec3::ZERO
    });
    let rest = server_ball(&mut arena);
    assert_eq!(rest.at.y, BALL_RADIUS, "lying on the floor");
    assert!(farthest > carried.z + 8.0, "it went only to z = {farthest}");
    // Both bots draw it where it lies.
    arena.run(60);
    for bot in 0..2 {
        let (drawn, holds) = bot_ball(&mut arena, bot).unwrap();
        assert!(!holds);
        assert!(
            drawn.distance(rest.at) < 0.01,
            "bot {bot} draws it at {drawn}"
        );
    }
}

#[test]
fn a_holder_that_leaves_gives_the_ball_back_and_it_falls() {
    let mut arena = Arena::new(2, false);
    let carried = pick_up(&mut arena, 0);
    // The other bot sees it carried.
    arena.run_until(60, |arena| {
        bot_ball(arena, 1).is_some_and(|(drawn, _)| drawn.distance(carried) < 0.01)
    });
    transport::disconnect(arena.bots[0].world_mut());
    arena.run_until(240, |arena| server_ball(arena).holder.is_none());
    arena.run_until(240, |arena| server_ball(arena).velocity == Vec3::ZERO);
    let fallen = server_ball(&mut arena);
    assert_eq!(fallen.at.y, BALL_RADIUS, "lying on the floor");
    let moved = Vec2::new(fallen.at.x - carried.x, fallen.at.z - carried.z).length();
    assert!(moved < 0.01, "it fell straight down, not {moved} m aside");
}

/// The host's own player holds the ball on the server itself: taken, carried and thrown
/// without a round trip, and the bots see it carried.
#[test]
fn the_host_picks_the_ball_up_and_throws_it_on_the_server() {
    let mut arena = Arena::new(1, false);
    spawn_local_client(arena.server.world_mut());
    arena.run(2);
    let ball = server_ball(&mut arena);
    let world = arena.server.world_mut();
    let host = world
        .query::<(Entity, &Player)>()
        .iter(world)
        .find(|(_, player)| player.client_id == LOCAL_CLIENT_ID)
        .map(|(entity, _)| entity)
        .expect("the host's player");
    let stand = Transform::from_xyz(ball.at.x, 0.0, ball.at.z + 1.0)
        .with_rotation(Quat::from_rotation_y(direction_yaw(Vec2::Y)));
    world.get_mut::<Transform>(host).unwrap().translation = stand.translation;
    world.insert_resource(LocalInput(ArenaInput::new(
        Vec2::ZERO,
        direction_yaw(Vec2::Y),
        false,
    )));
    arena.run(2);
    arena.server.world_mut().write_message(UseBall);
    arena.run(2);
    let carried = carry_point(arena.server.world().resource::<Level>(), &stand);
    let held = server_ball(&mut arena);
    assert_eq!(held.holder, Some(LOCAL_CLIENT_ID));
    assert!(held.at.distance(carried) < 1e-4, "carried at {}", held.at);
    arena.run_until(60, |arena| {
        bot_ball(arena, 0).is_some_and(|(drawn, _)| drawn.distance(carried) < 0.01)
    });
    arena.server.world_mut().write_message(UseBall);
    arena.run(2);
    let thrown = server_ball(&mut arena);
    assert_eq!(thrown.holder, None);
    assert!(
        thrown.velocity.z > 5.0 && thrown.at.z > carried.z,
        "{:?}",
        thrown.at
    );
}

/// Bots left to themselves go for the ball, one gets it, and some time later it is free again
/// (thrown, or dropped by a holder that was shot). Generous limits: it is a game, not a script.
#[test]
fn bots_pick_the_ball_up_and_let_it_go_again() {
    let mut arena = Arena::new(3, true);
    arena.run_until(60 * 90, |arena| server_ball(arena).holder.is_some());
    let holder = server_ball(&mut arena).holder;
    let holding_bot = (0..3).find(|&bot| Some(client_id(&arena, bot)) == holder);
    assert!(holding_bot.is_some(), "a bot holds it: {holder:?}");
    arena.run_until(60 * 60, |arena| server_ball(arena).holder.is_none());
}
