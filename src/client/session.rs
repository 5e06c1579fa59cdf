//! [`ClientSession`]: the client's replication bookkeeping for one connection.

use bevy::{ecs::entity::EntityHashMap, prelude::*};
use bevy_renet::renet::Bytes;

use crate::shared::{disconnect::DisconnectReason, tick::NetTick, wire::UpdateHeader};

/// Update frames kept while they wait for a structure frame; older ones are dropped (the server
/// resends what was not acknowledged).
pub(crate) const MAX_BUFFERED_UPDATES: usize = 256;

/// Where the handshake stands.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handshake {
    /// Not sent yet.
    #[default]
    Idle,
    /// Hello sent, waiting for the welcome.
    HelloSent,
    /// Welcomed by the server.
    Welcomed,
}

/// Per-connection state of the client, reset when it disconnects. Written by
/// [`ClientSet::Receive`](super::ClientSet::Receive); acks are sent by
/// [`ClientSet::Send`](super::ClientSet::Send).
#[derive(Resource, Default)]
pub(crate) struct ClientSession {
    pub(crate) handshake: Handshake,
    /// Tick of the newest structure frame applied.
    pub(crate) last_structure: Option<NetTick>,
    /// Update frames waiting for their structure frame.
    pub(crate) waiting_updates: Vec<(UpdateHeader, Bytes)>,
    /// Update ids to acknowledge.
    pub(crate) acks: Vec<u32>,
    /// Per client entity: `(component index, tick of the value it holds)`.
    pub(crate) confirmed: EntityHashMap<Vec<(u32, NetTick)>>,
    /// Why the server said it disconnects us, or why we disconnect.
    pub(crate) closing_reason: Option<DisconnectReason>,
}

impl ClientSession {
    /// Whether a value of component `index` at `tick` is newer than what `entity` holds.
    pub(crate) fn is_fresh(&self, entity: Entity, index: u32, tick: NetTick) -> bool {
        self.confirmed
            .get(&entity)
            .and_then(|ticks| ticks.iter().find(|(i, _)| *i == index))
            .is_none_or(|(_, held)| tick.is_newer_than(*held))
    }

    /// Notes that `entity` now holds component `index` (or its removal) as of `tick`.
    pub(crate) fn confirm(&mut self, entity: Entity, index: u32, tick: NetTick) {
        let ticks = self.confirmed.entry(entity).or_default();
        match ticks.iter_mut().find(|(i, _)| *i == index) {
            Some((_, held)) => *held = held.max(tick),
            None => ticks.push((index, tick)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_and_duplicate_values_are_not_fresh() {
        let entity = Entity::from_raw_u32(1).unwrap();
        let mut session = ClientSession::default();
        assert!(session.is_fresh(entity, 0, NetTick(5)));
        session.confirm(entity, 0, NetTick(5));
        assert!(!session.is_fresh(entity, 0, NetTick(5)));
        assert!(!session.is_fresh(entity, 0, NetTick(4)));
        assert!(session.is_fresh(entity, 0, NetTick(6)));
        assert!(session.is_fresh(entity, 1, NetTick(1)));
        session.confirm(entity, 0, NetTick(3));
        assert!(
            !session.is_fresh(entity, 0, NetTick(4)),
            "confirm never lowers"
        );
    }
}
