//! Sending game messages ([`ToClients`]) to their clients, after the replication they follow.
//!
//! Messages written in a frame are queued, and their remote recipients are decided at the next
//! replication send, once that send knows who sees what ([`decide_message_recipients`]): a
//! message about an entity spawned, or entering a client's view, in the same frame reaches
//! exactly the clients that receive the entity (or held it until it was despawned or left their
//! view). It goes at that send, stamped with its tick, before the replication (within the
//! budget, which replication then spends); a client delivers such a message only once it holds
//! every change up to that tick (the watermark of state frames). So a message never arrives before the entity it names or the
//! change it announces, whatever the send interval or frame rate.

use bevy::prelude::*;
use bevy_renet::{RenetServer, renet::Bytes};
use serde::{Serialize, de::DeserializeOwned};

use super::{
    budget::FRAME_OVERHEAD_BYTES, client_replication::ClientReplication,
    connected_client::ConnectedClient, local_client::LocalClient, outgoing::send_to_client,
    pack_frames::MESSAGE_FOLLOW_UP_SENDS, replicated_world::ReplicatedWorld, send_plan::SendPlan,
};
use crate::shared::{
    capture::NetCapture,
    codec::{decode_serde, encode_serde},
    messages::{FromClient, MessageIndex, SendMode, ToClient, ToClients},
    wire,
};

/// Messages `M` waiting for the next replication send.
#[derive(Resource)]
pub(crate) struct MessageOutbox<M> {
    /// Written since the last send; their remote recipients are decided at the send.
    written: Vec<(SendMode, M)>,
    /// With their remote recipients, stamped with this send's tick (delivered after its replication).
    queued: Vec<(Vec<Entity>, M)>,
}

impl<M: Send + Sync + 'static> MessageOutbox<M> {
    /// Forgets every message waiting (the server stops: the next session's clients must not
    /// receive them).
    pub(crate) fn clear(world: &mut World) {
        if let Some(mut outbox) = world.get_resource_mut::<Self>() {
            outbox.written.clear();
            outbox.queued.clear();
        }
    }
}

/// How to empty each message type's [`MessageOutbox`], for [`reset_server`](super::reset_server).
#[derive(Resource, Default)]
pub(crate) struct OutboxResets(pub(crate) Vec<fn(&mut World)>);

impl<M> Default for MessageOutbox<M> {
    fn default() -> Self {
        Self {
            written: Vec::new(),
            queued: Vec::new(),
        }
    }
}

/// Drains `ToClients<M>` every frame: the host's [`LocalClient`] (which sees everything) gets
/// its copy as a plain `M` at once; the message waits in the outbox for the next replication
/// send, which decides its remote recipients ([`decide_message_recipients`]).
pub(crate) fn queue_server_messages<M: Message + Serialize + DeserializeOwned>(
    mut messages: ResMut<Messages<ToClients<M>>>,
    mut outbox: ResMut<MessageOutbox<M>>,
    clients: Query<(Entity, Has<LocalClient>), With<ConnectedClient>>,
    mut local: MessageWriter<M>,
) {
    for message in messages.drain() {
        let (mut for_local, mut maybe_remote) = (false, false);
        for (client, is_local) in &clients {
            // Who sees an entity is known at the send; until then, anyone may.
            if message.mode.includes_when(client, |_| true) {
                if is_local {
                    for_local = true;
                } else {
                    maybe_remote = true;
                }
            }
        }
        match (for_local, !maybe_remote) {
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
                outbox.written.push((message.mode, message.message));
            }
            (true, true) => {
                local.write(message.message);
            }
            (false, false) => outbox.written.push((message.mode, message.message)),
            (false, true) => {}
        }
    }
}

/// Remote connected clients (the host's own sees everything and was served at once).
type RemoteClients = (With<ConnectedClient>, Without<LocalClient>);

/// On send frames, after relevance: each message written since the last send goes to the
/// remote clients its mode names now (for [`SendMode::Seeing`], those whose table holds the
/// entity as visible in this send), and makes sure a frame goes to each of them.
pub(crate) fn decide_message_recipients<M: Message>(
    plan: Res<SendPlan>,
    mut outbox: ResMut<MessageOutbox<M>>,
    mut clients: Query<(Entity, &mut ClientReplication), RemoteClients>,
    replicated: Res<ReplicatedWorld>,
) {
    if plan.tick.is_none() || outbox.written.is_empty() {
        return;
    }
    let outbox = &mut *outbox;
    for (mode, message) in outbox.written.drain(..) {
        let mut remote = Vec::new();
        for (client, mut replication) in &mut clients {
            // Those that see it now, and those it just left (despawned, or out of their view,
            // this send or lately): the message tells them about what they held.
            let sees = |entity: Entity| {
                replication.despawns.contains_key(&entity)
                    || replicated.slot_of(entity).is_some_and(|slot| {
                        replication
                            .slots
                            .get(slot as usize)
                            .is_some_and(|state| state.visible && state.entity == entity)
                    })
            };
            if mode.includes_when(client, sees) {
                replication.message_sends_left = MESSAGE_FOLLOW_UP_SENDS;
                remote.push(client);
            }
        }
        if !remote.is_empty() {
            outbox.queued.push((remote, message));
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
    mut capture: Option<ResMut<NetCapture>>,
) {
    let Some(tick) = plan.tick else {
        return;
    };
    // A message that does not fit what the trailing second leaves of a client's budget waits
    // for a later send, and so does every later message to that client (order holds).
    let mut waiting: Vec<(Vec<Entity>, M)> = Vec::new();
    let mut blocked: Vec<Entity> = Vec::new();
    for (recipients, message) in outbox.queued.drain(..) {
        let mut payload = Vec::new();
        if let Err(error) = encode_serde(&message, &mut payload) {
            error!("not sending a message: {error}");
            continue;
        }
        let frame = Bytes::from(wire::encode_server_message(index.index, tick, &payload));
        let mut held = Vec::new();
        for client in recipients {
            // A recipient may have left since the message was written.
            let Ok((_, connected, mut replication)) = clients.get_mut(client) else {
                continue;
            };
            let cost = frame.len() + FRAME_OVERHEAD_BYTES;
            let budget = &mut replication.budget;
            let fits = !blocked.contains(&client)
                && (budget.try_spend(cost) || {
                    // Larger than a whole second's budget: it goes alone in its window.
                    let alone = budget.window_left() == budget.rate();
                    if alone {
                        budget.spend(cost);
                    }
                    alone
                });
            if !fits {
                // Replication leaves room for it from now on (a whole second's worth at most:
                // a larger message then goes alone once the window is empty).
                let need = cost.min(replication.budget.rate());
                replication.reserved_for_messages = replication.reserved_for_messages.max(need);
                blocked.push(client);
                held.push(client);
                continue;
            }
            replication.message_sends_left = MESSAGE_FOLLOW_UP_SENDS;
            trace!(
                "send message {} to client {}: {} bytes",
                index.index,
                connected.id(),
                frame.len()
            );
            send_to_client(
                &mut server,
                capture.as_deref_mut(),
                connected.id(),
                index.channel.id(),
                frame.clone(),
            );
        }
        if !held.is_empty() {
            waiting.push((held, message));
        }
    }
    outbox.queued = waiting;
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
