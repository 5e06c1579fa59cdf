//! [`ValueCache`]: this send's encodings, made once and shared by every client that needs them:
//! whole values, and the body of each entity entry per pair of acknowledged baselines.

use bevy::prelude::*;

pub(crate) use super::body_key::{BodyKey, HolderView};
use super::{
    authority::EchoLog,
    blobs::{BlobKey, BlobStore},
    component_encoders::ComponentEncoders,
    parallel::{SpareStates, for_each_parallel},
    replicated_world::{ReplicatedWorld, SlotRecord},
};
use crate::shared::{
    registry::{BASELINE_WINDOW_TICKS, ReplicationRegistry, ResourceRegistry},
    tick::NetTick,
    wire::{BitWriter, ValueKind, write_change_tick, write_value_kind},
};

/// An entity entry's body: its component list and the bits of its values.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Body {
    /// Its registry indices, in the order of the values: a range of
    /// [`ValueCache::components`].
    components: (u32, u32),
    /// The baselines the deltas use, when any value is a delta (the entry then names them).
    pub(crate) baseline: Option<(NetTick, Option<NetTick>)>,
    /// The values' bits in [`ValueCache::bits`].
    pub(crate) range: (usize, usize),
}

/// Encodings of the current send. Written by the encode step and the pack step of
/// [`ServerSet::Send`](super::ServerSet::Send).
#[derive(Resource, Default)]
pub(crate) struct ValueCache {
    tick: NetTick,
    stamp: u32,
    pub(crate) bits: BitWriter,
    /// This send's bodies, by slot.
    bodies: Vec<BuiltBody>,
    /// Per slot: the stamp of the send its entry belongs to, and its first body in `bodies`.
    first_body: Vec<(u32, u32)>,
    /// The bodies' component lists.
    components: Vec<u32>,
    /// Per slot: the stamp of the send and the key it was last asked for in (to drop repeats).
    last_needed: Vec<(u32, BodyKey)>,
    /// Per resource: its whole encoding, once made.
    resources: Vec<Option<Option<(usize, usize)>>>,
    /// The slot and key pairs asked for, kept for its allocation.
    needed: Vec<(u32, BodyKey)>,
    /// Chunk outputs of earlier sends, for their allocations.
    spare_chunks: SpareStates<ChunkOut>,
}

/// A body of this send: `None` when there was nothing to send.
struct BuiltBody {
    slot: u32,
    key: BodyKey,
    body: Option<Body>,
}

/// What building a body needs to read.
pub(crate) struct EncodeContext<'a> {
    pub(crate) world: &'a World,
    pub(crate) registry: &'a ReplicationRegistry,
    pub(crate) encoders: &'a ComponentEncoders,
    pub(crate) replicated: &'a ReplicatedWorld,
    pub(crate) blobs: &'a BlobStore,
    /// Whether building may spread over the compute pool.
    pub(crate) parallel: bool,
}

impl ValueCache {
    /// Starts the send of `tick`: earlier encodings are forgotten.
    pub(crate) fn begin(&mut self, tick: NetTick) {
        self.tick = tick;
        self.stamp = self.stamp.wrapping_add(1);
        self.bits.clear();
        self.bodies.clear();
        self.components.clear();
        self.resources.clear();
    }

    /// The whole encoding of resource `index`, made on first use.
    pub(crate) fn resource_whole(
        &mut self,
        world: &World,
        registry: &ResourceRegistry,
        index: u32,
    ) -> Option<(usize, usize)> {
        let index = index as usize;
        if self.resources.len() <= index {
            self.resources.resize(index + 1, None);
        }
        if let Some(range) = self.resources[index] {
            return range;
        }
        let resource = registry.resources.get(index)?;
        let start = self.bits.bit_len();
        let range = match (resource.write)(world, &mut self.bits) {
            Ok(true) => Some((start, self.bits.bit_len())),
            Ok(false) => None,
            Err(error) => {
                self.bits.truncate(start);
                error!("not replicating {}: {error}", resource.name);
                None
            }
        };
        self.resources[index] = Some(range);
        range
    }

