//! An entity moving on a known path, for interpolation tests and benchmarks.

use bevy::prelude::*;
use bevy_netsync::prelude::*;

/// Circle radius, metres.
pub const RADIUS: f32 = 10.0;
/// Speed along the circle, metres per second.
pub const SPEED: f32 = 5.0;
/// Seconds per tick at 60 Hz.
pub const TICK_SECONDS: f64 = 1.0 / 60.0;

/// Moves on a circle around `center`, starting at angle `phase`.
#[derive(Component, Clone, Copy)]
pub struct Orbit {
    pub center: Vec3,
    pub phase: f32,
}

impl Orbit {
    /// The angle at (fractional) server tick `tick`.
    pub fn angle(&self, tick: f64) -> f64 {
        f64::from(self.phase) + f64::from(SPEED / RADIUS) * tick * TICK_SECONDS
    }

    /// The exact position at (fractional) server tick `tick`.
    pub fn position(&self, tick: f64) -> Vec3 {
        self.pose(tick).0
    }

    /// The position and the heading (the direction of travel) at server tick `tick`, from one
    /// sine and cosine.
    fn pose(&self, tick: f64) -> (Vec3, Vec3) {
        let (sin, cos) = self.angle(tick).sin_cos();
        let (sin, cos) = (sin as f32, cos as f32);
        (
            self.center + RADIUS * Vec3::new(cos, 0.0, sin),
            Vec3::new(-sin, 0.0, cos),
        )
    }
}

/// Server system: puts every orbiting entity where the path says for this tick, facing the way
/// it goes.
pub fn move_on_orbit(tick: Res<ServerTick>, mut query: Query<(&Orbit, &mut Transform)>) {
    for (orbit, mut transform) in &mut query {
        let (position, heading) = orbit.pose(f64::from(tick.0.0));
        transform.translation = position;
        transform.rotation = Quat::from_rotation_arc(Vec3::NEG_Z, heading);
    }
}
