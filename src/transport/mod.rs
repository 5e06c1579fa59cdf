//! Real networking (feature `netcode`): renet's netcode UDP transport with one call per side,
//! secure connect tokens, reasons a player can understand, and reconnects.
//!
//! ```no_run
//! use bevy::prelude::*;
//! use bevy_netsync::{prelude::*, transport::{self, ClientSettings, ServerSettings}};
//!
//! // Server
//! let mut server = App::new();
//! server.add_plugins((MinimalPlugins, NetsyncPlugins::default()));
//! let addresses = transport::start_server(
//!     server.world_mut(),
//!     &ServerSettings { bind: "0.0.0.0:5000".into(), ..default() },
//! )
//! .expect("port 5000 is free");
//!
//! // Client
//! let mut client = App::new();
//! client.add_plugins((MinimalPlugins, NetsyncPlugins::default()));
//! transport::connect(client.world_mut(), ClientSettings::unsecure("127.0.0.1:5000"))
//!     .expect("the address resolves");
//! ```

mod address;
#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
mod client_transport;
mod datagram_filter;
#[cfg(feature = "server")]
mod dropped_rate;
mod error;
#[cfg(feature = "server")]
mod netcode_results;
mod replay;
#[cfg(feature = "server")]
pub(crate) mod request_gate;
mod seal;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
mod server_transport;
mod stats;
mod token;

use bevy::prelude::*;
use bevy_renet::RenetSend;
#[cfg(feature = "client")]
use bevy_renet::{RenetClient, RenetClientPlugin, RenetReceive};
#[cfg(feature = "server")]
use bevy_renet::{RenetReceive as ServerReceive, RenetServer, RenetServerPlugin};

pub use address::resolve;
pub use bevy_renet::netcode::ConnectToken;
#[cfg(feature = "client")]
pub use client::{
    ClientSecurity, ClientSettings, ReconnectPolicy, Reconnecting, connect, disconnect,
    random_client_id,
};
#[cfg(feature = "client")]
pub use client_transport::ClientTransport;
pub use error::TransportError;
#[cfg(feature = "server")]
pub use server::{
    ClientUserData, DEFAULT_RECEIVE_BUFFER_BYTES, ServerAddresses, ServerSecurity, ServerSettings,
    start_server, stop_server,
};
#[cfg(feature = "server")]
pub use server_transport::ServerTransport;
pub use stats::TransportStats;
pub use token::{
    PrivateKey, TokenIssuer, UNSECURE_TOKEN_SECONDS, UserData, from_hex, generate_private_key,
    private_key_from_hex, text_from_user_data, to_hex, token_from_bytes, token_to_bytes, unix_now,
    user_data_from_text,
};

/// The port [`ServerSettings::default`] binds.
pub const DEFAULT_PORT: u16 = 5000;

/// The netcode protocol id used unless a game sets its own. Netcode drops packets of another
/// protocol id silently, so games keep this fixed across versions and let the
/// [`ProtocolHash`](crate::shared::protocol::ProtocolHash) handshake report mismatches.
pub const DEFAULT_PROTOCOL_ID: u64 = 0x6e65_7473_796e_6301;

/// Most datagrams a transport, server or client, reads from its socket in one update. What is
/// left waits in the system's buffer for the next frame, and a flood beyond the buffer is
/// dropped by the system: the game loop always moves on. About 130 frames' worth of packets
/// from 1,024 clients.
pub const MAX_READS_PER_UPDATE: usize = 8_192;

/// Most clients one netcode server accepts.
pub const MAX_CLIENTS: usize = 1024;

/// Netcode transport glue. Part of [`NetsyncPlugins`](crate::NetsyncPlugins) with the
/// `netcode` feature.
///
/// It carries datagrams for the [`ServerPlugin`](crate::server::ServerPlugin) and the
/// [`ClientPlugin`](crate::client::ClientPlugin) added before it, so an App may leave either
/// out (see [`NetsyncPlugins`](crate::NetsyncPlugins)).
#[derive(Default)]
pub struct NetcodeTransportPlugin;

