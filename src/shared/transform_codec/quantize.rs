//! Quantization of a `Transform`'s parts: positions to fixed-point steps, rotations to the
//! smallest-three form, and their packing into bits.

use bevy::prelude::*;

use super::{HAS_ROTATION, HAS_SCALE, MAX_STEPS, TransformCodec, codec_error, encode_error};
use crate::shared::error::{DecodeError, EncodeError};

/// A rotation in smallest-three form: the index of the dropped (largest) component and the
/// other three, quantized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PackedRotation {
    pub(super) largest: u8,
    pub(super) smallest: [i64; 3],
}

/// A transform in quantized units, as it travels (scale travels as it is): what both sides keep
/// as the baselines of deltas, so a baseline is never quantized again. 48 bytes, as thousands
/// of them are looked up per tick.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Quantized {
    pub(super) steps: [i64; 3],
    /// The rotation packed ([`TransformCodec::pack_rotation`]) when the flags say it has one;
    /// else 0.
    pub(super) packed_rotation: u64,
    /// `Vec3::ONE` unless the flags say it has a scale.
    pub(super) scale: Vec3,
    pub(super) flags: u8,
}

const _: () = assert!(size_of::<Quantized>() == 48);

/// A value's parts as read from bits, before they are checked and packed into a [`Quantized`].
#[derive(Clone, Copy, Debug)]
pub(super) struct Parts {
    pub(super) flags: u8,
    pub(super) steps: [i64; 3],
    pub(super) rotation: Option<PackedRotation>,
    /// `Vec3::ONE` unless the flags say it has a scale.
    pub(super) scale: Vec3,
}

impl TransformCodec {
    /// `value`'s flags, position steps and rotation (when it has one), as every encoding
    /// writes them.
    ///
    /// Inlined: returned through memory, its 48 bytes were stored field by field and read back
    /// 16 at a time, a load that waits for every store before it (the server's encode step
    /// spent most of its time there).
    #[inline]
    pub(crate) fn quantize(&self, value: &Transform) -> Result<Quantized, EncodeError> {
        let flags = flags_of(value);
        Ok(Quantized {
            steps: self.quantize_translation(value.translation)?,
            packed_rotation: if flags & HAS_ROTATION != 0 {
                self.pack_rotation(self.quantize_rotation(value.rotation)?)
            } else {
                0
            },
            scale: value.scale,
            flags,
        })
    }

    /// The rotation of `quantized`, when it has one.
    pub(super) fn rotation_of(&self, quantized: &Quantized) -> Option<PackedRotation> {
        (quantized.flags & HAS_ROTATION != 0).then(|| self.unpack_valid(quantized.packed_rotation))
    }

    /// A [`Quantized`] of parts read from bits: the rotation's components are checked to be in
    /// range before they are packed (where they could not be told apart any more).
    #[inline]
    pub(super) fn assemble(&self, parts: Parts) -> Result<Quantized, DecodeError> {
        let packed_rotation = match parts.rotation {
            Some(rotation) => {
                self.check_rotation(rotation)?;
                self.pack_rotation(rotation)
            }
            None => 0,
        };
        Ok(Quantized {
            steps: parts.steps,
            packed_rotation,
            scale: parts.scale,
            flags: parts.flags,
        })
    }

    /// The transform a client holds for `quantized`; an error for steps out of range (hostile
    /// bits).
    pub(crate) fn dequantize(&self, quantized: &Quantized) -> Result<Transform, DecodeError> {
        // A `Quantized` was assembled (read) or quantized (made here): its rotation is valid.
        self.dequantize_parts(Parts {
            flags: quantized.flags,
            steps: quantized.steps,
            rotation: self.rotation_of(quantized),
            scale: quantized.scale,
        })
    }

    /// [`Self::dequantize`] of a value's parts (its rotation not packed) that
    /// [`Self::assemble`] accepted.
    #[inline]
    pub(super) fn dequantize_parts(&self, parts: Parts) -> Result<Transform, DecodeError> {
        let mut transform = Transform::from_translation(self.dequantize_translation(parts.steps)?);
        if let Some(rotation) = parts.rotation {
            transform.rotation = self.dequantize_checked_rotation(rotation);
        }
        if parts.flags & HAS_SCALE != 0 {
            transform.scale = parts.scale;
        }
        Ok(transform)
    }

    /// Bytes the packed rotation takes.
    pub(super) const fn rotation_bytes(&self) -> usize {
        (2 + 3 * self.rotation_bits as usize).div_ceil(8)
    }

    /// The largest quantized value of one smallest-three component.
    pub(super) const fn rotation_max(&self) -> u64 {
        (1 << self.rotation_bits) - 1
    }

