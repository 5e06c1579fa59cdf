//! [`ComponentEncoders`]: per replicated component type, the server's typed encoding: values
//! written whole, and for delta codecs the values each slot's clients decode (the baselines
//! deltas are written against).

use core::any::type_name;
use std::sync::Arc;

use bevy::{
    ecs::{component::ComponentId, world::WorldId},
    prelude::*,
};

use super::blobs::LARGE_VALUE_BYTES;
use crate::shared::{
    codec::{ComponentCodec, MAX_VALUE_BYTES},
    error::{DecodeError, EncodeError},
    history::History,
    registry::BASELINE_WINDOW_TICKS,
    tick::NetTick,
    value_coder::{ValueCoder, as_transform_codec},
    wire::{BitReader, BitWriter},
};

/// The server's typed work for one replicated component type.
pub(crate) trait EncodeComponent: Send + Sync {
    /// Writes `entity`'s value whole; `Ok(false)` when it lacks the component.
    fn write_whole(
        &self,
        world: &World,
        entity: Entity,
        out: &mut BitWriter,
    ) -> Result<bool, EncodeError>;

    /// Encodes `entity`'s value for the encode step: written whole at the end of `out`, as
    /// [`Self::write_whole`], or only measured when its codec can tell the length without
    /// writing (and the value is not large). The form the history keeps, when this made it,
    /// waits for [`Self::remember`].
    fn encode(
        &mut self,
        world: &World,
        entity: Entity,
        out: &mut BitWriter,
    ) -> Result<Encoded, EncodeError>;

    /// Remembers the value just encoded (kept by [`Self::encode`], or else read back from bits
    /// `start..end` of `written`) as the client will decode it, the baseline of future deltas,
    /// and forgets what no baseline can need: values before the slot's `floor` (see
    /// [`baseline_floors`](super::baseline_floors)) or the baseline window. Only for delta
    /// codecs.
    fn remember(
        &mut self,
        slot: u32,
        tick: NetTick,
        floor: Option<NetTick>,
        written: &BitWriter,
        range: (usize, usize),
    ) -> Result<(), DecodeError>;

    /// Writes `entity`'s value (set at `tick`) against the client's baselines; `Ok(false)` and
    /// nothing written when the baseline is not held.
    #[allow(clippy::too_many_arguments)]
    fn write_delta(
        &self,
        world: &World,
        entity: Entity,
        slot: u32,
        tick: NetTick,
        base: NetTick,
        previous: Option<NetTick>,
        out: &mut BitWriter,
    ) -> Result<bool, EncodeError>;

    /// Asks the processor to fetch what remembering a value in `slot`'s history or writing a
    /// delta against it reads first. Sends walk slots in order, so the next one's is fetched
    /// while this one is written. Only a hint.
    fn prefetch_history(&self, _slot: u32) {}

    /// Forgets the history of a slot (its entity is gone or lost the component).
    fn forget_slot(&mut self, slot: u32);

    /// Forgets every history (the server restarted).
    fn clear(&mut self);
}

/// What [`EncodeComponent::encode`] did with a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoded {
    /// The entity lacks the component: nothing written.
    Absent,
    /// Written whole at the end of the bits.
    Written,
    /// Not written, this many bits long whole: bodies that need it whole write it then.
    Measured(usize),
}

/// Every replicated component type's [`EncodeComponent`], at its index in the
/// [`ReplicationRegistry`](crate::shared::registry::ReplicationRegistry). Filled by
/// [`NetsyncAppExt::replicate_with`](crate::NetsyncAppExt::replicate_with).
#[derive(Resource, Default)]
pub(crate) struct ComponentEncoders {
    pub(crate) encoders: Vec<Box<dyn EncodeComponent>>,
}

/// Adds `C`'s encoder, coded by `codec`; called right after `C` joined the registry, so it
/// takes the same index.
pub(crate) fn add_encoder<C: Component, K: ComponentCodec<C>>(world: &mut World, codec: Arc<K>) {
    let place = Place {
        world: world.id(),
        component: world.register_component::<C>(),
    };
    let encoder: Box<dyn EncodeComponent> = match as_transform_codec::<C, K>(&*codec) {
        Some(codec) => Box::new(TypedEncoder::<Transform, _>::new(codec, place)),
        None => Box::new(TypedEncoder::<C, _>::new(codec, place)),
    };
    world
        .get_resource_or_init::<ComponentEncoders>()
        .encoders
        .push(encoder);
}

/// Where an encoder's values are: its world and the component's id there.
#[derive(Clone, Copy)]
struct Place {
    world: WorldId,
    component: ComponentId,
}

impl Place {
    /// `entity`'s `C`, found by the component's id rather than by its type (a hash lookup per
    /// value); by its type in any other world.
    fn get<C: Component>(self, world: &World, entity: Entity) -> Option<&C> {
        if world.id() != self.world {
            return world.get::<C>(entity);
        }
        let value = world
            .get_entity(entity)
            .ok()?
            .get_by_id(self.component)
            .ok()?;
        // SAFETY: `component` is the id `C` was registered with in this world (`add_encoder`,
        // checked just above to be the same world), so the pointer is to a `C`.
        Some(unsafe { value.deref::<C>() })
    }
}

