//! The renet channel table: which channel carries what, in each direction.

use core::time::Duration;

use bevy_renet::renet::{ChannelConfig, ConnectionConfig, SendType};

/// How a game message travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Arrives exactly once, in the order sent, and after the structural changes sent before it
    /// (so entities it names already exist on the client).
    Reliable,
    /// May be lost, duplicated by nobody, or arrive out of order; never waits for a lost packet.
    Unreliable,
}

impl Channel {
    /// The renet channel id in either direction.
    pub const fn id(self) -> u8 {
        match self {
            Self::Reliable => RELIABLE_CHANNEL,
            Self::Unreliable => UNRELIABLE_CHANNEL,
        }
    }
}

/// Reliable ordered channel id. Server → client: welcome, disconnect reason, reliable
/// messages. Client → server: hello, goodbye, reliable messages.
pub const RELIABLE_CHANNEL: u8 = 0;

/// Unreliable channel id. Server → client: all replication (state frames, slices of large
/// values), input timing, unreliable messages. Client → server: the update frame (acks and
/// inputs), unreliable messages.
pub const UNRELIABLE_CHANNEL: u8 = 1;

/// Bytes renet may send to one peer per update. Replication budgets itself below this
/// (see [`ServerConfig::update_bytes_per_tick`](crate::server::ServerConfig)), because renet
/// silently drops unreliable data above it.
pub const RENET_BYTES_PER_UPDATE: u64 = 250_000;

/// The renet connection configuration both sides must use.
pub fn connection_config() -> ConnectionConfig {
    let resend_time = Duration::from_millis(100);
    ConnectionConfig {
        available_bytes_per_tick: RENET_BYTES_PER_UPDATE,
        server_channels_config: vec![
            ChannelConfig {
                channel_id: RELIABLE_CHANNEL,
                // A late joiner's whole world travels here at once.
                max_memory_usage_bytes: 32 * 1024 * 1024,
                send_type: SendType::ReliableOrdered { resend_time },
            },
            ChannelConfig {
                channel_id: UNRELIABLE_CHANNEL,
                max_memory_usage_bytes: 4 * 1024 * 1024,
                send_type: SendType::Unreliable,
            },
        ],
        client_channels_config: vec![
            ChannelConfig {
                channel_id: RELIABLE_CHANNEL,
                max_memory_usage_bytes: 1024 * 1024,
                send_type: SendType::ReliableOrdered { resend_time },
            },
            ChannelConfig {
                channel_id: UNRELIABLE_CHANNEL,
                max_memory_usage_bytes: 1024 * 1024,
                send_type: SendType::Unreliable,
            },
        ],
    }
}
