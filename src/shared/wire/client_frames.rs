//! Frames a client sends: hello, update (acknowledgements and inputs), message, goodbye.

use super::{Reader, write_varint};
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
}

/// Most acknowledgement ranges in one update frame.
pub const MAX_ACK_RANGES: usize = 64;
/// Most frame ids one update frame may acknowledge in all.
pub const MAX_ACKED_PER_FRAME: usize = 4096;
/// Most inputs of one type in one update frame (a client sends a handful).
pub const MAX_INPUTS_PER_FRAME: usize = 32;
/// Most input types in one update frame.
pub const MAX_INPUT_TYPES_PER_FRAME: usize = 16;

/// Inputs of one type for consecutive ticks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputBlock<'a> {
    /// Index in the input registry.
    pub index: u32,
    /// The low 16 bits of the newest input's tick (the server knows the rest).
    pub newest: u16,
    /// Encoded inputs, newest first; an empty one repeats the newer one.
    pub inputs: Vec<&'a [u8]>,
}

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
        inputs: Vec<InputBlock<'a>>,
    },
    /// The client leaves on purpose.
    Goodbye,
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
                let acks = read_acks(&mut reader)?;
                let blocks = bounded_count(&mut reader, MAX_INPUT_TYPES_PER_FRAME, "input types")?;
                let mut inputs = Vec::with_capacity(blocks);
                for _ in 0..blocks {
                    let index = reader.varint_u32()?;
                    let newest = u16::from_le_bytes([reader.u8()?, reader.u8()?]);
                    let count = bounded_count(&mut reader, MAX_INPUTS_PER_FRAME, "inputs")?;
                    let entries = (0..count)
                        .map(|_| reader.bytes())
                        .collect::<Result<_, _>>()?;
                    inputs.push(InputBlock {
                        index,
                        newest,
                        inputs: entries,
                    });
                }
                reader.finish()?;
                Self::Update { acks, inputs }
            }
            client_kind::MESSAGE => Self::Message {
                index: reader.varint_u32()?,
                payload: reader.remaining(),
            },
            client_kind::GOODBYE => {
                reader.finish()?;
                Self::Goodbye
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

/// Reads a count that may not exceed `limit` (nor what the bytes left could hold).
fn bounded_count(
    reader: &mut Reader,
    limit: usize,
    what: &'static str,
) -> Result<usize, DecodeError> {
    let count = reader.count()?;
    if count > limit {
        return Err(DecodeError::TooMany { what, count, limit });
    }
    Ok(count)
}

fn read_acks(reader: &mut Reader) -> Result<Vec<AckRange>, DecodeError> {
    let count = bounded_count(reader, MAX_ACK_RANGES, "acknowledgement ranges")?;
    let mut ranges = Vec::with_capacity(count);
    let mut total = 0usize;
    let mut next_newest = None;
    for _ in 0..count {
        let newest = match next_newest {
            None => u16::from_le_bytes([reader.u8()?, reader.u8()?]),
            Some(after) => {
                let gap =
                    u16::try_from(reader.varint()?).map_err(|_| DecodeError::VarintOverflow)?;
                let previous: AckRange = after;
                previous
                    .newest
                    .wrapping_sub(previous.len)
                    .wrapping_sub(2)
                    .wrapping_sub(gap)
            }
        };
        let len = u16::try_from(reader.varint()?).map_err(|_| DecodeError::VarintOverflow)?;
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
        next_newest = Some(range);
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

/// Inputs of one type to encode: registry index, newest tick's low bits, and the inputs newest
/// first (empty = the same as the newer one).
pub struct InputsOut<'a> {
    /// Index in the input registry.
    pub index: u32,
    /// Low 16 bits of the newest tick.
    pub newest: u16,
    /// Encoded inputs, newest first.
    pub inputs: &'a [Vec<u8>],
}

/// Encodes a [`client_kind::UPDATE`] frame.
pub fn encode_update(acks: &[AckRange], inputs: &[InputsOut]) -> Vec<u8> {
    let mut out = vec![client_kind::UPDATE];
    write_varint(&mut out, acks.len() as u64);
    for (position, range) in acks.iter().enumerate() {
        if position == 0 {
            out.extend_from_slice(&range.newest.to_le_bytes());
        } else {
            let previous = acks[position - 1];
            let gap = previous
                .newest
                .wrapping_sub(previous.len)
                .wrapping_sub(2)
                .wrapping_sub(range.newest);
            write_varint(&mut out, gap.into());
        }
        write_varint(&mut out, range.len.into());
    }
    write_varint(&mut out, inputs.len() as u64);
    for block in inputs {
        write_varint(&mut out, block.index.into());
        out.extend_from_slice(&block.newest.to_le_bytes());
        write_varint(&mut out, block.inputs.len() as u64);
        for input in block.inputs {
            super::write_bytes(&mut out, input);
        }
    }
    out
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
        let inputs = [vec![1u8, 2], vec![], vec![3]];
        let frame = encode_update(
            &ranges,
            &[InputsOut {
                index: 1,
                newest: 500,
                inputs: &inputs,
            }],
        );
        assert_eq!(
            ClientFrame::decode(&frame).unwrap(),
            ClientFrame::Update {
                acks: ranges,
                inputs: vec![InputBlock {
                    index: 1,
                    newest: 500,
                    inputs: vec![&[1, 2][..], &[][..], &[3][..]],
                }],
            }
        );
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
        let mut frame = vec![client_kind::UPDATE, 1, 0, 0];
        write_varint(&mut frame, 60_000);
        frame.push(0);
        assert!(matches!(
            ClientFrame::decode(&frame),
            Err(DecodeError::TooMany { .. })
        ));
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
