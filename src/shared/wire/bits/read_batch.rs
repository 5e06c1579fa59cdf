//! [`ReadBatch`]: small fields read from a register loaded once, the reading side of
//! [`BitBatch`](super::BitBatch). A transform's delta (a flags bit, three residuals, a bit and
//! three more) is mostly one load instead of eight, each with its own bounds check.

use super::{BitReader, unzigzag};
use crate::shared::error::DecodeError;

/// Reads fields from the next bits of a [`BitReader`] held in a register; what it read is
/// consumed from the reader when it is dropped. It reads exactly what the reader's own methods
/// would, and fails where they would.
pub struct ReadBatch<'r, 'a> {
    reader: &'r mut BitReader<'a>,
    /// The bits from `reader`'s position plus `used` on, lowest first.
    word: u64,
    /// How many of `word`'s bits are within the reader's range.
    valid: u32,
    /// Bits taken from `word` since it was loaded.
    used: u32,
}

impl<'a> BitReader<'a> {
    /// A batch reading from the current position on.
    #[inline]
    pub(crate) fn batch(&mut self) -> ReadBatch<'_, 'a> {
        let (word, valid) = self.peek_word();
        ReadBatch {
            reader: self,
            word,
            valid,
            used: 0,
        }
    }
}

impl ReadBatch<'_, '_> {
    /// Consumes what was taken from the register and loads the bits after it.
    #[inline]
    fn refill(&mut self) {
        self.reader.skip_read(self.used as usize);
        self.used = 0;
        (self.word, self.valid) = self.reader.peek_word();
    }

    /// Consumes what was taken from the register, leaving it empty: the reader reads on.
    #[inline]
    fn commit(&mut self) -> &mut Self {
        self.reader.skip_read(self.used as usize);
        self.used = 0;
        self.valid = 0;
        self.word = 0;
        self
    }

    /// Takes `count` (< 64) bits known to be valid in the register.
    #[inline(always)]
    fn take(&mut self, count: u32) -> u64 {
        let bits = self.word & ((1u64 << count) - 1);
        self.word >>= count;
        self.valid -= count;
        self.used += count;
        bits
    }

    /// Reads `count` bits (`count` ≤ 64), as [`BitReader::read_bits`].
    #[inline(always)]
    pub fn read_bits(&mut self, count: u32) -> Result<u64, DecodeError> {
        if count <= self.valid && count < 64 {
            return Ok(self.take(count));
        }
        self.read_bits_refilled(count)
    }

    /// [`Self::read_bits`] past the register's bits.
    #[cold]
    #[inline(never)]
    fn read_bits_refilled(&mut self, count: u32) -> Result<u64, DecodeError> {
        self.refill();
        if count <= self.valid && count < 64 {
            return Ok(self.take(count));
        }
        self.commit().reader.read_bits(count)
    }

    /// Reads one bit, as [`BitReader::read_bool`].
    #[inline(always)]
    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.read_bits(1)? == 1)
    }

    /// Takes a code of order `k` from the register, if it is all there.
    #[inline(always)]
    fn take_golomb(&mut self, k: u32) -> Option<u64> {
        let zeros = self.word.trailing_zeros();
        let len = 2 * zeros + k + 1;
        if len > self.valid {
            return None;
        }
        let width = zeros + k;
        // `len` ≤ 64, so `zeros + 1` and `width` are below 64.
        let low = (self.word >> (zeros + 1)) & ((1u64 << width) - 1);
        self.word = if len < 64 { self.word >> len } else { 0 };
        self.valid -= len;
        self.used += len;
        Some((1u64 << width | low) - (1u64 << k))
    }

    /// Reads an Exp-Golomb code of order `k`, as [`BitReader::read_golomb`].
    #[inline(always)]
    pub fn read_golomb(&mut self, k: u32) -> Result<u64, DecodeError> {
        match self.take_golomb(k) {
            Some(value) => Ok(value),
            None => self.read_golomb_refilled(k),
        }
    }

    /// [`Self::read_golomb`] of a code past the register's bits.
    #[cold]
    #[inline(never)]
    fn read_golomb_refilled(&mut self, k: u32) -> Result<u64, DecodeError> {
        self.refill();
        match self.take_golomb(k) {
            Some(value) => Ok(value),
            None => self.commit().reader.read_golomb(k),
        }
    }

    /// Reads a value written by [`BitWriter::write_signed_golomb`](super::BitWriter::write_signed_golomb).
    #[inline(always)]
    pub fn read_signed_golomb(&mut self, k: u32) -> Result<i64, DecodeError> {
        Ok(unzigzag(self.read_golomb(k)?))
    }
}

