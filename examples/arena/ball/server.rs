//! The ball on the server: laid once at a free spot of the level, flown while nobody holds it,
//! given to a living player who asks for it within reach, taken back from a holder that dies,
//! and the rules a holder's values must follow (inside the floor, not too fast).

use std::sync::{Arc, RwLock};

use bevy::prelude::*;
use bevy_netsync::prelude::*;

use super::{
    Ball, BallVelocity,
    physics::{self, BALL_RADIUS, THROW_LIFT, THROW_SPEED, within_reach},
};
use crate::{
    level::Level,
    movement::Movement,
    protocol::{Health, Player},
};

/// How much farther than [`REACH`](physics::REACH) the server lets a player pick the ball up:
/// the picker saw the ball (and the server sees the picker) a moment apart.
pub const REACH_SLACK: f32 = 1.0;
/// Fastest a holder may move the ball, metres per second. Faster moves (the jump into the hand
/// at a pickup, a swing when the holder turns at once) are corrected: the server moves the ball
/// this fast towards the holder's value, which it reaches a few ticks later.
const MAX_BALL_SPEED: f32 = 30.0;
/// Highest a holder may put the ball, metres.
const MAX_BALL_HEIGHT: f32 = 12.0;
/// Fastest a holder may throw the ball, metres per second.
const MAX_THROW_SPEED: f32 = 1.5 * (THROW_SPEED + THROW_LIFT);
/// Server ticks per second (the plugins' default rate).
const TICK_HZ: f32 = 60.0;

/// The floor's half size, for the rules (which cannot read the world): follows the [`Level`].
#[derive(Resource, Clone, Default)]
struct FloorBounds(Arc<RwLock<Vec2>>);

/// The ball on the server.
pub fn plugin(app: &mut App) {
    let bounds = FloorBounds::default();
    let floor = bounds.0.clone();
    app.insert_resource(bounds)
        .validate_authority::<Transform>(move |proposal| fair_transform(proposal, &floor))
        .validate_authority::<BallVelocity>(fair_velocity)
        .add_systems(Startup, lay_ball)
        .add_systems(
            Update,
            (
                follow_level.run_if(resource_changed::<Level>),
                grant_requests,
                announce_holders,
            ),
        )
        .add_systems(
            FixedUpdate,
            (take_from_the_dead, fly_free_ball).after(Movement),
        );
}

/// Lays the ball at a free spot of the level.
fn lay_ball(level: Res<Level>, mut commands: Commands) {
    let at = physics::free_spot(&level);
    commands.spawn((
        Replicated,
        Ball,
        Transform::from_xyz(at.x, BALL_RADIUS, at.y),
    ));
}

/// Keeps the rules' floor size that of the level played.
fn follow_level(level: Res<Level>, bounds: Res<FloorBounds>) {
    if let Ok(mut half) = bounds.0.write() {
        *half = level.half_size;
    }
}

/// A ball nobody holds.
type FreeBall = (With<Ball>, Without<HeldBy>);

/// Flies the ball while nobody holds it (a holder moves it itself).
fn fly_free_ball(
    time: Res<Time<Fixed>>,
    level: Res<Level>,
    mut balls: Query<(&mut Transform, &mut BallVelocity), FreeBall>,
) {
    let dt = time.timestep().as_secs_f32();
    for (mut transform, mut velocity) in &mut balls {
        let (mut position, mut speed) = (transform.translation, velocity.0);
        physics::step(&level, &mut position, &mut speed, dt);
        // Written only when it moved: a ball at rest is not sent again.
        transform.set_if_neq(Transform {
            translation: position,
            ..*transform
        });
        velocity.set_if_neq(BallVelocity(speed));
    }
}

/// Gives the ball to a client that asked for it, when it is free and the client's living
/// player is within reach (the first such request wins).
fn grant_requests(
    mut requests: MessageReader<AuthorityRequested>,
    balls: Query<(&Transform, Has<HeldBy>), With<Ball>>,
    players: Query<(&Player, &Health, &Transform)>,
    mut commands: Commands,
) {
    let mut granted = Vec::new();
    for request in requests.read() {
        let Ok((ball, held)) = balls.get(request.entity) else {
            continue;
        };
        if held || granted.contains(&request.entity) {
            continue;
        }
        let near = players.iter().any(|(player, health, transform)| {
            player.client_id == request.client_id
                && health.0 > 0
                && within_reach(transform, ball.translation, REACH_SLACK)
        });
        if near {
            granted.push(request.entity);
            commands
                .entity(request.entity)
                .grant_authority(request.client_id);
        }
    }
}

/// A holder whose player died (or is gone) drops the ball: authority returns to the server,
/// and the ball falls.
fn take_from_the_dead(
    balls: Query<(Entity, &HeldBy), With<Ball>>,
    players: Query<(&Player, &Health)>,
    mut commands: Commands,
) {
    for (ball, held) in &balls {
        let alive = players
            .iter()
            .any(|(player, health)| player.client_id == held.client_id && health.0 > 0);
        if !alive {
            commands.entity(ball).revoke_authority();
        }
    }
}

/// Says in the server's log who took the ball and when it is free again.
fn announce_holders(
    mut changes: MessageReader<AuthorityChanged>,
    balls: Query<(), With<Ball>>,
    players: Query<&Player>,
) {
    for change in changes.read() {
        if !balls.contains(change.entity) {
            continue;
        }
        match change.to {
            Some(id) => {
                let name = players
                    .iter()
                    .find(|player| player.client_id == id)
                    .map_or("someone", |player| player.name.as_str());
                info!("{name} has the ball");
            }
            None => info!("the ball is free"),
        }
    }
}

/// The rule for a holder's ball transform: inside the floor, below [`MAX_BALL_HEIGHT`], at
/// most [`MAX_BALL_SPEED`] from the last accepted place, unscaled; nonsense is rejected. Only
/// the ball is ever held, so this is the ball's rule.
fn fair_transform(proposal: &Proposal<Transform>, floor: &RwLock<Vec2>) -> Verdict<Transform> {
    let proposed = proposal.proposed;
    if !proposed.translation.is_finite() || !proposed.rotation.is_finite() {
        return Verdict::Reject;
    }
    let half = floor.read().map_or(Vec2::splat(1_000.0), |half| *half);
    let limit = (half - Vec2::splat(BALL_RADIUS)).max(Vec2::ZERO);
    let mut fair = Transform {
        translation: proposed.translation.clamp(
            Vec3::new(-limit.x, BALL_RADIUS, -limit.y),
            Vec3::new(limit.x, MAX_BALL_HEIGHT, limit.y),
        ),
        rotation: proposed.rotation,
        scale: Vec3::ONE,
    };
    if let Some(current) = proposal.current {
        let most = MAX_BALL_SPEED * proposal.ticks as f32 / TICK_HZ;
        let moved = fair.translation - current.translation;
        if moved.length() > most {
            fair.translation = current.translation + moved.clamp_length_max(most);
        }
    }
    if fair == *proposed {
        Verdict::Accept
    } else {
        Verdict::Correct(fair)
    }
}

/// The rule for a holder's ball velocity: finite, at most [`MAX_THROW_SPEED`].
fn fair_velocity(proposal: &Proposal<BallVelocity>) -> Verdict<BallVelocity> {
    let proposed = proposal.proposed.0;
    if !proposed.is_finite() {
        Verdict::Reject
    } else if proposed.length() <= MAX_THROW_SPEED {
        Verdict::Accept
    } else {
        Verdict::Correct(BallVelocity(proposed.clamp_length_max(MAX_THROW_SPEED)))
    }
}
