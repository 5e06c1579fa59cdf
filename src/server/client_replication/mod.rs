//! [`ClientReplication`]: what one client holds, has acknowledged, and still needs.

use bevy::{ecs::entity::EntityHashMap, prelude::*};
use bevy_renet::renet::Bytes;

use super::{
    blobs::ClientBlobs, budget::Budget, dirty::DirtySet, left_out::LeftOut, value_cache::BodyKey,
};
use crate::shared::{
    tick::NetTick,
    wire::{BitWriter, MAX_STATE_FRAME_BYTES, OwnedAck},
};

mod sent_frames;

pub(crate) use sent_frames::{SENT_FRAMES, SentFrames, SentItem, SentLists, SentSlot};

/// What one client knows of one slot.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClientSlot {
    /// The entity this state is about (`Entity::PLACEHOLDER` when unused).
    pub(crate) entity: Entity,
    /// Bumped whenever the state is reset, so late acks of an earlier life are ignored.
    pub(crate) epoch: u32,
    /// Whether the entity is relevant to the client.
    pub(crate) visible: bool,
    /// Whether a spawn was sent, so the client may hold the entity.
    pub(crate) known: bool,
    /// The newest frame tick the client acknowledged for this entity, and the one before.
    pub(crate) acked: Option<NetTick>,
    pub(crate) acked_previous: Option<NetTick>,
    /// Accumulated priority: grows every send while the entity has news, back to zero when sent.
    pub(crate) priority: f32,
    /// The tick it became out of date on this client (for the message watermark).
    pub(crate) dirty_since: NetTick,
    /// Bits of its last entry, for the next size estimate.
    pub(crate) last_bits: u32,
}

impl Default for ClientSlot {
    fn default() -> Self {
        Self {
            entity: Entity::PLACEHOLDER,
            epoch: 0,
            visible: false,
            known: false,
            acked: None,
            acked_previous: None,
            priority: 0.0,
            dirty_since: NetTick::default(),
            last_bits: 0,
        }
    }
}

impl ClientSlot {
    /// Starts a new life for `entity` (a new spawn, or a new entity in the slot).
    pub(crate) fn reset(&mut self, entity: Entity) {
        *self = Self {
            entity,
            epoch: self.epoch.wrapping_add(1),
            ..Self::default()
        };
    }

    /// The tick the client's copy has been out of date since, as far as the server can tell:
    /// its first change after what the client acknowledged (for the message watermark).
    #[inline]
    pub(crate) fn out_of_date_since(&self) -> NetTick {
        match self.acked {
            Some(acked) => self.dirty_since.max(acked.add(1)),
            None => self.dirty_since,
        }
    }

    /// Notes that a frame of `tick` carrying this entity was acknowledged.
    pub(crate) fn acknowledge(&mut self, tick: NetTick) {
        self.known = true;
        match self.acked {
            None => self.acked = Some(tick),
            Some(newest) if tick.is_newer_than(newest) => {
                self.acked_previous = Some(newest);
                self.acked = Some(tick);
            }
            Some(newest) if tick != newest => {
                if self
                    .acked_previous
                    .is_none_or(|previous| tick.is_newer_than(previous))
                {
                    self.acked_previous = Some(tick);
                }
            }
            Some(_) => {}
        }
    }
}

/// Despawns one client may have waiting for its acknowledgement before the server asks
/// whether it still acknowledges any. An honest client has about a round trip's worth
/// (despawns per second × RTT), more for a while after unloading a large part of the world it
/// held. Past this many, a client that acknowledged no despawn for [`DESPAWN_STALL_TICKS`]
/// has stopped acknowledging while keeping its connection alive: it is disconnected with
/// [`DisconnectReason::ConnectionLost`](crate::shared::disconnect::DisconnectReason::ConnectionLost).
/// Four times this many is a hard limit whatever it acknowledges, which bounds the memory held
/// for a client and the despawns each send walks (about 16 MiB).
pub const MAX_PENDING_DESPAWNS: usize = 65_536;

/// Ticks without any acknowledged despawn after which a client holding more than
/// [`MAX_PENDING_DESPAWNS`] pending despawns is disconnected (10 s at 60 Hz).
pub const DESPAWN_STALL_TICKS: u32 = 600;

