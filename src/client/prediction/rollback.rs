//! Reconciliation: when the server's state of a tick differs from what was predicted for it,
//! predicted entities go back to the server's state at that tick and the ticks since are
//! simulated again with the recorded inputs, within the frame.

use crate::shared::scoped::scoped;
use bevy::{app::FixedMain, ecs::schedule::ScheduleLabel, prelude::*};

use super::{
    correction::{after_correction, before_correction},
    registry::PredictionRegistry,
    tick::PredictedTick,
};
use crate::{
    client::replicas::Replicas,
    shared::{
        prediction::{PredictionSettings, Resimulating},
        tick::NetTick,
    },
};

/// What prediction did lately, for diagnostics. Written by
/// [`ClientSet::Receive`](crate::client::ClientSet::Receive).
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq)]
pub struct PredictionStats {
    /// Corrections re-simulated since the start.
    pub rollbacks: u64,
    /// Ticks simulated again in all.
    pub resimulated_ticks: u64,
    /// Corrections too deep to re-simulate, snapped to the server's state.
    pub snaps: u64,
    /// How far the last correction moved a predicted transform, metres.
    pub last_correction: f32,
    /// The largest correction so far, metres.
    pub largest_correction: f32,
    /// All corrections added up, metres (with `rollbacks + snaps`, their mean).
    pub total_correction: f64,
    /// Time spent re-simulating so far (this client's CPU).
    pub resimulation_time: core::time::Duration,
}

/// Compares the server's newest states with the predictions and corrects.
pub(crate) fn reconcile(world: &mut World) {
    let Some(now) = world.resource::<PredictedTick>().tick else {
        return;
    };
    let settings = world.resource::<PredictionSettings>().clone();
    let held = world.resource::<Replicas>().watermark;
    let Some(tick) = with_registry(world, |world, registry| {
        registry
            .components
            .iter_mut()
            .filter_map(|component| component.check(world, now, held))
            .reduce(NetTick::min)
    })
    .flatten() else {
        return;
    };
    let depth = now.diff(tick);
    let before = before_correction(world);
    if depth <= 0 || depth > settings.max_rollback_ticks as i32 {
        // The server is ahead, or the miss is too old to replay: take its newest state.
        with_registry(world, |world, registry| {
            for component in &mut registry.components {
                component.snap(world);
            }
        });
        world.resource_mut::<PredictionStats>().snaps += 1;
    } else {
        with_registry(world, |world, registry| {
            for component in &mut registry.components {
                component.restore(world, tick);
            }
        });
        // Outside the registry's scope: re-simulated ticks record their predictions with it.
        let started = std::time::Instant::now();
        resimulate(world, tick, now);
        let mut stats = world.resource_mut::<PredictionStats>();
        stats.resimulation_time += started.elapsed();
        stats.rollbacks += 1;
        stats.resimulated_ticks += depth as u64;
    }
    let moved = after_correction(world, before, &settings);
    let mut stats = world.resource_mut::<PredictionStats>();
    stats.last_correction = moved;
    stats.largest_correction = stats.largest_correction.max(moved);
    stats.total_correction += f64::from(moved);
}

/// Runs `f` with the registry out of the world (`None` when there is nothing predicted).
fn with_registry<T>(
    world: &mut World,
    f: impl FnOnce(&mut World, &mut PredictionRegistry) -> T,
) -> Option<T> {
    if world.resource::<PredictionRegistry>().components.is_empty() {
        return None;
    }
    Some(scoped(world, f))
}

/// Simulates ticks `from + 1 ..= to` again: `FixedMain` with the fixed clock as `Time`, the
/// tick counter set before each, and [`Resimulating`] set.
fn resimulate(world: &mut World, from: NetTick, to: NetTick) {
    world.resource_mut::<Resimulating>().0 = true;
    let frame_time = *world.resource::<Time>();
    let fixed = world.resource::<Time<Fixed>>().as_generic();
    *world.resource_mut::<Time>() = fixed;
    let mut tick = from;
    while tick != to {
        // `FixedFirst` advances the counter to the tick being simulated.
        world.resource_mut::<PredictedTick>().tick = Some(tick);
        tick = tick.add(1);
        world.run_schedule(FixedMain.intern());
    }
    world.resource_mut::<PredictedTick>().tick = Some(to);
    *world.resource_mut::<Time>() = frame_time;
    world.resource_mut::<Resimulating>().0 = false;
}
