//! Bit-level packing: [`BitWriter`] and [`BitReader`], with Exp-Golomb codes for small numbers.
//!
//! Replication frames are bit streams so that a moving entity costs a few dozen bits, not a few
//! dozen bytes: an entity id that follows the previous one costs one bit, a component whose value
//! changed this tick one bit, a small residual three.
//!
//! Bits are stored least significant first within each byte. Every read is bounds-checked and
//! returns [`DecodeError`], never panics.

mod batch;
mod bit_reader;
mod read_batch;

pub use batch::BitBatch;
pub use bit_reader::BitReader;
pub use read_batch::ReadBatch;

/// An append-only bit buffer.
///
/// Its bytes are kept zero past the written bits, with at least 16 of them after the last
/// written byte, so that any write is one unaligned 64-bit store (and at most one more byte)
/// instead of a loop over bytes. The eight bytes from the one being filled are also held in a
/// register, so a write never loads what the previous write stored: a load that overlaps a
/// store at another address cannot be forwarded from it and stalls until the store completes,
/// which made consecutive small writes several times slower.
#[derive(Clone, Default)]
pub struct BitWriter {
    /// The written bytes, then zeros (at least [`PADDING`] once anything was written).
    bytes: Vec<u8>,
    bits: usize,
    /// The 64 bits of `bytes` from byte `bits / 8` (the partly written byte, then zeros).
    pending: u64,
}

/// Zero bytes kept after the last written byte: a 64-bit write at any bit offset touches nine.
const PADDING: usize = 16;

impl BitWriter {
    /// An empty buffer.
    pub const fn new() -> Self {
        Self {
            bytes: Vec::new(),
            bits: 0,
            pending: 0,
        }
    }

    /// An empty buffer with room for `bytes` bytes.
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(bytes + PADDING),
            bits: 0,
            pending: 0,
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

