//! Sending game messages ([`ToClients`]) to their clients.

use bevy::prelude::*;
use bevy_renet::{RenetServer, renet::Bytes};
use serde::Serialize;

use super::{connected_client::ConnectedClient, local_client::LocalClient};
use crate::shared::{
    codec::encode_serde,
    messages::{FromClient, MessageIndex, ToClient, ToClients},
    wire::{self, server_kind},
};

/// Drains `ToClients<M>` and sends each message, encoded once, to its clients. The host's
/// [`LocalClient`] gets it as a plain `M` message.
pub(crate) fn send_server_messages<M: Message + Serialize>(
    mut messages: ResMut<Messages<ToClients<M>>>,
    index: Res<MessageIndex<ToClient, M>>,
    mut server: ResMut<RenetServer>,
    clients: Query<(Entity, &ConnectedClient, Has<LocalClient>)>,
    mut local: MessageWriter<M>,
) {
    for ToClients { mode, message } in messages.drain() {
        let local_client = clients
            .iter()
            .find(|(entity, _, is_local)| *is_local && mode.includes(*entity));
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
        for (client, connected, is_local) in &clients {
            if !is_local && mode.includes(client) {
                server.send_message(connected.id(), index.channel.id(), frame.clone());
            }
        }
        if local_client.is_some() {
            local.write(message);
        }
    }
}

/// Turns the messages `M` the host's local player wrote into [`FromClient<M>`] from its
/// [`LocalClient`] entity, as if they had come over the network.
pub(crate) fn forward_local_messages<M: Message + Clone>(
    mut messages: MessageReader<M>,
    local: Query<(Entity, &ConnectedClient), With<LocalClient>>,
    mut from_clients: MessageWriter<FromClient<M>>,
) {
    let Ok((client, connected)) = local.single() else {
        messages.clear();
        return;
    };
    for message in messages.read() {
        from_clients.write(FromClient {
            client,
            client_id: connected.id(),
            message: message.clone(),
        });
    }
}
