//! [`TickBuffer`]: values by tick, oldest first, at most `CAP` of them. The one buffer
//! behind every per-tick record: baselines ([`History`](super::history::History)), snapshots
//! ([`SnapshotBuffer`](super::interpolate::SnapshotBuffer)), predictions and the server's
//! values for them, and recorded inputs.

use super::tick::NetTick;

/// What [`TickBuffer::insert`] does with a value for a tick already held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SameTick {
    /// The value held stays.
    Keep,
    /// The new value replaces it.
    Replace,
}

/// Values by tick, oldest first, without duplicate ticks; past `CAP` the oldest go.
///
/// Ticks and values are kept apart: lookups read only the ticks, a few to a cache line, and
/// touch one value. With thousands of buffers spread over megabytes, the lines a lookup touches
/// are what it costs.
///
/// The entries held are the tails of two vectors, from `start` on: every lookup is a search of
/// a plain slice. Forgetting the oldest only moves `start`; the vectors drop what was forgotten
/// when it is at least a quarter of what they hold and they are full (see
/// [`Self::make_room`]), so each entry is moved a bounded number of times on average.
#[derive(Debug)]
pub(crate) struct TickBuffer<T, const CAP: usize> {
    ticks: Vec<NetTick>,
    values: Vec<T>,
    /// Entries before this are forgotten, not dropped yet.
    start: usize,
}

impl<T, const CAP: usize> Default for TickBuffer<T, CAP> {
    fn default() -> Self {
        Self {
            ticks: Vec::new(),
            values: Vec::new(),
            start: 0,
        }
    }
}

impl<T, const CAP: usize> TickBuffer<T, CAP> {
    /// The ticks held, oldest first.
    #[inline(always)]
    fn held_ticks(&self) -> &[NetTick] {
        &self.ticks[self.start..]
    }

    /// The values held, oldest first.
    #[inline(always)]
    fn held_values(&self) -> &[T] {
        &self.values[self.start..]
    }

    /// Appends an entry as the newest (its tick newer than every tick held).
    #[inline]
    fn push_newest(&mut self, tick: NetTick, value: T) {
        self.make_room();
        self.ticks.push(tick);
        self.values.push(value);
        if self.len() > CAP {
            self.forget_oldest(1);
        }
    }

    /// Before an entry is added: drops the forgotten entries when the vectors are full and
    /// they are a quarter or more of what the vectors hold (else the vectors grow).
    #[inline]
    fn make_room(&mut self) {
        if self.start > 0
            && self.ticks.len() == self.ticks.capacity()
            && self.start * 4 >= self.ticks.len()
        {
            self.drop_forgotten();
        }
    }

    /// Drops the entries forgotten (out of line: once in many additions).
    #[cold]
    #[inline(never)]
    fn drop_forgotten(&mut self) {
        self.ticks.drain(..self.start);
        self.values.drain(..self.start);
        self.start = 0;
    }

    /// Adds `value` for `tick` in tick order; a tick already held keeps or takes the value as
    /// `same` says.
    #[inline]
    pub(crate) fn insert(&mut self, tick: NetTick, value: T, same: SameTick) {
        // Mostly the newest: appended without shifting the entries after it.
        if self
            .held_ticks()
            .last()
            .is_none_or(|newest| tick.is_newer_than(*newest))
        {
            self.push_newest(tick, value);
        } else {
            self.insert_older(tick, value, same);
        }
    }

    /// [`Self::insert`] of a value no newer than the newest held (out of line: rare).
    #[inline(never)]
    fn insert_older(&mut self, tick: NetTick, value: T, same: SameTick) {
        let at = match self.newest_at(tick) {
            Some(index) if self.held_ticks()[index] == tick => {
                if same == SameTick::Replace {
                    self.values[self.start + index] = value;
                }
                return;
            }
            Some(index) => index + 1,
            None => 0,
        };
        self.make_room();
        self.ticks.insert(self.start + at, tick);
        self.values.insert(self.start + at, value);
        self.keep_within_capacity();
    }

