//! [`ValueCache`]: this send's encodings, made once and shared by every client that needs them:
//! whole values, and the body of each entity entry per pair of acknowledged baselines.

use bevy::{platform::collections::HashMap, prelude::*};

use super::{
    blobs::{BlobKey, BlobStore},
    replicated_world::{ReplicatedWorld, SlotRecord},
};
use crate::shared::{
    registry::{BASELINE_WINDOW_TICKS, ReplicationRegistry, ResourceRegistry},
    tick::NetTick,
    wire::{BitWriter, ValueKind, write_change_tick, write_value_kind},
};

/// Which entry body: a spawn (every component, whole) or an update against the client's
/// acknowledged ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyKey {
    Spawn,
    Update {
        base: NetTick,
        previous: Option<NetTick>,
    },
}

/// An entity entry's body: its component list and the bits of its values.
#[derive(Clone, Debug, Default)]
pub(crate) struct Body {
    /// Registry indices, in the order of the values.
    pub(crate) components: Vec<u32>,
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
    whole: HashMap<(u32, u32), Option<(usize, usize)>>,
    /// Per slot: the stamp its bodies belong to, and the bodies.
    bodies: Vec<SlotBodies>,
    /// Per resource: its whole encoding, once made.
    resources: Vec<Option<Option<(usize, usize)>>>,
}

/// The bodies built for one slot: the send stamp they belong to, and the bodies by key.
type SlotBodies = (u32, Vec<(BodyKey, Option<Body>)>);

/// What building a body needs to read.
pub(crate) struct EncodeContext<'a> {
    pub(crate) world: &'a World,
    pub(crate) registry: &'a ReplicationRegistry,
    pub(crate) replicated: &'a ReplicatedWorld,
    pub(crate) blobs: &'a BlobStore,
}

impl ValueCache {
    /// Starts the send of `tick`: earlier encodings are forgotten.
    pub(crate) fn begin(&mut self, tick: NetTick) {
        self.tick = tick;
        self.stamp = self.stamp.wrapping_add(1);
        self.bits.clear();
        self.whole.clear();
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
        let (stamp, bodies) = self.bodies.get(slot as usize)?;
        if *stamp != self.stamp {
            return None;
        }
        bodies
            .iter()
            .find(|(held, _)| *held == key)
            .and_then(|(_, body)| body.as_ref())
    }

    /// Notes the whole encoding of a value written by the encode step.
    pub(crate) fn set_whole(&mut self, slot: u32, index: u32, range: Option<(usize, usize)>) {
        self.whole.insert((slot, index), range);
    }

    /// The whole encoding of component `index` of `slot`'s entity, made on first use.
    fn whole(
        &mut self,
        context: &EncodeContext,
        slot: u32,
        entity: Entity,
        index: u32,
    ) -> Option<(usize, usize)> {
        if let Some(range) = self.whole.get(&(slot, index)) {
            return *range;
        }
        let component = context.registry.get(index).ok()?;
        let start = self.bits.bit_len();
        let range = match component
            .fns
            .write_whole(context.world, entity, &mut self.bits)
        {
            Ok(true) => Some((start, self.bits.bit_len())),
            Ok(false) => None,
            Err(error) => {
                error!("not replicating {} of {entity}: {error}", component.name);
                None
            }
        };
        self.whole.insert((slot, index), range);
        range
    }

    /// The body of `slot`'s entry for `key`, built on first use. `None` when there is nothing
    /// to send (no component changed after the baseline, or a value failed to encode).
    pub(crate) fn body(
        &mut self,
        context: &EncodeContext,
        slot: u32,
        key: BodyKey,
    ) -> Option<&Body> {
        let slot_index = slot as usize;
        if self.bodies.len() <= slot_index {
            self.bodies.resize_with(slot_index + 1, Default::default);
        }
        if self.bodies[slot_index].0 != self.stamp {
            self.bodies[slot_index].0 = self.stamp;
            self.bodies[slot_index].1.clear();
        }
        let position = match self.bodies[slot_index]
            .1
            .iter()
            .position(|(held, _)| *held == key)
        {
            Some(position) => position,
            None => {
                let body = self.build(context, slot, key);
                self.bodies[slot_index].1.push((key, body));
                self.bodies[slot_index].1.len() - 1
            }
        };
        self.bodies[slot_index].1[position].1.as_ref()
    }

