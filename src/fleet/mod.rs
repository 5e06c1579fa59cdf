//! Dedicated servers in an [Agones](https://agones.dev) fleet (feature `fleet`).
//!
//! A fleet runs one server process per match on Kubernetes, each beside an Agones SDK server
//! (a sidecar answering gRPC on localhost). [`FleetPlugin`] keeps that sidecar informed through
//! the official `agones` crate:
//!
//! - **Ready** once the transport listens (when [`ServerAddresses`] appears), after the player
//!   capacity (`ServerSettings::max_clients`);
//! - **health pings** every [`FleetSettings::health_interval`], requested by a system of the
//!   App's own loop: a stalled game loop misses them, and Agones replaces the server;
//! - the game server's **state and labels** as the SDK server reports them: [`FleetState`] (a
//!   Bevy `States`: `OnEnter(FleetState::Allocated)` starts a match) and [`FleetGameServer`];
//! - **players** joining and leaving (Agones' alpha player tracking; player ids are the
//!   clients' ids);
//! - **Shutdown** when the game writes [`MatchOver`], or after
//!   [`FleetSettings::shutdown_when_empty_after`] without players; the App then exits, telling
//!   every client [`ServerShutdown`](crate::shared::disconnect::DisconnectReason::ServerShutdown);
//! - on **SIGTERM** (Kubernetes stopping the pod) the App exits the same way.
//!
//! The SDK client runs on a thread of its own with a small tokio runtime
//! (`sdk_worker.rs`); the game's systems only put requests on a channel and read reports from
//! another, so a slow or absent SDK server never holds a frame. Failing to reach it is logged
//! once and retried, and what it was told is told again when it comes back.
//!
//! ```no_run
//! use bevy::prelude::*;
//! use bevy_netsync::{
//!     fleet::{FleetPlugin, FleetSettings, FleetState, MatchOver},
//!     prelude::*,
//!     transport::{self, ServerSettings},
//! };
//!
//! fn start_match() {
//!     info!("allocated: players are on their way");
//! }
//!
//! fn end_match(mut over: MessageWriter<MatchOver>) {
//!     // When the game decides the match is over:
//!     over.write(MatchOver);
//! }
//!
//! let mut app = App::new();
//! app.add_plugins((MinimalPlugins, NetsyncPlugins::default()))
//!     .add_plugins(FleetPlugin { settings: FleetSettings::default() })
//!     .add_systems(OnEnter(FleetState::Allocated), start_match);
//! transport::start_server(app.world_mut(), &ServerSettings::default()).unwrap();
//! app.run();
//! ```

mod game_server;
mod health;
mod link;
mod match_end;
mod players;
mod ready;
mod reports;
mod sdk_worker;
#[cfg(unix)]
mod signals;
mod told;

use std::time::Duration;

use bevy::{prelude::*, state::app::StatesPlugin};

use crate::transport::ServerAddresses;

pub use game_server::{FleetGameServer, FleetState, SdkConnection};
pub use match_end::MatchOver;

/// Reports a dedicated server's life to the Agones SDK server beside it. See the
/// [module documentation](self).
///
/// Add it to a server App (with [`NetsyncPlugins`](crate::NetsyncPlugins)); it starts talking
/// to the SDK server at once and reports Ready when [`start_server`](crate::transport::start_server)
/// has bound its socket.
#[derive(Debug, Clone, Default)]
pub struct FleetPlugin {
    /// How the plugin talks to the SDK server and when it shuts the server down.
    pub settings: FleetSettings,
}

/// The settings of [`FleetPlugin`], a resource while it runs. Its durations are measured in
/// `Time<Real>`: the wall clock, unless a `TimeUpdateStrategy` drives it by hand.
#[derive(Resource, Debug, Clone, PartialEq)]
pub struct FleetSettings {
    /// Time between two health pings. Agones marks a server unhealthy after its fleet's
    /// `health.failureThreshold` periods of `health.periodSeconds` (3 × 5 s by default)
    /// without one. Default: 2 s.
    pub health_interval: Duration,
    /// Shut down after this long without players, once the server was allocated or had
    /// players (an unallocated server waiting in the fleet's pool is empty by design). `None`:
    /// only [`MatchOver`] ends it. Default: 60 s.
    pub shutdown_when_empty_after: Option<Duration>,
    /// The SDK server's gRPC port on localhost. `None`: the `AGONES_SDK_GRPC_PORT` variable
    /// Agones sets, else 9357 (the `agones` crate's rule).
    pub sdk_port: Option<u16>,
    /// Report players joining and leaving, and the capacity. Agones' player tracking is an
    /// alpha feature behind the `PlayerTracking` feature gate; where it is off, the SDK
    /// server refuses these calls (logged once). Default: on.
    pub track_players: bool,
    /// Exit the App on SIGTERM (Unix), telling clients the server shuts down. Turn it off when
    /// the game handles the signal itself. Default: on.
    pub exit_on_sigterm: bool,
    /// After asking for Shutdown, the App exits once the SDK server acknowledged it, or after
    /// this long at the latest (an unreachable SDK server does not keep a finished match
    /// alive). Default: 10 s.
    pub exit_timeout: Duration,
}

impl Default for FleetSettings {
    fn default() -> Self {
        Self {
            health_interval: Duration::from_secs(2),
            shutdown_when_empty_after: Some(Duration::from_secs(60)),
            sdk_port: None,
            track_players: true,
            exit_on_sigterm: true,
            exit_timeout: Duration::from_secs(10),
        }
    }
}

/// The fleet plugin's systems.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FleetSet {
    /// `PreUpdate`: reads the SDK worker's reports into [`FleetState`] (applied before
    /// `Update`), [`FleetGameServer`] and [`SdkConnection`]; writes `AppExit` on SIGTERM or
    /// once a requested Shutdown is done.
    Receive,
    /// `PostUpdate`: Ready once listening, health pings, and Shutdown on [`MatchOver`] (write
    /// it in `Update`) or when empty for too long.
    Send,
}

impl Plugin for FleetPlugin {
    fn build(&self, app: &mut App) {
        if !app.is_plugin_added::<StatesPlugin>() {
            app.add_plugins(StatesPlugin);
        }
        let linked = resource_exists::<link::SdkLink>;
        app.init_state::<FleetState>()
            .insert_resource(self.settings.clone())
            .init_resource::<FleetGameServer>()
            .init_resource::<SdkConnection>()
            .init_resource::<match_end::ShutdownProgress>()
            .init_resource::<health::HealthClock>()
            .init_resource::<players::EmptySince>()
            .add_message::<MatchOver>()
            .configure_sets(PreUpdate, FleetSet::Receive.run_if(linked))
            .configure_sets(PostUpdate, FleetSet::Send.run_if(linked))
            .add_systems(
                PreUpdate,
                (reports::receive_reports, match_end::exit_when_shut_down)
                    .chain()
                    .in_set(FleetSet::Receive),
            )
            .add_systems(
                PostUpdate,
                (
                    ready::report_ready.run_if(resource_added::<ServerAddresses>),
                    health::request_health_ping,
                    players::shut_down_when_empty,
                    match_end::end_match,
                )
                    .chain()
                    .in_set(FleetSet::Send),
            );
        if self.settings.track_players {
            app.add_observer(players::player_joined)
                .add_observer(players::player_left);
        }
        match sdk_worker::spawn(&self.settings) {
            Ok(link) => {
                app.insert_resource(link);
            }
            Err(error) => error!(
                "fleet: cannot start the Agones SDK worker ({error}); this server will not report to Agones"
            ),
        }
    }
}
