//! Step 7 of the send pipeline (replication), second part: pack each client's chosen entities, its pending despawns and
//! resources into bit-packed state frames (copying entry bodies from the [`ValueCache`]), then
//! slices of large values with what is left of its budget. The last frame of a tick carries the
//! watermark: the tick up to which the client holds every change once all the tick's frames
//! arrived, which server messages wait for. Whatever does not go is left out through the
//! client's [`LeftOut`](super::left_out::LeftOut), which alone sets the watermark.

use bevy::prelude::*;
use bevy_renet::renet::Bytes;

mod entries;
mod shared_entries;

use entries::{pack_entities, pack_resources};
use shared_entries::SharedEntries;

use super::{
    blobs::BlobStore,
    budget::{ACK_PACKET_BYTES, FRAME_OVERHEAD_BYTES},
    client_replication::{
        ClientReplication, ClientResource, PendingDespawn, SentItem, SentLists, need_key, need_slot,
    },
    component_encoders::ComponentEncoders,
    local_client::LocalClient,
    parallel::{SpareStates, for_each_parallel},
    replicated_world::{ReplicatedResources, ReplicatedWorld, ResourceRecord},
    send_plan::SendPlan,
    value_cache::{EncodeContext, ValueCache},
};
use crate::shared::{
    registry::{ReplicationRegistry, ResourceRegistry},
    scoped::scoped,
    tick::NetTick,
    wire::{
        BitWriter, DespawnEntry, LastPart, MAX_DESPAWNS_PER_FRAME, MAX_STATE_HEADER_BITS,
        StateHeader, encode_slice, write_count, write_despawns, write_entries_end,
        write_state_header,
    },
};

/// A client that got no frame for this many ticks gets one without news (6 per second at
/// 60 Hz), so its clock and watermark keep moving on an idle world.
pub(crate) const HEARTBEAT_TICKS: i32 = 10;
/// After a message, this many sends carry a frame even without news, so a message held for a
/// lost frame's watermark is released soon.
pub(crate) const MESSAGE_FOLLOW_UP_SENDS: u32 = 8;
/// A frame without news goes out when the input acknowledgement advanced this many ticks since
/// the last one reported, so the client can stop repeating inputs.
const INPUT_ACK_TICKS: i32 = 4;

/// The remote clients' tables.
type ClientTables = QueryState<&'static mut ClientReplication, Without<LocalClient>>;

/// Packs every client's frames for this send into its outbox.
pub(crate) fn pack_frames(
    world: &mut World,
    mut clients: Local<ClientTables>,
    mut spares: Local<SpareStates<SharedEntries>>,
) {
    let plan = world.resource::<SendPlan>();
    let parallel = plan.parallel;
    let Some(tick) = plan.tick else {
        return;
    };
    scoped(world, |world, cache: &mut ValueCache| {
        scoped(world, |world, replicated: &mut ReplicatedWorld| {
            scoped(world, |world, blobs: &mut BlobStore| {
                scoped(world, |world, resources: &mut ReplicatedResources| {
                    scoped(world, |world, registry: &mut ReplicationRegistry| {
                        scoped(world, |world, encoders: &mut ComponentEncoders| {
                            build_bodies(
                                world,
                                &mut clients,
                                cache,
                                replicated,
                                blobs,
                                resources,
                                registry,
                                encoders,
                            );
                        });
                        let shared = Shared {
                            tick,
                            index_bits: registry.index_bits(),
                            cache,
                            replicated,
                            blobs,
                            resources,
                        };
                        let mut clients: Vec<_> = clients.iter_mut(world).collect();
                        // Each client writes only its own state and reads what all share.
                        let work = clients.iter().map(|client| client.needs.len()).sum();
                        let states = for_each_parallel(
                            &mut clients,
                            parallel,
                            work,
                            || {
                                let mut kept = spares.take();
                                kept.forget();
                                kept
                            },
                            |kept, client| {
                                pack_client(client, &shared, kept);
                            },
                        );
                        spares.put_back(states);
                    });
                });
            });
        });
    });
}

