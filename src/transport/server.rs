//! Starting and stopping a netcode UDP server.

use std::net::{SocketAddr, UdpSocket};

use bevy::prelude::*;
use bevy_renet::{
    RenetServer,
    netcode::{ServerAuthentication, ServerConfig},
    renet::Bytes,
};

use renetcode::NetcodeServer;

use super::{
    DEFAULT_PORT, DEFAULT_PROTOCOL_ID, MAX_CLIENTS, TransportError,
    address::{default_public_address, resolve},
    request_gate::RequestGate,
    server_transport::ServerTransport,
    stats::TransportStats,
    token::{PrivateKey, UserData, unix_now},
};
use crate::{
    server::{ConnectedClient, outgoing::send_to_client, reset_server},
    shared::{
        capture::NetCapture,
        channels::{RELIABLE_CHANNEL, connection_config},
        disconnect::DisconnectReason,
        wire,
    },
};

/// How a server accepts clients.
#[derive(Clone, Debug, Default)]
pub enum ServerSecurity {
    /// Anyone who knows the address may connect (development, LAN games).
    #[default]
    Unsecure,
    /// Only clients holding a connect token signed with this key (see
    /// [`TokenIssuer`](super::TokenIssuer)).
    Secure {
        /// The server's private key.
        private_key: PrivateKey,
    },
}

/// Everything [`start_server`] needs.
#[derive(Clone, Debug)]
pub struct ServerSettings {
    /// Address to bind: `"0.0.0.0:5000"` for every interface, `"127.0.0.1:0"` for a free
    /// loopback port.
    pub bind: String,
    /// Addresses clients use to reach this server, when they differ from `bind` (behind NAT, a
    /// load balancer, a relay or in a container). Secure mode only accepts tokens naming one
    /// of them. Empty: the bound address (with `0.0.0.0` read as loopback).
    pub public_addresses: Vec<String>,
    /// Most clients connected at once (at most [`MAX_CLIENTS`]).
    pub max_clients: usize,
    /// Unsecure or secure mode.
    pub security: ServerSecurity,
    /// The game's netcode protocol id: clients must use the same one.
    pub protocol_id: u64,
    /// Size asked for the socket's receive buffer, so that a burst of datagrams (junk sent at
    /// the port, or many clients at once) waits there instead of being dropped by the system
    /// before the next frame reads it. The system may grant less (on Linux at most
    /// `net.core.rmem_max`); the size granted is logged at debug level.
    pub receive_buffer_bytes: usize,
}

/// The default of [`ServerSettings::receive_buffer_bytes`]: 4 MiB, about 3,000 full datagrams.
pub const DEFAULT_RECEIVE_BUFFER_BYTES: usize = 4 << 20;

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: format!("0.0.0.0:{DEFAULT_PORT}"),
            public_addresses: Vec::new(),
            max_clients: 32,
            security: ServerSecurity::Unsecure,
            protocol_id: DEFAULT_PROTOCOL_ID,
            receive_buffer_bytes: DEFAULT_RECEIVE_BUFFER_BYTES,
        }
    }
}

/// Where a running server listens. Inserted by [`start_server`].
#[derive(Resource, Clone, Debug, PartialEq, Eq)]
pub struct ServerAddresses {
    /// The bound socket address (with the OS-chosen port when binding port 0).
    pub local: SocketAddr,
    /// The addresses advertised to clients.
    pub public: Vec<SocketAddr>,
}

/// The user data of a client's connect token (for example its player name), inserted on its
/// [`ConnectedClient`] entity when it joins over netcode.
#[derive(Component, Clone, Debug, PartialEq, Eq)]
pub struct ClientUserData(pub UserData);