    /// The whole encoding of resource `index` made earlier in this send.
    pub(crate) fn built_resource(&self, index: u32) -> Option<(usize, usize)> {
        self.resources
            .get(index as usize)
            .copied()
            .flatten()
            .flatten()
    }

    /// The body built earlier in this send for `slot` and `key`.
    pub(crate) fn built_body(&self, slot: u32, key: BodyKey) -> Option<&Body> {
        let &(stamp, first) = self.first_body.get(slot as usize)?;
        if stamp != self.stamp {
            return None;
        }
        self.bodies[first as usize..]
            .iter()
            .take_while(|built| built.slot == slot)
            .find(|built| built.key == key)
            .and_then(|built| built.body.as_ref())
    }

    /// A body's component indices, in the order of its values.
    pub(crate) fn components(&self, body: &Body) -> &[u32] {
        &self.components[body.components.0 as usize..body.components.1 as usize]
    }

    /// How a component's record notes the whole encoding the encode step wrote at bits
    /// `start..end` (`None`, to be encoded again when needed, past 4 Gbit).
    pub(crate) fn encoded_range(start: usize, end: usize) -> Option<(u32, u32)> {
        Some((u32::try_from(start).ok()?, u32::try_from(end).ok()?))
    }

    /// Builds the bodies of `needed` (slot and key pairs, repeats allowed) for this send,
    /// spread over the compute pool's threads; read them with [`Self::built_body`]. Called
    /// once per send: it replaces the send's bodies.
    pub(crate) fn build_bodies(
        &mut self,
        context: &EncodeContext,
        needed: impl IntoIterator<Item = (u32, BodyKey)>,
    ) {
        let slots = context.replicated.slots.len();
        if self.first_body.len() < slots {
            self.first_body.resize(slots, (0, 0));
            self.last_needed.resize(slots, (0, BodyKey::Spawn));
        }
        // Clients mostly need the same body of a slot: repeats of the slot's last key are
        // dropped before the sort.
        let stamp = self.stamp;
        let last_needed = &mut self.last_needed;
        let mut wanted = core::mem::take(&mut self.needed);
        wanted.clear();
        wanted.extend(needed.into_iter().filter(|&(slot, key)| {
            let last = &mut last_needed[slot as usize];
            let repeat = *last == (stamp, key);
            *last = (stamp, key);
            !repeat
        }));
        wanted.sort_unstable_by_key(|(slot, key)| (*slot, key.order()));
        wanted.dedup();
        let mut jobs = core::mem::take(&mut self.bodies);
        jobs.clear();
        jobs.extend(wanted.drain(..).map(|(slot, key)| BuiltBody {
            slot,
            key,
            body: None,
        }));
        self.needed = wanted;
        // Each chunk of bodies is laid out in its own bits and component list, joined below.
        let cache = &*self;
        // A body costs about as much as packing a few entries.
        let work = jobs.len() * 8;
        let mut chunks = for_each_parallel(
            &mut jobs,
            context.parallel,
            work,
            || cache.spare_chunks.take(),
            |out, job| {
                job.body = cache.build(context, job.slot, job.key, out);
                out.built += 1;
            },
        );
        let mut rest = jobs.iter_mut();
        for chunk in &mut chunks {
            let bits = self.bits.bit_len();
            let components = self.components.len() as u32;
            self.bits.append(&chunk.bits);
            self.components.extend_from_slice(&chunk.components);
            for job in rest.by_ref().take(chunk.built) {
                if let Some(body) = &mut job.body {
                    body.range = (body.range.0 + bits, body.range.1 + bits);
                    body.components = (
                        body.components.0 + components,
                        body.components.1 + components,
                    );
                }
            }
            chunk.clear();
        }
        self.spare_chunks.put_back(chunks);
        self.bodies = jobs;
        for (index, built) in self.bodies.iter().enumerate().rev() {
            self.first_body[built.slot as usize] = (self.stamp, index as u32);
        }
    }

