//! The server side: receive from clients, count ticks, collect changes, send replication and
//! messages. Everything runs only while a [`RenetServer`] resource exists.

mod change_log;
mod client_replication;
mod collect_changes;
mod config;
mod connected_client;
mod input;
mod local_client;
mod receive;
mod replicated;
mod replicated_world;
mod send_messages;
mod send_replication;
mod tick;
mod value_cache;

use bevy::prelude::*;
use bevy_renet::{RenetReceive, RenetSend, RenetServer, RenetServerPlugin};

pub use config::ServerConfig;
pub use connected_client::{ClientDisconnected, ConnectedClient, KickClient};
pub use input::{ClientInput, InputStats, MAX_INPUT_LEAD_TICKS};
pub(crate) use input::{apply_inputs, apply_local_input, receive_inputs};
pub use local_client::{LOCAL_CLIENT_ID, LocalClient, spawn_local_client};
pub use replicated::Replicated;
pub use send_replication::MAX_UPDATE_FRAME_BYTES;

pub(crate) use change_log::{ChangeDetectors, detector, observe_component};
pub(crate) use send_messages::{forward_local_messages, send_server_messages};

use crate::shared::tick::ServerTick;

/// The server's system sets, in pipeline order.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerSet {
    /// `PreUpdate`, after [`RenetReceive`]: handshakes, acks, and client messages written as
    /// [`FromClient`](crate::shared::messages::FromClient). Read client messages after it.
    Receive,
    /// `FixedFirst`: advances [`ServerTick`]. Game simulation runs after it, in `FixedUpdate`.
    Tick,
    /// `FixedPreUpdate`: writes each client's [`ClientInput`] for this tick.
    ApplyInputs,
    /// `PostUpdate`, before [`RenetSend`]: replication of this tick, then
    /// [`ToClients`](crate::shared::messages::ToClients) messages, then closing connections
    /// of disconnected clients. Change replicated state before it.
    Send,
}

/// Steps inside [`ServerSet::Send`], in order.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum SendStep {
    Replication,
    Messages,
    Close,
}

/// Server-authoritative replication. Part of [`NetsyncPlugins`](crate::NetsyncPlugins).
#[derive(Default)]
pub struct ServerPlugin {
    /// Initial [`ServerConfig`].
    pub config: ServerConfig,
}

impl Plugin for ServerPlugin {
    fn build(&self, app: &mut App) {
        if !app.is_plugin_added::<RenetServerPlugin>() {
            app.add_plugins(RenetServerPlugin);
        }
        let server_exists = resource_exists::<RenetServer>;
        app.insert_resource(self.config.clone())
            .init_resource::<ServerTick>()
            .init_resource::<connected_client::ClientSlots>()
            .init_resource::<change_log::StructuralLog>()
            .init_resource::<ChangeDetectors>()
            .init_resource::<replicated_world::ReplicatedWorld>()
            .init_resource::<send_replication::SendState>()
            .configure_sets(
                PreUpdate,
                ServerSet::Receive.after(RenetReceive).run_if(server_exists),
            )
            .configure_sets(FixedFirst, ServerSet::Tick.run_if(server_exists))
            .configure_sets(FixedPreUpdate, ServerSet::ApplyInputs.run_if(server_exists))
            .configure_sets(
                PostUpdate,
                ServerSet::Send.before(RenetSend).run_if(server_exists),
            )
            .configure_sets(
                PostUpdate,
                (SendStep::Replication, SendStep::Messages, SendStep::Close)
                    .chain()
                    .in_set(ServerSet::Send),
            )
            .add_observer(connected_client::track_connections)
            .add_observer(connected_client::kick_client)
            .add_observer(change_log::log_started)
            .add_observer(change_log::log_stopped)
            .add_systems(
                PreUpdate,
                receive::receive_from_clients.in_set(ServerSet::Receive),
            )
            .add_systems(FixedFirst, tick::advance_tick.in_set(ServerSet::Tick))
            .add_systems(
                PostUpdate,
                (
                    send_replication::send_replication.in_set(SendStep::Replication),
                    input::send_input_timing.in_set(SendStep::Messages),
                    connected_client::finish_closing.in_set(SendStep::Close),
                    change_log::clear_log_without_server.run_if(not(server_exists)),
                ),
            );
    }
}

/// Forgets every remote client (triggering [`ClientDisconnected`] with
/// [`DisconnectReason::ServerShutdown`](crate::shared::disconnect::DisconnectReason)) and
/// everything sent so far, so the next server start replicates the world from scratch.
#[cfg(feature = "netcode")]
pub(crate) fn reset_server(world: &mut World) {
    use crate::shared::disconnect::DisconnectReason;

    world
        .resource_mut::<connected_client::ClientSlots>()
        .slots
        .clear();
    let mut remote = world.query_filtered::<(Entity, &ConnectedClient), Without<LocalClient>>();
    let clients: Vec<(Entity, u64)> = remote
        .iter(world)
        .map(|(entity, client)| (entity, client.id()))
        .collect();
    for (client, client_id) in clients {
        world.trigger(ClientDisconnected {
            client,
            client_id,
            reason: DisconnectReason::ServerShutdown,
        });
        world.despawn(client);
    }
    world.insert_resource(replicated_world::ReplicatedWorld::default());
    world.insert_resource(send_replication::SendState::default());
    world.insert_resource(change_log::StructuralLog::default());
    world.resource_mut::<ChangeDetectors>().last_run = None;
}
