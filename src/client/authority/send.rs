//! Sending what this client holds: each client-authoritative type's changed values, coded
//! against the newest value the server acknowledged, into this frame's owned-values section;
//! and the game's requests to take or release authority.

use std::sync::Arc;

use bevy::{
    ecs::{component::Mutable, entity::EntityHashMap},
    prelude::*,
};
use bevy_renet::renet::Bytes;

use super::{HasAuthority, ReleaseAuthority, RequestAuthority};
use crate::{
    client::{PredictedTick, replicas::Replicas},
    shared::authority::HeldBy,
    shared::{
        authority::{
            MAX_OWNED_PER_TYPE, MAX_OWNED_SECTION_BYTES, OWNED_BASELINE_TICKS, OWNED_HISTORY_TICKS,
        },
        channels::RELIABLE_CHANNEL,
        codec::{Baseline, ComponentCodec},
        entity_map::ServerEntityMap,
        link::ServerSender,
        tick::NetTick,
        tick_buffer::{SameTick, TickBuffer},
        wire::{
            AuthorityRequest, BitReader, BitWriter, OwnedEntryHead, encode_authority_requests,
            write_owned_block_head, write_owned_entry_head, write_owned_section_end,
            write_owned_tick,
        },
    },
};

/// A value sent and not acknowledged goes again after this many ticks.
const RESEND_TICKS: i32 = 8;

/// This frame's owned-values section, filled by each type's [`collect_owned`] and sent by
/// `send_update`.
#[derive(Resource, Default)]
pub(crate) struct OutgoingOwned {
    bits: BitWriter,
    /// The tick the section is for, once a type wrote into it.
    tick: Option<NetTick>,
}

impl OutgoingOwned {
    /// The finished section's bytes (empty when nothing was written); starts the next one.
    pub(crate) fn take(&mut self) -> Vec<u8> {
        if self.tick.take().is_none() {
            return Vec::new();
        }
        write_owned_section_end(&mut self.bits);
        core::mem::take(&mut self.bits).into_bytes()
    }

    /// Forgets what was written (nothing can be sent).
    pub(crate) fn clear(&mut self) {
        self.tick = None;
        self.bits = BitWriter::new();
    }
}

/// Values of one held entity's `C` recorded and not sent yet, at most this many ticks' worth.
const MAX_PENDING_TICKS: usize = 8;

/// A value sent, as the server decodes it (a baseline for later ones once acknowledged).
struct SentValue<C> {
    value: C,
    /// The tick of the section it went in: acknowledged with it.
    section: NetTick,
    /// Whether the server said it read that section (noted while the acknowledgement's window
    /// still covers it, and kept).
    acked: bool,
}

/// What happened to one entity's `C`.
struct Sent<C> {
    /// Values recorded by tick (one per fixed step that changed it), not sent yet.
    pending: Vec<(NetTick, C)>,
    /// Values sent, by the tick they are for.
    history: TickBuffer<SentValue<C>, OWNED_HISTORY_TICKS>,
}

impl<C> Default for Sent<C> {
    fn default() -> Self {
        Self {
            pending: Vec::new(),
            history: TickBuffer::default(),
        }
    }
}

/// `C`'s upstream path: its codec, wire index, and what was recorded and sent per held entity.
#[derive(Resource)]
pub(crate) struct OwnedSent<C, K> {
    index: u32,
    codec: Arc<K>,
    entities: EntityHashMap<Sent<C>>,
}

impl<C, K> OwnedSent<C, K> {
    pub(super) fn new(index: u32, codec: Arc<K>) -> Self {
        Self {
            index,
            codec,
            entities: EntityHashMap::default(),
        }
    }

    /// The newest value recorded for `entity` (sent or about to be).
    pub(super) fn newest_sent(&self, entity: Entity) -> Option<&C> {
        let record = self.entities.get(&entity)?;
        record
            .pending
            .last()
            .map(|(_, value)| value)
            .or_else(|| record.history.newest().map(|(_, sent)| &sent.value))
    }
}

/// A held entity's value, with the changes of its authority.
type HeldValue<'a, C> = (Entity, Ref<'a, C>, Ref<'a, HasAuthority>, Ref<'a, HeldBy>);

