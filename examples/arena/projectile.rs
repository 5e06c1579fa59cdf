//! Projectiles on the server: they vanish at walls and at the end of their life, and hit
//! players, which scores. (Firing and flight are shared with predicting clients, in
//! [`movement`](crate::movement).)

use bevy::prelude::*;
use bevy_netsync::prelude::*;

use crate::{
    level::Level,
    movement::{Flight, Movement, PLAYER_RADIUS, PROJECTILE_RADIUS},
    player::wound,
    protocol::{Health, Projectile, Score},
};

/// Damage per hit: three hits kill.
pub const DAMAGE: u32 = 34;

/// Server rules for projectiles.
pub fn plugin(app: &mut App) {
    app.add_systems(FixedUpdate, resolve_hits.after(Movement));
}

/// A projectile that meets a wall or outlives its time vanishes; one that meets a living
/// player other than its owner damages it.
fn resolve_hits(
    tick: Res<ServerTick>,
    level: Res<Level>,
    mut commands: Commands,
    projectiles: Query<(Entity, &Projectile, &Flight, &Transform)>,
    mut players: Query<(Entity, &mut Health, &mut Score, &Transform), Without<Projectile>>,
) {
    for (entity, projectile, flight, transform) in &projectiles {
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
        let killed = wound(
            victim,
            (&mut health, &mut score),
            DAMAGE,
            tick.0,
            &mut commands,
        );
        if killed && let Ok((_, _, mut shooter, _)) = players.get_mut(projectile.owner) {
            shooter.kills += 1;
        }
    }
}
