//! Lag compensation: a shot that hits on the shooter's screen hits on the server.
//!
//! A client draws other entities in the past (its interpolation delay), and its input reaches
//! the server later still. With each input it says which server tick (and fraction) its screen
//! showed when the input was produced; the server keeps where every [`LagCompensated`] entity
//! was at each recent tick ([`HitHistory`]), and game code asks, for client X's input of tick
//! T, what X saw: [`LagCompensation::cast`] casts a ray or a sphere against the shapes as X saw
//! them, [`LagCompensation::pose_seen`] gives any compensated entity's `Transform` as X saw it
//! (to run a physics engine's own query on rewound shapes).
//!
//! Limits: a claim older than the client's round trip (as renet measures it from the client's
//! acknowledgements, so a client that delays them can stretch it) plus
//! [`LagCompensationSettings::max_interpolation_delay`] plus
//! [`LagCompensationSettings::margin`] is clamped to that, and never reaches past the history
//! kept; the history holds [`LagCompensationSettings::history`] (1 s by
//! default, [`MAX_HISTORY_TICKS`] at most) of [`HISTORY_BYTES_PER_TICK`] per entity and tick.
//! The host's own player (no network) sees the newest state, and is compensated for that.

mod history;
mod query;
mod seen;
mod shapes;

use core::time::Duration;

use bevy::prelude::*;
use bevy_renet::RenetServer;

use super::ClientDisconnected;

pub(crate) use history::record_hit_history;
pub use history::{HISTORY_BYTES_PER_TICK, HitHistory, MAX_HISTORY_TICKS};
pub use query::{LagCompensation, LagHit};
pub use seen::SeenTick;
pub(crate) use seen::{SeenTicks, note_seen};
pub use shapes::HitShape;

/// Marks an entity that shots are resolved against as clients saw it: the server keeps its
/// recent poses ([`HitHistory`]). Its [`HitShape`] sits at `offset` from its `Transform`, in the
/// entity's own frame, and turns with it.
#[derive(Component, Clone, Copy, Debug, PartialEq, Reflect)]
#[reflect(Component)]
pub struct LagCompensated {
    /// What a shot has to touch.
    pub shape: HitShape,
    /// Where the shape's centre is, from the entity's `Transform` (a body's centre above its
    /// feet, say).
    pub offset: Vec3,
}

impl LagCompensated {
    /// `shape` centred on the entity's `Transform`.
    pub fn new(shape: HitShape) -> Self {
        Self {
            shape,
            offset: Vec3::ZERO,
        }
    }

    /// The same, with the shape's centre at `offset` from the `Transform`.
    pub fn with_offset(self, offset: Vec3) -> Self {
        Self { offset, ..self }
    }

    /// Where the shape is when the entity is at `pose`.
    pub fn shape_pose(&self, pose: &Transform) -> Transform {
        Transform {
            translation: pose.translation + pose.rotation * self.offset,
            rotation: pose.rotation,
            scale: Vec3::ONE,
        }
    }
}

/// How far back the server rewinds.
#[derive(Resource, Clone, Debug, PartialEq)]
pub struct LagCompensationSettings {
    /// Whether queries rewind at all; when off they see the server's newest state.
    pub enabled: bool,
    /// How much history is kept (at most [`MAX_HISTORY_TICKS`]): enough for the deepest rewind
    /// allowed. 1 s by default: a 500 ms round trip, a 300 ms interpolation delay and margin.
    pub history: Duration,
    /// The longest interpolation delay a client is believed: the clients'
    /// [`InterpolationSettings::max_delay`](crate::client::InterpolationSettings) (300 ms by
    /// default).
    pub max_interpolation_delay: Duration,
    /// Added to the round trip and the interpolation delay before a claim is clamped (input
    /// lead, jitter). 60 ms by default.
    pub margin: Duration,
}

impl Default for LagCompensationSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            history: Duration::from_secs(1),
            max_interpolation_delay: Duration::from_millis(300),
            margin: Duration::from_millis(60),
        }
    }
}

impl LagCompensationSettings {
    /// Ticks of history kept at `timestep` per tick.
    pub(crate) fn history_ticks(&self, timestep: Duration) -> usize {
        let ticks = self.history.as_secs_f64() / timestep.as_secs_f64().max(1e-6);
        (ticks.ceil() as usize).clamp(1, MAX_HISTORY_TICKS)
    }
}

/// Adds lag compensation's resources and its history recording (`FixedLast`, after the game's
/// simulation and physics of the tick).
pub(crate) fn plugin(app: &mut App) {
    app.init_resource::<HitHistory>()
        .init_resource::<SeenTicks>()
        .init_resource::<LagCompensationSettings>()
        .add_observer(forget_seen)
        .add_systems(
            FixedLast,
            record_hit_history.run_if(resource_exists::<RenetServer>),
        );
}

/// A client that left leaves no claims behind (its id may come back).
fn forget_seen(event: On<ClientDisconnected>, mut seen: ResMut<SeenTicks>) {
    seen.by_client.remove(&event.client_id);
}

#[cfg(test)]
mod tests;
