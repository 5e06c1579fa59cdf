//! Applying a state frame on the client.
//!
//! - Despawns first, then resources, then entity entries in the order they came.
//! - A spawned entity gets every replicated component in one insertion (with [`FromServer`]), so
//!   hooks and `On<Add, C>` observers see the whole entity; so do components inserted together.
//! - A value is applied only when it is newer than what the entity holds: resends of a change
//!   the client already has write nothing, so `Changed<C>` means "the server changed it".
//! - Entities named inside components map to their client copies, or to
//!   `Entity::PLACEHOLDER` while not replicated here; they are mapped again when the entity
//!   arrives or leaves. Relationships (`ChildOf`) wait for their target instead.
//! - A fresh value of an entity already held, naming no entity, is written as it is read
//!   (mutating in place, which runs no hooks); the rest is applied once the frame is read, in
//!   its order.
//! - A frame that cannot be read to its end (older than a despawn it raced, or naming a
//!   baseline no longer held) is applied up to there (values of the entry it stopped in that
//!   were already written stay written) and not acknowledged: the server sends its news again.

mod apply;
mod read;
mod references;

use apply::own_aliasing;

use core::any::TypeId;

use bevy::{ecs::component::ComponentId, prelude::*};

use super::{
    PredictedSpawns,
    component_receivers::{
        ComponentReceiver, ComponentReceivers, FreshWrite, ReadError, ValueEncoding,
    },
    replicas::{ListingMapper, RecordingMapper, Replica, Replicas},
};
use crate::shared::{
    capture::StateSummary,
    codec::read_length_prefixed,
    entity_map::ServerEntityMap,
    erased::ErasedValue,
    error::DecodeError,
    prediction::{Predicted, SpawnedBy},
    registry::{NoInterpolation, ReplicatedComponent, ReplicationRegistry, ResourceRegistry},
    scoped::scoped,
    tick::NetTick,
    wire::{
        BitReader, DespawnEntry, Shape, StateHeader, ValueKind, read_change_tick, read_despawns,
        read_entry_head, read_index, read_shape_into, read_value_kind,
    },
};

/// Marks a client entity that mirrors a server entity. Its server entity is in
/// [`ServerEntityMap`]. Inserted by [`ClientSet::Receive`](super::ClientSet::Receive), together
/// with the entity's replicated components.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Default, Reflect)]
#[reflect(Component)]
pub struct FromServer;

/// Marks a client entity the server stopped updating because it is out of this client's view
/// and marked [`FreezeWhenHidden`](crate::server::FreezeWhenHidden) on the server: it shows the
/// entity as last seen. Removed when the entity comes back into view.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Default, Reflect)]
#[reflect(Component)]
pub struct Frozen;