/// Encodes, once, every body and resource value some client will need this send.
#[allow(clippy::too_many_arguments)]
fn build_bodies(
    world: &mut World,
    clients: &mut ClientTables,
    cache: &mut ValueCache,
    replicated: &ReplicatedWorld,
    blobs: &BlobStore,
    resources: &ReplicatedResources,
    registry: &ReplicationRegistry,
    encoders: &ComponentEncoders,
) {
    let mut resources_needed: Vec<u32> = Vec::new();
    for client in clients.iter(world) {
        for (index, state) in client.resources.iter().enumerate() {
            if let Some(record) = resources.records.get(index)
                && record.present
                && resource_needs_send(record.changed, state.acked)
            {
                resources_needed.push(index as u32);
            }
        }
    }
    let world = &*world;
    let context = EncodeContext {
        world,
        registry,
        encoders,
        replicated,
        blobs,
        parallel: world.resource::<SendPlan>().parallel,
    };
    // Clients whose links behave alike need the same bodies: a client that needs exactly what
    // the one before it does adds nothing (comparing two lists costs less than looking up
    // every entry of the second).
    let mut previous: &[u128] = &[];
    let needed = clients.iter(world).flat_map(|client| {
        let needs: &[u128] = if previous == client.needs.as_slice() {
            &[]
        } else {
            &client.needs
        };
        previous = &client.needs;
        needs.iter().map(|&need| (need_slot(need), need_key(need)))
    });
    cache.build_bodies(&context, needed);
    resources_needed.sort_unstable();
    resources_needed.dedup();
    let resource_registry = world.resource::<ResourceRegistry>();
    for index in resources_needed {
        cache.resource_whole(world, resource_registry, index);
    }
}

fn resource_needs_send(changed: Option<NetTick>, acked: Option<NetTick>) -> bool {
    changed.is_some_and(|changed| acked.is_none_or(|acked| changed.is_newer_than(acked)))
}

/// What every client's packing reads.
struct Shared<'a> {
    tick: NetTick,
    index_bits: u32,
    cache: &'a ValueCache,
    replicated: &'a ReplicatedWorld,
    blobs: &'a BlobStore,
    resources: &'a ReplicatedResources,
}

/// The frames of one client being packed.
struct Packer {
    frames: Vec<(BitWriter, SentLists)>,
    body: BitWriter,
    /// What the current frame carries.
    sent: SentLists,
    previous_slot: Option<u32>,
    previous_components: Vec<u32>,
    previous_baseline: Option<Option<(NetTick, Option<NetTick>)>>,
    /// Bytes of budget left.
    left: usize,
    /// Bytes the trailing second still allows: never overdrawn, whatever the bucket says.
    hard_left: usize,
    /// Whether nothing was packed yet (the first entry may overdraw a positive budget, within
    /// `hard_left`).
    first: bool,
}

/// What a frame costs besides its body: the transport's overhead and the largest header.
const FRAME_COST: usize = FRAME_OVERHEAD_BYTES + MAX_STATE_HEADER_BITS.div_ceil(8);
/// The most bytes one despawn takes on the wire (two 32-bit Golomb codes and a bit).
const MAX_DESPAWN_BYTES: usize = 17;

impl Packer {
    /// A packer writing into `body` (empty, its allocation reused).
    fn new(left: usize, hard_left: usize, sent: SentLists, body: BitWriter) -> Self {
        Self {
            frames: Vec::new(),
            body,
            sent,
            previous_slot: None,
            previous_components: Vec::new(),
            previous_baseline: None,
            left: left.min(hard_left),
            hard_left,
            first: true,
        }
    }

    /// Whether the trailing second leaves room for one more frame.
    fn can_open_frame(&self) -> bool {
        self.hard_left > FRAME_COST
    }

    /// Ends the current frame and starts the next (without despawns or resources).
    fn next_frame(&mut self) {
        write_entries_end(&mut self.body);
        let body = core::mem::take(&mut self.body);
        let sent = core::mem::take(&mut self.sent);
        self.frames.push((body, sent));
        write_despawns(&mut self.body, &[]);
        write_count(&mut self.body, 0);
        self.previous_slot = None;
        self.previous_components.clear();
        self.previous_baseline = None;
        self.left = self.left.saturating_sub(FRAME_COST);
        self.hard_left = self.hard_left.saturating_sub(FRAME_COST);
    }

