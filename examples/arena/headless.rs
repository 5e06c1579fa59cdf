//! Building the arena's Apps that need no window: the dedicated server and bot clients. The
//! windowed host and client add rendering on top of the same pieces.

use std::time::Duration;

use bevy::{app::ScheduleRunnerPlugin, log::LogPlugin, prelude::*};
use bevy_netsync::{
    prelude::*,
    transport::{ServerSecurity, ServerSettings},
};

use crate::{ball, chat, level, movement, pickup, player, projectile, protocol, railgun};

/// Frame rate of headless Apps (the server's tick rate).
pub const HEADLESS_FPS: f64 = 60.0;

/// What every arena App has: the protocol, the level, the simulation that clients predict and
/// the ball's holding side.
pub fn shared(app: &mut App) {
    protocol::plugin(app);
    pickup::protocol(app);
    player::protocol(app);
    railgun::protocol(app);
    ball::protocol(app);
    level::plugin(app);
    movement::plugin(app);
    ball::holder::plugin(app);
}

/// The server's simulation: players, projectiles, the rail gun, the ball and chat.
pub fn simulation(app: &mut App) {
    player::plugin(app);
    projectile::plugin(app);
    railgun::plugin(app);
    pickup::plugin(app);
    ball::server::plugin(app);
    chat::plugin(app);
}

/// Server settings for the arena.
pub fn server_settings(
    bind: String,
    public_addresses: Vec<String>,
    max_clients: usize,
    security: ServerSecurity,
) -> ServerSettings {
    ServerSettings {
        bind,
        public_addresses,
        max_clients,
        security,
        protocol_id: protocol::PROTOCOL_ID,
        ..default()
    }
}

/// A dedicated server App: no window, no renderer, 60 frames per second, logging to the
/// terminal. Start the transport on it, then `run()` it.
pub fn dedicated_server() -> App {
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins.set(ScheduleRunnerPlugin::run_loop(Duration::from_secs_f64(
            1.0 / HEADLESS_FPS,
        ))),
        LogPlugin::default(),
    ));
    server_game(&mut app);
    app
}

/// The server's game on top of whatever runs the App: networking, protocol, level and
/// simulation.
pub fn server_game(app: &mut App) {
    app.add_plugins(NetsyncPlugins::default());
    shared(app);
    simulation(app);
}

/// A headless client App (a bot), driven by hand with `update()`.
pub fn headless_client() -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, NetsyncPlugins::default()));
    shared(&mut app);
    app
}
