use crate::common::*;
use bevy::prelude::*;
use bevy_netsync::prelude::*;

#[test]
fn inserted_and_removed_components_follow_the_server() {
    let mut net = net();
    let client = net.add_client();
    net.run(5);
    let entity = net.spawn_on_server((Replicated, Health(5)));
    net.run(3);
    assert_converged(&mut net, client);

    net.server_mut()
        .world_mut()
        .entity_mut(entity)
        .insert(Position(Vec3::new(4.0, 5.0, 6.0)));
    net.run(3);
    assert_converged(&mut net, client);
    let state = &client_snapshot(net.client_mut(client))[&entity.to_bits()];
    assert_eq!(state.position, Some(Position(Vec3::new(4.0, 5.0, 6.0))));

    net.server_mut()
        .world_mut()
        .entity_mut(entity)
        .remove::<Health>();
    net.run(3);
    assert_converged(&mut net, client);
    let state = &client_snapshot(net.client_mut(client))[&entity.to_bits()];
    assert_eq!(state.health, None);
    assert!(state.position.is_some());
}

#[test]
fn remove_then_reinsert_in_one_tick_keeps_the_new_value() {
    let mut net = net();
    let client = net.add_client();
    net.run(5);
    let entity = net.spawn_on_server((Replicated, Health(5)));
    net.run(3);
    let mut server_entity = net.server_mut().world_mut().entity_mut(entity);
    server_entity.remove::<Health>();
    server_entity.insert(Health(6));
    net.run(3);
    assert_converged(&mut net, client);
    let state = &client_snapshot(net.client_mut(client))[&entity.to_bits()];
    assert_eq!(state.health, Some(Health(6)));
}

#[test]
fn removal_is_not_undone_by_a_late_value() {
    // Values travel unreliably and may arrive after a removal sent reliably later.
    let mut net = net().with_seed(11);
    let client = net.add_client();
    net.set_link(
        client,
        bevy_netsync::testing::LinkConditioner::new(60, 30, 0.1).with_reorder(0.3),
    );
    net.run(30);
    let entity = net.spawn_on_server((Replicated, Health(0), Position(Vec3::ZERO)));
    for tick in 0..40u32 {
        net.server_mut()
            .world_mut()
            .get_mut::<Health>(entity)
            .unwrap()
            .0 = tick;
        net.step();
    }
    net.server_mut()
        .world_mut()
        .entity_mut(entity)
        .remove::<Health>();
    net.run(120);
    assert_converged(&mut net, client);
    let state = &client_snapshot(net.client_mut(client))[&entity.to_bits()];
    assert_eq!(state.health, None);
}
