//! Sending to the server: game messages, and one update frame per frame with the
//! acknowledgements of the frames received and the inputs of every input type.

use bevy::prelude::*;
use bevy_renet::renet::Bytes;
use serde::Serialize;

use super::{
    ClientTimeline,
    authority::OutgoingOwned,
    connection::ClientState,
    replicas::Replicas,
    session::{ClientSession, Handshake},
};
use crate::shared::{
    channels::UNRELIABLE_CHANNEL,
    codec::encode_serde,
    link::ServerSender,
    messages::{MessageIndex, ToServer},
    tick::NetTick,
    tick_buffer::{SameTick, TickBuffer},
    wire::{self, InputsOut, SEEN_STEPS_PER_TICK, UpstreamExtras, ack_ranges, client_kind},
};

/// Inputs of every type to send this frame, filled by each input type's system.
#[derive(Resource, Default)]
pub(crate) struct OutgoingInputs {
    /// `(input index, newest tick, inputs newest first)`.
    pub(crate) blocks: Vec<(u32, NetTick, Vec<Vec<u8>>)>,
}

/// What this client's screen showed when it produced the input of each tick: sixteenths of a
/// tick between the input's tick and the interpolation tick of the frame the game last ran
/// (see [`note_shown_tick`]). Sent with the inputs, for the server's lag compensation.
#[derive(Resource, Default)]
pub(crate) struct SeenHistory {
    /// The interpolation tick of the frame the game last ran, if the timeline is synced.
    shown: Option<f64>,
    lags: TickBuffer<u16, SEEN_HISTORY_TICKS>,
}

/// Ticks of seen stamps kept.
const SEEN_HISTORY_TICKS: usize = 128;

impl SeenHistory {
    /// Notes, for the input of `tick` just recorded, what the last frame showed.
    pub(crate) fn record(&mut self, tick: NetTick) {
        let Some(shown) = self.shown else {
            return;
        };
        let lag = (tick.unwrap_near(shown) - shown) * f64::from(SEEN_STEPS_PER_TICK);
        let lag = lag.round().clamp(0.0, f64::from(u16::MAX)) as u16;
        self.lags.insert(tick, lag, SameTick::Keep);
    }

    /// The stamps of `count` ticks from `newest` down, as far as they are contiguous.
    fn stamps(&self, newest: NetTick, count: usize) -> Vec<u16> {
        (0..count as u32)
            .map_while(|age| self.lags.get(newest.sub(age)).copied())
            .collect()
    }
}

/// Remembers the interpolation tick of this frame: what the game saw while it wrote this
/// frame's input. Runs in `PostUpdate`, after the game's `Update`.
pub(crate) fn note_shown_tick(timeline: Res<ClientTimeline>, mut seen: ResMut<SeenHistory>) {
    seen.shown = timeline.is_synced().then(|| timeline.interpolation_tick());
}

/// Sends the messages `M` the game wrote this frame. Messages written while not
/// [`ClientState::Connected`] are dropped.
pub(crate) fn send_client_messages<M: Message + Serialize>(
    mut messages: MessageReader<M>,
    index: Res<MessageIndex<ToServer, M>>,
    mut sender: ServerSender,
    state: Res<State<ClientState>>,
) {
    if *state.get() != ClientState::Connected {
        messages.clear();
        return;
    }
    for message in messages.read() {
        let mut payload = Vec::new();
        if let Err(error) = encode_serde(message, &mut payload) {
            error!("not sending a message: {error}");
            continue;
        }
        let frame = wire::encode_message(client_kind::MESSAGE, index.index, &payload);
        trace!("send message {}: {} bytes", index.index, frame.len());
        sender.send(index.channel.id(), Bytes::from(frame));
    }
}

/// Sends one update frame: frame ids received (each twice, in case an update is lost), the
/// inputs gathered this frame, and the values of held entities.
pub(crate) fn send_update(
    mut sender: ServerSender,
    session: Res<ClientSession>,
    mut replicas: ResMut<Replicas>,
    mut outgoing: ResMut<OutgoingInputs>,
    mut seen: ResMut<SeenHistory>,
    mut owned: ResMut<OutgoingOwned>,
) {
    if session.handshake != Handshake::Welcomed || !sender.client.is_connected() {
        replicas.acks.clear();
        replicas.acks_previous.clear();
        outgoing.blocks.clear();
        *seen = SeenHistory::default();
        owned.clear();
        return;
    }
    let mut ids = replicas.acks.clone();
    ids.extend_from_slice(&replicas.acks_previous);
    let ranges = match newest_id(&ids) {
        Some(newest) => ack_ranges(&ids, newest),
        None => Vec::new(),
    };
    let owned = owned.take();
    if ranges.is_empty() && outgoing.blocks.is_empty() && owned.is_empty() {
        return;
    }
    let blocks: Vec<InputsOut> = outgoing
        .blocks
        .iter()
        .map(|(index, newest, inputs)| InputsOut {
            index: *index,
            newest: newest.0 as u16,
            inputs,
        })
        .collect();
    let extras = UpstreamExtras {
        seen: outgoing
            .blocks
            .first()
            .map(|(_, newest, inputs)| seen.stamps(*newest, inputs.len()))
            .unwrap_or_default(),
        owned,
    };
    let frame = wire::encode_update_with(&ranges, &blocks, &extras);
    trace!(
        "send update: {} ack ranges, {} input blocks ({} inputs), {} bytes",
        ranges.len(),
        blocks.len(),
        blocks.iter().map(|block| block.inputs.len()).sum::<usize>(),
        frame.len()
    );
    sender.send(UNRELIABLE_CHANNEL, Bytes::from(frame));
    replicas.acks_previous = core::mem::take(&mut replicas.acks);
    outgoing.blocks.clear();
}

/// The newest of 16-bit wrapping frame ids.
fn newest_id(ids: &[u16]) -> Option<u16> {
    let mut newest = *ids.first()?;
    for &id in ids {
        let ahead = id.wrapping_sub(newest);
        if ahead != 0 && ahead < 0x8000 {
            newest = id;
        }
    }
    Some(newest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_id_survives_the_wrap() {
        assert_eq!(newest_id(&[]), None);
        assert_eq!(newest_id(&[5, 9, 7]), Some(9));
        assert_eq!(newest_id(&[65_534, 1, 65_535]), Some(1));
    }
}