    pub(super) fn quantize_position(&self, value: f32) -> Result<i64, EncodeError> {
        let scaled = f64::from(value) / f64::from(self.position_step);
        // Checked before rounding: the conversion below would turn NaN into zero.
        if !scaled.is_finite() || scaled.abs() > MAX_STEPS {
            return Err(encode_error(format!(
                "position {value} is out of range for {} m steps",
                self.position_step
            )));
        }
        Ok(round_to_steps(scaled))
    }

    pub(super) fn dequantize_position(&self, steps: i64) -> Result<f32, DecodeError> {
        if steps.unsigned_abs() > MAX_STEPS as u64 {
            return Err(codec_error("position out of range"));
        }
        Ok((steps as f64 * f64::from(self.position_step)) as f32)
    }

    pub(super) fn quantize_translation(&self, translation: Vec3) -> Result<[i64; 3], EncodeError> {
        Ok([
            self.quantize_position(translation.x)?,
            self.quantize_position(translation.y)?,
            self.quantize_position(translation.z)?,
        ])
    }

    pub(super) fn dequantize_translation(&self, steps: [i64; 3]) -> Result<Vec3, DecodeError> {
        Ok(Vec3::new(
            self.dequantize_position(steps[0])?,
            self.dequantize_position(steps[1])?,
            self.dequantize_position(steps[2])?,
        ))
    }

    pub(super) fn quantize_rotation(&self, rotation: Quat) -> Result<PackedRotation, EncodeError> {
        if !rotation.is_finite() || rotation.length_squared() < 1e-12 {
            return Err(encode_error(format!(
                "rotation {rotation} is not a rotation"
            )));
        }
        let components = rotation.normalize().to_array();
        // The largest magnitude, the last of equals (as `Iterator::max_by` picks). Chosen by
        // selects rather than branches, and all four components scaled alike before the three
        // kept are picked: as an entity turns, which one is largest is a coin toss for the
        // branch predictor.
        let mut largest = 0;
        let mut magnitude = components[0].abs();
        for (index, component) in components.iter().enumerate().skip(1) {
            let larger = component.abs() >= magnitude;
            largest = if larger { index } else { largest };
            magnitude = if larger { component.abs() } else { magnitude };
        }
        // q and -q are the same rotation: make the dropped component positive.
        let sign = if components[largest] < 0.0 { -1.0 } else { 1.0 };
        let max = self.rotation_max() as f64;
        let scaled = components.map(|component| {
            // The other three lie within ±1/√2.
            let unit = (sign * component * core::f32::consts::SQRT_2 + 1.0) * 0.5;
            round_to_steps(f64::from(unit.clamp(0.0, 1.0)) * max)
        });
        let smallest: [i64; 3] =
            core::array::from_fn(|slot| scaled[slot + usize::from(slot >= largest)]);
        Ok(PackedRotation {
            largest: largest as u8,
            smallest,
        })
    }

    /// An error unless every part of `packed` is within its range.
    fn check_rotation(&self, packed: PackedRotation) -> Result<(), DecodeError> {
        let max = self.rotation_max();
        if packed.largest > 3 || packed.smallest.iter().any(|&c| c < 0 || c as u64 > max) {
            return Err(codec_error("rotation component out of range"));
        }
        Ok(())
    }

    pub(super) fn dequantize_rotation(&self, packed: PackedRotation) -> Result<Quat, DecodeError> {
        self.check_rotation(packed)?;
        Ok(self.dequantize_checked_rotation(packed))
    }

    /// [`Self::dequantize_rotation`] of components [`Self::check_rotation`] accepted.
    #[inline]
    fn dequantize_checked_rotation(&self, packed: PackedRotation) -> Quat {
        // `0..=max` back to ±1/√2: one division per rotation, not one per component.
        let scale = core::f32::consts::SQRT_2 / self.rotation_max() as f32;
        let smallest = packed
            .smallest
            .map(|quantized| quantized as f32 * scale - core::f32::consts::FRAC_1_SQRT_2);
        let rest: f32 = smallest.iter().map(|c| c * c).sum();
        let mut components = [0.0f32; 4];
        let mut others = smallest.into_iter();
        for (index, component) in components.iter_mut().enumerate() {
            *component = if index == usize::from(packed.largest) {
                (1.0 - rest).max(0.0).sqrt()
            } else {
                others.next().unwrap_or(0.0)
            };
        }
        let rotation = Quat::from_array(components);
        // The largest rebuilt from the rest makes a unit length (to rounding) whenever the three
        // are within it, as an encoder's always are. Hostile bits can make them exceed it:
        // normalizing keeps any input a rotation (the largest is then 0 and the others are not
        // all 0).
        if rest <= 1.0 {
            rotation
        } else {
            rotation.normalize()
        }
    }

