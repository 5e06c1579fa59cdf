//! The transports' real datagram entry points, with state, for fuzzing: a server transport
//! with clients that finished netcode's handshake, and a client transport connected to a
//! netcode server. Set up once over loopback sockets; each input is then a run of datagrams
//! handed to the transport as if they came from the chosen addresses, mixed with real sealed
//! packets whose payloads the input also chooses.

use std::{
    net::{SocketAddr, UdpSocket},
    time::Duration,
};

use bevy_renet::{RenetClient, RenetServer};
use renetcode::{
    ClientAuthentication, ConnectToken, NetcodeClient, NetcodeServer, ServerAuthentication,
    ServerConfig,
};

use crate::shared::channels::connection_config;
use crate::transport::{
    ClientTransport, DEFAULT_PROTOCOL_ID, ServerTransport, request_gate::RequestGate, unix_now,
};

/// One 60 Hz frame.
const FRAME: Duration = Duration::from_nanos(16_666_667);
/// Frames the loopback handshakes may take.
const SETUP_FRAMES: usize = 600;

/// Splits fuzz input into `(selector, bytes)` items: a selector byte, a length byte (times
/// 8, plus the low bits of the selector), then that many bytes (fewer at the end).
fn items(mut data: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    core::iter::from_fn(move || {
        let (&selector, rest) = data.split_first()?;
        let (&len, rest) = rest.split_first().unwrap_or((&0, rest));
        let len = (usize::from(len) * 8 + usize::from(selector & 7)).min(rest.len());
        let (bytes, rest) = rest.split_at(len);
        data = rest;
        Some((selector, bytes))
    })
}

fn loopback() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("a loopback port");
    socket.set_nonblocking(true).expect("non-blocking");
    socket
}

fn unsecure_token(client_id: u64, server: SocketAddr) -> ClientAuthentication {
    let token = ConnectToken::generate(
        unix_now(),
        DEFAULT_PROTOCOL_ID,
        10,
        client_id,
        30,
        vec![server],
        None,
        &[0; 32],
    )
    .expect("a token");
    ClientAuthentication::Secure {
        connect_token: token,
    }
}

/// A server transport with clients connected over netcode, fed datagrams from the input.
pub struct FuzzServerTransport {
    transport: ServerTransport,
    server: RenetServer,
    /// Each client's address, socket and netcode, kept alive across runs.
    clients: Vec<(SocketAddr, UdpSocket, NetcodeClient)>,
}

impl FuzzServerTransport {
    /// Starts a server on loopback and connects `clients` netcode clients to it.
    pub fn new(clients: usize) -> Self {
        let socket = loopback();
        let address = socket.local_addr().expect("bound");
        let netcode = NetcodeServer::new(ServerConfig {
            current_time: unix_now(),
            max_clients: 64,
            protocol_id: DEFAULT_PROTOCOL_ID,
            public_addresses: vec![address],
            authentication: ServerAuthentication::Unsecure,
        });
        let gate = RequestGate {
            protocol_id: DEFAULT_PROTOCOL_ID,
            private_key: [0; 32],
            unsecure: true,
            handshake_timeout: Duration::from_secs(10),
        };
        let transport = ServerTransport::new(socket, netcode, gate).expect("a transport");
        let mut fuzz = Self {
            transport,
            server: RenetServer::new(connection_config()),
            clients: Vec::new(),
        };
        let mut sockets = Vec::new();
        for index in 0..clients {
            let socket = loopback();
            let netcode = NetcodeClient::new(unix_now(), unsecure_token(index as u64 + 1, address))
                .expect("a client");
            sockets.push((socket, netcode));
        }
        let mut buffer = [0u8; 2048];
        for _ in 0..SETUP_FRAMES {
            for (socket, netcode) in &mut sockets {
                while let Ok((len, _)) = socket.recv_from(&mut buffer) {
                    netcode.process_packet(&mut buffer[..len]);
                }
                if let Some((bytes, to)) = netcode.update(FRAME) {
                    let _ = socket.send_to(bytes, to);
                }
            }
            std::thread::sleep(Duration::from_micros(200));
            fuzz.transport.update(FRAME, &mut fuzz.server);
            fuzz.transport.send_packets(&mut fuzz.server);
            if sockets.iter().all(|(_, netcode)| netcode.is_connected()) {
                break;
            }
        }
        for (socket, netcode) in sockets {
            let address = socket.local_addr().expect("bound");
            fuzz.clients.push((address, socket, netcode));
        }
        fuzz
    }

    /// How many clients the server has.
    pub fn connected(&self) -> usize {
        self.server.connected_clients()
    }

