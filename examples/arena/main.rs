//! The bevy_netsync arena: a small 3D shooter that shows the whole plugin at work.
//!
//! ```text
//! cargo run --example arena                       # host: server + your player in a window
//! cargo run --example arena -- client --connect 192.168.1.20:5000 --name Ada
//! cargo run --example arena -- server --port 5000 # dedicated, headless
//! cargo run --example arena -- bots --count 8 --duration 30
//! cargo run --example arena -- server --capture server.pcapng   # then: tshark -r server.pcapng
//! cargo run --example arena -- server --fleet --match-minutes 5  # in an Agones fleet: deploy/
//! ```

mod ball;
mod beams;
mod bots;
mod chat;
mod fleet;
mod headless;
mod hud;
mod level;
mod movement;
mod net_args;
mod pickup;
mod player;
mod projectile;
mod protocol;
mod railgun;
mod render;
mod status_line;
mod windowed;

use std::{path::PathBuf, process::ExitCode, time::Duration};

use bevy::prelude::*;
use bevy_netsync::{
    overlay::NetsyncOverlay,
    prelude::*,
    transport::{
        self, ClientSecurity, ClientSettings, DEFAULT_PORT, TokenIssuer, from_hex,
        random_client_id, to_hex, token_from_bytes, token_to_bytes, user_data_from_text,
    },
};
use clap::{Args, Parser, Subcommand};

use crate::{
    fleet::FleetArgs,
    net_args::{NetArgs, ServeArgs, read_key},
    player::HostName,
    protocol::PROTOCOL_ID,
    windowed::ScreenshotPlan,
};

#[derive(Parser)]
#[command(
    name = "arena",
    about = "The bevy_netsync arena: host, join, serve or load-test a small multiplayer shooter.",
    long_about = "The bevy_netsync arena: a small server-authoritative 3D shooter.\n\n\
        Without a mode it starts `host`: a server with your own player in a window. Others join \
        with `client --connect <your address>:<port>`. `server` runs headless (no window, no GPU), \
        `bots` connects simulated players and prints what they saw, `token` issues connect tokens \
        for a server started with `--key-file` (secure mode). `server --fleet` runs one match in \
        an Agones fleet (see deploy/README.md).\n\n\
        Controls: WASD or arrows move, the mouse aims, left click or space fires, F picks up and \
        throws the ball, Enter opens the chat, F3 shows the network graphs."
)]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
}

#[derive(Subcommand)]
enum Mode {
    /// Serve and play in one window (a listen server). The default.
    Host {
        /// Your player's name.
        #[arg(long, default_value = "host")]
        name: String,
        /// Most players at once, you included.
        #[arg(long, default_value_t = 16)]
        max_clients: usize,
        #[command(flatten)]
        serve: ServeArgs,
        #[command(flatten)]
        screenshot: ScreenshotArgs,
    },
    /// Join a server in a window.
    Client {
        /// Server address.
        #[arg(long, default_value_t = format!("127.0.0.1:{DEFAULT_PORT}"))]
        connect: String,
        /// Your player's name (unsecure servers).
        #[arg(long, default_value = "player")]
        name: String,
        /// Connect token for a secure server: hex text, or @FILE to read it from a file.
        #[arg(long)]
        token: Option<String>,
        #[command(flatten)]
        net: NetArgs,
        #[command(flatten)]
        screenshot: ScreenshotArgs,
    },
    /// A dedicated server: no window, no GPU.
    Server {
        /// Interface to bind.
        #[arg(long, default_value = "0.0.0.0")]
        bind: String,
        /// Address clients use to reach this server, when not the bound one (behind NAT, a
        /// load balancer, a relay or in a container). Repeat for several.
        #[arg(long = "public-addr")]
        public_addresses: Vec<String>,
        /// Most players at once.
        #[arg(long, default_value_t = 32)]
        max_clients: usize,
        #[command(flatten)]
        serve: ServeArgs,
        #[command(flatten)]
        fleet: FleetArgs,
    },
    /// Headless simulated players, for load tests and demos; prints a summary at the end.
    Bots {
        /// How many bots.
        #[arg(long, default_value_t = 4)]
        count: usize,
        /// Server address.
        #[arg(long, default_value_t = format!("127.0.0.1:{DEFAULT_PORT}"))]
        connect: String,
        /// How long they play, seconds.
        #[arg(long, default_value_t = 30.0)]
        duration: f64,
        /// Print the summary as one JSON object.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Issue a connect token for a secure server (what a login service would do).
    Token {
        /// The server's private key file.
        #[arg(long)]
        key_file: PathBuf,
        /// Address the client connects to (one of the server's public addresses).
        #[arg(long, default_value_t = format!("127.0.0.1:{DEFAULT_PORT}"))]
        server: String,
        /// Player name carried in the token.
        #[arg(long, default_value = "player")]
        name: String,
        /// Client id (random if not given).
        #[arg(long)]
        client_id: Option<u64>,
        /// How long the token can be used to connect, seconds.
        #[arg(long, default_value_t = 300)]
        valid_secs: u64,
    },
}

#[derive(Args, Clone)]
struct ScreenshotArgs {
    /// Save a screenshot of the window to this PNG file, then exit.
    #[arg(long)]
    screenshot: Option<PathBuf>,
    /// Exit after this many seconds (default with --screenshot: 6).
    #[arg(long)]
    exit_after: Option<f64>,
    /// Start with the network overlay shown (F3 shows and hides it).
    #[arg(long)]
    overlay: bool,
}

impl ScreenshotArgs {
    /// Shows the overlay at start if asked.
    fn apply(&self, app: &mut App) {
        if self.overlay {
            app.world_mut().resource_mut::<NetsyncOverlay>().visible = true;
        }
    }

