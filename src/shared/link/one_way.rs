//! [`Link`], one direction of a simulated connection, shaped by a [`LinkConditioner`], and its
//! [`LinkTraffic`] counters.

use core::time::Duration;

use super::{LinkConditioner, SplitMix64};

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

/// One direction of a simulated connection. Each packet may carry a tag `T` beside its bytes
/// (the channel it goes on, the address it goes to), delivered with it; plain packets have
/// none.
#[derive(Debug)]
pub(crate) struct Link<T = ()> {
    pub(crate) conditioner: LinkConditioner,
    in_flight: Vec<InFlight<T>>,
    sequence: u64,
    pub(crate) traffic: LinkTraffic,
}

/// A packet on its way.
#[derive(Debug)]
struct InFlight<T> {
    deliver_at: Duration,
    /// Order of sending: packets due at the same time arrive in it.
    sequence: u64,
    tag: T,
    payload: Vec<u8>,
}

impl<T: Clone> Link<T> {
    /// A link shaped by `conditioner`.
    pub(crate) fn new(conditioner: LinkConditioner) -> Self {
        Self {
            conditioner,
            in_flight: Vec::new(),
            sequence: 0,
            traffic: LinkTraffic::default(),
        }
    }

    /// Hands a packet tagged `tag` to the link at time `now`.
    pub(crate) fn send_tagged(
        &mut self,
        now: Duration,
        tag: T,
        payload: Vec<u8>,
        rng: &mut SplitMix64,
    ) {
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
                tag: tag.clone(),
                payload: payload.clone(),
            });
        }
    }

    /// Removes and returns the packets due at `now` with their tags, in arrival order.
    pub(crate) fn deliver_tagged(&mut self, now: Duration) -> Vec<(T, Vec<u8>)> {
        let mut due: Vec<InFlight<T>> = Vec::new();
        let mut index = 0;
        while index < self.in_flight.len() {
            if self.in_flight[index].deliver_at <= now {
                due.push(self.in_flight.swap_remove(index));
            } else {
                index += 1;
            }
        }
        due.sort_by_key(|packet| (packet.deliver_at, packet.sequence));
        due.into_iter()
            .map(|packet| (packet.tag, packet.payload))
            .collect()
    }

    #[cfg(feature = "test_utils")]
    /// Whether nothing is on its way.
    pub(crate) fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// Forgets packets still in flight.
    pub(crate) fn clear(&mut self) {
        self.in_flight.clear();
    }
}

impl Link {
    /// Hands a packet to the link at time `now`.
    pub(crate) fn send(&mut self, now: Duration, payload: Vec<u8>, rng: &mut SplitMix64) {
        self.send_tagged(now, (), payload, rng);
    }

    /// Removes and returns the packets due at `now`, in arrival order.
    pub(crate) fn deliver(&mut self, now: Duration) -> Vec<Vec<u8>> {
        self.deliver_tagged(now)
            .into_iter()
            .map(|((), payload)| payload)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_link_delivers_everything_in_order_at_once() {
        let mut rng = SplitMix64::new(1);
        let mut link: Link = Link::new(LinkConditioner::PERFECT);
        link.send(Duration::ZERO, vec![1], &mut rng);
        link.send(Duration::ZERO, vec![2], &mut rng);
        assert_eq!(link.deliver(Duration::ZERO), vec![vec![1], vec![2]]);
        assert!(link.deliver(Duration::from_secs(1)).is_empty());
    }

    #[test]
    fn latency_delays_and_loss_drops() {
        let mut rng = SplitMix64::new(2);
        let mut link: Link = Link::new(LinkConditioner::new(100, 0, 0.5));
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
        let mut link: Link = Link::new(LinkConditioner::PERFECT.with_duplicate(1.0));
        link.send(Duration::ZERO, vec![7], &mut rng);
        assert_eq!(link.deliver(Duration::ZERO), vec![vec![7], vec![7]]);
    }

    #[test]
    fn tags_travel_with_their_packets() {
        let mut rng = SplitMix64::new(4);
        let mut link = Link::<u8>::new(LinkConditioner::PERFECT);
        link.send_tagged(Duration::ZERO, 2, vec![1], &mut rng);
        link.send_tagged(Duration::ZERO, 0, vec![2], &mut rng);
        let due = link.deliver_tagged(Duration::ZERO);
        assert_eq!(due, vec![(2, vec![1]), (0, vec![2])]);
    }
}
