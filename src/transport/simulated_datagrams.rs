//! [`SimulatedDatagrams`]: a link conditioner on every datagram a server transport receives
//! and sends ([`ServerTransport::simulate_link`](super::ServerTransport::simulate_link)), and
//! [`Outgoing`], the one way out for a datagram: through it, or straight to the socket.

use std::{
    net::{SocketAddr, UdpSocket},
    time::Duration,
};

use bevy::prelude::*;

use crate::shared::{link::Link, rng::SplitMix64};

/// Datagrams held back, dropped or doubled by a [`LinkConditioner`], both ways.
pub(crate) struct SimulatedDatagrams {
    pub(crate) incoming: Link,
    pub(crate) outgoing: Link,
    pub(crate) rng: SplitMix64,
    pub(crate) now: Duration,
}

impl SimulatedDatagrams {
    /// A datagram with its address in front: `[address length][address text][bytes]`.
    pub(crate) fn frame(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
        let text = addr.to_string();
        let mut framed = Vec::with_capacity(1 + text.len() + bytes.len());
        framed.push(text.len() as u8);
        framed.extend_from_slice(text.as_bytes());
        framed.extend_from_slice(bytes);
        framed
    }

    pub(crate) fn unframe(framed: &[u8]) -> Option<(SocketAddr, &[u8])> {
        let (&len, rest) = framed.split_first()?;
        let text = std::str::from_utf8(rest.get(..usize::from(len))?).ok()?;
        Some((text.parse().ok()?, &rest[usize::from(len)..]))
    }
}

/// Sends datagrams, through the simulated link when there is one.
pub(crate) struct Outgoing<'a> {
    pub(crate) socket: &'a UdpSocket,
    pub(crate) simulated: Option<&'a mut SimulatedDatagrams>,
}

impl Outgoing<'_> {
    pub(crate) fn send(&mut self, bytes: &[u8], addr: SocketAddr) {
        match self.simulated.as_deref_mut() {
            Some(link) => {
                let framed = SimulatedDatagrams::frame(addr, bytes);
                link.outgoing.send(link.now, framed, &mut link.rng);
            }
            None => {
                if let Err(error) = self.socket.send_to(bytes, addr) {
                    debug!("sending to {addr}: {error}");
                }
            }
        }
    }
}
