//! [`History`]: the recent values of one component of one entity, by the tick they were set at,
//! from which both sides pick the baselines of delta-coded values.

use super::{
    codec::Baseline,
    tick::NetTick,
    tick_buffer::{SameTick, TickBuffer},
};

/// Ticks between two prunings of a history: its oldest entries are looked at once in this
/// many ticks, not at every insertion, and stay up to this much longer. Few: a history's
/// ring buffer grows to what it holds between prunings, and every new value lands on the next
/// of its cache lines, cold when the ring is large (16, with the client's 16 ticks of
/// reordering, made the crowd bench's client 40% slower than 4 with 8).
const PRUNE_EVERY_TICKS: u32 = 4;

/// Values [`History::baseline`] asks to be fetched ahead of its search: the newest, where
/// the baselines a steady client names mostly are.
const BASELINE_PREFETCH: usize = 4;

/// Values [`History::prefetch`] asks for ahead of a lookup: the two newest, where the
/// baselines of an entity updated every tick are. Fewer than a lookup's own, so that fetches
/// ahead do not crowd out the misses being waited for.
const NEXT_PREFETCH: usize = 2;

/// Most values kept per history, whatever their age (a value changing every tick over a long
/// round trip must not grow without bound).
const MAX_ENTRIES: usize = 256;

/// Values by the server tick they were set at, oldest first, without duplicate ticks.
#[derive(Debug)]
pub(crate) struct History<C> {
    values: TickBuffer<C, MAX_ENTRIES>,
    /// Pruning waits until this tick (see [`History::prune`]).
    next_prune: Option<NetTick>,
    /// The oldest baseline the sender still names (see [`History::raise_floor`]).
    floor: Option<NetTick>,
    /// The newest tick pruned to: lookups before it are not answered (see [`History::prune`]).
    horizon: Option<NetTick>,
}

impl<C> Default for History<C> {
    fn default() -> Self {
        Self {
            values: TickBuffer::default(),
            next_prune: None,
            floor: None,
            horizon: None,
        }
    }
}

impl<C> History<C> {
    /// Adds the value set at `tick`; a tick already held is kept as is.
    pub(crate) fn insert(&mut self, tick: NetTick, value: C) {
        self.values.insert(tick, value, SameTick::Keep);
    }

    /// The value in effect at `tick`: the newest set at or before it (what the tests look up;
    /// [`Self::baseline`] finds its two in one scan).
    #[cfg(test)]
    pub(crate) fn at(&self, tick: NetTick) -> Option<(NetTick, &C)> {
        self.values.at_or_before(tick)
    }

    /// The baseline in effect at `base`, with the distinct one before it at `previous`: what a
    /// delta is written against on the server and read against on the client. `None` when
    /// either tick is older than what pruning kept (the answer could differ from the server's).
    pub(crate) fn baseline(
        &self,
        base: NetTick,
        previous: Option<NetTick>,
    ) -> Option<Baseline<'_, C>> {
        if let Some(horizon) = self.horizon {
            let oldest = previous.map_or(base, |previous| previous.min(base));
            if horizon.is_newer_than(oldest) {
                return None;
            }
        }
        // The baselines named are mostly among the newest few values.
        self.values.prefetch_newest(BASELINE_PREFETCH);
        let ((tick, value), previous) = self.values.at_or_before_with_older(base, previous)?;
        let previous = previous.map(|(older, value)| (value, older));
        Some(Baseline {
            value,
            tick,
            previous,
        })
    }

    /// Asks the processor to fetch what [`Self::baseline`] reads first, ahead of it (for a
    /// history that will be read soon). Only a hint.
    pub(crate) fn prefetch(&self) {
        self.values.prefetch_for_lookup(NEXT_PREFETCH);
    }

    /// Notes that a delta named `tick` as its oldest baseline. The server's baselines for an
    /// entity only move forward (they are what the client acknowledged last), so only frames
    /// sent before this one can name older ones.
    pub(crate) fn raise_floor(&mut self, tick: NetTick) {
        if self.floor.is_none_or(|floor| tick.is_newer_than(floor)) {
            self.floor = Some(tick);
        }
    }

    /// The oldest baseline named so far by the newest deltas ([`Self::raise_floor`]).
    pub(crate) fn floor(&self) -> Option<NetTick> {
        self.floor
    }

    /// The newest value held, with its tick.
    pub(crate) fn newest(&self) -> Option<(NetTick, &C)> {
        self.values.newest()
    }

    /// Forgets values no baseline at or after `tick` can need: everything older than the
    /// newest value set at or before `tick`. Done at most once every [`PRUNE_EVERY_TICKS`]
    /// (a later call in between does nothing), so a forgettable value may stay that much
    /// longer; what [`Self::at`] finds for ticks at or after `tick` is the same either way.
    #[inline]
    pub(crate) fn prune(&mut self, tick: NetTick) {
        if self.next_prune.is_some_and(|next| next.is_newer_than(tick)) {
            return;
        }
        self.prune_now(tick);
    }

    /// [`Self::prune`]'s work, when it is due (out of line: most calls only check the tick).
    #[inline(never)]
    fn prune_now(&mut self, tick: NetTick) {
        self.next_prune = Some(tick.add(PRUNE_EVERY_TICKS));
        let unreachable = self
            .values
            .ticks()
            .skip(1)
            .take_while(|held| !held.is_newer_than(tick))
            .count();
        if unreachable > 0 {
            self.values.forget_oldest(unreachable);
            if self
                .horizon
                .is_none_or(|horizon| tick.is_newer_than(horizon))
            {
                self.horizon = Some(tick);
            }
        }
    }

    /// Whether nothing is held.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.values.is_empty()
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
    fn baselines_before_what_pruning_kept_are_not_answered() {
        let mut history = History::default();
        for tick in [0, 5, 10, 15, 20, 25] {
            history.insert(NetTick(tick), tick);
        }
        history.prune(NetTick(12));
        // In effect at 12 and after: the same as before pruning.
        let found = history.baseline(NetTick(22), Some(NetTick(12))).unwrap();
        assert_eq!((found.tick, *found.value), (NetTick(20), 20));
        assert_eq!(
            found.previous.map(|(value, tick)| (*value, tick)),
            Some((10, NetTick(10)))
        );
        // Before 12 the history cannot tell what was in effect: no answer rather than a
        // different one (at 11 the value of 10 is still held, but nothing says so).
        assert!(history.baseline(NetTick(22), Some(NetTick(11))).is_none());
        assert!(history.baseline(NetTick(11), None).is_none());
        // Pruning that forgets nothing moves nothing.
        let mut whole = History::default();
        whole.insert(NetTick(30), 30);
        whole.prune(NetTick(40));
        assert!(
            whole
                .baseline(NetTick(35), Some(NetTick(20)))
                .is_some_and(|b| b.previous.is_none())
        );
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
