//! How component values become bytes: the [`ComponentCodec`] trait and the default
//! [`SerdeCodec`] (serde + bincode 2).

use core::marker::PhantomData;

use serde::{Serialize, de::DeserializeOwned};

pub use super::serde_wire::{
    MAX_DECODE_STACK_BYTES, ZERO_BYTE_ELEMENTS, decode_serde, encode_serde,
};
use super::{
    error::{DecodeError, EncodeError},
    tick::NetTick,
    wire::{BitReader, BitWriter},
};

/// The largest encoded component or resource value replication carries (8 MiB). Values up to
/// about a kilobyte travel inside replication frames; larger ones are sent in acknowledged
/// slices beside them. A value above this limit is refused on the server with an error naming
/// the type, and its entity is not replicated until the value fits again.
pub const MAX_VALUE_BYTES: usize = 8 << 20;

/// The most bytes a string or byte buffer inside a value decoded by [`SerdeCodec`] may claim:
/// [`MAX_VALUE_BYTES`]. [`decode_serde`] holds every length field to the bytes it was given,
/// which for a replicated value are at most this many.
pub const MAX_DECODED_VALUE_BYTES: usize = MAX_VALUE_BYTES;

// serde_wire's backstop stays far above any value replication carries.
const _: () = assert!(super::serde_wire::CLAIM_LIMIT >= 16 * MAX_VALUE_BYTES);

/// Golomb order of the byte-length prefix of values written through the byte-level API.
const LENGTH_ORDER: u32 = 3;

/// A value the receiving client acknowledged, for codecs that send differences
/// ([`ComponentCodec::uses_baselines`]). Both sides see exactly the same baseline: the value as
/// the client decoded it, never the server's unquantized original.
#[derive(Debug)]
pub struct Baseline<'a, C> {
    /// The acknowledged value.
    pub value: &'a C,
    /// The server tick this value was set at.
    pub tick: NetTick,
    /// The acknowledged value before it and its tick, when the client holds one: two points
    /// give a velocity to extrapolate from.
    pub previous: Option<(&'a C, NetTick)>,
}

impl<C> Clone for Baseline<'_, C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C> Copy for Baseline<'_, C> {}

/// Turns values of `C` into bytes and back, optionally against a baseline.
///
/// Only [`encode`](Self::encode) and [`decode`](Self::decode) are required: replication then
/// sends each value whole, as length-prefixed bytes. A codec that wants to spend fewer bits
/// overrides [`write`](Self::write) / [`read`](Self::read) to pack values bit by bit, and a
/// codec that sends differences returns `true` from [`uses_baselines`](Self::uses_baselines)
/// and overrides [`write_delta`](Self::write_delta) / [`read_delta`](Self::read_delta) (their
/// defaults hand the baseline to `encode`/`decode`). [`TransformCodec`](super::transform_codec::TransformCodec)
/// does all of it.
///
/// The baseline is a value the receiving client has acknowledged for this component. A delta
/// codec writes only what differs from it; the decoder is handed the same baseline. Codecs
/// that write whole values ignore it.
///
/// Decoding works on untrusted bytes: return an error, never panic. Encoding and decoding must
/// be deterministic: a client holds exactly what `decode` makes of what `encode` wrote, whether
/// the value travelled whole or as a difference.
///
/// ```
/// use bevy::prelude::*;
/// use bevy_netsync::prelude::*;
///
/// /// Sends a health value as one byte, clamped.
/// struct HealthByte;
///
/// #[derive(Component, PartialEq, Debug)]
/// struct Health(u32);
///
/// impl ComponentCodec<Health> for HealthByte {
///     fn encode(&self, value: &Health, _baseline: Option<&Health>, out: &mut Vec<u8>)
///         -> Result<(), EncodeError> {
///         out.push(value.0.min(255) as u8);
///         Ok(())
///     }
///     fn decode(&self, bytes: &[u8], _baseline: Option<&Health>) -> Result<Health, DecodeError> {
///         match bytes {
///             [byte] => Ok(Health(u32::from(*byte))),
///             _ => Err(DecodeError::UnexpectedEnd("a health byte")),
///         }
///     }
/// }
///
/// let mut bytes = Vec::new();
/// HealthByte.encode(&Health(300), None, &mut bytes).unwrap();
/// assert_eq!(HealthByte.decode(&bytes, None), Ok(Health(255)));
/// ```
pub trait ComponentCodec<C>: Send + Sync + 'static {
    /// Appends the encoding of `value` (against `baseline`, if the codec uses it) to `out`.
    fn encode(&self, value: &C, baseline: Option<&C>, out: &mut Vec<u8>)
    -> Result<(), EncodeError>;

    /// Decodes exactly `bytes` (against the same `baseline` the encoder saw).
    fn decode(&self, bytes: &[u8], baseline: Option<&C>) -> Result<C, DecodeError>;

    /// The codec's settings that both sides must share (a quantization step, say), folded into
    /// the [`ProtocolHash`](super::protocol::ProtocolHash) with the codec's type name, so a
    /// client built with other settings is refused on connect instead of misreading values.
    /// Empty by default.
    fn settings(&self) -> String {
        String::new()
    }

    /// Whether values should be sent as differences from the client's acknowledged baseline
    /// (through [`write_delta`](Self::write_delta)). Replication then keeps a short history of
    /// acknowledged values on both sides. `false` by default.
    fn uses_baselines(&self) -> bool {
        false
    }

    /// Writes `value` whole into a replication frame. The default writes
    /// [`encode`](Self::encode)'s bytes with a length prefix.
    fn write(&self, value: &C, out: &mut BitWriter) -> Result<(), EncodeError> {
        let mut bytes = Vec::new();
        self.encode(value, None, &mut bytes)?;
        write_length_prefixed(out, &bytes);
        Ok(())
    }

    /// Reads a value written by [`write`](Self::write).
    fn read(&self, reader: &mut BitReader) -> Result<C, DecodeError> {
        let bytes = read_length_prefixed(reader)?;
        self.decode(&bytes, None)
    }

    /// Writes `value`, which was set at server tick `tick`, as a difference from `baseline`.
    /// Only called when [`uses_baselines`](Self::uses_baselines) is `true`. The default hands
    /// the baseline to [`encode`](Self::encode) and writes its bytes with a length prefix.
    fn write_delta(
        &self,
        value: &C,
        tick: NetTick,
        baseline: Baseline<'_, C>,
        out: &mut BitWriter,
    ) -> Result<(), EncodeError> {
        let _ = tick;
        let mut bytes = Vec::new();
        self.encode(value, Some(baseline.value), &mut bytes)?;
        write_length_prefixed(out, &bytes);
        Ok(())
    }

    /// Reads a value written by [`write_delta`](Self::write_delta) with the same `tick` and
    /// `baseline`.
    fn read_delta(
        &self,
        reader: &mut BitReader,
        tick: NetTick,
        baseline: Baseline<'_, C>,
    ) -> Result<C, DecodeError> {
        let _ = tick;
        let bytes = read_length_prefixed(reader)?;
        self.decode(&bytes, Some(baseline.value))
    }
}

