//! Connecting a client over netcode UDP: [`connect`], [`disconnect`], the connect timeout,
//! netcode's reasons in the player's words, and reconnecting with backoff.

use std::{
    net::{SocketAddr, UdpSocket},
    time::Duration,
};

use bevy::prelude::*;
use bevy_renet::{
    RenetClient,
    netcode::{ClientAuthentication, ConnectToken, NETCODE_KEY_BYTES, NetcodeDisconnectReason},
    renet::Bytes,
};

use super::{
    DEFAULT_PROTOCOL_ID, TransportError,
    address::{client_bind_address, resolve},
    client_transport::ClientTransport,
    token::{UNSECURE_TOKEN_SECONDS, UserData, timeout_seconds, unix_now},
};

use crate::{
    client::{ClientSession, ClientState, Handshake, LastDisconnect},
    shared::{
        capture::NetCapture, channels::RELIABLE_CHANNEL, disconnect::DisconnectReason,
        wire::client_kind,
    },
};

/// How a client proves it may connect.
#[derive(Clone, Debug)]
// Built once per connection; the size of the unsecure variant's user data does not matter.
#[allow(clippy::large_enum_variant)]
pub enum ClientSecurity {
    /// For an unsecure server: pick an id (unique among connected clients) and optional data.
    Unsecure {
        /// The client's id.
        client_id: u64,
        /// Data for the server (see [`user_data_from_text`](super::user_data_from_text)).
        user_data: Option<UserData>,
    },
    /// For a secure server: a token from the game's [`TokenIssuer`](super::TokenIssuer).
    Secure {
        /// The token.
        token: Box<ConnectToken>,
    },
}

/// Retry policy after a connection fails for a reason that may go away (see
/// [`DisconnectReason::is_retryable`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReconnectPolicy {
    /// Attempts before giving up.
    pub max_attempts: u32,
    /// Wait before the first attempt; each further attempt waits twice as long...
    pub first_delay: Duration,
    /// ...but never longer than this.
    pub max_delay: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    }
}

