//! Sending game messages ([`ToClients`]) to their clients, after the replication they follow.
//!
//! Messages written in a frame are queued, and sent right after the next replication send with
//! its tick; a client delivers such a message only once it holds every change up to that tick
//! (the watermark of state frames). So a message never arrives before the entity it names or
//! the change it announces, whatever the send interval or frame rate.

use bevy::prelude::*;
use bevy_renet::{RenetServer, renet::Bytes};
use serde::{Serialize, de::DeserializeOwned};

use super::{
    budget::FRAME_OVERHEAD_BYTES, client_replication::ClientReplication,
    connected_client::ConnectedClient, local_client::LocalClient,
    pack_frames::MESSAGE_FOLLOW_UP_SENDS, replicated_world::ReplicatedWorld, send_plan::SendPlan,
};
use crate::shared::{
    codec::{decode_serde, encode_serde},
    messages::{FromClient, MessageIndex, ToClient, ToClients},
    wire,
};

/// Messages `M` waiting for the next replication send, with their remote recipients.
#[derive(Resource)]
pub(crate) struct MessageOutbox<M> {
    queued: Vec<(Vec<Entity>, M)>,
}

impl<M> Default for MessageOutbox<M> {
    fn default() -> Self {
        Self { queued: Vec::new() }
    }
}

/// A connected client as a message recipient: remote ones have replication state.
type ClientTarget = (
    Entity,
    Option<&'static mut ClientReplication>,
    Has<LocalClient>,
);

/// Drains `ToClients<M>` every frame: the host's [`LocalClient`] gets its copy as a plain `M` at
/// once, remote clients' copies wait in the outbox for the next replication send (which then
/// carries a frame to each of them, so the watermark they wait for arrives with them).
pub(crate) fn queue_server_messages<M: Message + Serialize + DeserializeOwned>(
    mut messages: ResMut<Messages<ToClients<M>>>,
    mut outbox: ResMut<MessageOutbox<M>>,
    mut clients: Query<ClientTarget, With<ConnectedClient>>,
    replicated: Res<ReplicatedWorld>,
    mut local: MessageWriter<M>,
) {
    for message in messages.drain() {
        let mut remote = Vec::new();
        let mut for_local = false;
        for (client, replication, is_local) in &mut clients {
            let sees = |entity: Entity| {
                is_local
                    || replicated.slot_of(entity).is_some_and(|slot| {
                        replication.as_ref().is_some_and(|replication| {
                            replication
                                .slots
                                .get(slot as usize)
                                .is_some_and(|state| state.visible && state.entity == entity)
                        })
                    })
            };
            if !message.mode.includes_when(client, sees) {
                continue;
            }
            if is_local {
                for_local = true;
            } else if let Some(mut replication) = replication {
                replication.message_sends_left = MESSAGE_FOLLOW_UP_SENDS;
                remote.push(client);
            }
        }
        match (for_local, remote.is_empty()) {
            (true, false) => {
                // Message types need not be `Clone`: the host's copy goes through the codec.
                let mut bytes = Vec::new();
                match encode_serde(&message.message, &mut bytes)
                    .map_err(|error| error.to_string())
                    .and_then(|()| decode_serde::<M>(&bytes).map_err(|error| error.to_string()))
                {
                    Ok(copy) => {
                        local.write(copy);
                    }
                    Err(error) => error!("not sending a message: {error}"),
                }
                outbox.queued.push((remote, message.message));
            }
            (true, true) => {
                local.write(message.message);
            }
            (false, false) => outbox.queued.push((remote, message.message)),
            (false, true) => {}
        }
    }
}

/// Sends the queued messages `M`, encoded once, stamped with this send's tick.
pub(crate) fn send_server_messages<M: Message + Serialize>(
    plan: Res<SendPlan>,
    mut outbox: ResMut<MessageOutbox<M>>,
    index: Res<MessageIndex<ToClient, M>>,
    mut server: ResMut<RenetServer>,
    mut clients: Query<(Entity, &ConnectedClient, &mut ClientReplication), Without<LocalClient>>,
) {
    let Some(tick) = plan.tick else {
        return;
    };
    for (recipients, message) in outbox.queued.drain(..) {
        let mut payload = Vec::new();
        if let Err(error) = encode_serde(&message, &mut payload) {
            error!("not sending a message: {error}");
            continue;
        }
        let frame = Bytes::from(wire::encode_server_message(index.index, tick, &payload));
        for client in recipients {
            // A recipient may have left since the message was written.
            if let Ok((_, connected, mut replication)) = clients.get_mut(client) {
                replication.budget.spend(frame.len() + FRAME_OVERHEAD_BYTES);
                trace!(
                    "send message {} to client {}: {} bytes",
                    index.index,
                    connected.id(),
                    frame.len()
                );
                server.send_message(connected.id(), index.channel.id(), frame.clone());
            }
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
