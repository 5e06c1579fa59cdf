//! Sending one tick of replication to every client: structure frames on the reliable channel,
//! component values in MTU-sized update frames on the unreliable one.

use core::mem;

use bevy::prelude::*;
use bevy_renet::{
    RenetServer,
    renet::{Bytes, ClientId},
};

use super::{
    client_replication::ClientReplication,
    collect_changes::{TickChanges, collect_changes, write_spawn},
    config::ServerConfig,
    connected_client::ConnectedClient,
    local_client::LocalClient,
    replicated_world::ReplicatedWorld,
    value_cache::ValueCache,
};
use crate::shared::{
    channels::{RELIABLE_CHANNEL, UNRELIABLE_CHANNEL},
    registry::ReplicationRegistry,
    tick::{NetTick, ServerTick},
    wire::{self, UpdateHeader},
};

/// Largest update frame: fits one renet packet (renet packs messages up to 1,200 bytes).
pub const MAX_UPDATE_FRAME_BYTES: usize = 1_190;

/// Room the update header may take (kind byte and three 5-byte varints).
const UPDATE_HEADER_BYTES: usize = 16;

/// A client that got no tick-stamped frame for this many ticks gets a bare tick (6 per second
/// at 60 Hz), so its clock keeps running on an idle world.
const HEARTBEAT_TICKS: i32 = 10;

/// Send bookkeeping kept between sends.
#[derive(Resource, Default)]
pub(crate) struct SendState {
    last_sent: Option<NetTick>,
    cache: ValueCache,
}

/// Collects this tick's changes and sends each client what it lacks. Runs in
/// [`ServerSet::Send`](super::ServerSet::Send) when the tick advanced by the send interval.
pub(crate) fn send_replication(world: &mut World) {
    let tick = world.resource::<ServerTick>().0;
    let config = world.resource::<ServerConfig>().clone();
    world.resource_scope(|world, mut state: Mut<SendState>| {
        if let Some(last) = state.last_sent
            && tick.diff(last) < config.send_interval_ticks.max(1) as i32
        {
            return;
        }
        state.last_sent = Some(tick);
        state.cache.clear();

        world.resource_scope(|world, mut replicated: Mut<ReplicatedWorld>| {
            let changes = collect_changes(world, &mut replicated, &mut state.cache, tick);
            let mut query =
                world.query_filtered::<(Entity, &ConnectedClient), Without<LocalClient>>();
            let clients: Vec<(Entity, ClientId)> = query
                .iter(world)
                .map(|(entity, client)| (entity, client.id()))
                .collect();
            let mut full_world = None;
            world.resource_scope(|world, mut server: Mut<RenetServer>| {
                for (entity, client_id) in clients {
                    let Some(mut slot) = world.get_mut::<ClientReplication>(entity) else {
                        continue;
                    };
                    let mut client = mem::take(&mut *slot);
                    let mut sender = ClientSender {
                        world,
                        server: &mut server,
                        replicated: &replicated,
                        cache: &mut state.cache,
                        client_id,
                        tick,
                    };
                    if client.synced {
                        sender.send_changes(&mut client, &changes, config.update_bytes_per_tick);
                    } else {
                        sender.send_world(&mut client, &mut full_world);
                    }
                    if let Some(mut slot) = world.get_mut::<ClientReplication>(entity) {
                        *slot = client;
                    }
                }
            });
        });
    });
}

/// Everything needed to send one client its share of a tick.
struct ClientSender<'a> {
    world: &'a World,
    server: &'a mut RenetServer,
    replicated: &'a ReplicatedWorld,
    cache: &'a mut ValueCache,
    client_id: ClientId,
    tick: NetTick,
}

