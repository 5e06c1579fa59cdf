//! [`SimulatedDatagrams`]: a link conditioner on every datagram a server transport receives
//! and sends
//! ([`ServerTransport::simulate_link`](crate::transport::ServerTransport::simulate_link)), and
//! [`Outgoing`], the one way out for a datagram: through it, or straight to the socket.

use std::{
    net::{SocketAddr, UdpSocket},
    time::Duration,
};

use bevy::prelude::*;

use super::{LinkConditioner, SplitMix64, one_way::Link};

/// Datagrams held back, dropped or doubled by a [`LinkConditioner`], both ways, each with its
/// peer's address.
pub(crate) struct SimulatedDatagrams {
    incoming: Link<SocketAddr>,
    outgoing: Link<SocketAddr>,
    rng: SplitMix64,
    /// Time the link has run.
    now: Duration,
}

impl SimulatedDatagrams {
    /// Both ways shaped by `conditioner`, with random choices seeded by `seed`.
    pub(crate) fn new(conditioner: LinkConditioner, seed: u64) -> Self {
        Self {
            incoming: Link::new(conditioner),
            outgoing: Link::new(conditioner),
            rng: SplitMix64::new(seed),
            now: Duration::ZERO,
        }
    }

    /// Moves the link's clock on by `elapsed`.
    pub(crate) fn advance(&mut self, elapsed: Duration) {
        self.now += elapsed;
    }

    /// Holds a datagram received from `addr` until the link delivers it.
    pub(crate) fn receive(&mut self, addr: SocketAddr, bytes: &[u8]) {
        self.incoming
            .send_tagged(self.now, addr, bytes.to_vec(), &mut self.rng);
    }

    /// The received datagrams due by now, with their senders, in arrival order.
    pub(crate) fn arrived(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        self.incoming.deliver_tagged(self.now)
    }
}

/// Sends datagrams, through the simulated link when there is one.
pub(crate) struct Outgoing<'a> {
    pub(crate) socket: &'a UdpSocket,
    pub(crate) simulated: Option<&'a mut SimulatedDatagrams>,
}

impl Outgoing<'_> {
    /// Sends `bytes` to `addr`, or holds them in the simulated link.
    pub(crate) fn send(&mut self, bytes: &[u8], addr: SocketAddr) {
        match self.simulated.as_deref_mut() {
            Some(link) => {
                link.outgoing
                    .send_tagged(link.now, addr, bytes.to_vec(), &mut link.rng);
            }
            None => send_to(self.socket, bytes, addr),
        }
    }

    /// Sends what the simulated link delivers by now.
    pub(crate) fn flush(&mut self) {
        let Some(link) = self.simulated.as_deref_mut() else {
            return;
        };
        for (addr, bytes) in link.outgoing.deliver_tagged(link.now) {
            send_to(self.socket, &bytes, addr);
        }
    }
}

/// Sends one datagram; a failure is only logged (UDP promises nothing anyway).
fn send_to(socket: &UdpSocket, bytes: &[u8], addr: SocketAddr) {
    if let Err(error) = socket.send_to(bytes, addr) {
        debug!("sending to {addr}: {error}");
    }
}
