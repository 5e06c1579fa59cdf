//! Frames a client sends: hello, update (acknowledgements and inputs), message, goodbye.

use super::{
    BitReader, BitWriter, Reader,
    authority_requests::{AuthorityRequest, read_authority_requests},
    input_block::{InputBlock, InputsOut, read_input_block, write_input_block},
    upstream::{UpstreamExtras, read_extras, write_extras},
};
use crate::shared::error::DecodeError;

/// Kind bytes of frames a client sends.
pub mod client_kind {
    /// Handshake: the client's protocol hash.
    pub const HELLO: u8 = 0;
    /// Acknowledgements of state frames and slices, and inputs (unreliable channel).
    pub const UPDATE: u8 = 1;
    /// A game message.
    pub const MESSAGE: u8 = 2;
    /// The client leaves on purpose.
    pub const GOODBYE: u8 = 3;
    /// Requests to take or release authority over entities (reliable channel).
    pub const AUTHORITY: u8 = 4;
}

/// Most acknowledgement ranges in one update frame.
pub const MAX_ACK_RANGES: usize = 64;
/// Most frame ids one update frame may acknowledge in all.
pub const MAX_ACKED_PER_FRAME: usize = 4096;
/// Most inputs of one type in one update frame (a client sends a handful).
pub const MAX_INPUTS_PER_FRAME: usize = 32;
/// Most input types in one update frame.
pub const MAX_INPUT_TYPES_PER_FRAME: usize = 16;

/// An inclusive run of acknowledged frame ids: `newest - len ..= newest` (wrapping).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckRange {
    /// The newest id of the run.
    pub newest: u16,
    /// How many ids below `newest` the run covers.
    pub len: u16,
}

impl AckRange {
    /// The ids of the run, newest first.
    pub fn ids(self) -> impl Iterator<Item = u16> {
        (0..=self.len).map(move |offset| self.newest.wrapping_sub(offset))
    }
}

/// A decoded frame from a client.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientFrame<'a> {
    /// Handshake with the client's protocol hash.
    Hello {
        /// [`ProtocolHash`](crate::shared::protocol::ProtocolHash) of the client.
        protocol: u64,
    },
    /// Acknowledgements and inputs.
    Update {
        /// Frame ids received, as runs, newest first.
        acks: Vec<AckRange>,
        /// Inputs, per input type.
        inputs: Vec<InputBlock>,
        /// The optional sections (what the client saw when it produced its inputs).
        extras: UpstreamExtras,
    },
    /// The client leaves on purpose.
    Goodbye,
    /// Requests about authority.
    Authority(Vec<AuthorityRequest>),
    /// A game message.
    Message {
        /// Index in the client-message registry.
        index: u32,
        /// Encoded message.
        payload: &'a [u8],
    },
}

impl<'a> ClientFrame<'a> {
    /// Decodes a whole frame; malformed bytes and counts above the limits are errors, found
    /// before anything is allocated for them.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let frame = match reader.u8()? {
            client_kind::HELLO => {
                let protocol = reader.u64_le()?;
                reader.finish()?;
                Self::Hello { protocol }
            }
            client_kind::UPDATE => {
                let mut bits = BitReader::new(reader.remaining());
                let acks = read_acks(&mut bits)?;
                let blocks = bits.read_count_at_most(MAX_INPUT_TYPES_PER_FRAME, "input types")?;
                let mut inputs: Vec<InputBlock> = Vec::with_capacity(blocks);
                for _ in 0..blocks {
                    let newer = inputs.last().map(|block| block.newest);
                    inputs.push(read_input_block(&mut bits, newer)?);
                }
                let extras = read_extras(&mut bits)?;
                bits.finish()?;
                Self::Update {
                    acks,
                    inputs,
                    extras,
                }
            }
            client_kind::MESSAGE => Self::Message {
                index: reader.varint_u32()?,
                payload: reader.remaining(),
            },
            client_kind::GOODBYE => {
                reader.finish()?;
                Self::Goodbye
            }
            client_kind::AUTHORITY => {
                let mut bits = BitReader::new(reader.remaining());
                let requests = read_authority_requests(&mut bits)?;
                bits.finish()?;
                Self::Authority(requests)
            }
            kind => {
                return Err(DecodeError::UnknownKind {
                    frame: "client frame",
                    kind,
                });
            }
        };
        Ok(frame)
    }
}

/// Reads a 16-bit-bounded Exp-Golomb number.
fn read_u16(bits: &mut BitReader) -> Result<u16, DecodeError> {
    u16::try_from(bits.read_golomb(0)?).map_err(|_| DecodeError::VarintOverflow)
}

/// Acknowledgement runs: their count; the first run's newest id in 16 bits; each later run as
/// its gap below the previous one; every run's length. One run of two ids costs 22 bits.
fn write_acks(bits: &mut BitWriter, acks: &[AckRange]) {
    bits.write_golomb(acks.len() as u64, 0);
    for (position, range) in acks.iter().enumerate() {
        if position == 0 {
            bits.write_bits(range.newest.into(), 16);
        } else {
            let previous = acks[position - 1];
            let gap = previous
                .newest
                .wrapping_sub(previous.len)
                .wrapping_sub(2)
                .wrapping_sub(range.newest);
            bits.write_golomb(gap.into(), 0);
        }
        bits.write_golomb(range.len.into(), 0);
    }
}