    /// Adds `value` for `tick` as the newest, after forgetting every value at `tick` or later
    /// (a prediction made again replaces the ones after it).
    pub(crate) fn push_replacing_newer(&mut self, tick: NetTick, value: T) {
        while self.ticks.len() > self.start
            && self
                .ticks
                .last()
                .is_some_and(|held| !tick.is_newer_than(*held))
        {
            self.ticks.pop();
            self.values.pop();
        }
        self.push_newest(tick, value);
    }

    /// Adds `value` for `tick` if it is newer than every tick held; returns whether it was.
    pub(crate) fn push_if_newest(&mut self, tick: NetTick, value: T) -> bool {
        if self
            .held_ticks()
            .last()
            .is_some_and(|held| !tick.is_newer_than(*held))
        {
            return false;
        }
        self.push_newest(tick, value);
        true
    }

    /// Asks the processor to fetch the newest `count` values while the ticks are searched: in
    /// a cold buffer the tick scan and the value read are two cache misses, one after the
    /// other; fetched together they overlap. Only a hint: nothing is read.
    #[inline]
    pub(crate) fn prefetch_newest(&self, count: usize) {
        for value in self.held_values().iter().rev().take(count) {
            prefetch(value);
        }
    }

    /// Asks the processor to fetch what a lookup reads first, the newest ticks and the newest
    /// `count` values, ahead of the lookup (for a buffer that will be read soon).
    #[inline]
    pub(crate) fn prefetch_for_lookup(&self, count: usize) {
        if let Some(newest) = self.held_ticks().last() {
            prefetch(newest);
        }
        self.prefetch_newest(count);
    }

    /// The value in effect at `tick`, with its tick: the newest held at or before it.
    pub(crate) fn at_or_before(&self, tick: NetTick) -> Option<(NetTick, &T)> {
        self.newest_at(tick)
            .map(|index| (self.held_ticks()[index], &self.held_values()[index]))
    }

    /// The value in effect at `tick` (as [`Self::at_or_before`]), with the one in effect at
    /// `earlier` when that is an older entry: both found in one backward scan.
    #[allow(clippy::type_complexity)]
    #[inline]
    pub(crate) fn at_or_before_with_older(
        &self,
        tick: NetTick,
        earlier: Option<NetTick>,
    ) -> Option<((NetTick, &T), Option<(NetTick, &T)>)> {
        let (ticks, values) = (self.held_ticks(), self.held_values());
        let index = newest_at(ticks, tick)?;
        let found = ticks[index];
        let older = earlier
            .filter(|earlier| found.is_newer_than(*earlier))
            .and_then(|earlier| {
                // Mostly the entry just before (a value set every tick, acknowledged every
                // tick): looked at first, without the range's search.
                let below = index.checked_sub(1)?;
                if !ticks[below].is_newer_than(earlier) {
                    return Some(below);
                }
                newest_at(&ticks[..below], earlier)
            })
            .map(|older| (ticks[older], &values[older]));
        Some(((found, &values[index]), older))
    }

    /// The value held for exactly `tick`.
    pub(crate) fn get(&self, tick: NetTick) -> Option<&T> {
        self.held_ticks()
            .iter()
            .rposition(|held| *held == tick)
            .map(|index| &self.held_values()[index])
    }

    /// The newest value and its tick.
    pub(crate) fn newest(&self) -> Option<(NetTick, &T)> {
        Some((*self.held_ticks().last()?, self.held_values().last()?))
    }

    /// The oldest tick held.
    pub(crate) fn oldest_tick(&self) -> Option<NetTick> {
        self.held_ticks().first().copied()
    }

    /// The entry at `index`, oldest first.
    pub(crate) fn entry(&self, index: usize) -> Option<(NetTick, &T)> {
        Some((
            *self.held_ticks().get(index)?,
            self.held_values().get(index)?,
        ))
    }

