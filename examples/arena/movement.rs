//! The simulation that the server and a predicting client share: players walk and aim by the
//! input of the tick being simulated, fire with a cooldown, and projectiles fly. The server runs
//! it for every player; a client runs it for what it predicts (its own player and the
//! projectiles it fired), again when it re-simulates after a correction. Written once, so both
//! sides compute the same thing from the same inputs.

use bevy::prelude::*;
use bevy_netsync::prelude::*;

use crate::{
    level::Level,
    protocol::{ArenaInput, Health, Player, Projectile, Weapon, direction_yaw, yaw_direction},
};

/// Body radius, metres.
pub const PLAYER_RADIUS: f32 = 0.5;
/// Top speed, metres per second.
pub const MAX_SPEED: f32 = 6.0;
/// Projectile speed, metres per second.
pub const PROJECTILE_SPEED: f32 = 18.0;
/// Projectile radius, metres.
pub const PROJECTILE_RADIUS: f32 = 0.2;
/// Ticks between two shots of one player (4 shots per second at most).
pub const FIRE_COOLDOWN_TICKS: u32 = 15;
/// Ticks a projectile lives (1.5 s).
pub const LIFETIME_TICKS: u32 = 90;
/// Height projectiles fly at.
const FLIGHT_HEIGHT: f32 = 1.0;

/// The set in which the shared simulation runs (server-only rules run after it).
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Movement;

/// Server side: a projectile's end of life.
#[derive(Component, Clone, Copy, Debug)]
pub struct Flight {
    pub expires: NetTick,
}

/// The players a side simulates: all on the server, its own on a predicting client.
type SimulatedPlayers = (With<Player>, Simulated);

/// The shared simulation, on server and clients.
pub fn plugin(app: &mut App) {
    app.add_systems(
        FixedUpdate,
        (move_players, fire, fly).chain().in_set(Movement),
    );
}

/// Moves every simulated living player by its tick's input. Whatever the client sends, a
/// player never goes faster than [`MAX_SPEED`] or through a wall.
fn move_players(
    time: Res<Time<Fixed>>,
    level: Res<Level>,
    mut players: Query<(&TickInput<ArenaInput>, &Health, &mut Transform), SimulatedPlayers>,
) {
    let dt = time.timestep().as_secs_f32();
    for (input, health, mut transform) in &mut players {
        if health.0 == 0 {
            continue;
        }
        let wanted = sanitize_movement(input.input.movement());
        let position = Vec2::new(transform.translation.x, transform.translation.z);
        let moved = level.resolve_circle(position + wanted * MAX_SPEED * dt, PLAYER_RADIUS);
        transform.translation = Vec3::new(moved.x, 0.0, moved.y);
        let aim = direction_yaw(yaw_direction(input.input.aim()));
        transform.rotation = Quat::from_rotation_y(aim);
    }
}

/// A movement request with its length capped at 1; NaN or infinite requests are no movement.
pub fn sanitize_movement(movement: Vec2) -> Vec2 {
    if movement.is_finite() {
        movement.clamp_length_max(1.0)
    } else {
        Vec2::ZERO
    }
}

/// Fires for players whose trigger is held and whose weapon is ready. Firing every tick does
/// not fire faster than [`FIRE_COOLDOWN_TICKS`] allows. On the server the projectile is
/// replicated; on the predicting client it appears at once and the server's copy takes it over
/// ([`SpawnedBy`] names it on both sides). Not while re-simulating: that shot exists already.
#[allow(clippy::type_complexity)]
fn fire(
    resimulating: Option<Res<Resimulating>>,
    mut players: Query<
        (
            Entity,
            &TickInput<ArenaInput>,
            &ControlledBy,
            &Health,
            &Transform,
            &mut Weapon,
            Has<Replicated>,
        ),
        SimulatedPlayers,
    >,
    mut commands: Commands,
) {
    if resimulating.is_some_and(|resimulating| resimulating.0) {
        return;
    }
    for (entity, input, controller, health, transform, mut weapon, on_server) in &mut players {
        let now = input.tick;
        if !input.input.fire || health.0 == 0 || weapon.ready_at.is_newer_than(now) {
            continue;
        }
        let direction = yaw_direction(input.input.aim());
        let direction = Vec3::new(direction.x, 0.0, direction.y);
        let start = transform.translation
            + direction * (PLAYER_RADIUS + PROJECTILE_RADIUS + 0.1)
            + Vec3::Y * FLIGHT_HEIGHT;
        weapon.ready_at = now.add(FIRE_COOLDOWN_TICKS);
        let mut projectile = commands.spawn((
            Projectile {
                owner: entity,
                velocity: direction * PROJECTILE_SPEED,
            },
            Transform::from_translation(start),
            SpawnedBy {
                client_id: controller.client_id,
                tick: now,
                index: 0,
            },
            ControlledBy {
                client_id: controller.client_id,
            },
        ));
        if on_server {
            projectile.insert((
                Replicated,
                Flight {
                    expires: now.add(LIFETIME_TICKS),
                },
            ));
        }
    }
}

/// Moves simulated projectiles.
fn fly(time: Res<Time<Fixed>>, mut projectiles: Query<(&Projectile, &mut Transform), Simulated>) {
    let dt = time.timestep().as_secs_f32();
    for (projectile, mut transform) in &mut projectiles {
        transform.translation += projectile.velocity * dt;
    }
}
