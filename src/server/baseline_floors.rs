//! Baseline floors: per slot, the oldest tick any client may still name as a baseline, so the
//! server's histories forget sooner than the baseline window what no client can ask for.
//!
//! A client's entries name its newest acknowledged tick and the one before it; both only move
//! forward (acknowledgement keeps the newest). So from now on no client names anything older
//! than its previous acknowledged tick (or its only one), and the least of these over the
//! clients is the slot's floor. A client that has acknowledged nothing yet is sent the entity
//! whole first; should its first acknowledgement name a tick already forgotten, that value goes
//! whole too (the history refuses lookups before what it kept), costing bytes, never
//! correctness.

use bevy::prelude::*;

use super::client_replication::ClientReplication;
use crate::shared::tick::NetTick;

/// Ticks between two refreshes of a slot's floor: slots take turns, a sixteenth of them per
/// send. A floor between refreshes is older than it could be, which only keeps more.
pub(crate) const REFRESH_EVERY_TICKS: u32 = 16;

/// Whether `slot`'s floor is refreshed in the send of `tick`.
pub(crate) fn due(slot: u32, tick: NetTick) -> bool {
    slot.wrapping_add(tick.0)
        .is_multiple_of(REFRESH_EVERY_TICKS)
}

/// The oldest tick any of `clients` may name from now on as a baseline of `entity` (in
/// `slot`); `None` when none has acknowledged it.
pub(crate) fn floor<'a>(
    clients: impl IntoIterator<Item = &'a ClientReplication>,
    slot: u32,
    entity: Entity,
) -> Option<NetTick> {
    clients
        .into_iter()
        .filter_map(|client| {
            let state = client.slots.get(slot as usize)?;
            // A state of an earlier entity in the slot is reset (a spawn) before it is used.
            if state.entity != entity {
                return None;
            }
            state.acked_previous.or(state.acked)
        })
        .reduce(NetTick::min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_is_the_oldest_previous_acknowledgement_of_this_entity() {
        let entity = Entity::from_raw_u32(4).unwrap();
        let other = Entity::from_raw_u32(5).unwrap();
        let client = |acks: &[u32], holder: Entity| {
            let mut client = ClientReplication::default();
            client.slots.resize(3, Default::default());
            client.slots[2].reset(holder);
            for &tick in acks {
                client.slots[2].acknowledge(NetTick(tick));
            }
            client
        };
        let clients = [
            client(&[10, 12], entity),
            client(&[9], entity),
            client(&[], entity),
            client(&[3, 4], other),
        ];
        assert_eq!(floor(&clients, 2, entity), Some(NetTick(9)));
        assert_eq!(floor(&clients[..1], 2, entity), Some(NetTick(10)));
        assert_eq!(floor(&clients[2..], 2, entity), None);
        assert_eq!(
            floor(&clients, 7, entity),
            None,
            "a slot beyond a client's table"
        );
        assert_eq!((0..32).filter(|&slot| due(slot, NetTick(5))).count(), 2);
    }
}