impl ClientSender<'_> {
    /// Sends the whole replicated world to a client that just joined.
    fn send_world(&mut self, client: &mut ClientReplication, full_world: &mut Option<Bytes>) {
        let frame = full_world.get_or_insert_with(|| {
            let registry = self.world.resource::<ReplicationRegistry>();
            let mut frame = Vec::new();
            wire::write_structure_header(&mut frame, self.tick);
            for (&entity, record) in &self.replicated.entities {
                write_spawn(&mut frame, self.world, registry, self.cache, entity, record);
            }
            Bytes::from(frame)
        });
        self.server
            .send_message(self.client_id, RELIABLE_CHANNEL, frame.clone());
        client.acked = self
            .replicated
            .entities
            .keys()
            .map(|&entity| (entity, self.tick))
            .collect();
        client.pending.clear();
        client.pending_set.clear();
        client.synced = true;
        client.last_structure = self.tick;
        client.last_stamp = self.tick;
    }

    /// Sends this tick's structural changes and every value the client has not acknowledged.
    fn send_changes(
        &mut self,
        client: &mut ClientReplication,
        changes: &TickChanges,
        budget: usize,
    ) {
        if let Some(frame) = &changes.structure {
            self.server
                .send_message(self.client_id, RELIABLE_CHANNEL, frame.clone());
            for &entity in &changes.despawned {
                client.acked.remove(&entity);
            }
            for &entity in &changes.spawned {
                client.acked.insert(entity, self.tick);
            }
            client.last_structure = self.tick;
        }
        for &entity in &changes.dirty {
            client.mark_pending(entity);
        }
        client.forget_old(self.tick);
        self.send_updates(client, budget);
        if client.last_structure == self.tick {
            client.last_stamp = self.tick;
        }
        // Keep the client's clock fed when nothing else carries the tick.
        if self.tick.diff(client.last_stamp) >= HEARTBEAT_TICKS {
            self.server.send_message(
                self.client_id,
                UNRELIABLE_CHANNEL,
                Bytes::from(wire::encode_tick(self.tick)),
            );
            client.last_stamp = self.tick;
        }
    }

    /// Packs pending entities' unacknowledged values into update frames, oldest first, until
    /// `budget` bytes; the rest waits for the next send.
    fn send_updates(&mut self, client: &mut ClientReplication, budget: usize) {
        let registry = self.world.resource::<ReplicationRegistry>();
        let pending = mem::take(&mut client.pending);
        let mut kept = Vec::with_capacity(pending.len());
        let mut postponed: &[Entity] = &[];
        let mut body = Vec::with_capacity(MAX_UPDATE_FRAME_BYTES);
        let mut body_entities = Vec::new();
        let mut entry = Vec::new();
        let mut indices = Vec::new();
        let mut sent_bytes = 0;

        for (position, &entity) in pending.iter().enumerate() {
            let (Some(&acked), Some(record)) = (
                client.acked.get(&entity),
                self.replicated.entities.get(&entity),
            ) else {
                client.pending_set.remove(&entity);
                continue;
            };
            indices.clear();
            indices.extend(record.changed_after(acked).filter(|&index| {
                self.cache
                    .get(self.world, registry, entity, index)
                    .is_some()
            }));
            if indices.is_empty() {
                client.pending_set.remove(&entity);
                continue;
            }
            entry.clear();
            wire::write_entity(&mut entry, entity);
            wire::write_varint(&mut entry, indices.len() as u64);
            for &index in &indices {
                let bytes = self
                    .cache
                    .get(self.world, registry, entity, index)
                    .unwrap_or_default();
                wire::write_component(&mut entry, index, bytes);
            }
            if sent_bytes > 0 && sent_bytes + entry.len() > budget {
                postponed = &pending[position..];
                break;
            }
            if !body.is_empty()
                && body.len() + entry.len() + UPDATE_HEADER_BYTES > MAX_UPDATE_FRAME_BYTES
            {
                self.flush(client, &mut body, &mut body_entities);
            }
            body.extend_from_slice(&entry);
            body_entities.push(entity);
            kept.push(entity);
            sent_bytes += entry.len();
        }
        self.flush(client, &mut body, &mut body_entities);

        // Entities that did not fit go first next time; sent ones stay until acknowledged.
        client.pending = postponed.to_vec();
        client.pending.extend(kept);
    }

    fn flush(
        &mut self,
        client: &mut ClientReplication,
        body: &mut Vec<u8>,
        entities: &mut Vec<Entity>,
    ) {
        if body.is_empty() {
            return;
        }
        let header = UpdateHeader {
            update_id: client.record_sent(self.tick, mem::take(entities)),
            tick: self.tick,
            required_structure: client.last_structure,
        };
        client.last_stamp = self.tick;
        let mut frame = Vec::with_capacity(body.len() + UPDATE_HEADER_BYTES);
        wire::write_update_header(&mut frame, header);
        frame.append(body);
        self.server
            .send_message(self.client_id, UNRELIABLE_CHANNEL, Bytes::from(frame));
    }
}
