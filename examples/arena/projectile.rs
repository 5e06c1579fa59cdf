//! Projectiles on the server: fired with a cooldown, flying straight for a limited time,
//! hitting players and walls, and scoring.

use bevy::prelude::*;
use bevy_netsync::prelude::*;

use crate::{
    level::Level,
    player::{ControlledBy, PLAYER_RADIUS, RESPAWN_TICKS, RespawnAt},
    protocol::{ArenaInput, Health, Projectile, Score, yaw_direction},
};

/// Speed, metres per second.
pub const PROJECTILE_SPEED: f32 = 18.0;
/// Radius, metres.
pub const PROJECTILE_RADIUS: f32 = 0.2;
/// Ticks a projectile lives (1.5 s).
pub const LIFETIME_TICKS: u32 = 90;
/// Ticks between two shots of one player (4 shots per second at most).
pub const FIRE_COOLDOWN_TICKS: u32 = 15;
/// Damage per hit: three hits kill.
pub const DAMAGE: u32 = 34;
/// Height projectiles fly at.
const FLIGHT_HEIGHT: f32 = 1.0;

/// Server side: when a player may fire again.
#[derive(Component, Clone, Copy, Debug, Default)]
pub struct Weapon {
    pub ready_at: NetTick,
}

/// Server side: a projectile's velocity and end of life.
#[derive(Component, Clone, Copy, Debug)]
pub struct Flight {
    pub velocity: Vec3,
    pub expires: NetTick,
}

/// Server simulation of projectiles.
pub fn plugin(app: &mut App) {
    app.add_systems(
        FixedUpdate,
        (fire, fly).chain().after(crate::player::MOVEMENT),
    );
}

/// Fires for players whose trigger is held and whose weapon is ready. Firing every tick does
/// not fire faster than [`FIRE_COOLDOWN_TICKS`] allows.
fn fire(
    tick: Res<ServerTick>,
    inputs: Query<&ClientInput<ArenaInput>>,
    mut players: Query<(Entity, &ControlledBy, &Health, &Transform, &mut Weapon)>,
    mut commands: Commands,
) {
    let now = tick.0;
    for (entity, controller, health, transform, mut weapon) in &mut players {
        let Ok(input) = inputs.get(controller.0) else {
            continue;
        };
        if !input.input.fire || health.0 == 0 || weapon.ready_at.is_newer_than(now) {
            continue;
        }
        let aim = if input.input.aim.is_finite() {
            input.input.aim
        } else {
            0.0
        };
        let direction = yaw_direction(aim);
        let direction = Vec3::new(direction.x, 0.0, direction.y);
        let start = transform.translation
            + direction * (PLAYER_RADIUS + PROJECTILE_RADIUS + 0.1)
            + Vec3::Y * FLIGHT_HEIGHT;
        weapon.ready_at = now.add(FIRE_COOLDOWN_TICKS);
        commands.spawn((
            Replicated,
            Projectile { owner: entity },
            Transform::from_translation(start),
            Flight {
                velocity: direction * PROJECTILE_SPEED,
                expires: now.add(LIFETIME_TICKS),
            },
        ));
    }
}

/// Moves projectiles; a projectile that meets a wall or outlives its time vanishes, one that
/// meets a living player other than its owner damages it.
fn fly(
    tick: Res<ServerTick>,
    time: Res<Time<Fixed>>,
    level: Res<Level>,
    mut commands: Commands,
    mut projectiles: Query<(Entity, &Projectile, &Flight, &mut Transform)>,
    mut players: Query<(Entity, &mut Health, &mut Score, &Transform), Without<Projectile>>,
) {
    let dt = time.timestep().as_secs_f32();
    for (entity, projectile, flight, mut transform) in &mut projectiles {
        transform.translation += flight.velocity * dt;
        let ground = Vec2::new(transform.translation.x, transform.translation.z);
        if tick.0.is_newer_than(flight.expires) || level.blocks_circle(ground, PROJECTILE_RADIUS) {
            commands.entity(entity).despawn();
            continue;
        }
        let victim = players
            .iter()
            .find(|(player, health, _, player_transform)| {
                *player != projectile.owner
                    && health.0 > 0
                    && Vec2::new(
                        player_transform.translation.x,
                        player_transform.translation.z,
                    )
                    .distance(ground)
                        < PLAYER_RADIUS + PROJECTILE_RADIUS
            });
        let Some((victim, ..)) = victim else {
            continue;
        };
        commands.entity(entity).despawn();
        let Ok((_, mut health, mut score, _)) = players.get_mut(victim) else {
            continue;
        };
        health.0 = health.0.saturating_sub(DAMAGE);
        if health.0 > 0 {
            continue;
        }
        score.deaths += 1;
        commands
            .entity(victim)
            .insert(RespawnAt(tick.0.add(RESPAWN_TICKS)));
        if let Ok((_, _, mut shooter, _)) = players.get_mut(projectile.owner) {
            shooter.kills += 1;
        }
    }
}