    /// Builds the body of `slot`'s entry for `key` into `chunk` (its ranges are within the
    /// chunk's). `None` when there is nothing to send (no component changed after the
    /// baseline, or a value failed to encode).
    fn build(
        &self,
        context: &EncodeContext,
        slot: u32,
        key: BodyKey,
        chunk: &mut ChunkOut,
    ) -> Option<Body> {
        let record = &context.replicated.slots[slot as usize];
        let tick = self.tick;
        let mut body = Body::default();
        let ChunkOut {
            bits: out,
            components,
            scratch,
            pieces,
            ..
        } = chunk;
        scratch.clear();
        pieces.clear();
        let components_start = components.len();
        let uses_baselines = |index: u32| {
            context
                .registry
                .get(index)
                .is_ok_and(|component| component.uses_baselines)
        };
        // The entry names one earlier baseline for all its deltas, so it is used only when every
        // value that may be a delta existed then (both sides then find it in their histories).
        let baselines = match key {
            BodyKey::Spawn => None,
            BodyKey::Update { base, previous, .. } => {
                let previous = previous.filter(|previous| {
                    tick.diff(*previous) <= BASELINE_WINDOW_TICKS as i32
                        && record
                            .components
                            .iter()
                            .filter(|c| {
                                c.present
                                    && !c.large
                                    && c.changed.is_newer_than(base)
                                    && uses_baselines(c.index)
                            })
                            .all(|c| !c.since.is_newer_than(*previous))
                });
                Some((base, previous))
            }
        };
        // Whole encodings (the encode step's, or made here) and deltas first; the body then
        // lays them out contiguously with their change ticks and kinds.
        for component in &record.components {
            let index = component.index;
            match key {
                BodyKey::Spawn => {
                    if !component.present {
                        continue;
                    }
                }
                BodyKey::Update { base, holder, .. } => {
                    if !component.changed.is_newer_than(base)
                        || (holder == HolderView::Holds && is_echo(context, record.entity, index))
                    {
                        continue;
                    }
                }
            }
            let piece = if !component.present {
                Piece::Removed(component.changed)
            } else if component.large {
                match context.blobs.get(BlobKey::Component { slot, index }) {
                    Some(blob) => Piece::Blob(component.changed, blob.id),
                    None => continue,
                }
            } else {
                let whole_only = matches!(
                    key,
                    BodyKey::Update { holder, .. } if holder != HolderView::None
                ) && is_client_authoritative(context, index);
                match baselines.filter(|_| !whole_only).and_then(|baselines| {
                    self.delta(context, record, slot, index, baselines, scratch)
                }) {
                    Some(range) => Piece::Delta(component.changed, range),
                    None => match component.encoded.filter(|_| component.changed == tick) {
                        Some((start, end)) => Piece::Whole(
                            component.changed,
                            Bits::Cache,
                            (start as usize, end as usize),
                        ),
                        None => match whole(context, record.entity, index, scratch) {
                            Some(range) => Piece::Whole(component.changed, Bits::Scratch, range),
                            // Logged when it failed; the others still go.
                            None => continue,
                        },
                    },
                }
            };
            components.push(index);
            if matches!(piece, Piece::Delta(..)) {
                body.baseline = baselines;
            }
            pieces.push(piece);
        }
        if components.len() == components_start && key != BodyKey::Spawn {
            return None;
        }
        body.components = (components_start as u32, components.len() as u32);
        // Lay out per component: [removed], change tick, [kind, value].
        let start = out.bit_len();
        for (piece, &index) in pieces.iter().zip(&components[components_start..]) {
            let delta_allowed = body.baseline.is_some() && uses_baselines(index);
            if matches!(key, BodyKey::Update { .. }) {
                out.write_bool(matches!(piece, Piece::Removed(_)));
            }
            match *piece {
                Piece::Removed(changed) => write_change_tick(out, changed, tick),
                Piece::Blob(changed, id) => {
                    write_change_tick(out, changed, tick);
                    write_value_kind(out, ValueKind::Blob(id), delta_allowed);
                }
                Piece::Whole(changed, bits, (from, to)) => {
                    write_change_tick(out, changed, tick);
                    write_value_kind(out, ValueKind::Whole, delta_allowed);
                    let bits = match bits {
                        Bits::Cache => &self.bits,
                        Bits::Scratch => &*scratch,
                    };
                    out.append_bits(bits, from, to - from);
                }
                Piece::Delta(changed, (from, to)) => {
                    write_change_tick(out, changed, tick);
                    write_value_kind(out, ValueKind::Delta, true);
                    out.append_bits(scratch, from, to - from);
                }
            }
        }
        body.range = (start, out.bit_len());
        Some(body)
    }

