//! Abuse at the UDP port: junk datagrams, duplicated packets, and a client claiming the host's
//! id. Real sockets on loopback.

use std::{
    net::UdpSocket,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use crate::common::{udp::*, *};
use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    server::{LOCAL_CLIENT_ID, spawn_local_client},
    testing::SplitMix64,
    transport::{ClientSecurity, ServerTransport, TransportStats},
};

/// Junk of every shape: empty, tiny, random, a forged connection request of the wrong size,
/// fake payloads with a plausible header, and datagrams far larger than any packet.
fn junk(rng: &mut SplitMix64, index: u64) -> Vec<u8> {
    let len = match index % 6 {
        0 => 0,
        1 => (rng.next_u64() % 17) as usize,
        2 => 18 + (rng.next_u64() % 1_300) as usize,
        3 => 1_077,
        4 => 40,
        _ => 2_000 + (rng.next_u64() % 60_000) as usize,
    };
    let mut bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
    if index % 6 == 4 {
        // A payload packet (type 5, one sequence byte) from an address that is not a client.
        bytes[0] = 0x15;
    }
    bytes
}

/// Counts the warnings and errors of the thread it is the default subscriber of.
struct CountWarnings(Arc<AtomicUsize>);

impl<S: bevy::log::tracing::Subscriber> bevy::log::tracing_subscriber::Layer<S> for CountWarnings {
    fn on_event(
        &self,
        event: &bevy::log::tracing::Event<'_>,
        _: bevy::log::tracing_subscriber::layer::Context<'_, S>,
    ) {
        if *event.metadata().level() <= bevy::log::Level::WARN {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Runs `f` and returns the warnings and errors logged on this thread meanwhile, through
/// `tracing` or the `log` crate (renet's netcode layer logs through the latter).
pub(crate) fn count_warnings(f: impl FnOnce()) -> usize {
    use bevy::log::tracing_subscriber::{
        filter::LevelFilter, layer::SubscriberExt, util::SubscriberInitExt,
    };
    // Once per process: `log` records become `tracing` events (other threads' go nowhere).
    let _ = bevy::log::tracing_subscriber::registry()
        .with(LevelFilter::WARN)
        .try_init();
    let count = Arc::new(AtomicUsize::new(0));
    let subscriber = bevy::log::tracing_subscriber::registry().with(CountWarnings(count.clone()));
    bevy::log::tracing::subscriber::with_default(subscriber, f);
    count.load(Ordering::Relaxed)
}

#[test]
fn the_warning_counter_sees_both_logging_paths() {
    let counted = count_warnings(|| {
        bevy::log::warn!("one through tracing");
        log::error!("one through the log crate");
        bevy::log::info!("not counted");
        log::info!("not counted either");
    });
    assert_eq!(counted, 2);
}

#[test]
fn a_junk_flood_costs_real_clients_nothing_and_is_counted_not_logged_per_datagram() {
    let (mut server, addresses) = server(&loopback_server());
    let mut client = client(client_settings(&addresses));
    let entity = server.world_mut().spawn((Replicated, Health(0))).id();
    step_until(&mut [&mut server, &mut client], 120, |apps| {
        state(apps[1]) == ClientState::Connected && client_snapshot(apps[1]).len() == 2
    });

    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut rng = SplitMix64::new(9);
    let mut sent = 0u64;
    let warnings = count_warnings(|| {
        for frame in 0..120u32 {
            // About 5,000 junk datagrams per second of frames.
            for _ in 0..80 {
                let bytes = junk(&mut rng, sent);
                let _ = attacker.send_to(&bytes, addresses.local);
                sent += 1;
            }
            server.world_mut().get_mut::<Health>(entity).unwrap().0 = frame;
            step(&mut [&mut server, &mut client]);
        }
    });
    // The log stays readable: a summary per cause every 10 s at most, not a line per datagram.
    assert!(
        warnings <= 10,
        "{warnings} warnings or errors for {sent} junk datagrams"
    );
    step(&mut [&mut server, &mut client]);
    step(&mut [&mut server, &mut client]);

    assert_eq!(state(&client), ClientState::Connected, "the client stayed");
    assert_eq!(client_snapshot(&mut client), server_snapshot(&mut server));
    let stats = *server.world().resource::<TransportStats>();
    assert_eq!(stats, server.world().resource::<ServerTransport>().stats());
    // Every junk datagram was dropped before netcode, by a named cause (the largest ones the
    // system may have truncated or refused on the way, never counted as payloads).
    assert!(
        stats.dropped() >= sent * 9 / 10,
        "{stats:?} after {sent} junk datagrams"
    );
    assert!(stats.too_small > 0 && stats.too_large > 0 && stats.bad_type > 0);
    assert!(stats.unknown_sender > 0);
    assert!(
        stats.payloads > 100,
        "the client's own packets went through"
    );
}

#[test]
fn a_remote_client_cannot_take_the_hosts_id() {
    let (mut server, addresses) = server(&loopback_server());
    let host = spawn_local_client(server.world_mut());
    let mut settings = client_settings(&addresses);
    settings.security = ClientSecurity::Unsecure {
        client_id: LOCAL_CLIENT_ID,
        user_data: None,
    };
    let mut impostor = client(settings);
    let mut honest = client(client_settings(&addresses));
    for _ in 0..120 {
        step(&mut [&mut server, &mut impostor, &mut honest]);
    }
    assert_ne!(state(&impostor), ClientState::Connected);
    assert_eq!(state(&honest), ClientState::Connected);
    let world = server.world_mut();
    let ids: Vec<u64> = world
        .query::<&ConnectedClient>()
        .iter(world)
        .map(ConnectedClient::id)
        .collect();
    assert_eq!(ids.iter().filter(|id| **id == LOCAL_CLIENT_ID).count(), 1);
    assert_eq!(ids.len(), 2, "the host and the honest client: {ids:?}");
    assert!(server.world().get_entity(host).is_ok());
    assert!(server.world().resource::<TransportStats>().refused_ids >= 1);
}

#[test]
fn a_server_side_simulated_link_delays_every_datagram_and_play_goes_on() {
    use bevy_netsync::testing::LinkConditioner;
    let (mut plain_server, plain_addresses) = server(&loopback_server());
    let mut plain_client = client(client_settings(&plain_addresses));
    let plain_steps = step_until(&mut [&mut plain_server, &mut plain_client], 240, |apps| {
        state(apps[1]) == ClientState::Connected
    });

    let (mut server, addresses) = server(&loopback_server());
    // 100 ms each way on every datagram the server receives or sends.
    server
        .world_mut()
        .resource_mut::<ServerTransport>()
        .simulate_link(LinkConditioner::new(100, 0, 0.0), 3);
    let mut settings = client_settings(&addresses);
    settings.connect_timeout = std::time::Duration::from_secs(5);
    let mut slow_client = client(settings);
    let slow_steps = step_until(&mut [&mut server, &mut slow_client], 600, |apps| {
        state(apps[1]) == ClientState::Connected
    });
    // Netcode's handshake (request, challenge, response, keep-alive) and the hello take
    // several round trips of 200 ms: at least 24 frames more than on a plain socket.
    assert!(
        slow_steps >= plain_steps + 24,
        "connected after {slow_steps} frames, {plain_steps} without the simulated link"
    );
    let entity = server.world_mut().spawn((Replicated, Health(3))).id();
    step_until(&mut [&mut server, &mut slow_client], 240, |apps| {
        client_snapshot(apps[1]).len() == 2
    });
    server.world_mut().get_mut::<Health>(entity).unwrap().0 = 4;
    for _ in 0..30 {
        step(&mut [&mut server, &mut slow_client]);
    }
    assert_eq!(
        client_snapshot(&mut slow_client),
        server_snapshot(&mut server)
    );
}
