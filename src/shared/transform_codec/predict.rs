//! What both sides predict a transform to be from the two baselines the client acknowledged:
//! the difference from it is what travels.

use bevy::prelude::*;

use super::{MAX_PREDICTION_TICKS, PackedRotation, Quantized, TransformCodec};
use crate::shared::{codec::Baseline, tick::NetTick};

/// `numerator / denominator` rounded half away from zero (`denominator` > 0): integer math, so
/// both sides predict exactly alike.
fn round_div(numerator: i128, denominator: i128) -> i128 {
    let half = denominator / 2;
    if numerator >= 0 {
        (numerator + half) / denominator
    } else {
        (numerator - half) / denominator
    }
}

/// [`round_div`] of `(newer - older) × ahead` by `span`, in `i64` (a division in hardware, where
/// `i128`'s is a library call); `None` when that could overflow, which values a codec
/// quantized never do.
fn step_i64(newer: i64, older: i64, ahead: i64, span: i64) -> Option<i64> {
    let numerator = newer.checked_sub(older)?.checked_mul(ahead)?;
    // Baselines a tick apart (a value changing every tick): nothing to divide or round.
    if span == 1 {
        return Some(numerator);
    }
    let half = span / 2;
    let rounded = if numerator >= 0 {
        numerator.checked_add(half)?
    } else {
        numerator.checked_sub(half)?
    };
    Some(rounded / span)
}

