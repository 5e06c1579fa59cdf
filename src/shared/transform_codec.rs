//! [`TransformCodec`]: a `Transform` as a fixed-point position and a smallest-three rotation,
//! about 14 bytes where serde writes 40.

use core::any::type_name;

use bevy::prelude::*;

use super::{
    codec::ComponentCodec,
    error::{DecodeError, EncodeError},
    wire::{Reader, write_signed_varint},
};

/// Flag bit: a rotation follows the position (absent: `Quat::IDENTITY`).
const HAS_ROTATION: u8 = 1 << 0;
/// Flag bit: a scale follows (absent: `Vec3::ONE`).
const HAS_SCALE: u8 = 1 << 1;
/// Every flag bit this version writes; any other bit is a decode error.
const KNOWN_FLAGS: u8 = HAS_ROTATION | HAS_SCALE;

/// The largest quantized position coordinate, in steps: past this an `f32` position has no
/// precision left to quantize, whatever the step.
const MAX_STEPS: f64 = (1u64 << 40) as f64;

/// Replicates `Transform` quantized: each position coordinate rounded to a fixed step (1 mm by
/// default) and written as a variable-length integer, the rotation in "smallest three" form
/// (the largest component is dropped and rebuilt from the others) at a fixed number of bits per
/// component, and the scale only when it is not `Vec3::ONE`.
///
/// A player walking around a 40 m arena costs about 14 bytes per update instead of the 40 that
/// [`SerdeCodec`](super::codec::SerdeCodec) writes, with a position error of at most half a step
/// and a rotation error of at most about 0.25° at the default 10 bits. Clients see the quantized value, the
/// server keeps its exact one. Scale travels exactly, as three `f32`s. Baselines are not used.
///
/// ```
/// use bevy::prelude::*;
/// use bevy_netsync::prelude::*;
///
/// # let mut app = App::new();
/// // In the protocol function both sides run:
/// app.replicate_with::<Transform>(TransformCodec::default().with_position_step(0.002));
///
/// let codec = TransformCodec::default();
/// let sent = Transform::from_xyz(3.1415, 0.9, -12.25).looking_to(Vec3::X, Vec3::Y);
/// let mut bytes = Vec::new();
/// codec.encode(&sent, None, &mut bytes).unwrap();
/// let received = codec.decode(&bytes, None).unwrap();
/// assert!(bytes.len() <= 14);
/// assert!(received.translation.distance(sent.translation) < 0.001);
/// assert!(received.rotation.angle_between(sent.rotation) < 0.005);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TransformCodec {
    position_step: f32,
    rotation_bits: u8,
}

impl Default for TransformCodec {
    /// 1 mm position steps, 10 bits per rotation component (the rotation fits in 4 bytes).
    fn default() -> Self {
        Self {
            position_step: 0.001,
            rotation_bits: 10,
        }
    }
}

impl TransformCodec {
    /// The fewest bits per rotation component [`with_rotation_bits`](Self::with_rotation_bits)
    /// accepts.
    pub const MIN_ROTATION_BITS: u8 = 4;
    /// The most bits per rotation component [`with_rotation_bits`](Self::with_rotation_bits)
    /// accepts (beyond this, `f32` rotations have no precision left to keep).
    pub const MAX_ROTATION_BITS: u8 = 20;

    /// Rounds positions to multiples of `metres` (the error is at most half of it).
    ///
    /// # Panics
    /// If `metres` is not a positive, finite number: a codec setting is fixed at startup, so a
    /// bad one is a bug to fix.
    pub fn with_position_step(mut self, metres: f32) -> Self {
        assert!(
            metres.is_finite() && metres > 0.0,
            "TransformCodec position step must be positive and finite, got {metres}"
        );
        self.position_step = metres;
        self
    }

    /// Writes each of the three smallest rotation components in `bits` bits (the rotation
    /// takes `2 + 3 × bits` bits, rounded up to whole bytes).
    ///
    /// # Panics
    /// If `bits` is outside [`MIN_ROTATION_BITS`](Self::MIN_ROTATION_BITS)`..=`
    /// [`MAX_ROTATION_BITS`](Self::MAX_ROTATION_BITS).
    pub fn with_rotation_bits(mut self, bits: u8) -> Self {
        assert!(
            (Self::MIN_ROTATION_BITS..=Self::MAX_ROTATION_BITS).contains(&bits),
            "TransformCodec rotation bits must be within {}..={}, got {bits}",
            Self::MIN_ROTATION_BITS,
            Self::MAX_ROTATION_BITS
        );
        self.rotation_bits = bits;
        self
    }