/// The typed implementation of [`EncodeComponent`].
struct TypedEncoder<C, K: ValueCoder<C>> {
    /// The codec (shared with the client's decoder in the same App).
    codec: K,
    /// Where the values are.
    place: Place,
    /// Values as clients decode them, in the coder's kept form, by slot (delta codecs only).
    history: Vec<History<K::Kept>>,
    /// The kept form of the value [`EncodeComponent::encode`] wrote last, when writing made it.
    written: Option<K::Kept>,
}

impl<C, K: ValueCoder<C>> TypedEncoder<C, K> {
    fn new(codec: K, place: Place) -> Self {
        Self {
            codec,
            place,
            history: Vec::new(),
            written: None,
        }
    }
}

/// An error unless the value written from `start` fits [`MAX_VALUE_BYTES`]; what it wrote is
/// taken back then.
fn within_limit<C>(out: &mut BitWriter, start: usize) -> Result<(), EncodeError> {
    if out.bit_len() - start > MAX_VALUE_BYTES * 8 {
        out.truncate(start);
        return Err(EncodeError {
            type_name: type_name::<C>(),
            detail: format!("the value is larger than the limit of {MAX_VALUE_BYTES} bytes"),
        });
    }
    Ok(())
}

impl<C: Component, K: ValueCoder<C>> EncodeComponent for TypedEncoder<C, K> {
    fn write_whole(
        &self,
        world: &World,
        entity: Entity,
        out: &mut BitWriter,
    ) -> Result<bool, EncodeError> {
        let Some(value) = self.place.get::<C>(world, entity) else {
            return Ok(false);
        };
        let start = out.bit_len();
        if let Err(error) = self.codec.write(value, out) {
            out.truncate(start);
            return Err(error);
        }
        within_limit::<C>(out, start)?;
        Ok(true)
    }

    fn encode(
        &mut self,
        world: &World,
        entity: Entity,
        out: &mut BitWriter,
    ) -> Result<Encoded, EncodeError> {
        self.written = None;
        let Some(value) = self.place.get::<C>(world, entity) else {
            return Ok(Encoded::Absent);
        };
        if let Some((kept, bits)) = self.codec.keep_measuring(value)?
            && bits.div_ceil(8) <= LARGE_VALUE_BYTES
        {
            self.written = Some(kept).filter(|_| self.codec.uses_baselines());
            return Ok(Encoded::Measured(bits));
        }
        let start = out.bit_len();
        match self.codec.write_keeping(value, out) {
            Ok(kept) => {
                within_limit::<C>(out, start)?;
                self.written = kept.filter(|_| self.codec.uses_baselines());
                Ok(Encoded::Written)
            }
            Err(error) => {
                out.truncate(start);
                Err(error)
            }
        }
    }

    fn remember(
        &mut self,
        slot: u32,
        tick: NetTick,
        floor: Option<NetTick>,
        written: &BitWriter,
        (start, end): (usize, usize),
    ) -> Result<(), DecodeError> {
        let value = match self.written.take() {
            Some(kept) => kept,
            None => {
                let mut reader = BitReader::with_range(written.as_bytes(), start, end);
                self.codec.read_kept(&mut reader)?
            }
        };
        let slot = slot as usize;
        if self.history.len() <= slot {
            self.history.resize_with(slot + 1, History::default);
        }
        let history = &mut self.history[slot];
        let window = tick.sub(BASELINE_WINDOW_TICKS);
        history.prune(floor.map_or(window, |floor| floor.max(window)));
        history.insert(tick, value);
        Ok(())
    }

    fn write_delta(
        &self,
        world: &World,
        entity: Entity,
        slot: u32,
        tick: NetTick,
        base: NetTick,
        previous: Option<NetTick>,
        out: &mut BitWriter,
    ) -> Result<bool, EncodeError> {
        let Some(history) = self.history.get(slot as usize) else {
            return Ok(false);
        };
        let Some(baseline) = history.baseline(base, previous) else {
            return Ok(false);
        };
        // The value as remembered when it was set, when it still is.
        let current = history
            .newest()
            .and_then(|(newest, kept)| (newest == tick).then_some(kept));
        if let Some(current) = current
            && self.codec.write_kept_delta(current, tick, baseline, out)
        {
            return Ok(true);
        }
        let Some(value) = self.place.get::<C>(world, entity) else {
            return Ok(false);
        };
        let start = out.bit_len();
        match self.codec.write_delta(value, current, tick, baseline, out) {
            Ok(()) => Ok(true),
            Err(error) => {
                out.truncate(start);
                Err(error)
            }
        }
    }

    fn prefetch_history(&self, slot: u32) {
        if let Some(history) = self.history.get(slot as usize) {
            history.prefetch();
        }
    }

