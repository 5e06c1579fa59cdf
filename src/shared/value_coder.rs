//! [`ValueCoder`]: how the server's encoders and the client's decoders write and read one
//! replicated component type inside replication frames, and in which form both sides keep the
//! values deltas are taken against. Any [`ComponentCodec`] serves, through `Arc<K>`, keeping
//! values as the client decoded them; [`TransformCodec`] keeps them quantized, so a baseline is
//! never quantized again and the server never decodes what it just wrote.

use core::any::{Any, TypeId};
use std::sync::Arc;

use bevy::prelude::*;

use super::{
    codec::{Baseline, ComponentCodec},
    error::{DecodeError, EncodeError},
    tick::NetTick,
    transform_codec::{Quantized, TransformCodec},
    wire::{BitReader, BitWriter},
};

/// A value read from a frame, and the form its history keeps, when reading made it.
pub(crate) struct Decoded<C, Kept> {
    pub(crate) value: C,
    pub(crate) kept: Option<Kept>,
}

/// One component type's bit-level coding in replication frames.
pub(crate) trait ValueCoder<C>: Send + Sync + 'static {
    /// How a value is kept as a baseline, on both sides alike.
    type Kept: Send + Sync + 'static;

    /// Whether values travel as deltas against kept baselines.
    fn uses_baselines(&self) -> bool;

    /// Writes `value` whole.
    fn write(&self, value: &C, out: &mut BitWriter) -> Result<(), EncodeError>;

    /// Writes `value` whole, returning its kept form when writing made it (the server then
    /// need not read back what it wrote).
    fn write_keeping(
        &self,
        value: &C,
        out: &mut BitWriter,
    ) -> Result<Option<Self::Kept>, EncodeError> {
        self.write(value, out).map(|()| None)
    }

    /// The kept form of `value` and the length in bits of its whole encoding, without writing
    /// it, when the coder can tell both (`Ok(None)` when it cannot). The server then writes a
    /// value whole only for a client that needs it, not every time it changes.
    fn keep_measuring(&self, _value: &C) -> Result<Option<(Self::Kept, usize)>, EncodeError> {
        Ok(None)
    }

    /// Reads a value written whole.
    fn read(&self, reader: &mut BitReader) -> Result<Decoded<C, Self::Kept>, DecodeError>;

    /// Reads a value written whole into the form kept (the server, remembering what it wrote).
    fn read_kept(&self, reader: &mut BitReader) -> Result<Self::Kept, DecodeError>;

    /// The kept form of a value read, when [`Self::read`] or [`Self::read_delta`] made none.
    fn keep(&self, value: C) -> Option<Self::Kept>;

    /// Writes `value`, set at `tick`, against `baseline`. `current` is `value`'s own kept
    /// form when the server holds it (it was remembered at `tick`).
    fn write_delta(
        &self,
        value: &C,
        current: Option<&Self::Kept>,
        tick: NetTick,
        baseline: Baseline<'_, Self::Kept>,
        out: &mut BitWriter,
    ) -> Result<(), EncodeError>;

    /// [`Self::write_delta`] from the value's kept form alone, when the coder can (the server
    /// then need not look the value up); `false`, with nothing written, when it cannot.
    fn write_kept_delta(
        &self,
        _current: &Self::Kept,
        _tick: NetTick,
        _baseline: Baseline<'_, Self::Kept>,
        _out: &mut BitWriter,
    ) -> bool {
        false
    }

    /// Reads what [`Self::write_delta`] wrote, against the same `tick` and `baseline`.
    fn read_delta(
        &self,
        reader: &mut BitReader,
        tick: NetTick,
        baseline: Baseline<'_, Self::Kept>,
    ) -> Result<Decoded<C, Self::Kept>, DecodeError>;
}

impl<C: Send + Sync + 'static, K: ComponentCodec<C>> ValueCoder<C> for Arc<K> {
    type Kept = C;

    fn uses_baselines(&self) -> bool {
        (**self).uses_baselines()
    }

    fn write(&self, value: &C, out: &mut BitWriter) -> Result<(), EncodeError> {
        (**self).write(value, out)
    }

    fn read(&self, reader: &mut BitReader) -> Result<Decoded<C, C>, DecodeError> {
        Ok(Decoded {
            value: (**self).read(reader)?,
            kept: None,
        })
    }

    fn read_kept(&self, reader: &mut BitReader) -> Result<C, DecodeError> {
        (**self).read(reader)
    }

    fn keep(&self, value: C) -> Option<C> {
        Some(value)
    }

    fn write_delta(
        &self,
        value: &C,
        _current: Option<&C>,
        tick: NetTick,
        baseline: Baseline<'_, C>,
        out: &mut BitWriter,
    ) -> Result<(), EncodeError> {
        // A decoded value may encode differently from the server's own: always the latter.
        (**self).write_delta(value, tick, baseline, out)
    }

    fn read_delta(
        &self,
        reader: &mut BitReader,
        tick: NetTick,
        baseline: Baseline<'_, C>,
    ) -> Result<Decoded<C, C>, DecodeError> {
        Ok(Decoded {
            value: (**self).read_delta(reader, tick, baseline)?,
            kept: None,
        })
    }
}

