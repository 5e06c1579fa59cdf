//! [`ViewPoint`]: where a client looks from, for spatial relevance.

use bevy::prelude::*;

/// Where a [`ViewPoint`] is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ViewOrigin {
    /// At an entity's `Transform` (the client's player, say), followed as it moves.
    Entity(Entity),
    /// At a fixed position.
    Position(Vec3),
}

/// Put on a client's [`ConnectedClient`](crate::server::ConnectedClient) entity: the client sees
/// the replicated entities within `radius` of its view point (and those without a `Transform`).
/// An entity that was in view leaves it only beyond the radius plus a margin
/// ([`InterestSettings::hysteresis`](super::InterestSettings)), so one on the edge does not flicker.
///
/// Positions are the `Transform` translation of an entity's root (children go with their root).
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct ViewPoint {
    /// Where the client looks from.
    pub origin: ViewOrigin,
    /// How far it sees, in the units of `Transform` (metres).
    pub radius: f32,
}

impl ViewPoint {
    /// Sees `radius` around `entity` (the player's entity, usually).
    pub fn following(entity: Entity, radius: f32) -> Self {
        Self {
            origin: ViewOrigin::Entity(entity),
            radius,
        }
    }

    /// Sees `radius` around `position`.
    pub fn at(position: Vec3, radius: f32) -> Self {
        Self {
            origin: ViewOrigin::Position(position),
            radius,
        }
    }
}
