//! The network flags of the arena: a simulated link for the process's own traffic
//! (`--sim-latency-ms`, `--sim-jitter-ms`, `--sim-loss`, `--sim-duplicate`; every mode that
//! talks over the network) and `--no-prediction` (client modes).

use bevy::prelude::*;
use bevy_netsync::{
    client::SimulatedLink, shared::link::LinkConditioner, shared::prediction::PredictionSettings,
    transport::ServerTransport,
};
use clap::Args;

/// A simulated link for this process's own traffic, and whether to predict (client modes).
#[derive(Args, Clone, Debug, Default)]
pub struct NetArgs {
    #[command(flatten)]
    pub link: LinkArgs,
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