/// Records, after each fixed step, the value of `C` on every held entity where it changed (and
/// its first value once authority is taken up), for the tick simulated.
pub(crate) fn record_owned<C, K>(
    held: Query<HeldValue<C>>,
    predicted: Res<PredictedTick>,
    mut sent: ResMut<OwnedSent<C, K>>,
) where
    C: Component<Mutability = Mutable> + Clone,
    K: ComponentCodec<C>,
{
    let Some(tick) = predicted.tick() else {
        return;
    };
    sent.entities.retain(|entity, _| held.contains(*entity));
    for (entity, value, authority, holder) in &held {
        // A new grant (even one that names this client again after a revoke it did not see)
        // starts afresh: the server forgot what was sent before it.
        if authority.is_added() || holder.is_changed() {
            sent.entities.remove(&entity);
        }
        let record = sent.entities.entry(entity).or_default();
        let first = record.pending.is_empty() && record.history.is_empty();
        if !(first || value.is_changed()) {
            continue;
        }
        if record.pending.last().is_some_and(|(last, _)| *last == tick) {
            record.pending.pop();
        }
        if record.pending.len() == MAX_PENDING_TICKS {
            record.pending.remove(0);
        }
        record.pending.push((tick, C::clone(&value)));
    }
}

/// Writes the recorded values of `C` into this frame's section (and resends the newest value
/// of an entity when no section carrying it was acknowledged for a while), at most
/// [`MAX_OWNED_PER_TYPE`] entries and as many as fit [`MAX_OWNED_SECTION_BYTES`]; the rest wait
/// for the next frames.
pub(crate) fn collect_owned<C, K>(
    held: Query<Entity, With<HasAuthority>>,
    predicted: Res<PredictedTick>,
    map: Res<ServerEntityMap>,
    replicas: Res<Replicas>,
    mut sent: ResMut<OwnedSent<C, K>>,
    mut outgoing: ResMut<OutgoingOwned>,
) where
    C: Component<Mutability = Mutable> + Clone,
    K: ComponentCodec<C>,
{
    let Some(now) = predicted.tick() else {
        return;
    };
    let ack = replicas.owned_ack;
    let OwnedSent {
        index,
        codec,
        entities,
    } = &mut *sent;
    let mut due: Vec<(u32, Entity)> = Vec::new();
    for entity in &held {
        let Some(record) = entities.get_mut(&entity) else {
            continue;
        };
        if let Some(ack) = ack {
            for sent in record.history.values_mut() {
                sent.acked |= ack.has(sent.section);
            }
        }
        if record.pending.is_empty() {
            // Nothing new: resend the newest value if no section with it was acknowledged.
            let stale = record.history.newest().and_then(|(at, sent)| {
                (!sent.acked && now.diff(sent.section) >= RESEND_TICKS)
                    .then(|| (at, sent.value.clone()))
            });
            match stale {
                Some((at, value)) if now.diff(at) < OWNED_BASELINE_TICKS => {
                    record.pending.push((at, value))
                }
                Some((_, value)) => record.pending.push((now, value)),
                None => continue,
            }
        }
        let Some(slot) = map
            .to_server(entity)
            .and_then(|server| replicas.entities.get(&server))
            .map(|replica| replica.slot)
        else {
            continue;
        };
        due.push((slot, entity));
    }
    if due.is_empty() {
        return;
    }
    due.sort_unstable();
    let mut block = BitWriter::new();
    let mut count = 0;
    let mut previous = None;
    // Room left in the section, less its tick, this block's head and the end bit.
    let room = (MAX_OWNED_SECTION_BYTES * 8).saturating_sub(outgoing.bits.bit_len() + 16 + 32);
    'entities: for (slot, entity) in due {
        let Some(record) = entities.get_mut(&entity) else {
            continue;
        };
        let mut pending = core::mem::take(&mut record.pending).into_iter();
        while let Some((at, value)) = pending.next() {
            if count == MAX_OWNED_PER_TYPE {
                // The rest waits for the next frame.
                record.pending = core::iter::once((at, value)).chain(pending).collect();
                break 'entities;
            }
            // Too old to name against a baseline: it goes as this tick's value.
            let at = if now.diff(at) >= OWNED_BASELINE_TICKS {
                now
            } else {
                at
            };
            let mark = block.bit_len();
            let Some(decoded) = write_value(
                &**codec,
                now,
                &mut block,
                record,
                OwnedEntryHead {
                    slot,
                    age: now.diff(at).max(0) as u32,
                    baseline_age: 0,
                    previous_age: 0,
                },
                previous,
                at,
                &value,
            ) else {
                block.truncate(mark);
                continue;
            };
            if block.bit_len() > room {
                block.truncate(mark);
                record.pending = core::iter::once((at, value)).chain(pending).collect();
                break 'entities;
            }
            record.history.insert(
                at,
                SentValue {
                    value: decoded,
                    section: now,
                    acked: false,
                },
                SameTick::Replace,
            );
            previous = Some(slot);
            count += 1;
        }
    }
    if count == 0 {
        return;
    }
    if outgoing.tick.is_none() {
        outgoing.bits = BitWriter::new();
        write_owned_tick(&mut outgoing.bits, now);
        outgoing.tick = Some(now);
    }
    write_owned_block_head(&mut outgoing.bits, *index, count);
    outgoing.bits.append(&block);
}

