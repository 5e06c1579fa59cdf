//! [`ServerTransport`]: netcode.io (renetcode) on a UDP socket this crate owns. Compared with
//! renet's own server transport it
//!
//! - checks every datagram's shape before netcode reads it ([`datagram_filter`]) and drops,
//!   without decrypting or logging, what cannot be a packet of a client: a header netcode
//!   would trip on, a size the packet's type does not have, a connection request of another
//!   game or with a forged token ([`RequestGate`]), traffic from an address that is not
//!   connected, a packet already received; junk costs a few comparisons;
//! - counts what it dropped by cause ([`TransportStats`]) and logs one summary line per
//!   period instead of one line per datagram;
//! - sizes the socket's receive buffer ([`ServerSettings::receive_buffer_bytes`](super::ServerSettings))
//!   and reads at most [`MAX_READS_PER_UPDATE`] datagrams a frame, so a flood can neither
//!   crowd out real packets nor keep the game loop from leaving the socket;
//! - refuses a client that claims an id already in use (the host's own, in unsecure mode).
//!
//! [`datagram_filter`]: super::datagram_filter

use std::{
    io,
    net::{SocketAddr, UdpSocket},
    time::Duration,
};

use bevy::{platform::collections::HashMap, prelude::*};
use bevy_renet::RenetServer;
use renetcode::{NetcodeServer, ServerResult};

use super::{
    MAX_READS_PER_UPDATE,
    datagram_filter::{self, kind},
    netcode_results::ResultSink,
    replay::Replay,
    request_gate::RequestGate,
    seal::{ConnectionKey, sealed_with},
    stats::TransportStats,
    token::UserData,
};
use crate::server::{ConnectedClient, LocalClient};
use crate::shared::link::{LinkConditioner, Outgoing, SimulatedDatagrams};

/// The server's UDP transport. Inserted by [`start_server`](super::start_server).
#[derive(Resource)]
pub struct ServerTransport {
    socket: UdpSocket,
    netcode: NetcodeServer,
    /// Large enough for any datagram, so oversized junk is measured, not truncated.
    buffer: Vec<u8>,
    /// Connected clients by address, with the newest payload sequences received.
    clients: HashMap<SocketAddr, Replay>,
    stats: TransportStats,
    reported: TransportStats,
    since_report: Duration,
    /// Time between two summaries of dropped datagrams in the log.
    pub report_every: Duration,
    /// Ids served without netcode (the host's own client): a netcode client claiming one is
    /// refused.
    reserved: Vec<u64>,
    /// A simulated link for every datagram in and out ([`simulate_link`](Self::simulate_link)).
    simulated: Option<SimulatedDatagrams>,
    /// Netcode disconnects from clients, handed to netcode one frame late: the goodbye the
    /// client sent before them is read first, so it leaves as [`ClientLeft`], not as a lost
    /// connection.
    ///
    /// [`ClientLeft`]: crate::shared::disconnect::DisconnectReason::ClientLeft
    deferred: Vec<(SocketAddr, Vec<u8>)>,
    /// Whether disconnects are deferred (not while handing over the deferred ones).
    deferring: bool,
    /// Addresses netcode answered that are not clients (challenges to connection requests),
    /// and when: only they may send a challenge response.
    challenged: HashMap<SocketAddr, (Duration, ConnectionKey)>,
    /// Time the transport has run.
    now: Duration,
    /// Which connection requests go to netcode.
    gate: RequestGate,
}

