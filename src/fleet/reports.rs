//! `receive_reports`: what the SDK worker learned, into the game's resources and state.

use bevy::prelude::*;

use super::{
    game_server::{FleetGameServer, FleetState, SdkConnection},
    link::{Report, SdkLink},
    match_end::ShutdownProgress,
};

/// Takes every report waiting (never waits for one): the SDK server's record into
/// [`FleetGameServer`] and [`FleetState`], the connection into [`SdkConnection`], a Shutdown's
/// answer into [`ShutdownProgress`]; SIGTERM writes `AppExit`.
pub(crate) fn receive_reports(
    mut link: ResMut<SdkLink>,
    mut game_server: ResMut<FleetGameServer>,
    mut connection: ResMut<SdkConnection>,
    mut progress: ResMut<ShutdownProgress>,
    state: Res<State<FleetState>>,
    mut next_state: ResMut<NextState<FleetState>>,
    mut exit: MessageWriter<AppExit>,
) {
    let mut latest = None;
    while let Some(report) = link.next_report() {
        match report {
            Report::Connected => {
                connection.set_if_neq(SdkConnection::Connected);
            }
            Report::Unreachable(why) => {
                connection.set_if_neq(SdkConnection::Unreachable(why));
            }
            Report::GameServer(record) => {
                let record = FleetGameServer::from_sdk(&record);
                if record.state != game_server.state {
                    info!("fleet: the game server is {}", record.state);
                }
                latest = Some(FleetState::from_agones(&record.state));
                game_server.set_if_neq(record);
            }
            Report::ShutdownAnswered(answer) => {
                if let Err(why) = &answer {
                    warn!("fleet: the SDK server refused Shutdown ({why}); exiting anyway");
                }
                progress.answered = true;
            }
            Report::Terminate => {
                info!("fleet: SIGTERM received; telling the clients and exiting");
                exit.write(AppExit::Success);
            }
        }
    }
    if let Some(latest) = latest.filter(|latest| latest != state.get()) {
        next_state.set(latest);
    }
}
