//! Bit-level packing: [`BitWriter`] and [`BitReader`], with Exp-Golomb codes for small numbers.
//!
//! Replication frames are bit streams so that a moving entity costs a few dozen bits, not a few
//! dozen bytes: an entity id that follows the previous one costs one bit, a component whose value
//! changed this tick one bit, a small residual three.
//!
//! Bits are stored least significant first within each byte. Every read is bounds-checked and
//! returns [`DecodeError`], never panics.

use crate::shared::error::DecodeError;

/// An append-only bit buffer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BitWriter {
    bytes: Vec<u8>,
    bits: usize,
}

impl BitWriter {
    /// An empty buffer.
    pub const fn new() -> Self {
        Self {
            bytes: Vec::new(),
            bits: 0,
        }
    }

    /// An empty buffer with room for `bytes` bytes.
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(bytes),
            bits: 0,
        }
    }

    /// Bits written so far.
    #[inline]
    pub const fn bit_len(&self) -> usize {
        self.bits
    }

    /// Bytes the bits occupy (the last one padded with zero bits).
    #[inline]
    pub const fn byte_len(&self) -> usize {
        self.bits.div_ceil(8)
    }

    /// Whether nothing was written.
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.bits == 0
    }

    /// Forgets everything written, keeping the allocation.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.bits = 0;
    }

    /// Cuts the buffer back to `bits` bits (to undo a partial write).
    pub fn truncate(&mut self, bits: usize) {
        if bits >= self.bits {
            return;
        }
        self.bits = bits;
        self.bytes.truncate(bits.div_ceil(8));
        if !bits.is_multiple_of(8)
            && let Some(last) = self.bytes.last_mut()
        {
            *last &= (1u8 << (bits % 8)) - 1;
        }
    }

    /// The bytes written, the last one padded with zero bits.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Consumes the buffer into its bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Appends the low `count` bits of `value` (`count` ≤ 64).
    #[inline]
    pub fn write_bits(&mut self, value: u64, count: u32) {
        debug_assert!(count <= 64);
        if count == 0 {
            return;
        }
        let value = if count < 64 {
            value & ((1u64 << count) - 1)
        } else {
            value
        };
        // The bits land in at most nine bytes from the one holding the next free bit; bytes
        // past the written length are always zero, so OR-ing is enough.
        let index = self.bits / 8;
        let offset = (self.bits % 8) as u32;
        let touched = (offset + count).div_ceil(8) as usize;
        if self.bytes.len() < index + touched {
            self.bytes.resize(index + touched, 0);
        }
        let shifted = (u128::from(value) << offset).to_le_bytes();
        for (byte, bits) in self.bytes[index..index + touched].iter_mut().zip(shifted) {
            *byte |= bits;
        }
        self.bits += count as usize;
    }

    /// Appends one bit.
    #[inline]
    pub fn write_bool(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    /// Appends `value` as an Exp-Golomb code of order `k`: values below `2^k` take `k + 1` bits,
    /// and every doubling beyond costs two more. Order 0: 0 → 1 bit, 1–2 → 3 bits, 3–6 → 5 bits.
    #[inline]
    pub fn write_golomb(&mut self, value: u64, k: u32) {
        debug_assert!(k < 32);
        let shifted = u128::from(value) + (1u128 << k);
        let width = 127 - shifted.leading_zeros();
        // `width - k` zeros, a one, then the `width` bits below the leading one.
        self.write_bits(0, width - k);
        self.write_bits(1, 1);
        let low = shifted & ((1u128 << width) - 1);
        if width > 64 {
            self.write_bits(low as u64, 64);
            self.write_bits((low >> 64) as u64, width - 64);
        } else {
            self.write_bits(low as u64, width);
        }
    }

    /// Appends a signed value as a zigzag Exp-Golomb code of order `k` (small magnitudes of
    /// either sign are short).
    #[inline]
    pub fn write_signed_golomb(&mut self, value: i64, k: u32) {
        self.write_golomb(zigzag(value), k);
    }

    /// Appends whole bytes (at the current bit position).
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        let offset = (self.bits % 8) as u32;
        if offset == 0 {
            self.bytes.extend_from_slice(bytes);
        } else {
            // Each byte straddles two: its low bits finish the last byte, its high bits start
            // the next.
            self.bytes.reserve(bytes.len());
            for &byte in bytes {
                let last = self.bytes.len() - 1;
                self.bytes[last] |= byte << offset;
                self.bytes.push(byte >> (8 - offset));
            }
        }
        self.bits += bytes.len() * 8;
    }

    /// Appends `len` bits of `source` starting at bit `start`.
    ///
    /// # Panics
    /// If the range lies outside `source` (a bug in the caller, never input from the network).
    pub fn append_bits(&mut self, source: &BitWriter, start: usize, len: usize) {
        assert!(start + len <= source.bits, "bit range outside the source");
        let mut reader = BitReader::with_range(&source.bytes, start, start + len);
        // Whole bytes in bulk, then the rest bit by bit.
        let whole = len / 8;
        if whole >= 16 {
            let bytes = reader.read_bytes(whole).unwrap_or_default();
            self.write_bytes(&bytes);
        }
        let mut left = len - if whole >= 16 { whole * 8 } else { 0 };
        while left > 0 {
            let take = left.min(64) as u32;
            // The range was checked above, so the read cannot fail.
            let bits = reader.read_bits(take).unwrap_or_default();
            self.write_bits(bits, take);
            left -= take as usize;
        }
    }

    /// Appends everything written to `other`.
    pub fn append(&mut self, other: &BitWriter) {
        self.append_bits(other, 0, other.bits);
    }
}