/// Applies a state frame; malformed data is an error (the client then disconnects). With a
/// `summary`, notes what the frame held, as far as it was read.
pub(crate) fn apply_state_frame(
    world: &mut World,
    header: StateHeader,
    bytes: &[u8],
    body_start: usize,
    summary: Option<&mut StateSummary>,
) -> Result<(), DecodeError> {
    scoped(world, |world, replicas: &mut Replicas| {
        if replicas.is_stale(header.tick) {
            return Ok(());
        }
        replicas.saw_tick(header.tick);
        // Before this frame's despawns: the tombstone cap counts only live ones.
        replicas.prune();
        // The registry and the entity map are public: a game's hook or observer run by an
        // insert here finds them missing, not empty (`scoped` lends only the crate's own).
        world.resource_scope(|world, registry: Mut<ReplicationRegistry>| {
            scoped(world, |world, receivers: &mut ComponentReceivers| {
                world.resource_scope(|world, mut map: Mut<ServerEntityMap>| {
                    let scratch = core::mem::take(&mut replicas.scratch);
                    let aliased = own_aliasing(world)
                        .map(|(aliased, _)| aliased.indices().collect())
                        .unwrap_or_default();
                    let markers = Markers {
                        predicted: world.register_component::<Predicted>(),
                        no_interpolation: world.register_component::<NoInterpolation>(),
                    };
                    let mut frame = FrameApply {
                        world,
                        registry: &registry,
                        receivers,
                        map: &mut map,
                        replicas,
                        tick: header.tick,
                        touched_targets: Vec::new(),
                        blob_missing: false,
                        values: scratch.values,
                        decoded: scratch.decoded,
                        entities: scratch.entities,
                        aliased,
                        markers,
                        summary,
                    };
                    let mut reader = BitReader::with_range(bytes, body_start, bytes.len() * 8);
                    let complete = frame.run(&mut reader);
                    // Values read and not applied (stale, not news) are dropped.
                    for receiver in &mut frame.receivers.receivers {
                        receiver.decoder.clear_stage();
                    }
                    let complete = complete?;
                    frame.resolve_references();
                    let (mut values, mut decoded, mut entities) =
                        (frame.values, frame.decoded, frame.entities);
                    values.clear();
                    decoded.clear();
                    entities.clear();
                    replicas.scratch = FrameScratch {
                        values,
                        decoded,
                        entities,
                    };
                    if complete {
                        replicas.acks.push(header.seq);
                        replicas.part_applied(
                            header.tick,
                            header.part,
                            header.last.map(|last| last.watermark),
                        );
                        if let Some(input) = header.last.and_then(|last| last.input_ack) {
                            replicas.input_ack =
                                Some(replicas.input_ack.map_or(input, |held| held.max(input)));
                        }
                        if let Some(owned) = header.last.and_then(|last| last.owned_ack) {
                            match &mut replicas.owned_ack {
                                Some(held) => held.merge(owned),
                                None => replicas.owned_ack = Some(owned),
                            }
                        }
                    }
                    Ok(())
                })
            })
        })
    })
}

/// The lists a frame is read into, kept in [`Replicas`] between frames so that their
/// allocations serve the next one.
#[derive(Default)]
pub(crate) struct FrameScratch {
    values: Vec<Staged>,
    decoded: Vec<Vec<ErasedValue>>,
    entities: Vec<StagedEntity>,
}

/// One component value read from a frame: four `u32`s, so that a value read is pushed from
/// registers (a payload of another size made the push copy it through the stack, and that
/// copy waited for every store before it, the history's cold ones included).
#[derive(Clone, Copy)]
struct Staged {
    index: u32,
    tick: NetTick,
    value: StagedValue,
}

#[derive(Clone, Copy)]
enum StagedValue {
    Removed,
    /// Decoded and waiting, typed, at this position of its type's decoder's stage (see
    /// [`DecodeComponent`](super::component_receivers::DecodeComponent)).
    Staged(u32),
    /// Decoded and boxed, one value per copy (a spawn's values, and aliased ones), at this
    /// position of [`FrameApply::decoded`].
    Decoded(u32),
    /// A value that arrived in slices: decoded only if it is still news.
    Blob(u32),
    /// A value in slices that is news but was not held: left out (as if the entry did not
    /// list it).
    Missing,
}

/// Keeps a value's boxed copies in `decoded`, returning where.
fn push_decoded(decoded: &mut Vec<Vec<ErasedValue>>, copies: Vec<ErasedValue>) -> u32 {
    decoded.push(copies);
    (decoded.len() - 1) as u32
}

const _: () = assert!(size_of::<Staged>() == 16);

/// One entity's entry read from a frame; its values are `values` of [`FrameApply::values`].
struct StagedEntity {
    remote: Entity,
    slot: u32,
    spawn: bool,
    values: core::ops::Range<usize>,
}

/// Why reading stopped early.
enum Stop {
    /// The frame raced a despawn or names a baseline no longer held: apply what was read.
    Abort,
    Malformed(DecodeError),
}

impl From<DecodeError> for Stop {
    fn from(error: DecodeError) -> Self {
        Self::Malformed(error)
    }
}

impl From<ReadError> for Stop {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Malformed(error) => Self::Malformed(error),
            ReadError::MissingBaseline => Self::Abort,
        }
    }
}

/// The ids of the markers that decide where an entity's values go, looked up once per frame
/// for the values written in place (boxed values look them up by type).
#[derive(Clone, Copy)]
struct Markers {
    /// [`Predicted`]'s.
    predicted: ComponentId,
    /// [`NoInterpolation`]'s.
    no_interpolation: ComponentId,
}