impl ServerTransport {
    pub(crate) fn new(
        socket: UdpSocket,
        netcode: NetcodeServer,
        gate: RequestGate,
    ) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        Ok(Self {
            socket,
            netcode,
            buffer: vec![0; 64 * 1024],
            clients: HashMap::default(),
            stats: TransportStats::default(),
            reported: TransportStats::default(),
            since_report: Duration::ZERO,
            report_every: Duration::from_secs(10),
            reserved: Vec::new(),
            simulated: None,
            deferred: Vec::new(),
            deferring: true,
            challenged: HashMap::default(),
            now: Duration::ZERO,
            gate,
        })
    }

    /// Passes every datagram the server receives and sends through `conditioner` (the test
    /// network's, on a real socket): to feel a game over a bad link on one machine, for
    /// instance a host whose remote players should see latency and loss. `seed` makes the
    /// random choices repeatable.
    pub fn simulate_link(&mut self, conditioner: LinkConditioner, seed: u64) {
        self.simulated = Some(SimulatedDatagrams::new(conditioner, seed));
    }

    /// The user data of a connected client's connect token (its player name, say).
    pub fn user_data(&self, client_id: u64) -> Option<UserData> {
        self.netcode.user_data(client_id)
    }

    /// Most clients connected at once ([`ServerSettings::max_clients`](super::ServerSettings)).
    pub fn max_clients(&self) -> usize {
        self.netcode.max_clients()
    }

    /// What was received and dropped so far.
    pub fn stats(&self) -> TransportStats {
        self.stats
    }

    /// Where the socket is bound.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Reads every datagram waiting, hands netcode those that may be real, and runs netcode's
    /// timers. `elapsed` is the time since the last call.
    pub fn update(&mut self, elapsed: Duration, server: &mut RenetServer) {
        self.netcode.update(elapsed);
        self.now += elapsed;
        let (now, window) = (self.now, self.gate.handshake_timeout);
        self.challenged
            .retain(|_, (challenged, _)| now.saturating_sub(*challenged) < window);
        self.deferring = false;
        for (addr, bytes) in core::mem::take(&mut self.deferred) {
            self.buffer[..bytes.len()].copy_from_slice(&bytes);
            self.receive(bytes.len(), addr, server);
        }
        self.deferring = true;
        if let Some(link) = self.simulated.as_mut() {
            link.advance(elapsed);
        }
        let mut reads = 0;
        loop {
            if reads == MAX_READS_PER_UPDATE {
                self.stats.capped_reads += 1;
                break;
            }
            reads += 1;
            match self.socket.recv_from(&mut self.buffer) {
                Ok((len, addr)) => match self.simulated.as_mut() {
                    Some(link) => link.receive(addr, &self.buffer[..len]),
                    None => self.receive(len, addr, server),
                },
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                // An ICMP "port unreachable" from a client that left, surfacing on our socket.
                Err(error) if error.kind() == io::ErrorKind::ConnectionReset => continue,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    error!("server socket: {error}");
                    break;
                }
            }
        }
        let arrived = self
            .simulated
            .as_mut()
            .map(SimulatedDatagrams::arrived)
            .unwrap_or_default();
        for (addr, bytes) in arrived {
            self.receive_datagram(addr, &bytes, server);
        }
        for client_id in self.netcode.clients_id() {
            self.for_client(server, client_id, NetcodeServer::update_client);
        }
        for client_id in server.disconnections_id() {
            self.for_client(server, client_id, NetcodeServer::disconnect);
        }
        self.refuse_claimed_ids(server);
        self.since_report += elapsed;
        if self.since_report >= self.report_every {
            self.since_report = Duration::ZERO;
            self.report();
        }
    }

    /// Hands `bytes`, as if received from `addr`, to the same path as the socket's datagrams:
    /// what the simulated link delivers, and in fuzzing and tests a spoofed sender without raw
    /// sockets.
    #[doc(hidden)]
    pub fn receive_datagram(&mut self, addr: SocketAddr, bytes: &[u8], server: &mut RenetServer) {
        let len = bytes.len().min(self.buffer.len());
        self.buffer[..len].copy_from_slice(&bytes[..len]);
        self.receive(len, addr, server);
    }

    fn receive(&mut self, len: usize, addr: SocketAddr, server: &mut RenetServer) {
        self.stats.datagrams += 1;
        let header = match datagram_filter::from_client(&self.buffer[..len], &self.gate.check()) {
            Ok(header) => header,
            Err(refusal) => {
                trace!("dropped a datagram ({len} bytes) from {addr}: {refusal:?}");
                self.stats.refused(refusal);
                return;
            }
        };
        let client = self.clients.get(&addr);
        let protocol = self.gate.protocol_id;
        let mut request_key = None;
        match header.kind {
            // A handshake packet from a connected address: late, or not from the client.
            kind::REQUEST | kind::RESPONSE if client.is_some() => {
                self.stats.out_of_turn += 1;
                return;
            }
            kind::REQUEST => match self.gate.token_key(&self.buffer[..len]) {
                Some(key) => request_key = Some(key),
                None => {
                    self.stats.bad_requests += 1;
                    return;
                }
            },
            // Only an address netcode challenged can answer a challenge, sealed with the key
            // of the token it sent.
            kind::RESPONSE => match self.challenged.get(&addr) {
                Some((_, key)) if sealed_with(&self.buffer[..len], &header, protocol, key) => {}
                Some(_) => {
                    self.stats.forged += 1;
                    return;
                }
                None => {
                    self.stats.out_of_turn += 1;
                    return;
                }
            },
            _ => {
                let Some(replay) = client else {
                    self.stats.unknown_sender += 1;
                    return;
                };
                if replay.received(header.sequence) {
                    self.stats.duplicates += 1;
                    return;
                }
                if let Some(key) = &replay.key
                    && !sealed_with(&self.buffer[..len], &header, protocol, key)
                {
                    self.stats.forged += 1;
                    return;
                }
                if header.kind == kind::DISCONNECT && self.deferring {
                    self.stats.datagrams -= 1;
                    self.deferred.push((addr, self.buffer[..len].to_vec()));
                    return;
                }
            }
        }
        // A keep-alive says nothing back; one the client's key opened (checked above) is its.
        let sealed_keep_alive = header.kind == kind::KEEP_ALIVE
            && self
                .clients
                .get(&addr)
                .is_some_and(|replay| replay.key.is_some());
        let sequence =
            matches!(header.kind, kind::PAYLOAD | kind::KEEP_ALIVE).then_some(header.sequence);
        let (netcode, buffer, mut sink) = self.split();
        sink.request_key = request_key;
        let result = netcode.process_packet(addr, &mut buffer[..len]);
        sink.handle(
            result,
            server,
            sequence.filter(|_| header.kind == kind::PAYLOAD),
        );
        if sealed_keep_alive && let Some(replay) = self.clients.get_mut(&addr) {
            replay.note(header.sequence);
        }
    }

    /// Netcode and the receive buffer apart from what acts on netcode's results (a result
    /// borrows the first two).
    fn split(&mut self) -> (&mut NetcodeServer, &mut [u8], ResultSink<'_>) {
        let sink = ResultSink {
            out: Outgoing {
                socket: &self.socket,
                simulated: self.simulated.as_mut(),
            },
            clients: &mut self.clients,
            stats: &mut self.stats,
            reserved: &self.reserved,
            challenged: &mut self.challenged,
            now: self.now,
            request_key: None,
        };
        (&mut self.netcode, &mut self.buffer, sink)
    }

    /// Sends renet's packets to every netcode client.
    pub fn send_packets(&mut self, server: &mut RenetServer) {
        self.refuse_claimed_ids(server);
        let mut out = Outgoing {
            socket: &self.socket,
            simulated: self.simulated.as_mut(),
        };
        for replay in self.clients.values() {
            let client_id = replay.client_id;
            let Ok(packets) = server.get_packets_to_send(client_id) else {
                continue;
            };
            for packet in packets {
                match self.netcode.generate_payload_packet(client_id, &packet) {
                    Ok((addr, bytes)) => out.send(bytes, addr),
                    Err(error) => {
                        debug!("sealing a packet for client {client_id}: {error}");
                        break;
                    }
                }
            }
        }
        out.flush();
    }

    /// Runs a netcode operation on one client and acts on its result.
    fn for_client(
        &mut self,
        server: &mut RenetServer,
        client_id: u64,
        operation: for<'a> fn(&'a mut NetcodeServer, u64) -> ServerResult<'a, 'a>,
    ) {
        let (netcode, _, mut sink) = self.split();
        let result = operation(netcode, client_id);
        sink.handle(result, server, None);
    }

    /// Closes every netcode connection (the server stops).
    pub fn disconnect_all(&mut self, server: &mut RenetServer) {
        for client_id in self.netcode.clients_id() {
            self.for_client(server, client_id, NetcodeServer::disconnect);
        }
    }

    /// Netcode accepted a client whose id renet already serves (the host's own client, in
    /// unsecure mode where clients name their id): close the newcomer at once, before it can
    /// speak for that id.
    fn refuse_claimed_ids(&mut self, server: &mut RenetServer) {
        // Every netcode client is one of ours: nothing to look at (the usual case, each frame).
        if self.netcode.connected_clients() == self.clients.len() {
            return;
        }
        let claimed: Vec<u64> = self
            .netcode
            .clients_id()
            .into_iter()
            .filter(|id| {
                (server.is_connected(*id) || self.reserved.contains(id))
                    && !self.clients.values().any(|replay| replay.client_id == *id)
            })
            .collect();
        for client_id in claimed {
            self.stats.refused_ids += 1;
            warn!("refused a client claiming id {client_id}, which is already in use");
            let result = self.netcode.disconnect(client_id);
            // Not a renet connection of its own: only the netcode goodbye goes out.
            if let ServerResult::ClientDisconnected {
                addr,
                payload: Some(payload),
                ..
            } = result
            {
                Outgoing {
                    socket: &self.socket,
                    simulated: self.simulated.as_mut(),
                }
                .send(payload, addr);
            }
        }
    }

    /// Logs what was dropped since the last summary, if anything.
    fn report(&mut self) {
        let (now, then) = (self.stats, self.reported);
        self.reported = now;
        if let Some(summary) = now.summary_since(&then) {
            warn!(
                "server transport, last {:.0} s: {summary}",
                self.report_every.as_secs_f64()
            );
        }
    }
}

/// Reads the socket and runs netcode (`PreUpdate`, with renet's receive).
pub(crate) fn receive_datagrams(
    mut transport: ResMut<ServerTransport>,
    mut server: ResMut<RenetServer>,
    mut stats: ResMut<TransportStats>,
    local: Query<&ConnectedClient, With<LocalClient>>,
    time: Res<Time<Real>>,
) {
    let reserved: Vec<u64> = local.iter().map(ConnectedClient::id).collect();
    if transport.reserved != reserved {
        transport.reserved = reserved;
    }
    transport.update(time.delta(), &mut server);
    stats.set_if_neq(transport.stats());
}

/// Sends renet's packets (`PostUpdate`, with renet's send).
pub(crate) fn send_datagrams(
    mut transport: ResMut<ServerTransport>,
    mut server: ResMut<RenetServer>,
) {
    transport.send_packets(&mut server);
}

/// Closes every connection when the App exits.
pub(crate) fn disconnect_on_exit(
    exit: MessageReader<AppExit>,
    mut transport: ResMut<ServerTransport>,
    mut server: ResMut<RenetServer>,
) {
    if !exit.is_empty() {
        transport.disconnect_all(&mut server);
    }
}
