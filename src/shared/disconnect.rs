//! [`DisconnectReason`]: why a connection ended, in words a game can show.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a client and the server are no longer connected (or never were).
///
/// The server sends it to the client before closing the connection; the client keeps the last
/// one in [`LastDisconnect`](crate::client::LastDisconnect).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Error)]
pub enum DisconnectReason {
    /// The client and the server were built with different protocols (registered components,
    /// messages or inputs, their order, or the crate version).
    #[error(
        "protocol mismatch: the server's protocol is {server:016x} but this client's is {client:016x} (are both built from the same version of the game?)"
    )]
    ProtocolMismatch {
        /// The server's protocol hash.
        server: u64,
        /// The client's protocol hash.
        client: u64,
    },
    /// The peer sent data that could not be decoded.
    #[error("malformed data: {0}")]
    MalformedData(String),
    /// The peer sent a message larger than allowed.
    #[error("message of {size} bytes is larger than the limit of {limit} bytes")]
    MessageTooLarge {
        /// Size of the offending message.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The server removed the client on purpose.
    #[error("kicked by the server: {0}")]
    Kicked(String),
    /// The server is shutting down.
    #[error("the server shut down")]
    ServerShutdown,
    /// No server answered within the connect timeout: nobody listens at that address, a
    /// firewall drops the packets, or the server silently refused the connect token.
    #[error(
        "connection timed out: no answer from the server within {:.1} s",
        *millis as f64 / 1000.0
    )]
    ConnectTimedOut {
        /// The timeout that ran out, in milliseconds.
        millis: u64,
    },
    /// The server has no free slot.
    #[error("the server is full")]
    ServerFull,
    /// The connect token cannot be used (expired, or issued for another game or protocol).
    #[error("connect token refused: {0}")]
    TokenRefused(String),
    /// The other side stopped answering after the connection was established.
    #[error("connection lost: {0}")]
    ConnectionLost(String),
    /// The client left on purpose (it disconnected or its App exited).
    #[error("the client left")]
    ClientLeft,
    /// The connection ended below the replication layer for another reason (renet or the
    /// transport), in its own words.
    #[error("transport error: {0}")]
    Transport(String),
    /// The client sent more than the server allows
    /// ([`ServerConfig::client_messages_per_second`](crate::server::ServerConfig) or
    /// `client_bytes_per_second`).
    #[error("flooding: the client sent {0}")]
    Flooding(String),
    /// The client kept writing values it holds no authority over (entities it does not hold,
    /// types that are not client-authoritative, values after a revoke), past
    /// [`AuthoritySettings::refusals_allowed`](crate::server::AuthoritySettings).
    #[error("unauthorized writes: {0}")]
    UnauthorizedWrites(String),
}

impl DisconnectReason {
    /// Whether trying again later may work (the server may come back or free a slot), as
    /// opposed to reasons that will repeat (wrong protocol, refused token, kicked, leaving).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::ConnectTimedOut { .. }
                | Self::ServerFull
                | Self::ServerShutdown
                | Self::ConnectionLost(_)
                | Self::Transport(_)
        )
    }
}
