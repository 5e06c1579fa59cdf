//! Tests of the state frame layout.

use super::*;

fn entity(index: u32, generation: u32) -> Entity {
    entity_from_parts(index, generation).unwrap()
}

#[test]
fn a_frame_roundtrips_field_by_field() {
    let tick = NetTick(1_000);
    let header = StateHeader {
        seq: 65_535,
        tick,
        part: 2,
        last: Some(LastPart {
            watermark: NetTick(990),
            input_ack: Some(NetTick(1_004)),
            owned_ack: Some(OwnedAck {
                newest: NetTick(1_003),
                earlier: 0b1011,
            }),
        }),
    };
    let despawns = [
        DespawnEntry {
            entity: entity(3, 1),
            freeze: false,
        },
        DespawnEntry {
            entity: entity(9, 0),
            freeze: true,
        },
    ];
    let shape = Shape {
        components: vec![4, 0],
        baseline: Some((NetTick(998), Some(NetTick(990)))),
    };
    let mut out = BitWriter::new();
    write_state_header(&mut out, &header);
    write_despawns(&mut out, &despawns);
    write_count(&mut out, 0);
    let spawn = EntryHead {
        slot: 12,
        spawn: Some(entity(40, 2)),
    };
    let update = EntryHead {
        slot: 13,
        spawn: None,
    };
    write_entry_head(&mut out, &spawn, None);
    write_shape(&mut out, &shape, None, 3, tick);
    write_change_tick(&mut out, tick, tick);
    write_value_kind(&mut out, ValueKind::Blob(77), true);
    write_change_tick(&mut out, NetTick(900), tick);
    write_value_kind(&mut out, ValueKind::Whole, true);
    write_entry_head(&mut out, &update, Some(12));
    write_shape(&mut out, &shape, Some(&shape), 3, tick);
    write_value_kind(&mut out, ValueKind::Delta, true);
    write_value_kind(&mut out, ValueKind::Whole, false);
    write_entries_end(&mut out);

    let bytes = out.into_bytes();
    let mut reader = BitReader::new(&bytes);
    assert_eq!(read_state_header(&mut reader), Ok(header));
    assert_eq!(read_despawns(&mut reader).unwrap(), despawns);
    assert_eq!(reader.read_count(1), Ok(0));
    assert_eq!(read_entry_head(&mut reader, None), Ok(Some(spawn)));
    let read = read_shape(&mut reader, None, 3, 5, tick).unwrap();
    assert_eq!(read, shape);
    assert_eq!(read_change_tick(&mut reader, tick), Ok(tick));
    assert_eq!(read_value_kind(&mut reader, true), Ok(ValueKind::Blob(77)));
    assert_eq!(read_change_tick(&mut reader, tick), Ok(NetTick(900)));
    assert_eq!(read_value_kind(&mut reader, true), Ok(ValueKind::Whole));
    assert_eq!(read_entry_head(&mut reader, Some(12)), Ok(Some(update)));
    assert_eq!(
        read_shape(&mut reader, Some(&read), 3, 5, tick).unwrap(),
        shape
    );
    assert_eq!(read_value_kind(&mut reader, true), Ok(ValueKind::Delta));
    assert_eq!(read_value_kind(&mut reader, false), Ok(ValueKind::Whole));
    assert_eq!(read_entry_head(&mut reader, Some(13)), Ok(None));
    assert!(reader.finish().is_ok());
}