    /// Whether `bits` more fit the budget; spends them if so.
    fn spend(&mut self, bits: usize) -> bool {
        let bytes = bits.div_ceil(8);
        if bytes <= self.left || (self.first && self.left > 0 && bytes <= self.hard_left) {
            self.left = self.left.saturating_sub(bytes);
            self.hard_left = self.hard_left.saturating_sub(bytes);
            self.first = false;
            true
        } else {
            false
        }
    }
}

fn pack_client(client: &mut ClientReplication, shared: &Shared, kept: &mut SharedEntries) {
    let tick = shared.tick;
    client.outbox.clear();
    if client.needs.is_empty()
        && client.despawns.is_empty()
        && !heartbeat_due(client, tick)
        && !has_resource_news(client, shared)
    {
        // Nothing to say this send (the common case on an idle world): no frame to build.
        client.message_sends_left = client.message_sends_left.saturating_sub(1);
        pack_slices(client, tick);
        return;
    }
    // The hard limit: what the trailing second leaves, less this send's first frame.
    let hard = client
        .budget
        .window_left()
        .saturating_sub(client.reserved_for_messages)
        .saturating_sub(ACK_PACKET_BYTES + FRAME_COST);
    if hard == 0 {
        // Not even an empty frame fits in this second: everything waits for the next send.
        client.message_sends_left = client.message_sends_left.saturating_sub(1);
        return;
    }
    let mut packer = Packer::new(
        client
            .allowance
            .saturating_sub(ACK_PACKET_BYTES + FRAME_COST),
        hard,
        client.take_sent_lists(),
        client.take_frame_body(),
    );

    // Despawns, by entity index (the wire's order).
    let mut pending: Vec<_> = client.despawns.values().copied().collect();
    let wire_order =
        |despawn: &PendingDespawn| (despawn.entity.index_u32(), despawn.entity.to_bits());
    // As many as a frame takes and the trailing second leaves room for.
    let limit = MAX_DESPAWNS_PER_FRAME.min(hard / MAX_DESPAWN_BYTES);
    if pending.len() > limit {
        // The first ones in wire order go; the rest wait (linear, not a sort of them all).
        if limit > 0 {
            pending.select_nth_unstable_by_key(limit - 1, wire_order);
        }
        for despawn in &pending[limit..] {
            client.left_out.leave_out(despawn.since);
        }
        pending.truncate(limit);
    }
    pending.sort_unstable_by_key(wire_order);
    let despawns: Vec<DespawnEntry> = pending
        .iter()
        .map(|despawn| DespawnEntry {
            entity: despawn.entity,
            freeze: despawn.freeze,
        })
        .collect();
    write_despawns(&mut packer.body, &despawns);
    packer
        .sent
        .items
        .extend(pending.iter().map(|despawn| SentItem::Despawn(*despawn)));
    // Within the hard limit by the count above; the bucket may go into debt for them.
    let bytes = packer.body.bit_len().div_ceil(8);
    packer.left = packer.left.saturating_sub(bytes);
    packer.hard_left = packer.hard_left.saturating_sub(bytes);

    pack_resources(client, shared, &mut packer);
    pack_entities(client, shared, &mut packer, kept);
    let watermark = client.left_out.watermark(tick);

    let has_news = !packer.frames.is_empty() || !packer.sent.is_empty();
    let heartbeat_due = heartbeat_due(client, tick);
    client.message_sends_left = client.message_sends_left.saturating_sub(1);
    if has_news || heartbeat_due {
        write_entries_end(&mut packer.body);
        let body = core::mem::take(&mut packer.body);
        let sent = core::mem::take(&mut packer.sent);
        packer.frames.push((body, sent));
        let count = packer.frames.len();
        let mut spent = ACK_PACKET_BYTES;
        for (part, (body, sent)) in packer.frames.drain(..).enumerate() {
            let seq = client.next_seq();
            let last = (part + 1 == count).then_some(LastPart {
                watermark,
                input_ack: client.input_ack,
                owned_ack: client.owned_ack,
            });
            let mut frame = BitWriter::with_capacity(body.byte_len() + 16);
            write_state_header(
                &mut frame,
                &StateHeader {
                    seq,
                    tick,
                    part: part as u32,
                    last,
                },
            );
            frame.append(&body);
            if part == 0 {
                client.keep_frame_body(body);
            }
            spent += frame.byte_len() + FRAME_OVERHEAD_BYTES;
            if tracing_enabled() {
                let entries = sent.slots.len();
                let despawns = sent
                    .items
                    .iter()
                    .filter(|item| matches!(item, SentItem::Despawn(_)))
                    .count();
                trace!(
                    "send state: seq {seq} tick {} part {}/{count} entities {entries} despawns {despawns} watermark {:?} bytes {}",
                    tick.0,
                    part + 1,
                    last.map(|last| last.watermark.0),
                    frame.byte_len()
                );
            }
            client.outbox.push(Bytes::from(frame.into_bytes()));
            client.record_sent(seq, tick, sent);
        }
        client.budget.spend(spent);
        client.last_frame_tick = Some(tick);
        client.input_ack_sent = client.input_ack;
        client.owned_ack_sent = client.owned_ack;
    } else {
        // Nothing went out: the body's allocation waits for the next send.
        client.keep_frame_body(packer.body);
    }

    pack_slices(client, tick);
}

