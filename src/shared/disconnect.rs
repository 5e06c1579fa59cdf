//! [`DisconnectReason`]: why a connection ended, in words a game can show.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a client and the server are no longer connected.
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
    /// The connection ended below the replication layer (renet or the transport).
    #[error("connection lost: {0}")]
    Transport(String),
}
