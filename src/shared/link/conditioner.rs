//! [`LinkConditioner`]: how a simulated one-way link mistreats packets.

use core::time::Duration;

/// How a one-way link mistreats packets: latency with jitter, loss, duplication, reordering.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LinkConditioner {
    /// One-way delay.
    pub latency: Duration,
    /// Each packet's delay varies uniformly within `latency ± jitter`.
    pub jitter: Duration,
    /// Share of packets dropped, 0 to 1.
    pub loss: f64,
    /// Share of packets delivered twice, 0 to 1.
    pub duplicate: f64,
    /// Share of packets held back by an extra `latency / 2 + 20 ms`, so later ones overtake them.
    pub reorder: f64,
}

impl LinkConditioner {
    /// No delay, no loss.
    pub const PERFECT: Self = Self {
        latency: Duration::ZERO,
        jitter: Duration::ZERO,
        loss: 0.0,
        duplicate: 0.0,
        reorder: 0.0,
    };

    /// A link with `latency_ms ± jitter_ms` and `loss` (0 to 1), nothing else.
    pub fn new(latency_ms: u64, jitter_ms: u64, loss: f64) -> Self {
        Self {
            latency: Duration::from_millis(latency_ms),
            jitter: Duration::from_millis(jitter_ms),
            loss,
            ..Self::PERFECT
        }
    }

    /// Regional broadband at the median: 66 ms ± 11 ms, 3 % loss (one way: half the latency).
    pub fn p50() -> Self {
        Self::new(33, 5, 0.03)
    }

    /// A poor connection (95th percentile): 151 ms ± 11 ms, 4 % loss (one way: half).
    pub fn p95() -> Self {
        Self::new(75, 5, 0.04)
    }

    /// Sets the share of duplicated packets.
    pub fn with_duplicate(mut self, duplicate: f64) -> Self {
        self.duplicate = duplicate;
        self
    }

    /// Sets the share of reordered packets.
    pub fn with_reorder(mut self, reorder: f64) -> Self {
        self.reorder = reorder;
        self
    }
}
