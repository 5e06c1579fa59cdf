//! The client's slot → server entity table.
//!
//! A state frame names each entity it updates by its slot, the server's dense index for it,
//! in increasing order. Reading a frame looks every slot up, so the table is an array indexed
//! by slot where that costs little memory, and a hash map beyond: a server names slots from
//! one table for all its clients, so a client that sees few entities may hold them in high
//! slots, and a hostile server naming slot 2^24 − 1 must not make the client allocate 2^24
//! entries.

use bevy::{platform::collections::HashMap, prelude::*};

/// Slots below this are always held in the array.
const MIN_DENSE_SLOTS: usize = 4_096;

/// The array's first length, at the least (it then doubles).
const MIN_GROWTH: usize = 64;

/// The array grows to at most this many slots per slot held, so its memory stays within a
/// small multiple of what the client holds whatever slots a server names.
const DENSE_SLOTS_PER_HELD: usize = 4;

/// Slot → `T`: an array for low slots, a hash map for the rest. Holds the server entity of
/// each slot ([`Replicas`](super::replicas::Replicas)) and each delta-coded type's values
/// received ([`TypedDecoder`](super::component_receivers)).
pub(crate) struct SlotTable<T> {
    dense: Vec<Option<T>>,
    sparse: HashMap<u32, T>,
    /// Slots held in `dense`.
    dense_held: usize,
}

impl<T> Default for SlotTable<T> {
    fn default() -> Self {
        Self {
            dense: Vec::new(),
            sparse: HashMap::default(),
            dense_held: 0,
        }
    }
}

impl<T> SlotTable<T> {
    /// What `slot` holds.
    #[inline]
    pub(crate) fn get(&self, slot: u32) -> Option<&T> {
        match self.dense.get(slot as usize) {
            Some(held) => held.as_ref(),
            None => self.sparse.get(&slot),
        }
    }

    /// What `slot` holds, to change.
    #[inline]
    pub(crate) fn get_mut(&mut self, slot: u32) -> Option<&mut T> {
        match self.dense.get_mut(slot as usize) {
            Some(held) => held.as_mut(),
            None => self.sparse.get_mut(&slot),
        }
    }

    /// Puts `value` in `slot`, replacing what it held; returns it in place.
    pub(crate) fn insert(&mut self, slot: u32, value: T) -> &mut T {
        let at = slot as usize;
        if at >= self.dense.len() {
            let held = self.dense_held + self.sparse.len() + 1;
            let limit = MIN_DENSE_SLOTS.max(held * DENSE_SLOTS_PER_HELD);
            // The array grows at least twofold, so that the hash map's slots are moved over
            // a few times in all, not at every slot named just past the end.
            let len = (at + 1).max(self.dense.len() * 2).max(MIN_GROWTH);
            if len > limit {
                return match self.sparse.entry(slot) {
                    bevy::platform::collections::hash_map::Entry::Occupied(mut entry) => {
                        entry.insert(value);
                        entry.into_mut()
                    }
                    bevy::platform::collections::hash_map::Entry::Vacant(entry) => {
                        entry.insert(value)
                    }
                };
            }
            self.grow(len);
        }
        let held = &mut self.dense[at];
        self.dense_held += usize::from(held.is_none());
        held.insert(value)
    }

    /// What `slot` holds, put there first (`T::default()`) if it held nothing.
    pub(crate) fn get_or_insert_default(&mut self, slot: u32) -> &mut T
    where
        T: Default,
    {
        if self.get(slot).is_none() {
            return self.insert(slot, T::default());
        }
        self.get_mut(slot).expect("held, checked just above")
    }

    /// Empties `slot`; returns what it held.
    pub(crate) fn remove(&mut self, slot: u32) -> Option<T> {
        match self.dense.get_mut(slot as usize) {
            Some(held) => {
                let value = held.take();
                self.dense_held -= usize::from(value.is_some());
                value
            }
            None => self.sparse.remove(&slot),
        }
    }

    /// Empties every slot (keeping the array's memory for the next connection).
    pub(crate) fn clear(&mut self) {
        self.dense.iter_mut().for_each(|held| *held = None);
        self.sparse.clear();
        self.dense_held = 0;
    }

    /// Makes the array `len` slots long and moves the hash map's slots below it there.
    fn grow(&mut self, len: usize) {
        self.dense.resize_with(len, || None);
        let moved: Vec<u32> = self
            .sparse
            .keys()
            .filter(|slot| (**slot as usize) < len)
            .copied()
            .collect();
        for slot in moved {
            let value = self.sparse.remove(&slot);
            self.dense[slot as usize] = value;
            self.dense_held += 1;
        }
    }

