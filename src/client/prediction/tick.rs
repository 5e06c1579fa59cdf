//! [`PredictedTick`]: the tick this client simulates, kept at the input tick by running the
//! client's clock a little faster or slower.

use bevy::prelude::*;
use bevy_renet::RenetClient;

use crate::{
    client::{ClientState, ClientTimeline},
    shared::tick::NetTick,
};

/// Ticks the predicted tick may be off before it jumps instead of catching up.
const JUMP_TICKS: i32 = 15;
/// How strongly the clock speed follows the error (per tick of error).
const SPEED_GAIN: f64 = 0.05;

/// The tick the client's `FixedUpdate` simulates: the tick its inputs are recorded for, ahead of
/// the server by about half the round trip plus a small lead. Advanced in `FixedFirst`; `None`
/// while not connected.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PredictedTick {
    pub(crate) tick: Option<NetTick>,
}

impl PredictedTick {
    /// The tick being (or last) simulated.
    pub fn tick(&self) -> Option<NetTick> {
        self.tick
    }
}

/// Counts one client tick per `FixedUpdate` step while connected.
pub(crate) fn advance_predicted_tick(
    mut predicted: ResMut<PredictedTick>,
    timeline: Res<ClientTimeline>,
    state: Res<State<ClientState>>,
) {
    if *state.get() != ClientState::Connected || !timeline.is_synced() {
        predicted.tick = None;
        return;
    }
    predicted.tick = Some(match predicted.tick {
        Some(tick) => tick.add(1),
        None => timeline.input_tick(),
    });
}

/// Runs the client's virtual clock so that `FixedUpdate` reaches the input tick each frame:
/// a little faster when behind, slower when ahead, a jump when far off.
pub(crate) fn steer_clock(
    mut predicted: ResMut<PredictedTick>,
    timeline: Res<ClientTimeline>,
    client: Option<Res<RenetClient>>,
    mut time: ResMut<Time<Virtual>>,
) {
    let speed = match (
        predicted.tick,
        client.filter(|client| client.is_connected()),
    ) {
        (Some(tick), Some(_)) if timeline.is_synced() => {
            // After this frame's step the tick should be the input tick.
            let error = timeline.input_tick().diff(tick) - 1;
            if error.abs() > JUMP_TICKS {
                predicted.tick = Some(timeline.input_tick().sub(1));
                1.0
            } else {
                (1.0 + SPEED_GAIN * f64::from(error)).clamp(0.8, 1.25)
            }
        }
        _ => 1.0,
    };
    if (f64::from(time.relative_speed()) - speed).abs() > 1e-6 {
        time.set_relative_speed(speed as f32);
    }
}
