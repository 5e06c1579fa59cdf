//! [`ReplicationRegistry`]: the replicated component types, in registration order, with the
//! type-erased functions that write them on the server and apply them on the client.

use core::any::type_name;
use std::sync::Arc;

use bevy::{
    ecs::{component::Mutable, world::EntityWorldMut},
    prelude::*,
};

use super::{
    codec::ComponentCodec,
    entity_map::ServerEntityMap,
    error::{DecodeError, EncodeError},
};

/// Writes an entity's value of one component type; `Ok(false)` when the entity lacks it.
pub(crate) type WriteFn =
    Box<dyn Fn(&World, Entity, &mut Vec<u8>) -> Result<bool, EncodeError> + Send + Sync>;

/// Decodes a value, maps its entities and inserts or overwrites it on the entity.
pub(crate) type ApplyFn = Box<
    dyn Fn(&mut EntityWorldMut, &[u8], &ServerEntityMap) -> Result<(), DecodeError> + Send + Sync,
>;

/// Removes one component type from an entity.
pub(crate) type RemoveFn = fn(&mut EntityWorldMut);

/// One replicated component type.
pub(crate) struct ReplicatedComponent {
    pub(crate) name: &'static str,
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
            write: Box::new(move |world, entity, out| match world.get::<C>(entity) {
                Some(value) => write_codec.encode(value, None, out).map(|()| true),
                None => Ok(false),
            }),
            apply: Box::new(move |entity, bytes, map| {
                let mut value = codec.decode(bytes, None)?;
                C::map_entities(&mut value, &mut map.mapper());
                match entity.get_mut::<C>() {
                    Some(mut current) => *current = value,
                    None => {
                        entity.insert(value);
                    }
                }
                Ok(())
            }),
            remove: |entity| {
                entity.remove::<C>();
            },
        };
        self.components.push(component);
        (self.components.len() - 1) as u32
    }
}
