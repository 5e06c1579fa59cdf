//! [`SimulatedLink`]: a client's own traffic through a [`LinkConditioner`], to feel a game at a
//! given latency, jitter, loss and duplication on one machine.

use core::time::Duration;

use bevy::{ecs::system::SystemParam, prelude::*};
use bevy_renet::{RenetClient, renet::Bytes};

use super::{LinkConditioner, SplitMix64, one_way::Link};
use crate::shared::{capture::NetCapture, channels::UNRELIABLE_CHANNEL};

/// Insert on a client App to pass its replication traffic, both ways, through `conditioner`
/// (the same one the test network uses): what the client receives is held back, dropped or
/// doubled before the crate reads it, and what it sends is held back, dropped or doubled
/// before renet gets it. Reliable traffic is only delayed (by the plain latency, so it stays
/// in order): dropping it would be renet's job to repair, and it is never doubled.
///
/// Renet's own packets (connection keep-alives, its round-trip estimate) are not affected; the
/// crate's clock, interpolation, inputs and prediction all see the simulated link.
///
/// ```
/// # use bevy::prelude::*;
/// # use bevy_netsync::{client::SimulatedLink, shared::link::LinkConditioner};
/// let mut app = App::new();
/// // 150 ms round trip with 10 ms of jitter each way and 2 % loss.
/// app.insert_resource(SimulatedLink::new(LinkConditioner::new(75, 10, 0.02), 1));
/// ```
#[derive(Resource, Debug)]
pub struct SimulatedLink {
    conditioner: LinkConditioner,
    down: Link,
    down_reliable: Link,
    up: Link,
    /// Reliable messages for the server, each tagged with its channel.
    up_reliable: Link<u8>,
    rng: SplitMix64,
}

impl SimulatedLink {
    /// Each direction shaped by `conditioner`, with random choices seeded by `seed`.
    pub fn new(conditioner: LinkConditioner, seed: u64) -> Self {
        let reliable = LinkConditioner {
            latency: conditioner.latency,
            ..LinkConditioner::PERFECT
        };
        Self {
            conditioner,
            down: Link::new(conditioner),
            down_reliable: Link::new(reliable),
            up: Link::new(conditioner),
            up_reliable: Link::new(reliable),
            rng: SplitMix64::new(seed),
        }
    }

    /// How the link is shaped.
    pub fn conditioner(&self) -> LinkConditioner {
        self.conditioner
    }

    /// Passes what arrived from the server through the link; returns what is due at `now`.
    pub(crate) fn receive(
        &mut self,
        now: Duration,
        reliable: Vec<Bytes>,
        unreliable: Vec<Bytes>,
    ) -> (Vec<Bytes>, Vec<Bytes>) {
        for bytes in reliable {
            self.down_reliable.send(now, bytes.to_vec(), &mut self.rng);
        }
        for bytes in unreliable {
            self.down.send(now, bytes.to_vec(), &mut self.rng);
        }
        let due = |link: &mut Link| link.deliver(now).into_iter().map(Bytes::from).collect();
        (due(&mut self.down_reliable), due(&mut self.down))
    }

    /// Holds a message for the server until the link delivers it.
    pub(crate) fn send(&mut self, now: Duration, channel: u8, bytes: Bytes) {
        if channel == UNRELIABLE_CHANNEL {
            self.up.send(now, bytes.to_vec(), &mut self.rng);
        } else {
            self.up_reliable
                .send_tagged(now, channel, bytes.to_vec(), &mut self.rng);
        }
    }

    /// Hands renet the messages for the server that are due at `now`.
    fn flush(&mut self, now: Duration, client: &mut RenetClient) {
        for (channel, payload) in self.up_reliable.deliver_tagged(now) {
            client.send_message(channel, Bytes::from(payload));
        }
        for payload in self.up.deliver(now) {
            client.send_message(UNRELIABLE_CHANNEL, Bytes::from(payload));
        }
    }

    /// Forgets everything in flight (the connection is gone).
    fn clear(&mut self) {
        self.down.clear();
        self.down_reliable.clear();
        self.up.clear();
        self.up_reliable.clear();
    }
}

/// What sending to the server takes: renet's client, the [`SimulatedLink`] and the
/// [`NetCapture`] when there are, and the clock the link runs on.
#[derive(SystemParam)]
pub(crate) struct ServerSender<'w> {
    /// The connection.
    pub(crate) client: ResMut<'w, RenetClient>,
    link: Option<ResMut<'w, SimulatedLink>>,
    capture: Option<ResMut<'w, NetCapture>>,
    time: Res<'w, Time<Real>>,
}

impl ServerSender<'_> {
    /// Sends a message to the server, through the link if there is one, and records it in the
    /// capture if one runs.
    pub(crate) fn send(&mut self, channel: u8, bytes: Bytes) {
        if let Some(capture) = self.capture.as_deref_mut() {
            capture.client_sent(channel, &bytes);
        }
        match self.link.as_deref_mut() {
            Some(link) => link.send(self.time.elapsed(), channel, bytes),
            None => self.client.send_message(channel, bytes),
        }
    }
}

/// Hands renet what the simulated link delivers this frame; forgets it all when not connected.
pub(crate) fn flush_simulated_link(
    time: Res<Time<Real>>,
    mut link: ResMut<SimulatedLink>,
    mut client: ResMut<RenetClient>,
) {
    if client.is_connected() {
        link.flush(time.elapsed(), &mut client);
    } else {
        link.clear();
    }
}
