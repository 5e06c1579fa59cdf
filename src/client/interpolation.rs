//! Drawing remote entities between snapshots: the system behind
//! [`NetsyncAppExt::interpolate`](crate::NetsyncAppExt::interpolate).

use bevy::prelude::*;

use super::timeline::{ClientTimeline, InterpolationSettings};
use crate::shared::{
    interpolate::{Interpolate, Sample, SnapshotBuffer},
    registry::NoInterpolation,
};

/// Sets every interpolated `C` to its value at the interpolation tick. Runs in
/// [`ClientSet::Interpolate`](super::ClientSet::Interpolate).
pub(crate) fn interpolate_components<C: Interpolate>(
    timeline: Res<ClientTimeline>,
    settings: Res<InterpolationSettings>,
    fixed: Res<Time<Fixed>>,
    mut query: Query<(&mut SnapshotBuffer<C>, &mut C), Without<NoInterpolation>>,
) {
    if !timeline.is_synced() {
        return;
    }
    let tick = timeline.interpolation_tick();
    let heard_until = timeline.newest_server_tick();
    let max_extrapolation =
        settings.max_extrapolation.as_secs_f64() / fixed.timestep().as_secs_f64();
    for (mut buffer, mut value) in &mut query {
        match buffer.sample(tick, heard_until, max_extrapolation, settings.snap_distance) {
            Sample::Empty => {}
            Sample::Interpolated(sampled)
            | Sample::Extrapolated(sampled)
            | Sample::Held(sampled) => {
                *value = sampled;
            }
        }
        buffer.prune(tick);
    }
}
