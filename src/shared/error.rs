//! Errors raised while encoding or decoding network data.

use thiserror::Error;

/// Why bytes from the network could not be decoded.
///
/// Every decoder in this crate returns this error instead of panicking: bad bytes from a peer
/// are a reason to disconnect it, never a crash.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The data ended before the value it announced.
    #[error("data ended early while reading {0}")]
    UnexpectedEnd(&'static str),
    /// A variable-length integer ran over its width.
    #[error("variable-length integer is too long")]
    VarintOverflow,
    /// A frame started with a kind byte this protocol does not define.
    #[error("unknown {frame} kind {kind}")]
    UnknownKind {
        /// Which frame family was being read.
        frame: &'static str,
        /// The kind byte that was read.
        kind: u8,
    },
    /// A component index that was never registered.
    #[error("unknown replicated component index {0}")]
    UnknownComponent(u32),
    /// A message index that was never registered.
    #[error("unknown message index {0}")]
    UnknownMessage(u32),
    /// A replicated resource index that was never registered.
    #[error("unknown replicated resource index {0}")]
    UnknownResource(u32),
    /// An entity index no entity can have.
    #[error("invalid entity index {0}")]
    InvalidEntity(u64),
    /// A codec rejected the bytes of a value.
    #[error("could not decode {type_name}: {detail}")]
    Codec {
        /// The type being decoded.
        type_name: &'static str,
        /// The codec's own description of the problem.
        detail: String,
    },
    /// Bytes were left over after a complete frame.
    #[error("{0} trailing bytes after a complete frame")]
    TrailingBytes(usize),
    /// A list longer than the protocol allows.
    #[error("{count} {what} in one frame, more than the limit of {limit}")]
    TooMany {
        /// What was counted.
        what: &'static str,
        /// How many the frame claimed.
        count: usize,
        /// The most allowed.
        limit: usize,
    },
}

/// Why a value could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("could not encode {type_name}: {detail}")]
pub struct EncodeError {
    /// The type being encoded.
    pub type_name: &'static str,
    /// The codec's own description of the problem.
    pub detail: String,
}