    /// The position step, in metres.
    pub const fn position_step(&self) -> f32 {
        self.position_step
    }

    /// Bits per rotation component.
    pub const fn rotation_bits(&self) -> u8 {
        self.rotation_bits
    }

    /// Bytes the packed rotation takes.
    const fn rotation_bytes(&self) -> usize {
        (2 + 3 * self.rotation_bits as usize).div_ceil(8)
    }

    /// The largest quantized value of one smallest-three component.
    const fn rotation_max(&self) -> u64 {
        (1 << self.rotation_bits) - 1
    }

    fn encode_position(&self, value: f32, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let steps = (f64::from(value) / f64::from(self.position_step)).round();
        if !steps.is_finite() || steps.abs() > MAX_STEPS {
            return Err(encode_error(format!(
                "position {value} is out of range for {} m steps",
                self.position_step
            )));
        }
        write_signed_varint(out, steps as i64);
        Ok(())
    }

    fn decode_position(&self, reader: &mut Reader) -> Result<f32, DecodeError> {
        let steps = reader.signed_varint()?;
        Ok((steps as f64 * f64::from(self.position_step)) as f32)
    }

    fn encode_rotation(&self, rotation: Quat, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if !rotation.is_finite() || rotation.length_squared() < 1e-12 {
            return Err(encode_error(format!(
                "rotation {rotation} is not a rotation"
            )));
        }
        let mut components = rotation.normalize().to_array();
        let largest = (0..4)
            .max_by(|&a, &b| components[a].abs().total_cmp(&components[b].abs()))
            .unwrap_or(0);
        // q and -q are the same rotation: make the dropped component positive.
        if components[largest] < 0.0 {
            components = components.map(|c| -c);
        }
        let max = self.rotation_max();
        let mut packed = largest as u64;
        for (index, component) in components.iter().enumerate() {
            if index == largest {
                continue;
            }
            // The other three lie within ±1/√2.
            let unit = (component * core::f32::consts::SQRT_2 + 1.0) * 0.5;
            let quantized = (f64::from(unit.clamp(0.0, 1.0)) * max as f64).round() as u64;
            packed = (packed << self.rotation_bits) | quantized;
        }
        out.extend_from_slice(&packed.to_le_bytes()[..self.rotation_bytes()]);
        Ok(())
    }

    fn decode_rotation(&self, reader: &mut Reader) -> Result<Quat, DecodeError> {
        let mut raw = [0u8; 8];
        raw[..self.rotation_bytes()]
            .copy_from_slice(reader.take(self.rotation_bytes(), "a packed rotation")?);
        let mut packed = u64::from_le_bytes(raw);
        let max = self.rotation_max();
        let mut smallest = [0.0f32; 3];
        for component in smallest.iter_mut().rev() {
            let unit = (packed & max) as f32 / max as f32;
            *component = (unit * 2.0 - 1.0) * core::f32::consts::FRAC_1_SQRT_2;
            packed >>= self.rotation_bits;
        }
        let largest = (packed & 0b11) as usize;
        if packed >> 2 != 0 {
            return Err(codec_error("unused rotation bits are set"));
        }
        let rest: f32 = smallest.iter().map(|c| c * c).sum();
        let mut components = [0.0f32; 4];
        let mut others = smallest.into_iter();
        for (index, component) in components.iter_mut().enumerate() {
            *component = if index == largest {
                (1.0 - rest).max(0.0).sqrt()
            } else {
                others.next().unwrap_or(0.0)
            };
        }
        // Hostile bits can make the three exceed a unit length; normalizing keeps any input a
        // rotation (the largest is then 0 and the others are not all 0).
        Ok(Quat::from_array(components).normalize())
    }
}

impl ComponentCodec<Transform> for TransformCodec {
    fn encode(
        &self,
        value: &Transform,
        _baseline: Option<&Transform>,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let start = out.len();
        let mut flags = 0;
        if value.rotation != Quat::IDENTITY {
            flags |= HAS_ROTATION;
        }
        if value.scale != Vec3::ONE {
            flags |= HAS_SCALE;
        }
        out.push(flags);
        let result = (|| {
            for coordinate in value.translation.to_array() {
                self.encode_position(coordinate, out)?;
            }
            if flags & HAS_ROTATION != 0 {
                self.encode_rotation(value.rotation, out)?;
            }
            Ok(())
        })();
        if let Err(error) = result {
            out.truncate(start);
            return Err(error);
        }
        if flags & HAS_SCALE != 0 {
            for coordinate in value.scale.to_array() {
                out.extend_from_slice(&coordinate.to_le_bytes());
            }
        }
        Ok(())
    }

