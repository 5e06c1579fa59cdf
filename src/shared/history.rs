//! [`History`]: the recent values of one component of one entity, by the tick they were set at,
//! from which both sides pick the baselines of delta-coded values.

use std::collections::VecDeque;

use super::tick::NetTick;

/// Values by the server tick they were set at, oldest first, without duplicate ticks.
///
/// Ticks and values are kept apart: lookups and pruning read only the ticks, a few to a cache
/// line, and touch one value. With histories of a thousand moving entities spread over
/// megabytes, the lines a send touches are what it costs.
#[derive(Debug)]
pub(crate) struct History<C> {
    ticks: VecDeque<NetTick>,
    values: VecDeque<C>,
    /// Pruning waits until this tick (see [`History::prune`]).
    next_prune: Option<NetTick>,
}

impl<C> Default for History<C> {
    fn default() -> Self {
        Self {
            ticks: VecDeque::new(),
            values: VecDeque::new(),
            next_prune: None,
        }
    }
}

/// Ticks between two prunings of a history: its oldest entries are looked at once in this
/// many ticks, not at every insertion, and stay up to this much longer.
const PRUNE_EVERY_TICKS: u32 = 16;

/// Most values kept per history, whatever their age (a value changing every tick over a long
/// round trip must not grow without bound).
const MAX_ENTRIES: usize = 256;

impl<C> History<C> {
    /// Adds the value set at `tick`; a tick already held is kept as is.
    pub(crate) fn insert(&mut self, tick: NetTick, value: C) {
        match self.newest_at(tick) {
            Some(index) if self.ticks[index] == tick => return,
            Some(index) => {
                self.ticks.insert(index + 1, tick);
                self.values.insert(index + 1, value);
            }
            None => {
                self.ticks.push_front(tick);
                self.values.push_front(value);
            }
        }
        if self.ticks.len() > MAX_ENTRIES {
            self.forget_oldest(1);
        }
    }

    /// The value in effect at `tick`: the newest set at or before it.
    pub(crate) fn at(&self, tick: NetTick) -> Option<(NetTick, &C)> {
        self.newest_at(tick)
            .map(|index| (self.ticks[index], &self.values[index]))
    }

    /// Forgets values no baseline at or after `tick` can need: everything older than the
    /// newest value set at or before `tick`. Done at most once every [`PRUNE_EVERY_TICKS`]
    /// (a later call in between does nothing), so a forgettable value may stay that much
    /// longer; what [`Self::at`] finds for ticks at or after `tick` is the same either way.
    pub(crate) fn prune(&mut self, tick: NetTick) {
        if self.next_prune.is_some_and(|next| next.is_newer_than(tick)) {
            return;
        }
        self.next_prune = Some(tick.add(PRUNE_EVERY_TICKS));
        let unreachable = self
            .ticks
            .iter()
            .skip(1)
            .take_while(|held| !held.is_newer_than(tick))
            .count();
        self.forget_oldest(unreachable);
    }

    /// Whether nothing is held.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.ticks.is_empty()
    }

    /// Index of the newest entry set at or before `tick`.
    fn newest_at(&self, tick: NetTick) -> Option<usize> {
        self.ticks
            .iter()
            .rposition(|held| !held.is_newer_than(tick))
    }

    /// Drops the `count` oldest entries (without reading values that need no drop).
    fn forget_oldest(&mut self, count: usize) {
        if count > 0 {
            self.ticks.drain(..count);
            self.values.drain(..count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_value_in_effect_and_prunes_only_what_is_unreachable() {
        let mut history = History::default();
        for tick in [10, 14, 12, 14, 20] {
            history.insert(NetTick(tick), tick);
        }
        assert_eq!(history.at(NetTick(9)), None);
        assert_eq!(history.at(NetTick(13)), Some((NetTick(12), &12)));
        assert_eq!(history.at(NetTick(14)), Some((NetTick(14), &14)));
        assert_eq!(history.at(NetTick(99)), Some((NetTick(20), &20)));
        history.prune(NetTick(15));
        assert_eq!(history.at(NetTick(15)), Some((NetTick(14), &14)));
        assert_eq!(history.at(NetTick(13)), None, "older than needed");
        history.prune(NetTick(u32::MAX / 2));
        assert_eq!(history.at(NetTick(20)), Some((NetTick(20), &20)));
        assert!(!history.is_empty());
    }

    #[test]
    fn pruning_waits_between_rounds_and_never_changes_what_later_ticks_find() {
        let mut history = History::default();
        for tick in 0..40 {
            history.insert(NetTick(tick), tick);
        }
        history.prune(NetTick(10));
        assert_eq!(history.at(NetTick(9)), None);
        // Within the pause nothing more is forgotten; lookups at or after the tick agree.
        history.prune(NetTick(10 + PRUNE_EVERY_TICKS - 1));
        assert_eq!(history.at(NetTick(10)), Some((NetTick(10), &10)));
        assert_eq!(history.at(NetTick(30)), Some((NetTick(30), &30)));
        history.prune(NetTick(10 + PRUNE_EVERY_TICKS));
        assert_eq!(history.at(NetTick(10 + PRUNE_EVERY_TICKS - 1)), None);
        assert_eq!(history.at(NetTick(39)), Some((NetTick(39), &39)));
    }

    #[test]
    fn works_across_the_tick_wrap() {
        let mut history = History::default();
        let start = NetTick(u32::MAX - 2);
        for step in 0..6 {
            history.insert(start.add(step), step);
        }
        assert_eq!(history.at(NetTick(1)), Some((NetTick(1), &4)));
        history.prune(NetTick(0));
        assert_eq!(history.at(NetTick(u32::MAX)), None);
        assert_eq!(history.at(NetTick(0)), Some((NetTick(0), &3)));
    }
}
