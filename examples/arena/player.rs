//! Players on the server: one per connected client (which controls it), respawned after death.
//! (Movement is shared with predicting clients, in [`movement`](crate::movement).)

use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    server::{ClientName, LOCAL_CLIENT_ID, ViewPoint},
    shared::client_ids::client_alias,
    transport::{ServerTransport, text_from_user_data},
};
use serde::{Deserialize, Serialize};

use crate::{
    level::Level,
    movement::Movement,
    protocol::{Health, Player, Score},
};

/// Hit points at spawn.
pub const MAX_HEALTH: u32 = 100;
/// Ticks between death and respawn (2 s).
pub const RESPAWN_TICKS: u32 = 120;

/// Server side: a dead player comes back at this tick.
#[derive(Component, Clone, Copy, Debug)]
pub struct RespawnAt(pub NetTick);

/// The host's own player name (host mode).
#[derive(Resource, Clone, Debug)]
pub struct HostName(pub String);

/// How many entities the server replicates, for the HUD's "in view N of M" (replicated).
#[derive(Resource, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorldStats {
    /// Replicated entities on the server.
    pub entities: u32,
}

/// Registers the replicated resource (server and clients, same order).
pub fn protocol(app: &mut App) {
    app.replicate_resource::<WorldStats>();
}

/// Server simulation of players.
pub fn plugin(app: &mut App) {
    app.init_resource::<WorldStats>()
        .add_observer(spawn_player)
        .add_observer(remove_player)
        .add_systems(FixedUpdate, respawn_players.before(Movement))
        .add_systems(Update, count_entities);
}

/// Counts the replicated entities, writing the resource only when the count changes.
fn count_entities(replicated: Query<(), With<Replicated>>, mut stats: ResMut<WorldStats>) {
    let entities = replicated.iter().count() as u32;
    stats.set_if_neq(WorldStats { entities });
}

fn spawn_player(
    event: On<Add, ConnectedClient>,
    clients: Query<&ConnectedClient>,
    players: Query<&Player>,
    transport: Option<Res<ServerTransport>>,
    host_name: Option<Res<HostName>>,
    level: Res<Level>,
    mut commands: Commands,
) {
    let Ok(client) = clients.get(event.entity) else {
        return;
    };
    let id = client.id();
    let name = if id == LOCAL_CLIENT_ID {
        host_name.map(|name| name.0.clone())
    } else {
        transport
            .and_then(|transport| transport.user_data(id))
            .map(|data| text_from_user_data(&data))
    };
    let name = clean_name(name.as_deref().unwrap_or(""), id);
    let spawn = level.spawn_point(id ^ players.iter().count() as u64);
    let hue = (id % 360) as f32;
    let color = Color::hsl(hue, 0.75, 0.55).to_linear();
    info!("{name} joined");
    commands
        .entity(event.entity)
        .insert(ClientName(name.clone()));
    let player = commands
        .spawn((
            Replicated,
            Player {
                client_id: id,
                name,
                color: [color.red, color.green, color.blue],
            },
            Health(MAX_HEALTH),
            Score::default(),
            Transform::from_xyz(spawn.x, 0.0, spawn.y),
            ControlledBy { client_id: id },
        ))
        .id();
    // On a large level each client receives only what is near its player.
    if let Some(radius) = level.view_radius {
        commands
            .entity(event.entity)
            .insert(ViewPoint::following(player, radius));
    }
}

/// A name a client asked for, made safe to show: printable, short, never empty.
pub fn clean_name(asked: &str, client_id: u64) -> String {
    let name: String = asked
        .chars()
        .filter(|c| !c.is_control())
        .take(16)
        .collect::<String>()
        .trim()
        .to_string();
    if name.is_empty() {
        // From the alias everyone sees, not the id only its client should know.
        format!("player-{}", client_alias(client_id) % 1000)
    } else {
        name
    }
}

fn remove_player(
    event: On<ClientDisconnected>,
    players: Query<(Entity, &ControlledBy, &Player)>,
    mut commands: Commands,
) {
    for (entity, controller, player) in &players {
        if controller.client_id == event.client_id {
            info!("{} left: {}", player.name, event.reason);
            commands.entity(entity).despawn();
        }
    }
}

fn respawn_players(
    tick: Res<ServerTick>,
    level: Res<Level>,
    mut commands: Commands,
    mut players: Query<(Entity, &RespawnAt, &Player, &mut Health, &mut Transform)>,
) {
    for (entity, respawn, player, mut health, mut transform) in &mut players {
        if tick.0.is_newer_than(respawn.0) || tick.0 == respawn.0 {
            let spawn = level.spawn_point(player.client_id.wrapping_add(u64::from(tick.0.0)));
            transform.translation = Vec3::new(spawn.x, 0.0, spawn.y);
            health.0 = MAX_HEALTH;
            commands.entity(entity).remove::<RespawnAt>();
        }
    }
}

/// Takes `damage` off `victim`'s `health`; the hit that kills counts its death, schedules its
/// respawn and returns `true`, so the shooter scores the kill. Shared by every weapon.
pub fn wound(
    victim: Entity,
    (health, score): (&mut Health, &mut Score),
    damage: u32,
    now: NetTick,
    commands: &mut Commands,
) -> bool {
    if health.0 == 0 {
        return false;
    }
    health.0 = health.0.saturating_sub(damage);
    if health.0 > 0 {
        return false;
    }
    score.deaths += 1;
    commands
        .entity(victim)
        .insert(RespawnAt(now.add(RESPAWN_TICKS)));
    true
}
