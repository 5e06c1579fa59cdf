//! Entities this client spawns and wants to own ([`SpawnOwned`]): each gets a [`SpawnedBy`]
//! key and goes to the server with its client-authoritative values; once the server's rule
//! approves it, the server's copy arrives and this entity becomes that copy (held by this
//! client). A spawn the server does not confirm in time is despawned like a predicted spawn.

use bevy::prelude::*;

use super::send::SpawnRequests;
use crate::{
    client::{FromServer, PredictedTick, session::ClientSession},
    shared::{
        prediction::SpawnedBy,
        tick::NetTick,
        wire::{AuthorityRequest, BitWriter},
    },
};

/// Insert on a client entity (with its client-authoritative components) to ask the server to
/// spawn it as an entity this client owns: a placed building, a thrown object. The server's
/// rule approves or refuses it ([`ClientSpawnRequested`](crate::server::ClientSpawnRequested));
/// approved, the server's copy takes this entity over (no duplicate) and this client holds it.
/// Refused, it is despawned after
/// [`PredictionSettings::spawn_timeout`](crate::shared::prediction::PredictionSettings).
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq, Reflect)]
#[reflect(Component)]
pub struct SpawnOwned;

/// Writes one client-authoritative value of an entity (its type's wire index, then the value
/// whole) if the entity has that type; `false` otherwise.
pub(crate) type WriteWhole = Box<dyn Fn(&World, Entity, &mut BitWriter) -> bool + Send + Sync>;

/// Every client-authoritative type's whole-value writer, for spawn requests.
#[derive(Resource, Default)]
pub(crate) struct OwnedWriters {
    pub(crate) writers: Vec<WriteWhole>,
}

/// The bit set in the `SpawnedBy::index` of entities spawned to own, so their keys never meet
/// the keys a game gives the entities its inputs spawn (which count from 0).
const OWNED_SPAWN_INDEX: u16 = 0x8000;

/// The last tick a spawn was requested at, and how many were requested then.
#[derive(Resource, Default)]
pub(super) struct SpawnCounter {
    tick: Option<NetTick>,
    count: u16,
}

/// Turns new [`SpawnOwned`] entities into spawn requests, each keyed by a [`SpawnedBy`].
pub(super) fn request_spawns(world: &mut World) {
    let (Some(me), Some(tick)) = (
        world.resource::<ClientSession>().client_id,
        world.resource::<PredictedTick>().tick(),
    ) else {
        return;
    };
    let mut new = world
        .query_filtered::<Entity, (With<SpawnOwned>, Without<SpawnedBy>, Without<FromServer>)>();
    let entities: Vec<Entity> = new.iter(world).collect();
    for entity in entities {
        let index = {
            let mut counter = world.resource_mut::<SpawnCounter>();
            if counter.tick != Some(tick) {
                *counter = SpawnCounter {
                    tick: Some(tick),
                    count: 0,
                };
            }
            counter.count = counter.count.wrapping_add(1) & !OWNED_SPAWN_INDEX;
            // Apart from the indices a game gives its input-spawned entities.
            (counter.count.wrapping_sub(1) & !OWNED_SPAWN_INDEX) | OWNED_SPAWN_INDEX
        };
        let mut values = BitWriter::new();
        let mut count = 0;
        world.resource_scope(|world, writers: Mut<OwnedWriters>| {
            for write in &writers.writers {
                count += usize::from(write(world, entity, &mut values));
            }
        });
        let mut section = BitWriter::new();
        section.write_golomb(count as u64, 0);
        section.append(&values);
        world.entity_mut(entity).insert(SpawnedBy {
            client_id: me,
            tick,
            index,
        });
        world
            .resource_mut::<SpawnRequests>()
            .requests
            .push(AuthorityRequest::Spawn {
                tick: tick.0,
                index,
                values: section.into_bytes(),
            });
    }
}