/// A cursor over untrusted bits.
#[derive(Clone, Debug)]
pub struct BitReader<'a> {
    bytes: &'a [u8],
    position: usize,
    end: usize,
}

impl<'a> BitReader<'a> {
    /// Reads every bit of `bytes`.
    pub const fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            position: 0,
            end: bytes.len() * 8,
        }
    }

    /// Reads bits `start..end` of `bytes` (clamped to what `bytes` holds).
    pub fn with_range(bytes: &'a [u8], start: usize, end: usize) -> Self {
        let end = end.min(bytes.len() * 8);
        Self {
            bytes,
            position: start.min(end),
            end,
        }
    }

    /// Bits not read yet.
    #[inline]
    pub const fn remaining_bits(&self) -> usize {
        self.end - self.position
    }

    /// The bit position within the buffer.
    #[inline]
    pub const fn position(&self) -> usize {
        self.position
    }

    /// Reads `count` bits (`count` ≤ 64).
    #[inline]
    pub fn read_bits(&mut self, count: u32) -> Result<u64, DecodeError> {
        debug_assert!(count <= 64);
        if (count as usize) > self.remaining_bits() {
            return Err(DecodeError::UnexpectedEnd("bits"));
        }
        if count == 0 {
            return Ok(0);
        }
        let index = self.position / 8;
        let offset = (self.position % 8) as u32;
        // Within `end`, which is within the buffer, so these bytes exist.
        let touched = (offset + count).div_ceil(8) as usize;
        let mut word = [0u8; 16];
        word[..touched].copy_from_slice(&self.bytes[index..index + touched]);
        let bits = (u128::from_le_bytes(word) >> offset) as u64;
        self.position += count as usize;
        Ok(if count < 64 {
            bits & ((1u64 << count) - 1)
        } else {
            bits
        })
    }

    /// Reads one bit.
    #[inline]
    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.read_bits(1)? == 1)
    }

    /// Reads an Exp-Golomb code of order `k` written by [`BitWriter::write_golomb`].
    pub fn read_golomb(&mut self, k: u32) -> Result<u64, DecodeError> {
        let mut zeros = 0u32;
        while !self.read_bool()? {
            zeros += 1;
            if zeros + k > 64 {
                return Err(DecodeError::VarintOverflow);
            }
        }
        let width = zeros + k;
        let low = if width > 64 {
            return Err(DecodeError::VarintOverflow);
        } else {
            self.read_bits(width)?
        };
        let shifted = (1u128 << width) | u128::from(low);
        u64::try_from(shifted - (1u128 << k)).map_err(|_| DecodeError::VarintOverflow)
    }

    /// Reads a value written by [`BitWriter::write_signed_golomb`].
    pub fn read_signed_golomb(&mut self, k: u32) -> Result<i64, DecodeError> {
        Ok(unzigzag(self.read_golomb(k)?))
    }

    /// Reads a count of items that each take at least `min_bits` bits, refusing counts the
    /// remaining bits could not hold (so a forged count cannot make the reader allocate).
    pub fn read_count(&mut self, min_bits: usize) -> Result<usize, DecodeError> {
        let count = self.read_golomb(0)?;
        if count.saturating_mul(min_bits.max(1) as u64) > self.remaining_bits() as u64 {
            return Err(DecodeError::UnexpectedEnd("a list"));
        }
        Ok(count as usize)
    }

    /// Reads `len` whole bytes (at the current bit position).
    pub fn read_bytes(&mut self, len: usize) -> Result<Vec<u8>, DecodeError> {
        if len.saturating_mul(8) > self.remaining_bits() {
            return Err(DecodeError::UnexpectedEnd("a byte string"));
        }
        let start = self.position / 8;
        let offset = (self.position % 8) as u32;
        self.position += len * 8;
        if offset == 0 {
            return Ok(self.bytes[start..start + len].to_vec());
        }
        // Each byte is the high bits of one and the low bits of the next (which exists: the
        // range check above covers `len * 8` bits from inside `bytes[start]`).
        Ok(self.bytes[start..=start + len]
            .windows(2)
            .map(|pair| (pair[0] >> offset) | (pair[1] << (8 - offset)))
            .collect())
    }

    /// Fails unless only zero padding (less than a byte) is left.
    pub fn finish(&self) -> Result<(), DecodeError> {
        let left = self.remaining_bits();
        if left >= 8 {
            return Err(DecodeError::TrailingBytes(left / 8));
        }
        let mut copy = self.clone();
        match copy.read_bits(left as u32) {
            Ok(0) => Ok(()),
            _ => Err(DecodeError::TrailingBytes(1)),
        }
    }
}