/// `newer` extrapolated `ahead` ticks with the velocity from `older`, `span` ticks before it
/// (both gaps within `1..=MAX_PREDICTION_TICKS`).
fn extrapolate(newer: i64, older: i64, ahead: i64, span: i64) -> i64 {
    if let Some(step) = step_i64(newer, older, ahead, span) {
        return newer.saturating_add(step);
    }
    let step = round_div(
        (i128::from(newer) - i128::from(older)) * i128::from(ahead),
        i128::from(span),
    );
    (i128::from(newer) + step).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Below this magnitude, `newer + (newer - older) × ahead` fits an `i64` for any `ahead` up to
/// [`MAX_PREDICTION_TICKS`] (quantized positions stay below 2^40 steps, rotation components
/// below 2^21).
const SMALL: u64 = 1 << 56;

/// What both sides predict for a value set at `tick` from the baselines, in quantized units.
pub(super) struct Prediction {
    pub(super) flags: u8,
    pub(super) translation: [i64; 3],
    pub(super) rotation: Option<PackedRotation>,
    pub(super) scale: Vec3,
}

impl TransformCodec {
    /// The prediction from `baseline`, quantized as the client holds it: integer math only.
    /// The newest baseline, moved on with the velocity from the one before it when both gaps
    /// (to `tick`, and between the two) are short enough to trust it; the rotation only when
    /// both baselines drop the same component.
    pub(super) fn predict(&self, tick: NetTick, baseline: &Baseline<'_, Quantized>) -> Prediction {
        let newer = baseline.value;
        let within = |gap: i32| (1..=MAX_PREDICTION_TICKS).contains(&gap);
        let ahead = tick.diff(baseline.tick);
        let trend = baseline
            .previous
            .map(|(older, older_tick)| (older, baseline.tick.diff(older_tick)))
            .filter(|&(_, span)| within(ahead) && within(span));
        let Some((older, span)) = trend else {
            return self.predict_from(newer, None, |newer, _| newer);
        };
        let (ahead, span) = (i64::from(ahead), i64::from(span));
        // Baselines a tick apart (an entity sent every tick) and values far from overflowing:
        // no division, and no check per coordinate, since none of the sums can overflow.
        let small = newer
            .steps
            .iter()
            .chain(&older.steps)
            .all(|steps| steps.unsigned_abs() < SMALL);
        if span == 1 && small {
            return self.predict_from(newer, Some(older), |newer, older| {
                newer + (newer - older) * ahead
            });
        }
        self.predict_from(newer, Some(older), |newer, older| {
            extrapolate(newer, older, ahead, span)
        })
    }

    /// `newer` with each coordinate moved by `step` from `older`'s (the rotation's only when
    /// both drop the same component), or as it is without `older`.
    #[inline(always)]
    fn predict_from(
        &self,
        newer: &Quantized,
        older: Option<&Quantized>,
        step: impl Fn(i64, i64) -> i64,
    ) -> Prediction {
        let translation = match older {
            Some(older) => core::array::from_fn(|axis| step(newer.steps[axis], older.steps[axis])),
            None => newer.steps,
        };
        let rotation = self.rotation_of(newer).map(|rotation| {
            match older
                .and_then(|older| self.rotation_of(older))
                .filter(|older| older.largest == rotation.largest)
            {
                Some(older) => PackedRotation {
                    largest: rotation.largest,
                    smallest: core::array::from_fn(|i| {
                        step(rotation.smallest[i], older.smallest[i])
                    }),
                },
                None => rotation,
            }
        });
        Prediction {
            flags: newer.flags,
            translation,
            rotation,
            scale: newer.scale,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SplitMix64;

    /// The prediction as defined, coordinate by coordinate, each checking its own gaps, in
    /// `i128`: what every shortcut must give exactly (both sides predict alike only if every
    /// version does).
    fn reference(
        codec: &TransformCodec,
        tick: NetTick,
        baseline: &Baseline<'_, Quantized>,
    ) -> Prediction {
        let coordinate = |newer: i64, older: Option<(i64, NetTick)>| {
            let Some((older, older_tick)) = older else {
                return newer;
            };
            let ahead = tick.diff(baseline.tick);
            let span = baseline.tick.diff(older_tick);
            if !(1..=MAX_PREDICTION_TICKS).contains(&ahead)
                || !(1..=MAX_PREDICTION_TICKS).contains(&span)
            {
                return newer;
            }
            let step = round_div(
                (i128::from(newer) - i128::from(older)) * i128::from(ahead),
                i128::from(span),
            );
            (i128::from(newer) + step).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
        };
        let (newer, previous) = (baseline.value, baseline.previous);
        let rotation = codec.rotation_of(newer).map(|rotation| {
            let older = previous.and_then(|(older, at)| {
                let older = codec.rotation_of(older)?;
                (older.largest == rotation.largest).then_some((older, at))
            });
            PackedRotation {
                largest: rotation.largest,
                smallest: core::array::from_fn(|i| {
                    coordinate(
                        rotation.smallest[i],
                        older.map(|(o, at)| (o.smallest[i], at)),
                    )
                }),
            }
        });
        Prediction {
            flags: newer.flags,
            translation: core::array::from_fn(|axis| {
                coordinate(
                    newer.steps[axis],
                    previous.map(|(o, at)| (o.steps[axis], at)),
                )
            }),
            rotation,
            scale: newer.scale,
        }
    }

    #[test]
    fn predicts_exactly_as_defined_whatever_the_gaps_and_magnitudes() {
        let codec = TransformCodec::default();
        let max = codec.rotation_max();
        let mut rng = SplitMix64::new(31);
        let quantized = |rng: &mut SplitMix64| {
            let magnitude = rng.next_u64() % 4;
            let steps = core::array::from_fn(|_| {
                let raw = rng.next_u64() as i64;
                match magnitude {
                    0 => raw >> (rng.next_u64() % 8),
                    1 => raw >> 6,
                    _ => raw % 5_000,
                }
            });
            let flags = (rng.next_u64() % 4) as u8;
            let rotation = PackedRotation {
                largest: (rng.next_u64() % 2) as u8,
                smallest: core::array::from_fn(|_| (rng.next_u64() % (max + 1)) as i64),
            };
            Quantized {
                steps,
                packed_rotation: if flags & super::super::HAS_ROTATION != 0 {
                    codec.pack_rotation(rotation)
                } else {
                    0
                },
                scale: Vec3::ONE,
                flags,
            }
        };
        let mut steady = 0;
        for _ in 0..100_000 {
            let (newer, older) = (quantized(&mut rng), quantized(&mut rng));
            let tick = NetTick(rng.next_u64() as u32);
            // Mostly a tick apart (the one-pass case), else any gap, in range or not.
            let gap = |rng: &mut SplitMix64| match rng.next_u64() % 3 {
                0 => (rng.next_u64() % 40) as u32,
                _ => 1,
            };
            let newer_tick = tick.sub(gap(&mut rng));
            let older_tick = newer_tick.sub(gap(&mut rng));
            let previous = (!rng.next_u64().is_multiple_of(5)).then_some((&older, older_tick));
            let baseline = Baseline {
                value: &newer,
                tick: newer_tick,
                previous,
            };
            // The one-pass case: a tick apart, a tick ahead or more (in range), small values.
            let ahead = tick.diff(newer_tick);
            steady += usize::from(
                previous.is_some()
                    && newer_tick.diff(older_tick) == 1
                    && (1..=MAX_PREDICTION_TICKS).contains(&ahead)
                    && newer
                        .steps
                        .iter()
                        .chain(&older.steps)
                        .all(|steps| steps.unsigned_abs() < SMALL),
            );
            let (got, expected) = (
                codec.predict(tick, &baseline),
                reference(&codec, tick, &baseline),
            );
            assert_eq!(
                (got.flags, got.translation, got.rotation, got.scale),
                (
                    expected.flags,
                    expected.translation,
                    expected.rotation,
                    expected.scale
                ),
            );
        }
        assert!(steady > 10_000, "the one-pass case served only {steady}");
    }

    #[test]
    fn the_i64_step_rounds_like_the_i128_one_or_declines() {
        let mut rng = SplitMix64::new(11);
        let edges = [
            i64::MIN,
            i64::MIN + 1,
            -(1 << 40),
            -1,
            0,
            1,
            1 << 40,
            i64::MAX - 1,
            i64::MAX,
        ];
        let pick = |rng: &mut SplitMix64| match rng.next_u64() % 3 {
            0 => edges[(rng.next_u64() % edges.len() as u64) as usize],
            1 => (rng.next_u64() % 2_000) as i64 - 1_000,
            _ => rng.next_u64() as i64 >> (rng.next_u64() % 64),
        };
        let mut fast = 0;
        for _ in 0..100_000 {
            let (newer, older) = (pick(&mut rng), pick(&mut rng));
            let ahead = 1 + (rng.next_u64() % MAX_PREDICTION_TICKS as u64) as i64;
            let span = 1 + (rng.next_u64() % MAX_PREDICTION_TICKS as u64) as i64;
            let exact = round_div(
                (i128::from(newer) - i128::from(older)) * i128::from(ahead),
                i128::from(span),
            );
            if let Some(step) = step_i64(newer, older, ahead, span) {
                fast += 1;
                assert_eq!(i128::from(step), exact, "{newer} {older} {ahead} {span}");
            }
        }
        assert!(fast > 50_000, "the fast path served only {fast}");
    }
}
