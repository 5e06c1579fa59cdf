//! The local player's inputs: recorded once per predicted tick (the tick they are for, see
//! [`PredictedTick`](super::PredictedTick)), and sent until the server acknowledged them (at
//! least the last few, for losses).

use bevy::prelude::*;
use bevy_renet::RenetClient;

use super::{connection::ClientState, replicas::Replicas, send::OutgoingInputs};
use crate::shared::{
    codec::encode_serde,
    input::{InputIndex, NetInput},
    tick::NetTick,
    tick_buffer::TickBuffer,
    wire::MAX_INPUTS_PER_FRAME,
};

/// Inputs of at least this many ticks travel in every packet on a clean link, even when the
/// server acknowledged the older ones, so a lost packet costs nothing (the next one carries its
/// input). Everything the server has not acknowledged travels too, so on links slower than a
/// tick the floor rarely matters; on lossy links it rises (5, then 8).
pub const INPUT_REDUNDANCY: usize = 2;

/// Ticks of input kept.
const HISTORY_TICKS: usize = 128;

/// Recorded inputs, oldest first: what is sent, and (with prediction) what is simulated again.
#[derive(Resource)]
pub(crate) struct InputHistory<I> {
    pub(crate) inputs: TickBuffer<I, HISTORY_TICKS>,
}

impl<I> Default for InputHistory<I> {
    fn default() -> Self {
        Self {
            inputs: TickBuffer::default(),
        }
    }
}

impl<I> InputHistory<I> {
    /// Records the input of `tick` (a tick already recorded keeps its first input).
    pub(crate) fn record(&mut self, tick: NetTick, input: I) {
        self.inputs.push_if_newest(tick, input);
    }

    /// The input recorded for `tick`, or the newest before it, with its tick.
    pub(crate) fn at_or_before(&self, tick: NetTick) -> Option<(NetTick, &I)> {
        self.inputs.at_or_before(tick)
    }
}

/// How many recent inputs every packet repeats, whatever the acknowledgements: more on lossy
/// links.
fn redundancy(packet_loss: f64) -> usize {
    match packet_loss {
        loss if loss < 0.01 => INPUT_REDUNDANCY,
        loss if loss < 0.05 => INPUT_REDUNDANCY + 3,
        _ => INPUT_REDUNDANCY + 6,
    }
}

/// Queues the inputs the server lacks for this frame's update (recorded each predicted tick by
/// `record_input`): everything after what it acknowledged, at least the last few. Sent once per
/// new tick, whatever the frame rate.
pub(crate) fn send_inputs<I: NetInput>(
    index: Res<InputIndex<I>>,
    state: Res<State<ClientState>>,
    replicas: Res<Replicas>,
    client: Res<RenetClient>,
    mut history: ResMut<InputHistory<I>>,
    mut outgoing: ResMut<OutgoingInputs>,
    mut last_sent: Local<Option<NetTick>>,
) {
    if *state.get() != ClientState::Connected {
        history.inputs.clear();
        *last_sent = None;
        return;
    }
    let Some((newest, _)) = history.inputs.newest() else {
        return;
    };
    if last_sent.is_some_and(|sent| !newest.is_newer_than(sent)) {
        return;
    }
    *last_sent = Some(newest);
    // Everything after what the server acknowledged, at least the last few.
    let unacknowledged = replicas
        .input_ack
        .map_or(usize::MAX, |ack| newest.diff(ack).max(0) as usize);
    let count = unacknowledged
        .max(redundancy(client.packet_loss()))
        .min(MAX_INPUTS_PER_FRAME)
        .min(history.inputs.len());

    // Newest first; the update frame codes each against the newer one (a held key costs a
    // bit per tick).
    let mut payloads = Vec::with_capacity(count);
    for (_, input) in history.inputs.iter().rev().take(count) {
        let mut bytes = Vec::new();
        if let Err(error) = encode_serde(input, &mut bytes) {
            error!("not sending input: {error}");
            return;
        }
        payloads.push(bytes);
    }
    outgoing.blocks.push((index.index, newest, payloads));
}
