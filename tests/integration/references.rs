//! Entities named inside components follow replication: a reference to an entity a client does
//! not have is `Entity::PLACEHOLDER` until the entity arrives, and toggling `Replicated` keeps
//! every reference right.

use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    testing::{LinkConditioner, SplitMix64, TestNet},
};

use crate::common::*;

/// The client's `Target` of the copy of `referrer`, as the server entity it names.
fn client_target(net: &mut TestNet, client: usize, referrer: Entity) -> Option<Entity> {
    let world = net.client_mut(client).world_mut();
    let map = world.resource::<ServerEntityMap>();
    let copy = map.to_client(referrer)?;
    let target = world.get::<Target>(copy)?.0;
    Some(map.to_server(target).unwrap_or(Entity::PLACEHOLDER))
}

#[test]
fn a_reference_resolves_when_its_target_starts_replicating() {
    let mut net = net();
    let client = net.add_client();
    let target = net.spawn_on_server(Health(7));
    let referrer = net.spawn_on_server((Replicated, Target(target)));
    net.run(4);
    assert_eq!(
        client_target(&mut net, client, referrer),
        Some(Entity::PLACEHOLDER)
    );
    // Only the target changes: the referrer is not sent again, yet its reference resolves.
    net.server_mut()
        .world_mut()
        .entity_mut(target)
        .insert(Replicated);
    net.run(4);
    assert_eq!(client_target(&mut net, client, referrer), Some(target));
    assert_converged(&mut net, client);
}

#[test]
fn toggling_replicated_keeps_references_right() {
    let mut net = net();
    let client = net.add_client();
    let target = net.spawn_on_server((Replicated, Health(1)));
    let referrer = net.spawn_on_server((Replicated, Target(target)));
    net.run(4);
    assert_eq!(client_target(&mut net, client, referrer), Some(target));

    net.server_mut()
        .world_mut()
        .entity_mut(target)
        .remove::<Replicated>();
    net.run(4);
    assert_eq!(
        client_target(&mut net, client, referrer),
        Some(Entity::PLACEHOLDER)
    );
    assert_converged(&mut net, client);

    net.server_mut()
        .world_mut()
        .entity_mut(target)
        .insert(Replicated);
    net.run(4);
    assert_eq!(client_target(&mut net, client, referrer), Some(target));
    assert_converged(&mut net, client);
}

#[test]
fn toggling_replicated_within_a_tick_with_removals_leaves_clients_equal() {
    let mut net = net();
    let client = net.add_client();
    let target = net.spawn_on_server((Replicated, Health(1), Position(Vec3::X)));
    let referrer = net.spawn_on_server((Replicated, Target(target), Health(2)));
    net.run(4);
    {
        let world = net.server_mut().world_mut();
        let mut entity = world.entity_mut(target);
        entity.remove::<Replicated>();
        entity.remove::<Health>();
        entity.insert(Replicated);
        entity.insert(Position(Vec3::Y));
        let mut referrer = world.entity_mut(referrer);
        referrer.remove::<Replicated>();
        referrer.remove::<Health>();
        referrer.insert(Replicated);
    }
    net.run(4);
    assert_converged(&mut net, client);
    assert_eq!(client_target(&mut net, client, referrer), Some(target));
}

#[test]
fn references_stay_right_through_toggles_over_a_bad_link() {
    let link = LinkConditioner::new(50, 10, 0.15)
        .with_duplicate(0.05)
        .with_reorder(0.05);
    let mut net = net().with_default_link(link).with_seed(9);
    let early = net.add_client();
    let mut rng = SplitMix64::new(5);
    let entities: Vec<Entity> = (0..20)
        .map(|i| net.spawn_on_server((Replicated, Health(i))))
        .collect();
    for step in 0..400 {
        let world = net.server_mut().world_mut();
        let pick =
            |rng: &mut SplitMix64| entities[(rng.next_u64() % entities.len() as u64) as usize];
        match rng.next_u64() % 6 {
            0 => {
                let (a, b) = (pick(&mut rng), pick(&mut rng));
                world.entity_mut(a).insert(Target(b));
            }
            1 => {
                let entity = pick(&mut rng);
                if world.get::<Replicated>(entity).is_some() {
                    world.entity_mut(entity).remove::<Replicated>();
                } else {
                    world.entity_mut(entity).insert(Replicated);
                }
            }
            2 => {
                // Off and on within the tick, with a removal in between.
                let mut entity = world.entity_mut(pick(&mut rng));
                entity.remove::<Replicated>();
                entity.remove::<Position>();
                entity.insert(Replicated);
            }
            3 => {
                world
                    .entity_mut(pick(&mut rng))
                    .insert(Position(Vec3::splat(step as f32)));
            }
            _ => {}
        }
        net.step();
    }
    let late = net.add_client();
    net.run(300);
    for client in [early, late] {
        assert_converged(&mut net, client);
    }
}
