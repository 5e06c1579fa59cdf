//! A client's [`SimulatedLink`]: its own traffic delayed, and still converging.

use bevy_netsync::{client::SimulatedLink, testing::LinkConditioner};

use crate::common::*;
use bevy_netsync::prelude::*;

/// Steps until `client` holds `count` replicated entities; how many steps that took.
fn steps_until_held(
    net: &mut bevy_netsync::testing::TestNet,
    client: usize,
    count: usize,
) -> usize {
    let mut steps = 0;
    while client_snapshot(net.client_mut(client)).len() < count {
        net.step();
        steps += 1;
        assert!(steps < 600, "client {client} never got {count} entities");
    }
    steps
}

#[test]
fn a_simulated_link_delays_what_the_client_receives_and_sends_and_it_still_converges() {
    let mut net = net();
    let plain = net.add_client();
    let slow = net.add_client_with(|app| {
        // 100 ms each way, with a little jitter.
        app.insert_resource(SimulatedLink::new(LinkConditioner::new(100, 5, 0.0), 7));
    });
    net.run(60);
    assert_eq!(connected_clients(&mut net), 2);

    net.spawn_on_server((Replicated, Health(5)));
    let plain_steps = steps_until_held(&mut net, plain, 1);
    let slow_steps = plain_steps + steps_until_held(&mut net, slow, 1);
    // 100 ± 5 ms at 60 steps a second: six or seven steps later.
    assert!(
        (6..=8).contains(&(slow_steps - plain_steps)),
        "the slow client got the entity {} steps after the plain one",
        slow_steps - plain_steps
    );

    // Changes keep flowing: after the link's delay both hold exactly the server's world,
    // including values resent because the slow client acknowledges late.
    for value in 0..30 {
        let world = net.server_mut().world_mut();
        let mut health = world.query::<&mut Health>();
        for mut health in health.iter_mut(world) {
            health.0 = value;
        }
        net.step();
    }
    net.run(30);
    assert_converged(&mut net, plain);
    assert_converged(&mut net, slow);
}

#[test]
fn a_lossy_duplicating_simulated_link_still_converges() {
    let mut net = net();
    let client = net.add_client_with(|app| {
        let link = LinkConditioner::new(40, 10, 0.1).with_duplicate(0.2);
        app.insert_resource(SimulatedLink::new(link, 3));
    });
    net.run(60);
    for index in 0..20 {
        net.spawn_on_server((Replicated, Health(index)));
        net.run(3);
    }
    net.run(120);
    assert_converged(&mut net, client);
    assert_eq!(client_snapshot(net.client_mut(client)).len(), 20);
}