    /// Bytes allocated.
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// Whether nothing was written.
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.bits == 0
    }

    /// Forgets everything written, keeping the allocation.
    pub fn clear(&mut self) {
        let used = self.byte_len();
        self.bytes[..used].fill(0);
        self.bits = 0;
        self.pending = 0;
    }

    /// Cuts the buffer back to `bits` bits (to undo a partial write).
    pub fn truncate(&mut self, bits: usize) {
        if bits >= self.bits {
            return;
        }
        let (keep, used) = (bits.div_ceil(8), self.byte_len());
        self.bytes[keep..used].fill(0);
        if !bits.is_multiple_of(8) {
            self.bytes[keep - 1] &= (1u8 << (bits % 8)) - 1;
        }
        self.bits = bits;
        self.reload();
    }

    /// Reads [`Self::pending`] back from the bytes (after a change made around it).
    fn reload(&mut self) {
        let index = self.bits / 8;
        let mut word = [0u8; 8];
        let available = self.bytes.len().saturating_sub(index).min(8);
        word[..available].copy_from_slice(&self.bytes[index..index + available]);
        self.pending = u64::from_le_bytes(word);
    }

    /// The bytes written, the last one padded with zero bits.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.byte_len()]
    }

    /// Consumes the buffer into its bytes.
    pub fn into_bytes(mut self) -> Vec<u8> {
        self.bytes.truncate(self.byte_len());
        self.bytes
    }

    /// Makes sure the bytes reach `len` plus the padding (all zero beyond what was written).
    #[inline]
    fn reserve_to(&mut self, len: usize) {
        if self.bytes.len() < len + PADDING {
            self.grow(len + PADDING);
        }
    }

    /// Grows to at least `len` bytes: twice as many as before, and at least the capacity
    /// already allocated (so a buffer made [`with_capacity`](Self::with_capacity) does not
    /// reallocate while it grows into it).
    #[cold]
    fn grow(&mut self, len: usize) {
        let len = len.max(self.bytes.len() * 2).max(self.bytes.capacity());
        self.bytes.resize(len, 0);
    }

    /// Appends the low `count` bits of `value` (`count` ≤ 64).
    #[inline(always)]
    pub fn write_bits(&mut self, value: u64, count: u32) {
        debug_assert!(count <= 64);
        if count == 0 {
            return;
        }
        let value = low_bits(value, count);
        let index = self.bits / 8;
        let offset = (self.bits % 8) as u32;
        self.reserve_to(index + 9);
        // Bits past the written ones are zero, so OR-ing the shifted value in is enough; the
        // word is stored whole, never loaded.
        let word = self.pending | (value << offset);
        let bytes: &mut [u8; 8] = (&mut self.bytes[index..index + 8]).try_into().unwrap();
        *bytes = word.to_le_bytes();
        let end = offset + count;
        // What spills past the word (`offset` > 0 then, as `count` ≤ 64).
        let spill = if end > 64 {
            let spill = value >> (64 - offset);
            self.bytes[index + 8] = spill as u8;
            spill
        } else {
            0
        };
        self.bits += count as usize;
        // The word from the new partly written byte: the rest of this one, then the spill.
        let advanced = end / 8;
        self.pending = if advanced < 8 {
            word >> (8 * advanced)
        } else {
            spill
        };
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
        match golomb_code(value, k) {
            Some((code, len)) => self.write_bits(code, len),
            None => self.write_long_golomb(value, k),
        }
    }

    /// [`Self::write_golomb`] of a code longer than 64 bits: kept apart so that the common
    /// short code stays small enough to inline.
    #[cold]
    #[inline(never)]
    fn write_long_golomb(&mut self, value: u64, k: u32) {
        let shifted = u128::from(value) + (1u128 << k);
        let width = 127 - shifted.leading_zeros();
        let zeros = width - k;
        self.write_bits(0, zeros);
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
        if self.bits.is_multiple_of(8) {
            let index = self.bits / 8;
            self.reserve_to(index + bytes.len());
            self.bytes[index..index + bytes.len()].copy_from_slice(bytes);
            self.bits += bytes.len() * 8;
            // The next byte is untouched: zero.
            self.pending = 0;
            return;
        }
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.write_bits(u64::from_le_bytes(chunk.try_into().unwrap()), 64);
        }
        for &byte in chunks.remainder() {
            self.write_bits(u64::from(byte), 8);
        }
    }

    /// The 64 bits of `self` from bit `start` (zeros past the written bits).
    #[inline]
    fn word_at(&self, start: usize) -> u64 {
        let index = start / 8;
        let offset = start % 8;
        // Written bytes are followed by at least `PADDING` bytes, so nine are there.
        let low = u64::from_le_bytes(self.bytes[index..index + 8].try_into().unwrap());
        if offset == 0 {
            low
        } else {
            (low >> offset) | (u64::from(self.bytes[index + 8]) << (64 - offset))
        }
    }

    /// Appends `len` bits of `source` starting at bit `start`.
    ///
    /// # Panics
    /// If the range lies outside `source` (a bug in the caller, never input from the network).
    pub fn append_bits(&mut self, source: &BitWriter, start: usize, len: usize) {
        assert!(start + len <= source.bits, "bit range outside the source");
        if len <= 64 {
            // An entry's body, mostly: one word (none from a source that may hold no bytes).
            if len > 0 {
                self.write_bits(source.word_at(start), len as u32);
            }
            return;
        }
        // Whole words, with the partly written byte carried in a register from one to the
        // next and each word stored once.
        self.reserve_to((self.bits + len) / 8 + 9);
        let offset = (self.bits % 8) as u32;
        let mut index = self.bits / 8;
        let mut pending = self.pending;
        let (mut at, mut left) = (start, len);
        while left >= 64 {
            let word = source.word_at(at);
            let out: &mut [u8; 8] = (&mut self.bytes[index..index + 8]).try_into().unwrap();
            *out = (pending | (word << offset)).to_le_bytes();
            pending = if offset == 0 {
                0
            } else {
                word >> (64 - offset)
            };
            index += 8;
            at += 64;
            left -= 64;
        }
        let out: &mut [u8; 8] = (&mut self.bytes[index..index + 8]).try_into().unwrap();
        *out = pending.to_le_bytes();
        self.bits += len - left;
        self.pending = pending;
        if left > 0 {
            self.write_bits(source.word_at(at), left as u32);
        }
    }

    /// Appends everything written to `other`.
    pub fn append(&mut self, other: &BitWriter) {
        self.append_bits(other, 0, other.bits);
    }
}

impl PartialEq for BitWriter {
    fn eq(&self, other: &Self) -> bool {
        self.bits == other.bits && self.as_bytes() == other.as_bytes()
    }
}

impl Eq for BitWriter {}

impl core::fmt::Debug for BitWriter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BitWriter")
            .field("bytes", &self.as_bytes())
            .field("bits", &self.bits)
            .finish()
    }
}

/// The Exp-Golomb code of order `k` of `value` as the bits [`BitWriter::write_bits`] takes
/// (first bit written lowest) and their count, when it fits 64 bits (at order 0, any value
/// below 2^32 - 1 does). Lets a caller join a code with neighbouring fields into one write.
#[inline]
pub const fn golomb_code(value: u64, k: u32) -> Option<(u64, u32)> {
    debug_assert!(k < 32);
    // In 64 bits: a value whose code fits 64 bits is far below where the sum could overflow.
    let Some(shifted) = value.checked_add(1u64 << k) else {
        return None;
    };
    let width = 63 - shifted.leading_zeros();
    let zeros = width - k;
    if zeros + 1 + width > 64 {
        return None;
    }
    // `width - k` zeros, a one, then the `width` bits below the leading one: read from the
    // first bit written, that is the code `1, low` shifted past the zeros.
    let low = shifted & ((1u64 << width) - 1);
    Some(((1 | (low << 1)) << zeros, zeros + 1 + width))
}

/// The low `count` bits of `value` (`count` ≤ 64), the rest cleared.
#[inline(always)]
const fn low_bits(value: u64, count: u32) -> u64 {
    if count < 64 {
        value & ((1u64 << count) - 1)
    } else {
        value
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
mod tests;