/// Whether the client gets a frame this send even without news: its clock and watermark must
/// move, a message may wait for a lost frame, or its input or owned-value acknowledgement
/// advanced.
fn heartbeat_due(client: &ClientReplication, tick: NetTick) -> bool {
    client
        .last_frame_tick
        .is_none_or(|last| tick.diff(last) >= HEARTBEAT_TICKS)
        || client.message_sends_left > 0
        || client.input_ack.is_some_and(|ack| {
            client
                .input_ack_sent
                .is_none_or(|sent| ack.diff(sent) >= INPUT_ACK_TICKS)
        })
        || client.owned_ack.is_some_and(|ack| {
            client
                .owned_ack_sent
                .is_none_or(|sent| ack.newest.diff(sent.newest) >= INPUT_ACK_TICKS)
        })
}

/// Whether some resource has a value or removal the client should get.
fn has_resource_news(client: &ClientReplication, shared: &Shared) -> bool {
    shared
        .resources
        .records
        .iter()
        .zip(&client.resources)
        .any(|(record, state)| resource_has_news(record, state))
}

/// Whether the client should get the resource's value or removal: it changed after what the
/// client acknowledged, and it is there, or the client may hold it.
fn resource_has_news(record: &ResourceRecord, state: &ClientResource) -> bool {
    resource_needs_send(record.changed, state.acked) && (record.present || state.known)
}

/// Whether per-frame trace lines are wanted (they cost a count per frame).
fn tracing_enabled() -> bool {
    bevy::log::tracing::enabled!(bevy::log::Level::TRACE)
}

/// Slices of large values, with what is left of the budget after the frames.
fn pack_slices(client: &mut ClientReplication, tick: NetTick) {
    if client.blobs.is_idle() {
        return;
    }
    let mut left = client
        .budget
        .available()
        .saturating_sub(client.reserved_for_messages);
    let resend_after = client.rtt_ticks.saturating_mul(3) / 2 + 3;
    let slices = client
        .blobs
        .next_slices(tick, resend_after, &mut left, FRAME_OVERHEAD_BYTES + 12);
    for slice in slices {
        let seq = client.next_seq();
        let frame = encode_slice(
            seq,
            slice.blob,
            slice.total_len,
            slice.index,
            &slice.payload,
        );
        trace!(
            "send slice: seq {seq} value {} slice {} of {} bytes",
            slice.blob, slice.index, slice.total_len
        );
        client.budget.spend(frame.len() + FRAME_OVERHEAD_BYTES);
        client.outbox.push(Bytes::from(frame));
        let mut sent = client.take_sent_lists();
        sent.items.push(SentItem::Slice {
            blob: slice.blob,
            index: slice.index,
        });
        client.record_sent(seq, tick, sent);
    }
}

impl Shared<'_> {
    fn cache_resource(&self, index: u32) -> Option<(usize, usize)> {
        self.cache.built_resource(index)
    }
}