    fn build(&mut self, context: &EncodeContext, slot: u32, key: BodyKey) -> Option<Body> {
        let record = &context.replicated.slots[slot as usize];
        let tick = self.tick;
        let mut body = Body::default();
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
            BodyKey::Update { base, previous } => {
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
        // Whole encodings and deltas land in the cache first; the body then lays them out
        // contiguously with their change ticks and kinds.
        let mut pieces: Vec<Piece> = Vec::new();
        for component in &record.components {
            let index = component.index;
            match key {
                BodyKey::Spawn => {
                    if !component.present {
                        continue;
                    }
                }
                BodyKey::Update { base, .. } => {
                    if !component.changed.is_newer_than(base) {
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
                match baselines
                    .and_then(|baselines| self.delta(context, record, slot, index, baselines))
                {
                    Some(range) => Piece::Delta(component.changed, range),
                    None => match self.whole(context, slot, record.entity, index) {
                        Some(range) => Piece::Whole(component.changed, range),
                        // Logged when it failed; the others still go.
                        None => continue,
                    },
                }
            };
            body.components.push(index);
            if matches!(piece, Piece::Delta(..)) {
                body.baseline = baselines;
            }
            pieces.push(piece);
        }
        if body.components.is_empty() && key != BodyKey::Spawn {
            return None;
        }
        // Lay out per component: [removed], change tick, [kind, value].
        let mut out = BitWriter::new();
        for (piece, &index) in pieces.iter().zip(&body.components) {
            let delta_allowed = body.baseline.is_some() && uses_baselines(index);
            if matches!(key, BodyKey::Update { .. }) {
                out.write_bool(matches!(piece, Piece::Removed(_)));
            }
            match *piece {
                Piece::Removed(changed) => write_change_tick(&mut out, changed, tick),
                Piece::Blob(changed, id) => {
                    write_change_tick(&mut out, changed, tick);
                    write_value_kind(&mut out, ValueKind::Blob(id), delta_allowed);
                }
                Piece::Whole(changed, (from, to)) => {
                    write_change_tick(&mut out, changed, tick);
                    write_value_kind(&mut out, ValueKind::Whole, delta_allowed);
                    out.append_bits(&self.bits, from, to - from);
                }
                Piece::Delta(changed, (from, to)) => {
                    write_change_tick(&mut out, changed, tick);
                    write_value_kind(&mut out, ValueKind::Delta, true);
                    out.append_bits(&self.bits, from, to - from);
                }
            }
        }
        let body_start = self.bits.bit_len();
        self.bits.append(&out);
        body.range = (body_start, self.bits.bit_len());
        Some(body)
    }

    /// Writes component `index` as a delta against the client's baselines, when the codec uses
    /// baselines and they are recent enough.
    fn delta(
        &mut self,
        context: &EncodeContext,
        record: &SlotRecord,
        slot: u32,
        index: u32,
        (base, previous): (NetTick, Option<NetTick>),
    ) -> Option<(usize, usize)> {
        let component = context.registry.get(index).ok()?;
        let state = record.component(index)?;
        let recent = self.tick.diff(base) <= BASELINE_WINDOW_TICKS as i32
            && !state.since.is_newer_than(base);
        if !component.uses_baselines || !recent {
            return None;
        }
        let start = self.bits.bit_len();
        match component.fns.write_delta(
            context.world,
            record.entity,
            slot,
            state.changed,
            base,
            previous,
            &mut self.bits,
        ) {
            Ok(true) => Some((start, self.bits.bit_len())),
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

/// One component's part of a body, before layout.
enum Piece {
    Removed(NetTick),
    Blob(NetTick, u32),
    Whole(NetTick, (usize, usize)),
    Delta(NetTick, (usize, usize)),
}
