//! [`BitReader`]: a bounds-checked cursor over bits a [`BitWriter`] wrote,
//! or over untrusted bytes from the network.

#[cfg(doc)]
use super::BitWriter;
use super::unzigzag;
use crate::shared::error::DecodeError;

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

    /// Moves past `bits` bits already read from [`Self::peek_word`] (within the range).
    #[inline]
    pub(super) fn skip_read(&mut self, bits: usize) {
        debug_assert!(bits <= self.remaining_bits());
        self.position += bits;
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
        if offset + count <= 64
            && let Some(word) = self.bytes.get(index..index + 8)
        {
            // One load when eight bytes are there and the bits are within them.
            let bits = u64::from_le_bytes(word.try_into().unwrap()) >> offset;
            self.position += count as usize;
            return Ok(if count < 64 {
                bits & ((1u64 << count) - 1)
            } else {
                bits
            });
        }
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

    /// Reads one bit (from its byte alone: a frame's flags are read a bit at a time).
    #[inline]
    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        // Below `end`, which lies within the buffer: the byte is there.
        let byte = match self.bytes.get(self.position / 8) {
            Some(byte) if self.position < self.end => *byte,
            _ => return Err(DecodeError::UnexpectedEnd("bits")),
        };
        let bit = (byte >> (self.position % 8)) & 1;
        self.position += 1;
        Ok(bit == 1)
    }

    /// Reads an Exp-Golomb code of order `k` written by [`BitWriter::write_golomb`].
    #[inline]
    pub fn read_golomb(&mut self, k: u32) -> Result<u64, DecodeError> {
        // The common case: a code within the next word (or what is left of the range). One
        // load, the zeros counted at once.
        let (peek, valid) = self.peek_word();
        let zeros = peek.trailing_zeros();
        let len = 2 * zeros + k + 1;
        if len <= valid {
            let width = zeros + k;
            self.position += len as usize;
            let low = (peek >> (zeros + 1)) & ((1u64 << width) - 1);
            return Ok((1u64 << width | low) - (1u64 << k));
        }
        self.read_golomb_slow(k)
    }

    /// The bits from the position on, lowest first, and how many of them are within the range
    /// (at most 64, fewer near the end; the rest are the buffer's next bits, or zeros past it).
    #[inline]
    pub(super) fn peek_word(&self) -> (u64, u32) {
        let index = self.position / 8;
        let offset = (self.position % 8) as u32;
        let word = match self.bytes.get(index..index + 8) {
            Some(word) => u64::from_le_bytes(word.try_into().unwrap()),
            None => {
                let mut word = [0u8; 8];
                let tail = self.bytes.get(index..).unwrap_or_default();
                word[..tail.len()].copy_from_slice(tail);
                u64::from_le_bytes(word)
            }
        };
        let valid = (64 - offset).min(self.remaining_bits().min(64) as u32);
        (word >> offset, valid)
    }

    /// [`Self::read_golomb`] of a code longer than a word's bits ahead, or past the range (any
    /// code within them took the one-load path), read bit by bit.
    #[cold]
    fn read_golomb_slow(&mut self, k: u32) -> Result<u64, DecodeError> {
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
    #[inline]
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

    /// Reads a count of items of at least one bit each that may not exceed `limit` (nor what
    /// the bits left could hold); `what` names the items in the error.
    pub fn read_count_at_most(
        &mut self,
        limit: usize,
        what: &'static str,
    ) -> Result<usize, DecodeError> {
        let count = self.read_count(1)?;
        if count > limit {
            return Err(DecodeError::TooMany { what, count, limit });
        }
        Ok(count)
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
