//! [`ClientTransport`]: a client's netcode (renetcode) on its UDP socket, with the same shape
//! check as the server's ([`datagram_filter`](super::datagram_filter)) in front of netcode.
//!
//! Whatever arrives from the server's address (or from anyone who spoofs it, or a fake server
//! that answers a connection request) is checked before netcode reads it: a header netcode
//! would trip on, a size the packet's type does not have, a type servers do not send, or a
//! packet already received is dropped and counted in [`TransportStats`], never logged one by
//! one (a summary line every 10 s when something was dropped). Datagrams from any other address
//! are dropped unread. At most [`MAX_READS_PER_UPDATE`] datagrams are read per frame.

use std::{
    io,
    net::{SocketAddr, UdpSocket},
    time::Duration,
};

use bevy::prelude::*;
use bevy_renet::RenetClient;
use renetcode::{
    ClientAuthentication, DisconnectReason as NetcodeDisconnectReason, NETCODE_MAX_PACKET_BYTES,
    NetcodeClient, NetcodeError,
};

use super::{
    MAX_READS_PER_UPDATE,
    datagram_filter::{self, kind},
    replay::Replay,
    seal::sealed_with,
    stats::TransportStats,
};

/// A client's UDP transport. Inserted by [`connect`](super::connect).
#[derive(Resource)]
pub struct ClientTransport {
    socket: UdpSocket,
    netcode: NetcodeClient,
    /// Larger than any packet, so oversized datagrams are measured, not truncated.
    buffer: Vec<u8>,
    /// Sequences of keep-alives and payloads received from the server lately, and the key the
    /// server seals its packets with (from the connect token).
    replay: Replay,
    /// The game's netcode protocol id (part of every packet's additional data).
    protocol_id: u64,
    stats: TransportStats,
    /// The counters at the last summary in the log, and the time since.
    reported: TransportStats,
    since_report: Duration,
}

/// Time between two summaries of what a client's transport dropped (only when it dropped
/// something).
const REPORT_EVERY: Duration = Duration::from_secs(10);

impl ClientTransport {
    /// A transport on `socket` (made non-blocking) that starts connecting with
    /// `authentication`; `now` is the time since the Unix epoch.
    pub fn new(
        now: Duration,
        authentication: ClientAuthentication,
        socket: UdpSocket,
    ) -> Result<Self, NetcodeError> {
        socket.set_nonblocking(true)?;
        let (key, protocol_id) = match &authentication {
            ClientAuthentication::Secure { connect_token } => (
                Some(connect_token.server_to_client_key),
                connect_token.protocol_id,
            ),
            ClientAuthentication::Unsecure { protocol_id, .. } => (None, *protocol_id),
        };
        Ok(Self {
            netcode: NetcodeClient::new(now, authentication)?,
            socket,
            buffer: vec![0; 2 * NETCODE_MAX_PACKET_BYTES],
            replay: Replay::with_key(key),
            protocol_id,
            stats: TransportStats::default(),
            reported: TransportStats::default(),
            since_report: Duration::ZERO,
        })
    }

    /// Where the socket is bound.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The address packets are sent to and accepted from.
    pub fn server_addr(&self) -> SocketAddr {
        self.netcode.server_addr()
    }

    /// The id this client connects with.
    pub fn client_id(&self) -> u64 {
        self.netcode.client_id()
    }

    /// Time since the last packet netcode accepted from the server.
    pub fn time_since_last_received_packet(&self) -> Duration {
        self.netcode.time_since_last_received_packet()
    }

    /// Why netcode's connection ended, once it has.
    pub fn disconnect_reason(&self) -> Option<NetcodeDisconnectReason> {
        self.netcode.disconnect_reason()
    }

    /// What was received and dropped so far.
    pub fn stats(&self) -> TransportStats {
        self.stats
    }

    /// Sends netcode's disconnect packet now (leaving, or the App exits).
    pub fn disconnect(&mut self) {
        if self.netcode.is_disconnected() {
            return;
        }
        if let Ok((addr, packet)) = self.netcode.disconnect() {
            send(&self.socket, packet, addr);
        }
    }

    /// Sends renet's packets to the server.
    pub fn send_packets(&mut self, client: &mut RenetClient) {
        if self.netcode.is_disconnected() {
            return;
        }
        for packet in client.get_packets_to_send() {
            match self.netcode.generate_payload_packet(&packet) {
                Ok((addr, bytes)) => send(&self.socket, bytes, addr),
                Err(error) => {
                    debug!("sealing a packet for the server: {error}");
                    break;
                }
            }
        }
    }

