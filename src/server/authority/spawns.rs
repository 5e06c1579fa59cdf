//! Entities clients spawn and own (a placed building, a thrown object): the client sends the
//! spawn with its client-authoritative values; the server makes a pending entity of them (not
//! replicated), reports it as [`ClientSpawnRequested`], and the game's rule approves it
//! ([`ClientSpawnCommandsExt::approve_client_spawn`]: replicated, held by the client, whose own
//! copy becomes the server entity's copy) or refuses it (despawns it). Unanswered spawns are
//! despawned after [`AuthoritySettings::spawn_approval_timeout`](super::AuthoritySettings).

use core::time::Duration;

use bevy::prelude::*;

use super::{AuthorityChanged, AuthoritySettings, inbox::AuthorityInboxes, receive::refuse};
use crate::{
    server::Replicated,
    shared::{
        authority::{AuthorityRegistry, HeldBy},
        disconnect::DisconnectReason,
        prediction::SpawnedBy,
        scoped::scoped,
        tick::NetTick,
        wire::BitReader,
    },
};

/// Spawns one client may have waiting for the game's answer; more are refused and counted.
pub const MAX_PENDING_CLIENT_SPAWNS: usize = 16;

/// A client asked to spawn `entity` (already in the world with the client's values, not
/// replicated yet). Approve it with [`ClientSpawnCommandsExt::approve_client_spawn`] or despawn
/// it.
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientSpawnRequested {
    /// The pending server entity.
    pub entity: Entity,
    /// The client that spawned it.
    pub client_id: u64,
}

/// On a pending client spawn: who asked, and when.
#[derive(Component, Clone, Copy, Debug)]
pub struct PendingClientSpawn {
    /// The client that spawned it.
    pub client_id: u64,
    since: Duration,
}

/// Answers a client's spawn on the server.
pub trait ClientSpawnCommandsExt {
    /// Approves a pending client spawn: it becomes a replicated server entity held by the
    /// client, and the client's own entity becomes its copy.
    fn approve_client_spawn(&mut self) -> &mut Self;
}

impl ClientSpawnCommandsExt for EntityCommands<'_> {
    fn approve_client_spawn(&mut self) -> &mut Self {
        let entity = self.id();
        self.commands().queue(move |world: &mut World| {
            let Ok(mut target) = world.get_entity_mut(entity) else {
                return;
            };
            let Some(pending) = target.take::<PendingClientSpawn>() else {
                return;
            };
            target.insert(Replicated);
            world.write_message(AuthorityChanged {
                entity,
                from: None,
                to: Some(pending.client_id),
            });
        });
        self
    }
}

/// Reads a spawn request: refused and counted past [`MAX_PENDING_CLIENT_SPAWNS`] or for a type
/// that is not client-authoritative; malformed values are an error.
pub(super) fn receive_spawn(
    world: &mut World,
    client_id: u64,
    tick: u32,
    index: u16,
    values: &[u8],
) -> Result<(), DisconnectReason> {
    let mut pending = world.query::<&PendingClientSpawn>();
    let waiting = pending
        .iter(world)
        .filter(|spawn| spawn.client_id == client_id)
        .count();
    if waiting >= MAX_PENDING_CLIENT_SPAWNS {
        return refuse(world, client_id, "a spawn beyond the pending limit");
    }
    let since = world.resource::<Time<Real>>().elapsed();
    let entity = world
        .spawn((
            SpawnedBy {
                client_id,
                tick: NetTick(tick),
                index,
            },
            HeldBy { client_id },
            PendingClientSpawn { client_id, since },
        ))
        .id();
    let malformed =
        |error: &dyn core::fmt::Display| DisconnectReason::MalformedData(format!("spawn: {error}"));
    let types = world.resource::<AuthorityRegistry>().indices.len();
    let read = scoped(world, |world, inboxes: &mut AuthorityInboxes| {
        let mut bits = BitReader::new(values);
        let count = bits
            .read_count_at_most(types, "spawn values")
            .map_err(|e| malformed(&e))?;
        for _ in 0..count {
            let index = u32::try_from(bits.read_golomb(0).map_err(|e| malformed(&e))?)
                .map_err(|e| malformed(&e))?;
            let Some(owned) = inboxes.get_mut(index) else {
                return Ok(false);
            };
            owned
                .insert_whole(&mut bits, &mut world.entity_mut(entity))
                .map_err(|e| malformed(&e))?;
        }
        bits.finish().map_err(|e| malformed(&e))?;
        Ok(true)
    });
    match read {
        Ok(true) => {
            world.write_message(ClientSpawnRequested { entity, client_id });
            Ok(())
        }
        Ok(false) => {
            world.despawn(entity);
            refuse(
                world,
                client_id,
                "a spawn with a type that is not client-authoritative",
            )
        }
        Err(reason) => {
            world.despawn(entity);
            Err(reason)
        }
    }
}

/// Despawns pending client spawns the game did not answer in time.
pub(super) fn expire_client_spawns(
    pending: Query<(Entity, &PendingClientSpawn)>,
    settings: Res<AuthoritySettings>,
    time: Res<Time<Real>>,
    mut commands: Commands,
) {
    let now = time.elapsed();
    for (entity, spawn) in &pending {
        if now.saturating_sub(spawn.since) > settings.spawn_approval_timeout {
            commands.entity(entity).despawn();
        }
    }
}
