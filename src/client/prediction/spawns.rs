//! Predicted spawns: entities a client's own input created, waiting for the server's copy to
//! take them over.

use core::time::Duration;

use bevy::{platform::collections::HashMap, prelude::*};

use crate::{
    client::{FromServer, session::ClientSession},
    shared::prediction::{Predicted, PredictionSettings, SpawnedBy},
};

/// Entities this client spawned by prediction, by key, with when they were spawned.
#[derive(Resource, Default)]
pub(crate) struct PredictedSpawns {
    pub(crate) pending: HashMap<SpawnedBy, (Entity, Duration)>,
}

/// A [`SpawnedBy`] entity the client made itself is a predicted spawn.
pub(crate) fn track_predicted_spawn(
    event: On<Add, SpawnedBy>,
    spawned: Query<(&SpawnedBy, Has<crate::client::SpawnOwned>), Without<FromServer>>,
    session: Res<ClientSession>,
    time: Res<Time<Real>>,
    mut spawns: ResMut<PredictedSpawns>,
    mut commands: Commands,
) {
    let (Ok((key, owned)), Some(me)) = (spawned.get(event.entity), session.client_id) else {
        return;
    };
    if key.client_id != me {
        return;
    }
    spawns.pending.insert(*key, (event.entity, time.elapsed()));
    // A spawn to own is the client's to move once the server confirms it, not to predict.
    if !owned {
        commands.entity(event.entity).insert(Predicted);
    }
}

/// Despawns predicted spawns the server did not confirm in time.
pub(crate) fn expire_predicted_spawns(
    time: Res<Time<Real>>,
    settings: Res<PredictionSettings>,
    mut spawns: ResMut<PredictedSpawns>,
    mut commands: Commands,
) {
    let now = time.elapsed();
    spawns.pending.retain(|_, (entity, spawned)| {
        let keep = now.saturating_sub(*spawned) <= settings.spawn_timeout;
        if !keep && let Ok(mut entity) = commands.get_entity(*entity) {
            entity.despawn();
        }
        keep
    });
}
