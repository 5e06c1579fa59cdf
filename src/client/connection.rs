//! The client's connection lifecycle: [`ClientState`], the handshake, and cleaning up after a
//! disconnect.

use bevy::{ecs::system::SystemParam, prelude::*};
use bevy_renet::{RenetClient, renet::Bytes};

use super::{
    component_receivers::ComponentReceivers,
    held_messages::HeldMessages,
    replicas::Replicas,
    session::{ClientSession, Handshake},
    timeline::ClientTimeline,
};
use crate::shared::{
    capture::NetCapture, channels::RELIABLE_CHANNEL, disconnect::DisconnectReason,
    entity_map::ServerEntityMap, protocol::ProtocolHash, registry::ResourceRegistry, wire,
};

/// Where the client's connection stands. Set by [`ClientSet::Receive`](super::ClientSet::Receive).
#[derive(States, Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientState {
    /// No connection (never connected, or lost; see [`LastDisconnect`]).
    #[default]
    Disconnected,
    /// The transport is connecting or the handshake is under way.
    Connecting,
    /// The server accepted the handshake; replication is flowing.
    Connected,
}

/// Why the client's last connection ended. Set by [`ClientSet::Receive`](super::ClientSet::Receive)
/// when the state becomes [`ClientState::Disconnected`].
#[derive(Resource, Debug, Default, Clone, PartialEq)]
pub struct LastDisconnect(pub Option<DisconnectReason>);

/// What a connection leaves behind on the client.
#[derive(SystemParam)]
pub(crate) struct ConnectionTraces<'w> {
    session: ResMut<'w, ClientSession>,
    map: ResMut<'w, ServerEntityMap>,
    last_disconnect: ResMut<'w, LastDisconnect>,
    timeline: ResMut<'w, ClientTimeline>,
    replicas: ResMut<'w, Replicas>,
    held: ResMut<'w, HeldMessages>,
}

/// Follows the transport: sends the hello once connected, and on disconnect records the reason,
/// despawns everything the server replicated and resets the session.
pub(crate) fn update_connection(
    mut commands: Commands,
    client: Option<ResMut<RenetClient>>,
    state: Res<State<ClientState>>,
    mut next_state: ResMut<NextState<ClientState>>,
    mut traces: ConnectionTraces,
    protocol: Res<ProtocolHash>,
    mut capture: Option<ResMut<NetCapture>>,
) {
    let ConnectionTraces {
        session,
        map,
        last_disconnect,
        timeline,
        replicas,
        held,
    } = &mut traces;
    match client {
        Some(mut client) if !client.is_disconnected() => {
            if client.is_connected() && session.handshake == Handshake::Idle {
                let hello = Bytes::from(wire::encode_hello(protocol.value()));
                if let Some(capture) = capture.as_deref_mut() {
                    capture.client_sent(RELIABLE_CHANNEL, &hello);
                }
                client.send_message(RELIABLE_CHANNEL, hello);
                session.handshake = Handshake::HelloSent;
            }
            if *state.get() == ClientState::Disconnected {
                next_state.set(ClientState::Connecting);
            }
        }
        client => {
            if *state.get() == ClientState::Disconnected && session.handshake == Handshake::Idle {
                return;
            }
            let reason = session.closing_reason.take().unwrap_or_else(|| {
                let detail = client
                    .and_then(|client| client.disconnect_reason())
                    .map_or_else(|| "the client was removed".to_string(), |r| r.to_string());
                DisconnectReason::Transport(detail)
            });
            info!("disconnected: {reason}");
            last_disconnect.0 = Some(reason);
            if let Some(capture) = capture.as_deref_mut() {
                capture.client_left();
            }
            for (_, entity) in map.iter() {
                if let Ok(mut entity) = commands.get_entity(entity) {
                    entity.despawn();
                }
            }
            map.clear();
            let resources: Vec<usize> = replicas
                .resources
                .iter()
                .enumerate()
                .filter(|(_, held)| held.is_some())
                .map(|(index, _)| index)
                .collect();
            commands.queue(move |world: &mut World| forget_replication(world, &resources));
            **session = ClientSession::default();
            **timeline = ClientTimeline::default();
            **replicas = Replicas::default();
            **held = HeldMessages::default();
            next_state.set(ClientState::Disconnected);
        }
    }
}

/// Removes the replicated resources a connection left, and the value histories of its entities.
fn forget_replication(world: &mut World, resources: &[usize]) {
    for &index in resources {
        let remove = world
            .resource::<ResourceRegistry>()
            .resources
            .get(index)
            .map(|resource| resource.remove);
        if let Some(remove) = remove {
            remove(world);
        }
    }
    for receiver in &mut world.resource_mut::<ComponentReceivers>().receivers {
        receiver.decoder.clear();
    }
}
