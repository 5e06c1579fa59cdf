//! Health pickups on the server: lying where the level puts them, healing the first living
//! player that walks over one, back after a while. Replicated like everything else, so on the
//! `field` level each client only receives the pickups near it.

use bevy::prelude::*;
use bevy_netsync::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{
    level::Level,
    movement::{Movement, PLAYER_RADIUS},
    player::MAX_HEALTH,
    protocol::{Health, Player},
};

/// Health a pickup gives back.
pub const HEAL: u32 = 30;
/// Radius of a pickup, metres.
pub const PICKUP_RADIUS: f32 = 0.4;
/// Ticks before a taken pickup comes back (10 s).
pub const PICKUP_RESPAWN_TICKS: u32 = 600;

/// A health pickup (replicated).
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Debug)]
pub struct Pickup;

/// Server side: pickups taken, with the tick they come back at.
#[derive(Resource, Default)]
struct Taken(Vec<(Vec2, NetTick)>);

/// Registers the replicated component (server and clients, same order).
pub fn protocol(app: &mut App) {
    app.replicate::<Pickup>();
}

/// Server rules for pickups.
pub fn plugin(app: &mut App) {
    app.init_resource::<Taken>()
        .add_systems(Startup, lay_pickups)
        .add_systems(FixedUpdate, (take_pickups, return_pickups).after(Movement));
}

fn spawn_pickup(commands: &mut Commands, at: Vec2) {
    commands.spawn((Replicated, Pickup, Transform::from_xyz(at.x, 0.6, at.y)));
}

fn lay_pickups(level: Res<Level>, mut commands: Commands) {
    for &at in &level.pickups {
        spawn_pickup(&mut commands, at);
    }
}

/// A living, hurt player touching a pickup takes it.
fn take_pickups(
    tick: Res<ServerTick>,
    mut taken: ResMut<Taken>,
    mut commands: Commands,
    pickups: Query<(Entity, &Transform), With<Pickup>>,
    mut players: Query<(&Transform, &mut Health), With<Player>>,
) {
    for (pickup, at) in &pickups {
        let ground = Vec2::new(at.translation.x, at.translation.z);
        let taker = players.iter_mut().find(|(transform, health)| {
            health.0 > 0
                && health.0 < MAX_HEALTH
                && Vec2::new(transform.translation.x, transform.translation.z).distance(ground)
                    < PLAYER_RADIUS + PICKUP_RADIUS
        });
        if let Some((_, mut health)) = taker {
            health.0 = (health.0 + HEAL).min(MAX_HEALTH);
            commands.entity(pickup).despawn();
            taken.0.push((ground, tick.0.add(PICKUP_RESPAWN_TICKS)));
        }
    }
}

fn return_pickups(tick: Res<ServerTick>, mut taken: ResMut<Taken>, mut commands: Commands) {
    taken.0.retain(|(at, back)| {
        let due = !back.is_newer_than(tick.0);
        if due {
            spawn_pickup(&mut commands, *at);
        }
        !due
    });
}
