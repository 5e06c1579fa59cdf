//! [`LinkConditioner`] and the one-way `Link` it shapes: the test network's links, and a
//! client's [`SimulatedLink`](crate::client::SimulatedLink) over a real connection.

use core::time::Duration;

use super::rng::SplitMix64;

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

/// Counters of one direction of a link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkTraffic {
    /// Packets handed to the link.
    pub packets: u64,
    /// Payload bytes handed to the link.
    pub bytes: u64,
    /// Packets the link dropped.
    pub dropped: u64,
}

/// One direction of a simulated connection.
#[derive(Debug, Default)]
pub(crate) struct Link {
    pub(crate) conditioner: LinkConditioner,
    in_flight: Vec<InFlight>,
    sequence: u64,
    pub(crate) traffic: LinkTraffic,
}

#[derive(Debug)]
struct InFlight {
    deliver_at: Duration,
    sequence: u64,
    payload: Vec<u8>,
}

impl Link {
    /// A link shaped by `conditioner`.
    pub(crate) fn new(conditioner: LinkConditioner) -> Self {
        Self {
            conditioner,
            ..Self::default()
        }
    }

    /// Hands a packet to the link at time `now`.
    pub(crate) fn send(&mut self, now: Duration, payload: Vec<u8>, rng: &mut SplitMix64) {
        let conditioner = self.conditioner;
        self.traffic.packets += 1;
        self.traffic.bytes += payload.len() as u64;
        if rng.chance(conditioner.loss) {
            self.traffic.dropped += 1;
            return;
        }
        let copies = if rng.chance(conditioner.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let jitter = conditioner.jitter.as_secs_f64() * (rng.next_f64() * 2.0 - 1.0);
            let mut delay = (conditioner.latency.as_secs_f64() + jitter).max(0.0);
            if rng.chance(conditioner.reorder) {
                delay += conditioner.latency.as_secs_f64() / 2.0 + 0.02;
            }
            self.sequence += 1;
            self.in_flight.push(InFlight {
                deliver_at: now + Duration::from_secs_f64(delay),
                sequence: self.sequence,
                payload: payload.clone(),
            });
        }
    }

    /// Removes and returns the packets due at `now`, in arrival order.
    pub(crate) fn deliver(&mut self, now: Duration) -> Vec<Vec<u8>> {
        let mut due: Vec<InFlight> = Vec::new();
        let mut index = 0;
        while index < self.in_flight.len() {
            if self.in_flight[index].deliver_at <= now {
                due.push(self.in_flight.swap_remove(index));
            } else {
                index += 1;
            }
        }
        due.sort_by_key(|packet| (packet.deliver_at, packet.sequence));
        due.into_iter().map(|packet| packet.payload).collect()
    }

    /// Forgets packets still in flight.
    /// Whether nothing is on its way.
    pub(crate) fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.in_flight.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_link_delivers_everything_in_order_at_once() {
        let mut rng = SplitMix64::new(1);
        let mut link = Link::default();
        link.send(Duration::ZERO, vec![1], &mut rng);
        link.send(Duration::ZERO, vec![2], &mut rng);
        assert_eq!(link.deliver(Duration::ZERO), vec![vec![1], vec![2]]);
        assert!(link.deliver(Duration::from_secs(1)).is_empty());
    }

    #[test]
    fn latency_delays_and_loss_drops() {
        let mut rng = SplitMix64::new(2);
        let mut link = Link::new(LinkConditioner::new(100, 0, 0.5));
        for i in 0..1000u32 {
            link.send(Duration::ZERO, i.to_le_bytes().to_vec(), &mut rng);
        }
        assert!(link.deliver(Duration::from_millis(99)).is_empty());
        let delivered = link.deliver(Duration::from_millis(100)).len();
        assert!((400..600).contains(&delivered), "{delivered}");
        assert_eq!(link.traffic.dropped, 1000 - delivered as u64);
    }

    #[test]
    fn duplication_delivers_copies() {
        let mut rng = SplitMix64::new(3);
        let mut link = Link::new(LinkConditioner::PERFECT.with_duplicate(1.0));
        link.send(Duration::ZERO, vec![7], &mut rng);
        assert_eq!(link.deliver(Duration::ZERO), vec![vec![7], vec![7]]);
    }
}
