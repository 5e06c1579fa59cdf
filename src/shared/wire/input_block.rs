//! The inputs of an update frame, one block per input type: each type's newest input whole
//! and every older one coded against the newer, so that a held input costs a bit per tick.

use core::ops::Range;

use super::{BitReader, BitWriter};
use crate::shared::{error::DecodeError, wire::MAX_INPUTS_PER_FRAME};

/// Inputs of one type for consecutive ticks, as decoded from an update frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputBlock {
    /// Index in the input registry.
    pub index: u32,
    /// The low 16 bits of the newest input's tick (the server knows the rest).
    pub newest: u16,
    /// Every distinct input's bytes, end to end.
    bytes: Vec<u8>,
    /// Each input's bytes in `bytes`, newest first (an input equal to the newer one shares its
    /// range, so repeats cost no memory).
    ranges: Vec<Range<usize>>,
}

impl InputBlock {
    /// The encoded inputs, newest first.
    pub fn inputs(&self) -> impl ExactSizeIterator<Item = &[u8]> {
        self.ranges.iter().map(|range| &self.bytes[range.clone()])
    }

    /// How many inputs the block holds.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether the block holds no input.
    #[allow(dead_code)] // the pair of `len`, which the server uses
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

/// Inputs of one type to encode: registry index, newest tick's low bits, and the encoded
/// inputs newest first.
pub struct InputsOut<'a> {
    /// Index in the input registry.
    pub index: u32,
    /// Low 16 bits of the newest tick.
    pub newest: u16,
    /// Encoded inputs, newest first.
    pub inputs: &'a [Vec<u8>],
}

/// One input type's block: its registry index; its newest tick (one bit when it is the previous
/// block's); the inputs, newest first. The newest is written whole; each older one against the
/// newer: one bit when equal, else, at the same length, one bit per byte and the bytes that
/// differ, else whole. A held stick costs a bit per tick, a counter a byte or two.
pub(super) fn write_input_block(bits: &mut BitWriter, block: &InputsOut, newer_block: Option<u16>) {
    bits.write_golomb(block.index.into(), 0);
    if let Some(newer_block) = newer_block {
        bits.write_bool(newer_block == block.newest);
    }
    if newer_block != Some(block.newest) {
        bits.write_bits(block.newest.into(), 16);
    }
    bits.write_golomb(block.inputs.len() as u64, 0);
    let mut newer: Option<&[u8]> = None;
    for input in block.inputs {
        match newer {
            None => write_whole(bits, input),
            Some(newer) if newer == input.as_slice() => bits.write_bool(true),
            Some(newer) => {
                bits.write_bool(false);
                let patch = newer.len() == input.len();
                bits.write_bool(patch);
                if patch {
                    for (&old, &new) in newer.iter().zip(input) {
                        bits.write_bool(old != new);
                        if old != new {
                            bits.write_bits(new.into(), 8);
                        }
                    }
                } else {
                    write_whole(bits, input);
                }
            }
        }
        newer = Some(input);
    }
}

fn write_whole(bits: &mut BitWriter, input: &[u8]) {
    bits.write_golomb(input.len() as u64, 2);
    bits.write_bytes(input);
}

pub(super) fn read_input_block(
    bits: &mut BitReader,
    newer_block: Option<u16>,
) -> Result<InputBlock, DecodeError> {
    let index = u32::try_from(bits.read_golomb(0)?).map_err(|_| DecodeError::VarintOverflow)?;
    let newest = match newer_block {
        Some(newer) if bits.read_bool()? => newer,
        _ => bits.read_bits(16)? as u16,
    };
    let count = bits.read_count_at_most(MAX_INPUTS_PER_FRAME, "inputs")?;
    let mut block = InputBlock {
        index,
        newest,
        bytes: Vec::new(),
        ranges: Vec::with_capacity(count),
    };
    for _ in 0..count {
        let start = block.bytes.len();
        let range = match block.ranges.last().cloned() {
            None => read_whole(bits, &mut block.bytes)?,
            Some(newer) if bits.read_bool()? => newer,
            Some(newer) if bits.read_bool()? => {
                // Patched: costs at least one bit per byte, so a frame cannot make the server
                // hold more than eight times its size.
                for at in newer {
                    let byte = if bits.read_bool()? {
                        bits.read_bits(8)? as u8
                    } else {
                        block.bytes[at]
                    };
                    block.bytes.push(byte);
                }
                start..block.bytes.len()
            }
            Some(_) => read_whole(bits, &mut block.bytes)?,
        };
        block.ranges.push(range);
    }
    Ok(block)
}

fn read_whole(bits: &mut BitReader, bytes: &mut Vec<u8>) -> Result<Range<usize>, DecodeError> {
    let len = bits.read_golomb(2)?;
    let len = usize::try_from(len).map_err(|_| DecodeError::VarintOverflow)?;
    let start = bytes.len();
    bytes.extend_from_slice(&bits.read_bytes(len)?);
    Ok(start..bytes.len())
}
