//! Why a client is not connected, over real UDP: each reason a player can see.

use std::{net::UdpSocket, time::Duration};

use crate::common::{udp::*, *};
use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    transport::{self, ServerSettings, TransportError},
};

#[test]
fn nobody_listening_times_out_within_the_connect_timeout() {
    // A port that was free a moment ago: nobody listens there.
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut client = client(transport::ClientSettings {
        connect_timeout: Duration::from_millis(500),
        ..transport::ClientSettings::unsecure(format!("127.0.0.1:{port}"))
    });
    step(&mut [&mut client]);
    assert_eq!(state(&client), ClientState::Connecting);
    let steps = step_until(&mut [&mut client], 120, |apps| {
        state(apps[0]) == ClientState::Disconnected
    });
    let waited = FRAME * steps as u32;
    assert!(
        waited <= Duration::from_millis(500) + FRAME * 3,
        "gave up after {waited:?}"
    );
    let reason = last_disconnect(&client).unwrap();
    assert_eq!(reason, DisconnectReason::ConnectTimedOut { millis: 500 });
    assert!(reason.to_string().contains("timed out"), "{reason}");
}

#[test]
fn a_full_server_says_so() {
    let (mut server, addresses) = server(&ServerSettings {
        max_clients: 1,
        ..loopback_server()
    });
    let mut first = client(client_settings(&addresses));
    step_until(&mut [&mut server, &mut first], 120, |apps| {
        state(apps[1]) == ClientState::Connected
    });
    let mut second = client(client_settings(&addresses));
    step_until(&mut [&mut server, &mut first, &mut second], 120, |apps| {
        state(apps[2]) == ClientState::Disconnected && last_disconnect(apps[2]).is_some()
    });
    assert_eq!(last_disconnect(&second), Some(DisconnectReason::ServerFull));
    assert_eq!(state(&first), ClientState::Connected);
    assert_eq!(connected_count(&mut server), 1);
}

#[test]
fn server_shutdown_is_seen_as_such() {
    let (mut server, addresses) = server(&loopback_server());
    let mut client = client(client_settings(&addresses));
    step_until(&mut [&mut server, &mut client], 120, |apps| {
        state(apps[1]) == ClientState::Connected
    });
    server.world_mut().write_message(AppExit::Success);
    step_until(&mut [&mut server, &mut client], 10, |apps| {
        state(apps[1]) == ClientState::Disconnected
    });
    assert_eq!(
        last_disconnect(&client),
        Some(DisconnectReason::ServerShutdown)
    );
    assert!(client_snapshot(&mut client).is_empty());
}

#[test]
fn a_client_that_vanishes_is_dropped_after_its_timeout_while_others_play_on() {
    let (mut server, addresses) = server(&loopback_server());
    let mut stays = client(client_settings(&addresses));
    let mut vanishes = client(client_settings(&addresses));
    let health = server.world_mut().spawn((Replicated, Health(0))).id();
    step_until(&mut [&mut server, &mut stays, &mut vanishes], 120, |apps| {
        connected_count(apps[0]) == 2
            && state(apps[1]) == ClientState::Connected
            && state(apps[2]) == ClientState::Connected
    });
    let reasons = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = reasons.clone();
    server.add_observer(move |event: On<ClientDisconnected>| {
        seen.lock().unwrap().push(event.reason.clone());
    });

    // Killed without a goodbye: the App is simply gone.
    drop(vanishes);
    let steps = step_until(&mut [&mut server, &mut stays], 180, |apps| {
        apps[0].world_mut().get_mut::<Health>(health).unwrap().0 += 1;
        connected_count(apps[0]) == 1
    });
    // The connect timeout (1 s) is also netcode's keep-alive timeout.
    assert!(steps >= 55, "dropped after only {steps} steps");
    let reasons = reasons.lock().unwrap().clone();
    assert!(
        matches!(reasons.as_slice(), [DisconnectReason::ConnectionLost(_)]),
        "{reasons:?}"
    );
    step(&mut [&mut server, &mut stays]);
    assert_eq!(state(&stays), ClientState::Connected);
    assert_eq!(client_snapshot(&mut stays), server_snapshot(&mut server));
}

