//! Tests of the bit writer and reader.

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
    // The one-word code is the same bits as the written one.
    for k in [0, 1, 3, 12] {
        for value in values
            .into_iter()
            .chain([(1 << 31) - 2, (1 << 32) - 2, (1 << 32) - 1])
        {
            let mut written = BitWriter::new();
            written.write_golomb(value, k);
            match golomb_code(value, k) {
                Some((code, len)) => {
                    let mut joined = BitWriter::new();
                    joined.write_bits(code, len);
                    assert_eq!(joined, written, "{value} k={k}");
                }
                None => assert!(written.bit_len() > 64, "{value} k={k}"),
            }
        }
    }
    assert!(golomb_code((1 << 32) - 2, 0).is_some());
    assert!(golomb_code((1 << 32) - 1, 0).is_none());
    assert_eq!(golomb_len(0, 0), 1);
    assert_eq!(golomb_len(1, 0), 3);
    assert_eq!(golomb_len(6, 0), 5);
}

/// Long and short codes at every alignment read back the same, whether a word of the buffer
/// and of the range lies ahead (the one-load path) or not; a range's end is a hard end even
/// when the buffer goes on.
#[test]
fn golomb_codes_read_back_at_any_alignment_and_stop_at_the_range_end() {
    let mut rng = SplitMix64::new(17);
    for _ in 0..2_000 {
        let mut out = BitWriter::new();
        out.write_bits(0, (rng.next_u64() % 64) as u32);
        let start = out.bit_len();
        let codes: Vec<(u64, u32)> = (0..(rng.next_u64() % 12) as usize)
            .map(|_| {
                let k = (rng.next_u64() % 12) as u32;
                // Magnitudes of every size, long codes (past 57 bits) included.
                let value = rng.next_u64() >> (rng.next_u64() % 64);
                (value, k)
            })
            .collect();
        for &(value, k) in &codes {
            out.write_golomb(value, k);
        }
        let end = out.bit_len();
        // Bits after the range, which no read may take.
        out.write_bits(rng.next_u64(), 64);
        let bytes = out.into_bytes();
        let mut reader = BitReader::with_range(&bytes, start, end);
        for &(value, k) in &codes {
            assert_eq!(reader.read_golomb(k), Ok(value), "k={k}");
        }
        assert_eq!(reader.remaining_bits(), 0);
        assert!(reader.read_golomb(0).is_err());
        // Cut one bit short: the last code no longer fits the range.
        if let Some(&(value, k)) = codes.last() {
            let mut reader = BitReader::with_range(&bytes, start, end - 1);
            for &(value, k) in &codes[..codes.len() - 1] {
                assert_eq!(reader.read_golomb(k), Ok(value));
            }
            assert_ne!(reader.read_golomb(k), Ok(value));
        }
    }
}

