//! [`TransportError`]: why a server could not start or a client could not begin connecting.

use std::{io, net::SocketAddr};

use thiserror::Error;

use crate::shared::disconnect::DisconnectReason;

/// Why [`start_server`](super::start_server) or [`connect`](super::connect) failed before any
/// packet was sent.
#[derive(Debug, Error)]
pub enum TransportError {
    /// The address does not parse or resolve.
    #[error("cannot resolve address {address:?}: {detail}")]
    Resolve {
        /// The address as given.
        address: String,
        /// What went wrong.
        detail: String,
    },
    /// The socket could not be bound (for example, the port is in use).
    #[error("cannot bind {address}: {source}")]
    Bind {
        /// The address it tried.
        address: SocketAddr,
        /// The operating system's error.
        source: io::Error,
    },
    /// More clients than netcode supports.
    #[error("max_clients is {0}, above netcode's limit of {max}", max = super::MAX_CLIENTS)]
    TooManyClients(usize),
    /// A connect token could not be made or read.
    #[error("invalid connect token: {0}")]
    InvalidToken(String),
    /// A private key could not be read.
    #[error("invalid private key: {0}")]
    InvalidKey(String),
    /// The connection is refused before trying (for example, an expired token); the same
    /// reason is also in [`LastDisconnect`](crate::client::LastDisconnect).
    #[error("{0}")]
    Refused(DisconnectReason),
    /// Netcode rejected the setup.
    #[error("netcode: {0}")]
    Netcode(String),
    /// Another I/O error.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
}
