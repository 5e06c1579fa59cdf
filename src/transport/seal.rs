//! Whether a packet was sealed with a connection's key, checked before netcode reads it: a
//! packet of the right shape from a connected peer's address that netcode would fail to open
//! (spoofed, or corrupted on the way) is dropped and counted instead of costing netcode a
//! decryption and the log an `ERROR` line.

use chacha20poly1305::{AeadInPlace, ChaCha20Poly1305, Key, KeyInit, Nonce, Tag};

use super::datagram_filter::{Header, MAC_BYTES};

/// netcode's version text, part of every packet's additional data.
const VERSION_INFO: &[u8; 13] = b"NETCODE 1.02\0";

/// A connection's key: client to server on the server, server to client on a client.
pub(crate) type ConnectionKey = [u8; 32];

/// Whether `packet` (shape-checked into `header`) opens with `key`, as netcode will try: the
/// body after the prefix and sequence, ChaCha20-Poly1305 with the sequence as nonce and the
/// version, protocol id and prefix as additional data.
pub(crate) fn sealed_with(
    packet: &[u8],
    header: &Header,
    protocol_id: u64,
    key: &ConnectionKey,
) -> bool {
    let body_at = 1 + usize::from(packet[0] >> 4);
    let Some(body) = packet.get(body_at..) else {
        return false;
    };
    if body.len() < MAC_BYTES {
        return false;
    }
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&header.sequence.to_le_bytes());
    let mut additional = [0u8; 13 + 8 + 1];
    additional[..13].copy_from_slice(VERSION_INFO);
    additional[13..21].copy_from_slice(&protocol_id.to_le_bytes());
    additional[21] = packet[0];
    // A copy: netcode opens the packet itself.
    let mut copy = [0u8; renetcode::NETCODE_MAX_PACKET_BYTES];
    let (sealed, tag) = body.split_at(body.len() - MAC_BYTES);
    copy[..sealed.len()].copy_from_slice(sealed);
    ChaCha20Poly1305::new(Key::from_slice(key))
        .decrypt_in_place_detached(
            Nonce::from_slice(&nonce),
            &additional,
            &mut copy[..sealed.len()],
            Tag::from_slice(tag),
        )
        .is_ok()
}
