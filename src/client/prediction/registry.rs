//! [`PredictionRegistry`]: per predicted component type, the typed work of comparing,
//! restoring and recording its values.

use std::sync::Arc;

use bevy::{ecs::component::Mutable, prelude::*};

use crate::shared::{
    prediction::{Confirmed, Predicted, PredictionHistory},
    tick::NetTick,
};

/// Whether a predicted value matches the server's (for lossy codecs: within their precision).
pub(crate) type MatchFn<C> = Arc<dyn Fn(&C, &C) -> bool + Send + Sync>;

/// The typed work for one predicted component type.
pub(crate) trait PredictionFns: Send + Sync {
    /// Compares server values not compared yet with what was predicted for their ticks; returns
    /// the earliest tick that differs. `now` is the last predicted tick; `held` the tick up to
    /// which the client holds every server change (then a value that did not change since is
    /// still the server's at `held`, and a prediction that moved is caught).
    fn check(&mut self, world: &mut World, now: NetTick, held: Option<NetTick>) -> Option<NetTick>;
    /// Puts every predicted entity's component back to the server's value as of `tick`, and
    /// forgets what was predicted after it.
    fn restore(&mut self, world: &mut World, tick: NetTick);
    /// Puts every predicted entity's component to the server's newest value, forgetting every
    /// prediction.
    fn snap(&mut self, world: &mut World);
    /// Records every predicted entity's value as predicted for `tick`.
    fn save(&mut self, world: &mut World, tick: NetTick);
}

/// Every predicted component type. Filled by [`NetsyncAppExt::predict`](crate::NetsyncAppExt::predict).
#[derive(Resource, Default)]
pub(crate) struct PredictionRegistry {
    pub(crate) components: Vec<Box<dyn PredictionFns>>,
}

type Records<C> = QueryState<
    (
        Entity,
        &'static mut C,
        &'static mut Confirmed<C>,
        Option<&'static mut PredictionHistory<C>>,
    ),
    With<Predicted>,
>;

type Values<C> = QueryState<
    (
        Entity,
        &'static C,
        Option<&'static mut PredictionHistory<C>>,
    ),
    With<Predicted>,
>;

/// The typed implementation.
pub(crate) struct TypedPrediction<C: Component<Mutability = Mutable>> {
    pub(crate) matches: MatchFn<C>,
    records: Option<Records<C>>,
    values: Option<Values<C>>,
}

impl<C: Component<Mutability = Mutable>> TypedPrediction<C> {
    pub(crate) fn new(matches: MatchFn<C>) -> Self {
        Self {
            matches,
            records: None,
            values: None,
        }
    }
}

impl<C: Component<Mutability = Mutable> + Clone> PredictionFns for TypedPrediction<C> {
    fn check(&mut self, world: &mut World, now: NetTick, held: Option<NetTick>) -> Option<NetTick> {
        let records = self.records.get_or_insert_with(|| world.query_filtered());
        let mut earliest: Option<NetTick> = None;
        for (_, _, mut confirmed, history) in records.iter_mut(world) {
            // The server sends a value when it changes: a prediction that moved while the
            // server's value stood still is only seen against the unchanged value.
            let unchanged = confirmed
                .newest()
                .zip(held)
                .filter(|((newest, _), held)| {
                    held.is_newer_than(*newest) && !held.is_newer_than(now)
                })
                .map(|((_, value), held)| (held, value.clone()));
            if let Some((held, value)) = unchanged {
                confirmed.push(held, value);
            }
            let unchecked = core::mem::take(&mut confirmed.unchecked);
            let start = confirmed.values.len().saturating_sub(unchecked);
            for (tick, value) in confirmed.values.iter().skip(start) {
                let differs = match history.as_ref().and_then(|history| history.at(tick)) {
                    Some(predicted) => !(self.matches)(predicted, value),
                    // Not predicted yet (the server is ahead) or a gap: realign.
                    None => {
                        !now.is_newer_than(tick)
                            || history
                                .as_ref()
                                .and_then(|history| history.oldest())
                                .is_none_or(|oldest| !oldest.is_newer_than(tick))
                    }
                };
                if differs {
                    earliest = Some(earliest.map_or(tick, |held| held.min(tick)));
                }
            }
        }
        earliest
    }

    fn restore(&mut self, world: &mut World, tick: NetTick) {
        let records = self.records.get_or_insert_with(|| world.query_filtered());
        for (_, mut value, confirmed, history) in records.iter_mut(world) {
            let Some(server) = confirmed.at(tick) else {
                continue;
            };
            *value = server.clone();
            if let Some(mut history) = history {
                history.record(tick, server.clone());
            }
        }
    }

    fn snap(&mut self, world: &mut World) {
        let records = self.records.get_or_insert_with(|| world.query_filtered());
        for (_, mut value, confirmed, history) in records.iter_mut(world) {
            if let Some((_, server)) = confirmed.newest() {
                *value = server.clone();
            }
            if let Some(mut history) = history {
                history.values.clear();
            }
        }
    }

    fn save(&mut self, world: &mut World, tick: NetTick) {
        let values = self.values.get_or_insert_with(|| world.query_filtered());
        let mut missing = Vec::new();
        for (entity, value, history) in values.iter_mut(world) {
            match history {
                Some(mut history) => history.record(tick, value.clone()),
                None => missing.push((entity, value.clone())),
            }
        }
        for (entity, value) in missing {
            let mut history = PredictionHistory::<C>::default();
            history.record(tick, value);
            world.entity_mut(entity).insert(history);
        }
    }
}
