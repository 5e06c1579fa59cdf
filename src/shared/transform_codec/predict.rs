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
    if let Some(step) = step_i64(newer, older, i64::from(ahead), i64::from(span)) {
        return newer.saturating_add(step);
    }
    let step = round_div(
        (i128::from(newer) - i128::from(older)) * i128::from(ahead),
        i128::from(span),
    );
    (i128::from(newer) + step).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// What both sides predict for a value set at `tick` from the baselines, in quantized units.
pub(super) struct Prediction {
    pub(super) flags: u8,
    pub(super) translation: [i64; 3],
    pub(super) rotation: Option<PackedRotation>,
    pub(super) scale: Vec3,
}
impl TransformCodec {
    /// The prediction from `baseline`, quantized as the client holds it: integer math only.
    pub(super) fn predict(&self, tick: NetTick, baseline: &Baseline<'_, Quantized>) -> Prediction {
        let newer = baseline.value;
        let older = baseline.previous;
        let translation = core::array::from_fn(|axis| {
            extrapolate(
                newer.steps[axis],
                older.map(|(older, older_tick)| (older.steps[axis], older_tick)),
                baseline.tick,
                tick,
            )
        });
        let rotation = self.rotation_of(newer).map(|rotation| {
            let older = older.and_then(|(older, older_tick)| {
                let older_rotation = self.rotation_of(older)?;
                (older_rotation.largest == rotation.largest).then_some((older_rotation, older_tick))
            });
            PackedRotation {
                largest: rotation.largest,
                smallest: core::array::from_fn(|i| {
                    extrapolate(
                        rotation.smallest[i],
                        older.map(|(older, older_tick)| (older.smallest[i], older_tick)),
                        baseline.tick,
                        tick,
                    )
                }),
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
