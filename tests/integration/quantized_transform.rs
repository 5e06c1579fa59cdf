//! `Transform` replicated with [`TransformCodec`]: clients hold exactly the quantized server
//! value, also over a lossy link, and codec settings are part of the protocol.

use crate::common::{
    orbit::{Orbit, move_on_orbit},
    transforms::{compare_transforms, round_trip},
};
use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    testing::{LinkConditioner, TestNet},
};

const STEP: f32 = 0.002;

fn codec() -> TransformCodec {
    TransformCodec::default().with_position_step(STEP)
}

fn protocol(app: &mut App) {
    app.replicate_with::<Transform>(codec());
}

#[test]
fn clients_hold_the_quantized_server_transform_over_a_lossy_link() {
    let mut net = TestNet::new(protocol).with_default_link(
        LinkConditioner::new(60, 15, 0.1)
            .with_duplicate(0.05)
            .with_reorder(0.05),
    );
    net.server_mut().add_systems(FixedUpdate, move_on_orbit);
    let world = net.server_mut().world_mut();
    for i in 0..12 {
        let center = Vec3::new(i as f32 * 7.5 - 40.0, 0.9, -3.0 * i as f32);
        world.spawn((
            Replicated,
            Transform::from_translation(center),
            Orbit {
                center,
                phase: i as f32,
            },
        ));
    }
    // A still, scaled entity and one at the origin with no rotation.
    world.spawn((
        Replicated,
        Transform::from_xyz(-1.0, 2.0, 3.0).with_scale(Vec3::new(2.0, 0.5, 1.0)),
    ));
    world.spawn((Replicated, Transform::IDENTITY));
    let clients = [net.add_client(), net.add_client()];
    net.run(240);

    // Stop moving; resends over the lossy link must bring every client to the last values.
    let world = net.server_mut().world_mut();
    let movers: Vec<Entity> = world
        .query_filtered::<Entity, With<Orbit>>()
        .iter(world)
        .collect();
    for entity in movers {
        world.entity_mut(entity).remove::<Orbit>();
    }
    net.run(120);
    for client in clients {
        let quantized = |value: &Transform| round_trip(&codec(), value);
        compare_transforms(&mut net, client, quantized).unwrap();
    }
}

/// Entities despawned and spawned all the time, so that new ones take the slots of old ones,
/// while all of them move: deltas against the values a slot held for its earlier entity would
/// show as wrong transforms.
#[test]
fn transforms_stay_exact_while_slots_change_hands_over_a_bad_link() {
    let mut net = TestNet::new(protocol).with_seed(11).with_default_link(
        LinkConditioner::new(80, 30, 0.15)
            .with_duplicate(0.05)
            .with_reorder(0.1),
    );
    net.server_mut().add_systems(FixedUpdate, move_on_orbit);
    let clients = [net.add_client(), net.add_client()];
    let mut live: Vec<Entity> = Vec::new();
    for step in 0..360u32 {
        let world = net.server_mut().world_mut();
        // Two out, two in, every third tick: slots freed are taken again soon.
        if step.is_multiple_of(3) && live.len() >= 24 {
            for at in [step as usize % live.len(), 0] {
                let gone = live.swap_remove(at.min(live.len() - 1));
                world.despawn(gone);
            }
        }
        while live.len() < 24 {
            let i = step as f32 + live.len() as f32;
            let center = Vec3::new(i.sin() * 30.0, 0.5, i.cos() * 30.0);
            let spawned = world.spawn((
                Replicated,
                Transform::from_translation(center),
                Orbit { center, phase: i },
            ));
            live.push(spawned.id());
        }
        net.step();
    }
    let world = net.server_mut().world_mut();
    for &entity in &live {
        world.entity_mut(entity).remove::<Orbit>();
    }
    net.run(180);
    for client in clients {
        let quantized = |value: &Transform| round_trip(&codec(), value);
        compare_transforms(&mut net, client, quantized).unwrap();
    }
}

#[test]
fn codec_settings_are_part_of_the_protocol() {
    let hash = |register: fn(&mut App)| {
        let mut app = App::new();
        register(&mut app);
        app.world().resource::<ProtocolHash>().value()
    };
    let serde = hash(|app| {
        app.replicate::<Transform>();
    });
    let default = hash(|app| {
        app.replicate_with::<Transform>(TransformCodec::default());
    });
    let coarse = hash(|app| {
        app.replicate_with::<Transform>(TransformCodec::default().with_position_step(0.01));
    });
    let coarse_again = hash(|app| {
        app.replicate_with::<Transform>(TransformCodec::default().with_position_step(0.01));
    });
    assert_ne!(serde, default);
    assert_ne!(default, coarse);
    assert_eq!(coarse, coarse_again);
}