    /// Reads what the server sent, runs netcode's timers and keeps renet's connection state
    /// in step with netcode's. `elapsed` is the time since the last call.
    pub fn update(&mut self, elapsed: Duration, client: &mut RenetClient) {
        if self.netcode.is_disconnected() {
            client.disconnect_due_to_transport();
            return;
        }
        if client.disconnect_reason().is_some() {
            self.disconnect();
            return;
        }
        if self.netcode.is_connected() {
            client.set_connected();
        } else if self.netcode.is_connecting() {
            client.set_connecting();
        }
        let mut reads = 0;
        loop {
            if reads == MAX_READS_PER_UPDATE {
                self.stats.capped_reads += 1;
                break;
            }
            reads += 1;
            match self.socket.recv_from(&mut self.buffer) {
                Ok((len, addr)) => self.receive(len, addr, client),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionReset
                    ) => {}
                Err(error) => {
                    debug!("client socket: {error}");
                    break;
                }
            }
        }
        if let Some((packet, addr)) = self.netcode.update(elapsed) {
            send(&self.socket, packet, addr);
        }
        self.since_report += elapsed;
        if self.since_report >= REPORT_EVERY {
            self.since_report = Duration::ZERO;
            if let Some(summary) = self.stats.summary_since(&self.reported) {
                warn!(
                    "client transport, last {} s: {summary}",
                    REPORT_EVERY.as_secs()
                );
            }
            self.reported = self.stats;
        }
    }

    /// Hands `bytes`, as if received from `addr`, to the same path as the socket's datagrams
    /// (fuzzing and tests: a fake or spoofed server without raw sockets).
    #[doc(hidden)]
    pub fn receive_datagram(&mut self, addr: SocketAddr, bytes: &[u8], client: &mut RenetClient) {
        let len = bytes.len().min(self.buffer.len());
        self.buffer[..len].copy_from_slice(&bytes[..len]);
        self.receive(len, addr, client);
    }

    fn receive(&mut self, len: usize, addr: SocketAddr, client: &mut RenetClient) {
        self.stats.datagrams += 1;
        if addr != self.netcode.server_addr() {
            self.stats.unknown_sender += 1;
            return;
        }
        let header = match datagram_filter::from_server(&self.buffer[..len]) {
            Ok(header) => header,
            Err(refusal) => {
                trace!("dropped a datagram ({len} bytes) from the server's address: {refusal:?}");
                self.stats.refused(refusal);
                return;
            }
        };
        if let Some(key) = &self.replay.key
            && !sealed_with(&self.buffer[..len], &header, self.protocol_id, key)
        {
            self.stats.forged += 1;
            return;
        }
        // Keep-alives, payloads and disconnects count one sequence; netcode refuses (and
        // logs) any it saw.
        let counted = matches!(
            header.kind,
            kind::KEEP_ALIVE | kind::PAYLOAD | kind::DISCONNECT
        );
        if counted && self.replay.received(header.sequence) {
            self.stats.duplicates += 1;
            return;
        }
        // The server's key opened it (checked above), or netcode handed over its payload.
        let genuine = self.replay.key.is_some();
        let delivered = match self.netcode.process_packet(&mut self.buffer[..len]) {
            Some(payload) => {
                self.stats.payloads += 1;
                client.process_packet(payload);
                true
            }
            None => false,
        };
        if counted && (genuine || delivered) {
            self.replay.note(header.sequence);
        }
    }
}

fn send(socket: &UdpSocket, bytes: &[u8], addr: SocketAddr) {
    if let Err(error) = socket.send_to(bytes, addr) {
        debug!("sending to {addr}: {error}");
    }
}

/// Reads the socket and runs netcode (`PreUpdate`, with renet's receive).
pub(crate) fn receive_datagrams(
    mut transport: ResMut<ClientTransport>,
    mut client: ResMut<RenetClient>,
    time: Res<Time<Real>>,
) {
    transport.update(time.delta(), &mut client);
}

/// Sends renet's packets (`PostUpdate`, with renet's send).
pub(crate) fn send_datagrams(
    mut transport: ResMut<ClientTransport>,
    mut client: ResMut<RenetClient>,
) {
    transport.send_packets(&mut client);
}

/// Sends netcode's disconnect when the App exits.
pub(crate) fn disconnect_on_exit(
    exit: MessageReader<AppExit>,
    mut transport: ResMut<ClientTransport>,
) {
    if !exit.is_empty() {
        transport.disconnect();
    }
}
