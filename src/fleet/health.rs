//! `request_health_ping`: health pings from the game loop itself, so a stalled loop misses
//! them and Agones replaces the server.

use std::time::Duration;

use bevy::prelude::*;

use super::{
    FleetSettings,
    link::{Request, SdkLink},
};

/// When the next health ping is due (real time). Written by `request_health_ping`.
#[derive(Resource, Debug, Default)]
pub(crate) struct HealthClock {
    next: Duration,
}

/// Asks the SDK worker for a ping every [`FleetSettings::health_interval`] of real time. After
/// a stall it sends one, not the ones missed: the stall must show.
pub(crate) fn request_health_ping(
    link: Res<SdkLink>,
    settings: Res<FleetSettings>,
    time: Res<Time<Real>>,
    mut clock: ResMut<HealthClock>,
) {
    let now = time.elapsed();
    if now >= clock.next {
        link.send(Request::Health);
        clock.next = now + settings.health_interval;
    }
}