/// Binds a UDP socket and starts serving: inserts [`RenetServer`], netcode's transport and
/// [`ServerAddresses`]. A server already running is stopped first.
pub fn start_server(
    world: &mut World,
    settings: &ServerSettings,
) -> Result<ServerAddresses, TransportError> {
    if settings.max_clients == 0 || settings.max_clients > MAX_CLIENTS {
        return Err(TransportError::TooManyClients(settings.max_clients));
    }
    let bind = resolve(&settings.bind)?;
    let socket = bind_socket(bind, settings.receive_buffer_bytes).map_err(|source| {
        TransportError::Bind {
            address: bind,
            source,
        }
    })?;
    let local = socket.local_addr()?;
    let public = if settings.public_addresses.is_empty() {
        vec![default_public_address(local)]
    } else {
        settings
            .public_addresses
            .iter()
            .map(|address| resolve(address))
            .collect::<Result<_, _>>()?
    };
    let (authentication, private_key) = match &settings.security {
        ServerSecurity::Unsecure => (ServerAuthentication::Unsecure, [0; 32]),
        ServerSecurity::Secure { private_key } => (
            ServerAuthentication::Secure {
                private_key: *private_key,
            },
            *private_key,
        ),
    };
    let gate = RequestGate {
        protocol_id: settings.protocol_id,
        private_key,
        unsecure: matches!(settings.security, ServerSecurity::Unsecure),
        // Read once: the gate keeps the value the server started with.
        handshake_timeout: world
            .get_resource::<crate::server::ServerConfig>()
            .map_or(crate::server::DEFAULT_HANDSHAKE_TIMEOUT, |config| {
                config.handshake_timeout
            }),
    };
    let transport = ServerTransport::new(
        socket,
        NetcodeServer::new(ServerConfig {
            current_time: unix_now(),
            max_clients: settings.max_clients,
            protocol_id: settings.protocol_id,
            public_addresses: public.clone(),
            authentication,
        }),
        gate,
    )?;
    if world.contains_resource::<RenetServer>() {
        stop_server(world);
    }
    reset_server(world);
    let addresses = ServerAddresses { local, public };
    world.insert_resource(RenetServer::new(connection_config()));
    world.insert_resource(transport);
    world.insert_resource(TransportStats::default());
    world.insert_resource(addresses.clone());
    match settings.security {
        ServerSecurity::Unsecure => info!(
            "server listening on {local}, clients connect to {:?}; unsecure mode, for development and LAN play only: anyone may connect under any client id (use ServerSecurity::Secure on the internet)",
            addresses.public
        ),
        ServerSecurity::Secure { .. } => info!(
            "server listening on {local}, clients connect to {:?} with connect tokens",
            addresses.public
        ),
    }

    Ok(addresses)
}

/// Tells every client the server shuts down, closes every connection and removes the server
/// resources. Replicated entities stay in the world.
pub fn stop_server(world: &mut World) {
    say_goodbye_to_clients(world);
    if let (Some(mut transport), Some(mut server)) = (
        world.remove_resource::<ServerTransport>(),
        world.remove_resource::<RenetServer>(),
    ) {
        transport.disconnect_all(&mut server);
    }
    world.remove_resource::<ServerAddresses>();
    reset_server(world);
}

/// Sends every client a [`DisconnectReason::ServerShutdown`] frame and flushes it now, so it
/// leaves before netcode's disconnect packets.
fn say_goodbye_to_clients(world: &mut World) {
    let Some(mut server) = world.remove_resource::<RenetServer>() else {
        return;
    };
    let frame = Bytes::from(wire::encode_disconnect(&DisconnectReason::ServerShutdown));
    {
        let mut capture = world.get_resource_mut::<NetCapture>();
        for client_id in server.clients_id() {
            send_to_client(
                &mut server,
                capture.as_deref_mut(),
                client_id,
                RELIABLE_CHANNEL,
                frame.clone(),
            );
        }
    }
    if let Some(mut transport) = world.get_resource_mut::<ServerTransport>() {
        transport.send_packets(&mut server);
    }
    world.insert_resource(server);
}

/// On `AppExit`, tells clients why before netcode closes the connections.
pub(crate) fn goodbye_on_exit(world: &mut World) {
    let exiting = !world.resource::<Messages<AppExit>>().is_empty();
    if exiting {
        say_goodbye_to_clients(world);
    }
}

/// Attaches the token's user data to a client that joined over netcode.
pub(crate) fn attach_user_data(
    event: On<Add, ConnectedClient>,
    clients: Query<&ConnectedClient>,
    transport: Option<Res<ServerTransport>>,
    mut commands: Commands,
) {
    let (Some(transport), Ok(client)) = (transport, clients.get(event.entity)) else {
        return;
    };
    if let Some(data) = transport.user_data(client.id()) {
        commands.entity(event.entity).insert(ClientUserData(data));
    }
}

/// A UDP socket bound to `address` with a receive buffer of about `receive_buffer_bytes`.
fn bind_socket(address: SocketAddr, receive_buffer_bytes: usize) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(address),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    if let Err(error) = socket.set_recv_buffer_size(receive_buffer_bytes) {
        warn!("cannot size the receive buffer to {receive_buffer_bytes} bytes: {error}");
    }
    debug!(
        "server socket receive buffer: {} bytes",
        socket.recv_buffer_size().unwrap_or(0)
    );
    socket.bind(&address.into())?;
    Ok(socket.into())
}
