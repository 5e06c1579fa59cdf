//! Sending to the server: game messages, and one update frame per frame with the
//! acknowledgements of the frames received and the inputs of every input type.

use bevy::prelude::*;
use bevy_renet::{RenetClient, renet::Bytes};
use serde::Serialize;

use super::{
    connection::ClientState,
    replicas::Replicas,
    session::{ClientSession, Handshake},
};
use crate::shared::{
    channels::UNRELIABLE_CHANNEL,
    codec::encode_serde,
    link::{SimulatedLink, send_to_server},
    messages::{MessageIndex, ToServer},
    wire::{self, InputsOut, ack_ranges, client_kind},
};

/// Inputs of every type to send this frame, filled by each input type's system.
#[derive(Resource, Default)]
pub(crate) struct OutgoingInputs {
    /// `(input index, newest tick's low 16 bits, inputs newest first)`.
    pub(crate) blocks: Vec<(u32, u16, Vec<Vec<u8>>)>,
}

/// Sends the messages `M` the game wrote this frame. Messages written while not
/// [`ClientState::Connected`] are dropped.
pub(crate) fn send_client_messages<M: Message + Serialize>(
    mut messages: MessageReader<M>,
    index: Res<MessageIndex<ToServer, M>>,
    mut client: ResMut<RenetClient>,
    mut link: Option<ResMut<SimulatedLink>>,
    time: Res<Time<Real>>,
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
        send_to_server(
            &mut client,
            link.as_deref_mut(),
            time.elapsed(),
            index.channel.id(),
            Bytes::from(frame),
        );
    }
}

/// Sends one update frame: frame ids received (each twice, in case an update is lost) and the
/// inputs gathered this frame.
pub(crate) fn send_update(
    mut client: ResMut<RenetClient>,
    mut link: Option<ResMut<SimulatedLink>>,
    time: Res<Time<Real>>,
    session: Res<ClientSession>,
    mut replicas: ResMut<Replicas>,
    mut outgoing: ResMut<OutgoingInputs>,
) {
    if session.handshake != Handshake::Welcomed || !client.is_connected() {
        replicas.acks.clear();
        replicas.acks_previous.clear();
        outgoing.blocks.clear();
        return;
    }
    let mut ids = replicas.acks.clone();
    ids.extend_from_slice(&replicas.acks_previous);
    let ranges = match newest_id(&ids) {
        Some(newest) => ack_ranges(&ids, newest),
        None => Vec::new(),
    };
    if ranges.is_empty() && outgoing.blocks.is_empty() {
        return;
    }
    let blocks: Vec<InputsOut> = outgoing
        .blocks
        .iter()
        .map(|(index, newest, inputs)| InputsOut {
            index: *index,
            newest: *newest,
            inputs,
        })
        .collect();
    let frame = wire::encode_update(&ranges, &blocks);
    trace!(
        "send update: {} ack ranges, {} input blocks ({} inputs), {} bytes",
        ranges.len(),
        blocks.len(),
        blocks.iter().map(|block| block.inputs.len()).sum::<usize>(),
        frame.len()
    );
    send_to_server(
        &mut client,
        link.as_deref_mut(),
        time.elapsed(),
        UNRELIABLE_CHANNEL,
        Bytes::from(frame),
    );
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
