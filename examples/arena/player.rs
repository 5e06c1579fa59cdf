//! Players on the server: one per connected client, moved by its input at a capped speed,
//! kept out of walls, respawned after death.

use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    server::LOCAL_CLIENT_ID,
    transport::{NetcodeServerTransport, text_from_user_data},
};

use crate::{
    level::Level,
    protocol::{ArenaInput, Health, Player, Score, direction_yaw, yaw_direction},
};

/// Body radius, metres.
pub const PLAYER_RADIUS: f32 = 0.5;
/// Top speed, metres per second.
pub const MAX_SPEED: f32 = 6.0;
/// Hit points at spawn.
pub const MAX_HEALTH: u32 = 100;
/// Ticks between death and respawn (2 s).
pub const RESPAWN_TICKS: u32 = 120;

/// Server side: the client entity whose input drives this player.
#[derive(Component, Clone, Copy, Debug)]
pub struct ControlledBy(pub Entity);

/// Server side: a dead player comes back at this tick.
#[derive(Component, Clone, Copy, Debug)]
pub struct RespawnAt(pub NetTick);

/// The host's own player name (host mode).
#[derive(Resource, Clone, Debug)]
pub struct HostName(pub String);

/// The set in which players move (projectiles fly after it).
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Movement;

/// Alias to order against player movement.
pub const MOVEMENT: Movement = Movement;

/// Server simulation of players.
pub fn plugin(app: &mut App) {
    app.add_observer(spawn_player)
        .add_observer(remove_player)
        .add_systems(
            FixedUpdate,
            (respawn_players, move_players).chain().in_set(Movement),
        );
}

fn spawn_player(
    event: On<Add, ConnectedClient>,
    clients: Query<&ConnectedClient>,
    players: Query<&Player>,
    transport: Option<Res<NetcodeServerTransport>>,
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
    commands.spawn((
        Replicated,
        Player {
            client_id: id,
            name,
            color: [color.red, color.green, color.blue],
        },
        Health(MAX_HEALTH),
        Score::default(),
        Transform::from_xyz(spawn.x, 0.0, spawn.y),
        ControlledBy(event.entity),
        crate::projectile::Weapon::default(),
    ));
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
        format!("player-{}", client_id % 1000)
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
        if controller.0 == event.client {
            info!("{} left: {}", player.name, event.reason);
            commands.entity(entity).despawn();
        }
    }
}

/// Moves every living player by its client's input. Whatever the client sends, a player never
/// goes faster than [`MAX_SPEED`] or through a wall.
fn move_players(
    time: Res<Time<Fixed>>,
    level: Res<Level>,
    inputs: Query<&ClientInput<ArenaInput>>,
    mut players: Query<(&ControlledBy, &Health, &mut Transform)>,
) {
    let dt = time.timestep().as_secs_f32();
    for (controller, health, mut transform) in &mut players {
        let Ok(input) = inputs.get(controller.0) else {
            continue;
        };
        if health.0 == 0 {
            continue;
        }
        let wanted = sanitize_movement(input.input.movement);
        let position = Vec2::new(transform.translation.x, transform.translation.z);
        let moved = level.resolve_circle(position + wanted * MAX_SPEED * dt, PLAYER_RADIUS);
        transform.translation = Vec3::new(moved.x, 0.0, moved.y);
        if input.input.aim.is_finite() {
            let aim = direction_yaw(yaw_direction(input.input.aim));
            transform.rotation = Quat::from_rotation_y(aim);
        }
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
