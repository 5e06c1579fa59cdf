//! Sending game messages ([`ToClients`]) to their clients.

use bevy::prelude::*;
use bevy_renet::{RenetServer, renet::Bytes};
use serde::Serialize;

use super::connected_client::ConnectedClient;
use crate::shared::{
    codec::encode_serde,
    messages::{MessageIndex, ToClient, ToClients},
    wire::{self, server_kind},
};

/// Drains `ToClients<M>` and sends each message, encoded once, to its clients.
pub(crate) fn send_server_messages<M: Serialize + Send + Sync + 'static>(
    mut messages: ResMut<Messages<ToClients<M>>>,
    index: Res<MessageIndex<ToClient, M>>,
    mut server: ResMut<RenetServer>,
    clients: Query<(Entity, &ConnectedClient)>,
) {
    for ToClients { mode, message } in messages.drain() {
        let mut payload = Vec::new();
        if let Err(error) = encode_serde(&message, &mut payload) {
            error!("not sending a message: {error}");
            continue;
        }
        let frame = Bytes::from(wire::encode_message(
            server_kind::MESSAGE,
            index.index,
            &payload,
        ));
        for (client, connected) in &clients {
            if mode.includes(client) {
                server.send_message(connected.id(), index.channel.id(), frame.clone());
            }
        }
    }
}
