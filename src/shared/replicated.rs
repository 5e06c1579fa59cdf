//! [`Replicated`]: the marker that puts a server entity on every client.

use bevy::prelude::*;

/// Marks a server entity for replication: every connected client (that it is relevant to) gets
/// a copy with all of its registered components (see
/// [`NetsyncAppExt::replicate`](crate::NetsyncAppExt::replicate)).
///
/// Removing the marker (or despawning the entity) despawns the copies.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq, Reflect)]
#[reflect(Component, Default)]
pub struct Replicated;
