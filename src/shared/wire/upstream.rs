//! What an update frame carries after its acknowledgements and inputs: optional sections, each
//! behind one presence bit, so a section a client has nothing for costs one bit: what the
//! client's screen showed when it produced each input (for lag compensation), and the values of
//! the entities it holds authority over (client authority; laid out in
//! [`owned_section`](super::owned_section)).

use super::{BitReader, BitWriter, MAX_INPUTS_PER_FRAME, unzigzag, zigzag};
use crate::shared::{authority::MAX_OWNED_SECTION_BYTES, error::DecodeError};

/// Sixteenths of a tick: the unit of [`UpstreamExtras::seen`].
pub const SEEN_STEPS_PER_TICK: u32 = 16;

/// An update frame's optional sections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpstreamExtras {
    /// For the inputs of the frame's first input block, newest first: how far behind each
    /// input's tick the world the client showed was when it produced the input, in
    /// [`SEEN_STEPS_PER_TICK`]ths of a tick. At most one per input.
    pub seen: Vec<u16>,
    /// The owned-values section: client-authoritative values of held entities, at most
    /// [`MAX_OWNED_SECTION_BYTES`]; empty when the client holds nothing that changed.
    pub owned: Vec<u8>,
}

/// Writes the sections: a presence bit each; the seen lags as a count, the newest whole and
/// every older one as one bit when equal to the newer, else its difference.
pub(super) fn write_extras(bits: &mut BitWriter, extras: &UpstreamExtras) {
    write_seen(bits, &extras.seen);
    let owned = &extras.owned[..extras.owned.len().min(MAX_OWNED_SECTION_BYTES)];
    bits.write_bool(!owned.is_empty());
    if !owned.is_empty() {
        bits.write_golomb(owned.len() as u64 - 1, 0);
        bits.write_bytes(owned);
    }
}

fn write_seen(bits: &mut BitWriter, seen: &[u16]) {
    let seen = &seen[..seen.len().min(MAX_INPUTS_PER_FRAME)];
    bits.write_bool(!seen.is_empty());
    if seen.is_empty() {
        return;
    }
    bits.write_golomb(seen.len() as u64 - 1, 0);
    let mut newer: Option<u16> = None;
    for &lag in seen {
        match newer {
            None => bits.write_golomb(lag.into(), 6),
            Some(newer) if newer == lag => bits.write_bool(true),
            Some(newer) => {
                bits.write_bool(false);
                bits.write_golomb(zigzag(i64::from(lag) - i64::from(newer)), 2);
            }
        }
        newer = Some(lag);
    }
}

/// Reads what [`write_extras`] wrote.
pub(super) fn read_extras(bits: &mut BitReader) -> Result<UpstreamExtras, DecodeError> {
    let mut extras = UpstreamExtras {
        seen: read_seen(bits)?,
        owned: Vec::new(),
    };
    if bits.read_bool()? {
        let len = bits.read_count_at_most(MAX_OWNED_SECTION_BYTES - 1, "owned-value bytes")? + 1;
        extras.owned = bits.read_bytes(len)?;
    }
    Ok(extras)
}

fn read_seen(bits: &mut BitReader) -> Result<Vec<u16>, DecodeError> {
    let mut seen = Vec::new();
    if !bits.read_bool()? {
        return Ok(seen);
    }
    let count = bits.read_count_at_most(MAX_INPUTS_PER_FRAME - 1, "seen ticks")? + 1;
    let lag = |value: i64| u16::try_from(value).map_err(|_| DecodeError::VarintOverflow);
    let mut newer: Option<u16> = None;
    for _ in 0..count {
        let value = match newer {
            None => lag(i64::try_from(bits.read_golomb(6)?).unwrap_or(-1))?,
            Some(newer) if bits.read_bool()? => newer,
            Some(newer) => lag(i64::from(newer)
                .checked_add(unzigzag(bits.read_golomb(2)?))
                .ok_or(DecodeError::VarintOverflow)?)?,
        };
        seen.push(value);
        newer = Some(value);
    }
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(extras: &UpstreamExtras) -> (UpstreamExtras, usize) {
        let mut bits = BitWriter::new();
        write_extras(&mut bits, extras);
        let len = bits.bit_len();
        let bytes = bits.into_bytes();
        let mut reader = BitReader::new(&bytes);
        (read_extras(&mut reader).unwrap(), len)
    }

    #[test]
    fn seen_lags_roundtrip_and_a_steady_lag_costs_a_bit_per_input() {
        assert_eq!(
            roundtrip(&UpstreamExtras::default()),
            (UpstreamExtras::default(), 2)
        );
        let steady = UpstreamExtras {
            seen: vec![180; 5],
            owned: Vec::new(),
        };
        let (decoded, bits) = roundtrip(&steady);
        assert_eq!(decoded, steady);
        // Presence, the count (4, Exp-Golomb), the newest (180, order 6), a bit for each other;
        // the owned section's absence.
        assert_eq!(bits, 1 + 5 + 9 + 4 + 1);
        let varied = UpstreamExtras {
            seen: vec![u16::MAX, 0, 7, 7, 65_000],
            owned: vec![1, 2, 3],
        };
        assert_eq!(roundtrip(&varied).0, varied);
    }

    #[test]
    fn an_owned_section_roundtrips_and_one_too_long_is_an_error() {
        let full = UpstreamExtras {
            seen: Vec::new(),
            owned: vec![7; MAX_OWNED_SECTION_BYTES],
        };
        assert_eq!(roundtrip(&full).0, full);
        let mut bits = BitWriter::new();
        bits.write_bool(false);
        bits.write_bool(true);
        bits.write_golomb(MAX_OWNED_SECTION_BYTES as u64, 0);
        bits.write_bytes(&vec![0; MAX_OWNED_SECTION_BYTES + 1]);
        let bytes = bits.into_bytes();
        assert!(read_extras(&mut BitReader::new(&bytes)).is_err());
    }

    #[test]
    fn a_lag_out_of_range_is_an_error() {
        let mut bits = BitWriter::new();
        bits.write_bool(true);
        bits.write_golomb(1, 0);
        bits.write_golomb(u64::from(u16::MAX), 6);
        bits.write_bool(false);
        bits.write_golomb(zigzag(1), 2);
        let bytes = bits.into_bytes();
        assert!(read_extras(&mut BitReader::new(&bytes)).is_err());
        // A difference so large that adding it overflows.
        let mut bits = BitWriter::new();
        bits.write_bool(true);
        bits.write_golomb(1, 0);
        bits.write_golomb(1, 6);
        bits.write_bool(false);
        bits.write_golomb(u64::MAX - 1, 2);
        let bytes = bits.into_bytes();
        assert!(read_extras(&mut BitReader::new(&bytes)).is_err());
    }
}
