//! Frames the server sends: welcome, disconnect reason, state, slice, message, input timing.

use super::{
    BitReader, Reader, StateHeader, read_state_header, write_signed_varint, write_tick,
    write_varint,
};
use crate::shared::{
    codec::{MAX_VALUE_BYTES, decode_serde, encode_serde},
    disconnect::DisconnectReason,
    error::DecodeError,
    tick::NetTick,
};

/// Kind bytes of frames the server sends.
pub mod server_kind {
    /// Handshake accepted.
    pub const WELCOME: u8 = 0;
    /// The server is about to close the connection, and why.
    pub const DISCONNECT: u8 = 1;
    /// One client's share of a tick's replication (unreliable channel, bit-packed).
    pub const STATE: u8 = 2;
    /// A slice of a large value (unreliable channel).
    pub const SLICE: u8 = 3;
    /// A game message.
    pub const MESSAGE: u8 = 4;
    /// How early the client's inputs arrive (unreliable channel).
    pub const INPUT_TIMING: u8 = 6;
}

/// A decoded frame from the server. Slices borrow from the received bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum ServerFrame<'a> {
    /// Handshake accepted.
    Welcome {
        /// The id the server knows this client by.
        client_id: u64,
        /// The alias other clients see for it (see [`client_ids`](crate::shared::client_ids)).
        alias: u64,
        /// The server tick when it accepted.
        tick: NetTick,
    },
    /// The server closes the connection.
    Disconnect(DisconnectReason),
    /// Replication of one tick (or part of it). The entries after the header are read with the
    /// protocol's registry.
    State {
        /// Frame id, tick, part and watermark.
        header: StateHeader,
        /// The whole frame.
        bytes: &'a [u8],
        /// The bit where the entries start.
        body_start: usize,
    },
    /// A slice of a large value.
    Slice {
        /// Frame id the client acknowledges.
        seq: u16,
        /// Which value.
        blob: u32,
        /// Its whole length in bytes.
        total_len: usize,
        /// Which slice.
        index: u32,
        /// The slice's bytes.
        payload: &'a [u8],
    },
    /// A game message, delivered once replication reached `tick`.
    Message {
        /// Index in the server-message registry.
        index: u32,
        /// The replication tick the message follows.
        tick: NetTick,
        /// Encoded message.
        payload: &'a [u8],
    },
    /// How early the client's inputs arrived lately.
    InputTiming {
        /// The smallest lead (ticks before needed) of the inputs of the last window; negative
        /// when some were late.
        min_lead: i32,
        /// Inputs that arrived after their tick was simulated.
        late: u32,
    },
}

impl<'a> ServerFrame<'a> {
    /// Decodes a whole frame (a state frame's header only); any malformed byte is an error.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let frame = match reader.u8()? {
            server_kind::WELCOME => {
                let client_id = reader.varint()?;
                let tick = reader.tick()?;
                let alias = reader.u64_le()?;
                reader.finish()?;
                Self::Welcome {
                    client_id,
                    alias,
                    tick,
                }
            }
            server_kind::DISCONNECT => Self::Disconnect(decode_serde(reader.remaining())?),
            server_kind::STATE => {
                let mut bits = BitReader::new(bytes);
                let header = read_state_header(&mut bits)?;
                Self::State {
                    header,
                    bytes,
                    body_start: bits.position(),
                }
            }
            server_kind::SLICE => {
                let seq = u16::from_le_bytes([reader.u8()?, reader.u8()?]);
                let blob = reader.varint_u32()?;
                let total_len = reader.varint()?;
                if total_len == 0 || total_len > MAX_VALUE_BYTES as u64 {
                    return Err(DecodeError::UnexpectedEnd(
                        "a slice of a value within limits",
                    ));
                }
                let index = reader.varint_u32()?;
                let payload = reader.remaining();
                if payload.is_empty() {
                    return Err(DecodeError::UnexpectedEnd("a slice"));
                }
                Self::Slice {
                    seq,
                    blob,
                    total_len: total_len as usize,
                    index,
                    payload,
                }
            }
            server_kind::MESSAGE => Self::Message {
                index: reader.varint_u32()?,
                tick: reader.tick()?,
                payload: reader.remaining(),
            },
            server_kind::INPUT_TIMING => {
                let min_lead = i32::try_from(reader.signed_varint()?)
                    .map_err(|_| DecodeError::VarintOverflow)?;
                let late = reader.varint_u32()?;
                reader.finish()?;
                Self::InputTiming { min_lead, late }
            }
            kind => {
                return Err(DecodeError::UnknownKind {
                    frame: "server frame",
                    kind,
                });
            }
        };
        Ok(frame)
    }
}

/// Encodes a [`server_kind::WELCOME`] frame.
pub fn encode_welcome(client_id: u64, alias: u64, tick: NetTick) -> Vec<u8> {
    let mut out = vec![server_kind::WELCOME];
    write_varint(&mut out, client_id);
    write_tick(&mut out, tick);
    out.extend_from_slice(&alias.to_le_bytes());
    out
}