/// Writes a byte length (a short Golomb code) and the bytes.
pub fn write_length_prefixed(out: &mut BitWriter, bytes: &[u8]) {
    out.write_golomb(bytes.len() as u64, LENGTH_ORDER);
    out.write_bytes(bytes);
}

/// Reads what [`write_length_prefixed`] wrote; a length above [`MAX_VALUE_BYTES`] or beyond the
/// data is an error.
pub fn read_length_prefixed(reader: &mut BitReader) -> Result<Vec<u8>, DecodeError> {
    let len = reader.read_golomb(LENGTH_ORDER)?;
    if len > MAX_VALUE_BYTES as u64 {
        return Err(DecodeError::UnexpectedEnd("a value longer than the limit"));
    }
    reader.read_bytes(len as usize)
}

/// The default codec: serde with bincode 2's standard configuration (varint integers,
/// little-endian floats). Ignores baselines.
pub struct SerdeCodec<C>(PhantomData<fn() -> C>);

impl<C> Default for SerdeCodec<C> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<C: Serialize + DeserializeOwned + 'static> ComponentCodec<C> for SerdeCodec<C> {
    fn encode(
        &self,
        value: &C,
        _baseline: Option<&C>,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        encode_serde(value, out)
    }

    fn decode(&self, bytes: &[u8], _baseline: Option<&C>) -> Result<C, DecodeError> {
        decode_serde(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Sample {
        name: String,
        values: Vec<u32>,
        position: [f32; 3],
    }

    #[test]
    fn serde_codec_roundtrip() {
        let value = Sample {
            name: "arena".into(),
            values: vec![1, 500, 70_000],
            position: [1.5, -2.0, 1e9],
        };
        let mut bytes = Vec::new();
        SerdeCodec::default()
            .encode(&value, None, &mut bytes)
            .unwrap();
        let decoded: Sample = SerdeCodec::default().decode(&bytes, None).unwrap();
        assert_eq!(decoded, value);
    }

    #[test]
    fn leftover_and_short_bytes_are_errors() {
        let mut bytes = Vec::new();
        encode_serde(&7u32, &mut bytes).unwrap();
        bytes.push(0);
        assert!(decode_serde::<u32>(&bytes).is_err());
        assert!(decode_serde::<Sample>(&[3, b'a']).is_err());
    }

    #[test]
    fn zero_sized_elements_count() {
        // A Vec<()> of 2^63 elements in 9 bytes: refused at once, not looped over.
        let mut bytes = vec![0xfd];
        bytes.extend_from_slice(&(1u64 << 63).to_le_bytes());
        assert!(decode_serde::<Vec<()>>(&bytes).is_err());
        assert!(decode_serde::<std::collections::BTreeMap<(), ()>>(&bytes).is_err());
        // 50 000 units behind 400 bytes: refused; a few thousand pass.
        let mut bytes = Vec::new();
        encode_serde(&vec![vec![(); 250]; 200], &mut bytes).unwrap();
        assert!(decode_serde::<Vec<Vec<()>>>(&bytes).is_err());
        let mut bytes = Vec::new();
        encode_serde(&vec![(); 4000], &mut bytes).unwrap();
        assert_eq!(decode_serde::<Vec<()>>(&bytes).unwrap().len(), 4000);
    }

    #[test]
    fn byte_lengths_beyond_the_input_are_refused() {
        // A string claiming 8 MiB - 64 bytes in 5 bytes, alone and inside a value.
        let mut bytes = vec![0xfc];
        bytes.extend_from_slice(&((MAX_VALUE_BYTES - 64) as u32).to_le_bytes());
        assert!(decode_serde::<String>(&bytes).is_err());
        bytes.insert(0, 1);
        assert!(decode_serde::<Option<String>>(&bytes).is_err());
        // Many small varints: more bincode "claims" than 8 MiB, fewer bytes.
        let value = vec![1u32; 3_000_000];
        let mut bytes = Vec::new();
        encode_serde(&value, &mut bytes).unwrap();
        assert_eq!(decode_serde::<Vec<u32>>(&bytes).unwrap(), value);
    }

    #[test]
    fn forged_length_does_not_allocate() {
        // A Vec<u8> claiming u32::MAX elements: rejected by the limit, not by running out of memory.
        assert!(decode_serde::<Vec<u8>>(&[0xfc, 0xff, 0xff, 0xff, 0xff]).is_err());
    }
}
