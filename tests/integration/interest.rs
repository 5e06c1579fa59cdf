//! Interest management: each client receives exactly the entities relevant to it (rooms, view
//! point, the game's rule), each entering with its current state and leaving cleanly.

use std::collections::BTreeSet;

use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    server::{FreezeWhenHidden, InterestSettings, RoomId, Rooms, ViewPoint},
    testing::{LinkConditioner, SplitMix64, TestNet},
};
use serde::{Deserialize, Serialize};

use crate::common::{self, *};

pub(crate) fn protocol(app: &mut App) {
    common::protocol(app);
    app.replicate::<Transform>()
        .replicate::<ChildOf>()
        .add_server_message::<Ping>(Channel::Reliable);
}

#[derive(Message, Serialize, Deserialize, Clone, Copy, PartialEq, Debug)]
pub(crate) struct Ping(pub(crate) u32);

/// The server's `ConnectedClient` entity of a test client.
pub(crate) fn client_entity(net: &mut TestNet, client: usize) -> Entity {
    let id = net.client_id(client);
    let world = net.server_mut().world_mut();
    world
        .query::<(Entity, &ConnectedClient)>()
        .iter(world)
        .find(|(_, connected)| connected.id() == id)
        .map(|(entity, _)| entity)
        .expect("the client is connected")
}

/// Asserts that `client` holds exactly `visible` (server entities), each with the server's
/// values, and that its references to entities it does not see are placeholders.
pub(crate) fn assert_sees(net: &mut TestNet, client: usize, visible: &BTreeSet<Entity>) {
    let bits: BTreeSet<u64> = visible.iter().map(|entity| entity.to_bits()).collect();
    let mut expected = server_snapshot(net.server_mut());
    expected.retain(|entity, _| bits.contains(entity));
    for state in expected.values_mut() {
        if let Some(target) = state.target.as_mut()
            && !bits.contains(target)
        {
            *target = Entity::PLACEHOLDER.to_bits();
        }
    }
    let held = client_snapshot(net.client_mut(client));
    assert_eq!(held, expected, "client {client}");
}

pub(crate) fn at(x: f32) -> Transform {
    Transform::from_xyz(x, 0.0, 0.0)
}

#[test]
fn an_entity_leaving_and_reentering_view_comes_back_exactly() {
    let link = LinkConditioner::new(40, 10, 0.1)
        .with_duplicate(0.05)
        .with_reorder(0.05);
    for link in [LinkConditioner::PERFECT, link] {
        let mut net = TestNet::new(protocol).with_default_link(link).with_seed(8);
        let client = net.add_client();
        net.run(20);
        let viewer = client_entity(&mut net, client);
        net.server_mut()
            .world_mut()
            .entity_mut(viewer)
            .insert(ViewPoint::at(Vec3::ZERO, 10.0));
        let near = net.spawn_on_server((Replicated, at(3.0), Health(1), Position(Vec3::X)));
        let roamer = net.spawn_on_server((Replicated, at(5.0), Health(2), Position(Vec3::Y)));
        let far = net.spawn_on_server((Replicated, at(50.0), Health(3)));
        net.run(60);
        assert_sees(&mut net, client, &BTreeSet::from([near, roamer]));

        // The roamer leaves; while away it changes, gains and loses components.
        net.server_mut()
            .world_mut()
            .entity_mut(roamer)
            .insert(at(40.0));
        net.run(60);
        assert_sees(&mut net, client, &BTreeSet::from([near]));
        {
            let world = net.server_mut().world_mut();
            let mut roamer = world.entity_mut(roamer);
            roamer.get_mut::<Health>().unwrap().0 = 20;
            roamer.insert(Target(far));
            roamer.remove::<Position>();
        }
        net.run(30);
        net.server_mut()
            .world_mut()
            .entity_mut(roamer)
            .insert(at(4.0));
        net.run(60);
        assert_sees(&mut net, client, &BTreeSet::from([near, roamer]));
        // And the far one walks in, which resolves the roamer's reference to it.
        net.server_mut().world_mut().entity_mut(far).insert(at(6.0));
        net.run(60);
        assert_sees(&mut net, client, &BTreeSet::from([near, roamer, far]));
    }
}

