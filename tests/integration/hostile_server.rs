//! A hostile server cannot make a client hold far more than it sent: frames naming huge slots,
//! endless parts of one tick, despawns of entities never seen, and a tick far in the future.
//! Frames go straight into a client App through the fuzz harness ([`FuzzClient`], welcomed at
//! tick 1,000).

use bevy::prelude::Entity;
use bevy_netsync::{
    prelude::DisconnectReason,
    shared::tick::NetTick,
    testing::{FuzzClient, client_bookkeeping_bytes, client_receive, wire::*},
};

/// A state frame of `tick` with `despawns` and nothing else.
pub(crate) fn state_frame(
    seq: u16,
    tick: u32,
    part: u32,
    last: bool,
    despawns: &[DespawnEntry],
) -> Vec<u8> {
    let mut frame = BitWriter::new();
    write_state_header(
        &mut frame,
        &StateHeader {
            seq,
            tick: NetTick(tick),
            part,
            last: last.then_some(LastPart {
                watermark: NetTick(tick),
                input_ack: None,
                owned_ack: None,
            }),
        },
    );
    write_despawns(&mut frame, despawns);
    write_count(&mut frame, 0);
    write_entries_end(&mut frame);
    frame.into_bytes()
}

fn receive(client: &mut FuzzClient, frame: &[u8]) -> Result<(), DisconnectReason> {
    client_receive(client.app(), &[], &[frame])
}

fn is_malformed(result: &Result<(), DisconnectReason>) -> bool {
    matches!(result, Err(DisconnectReason::MalformedData(_)))
}

/// A state frame of tick 1,001 spawning one entity (an empty shape) in `slot`.
fn spawn_in_slot(slot: u32) -> Vec<u8> {
    let mut frame = BitWriter::new();
    write_state_header(
        &mut frame,
        &StateHeader {
            seq: 0,
            tick: NetTick(1_001),
            part: 0,
            last: None,
        },
    );
    write_despawns(&mut frame, &[]);
    write_count(&mut frame, 0);
    write_entry_head(
        &mut frame,
        &EntryHead {
            slot,
            spawn: Some(Entity::from_raw_u32(5).unwrap()),
        },
        None,
    );
    write_shape_parts(&mut frame, &[], None, 4, NetTick(1_001));
    write_entries_end(&mut frame);
    frame.into_bytes()
}

#[test]
fn a_spawn_in_the_highest_slot_costs_one_entry() {
    let mut client = FuzzClient::new();
    assert_eq!(receive(&mut client, &spawn_in_slot(MAX_SLOTS - 1)), Ok(()));
    let held = client_bookkeeping_bytes(client.app());
    assert!(held < 1 << 20, "{held} bytes held for one entity");
}

/// Found by `from_server` (an out-of-memory): a state frame naming slot 2^31 made the client
/// size its slot table for it. Slots beyond `MAX_SLOTS` are malformed.
#[test]
fn a_frame_naming_a_slot_beyond_the_limit_is_refused() {
    let refused = receive(&mut FuzzClient::new(), &spawn_in_slot(1 << 31));
    assert!(is_malformed(&refused), "{refused:?}");
}

#[test]
fn parts_of_one_tick_are_capped_and_cost_little() {
    let mut client = FuzzClient::new();
    for part in 0..MAX_PARTS_PER_TICK {
        assert_eq!(
            receive(
                &mut client,
                &state_frame(part as u16, 1_001, part, false, &[])
            ),
            Ok(())
        );
    }
    let held = client_bookkeeping_bytes(client.app());
    assert!(
        held < 64 << 10,
        "{held} bytes for {MAX_PARTS_PER_TICK} parts"
    );
    let beyond = receive(
        &mut client,
        &state_frame(0, 1_001, MAX_PARTS_PER_TICK, false, &[]),
    );
    assert!(is_malformed(&beyond), "{beyond:?}");
}

/// 256 despawns of entities the client never saw, distinct for each `batch`.
fn despawns(batch: u32) -> Vec<DespawnEntry> {
    (0..MAX_DESPAWNS_PER_FRAME as u32)
        .map(|offset| DespawnEntry {
            entity: Entity::from_raw_u32(1 + batch * 256 + offset).unwrap(),
            freeze: false,
        })
        .collect()
}

#[test]
fn despawns_of_unseen_entities_are_remembered_only_up_to_a_cap() {
    // An honest server's tombstones age out as ticks advance: never near the cap.
    let mut honest = FuzzClient::new();
    for batch in 0..600u32 {
        let frame = state_frame(batch as u16, 1_001 + batch, 0, true, &despawns(batch));
        assert_eq!(receive(&mut honest, &frame), Ok(()), "batch {batch}");
    }
    // A server that never advances its tick would grow them for ever.
    let mut client = FuzzClient::new();
    let mut refused = None;
    for batch in 0..1_000u32 {
        let result = receive(
            &mut client,
            &state_frame(batch as u16, 1_001, 0, true, &despawns(batch)),
        );
        if result.is_err() {
            refused = Some((batch, result));
            break;
        }
    }
    let (batch, result) = refused.expect("refused at the cap");
    assert_eq!(batch, 256, "65,536 tombstones, then no more");
    assert!(is_malformed(&result), "{result:?}");
    let held = client_bookkeeping_bytes(client.app());
    assert!(held < 8 << 20, "{held} bytes held");
    // More despawns in one frame than a server sends is malformed too.
    let mut too_many = despawns(0);
    too_many.push(DespawnEntry {
        entity: Entity::from_raw_u32(100_000).unwrap(),
        freeze: false,
    });
    let result = receive(
        &mut FuzzClient::new(),
        &state_frame(0, 1_001, 0, true, &too_many),
    );
    assert!(is_malformed(&result), "{result:?}");
}

#[test]
fn a_frame_far_in_the_future_disconnects_instead_of_freezing_the_client() {
    let mut client = FuzzClient::new();
    let reach = 1_000 + MAX_TICK_LEAP as u32;
    assert_eq!(
        receive(&mut client, &state_frame(0, reach, 0, true, &[])),
        Ok(())
    );
    let mut client = FuzzClient::new();
    for tick in [reach + 1, 1_000 + (1 << 31) - 1] {
        let result = receive(&mut client, &state_frame(0, tick, 0, true, &[]));
        assert!(
            matches!(&result, Err(DisconnectReason::MalformedData(text)) if text.contains("ahead")),
            "{result:?}"
        );
    }
    // Honest frames after the welcome are read as usual.
    let mut client = FuzzClient::new();
    for step in 1..=10u32 {
        assert_eq!(
            receive(
                &mut client,
                &state_frame(step as u16, 1_000 + step, 0, true, &[])
            ),
            Ok(())
        );
    }
}
