//! [`Budget`]: a client's bytes per second as a token bucket, and [`ReplicationBudget`], the
//! component that gives one client its own rate.

use std::collections::VecDeque;

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

/// A client's byte budget. A token bucket paces the sends; a ledger of what the sends of the
/// trailing second spent is the hard limit: what a send may spend is never more than the rate
/// less that, so no one-second window, however placed, carries more than the rate (a bucket
/// alone lets a burst after a lull carry its saved-up tokens on top of a second's worth).
#[derive(Clone, Debug, Default)]
pub(crate) struct Budget {
    tokens: f64,
    started: bool,
    /// The rate of the current send, bytes per second.
    rate: usize,
    /// Seconds since the first send.
    now: f64,
    /// `(time, bytes)` of the sends of the trailing second, oldest first.
    ledger: VecDeque<(f64, usize)>,
    /// Their sum.
    in_window: usize,
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
        self.rate = bytes_per_second;
        self.now += seconds;
        // A send a whole second ago shares no one-second window with this one.
        while let Some(&(at, bytes)) = self.ledger.front() {
            if self.now - at < 1.0 - 1e-9 {
                break;
            }
            self.in_window -= bytes;
            self.ledger.pop_front();
        }
        self.tokens = (self.tokens + rate * seconds).min(cap);
        self.available()
    }

    /// What may be spent now: the bucket's tokens, within what the trailing second leaves.
    pub(crate) fn available(&self) -> usize {
        (self.tokens.max(0.0) as usize).min(self.window_left())
    }

    /// The rate of the current send, bytes per second.
    pub(crate) fn rate(&self) -> usize {
        self.rate
    }

    /// What the sends of the trailing second spent, bytes.
    pub(crate) fn spent_in_window(&self) -> usize {
        self.in_window
    }

    /// What the trailing second leaves of the rate: the most anything may spend now.
    pub(crate) fn window_left(&self) -> usize {
        self.rate.saturating_sub(self.in_window)
    }

    /// Spends `bytes` (the bucket may go negative: replication waits until the debt is paid;
    /// callers keep within [`Self::window_left`]).
    pub(crate) fn spend(&mut self, bytes: usize) {
        self.tokens -= bytes as f64;
        self.in_window += bytes;
        match self.ledger.back_mut() {
            Some((at, spent)) if *at == self.now => *spent += bytes,
            _ => self.ledger.push_back((self.now, bytes)),
        }
    }

    /// Spends `bytes` if the trailing second leaves room for them.
    pub(crate) fn try_spend(&mut self, bytes: usize) -> bool {
        let fits = bytes <= self.window_left();
        if fits {
            self.spend(bytes);
        }
        fits
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

    #[test]
    fn no_second_carries_more_than_the_rate_after_a_lull() {
        for rate in [2_400, 6_000, 24_000] {
            let mut budget = Budget::default();
            let mut spent = Vec::new();
            for send in 0..1_200 {
                budget.refill(rate, 1.0 / 60.0);
                // Idle 3 s of every 5 (the bucket fills), then spending all it may, and more
                // where it must (up to what the trailing second leaves).
                let bytes = if send % 300 < 180 {
                    0
                } else {
                    budget.window_left().min(budget.available() + 500)
                };
                budget.spend(bytes);
                spent.push(bytes);
            }
            let worst = spent.windows(60).map(|w| w.iter().sum::<usize>()).max();
            assert!(
                worst.unwrap() <= rate,
                "{rate} B/s: {worst:?} B in one second"
            );
            let busy: usize = spent[240..300].iter().sum();
            assert!(
                busy > rate * 9 / 10,
                "{rate} B/s: only {busy} B in a busy second"
            );
        }
    }
}
