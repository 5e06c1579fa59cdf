//! Recording the local player's input once per input tick, and sending every input the server
//! has not acknowledged yet (at least the last few, for losses).

use std::collections::VecDeque;

use bevy::prelude::*;
use bevy_renet::RenetClient;

use super::{
    connection::ClientState, replicas::Replicas, send::OutgoingInputs, timeline::ClientTimeline,
};
use crate::shared::{
    codec::encode_serde,
    input::{InputIndex, LocalInput, NetInput},
    tick::NetTick,
    wire::MAX_INPUTS_PER_FRAME,
};

/// Inputs of at least this many ticks travel in every packet on a clean link, even when the
/// server acknowledged the older ones, so a lost packet costs nothing.
pub const INPUT_REDUNDANCY: usize = 3;

/// Recorded inputs, oldest first: what is sent, and (with prediction) what is simulated again.
#[derive(Resource)]
pub(crate) struct InputHistory<I> {
    pub(crate) inputs: VecDeque<(NetTick, I)>,
}

impl<I> Default for InputHistory<I> {
    fn default() -> Self {
        Self {
            inputs: VecDeque::new(),
        }
    }
}

/// Ticks of input kept.
const HISTORY_TICKS: usize = 128;

/// How many recent inputs every packet repeats, whatever the acknowledgements: more on lossy
/// links.
fn redundancy(packet_loss: f64) -> usize {
    match packet_loss {
        loss if loss < 0.01 => INPUT_REDUNDANCY,
        loss if loss < 0.05 => INPUT_REDUNDANCY + 2,
        _ => INPUT_REDUNDANCY + 5,
    }
}

/// Records [`LocalInput`] for every input tick reached since the last frame and queues the
/// inputs the server lacks for this frame's update.
#[allow(clippy::too_many_arguments)] // one system, one resource each
pub(crate) fn send_inputs<I: NetInput>(
    local: Res<LocalInput<I>>,
    timeline: Res<ClientTimeline>,
    index: Res<InputIndex<I>>,
    state: Res<State<ClientState>>,
    replicas: Res<Replicas>,
    client: Res<RenetClient>,
    mut history: ResMut<InputHistory<I>>,
    mut outgoing: ResMut<OutgoingInputs>,
) {
    if *state.get() != ClientState::Connected || !timeline.is_synced() {
        history.inputs.clear();
        return;
    }
    let target = timeline.input_tick();
    let first = match history.inputs.back() {
        Some((last, _)) if !target.is_newer_than(*last) => None,
        // Fill every tick since the last one, but no more than a packet may carry.
        Some((last, _)) if target.diff(*last) <= MAX_INPUTS_PER_FRAME as i32 => Some(last.add(1)),
        _ => Some(target.sub(MAX_INPUTS_PER_FRAME as u32 - 1)),
    };
    // Inputs go out once per new input tick, whatever the frame rate.
    let Some(first) = first else {
        return;
    };
    {
        let mut tick = first;
        loop {
            history.inputs.push_back((tick, local.0.clone()));
            if tick == target {
                break;
            }
            tick = tick.add(1);
        }
        while history.inputs.len() > HISTORY_TICKS {
            history.inputs.pop_front();
        }
    }
    let Some(&(newest, _)) = history.inputs.back() else {
        return;
    };
    // Everything after what the server acknowledged, at least the last few.
    let unacknowledged = replicas
        .input_ack
        .map_or(usize::MAX, |ack| newest.diff(ack).max(0) as usize);
    let count = unacknowledged
        .max(redundancy(client.packet_loss()))
        .min(MAX_INPUTS_PER_FRAME)
        .min(history.inputs.len());

    // Newest first; an input equal to the newer one travels as an empty entry (a held key
    // costs one byte per tick).
    let mut payloads = Vec::with_capacity(count);
    let mut newer: Option<&I> = None;
    for (_, input) in history.inputs.iter().rev().take(count) {
        let mut bytes = Vec::new();
        if newer != Some(input)
            && let Err(error) = encode_serde(input, &mut bytes)
        {
            error!("not sending input: {error}");
            return;
        }
        payloads.push(bytes);
        newer = Some(input);
    }
    outgoing
        .blocks
        .push((index.index, newest.0 as u16, payloads));
}
