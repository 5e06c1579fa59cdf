//! One entity per connected client: [`ConnectedClient`], connection bookkeeping, and closing a
//! connection with a reason.

use std::time::Duration;

use bevy::{platform::collections::HashMap, prelude::*};
use bevy_renet::{
    RenetServer, RenetServerEvent,
    renet::{self, Bytes, ClientId, ServerEvent},
};

use super::{
    client_replication::ClientReplication, config::ServerConfig, outgoing::send_to_client_in,
};
use crate::shared::{
    channels::RELIABLE_CHANNEL, disconnect::DisconnectReason, tick::ServerTick, wire,
};

/// A client that completed the handshake. Spawned by
/// [`ServerSet::Receive`](super::ServerSet::Receive) when the client's protocol matches, and
/// despawned when it disconnects; observe `On<Add, ConnectedClient>` to spawn its player.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
#[require(ClientReplication)]
pub struct ConnectedClient {
    id: ClientId,
}

impl ConnectedClient {
    pub(crate) const fn new(id: ClientId) -> Self {
        Self { id }
    }

    /// The transport's id for this client.
    pub const fn id(&self) -> ClientId {
        self.id
    }
}

/// Triggered when a [`ConnectedClient`] leaves, just before its entity is despawned.
#[derive(Event, Debug, Clone, PartialEq)]
pub struct ClientDisconnected {
    /// The client's entity (still alive while observers run).
    pub client: Entity,
    /// The transport's id for this client.
    pub client_id: ClientId,
    /// Why it left.
    pub reason: DisconnectReason,
}

/// Where each transport connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// Connected at the transport level since `since` (real time); waiting for its hello.
    Handshaking { since: Duration },
    /// Handshake done; its entity.
    Joined(Entity),
    /// Told why it is disconnected; the connection closes when the count reaches zero.
    Closing { frames_left: u32 },
}

/// Every transport connection by id. Written by the connection observer and by
/// [`ServerSet::Receive`](super::ServerSet::Receive).
#[derive(Resource, Default, Debug)]
pub(crate) struct ClientSlots {
    pub(crate) slots: HashMap<ClientId, Slot>,
}

/// Tracks renet's connects and disconnects.
pub(crate) fn track_connections(
    event: On<RenetServerEvent>,
    mut commands: Commands,
    mut slots: ResMut<ClientSlots>,
    time: Res<Time<Real>>,
) {
    match &event.0 {
        ServerEvent::ClientConnected { client_id } => {
            debug!("client {client_id} connected; waiting for its hello");
            let since = time.elapsed();
            slots.slots.insert(*client_id, Slot::Handshaking { since });
        }
        ServerEvent::ClientDisconnected { client_id, reason } => {
            if let Some(Slot::Joined(client)) = slots.slots.remove(client_id) {
                let reason = match reason {
                    // The transport dropped it: netcode's timeout ran out.
                    renet::DisconnectReason::Transport => DisconnectReason::ConnectionLost(
                        "no packets from the client within its timeout".into(),
                    ),
                    renet::DisconnectReason::DisconnectedByClient => DisconnectReason::ClientLeft,
                    other => DisconnectReason::Transport(other.to_string()),
                };
                info!("client {client_id} disconnected: {reason}");
                commands.trigger(ClientDisconnected {
                    client,
                    client_id: *client_id,
                    reason,
                });
                if let Ok(mut entity) = commands.get_entity(client) {
                    entity.despawn();
                }
            }
        }
    }
}

/// Accepts a client whose protocol matched: spawns its entity and welcomes it.
pub(crate) fn accept_client(world: &mut World, client_id: ClientId) {
    let client = world.spawn(ConnectedClient::new(client_id)).id();
    world
        .resource_mut::<ClientSlots>()
        .slots
        .insert(client_id, Slot::Joined(client));
    let tick = world.resource::<ServerTick>().0;
    send_to_client_in(
        world,
        client_id,
        RELIABLE_CHANNEL,
        Bytes::from(wire::encode_welcome(
            client_id,
            crate::shared::client_ids::client_alias(client_id),
            tick,
        )),
    );
    info!("client {client_id} joined as {client}");
}