    /// Heap bytes held (not counting what the values own).
    #[cfg(any(test, feature = "test_utils"))]
    pub(crate) fn heap_bytes(&self) -> usize {
        use core::mem::size_of;
        self.dense.capacity() * size_of::<Option<T>>()
            + self.sparse.capacity() * size_of::<(u32, T)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SplitMix64;

    fn entity(n: u32) -> Entity {
        Entity::from_raw_u32(n).unwrap()
    }

    #[test]
    fn agrees_with_a_map_whatever_the_slots() {
        let mut rng = SplitMix64::new(9);
        let mut table = SlotTable::<Entity>::default();
        let mut model = std::collections::HashMap::new();
        for step in 0..20_000u32 {
            // Mostly low slots, some anywhere up to 2^24.
            let slot = match rng.next_u64() % 8 {
                0 => (rng.next_u64() % (1 << 24)) as u32,
                _ => (rng.next_u64() % 20_000) as u32,
            };
            if rng.next_u64().is_multiple_of(3) {
                assert_eq!(table.remove(slot), model.remove(&slot), "slot {slot}");
            } else {
                table.insert(slot, entity(step + 1));
                model.insert(slot, entity(step + 1));
            }
        }
        for (&slot, held) in &model {
            assert_eq!(table.get(slot), Some(held), "slot {slot}");
        }
        for slot in (0..30_000).chain([1 << 23, (1 << 24) - 1]) {
            assert_eq!(table.get(slot), model.get(&slot), "slot {slot}");
        }
        let held = table.dense_held + table.sparse.len();
        assert_eq!(held, model.len());
    }

    #[test]
    fn a_missing_value_starts_from_its_default() {
        let mut table = SlotTable::<Vec<u32>>::default();
        table.get_or_insert_default(9).push(1);
        table.get_or_insert_default(9).push(2);
        table.get_or_insert_default(1 << 20).push(3);
        assert_eq!(table.get(9), Some(&vec![1, 2]));
        assert_eq!(table.get(1 << 20), Some(&vec![3]));
    }

    #[test]
    fn slots_named_just_past_the_end_grow_the_array_twofold() {
        let mut table = SlotTable::<Entity>::default();
        for slot in 0..2_000 {
            table.insert((1 << 23) + slot, entity(slot + 1));
        }
        let mut lengths = Vec::new();
        for slot in 0..20_000 {
            table.insert(slot, entity(slot + 1));
            if lengths.last() != Some(&table.dense.len()) {
                lengths.push(table.dense.len());
            }
        }
        // Each growth at least doubles: a dozen or so moves of the hash map's slots, not
        // one per slot.
        assert!(lengths.len() < 20, "{lengths:?}");
        assert!(lengths.windows(2).all(|pair| pair[1] >= 2 * pair[0]));
        assert_eq!(table.get(19_999), Some(&entity(20_000)));
        assert_eq!(table.get((1 << 23) + 5), Some(&entity(6)));
    }

    #[test]
    fn high_slots_cost_an_entry_not_an_array() {
        let mut table = SlotTable::<Entity>::default();
        table.insert((1 << 24) - 1, entity(1));
        table.insert(1 << 20, entity(2));
        assert!(table.dense.len() <= MIN_DENSE_SLOTS);
        assert!(table.heap_bytes() < 64 << 10, "{}", table.heap_bytes());
        assert_eq!(table.get((1 << 24) - 1), Some(&entity(1)));
    }

    #[test]
    fn low_slots_move_to_the_array_as_it_grows() {
        let mut table = SlotTable::<Entity>::default();
        table.insert(5_000, entity(7));
        assert_eq!(table.sparse.len(), 1);
        for slot in 0..2_000 {
            table.insert(slot, entity(slot + 10));
        }
        // The next slot beyond the array grows it (2,002 held allow 8,008 slots).
        table.insert(6_000, entity(9));
        assert!(table.dense.len() > 6_000);
        assert!(table.sparse.is_empty());
        assert_eq!(table.get(5_000), Some(&entity(7)));
        assert_eq!(table.remove(5_000), Some(entity(7)));
        assert_eq!(table.get(5_000), None);
        table.insert(5_000, entity(3));
        assert_eq!(table.get(5_000), Some(&entity(3)));
        table.clear();
        assert_eq!((table.get(5_000), table.get(1)), (None, None));
    }
}
