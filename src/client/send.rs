//! Sending to the server: game messages and acknowledgements of update frames.

use bevy::prelude::*;
use bevy_renet::{RenetClient, renet::Bytes};
use serde::Serialize;

use super::{
    connection::ClientState,
    session::{ClientSession, Handshake},
};
use crate::shared::{
    channels::UNRELIABLE_CHANNEL,
    codec::encode_serde,
    messages::{MessageIndex, ToServer},
    wire::{self, client_kind},
};

/// Most update ids in one ack frame.
const MAX_ACKS_PER_FRAME: usize = 256;

/// Sends the messages `M` the game wrote this frame. Messages written while not
/// [`ClientState::Connected`] are dropped.
pub(crate) fn send_client_messages<M: Message + Serialize>(
    mut messages: MessageReader<M>,
    index: Res<MessageIndex<ToServer, M>>,
    mut client: ResMut<RenetClient>,
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
        client.send_message(index.channel.id(), Bytes::from(frame));
    }
}

/// Acknowledges the update frames applied this frame.
pub(crate) fn send_acks(mut client: ResMut<RenetClient>, mut session: ResMut<ClientSession>) {
    if session.handshake != Handshake::Welcomed || !client.is_connected() {
        session.acks.clear();
        return;
    }
    for ids in session.acks.chunks(MAX_ACKS_PER_FRAME) {
        client.send_message(UNRELIABLE_CHANNEL, Bytes::from(wire::encode_acks(ids)));
    }
    session.acks.clear();
}