    /// The rotation as `2 + 3 × bits` bits: the largest index, then the three others.
    pub(super) fn pack_rotation(&self, rotation: PackedRotation) -> u64 {
        rotation
            .smallest
            .iter()
            .fold(u64::from(rotation.largest), |packed, &c| {
                (packed << self.rotation_bits) | c as u64
            })
    }

    pub(super) fn unpack_rotation(&self, packed: u64) -> Result<PackedRotation, DecodeError> {
        if packed >> self.rotation_bit_len() != 0 {
            return Err(codec_error("unused rotation bits are set"));
        }
        Ok(self.unpack_valid(packed))
    }

    /// [`Self::unpack_rotation`] of bits known to fit.
    fn unpack_valid(&self, mut packed: u64) -> PackedRotation {
        let max = self.rotation_max();
        let mut smallest = [0i64; 3];
        for component in smallest.iter_mut().rev() {
            *component = (packed & max) as i64;
            packed >>= self.rotation_bits;
        }
        PackedRotation {
            largest: (packed & 0b11) as u8,
            smallest,
        }
    }

    pub(super) const fn rotation_bit_len(&self) -> u32 {
        2 + 3 * self.rotation_bits as u32
    }
}

/// Which optional parts a transform carries.
fn flags_of(value: &Transform) -> u8 {
    let mut flags = 0;
    if value.rotation != Quat::IDENTITY {
        flags |= HAS_ROTATION;
    }
    if value.scale != Vec3::ONE {
        flags |= HAS_SCALE;
    }
    flags
}

/// Rounds a finite value within ±2^40 to the nearest integer, halves away from zero. A
/// truncating conversion rather than `f64::round`, which is a library call on x86-64's baseline
/// (no rounding instruction before SSE 4.1) and ran a dozen times per delta-coded transform.
#[inline]
fn round_to_steps(value: f64) -> i64 {
    let magnitude = (value.abs() + 0.5) as i64;
    if value < 0.0 { -magnitude } else { magnitude }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SplitMix64;

    /// The smallest-three quantization as defined: normalize, drop the largest magnitude (the
    /// last of equals) made positive, scale the other three from ±1/√2 to `0..=max`.
    fn plain_quantize(codec: &TransformCodec, rotation: Quat) -> PackedRotation {
        let mut components = rotation.normalize().to_array();
        let largest = (0..4)
            .max_by(|&a, &b| components[a].abs().total_cmp(&components[b].abs()))
            .unwrap();
        if components[largest] < 0.0 {
            components = components.map(|c| -c);
        }
        let max = codec.rotation_max() as f64;
        let mut smallest = [0i64; 3];
        let others = (0..4).filter(|&index| index != largest);
        for (slot, index) in smallest.iter_mut().zip(others) {
            let unit = (components[index] * core::f32::consts::SQRT_2 + 1.0) * 0.5;
            *slot = (f64::from(unit.clamp(0.0, 1.0)) * max).round() as i64;
        }
        PackedRotation {
            largest: largest as u8,
            smallest,
        }
    }

    #[test]
    fn rotations_quantize_as_defined_including_ties_and_signs() {
        let mut rng = SplitMix64::new(5);
        let codec = TransformCodec::default();
        let mut rotations = vec![
            Quat::IDENTITY,
            Quat::from_xyzw(0.5, 0.5, 0.5, 0.5),
            Quat::from_xyzw(-0.5, 0.5, -0.5, 0.5),
            Quat::from_xyzw(0.0, -0.0, 1.0, 0.0),
            Quat::from_xyzw(-0.7, 0.7, 0.1, -0.1),
            Quat::from_rotation_y(core::f32::consts::PI),
        ];
        for _ in 0..20_000 {
            let mut c = || (rng.next_f64() * 2.0 - 1.0) as f32;
            rotations.push(Quat::from_xyzw(c(), c(), c(), c()));
        }
        for rotation in rotations {
            assert_eq!(
                codec.quantize_rotation(rotation).unwrap(),
                plain_quantize(&codec, rotation),
                "{rotation}"
            );
        }
    }

    #[test]
    fn rounding_matches_the_standard_library_on_halves_and_either_sign() {
        let mut rng = SplitMix64::new(3);
        let halves = (-4_000..4_000).map(|k| f64::from(k) / 8.0);
        let random = (0..4_000).map(|_| (rng.next_f64() - 0.5) * 2e12);
        for value in halves.chain(random) {
            assert_eq!(round_to_steps(value), value.round() as i64, "{value}");
        }
    }
}
