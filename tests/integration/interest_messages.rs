//! Messages about entities under interest management: `SendMode::Seeing(e)` reaches exactly
//! the clients that receive `e` (or held it until it went), never before `e` itself.

use std::collections::BTreeSet;

use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    server::{RelevanceRule, ViewPoint},
    testing::TestNet,
};

use crate::common::*;
use crate::interest::{Ping, assert_sees, at, client_entity, protocol};

#[test]
fn messages_reach_the_clients_that_see_an_entity_and_the_rule_applies() {
    let mut net = TestNet::new(protocol);
    let near = net.add_client_with(collect::<Ping>);
    let far = net.add_client_with(collect::<Ping>);
    let blind = net.add_client_with(collect::<Ping>);
    net.run(10);
    let entities = [near, far, blind].map(|client| client_entity(&mut net, client));
    {
        let world = net.server_mut().world_mut();
        world
            .entity_mut(entities[0])
            .insert(ViewPoint::at(Vec3::ZERO, 10.0));
        world
            .entity_mut(entities[1])
            .insert(ViewPoint::at(Vec3::splat(100.0), 10.0));
        world
            .entity_mut(entities[2])
            .insert(ViewPoint::at(Vec3::ZERO, 10.0));
    }
    // The game's rule: the third client sees nothing with Health above 5.
    let blind_entity = entities[2];
    net.server_mut()
        .insert_resource(RelevanceRule::new(move |world, client, entity| {
            client != blind_entity
                || world
                    .get::<Health>(entity)
                    .is_none_or(|health| health.0 <= 5)
        }));
    let thing = net.spawn_on_server((Replicated, at(1.0), Health(7)));
    net.run(20);
    assert_sees(&mut net, near, &BTreeSet::from([thing]));
    assert_sees(&mut net, far, &BTreeSet::new());
    assert_sees(&mut net, blind, &BTreeSet::new());
    net.server_mut().world_mut().write_message(ToClients {
        mode: SendMode::Seeing(thing),
        message: Ping(1),
    });
    net.run(10);
    assert_eq!(collected::<Ping>(net.client(near)), [Ping(1)]);
    assert!(collected::<Ping>(net.client(far)).is_empty());
    assert!(collected::<Ping>(net.client(blind)).is_empty());
    // The rule changes its mind when the entity does.
    net.server_mut()
        .world_mut()
        .get_mut::<Health>(thing)
        .unwrap()
        .0 = 3;
    net.run(20);
    assert_sees(&mut net, blind, &BTreeSet::from([thing]));
}

/// Steps, checking after each step that no client has `ping` before it holds `entity`.
fn run_checking_order(
    net: &mut TestNet,
    steps: usize,
    clients: &[usize],
    entity: Entity,
    ping: Ping,
) {
    use bevy_netsync::shared::entity_map::ServerEntityMap;
    for _ in 0..steps {
        net.step();
        for &client in clients {
            if collected::<Ping>(net.client(client)).contains(&ping) {
                let map = net.client(client).world().resource::<ServerEntityMap>();
                assert!(
                    map.to_client(entity).is_some(),
                    "client {client}: {ping:?} before its entity"
                );
            }
        }
    }
}

#[test]
fn a_message_about_an_entity_reaches_who_receives_it_in_the_frame_it_appears() {
    for send_interval_ticks in [1, 3] {
        let mut net = TestNet::new(protocol);
        net.server_mut().insert_resource(ServerConfig {
            send_interval_ticks,
            ..default()
        });
        let near = net.add_client_with(collect::<Ping>);
        let far = net.add_client_with(collect::<Ping>);
        // No view point: sees every root.
        let everywhere = net.add_client_with(collect::<Ping>);
        net.run(10);
        let [near_e, far_e] = [near, far].map(|client| client_entity(&mut net, client));
        {
            let world = net.server_mut().world_mut();
            world
                .entity_mut(near_e)
                .insert(ViewPoint::at(Vec3::ZERO, 10.0));
            world
                .entity_mut(far_e)
                .insert(ViewPoint::at(Vec3::splat(100.0), 10.0));
        }
        // In nobody's view point.
        let mover = net.spawn_on_server((Replicated, at(50.0), Health(2)));
        net.run(20);
        let clients = [near, far, everywhere];

        // Spawned and announced in the same frame.
        let thing = net.spawn_on_server((Replicated, at(1.0), Health(1)));
        net.server_mut().world_mut().write_message(ToClients {
            mode: SendMode::Seeing(thing),
            message: Ping(1),
        });
        run_checking_order(&mut net, 20, &clients, thing, Ping(1));

        // Entering `near`'s view and announced in the same frame.
        *net.server_mut()
            .world_mut()
            .get_mut::<Transform>(mover)
            .unwrap() = at(2.0);
        net.server_mut().world_mut().write_message(ToClients {
            mode: SendMode::Seeing(mover),
            message: Ping(2),
        });
        run_checking_order(&mut net, 20, &clients, mover, Ping(2));

        // Despawned in the frame it is announced: those that held it hear of it.
        net.server_mut().world_mut().entity_mut(thing).despawn();
        net.server_mut().world_mut().write_message(ToClients {
            mode: SendMode::Seeing(thing),
            message: Ping(3),
        });
        net.run(20);

        let all = [Ping(1), Ping(2), Ping(3)];
        assert_eq!(collected::<Ping>(net.client(near)), all);
        assert_eq!(collected::<Ping>(net.client(everywhere)), all);
        assert!(collected::<Ping>(net.client(far)).is_empty());
    }
}
