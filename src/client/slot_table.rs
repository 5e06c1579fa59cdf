//! The client's slot → server entity table.
//!
//! A state frame names each entity it updates by its slot, the server's dense index for it,
//! in increasing order. Reading a frame looks every slot up, so the table is an array indexed
//! by slot where that costs little memory, and a hash map beyond: a server names slots from
//! one table for all its clients, so a client that sees few entities may hold them in high
//! slots, and a hostile server naming slot 2^24 − 1 must not make the client allocate 2^24
//! entries.

use bevy::{platform::collections::HashMap, prelude::*};

/// Slots below this are always held in the array (32 KiB of it at most).
const MIN_DENSE_SLOTS: usize = 4_096;

/// The array grows to at most this many slots per slot held, so its memory stays within a
/// small multiple of what the client holds whatever slots a server names.
const DENSE_SLOTS_PER_HELD: usize = 4;

/// Slot → server entity: an array for low slots, a hash map for the rest.
#[derive(Default)]
pub(crate) struct SlotTable {
    dense: Vec<Option<Entity>>,
    sparse: HashMap<u32, Entity>,
    /// Slots held in `dense`.
    dense_held: usize,
}

impl SlotTable {
    /// The server entity in `slot`.
    #[inline]
    pub(crate) fn get(&self, slot: u32) -> Option<Entity> {
        match self.dense.get(slot as usize) {
            Some(entity) => *entity,
            None => self.sparse.get(&slot).copied(),
        }
    }

    /// Puts `entity` in `slot`, replacing what it held.
    pub(crate) fn insert(&mut self, slot: u32, entity: Entity) {
        let at = slot as usize;
        if at >= self.dense.len() {
            let held = self.dense_held + self.sparse.len() + 1;
            let limit = MIN_DENSE_SLOTS.max(held * DENSE_SLOTS_PER_HELD);
            if at >= limit {
                self.sparse.insert(slot, entity);
                return;
            }
            self.grow(limit.min((at + 1).max(self.dense.len() * 2)));
        }
        let held = &mut self.dense[at];
        self.dense_held += usize::from(held.is_none());
        *held = Some(entity);
    }

    /// Empties `slot` if it holds `entity`.
    pub(crate) fn remove_if(&mut self, slot: u32, entity: Entity) {
        match self.dense.get_mut(slot as usize) {
            Some(held) => {
                if *held == Some(entity) {
                    *held = None;
                    self.dense_held -= 1;
                }
            }
            None => {
                if self.sparse.get(&slot) == Some(&entity) {
                    self.sparse.remove(&slot);
                }
            }
        }
    }

    /// Makes the array `len` slots long and moves the hash map's slots below it there.
    fn grow(&mut self, len: usize) {
        self.dense.resize(len, None);
        let moved: Vec<(u32, Entity)> = self
            .sparse
            .iter()
            .filter(|(slot, _)| (**slot as usize) < len)
            .map(|(slot, entity)| (*slot, *entity))
            .collect();
        for (slot, entity) in moved {
            self.sparse.remove(&slot);
            self.dense[slot as usize] = Some(entity);
            self.dense_held += 1;
        }
    }

    /// Heap bytes held.
    #[cfg(any(test, feature = "test_utils"))]
    pub(crate) fn heap_bytes(&self) -> usize {
        use core::mem::size_of;
        self.dense.capacity() * size_of::<Option<Entity>>()
            + self.sparse.capacity() * size_of::<(u32, Entity)>()
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
        let mut table = SlotTable::default();
        let mut model = std::collections::HashMap::new();
        for step in 0..20_000u32 {
            // Mostly low slots, some anywhere up to 2^24.
            let slot = match rng.next_u64() % 8 {
                0 => (rng.next_u64() % (1 << 24)) as u32,
                _ => (rng.next_u64() % 20_000) as u32,
            };
            if rng.next_u64() % 3 == 0 {
                let held = model.get(&slot).copied().unwrap_or(entity(1));
                table.remove_if(slot, held);
                if model.get(&slot) == Some(&held) {
                    model.remove(&slot);
                }
            } else {
                table.insert(slot, entity(step + 1));
                model.insert(slot, entity(step + 1));
            }
        }
        for (&slot, &held) in &model {
            assert_eq!(table.get(slot), Some(held), "slot {slot}");
        }
        for slot in (0..30_000).chain([1 << 23, (1 << 24) - 1]) {
            assert_eq!(table.get(slot), model.get(&slot).copied(), "slot {slot}");
        }
        let held = table.dense_held + table.sparse.len();
        assert_eq!(held, model.len());
    }

    #[test]
    fn high_slots_cost_an_entry_not_an_array() {
        let mut table = SlotTable::default();
        table.insert((1 << 24) - 1, entity(1));
        table.insert(1 << 20, entity(2));
        assert!(table.dense.len() <= MIN_DENSE_SLOTS);
        assert!(table.heap_bytes() < 64 << 10, "{}", table.heap_bytes());
        assert_eq!(table.get((1 << 24) - 1), Some(entity(1)));
    }

    #[test]
    fn low_slots_move_to_the_array_as_it_grows() {
        let mut table = SlotTable::default();
        table.insert(5_000, entity(7));
        assert_eq!(table.sparse.len(), 1);
        for slot in 0..2_000 {
            table.insert(slot, entity(slot + 10));
        }
        // The next slot beyond the array grows it (2,002 held allow 8,008 slots).
        table.insert(6_000, entity(9));
        assert!(table.dense.len() > 6_000);
        assert!(table.sparse.is_empty());
        assert_eq!(table.get(5_000), Some(entity(7)));
        table.remove_if(5_000, entity(8));
        assert_eq!(table.get(5_000), Some(entity(7)), "held by another entity");
        table.remove_if(5_000, entity(7));
        assert_eq!(table.get(5_000), None);
    }
}