struct FrameApply<'a> {
    world: &'a mut World,
    registry: &'a ReplicationRegistry,
    receivers: &'a mut ComponentReceivers,
    map: &'a mut ServerEntityMap,
    replicas: &'a mut Replicas,
    tick: NetTick,
    /// Server entities that appeared or disappeared here: their referrers are mapped again.
    touched_targets: Vec<Entity>,
    /// A large value that is news was not held (the frame is then not acknowledged).
    blob_missing: bool,
    /// The values read that wait for the apply, in order.
    values: Vec<Staged>,
    /// The boxed values of [`StagedValue::Decoded`] (each taken when applied).
    decoded: Vec<Vec<ErasedValue>>,
    /// The entity entries read with values waiting for the apply, or spawns, in order (empty
    /// between reads).
    entities: Vec<StagedEntity>,
    /// The components whose values name this client by its alias, when it has one: their
    /// values are staged, to have the client's id put back (see
    /// [`client_ids`](crate::shared::client_ids)).
    aliased: Vec<u32>,
    markers: Markers,
    /// What the frame held, noted for a capture.
    summary: Option<&'a mut StateSummary>,
}

impl FrameApply<'_> {
    /// Reads and applies the frame; `Ok(false)` when it stopped early.
    fn run(&mut self, reader: &mut BitReader) -> Result<bool, DecodeError> {
        let despawns = read_despawns(reader)?;
        self.note(|summary| {
            summary.read = true;
            summary.despawns = despawns.len() as u32;
        });
        for despawn in despawns {
            self.despawn(despawn)?;
        }
        match self.read_resources(reader) {
            Ok(()) => {}
            Err(Stop::Abort) => return Ok(false),
            Err(Stop::Malformed(error)) => return Err(error),
        }
        let mut staged = core::mem::take(&mut self.entities);
        let result = self.read_entities(reader, &mut staged);
        self.apply(&staged)?;
        staged.clear();
        self.entities = staged;
        match result {
            Ok(()) => Ok(!self.blob_missing),
            Err(Stop::Abort) => Ok(false),
            Err(Stop::Malformed(error)) => Err(error),
        }
    }

    /// Notes something of the frame in its summary, if one is kept.
    fn note(&mut self, note: impl FnOnce(&mut StateSummary)) {
        if let Some(summary) = self.summary.as_deref_mut() {
            note(summary);
        }
    }

    fn read_resources(&mut self, reader: &mut BitReader) -> Result<(), Stop> {
        let count = reader.read_count(4)?;
        for _ in 0..count {
            let index = read_index(reader)?;
            self.note(|summary| summary.resources.push(index));
            let removed = reader.read_bool()?;
            let changed = read_change_tick(reader, self.tick)?;
            let kind = if removed {
                None
            } else {
                Some(read_value_kind(reader, false)?)
            };
            let inline = match kind {
                Some(ValueKind::Whole | ValueKind::Delta) => Some(read_length_prefixed(reader)?),
                _ => None,
            };
            let registry = self.world.resource::<ResourceRegistry>();
            let resource = registry
                .resources
                .get(index as usize)
                .ok_or(DecodeError::UnknownResource(index))?;
            let (apply, remove) = (resource.apply_bytes, resource.remove);
            let held = &mut self.replicas.resources;
            if held.len() <= index as usize {
                held.resize(index as usize + 1, None);
            }
            if held[index as usize].is_some_and(|held| !changed.is_newer_than(held)) {
                continue;
            }
            let bytes = match (kind, inline) {
                (None, _) => None,
                (_, Some(bytes)) => Some(bytes),
                (Some(ValueKind::Blob(id)), None) => {
                    let blob = self.replicas.blobs.take(id).ok_or(Stop::Abort)?;
                    Some(read_length_prefixed(&mut BitReader::new(&blob))?)
                }
                (Some(_), None) => continue,
            };
            self.replicas.resources[index as usize] = Some(changed);
            match bytes {
                Some(bytes) => apply(self.world, &bytes)?,
                None => remove(self.world),
            }
        }
        Ok(())
    }
}