    fn forget_slot(&mut self, slot: u32) {
        self.written = None;
        if let Some(history) = self.history.get_mut(slot as usize) {
            *history = History::default();
        }
    }

    fn clear(&mut self) {
        self.history.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::transform_codec::TransformCodec;

    /// Remembers a transform at each tick of `ticks`, with a floor `behind` ticks back (a
    /// client acknowledging steadily), as the encode step does.
    fn remember_all(encoder: &mut dyn EncodeComponent, ticks: core::ops::Range<u32>, behind: u32) {
        for tick in ticks {
            let mut bits = BitWriter::new();
            let value = Transform::from_xyz(tick as f32, 0.0, 0.0);
            ComponentCodec::write(&TransformCodec::default(), &value, &mut bits).unwrap();
            let end = bits.bit_len();
            encoder
                .remember(
                    0,
                    NetTick(tick),
                    Some(NetTick(tick).sub(behind)),
                    &bits,
                    (0, end),
                )
                .unwrap();
        }
    }

    #[test]
    fn values_are_found_by_id_in_their_world_and_by_type_in_another() {
        #[derive(Component)]
        struct Other;
        let mut world = World::new();
        add_encoder::<Transform, _>(&mut world, Arc::new(TransformCodec::default()));
        let encoders = world.remove_resource::<ComponentEncoders>().unwrap();
        let value = Transform::from_xyz(1.0, 2.0, 3.0);
        // Another world, where `Transform` has another id.
        let mut other = World::new();
        other.register_component::<Other>();
        let entities = [world.spawn(value).id(), other.spawn((Other, value)).id()];
        for (world, entity) in [(&world, entities[0]), (&other, entities[1])] {
            let mut out = BitWriter::new();
            assert_eq!(
                encoders.encoders[0].write_whole(world, entity, &mut out),
                Ok(true)
            );
            let mut expected = BitWriter::new();
            ComponentCodec::write(&TransformCodec::default(), &value, &mut expected).unwrap();
            assert_eq!(out.into_bytes(), expected.into_bytes());
        }
    }

    #[test]
    fn transforms_are_measured_not_written_and_whole_writes_match_the_measure() {
        let mut world = World::new();
        let value =
            Transform::from_xyz(1_234.5, -6.0, 7.25).with_rotation(Quat::from_rotation_y(1.0));
        let entity = world.spawn(value).id();
        add_encoder::<Transform, _>(&mut world, Arc::new(TransformCodec::default()));
        add_encoder::<Transform, _>(
            &mut world,
            Arc::new(crate::shared::codec::SerdeCodec::<Transform>::default()),
        );
        let mut encoders = world.remove_resource::<ComponentEncoders>().unwrap();
        let mut out = BitWriter::new();
        let Ok(Encoded::Measured(bits)) = encoders.encoders[0].encode(&world, entity, &mut out)
        else {
            panic!("TransformCodec values are measured");
        };
        assert!(out.is_empty(), "nothing written");
        // What a body writes later, when a client needs the value whole, has that length and
        // reads back as the kept baseline.
        encoders.encoders[0]
            .remember(0, NetTick(5), None, &out, (0, 0))
            .unwrap();
        let mut whole = BitWriter::new();
        assert_eq!(
            encoders.encoders[0].write_whole(&world, entity, &mut whole),
            Ok(true)
        );
        assert_eq!(whole.bit_len(), bits);
        let mut delta = BitWriter::new();
        assert_eq!(
            encoders.encoders[0].write_delta(
                &world,
                entity,
                0,
                NetTick(6),
                NetTick(5),
                None,
                &mut delta
            ),
            Ok(true)
        );
        // A codec that cannot measure writes.
        assert_eq!(
            encoders.encoders[1].encode(&world, entity, &mut out),
            Ok(Encoded::Written)
        );
        assert!(!out.is_empty());
        let absent = world.spawn_empty().id();
        assert_eq!(
            encoders.encoders[0].encode(&world, absent, &mut out),
            Ok(Encoded::Absent)
        );
    }

    #[test]
    fn histories_keep_what_clients_may_still_name_and_no_more() {
        let mut world = World::new();
        let entity = world.spawn(Transform::from_xyz(60.0, 0.0, 0.0)).id();
        add_encoder::<Transform, _>(&mut world, Arc::new(TransformCodec::default()));
        let mut encoders = world.remove_resource::<ComponentEncoders>().unwrap();
        let encoder = &mut *encoders.encoders[0];
        remember_all(encoder, 0..61, 10);
        let delta = |base: u32, previous: u32| {
            let mut out = BitWriter::new();
            encoder.write_delta(
                &world,
                entity,
                0,
                NetTick(60),
                NetTick(base),
                Some(NetTick(previous)),
                &mut out,
            )
        };
        // At and after the floor: deltas, as before.
        assert_eq!(delta(58, 50), Ok(true));
        // Before it, within the window: forgotten (a client cannot name it any more); the
        // value would go whole.
        assert_eq!(delta(40, 30), Ok(false));
        assert_eq!(delta(58, 30), Ok(false));
    }
}
