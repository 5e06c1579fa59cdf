//! [`ReplicatedWorld`]: the server's view of what clients should hold.

use bevy::{ecs::entity::EntityHashMap, prelude::*};

use crate::shared::tick::NetTick;

/// Every replicated entity with, per replicated component it has, the tick of its last change.
/// Written by [`ServerSet::Send`](super::ServerSet::Send).
#[derive(Resource, Default, Debug)]
pub(crate) struct ReplicatedWorld {
    pub(crate) entities: EntityHashMap<EntityRecord>,
    /// Whether entities that existed before the server started were picked up.
    pub(crate) initialized: bool,
}

/// Replicated components of one entity: `(component index, tick of last change)`, sorted.
#[derive(Default, Debug, Clone)]
pub(crate) struct EntityRecord {
    changed: Vec<(u32, NetTick)>,
}

impl EntityRecord {
    /// Notes that component `index` changed (or appeared) at `tick`.
    pub(crate) fn set(&mut self, index: u32, tick: NetTick) {
        match self.changed.binary_search_by_key(&index, |(i, _)| *i) {
            Ok(position) => self.changed[position].1 = tick,
            Err(position) => self.changed.insert(position, (index, tick)),
        }
    }

    /// Notes that component `index` is gone.
    pub(crate) fn remove(&mut self, index: u32) {
        self.changed.retain(|(i, _)| *i != index);
    }

    /// Component indices, in order.
    pub(crate) fn components(&self) -> impl Iterator<Item = u32> + '_ {
        self.changed.iter().map(|(index, _)| *index)
    }

    /// Components changed after `acked`.
    pub(crate) fn changed_after(&self, acked: NetTick) -> impl Iterator<Item = u32> + '_ {
        self.changed
            .iter()
            .filter(move |(_, tick)| tick.is_newer_than(acked))
            .map(|(index, _)| *index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_tracks_newest_change_per_component() {
        let mut record = EntityRecord::default();
        record.set(2, NetTick(5));
        record.set(0, NetTick(3));
        record.set(2, NetTick(9));
        assert_eq!(record.components().collect::<Vec<_>>(), [0, 2]);
        assert_eq!(record.changed_after(NetTick(4)).collect::<Vec<_>>(), [2]);
        record.remove(2);
        assert_eq!(record.changed_after(NetTick(0)).collect::<Vec<_>>(), [0]);
    }
}
