//! Reading primitive values from untrusted bytes.

#[cfg(test)]
use bevy::ecs::entity::{Entity, EntityGeneration, EntityIndex};

use crate::shared::{error::DecodeError, tick::NetTick};

/// A cursor over untrusted bytes. Every read checks bounds and returns [`DecodeError`].
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading at the beginning of `bytes`.
    pub const fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// Bytes not read yet.
    pub const fn remaining(&self) -> &'a [u8] {
        self.bytes
    }

    #[cfg(test)]
    /// Whether everything was read.
    pub const fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        let (&first, rest) = self
            .bytes
            .split_first()
            .ok_or(DecodeError::UnexpectedEnd("a byte"))?;
        self.bytes = rest;
        Ok(first)
    }

    /// Reads a little-endian `u32` of 4 bytes.
    pub fn u32_le(&mut self) -> Result<u32, DecodeError> {
        let raw = self.take(4, "a 32-bit value")?;
        let mut array = [0u8; 4];
        array.copy_from_slice(raw);
        Ok(u32::from_le_bytes(array))
    }

    /// Reads a little-endian `u64` of 8 bytes.
    pub fn u64_le(&mut self) -> Result<u64, DecodeError> {
        let raw = self.take(8, "a 64-bit value")?;
        let mut array = [0u8; 8];
        array.copy_from_slice(raw);
        Ok(u64::from_le_bytes(array))
    }

    /// Reads an unsigned LEB128 varint.
    pub fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self
                .u8()
                .map_err(|_| DecodeError::UnexpectedEnd("a varint"))?;
            let low = u64::from(byte & 0x7f);
            if shift == 63 && low > 1 {
                return Err(DecodeError::VarintOverflow);
            }
            value |= low << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::VarintOverflow)
    }

    /// Reads a signed value written by [`write_signed_varint`](super::write_signed_varint).
    pub fn signed_varint(&mut self) -> Result<i64, DecodeError> {
        let value = self.varint()?;
        Ok(((value >> 1) as i64) ^ -((value & 1) as i64))
    }

    /// Reads a varint that must fit in a `u32`.
    pub fn varint_u32(&mut self) -> Result<u32, DecodeError> {
        u32::try_from(self.varint()?).map_err(|_| DecodeError::VarintOverflow)
    }

    #[cfg(test)]
    /// Reads a count of items that each take at least one byte, rejecting counts the remaining
    /// bytes could not hold (so a forged count cannot make the reader allocate).
    pub fn count(&mut self) -> Result<usize, DecodeError> {
        let count = self.varint()?;
        if count > self.bytes.len() as u64 {
            return Err(DecodeError::UnexpectedEnd("a list"));
        }
        Ok(count as usize)
    }

    /// Reads a tick.
    pub fn tick(&mut self) -> Result<NetTick, DecodeError> {
        self.varint_u32().map(NetTick)
    }

    #[cfg(test)]
    /// Reads an entity written by [`write_entity`](super::write_entity).
    pub fn entity(&mut self) -> Result<Entity, DecodeError> {
        let index = self.varint_u32()?;
        let generation = self.varint_u32()?;
        let index =
            EntityIndex::from_raw_u32(index).ok_or(DecodeError::InvalidEntity(u64::from(index)))?;
        Ok(Entity::from_index_and_generation(
            index,
            EntityGeneration::from_bits(generation),
        ))
    }

    #[cfg(test)]
    /// Reads a length-prefixed byte slice.
    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| DecodeError::UnexpectedEnd("a byte string"))?;
        self.take(len, "a byte string")
    }

    /// Reads exactly `len` bytes; `what` names them in the error.
    pub fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < len {
            return Err(DecodeError::UnexpectedEnd(what));
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head)
    }

    /// Fails unless every byte was read.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.bytes.len() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_varints_roundtrip_and_stay_short() {
        for value in [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            1 << 40,
            -(1 << 40),
            i64::MAX,
            i64::MIN,
        ] {
            let mut out = Vec::new();
            super::super::write_signed_varint(&mut out, value);
            assert_eq!(Reader::new(&out).signed_varint(), Ok(value));
            if (-64..64).contains(&value) {
                assert_eq!(out.len(), 1, "{value}");
            }
        }
    }

    #[test]
    fn truncated_and_overlong_varints_are_errors() {
        assert_eq!(
            Reader::new(&[0x80, 0x80]).varint(),
            Err(DecodeError::UnexpectedEnd("a varint"))
        );
        assert_eq!(
            Reader::new(&[0xff; 11]).varint(),
            Err(DecodeError::VarintOverflow)
        );
        assert_eq!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x7f]).varint_u32(),
            Err(DecodeError::VarintOverflow)
        );
    }

    #[test]
    fn forged_lengths_are_errors() {
        // Claims 1000 bytes but holds 2.
        let mut reader = Reader::new(&[0xe8, 0x07, 1, 2]);
        assert!(reader.bytes().is_err());
        let mut reader = Reader::new(&[0xe8, 0x07, 1, 2]);
        assert!(reader.count().is_err());
    }

    #[test]
    fn entity_roundtrip() {
        let index = EntityIndex::from_raw_u32(77).unwrap();
        for generation in [0, 1, 300, u32::MAX] {
            let entity =
                Entity::from_index_and_generation(index, EntityGeneration::from_bits(generation));
            let mut out = Vec::new();
            super::super::write_entity(&mut out, entity);
            assert_eq!(Reader::new(&out).entity().unwrap(), entity);
        }
        let mut out = Vec::new();
        super::super::write_entity(&mut out, Entity::from_raw_u32(77).unwrap());
        assert_eq!(out.len(), 2, "small indices take two bytes");
    }

    #[test]
    fn placeholder_index_is_invalid() {
        let mut out = Vec::new();
        super::super::write_varint(&mut out, u64::from(u32::MAX));
        super::super::write_varint(&mut out, 0);
        assert_eq!(
            Reader::new(&out).entity(),
            Err(DecodeError::InvalidEntity(u64::from(u32::MAX)))
        );
    }
}