/// The halves [`NetcodeTransportPlugin`] registered: those of the side plugins added before it.
#[derive(Resource, Default)]
struct TransportHalves {
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    server: bool,
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    client: bool,
}

impl Plugin for NetcodeTransportPlugin {
    fn build(&self, app: &mut App) {
        // Each half serves the plugin it carries datagrams for, so that an App without one of
        // them (a dedicated server that disables `ClientPlugin`) has no systems wanting its
        // resources. `NetsyncPlugins` adds this plugin after both.
        #[cfg_attr(not(any(feature = "server", feature = "client")), allow(unused_mut))]
        let mut halves = TransportHalves::default();
        #[cfg(feature = "server")]
        if app.is_plugin_added::<crate::server::ServerPlugin>() {
            halves.server = true;
            let serving = resource_exists::<server_transport::ServerTransport>
                .and_then(resource_exists::<RenetServer>);
            app.add_observer(server::attach_user_data)
                .add_systems(
                    PreUpdate,
                    server_transport::receive_datagrams
                        .in_set(ServerReceive)
                        .after(RenetServerPlugin::update_system)
                        .before(RenetServerPlugin::emit_server_events_system)
                        .run_if(serving.clone()),
                )
                .add_systems(
                    PreUpdate,
                    dropped_rate::record_dropped_rate
                        .after(server_transport::receive_datagrams)
                        .run_if(serving.clone()),
                )
                .add_systems(
                    PostUpdate,
                    server_transport::send_datagrams
                        .in_set(RenetSend)
                        .run_if(serving.clone()),
                )
                .add_systems(
                    Last,
                    (
                        server::goodbye_on_exit.run_if(resource_exists::<RenetServer>),
                        server_transport::disconnect_on_exit.run_if(serving),
                    )
                        .chain(),
                );
        }
        #[cfg(feature = "client")]
        if app.is_plugin_added::<crate::client::ClientPlugin>() {
            halves.client = true;
            let connected = resource_exists::<client_transport::ClientTransport>
                .and_then(resource_exists::<RenetClient>);
            app.add_systems(
                PreUpdate,
                client_transport::receive_datagrams
                    .in_set(RenetReceive)
                    .after(RenetClientPlugin::update_system)
                    .run_if(connected.clone()),
            )
            .add_systems(
                PostUpdate,
                client_transport::send_datagrams
                    .in_set(RenetSend)
                    .run_if(connected.clone()),
            )
            .add_systems(
                PreUpdate,
                (
                    (
                        client::explain_netcode_disconnect,
                        client::enforce_connect_timeout,
                    )
                        .chain()
                        .after(RenetReceive)
                        .before(crate::client::ClientSet::Receive),
                    client::reconnect.after(crate::client::ClientSet::Receive),
                ),
            )
            .add_systems(
                Last,
                (
                    client::goodbye_on_exit,
                    client_transport::disconnect_on_exit,
                )
                    .chain()
                    .run_if(connected),
            );
        }
        app.insert_resource(halves);
    }

    fn finish(&self, app: &mut App) {
        // A side plugin added after this one has no datagrams carried for it: say so at
        // startup rather than leave its connections silent.
        let halves = app.world().resource::<TransportHalves>();
        #[cfg(feature = "server")]
        let server_late = app.is_plugin_added::<crate::server::ServerPlugin>() && !halves.server;
        #[cfg(not(feature = "server"))]
        let server_late = false;
        #[cfg(feature = "client")]
        let client_late = app.is_plugin_added::<crate::client::ClientPlugin>() && !halves.client;
        #[cfg(not(feature = "client"))]
        let client_late = false;
        if server_late || client_late {
            panic!(
                "bevy_netsync: NetcodeTransportPlugin was added before ServerPlugin or \
                 ClientPlugin, so it carries no datagrams for them. Add it after them \
                 (NetsyncPlugins does)."
            );
        }
    }
}
