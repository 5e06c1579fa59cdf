//! Player tracking: each [`ConnectedClient`] is a player of the game server (its client id is
//! the player id), and a server left empty for too long shuts down.

use std::time::Duration;

use bevy::prelude::*;

use super::{
    FleetSettings,
    game_server::FleetState,
    link::{Request, SdkLink},
    match_end::{ShutdownProgress, request_shutdown},
};
use crate::server::{ConnectedClient, LOCAL_CLIENT_ID};

/// Reports a client that joined. The host's own player (host mode) holds no slot of the
/// transport and is not reported.
pub(crate) fn player_joined(
    event: On<Add, ConnectedClient>,
    clients: Query<&ConnectedClient>,
    link: Option<Res<SdkLink>>,
) {
    if let (Some(link), Ok(client)) = (link, clients.get(event.entity))
        && client.id() != LOCAL_CLIENT_ID
    {
        link.send(Request::PlayerConnect(client.id().to_string()));
    }
}

/// Reports a client that left (however it left: its entity is gone).
pub(crate) fn player_left(
    event: On<Remove, ConnectedClient>,
    clients: Query<&ConnectedClient>,
    link: Option<Res<SdkLink>>,
) {
    if let (Some(link), Ok(client)) = (link, clients.get(event.entity))
        && client.id() != LOCAL_CLIENT_ID
    {
        link.send(Request::PlayerDisconnect(client.id().to_string()));
    }
}

/// Since when the server has been without players, counting only once it was allocated or
/// had players. Written by `shut_down_when_empty`.
#[derive(Resource, Debug, Default)]
pub(crate) struct EmptySince {
    /// A player was connected at some point.
    had_players: bool,
    /// Real time when the server was last seen becoming empty.
    since: Option<Duration>,
}

/// Asks for Shutdown after [`FleetSettings::shutdown_when_empty_after`] without players, once
/// the server was allocated or had players.
pub(crate) fn shut_down_when_empty(
    clients: Query<&ConnectedClient>,
    state: Res<State<FleetState>>,
    settings: Res<FleetSettings>,
    time: Res<Time<Real>>,
    link: Res<SdkLink>,
    mut empty: ResMut<EmptySince>,
    mut progress: ResMut<ShutdownProgress>,
) {
    let Some(limit) = settings.shutdown_when_empty_after else {
        return;
    };
    if progress.requested_at.is_some() {
        return;
    }
    let now = time.elapsed();
    if clients.iter().any(|client| client.id() != LOCAL_CLIENT_ID) {
        empty.had_players = true;
        empty.since = None;
        return;
    }
    if !empty.had_players && *state.get() != FleetState::Allocated {
        return;
    }
    let since = *empty.since.get_or_insert(now);
    if now.saturating_sub(since) >= limit {
        let why = format!("no players for {limit:?}");
        request_shutdown(&link, &mut progress, now, &why);
    }
}
