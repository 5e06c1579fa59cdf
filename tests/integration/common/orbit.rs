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
        let angle = self.angle(tick);
        self.center + RADIUS * Vec3::new(angle.cos() as f32, 0.0, angle.sin() as f32)
    }
}

/// Server system: puts every orbiting entity where the path says for this tick.
pub fn move_on_orbit(tick: Res<ServerTick>, mut query: Query<(&Orbit, &mut Transform)>) {
    for (orbit, mut transform) in &mut query {
        let tick = f64::from(tick.0.0);
        transform.translation = orbit.position(tick);
        let angle = orbit.angle(tick) as f32;
        let heading = Vec3::new(-angle.sin(), 0.0, angle.cos());
        transform.rotation = Quat::from_rotation_arc(Vec3::NEG_Z, heading);
    }
}