#[test]
fn an_entity_on_the_edge_does_not_flicker() {
    let mut net = TestNet::new(protocol);
    let client = net.add_client();
    net.run(10);
    let viewer = client_entity(&mut net, client);
    net.server_mut()
        .world_mut()
        .entity_mut(viewer)
        .insert(ViewPoint::at(Vec3::ZERO, 10.0));
    let edge = net.spawn_on_server((Replicated, at(9.9), Health(1)));
    net.run(10);
    let spawns_before = net.downstream(client).bytes;
    // Wobbling across the radius, within the 10 % margin, it stays.
    for step in 0..120 {
        let x = if step % 2 == 0 { 10.3 } else { 9.8 };
        net.server_mut().world_mut().entity_mut(edge).insert(at(x));
        net.step();
        assert_eq!(
            client_snapshot(net.client_mut(client)).len(),
            1,
            "step {step}"
        );
    }
    assert!(net.downstream(client).bytes > spawns_before);
    net.server_mut()
        .world_mut()
        .entity_mut(edge)
        .insert(at(11.5));
    net.run(10);
    assert_eq!(
        client_snapshot(net.client_mut(client)).len(),
        0,
        "beyond the margin it leaves"
    );
}

#[test]
fn a_late_joiner_receives_only_what_it_sees_and_two_views_differ() {
    let mut net = TestNet::new(protocol);
    // Each client gets its view point as it connects: odd ids look left, even ones right.
    net.server_mut().add_observer(
        |event: On<Add, ConnectedClient>,
         clients: Query<&ConnectedClient>,
         mut commands: Commands| {
            let Ok(client) = clients.get(event.entity) else {
                return;
            };
            let view = if client.id() % 2 == 1 {
                ViewPoint::at(Vec3::new(-150.0, 0.0, 0.0), 20.0)
            } else {
                ViewPoint::at(Vec3::new(150.0, 0.0, 0.0), 30.0)
            };
            commands.entity(event.entity).insert(view);
        },
    );
    let mut entities = Vec::new();
    for i in 0..200 {
        let x = i as f32 * 2.0 - 200.0;
        entities.push((x, net.spawn_on_server((Replicated, at(x), Health(i)))));
    }
    net.run(30);
    let left = net.add_client();
    let right = net.add_client();
    net.run(60);
    let within = |center: f32, radius: f32| -> BTreeSet<Entity> {
        entities
            .iter()
            .filter(|(x, _)| (x - center).abs() <= radius)
            .map(|(_, entity)| *entity)
            .collect()
    };
    assert_sees(&mut net, left, &within(-150.0, 20.0));
    assert_sees(&mut net, right, &within(150.0, 30.0));
    assert_eq!(within(-150.0, 20.0).len(), 21);
    // What it received is what it sees: about a tenth of the world's spawns.
    let whole_world = {
        let mut net = TestNet::new(protocol);
        for i in 0..200 {
            net.spawn_on_server((Replicated, at(i as f32 * 2.0 - 200.0), Health(i)));
        }
        let client = net.add_client();
        net.run(60);
        net.downstream(client).bytes
    };
    let received = net.downstream(left).bytes;
    assert!(
        received * 3 < whole_world,
        "{received} bytes for 21 entities, {whole_world} for all 200"
    );
}

#[test]
fn rooms_decide_who_sees_what_and_clients_move_between_them() {
    let link = LinkConditioner::new(30, 10, 0.1).with_reorder(0.05);
    let mut net = TestNet::new(protocol).with_default_link(link).with_seed(3);
    let client = net.add_client();
    net.run(20);
    let viewer = client_entity(&mut net, client);
    let (a, b) = (RoomId(1), RoomId(2));
    let in_a = net.spawn_on_server((Replicated, Health(1), Rooms::new([a])));
    let in_b = net.spawn_on_server((Replicated, Health(2), Rooms::new([b])));
    let in_both = net.spawn_on_server((Replicated, Health(3), Rooms::new([a, b])));
    let lobby = net.spawn_on_server((Replicated, Health(4)));
    net.server_mut()
        .world_mut()
        .entity_mut(viewer)
        .insert(Rooms::new([a]));
    net.run(60);
    assert_sees(&mut net, client, &BTreeSet::from([in_a, in_both, lobby]));

    net.server_mut()
        .world_mut()
        .entity_mut(viewer)
        .insert(Rooms::new([b]));
    net.run(60);
    assert_sees(&mut net, client, &BTreeSet::from([in_b, in_both, lobby]));

    // An entity moves from room B to A: it leaves this client.
    net.server_mut()
        .world_mut()
        .entity_mut(in_b)
        .insert(Rooms::new([a]));
    net.run(60);
    assert_sees(&mut net, client, &BTreeSet::from([in_both, lobby]));

    // Rooms for everything: the lobby entity (in no room) goes too.
    net.server_mut()
        .world_mut()
        .resource_mut::<bevy_netsync::server::InterestSettings>()
        .rooms_for_everything = true;
    net.server_mut()
        .world_mut()
        .entity_mut(viewer)
        .remove::<Rooms>();
    net.run(60);
    assert_sees(&mut net, client, &BTreeSet::new());
}

