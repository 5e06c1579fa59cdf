//! The owned-values section of an update frame: the client-authoritative values of entities a
//! client holds, all for one tick of the client's simulation.
//!
//! Bits: the section's tick (the newest the values are for), its low 16 bits; then per
//! component type a `1` bit, the type's wire index (Exp-Golomb), the number of entries less
//! one; each entry the entity's slot (the first whole, later ones as the gap above the
//! previous: an entity whose value changed on two ticks since the last frame has two entries,
//! older first), how many ticks before the section's tick the value is for, how many ticks
//! before the value the acknowledged value it is coded against was (`0`: written whole) and,
//! if coded against one, how many ticks before that a second acknowledged value was (`0`:
//! none; codecs such as `TransformCodec` extrapolate from two), then the value as the type's
//! codec writes it. A `0` bit ends the section. The values' layout belongs to the codecs, so
//! only the side that knows the types (`server::authority`) reads past an entry's head.

use super::{BitReader, BitWriter, MAX_SLOTS};
use crate::shared::{
    authority::{MAX_OWNED_PER_TYPE, OWNED_HISTORY_TICKS},
    error::DecodeError,
    tick::NetTick,
};

/// What precedes one value in the section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnedEntryHead {
    /// The entity's slot (the name replication gave it).
    pub slot: u32,
    /// How many ticks before the section's tick the value is for.
    pub age: u32,
    /// How many ticks before the value's tick the baseline was set; `0` for a whole value.
    pub baseline_age: u32,
    /// How many ticks before the baseline the second baseline (for codecs that extrapolate
    /// from two) was set; `0` for none.
    pub previous_age: u32,
}

/// Writes the section's tick.
pub fn write_owned_tick(bits: &mut BitWriter, tick: NetTick) {
    bits.write_bits(u64::from(tick.0 & 0xffff), 16);
}

/// Reads the section's tick (its low 16 bits).
pub fn read_owned_tick(bits: &mut BitReader) -> Result<u16, DecodeError> {
    Ok(bits.read_bits(16)? as u16)
}

/// Opens a type's block of `count` (1 to [`MAX_OWNED_PER_TYPE`]) entries.
pub fn write_owned_block_head(bits: &mut BitWriter, index: u32, count: usize) {
    debug_assert!((1..=MAX_OWNED_PER_TYPE).contains(&count));
    bits.write_bool(true);
    bits.write_golomb(index.into(), 0);
    bits.write_golomb(count as u64 - 1, 0);
}

/// Ends the section.
pub fn write_owned_section_end(bits: &mut BitWriter) {
    bits.write_bool(false);
}

/// Reads a block's type index and entry count, or `None` at the end of the section.
pub fn read_owned_block_head(bits: &mut BitReader) -> Result<Option<(u32, usize)>, DecodeError> {
    if !bits.read_bool()? {
        return Ok(None);
    }
    let index = u32::try_from(bits.read_golomb(0)?).map_err(|_| DecodeError::VarintOverflow)?;
    let count = bits.read_count_at_most(MAX_OWNED_PER_TYPE - 1, "owned values of a type")? + 1;
    Ok(Some((index, count)))
}

/// Writes an entry's head; slots within a block do not descend.
pub fn write_owned_entry_head(bits: &mut BitWriter, head: OwnedEntryHead, previous: Option<u32>) {
    match previous {
        None => bits.write_golomb(head.slot.into(), 8),
        Some(previous) => bits.write_golomb(u64::from(head.slot - previous), 2),
    }
    bits.write_golomb(head.age.into(), 0);
    bits.write_golomb(head.baseline_age.into(), 0);
    if head.baseline_age > 0 {
        bits.write_golomb(head.previous_age.into(), 0);
    }
}

/// Reads an entry's head; a slot out of range, or a value or baseline older than the history,
/// is an error.
pub fn read_owned_entry_head(
    bits: &mut BitReader,
    previous: Option<u32>,
) -> Result<OwnedEntryHead, DecodeError> {
    let slot = match previous {
        None => bits.read_golomb(8)?,
        Some(previous) => u64::from(previous).saturating_add(bits.read_golomb(2)?),
    };
    if slot >= u64::from(MAX_SLOTS) {
        return Err(DecodeError::TooMany {
            what: "slots",
            count: usize::try_from(slot).unwrap_or(usize::MAX),
            limit: MAX_SLOTS as usize,
        });
    }
    let age = bits.read_golomb(0)?;
    let baseline_age = bits.read_golomb(0)?;
    let previous_age = if baseline_age > 0 {
        bits.read_golomb(0)?
    } else {
        0
    };
    if age
        .saturating_add(baseline_age)
        .saturating_add(previous_age)
        >= OWNED_HISTORY_TICKS as u64
    {
        return Err(DecodeError::UnexpectedEnd("a value older than the history"));
    }
    Ok(OwnedEntryHead {
        slot: slot as u32,
        age: age as u32,
        baseline_age: baseline_age as u32,
        previous_age: previous_age as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_roundtrip_and_limits_hold() {
        let mut bits = BitWriter::new();
        write_owned_tick(&mut bits, NetTick(70_001));
        write_owned_block_head(&mut bits, 3, 2);
        let first = OwnedEntryHead {
            slot: 9,
            age: 1,
            baseline_age: 0,
            previous_age: 0,
        };
        let second = OwnedEntryHead {
            slot: 9,
            age: 0,
            baseline_age: 5,
            previous_age: 3,
        };
        let third = OwnedEntryHead {
            slot: 40,
            age: 0,
            baseline_age: 2,
            previous_age: 0,
        };
        write_owned_entry_head(&mut bits, first, None);
        write_owned_entry_head(&mut bits, second, Some(9));
        write_owned_entry_head(&mut bits, third, Some(9));
        write_owned_section_end(&mut bits);
        let bytes = bits.into_bytes();
        let mut reader = BitReader::new(&bytes);
        assert_eq!(read_owned_tick(&mut reader).unwrap(), 70_001u32 as u16);
        assert_eq!(read_owned_block_head(&mut reader).unwrap(), Some((3, 2)));
        assert_eq!(read_owned_entry_head(&mut reader, None).unwrap(), first);
        assert_eq!(read_owned_entry_head(&mut reader, Some(9)).unwrap(), second);
        assert_eq!(read_owned_entry_head(&mut reader, Some(9)).unwrap(), third);
        assert_eq!(read_owned_block_head(&mut reader).unwrap(), None);

        let mut bits = BitWriter::new();
        bits.write_golomb(0, 8);
        bits.write_golomb(OWNED_HISTORY_TICKS as u64 - 1, 0);
        bits.write_golomb(1, 0);
        let bytes = bits.into_bytes();
        assert!(read_owned_entry_head(&mut BitReader::new(&bytes), None).is_err());
        let mut bits = BitWriter::new();
        bits.write_golomb(u64::from(MAX_SLOTS), 8);
        bits.write_golomb(0, 0);
        bits.write_golomb(0, 0);
        let bytes = bits.into_bytes();
        assert!(read_owned_entry_head(&mut BitReader::new(&bytes), None).is_err());
        let mut bits = BitWriter::new();
        bits.write_bool(true);
        bits.write_golomb(0, 0);
        bits.write_golomb(MAX_OWNED_PER_TYPE as u64, 0);
        let bytes = bits.into_bytes();
        assert!(read_owned_block_head(&mut BitReader::new(&bytes)).is_err());
    }
}
