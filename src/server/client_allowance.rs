//! [`ClientAllowances`]: how much each client may still send, in messages and bytes, refilled
//! over time. A client that sends more than its allowance is disconnected with
//! [`DisconnectReason::Flooding`], before its data costs the server anything.

use bevy::{platform::collections::HashMap, prelude::*};
use bevy_renet::renet::ClientId;

use super::config::ServerConfig;
use crate::shared::disconnect::DisconnectReason;

/// Seconds of traffic a client may send at once above its steady rate.
const BURST_SECONDS: f64 = 2.0;

/// One client's allowance: a token bucket for messages and one for bytes.
#[derive(Clone, Copy, Debug)]
struct Allowance {
    messages: f64,
    bytes: f64,
    at: f64,
}

/// Every connected client's allowance, by transport id.
#[derive(Resource, Default, Debug)]
pub(crate) struct ClientAllowances {
    clients: HashMap<ClientId, Allowance>,
}

impl ClientAllowances {
    /// Takes one message of `bytes` from `client`'s allowance at time `now` (seconds); the
    /// reason to disconnect it if the allowance is spent.
    pub(crate) fn take(
        &mut self,
        config: &ServerConfig,
        client: ClientId,
        now: f64,
        bytes: usize,
    ) -> Result<(), DisconnectReason> {
        let messages_rate = f64::from(config.client_messages_per_second);
        let bytes_rate = config.client_bytes_per_second as f64;
        let allowance = self.clients.entry(client).or_insert(Allowance {
            messages: messages_rate * BURST_SECONDS,
            bytes: bytes_rate * BURST_SECONDS,
            at: now,
        });
        let elapsed = (now - allowance.at).max(0.0);
        allowance.at = now;
        allowance.messages =
            (allowance.messages + elapsed * messages_rate).min(messages_rate * BURST_SECONDS);
        allowance.bytes = (allowance.bytes + elapsed * bytes_rate).min(bytes_rate * BURST_SECONDS);
        allowance.messages -= 1.0;
        allowance.bytes -= bytes as f64;
        if allowance.messages < 0.0 {
            return Err(DisconnectReason::Flooding(format!(
                "more than {} messages per second",
                config.client_messages_per_second
            )));
        }
        if allowance.bytes < 0.0 {
            return Err(DisconnectReason::Flooding(format!(
                "more than {} bytes per second",
                config.client_bytes_per_second
            )));
        }
        Ok(())
    }

    /// Forgets clients that are gone.
    pub(crate) fn retain(&mut self, mut connected: impl FnMut(ClientId) -> bool) {
        self.clients.retain(|client, _| connected(*client));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_client_is_never_refused_and_a_flood_is() {
        let config = ServerConfig {
            client_messages_per_second: 100,
            client_bytes_per_second: 10_000,
            ..default()
        };
        let mut allowances = ClientAllowances::default();
        // 90 messages of 100 bytes per second for a minute: within both rates.
        for i in 0..90 * 60 {
            let now = f64::from(i) / 90.0;
            assert!(allowances.take(&config, 1, now, 100).is_ok(), "message {i}");
        }
        // Another client floods with messages: refused after the burst (2 s worth).
        let refused = (0..1_000).position(|_| allowances.take(&config, 2, 0.0, 1).is_err());
        assert_eq!(refused, Some(200));
        // A third sends few but large messages.
        let refused = (0..100).position(|_| allowances.take(&config, 3, 0.0, 5_000).is_err());
        assert_eq!(refused, Some(4));
    }
}