    /// Every entry, oldest first.
    pub(crate) fn iter(
        &self,
    ) -> impl DoubleEndedIterator<Item = (NetTick, &T)> + ExactSizeIterator + '_ {
        self.held_ticks()
            .iter()
            .copied()
            .zip(self.held_values().iter())
    }

    /// Every value, oldest first, to change in place.
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut T> + '_ {
        self.values[self.start..].iter_mut()
    }

    /// The ticks held, oldest first.
    pub(crate) fn ticks(&self) -> impl DoubleEndedIterator<Item = NetTick> + '_ {
        self.held_ticks().iter().copied()
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.ticks.len() - self.start
    }

    /// Whether nothing is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets everything.
    pub(crate) fn clear(&mut self) {
        self.ticks.clear();
        self.values.clear();
        self.start = 0;
    }

    /// Forgets the `count` oldest entries. Their values are dropped later, with the next
    /// [`Self::make_room`] that drops anything, or now when nothing is left.
    pub(crate) fn forget_oldest(&mut self, count: usize) {
        self.start += count.min(self.len());
        if self.start == self.ticks.len() {
            self.clear();
        }
    }

    /// Index (among the entries held) of the newest entry at or before `tick`.
    #[inline]
    fn newest_at(&self, tick: NetTick) -> Option<usize> {
        newest_at(self.held_ticks(), tick)
    }

    fn keep_within_capacity(&mut self) {
        self.forget_oldest(self.len().saturating_sub(CAP));
    }
}

/// Index of the newest of `ticks` (oldest first) at or before `tick`.
#[inline(always)]
fn newest_at(ticks: &[NetTick], tick: NetTick) -> Option<usize> {
    ticks.iter().rposition(|held| !held.is_newer_than(tick))
}