/// An entity chosen for this send and the body its entry needs, as one number: its slot in the
/// low 32 bits, its [`BodyKey`] above. Equal for equal needs only, so clients' lists of them
/// compare as plain memory. Lists are kept in slot order, which is the order of their low bits
/// ([`need_slot`]), not of the whole numbers.
#[inline]
pub(crate) fn need(slot: u32, key: BodyKey) -> u128 {
    u128::from(slot) | key.bits() << 32
}

/// The slot of a [`need`].
#[inline]
pub(crate) fn need_slot(need: u128) -> u32 {
    need as u32
}

/// The body key of a [`need`].
#[inline]
pub(crate) fn need_key(need: u128) -> BodyKey {
    BodyKey::from_bits(need >> 32)
}

/// An entity the client may hold that it must drop (despawned, or out of its view) or freeze.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PendingDespawn {
    pub(crate) entity: Entity,
    /// The tick the despawn happened at (for the message watermark).
    pub(crate) since: NetTick,
    /// Keep the client's copy, frozen, instead of despawning it.
    pub(crate) freeze: bool,
}

/// What one client knows of one replicated resource.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ClientResource {
    /// Tick of the newest value (or removal) the client acknowledged.
    pub(crate) acked: Option<NetTick>,
    /// Whether a value was ever sent.
    pub(crate) known: bool,
}

/// Per-client replication state, on the client's [`ConnectedClient`](super::ConnectedClient)
/// entity. Written by [`ServerSet::Receive`](super::ServerSet::Receive) (acks) and
/// [`ServerSet::Send`](super::ServerSet::Send).
#[derive(Component)]
pub(crate) struct ClientReplication {
    /// Per slot, indexed like [`ReplicatedWorld`](super::replicated_world::ReplicatedWorld).
    pub(crate) slots: Vec<ClientSlot>,
    /// Slots that may have news for this client, in wire order.
    pub(crate) dirty: DirtySet,
    /// Despawns not acknowledged yet, by entity (at most [`MAX_PENDING_DESPAWNS`]).
    pub(crate) despawns: EntityHashMap<PendingDespawn>,
    /// The despawns pending outgrew what an acknowledging client has: it is disconnected at
    /// the end of the send.
    pub(crate) stalled: bool,
    /// The tick the client last acknowledged a despawn at (or its pending despawns started).
    despawn_progress: NetTick,
    /// Per replicated resource.
    pub(crate) resources: Vec<ClientResource>,
    /// Large values on their way.
    pub(crate) blobs: ClientBlobs,
    pub(crate) budget: Budget,
    /// What the frames waiting for their acknowledgement carried.
    sent: SentFrames,
    next_seq: u16,
    /// Tick of the last frame sent (any frame that carries the tick).
    pub(crate) last_frame_tick: Option<NetTick>,
    /// The newest input tick received from the client, reported back so it stops repeating it.
    pub(crate) input_ack: Option<NetTick>,
    /// The input tick last reported.
    pub(crate) input_ack_sent: Option<NetTick>,
    /// The ticks of the owned-value sections read from this client (client authority).
    pub(crate) owned_ack: Option<OwnedAck>,
    /// The owned-value acknowledgement last reported.
    pub(crate) owned_ack_sent: Option<OwnedAck>,
    /// Slots this client holds authority over, sorted (refreshed every send while some type is
    /// client-authoritative): their bodies leave out the values it sent itself.
    pub(crate) held: Vec<u32>,
    /// Slots this client stopped holding, with the tick, until it acknowledges a later frame of
    /// them: their client-authoritative values go whole meanwhile.
    pub(crate) released: Vec<(u32, NetTick)>,
    /// Sends left during which a frame goes out even without news, so held messages are released
    /// soon after a loss.
    pub(crate) message_sends_left: u32,
    /// Whether the client was given every slot once (a new client starts with the whole world).
    pub(crate) initialized: bool,
    /// Slots relevant to the client, sorted (kept once interest management is in use).
    pub(crate) relevant: Vec<u32>,
    /// Whether `relevant` is kept.
    pub(crate) relevance_tracked: bool,
    /// Bytes the first message waiting for this client needs (messages go before replication
    /// in a send; while one waits, replication leaves the budget's room for it).
    pub(crate) reserved_for_messages: usize,
    /// This send: bytes the budget allows.
    pub(crate) allowance: usize,
    /// This send: the entities chosen, in slot order, each with the body its entry needs (see
    /// [`need`]).
    pub(crate) needs: Vec<u128>,
    /// This send: the estimated bits of the entities chosen.
    pub(crate) chosen_bits: usize,
    /// This send: the news left out of its frames, which holds the watermark back.
    pub(crate) left_out: LeftOut,
    /// This send: frames ready for renet.
    pub(crate) outbox: Vec<Bytes>,
    /// Round trip in ticks, as renet measures it (for resending slices).
    pub(crate) rtt_ticks: u32,
    /// Frame ids the client acknowledged since the last send, applied at the start of the next
    /// one (on the send's threads).
    received_acks: Vec<u16>,
    /// The allocation of the last send's first frame body, for the next one to write into.
    frame_scratch: BitWriter,
}