fn read_acks(bits: &mut BitReader) -> Result<Vec<AckRange>, DecodeError> {
    let count = bits.read_count_at_most(MAX_ACK_RANGES, "acknowledgement ranges")?;
    let mut ranges = Vec::with_capacity(count);
    let mut total = 0usize;
    let mut previous: Option<AckRange> = None;
    for _ in 0..count {
        let newest = match previous {
            None => bits.read_bits(16)? as u16,
            Some(previous) => {
                let gap = read_u16(bits)?;
                previous
                    .newest
                    .wrapping_sub(previous.len)
                    .wrapping_sub(2)
                    .wrapping_sub(gap)
            }
        };
        let len = read_u16(bits)?;
        total += usize::from(len) + 1;
        if total > MAX_ACKED_PER_FRAME {
            return Err(DecodeError::TooMany {
                what: "acknowledged frames",
                count: total,
                limit: MAX_ACKED_PER_FRAME,
            });
        }
        let range = AckRange { newest, len };
        ranges.push(range);
        previous = Some(range);
    }
    Ok(ranges)
}

/// Encodes a [`client_kind::HELLO`] frame.
pub fn encode_hello(protocol: u64) -> Vec<u8> {
    let mut out = vec![client_kind::HELLO];
    out.extend_from_slice(&protocol.to_le_bytes());
    out
}

/// Turns received frame ids (any order, duplicates allowed) into runs, newest first, at most
/// [`MAX_ACK_RANGES`] of them and [`MAX_ACKED_PER_FRAME`] ids in all (the oldest are left out).
/// Ids are compared by their distance below `newest_hint`, so runs survive the 16-bit wrap.
pub fn ack_ranges(ids: &[u16], newest_hint: u16) -> Vec<AckRange> {
    let mut ages: Vec<u16> = ids.iter().map(|id| newest_hint.wrapping_sub(*id)).collect();
    ages.sort_unstable();
    ages.dedup();
    let mut ranges: Vec<AckRange> = Vec::new();
    let mut total = 0usize;
    for age in ages {
        let id = newest_hint.wrapping_sub(age);
        if let Some(last) = ranges.last_mut()
            && last.newest.wrapping_sub(last.len).wrapping_sub(1) == id
        {
            if total >= MAX_ACKED_PER_FRAME {
                break;
            }
            last.len += 1;
            total += 1;
            continue;
        }
        if ranges.len() == MAX_ACK_RANGES || total >= MAX_ACKED_PER_FRAME {
            break;
        }
        ranges.push(AckRange { newest: id, len: 0 });
        total += 1;
    }
    ranges
}

/// Encodes a [`client_kind::UPDATE`] frame: the kind byte, then a bit stream of the
/// acknowledgement runs and the input blocks.
#[cfg(any(test, feature = "test_utils"))]
pub fn encode_update(acks: &[AckRange], inputs: &[InputsOut]) -> Vec<u8> {
    encode_update_with(acks, inputs, &UpstreamExtras::default())
}

/// Encodes a [`client_kind::UPDATE`] frame with its optional sections.
pub fn encode_update_with(
    acks: &[AckRange],
    inputs: &[InputsOut],
    extras: &UpstreamExtras,
) -> Vec<u8> {
    let mut bits = BitWriter::with_capacity(16);
    bits.write_bits(client_kind::UPDATE.into(), 8);
    write_acks(&mut bits, acks);
    bits.write_golomb(inputs.len() as u64, 0);
    let mut newer = None;
    for block in inputs {
        write_input_block(&mut bits, block, newer);
        newer = Some(block.newest);
    }
    write_extras(&mut bits, extras);
    bits.into_bytes()
}

#[cfg(test)]
mod tests {
    use crate::shared::{error::DecodeError, wire::*};

    #[test]
    fn client_frames_roundtrip() {
        assert_eq!(
            ClientFrame::decode(&encode_hello(0xdead_beef)).unwrap(),
            ClientFrame::Hello {
                protocol: 0xdead_beef
            }
        );
        assert_eq!(
            ClientFrame::decode(&[client_kind::GOODBYE]).unwrap(),
            ClientFrame::Goodbye
        );
        assert_eq!(
            ClientFrame::decode(&encode_message(client_kind::MESSAGE, 7, b"hi")).unwrap(),
            ClientFrame::Message {
                index: 7,
                payload: b"hi"
            }
        );
    }

