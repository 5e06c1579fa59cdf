//! Reading what clients sent: handshakes, acks and game messages.

use bevy::prelude::*;
use bevy_renet::{RenetServer, renet::ClientId};

use super::{
    client_replication::ClientReplication,
    config::ServerConfig,
    connected_client::{ClientSlots, Slot, accept_client, close_client},
};
use crate::shared::{
    channels::{RELIABLE_CHANNEL, UNRELIABLE_CHANNEL},
    disconnect::DisconnectReason,
    input::InputRegistry,
    messages::MessageRegistry,
    protocol::ProtocolHash,
    wire::ClientFrame,
};

/// Drains every client's channels. A client whose data is malformed, oversized or out of
/// place is disconnected with the reason; the others are served as usual.
pub(crate) fn receive_from_clients(world: &mut World) {
    world.resource_scope(|world, mut server: Mut<RenetServer>| {
        for client_id in server.clients_id() {
            for channel in [RELIABLE_CHANNEL, UNRELIABLE_CHANNEL] {
                while let Some(bytes) = server.receive_message(client_id, channel) {
                    let Some(&slot) = world.resource::<ClientSlots>().slots.get(&client_id) else {
                        continue;
                    };
                    if let Err(reason) = handle_frame(world, &mut server, client_id, slot, &bytes) {
                        close_client(world, &mut server, client_id, reason);
                    }
                }
            }
        }
    });
}

fn handle_frame(
    world: &mut World,
    server: &mut RenetServer,
    client_id: ClientId,
    slot: Slot,
    bytes: &[u8],
) -> Result<(), DisconnectReason> {
    let limit = world.resource::<ServerConfig>().max_client_message_bytes;
    if bytes.len() > limit {
        return Err(DisconnectReason::MessageTooLarge {
            size: bytes.len(),
            limit,
        });
    }
    let malformed =
        |error: &dyn core::fmt::Display| DisconnectReason::MalformedData(error.to_string());
    let frame = ClientFrame::decode(bytes).map_err(|error| malformed(&error))?;
    match (slot, frame) {
        (Slot::Closing { .. }, _) => Ok(()),
        (_, ClientFrame::Goodbye) => Err(DisconnectReason::ClientLeft),
        (Slot::Handshaking, ClientFrame::Hello { protocol }) => {
            let server_protocol = world.resource::<ProtocolHash>().value();
            if protocol != server_protocol {
                return Err(DisconnectReason::ProtocolMismatch {
                    server: server_protocol,
                    client: protocol,
                });
            }
            accept_client(world, server, client_id);
            Ok(())
        }
        (Slot::Handshaking, _) => Err(malformed(&"data before the handshake")),
        (Slot::Joined(_), ClientFrame::Hello { .. }) => Err(malformed(&"a second handshake")),
        (Slot::Joined(client), ClientFrame::Acks(ids)) => {
            if let Some(mut replication) = world.get_mut::<ClientReplication>(client) {
                replication.acknowledge(&ids);
            }
            Ok(())
        }
        (
            Slot::Joined(client),
            ClientFrame::Inputs {
                index,
                newest,
                inputs,
            },
        ) => {
            let (name, receive) = *world
                .resource::<InputRegistry>()
                .inputs
                .get(index as usize)
                .ok_or_else(|| malformed(&format_args!("unknown input index {index}")))?;
            receive(world, client, newest, &inputs)
                .map_err(|error| malformed(&format_args!("input {name}: {error}")))
        }
        (Slot::Joined(client), ClientFrame::Message { index, payload }) => {
            let kind = world
                .resource::<MessageRegistry>()
                .client_message(index)
                .map_err(|error| malformed(&error))?;
            let (name, receive) = (kind.name, kind.receive);
            receive(world, client, client_id, payload)
                .map_err(|error| malformed(&format_args!("message {name}: {error}")))
        }
    }
}