impl Default for ClientReplication {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            dirty: DirtySet::default(),
            despawns: EntityHashMap::default(),
            stalled: false,
            despawn_progress: NetTick::default(),
            reserved_for_messages: 0,
            resources: Vec::new(),
            blobs: ClientBlobs::default(),
            budget: Budget::default(),
            sent: SentFrames::default(),
            next_seq: 0,
            last_frame_tick: None,
            input_ack: None,
            input_ack_sent: None,
            owned_ack: None,
            owned_ack_sent: None,
            held: Vec::new(),
            released: Vec::new(),
            message_sends_left: 0,
            initialized: false,
            relevant: Vec::new(),
            relevance_tracked: false,
            allowance: 0,
            chosen_bits: 0,
            needs: Vec::new(),
            left_out: LeftOut::default(),
            outbox: Vec::new(),
            rtt_ticks: 6,
            received_acks: Vec::new(),
            frame_scratch: BitWriter::with_capacity(MAX_STATE_FRAME_BYTES),
        }
    }
}

impl ClientReplication {
    /// Grows the slot table to `len`.
    pub(crate) fn reserve_slots(&mut self, len: usize) {
        if self.slots.len() < len {
            self.slots.resize(len, ClientSlot::default());
            self.dirty.reserve(len);
        }
    }

    /// Marks `slot` as having news since `tick`.
    pub(crate) fn mark_dirty(&mut self, slot: u32, tick: NetTick) {
        if self.dirty.insert(slot) {
            self.slots[slot as usize].dirty_since = tick;
        }
    }

    /// Schedules the despawn (or freeze) of `entity`; a despawn replaces a freeze on its way.
    pub(crate) fn push_despawn(&mut self, entity: Entity, tick: NetTick, freeze: bool) {
        let despawn = PendingDespawn {
            entity,
            since: tick,
            freeze,
        };
        if self.despawns.is_empty() {
            self.despawn_progress = tick;
        }
        let pending = self.despawns.len();
        let stuck = pending >= MAX_PENDING_DESPAWNS
            && tick.diff(self.despawn_progress) > DESPAWN_STALL_TICKS as i32;
        match self.despawns.get_mut(&entity) {
            None if stuck || pending >= 4 * MAX_PENDING_DESPAWNS => self.stalled = true,
            None => {
                self.despawns.insert(entity, despawn);
            }
            // A despawn replaces a pending freeze; nothing else replaces a pending despawn.
            Some(pending) if !freeze && pending.freeze => *pending = despawn,
            Some(_) => {}
        }
    }

    /// Heap bytes this client's replication state holds on the server: slot table, frames
    /// waiting for acknowledgement, pending despawns, transfers and this send's scratch. It
    /// stops growing once the ring of [`SENT_FRAMES`] is full, whatever the client does.
    #[cfg_attr(not(feature = "test_utils"), allow(dead_code))]
    pub(crate) fn held_bytes(&self) -> usize {
        use core::mem::size_of;
        let sent = self.sent.held_bytes();
        self.slots.capacity() * size_of::<ClientSlot>()
            + self.dirty.held_bytes()
            + self.despawns.capacity() * size_of::<(Entity, PendingDespawn)>()
            + self.resources.capacity() * size_of::<ClientResource>()
            + self.blobs.held_bytes()
            + sent
            + self.relevant.capacity() * size_of::<u32>()
            + self.needs.capacity() * size_of::<u128>()
            + self.outbox.iter().map(Bytes::len).sum::<usize>()
            + self.frame_scratch.capacity()
    }