/// Every write, copy and cut agrees with a plain list of bits, whatever the alignment, and
/// the bytes past the written bits stay zero (the fast paths rely on it).
#[test]
fn writes_copies_and_cuts_match_a_list_of_bits() {
    let mut rng = SplitMix64::new(11);
    let mut source = BitWriter::new();
    for _ in 0..40 {
        source.write_bits(rng.next_u64(), 64);
    }
    let source_bits: Vec<bool> = (0..source.bit_len())
        .map(|i| source.as_bytes()[i / 8] >> (i % 8) & 1 == 1)
        .collect();
    for round in 0..300 {
        let mut out = if round % 2 == 0 {
            BitWriter::new()
        } else {
            BitWriter::with_capacity(round)
        };
        let mut model: Vec<bool> = Vec::new();
        for _ in 0..40 {
            match rng.next_u64() % 6 {
                0 | 1 => {
                    let width = (rng.next_u64() % 65) as u32;
                    let value = rng.next_u64();
                    out.write_bits(value, width);
                    model.extend((0..width).map(|i| value >> i & 1 == 1));
                }
                2 => {
                    let start = (rng.next_u64() % 2000) as usize;
                    let len = (rng.next_u64() % 500) as usize;
                    out.append_bits(&source, start, len);
                    model.extend_from_slice(&source_bits[start..start + len]);
                }
                3 => {
                    let bytes: Vec<u8> = (0..rng.next_u64() % 20).map(|i| (i * 37) as u8).collect();
                    out.write_bytes(&bytes);
                    model.extend(
                        bytes
                            .iter()
                            .flat_map(|b| (0..8).map(move |i| b >> i & 1 == 1)),
                    );
                }
                4 => {
                    let keep = (rng.next_u64() as usize) % (model.len() + 1);
                    out.truncate(keep);
                    model.truncate(keep);
                }
                _ if rng.next_u64().is_multiple_of(4) => {
                    out.clear();
                    model.clear();
                }
                _ => {}
            }
            assert_eq!(out.bit_len(), model.len());
            assert_consistent(&out);
        }
        let bytes = out.as_bytes();
        assert_eq!(bytes.len(), model.len().div_ceil(8));
        for (i, &bit) in model.iter().enumerate() {
            assert_eq!(bytes[i / 8] >> (i % 8) & 1 == 1, bit, "bit {i}");
        }
        if !model.len().is_multiple_of(8) {
            assert_eq!(
                bytes[bytes.len() - 1] >> (model.len() % 8),
                0,
                "padding bits"
            );
        }
        // Cleared, the buffer starts again from zero bits.
        out.clear();
        out.write_bits(0b101, 3);
        assert_eq!(out.as_bytes(), [0b101]);
    }
}

/// The buffer's invariants: zeros past the written bits, and the register holding the word
/// being filled equal to the bytes it mirrors.
fn assert_consistent(out: &BitWriter) {
    let used = out.byte_len();
    if !out.bit_len().is_multiple_of(8) {
        assert_eq!(
            out.bytes[used - 1] >> (out.bit_len() % 8),
            0,
            "padding bits"
        );
    }
    assert!(
        out.bytes[used..].iter().all(|&b| b == 0),
        "bytes past the bits"
    );
    let index = out.bit_len() / 8;
    let mut word = [0u8; 8];
    let available = out.bytes.len().saturating_sub(index).min(8);
    word[..available].copy_from_slice(&out.bytes[index..index + available]);
    assert_eq!(out.pending, u64::from_le_bytes(word), "the register");
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
    // Nothing from an empty buffer, which holds no bytes at all.
    let mut out = BitWriter::new();
    out.append(&BitWriter::new());
    out.append_bits(&BitWriter::new(), 0, 0);
    assert!(out.is_empty());
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

#[test]
fn a_bit_read_alone_is_the_bit_a_field_read_gives_and_stops_at_the_range_end() {
    let mut rng = SplitMix64::new(23);
    for _ in 0..2_000 {
        let bytes: Vec<u8> = (0..rng.next_u64() % 12)
            .map(|_| rng.next_u64() as u8)
            .collect();
        let total = bytes.len() * 8;
        let start = (rng.next_u64() as usize) % (total + 1);
        let end = start + (rng.next_u64() as usize) % (total - start + 3);
        let mut bools = BitReader::with_range(&bytes, start, end);
        let mut fields = bools.clone();
        for position in start..=end.min(total) {
            let (bit, field) = (bools.read_bool(), fields.read_bits(1));
            assert_eq!(bit.is_ok(), field.is_ok(), "{position} of {start}..{end}");
            if let (Ok(bit), Ok(field)) = (bit, field) {
                assert_eq!(u64::from(bit), field);
                assert_eq!(
                    u64::from(bit),
                    u64::from(bytes[position / 8] >> (position % 8) & 1)
                );
            }
            assert_eq!(bools.position(), fields.position());
        }
        assert_eq!(bools.remaining_bits(), 0);
    }
}