/// Encodes a [`server_kind::DISCONNECT`] frame.
pub fn encode_disconnect(reason: &DisconnectReason) -> Vec<u8> {
    let mut out = vec![server_kind::DISCONNECT];
    // Our own plain enum always encodes; fall back to an empty reason rather than panic.
    if encode_serde(reason, &mut out).is_err() {
        out.truncate(1);
    }
    out
}

/// Payload bytes per slice of a large value (the last slice of a value may be shorter).
pub const SLICE_BYTES: usize = 1024;

/// Encodes a [`server_kind::SLICE`] frame.
pub fn encode_slice(seq: u16, blob: u32, total_len: usize, index: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 16);
    out.push(server_kind::SLICE);
    out.extend_from_slice(&seq.to_le_bytes());
    write_varint(&mut out, blob.into());
    write_varint(&mut out, total_len as u64);
    write_varint(&mut out, index.into());
    out.extend_from_slice(payload);
    out
}

/// Encodes a [`server_kind::MESSAGE`] frame.
pub fn encode_server_message(index: u32, tick: NetTick, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.push(server_kind::MESSAGE);
    write_varint(&mut out, index.into());
    write_tick(&mut out, tick);
    out.extend_from_slice(payload);
    out
}

/// Encodes a [`server_kind::INPUT_TIMING`] frame.
pub fn encode_input_timing(min_lead: i32, late: u32) -> Vec<u8> {
    let mut out = vec![server_kind::INPUT_TIMING];
    write_signed_varint(&mut out, min_lead.into());
    write_varint(&mut out, late.into());
    out
}

#[cfg(test)]
mod tests {
    use crate::shared::{
        disconnect::DisconnectReason,
        tick::NetTick,
        wire::{BitWriter, LastPart, StateHeader, write_state_header, *},
    };

    #[test]
    fn input_timing_roundtrip_keeps_the_sign() {
        for min_lead in [0, 1, -1, 7, -60, i32::MAX, i32::MIN] {
            let bytes = encode_input_timing(min_lead, 3);
            let frame = ServerFrame::decode(&bytes).unwrap();
            assert_eq!(frame, ServerFrame::InputTiming { min_lead, late: 3 });
        }
        // A lead beyond i32 is refused, not wrapped.
        let mut out = vec![server_kind::INPUT_TIMING];
        write_signed_varint(&mut out, i64::from(i32::MAX) + 1);
        write_varint(&mut out, 0);
        assert!(ServerFrame::decode(&out).is_err());
    }

    #[test]
    fn control_frames_roundtrip() {
        assert_eq!(
            ServerFrame::decode(&encode_welcome(99, 1 << 63, NetTick(5))).unwrap(),
            ServerFrame::Welcome {
                client_id: 99,
                alias: 1 << 63,
                tick: NetTick(5)
            }
        );
        let reason = DisconnectReason::ProtocolMismatch {
            server: 1,
            client: 2,
        };
        assert_eq!(
            ServerFrame::decode(&encode_disconnect(&reason)).unwrap(),
            ServerFrame::Disconnect(reason)
        );
        assert_eq!(
            ServerFrame::decode(&encode_server_message(3, NetTick(70_000), b"hi")).unwrap(),
            ServerFrame::Message {
                index: 3,
                tick: NetTick(70_000),
                payload: b"hi"
            }
        );
        let slice = encode_slice(65_000, 7, 5_000, 4, &[1, 2, 3]);
        assert_eq!(
            ServerFrame::decode(&slice).unwrap(),
            ServerFrame::Slice {
                seq: 65_000,
                blob: 7,
                total_len: 5_000,
                index: 4,
                payload: &[1, 2, 3]
            }
        );
    }

    #[test]
    fn a_state_frame_decodes_its_header_and_points_at_its_entries() {
        let header = StateHeader {
            seq: 9,
            tick: NetTick(123),
            part: 0,
            last: Some(LastPart {
                watermark: NetTick(120),
                input_ack: None,
                owned_ack: None,
            }),
        };
        let mut out = BitWriter::new();
        write_state_header(&mut out, &header);
        let start = out.bit_len();
        out.write_bits(0b101, 3);
        let bytes = out.into_bytes();
        let ServerFrame::State {
            header: decoded,
            body_start,
            ..
        } = ServerFrame::decode(&bytes).unwrap()
        else {
            panic!("not a state frame");
        };
        assert_eq!(decoded, header);
        assert_eq!(body_start, start);
    }

    #[test]
    fn garbage_never_panics() {
        // A small deterministic fuzz: every decoder sees pseudo-random bytes.
        let mut state = 0x1234_5678_9abc_def0u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 24) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|i| (state >> ((i % 8) * 8)) as u8 ^ i as u8)
                .collect();
            let _ = ServerFrame::decode(&bytes);
            let _ = ClientFrame::decode(&bytes);
        }
    }
}
