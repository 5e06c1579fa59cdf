//! Appending primitive values to a byte buffer.

#[cfg(test)]
use bevy::prelude::Entity;

use crate::shared::tick::NetTick;

/// Appends `value` as an unsigned LEB128 varint (1 byte below 128, at most 10 bytes).
#[inline]
pub fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends a signed value as a zigzag varint: small magnitudes of either sign take one byte.
#[inline]
pub fn write_signed_varint(out: &mut Vec<u8>, value: i64) {
    write_varint(out, ((value << 1) ^ (value >> 63)) as u64);
}

/// Appends a tick as a varint.
#[inline]
pub fn write_tick(out: &mut Vec<u8>, tick: NetTick) {
    write_varint(out, tick.0.into());
}

#[cfg(test)]
/// Appends an entity as two varints, index then generation: 2–3 bytes for most entities
/// (its raw bits would take 5, since Bevy stores indices inverted).
#[inline]
pub fn write_entity(out: &mut Vec<u8>, entity: Entity) {
    write_varint(out, entity.index_u32().into());
    write_varint(out, entity.generation().to_bits().into());
}

#[cfg(test)]
/// Appends a varint length followed by the bytes.
#[inline]
pub fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
/// Number of bytes [`write_varint`] uses for `value`.
#[inline]
pub const fn varint_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

#[cfg(test)]
/// Writes a length-prefixed section whose length is only known after writing it.
///
/// `body` appends to the buffer; the varint length is then inserted before what it wrote.
/// Used for component values, so a reader can skip a value it cannot apply.
pub fn write_prefixed<E>(
    out: &mut Vec<u8>,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<(), E> {
    let start = out.len();
    body(out)?;
    let len = (out.len() - start) as u64;
    let prefix_len = varint_len(len);
    let mut prefix = [0u8; 10];
    let mut cursor = &mut prefix[..];
    let mut v = len;
    for _ in 0..prefix_len {
        let byte = (v as u8 & 0x7f) | if v >= 0x80 { 0x80 } else { 0 };
        cursor[0] = byte;
        cursor = &mut cursor[1..];
        v >>= 7;
    }
    out.splice(start..start, prefix[..prefix_len].iter().copied());
    Ok(())
}

/// Encodes a game-message frame with the given kind byte.
pub fn encode_message(kind: u8, index: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 4);
    out.push(kind);
    write_varint(&mut out, index.into());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::wire::Reader;

    #[test]
    fn varint_lengths_match_encoding() {
        for value in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u32::MAX as u64,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            write_varint(&mut out, value);
            assert_eq!(out.len(), varint_len(value), "{value}");
            assert_eq!(Reader::new(&out).varint().unwrap(), value);
        }
    }

    #[test]
    fn prefixed_section_roundtrips() {
        for len in [0usize, 5, 127, 128, 20_000] {
            let mut out = vec![9];
            write_prefixed::<()>(&mut out, |o| {
                o.extend(std::iter::repeat_n(7u8, len));
                Ok(())
            })
            .unwrap();
            let mut reader = Reader::new(&out[1..]);
            let body = reader.bytes().unwrap();
            assert_eq!(body.len(), len);
            assert!(body.iter().all(|b| *b == 7));
            assert!(reader.is_empty());
        }
    }
}
