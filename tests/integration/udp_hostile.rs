//! Hostile datagrams at both ends of a real UDP connection: the packets that crashed
//! renetcode's reader, a fake server answering a client, and a netcode connection that never
//! says hello.

use std::{
    net::{SocketAddr, UdpSocket},
    time::Duration,
};

use crate::common::{udp::*, *};
use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    transport::{
        ClientSettings, ClientTransport, ServerSettings, ServerTransport, TransportStats, unix_now,
    },
};
use bevy_renet::RenetServer;

/// `first` followed by zero bytes, `len` in all.
fn datagram(first: u8, len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    bytes[0] = first;
    bytes
}

/// Packets whose header lies: each made renetcode panic, or would have in a debug build.
fn lying_headers() -> Vec<Vec<u8>> {
    let mut top_sequence = vec![0x84];
    top_sequence.extend_from_slice(&u64::MAX.to_le_bytes());
    top_sequence.resize(1 + 8 + 8 + 16, 0);
    vec![
        // A response claiming 15 sequence bytes (the 18-byte datagram of the report).
        datagram(0xf3, 18),
        // Every other type with the same lie.
        datagram(0xf4, 18),
        datagram(0xf5, 40),
        datagram(0xf6, 18),
        datagram(0x93, 400),
        // Eight sequence bytes and no room left for the MAC.
        datagram(0x85, 18),
        datagram(0x86, 20),
        // A keep-alive whose sequence overflows netcode's replay window.
        top_sequence,
    ]
}

