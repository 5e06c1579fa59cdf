//! [`ReplicatedWorld`]: the server's view of what clients should hold. Every replicated entity
//! has a slot (a small number that is its id on the wire), and every replicated component on it
//! the tick it last changed.

use bevy::{ecs::entity::EntityHashMap, prelude::*};

use super::dirty::DirtySet;
use crate::shared::tick::NetTick;

/// One replicated component of a slot's entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ComponentRecord {
    /// Registry index.
    pub(crate) index: u32,
    /// Whether the entity has it (a removed component stays as a tombstone, so clients that
    /// still hold it learn of the removal).
    pub(crate) present: bool,
    /// Tick of the last change: value set, insertion or removal.
    pub(crate) changed: NetTick,
    /// Tick it was last inserted at: deltas only use baselines from then on.
    pub(crate) since: NetTick,
    /// Bits of its current whole encoding, for size estimates.
    pub(crate) whole_bits: u32,
    /// Whether its value is too large for a frame and travels in slices.
    pub(crate) large: bool,
    /// Bits of its whole encoding in the [`ValueCache`](super::value_cache::ValueCache),
    /// when it changed in the current send and was encoded there.
    pub(crate) encoded: Option<(u32, u32)>,
}

/// A replicated entity.
#[derive(Clone, Debug)]
pub(crate) struct SlotRecord {
    pub(crate) entity: Entity,
    /// Whether the slot holds a replicated entity (free slots are reused).
    pub(crate) live: bool,
    /// Components by registry index, ascending.
    pub(crate) components: Vec<ComponentRecord>,
    /// Whether any component may be large (set by the encode step, false only when none is):
    /// choosing skips the look at each value for slots without.
    pub(crate) may_have_large: bool,
    /// The newest `changed` of any component (or the spawn).
    pub(crate) last_change: NetTick,
    /// Slot of the replicated entity this one is a child of (Bevy's `ChildOf`), if any.
    pub(crate) parent: Option<u32>,
    /// [`ReplicationPriority`](super::ReplicationPriority) of the entity.
    pub(crate) priority: f32,
    /// The oldest tick a client may still name as a baseline of the entity, as of its last
    /// refresh ([`baseline_floors`](super::baseline_floors)).
    pub(crate) baseline_floor: Option<NetTick>,
}

impl SlotRecord {
    fn new(entity: Entity) -> Self {
        Self {
            entity,
            live: true,
            components: Vec::new(),
            may_have_large: false,
            last_change: NetTick::default(),
            parent: None,
            priority: 1.0,
            baseline_floor: None,
        }
    }

    /// The record of component `index`, if the entity ever had it while replicated.
    pub(crate) fn component(&self, index: u32) -> Option<&ComponentRecord> {
        self.components
            .binary_search_by_key(&index, |record| record.index)
            .ok()
            .map(|position| &self.components[position])
    }

    /// The record of component `index`, created (absent) if missing.
    pub(crate) fn component_mut(&mut self, index: u32) -> &mut ComponentRecord {
        let position = match self
            .components
            .binary_search_by_key(&index, |record| record.index)
        {
            Ok(position) => position,
            Err(position) => {
                self.components.insert(
                    position,
                    ComponentRecord {
                        index,
                        present: false,
                        changed: NetTick::default(),
                        since: NetTick::default(),
                        whole_bits: 0,
                        large: false,
                        encoded: None,
                    },
                );
                position
            }
        };
        &mut self.components[position]
    }

    /// Notes that component `index` was set (inserted or changed) at `tick`.
    pub(crate) fn set(&mut self, index: u32, tick: NetTick) {
        let record = self.component_mut(index);
        if !record.present {
            record.since = tick;
        }
        record.present = true;
        record.changed = tick;
        self.last_change = self.last_change.max(tick);
    }

    /// Notes that component `index` was removed at `tick`. Returns whether it was present.
    pub(crate) fn unset(&mut self, index: u32, tick: NetTick) -> bool {
        let record = self.component_mut(index);
        let was_present = record.present;
        if was_present {
            record.present = false;
            record.changed = tick;
            self.last_change = self.last_change.max(tick);
        }
        was_present
    }

    /// Components present now.
    pub(crate) fn present(&self) -> impl Iterator<Item = &ComponentRecord> {
        self.components.iter().filter(|record| record.present)
    }
}

/// Every replicated entity, by slot. Written by the send pipeline's first step
/// ([`ServerSet::Send`](super::ServerSet::Send)).
#[derive(Resource, Default, Debug)]
pub(crate) struct ReplicatedWorld {
    pub(crate) slots: Vec<SlotRecord>,
    pub(crate) by_entity: EntityHashMap<u32>,
    free: Vec<u32>,
    /// Whether entities that existed before the server started were picked up.
    pub(crate) initialized: bool,
    /// This send: slots whose state changed (each once).
    pub(crate) changed: Vec<u32>,
    /// This send: slots that started being replicated.
    pub(crate) spawned: Vec<u32>,
    /// This send: entities that stopped being replicated, with the slot they had.
    pub(crate) despawned: Vec<(u32, Entity)>,
    /// This send: `changed` as a set, read a word of 64 slots at a time.
    pub(crate) changed_set: DirtySet,
}

