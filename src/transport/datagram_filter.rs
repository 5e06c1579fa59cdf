//! The shape check every datagram passes before netcode (renetcode) reads it, on both sides.
//!
//! renetcode trusts a packet's header: a prefix byte whose high nibble claims more than eight
//! sequence bytes makes it slice past an 8-byte buffer, a packet shorter than its sequence and
//! MAC makes it subtract past zero, a sequence within 256 of `u64::MAX` overflows its replay
//! window, and every packet it refuses costs an `ERROR` line in the log. These functions look
//! at the bytes alone (no keys, no state) and refuse anything renetcode would refuse for its
//! shape, or could fail on, so that netcode only ever sees well-formed packets.
//!
//! A netcode 1.02 packet is a prefix byte (type in the low nibble, sequence length in the
//! high one), the sequence in that many little-endian bytes, the encrypted body and a 16-byte
//! MAC. The connection request is the exception: prefix 0 and a fixed 1,077-byte plaintext
//! body. Every type but the payload has a body of fixed size.

use renetcode::NETCODE_MAX_PACKET_BYTES;

/// Bytes of a netcode packet's MAC.
pub(crate) const MAC_BYTES: usize = 16;
/// Bytes of a connection request: prefix, version, protocol id, expiry, nonce, private token.
pub(crate) const CONNECTION_REQUEST_BYTES: usize = 1 + 13 + 8 + 8 + 24 + 1024;
/// netcode's version text, as a connection request carries it.
const VERSION_INFO: &[u8; 13] = b"NETCODE 1.02\0";
/// Bytes of a challenge or response body: the token's sequence and the encrypted token.
const CHALLENGE_BODY_BYTES: usize = 8 + 300;
/// Bytes of a keep-alive body: client index and client count.
const KEEP_ALIVE_BODY_BYTES: usize = 8;
/// Most payload bytes netcode carries in one packet.
const MAX_PAYLOAD_BYTES: usize = 1300;
/// A sequence above this would overflow netcode's replay window (`sequence + 256`). An honest
/// peer counts from zero and never gets near it.
pub(crate) const MAX_SEQUENCE: u64 = u64::MAX - 512;

/// netcode's packet types.
pub(crate) mod kind {
    pub(crate) const REQUEST: u8 = 0;
    pub(crate) const DENIED: u8 = 1;
    pub(crate) const CHALLENGE: u8 = 2;
    pub(crate) const RESPONSE: u8 = 3;
    pub(crate) const KEEP_ALIVE: u8 = 4;
    pub(crate) const PAYLOAD: u8 = 5;
    pub(crate) const DISCONNECT: u8 = 6;
}

/// Why a datagram was refused before netcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Shorter than any netcode packet.
    TooSmall,
    /// Longer than any netcode packet.
    TooLarge,
    /// Not a type this side receives.
    BadType,
    /// The header is impossible: a sequence longer than eight bytes, beyond what an honest
    /// peer reaches, or a size the packet's type does not have.
    Malformed,
    /// A connection request of another netcode version or game, or already expired.
    BadRequest,
}

/// What a well-formed packet's header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// The packet type ([`kind`]).
    pub(crate) kind: u8,
    /// The packet's sequence (0 for a connection request).
    pub(crate) sequence: u64,
}

/// The fields of a connection request that are sent in the clear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RequestCheck {
    /// The game's netcode protocol id.
    pub(crate) protocol_id: u64,
    /// Now, in seconds since the Unix epoch.
    pub(crate) now_unix: u64,
    /// The latest expiry accepted, in seconds since the Unix epoch (`u64::MAX`: any).
    pub(crate) latest_expiry: u64,
}

/// Checks a datagram a client sent to the server.
pub(crate) fn from_client(bytes: &[u8], request: &RequestCheck) -> Result<Header, Refusal> {
    check_size(bytes)?;
    let prefix = bytes[0];
    if prefix == kind::REQUEST {
        return check_request(bytes, request).map(|()| Header {
            kind: kind::REQUEST,
            sequence: 0,
        });
    }
    match prefix & 0xf {
        kind::RESPONSE => sealed(bytes, CHALLENGE_BODY_BYTES..=CHALLENGE_BODY_BYTES),
        kind::KEEP_ALIVE => sealed(bytes, KEEP_ALIVE_BODY_BYTES..=KEEP_ALIVE_BODY_BYTES),
        kind::PAYLOAD => sealed(bytes, 1..=MAX_PAYLOAD_BYTES),
        kind::DISCONNECT => sealed(bytes, 0..=0),
        _ => Err(Refusal::BadType),
    }
}

