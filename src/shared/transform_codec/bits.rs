//! The bit-packed forms of a quantized transform inside replication frames: whole, and as the
//! difference from what both sides predict from the acknowledged baselines. Both sides keep
//! baselines quantized ([`Quantized`]), so only the value sent is ever quantized.

use super::{
    ABSOLUTE_POSITION_ORDER, HAS_ROTATION, HAS_SCALE, TransformCodec, codec_error,
    quantize::{PackedRotation, Parts, Quantized},
};
use crate::shared::{
    codec::Baseline,
    error::DecodeError,
    tick::NetTick,
    wire::{BitBatch, BitReader, BitWriter, ReadBatch, golomb_len, zigzag},
};
use bevy::prelude::*;

impl TransformCodec {
    /// Writes `value` whole: 2 flag bits, the position steps, the packed rotation and the scale
    /// when the flags say so.
    pub(crate) fn write_quantized(&self, value: &Quantized, out: &mut BitWriter) {
        let mut out = BitBatch::new(out);
        out.write_bits(u64::from(value.flags), 2);
        for steps in value.steps {
            out.write_signed_golomb(steps, ABSOLUTE_POSITION_ORDER);
        }
        if value.flags & HAS_ROTATION != 0 {
            out.write_bits(value.packed_rotation, self.rotation_bit_len());
        }
        if value.flags & HAS_SCALE != 0 {
            write_scale_bits(value.scale, &mut out);
        }
    }

    /// The bits [`Self::write_quantized`] writes for `value`, counted without writing them.
    pub(crate) fn quantized_bit_len(&self, value: &Quantized) -> usize {
        let steps: usize = value
            .steps
            .iter()
            .map(|&steps| golomb_len(zigzag(steps), ABSOLUTE_POSITION_ORDER))
            .sum();
        let rotation = if value.flags & HAS_ROTATION != 0 {
            self.rotation_bit_len() as usize
        } else {
            0
        };
        let scale = if value.flags & HAS_SCALE != 0 { 96 } else { 0 };
        2 + steps + rotation + scale
    }

    /// Reads what [`Self::write_quantized`] wrote. The rotation's range is checked here
    /// ([`assemble`](Self::assemble)), the position's by [`dequantize`](Self::dequantize), which
    /// every value read goes through before it is kept.
    pub(crate) fn read_quantized(&self, reader: &mut BitReader) -> Result<Quantized, DecodeError> {
        let mut reader = reader.batch();
        let flags = reader.read_bits(2)? as u8;
        let mut steps = [0i64; 3];
        for steps in &mut steps {
            *steps = reader.read_signed_golomb(ABSOLUTE_POSITION_ORDER)?;
        }
        let rotation = if flags & HAS_ROTATION != 0 {
            Some(self.unpack_rotation(reader.read_bits(self.rotation_bit_len())?)?)
        } else {
            None
        };
        let scale = if flags & HAS_SCALE != 0 {
            read_scale_bits(&mut reader)?
        } else {
            Vec3::ONE
        };
        self.assemble(Parts {
            flags,
            steps,
            rotation,
            scale,
        })
    }