impl Drop for ReadBatch<'_, '_> {
    #[inline]
    fn drop(&mut self) {
        self.reader.skip_read(self.used as usize);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::wire::BitWriter;
    use crate::testing::SplitMix64;

    /// One read, as the reader's own methods and the batch both take it.
    #[derive(Clone, Copy, Debug)]
    enum Read {
        Bits(u32),
        Bool,
        Golomb(u32),
        Signed(u32),
    }

    fn random_reads(rng: &mut SplitMix64) -> Vec<Read> {
        (0..rng.next_u64() % 24)
            .map(|_| match rng.next_u64() % 4 {
                0 => Read::Bits((rng.next_u64() % 65) as u32),
                1 => Read::Bool,
                2 => Read::Golomb((rng.next_u64() % 12) as u32),
                _ => Read::Signed((rng.next_u64() % 12) as u32),
            })
            .collect()
    }

    /// Bytes that mostly hold codes (short ones, as deltas do), sometimes noise or long runs
    /// of zeros.
    fn random_bytes(rng: &mut SplitMix64) -> Vec<u8> {
        let mut out = BitWriter::new();
        for _ in 0..rng.next_u64() % 40 {
            match rng.next_u64() % 5 {
                0 => out.write_bits(rng.next_u64(), (rng.next_u64() % 65) as u32),
                1 => {
                    let zeros = (rng.next_u64() % 90) as u32;
                    out.write_bits(0, zeros.min(64));
                    out.write_bits(0, zeros.saturating_sub(64));
                }
                _ => out.write_golomb(rng.next_u64() >> (40 + rng.next_u64() % 24), 0),
            }
        }
        out.into_bytes()
    }

    #[test]
    fn a_batch_reads_exactly_what_the_reader_would_and_fails_where_it_would() {
        let mut rng = SplitMix64::new(31);
        for _ in 0..5_000 {
            let bytes = random_bytes(&mut rng);
            let bits = bytes.len() * 8;
            let start = (rng.next_u64() % (bits as u64 + 1)) as usize;
            let end = start + (rng.next_u64() % ((bits - start) as u64 + 1)) as usize;
            let reads = random_reads(&mut rng);
            let mut expected = BitReader::with_range(&bytes, start, end);
            let mut batched = expected.clone();
            let mut failed = false;
            {
                let mut batch = batched.batch();
                for &read in &reads {
                    let (want, got) = match read {
                        Read::Bits(count) => (expected.read_bits(count), batch.read_bits(count)),
                        Read::Bool => (
                            expected.read_bool().map(u64::from),
                            batch.read_bool().map(u64::from),
                        ),
                        Read::Golomb(k) => (expected.read_golomb(k), batch.read_golomb(k)),
                        Read::Signed(k) => (
                            expected.read_signed_golomb(k).map(|v| v as u64),
                            batch.read_signed_golomb(k).map(|v| v as u64),
                        ),
                    };
                    assert_eq!(got, want, "{read:?} of {reads:?}");
                    if want.is_err() {
                        failed = true;
                        break;
                    }
                }
            }
            if !failed {
                // Dropping the batch consumed exactly what it read.
                assert_eq!(batched.position(), expected.position(), "{reads:?}");
                assert_eq!(batched.read_bits(7), expected.read_bits(7));
            }
        }
    }
}