impl ReplicatedWorld {
    /// Starts a send: forgets the previous one's lists.
    pub(crate) fn begin(&mut self) {
        for &slot in &self.changed {
            self.changed_set.remove(slot);
        }
        self.changed.clear();
        self.spawned.clear();
        self.despawned.clear();
    }

    /// The slot of a replicated entity.
    pub(crate) fn slot_of(&self, entity: Entity) -> Option<u32> {
        self.by_entity.get(&entity).copied()
    }

    /// Gives `entity` a slot.
    ///
    /// # Panics
    /// Beyond [`MAX_SLOTS`](crate::shared::wire::MAX_SLOTS) replicated entities at once (16.7
    /// million): the wire cannot name more.
    pub(crate) fn spawn(&mut self, entity: Entity, tick: NetTick) -> u32 {
        let mut record = SlotRecord::new(entity);
        record.last_change = tick;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = record;
                slot
            }
            None => {
                assert!(
                    self.slots.len() < crate::shared::wire::MAX_SLOTS as usize,
                    "more than MAX_SLOTS replicated entities"
                );
                self.slots.push(record);
                (self.slots.len() - 1) as u32
            }
        };
        self.by_entity.insert(entity, slot);
        self.spawned.push(slot);
        self.mark_changed(slot);
        slot
    }

    /// Frees the slot of `entity`; returns it.
    pub(crate) fn despawn(&mut self, entity: Entity) -> Option<u32> {
        let slot = self.by_entity.remove(&entity)?;
        let record = &mut self.slots[slot as usize];
        record.live = false;
        record.components.clear();
        record.parent = None;
        self.despawned.push((slot, entity));
        // Freed at the next send, so this send's lists never see a slot twice.
        Some(slot)
    }

    /// Returns the slots freed by the last send to the free list.
    pub(crate) fn recycle(&mut self) {
        for &(slot, _) in &self.despawned {
            if !self.slots[slot as usize].live {
                self.free.push(slot);
            }
        }
    }

    /// Notes that a slot's state changed in this send.
    pub(crate) fn mark_changed(&mut self, slot: u32) {
        if self.changed_set.insert(slot) {
            self.changed.push(slot);
        }
    }

    /// Whether a slot's state changed in this send (it is in `changed`).
    pub(crate) fn changed_in_send(&self, slot: u32) -> bool {
        self.changed_set.contains(slot)
    }

    /// Live slots.
    pub(crate) fn live(&self) -> impl Iterator<Item = (u32, &SlotRecord)> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, record)| record.live)
            .map(|(slot, record)| (slot as u32, record))
    }

    /// Number of slots ever used (live or free).
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }
}

/// A replicated resource's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ResourceRecord {
    pub(crate) present: bool,
    /// Tick of the last change or removal (`None` before it ever existed).
    pub(crate) changed: Option<NetTick>,
    pub(crate) whole_bits: u32,
    pub(crate) large: bool,
}

/// Every replicated resource, by resource registry index.
#[derive(Resource, Default, Debug)]
pub(crate) struct ReplicatedResources {
    pub(crate) records: Vec<ResourceRecord>,
    /// World change tick of the previous check.
    pub(crate) last_run: Option<bevy::ecs::change_detection::Tick>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_tombstones_and_the_newest_change() {
        let mut record = SlotRecord::new(Entity::from_raw_u32(1).unwrap());
        record.set(2, NetTick(5));
        record.set(0, NetTick(3));
        record.set(2, NetTick(9));
        assert_eq!(
            record.present().map(|c| c.index).collect::<Vec<_>>(),
            [0, 2]
        );
        assert_eq!(record.component(2).unwrap().since, NetTick(5));
        assert!(record.unset(2, NetTick(10)));
        assert!(!record.unset(2, NetTick(11)), "already gone");
        assert_eq!(record.last_change, NetTick(10));
        assert_eq!(record.component(2).unwrap().changed, NetTick(10));
        record.set(2, NetTick(12));
        assert_eq!(record.component(2).unwrap().since, NetTick(12));
    }

    #[test]
    fn slots_are_reused_only_after_the_send_that_freed_them() {
        let mut world = ReplicatedWorld::default();
        let a = Entity::from_raw_u32(1).unwrap();
        let b = Entity::from_raw_u32(2).unwrap();
        world.begin();
        let slot = world.spawn(a, NetTick(1));
        world.begin();
        assert_eq!(world.despawn(a), Some(slot));
        assert_ne!(world.spawn(b, NetTick(2)), slot);
        world.recycle();
        world.begin();
        let c = Entity::from_raw_u32(3).unwrap();
        assert_eq!(world.spawn(c, NetTick(3)), slot);
    }
}
