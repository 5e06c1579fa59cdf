use crate::common::*;
use bevy::prelude::*;
use bevy_netsync::prelude::*;

#[test]
fn spawned_entities_reach_every_client_with_their_components() {
    let mut net = net();
    let a = net.add_client();
    let b = net.add_client();
    net.run(5);
    assert_eq!(connected_clients(&mut net), 2);
    assert_eq!(client_state(&net, a), ClientState::Connected);

    let world = net.server_mut().world_mut();
    world.spawn((Replicated, Health(10), Position(Vec3::new(1.0, 2.0, 3.0))));
    world.spawn((Replicated, Health(20), ServerOnly));
    world.spawn((Health(99), Position(Vec3::ONE))); // not marked: stays on the server
    net.run(3);

    for client in [a, b] {
        assert_converged(&mut net, client);
        assert_eq!(client_snapshot(net.client_mut(client)).len(), 2);
        let world = net.client_mut(client).world_mut();
        assert_eq!(world.query::<&ServerOnly>().iter(world).count(), 0);
        assert_eq!(world.query::<&Health>().iter(world).count(), 2);
    }
}

#[test]
fn despawned_entities_disappear_from_clients() {
    let mut net = net();
    let client = net.add_client();
    net.run(5);
    let world = net.server_mut().world_mut();
    let keep = world.spawn((Replicated, Health(1))).id();
    let gone = world.spawn((Replicated, Health(2))).id();
    let unmarked = world.spawn((Replicated, Health(3))).id();
    net.run(3);
    assert_eq!(client_snapshot(net.client_mut(client)).len(), 3);

    net.server_mut().world_mut().entity_mut(gone).despawn();
    net.server_mut()
        .world_mut()
        .entity_mut(unmarked)
        .remove::<Replicated>();
    net.run(3);

    assert_converged(&mut net, client);
    let snapshot = client_snapshot(net.client_mut(client));
    assert_eq!(
        snapshot.keys().copied().collect::<Vec<_>>(),
        [keep.to_bits()]
    );
    let world = net.client_mut(client).world_mut();
    assert_eq!(world.query::<&FromServer>().iter(world).count(), 1);
}

#[test]
fn spawned_and_despawned_in_one_tick_never_reaches_clients() {
    let mut net = net();
    let client = net.add_client();
    net.run(5);
    let world = net.server_mut().world_mut();
    let flash = world.spawn((Replicated, Health(1))).id();
    world.entity_mut(flash).despawn();
    net.run(3);
    assert!(client_snapshot(net.client_mut(client)).is_empty());
}

#[test]
fn entities_marked_before_the_first_send_are_replicated() {
    let mut net = net();
    net.server_mut().world_mut().spawn((Replicated, Health(5)));
    let client = net.add_client();
    net.run(5);
    assert_converged(&mut net, client);
    assert_eq!(client_snapshot(net.client_mut(client)).len(), 1);
}
