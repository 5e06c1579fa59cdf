//! What each client's screen showed when it produced each input: received with its inputs,
//! read back, clamped, by [`LagCompensation`](super::LagCompensation).

use bevy::{platform::collections::HashMap, prelude::*};

use crate::shared::{
    tick::NetTick,
    tick_buffer::{SameTick, TickBuffer},
    wire::SEEN_STEPS_PER_TICK,
};

/// A moment of the server's timeline as a client showed it: `fraction` of the way from the
/// state of `tick` to the state of the tick after.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SeenTick {
    /// The tick whose state was shown (or blended from).
    pub tick: NetTick,
    /// How far towards the next tick's state, in `[0, 1)`.
    pub fraction: f32,
}

impl SeenTick {
    /// `steps` sixteenths of a tick before `input`.
    pub(crate) fn before(input: NetTick, steps: u32) -> Self {
        let whole = steps.div_ceil(SEEN_STEPS_PER_TICK);
        let rest = whole * SEEN_STEPS_PER_TICK - steps;
        Self {
            tick: input.sub(whole),
            fraction: rest as f32 / SEEN_STEPS_PER_TICK as f32,
        }
    }
}

/// Ticks of seen stamps kept per client (as many as its inputs).
const SEEN_TICKS: usize = 128;

/// Per client id, per input tick: sixteenths of a tick between the input's tick and what the
/// client showed when it produced it.
#[derive(Resource, Default, Debug)]
pub(crate) struct SeenTicks {
    pub(crate) by_client: HashMap<u64, TickBuffer<u16, SEEN_TICKS>>,
}

/// Notes what `client_id` saw for its inputs of `newest` and the ticks before it (`lags`,
/// newest first), as its update frame said.
pub(crate) fn note_seen(world: &mut World, client_id: u64, newest: NetTick, lags: &[u16]) {
    let mut seen = world.resource_mut::<SeenTicks>();
    let stamps = seen.by_client.entry(client_id).or_default();
    for (age, lag) in lags.iter().enumerate() {
        stamps.insert(newest.sub(age as u32), *lag, SameTick::Keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seen_moment_survives_the_trip_through_sixteenths() {
        let input = NetTick(1_000);
        let seen = SeenTick::before(input, 16 * 9 + 4);
        assert_eq!(seen.tick, NetTick(990));
        assert!((seen.fraction - 0.75).abs() < 1e-6);
        assert_eq!(SeenTick::before(input, 32).tick, NetTick(998));
        assert_eq!(SeenTick::before(input, 32).fraction, 0.0);
    }
}
