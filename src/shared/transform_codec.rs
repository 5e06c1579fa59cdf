//! [`TransformCodec`]: a `Transform` as a fixed-point position and a smallest-three rotation,
//! about 14 bytes where serde writes 40, and a few bits when sent as a difference from what the
//! client acknowledged.

use core::any::type_name;

use bevy::prelude::*;

use super::{
    codec::{Baseline, ComponentCodec},
    error::{DecodeError, EncodeError},
    tick::NetTick,
    wire::{BitReader, BitWriter, Reader, write_signed_varint},
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

/// Golomb order of whole position coordinates (in steps) in bit-packed values: 0 m takes 11
/// bits, ±40 m at 1 mm 23.
const ABSOLUTE_POSITION_ORDER: u32 = 10;
/// Motion is extrapolated from the two acknowledged baselines only across gaps up to this many
/// ticks; beyond, the newer baseline alone is the prediction.
const MAX_PREDICTION_TICKS: i32 = 30;

/// A rotation in smallest-three form: the index of the dropped (largest) component and the
/// other three, quantized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PackedRotation {
    largest: u8,
    smallest: [i64; 3],
}

/// Replicates `Transform` quantized: each position coordinate rounded to a fixed step (1 mm by
/// default) and written as a variable-length integer, the rotation in "smallest three" form
/// (the largest component is dropped and rebuilt from the others) at a fixed number of bits per
/// component, and the scale only when it is not `Vec3::ONE`.
///
/// A player walking around a 40 m arena costs about 14 bytes per update instead of the 40 that
/// [`SerdeCodec`](super::codec::SerdeCodec) writes, with a position error of at most half a step
/// and a rotation error of at most about 0.25° at the default 10 bits. Clients see the quantized value, the
/// server keeps its exact one. Scale travels exactly, as three `f32`s.
///
/// Inside replication frames values are bit-packed, and sent as the difference from what both
/// sides extrapolate from the two values the client acknowledged last: a body moving steadily
/// costs about a dozen bits, a resting one is not sent at all. The client still ends up with
/// exactly the value a whole encoding would give.
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

    /// Whether two transforms are the same within this codec's precision: positions within a
    /// step on every axis, rotations within a few quantization steps, equal scales. The
    /// comparison for predicting a quantized `Transform`:
    /// `app.predict_with::<Transform>(move |a, b| codec.matches(a, b))`.
    pub fn matches(&self, a: &Transform, b: &Transform) -> bool {
        let steps = (a.translation - b.translation).abs().max_element();
        let angle = a.rotation.angle_between(b.rotation);
        let rotation_step = core::f32::consts::SQRT_2 / self.rotation_max() as f32 * 4.0 + 1e-4;
        steps <= self.position_step * 1.01
            && (angle.is_nan() || angle <= rotation_step)
            && (a.scale - b.scale).abs().max_element() <= 1e-5
    }

    /// Bytes the packed rotation takes.
    const fn rotation_bytes(&self) -> usize {
        (2 + 3 * self.rotation_bits as usize).div_ceil(8)
    }

    /// The largest quantized value of one smallest-three component.
    const fn rotation_max(&self) -> u64 {
        (1 << self.rotation_bits) - 1
    }

    fn quantize_position(&self, value: f32) -> Result<i64, EncodeError> {
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

    fn dequantize_position(&self, steps: i64) -> Result<f32, DecodeError> {
        if steps.unsigned_abs() > MAX_STEPS as u64 {
            return Err(codec_error("position out of range"));
        }
        Ok((steps as f64 * f64::from(self.position_step)) as f32)
    }

    fn quantize_translation(&self, translation: Vec3) -> Result<[i64; 3], EncodeError> {
        Ok([
            self.quantize_position(translation.x)?,
            self.quantize_position(translation.y)?,
            self.quantize_position(translation.z)?,
        ])
    }

    fn dequantize_translation(&self, steps: [i64; 3]) -> Result<Vec3, DecodeError> {
        Ok(Vec3::new(
            self.dequantize_position(steps[0])?,
            self.dequantize_position(steps[1])?,
            self.dequantize_position(steps[2])?,
        ))
    }

    fn quantize_rotation(&self, rotation: Quat) -> Result<PackedRotation, EncodeError> {
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
        let mut smallest = [0i64; 3];
        let others = (0..4).filter(|&index| index != largest);
        for (slot, index) in smallest.iter_mut().zip(others) {
            // The other three lie within ±1/√2.
            let unit = (components[index] * core::f32::consts::SQRT_2 + 1.0) * 0.5;
            *slot = round_to_steps(f64::from(unit.clamp(0.0, 1.0)) * max as f64);
        }
        Ok(PackedRotation {
            largest: largest as u8,
            smallest,
        })
    }

    fn dequantize_rotation(&self, packed: PackedRotation) -> Result<Quat, DecodeError> {
        let max = self.rotation_max();
        if packed.largest > 3 || packed.smallest.iter().any(|&c| c < 0 || c as u64 > max) {
            return Err(codec_error("rotation component out of range"));
        }
        let smallest = packed.smallest.map(|quantized| {
            let unit = quantized as f32 / max as f32;
            (unit * 2.0 - 1.0) * core::f32::consts::FRAC_1_SQRT_2
        });
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
        // Hostile bits can make the three exceed a unit length; normalizing keeps any input a
        // rotation (the largest is then 0 and the others are not all 0).
        Ok(Quat::from_array(components).normalize())
    }

    /// The rotation as `2 + 3 × bits` bits: the largest index, then the three others.
    fn pack_rotation(&self, rotation: PackedRotation) -> u64 {
        rotation
            .smallest
            .iter()
            .fold(u64::from(rotation.largest), |packed, &c| {
                (packed << self.rotation_bits) | c as u64
            })
    }

    fn unpack_rotation(&self, mut packed: u64) -> Result<PackedRotation, DecodeError> {
        let max = self.rotation_max();
        let mut smallest = [0i64; 3];
        for component in smallest.iter_mut().rev() {
            *component = (packed & max) as i64;
            packed >>= self.rotation_bits;
        }
        if packed >> 2 != 0 {
            return Err(codec_error("unused rotation bits are set"));
        }
        Ok(PackedRotation {
            largest: (packed & 0b11) as u8,
            smallest,
        })
    }

    const fn rotation_bit_len(&self) -> u32 {
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

/// `numerator / denominator` rounded half away from zero (`denominator` > 0): integer math, so
/// both sides predict exactly alike.
/// Rounds a finite value within ±2^40 to the nearest integer, halves away from zero. A
/// truncating conversion rather than `f64::round`, which is a library call on x86-64's baseline
/// (no rounding instruction before SSE 4.1) and ran a dozen times per delta-coded transform.
#[inline]
fn round_to_steps(value: f64) -> i64 {
    let magnitude = (value.abs() + 0.5) as i64;
    if value < 0.0 { -magnitude } else { magnitude }
}

fn round_div(numerator: i128, denominator: i128) -> i128 {
    let half = denominator / 2;
    if numerator >= 0 {
        (numerator + half) / denominator
    } else {
        (numerator - half) / denominator
    }
}

/// Extrapolates `newer` (at `newer_tick`) to `tick`, with the velocity from `older` (at
/// `older_tick`) when the gaps are short enough to trust it.
fn extrapolate(
    newer: i64,
    older: Option<(i64, NetTick)>,
    newer_tick: NetTick,
    tick: NetTick,
) -> i64 {
    let Some((older, older_tick)) = older else {
        return newer;
    };
    let ahead = tick.diff(newer_tick);
    let span = newer_tick.diff(older_tick);
    if !(1..=MAX_PREDICTION_TICKS).contains(&ahead) || !(1..=MAX_PREDICTION_TICKS).contains(&span) {
        return newer;
    }
    let step = round_div(
        (i128::from(newer) - i128::from(older)) * i128::from(ahead),
        i128::from(span),
    );
    (i128::from(newer) + step).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// What both sides predict for a value set at `tick` from the baselines, in quantized units.
struct Prediction {
    flags: u8,
    translation: [i64; 3],
    rotation: Option<PackedRotation>,
    scale: Vec3,
}

impl TransformCodec {
    /// The prediction from `baseline`; baselines are values as the client decoded them, so they
    /// always quantize.
    fn predict(&self, tick: NetTick, baseline: &Baseline<'_, Transform>) -> Option<Prediction> {
        let newer = self.quantize_translation(baseline.value.translation).ok()?;
        let older = baseline.previous.and_then(|(value, tick)| {
            Some((self.quantize_translation(value.translation).ok()?, tick))
        });
        let translation = core::array::from_fn(|axis| {
            extrapolate(
                newer[axis],
                older.map(|(older, older_tick)| (older[axis], older_tick)),
                baseline.tick,
                tick,
            )
        });
        let flags = flags_of(baseline.value);
        let rotation = if flags & HAS_ROTATION != 0 {
            let newer = self.quantize_rotation(baseline.value.rotation).ok()?;
            let older = baseline.previous.and_then(|(value, tick)| {
                let older = self.quantize_rotation(value.rotation).ok()?;
                (older.largest == newer.largest).then_some((older, tick))
            });
            Some(PackedRotation {
                largest: newer.largest,
                smallest: core::array::from_fn(|i| {
                    extrapolate(
                        newer.smallest[i],
                        older.map(|(older, older_tick)| (older.smallest[i], older_tick)),
                        baseline.tick,
                        tick,
                    )
                }),
            })
        } else {
            None
        };
        Some(Prediction {
            flags,
            translation,
            rotation,
            scale: baseline.value.scale,
        })
    }
}

impl ComponentCodec<Transform> for TransformCodec {
    fn encode(
        &self,
        value: &Transform,
        _baseline: Option<&Transform>,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let flags = flags_of(value);
        let steps = self.quantize_translation(value.translation)?;
        let rotation = if flags & HAS_ROTATION != 0 {
            Some(self.quantize_rotation(value.rotation)?)
        } else {
            None
        };
        out.push(flags);
        for steps in steps {
            write_signed_varint(out, steps);
        }
        if let Some(rotation) = rotation {
            let packed = self.pack_rotation(rotation);
            out.extend_from_slice(&packed.to_le_bytes()[..self.rotation_bytes()]);
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
        let mut steps = [0i64; 3];
        for steps in &mut steps {
            *steps = reader.signed_varint()?;
        }
        let mut transform = Transform::from_translation(self.dequantize_translation(steps)?);
        if flags & HAS_ROTATION != 0 {
            let mut raw = [0u8; 8];
            raw[..self.rotation_bytes()]
                .copy_from_slice(reader.take(self.rotation_bytes(), "a packed rotation")?);
            let packed = self.unpack_rotation(u64::from_le_bytes(raw))?;
            transform.rotation = self.dequantize_rotation(packed)?;
        }
        if flags & HAS_SCALE != 0 {
            transform.scale = read_scale_bytes(&mut reader)?;
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

    fn uses_baselines(&self) -> bool {
        true
    }

    fn write(&self, value: &Transform, out: &mut BitWriter) -> Result<(), EncodeError> {
        let flags = flags_of(value);
        let steps = self.quantize_translation(value.translation)?;
        let rotation = if flags & HAS_ROTATION != 0 {
            Some(self.quantize_rotation(value.rotation)?)
        } else {
            None
        };
        out.write_bits(u64::from(flags), 2);
        for steps in steps {
            out.write_signed_golomb(steps, ABSOLUTE_POSITION_ORDER);
        }
        if let Some(rotation) = rotation {
            out.write_bits(self.pack_rotation(rotation), self.rotation_bit_len());
        }
        if flags & HAS_SCALE != 0 {
            write_scale_bits(value.scale, out);
        }
        Ok(())
    }

    fn read(&self, reader: &mut BitReader) -> Result<Transform, DecodeError> {
        let flags = reader.read_bits(2)? as u8;
        let mut steps = [0i64; 3];
        for steps in &mut steps {
            *steps = reader.read_signed_golomb(ABSOLUTE_POSITION_ORDER)?;
        }
        let mut transform = Transform::from_translation(self.dequantize_translation(steps)?);
        if flags & HAS_ROTATION != 0 {
            let packed = self.unpack_rotation(reader.read_bits(self.rotation_bit_len())?)?;
            transform.rotation = self.dequantize_rotation(packed)?;
        }
        if flags & HAS_SCALE != 0 {
            transform.scale = read_scale_bits(reader)?;
        }
        Ok(transform)
    }

    /// Writes the difference from what both sides predict from the acknowledged baselines:
    /// flags only when they changed, each position coordinate's residual in steps, the
    /// rotation's residual when its largest component stayed the same (else the whole
    /// rotation), and the scale only when it changed. A player moving steadily costs about a
    /// dozen bits.
    fn write_delta(
        &self,
        value: &Transform,
        tick: NetTick,
        baseline: Baseline<'_, Transform>,
        out: &mut BitWriter,
    ) -> Result<(), EncodeError> {
        let Some(prediction) = self.predict(tick, &baseline) else {
            return Err(encode_error("the baseline cannot be quantized".into()));
        };
        let flags = flags_of(value);
        let steps = self.quantize_translation(value.translation)?;
        let rotation = if flags & HAS_ROTATION != 0 {
            Some(self.quantize_rotation(value.rotation)?)
        } else {
            None
        };
        if flags == prediction.flags {
            out.write_bool(false);
        } else {
            out.write_bool(true);
            out.write_bits(u64::from(flags), 2);
        }
        for (steps, predicted) in steps.iter().zip(prediction.translation) {
            out.write_signed_golomb(steps.wrapping_sub(predicted), 0);
        }
        if let Some(rotation) = rotation {
            match prediction.rotation {
                Some(predicted) if predicted.largest == rotation.largest => {
                    out.write_bool(false);
                    for (c, p) in rotation.smallest.iter().zip(predicted.smallest) {
                        out.write_signed_golomb(c.wrapping_sub(p), 0);
                    }
                }
                Some(_) => {
                    out.write_bool(true);
                    out.write_bits(self.pack_rotation(rotation), self.rotation_bit_len());
                }
                None => out.write_bits(self.pack_rotation(rotation), self.rotation_bit_len()),
            }
        }
        if flags & HAS_SCALE != 0 {
            let same = prediction.flags & HAS_SCALE != 0
                && prediction.scale.to_array().map(f32::to_bits)
                    == value.scale.to_array().map(f32::to_bits);
            out.write_bool(!same);
            if !same {
                write_scale_bits(value.scale, out);
            }
        }
        Ok(())
    }

    fn read_delta(
        &self,
        reader: &mut BitReader,
        tick: NetTick,
        baseline: Baseline<'_, Transform>,
    ) -> Result<Transform, DecodeError> {
        let Some(prediction) = self.predict(tick, &baseline) else {
            return Err(codec_error("the baseline cannot be quantized"));
        };
        let flags = if reader.read_bool()? {
            reader.read_bits(2)? as u8
        } else {
            prediction.flags
        };
        let mut steps = [0i64; 3];
        for (steps, predicted) in steps.iter_mut().zip(prediction.translation) {
            *steps = predicted.wrapping_add(reader.read_signed_golomb(0)?);
        }
        let mut transform = Transform::from_translation(self.dequantize_translation(steps)?);
        if flags & HAS_ROTATION != 0 {
            let packed = match prediction.rotation {
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
            };
            transform.rotation = self.dequantize_rotation(packed)?;
        }
        if flags & HAS_SCALE != 0 {
            transform.scale = if reader.read_bool()? {
                read_scale_bits(reader)?
            } else if prediction.flags & HAS_SCALE != 0 {
                prediction.scale
            } else {
                return Err(codec_error("scale kept from a baseline without one"));
            };
        }
        Ok(transform)
    }
}

fn write_scale_bits(scale: Vec3, out: &mut BitWriter) {
    for coordinate in scale.to_array() {
        out.write_bits(u64::from(coordinate.to_bits()), 32);
    }
}

fn read_scale_bits(reader: &mut BitReader) -> Result<Vec3, DecodeError> {
    let mut scale = [0.0f32; 3];
    for coordinate in &mut scale {
        *coordinate = f32::from_bits(reader.read_bits(32)? as u32);
    }
    Ok(Vec3::from_array(scale))
}

fn read_scale_bytes(reader: &mut Reader) -> Result<Vec3, DecodeError> {
    let mut scale = [0.0f32; 3];
    for coordinate in &mut scale {
        *coordinate = f32::from_bits(reader.u32_le()?);
    }
    Ok(Vec3::from_array(scale))
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
    fn rounding_matches_the_standard_library_on_halves_and_either_sign() {
        let mut rng = crate::shared::rng::SplitMix64::new(3);
        let halves = (-4_000..4_000).map(|k| f64::from(k) / 8.0);
        let random = (0..4_000).map(|_| (rng.next_f64() - 0.5) * 2e12);
        for value in halves.chain(random) {
            assert_eq!(round_to_steps(value), value.round() as i64, "{value}");
        }
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

    /// What a client holds after `value` arrived whole (bit-packed).
    fn whole(codec: &TransformCodec, value: &Transform) -> Transform {
        let mut out = BitWriter::new();
        codec.write(value, &mut out).unwrap();
        let bytes = out.into_bytes();
        codec.read(&mut BitReader::new(&bytes)).unwrap()
    }

    /// A body on a 10 m circle at 5 m/s, facing its heading, at tick `t`.
    fn orbiting(t: u32, phase: f32) -> Transform {
        let angle = phase + 0.5 * t as f32 / 60.0;
        Transform::from_xyz(30.0 + 10.0 * angle.cos(), 0.0, -5.0 + 10.0 * angle.sin())
            .with_rotation(Quat::from_rotation_y(-angle))
    }

    #[test]
    fn bit_packed_values_decode_like_byte_encoded_ones() {
        let codec = TransformCodec::default();
        let mut rng = SplitMix64::new(21);
        for _ in 0..2_000 {
            let mut coordinate = || (rng.next_f64() * 2.0 - 1.0) as f32 * 300.0;
            let mut value = Transform::from_xyz(coordinate(), coordinate(), coordinate())
                .with_rotation(random_rotation(&mut rng));
            if rng.chance(0.2) {
                value.scale = Vec3::new(1.5, 0.5, 2.0);
            }
            assert_eq!(whole(&codec, &value), roundtrip(&codec, &value).0);
        }
    }

    #[test]
    fn deltas_decode_to_exactly_the_whole_value_against_any_baselines() {
        let codec = TransformCodec::default();
        let mut rng = SplitMix64::new(33);
        for case in 0..3_000u32 {
            let phase = rng.next_f64() as f32 * 6.0;
            let t = 1_000 + (rng.next_u64() % 100) as u32;
            let gap1 = 1 + (rng.next_u64() % 40) as u32;
            let gap2 = 1 + (rng.next_u64() % 40) as u32;
            let mut value = orbiting(t, phase);
            if case % 7 == 0 {
                // Teleports, flips and scale changes must come through too.
                value = Transform::from_xyz(-200.0, 3.0, 90.0)
                    .with_rotation(random_rotation(&mut rng))
                    .with_scale(Vec3::splat(2.0));
            }
            let newer = whole(&codec, &orbiting(t - gap1, phase));
            let older = whole(&codec, &orbiting(t - gap1 - gap2, phase));
            let baseline = Baseline {
                value: &newer,
                tick: NetTick(t - gap1),
                previous: (case % 3 != 0).then_some((&older, NetTick(t - gap1 - gap2))),
            };
            let mut out = BitWriter::new();
            codec
                .write_delta(&value, NetTick(t), baseline, &mut out)
                .unwrap();
            let bytes = out.into_bytes();
            let decoded = codec
                .read_delta(&mut BitReader::new(&bytes), NetTick(t), baseline)
                .unwrap();
            assert_eq!(decoded, whole(&codec, &value), "case {case}");
        }
    }

    #[test]
    fn a_steady_body_costs_a_dozen_bits_against_the_last_two_ticks() {
        let codec = TransformCodec::default();
        let mut sizes = Vec::new();
        for t in 100..1_400u32 {
            let b1 = whole(&codec, &orbiting(t - 1, 0.3));
            let b2 = whole(&codec, &orbiting(t - 2, 0.3));
            let mut out = BitWriter::new();
            let baseline = Baseline {
                value: &b1,
                tick: NetTick(t - 1),
                previous: Some((&b2, NetTick(t - 2))),
            };
            codec
                .write_delta(&orbiting(t, 0.3), NetTick(t), baseline, &mut out)
                .unwrap();
            sizes.push(out.bit_len());
        }
        sizes.sort_unstable();
        let mean = sizes.iter().sum::<usize>() as f64 / sizes.len() as f64;
        let p95 = sizes[sizes.len() * 95 / 100];
        // Only when the largest rotation component changes does the rotation travel whole.
        assert!(
            mean <= 14.0 && p95 <= 16,
            "mean {mean} bits, p95 {p95}, sizes {sizes:?}"
        );
        // Without a previous baseline the motion itself must travel: still well under a byte
        // per axis would be wrong, so only check it stays bounded.
        let b1 = whole(&codec, &orbiting(99, 0.3));
        let mut out = BitWriter::new();
        let baseline = Baseline {
            value: &b1,
            tick: NetTick(99),
            previous: None,
        };
        codec
            .write_delta(&orbiting(100, 0.3), NetTick(100), baseline, &mut out)
            .unwrap();
        assert!(out.bit_len() < 64, "{} bits", out.bit_len());
    }

    #[test]
    fn hostile_delta_bits_are_errors_or_valid_transforms() {
        let codec = TransformCodec::default();
        let base = whole(&codec, &orbiting(10, 1.0));
        let baseline = Baseline {
            value: &base,
            tick: NetTick(10),
            previous: None,
        };
        let mut rng = SplitMix64::new(8);
        for _ in 0..20_000 {
            let len = (rng.next_u64() % 24) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            if let Ok(value) = codec.read_delta(&mut BitReader::new(&bytes), NetTick(11), baseline)
            {
                assert!(value.rotation.is_normalized());
                assert!(value.translation.is_finite());
            }
            let _ = codec.read(&mut BitReader::new(&bytes));
        }
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
