//! The client side: connection state, receiving and applying replication, acks and messages.
//! Everything runs only while a [`RenetClient`] resource exists.

mod connection;
mod receive;
mod send;
mod session;

use bevy::{prelude::*, state::app::StatesPlugin};
use bevy_renet::{RenetClient, RenetClientPlugin, RenetReceive, RenetSend};

pub use connection::{ClientState, LastDisconnect};
pub use receive::FromServer;

pub(crate) use send::send_client_messages;
#[cfg(feature = "netcode")]
pub(crate) use session::{ClientSession, Handshake};

/// The client's system sets, in pipeline order.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientSet {
    /// `PreUpdate`, after [`RenetReceive`]: connection state, then structural changes and
    /// component values from the server, then server messages. Read replicated state after it.
    Receive,
    /// `PostUpdate`, before [`RenetSend`]: client messages, then acks.
    Send,
}

/// Steps inside [`ClientSet::Send`], in order.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ClientSendStep {
    Messages,
    Acks,
}

/// Receives replication from a server. Part of [`NetsyncPlugins`](crate::NetsyncPlugins).
#[derive(Default)]
pub struct ClientPlugin;

impl Plugin for ClientPlugin {
    fn build(&self, app: &mut App) {
        if !app.is_plugin_added::<RenetClientPlugin>() {
            app.add_plugins(RenetClientPlugin);
        }
        if !app.is_plugin_added::<StatesPlugin>() {
            app.add_plugins(StatesPlugin);
        }
        let client_exists = resource_exists::<RenetClient>;
        app.init_state::<ClientState>()
            .init_resource::<LastDisconnect>()
            .init_resource::<session::ClientSession>()
            .init_resource::<crate::shared::entity_map::ServerEntityMap>()
            .configure_sets(PreUpdate, ClientSet::Receive.after(RenetReceive))
            .configure_sets(
                PostUpdate,
                ClientSet::Send.before(RenetSend).run_if(client_exists),
            )
            .configure_sets(
                PostUpdate,
                (ClientSendStep::Messages, ClientSendStep::Acks)
                    .chain()
                    .in_set(ClientSet::Send),
            )
            .add_systems(
                PreUpdate,
                (
                    connection::update_connection,
                    receive::receive_from_server.run_if(client_exists),
                )
                    .chain()
                    .in_set(ClientSet::Receive),
            )
            .add_systems(PostUpdate, send::send_acks.in_set(ClientSendStep::Acks));
    }
}
