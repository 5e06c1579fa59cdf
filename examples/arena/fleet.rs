//! The dedicated server in an Agones fleet (`server --fleet`): the fleet plugin reports to the
//! SDK server beside it, the transport starts once the SDK server said where players reach it,
//! and a match lasts a set time, after which the server shuts down and the fleet starts a
//! fresh one. See `deploy/README.md`.

use std::time::Duration;

use bevy::prelude::*;
use bevy_netsync::{
    fleet::{FleetGameServer, FleetPlugin, FleetSettings, FleetState, MatchOver},
    prelude::*,
    transport::ServerSettings,
};
use clap::Args;

use crate::net_args::ServeArgs;

/// The name of the game's port in the Fleet (`deploy/agones/fleet.yaml`).
pub const GAME_PORT_NAME: &str = "game";

/// The `server` flags for running in a fleet.
#[derive(Args, Clone, Debug)]
pub struct FleetArgs {
    /// Run in an Agones fleet: listen once the Agones SDK server (port from
    /// AGONES_SDK_GRPC_PORT) gave the address players reach (the port named `game`; unless
    /// --public-addr says), report Ready, health and players, and shut down when the match is
    /// over.
    #[arg(long)]
    fleet: bool,
    /// With --fleet: how long a match lasts, minutes, from the allocation or the first
    /// player, whichever comes first.
    #[arg(long, default_value_t = 10.0, value_parser = positive)]
    match_minutes: f64,
    /// With --fleet: shut down after this many seconds without players, once allocated or
    /// once someone played.
    #[arg(long, default_value_t = 60)]
    empty_shutdown_secs: u64,
}

impl FleetArgs {
    /// Whether `--fleet` was given.
    pub fn enabled(&self) -> bool {
        self.fleet
    }

    /// Makes `app` a member of a fleet, if `--fleet` asks for it.
    pub fn apply(&self, app: &mut App) {
        if !self.fleet {
            return;
        }
        let settings = FleetSettings {
            shutdown_when_empty_after: Some(Duration::from_secs(self.empty_shutdown_secs)),
            ..default()
        };
        plugin(
            app,
            settings,
            Duration::from_secs_f64(self.match_minutes * 60.0),
        );
    }
}

/// The length of the match, when it started (game time), and whether it is over: one match
/// per server, the fleet starts the next one on a fresh server.
#[derive(Resource, Debug)]
pub struct MatchClock {
    pub length: Duration,
    pub started: Option<Duration>,
    pub over: bool,
}

/// Adds the fleet plugin with `settings`, and ends each match after `length`.
pub fn plugin(app: &mut App, settings: FleetSettings, length: Duration) {
    app.add_plugins(FleetPlugin { settings })
        .insert_resource(MatchClock {
            length,
            started: None,
            over: false,
        })
        .add_systems(Update, end_match_on_time);
}

/// Starts the clock at the allocation or the first player, and writes [`MatchOver`] when it
/// runs out.
fn end_match_on_time(
    state: Res<State<FleetState>>,
    players: Query<(), With<ConnectedClient>>,
    time: Res<Time>,
    mut clock: ResMut<MatchClock>,
    mut over: MessageWriter<MatchOver>,
) {
    let now = time.elapsed();
    if clock.over {
        return;
    }
    let Some(started) = clock.started else {
        if *state.get() == FleetState::Allocated || !players.is_empty() {
            info!("match started; it lasts {:?}", clock.length);
            clock.started = Some(now);
        }
        return;
    };
    if now.saturating_sub(started) >= clock.length {
        info!("match over after {:?}", clock.length);
        over.write(MatchOver);
        clock.over = true;
    }
}

/// A server waiting for its public address before it binds its socket.
#[derive(Resource)]
struct ServeWhenPlaced {
    serve: ServeArgs,
    settings: ServerSettings,
}

/// Starts the transport with `settings` once the SDK server reported the public address (the
/// node's address and the host port named [`GAME_PORT_NAME`]): netcode accepts only clients
/// whose token names it, so it must be known before listening, and Ready follows.
pub fn serve_when_placed(app: &mut App, serve: ServeArgs, settings: ServerSettings) {
    app.insert_resource(ServeWhenPlaced { serve, settings })
        .add_systems(
            First,
            listen_when_placed.run_if(resource_exists::<ServeWhenPlaced>),
        );
}

fn listen_when_placed(world: &mut World) {
    let record = world.resource::<FleetGameServer>();
    let Some(public) = record.public_address(GAME_PORT_NAME) else {
        return;
    };
    let Some(ServeWhenPlaced {
        serve,
        mut settings,
    }) = world.remove_resource::<ServeWhenPlaced>()
    else {
        return;
    };
    settings.public_addresses = vec![public];
    match serve.listen(world, &settings) {
        Ok(addresses) => println!(
            "arena server listening on port {} (public: {:?})",
            addresses.local.port(),
            addresses.public
        ),
        Err(error) => {
            error!("arena: cannot serve: {error}");
            world.write_message(AppExit::error());
        }
    }
}

/// A number of minutes above zero.
fn positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(minutes) if minutes > 0.0 && minutes.is_finite() => Ok(minutes),
        _ => Err(format!("`{text}` is not a number of minutes above 0")),
    }
}
