//! The network flags of the arena: a simulated link for the process's own traffic
//! (`--sim-latency-ms`, `--sim-jitter-ms`, `--sim-loss`, `--sim-duplicate`) and a capture of it
//! (`--capture FILE` and its limits), both on every mode that talks over the network,
//! `--no-prediction` (client modes), and the flags that start a server (`--port`,
//! `--key-file`, `--level`; `host` and `server` alike).

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use bevy::{app::TerminalCtrlCHandlerPlugin, prelude::*};
use bevy_netsync::{
    client::SimulatedLink,
    shared::{
        capture::{CaptureLimits, NetCapture},
        link::LinkConditioner,
        prediction::PredictionSettings,
    },
    transport::{
        self, DEFAULT_PORT, PrivateKey, ServerAddresses, ServerSecurity, ServerSettings,
        ServerTransport, generate_private_key, private_key_from_hex, to_hex,
    },
};
use clap::Args;

use crate::{headless, level};

/// What a server of the arena starts with, hosting (`host`) or dedicated (`server`).
#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    /// UDP port to listen on (0: any free port, printed at start).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// Secure mode: the server's private key (hex); created if missing.
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// The level to play: `arena` (small) or `field` (large: each player sees 30 m around
    /// it). Clients load the one the server plays.
    #[arg(long, default_value = level::DEFAULT_LEVEL)]
    level: String,
    #[command(flatten)]
    link: LinkArgs,
    #[command(flatten)]
    capture: CaptureArgs,
}

impl ServeArgs {
    /// Plays the chosen level on `app` and serves it on the interface `bind` to at most
    /// `max_clients` players, through the simulated link if one is asked for.
    pub fn start(
        &self,
        app: &mut App,
        bind: &str,
        public_addresses: Vec<String>,
        max_clients: usize,
    ) -> Result<ServerAddresses, String> {
        let settings = self.prepare(app, bind, public_addresses, max_clients)?;
        self.listen(app.world_mut(), &settings)
    }

    /// All of [`start`](Self::start) but the socket: the level, the key and the capture. Returns
    /// the settings for [`listen`](Self::listen).
    pub fn prepare(
        &self,
        app: &mut App,
        bind: &str,
        public_addresses: Vec<String>,
        max_clients: usize,
    ) -> Result<ServerSettings, String> {
        level::choose(app, &self.level)?;
        let security = security(self.key_file.as_deref())?;
        if self.capture.capture.is_some() && !app.is_plugin_added::<TerminalCtrlCHandlerPlugin>() {
            // A dedicated server then ends on Ctrl-C like a window does, closing the file.
            app.add_plugins(TerminalCtrlCHandlerPlugin);
        }
        self.capture.start(app, None)?;
        Ok(headless::server_settings(
            format!("{bind}:{}", self.port),
            public_addresses,
            max_clients,
            security,
        ))
    }

    /// Binds the socket and serves with `settings`, through the simulated link if one is asked
    /// for.
    pub fn listen(
        &self,
        world: &mut World,
        settings: &ServerSettings,
    ) -> Result<ServerAddresses, String> {
        let addresses =
            transport::start_server(world, settings).map_err(|error| error.to_string())?;
        self.link.apply_to_server(world);
        Ok(addresses)
    }
}

/// Secure mode with the key in `key_file` (created if missing), or unsecure mode.
fn security(key_file: Option<&Path>) -> Result<ServerSecurity, String> {
    let Some(path) = key_file else {
        return Ok(ServerSecurity::Unsecure);
    };
    if !path.exists() {
        std::fs::write(path, to_hex(&generate_private_key()))
            .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
        println!("wrote a new private key to {}", path.display());
    }
    Ok(ServerSecurity::Secure {
        private_key: read_key(path)?,
    })
}

/// Reads a server's private key (hex) from `path`.
pub fn read_key(path: &Path) -> Result<PrivateKey, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    private_key_from_hex(&text).map_err(|error| format!("{}: {error}", path.display()))
}

/// A simulated link for this process's own traffic, its capture, and whether to predict
/// (client modes).
#[derive(Args, Clone, Debug, Default)]
pub struct NetArgs {
    #[command(flatten)]
    pub link: LinkArgs,
    #[command(flatten)]
    pub capture: CaptureArgs,
    /// Do not predict your own player: see it as others do, a round trip late.
    #[arg(long)]
    no_prediction: bool,
}