    fn decode(
        &self,
        bytes: &[u8],
        _baseline: Option<&Transform>,
    ) -> Result<Transform, DecodeError> {
        let mut reader = Reader::new(bytes);
        let flags = reader.u8()?;
        if flags & !KNOWN_FLAGS != 0 {
            return Err(codec_error(format!("unknown flags {flags:#04x}")));
        }
        let mut transform = Transform::IDENTITY;
        transform.translation = Vec3::new(
            self.decode_position(&mut reader)?,
            self.decode_position(&mut reader)?,
            self.decode_position(&mut reader)?,
        );
        if flags & HAS_ROTATION != 0 {
            transform.rotation = self.decode_rotation(&mut reader)?;
        }
        if flags & HAS_SCALE != 0 {
            let mut scale = [0.0f32; 3];
            for coordinate in &mut scale {
                *coordinate = f32::from_bits(reader.u32_le()?);
            }
            transform.scale = Vec3::from_array(scale);
        }
        reader.finish()?;
        Ok(transform)
    }

    fn settings(&self) -> String {
        format!(
            "step {} bits {}",
            self.position_step.to_bits(),
            self.rotation_bits
        )
    }
}

fn encode_error(detail: String) -> EncodeError {
    EncodeError {
        type_name: type_name::<Transform>(),
        detail,
    }
}

