//! [`ClientReplication`]: what one client has acknowledged and what it still needs.

use bevy::{
    ecs::entity::{EntityHashMap, EntityHashSet},
    platform::collections::HashMap,
    prelude::*,
};

use crate::shared::tick::NetTick;

/// Unacknowledged update frames older than this many ticks are forgotten; their entities stay
/// pending, so their newest values are sent again anyway.
const FORGET_UNACKED_AFTER_TICKS: i32 = 256;

/// Per-client replication state, on the client's [`ConnectedClient`](super::ConnectedClient)
/// entity. Written by [`ServerSet::Receive`](super::ServerSet::Receive) (acks) and
/// [`ServerSet::Send`](super::ServerSet::Send).
#[derive(Component, Default, Debug)]
pub(crate) struct ClientReplication {
    /// Whether the client received the whole world.
    pub(crate) synced: bool,
    /// Entities the client has, with the newest tick whose values it acknowledged.
    pub(crate) acked: EntityHashMap<NetTick>,
    /// Entities that may have values the client lacks, oldest first.
    pub(crate) pending: Vec<Entity>,
    pub(crate) pending_set: EntityHashSet,
    /// Update frames in flight: id → (tick, entities in it).
    sent: HashMap<u32, SentUpdate>,
    next_update_id: u32,
    /// Tick of the last structure frame sent to this client.
    pub(crate) last_structure: NetTick,
    /// Tick of the last frame that carried a tick stamp to this client.
    pub(crate) last_stamp: NetTick,
}

#[derive(Debug)]
struct SentUpdate {
    tick: NetTick,
    entities: Vec<Entity>,
}

impl ClientReplication {
    /// Marks `entity` as possibly out of date on this client.
    pub(crate) fn mark_pending(&mut self, entity: Entity) {
        if self.acked.contains_key(&entity) && self.pending_set.insert(entity) {
            self.pending.push(entity);
        }
    }

    /// Records an update frame about to be sent and returns its id.
    pub(crate) fn record_sent(&mut self, tick: NetTick, entities: Vec<Entity>) -> u32 {
        let id = self.next_update_id;
        self.next_update_id = self.next_update_id.wrapping_add(1);
        self.sent.insert(id, SentUpdate { tick, entities });
        id
    }

    /// Drops in-flight records too old to be acknowledged any more.
    pub(crate) fn forget_old(&mut self, now: NetTick) {
        self.sent
            .retain(|_, sent| now.diff(sent.tick) < FORGET_UNACKED_AFTER_TICKS);
    }

    /// Applies acknowledgements of update frames (unknown or repeated ids are ignored).
    pub(crate) fn acknowledge(&mut self, ids: &[u32]) {
        for id in ids {
            let Some(sent) = self.sent.remove(id) else {
                continue;
            };
            for entity in sent.entities {
                if let Some(acked) = self.acked.get_mut(&entity) {
                    *acked = acked.max(sent.tick);
                }
            }
        }
    }

    /// Number of update frames awaiting acknowledgement.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.sent.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_raise_ticks_and_ignore_unknown_ids() {
        let entity = Entity::from_raw_u32(3).unwrap();
        let mut state = ClientReplication::default();
        state.acked.insert(entity, NetTick(1));
        let old = state.record_sent(NetTick(5), vec![entity]);
        let new = state.record_sent(NetTick(6), vec![entity]);
        state.acknowledge(&[new, 999]);
        assert_eq!(state.acked[&entity], NetTick(6));
        // A late ack of an older frame never lowers the tick.
        state.acknowledge(&[old, old]);
        assert_eq!(state.acked[&entity], NetTick(6));
        assert_eq!(state.in_flight(), 0);
    }

    #[test]
    fn old_records_are_forgotten() {
        let mut state = ClientReplication::default();
        state.record_sent(NetTick(1), vec![]);
        state.record_sent(NetTick(300), vec![]);
        state.forget_old(NetTick(300));
        assert_eq!(state.in_flight(), 1);
    }
}
