//! [`TransportStats`]: what a transport read from its socket and what it dropped before
//! netcode, by cause. Both sides keep one.

use bevy::prelude::*;

use super::datagram_filter::Refusal;

/// What a transport received and dropped, by cause, since it started. The server's is also a
/// resource, refreshed every frame, for diagnostics; a client's is read with
/// [`ClientTransport::stats`](super::ClientTransport::stats).
///
/// Every datagram is looked at before netcode decrypts it: one that cannot be a packet of the
/// peer is dropped and counted here, never logged one by one (the server logs a summary every
/// [`ServerTransport::report_every`](super::ServerTransport::report_every)).
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Datagrams read from the socket.
    pub datagrams: u64,
    /// Payloads handed to renet.
    pub payloads: u64,
    /// Dropped: shorter than any netcode packet.
    pub too_small: u64,
    /// Dropped: longer than any netcode packet.
    pub too_large: u64,
    /// Dropped: not a packet type this side receives.
    pub bad_type: u64,
    /// Dropped: an impossible header (a sequence longer than 8 bytes or beyond any honest
    /// peer's, or a size the packet's type does not have).
    pub malformed: u64,
    /// Dropped: a connection request for another netcode version or game, expired, expiring
    /// later than this server accepts, or whose token does not open with this server's key.
    pub bad_requests: u64,
    /// Dropped: a packet only connected clients send, from an address that is not one (on a
    /// client: anything not from the server's address).
    pub unknown_sender: u64,
    /// Dropped: a handshake packet out of turn (a response nobody was challenged for, a
    /// request or response from an address already connected).
    pub out_of_turn: u64,
    /// Dropped: a packet already received (a duplicate on the way, or a replay).
    pub duplicates: u64,
    /// Dropped: a packet of a known peer's address that its key does not open (spoofed, or
    /// corrupted on the way).
    pub forged: u64,
    /// Connections refused because the client claimed an id already in use.
    pub refused_ids: u64,
    /// Updates that stopped reading at the per-update datagram limit, leaving the rest to the
    /// system's buffer (a flood, or a stall of the game loop).
    pub capped_reads: u64,
}

impl TransportStats {
    /// Datagrams dropped before netcode, all causes.
    pub fn dropped(&self) -> u64 {
        self.too_small
            + self.too_large
            + self.bad_type
            + self.malformed
            + self.bad_requests
            + self.unknown_sender
            + self.out_of_turn
            + self.duplicates
            + self.forged
    }

    /// Counts a datagram the shape check refused.
    pub(crate) fn refused(&mut self, refusal: Refusal) {
        *match refusal {
            Refusal::TooSmall => &mut self.too_small,
            Refusal::TooLarge => &mut self.too_large,
            Refusal::BadType => &mut self.bad_type,
            Refusal::Malformed => &mut self.malformed,
            Refusal::BadRequest => &mut self.bad_requests,
        } += 1;
    }

    /// One line on what was dropped between `then` and `self`, or `None` when nothing was.
    pub(crate) fn summary_since(&self, then: &Self) -> Option<String> {
        let dropped = self.dropped() - then.dropped();
        if dropped == 0
            && self.refused_ids == then.refused_ids
            && self.capped_reads == then.capped_reads
        {
            return None;
        }
        Some(format!(
            "dropped {dropped} of {} datagrams: {} too small, {} too large, {} of a wrong type, {} malformed, {} bad connection requests, {} from unknown senders, {} out of turn, {} duplicates, {} forged; {} id claims refused; {} updates stopped reading at the limit",
            self.datagrams - then.datagrams,
            self.too_small - then.too_small,
            self.too_large - then.too_large,
            self.bad_type - then.bad_type,
            self.malformed - then.malformed,
            self.bad_requests - then.bad_requests,
            self.unknown_sender - then.unknown_sender,
            self.out_of_turn - then.out_of_turn,
            self.duplicates - then.duplicates,
            self.forged - then.forged,
            self.refused_ids - then.refused_ids,
            self.capped_reads - then.capped_reads,
        ))
    }
}