    /// Writes component `index` into `out` as a delta against the client's baselines, when the
    /// codec uses baselines and they are recent enough.
    fn delta(
        &self,
        context: &EncodeContext,
        record: &SlotRecord,
        slot: u32,
        index: u32,
        (base, previous): (NetTick, Option<NetTick>),
        out: &mut BitWriter,
    ) -> Option<(usize, usize)> {
        let component = context.registry.get(index).ok()?;
        let encoder = context.encoders.encoders.get(index as usize)?;
        let state = record.component(index)?;
        let recent = self.tick.diff(base) <= BASELINE_WINDOW_TICKS as i32
            && !state.since.is_newer_than(base);
        if !component.uses_baselines || !recent {
            return None;
        }
        // Bodies are built in slot order: the next slot's baselines come while this is written.
        encoder.prefetch_history(slot.wrapping_add(1));
        let start = out.bit_len();
        match encoder.write_delta(
            context.world,
            record.entity,
            slot,
            state.changed,
            base,
            previous,
            out,
        ) {
            Ok(true) => Some((start, out.bit_len())),
            Ok(false) => None,
            Err(error) => {
                debug!(
                    "{} of {} sent whole: {error}",
                    component.name, record.entity
                );
                None
            }
        }
    }
}

/// What one chunk of bodies is built into.
#[derive(Default)]
struct ChunkOut {
    /// The bodies' bits.
    bits: BitWriter,
    /// The bodies' component lists.
    components: Vec<u32>,
    /// Encodings made while building one body.
    scratch: BitWriter,
    /// One body's pieces, before layout.
    pieces: Vec<Piece>,
    /// Bodies built.
    built: usize,
}

impl ChunkOut {
    /// Empties it for another send, keeping its buffers.
    fn clear(&mut self) {
        self.bits.clear();
        self.components.clear();
        self.built = 0;
    }
}

/// Where a piece's bits are.
#[derive(Clone, Copy)]
enum Bits {
    /// The cache's, written by the encode step.
    Cache,
    /// The build's scratch.
    Scratch,
}

/// The whole encoding of component `index` of `entity`, written into `out`.
fn whole(
    context: &EncodeContext,
    entity: Entity,
    index: u32,
    out: &mut BitWriter,
) -> Option<(usize, usize)> {
    let component = context.registry.get(index).ok()?;
    let encoder = context.encoders.encoders.get(index as usize)?;
    let start = out.bit_len();
    match encoder.write_whole(context.world, entity, out) {
        Ok(true) => Some((start, out.bit_len())),
        Ok(false) => None,
        Err(error) => {
            error!("not replicating {} of {entity}: {error}", component.name);
            None
        }
    }
}

/// One component's part of a body, before layout.
enum Piece {
    Removed(NetTick),
    Blob(NetTick, u32),
    Whole(NetTick, Bits, (usize, usize)),
    /// In the build's scratch.
    Delta(NetTick, (usize, usize)),
}

/// Whether the component at wire `index` is client-authoritative.
fn is_client_authoritative(context: &EncodeContext, index: u32) -> bool {
    context
        .world
        .get_resource::<crate::shared::authority::AuthorityRegistry>()
        .is_some_and(|registry| registry.contains(index))
}

/// Whether `entity`'s component `index` holds the value its holder sent (not sent back to it).
fn is_echo(context: &EncodeContext, entity: Entity, index: u32) -> bool {
    let (Some(echo), Ok(component)) = (
        context.world.get_resource::<EchoLog>(),
        context.registry.get(index),
    ) else {
        return false;
    };
    !echo.is_empty() && echo.is_echo(context.world, entity, index, component.component_id)
}
