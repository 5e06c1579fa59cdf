//! Hierarchies replicate: `ChildOf` (an immutable relationship) travels like any component, and
//! a replicated child hangs under its parent's copy on every client, late joiners included.

use std::collections::BTreeSet;

use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    testing::{LinkConditioner, TestNet},
};
use serde::{Deserialize, Serialize};

use crate::common::{self, *};

/// An immutable component: replaced, never mutated in place.
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[component(immutable)]
pub struct Team(pub u8);

fn protocol(app: &mut App) {
    common::protocol(app);
    app.replicate::<ChildOf>().replicate::<Team>();
}

type Tree = BTreeSet<(u64, Option<u64>)>;

/// `(entity, parent)` of every replicated server entity, by entity bits; a parent that is not
/// replicated cannot be on clients, so it counts as none.
fn server_tree(net: &mut TestNet) -> Tree {
    let world = net.server_mut().world_mut();
    let mut query = world.query_filtered::<(Entity, Option<&ChildOf>), With<Replicated>>();
    let pairs: Vec<(Entity, Option<Entity>)> = query
        .iter(world)
        .map(|(entity, child_of)| (entity, child_of.map(ChildOf::parent)))
        .collect();
    pairs
        .into_iter()
        .map(|(entity, parent)| {
            let parent = parent.filter(|parent| world.get::<Replicated>(*parent).is_some());
            (entity.to_bits(), parent.map(Entity::to_bits))
        })
        .collect()
}

/// The same from a client's copies, checking that Bevy's `Children` agree with `ChildOf`.
fn client_tree(net: &mut TestNet, client: usize) -> Tree {
    let world = net.client_mut(client).world_mut();
    let map = world.resource::<ServerEntityMap>();
    let mut tree = Tree::new();
    for (server, copy) in map.iter() {
        let parent = world.get::<ChildOf>(copy).map(|child_of| {
            let parent = child_of.parent();
            assert!(
                world
                    .get::<Children>(parent)
                    .is_some_and(|children| children.contains(&copy)),
                "the parent's Children lack the child"
            );
            map.to_server(parent)
                .expect("a client parent is a replicated copy")
                .to_bits()
        });
        tree.insert((server.to_bits(), parent));
    }
    tree
}

fn assert_same_tree(net: &mut TestNet, client: usize) {
    let server = server_tree(net);
    assert_eq!(client_tree(net, client), server, "client {client}");
    assert_converged(net, client);
}

#[test]
fn children_hang_under_their_parents_copy_on_every_client_and_late_joiners() {
    let mut net = TestNet::new(protocol);
    let early = net.add_client();
    net.run(3);
    let root = net.spawn_on_server((Replicated, Health(1)));
    let child = net.spawn_on_server((Replicated, Health(2), ChildOf(root)));
    net.spawn_on_server((Replicated, Health(3), ChildOf(child)));
    net.spawn_on_server((Replicated, Health(4), ChildOf(root)));
    // A child the server does not replicate stays on the server.
    net.spawn_on_server((Health(5), ChildOf(root)));
    net.run(5);
    assert_same_tree(&mut net, early);
    assert_eq!(client_tree(&mut net, early).len(), 4);
    let late = net.add_client();
    net.run(8);
    assert_same_tree(&mut net, late);
}

/// Under a budget that carries a few entities per send, children that outrank their parents
/// still arrive under them: a child's spawn takes its unsent parent along, in the same frame.
#[test]
fn children_outranking_their_parents_under_a_tight_budget_bring_them_along() {
    let mut net = TestNet::new(protocol);
    net.server_mut().insert_resource(ServerConfig {
        bytes_per_second: 2_000,
        ..default()
    });
    let client = net.add_client();
    net.run(3);
    for i in 0..20 {
        let parent = net.spawn_on_server((Replicated, Health(i)));
        net.spawn_on_server((
            Replicated,
            Health(100 + i),
            ChildOf(parent),
            ReplicationPriority(50.0),
        ));
    }
    // After every step, what the client holds is as on the server: no child without its parent.
    let mut held = 0;
    for _ in 0..240 {
        net.run(1);
        let server = server_tree(&mut net);
        let tree = client_tree(&mut net, client);
        for entry in &tree {
            assert!(server.contains(entry), "{entry:?} is not as on the server");
        }
        held = tree.len();
    }
    assert_eq!(held, 40, "every entity arrived");
    assert_same_tree(&mut net, client);
}

#[test]
fn reparenting_and_despawning_the_parent_reach_clients() {
    let mut net = TestNet::new(protocol);
    let client = net.add_client();
    let a = net.spawn_on_server((Replicated, Health(1)));
    let b = net.spawn_on_server((Replicated, Health(2)));
    let child = net.spawn_on_server((Replicated, Health(3), ChildOf(a)));
    net.spawn_on_server((Replicated, Health(4), ChildOf(child)));
    net.run(5);
    assert_same_tree(&mut net, client);

    net.server_mut()
        .world_mut()
        .entity_mut(child)
        .insert(ChildOf(b));
    net.run(5);
    assert_same_tree(&mut net, client);

    // Despawning `b` despawns its descendants on the server, and so on clients.
    net.server_mut().world_mut().entity_mut(b).despawn();
    net.run(5);
    assert_same_tree(&mut net, client);
    assert_eq!(client_tree(&mut net, client).len(), 1, "only `a` is left");
}

