use crate::common::*;
use bevy::prelude::*;
use bevy_netsync::{prelude::*, testing::LinkConditioner};

#[test]
fn mutations_reach_clients_every_tick() {
    let mut net = net();
    let client = net.add_client();
    net.run(5);
    let entity = net.spawn_on_server((Replicated, Health(0), Position(Vec3::ZERO)));
    net.run(2);
    for tick in 1..=30u32 {
        let world = net.server_mut().world_mut();
        world.get_mut::<Health>(entity).unwrap().0 = tick;
        world.get_mut::<Position>(entity).unwrap().0.x = tick as f32 * 0.5;
        net.step();
        // Perfect link: the value of this step arrives within this step.
        assert_converged(&mut net, client);
    }
}

#[test]
fn unchanged_world_sends_no_values() {
    let mut net = net();
    let client = net.add_client();
    net.run(5);
    for i in 0..50 {
        net.server_mut().world_mut().spawn((
            Replicated,
            Health(i),
            Position(Vec3::splat(i as f32)),
        ));
    }
    net.run(30);
    assert_converged(&mut net, client);
    let before = net.downstream(client).bytes;
    net.run(60);
    let idle_bytes = net.downstream(client).bytes - before;
    // Only renet's own acks and keep-alives: far below one value per entity per tick.
    assert!(
        idle_bytes < 60 * 40,
        "an idle world cost {idle_bytes} bytes in one second"
    );
}

#[test]
fn late_and_duplicated_values_never_roll_a_client_back() {
    let mut net = net().with_seed(3);
    let client = net.add_client();
    net.set_link(
        client,
        LinkConditioner::new(50, 30, 0.1)
            .with_duplicate(0.2)
            .with_reorder(0.3),
    );
    net.run(30);
    let entity = net.spawn_on_server((Replicated, Health(0)));
    let mut highest_seen = 0;
    let mut changes_seen = 0;
    for tick in 1..=300u32 {
        net.server_mut()
            .world_mut()
            .get_mut::<Health>(entity)
            .unwrap()
            .0 = tick;
        net.step();
        let world = net.client_mut(client).world_mut();
        if let Ok(health) = world.query::<&Health>().single(world) {
            assert!(
                health.0 >= highest_seen,
                "client went back from {highest_seen} to {}",
                health.0
            );
            if health.0 > highest_seen {
                changes_seen += 1;
            }
            highest_seen = health.0;
        }
    }
    assert!(changes_seen > 100, "only {changes_seen} updates applied");
    net.run(60);
    assert_converged(&mut net, client);
}
