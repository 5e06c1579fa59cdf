//! [`Budget`]: a client's bytes per second as a token bucket, and [`ReplicationBudget`], the
//! component that gives one client its own rate.

use bevy::prelude::*;

/// Overrides [`ServerConfig::bytes_per_second`](super::ServerConfig::bytes_per_second) for one
/// client: put it on the client's [`ConnectedClient`](super::ConnectedClient) entity.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplicationBudget {
    /// Most bytes per second the server sends this client (frames, slices, messages, and an
    /// estimate of the transport's headers).
    pub bytes_per_second: usize,
}

/// Bytes of transport overhead counted per frame handed to renet (its message and packet
/// headers), so the budget holds at the socket.
pub(crate) const FRAME_OVERHEAD_BYTES: usize = 12;

/// Bytes counted per send for renet's acknowledgement packet.
pub(crate) const ACK_PACKET_BYTES: usize = 12;

/// A token bucket in bytes, refilled once per send.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Budget {
    tokens: f64,
    started: bool,
}

impl Budget {
    /// Adds one send's worth of `bytes_per_second` (`seconds` since the last send), never holding
    /// more than `burst_seconds` worth (nor less than a full frame), and returns what may be
    /// spent now.
    pub(crate) fn refill(&mut self, bytes_per_second: usize, seconds: f64) -> usize {
        let rate = bytes_per_second as f64;
        let cap = (rate * BURST_SECONDS).max(seconds * rate).max(2_400.0);
        if !self.started {
            self.started = true;
            self.tokens = 0.0;
        }
        self.tokens = (self.tokens + rate * seconds).min(cap);
        self.available()
    }

    /// What may be spent now.
    pub(crate) fn available(&self) -> usize {
        self.tokens.max(0.0) as usize
    }

    /// Spends `bytes` (the bucket may go negative: what must be sent is sent, and replication
    /// waits until the debt is paid).
    pub(crate) fn spend(&mut self, bytes: usize) {
        self.tokens -= bytes as f64;
    }
}

/// The most a bucket holds: this many seconds of its rate.
const BURST_SECONDS: f64 = 0.05;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_lends_more_than_the_rate_over_time() {
        let mut budget = Budget::default();
        let mut spent = 0usize;
        for _ in 0..600 {
            let available = budget.refill(32_000, 1.0 / 60.0);
            budget.spend(available);
            spent += available;
        }
        // Ten seconds at 32 KB/s.
        assert!(spent <= 320_000, "{spent}");
        assert!(spent > 319_000, "{spent}");
        budget.spend(10_000);
        assert_eq!(budget.refill(32_000, 1.0 / 60.0), 0, "a debt is paid first");
    }
}
