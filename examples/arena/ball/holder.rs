//! The holding side: the ball key ([`UseBall`]) picks the ball up when it is free and within
//! reach, or throws it when held. A client asks the server for authority ([`RequestAuthority`])
//! and, once it has it ([`HasAuthority`]), carries the ball in front of its own (predicted)
//! player each tick; a throw flies the ball here for [`THROW_TICKS`] with the server's physics,
//! then gives it back ([`ReleaseAuthority`]) and the server flies it on. The host's own player
//! holds the ball on the server itself: the same carrying, with the grant and the return done
//! directly.

use bevy::prelude::*;
use bevy_netsync::{prelude::*, server::LOCAL_CLIENT_ID, transport::ClientTransport};

use super::{
    Ball, BallVelocity,
    physics::{self, carry_point, throw_velocity, within_reach},
};
use crate::{
    level::Level,
    movement::Movement,
    protocol::{Health, Player},
};

/// Ticks a holder flies its own throw before giving the ball back (a quarter of a second):
/// long enough for the throw to leave the hand the way this screen shows it.
pub const THROW_TICKS: u32 = 16;

/// The ball key was pressed (by a person or a bot): pick the ball up, or throw it.
#[derive(Message, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UseBall;

/// On a holder: the ball was thrown and flies here for `ticks_left` more ticks before it is
/// given back (then on, until the server's answer arrives).
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thrown {
    pub ticks_left: u32,
}

/// The holding side, on every App (a dedicated server simply never holds the ball).
pub fn plugin(app: &mut App) {
    app.add_message::<UseBall>()
        .add_systems(Update, (use_ball, forget_throws))
        .add_systems(
            FixedUpdate,
            hold_ball.after(Movement).run_if(not_resimulating),
        );
}

/// Who this App plays as: a client's transport id, or the host's own player.
fn me(transport: Option<&ClientTransport>, hosting: bool) -> Option<u64> {
    match transport {
        Some(transport) => Some(transport.client_id()),
        None => hosting.then_some(LOCAL_CLIENT_ID),
    }
}

/// Whether this App holds a ball: a client once it took up authority, the host (on the
/// server, where the ball is [`Replicated`]) when [`HeldBy`] names its own player.
fn holds(me: u64, held: Option<&HeldBy>, has_authority: bool, on_server: bool) -> bool {
    has_authority || (on_server && held.is_some_and(|held| held.client_id == me))
}

/// The balls as the holding side sees them.
type BallView<'a> = (
    Entity,
    &'a Transform,
    &'a mut BallVelocity,
    Option<&'a HeldBy>,
    Has<HasAuthority>,
    Has<Thrown>,
    Has<Replicated>,
);

/// The balls as [`hold_ball`] moves them.
type HeldBall<'a> = (
    Entity,
    &'a mut Transform,
    &'a mut BallVelocity,
    Option<&'a HeldBy>,
    Has<HasAuthority>,
    Option<&'a mut Thrown>,
    Has<Replicated>,
);

/// The ball key: throws a held ball along this player's aim, or picks up a free ball within
/// reach (a client asks the server; the host takes it).
fn use_ball(
    mut presses: MessageReader<UseBall>,
    transport: Option<Res<ClientTransport>>,
    local: Query<(), With<LocalClient>>,
    players: Query<(&Player, &Health, &Transform), Without<Ball>>,
    mut balls: Query<BallView, With<Ball>>,
    mut requests: MessageWriter<RequestAuthority>,
    mut commands: Commands,
) {
    if presses.read().count() == 0 {
        return;
    }
    let Some(me) = me(transport.as_deref(), !local.is_empty()) else {
        return;
    };
    let Some((_, _, player)) = players
        .iter()
        .find(|(player, health, _)| player.client_id == me && health.0 > 0)
    else {
        return;
    };
    for (ball, transform, mut velocity, held, has_authority, thrown, on_server) in &mut balls {
        if holds(me, held, has_authority, on_server) {
            if thrown {
                continue;
            }
            velocity.0 = throw_velocity(player);
            if on_server {
                // The host throws on the server: its free flight starts next tick.
                commands.entity(ball).revoke_authority();
            } else {
                commands.entity(ball).insert(Thrown {
                    ticks_left: THROW_TICKS,
                });
            }
        } else if held.is_none() && within_reach(player, transform.translation, 0.0) {
            if on_server {
                commands.entity(ball).grant_authority(me);
            } else {
                requests.write(RequestAuthority(ball));
            }
        }
    }
}

/// Each tick on the holder: a thrown ball flies (and is given back when its ticks are up), a
/// carried one sits in front of the holder's player, still. Absolute placement: nothing adds
/// up if a tick is simulated again.
fn hold_ball(
    time: Res<Time<Fixed>>,
    level: Res<Level>,
    transport: Option<Res<ClientTransport>>,
    local: Query<(), With<LocalClient>>,
    players: Query<(&Player, &Health, &Transform), Without<Ball>>,
    mut balls: Query<HeldBall, With<Ball>>,
    mut releases: MessageWriter<ReleaseAuthority>,
) {
    let Some(me) = me(transport.as_deref(), !local.is_empty()) else {
        return;
    };
    let dt = time.timestep().as_secs_f32();
    for (ball, mut transform, mut velocity, held, has_authority, thrown, on_server) in &mut balls {
        if !holds(me, held, has_authority, on_server) {
            continue;
        }
        if let Some(mut thrown) = thrown {
            let (mut position, mut speed) = (transform.translation, velocity.0);
            physics::step(&level, &mut position, &mut speed, dt);
            transform.translation = position;
            velocity.0 = speed;
            if thrown.ticks_left > 0 {
                thrown.ticks_left -= 1;
                if thrown.ticks_left == 0 {
                    releases.write(ReleaseAuthority(ball));
                }
            }
            continue;
        }
        let holder = players
            .iter()
            .find(|(player, health, _)| player.client_id == me && health.0 > 0);
        let Some((_, _, holder)) = holder else {
            continue;
        };
        // Written only when it moved: a ball held still is not sent again.
        transform.set_if_neq(Transform {
            translation: carry_point(&level, holder),
            ..*transform
        });
        velocity.set_if_neq(BallVelocity(Vec3::ZERO));
    }
}

/// A thrown ball's flight here ends when the server's answer takes authority away.
fn forget_throws(
    thrown: Query<Entity, (With<Thrown>, Without<HasAuthority>)>,
    mut commands: Commands,
) {
    for ball in &thrown {
        commands.entity(ball).remove::<Thrown>();
    }
}