#[test]
fn children_go_where_their_root_goes() {
    let mut net = TestNet::new(protocol);
    let client = net.add_client();
    net.run(10);
    let viewer = client_entity(&mut net, client);
    net.server_mut()
        .world_mut()
        .entity_mut(viewer)
        .insert(ViewPoint::at(Vec3::ZERO, 10.0));
    let root = net.spawn_on_server((Replicated, at(2.0), Health(1)));
    // Children far from the view point still follow their root.
    let child = net.spawn_on_server((Replicated, at(500.0), Health(2), ChildOf(root)));
    let grandchild = net.spawn_on_server((Replicated, Health(3), ChildOf(child)));
    net.run(20);
    assert_sees(&mut net, client, &BTreeSet::from([root, child, grandchild]));
    let copy = |net: &mut TestNet, entity| {
        net.client(client)
            .world()
            .resource::<ServerEntityMap>()
            .to_client(entity)
    };
    let (root_copy, child_copy) = (
        copy(&mut net, root).unwrap(),
        copy(&mut net, child).unwrap(),
    );
    assert_eq!(
        net.client(client)
            .world()
            .get::<ChildOf>(child_copy)
            .map(ChildOf::parent),
        Some(root_copy)
    );
    net.server_mut()
        .world_mut()
        .entity_mut(root)
        .insert(at(100.0));
    net.run(20);
    assert_sees(&mut net, client, &BTreeSet::new());
    net.server_mut()
        .world_mut()
        .entity_mut(root)
        .insert(at(1.0));
    net.run(20);
    assert_sees(&mut net, client, &BTreeSet::from([root, child, grandchild]));
}

#[test]
fn frozen_entities_stay_as_last_seen_until_they_come_back_or_die() {
    let mut net = TestNet::new(protocol);
    let client = net.add_client();
    net.run(10);
    let viewer = client_entity(&mut net, client);
    net.server_mut()
        .world_mut()
        .entity_mut(viewer)
        .insert(ViewPoint::at(Vec3::ZERO, 10.0));
    let statue = net.spawn_on_server((Replicated, FreezeWhenHidden, at(2.0), Health(1)));
    net.run(20);
    let copy = net
        .client(client)
        .world()
        .resource::<ServerEntityMap>()
        .to_client(statue)
        .unwrap();
    net.server_mut()
        .world_mut()
        .entity_mut(statue)
        .insert(at(50.0));
    net.run(20);
    net.server_mut()
        .world_mut()
        .get_mut::<Health>(statue)
        .unwrap()
        .0 = 9;
    net.run(20);
    {
        let world = net.client(client).world();
        assert!(world.get::<Frozen>(copy).is_some(), "kept, frozen");
        assert_eq!(world.get::<Health>(copy), Some(&Health(1)), "as last seen");
        assert_eq!(
            world.get::<Transform>(copy).map(|t| t.translation.x),
            Some(2.0)
        );
    }
    net.server_mut()
        .world_mut()
        .entity_mut(statue)
        .insert(at(3.0));
    net.run(20);
    {
        let world = net.client(client).world();
        assert!(world.get::<Frozen>(copy).is_none(), "thawed");
        assert_eq!(world.get::<Health>(copy), Some(&Health(9)));
    }
    assert_sees(&mut net, client, &BTreeSet::from([statue]));
    // Hidden and frozen again, then despawned on the server: gone on the client too.
    net.server_mut()
        .world_mut()
        .entity_mut(statue)
        .insert(at(50.0));
    net.run(20);
    net.server_mut().world_mut().entity_mut(statue).despawn();
    net.run(20);
    assert!(net.client(client).world().get_entity(copy).is_err());
}

