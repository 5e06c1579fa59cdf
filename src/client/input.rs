//! Recording the local player's input once per input tick and sending the last few ticks in
//! every packet.

use std::collections::VecDeque;

use bevy::prelude::*;
use bevy_renet::{RenetClient, renet::Bytes};

use super::{connection::ClientState, timeline::ClientTimeline};
use crate::shared::{
    channels::UNRELIABLE_CHANNEL,
    codec::encode_serde,
    input::{InputIndex, LocalInput, NetInput},
    tick::NetTick,
    wire,
};

/// Inputs of this many ticks travel in every input packet, so isolated losses cost nothing.
pub const INPUT_REDUNDANCY: usize = 10;

/// Recorded inputs not yet out of the redundancy window.
#[derive(Resource)]
pub(crate) struct InputHistory<I> {
    inputs: VecDeque<(NetTick, I)>,
}

impl<I> Default for InputHistory<I> {
    fn default() -> Self {
        Self {
            inputs: VecDeque::new(),
        }
    }
}

/// Records [`LocalInput`] for every input tick reached since the last frame and sends the last
/// [`INPUT_REDUNDANCY`] of them.
pub(crate) fn send_inputs<I: NetInput>(
    local: Res<LocalInput<I>>,
    timeline: Res<ClientTimeline>,
    index: Res<InputIndex<I>>,
    state: Res<State<ClientState>>,
    mut history: ResMut<InputHistory<I>>,
    mut client: ResMut<RenetClient>,
) {
    if *state.get() != ClientState::Connected || !timeline.is_synced() {
        history.inputs.clear();
        return;
    }
    let target = timeline.input_tick();
    let first = match history.inputs.back() {
        Some((last, _)) if !target.is_newer_than(*last) => return,
        // Fill every tick since the last one, but no more than the window holds.
        Some((last, _)) if target.diff(*last) <= INPUT_REDUNDANCY as i32 => last.add(1),
        _ => target.sub(INPUT_REDUNDANCY as u32 - 1),
    };
    let mut tick = first;
    loop {
        history.inputs.push_back((tick, local.0.clone()));
        if tick == target {
            break;
        }
        tick = tick.add(1);
    }
    while history.inputs.len() > INPUT_REDUNDANCY {
        history.inputs.pop_front();
    }

    // Newest first; an input equal to the newer one travels as an empty entry (a held key
    // costs one byte per tick).
    let mut payloads = Vec::with_capacity(history.inputs.len());
    let mut newer: Option<&I> = None;
    for (_, input) in history.inputs.iter().rev() {
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
    let frame = wire::encode_inputs(index.index, target, &payloads);
    client.send_message(UNRELIABLE_CHANNEL, Bytes::from(frame));
}
