//! [`ServerEntityMap`]: which client entity stands for which server entity.

use bevy::{ecs::entity::EntityHashMap, prelude::*};

/// Client-side map between server entities and the client's own entities.
///
/// Written by [`ClientSet::Receive`](crate::client::ClientSet::Receive) as spawns and despawns
/// arrive; cleared when the client disconnects.
#[derive(Resource, Default, Debug)]
pub struct ServerEntityMap {
    to_client: EntityHashMap<Entity>,
    to_server: EntityHashMap<Entity>,
}

impl ServerEntityMap {
    /// The client entity that mirrors `server_entity`, if it was replicated.
    pub fn to_client(&self, server_entity: Entity) -> Option<Entity> {
        self.to_client.get(&server_entity).copied()
    }

    /// The server entity that `client_entity` mirrors, if it came from the server.
    pub fn to_server(&self, client_entity: Entity) -> Option<Entity> {
        self.to_server.get(&client_entity).copied()
    }

    /// Number of mapped entities.
    pub fn len(&self) -> usize {
        self.to_client.len()
    }

    /// Whether nothing is mapped.
    pub fn is_empty(&self) -> bool {
        self.to_client.is_empty()
    }

    /// `(server, client)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (Entity, Entity)> + '_ {
        self.to_client
            .iter()
            .map(|(server, client)| (*server, *client))
    }

    pub(crate) fn insert(&mut self, server_entity: Entity, client_entity: Entity) {
        self.to_client.insert(server_entity, client_entity);
        self.to_server.insert(client_entity, server_entity);
    }

    pub(crate) fn remove_by_server(&mut self, server_entity: Entity) -> Option<Entity> {
        let client_entity = self.to_client.remove(&server_entity)?;
        self.to_server.remove(&client_entity);
        Some(client_entity)
    }

    pub(crate) fn clear(&mut self) {
        self.to_client.clear();
        self.to_server.clear();
    }
}
