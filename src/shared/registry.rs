//! [`ReplicationRegistry`]: the replicated component types, in registration order, with the
//! type-erased functions that write them on the server and apply them on the client.

use core::any::{TypeId, type_name};
use std::sync::Arc;

use bevy::{
    ecs::{component::Mutable, world::EntityWorldMut},
    prelude::*,
};

use super::{
    codec::ComponentCodec,
    entity_map::ServerEntityMap,
    error::{DecodeError, EncodeError},
    interpolate::SnapshotBuffer,
    tick::NetTick,
};

/// Marks a client entity whose components are shown as received, never interpolated: the
/// seam for entities the client predicts or owns. Insert it before values arrive (for example
/// in an `On<Add, FromServer>` observer) or at any time to stop interpolating.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoInterpolation;

/// Writes an entity's value of one component type; `Ok(false)` when the entity lacks it.
pub(crate) type WriteFn =
    Box<dyn Fn(&World, Entity, &mut Vec<u8>) -> Result<bool, EncodeError> + Send + Sync>;

/// Where a received value goes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ApplyContext {
    /// Server tick of the value.
    pub(crate) tick: NetTick,
    /// Whether the component is interpolated: values go to its [`SnapshotBuffer`] (unless
    /// the entity has [`NoInterpolation`]).
    pub(crate) interpolated: bool,
}

/// Decodes a value, maps its entities and inserts or overwrites it on the entity (or buffers it
/// for interpolation).
pub(crate) type ApplyFn = Box<
    dyn Fn(&mut EntityWorldMut, &[u8], &ServerEntityMap, ApplyContext) -> Result<(), DecodeError>
        + Send
        + Sync,
>;

/// Removes one component type from an entity.
pub(crate) type RemoveFn = fn(&mut EntityWorldMut);

/// One replicated component type.
pub(crate) struct ReplicatedComponent {
    pub(crate) name: &'static str,
    pub(crate) type_id: TypeId,
    /// Set by [`NetsyncAppExt::interpolate`](crate::NetsyncAppExt::interpolate).
    pub(crate) interpolated: bool,
    pub(crate) write: WriteFn,
    pub(crate) apply: ApplyFn,
    pub(crate) remove: RemoveFn,
}

/// Every replicated component type, indexed by registration order (the index travels on the
/// wire). Filled by [`NetsyncAppExt::replicate`](crate::NetsyncAppExt::replicate) and
/// `replicate_with`; read by the server's send systems and the client's receive systems.
#[derive(Resource, Default)]
pub struct ReplicationRegistry {
    pub(crate) components: Vec<ReplicatedComponent>,
}

impl ReplicationRegistry {
    /// Number of replicated component types.
    pub fn len(&self) -> usize {
        self.components.len()
    }

    /// Whether no component is replicated.
    pub fn is_empty(&self) -> bool {
        self.components.is_empty()
    }

    /// Type names in registration (wire) order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.components.iter().map(|component| component.name)
    }

    pub(crate) fn get(&self, index: u32) -> Result<&ReplicatedComponent, DecodeError> {
        self.components
            .get(index as usize)
            .ok_or(DecodeError::UnknownComponent(index))
    }

    /// Marks `C` as interpolated; `false` if `C` is not replicated.
    pub(crate) fn set_interpolated(&mut self, type_id: TypeId) -> bool {
        match self.components.iter_mut().find(|c| c.type_id == type_id) {
            Some(component) => {
                component.interpolated = true;
                true
            }
            None => false,
        }
    }

    /// Adds `C` with `codec` and returns its wire index.
    pub(crate) fn register<C, K>(&mut self, codec: K) -> u32
    where
        C: Component<Mutability = Mutable>,
        K: ComponentCodec<C>,
    {
        let codec = Arc::new(codec);
        let write_codec = codec.clone();
        let component = ReplicatedComponent {
            name: type_name::<C>(),
            type_id: TypeId::of::<C>(),
            interpolated: false,
            write: Box::new(move |world, entity, out| match world.get::<C>(entity) {
                Some(value) => write_codec.encode(value, None, out).map(|()| true),
                None => Ok(false),
            }),
            apply: Box::new(move |entity, bytes, map, context| {
                let decode = || {
                    let mut value = codec.decode(bytes, None)?;
                    C::map_entities(&mut value, &mut map.mapper());
                    Ok::<_, DecodeError>(value)
                };
                let value = decode()?;
                if !context.interpolated || entity.contains::<NoInterpolation>() {
                    match entity.get_mut::<C>() {
                        Some(mut current) => *current = value,
                        None => {
                            entity.insert(value);
                        }
                    }
                } else if let Some(mut buffer) = entity.get_mut::<SnapshotBuffer<C>>() {
                    buffer.push(context.tick, value);
                } else {
                    // First value: shown at once, and the first snapshot. Decoding twice once
                    // per entity spares every component a `Clone` bound.
                    let mut buffer = SnapshotBuffer::<C>::default();
                    buffer.push(context.tick, decode()?);
                    if entity.contains::<C>() {
                        entity.insert(buffer);
                    } else {
                        entity.insert((value, buffer));
                    }
                }
                Ok(())
            }),
            remove: |entity| {
                entity.remove::<(C, SnapshotBuffer<C>)>();
            },
        };
        self.components.push(component);
        (self.components.len() - 1) as u32
    }
}
