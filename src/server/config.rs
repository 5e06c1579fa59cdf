//! [`ServerConfig`]: the server's tunables.

use std::time::Duration;

use bevy::prelude::*;

/// The default of [`ServerConfig::bytes_per_second`]: 1 MiB/s (8 Mbit/s), room for late joins
/// and large values on a broadband link. A moving player costs a few hundred bytes per second.
pub const DEFAULT_BYTES_PER_SECOND: usize = 1 << 20;

/// The default of [`ServerConfig::handshake_timeout`].
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Server tunables, read by [`ServerSet::Receive`](super::ServerSet::Receive) and
/// [`ServerSet::Send`](super::ServerSet::Send). Set it through
/// [`ServerPlugin`](super::ServerPlugin) or by replacing the resource.
#[derive(Resource, Clone, Debug)]
pub struct ServerConfig {
    /// Replication is sent every this many ticks (1 = every tick).
    pub send_interval_ticks: u32,
    /// Most bytes sent to one client per second: replication frames, slices of large values,
    /// messages, and an estimate of the transport's headers. When the world changes faster than
    /// this allows, entities go by priority (see
    /// [`ReplicationPriority`](super::ReplicationPriority)) and the rest follow later. Override
    /// it per client with [`ReplicationBudget`](super::ReplicationBudget).
    pub bytes_per_second: usize,
    /// Most bytes of replication sent to one client per send, whatever the budget has saved up.
    pub update_bytes_per_tick: usize,
    /// Largest message a client may send; a larger one disconnects that client.
    pub max_client_message_bytes: usize,
    /// Most messages one client may send per second (updates, inputs and game messages; a
    /// game client sends one or two per frame). Bursts of two seconds' worth are allowed; a
    /// client beyond it is disconnected with
    /// [`DisconnectReason::Flooding`](crate::shared::disconnect::DisconnectReason::Flooding).
    pub client_messages_per_second: u32,
    /// Most bytes one client may send per second, in bursts of two seconds' worth; beyond it,
    /// disconnected like a flood of messages.
    pub client_bytes_per_second: usize,
    /// Frames between telling a client why it is disconnected and closing its connection,
    /// so the reason can reach it.
    pub disconnect_grace_frames: u32,
    /// How long a connecting client may take, from its first packet to the hello that makes
    /// it a [`ConnectedClient`](super::ConnectedClient). A connection that has not said hello
    /// by then is closed with
    /// [`DisconnectReason::ConnectTimedOut`](crate::shared::disconnect::DisconnectReason::ConnectTimedOut):
    /// it held a slot that no game code could see or kick. The netcode transport also forgets
    /// unanswered challenges after it and, in unsecure mode, refuses connect tokens that
    /// expire later than it (or than 30 s, an unsecure client's own token) plus 30 s from now;
    /// it reads this when [`start_server`](crate::transport::start_server) runs.
    pub handshake_timeout: Duration,
    /// Whether the send steps that work per client (choosing, packing, interest) may spread
    /// over Bevy's compute threads. Off by default: waking threads costs CPU time, which a
    /// machine hosting several servers pays for. On the replication benchmark (2 cores), crowd
    /// (1,000 moving entities, 4 clients) took about 1.6× the CPU time with it, and scale
    /// (200 clients) about 1.3× the CPU time for 15 % less wall time. Turn it on for one large
    /// server with cores to spare.
    pub parallel_send: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            send_interval_ticks: 1,
            bytes_per_second: DEFAULT_BYTES_PER_SECOND,
            update_bytes_per_tick: 256 * 1024,
            max_client_message_bytes: 64 * 1024,
            client_messages_per_second: 1_000,
            client_bytes_per_second: 128 * 1024,
            disconnect_grace_frames: 4,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            parallel_send: false,
        }
    }
}