/// Checks a datagram the server (or someone using its address) sent to a client.
pub(crate) fn from_server(bytes: &[u8]) -> Result<Header, Refusal> {
    check_size(bytes)?;
    match bytes[0] & 0xf {
        kind::DENIED => sealed(bytes, 0..=0),
        kind::CHALLENGE => sealed(bytes, CHALLENGE_BODY_BYTES..=CHALLENGE_BODY_BYTES),
        kind::KEEP_ALIVE => sealed(bytes, KEEP_ALIVE_BODY_BYTES..=KEEP_ALIVE_BODY_BYTES),
        kind::PAYLOAD => sealed(bytes, 1..=MAX_PAYLOAD_BYTES),
        kind::DISCONNECT => sealed(bytes, 0..=0),
        _ => Err(Refusal::BadType),
    }
}

fn check_size(bytes: &[u8]) -> Result<(), Refusal> {
    // netcode's own floor: prefix, one sequence byte, the MAC.
    if bytes.len() < 2 + MAC_BYTES {
        return Err(Refusal::TooSmall);
    }
    if bytes.len() > NETCODE_MAX_PACKET_BYTES {
        return Err(Refusal::TooLarge);
    }
    Ok(())
}

/// An encrypted packet: its sequence fits, and its body (between sequence and MAC) has a size
/// in `body`.
fn sealed(bytes: &[u8], body: core::ops::RangeInclusive<usize>) -> Result<Header, Refusal> {
    let kind = bytes[0] & 0xf;
    let sequence_bytes = usize::from(bytes[0] >> 4);
    if sequence_bytes > 8 {
        return Err(Refusal::Malformed);
    }
    let Some(body_bytes) = bytes.len().checked_sub(1 + sequence_bytes + MAC_BYTES) else {
        return Err(Refusal::Malformed);
    };
    if !body.contains(&body_bytes) {
        return Err(Refusal::Malformed);
    }
    let mut sequence = [0u8; 8];
    sequence[..sequence_bytes].copy_from_slice(&bytes[1..=sequence_bytes]);
    let sequence = u64::from_le_bytes(sequence);
    if sequence > MAX_SEQUENCE {
        return Err(Refusal::Malformed);
    }
    Ok(Header { kind, sequence })
}