    /// Writes the difference of `value` (set at `tick`) from what both sides predict from the
    /// acknowledged baselines: flags only when they changed, each position coordinate's
    /// residual in steps, the rotation's residual when its largest component stayed the same
    /// (else the whole rotation), and the scale only when it changed.
    pub(crate) fn write_delta_quantized(
        &self,
        value: &Quantized,
        tick: NetTick,
        baseline: &Baseline<'_, Quantized>,
        out: &mut BitWriter,
    ) {
        let prediction = self.predict(tick, baseline);
        // The residuals are mostly a few bits each: gathered, they are one or two writes.
        let mut out = BitBatch::new(out);
        if value.flags == prediction.flags {
            out.write_bool(false);
        } else {
            out.write_bool(true);
            out.write_bits(u64::from(value.flags), 2);
        }
        for (steps, predicted) in value.steps.iter().zip(prediction.translation) {
            out.write_signed_golomb(steps.wrapping_sub(predicted), 0);
        }
        if let Some(rotation) = self.rotation_of(value) {
            match prediction.rotation {
                Some(predicted) if predicted.largest == rotation.largest => {
                    out.write_bool(false);
                    for (c, p) in rotation.smallest.iter().zip(predicted.smallest) {
                        out.write_signed_golomb(c.wrapping_sub(p), 0);
                    }
                }
                Some(_) => {
                    out.write_bool(true);
                    out.write_bits(value.packed_rotation, self.rotation_bit_len());
                }
                None => out.write_bits(value.packed_rotation, self.rotation_bit_len()),
            }
        }
        if value.flags & HAS_SCALE != 0 {
            let same = prediction.flags & HAS_SCALE != 0
                && prediction.scale.to_array().map(f32::to_bits)
                    == value.scale.to_array().map(f32::to_bits);
            out.write_bool(!same);
            if !same {
                write_scale_bits(value.scale, &mut out);
            }
        }
    }

    /// Reads what [`Self::write_delta_quantized`] wrote against the same `tick` and baselines:
    /// the value to keep and the transform it stands for, made from the parts read (the
    /// rotation is not packed and unpacked again on the way).
    #[inline]
    pub(crate) fn read_delta_dequantized(
        &self,
        reader: &mut BitReader,
        tick: NetTick,
        baseline: &Baseline<'_, Quantized>,
    ) -> Result<(Quantized, Transform), DecodeError> {
        let parts = self.read_delta_parts(reader, tick, baseline)?;
        let kept = self.assemble(parts)?;
        Ok((kept, self.dequantize_parts(parts)?))
    }

    /// The parts of a value written by [`Self::write_delta_quantized`], not checked yet.
    #[inline(always)]
    fn read_delta_parts(
        &self,
        reader: &mut BitReader,
        tick: NetTick,
        baseline: &Baseline<'_, Quantized>,
    ) -> Result<Parts, DecodeError> {
        let prediction = self.predict(tick, baseline);
        // The fields are small: read from a register, loaded once for most deltas.
        let mut reader = reader.batch();
        let flags = if reader.read_bool()? {
            reader.read_bits(2)? as u8
        } else {
            prediction.flags
        };
        let mut steps = [0i64; 3];
        for (steps, predicted) in steps.iter_mut().zip(prediction.translation) {
            *steps = predicted.wrapping_add(reader.read_signed_golomb(0)?);
        }
        let rotation = if flags & HAS_ROTATION != 0 {
            Some(match prediction.rotation {
                Some(predicted) if !reader.read_bool()? => {
                    let mut smallest = [0i64; 3];
                    for (c, p) in smallest.iter_mut().zip(predicted.smallest) {
                        *c = p.wrapping_add(reader.read_signed_golomb(0)?);
                    }
                    PackedRotation {
                        largest: predicted.largest,
                        smallest,
                    }
                }
                _ => self.unpack_rotation(reader.read_bits(self.rotation_bit_len())?)?,
            })
        } else {
            None
        };
        let scale = if flags & HAS_SCALE == 0 {
            Vec3::ONE
        } else if reader.read_bool()? {
            read_scale_bits(&mut reader)?
        } else if prediction.flags & HAS_SCALE != 0 {
            prediction.scale
        } else {
            return Err(codec_error("scale kept from a baseline without one"));
        };
        Ok(Parts {
            flags,
            steps,
            rotation,
            scale,
        })
    }
}

fn write_scale_bits(scale: Vec3, out: &mut BitBatch) {
    for coordinate in scale.to_array() {
        out.write_bits(u64::from(coordinate.to_bits()), 32);
    }
}

fn read_scale_bits(reader: &mut ReadBatch) -> Result<Vec3, DecodeError> {
    let mut scale = [0.0f32; 3];
    for coordinate in &mut scale {
        *coordinate = f32::from_bits(reader.read_bits(32)? as u32);
    }
    Ok(Vec3::from_array(scale))
}
