//! [`ValueCache`]: this send's encodings, made once and shared by every client that needs them:
//! whole values, and the body of each entity entry per pair of acknowledged baselines.

mod build;

use bevy::prelude::*;

use build::ChunkOut;

pub(crate) use super::body_key::{BodyKey, HolderView, KeyView};
use super::{
    blobs::BlobStore,
    component_encoders::ComponentEncoders,
    parallel::{SpareStates, for_each_parallel},
    replicated_world::ReplicatedWorld,
};
use crate::shared::{
    registry::{ReplicationRegistry, ResourceRegistry},
    tick::NetTick,
    wire::BitWriter,
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
            self.last_needed.resize(slots, (0, BodyKey::SPAWN));
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
        // By slot, then key: one integer per pair (a key takes 72 bits).
        wanted.sort_unstable_by_key(|&(slot, key)| u128::from(slot) << 96 | key.bits());
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
}
