//! Connecting over real UDP on loopback: replication, leaving and reconnecting.

use std::time::Duration;

use crate::common::{udp::*, *};
use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    transport::{self, ReconnectPolicy},
};

#[test]
fn client_connects_and_replicates_over_udp() {
    let (mut server, addresses) = server(&loopback_server());
    let mut client = client(client_settings(&addresses));
    server
        .world_mut()
        .spawn((Replicated, Health(7), Position(Vec3::X)));
    step_until(&mut [&mut server, &mut client], 120, |apps| {
        state(apps[1]) == ClientState::Connected && client_snapshot(apps[1]).len() == 2
    });
    assert_eq!(connected_count(&mut server), 1);
    // The world matches, including the player the server spawned for this client.
    assert_eq!(client_snapshot(&mut client), server_snapshot(&mut server));
    let world = client.world_mut();
    let players: Vec<u64> = world.query::<&Player>().iter(world).map(|p| p.0).collect();
    let world = server.world_mut();
    let ids: Vec<u64> = world
        .query::<&ConnectedClient>()
        .iter(world)
        .map(|c| c.id())
        .collect();
    assert_eq!(players, ids);
}

#[test]
fn leaving_and_connecting_again_gives_exactly_the_servers_world() {
    let (mut server, addresses) = server(&loopback_server());
    let mut client = client(client_settings(&addresses));
    let world = server.world_mut();
    let stays = world.spawn((Replicated, Health(1))).id();
    let goes = world.spawn((Replicated, Health(2))).id();
    step_until(&mut [&mut server, &mut client], 120, |apps| {
        client_snapshot(apps[1]).len() == 3
    });

    transport::disconnect(client.world_mut());
    step_until(&mut [&mut server, &mut client], 30, |apps| {
        state(apps[1]) == ClientState::Disconnected && connected_count(apps[0]) == 0
    });
    assert_eq!(last_disconnect(&client), Some(DisconnectReason::ClientLeft));
    assert!(
        client_snapshot(&mut client).is_empty(),
        "leftovers after leaving"
    );

    // The world moves on while the client is away.
    let world = server.world_mut();
    world.entity_mut(goes).despawn();
    world.get_mut::<Health>(stays).unwrap().0 = 10;
    world.spawn((Replicated, Health(3)));

    transport::connect(client.world_mut(), client_settings(&addresses)).unwrap();
    step_until(&mut [&mut server, &mut client], 120, |apps| {
        state(apps[1]) == ClientState::Connected && client_snapshot(apps[1]).len() == 3
    });
    step(&mut [&mut server, &mut client]);
    assert_eq!(client_snapshot(&mut client), server_snapshot(&mut server));
}

#[test]
fn client_reconnects_by_itself_after_the_server_restarts() {
    let (mut server, addresses) = server(&loopback_server());
    let mut settings = client_settings(&addresses);
    settings.reconnect = Some(ReconnectPolicy {
        max_attempts: 10,
        first_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(400),
    });
    let mut client = client(settings);
    let old = server.world_mut().spawn((Replicated, Health(1))).id();
    step_until(&mut [&mut server, &mut client], 120, |apps| {
        client_snapshot(apps[1]).len() == 2
    });

    // Restart on the same port, with a changed world.
    transport::stop_server(server.world_mut());
    server.world_mut().entity_mut(old).despawn();
    server
        .world_mut()
        .spawn((Replicated, Health(5), Position(Vec3::Y)));
    step_until(&mut [&mut server, &mut client], 30, |apps| {
        state(apps[1]) == ClientState::Disconnected
    });
    assert_eq!(
        last_disconnect(&client),
        Some(DisconnectReason::ServerShutdown)
    );
    let restarted = transport::ServerSettings {
        bind: addresses.local.to_string(),
        ..loopback_server()
    };
    transport::start_server(server.world_mut(), &restarted).expect("same port again");

    step_until(&mut [&mut server, &mut client], 300, |apps| {
        state(apps[1]) == ClientState::Connected && client_snapshot(apps[1]).len() == 2
    });
    step(&mut [&mut server, &mut client]);
    assert_eq!(client_snapshot(&mut client), server_snapshot(&mut server));
    assert!(
        client
            .world()
            .get_resource::<transport::Reconnecting>()
            .is_none()
    );
}
