//! How the send pipeline orders entities when a client's budget cannot carry every change:
//! [`ReplicationPriority`] per entity and a [`PriorityHook`] per game.

use std::sync::Arc;

use bevy::prelude::*;

/// How much an entity matters, relative to others (1 by default). Each send, every entity with
/// news a client has not received adds its priority (times the [`PriorityHook`]'s weight) to an
/// account it has with that client; the client's budget goes to the largest accounts, and an
/// account is emptied when its entity is sent. So important entities go first and nothing waits
/// forever.
#[derive(Component, Clone, Copy, Debug, PartialEq, Reflect)]
#[reflect(Component)]
pub struct ReplicationPriority(pub f32);

impl Default for ReplicationPriority {
    fn default() -> Self {
        Self(1.0)
    }
}

/// What a [`PriorityHook`] is asked about.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PriorityQuery {
    /// The client's [`ConnectedClient`](super::ConnectedClient) entity.
    pub client: Entity,
    /// The replicated entity.
    pub entity: Entity,
    /// Distance from the client's view point to the entity, when both have positions (see
    /// [`ViewPoint`](super::ViewPoint)).
    pub distance: Option<f32>,
}

/// Weighs an entity's priority for one client (multiplied with its [`ReplicationPriority`]),
/// for example by distance to the client's player:
///
/// ```
/// use bevy::prelude::*;
/// use bevy_netsync::server::PriorityHook;
///
/// let mut app = App::new();
/// app.insert_resource(PriorityHook::new(|query| match query.distance {
///     Some(distance) => 1.0 / (1.0 + distance / 10.0),
///     None => 1.0,
/// }));
/// ```
///
/// It runs for every entity with news for a client whose budget cannot carry them all, so keep
/// it cheap.
#[derive(Resource, Clone)]
pub struct PriorityHook(pub(crate) Arc<dyn Fn(&PriorityQuery) -> f32 + Send + Sync>);

impl PriorityHook {
    /// A hook from a function.
    pub fn new(weigh: impl Fn(&PriorityQuery) -> f32 + Send + Sync + 'static) -> Self {
        Self(Arc::new(weigh))
    }
}
