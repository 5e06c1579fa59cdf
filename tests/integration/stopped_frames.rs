//! A frame the client stops reading partway (a delta against a baseline it no longer holds)
//! keeps what it already wrote consistent: a value written as it was read, that no longer names
//! an entity, forgets the entity it named. Frames are crafted and fed to a client App through
//! the fuzz harness's entry point.

use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    shared::{channels::connection_config, codec::ComponentCodec, tick::NetTick},
    testing::{client_receive, wire::*},
};
use bevy_renet::RenetClient;
use serde::{Deserialize, Serialize};

/// A component that may name an entity.
#[derive(Component, Serialize, Deserialize, Clone, PartialEq, Debug)]
struct Aim(#[entities] Option<Entity>);

/// Wire indices: `Aim` then `Transform`, the only types registered (one bit each).
const AIM: u32 = 0;
const TRANSFORM: u32 = 1;
const INDEX_BITS: u32 = 1;

fn client() -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, NetsyncPlugins::default()));
    app.replicate::<Aim>()
        .replicate_with::<Transform>(TransformCodec::default());
    app.finish();
    app.cleanup();
    let mut renet = RenetClient::new(connection_config());
    renet.set_connected();
    app.insert_resource(renet);
    let welcome = encode_welcome(7, 8, NetTick(1_000));
    client_receive(&mut app, &[&welcome], &[]).unwrap();
    app.update();
    app
}

fn header(frame: &mut BitWriter, seq: u16, tick: u32, despawns: &[DespawnEntry]) {
    write_state_header(
        frame,
        &StateHeader {
            seq,
            tick: NetTick(tick),
            part: 0,
            last: None,
        },
    );
    write_despawns(frame, despawns);
    write_count(frame, 0);
}

fn aim_value(frame: &mut BitWriter, aim: Aim, tick: NetTick) {
    write_change_tick(frame, tick, tick);
    write_value_kind(frame, ValueKind::Whole, false);
    ComponentCodec::write(&SerdeCodec::default(), &aim, frame).unwrap();
}

#[test]
fn a_value_written_before_its_frame_stops_forgets_the_entity_it_named() {
    let (referrer, target) = (
        Entity::from_raw_u32(40).unwrap(),
        Entity::from_raw_u32(41).unwrap(),
    );
    let mut app = client();
    // Tick 1,001: the target (slot 1) and the referrer (slot 0) aiming at it.
    let tick = NetTick(1_001);
    let mut frame = BitWriter::new();
    header(&mut frame, 0, tick.0, &[]);
    let spawn = |slot, entity| EntryHead {
        slot,
        spawn: Some(entity),
    };
    write_entry_head(&mut frame, &spawn(0, referrer), None);
    write_shape_parts(&mut frame, &[AIM], None, INDEX_BITS, tick);
    aim_value(&mut frame, Aim(Some(target)), tick);
    write_entry_head(&mut frame, &spawn(1, target), Some(0));
    write_shape_parts(&mut frame, &[], None, INDEX_BITS, tick);
    write_entries_end(&mut frame);
    client_receive(&mut app, &[], &[&frame.into_bytes()]).unwrap();
    app.update();
    let map = app.world().resource::<ServerEntityMap>();
    let (copy, target_copy) = (
        map.to_client(referrer).unwrap(),
        map.to_client(target).unwrap(),
    );
    assert_eq!(app.world().get::<Aim>(copy), Some(&Aim(Some(target_copy))));

    // Tick 1,002: the referrer aims at nothing, then a transform delta against a baseline the
    // client never held stops the frame.
    let tick = NetTick(1_002);
    let mut frame = BitWriter::new();
    header(&mut frame, 1, tick.0, &[]);
    let update = EntryHead {
        slot: 0,
        spawn: None,
    };
    write_entry_head(&mut frame, &update, None);
    let baseline = Some((NetTick(990), None));
    write_shape_parts(&mut frame, &[AIM, TRANSFORM], baseline, INDEX_BITS, tick);
    frame.write_bool(false);
    aim_value(&mut frame, Aim(None), tick);
    frame.write_bool(false);
    write_change_tick(&mut frame, tick, tick);
    write_value_kind(&mut frame, ValueKind::Delta, true);
    frame.write_bits(0, 32);
    write_entries_end(&mut frame);
    client_receive(&mut app, &[], &[&frame.into_bytes()]).unwrap();
    app.update();
    assert_eq!(app.world().get::<Aim>(copy), Some(&Aim(None)));
    let written = app.world().entity(copy).get_change_ticks::<Aim>().unwrap();

    // Tick 1,003: the target goes. The referrer names nothing: its value is left alone.
    let mut frame = BitWriter::new();
    header(
        &mut frame,
        2,
        1_003,
        &[DespawnEntry {
            entity: target,
            freeze: false,
        }],
    );
    write_entries_end(&mut frame);
    client_receive(&mut app, &[], &[&frame.into_bytes()]).unwrap();
    app.update();
    assert!(app.world().get_entity(target_copy).is_err());
    assert_eq!(app.world().get::<Aim>(copy), Some(&Aim(None)));
    let after = app.world().entity(copy).get_change_ticks::<Aim>().unwrap();
    assert_eq!(
        after.changed, written.changed,
        "the despawn of an entity it no longer names touched the value"
    );
}