/// Writes one entry (coded against the newest acknowledged value before it, when the codec
/// uses baselines) and returns the value as the server will decode it.
#[allow(clippy::too_many_arguments)]
fn write_value<C, K: ComponentCodec<C>>(
    codec: &K,
    now: NetTick,
    block: &mut BitWriter,
    record: &Sent<C>,
    mut head: OwnedEntryHead,
    previous: Option<u32>,
    at: NetTick,
    value: &C,
) -> Option<C> {
    // The newest acknowledged value before this one, and the one before that: a codec that
    // extrapolates from two (TransformCodec) then codes only what the motion did not predict.
    let usable = |base: NetTick, sent: &SentValue<C>| {
        at.diff(base) > 0 && now.diff(base) <= OWNED_BASELINE_TICKS && sent.acked
    };
    let mut acked_values = record
        .history
        .iter()
        .rev()
        .filter(|(base, sent)| usable(*base, sent));
    let (newest, second) = if codec.uses_baselines() {
        (acked_values.next(), acked_values.next())
    } else {
        (None, None)
    };
    let baseline = newest.map(|(base, sent)| Baseline {
        value: &sent.value,
        tick: base,
        previous: second.map(|(tick, sent)| (&sent.value, tick)),
    });
    head.baseline_age = baseline.map_or(0, |baseline| at.diff(baseline.tick) as u32);
    head.previous_age = baseline
        .and_then(|baseline| {
            baseline
                .previous
                .map(|(_, tick)| baseline.tick.diff(tick) as u32)
        })
        .unwrap_or(0);
    write_owned_entry_head(block, head, previous);
    let start = block.bit_len();
    let written = match baseline {
        Some(baseline) => codec.write_delta(value, at, baseline, block),
        None => codec.write(value, block),
    };
    if let Err(error) = written {
        warn!("not sending a held value: {error}");
        return None;
    }
    // Read back what was written: the server's copy, the baseline of later values.
    let mut copy = BitWriter::new();
    copy.append_bits(block, start, block.bit_len() - start);
    let bytes = copy.into_bytes();
    let mut reader = BitReader::new(&bytes);
    match baseline {
        Some(baseline) => codec.read_delta(&mut reader, at, baseline),
        None => codec.read(&mut reader),
    }
    .ok()
}

/// Spawn requests waiting to be sent.
#[derive(Resource, Default)]
pub(crate) struct SpawnRequests {
    pub(crate) requests: Vec<AuthorityRequest>,
}

/// Sends the game's requests to take or release authority, and spawn requests (reliable).
pub(crate) fn send_requests(
    mut take: MessageReader<RequestAuthority>,
    mut release: MessageReader<ReleaseAuthority>,
    mut spawns: ResMut<SpawnRequests>,
    map: Res<ServerEntityMap>,
    replicas: Res<Replicas>,
    mut sender: ServerSender,
) {
    let slot = |entity: Entity| {
        map.to_server(entity)
            .and_then(|server| replicas.entities.get(&server))
            .map(|replica| replica.slot)
    };
    let mut requests: Vec<AuthorityRequest> = take
        .read()
        .filter_map(|request| slot(request.0).map(AuthorityRequest::Take))
        .collect();
    requests.extend(
        release
            .read()
            .filter_map(|request| slot(request.0).map(AuthorityRequest::Release)),
    );
    requests.append(&mut spawns.requests);
    if requests.is_empty() || !sender.client.is_connected() {
        return;
    }
    for chunk in requests.chunks(crate::shared::wire::MAX_AUTHORITY_REQUESTS) {
        sender.send(
            RELIABLE_CHANNEL,
            Bytes::from(encode_authority_requests(chunk)),
        );
    }
}
