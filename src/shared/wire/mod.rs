//! The wire format: byte-level primitives (`Reader`, `write_*`), bit-level packing
//! ([`BitWriter`], [`BitReader`]) and frames. Only the two bit streams are public (codecs use
//! them); the frames are the crate's own (with `test_utils`, `testing::wire` shows them).
//!
//! Nothing here touches a `World` or renet; every decoder takes bytes and returns a `Result`,
//! so malformed data is an error and never a panic.
//!
//! Frames: the first byte of every renet message names its kind; the rest is laid out here.
//!
//! | direction | channel | kind | layout after the kind byte |
//! | --- | --- | --- | --- |
//! | server → client | reliable | `server_kind::WELCOME` | client id (varint), tick, the client's id alias (u64 LE) |
//! | server → client | reliable | `server_kind::DISCONNECT` | [`DisconnectReason`](crate::shared::disconnect::DisconnectReason) (bincode) |
//! | server → client | unreliable | `server_kind::STATE` | bit-packed: see [below](self#the-state-frame) |
//! | server → client | unreliable | `server_kind::SLICE` | frame id (u16 LE), blob id, total length, slice index, bytes |
//! | server → client | either | `server_kind::MESSAGE` | message index, replication tick it follows, payload |
//! | server → client | unreliable | `server_kind::INPUT_TIMING` | worst input lead in ticks (zigzag), late inputs |
//! | client → server | reliable | `client_kind::HELLO` | protocol hash (u64 LE) |
//! | client → server | unreliable | `client_kind::UPDATE` | bit-packed: acknowledged frame ids as runs; inputs per type: index, newest tick (low 16 bits, one bit when it is the previous type's), inputs newest first, each older one as one bit when equal to the newer, else the bytes that differ; then optional sections behind a bit each (what the client's screen showed per input, in sixteenths of a tick behind it; the values of the entities it holds authority over, see `owned_section.rs`) |
//! | client → server | either | `client_kind::MESSAGE` | message index, payload |
//! | client → server | reliable | `client_kind::GOODBYE` | nothing |
//! | client → server | reliable | `client_kind::AUTHORITY` | bit-packed requests: per request a bit (take or release) and the entity's slot |
//!
//! # The state frame
//!
//! Everything a client needs to hold the server's replicated world travels in state frames:
//! spawns, despawns, insertions, removals, values and resources, each entry resent until the
//! client acknowledged a frame carrying it (or something newer). Entities are named by their
//! slot, a small number the server assigns; values carry the tick they were set at, so a client
//! applies each server change once. The layout is documented in `state_frame/mod.rs`.

/// The revision of the frame layouts described here, part of every
/// [`ProtocolHash`](crate::shared::protocol::ProtocolHash): two builds that lay frames out
/// differently refuse each other at the handshake (a protocol mismatch, with its reason) rather
/// than failing on the first frame. Bumped with every change of a layout.
pub const WIRE_REVISION: u32 = 6;

mod authority_requests;
mod bits;
mod client_frames;
mod input_block;
mod owned_section;
mod reader;
mod server_frames;
mod state_frame;
mod upstream;
mod writer;

pub(crate) use authority_requests::*;
pub(crate) use bits::*;
/// The two bit streams a [`ComponentCodec`](crate::shared::codec::ComponentCodec) writes and
/// reads; everything else here is the crate's own.
pub use bits::{BitReader, BitWriter};
pub(crate) use client_frames::*;
#[allow(unused_imports)] // each side uses one of them
pub(crate) use input_block::{InputBlock, InputsOut};
pub(crate) use owned_section::*;
pub(crate) use reader::Reader;
pub(crate) use server_frames::*;
pub(crate) use state_frame::*;
pub(crate) use upstream::*;
pub(crate) use writer::*;

/// Every frame encoder and decoder, for tests and fuzz targets that craft frames by hand:
/// public with the `test_utils` feature as [`testing::wire`](crate::testing::wire).
#[cfg(feature = "test_utils")]
#[doc(hidden)]
pub mod frames {
    pub use super::{
        authority_requests::*,
        bits::*,
        client_frames::*,
        input_block::{InputBlock, InputsOut},
        owned_section::*,
        reader::Reader,
        server_frames::*,
        state_frame::*,
        upstream::*,
        writer::*,
    };
}
