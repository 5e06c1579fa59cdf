//! The rail gun: a hitscan weapon on the second button, resolved on the server with lag
//! compensation (a shot hits what the shooter's screen showed), with a beam every client draws.

use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    server::{HitShape, LagCompensated, LagCompensation},
};
use serde::{Deserialize, Serialize};

use crate::{
    level::Level,
    movement::{Movement, PLAYER_RADIUS},
    player::wound,
    protocol::{ArenaInput, Health, Player, Score, yaw_direction},
};

/// Damage per rail hit: two hits kill.
pub const RAIL_DAMAGE: u32 = 50;
/// Ticks between two rail shots of one player (one a second).
pub const RAIL_COOLDOWN_TICKS: u32 = 60;
/// How far the rail reaches, metres.
pub const RAIL_RANGE: f32 = 60.0;
/// Height the beam leaves the shooter at (as projectiles fly).
pub const RAIL_HEIGHT: f32 = 1.0;

/// A rail shot, for every client to draw.
#[derive(Message, Serialize, Deserialize, Clone, Copy, PartialEq, Debug)]
pub struct RailBeam {
    pub from: Vec3,
    pub to: Vec3,
    /// Whether it hit a player.
    pub hit: bool,
}

/// Server only: when a player's rail gun is ready again.
#[derive(Component, Clone, Copy, Debug, Default)]
pub struct Rail {
    pub ready_at: NetTick,
}

/// The beam message (both sides register it in the same order).
pub fn protocol(app: &mut App) {
    app.add_server_message::<RailBeam>(Channel::Unreliable);
}

/// Server rules: players can be hit as their shooters saw them, and rail shots resolve.
pub fn plugin(app: &mut App) {
    app.add_observer(compensate_player)
        .add_systems(FixedUpdate, fire_rails.after(Movement));
}

/// Every player is hit by a capsule around its body, and gets a rail gun.
fn compensate_player(event: On<Add, Player>, mut commands: Commands) {
    commands.entity(event.entity).insert((
        LagCompensated::new(HitShape::Capsule {
            radius: PLAYER_RADIUS,
            half_height: 0.5,
        })
        .with_offset(Vec3::Y * 1.0),
        Rail::default(),
    ));
}

/// A player's rail gun as the shot sees it.
type Shooter<'a> = (
    Entity,
    &'a TickInput<ArenaInput>,
    &'a ControlledBy,
    &'a Transform,
    &'a Health,
    &'a mut Rail,
);

/// The players as shots land on them.
type Targets<'w, 's> = Query<'w, 's, (&'static mut Health, &'static mut Score)>;

/// Resolves the rail shots of this tick against the players as each shooter saw them (the
/// shooter itself is where the server has it), stopping at walls; a hit damages, a kill
/// scores.
fn fire_rails(
    tick: Res<ServerTick>,
    level: Res<Level>,
    compensation: LagCompensation,
    mut players: ParamSet<(Query<Shooter>, Targets)>,
    mut beams: MessageWriter<ToClients<RailBeam>>,
    mut commands: Commands,
) {
    let mut shots = Vec::new();
    for (shooter, input, controller, transform, health, mut rail) in &mut players.p0() {
        let ready = !rail.ready_at.is_newer_than(tick.0);
        if !input.input.rail || input.repeated || health.0 == 0 || !ready {
            continue;
        }
        rail.ready_at = tick.0.add(RAIL_COOLDOWN_TICKS);
        let ground = yaw_direction(input.input.aim());
        let direction = Dir3::new(Vec3::new(ground.x, 0.0, ground.y)).unwrap_or(Dir3::NEG_Z);
        let from = transform.translation + Vec3::Y * RAIL_HEIGHT;
        let reach = level.ray_length(from.xz(), ground, RAIL_RANGE);
        shots.push((
            shooter,
            controller.client_id,
            input.tick,
            Ray3d::new(from, direction),
            reach,
        ));
    }
    let mut players = players.p1();
    let mut hits = Vec::new();
    for (shooter, client_id, input_tick, ray, reach) in shots {
        // The nearest living player the shooter saw on the beam's way.
        let hit = compensation
            .cast(client_id, input_tick, ray, 0.0, reach, &[shooter])
            .into_iter()
            .find(|hit| {
                players
                    .get(hit.entity)
                    .is_ok_and(|(health, _)| health.0 > 0)
            });
        if let Some(hit) = hit {
            hits.push((shooter, hit.entity));
        }
        beams.write(ToClients {
            mode: SendMode::Broadcast,
            message: RailBeam {
                from: ray.origin,
                to: hit.map_or(ray.get_point(reach), |hit| hit.point),
                hit: hit.is_some(),
            },
        });
    }
    for (shooter, victim) in hits {
        let Ok((mut health, mut score)) = players.get_mut(victim) else {
            continue;
        };
        let killed = wound(
            victim,
            (&mut health, &mut score),
            RAIL_DAMAGE,
            tick.0,
            &mut commands,
        );
        if killed && let Ok((_, mut shooter_score)) = players.get_mut(shooter) {
            shooter_score.kills += 1;
        }
    }
}