impl ReconnectPolicy {
    /// The wait before attempt `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Everything [`connect`] needs.
#[derive(Clone, Debug)]
pub struct ClientSettings {
    /// The server's address, like `"127.0.0.1:5000"` (for a secure token, the token's
    /// addresses are used).
    pub server: String,
    /// Unsecure or secure mode.
    pub security: ClientSecurity,
    /// Give up connecting (with [`DisconnectReason::ConnectTimedOut`]) after this long without
    /// being accepted. Also netcode's keep-alive timeout once connected. In unsecure mode an
    /// attempt also ends when its token expires, after [`UNSECURE_TOKEN_SECONDS`].
    pub connect_timeout: Duration,
    /// Whether and how to reconnect after losing the connection.
    pub reconnect: Option<ReconnectPolicy>,
    /// The game's netcode protocol id: the server's
    /// [`ServerSettings::protocol_id`](super::ServerSettings::protocol_id).
    pub protocol_id: u64,
}

impl ClientSettings {
    /// Unsecure settings for `server` with a random client id and the defaults: 5 s connect
    /// timeout, no reconnect.
    pub fn unsecure(server: impl Into<String>) -> Self {
        Self {
            server: server.into(),
            security: ClientSecurity::Unsecure {
                client_id: random_client_id(),
                user_data: None,
            },
            connect_timeout: Duration::from_secs(5),
            reconnect: None,
            protocol_id: DEFAULT_PROTOCOL_ID,
        }
    }
}

/// A random client id (never the host's [`LOCAL_CLIENT_ID`](crate::server::LOCAL_CLIENT_ID)).
pub fn random_client_id() -> u64 {
    let bytes: [u8; NETCODE_KEY_BYTES] = bevy_renet::netcode::generate_random_bytes();
    let mut id = [0u8; 8];
    id.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(id) >> 1
}

/// Reconnection progress, present while the client waits to try again.
#[derive(Resource, Clone, Copy, Debug, PartialEq)]
pub struct Reconnecting {
    /// The attempt that comes next (1-based).
    pub attempt: u32,
    /// Time left before it starts.
    pub remaining: Duration,
}

/// The connection the client is making or keeping, for timeouts and reconnects.
#[derive(Resource)]
pub(crate) struct ClientConnector {
    settings: ClientSettings,
    authentication: ClientAuthentication,
    /// Kept to reconnect from the same address (netcode ties a secure token to it).
    socket: UdpSocket,
    started: Duration,
    attempt: u32,
}

/// Begins connecting to a server: binds a local UDP socket and inserts [`RenetClient`] and
/// netcode's transport. Progress shows in [`ClientState`]; failures in [`LastDisconnect`].
pub fn connect(world: &mut World, settings: ClientSettings) -> Result<SocketAddr, TransportError> {
    let refuse = |world: &mut World, reason: DisconnectReason| {
        world.resource_mut::<LastDisconnect>().0 = Some(reason.clone());
        Err(TransportError::Refused(reason))
    };
    let authentication = match &settings.security {
        ClientSecurity::Unsecure { .. } => unsecure_authentication(&settings)?,
        ClientSecurity::Secure { token } => {
            if token.protocol_id != settings.protocol_id {
                return refuse(
                    world,
                    DisconnectReason::TokenRefused(format!(
                        "the token is for protocol {:x}, this game uses {:x}",
                        token.protocol_id, settings.protocol_id
                    )),
                );
            }
            if token.expire_timestamp <= unix_now().as_secs() {
                return refuse(
                    world,
                    DisconnectReason::TokenRefused("the token has expired".into()),
                );
            }
            ClientAuthentication::Secure {
                connect_token: (**token).clone(),
            }
        }
    };
    let server = match &authentication {
        ClientAuthentication::Secure { connect_token } => connect_token.server_addresses[0]
            .ok_or_else(|| TransportError::InvalidToken("no server address".into()))?,
        ClientAuthentication::Unsecure { server_addr, .. } => *server_addr,
    };
    let bind = client_bind_address(server);
    let socket = UdpSocket::bind(bind).map_err(|source| TransportError::Bind {
        address: bind,
        source,
    })?;
    let local = socket.local_addr()?;
    let started = world.resource::<Time<Real>>().elapsed();
    let connector = ClientConnector {
        socket: socket.try_clone()?,
        settings,
        authentication,
        started,
        attempt: 0,
    };
    install(world, &connector, socket)?;
    world.insert_resource(connector);
    world.remove_resource::<Reconnecting>();
    info!("connecting to {server} from {local}");
    Ok(local)
}

/// Our own token with the unsecure key, fresh for each attempt: the timeout is ours (netcode's
/// unsecure default is 15 s) and the expiry short, as unsecure servers require.
fn unsecure_authentication(
    settings: &ClientSettings,
) -> Result<ClientAuthentication, TransportError> {
    let ClientSecurity::Unsecure {
        client_id,
        user_data,
    } = &settings.security
    else {
        return Err(TransportError::InvalidToken(
            "a secure client makes no token of its own".into(),
        ));
    };
    let server = resolve(&settings.server)?;
    let token = ConnectToken::generate(
        unix_now(),
        settings.protocol_id,
        UNSECURE_TOKEN_SECONDS,
        *client_id,
        timeout_seconds(settings.connect_timeout),
        vec![server],
        user_data.as_ref(),
        &[0; NETCODE_KEY_BYTES],
    )
    .map_err(|error| TransportError::InvalidToken(format!("{error:?}")))?;
    Ok(ClientAuthentication::Secure {
        connect_token: token,
    })
}

/// Inserts a fresh renet client and netcode transport on `socket`.
fn install(
    world: &mut World,
    connector: &ClientConnector,
    socket: UdpSocket,
) -> Result<(), TransportError> {
    let authentication = match connector.settings.security {
        ClientSecurity::Unsecure { .. } => unsecure_authentication(&connector.settings)?,
        ClientSecurity::Secure { .. } => connector.authentication.clone(),
    };
    let transport = ClientTransport::new(unix_now(), authentication, socket)
        .map_err(|error| TransportError::Netcode(error.to_string()))?;
    world.insert_resource(RenetClient::new(
        crate::shared::channels::connection_config(),
    ));
    world.insert_resource(transport);
    Ok(())
}

/// Leaves the server on purpose: says goodbye, closes the connection at once, and does not
/// reconnect. [`LastDisconnect`] becomes [`DisconnectReason::ClientLeft`].
pub fn disconnect(world: &mut World) {
    world.remove_resource::<ClientConnector>();
    world.remove_resource::<Reconnecting>();
    say_goodbye(world);
    if let Some(mut session) = world.get_resource_mut::<ClientSession>()
        && session.closing_reason.is_none()
    {
        session.closing_reason = Some(DisconnectReason::ClientLeft);
    }
    if let Some(mut client) = world.get_resource_mut::<RenetClient>() {
        client.disconnect();
    }
    if let Some(mut transport) = world.get_resource_mut::<ClientTransport>() {
        transport.disconnect();
    }
}

/// Sends the goodbye frame and flushes it now.
fn say_goodbye(world: &mut World) {
    let Some(mut client) = world.remove_resource::<RenetClient>() else {
        return;
    };
    if client.is_connected() {
        let goodbye = Bytes::from(vec![client_kind::GOODBYE]);
        if let Some(mut capture) = world.get_resource_mut::<NetCapture>() {
            capture.client_sent(RELIABLE_CHANNEL, &goodbye);
        }
        client.send_message(RELIABLE_CHANNEL, goodbye);
        if let Some(mut transport) = world.get_resource_mut::<ClientTransport>() {
            transport.send_packets(&mut client);
        }
    }
    world.insert_resource(client);
}

/// On `AppExit`, tells the server this client leaves before netcode closes the connection.
pub(crate) fn goodbye_on_exit(world: &mut World) {
    if !world.resource::<Messages<AppExit>>().is_empty() {
        say_goodbye(world);
    }
}

/// Puts netcode's reason for a dropped connection into the player's words.
pub(crate) fn explain_netcode_disconnect(
    transport: Option<Res<ClientTransport>>,
    connector: Option<Res<ClientConnector>>,
    mut session: ResMut<ClientSession>,
) {
    let Some(reason) = transport.and_then(|transport| transport.disconnect_reason()) else {
        return;
    };
    if session.closing_reason.is_some() {
        return;
    }
    let timeout = connector
        .as_ref()
        .map_or(Duration::from_secs(5), |c| c.settings.connect_timeout);
    let unsecure =
        connector.is_some_and(|c| matches!(c.settings.security, ClientSecurity::Unsecure { .. }));
    session.closing_reason = Some(match reason {
        NetcodeDisconnectReason::ConnectionRequestTimedOut
        | NetcodeDisconnectReason::ConnectionResponseTimedOut => {
            DisconnectReason::ConnectTimedOut {
                millis: timeout.as_millis() as u64,
            }
        }
        NetcodeDisconnectReason::ConnectionDenied => DisconnectReason::ServerFull,
        // An unsecure attempt's own short-lived token ran out: no server answered in time.
        NetcodeDisconnectReason::ConnectTokenExpired if unsecure => {
            DisconnectReason::ConnectTimedOut {
                millis: timeout.as_millis() as u64,
            }
        }
        NetcodeDisconnectReason::ConnectTokenExpired => {
            DisconnectReason::TokenRefused("the token expired while connecting".into())
        }
        NetcodeDisconnectReason::ConnectionTimedOut => DisconnectReason::ConnectionLost(format!(
            "no packets from the server for {} s",
            timeout_seconds(timeout)
        )),
        NetcodeDisconnectReason::DisconnectedByServer => DisconnectReason::ServerShutdown,
        NetcodeDisconnectReason::DisconnectedByClient => DisconnectReason::ClientLeft,
    });
}

/// Gives up connecting once the connect timeout ran out without a welcome.
pub(crate) fn enforce_connect_timeout(
    connector: Option<Res<ClientConnector>>,
    client: Option<ResMut<RenetClient>>,
    time: Res<Time<Real>>,
    mut session: ResMut<ClientSession>,
) {
    let (Some(connector), Some(mut client)) = (connector, client) else {
        return;
    };
    let timeout = connector.settings.connect_timeout;
    if session.handshake != Handshake::Welcomed
        && !client.is_disconnected()
        && time.elapsed().saturating_sub(connector.started) > timeout
    {
        session
            .closing_reason
            .get_or_insert(DisconnectReason::ConnectTimedOut {
                millis: timeout.as_millis() as u64,
            });
        client.disconnect();
    }
}

/// After a retryable disconnect, waits with exponential backoff and connects again.
pub(crate) fn reconnect(world: &mut World) {
    let state = *world.resource::<State<ClientState>>().get();
    let disconnected = world
        .get_resource::<RenetClient>()
        .is_none_or(|client| client.is_disconnected());
    let Some(policy) = world
        .get_resource::<ClientConnector>()
        .and_then(|connector| connector.settings.reconnect)
    else {
        return;
    };
    if state != ClientState::Disconnected || !disconnected {
        if state == ClientState::Connected {
            world.resource_mut::<ClientConnector>().attempt = 0;
        }
        return;
    }
    let retryable = world
        .resource::<LastDisconnect>()
        .0
        .as_ref()
        .is_some_and(DisconnectReason::is_retryable);
    let now = world.resource::<Time<Real>>().elapsed();
    let delta = world.resource::<Time<Real>>().delta();
    let Some(mut waiting) = world.get_resource::<Reconnecting>().copied() else {
        let attempt = world.resource::<ClientConnector>().attempt + 1;
        if retryable && attempt <= policy.max_attempts {
            info!(
                "reconnecting in {:?} (attempt {attempt})",
                policy.delay(attempt)
            );
            world.insert_resource(Reconnecting {
                attempt,
                remaining: policy.delay(attempt),
            });
        }
        return;
    };
    waiting.remaining = waiting.remaining.saturating_sub(delta);
    if !waiting.remaining.is_zero() {
        world.insert_resource(waiting);
        return;
    }
    world.remove_resource::<Reconnecting>();
    let Some(mut connector) = world.remove_resource::<ClientConnector>() else {
        return;
    };
    connector.attempt = waiting.attempt;
    connector.started = now;
    let result = connector
        .socket
        .try_clone()
        .map_err(TransportError::from)
        .and_then(|socket| install(world, &connector, socket));
    if let Err(error) = result {
        error!("reconnect failed: {error}");
    }
    world.insert_resource(connector);
}
