//! Serde values as bytes: bincode 2's standard configuration (varint integers, little-endian
//! floats), and a decoder safe on bytes from anyone ([`decode_serde`]).

use core::{any::type_name, cell::Cell};

use serde::{
    Serialize,
    de::{self, DeserializeOwned},
};

mod guard;

use super::error::{DecodeError, EncodeError};
use guard::Guarded;

/// bincode's own limit counts decoded widths, not wire bytes (a one-byte varint `u64` claims
/// 8, a `u128` 16), so it cannot say "no more than was received"; [`decode_serde`] enforces
/// that itself. This backstop is 128 MiB, 16 times the largest value replication carries
/// ([`MAX_VALUE_BYTES`](super::codec::MAX_VALUE_BYTES), checked there), which no value of at
/// most that many encoded bytes reaches.
pub(super) const CLAIM_LIMIT: usize = 128 << 20;

type BincodeConfig = bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<CLAIM_LIMIT>,
>;

const fn bincode_config() -> BincodeConfig {
    bincode::config::standard().with_limit::<CLAIM_LIMIT>()
}

/// Appends the serde + bincode encoding of `value` to `out`.
pub fn encode_serde<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    bincode::serde::encode_into_std_write(value, out, bincode_config())
        .map(|_| ())
        .map_err(|error| EncodeError {
            type_name: type_name::<T>(),
            detail: error.to_string(),
        })
}

/// Elements of sequences and maps that [`decode_serde`] accepts beyond one per received byte:
/// room for elements that read no byte at all (`()`, unit structs).
pub const ZERO_BYTE_ELEMENTS: usize = 4096;

/// What one decode may still use, shared by the reader and the `Guarded` deserializers.
pub(super) struct Input<'a> {
    /// The whole value.
    bytes: &'a [u8],
    /// How many of `bytes` are not read yet (kept by the reader).
    left: Cell<usize>,
    /// Elements of sequences and maps still allowed.
    elements: Cell<usize>,
}

impl Input<'_> {
    #[inline]
    pub(super) fn charge<E: de::Error>(&self, count: usize) -> Result<(), E> {
        match self.elements.get().checked_sub(count) {
            Some(left) => {
                self.elements.set(left);
                Ok(())
            }
            None => Err(E::custom("more elements than the bytes received allow")),
        }
    }

    /// Refuses a string or byte buffer whose length prefix claims more bytes than are left,
    /// before bincode allocates that length.
    #[inline]
    pub(super) fn check_byte_len<E: de::Error>(&self) -> Result<(), E> {
        let rest = &self.bytes[self.bytes.len() - self.left.get()..];
        let (len, prefix) =
            bincode::decode_from_slice::<u64, _>(rest, bincode_config()).map_err(E::custom)?;
        if len > (rest.len() - prefix) as u64 {
            return Err(E::custom("a length beyond the bytes received"));
        }
        Ok(())
    }
}

/// A slice reader that refuses to read once the stack has grown past
/// `MAX_DECODE_STACK_BYTES` since decoding began (each level of a nested value reads a
/// byte), and tells `left` how much is left.
struct GuardedReader<'i, 'a> {
    rest: &'a [u8],
    stack_start: usize,
    left: &'i Cell<usize>,
}

impl GuardedReader<'_, '_> {
    #[inline]
    fn too_deep(&self) -> bool {
        let marker = 0u8;
        let here = core::hint::black_box(&marker) as *const u8 as usize;
        here.abs_diff(self.stack_start) > MAX_DECODE_STACK_BYTES
    }
}

impl bincode::de::read::Reader for GuardedReader<'_, '_> {
    #[inline]
    fn read(&mut self, bytes: &mut [u8]) -> Result<(), bincode::error::DecodeError> {
        if self.too_deep() {
            return Err(bincode::error::DecodeError::Other(
                "value nested too deeply",
            ));
        }
        if bytes.len() > self.rest.len() {
            return Err(bincode::error::DecodeError::UnexpectedEnd {
                additional: bytes.len() - self.rest.len(),
            });
        }
        let (read, rest) = self.rest.split_at(bytes.len());
        bytes.copy_from_slice(read);
        self.rest = rest;
        self.left.set(rest.len());
        Ok(())
    }
}

/// Decodes a serde + bincode value that must use every byte of `bytes`. Safe on bytes from
/// anyone: a string or byte buffer may not claim more bytes than are left, the sequences and
/// maps of a value may not hold more elements in all than `bytes.len()` plus
/// [`ZERO_BYTE_ELEMENTS`] (so `Vec<()>` cannot loop 2^63 times), and a value nested so deep
/// that decoding it would use more than [`MAX_DECODE_STACK_BYTES`] of stack (a recursive type
/// fed `Some(Some(Some(...)))` by a hostile peer) is refused instead of overflowing the stack.
pub fn decode_serde<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let codec_error = |detail: String| DecodeError::Codec {
        type_name: type_name::<T>(),
        detail,
    };
    let marker = 0u8;
    let input = Input {
        bytes,
        left: Cell::new(bytes.len()),
        elements: Cell::new(bytes.len().saturating_add(ZERO_BYTE_ELEMENTS)),
    };
    let reader = GuardedReader {
        rest: bytes,
        stack_start: core::hint::black_box(&marker) as *const u8 as usize,
        left: &input.left,
    };
    let mut decoder = bincode::serde::OwnedSerdeDecoder::from_reader(reader, bincode_config());
    let value = T::deserialize(Guarded {
        de: decoder.as_deserializer(),
        input: &input,
    })
    .map_err(|error| codec_error(error.to_string()))?;
    let left = input.left.get();
    if left != 0 {
        return Err(codec_error(format!("{left} bytes left over")));
    }
    Ok(value)
}

/// Most stack a decode may use below [`decode_serde`]'s own frame: far more than any sensible
/// value needs, far less than a thread's stack.
pub const MAX_DECODE_STACK_BYTES: usize = 256 * 1024;