#[test]
fn a_parent_that_stops_replicating_leaves_its_children_and_gets_them_back() {
    let mut net = TestNet::new(protocol);
    let client = net.add_client();
    let parent = net.spawn_on_server((Replicated, Health(1)));
    let child = net.spawn_on_server((Replicated, Health(2), ChildOf(parent)));
    net.run(5);
    assert_same_tree(&mut net, client);

    net.server_mut()
        .world_mut()
        .entity_mut(parent)
        .remove::<Replicated>();
    net.run(5);
    // The child is still replicated: it must not go down with the parent's copy.
    assert_same_tree(&mut net, client);
    let tree = client_tree(&mut net, client);
    assert_eq!(tree, Tree::from([(child.to_bits(), None)]));

    net.server_mut()
        .world_mut()
        .entity_mut(parent)
        .insert(Replicated);
    net.run(5);
    assert_same_tree(&mut net, client);
    assert!(client_tree(&mut net, client).contains(&(child.to_bits(), Some(parent.to_bits()))));
}

#[test]
fn immutable_components_replicate_by_reinsertion() {
    let mut net = TestNet::new(protocol);
    let client = net.add_client();
    let entity = net.spawn_on_server((Replicated, Team(1)));
    net.run(4);
    let team = |net: &mut TestNet| {
        let world = net.client_mut(client).world_mut();
        let copy = world.resource::<ServerEntityMap>().to_client(entity)?;
        world.get::<Team>(copy).copied()
    };
    assert_eq!(team(&mut net), Some(Team(1)));
    net.server_mut()
        .world_mut()
        .entity_mut(entity)
        .insert(Team(2));
    net.run(4);
    assert_eq!(team(&mut net), Some(Team(2)));
    net.server_mut()
        .world_mut()
        .entity_mut(entity)
        .remove::<Team>();
    net.run(4);
    assert_eq!(team(&mut net), None);
}

fn ancestors(world: &World, mut entity: Entity) -> Vec<Entity> {
    let mut found = Vec::new();
    while let Some(child_of) = world.get::<ChildOf>(entity) {
        entity = child_of.parent();
        found.push(entity);
    }
    found
}

/// Spawns, re-parents and despawns entities at random.
fn churn(
    net: &mut TestNet,
    entities: &mut Vec<Entity>,
    rng: &mut bevy_netsync::testing::SplitMix64,
) {
    let world = net.server_mut().world_mut();
    entities.retain(|entity| world.get_entity(*entity).is_ok());
    let pick = |rng: &mut bevy_netsync::testing::SplitMix64, entities: &[Entity]| {
        (!entities.is_empty()).then(|| entities[(rng.next_u64() % entities.len() as u64) as usize])
    };
    match rng.next_u64() % 10 {
        0..=3 => {
            let health = Health(rng.next_u64() as u32 % 100);
            let entity = match pick(rng, entities) {
                Some(parent) => world.spawn((Replicated, health, ChildOf(parent))).id(),
                None => world.spawn((Replicated, health)).id(),
            };
            entities.push(entity);
        }
        4..=5 => {
            if let (Some(child), Some(parent)) = (pick(rng, entities), pick(rng, entities))
                && child != parent
                // No cycles: the new parent must not descend from the child.
                && !ancestors(world, parent).contains(&child)
            {
                world.entity_mut(child).insert(ChildOf(parent));
            }
        }
        6 => {
            if let Some(entity) = pick(rng, entities) {
                world.entity_mut(entity).remove::<ChildOf>();
            }
        }
        7 => {
            if entities.len() > 6
                && let Some(entity) = pick(rng, entities)
            {
                world.entity_mut(entity).despawn();
            }
        }
        _ => {
            if let Some(entity) = pick(rng, entities) {
                world.get_mut::<Health>(entity).unwrap().0 += 1;
            }
        }
    }
}

#[test]
fn hierarchies_converge_over_a_bad_link() {
    let link = LinkConditioner::new(60, 15, 0.1)
        .with_duplicate(0.05)
        .with_reorder(0.05);
    let mut net = TestNet::new(protocol).with_seed(3).with_default_link(link);
    let early = net.add_client();
    let mut rng = bevy_netsync::testing::SplitMix64::new(11);
    let mut entities = Vec::new();
    for _ in 0..300 {
        churn(&mut net, &mut entities, &mut rng);
        net.step();
    }
    let late = net.add_client();
    for _ in 0..120 {
        churn(&mut net, &mut entities, &mut rng);
        net.step();
    }
    net.run(240);
    assert!(server_tree(&mut net).len() > 10);
    assert!(
        server_tree(&mut net)
            .iter()
            .any(|(_, parent)| parent.is_some()),
        "the script made hierarchies"
    );
    for client in [early, late] {
        assert_same_tree(&mut net, client);
    }
}
