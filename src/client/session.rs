//! [`ClientSession`]: where the client's handshake stands, and why it is closing.

use bevy::prelude::*;

use crate::shared::disconnect::DisconnectReason;

/// Where the handshake stands.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handshake {
    /// Not sent yet.
    #[default]
    Idle,
    /// Hello sent, waiting for the welcome.
    HelloSent,
    /// Welcomed by the server.
    Welcomed,
}

/// Per-connection state of the client, reset when it disconnects. Written by
/// [`ClientSet::Receive`](super::ClientSet::Receive).
#[derive(Resource, Default)]
pub(crate) struct ClientSession {
    pub(crate) handshake: Handshake,
    /// The id the server knows this client by (from its welcome).
    pub(crate) client_id: Option<u64>,
    /// The alias other clients see for this client's id (from its welcome).
    pub(crate) alias: Option<u64>,
    /// Why the server said it disconnects us, or why we disconnect.
    pub(crate) closing_reason: Option<DisconnectReason>,
}