fn check_request(bytes: &[u8], check: &RequestCheck) -> Result<(), Refusal> {
    if bytes.len() != CONNECTION_REQUEST_BYTES {
        return Err(Refusal::Malformed);
    }
    let u64_at = |at: usize| {
        let mut field = [0u8; 8];
        field.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(field)
    };
    let (version, protocol_id, expiry) = (&bytes[1..14], u64_at(14), u64_at(22));
    if version != VERSION_INFO
        || protocol_id != check.protocol_id
        || expiry <= check.now_unix
        || expiry > check.latest_expiry
    {
        return Err(Refusal::BadRequest);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROTOCOL: u64 = 7;
    const CHECK: RequestCheck = RequestCheck {
        protocol_id: PROTOCOL,
        now_unix: 1_000,
        latest_expiry: 1_030,
    };

    fn sealed_packet(kind: u8, sequence: u64, body: usize) -> Vec<u8> {
        let sequence_bytes = (8 - sequence.leading_zeros() as usize / 8).min(8);
        let mut bytes = vec![kind | ((sequence_bytes as u8) << 4)];
        bytes.extend_from_slice(&sequence.to_le_bytes()[..sequence_bytes]);
        bytes.resize(bytes.len() + body + MAC_BYTES, 0xab);
        bytes
    }

    fn request(protocol_id: u64, expiry: u64) -> Vec<u8> {
        let mut bytes = vec![0u8; CONNECTION_REQUEST_BYTES];
        bytes[1..14].copy_from_slice(VERSION_INFO);
        bytes[14..22].copy_from_slice(&protocol_id.to_le_bytes());
        bytes[22..30].copy_from_slice(&expiry.to_le_bytes());
        bytes
    }

    #[test]
    fn the_datagrams_that_crashed_renetcode_are_refused() {
        // A response claiming 15 sequence bytes, from a client's address.
        let mut to_server = vec![0xf3];
        to_server.resize(18, 0);
        assert_eq!(from_client(&to_server, &CHECK), Err(Refusal::Malformed));
        // A challenge claiming 15 sequence bytes, to a connecting client.
        let mut to_client = vec![0xf2];
        to_client.resize(18, 0);
        assert_eq!(from_server(&to_client), Err(Refusal::Malformed));
        // Eight sequence bytes in 18: no room for the MAC (renetcode subtracts past zero).
        let mut short = vec![0x84];
        short.resize(18, 1);
        assert_eq!(from_client(&short, &CHECK), Err(Refusal::Malformed));
        assert_eq!(from_server(&short), Err(Refusal::Malformed));
        // A sequence at the top of the range (netcode adds 256 to it).
        for kind in [kind::KEEP_ALIVE, kind::PAYLOAD, kind::DISCONNECT] {
            let body = [KEEP_ALIVE_BODY_BYTES, 10, 0][usize::from(kind - kind::KEEP_ALIVE)];
            let top = sealed_packet(kind, u64::MAX, body);
            assert_eq!(from_client(&top, &CHECK), Err(Refusal::Malformed));
            assert_eq!(from_server(&top), Err(Refusal::Malformed));
            let honest = sealed_packet(kind, 1 << 40, body);
            assert!(from_client(&honest, &CHECK).is_ok());
        }
    }

    #[test]
    fn every_packet_an_honest_peer_sends_passes_with_its_header() {
        for sequence in [0, 1, 255, 256, 1 << 20, MAX_SEQUENCE] {
            for (kind, body) in [
                (kind::RESPONSE, CHALLENGE_BODY_BYTES),
                (kind::KEEP_ALIVE, KEEP_ALIVE_BODY_BYTES),
                (kind::PAYLOAD, 1),
                (kind::PAYLOAD, MAX_PAYLOAD_BYTES),
                (kind::DISCONNECT, 0),
            ] {
                let packet = sealed_packet(kind, sequence, body);
                if packet.len() < 2 + MAC_BYTES {
                    // Below netcode's own floor (a disconnect at sequence 0): netcode refuses it.
                    assert_eq!(from_client(&packet, &CHECK), Err(Refusal::TooSmall));
                    continue;
                }
                assert_eq!(
                    from_client(&packet, &CHECK),
                    Ok(Header { kind, sequence }),
                    "type {kind}, body {body}, sequence {sequence}"
                );
            }
            for (kind, body) in [
                (kind::DENIED, 0),
                (kind::CHALLENGE, CHALLENGE_BODY_BYTES),
                (kind::KEEP_ALIVE, KEEP_ALIVE_BODY_BYTES),
                (kind::PAYLOAD, 700),
                (kind::DISCONNECT, 0),
            ] {
                let packet = sealed_packet(kind, sequence, body);
                let expected = match packet.len() < 2 + MAC_BYTES {
                    true => Err(Refusal::TooSmall),
                    false => Ok(Header { kind, sequence }),
                };
                assert_eq!(from_server(&packet), expected);
            }
        }
        assert_eq!(
            from_client(&request(PROTOCOL, 1_010), &CHECK),
            Ok(Header {
                kind: kind::REQUEST,
                sequence: 0
            })
        );
    }

    #[test]
    fn sizes_a_type_does_not_have_are_refused() {
        for (kind, body) in [
            (kind::RESPONSE, CHALLENGE_BODY_BYTES - 1),
            (kind::RESPONSE, CHALLENGE_BODY_BYTES + 1),
            (kind::KEEP_ALIVE, KEEP_ALIVE_BODY_BYTES + 1),
            (kind::DISCONNECT, 1),
            (kind::PAYLOAD, 0),
        ] {
            let packet = sealed_packet(kind, 3, body);
            assert_eq!(from_client(&packet, &CHECK), Err(Refusal::Malformed));
        }
        assert_eq!(
            from_server(&sealed_packet(kind::CHALLENGE, 3, 10)),
            Err(Refusal::Malformed)
        );
        assert_eq!(
            from_server(&sealed_packet(kind::DENIED, 3, 1)),
            Err(Refusal::Malformed)
        );
        assert_eq!(from_client(&[5; 17], &CHECK), Err(Refusal::TooSmall));
        assert_eq!(
            from_server(&vec![5; NETCODE_MAX_PACKET_BYTES + 1]),
            Err(Refusal::TooLarge)
        );
    }

    #[test]
    fn each_side_refuses_the_types_only_the_other_sends() {
        for kind in [kind::DENIED, kind::CHALLENGE, 7, 15] {
            let packet = sealed_packet(kind, 3, CHALLENGE_BODY_BYTES);
            assert_eq!(from_client(&packet, &CHECK), Err(Refusal::BadType));
        }
        for kind in [kind::RESPONSE, 7, 15] {
            let packet = sealed_packet(kind, 3, CHALLENGE_BODY_BYTES);
            assert_eq!(from_server(&packet), Err(Refusal::BadType));
        }
        // A connection request is never something a server sends.
        assert_eq!(
            from_server(&request(PROTOCOL, 1_010)),
            Err(Refusal::BadType)
        );
    }

    #[test]
    fn a_request_of_another_game_version_or_time_is_refused() {
        let mut version = request(PROTOCOL, 1_010);
        version[12] = b'3';
        let mut short = request(PROTOCOL, 1_010);
        short.pop();
        for (bytes, refusal) in [
            (version, Refusal::BadRequest),
            (request(PROTOCOL + 1, 1_010), Refusal::BadRequest),
            (request(PROTOCOL, 1_000), Refusal::BadRequest),
            (request(PROTOCOL, 1_031), Refusal::BadRequest),
            (request(PROTOCOL, u64::MAX), Refusal::BadRequest),
            (short, Refusal::Malformed),
        ] {
            assert_eq!(from_client(&bytes, &CHECK), Err(refusal));
        }
        assert!(from_client(&request(PROTOCOL, 1_030), &CHECK).is_ok());
    }
}
