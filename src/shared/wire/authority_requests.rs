//! Requests about client authority a client sends on the reliable channel
//! ([`client_kind::AUTHORITY`]): take or release an entity named by its slot, or have an entity
//! it spawned made a server entity it owns.

use super::{BitReader, BitWriter, MAX_SLOTS, client_kind};
use crate::shared::{authority::MAX_OWNED_SECTION_BYTES, error::DecodeError};

/// Most authority requests in one frame.
pub const MAX_AUTHORITY_REQUESTS: usize = 64;

/// A client's request about authority: over one entity, named by its slot, or for an entity it
/// spawned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthorityRequest {
    /// The client asks to hold the entity; the server's rule decides.
    Take(u32),
    /// The client gives the entity back to the server.
    Release(u32),
    /// The client spawned an entity it wants to own; the server's rule decides.
    Spawn {
        /// The predicted tick it was spawned at (with `index`, its `SpawnedBy` key).
        tick: u32,
        /// Which of the client's spawns of that tick.
        index: u16,
        /// Its client-authoritative values: a count, then per value the type's wire index and
        /// the value as its codec writes it whole; at most `MAX_OWNED_SECTION_BYTES`.
        values: Vec<u8>,
    },
}

/// Reads the requests of an authority frame (after its kind byte).
pub(super) fn read_authority_requests(
    bits: &mut BitReader,
) -> Result<Vec<AuthorityRequest>, DecodeError> {
    let count = bits.read_count_at_most(MAX_AUTHORITY_REQUESTS, "authority requests")?;
    let mut requests = Vec::with_capacity(count);
    for _ in 0..count {
        let op = bits.read_bits(2)?;
        if op == 2 {
            let tick = bits.read_bits(32)? as u32;
            let index = bits.read_bits(16)? as u16;
            let len = bits.read_count_at_most(MAX_OWNED_SECTION_BYTES, "spawn value bytes")?;
            let values = bits.read_bytes(len)?;
            requests.push(AuthorityRequest::Spawn {
                tick,
                index,
                values,
            });
            continue;
        }
        let slot = u32::try_from(bits.read_golomb(8)?)
            .ok()
            .filter(|slot| *slot < MAX_SLOTS)
            .ok_or(DecodeError::UnexpectedEnd("a slot below MAX_SLOTS"))?;
        requests.push(match op {
            0 => AuthorityRequest::Take(slot),
            1 => AuthorityRequest::Release(slot),
            _ => {
                return Err(DecodeError::UnknownKind {
                    frame: "authority request",
                    kind: op as u8,
                });
            }
        });
    }
    Ok(requests)
}

/// Encodes a [`client_kind::AUTHORITY`] frame (at most [`MAX_AUTHORITY_REQUESTS`] requests;
/// the rest are left out).
pub fn encode_authority_requests(requests: &[AuthorityRequest]) -> Vec<u8> {
    let requests = &requests[..requests.len().min(MAX_AUTHORITY_REQUESTS)];
    let mut bits = BitWriter::with_capacity(4);
    bits.write_bits(client_kind::AUTHORITY.into(), 8);
    bits.write_golomb(requests.len() as u64, 0);
    for request in requests {
        match request {
            AuthorityRequest::Take(slot) | AuthorityRequest::Release(slot) => {
                let op = u64::from(matches!(request, AuthorityRequest::Release(_)));
                bits.write_bits(op, 2);
                bits.write_golomb(u64::from(*slot), 8);
            }
            AuthorityRequest::Spawn {
                tick,
                index,
                values,
            } => {
                let values = &values[..values.len().min(MAX_OWNED_SECTION_BYTES)];
                bits.write_bits(2, 2);
                bits.write_bits(u64::from(*tick), 32);
                bits.write_bits(u64::from(*index), 16);
                bits.write_golomb(values.len() as u64, 0);
                bits.write_bytes(values);
            }
        }
    }
    bits.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::wire::ClientFrame;

    #[test]
    fn requests_roundtrip_and_bad_ones_are_errors() {
        let requests = vec![
            AuthorityRequest::Take(0),
            AuthorityRequest::Release(MAX_SLOTS - 1),
            AuthorityRequest::Spawn {
                tick: u32::MAX,
                index: 3,
                values: vec![1, 2, 3],
            },
        ];
        assert_eq!(
            ClientFrame::decode(&encode_authority_requests(&requests)).unwrap(),
            ClientFrame::Authority(requests)
        );
        let mut bits = BitWriter::new();
        bits.write_bits(client_kind::AUTHORITY.into(), 8);
        bits.write_golomb(1, 0);
        bits.write_bits(0, 2);
        bits.write_golomb(MAX_SLOTS.into(), 8);
        assert!(ClientFrame::decode(&bits.into_bytes()).is_err());
        let mut bits = BitWriter::new();
        bits.write_bits(client_kind::AUTHORITY.into(), 8);
        bits.write_golomb(1, 0);
        bits.write_bits(3, 2);
        bits.write_golomb(0, 8);
        assert!(
            ClientFrame::decode(&bits.into_bytes()).is_err(),
            "an unknown request"
        );
    }
}
