use crate::common::*;
use bevy::prelude::*;
use bevy_netsync::prelude::*;

#[test]
fn entity_fields_point_to_the_clients_own_entities() {
    let mut net = net();
    let client = net.add_client();
    net.run(5);

    // Spawned in the same tick, referencing each other in both directions.
    let world = net.server_mut().world_mut();
    let a = world.spawn((Replicated, Health(1))).id();
    let b = world.spawn((Replicated, Health(2), Target(a))).id();
    world.entity_mut(a).insert(Target(b));
    net.run(3);
    assert_converged(&mut net, client);

    let world = net.client_mut(client).world_mut();
    let map = world.resource::<ServerEntityMap>();
    let (client_a, client_b) = (map.to_client(a).unwrap(), map.to_client(b).unwrap());
    assert_eq!(world.get::<Target>(client_a), Some(&Target(client_b)));
    assert_eq!(world.get::<Target>(client_b), Some(&Target(client_a)));

    // A later mutation that points at an entity spawned earlier.
    let c = net.spawn_on_server((Replicated, Health(3)));
    net.run(2);
    net.server_mut().world_mut().get_mut::<Target>(b).unwrap().0 = c;
    net.run(2);
    assert_converged(&mut net, client);
    let world = net.client_mut(client).world_mut();
    let map = world.resource::<ServerEntityMap>();
    assert_eq!(
        world.get::<Target>(map.to_client(b).unwrap()),
        Some(&Target(map.to_client(c).unwrap()))
    );
}

#[test]
fn references_to_unreplicated_entities_become_placeholders() {
    let mut net = net();
    let client = net.add_client();
    net.run(5);
    let world = net.server_mut().world_mut();
    let hidden = world.spawn(Health(1)).id();
    let pointer = world.spawn((Replicated, Target(hidden))).id();
    net.run(3);
    let world = net.client_mut(client).world_mut();
    let map = world.resource::<ServerEntityMap>();
    let mirrored = map.to_client(pointer).unwrap();
    assert_eq!(
        world.get::<Target>(mirrored),
        Some(&Target(Entity::PLACEHOLDER))
    );
}
