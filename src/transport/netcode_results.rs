//! [`ResultSink`]: what the server transport does with each of netcode's results: sends its
//! packets, remembers challenged addresses, adds and removes renet connections, and hands
//! payloads to renet.

use std::{net::SocketAddr, time::Duration};

use bevy::{platform::collections::HashMap, prelude::*};
use bevy_renet::RenetServer;
use renetcode::ServerResult;

use super::{replay::Replay, seal::ConnectionKey, stats::TransportStats};
use crate::shared::link::Outgoing;

/// Most addresses remembered as challenged at once (netcode's own limit of pending
/// handshakes). Entries older than the handshake timeout make room.
const MAX_CHALLENGED: usize = 4_096;

/// What acts on netcode's results: the way out for datagrams, the known clients, the counters.
pub(crate) struct ResultSink<'a> {
    pub(crate) out: Outgoing<'a>,
    pub(crate) clients: &'a mut HashMap<SocketAddr, Replay>,
    pub(crate) stats: &'a mut TransportStats,
    pub(crate) reserved: &'a [u64],
    pub(crate) challenged: &'a mut HashMap<SocketAddr, (Duration, ConnectionKey)>,
    pub(crate) now: Duration,
    /// The key of the connection request being handled, if the result answers one.
    pub(crate) request_key: Option<ConnectionKey>,
}

impl ResultSink<'_> {
    /// Acts on one result; `sequence` is the payload sequence of the packet that gave it.
    pub(crate) fn handle(
        &mut self,
        result: ServerResult,
        server: &mut RenetServer,
        sequence: Option<u64>,
    ) {
        if let ServerResult::PacketToSend { addr, .. } = &result
            && !self.clients.contains_key(addr)
            && let Some(key) = self.request_key
        {
            if self.challenged.len() >= MAX_CHALLENGED && !self.challenged.contains_key(addr) {
                // Full of handshakes nobody finished: the oldest makes room.
                if let Some(oldest) = self
                    .challenged
                    .iter()
                    .min_by_key(|(_, (since, _))| *since)
                    .map(|(addr, _)| *addr)
                {
                    self.challenged.remove(&oldest);
                }
            }
            self.challenged.insert(*addr, (self.now, key));
        }
        // A new connection's packets are checked with the key of the token it came with.
        let connected = match &result {
            ServerResult::ClientConnected { addr, .. } => {
                Some((*addr, self.challenged.remove(addr).map(|(_, key)| key)))
            }
            _ => None,
        };
        handle_result(
            result,
            &mut self.out,
            self.clients,
            self.stats,
            self.reserved,
            server,
            sequence,
        );
        if let Some((addr, key)) = connected
            && let Some(replay) = self.clients.get_mut(&addr)
        {
            replay.key = key;
        }
    }
}

fn handle_result(
    result: ServerResult,
    out: &mut Outgoing<'_>,
    clients: &mut HashMap<SocketAddr, Replay>,
    stats: &mut TransportStats,
    reserved: &[u64],
    server: &mut RenetServer,
    sequence: Option<u64>,
) {
    let mut send = |bytes: &[u8], addr: SocketAddr| out.send(bytes, addr);
    match result {
        ServerResult::None => {}
        ServerResult::PacketToSend { payload, addr } => send(payload, addr),
        ServerResult::Payload { client_id, payload } => {
            stats.payloads += 1;
            if let Some(sequence) = sequence
                && let Some(replay) = clients
                    .values_mut()
                    .find(|replay| replay.client_id == client_id)
            {
                replay.note(sequence);
            }
            if let Err(error) = server.process_packet_from(payload, client_id) {
                debug!("payload of client {client_id}: {error}");
            }
        }
        ServerResult::ClientConnected {
            client_id,
            addr,
            payload,
            ..
        } => {
            if server.is_connected(client_id) || reserved.contains(&client_id) {
                // Another client has this id (the host's): refused by the caller.
                return;
            }
            clients.insert(addr, Replay::new(client_id));
            server.add_connection(client_id);
            send(payload, addr);
        }
        ServerResult::ClientDisconnected {
            client_id,
            addr,
            payload,
        } => {
            if clients
                .get(&addr)
                .is_some_and(|replay| replay.client_id == client_id)
            {
                clients.remove(&addr);
                server.remove_connection(client_id);
            }
            if let Some(payload) = payload {
                send(payload, addr);
            }
        }
    }
}