/// A simulated link for this process's own traffic.
#[derive(Args, Clone, Debug, Default)]
pub struct LinkArgs {
    /// Simulated latency added to each direction, milliseconds (the round trip grows by twice
    /// this).
    #[arg(long, default_value_t = 0)]
    sim_latency_ms: u64,
    /// Simulated jitter: each packet's latency varies by up to this much, milliseconds.
    #[arg(long, default_value_t = 0)]
    sim_jitter_ms: u64,
    /// Simulated loss: the share of packets dropped in each direction, 0 to 1.
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    sim_loss: f64,
    /// Simulated duplication: the share of packets delivered twice, 0 to 1.
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    sim_duplicate: f64,
}

impl LinkArgs {
    /// The link to simulate, if any flag asks for one.
    pub fn link(&self) -> Option<LinkConditioner> {
        let link = LinkConditioner::new(self.sim_latency_ms, self.sim_jitter_ms, self.sim_loss)
            .with_duplicate(self.sim_duplicate);
        (link != LinkConditioner::PERFECT).then_some(link)
    }

    /// Applies the simulated link to a server: every datagram to and from remote players
    /// (the host's own player has no link).
    pub fn apply_to_server(&self, world: &mut World) {
        if let (Some(link), Some(mut transport)) =
            (self.link(), world.get_resource_mut::<ServerTransport>())
        {
            transport.simulate_link(link, 1);
        }
    }
}

impl NetArgs {
    /// Applies these settings to a client App (a window or a bot); `seed` varies the random
    /// choices of the simulated link between bots.
    pub fn apply(&self, app: &mut App, seed: u64) {
        if let Some(link) = self.link.link() {
            app.insert_resource(SimulatedLink::new(link, seed));
        }
        app.insert_resource(PredictionSettings {
            enabled: !self.no_prediction,
            ..default()
        });
    }
}

/// A capture of this process's traffic: every message sent and received, decoded, in a pcapng
/// file for tshark or Wireshark (see the README's "Captures").
#[derive(Args, Clone, Debug, Default)]
pub struct CaptureArgs {
    /// Record every message sent and received, decoded, to this pcapng file (tshark,
    /// Wireshark). `bots` write one file per bot, numbered: bots.pcapng becomes bots-1.pcapng,
    /// bots-2.pcapng, ...
    #[arg(long, value_name = "FILE")]
    capture: Option<PathBuf>,
    /// Largest capture file, megabytes: the capture stops there (or, with --capture-ring,
    /// keeps the newest).
    #[arg(long, value_name = "MB", default_value_t = 100)]
    capture_max_mb: u64,
    /// Stop capturing after this many seconds.
    #[arg(long, value_name = "SECS")]
    capture_seconds: Option<u64>,
    /// At the size limit keep the newest traffic, in FILE and FILE with `.old` before its
    /// extension (half the limit each), instead of stopping.
    #[arg(long)]
    capture_ring: bool,
}

impl CaptureArgs {
    /// Starts the capture on `app` if one is asked for; `bot` numbers the file of one bot.
    pub fn start(&self, app: &mut App, bot: Option<usize>) -> Result<(), String> {
        let Some(path) = &self.capture else {
            return Ok(());
        };
        let path = match bot {
            Some(number) => numbered(path, number),
            None => path.clone(),
        };
        let limits = CaptureLimits {
            max_bytes: Some(self.capture_max_mb.saturating_mul(1024 * 1024)),
            max_duration: self.capture_seconds.map(Duration::from_secs),
            ring: self.capture_ring,
        };
        let capture = NetCapture::create(path.clone(), limits)
            .map_err(|error| format!("cannot write the capture {}: {error}", path.display()))?;
        app.insert_resource(capture);
        Ok(())
    }
}

/// `path` with `-number` after its stem: `bots.pcapng` becomes `bots-3.pcapng`.
fn numbered(path: &Path, number: usize) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(extension) => format!("{stem}-{number}.{}", extension.to_string_lossy()),
        None => format!("{stem}-{number}"),
    };
    path.with_file_name(name)
}

/// A share between 0 and 1.
fn share(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is not between 0 and 1 (0.05 is 5 %)"))
    }
}
