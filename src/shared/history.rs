//! [`History`]: the recent values of one component of one entity, by the tick they were set at,
//! from which both sides pick the baselines of delta-coded values.

use std::collections::VecDeque;

use super::tick::NetTick;

/// Values by the server tick they were set at, oldest first, without duplicate ticks.
#[derive(Debug)]
pub(crate) struct History<C> {
    entries: VecDeque<(NetTick, C)>,
}

impl<C> Default for History<C> {
    fn default() -> Self {
        Self {
            entries: VecDeque::new(),
        }
    }
}

/// Most values kept per history, whatever their age (a value changing every tick over a long
/// round trip must not grow without bound).
const MAX_ENTRIES: usize = 256;

impl<C> History<C> {
    /// Adds the value set at `tick`; a tick already held is kept as is.
    pub(crate) fn insert(&mut self, tick: NetTick, value: C) {
        let position = self
            .entries
            .iter()
            .rposition(|(held, _)| !held.is_newer_than(tick));
        match position {
            Some(index) if self.entries[index].0 == tick => return,
            Some(index) => self.entries.insert(index + 1, (tick, value)),
            None => self.entries.push_front((tick, value)),
        }
        if self.entries.len() > MAX_ENTRIES {
            self.entries.pop_front();
        }
    }

    /// The value in effect at `tick`: the newest set at or before it.
    pub(crate) fn at(&self, tick: NetTick) -> Option<(NetTick, &C)> {
        self.entries
            .iter()
            .rev()
            .find(|(held, _)| !held.is_newer_than(tick))
            .map(|(held, value)| (*held, value))
    }

    /// Forgets values no baseline at or after `tick` can need: everything older than the
    /// newest value set at or before `tick`.
    pub(crate) fn prune(&mut self, tick: NetTick) {
        while self.entries.len() > 1 && !self.entries[1].0.is_newer_than(tick) {
            self.entries.pop_front();
        }
    }

    /// Whether nothing is held.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
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
