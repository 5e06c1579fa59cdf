//! What both sides predict a transform to be from the two baselines the client acknowledged:
//! the difference from it is what travels.

use bevy::prelude::*;

use super::{HAS_ROTATION, MAX_PREDICTION_TICKS, PackedRotation, TransformCodec, flags_of};
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
pub(super) struct Prediction {
    pub(super) flags: u8,
    pub(super) translation: [i64; 3],
    pub(super) rotation: Option<PackedRotation>,
    pub(super) scale: Vec3,
}
impl TransformCodec {
    /// The prediction from `baseline`; baselines are values as the client decoded them, so they
    /// always quantize.
    pub(super) fn predict(
        &self,
        tick: NetTick,
        baseline: &Baseline<'_, Transform>,
    ) -> Option<Prediction> {
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