/// Tells a client why it is being disconnected (unless it is the one leaving), removes its
/// entity, and schedules the close.
///
/// Everything else the client sends is ignored from now on; other clients are not affected.
pub(crate) fn close_client(world: &mut World, client_id: ClientId, reason: DisconnectReason) {
    if reason == DisconnectReason::ClientLeft {
        info!("client {client_id} left");
    } else {
        warn!("disconnecting client {client_id}: {reason}");
        send_to_client_in(
            world,
            client_id,
            RELIABLE_CHANNEL,
            Bytes::from(wire::encode_disconnect(&reason)),
        );
    }
    let frames_left = world.resource::<ServerConfig>().disconnect_grace_frames;
    let previous = world
        .resource_mut::<ClientSlots>()
        .slots
        .insert(client_id, Slot::Closing { frames_left });
    if let Some(Slot::Joined(client)) = previous {
        world.trigger(ClientDisconnected {
            client,
            client_id,
            reason,
        });
        if let Ok(entity) = world.get_entity_mut(client) {
            entity.despawn();
        }
    }
}

/// Closes connections that did not say hello within the handshake timeout: a bare transport
/// connection holds a slot, and no game code can see it.
pub(crate) fn close_silent_connections(world: &mut World) {
    let now = world.resource::<Time<Real>>().elapsed();
    let timeout = world.resource::<ServerConfig>().handshake_timeout;
    let silent: Vec<ClientId> = world
        .resource::<ClientSlots>()
        .slots
        .iter()
        .filter(|(_, slot)| {
            matches!(slot, Slot::Handshaking { since } if now.saturating_sub(*since) > timeout)
        })
        .map(|(client_id, _)| *client_id)
        .collect();
    for client_id in silent {
        let millis = timeout.as_millis() as u64;
        close_client(
            world,
            client_id,
            DisconnectReason::ConnectTimedOut { millis },
        );
    }
}

/// Disconnects clients that stopped acknowledging while keeping their connection alive (their
/// pending despawns reached
/// [`MAX_PENDING_DESPAWNS`](super::client_replication::MAX_PENDING_DESPAWNS)).
pub(crate) fn close_stalled_clients(
    world: &mut World,
    clients: &mut QueryState<(&ConnectedClient, &ClientReplication)>,
) {
    let ids: Vec<ClientId> = clients
        .iter(world)
        .filter(|(_, replication)| replication.stalled)
        .map(|(client, _)| client.id())
        .collect();
    for client_id in ids {
        let reason = DisconnectReason::ConnectionLost(format!(
            "the client acknowledged no despawn for {} ticks while more than {} waited",
            super::client_replication::DESPAWN_STALL_TICKS,
            super::client_replication::MAX_PENDING_DESPAWNS
        ));
        close_client(world, client_id, reason);
    }
}

/// Closes connections whose grace period ran out.
pub(crate) fn finish_closing(mut slots: ResMut<ClientSlots>, mut server: ResMut<RenetServer>) {
    for (client_id, slot) in slots.slots.iter_mut() {
        if let Slot::Closing { frames_left } = slot {
            if *frames_left == 0 {
                server.disconnect(*client_id);
            } else {
                *frames_left -= 1;
            }
        }
    }
}

/// Disconnects a client on purpose. Trigger it with `commands.trigger(KickClient { .. })`; the
/// client learns [`DisconnectReason::Kicked`] with the reason, and [`ClientDisconnected`] fires.
#[derive(Event, Debug, Clone, PartialEq, Eq)]
pub struct KickClient {
    /// The client's [`ConnectedClient`] entity.
    pub client: Entity,
    /// Why, in words the player will see.
    pub reason: String,
}

/// Carries out [`KickClient`].
pub(crate) fn kick_client(event: On<KickClient>, mut commands: Commands) {
    let KickClient { client, reason } = event.event().clone();
    commands.queue(move |world: &mut World| {
        let Some(connected) = world.get::<ConnectedClient>(client).copied() else {
            warn!("cannot kick {client}: not a connected client");
            return;
        };
        close_client(world, connected.id(), DisconnectReason::Kicked(reason));
    });
}
