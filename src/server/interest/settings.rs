//! [`InterestSettings`], [`RelevanceRule`], [`FreezeWhenHidden`]: the rest of what decides who
//! sees what.

use std::sync::Arc;

use bevy::prelude::*;

/// How interest management behaves. Read every send by
/// [`ServerSet::Send`](crate::server::ServerSet::Send).
#[derive(Resource, Clone, Debug, PartialEq)]
pub struct InterestSettings {
    /// When set, an entity in no room is seen by nobody (rooms decide everything); by default
    /// it is seen by every client.
    pub rooms_for_everything: bool,
    /// A [`ViewPoint`](super::ViewPoint) keeps an entity in view until it is this share beyond
    /// the radius (0.1: 10 % further).
    pub hysteresis: f32,
    /// Side of the ground grid (x, z) that finds entities near view points; about the usual view
    /// radius works well.
    pub cell_size: f32,
}

impl Default for InterestSettings {
    fn default() -> Self {
        Self {
            rooms_for_everything: false,
            hysteresis: 0.1,
            cell_size: 32.0,
        }
    }
}

/// A game's own rule, asked after rooms and view points: whether `client` (its
/// [`ConnectedClient`](crate::server::ConnectedClient) entity) may see `entity` (a root
/// replicated entity). Teams, fog of war, line of sight:
///
/// ```
/// use bevy::prelude::*;
/// use bevy_netsync::server::RelevanceRule;
///
/// #[derive(Component)]
/// struct Team(u8);
///
/// let rule = RelevanceRule::new(|world: &World, client: Entity, entity: Entity| {
///     match (world.get::<Team>(client), world.get::<Team>(entity)) {
///         (Some(a), Some(b)) => a.0 == b.0,
///         _ => true,
///     }
/// });
/// # let _ = rule;
/// ```
///
/// It runs every send for each client and each entity its rooms and view point let through, so
/// keep it cheap.
#[derive(Resource, Clone)]
pub struct RelevanceRule(pub(crate) Arc<RuleFn>);

/// The function behind a [`RelevanceRule`].
type RuleFn = dyn Fn(&World, Entity, Entity) -> bool + Send + Sync;

impl RelevanceRule {
    /// A rule from a function of the world, the client's entity and the entity.
    pub fn new(rule: impl Fn(&World, Entity, Entity) -> bool + Send + Sync + 'static) -> Self {
        Self(Arc::new(rule))
    }
}

/// On a replicated entity: clients that stop seeing it keep it, frozen as last seen (with
/// [`Frozen`](crate::client::Frozen) on their copy), instead of despawning it. It is updated
/// again when it comes back into view, and despawned when the server despawns it.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq, Reflect)]
#[reflect(Component)]
pub struct FreezeWhenHidden;
