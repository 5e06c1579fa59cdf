//! The wire format: byte-level primitives ([`Reader`], `write_*`) and frames.
//!
//! Nothing here touches a `World` or renet; every decoder takes `&[u8]` and returns a
//! `Result`, so malformed data is an error and never a panic.
//!
//! Frames: the first byte of every renet message names its kind; the rest is laid out here.
//!
//! | direction | kind | layout after the kind byte |
//! | --- | --- | --- |
//! | server → client | [`server_kind::WELCOME`] | client id (varint), tick |
//! | server → client | [`server_kind::DISCONNECT`] | [`DisconnectReason`](crate::shared::disconnect::DisconnectReason) (bincode) |
//! | server → client | [`server_kind::STRUCTURE`] | tick, then entries to the end: entity, op, components |
//! | server → client | [`server_kind::UPDATE`] | update id, tick, required structure tick, then entities to the end |
//! | server → client | [`server_kind::MESSAGE`] | message index, payload to the end |
//! | client → server | [`client_kind::HELLO`] | protocol hash (u64 LE) |
//! | client → server | [`client_kind::ACKS`] | count, update ids |
//! | client → server | [`client_kind::MESSAGE`] | message index, payload to the end |
//! | client → server | [`client_kind::GOODBYE`] | nothing |
//! | client → server | [`client_kind::INPUTS`] | input index, newest tick, count, inputs newest first (each length-prefixed; empty = same as the newer one) |
//! | server → client | [`server_kind::TICK`] | tick |
//! | server → client | [`server_kind::INPUT_TIMING`] | worst input lead in ticks (zigzag), late inputs |
//!
//! A component value is `index, length, bytes`, so a reader can always find the next value.

mod client_frames;
mod reader;
mod server_frames;
mod writer;

pub use client_frames::*;
pub use reader::Reader;
pub use server_frames::*;
pub use writer::*;
