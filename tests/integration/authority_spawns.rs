//! Client authority over the test network, continued: entities a client spawns to own, and
//! random owned-value sections and requests from a holding client.

use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    testing::{LinkConditioner, TestNet},
};

use crate::{authority::assert_everyone_at, common::authority::*};

#[test]
fn random_owned_sections_and_requests_never_break_the_rule_or_the_server() {
    use bevy_netsync::testing::{FuzzAuthority, SplitMix64};
    let mut fuzz = FuzzAuthority::new();
    let mut rng = SplitMix64::new(77);
    for round in 0..400 {
        let len = (rng.next_u64() % 48) as usize;
        let mut data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if let Some(first) = data.first_mut() {
            // Mostly sections, with a tick near the server's.
            *first = if round % 5 == 0 { 1 } else { 0 };
        }
        if let Some(second) = data.get_mut(1) {
            *second %= 8;
        }
        fuzz.feed(&data);
    }
    let world = fuzz.net().server_mut().world_mut();
    for transform in world.query::<&Transform>().iter(world) {
        assert!(
            transform.translation.is_finite() && transform.translation.length() < 1_000.0,
            "the rule let {transform:?} through"
        );
    }
}

/// The server's rule for client spawns: balls at x ≤ [`BOUND`] are approved, others refused.
fn judge_spawns(
    mut requests: MessageReader<ClientSpawnRequested>,
    spawned: Query<&Transform>,
    mut commands: Commands,
) {
    for request in requests.read() {
        let inside = spawned
            .get(request.entity)
            .is_ok_and(|transform| transform.translation.x <= BOUND);
        if inside {
            commands
                .entity(request.entity)
                .insert(Ball)
                .approve_client_spawn();
        } else {
            commands.entity(request.entity).despawn();
        }
    }
}

/// The balls a client holds copies of.
fn balls(net: &mut TestNet, client: usize) -> Vec<(Entity, f32)> {
    let world = net.client_mut(client).world_mut();
    world
        .query_filtered::<(Entity, &Transform), With<Ball>>()
        .iter(world)
        .map(|(entity, transform)| (entity, transform.translation.x))
        .collect()
}

#[test]
fn a_client_spawns_an_entity_it_owns_and_its_copy_becomes_the_servers() {
    let mut net = net(LinkConditioner::p95().with_reorder(0.05), 13, BOUND);
    net.server_mut().add_systems(Update, judge_spawns);
    let (spawner, other) = (add_pusher(&mut net), net.add_client());
    net.run(90);
    let local = net
        .client_mut(spawner)
        .world_mut()
        .spawn((
            Ball,
            Transform::from_xyz(1.5, 0.0, 0.0),
            Charge(3),
            SpawnOwned,
        ))
        .id();
    // One the rule refuses.
    let refused = net
        .client_mut(spawner)
        .world_mut()
        .spawn((Ball, Transform::from_xyz(9.0, 0.0, 0.0), SpawnOwned))
        .id();
    assert!(net.run_until(240, |net| holds(
        net,
        spawner,
        copy_server(net, spawner, local)
    )));
    let server_entity = copy_server(&net, spawner, local);
    assert_eq!(
        net.server().world().get::<Charge>(server_entity),
        Some(&Charge(3))
    );
    assert_eq!(holder_id(&net, server_entity), Some(net.client_id(spawner)));
    set_pushing(&mut net, spawner, true);
    net.run(30);
    set_pushing(&mut net, spawner, false);
    net.run(150);
    assert!(
        net.client(spawner).world().get_entity(refused).is_err(),
        "the refused spawn is still there"
    );
    // No duplicate: the spawner holds one ball, its own entity, which moved; so does the other.
    let mine = balls(&mut net, spawner);
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0].0, local);
    assert!(mine[0].1 > 2.0, "the spawner moved it: {mine:?}");
    assert_eq!(balls(&mut net, other).len(), 1);
    assert_everyone_at(&net, server_entity, mine[0].1);
}

/// The server entity a client's own entity became, or the placeholder.
fn copy_server(net: &TestNet, client: usize, local: Entity) -> Entity {
    net.client(client)
        .world()
        .resource::<ServerEntityMap>()
        .to_server(local)
        .unwrap_or(Entity::PLACEHOLDER)
}