fn codec_error(detail: impl Into<String>) -> DecodeError {
    DecodeError::Codec {
        type_name: type_name::<Transform>(),
        detail: detail.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SplitMix64;

    fn roundtrip(codec: &TransformCodec, value: &Transform) -> (Transform, usize) {
        let mut bytes = Vec::new();
        codec.encode(value, None, &mut bytes).unwrap();
        (codec.decode(&bytes, None).unwrap(), bytes.len())
    }

    fn random_rotation(rng: &mut SplitMix64) -> Quat {
        let mut unit = || rng.next_f64() as f32 * 2.0 - 1.0;
        Quat::from_xyzw(unit(), unit(), unit(), unit()).normalize()
    }

    #[test]
    fn positions_come_back_within_half_a_step() {
        let mut rng = SplitMix64::new(7);
        for step in [0.001, 0.002, 0.01, 0.25] {
            let codec = TransformCodec::default().with_position_step(step);
            for _ in 0..2_000 {
                let mut coordinate = || (rng.next_f64() * 2.0 - 1.0) as f32 * 500.0;
                let value = Transform::from_xyz(coordinate(), coordinate(), coordinate());
                let (decoded, _) = roundtrip(&codec, &value);
                let error = (decoded.translation - value.translation)
                    .abs()
                    .max_element();
                // Half a step, plus f32 rounding at 500 m.
                assert!(
                    error <= step * 0.5 + 1e-4,
                    "step {step}: {value:?} → {decoded:?}"
                );
                assert_eq!(decoded.rotation, Quat::IDENTITY);
                assert_eq!(decoded.scale, Vec3::ONE);
            }
        }
    }

    /// The angle between two rotations, precise for tiny angles (unlike `acos` of the dot
    /// product): 4·asin(|a − b| / 2) for the closer of `b` and `−b`.
    fn angle(a: Quat, b: Quat) -> f32 {
        let chord = (a - b).length().min((a + b).length());
        4.0 * (chord / 2.0).asin()
    }

    #[test]
    fn rotations_come_back_within_the_precision_of_their_bits() {
        let mut rng = SplitMix64::new(11);
        for bits in [6, 10, 14, 20] {
            let codec = TransformCodec::default().with_rotation_bits(bits);
            // One quantization step of a smallest-three component; the worst angle is a few.
            let step = core::f32::consts::SQRT_2 / ((1u32 << bits) - 1) as f32;
            let mut worst = 0.0f32;
            for _ in 0..5_000 {
                let value = Transform::from_rotation(random_rotation(&mut rng));
                let (decoded, _) = roundtrip(&codec, &value);
                assert!(decoded.rotation.is_normalized());
                worst = worst.max(angle(decoded.rotation, value.rotation));
            }
            assert!(
                worst < 4.0 * step + 2e-6,
                "{bits} bits: worst error {worst} rad, step {step}"
            );
            if bits == 10 {
                assert!(worst < 0.25f32.to_radians(), "the documented bound");
            }
        }
    }

    #[test]
    fn sizes_match_the_layout() {
        let codec = TransformCodec::default();
        // Flags and three one-byte zeros.
        assert_eq!(
            roundtrip(&codec, &Transform::IDENTITY),
            (Transform::IDENTITY, 4)
        );
        // 12.345 m = 12,345 steps: a 3-byte varint after zigzag; rotation in 4 bytes.
        let value = Transform::from_xyz(12.345, 0.9, -12.345).looking_to(Vec3::X, Vec3::Y);
        assert_eq!(roundtrip(&codec, &value).1, 1 + 3 + 2 + 3 + 4);
        let scaled = value.with_scale(Vec3::new(1.0, 2.0, 0.5));
        let (decoded, size) = roundtrip(&codec, &scaled);
        assert_eq!(size, 13 + 12);
        assert_eq!(decoded.scale, scaled.scale, "scale travels exactly");
        assert_eq!(
            TransformCodec::default()
                .with_rotation_bits(15)
                .rotation_bytes(),
            6
        );
    }

    #[test]
    fn a_negated_quaternion_is_the_same_rotation() {
        let codec = TransformCodec::default();
        let rotation = Quat::from_rotation_y(2.5);
        let (a, _) = roundtrip(&codec, &Transform::from_rotation(rotation));
        let (b, _) = roundtrip(&codec, &Transform::from_rotation(-rotation));
        assert_eq!(a.rotation, b.rotation);
        assert!(angle(a.rotation, rotation) < 0.25f32.to_radians());
    }

    #[test]
    fn values_that_cannot_be_quantized_are_refused_and_write_nothing() {
        let codec = TransformCodec::default();
        let bad = [
            Transform::from_xyz(f32::NAN, 0.0, 0.0),
            Transform::from_xyz(0.0, f32::INFINITY, 0.0),
            Transform::from_xyz(0.0, 0.0, 1e12),
            Transform::from_rotation(Quat::from_xyzw(0.0, 0.0, 0.0, 0.0)),
            Transform::from_rotation(Quat::from_xyzw(f32::NAN, 0.0, 0.0, 1.0)),
        ];
        for value in bad {
            let mut bytes = vec![0xAB];
            assert!(codec.encode(&value, None, &mut bytes).is_err(), "{value:?}");
            assert_eq!(bytes, [0xAB], "a refused value leaves the buffer as it was");
        }
    }

    #[test]
    fn hostile_bytes_decode_to_an_error_or_a_valid_transform() {
        let codec = TransformCodec::default();
        let mut rng = SplitMix64::new(3);
        for _ in 0..20_000 {
            let len = (rng.next_u64() % 32) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            if let Ok(transform) = codec.decode(&bytes, None) {
                assert!(transform.rotation.is_normalized(), "{bytes:?}");
                assert!(transform.translation.is_finite(), "{bytes:?}");
            }
        }
        assert!(codec.decode(&[], None).is_err());
        assert!(
            codec.decode(&[0x80, 0, 0, 0], None).is_err(),
            "unknown flag"
        );
        assert!(
            codec.decode(&[0, 0, 0, 0, 0], None).is_err(),
            "a byte left over"
        );
        assert!(
            codec.decode(&[HAS_ROTATION, 0, 0, 0, 1], None).is_err(),
            "short rotation"
        );
        // At 9 bits the rotation takes 29 of 32 bits; the top three must be clear.
        let codec = codec.with_rotation_bits(9);
        assert!(
            codec
                .decode(&[HAS_ROTATION, 0, 0, 0, 0, 0, 0, 0x10], None)
                .is_ok()
        );
        assert!(
            codec
                .decode(&[HAS_ROTATION, 0, 0, 0, 0, 0, 0, 0x20], None)
                .is_err()
        );
    }

    #[test]
    fn settings_go_into_the_protocol() {
        let a = TransformCodec::default();
        assert_ne!(a.settings(), a.with_position_step(0.002).settings());
        assert_ne!(a.settings(), a.with_rotation_bits(12).settings());
    }

    #[test]
    #[should_panic(expected = "position step must be positive")]
    fn a_zero_step_is_a_bug() {
        let _ = TransformCodec::default().with_position_step(0.0);
    }
}