/// Where the server sees `client` send from.
fn client_address(client: &App) -> SocketAddr {
    let port = client
        .world()
        .resource::<ClientTransport>()
        .local_addr()
        .unwrap()
        .port();
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn datagrams_with_lying_headers_from_a_players_address_are_dropped_and_play_goes_on() {
    let (mut server, addresses) = server(&loopback_server());
    let mut client = client(client_settings(&addresses));
    let entity = server.world_mut().spawn((Replicated, Health(0))).id();
    step_until(&mut [&mut server, &mut client], 120, |apps| {
        client_snapshot(apps[1]).len() == 2
    });
    let spoofed = client_address(&client);
    let lies = lying_headers();
    for frame in 0..30u32 {
        // Anyone on the path, or anyone who spoofs the player's address, can send these.
        server
            .world_mut()
            .resource_scope(|world, mut renet: Mut<RenetServer>| {
                let mut transport = world.resource_mut::<ServerTransport>();
                for bytes in &lies {
                    transport.receive_datagram(spoofed, bytes, &mut renet);
                }
            });
        server.world_mut().get_mut::<Health>(entity).unwrap().0 = frame;
        step(&mut [&mut server, &mut client]);
    }
    step(&mut [&mut server, &mut client]);
    step(&mut [&mut server, &mut client]);
    assert_eq!(state(&client), ClientState::Connected);
    assert_eq!(client_snapshot(&mut client), server_snapshot(&mut server));
    let stats = server.world().resource::<ServerTransport>().stats();
    assert_eq!(
        stats.malformed,
        30 * lies.len() as u64,
        "every lie dropped before netcode as malformed: {stats:?}"
    );
}

#[test]
fn a_fake_server_cannot_crash_or_hang_a_connecting_client() {
    let fake = UdpSocket::bind("127.0.0.1:0").unwrap();
    fake.set_nonblocking(true).unwrap();
    let mut settings = ClientSettings::unsecure(fake.local_addr().unwrap().to_string());
    settings.connect_timeout = Duration::from_secs(1);
    let mut client = client(settings);
    let mut answered = 0;
    let mut buffer = [0u8; 2048];
    for _ in 0..120 {
        step(&mut [&mut client]);
        while let Ok((len, from)) = fake.recv_from(&mut buffer) {
            assert_eq!(len, 1078, "a connection request");
            // The challenge of the report (15 sequence bytes), then the other lies.
            fake.send_to(&datagram(0xf2, 18), from).unwrap();
            for bytes in lying_headers() {
                fake.send_to(&bytes, from).unwrap();
            }
            answered += 1;
        }
    }
    assert!(answered > 0, "the client asked the fake server to connect");
    let stats: TransportStats = client.world().resource::<ClientTransport>().stats();
    assert!(
        stats.malformed >= answered,
        "the lies were dropped before netcode: {stats:?}"
    );
    assert_eq!(state(&client), ClientState::Disconnected);
    assert!(
        matches!(
            last_disconnect(&client),
            Some(DisconnectReason::ConnectTimedOut { .. })
        ),
        "{:?}",
        last_disconnect(&client)
    );
}

/// A netcode client that completes netcode's handshake and then never says our hello.
struct BareNetcodeClient {
    socket: UdpSocket,
    netcode: renetcode::NetcodeClient,
}

impl BareNetcodeClient {
    fn new(server: SocketAddr) -> Self {
        let token = renetcode::ConnectToken::generate(
            unix_now(),
            bevy_netsync::transport::DEFAULT_PROTOCOL_ID,
            10,
            77,
            30,
            vec![server],
            None,
            &[0; 32],
        )
        .unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let netcode = renetcode::NetcodeClient::new(
            unix_now(),
            renetcode::ClientAuthentication::Secure {
                connect_token: token,
            },
        )
        .unwrap();
        Self { socket, netcode }
    }

    fn step(&mut self) {
        let mut buffer = [0u8; 2048];
        while let Ok((len, _)) = self.socket.recv_from(&mut buffer) {
            self.netcode.process_packet(&mut buffer[..len]);
        }
        if let Some((bytes, addr)) = self.netcode.update(FRAME) {
            self.socket.send_to(bytes, addr).unwrap();
        }
    }
}

#[test]
fn a_connection_that_never_says_hello_is_closed_at_the_handshake_timeout() {
    let mut server_app = app();
    server_app
        .world_mut()
        .resource_mut::<ServerConfig>()
        .handshake_timeout = Duration::from_secs(1);
    let settings = ServerSettings {
        max_clients: 1,
        ..loopback_server()
    };
    let addresses =
        bevy_netsync::transport::start_server(server_app.world_mut(), &settings).unwrap();
    let mut silent = BareNetcodeClient::new(addresses.local);
    let mut frames = 0;
    while !silent.netcode.is_connected() {
        silent.step();
        step(&mut [&mut server_app]);
        frames += 1;
        assert!(frames < 120, "netcode's handshake finishes");
    }
    assert_eq!(
        server_app
            .world()
            .resource::<RenetServer>()
            .connected_clients(),
        1
    );
    // The only slot is taken: an honest client is refused while the silent one holds it...
    let mut honest = client(client_settings(&addresses));
    for _ in 0..20 {
        silent.step();
        step(&mut [&mut server_app, &mut honest]);
    }
    assert_ne!(state(&honest), ClientState::Connected);
    // ...until the handshake timeout (60 frames) closes the silent connection...
    let closed_after = step_until(&mut [&mut server_app], 120, |apps| {
        silent.step();
        apps[0]
            .world()
            .resource::<RenetServer>()
            .connected_clients()
            == 0
    });
    assert!(frames + 20 + closed_after >= 60, "not before the timeout");
    for _ in 0..3 {
        step(&mut [&mut server_app]);
        silent.step();
    }
    assert!(!silent.netcode.is_connected(), "told it was closed");
    // ...after which an honest client joins.
    let mut late = client(client_settings(&addresses));
    step_until(&mut [&mut server_app, &mut late], 120, |apps| {
        state(apps[1]) == ClientState::Connected
    });
    assert_eq!(connected_count(&mut server_app), 1);
}

/// Packets of the right shape from a player's address that its key does not open: dropped as
/// forged before netcode, which would log an error for each.
#[test]
fn well_shaped_forgeries_from_a_players_address_are_dropped_without_a_log_line() {
    let (mut server, addresses) = server(&loopback_server());
    let mut client = client(client_settings(&addresses));
    step_until(&mut [&mut server, &mut client], 120, |apps| {
        state(apps[1]) == ClientState::Connected
    });
    let spoofed = client_address(&client);
    let mut rng = bevy_netsync::testing::SplitMix64::new(5);
    let mut forgery = |first: u8, body: usize| -> Vec<u8> {
        let mut bytes = vec![first];
        bytes.extend((0..2 + body + 16).map(|_| rng.next_u64() as u8));
        bytes
    };
    // Payloads, keep-alives and disconnects with 2-byte sequences far ahead of the real ones.
    let forged: Vec<Vec<u8>> = (0..60)
        .map(|i| match i % 3 {
            0 => forgery(0x25, 40),
            1 => forgery(0x24, 8),
            _ => forgery(0x26, 0),
        })
        .collect();
    let warnings = crate::udp_abuse::count_warnings(|| {
        server
            .world_mut()
            .resource_scope(|world, mut renet: Mut<RenetServer>| {
                let mut transport = world.resource_mut::<ServerTransport>();
                for bytes in &forged {
                    transport.receive_datagram(spoofed, bytes, &mut renet);
                }
            });
        for _ in 0..5 {
            step(&mut [&mut server, &mut client]);
        }
    });
    assert_eq!(warnings, 0, "no log line for a forgery");
    assert_eq!(state(&client), ClientState::Connected);
    let stats = server.world().resource::<ServerTransport>().stats();
    assert_eq!(stats.forged, 60, "{stats:?}");
    // The same from the server's address, at the client.
    let server_address = addresses.local;
    let warnings = crate::udp_abuse::count_warnings(|| {
        client
            .world_mut()
            .resource_scope(|world, mut renet: Mut<bevy_renet::RenetClient>| {
                let mut transport = world.resource_mut::<ClientTransport>();
                for bytes in &forged {
                    transport.receive_datagram(server_address, bytes, &mut renet);
                }
            });
        step(&mut [&mut server, &mut client]);
    });
    assert_eq!(warnings, 0);
    assert_eq!(
        client.world().resource::<ClientTransport>().stats().forged,
        60
    );
    assert_eq!(state(&client), ClientState::Connected);
}
