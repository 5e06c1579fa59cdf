//! [`ReplicationRegistry`]: the replicated component types in registration (wire) order, with
//! what both sides agree on for each: its name, whether its values are delta-coded, and whether
//! it is predicted, interpolated or a relationship. The typed work is kept by each side at the
//! same index: the server's encoders and their baselines in `server::component_encoders`, the
//! client's decoders, received values and entity writes in `client::component_receivers`.

use core::any::{TypeId, type_name};

use bevy::{ecs::component::ComponentId, prelude::*};

use super::{
    codec::ComponentCodec,
    error::{DecodeError, EncodeError},
    wire::BitWriter,
};

/// Marks a client entity whose components are shown as received, never interpolated: the
/// seam for entities the client predicts or owns. Insert it before values arrive (for example
/// in an `On<Add, FromServer>` observer) or at any time to stop interpolating.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoInterpolation;

/// Delta-coded values use baselines at most this many ticks older than the value (about a
/// second at 60 Hz); older ones are sent whole. Clients keep twice as much history and ignore
/// frames older than this behind the newest they saw.
pub const BASELINE_WINDOW_TICKS: u32 = 64;

/// One replicated component type.
pub(crate) struct ReplicatedComponent {
    /// The type's name, for logs.
    pub(crate) name: &'static str,
    pub(crate) type_id: TypeId,
    /// The component's id in this App's world.
    pub(crate) component_id: ComponentId,
    /// Set by [`NetsyncAppExt::interpolate`](crate::NetsyncAppExt::interpolate).
    pub(crate) interpolated: bool,
    /// Set by [`NetsyncAppExt::predict`](crate::NetsyncAppExt::predict).
    pub(crate) predicted: bool,
    /// Whether values are delta-coded.
    pub(crate) uses_baselines: bool,
    /// A relationship (like `ChildOf`): never inserted while its target is unknown, since Bevy
    /// drops relationships to missing entities.
    pub(crate) relationship: bool,
}

impl ReplicatedComponent {
    /// How many copies a client keeps of each value received: two for an interpolated or
    /// predicted type (one for the buffer or record, one for the component), else one.
    pub(crate) fn copies(&self) -> usize {
        if self.interpolated || self.predicted {
            2
        } else {
            1
        }
    }
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

    /// The component type with wire index `index`.
    pub(crate) fn get(&self, index: u32) -> Result<&ReplicatedComponent, DecodeError> {
        self.components
            .get(index as usize)
            .ok_or(DecodeError::UnknownComponent(index))
    }

    /// The wire index of a component type.
    pub(crate) fn index_of(&self, type_id: TypeId) -> Option<u32> {
        self.components
            .iter()
            .position(|component| component.type_id == type_id)
            .map(|index| index as u32)
    }

    /// Bits a component index takes on the wire.
    pub(crate) fn index_bits(&self) -> u32 {
        usize::BITS - self.components.len().saturating_sub(1).leading_zeros()
    }

    /// Marks `C` as predicted; `false` if `C` is not replicated.
    pub(crate) fn set_predicted(&mut self, type_id: TypeId) -> bool {
        match self.components.iter_mut().find(|c| c.type_id == type_id) {
            Some(component) => {
                component.predicted = true;
                true
            }
            None => false,
        }
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

    /// Adds `C`, coded by `codec`, and returns its wire index. Each side then adds its typed
    /// work for `C` at the same index.
    pub(crate) fn register<C, K>(&mut self, world: &mut World, codec: &K) -> u32
    where
        C: Component,
        K: ComponentCodec<C>,
    {
        let component = ReplicatedComponent {
            name: type_name::<C>(),
            type_id: TypeId::of::<C>(),
            component_id: world.register_component::<C>(),
            interpolated: false,
            predicted: false,
            uses_baselines: codec.uses_baselines(),
            relationship: C::relationship_accessor().is_some(),
        };
        self.components.push(component);
        (self.components.len() - 1) as u32
    }
}

/// A replicated resource type. Values travel as length-prefixed serde bytes.
pub(crate) struct ReplicatedResource {
    pub(crate) name: &'static str,
    /// Server: writes the resource whole; `Ok(false)` when it does not exist.
    pub(crate) write: fn(&World, &mut BitWriter) -> Result<bool, EncodeError>,
    /// Server: the tick the resource last changed at, `None` when it does not exist.
    pub(crate) changed: fn(&World) -> Option<bevy::ecs::change_detection::Tick>,
    /// Client: decodes a value and inserts or overwrites the resource.
    pub(crate) apply_bytes: fn(&mut World, &[u8]) -> Result<(), DecodeError>,
    /// Client: removes the resource.
    pub(crate) remove: fn(&mut World),
}

/// Every replicated resource type, in registration (wire) order. Filled by
/// [`NetsyncAppExt::replicate_resource`](crate::NetsyncAppExt::replicate_resource).
#[derive(Resource, Default)]
pub struct ResourceRegistry {
    pub(crate) resources: Vec<ReplicatedResource>,
}

impl ResourceRegistry {
    /// Number of replicated resource types.
    pub fn len(&self) -> usize {
        self.resources.len()
    }

    /// Whether no resource is replicated.
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }
}
