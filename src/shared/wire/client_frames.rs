//! Frames a client sends: hello, acks, inputs, goodbye.

use super::{Reader, write_tick, write_varint};
use crate::shared::{error::DecodeError, tick::NetTick};

/// Kind bytes of frames a client sends.
pub mod client_kind {
    /// Handshake: the client's protocol hash.
    pub const HELLO: u8 = 0;
    /// Update ids the client received.
    pub const ACKS: u8 = 1;
    /// A game message.
    pub const MESSAGE: u8 = 2;
    /// The client leaves on purpose.
    pub const GOODBYE: u8 = 3;
    /// Inputs of the last few ticks (unreliable channel).
    pub const INPUTS: u8 = 4;
}

/// A decoded frame from a client.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientFrame<'a> {
    /// Handshake with the client's protocol hash.
    Hello {
        /// [`ProtocolHash`](crate::shared::protocol::ProtocolHash) of the client.
        protocol: u64,
    },
    /// Update ids the client received.
    Acks(Vec<u32>),
    /// The client leaves on purpose.
    Goodbye,
    /// Inputs of consecutive ticks ending at `newest`.
    Inputs {
        /// Index in the input registry.
        index: u32,
        /// Tick of the first entry.
        newest: NetTick,
        /// Encoded inputs, newest first.
        inputs: Vec<&'a [u8]>,
    },
    /// A game message.
    Message {
        /// Index in the client-message registry.
        index: u32,
        /// Encoded message.
        payload: &'a [u8],
    },
}

impl<'a> ClientFrame<'a> {
    /// Decodes a whole frame; any malformed byte is an error.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let frame = match reader.u8()? {
            client_kind::HELLO => {
                let protocol = reader.u64_le()?;
                reader.finish()?;
                Self::Hello { protocol }
            }
            client_kind::ACKS => {
                let count = reader.count()?;
                let ids = (0..count)
                    .map(|_| reader.varint_u32())
                    .collect::<Result<_, _>>()?;
                reader.finish()?;
                Self::Acks(ids)
            }
            client_kind::MESSAGE => Self::Message {
                index: reader.varint_u32()?,
                payload: reader.remaining(),
            },
            client_kind::GOODBYE => {
                reader.finish()?;
                Self::Goodbye
            }
            client_kind::INPUTS => {
                let index = reader.varint_u32()?;
                let newest = reader.tick()?;
                let count = reader.count()?;
                let inputs = (0..count)
                    .map(|_| reader.bytes())
                    .collect::<Result<_, _>>()?;
                reader.finish()?;
                Self::Inputs {
                    index,
                    newest,
                    inputs,
                }
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

/// Encodes a [`client_kind::HELLO`] frame.
pub fn encode_hello(protocol: u64) -> Vec<u8> {
    let mut out = vec![client_kind::HELLO];
    out.extend_from_slice(&protocol.to_le_bytes());
    out
}

/// Encodes a [`client_kind::INPUTS`] frame; `inputs` newest first, ending at `newest`.
pub fn encode_inputs(index: u32, newest: NetTick, inputs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![client_kind::INPUTS];
    write_varint(&mut out, index.into());
    write_tick(&mut out, newest);
    write_varint(&mut out, inputs.len() as u64);
    for input in inputs {
        super::write_bytes(&mut out, input);
    }
    out
}

/// Encodes a [`client_kind::ACKS`] frame.
pub fn encode_acks(ids: &[u32]) -> Vec<u8> {
    let mut out = vec![client_kind::ACKS];
    write_varint(&mut out, ids.len() as u64);
    for id in ids {
        write_varint(&mut out, (*id).into());
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::shared::{error::DecodeError, tick::NetTick, wire::*};

    #[test]
    fn client_frames_roundtrip() {
        assert_eq!(
            ClientFrame::decode(&encode_hello(0xdead_beef)).unwrap(),
            ClientFrame::Hello {
                protocol: 0xdead_beef
            }
        );
        assert_eq!(
            ClientFrame::decode(&encode_acks(&[1, 200, 70_000])).unwrap(),
            ClientFrame::Acks(vec![1, 200, 70_000])
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
    fn input_and_timing_frames_roundtrip() {
        let inputs = vec![vec![1, 2], vec![], vec![3]];
        assert_eq!(
            ClientFrame::decode(&encode_inputs(2, NetTick(500), &inputs)).unwrap(),
            ClientFrame::Inputs {
                index: 2,
                newest: NetTick(500),
                inputs: vec![&[1, 2][..], &[][..], &[3][..]],
            }
        );
        for min_lead in [-70_000, -1, 0, 1, 12] {
            assert_eq!(
                ServerFrame::decode(&encode_input_timing(min_lead, 4)).unwrap(),
                ServerFrame::InputTiming { min_lead, late: 4 }
            );
        }
        assert_eq!(
            ServerFrame::decode(&encode_tick(NetTick(9))).unwrap(),
            ServerFrame::Tick(NetTick(9))
        );
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