#[test]
fn views_stay_exact_through_churn_over_a_bad_link() {
    let link = LinkConditioner::new(60, 15, 0.15)
        .with_duplicate(0.05)
        .with_reorder(0.05);
    let mut net = TestNet::new(protocol).with_default_link(link).with_seed(21);
    let early = net.add_client();
    net.run(30);
    let viewer = client_entity(&mut net, early);
    net.server_mut()
        .world_mut()
        .entity_mut(viewer)
        .insert(ViewPoint::at(Vec3::ZERO, 20.0));
    let mut rng = SplitMix64::new(4);
    let entities: Vec<Entity> = (0..60)
        .map(|i| net.spawn_on_server((Replicated, at(i as f32 - 30.0), Health(i))))
        .collect();
    for _ in 0..400 {
        let world = net.server_mut().world_mut();
        for _ in 0..3 {
            let entity = entities[(rng.next_u64() % entities.len() as u64) as usize];
            match rng.next_u64() % 4 {
                0 => {
                    let x = (rng.next_f64() * 80.0 - 40.0) as f32;
                    world.entity_mut(entity).insert(at(x));
                }
                1 => world.get_mut::<Health>(entity).unwrap().0 += 1,
                2 => {
                    let other = entities[(rng.next_u64() % entities.len() as u64) as usize];
                    world.entity_mut(entity).insert(Target(other));
                }
                _ => {
                    world.entity_mut(entity).remove::<Target>();
                }
            }
        }
        net.step();
    }
    // Entities within the hysteresis margin of a view may or may not be in it, depending on
    // their past: move them clearly out before comparing.
    {
        let world = net.server_mut().world_mut();
        for &entity in &entities {
            let mut transform = world.get_mut::<Transform>(entity).unwrap();
            let x = transform.translation.x;
            let in_margin = |center: f32, radius: f32| {
                let distance = (x - center).abs();
                distance > radius * 0.95 && distance < radius * 1.15
            };
            if in_margin(0.0, 20.0) || in_margin(10.0, 15.0) {
                transform.translation.x = 60.0;
            }
        }
    }
    let late = net.add_client();
    net.run(20);
    let late_viewer = client_entity(&mut net, late);
    net.server_mut()
        .world_mut()
        .entity_mut(late_viewer)
        .insert(ViewPoint::at(Vec3::new(10.0, 0.0, 0.0), 15.0));
    net.run(300);
    let within = |net: &mut TestNet, center: f32, radius: f32| -> BTreeSet<Entity> {
        let world = net.server_mut().world_mut();
        entities
            .iter()
            .copied()
            .filter(|entity| {
                (world.get::<Transform>(*entity).unwrap().translation.x - center).abs() <= radius
            })
            .collect()
    };
    let early_view = within(&mut net, 0.0, 20.0);
    let late_view = within(&mut net, 10.0, 15.0);
    assert!(early_view.len() > 5 && late_view.len() > 5);
    assert_sees(&mut net, early, &early_view);
    assert_sees(&mut net, late, &late_view);
}

#[test]
fn rooms_for_everything_holds_before_any_room_exists() {
    let mut net = TestNet::new(protocol);
    net.server_mut().insert_resource(InterestSettings {
        rooms_for_everything: true,
        ..default()
    });
    let client = net.add_client();
    let lobby = net.spawn_on_server((Replicated, Health(1)));
    net.spawn_on_server((Replicated, Health(2), at(3.0)));
    net.run(30);
    assert_sees(&mut net, client, &BTreeSet::new());

    let viewer = client_entity(&mut net, client);
    let world = net.server_mut().world_mut();
    world.entity_mut(viewer).insert(Rooms::new([RoomId(1)]));
    world.entity_mut(lobby).insert(Rooms::new([RoomId(1)]));
    net.run(30);
    assert_sees(&mut net, client, &BTreeSet::from([lobby]));
}

#[test]
fn interest_management_started_late_keeps_existing_entities_and_children() {
    let mut net = TestNet::new(protocol);
    let client = net.add_client();
    // No `Transform`: placed by rooms alone.
    let parent = net.spawn_on_server((Replicated, Health(1)));
    let child = net.spawn_on_server((Replicated, Health(2), ChildOf(parent)));
    net.run(30);
    assert_sees(&mut net, client, &BTreeSet::from([parent, child]));

    let viewer = client_entity(&mut net, client);
    let world = net.server_mut().world_mut();
    world
        .resource_mut::<InterestSettings>()
        .rooms_for_everything = true;
    world.entity_mut(viewer).insert(Rooms::new([RoomId(4)]));
    world.entity_mut(parent).insert(Rooms::new([RoomId(4)]));
    net.run(30);
    assert_sees(&mut net, client, &BTreeSet::from([parent, child]));
}
