//! [`LagCompensation`]: the system parameter that answers "what did client X see when it
//! produced its input of tick T", and casts against that.

use bevy::{ecs::system::SystemParam, prelude::*};
use bevy_renet::RenetServer;

use super::{HitHistory, LagCompensated, LagCompensationSettings, SeenTick, SeenTicks};
use crate::shared::{tick::NetTick, wire::SEEN_STEPS_PER_TICK};

/// One thing a cast touched, as the shooter saw it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LagHit {
    /// The entity hit.
    pub entity: Entity,
    /// Where the cast first touched it (the ray's point; for a sphere cast, its centre then).
    pub point: Vec3,
    /// How far along the cast.
    pub distance: f32,
}

/// Lag-compensated queries for server game code: what client X saw when it produced its input
/// of tick T, and casts against that (see [`LagCompensationSettings`] for the limits).
///
/// ```
/// use bevy::prelude::*;
/// use bevy_netsync::{prelude::*, server::LagCompensation};
///
/// #[derive(Resource, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
/// struct Aim { direction: Vec3, fire: bool }
///
/// fn shoot(
///     shooters: Query<(Entity, &Transform, &ControlledBy, &TickInput<Aim>)>,
///     compensation: LagCompensation,
/// ) {
///     for (shooter, transform, controller, input) in &shooters {
///         let Ok(direction) = Dir3::new(input.input.direction) else { continue };
///         if !input.input.fire || input.repeated {
///             continue;
///         }
///         let ray = Ray3d::new(transform.translation, direction);
///         let hits = compensation.cast(controller.client_id, input.tick, ray, 0.0, 100.0, &[shooter]);
///         if let Some(first) = hits.first() {
///             info!("hit {} at {}", first.entity, first.point);
///         }
///     }
/// }
/// # let mut app = App::new();
/// # app.add_systems(FixedUpdate, shoot);
/// ```
#[derive(SystemParam)]
pub struct LagCompensation<'w> {
    history: Res<'w, HitHistory>,
    seen: Res<'w, SeenTicks>,
    settings: Res<'w, LagCompensationSettings>,
    server: Option<Res<'w, RenetServer>>,
    fixed: Res<'w, Time<Fixed>>,
}

impl LagCompensation<'_> {
    /// What `client_id`'s screen showed when it produced its input of `input_tick`, as it said,
    /// clamped to what its link explains (see
    /// [`LagCompensationSettings`](super::LagCompensationSettings)). Without a claim (the host's
    /// own player, an input not received) or with compensation off: the newest state before
    /// the input's tick.
    pub fn seen(&self, client_id: u64, input_tick: NetTick) -> SeenTick {
        let newest = SeenTick {
            tick: input_tick.sub(1),
            fraction: 0.0,
        };
        if !self.settings.enabled {
            return newest;
        }
        let Some(&claimed) = self
            .seen
            .by_client
            .get(&client_id)
            .and_then(|stamps| stamps.get(input_tick))
        else {
            return newest;
        };
        let rtt = self
            .server
            .as_ref()
            .map_or(0.0, |server| server.rtt(client_id));
        let allowed = rtt
            + self.settings.max_interpolation_delay.as_secs_f64()
            + self.settings.margin.as_secs_f64();
        let tick_seconds = self.fixed.timestep().as_secs_f64().max(1e-6);
        let most = (allowed / tick_seconds * f64::from(SEEN_STEPS_PER_TICK)).ceil() as u32;
        // Never deeper than the history reaches (its oldest pose is one tick before the input's).
        let kept = self.settings.history_ticks(self.fixed.timestep()) as u32;
        let most = most.min(kept * SEEN_STEPS_PER_TICK);
        let steps = u32::from(claimed).clamp(SEEN_STEPS_PER_TICK, most.max(SEEN_STEPS_PER_TICK));
        SeenTick::before(input_tick, steps)
    }

    /// Every compensated entity's pose (its `Transform`) and shape as `client_id` saw them for its input of
    /// `input_tick`: entities spawned after that moment are absent, ones despawned since are
    /// there. For a physics engine's own queries on rewound shapes.
    pub fn poses_seen(
        &self,
        client_id: u64,
        input_tick: NetTick,
    ) -> impl Iterator<Item = (Entity, Transform, LagCompensated)> + '_ {
        let seen = self.seen(client_id, input_tick);
        self.history
            .entities
            .iter()
            .filter_map(move |(entity, history)| {
                let pose = history.pose_at(seen.tick, seen.fraction)?;
                Some((*entity, pose, history.shape))
            })
    }

    /// `entity`'s pose as `client_id` saw it for its input of `input_tick`, if it is
    /// compensated and existed then.
    pub fn pose_seen(
        &self,
        client_id: u64,
        input_tick: NetTick,
        entity: Entity,
    ) -> Option<Transform> {
        let seen = self.seen(client_id, input_tick);
        self.history
            .entities
            .get(&entity)?
            .pose_at(seen.tick, seen.fraction)
    }

    /// Casts `ray` (or, with `radius` above 0, a sphere along it) up to `max_distance` against
    /// every compensated entity as `client_id` saw them for its input of `input_tick`, leaving
    /// out `ignore` (the shooter). Hits come nearest first.
    pub fn cast(
        &self,
        client_id: u64,
        input_tick: NetTick,
        ray: Ray3d,
        radius: f32,
        max_distance: f32,
        ignore: &[Entity],
    ) -> Vec<LagHit> {
        let direction = *ray.direction;
        let mut hits: Vec<LagHit> = self
            .poses_seen(client_id, input_tick)
            .filter(|(entity, ..)| !ignore.contains(entity))
            .filter_map(|(entity, pose, compensated)| {
                let distance = compensated.shape.cast(
                    &compensated.shape_pose(&pose),
                    ray.origin,
                    direction,
                    radius,
                    max_distance,
                )?;
                Some(LagHit {
                    entity,
                    point: ray.origin + direction * distance,
                    distance,
                })
            })
            .collect();
        hits.sort_by(|a, b| a.distance.total_cmp(&b.distance));
        hits
    }
}