impl ValueCoder<Transform> for TransformCodec {
    type Kept = Quantized;

    fn uses_baselines(&self) -> bool {
        true
    }

    fn write(&self, value: &Transform, out: &mut BitWriter) -> Result<(), EncodeError> {
        ComponentCodec::write(self, value, out)
    }

    #[inline]
    fn write_keeping(
        &self,
        value: &Transform,
        out: &mut BitWriter,
    ) -> Result<Option<Quantized>, EncodeError> {
        let kept = self.quantize(value)?;
        self.write_quantized(&kept, out);
        Ok(Some(kept))
    }

    #[inline]
    fn keep_measuring(&self, value: &Transform) -> Result<Option<(Quantized, usize)>, EncodeError> {
        let kept = self.quantize(value)?;
        let bits = self.quantized_bit_len(&kept);
        Ok(Some((kept, bits)))
    }

    fn read(&self, reader: &mut BitReader) -> Result<Decoded<Transform, Quantized>, DecodeError> {
        let kept = self.read_quantized(reader)?;
        Ok(Decoded {
            value: self.dequantize(&kept)?,
            kept: Some(kept),
        })
    }

    fn read_kept(&self, reader: &mut BitReader) -> Result<Quantized, DecodeError> {
        // The server's own bits: `quantize` made them, always in range.
        self.read_quantized(reader)
    }

    fn keep(&self, value: Transform) -> Option<Quantized> {
        self.quantize(&value).ok()
    }

    fn write_delta(
        &self,
        value: &Transform,
        current: Option<&Quantized>,
        tick: NetTick,
        baseline: Baseline<'_, Quantized>,
        out: &mut BitWriter,
    ) -> Result<(), EncodeError> {
        let quantized;
        let value = match current {
            Some(current) => current,
            None => {
                quantized = self.quantize(value)?;
                &quantized
            }
        };
        self.write_delta_quantized(value, tick, &baseline, out);
        Ok(())
    }

    fn write_kept_delta(
        &self,
        current: &Quantized,
        tick: NetTick,
        baseline: Baseline<'_, Quantized>,
        out: &mut BitWriter,
    ) -> bool {
        self.write_delta_quantized(current, tick, &baseline, out);
        true
    }

    #[inline]
    fn read_delta(
        &self,
        reader: &mut BitReader,
        tick: NetTick,
        baseline: Baseline<'_, Quantized>,
    ) -> Result<Decoded<Transform, Quantized>, DecodeError> {
        let (kept, value) = self.read_delta_dequantized(reader, tick, &baseline)?;
        Ok(Decoded {
            value,
            kept: Some(kept),
        })
    }
}