    /// Hands the server one run of datagrams: raw bytes from a client's address or a
    /// stranger's, or payloads sealed by a client, then one frame of the server's update.
    pub fn feed(&mut self, data: &[u8]) {
        for (selector, bytes) in items(data) {
            let index = usize::from(selector >> 4) % (self.clients.len() + 1);
            let from = self
                .clients
                .get(index)
                .map_or(SocketAddr::from(([127, 0, 0, 2], 4000)), |client| client.0);
            if selector & 8 != 0
                && let Some((_, _, netcode)) = self.clients.get_mut(index)
                && let Ok((_, sealed)) = netcode.generate_payload_packet(bytes)
            {
                let sealed = sealed.to_vec();
                self.transport
                    .receive_datagram(from, &sealed, &mut self.server);
            } else {
                self.transport
                    .receive_datagram(from, bytes, &mut self.server);
            }
        }
        // The clients hear the server and keep their connections alive.
        let mut buffer = [0u8; 2048];
        for (address, socket, netcode) in &mut self.clients {
            while let Ok((len, _)) = socket.recv_from(&mut buffer) {
                netcode.process_packet(&mut buffer[..len]);
            }
            if let Some((bytes, _)) = netcode.update(FRAME) {
                let bytes = bytes.to_vec();
                self.transport
                    .receive_datagram(*address, &bytes, &mut self.server);
            }
        }
        self.server.update(FRAME);
        for client_id in self.server.clients_id() {
            while self.server.receive_message(client_id, 0).is_some() {}
            while self.server.receive_message(client_id, 1).is_some() {}
        }
        self.transport.update(FRAME, &mut self.server);
        self.transport.send_packets(&mut self.server);
    }
}

/// A client transport connected to a netcode server over loopback, fed datagrams from the
/// input as if they came from the server's address (or another one).
pub struct FuzzClientTransport {
    transport: ClientTransport,
    client: RenetClient,
    netcode: NetcodeServer,
    server: SocketAddr,
    /// The server's socket: what the client sends arrives there.
    server_socket: UdpSocket,
}

impl FuzzClientTransport {
    /// Connects a client transport to a netcode server on loopback.
    pub fn new() -> Self {
        let server_socket = loopback();
        let server = server_socket.local_addr().expect("bound");
        let mut netcode = NetcodeServer::new(ServerConfig {
            current_time: unix_now(),
            max_clients: 4,
            protocol_id: DEFAULT_PROTOCOL_ID,
            public_addresses: vec![server],
            authentication: ServerAuthentication::Unsecure,
        });
        let mut transport = ClientTransport::new(unix_now(), unsecure_token(1, server), loopback())
            .expect("a transport");
        let mut client = RenetClient::new(connection_config());
        let mut buffer = [0u8; 2048];
        for _ in 0..SETUP_FRAMES {
            transport.update(FRAME, &mut client);
            std::thread::sleep(Duration::from_micros(200));
            netcode.update(FRAME);
            while let Ok((len, from)) = server_socket.recv_from(&mut buffer) {
                if let renetcode::ServerResult::PacketToSend { payload, addr }
                | renetcode::ServerResult::ClientConnected { payload, addr, .. } =
                    netcode.process_packet(from, &mut buffer[..len])
                {
                    let _ = server_socket.send_to(payload, addr);
                }
            }
            if client.is_connected() {
                break;
            }
        }
        Self {
            transport,
            client,
            netcode,
            server,
            server_socket,
        }
    }

    /// Whether the client is connected.
    pub fn connected(&self) -> bool {
        self.client.is_connected()
    }

    /// Hands the client one run of datagrams, raw or sealed by the server, then one frame.
    pub fn feed(&mut self, data: &[u8]) {
        for (selector, bytes) in items(data) {
            let from = if selector & 0x10 == 0 {
                self.server
            } else {
                SocketAddr::from(([127, 0, 0, 2], 4000))
            };
            if selector & 8 != 0
                && let Ok((_, sealed)) = self.netcode.generate_payload_packet(1, bytes)
            {
                let sealed = sealed.to_vec();
                self.transport
                    .receive_datagram(from, &sealed, &mut self.client);
            } else {
                self.transport
                    .receive_datagram(from, bytes, &mut self.client);
            }
        }
        // The server hears the client and keeps the connection alive.
        let mut buffer = [0u8; 2048];
        self.netcode.update(FRAME);
        while let Ok((len, from)) = self.server_socket.recv_from(&mut buffer) {
            self.netcode.process_packet(from, &mut buffer[..len]);
        }
        if let renetcode::ServerResult::PacketToSend { payload, .. } = self.netcode.update_client(1)
        {
            let payload = payload.to_vec();
            self.transport
                .receive_datagram(self.server, &payload, &mut self.client);
        }
        self.client.update(FRAME);
        while self.client.receive_message(0).is_some() {}
        while self.client.receive_message(1).is_some() {}
        self.transport.update(FRAME, &mut self.client);
        self.transport.send_packets(&mut self.client);
    }
}

impl Default for FuzzClientTransport {
    fn default() -> Self {
        Self::new()
    }
}