    fn plan(&self) -> Option<ScreenshotPlan> {
        let exit_after = self.exit_after.or(self.screenshot.as_ref().map(|_| 6.0))?;
        Some(ScreenshotPlan::new(
            self.screenshot.clone(),
            Duration::from_secs_f64(exit_after),
        ))
    }
}

fn main() -> ExitCode {
    // Without a mode, `host` with the defaults its flags declare.
    let mode = Cli::parse().mode.unwrap_or_else(|| {
        Cli::parse_from(["arena", "host"])
            .mode
            .expect("`host` is a mode")
    });
    match run(mode) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("arena: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(mode: Mode) -> Result<(), String> {
    match mode {
        Mode::Host {
            name,
            max_clients,
            serve,
            screenshot,
        } => {
            windowed::check_display()?;
            let mut app = windowed::window_app("bevy_netsync arena: host");
            headless::simulation(&mut app);
            app.insert_resource(HostName(name));
            let addresses = serve.start(&mut app, "0.0.0.0", Vec::new(), max_clients)?;
            spawn_local_client(app.world_mut());
            println!(
                "hosting on UDP port {}; others join with:\n  cargo run --example arena -- client --connect <this machine's address>:{}",
                addresses.local.port(),
                addresses.local.port()
            );
            screenshot.apply(&mut app);
            if let Some(plan) = screenshot.plan() {
                app.insert_resource(plan);
            }
            app.run();
        }
        Mode::Client {
            connect,
            name,
            token,
            net,
            screenshot,
        } => {
            windowed::check_display()?;
            let mut app = windowed::window_app("bevy_netsync arena");
            net.apply(&mut app, random_client_id());
            screenshot.apply(&mut app);
            net.capture.start(&mut app, None)?;
            if let Some(plan) = screenshot.plan() {
                app.insert_resource(plan);
            }
            let security = match token {
                Some(token) => ClientSecurity::Secure {
                    token: Box::new(read_token(&token)?),
                },
                None => ClientSecurity::Unsecure {
                    client_id: random_client_id(),
                    user_data: Some(user_data_from_text(&name)),
                },
            };
            let settings = ClientSettings {
                security,
                protocol_id: PROTOCOL_ID,
                reconnect: Some(default()),
                ..ClientSettings::unsecure(connect)
            };
            // A refused start (bad address, expired token) shows on screen, not only here.
            if let Err(error) = transport::connect(app.world_mut(), settings) {
                eprintln!("arena: {error}");
                if app.world().resource::<LastDisconnect>().0.is_none() {
                    app.world_mut().resource_mut::<LastDisconnect>().0 =
                        Some(DisconnectReason::Transport(error.to_string()));
                }
            }
            app.run();
        }
        Mode::Server {
            bind,
            public_addresses,
            max_clients,
            serve,
            fleet,
        } => {
            let mut app = headless::dedicated_server();
            status_line::plugin(&mut app);
            fleet.apply(&mut app);
            if fleet.enabled() && public_addresses.is_empty() {
                // Players reach the node at a port Agones picks: the SDK server tells which.
                let settings = serve.prepare(&mut app, &bind, Vec::new(), max_clients)?;
                fleet::serve_when_placed(&mut app, serve, settings);
                println!("arena server waiting for the Agones SDK server to give its address");
            } else {
                let addresses = serve.start(&mut app, &bind, public_addresses, max_clients)?;
                println!(
                    "arena server listening on port {} (public: {:?})",
                    addresses.local.port(),
                    addresses.public
                );
            }
            // A headless server is a small App: one thread is faster than many on few cores.
            bevy_netsync::single_threaded(&mut app);
            app.run();
        }
        Mode::Bots {
            count,
            connect,
            duration,
            json,
            net,
        } => bots::run(
            count,
            &connect,
            Duration::from_secs_f64(duration),
            json,
            &net,
        )?,
        Mode::Token {
            key_file,
            server,
            name,
            client_id,
            valid_secs,
        } => {
            let key = read_key(&key_file)?;
            let address = transport::resolve(&server).map_err(|error| error.to_string())?;
            let mut issuer = TokenIssuer::new(key, PROTOCOL_ID, vec![address]);
            issuer.valid_for = Duration::from_secs(valid_secs);
            let token = issuer
                .issue(
                    client_id.unwrap_or_else(random_client_id),
                    &user_data_from_text(&name),
                )
                .map_err(|error| error.to_string())?;
            println!("{}", to_hex(&token_to_bytes(&token)));
        }
    }
    Ok(())
}

fn read_token(token: &str) -> Result<transport::ConnectToken, String> {
    let text = match token.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read token file {path}: {error}"))?,
        None => token.to_string(),
    };
    let bytes = from_hex(&text).map_err(|error| format!("token: {error}"))?;
    token_from_bytes(&bytes).map_err(|error| error.to_string())
}