/// Maps signed to unsigned so that small magnitudes stay small: 0, -1, 1, -2 → 0, 1, 2, 3.
#[inline]
pub const fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// The inverse of [`zigzag`].
#[inline]
pub const fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// Bits [`BitWriter::write_golomb`] uses for `value` at order `k`.
#[inline]
pub const fn golomb_len(value: u64, k: u32) -> usize {
    let shifted = value as u128 + (1u128 << k);
    let width = 127 - shifted.leading_zeros() as usize;
    2 * width - k as usize + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SplitMix64;

    #[test]
    fn golomb_codes_roundtrip_with_the_documented_lengths() {
        let values = [0u64, 1, 2, 3, 6, 7, 100, 1 << 20, u64::MAX >> 1, u64::MAX];
        for k in [0, 1, 3, 12] {
            let mut out = BitWriter::new();
            for &value in &values {
                let before = out.bit_len();
                out.write_golomb(value, k);
                assert_eq!(
                    out.bit_len() - before,
                    golomb_len(value, k),
                    "{value} k={k}"
                );
            }
            let mut reader = BitReader::new(out.as_bytes());
            for &value in &values {
                assert_eq!(reader.read_golomb(k), Ok(value), "k={k}");
            }
        }
        assert_eq!(golomb_len(0, 0), 1);
        assert_eq!(golomb_len(1, 0), 3);
        assert_eq!(golomb_len(6, 0), 5);
    }

    #[test]
    fn mixed_fields_roundtrip_at_any_alignment() {
        let mut rng = SplitMix64::new(5);
        for _ in 0..200 {
            let mut out = BitWriter::new();
            let mut expected = Vec::new();
            for _ in 0..50 {
                let width = (rng.next_u64() % 65) as u32;
                let value = rng.next_u64()
                    & if width == 64 {
                        u64::MAX
                    } else {
                        (1 << width) - 1
                    };
                let signed = rng.next_u64() as i64 >> (rng.next_u64() % 64);
                out.write_bits(value, width);
                out.write_signed_golomb(signed, 2);
                expected.push((width, value, signed));
            }
            out.write_bytes(b"tail");
            let mut reader = BitReader::new(out.as_bytes());
            for (width, value, signed) in expected {
                assert_eq!(reader.read_bits(width), Ok(value));
                assert_eq!(reader.read_signed_golomb(2), Ok(signed));
            }
            assert_eq!(reader.read_bytes(4).unwrap(), b"tail");
            assert!(reader.finish().is_ok());
        }
    }

    #[test]
    fn appending_a_bit_range_copies_it_exactly() {
        let mut source = BitWriter::new();
        for i in 0..100u64 {
            source.write_golomb(i * 7, 1);
        }
        for offset in 0..9 {
            let mut out = BitWriter::new();
            out.write_bits(0b101, offset);
            out.append_bits(&source, 13, source.bit_len() - 13);
            let mut a = BitReader::with_range(source.as_bytes(), 13, source.bit_len());
            let mut b = BitReader::with_range(out.as_bytes(), offset as usize, out.bit_len());
            while a.remaining_bits() > 0 {
                assert_eq!(a.read_bool(), b.read_bool());
            }
            assert_eq!(b.remaining_bits(), 0);
        }
    }

    #[test]
    fn truncate_undoes_a_partial_write() {
        let mut out = BitWriter::new();
        out.write_bits(0b1011, 4);
        let mark = out.bit_len();
        out.write_bits(u64::MAX, 37);
        out.truncate(mark);
        out.write_bits(0, 4);
        assert_eq!(out.as_bytes(), [0b0000_1011]);
    }

    #[test]
    fn hostile_bits_are_errors_not_panics() {
        // 80 zero bits: a Golomb prefix longer than any value.
        assert!(BitReader::new(&[0; 10]).read_golomb(0).is_err());
        assert!(BitReader::new(&[]).read_bool().is_err());
        assert!(BitReader::new(&[0xff]).read_bits(9).is_err());
        let mut reader = BitReader::new(&[0b0000_0001]);
        assert!(reader.read_count(8).is_ok(), "a count of 0");
        // A count of 2 items of at least 8 bits with 7 bits left.
        assert!(BitReader::new(&[0b0000_1100]).read_count(8).is_err());
        assert!(BitReader::new(&[0b1111_1111]).finish().is_err());
        let mut rng = SplitMix64::new(9);
        for _ in 0..20_000 {
            let len = (rng.next_u64() % 16) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            let mut reader = BitReader::new(&bytes);
            while reader.read_golomb((rng.next_u64() % 8) as u32).is_ok() {}
        }
    }
}
