//! How component values become bytes: the [`ComponentCodec`] trait and the default
//! [`SerdeCodec`] (serde + bincode 2).

use core::{any::type_name, marker::PhantomData};

use serde::{Serialize, de::DeserializeOwned};

use super::error::{DecodeError, EncodeError};

/// The most bytes a single value decoded by [`SerdeCodec`] may claim. A length field in hostile
/// data cannot make the decoder allocate more than this.
pub const MAX_DECODED_VALUE_BYTES: usize = 1 << 20;

type BincodeConfig = bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_DECODED_VALUE_BYTES>,
>;

const fn bincode_config() -> BincodeConfig {
    bincode::config::standard().with_limit::<MAX_DECODED_VALUE_BYTES>()
}

/// Turns values of `C` into bytes and back, optionally against a baseline.
///
/// The baseline is the value the receiving client has acknowledged for this component (when the
/// replication layer knows one). A delta codec writes only what differs from it; the decoder is
/// handed the same baseline. Codecs that write whole values ignore it.
///
/// Decoding works on untrusted bytes: return an error, never panic.
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

/// Decodes a serde + bincode value that must use every byte of `bytes`.
pub fn decode_serde<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let codec_error = |detail: String| DecodeError::Codec {
        type_name: type_name::<T>(),
        detail,
    };
    let (value, used) = bincode::serde::decode_from_slice(bytes, bincode_config())
        .map_err(|error| codec_error(error.to_string()))?;
    if used != bytes.len() {
        return Err(codec_error(format!(
            "{} bytes left over",
            bytes.len() - used
        )));
    }
    Ok(value)
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
    fn forged_length_does_not_allocate() {
        // A Vec<u8> claiming u32::MAX elements: rejected by the limit, not by running out of memory.
        assert!(decode_serde::<Vec<u8>>(&[0xfc, 0xff, 0xff, 0xff, 0xff]).is_err());
    }
}
