//! [`ServerConfig`]: the server's tunables.

use bevy::prelude::*;

/// Server tunables, read by [`ServerSet::Receive`](super::ServerSet::Receive) and
/// [`ServerSet::Send`](super::ServerSet::Send). Set it through
/// [`ServerPlugin`](super::ServerPlugin) or by replacing the resource.
#[derive(Resource, Clone, Debug)]
pub struct ServerConfig {
    /// Replication is sent every this many ticks (1 = every tick).
    pub send_interval_ticks: u32,
    /// Most bytes of component values sent to one client per send. What does not fit is sent
    /// in the next one (oldest first), so a huge burst never overflows renet.
    pub update_bytes_per_tick: usize,
    /// Largest message a client may send; a larger one disconnects that client.
    pub max_client_message_bytes: usize,
    /// Frames between telling a client why it is disconnected and closing its connection,
    /// so the reason can reach it.
    pub disconnect_grace_frames: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            send_interval_ticks: 1,
            update_bytes_per_tick: 64 * 1024,
            max_client_message_bytes: 64 * 1024,
            disconnect_grace_frames: 4,
        }
    }
}