/// A hint to fetch the cache line holding `value`; nothing is read.
#[inline(always)]
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing and cannot fault, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
            core::ptr::from_ref(value).cast::<i8>(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_tick_order_and_capacity_whatever_the_arrival_order() {
        let mut buffer = TickBuffer::<u32, 3>::default();
        for tick in [10, 14, 12, 14] {
            buffer.insert(NetTick(tick), tick, SameTick::Keep);
        }
        buffer.insert(NetTick(12), 99, SameTick::Replace);
        assert_eq!(
            buffer.iter().map(|(t, v)| (t.0, *v)).collect::<Vec<_>>(),
            [(10, 10), (12, 99), (14, 14)]
        );
        buffer.insert(NetTick(13), 13, SameTick::Keep);
        assert_eq!(buffer.oldest_tick(), Some(NetTick(12)), "the oldest went");
        assert_eq!(buffer.at_or_before(NetTick(11)), None);
        assert_eq!(buffer.at_or_before(NetTick(20)), Some((NetTick(14), &14)));
        assert_eq!(buffer.get(NetTick(13)), Some(&13));
        assert_eq!(buffer.get(NetTick(11)), None);
    }

    #[test]
    fn finds_a_value_and_an_older_one_as_two_lookups_would() {
        let mut buffer = TickBuffer::<u32, 8>::default();
        for tick in [10, 12, 14, 20] {
            buffer.insert(NetTick(tick), tick, SameTick::Keep);
        }
        let pair = |tick: u32, earlier: Option<u32>| {
            buffer
                .at_or_before_with_older(NetTick(tick), earlier.map(NetTick))
                .map(|(found, older)| (found.0.0, older.map(|(tick, _)| tick.0)))
        };
        let by_two_lookups = |tick: u32, earlier: Option<u32>| {
            let (found, _) = buffer.at_or_before(NetTick(tick))?;
            let older = earlier
                .and_then(|earlier| buffer.at_or_before(NetTick(earlier)))
                .filter(|(older, _)| found.is_newer_than(*older))
                .map(|(older, _)| older.0);
            Some((found.0, older))
        };
        for tick in 8..24 {
            for earlier in [
                None,
                Some(5),
                Some(10),
                Some(11),
                Some(13),
                Some(14),
                Some(21),
            ] {
                assert_eq!(
                    pair(tick, earlier),
                    by_two_lookups(tick, earlier),
                    "{tick} {earlier:?}"
                );
            }
        }
    }

    /// Lookups agree with a plain list while the ring wraps around its storage (values forgotten
    /// at the front, new ones appended past the end).
    #[test]
    fn lookups_agree_with_a_list_while_the_ring_wraps() {
        let mut buffer = TickBuffer::<u32, 6>::default();
        let mut list: Vec<u32> = Vec::new();
        for tick in (3..120).step_by(3) {
            buffer.insert(NetTick(tick), tick, SameTick::Keep);
            list.push(tick);
            if list.len() > 6 {
                list.remove(0);
            }
            if tick % 9 == 0 {
                buffer.forget_oldest(1);
                list.remove(0);
            }
            let newest_at = |tick: u32, end: usize| list[..end].iter().rposition(|&t| t <= tick);
            for query in tick.saturating_sub(25)..tick + 2 {
                let expected = newest_at(query, list.len()).map(|i| list[i]);
                assert_eq!(
                    buffer.at_or_before(NetTick(query)).map(|(t, v)| (t.0, *v)),
                    expected.map(|t| (t, t)),
                    "{tick} {query}"
                );
                for earlier in query.saturating_sub(12)..=query {
                    let found = newest_at(query, list.len());
                    // An older entry only when the one found is newer than `earlier`.
                    let older = found
                        .filter(|&found| list[found] > earlier)
                        .and_then(|found| newest_at(earlier, found))
                        .map(|i| list[i]);
                    assert_eq!(
                        buffer
                            .at_or_before_with_older(NetTick(query), Some(NetTick(earlier)))
                            .map(|(found, older)| (found.0.0, older.map(|(t, _)| t.0))),
                        found.map(|i| (list[i], older)),
                        "{tick} {query} {earlier}"
                    );
                }
            }
        }
    }

    /// A full buffer forgetting its oldest at every push (a value changing every tick that no
    /// one prunes) keeps its vectors within a few times its capacity, and drops every value it
    /// was given exactly once: the forgotten ones in bulk, the rest with the buffer.
    #[test]
    fn forgotten_values_are_dropped_once_and_the_vectors_stay_bounded() {
        use std::rc::Rc;
        let token = Rc::new(());
        let mut buffer = TickBuffer::<Rc<()>, 16>::default();
        for tick in 0..10_000u32 {
            buffer.insert(NetTick(tick), Rc::clone(&token), SameTick::Keep);
            if tick % 7 == 0 {
                buffer.forget_oldest(3);
            }
            assert!(buffer.len() <= 16);
            assert!(
                buffer.ticks.capacity() <= 64 && buffer.values.capacity() <= 64,
                "{} {}",
                buffer.ticks.capacity(),
                buffer.values.capacity()
            );
            // Forgotten values wait at most as long as the vectors' room allows.
            assert!(Rc::strong_count(&token) <= 1 + buffer.values.capacity());
        }
        assert_eq!(buffer.oldest_tick(), Some(NetTick(10_000 - 16)));
        assert_eq!(buffer.newest().map(|(tick, _)| tick), Some(NetTick(9_999)));
        drop(buffer);
        assert_eq!(Rc::strong_count(&token), 1, "every value dropped");
        // Forgetting everything drops everything at once.
        let mut buffer = TickBuffer::<Rc<()>, 16>::default();
        for tick in 0..10 {
            buffer.insert(NetTick(tick), Rc::clone(&token), SameTick::Keep);
        }
        buffer.forget_oldest(4);
        assert_eq!(buffer.len(), 6);
        buffer.forget_oldest(usize::MAX);
        assert!(buffer.is_empty());
        assert_eq!(Rc::strong_count(&token), 1);
    }

    #[test]
    fn pushes_at_the_newest_end() {
        let mut buffer = TickBuffer::<u32, 8>::default();
        assert!(buffer.push_if_newest(NetTick(5), 5));
        assert!(
            !buffer.push_if_newest(NetTick(5), 6),
            "a tick keeps its first value"
        );
        assert!(buffer.push_if_newest(NetTick(7), 7));
        buffer.push_replacing_newer(NetTick(6), 60);
        assert_eq!(
            buffer.iter().map(|(t, v)| (t.0, *v)).collect::<Vec<_>>(),
            [(5, 5), (6, 60)]
        );
        // Across the wrap.
        let mut buffer = TickBuffer::<u32, 8>::default();
        buffer.push_if_newest(NetTick(u32::MAX), 1);
        buffer.push_if_newest(NetTick(1), 2);
        assert_eq!(
            buffer.at_or_before(NetTick(0)),
            Some((NetTick(u32::MAX), &1))
        );
        assert_eq!(buffer.newest(), Some((NetTick(1), &2)));
    }
}
