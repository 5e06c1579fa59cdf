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

/// Ticks the predicted clock is behind where it should be after this frame's step. A server
/// clock that leaps anywhere (a wild tick from a broken server: the first crash the
/// `from_server` fuzz target found) saturates instead of overflowing, and then jumps.
fn clock_error(input_tick: NetTick, predicted: NetTick) -> i32 {
    input_tick.diff(predicted).saturating_sub(1)
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
            let error = clock_error(timeline.input_tick(), tick);
            if error.unsigned_abs() > JUMP_TICKS.unsigned_abs() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_error_saturates_when_the_server_clock_leaps_half_the_range() {
        assert_eq!(clock_error(NetTick(10), NetTick(7)), 2);
        assert_eq!(clock_error(NetTick(1 << 31), NetTick(0)), i32::MIN);
        assert_eq!(clock_error(NetTick(0), NetTick(1 << 31)), i32::MIN);
    }
}