#[test]
fn shapes_read_in_place_replace_the_previous_list_or_repeat_it() {
    let tick = NetTick(40);
    let first = Shape {
        components: vec![0, 3, 1],
        baseline: Some((NetTick(38), Some(NetTick(35)))),
    };
    let second = Shape {
        components: vec![2],
        baseline: None,
    };
    let mut out = BitWriter::new();
    write_shape(&mut out, &first, None, 3, tick);
    write_shape(&mut out, &first, Some(&first), 3, tick);
    write_shape(&mut out, &second, Some(&first), 3, tick);
    let bytes = out.into_bytes();
    let mut reader = BitReader::new(&bytes);
    let mut shape = Shape::default();
    read_shape_into(&mut reader, &mut shape, false, 3, 5, tick).unwrap();
    assert_eq!(shape, first);
    read_shape_into(&mut reader, &mut shape, true, 3, 5, tick).unwrap();
    assert_eq!(shape, first);
    read_shape_into(&mut reader, &mut shape, true, 3, 5, tick).unwrap();
    assert_eq!(shape, second);
    // A repeat with nothing before it is malformed.
    let mut out = BitWriter::new();
    write_shape(&mut out, &first, Some(&first), 3, tick);
    let bytes = out.into_bytes();
    assert!(read_shape_into(&mut BitReader::new(&bytes), &mut shape, false, 3, 5, tick).is_err());
}

#[test]
fn a_repeated_shape_costs_one_bit_and_unknown_components_are_refused() {
    let shape = Shape {
        components: vec![1],
        baseline: None,
    };
    let mut out = BitWriter::new();
    write_shape(&mut out, &shape, Some(&shape), 3, NetTick(5));
    assert_eq!(out.bit_len(), 1);
    let mut out = BitWriter::new();
    write_shape(&mut out, &shape, None, 3, NetTick(5));
    let bytes = out.into_bytes();
    assert_eq!(
        read_shape(&mut BitReader::new(&bytes), None, 3, 1, NetTick(5)),
        Err(DecodeError::UnknownComponent(1))
    );
    assert!(read_shape(&mut BitReader::new(&[0]), None, 3, 5, NetTick(5)).is_err());
}

#[test]
fn despawns_of_several_generations_of_one_index_roundtrip() {
    // Index 42 was reused while its first entity's despawn waited for an acknowledgement.
    let despawns = [
        DespawnEntry {
            entity: entity_from_parts(7, 0).unwrap(),
            freeze: false,
        },
        DespawnEntry {
            entity: entity_from_parts(42, 1).unwrap(),
            freeze: false,
        },
        DespawnEntry {
            entity: entity_from_parts(42, 2).unwrap(),
            freeze: true,
        },
    ];
    let mut out = BitWriter::new();
    write_despawns(&mut out, &despawns);
    let bytes = out.into_bytes();
    assert_eq!(
        read_despawns(&mut BitReader::new(&bytes)).unwrap(),
        despawns.to_vec()
    );
}

#[test]
fn header_fields_survive_the_tick_wrap() {
    let tick = NetTick(2);
    let header = StateHeader {
        seq: 0,
        tick,
        part: 0,
        last: Some(LastPart {
            watermark: NetTick(u32::MAX - 3),
            input_ack: Some(NetTick(u32::MAX)),
            owned_ack: Some(OwnedAck::new(NetTick(2))),
        }),
    };
    let mut out = BitWriter::new();
    write_state_header(&mut out, &header);
    let bytes = out.into_bytes();
    assert_eq!(read_state_header(&mut BitReader::new(&bytes)), Ok(header));
}

#[test]
fn owned_acks_remember_32_ticks_before_the_newest() {
    let mut ack = OwnedAck::new(NetTick(100));
    ack.note(NetTick(98));
    ack.note(NetTick(103));
    assert!(ack.has(NetTick(103)) && ack.has(NetTick(100)) && ack.has(NetTick(98)));
    assert!(!ack.has(NetTick(99)) && !ack.has(NetTick(101)) && !ack.has(NetTick(104)));
    ack.note(NetTick(60));
    assert!(!ack.has(NetTick(60)), "older than the window");
    ack.note(NetTick(135));
    assert!(ack.has(NetTick(103)) && !ack.has(NetTick(100)));
    let mut other = OwnedAck::new(NetTick(134));
    other.note(NetTick(130));
    ack.merge(other);
    assert!(ack.has(NetTick(130)) && ack.has(NetTick(134)) && ack.has(NetTick(135)));
    ack.note(NetTick(1_000));
    assert_eq!(ack, OwnedAck::new(NetTick(1_000)));
}
