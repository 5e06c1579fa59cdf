//! [`BitBatch`]: small fields gathered in a register and appended to a [`BitWriter`] a word at
//! a time.

use super::{BitWriter, golomb_code, low_bits, zigzag};

/// Fields appended to a [`BitWriter`] through a 64-bit register: each field is shifted into the
/// word, and the word is written once it would overflow and when the batch is dropped. A value
/// of many small codes (a transform's residuals, say) then costs one or two writes instead of
/// one per code. What reaches the writer is bit for bit what the writer's own methods would
/// have written, in the same order.
pub struct BitBatch<'a> {
    out: &'a mut BitWriter,
    /// The gathered bits, first written lowest.
    word: u64,
    /// How many of them.
    len: u32,
}

impl<'a> BitBatch<'a> {
    /// Starts gathering for `out`, which is written when the batch is dropped.
    #[inline]
    pub fn new(out: &'a mut BitWriter) -> Self {
        Self {
            out,
            word: 0,
            len: 0,
        }
    }

    /// As [`BitWriter::write_bits`]: the low `count` bits of `value` (`count` ≤ 64).
    #[inline(always)]
    pub fn write_bits(&mut self, value: u64, count: u32) {
        debug_assert!(count <= 64);
        if count == 0 {
            return;
        }
        let value = low_bits(value, count);
        if self.len + count > 64 {
            self.flush();
        }
        // `len` < 64 here: at most 64 - `count` bits are gathered, and `count` ≥ 1.
        self.word |= value << self.len;
        self.len += count;
    }

    /// As [`BitWriter::write_bool`].
    #[inline(always)]
    pub fn write_bool(&mut self, value: bool) {
        self.write_bits(u64::from(value), 1);
    }

    /// As [`BitWriter::write_golomb`].
    #[inline(always)]
    pub fn write_golomb(&mut self, value: u64, k: u32) {
        match golomb_code(value, k) {
            Some((code, len)) => self.write_bits(code, len),
            None => {
                self.flush();
                self.out.write_golomb(value, k);
            }
        }
    }

    /// As [`BitWriter::write_signed_golomb`].
    #[inline(always)]
    pub fn write_signed_golomb(&mut self, value: i64, k: u32) {
        self.write_golomb(zigzag(value), k);
    }

    /// Writes what was gathered.
    #[inline(always)]
    fn flush(&mut self) {
        self.out.write_bits(self.word, self.len);
        self.word = 0;
        self.len = 0;
    }
}

impl Drop for BitBatch<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SplitMix64;

    /// One field, as the writer's own methods and the batch both take it.
    #[derive(Clone, Copy, Debug)]
    enum Field {
        Bits(u64, u32),
        Bool(bool),
        Golomb(u64, u32),
        Signed(i64, u32),
    }

    #[test]
    fn a_batch_writes_exactly_what_the_writer_would_whatever_the_fields_and_alignment() {
        let mut rng = SplitMix64::new(29);
        for _ in 0..3_000 {
            let lead = (rng.next_u64() % 70) as u32;
            let fields: Vec<Field> = (0..rng.next_u64() % 20)
                .map(|_| {
                    let value = rng.next_u64() >> (rng.next_u64() % 64);
                    let k = (rng.next_u64() % 12) as u32;
                    match rng.next_u64() % 4 {
                        0 => Field::Bits(value, (rng.next_u64() % 65) as u32),
                        1 => Field::Bool(value & 1 == 1),
                        // Long codes (past 64 bits) included.
                        2 => Field::Golomb(value, k),
                        _ => Field::Signed(value as i64, k),
                    }
                })
                .collect();
            let mut expected = BitWriter::new();
            expected.write_bits(u64::MAX, lead.min(64));
            expected.write_bits(0, lead.saturating_sub(64));
            let mut batched = expected.clone();
            for &field in &fields {
                match field {
                    Field::Bits(value, count) => expected.write_bits(value, count),
                    Field::Bool(value) => expected.write_bool(value),
                    Field::Golomb(value, k) => expected.write_golomb(value, k),
                    Field::Signed(value, k) => expected.write_signed_golomb(value, k),
                }
            }
            {
                let mut batch = BitBatch::new(&mut batched);
                for &field in &fields {
                    match field {
                        Field::Bits(value, count) => batch.write_bits(value, count),
                        Field::Bool(value) => batch.write_bool(value),
                        Field::Golomb(value, k) => batch.write_golomb(value, k),
                        Field::Signed(value, k) => batch.write_signed_golomb(value, k),
                    }
                }
            }
            assert_eq!(batched, expected, "{fields:?}");
            // Writing on after the batch continues at the right bit.
            batched.write_bits(0b101, 3);
            expected.write_bits(0b101, 3);
            assert_eq!(batched, expected);
        }
    }
}