    /// Cancels a pending despawn (the entity became relevant again and is spawned anew).
    pub(crate) fn cancel_despawn(&mut self, entity: Entity) {
        self.despawns.remove(&entity);
    }

    /// The next frame sequence number.
    pub(crate) fn next_seq(&mut self) -> u16 {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        seq
    }

    /// Empty lists for what the next frame carries, reusing the allocations of an acknowledged
    /// frame when there is one, so that sends do not allocate anew.
    pub(crate) fn take_sent_lists(&mut self) -> SentLists {
        self.sent.take_lists()
    }

    /// An empty body for the next send's first frame, reusing the last one's allocation.
    pub(crate) fn take_frame_body(&mut self) -> BitWriter {
        core::mem::take(&mut self.frame_scratch)
    }

    /// Keeps a frame body's allocation for [`Self::take_frame_body`].
    pub(crate) fn keep_frame_body(&mut self, mut body: BitWriter) {
        body.clear();
        self.frame_scratch = body;
    }

    /// Remembers what frame `seq` of `tick` carried.
    pub(crate) fn record_sent(&mut self, seq: u16, tick: NetTick, sent: SentLists) {
        self.sent.record(seq, tick, sent);
    }

    /// What the frame sent with id `seq` carried, while it waits for its acknowledgement.
    pub(crate) fn sent_lists(&self, seq: u16) -> Option<&SentLists> {
        self.sent.get(seq)
    }

    /// Notes acknowledged frame ids, to apply with [`Self::apply_received_acks`] before the next
    /// send looks at the table (at once when many are waiting, so they stay few).
    pub(crate) fn receive_acks(&mut self, seqs: impl IntoIterator<Item = u16>) {
        self.received_acks.extend(seqs);
        if self.received_acks.len() > SENT_FRAMES {
            self.apply_received_acks();
        }
    }

    /// Applies the acknowledgements noted since the last send.
    pub(crate) fn apply_received_acks(&mut self) {
        let mut seqs = core::mem::take(&mut self.received_acks);
        self.acknowledge(seqs.iter().copied());
        seqs.clear();
        self.received_acks = seqs;
    }

    /// Applies the acknowledgement of frames (unknown, repeated or forgotten ones are ignored).
    pub(crate) fn acknowledge(&mut self, seqs: impl IntoIterator<Item = u16>) {
        for seq in seqs {
            let Some((tick, index)) = self.sent.acknowledge(seq) else {
                continue;
            };
            let sent = self.sent.lists(index);
            for &SentSlot { slot, epoch } in &sent.slots {
                if let Some(state) = self.slots.get_mut(slot as usize)
                    && state.epoch == epoch
                {
                    state.acknowledge(tick);
                }
            }
            for item in &sent.items {
                match *item {
                    SentItem::Despawn(despawn) => {
                        if self.despawns.get(&despawn.entity) == Some(&despawn) {
                            self.despawns.remove(&despawn.entity);
                            self.despawn_progress = self.despawn_progress.max(tick);
                        }
                    }
                    SentItem::Resource { index, tick } => {
                        if let Some(state) = self.resources.get_mut(index as usize) {
                            state.acked = Some(state.acked.map_or(tick, |acked| acked.max(tick)));
                        }
                    }
                    SentItem::Slice { blob, index } => self.blobs.acknowledge(blob, index),
                }
            }
            self.sent.release(index);
        }
    }

    /// Frames among the last [`SENT_FRAMES`] sent that are not acknowledged: on their way, or
    /// lost (a lost frame counts until its place in the ring is taken).
    pub(crate) fn in_flight(&self) -> usize {
        self.sent.in_flight()
    }
}

#[cfg(test)]
mod tests;