#[test]
fn starting_on_a_port_in_use_is_an_error_not_a_panic() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut app = app();
    let error = transport::start_server(
        app.world_mut(),
        &ServerSettings {
            bind: taken.local_addr().unwrap().to_string(),
            ..default()
        },
    )
    .unwrap_err();
    assert!(matches!(error, TransportError::Bind { .. }), "{error}");
    assert!(error.to_string().contains("cannot bind"), "{error}");

    let error = transport::start_server(
        app.world_mut(),
        &ServerSettings {
            bind: "no-such-host.invalid:5000".into(),
            ..default()
        },
    )
    .unwrap_err();
    assert!(matches!(error, TransportError::Resolve { .. }), "{error}");
}

#[test]
fn a_kicked_client_learns_why_and_others_stay() {
    let (mut server, addresses) = server(&loopback_server());
    let mut kicked = client(client_settings(&addresses));
    let mut stays = client(client_settings(&addresses));
    step_until(&mut [&mut server, &mut kicked, &mut stays], 120, |apps| {
        state(apps[1]) == ClientState::Connected && state(apps[2]) == ClientState::Connected
    });
    let kicked_id = transport_client_id(&kicked);
    let world = server.world_mut();
    let target = world
        .query::<(Entity, &ConnectedClient)>()
        .iter(world)
        .find(|(_, client)| client.id() == kicked_id)
        .map(|(entity, _)| entity)
        .unwrap();
    world.trigger(KickClient {
        client: target,
        reason: "spamming the chat".into(),
    });
    step_until(&mut [&mut server, &mut kicked, &mut stays], 30, |apps| {
        state(apps[1]) == ClientState::Disconnected
    });
    assert_eq!(
        last_disconnect(&kicked),
        Some(DisconnectReason::Kicked("spamming the chat".into()))
    );
    assert_eq!(connected_count(&mut server), 1);
    step(&mut [&mut server, &mut kicked, &mut stays]);
    assert_eq!(state(&stays), ClientState::Connected);
    assert_eq!(client_snapshot(&mut stays), server_snapshot(&mut server));
}

#[test]
fn a_server_that_vanishes_is_a_lost_connection() {
    let (mut server, addresses) = server(&loopback_server());
    let mut client = client(client_settings(&addresses));
    step_until(&mut [&mut server, &mut client], 120, |apps| {
        state(apps[1]) == ClientState::Connected
    });
    drop(server); // no goodbye
    let steps = step_until(&mut [&mut client], 180, |apps| {
        state(apps[0]) == ClientState::Disconnected
    });
    assert!(steps >= 55, "gave up after {steps} steps");
    assert!(
        matches!(
            last_disconnect(&client),
            Some(DisconnectReason::ConnectionLost(_))
        ),
        "{:?}",
        last_disconnect(&client)
    );
}

#[test]
fn a_client_built_with_another_protocol_is_told_so_over_udp() {
    #[derive(Component, serde::Serialize, serde::Deserialize)]
    struct Extra;
    let (mut server, addresses) = server(&loopback_server());
    let mut odd = app();
    odd.replicate::<Extra>();
    transport::connect(odd.world_mut(), client_settings(&addresses)).unwrap();
    step_until(&mut [&mut server, &mut odd], 120, |apps| {
        state(apps[1]) == ClientState::Disconnected && last_disconnect(apps[1]).is_some()
    });
    assert!(
        matches!(
            last_disconnect(&odd),
            Some(DisconnectReason::ProtocolMismatch { .. })
        ),
        "{:?}",
        last_disconnect(&odd)
    );
    assert_eq!(connected_count(&mut server), 0);
}

fn transport_client_id(app: &App) -> u64 {
    app.world()
        .resource::<bevy_netsync::transport::ClientTransport>()
        .client_id()
}