    #[test]
    fn acks_become_runs_and_roundtrip_across_the_wrap() {
        let ids = [2u16, 1, 0, 65_535, 65_533, 65_532, 1, 60_000];
        let ranges = ack_ranges(&ids, 2);
        assert_eq!(
            ranges,
            [
                AckRange { newest: 2, len: 3 },
                AckRange {
                    newest: 65_533,
                    len: 1
                },
                AckRange {
                    newest: 60_000,
                    len: 0
                },
            ]
        );
        let mut expanded: Vec<u16> = ranges.iter().flat_map(|r| r.ids()).collect();
        expanded.sort_unstable();
        let mut expected = ids.to_vec();
        expected.sort_unstable();
        expected.dedup();
        assert_eq!(expanded, expected);
        let frame = encode_update(&ranges, &[]);
        assert_eq!(
            ClientFrame::decode(&frame).unwrap(),
            ClientFrame::Update {
                acks: ranges,
                inputs: vec![],
                extras: UpstreamExtras::default(),
            }
        );
    }

    /// Decodes an update frame's input blocks as `(index, newest, inputs)`.
    fn decoded_inputs(frame: &[u8]) -> Vec<(u32, u16, Vec<Vec<u8>>)> {
        let Ok(ClientFrame::Update { inputs, .. }) = ClientFrame::decode(frame) else {
            panic!("not an update frame");
        };
        inputs
            .iter()
            .map(|block| {
                let inputs = block.inputs().map(<[u8]>::to_vec).collect();
                (block.index, block.newest, inputs)
            })
            .collect()
    }

    #[test]
    fn inputs_roundtrip_whether_repeated_patched_resized_or_empty() {
        let counter = [
            vec![251u8, 0x10, 0x02],
            vec![251, 0x0f, 0x02],
            vec![251, 0x0f, 0x02],
            vec![251, 0xff, 0x01],
            vec![7],
            vec![],
            vec![],
            vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        ];
        let stick = [vec![127u8, 0], vec![127, 0], vec![127, 0]];
        let late = [vec![9u8]];
        let blocks = [
            InputsOut {
                index: 3,
                newest: 65_535,
                inputs: &counter,
            },
            InputsOut {
                index: 0,
                newest: 65_535,
                inputs: &stick,
            },
            InputsOut {
                index: 20,
                newest: 4,
                inputs: &late,
            },
            InputsOut {
                index: 1,
                newest: 4,
                inputs: &[],
            },
        ];
        let frame = encode_update(&[AckRange { newest: 9, len: 1 }], &blocks);
        let expected: Vec<_> = blocks
            .iter()
            .map(|block| (block.index, block.newest, block.inputs.to_vec()))
            .collect();
        assert_eq!(decoded_inputs(&frame), expected);
    }

    #[test]
    fn a_held_input_costs_a_bit_per_tick_and_a_counter_a_byte_or_two() {
        let acks = [AckRange {
            newest: 1_000,
            len: 1,
        }];
        let held = vec![vec![90u8, 0, 1]; 3];
        let counting = vec![
            vec![251u8, 0x12, 0x03],
            vec![251, 0x11, 0x03],
            vec![251, 0x10, 0x03],
        ];
        let size = |inputs: &[Vec<u8>]| {
            encode_update(
                &acks,
                &[InputsOut {
                    index: 0,
                    newest: 7,
                    inputs,
                }],
            )
            .len()
        };
        // Kind byte; acks 22 bits; 1 block (3 bits): index 1, tick 16, count 5, newest 3 + 24.
        let first = 8 + 22 + 3 + 1 + 16 + 5 + 3 + 24;
        // Older inputs: one bit each when held; else a bit, a bit, a bit per byte and a byte.
        assert_eq!(size(&held), (first + 2usize).div_ceil(8));
        assert_eq!(size(&counting), (first + 2 * (2 + 3 + 8usize)).div_ceil(8));
    }

    #[test]
    fn oversized_counts_are_refused_before_allocation() {
        // 33 inputs of one type.
        let inputs: Vec<Vec<u8>> = (0..33).map(|_| vec![]).collect();
        let frame = encode_update(
            &[],
            &[InputsOut {
                index: 0,
                newest: 0,
                inputs: &inputs,
            }],
        );
        assert!(matches!(
            ClientFrame::decode(&frame),
            Err(DecodeError::TooMany { limit: 32, .. })
        ));
        // A range claiming 60,000 ids.
        let frame = encode_update(
            &[AckRange {
                newest: 9,
                len: 60_000,
            }],
            &[],
        );
        assert!(matches!(
            ClientFrame::decode(&frame),
            Err(DecodeError::TooMany { .. })
        ));
        // Truncated anywhere: an error, never a panic.
        let full = encode_update(
            &[AckRange { newest: 9, len: 1 }],
            &[InputsOut {
                index: 2,
                newest: 5,
                inputs: &[vec![1, 2, 3], vec![1, 9, 3]],
            }],
        );
        for len in 1..full.len() {
            assert!(ClientFrame::decode(&full[..len]).is_err(), "cut at {len}");
        }
    }

    #[test]
    fn unknown_kinds_are_named() {
        assert_eq!(
            ClientFrame::decode(&[200]),
            Err(DecodeError::UnknownKind {
                frame: "client frame",
                kind: 200
            })
        );
    }
}
