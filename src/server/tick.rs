//! Advancing [`ServerTick`] once per fixed step.

use bevy::prelude::*;

use crate::shared::tick::ServerTick;

/// Counts one `FixedUpdate` step. Runs in `FixedFirst`, so the simulation of a step sees the
/// tick it produces.
pub(crate) fn advance_tick(mut tick: ResMut<ServerTick>) {
    tick.0 = tick.0.add(1);
}
