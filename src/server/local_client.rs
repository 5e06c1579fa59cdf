//! Host mode: [`LocalClient`], the player sitting at the server's own screen.

use bevy::prelude::*;
use bevy_renet::renet::ClientId;

use super::connected_client::ConnectedClient;

/// The transport id of the host's own player. Remote clients never get it.
pub const LOCAL_CLIENT_ID: ClientId = u64::MAX;

/// Marks the [`ConnectedClient`] of the host's own player (host mode, a listen server).
///
/// It has no network connection: it sees the server's world directly, its messages `M` become
/// `FromClient<M>` on the server, and `ToClients<M>` that include it are written back as `M`.
/// To every other client it is a player like any other.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
#[require(ConnectedClient::new(LOCAL_CLIENT_ID))]
pub struct LocalClient;

/// Adds the host's own player: spawns its [`ConnectedClient`] entity (so `On<Add,
/// ConnectedClient>` observers give it a player) and returns it. Call once, after the server
/// started.
pub fn spawn_local_client(world: &mut World) -> Entity {
    let mut existing = world.query_filtered::<Entity, With<LocalClient>>();
    if let Some(entity) = existing.iter(world).next() {
        return entity;
    }
    world.spawn(LocalClient).id()
}