/// `codec` as a [`TransformCodec`] when it is one and `C` is `Transform`: such a pair is coded
/// with quantized baselines on both sides (the same choice, as both register the same types).
pub(crate) fn as_transform_codec<C: 'static, K: Any>(codec: &K) -> Option<TransformCodec> {
    if TypeId::of::<C>() != TypeId::of::<Transform>() {
        return None;
    }
    (codec as &dyn Any)
        .downcast_ref::<TransformCodec>()
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SplitMix64;

    /// The server's write of `value` whole, and what it keeps of it.
    fn server_whole(codec: &TransformCodec, value: &Transform) -> (Vec<u8>, Quantized) {
        let mut out = BitWriter::new();
        ValueCoder::write(codec, value, &mut out).unwrap();
        let bytes = out.into_bytes();
        let kept = codec.read_kept(&mut BitReader::new(&bytes)).unwrap();
        (bytes, kept)
    }

    fn random_transform(rng: &mut SplitMix64, around: Vec3) -> Transform {
        let mut unit = || rng.next_f64() as f32 * 2.0 - 1.0;
        let offset = Vec3::new(unit(), unit(), unit());
        let rotation = Quat::from_xyzw(unit(), unit(), unit(), unit()).normalize();
        let mut value = Transform::from_translation(around + offset).with_rotation(rotation);
        if unit() > 0.8 {
            value.scale = Vec3::new(2.0, 1.0, 0.5);
        }
        if unit() > 0.9 {
            value.rotation = Quat::IDENTITY;
        }
        value
    }

    #[test]
    fn both_sides_keep_the_same_quantized_baselines_and_deltas_give_the_whole_value() {
        let codec = TransformCodec::default();
        let mut rng = SplitMix64::new(41);
        for case in 0..3_000u32 {
            let around = Vec3::splat((case % 50) as f32 * 7.0 - 150.0);
            let (older, newer, value) = (
                random_transform(&mut rng, around),
                random_transform(&mut rng, around),
                random_transform(&mut rng, around),
            );
            let mut kept_out = BitWriter::new();
            let kept = codec.write_keeping(&older, &mut kept_out).unwrap();
            let (older_bits, server_older) = server_whole(&codec, &older);
            assert_eq!(
                (kept_out.into_bytes(), kept),
                (older_bits.clone(), Some(server_older))
            );
            let (newer_bits, server_newer) = server_whole(&codec, &newer);
            let (value_bits, server_value) = server_whole(&codec, &value);
            // The client keeps exactly what the server remembered, and holds what the
            // trait's own read gives.
            let client = |bits: &[u8]| {
                let decoded = ValueCoder::read(&codec, &mut BitReader::new(bits)).unwrap();
                let plain = ComponentCodec::read(&codec, &mut BitReader::new(bits)).unwrap();
                assert_eq!(decoded.value, plain);
                decoded.kept.unwrap()
            };
            let client_older = client(&older_bits);
            let client_newer = client(&newer_bits);
            assert_eq!((client_older, client_newer), (server_older, server_newer));
            let tick = NetTick(1_000 + case);
            let previous = (case % 3 != 0).then_some((&server_older, tick.sub(3)));
            let baseline = Baseline {
                value: &server_newer,
                tick: tick.sub(1 + case % 4),
                previous,
            };
            let mut out = BitWriter::new();
            let current = (case % 2 == 0).then_some(&server_value);
            ValueCoder::write_delta(&codec, &value, current, tick, baseline, &mut out).unwrap();
            let bytes = out.into_bytes();
            let decoded =
                ValueCoder::read_delta(&codec, &mut BitReader::new(&bytes), tick, baseline)
                    .unwrap();
            let whole = ComponentCodec::read(&codec, &mut BitReader::new(&value_bits)).unwrap();
            assert_eq!(decoded.value, whole, "case {case}");
            assert_eq!(decoded.kept, Some(server_value), "case {case}");
        }
    }

    #[test]
    fn measuring_keeps_what_writing_keeps_and_counts_the_bits_it_writes() {
        let codec = TransformCodec::default();
        let mut rng = SplitMix64::new(43);
        for case in 0..3_000u32 {
            let around = Vec3::splat((case % 60) as f32 * 500.0 - 15_000.0);
            let value = random_transform(&mut rng, around);
            let mut out = BitWriter::new();
            let kept = codec.write_keeping(&value, &mut out).unwrap();
            let measured = codec.keep_measuring(&value).unwrap();
            assert_eq!(
                measured,
                kept.map(|kept| (kept, out.bit_len())),
                "{value:?}"
            );
        }
        // What cannot be written cannot be measured either.
        let broken = Transform::from_xyz(f32::NAN, 0.0, 0.0);
        assert!(codec.keep_measuring(&broken).is_err());
        // Other codecs write to know.
        let serde = Arc::new(crate::shared::codec::SerdeCodec::<u32>::default());
        assert_eq!(ValueCoder::keep_measuring(&serde, &5), Ok(None));
    }

    #[test]
    fn any_other_codec_keeps_decoded_values() {
        let codec = Arc::new(crate::shared::codec::SerdeCodec::<u32>::default());
        let mut out = BitWriter::new();
        ValueCoder::write(&codec, &77, &mut out).unwrap();
        let bytes = out.into_bytes();
        let decoded = ValueCoder::read(&codec, &mut BitReader::new(&bytes)).unwrap();
        assert_eq!((decoded.value, decoded.kept), (77, None));
        assert_eq!(codec.read_kept(&mut BitReader::new(&bytes)), Ok(77));
        assert_eq!(ValueCoder::keep(&codec, 77), Some(77));
        assert!(as_transform_codec::<u32, _>(&*codec).is_none());
        assert!(as_transform_codec::<Transform, _>(&TransformCodec::default()).is_some());
        assert!(as_transform_codec::<u32, _>(&TransformCodec::default()).is_none());
    }
}
