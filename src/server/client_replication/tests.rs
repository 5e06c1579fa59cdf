//! The per-client table's bookkeeping: acknowledgements, pending despawns, frames in flight.

use super::*;

/// A frame that carried one entity's entry.
fn slot_sent(slot: u32, epoch: u32) -> SentLists {
    SentLists {
        slots: vec![SentSlot { slot, epoch }],
        items: Vec::new(),
    }
}

#[test]
fn acks_keep_the_two_newest_ticks_and_ignore_old_lives() {
    let entity = Entity::from_raw_u32(3).unwrap();
    let mut client = ClientReplication::default();
    client.reserve_slots(1);
    client.slots[0].reset(entity);
    let epoch = client.slots[0].epoch;
    for (seq, tick) in [(0u16, 5u32), (1, 7), (2, 6)] {
        client.record_sent(seq, NetTick(tick), slot_sent(0, epoch));
    }
    client.acknowledge([1, 0, 999]);
    assert_eq!(client.slots[0].acked, Some(NetTick(7)));
    assert_eq!(client.slots[0].acked_previous, Some(NetTick(5)));
    client.acknowledge([2, 2]);
    assert_eq!(client.slots[0].acked_previous, Some(NetTick(6)));
    // A new life of the slot ignores acks of frames sent before.
    client.record_sent(3, NetTick(8), slot_sent(0, epoch));
    client.slots[0].reset(entity);
    client.acknowledge([3]);
    assert_eq!(client.slots[0].acked, None);
    assert_eq!(client.in_flight(), 0);
}

#[test]
fn despawns_are_pending_until_acknowledged() {
    let entity = Entity::from_raw_u32(4).unwrap();
    let mut client = ClientReplication::default();
    client.push_despawn(entity, NetTick(2), false);
    client.push_despawn(entity, NetTick(3), false);
    assert_eq!(client.despawns.len(), 1);
    let pending = *client.despawns.values().next().unwrap();
    client.record_sent(
        0,
        NetTick(3),
        SentLists {
            slots: Vec::new(),
            items: vec![SentItem::Despawn(pending)],
        },
    );
    client.acknowledge([0]);
    assert!(client.despawns.is_empty());
}

/// The count of frames awaiting acknowledgement follows sends, acknowledgements (repeated and
/// unknown ones ignored) and the ring's reuse of a lost frame's place, as a scan of the ring
/// would count them.
#[test]
fn frames_in_flight_are_counted_as_they_come_and_go() {
    let mut client = ClientReplication::default();
    let scan = |client: &ClientReplication| client.sent.scan_waiting();
    for seq in 0..10u16 {
        client.record_sent(seq, NetTick(u32::from(seq)), SentLists::default());
    }
    assert_eq!((client.in_flight(), scan(&client)), (10, 10));
    client.acknowledge([2, 2, 5, 999, 9]);
    assert_eq!((client.in_flight(), scan(&client)), (7, 7));
    // Sequence numbers past the ring's size take the places of 0..10: those never acknowledged
    // are lost, and stop counting.
    let wrap = SENT_FRAMES as u16;
    for seq in wrap..wrap + 10 {
        client.record_sent(seq, NetTick(100), SentLists::default());
    }
    assert_eq!((client.in_flight(), scan(&client)), (10, 10));
    client.acknowledge([0, 1, wrap, wrap + 1]);
    assert_eq!((client.in_flight(), scan(&client)), (8, 8));
}
