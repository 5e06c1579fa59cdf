//! [`SendPlan`]: whether this frame sends replication, and for which tick.

use bevy::prelude::*;

use super::config::ServerConfig;
use crate::shared::tick::{NetTick, ServerTick};

/// Whether the current frame sends replication. Set first in
/// [`ServerSet::Send`](super::ServerSet::Send), read by every later step.
#[derive(Resource, Default, Debug)]
pub(crate) struct SendPlan {
    /// The tick this frame sends, or `None` when it does not send.
    pub(crate) tick: Option<NetTick>,
    /// Simulated seconds since the previous send (for the budgets).
    pub(crate) seconds: f64,
    /// Whether the per-client steps may spread over the compute pool
    /// ([`ServerConfig::parallel_send`]).
    pub(crate) parallel: bool,
    last_sent: Option<NetTick>,
}

/// Sends when the server tick advanced by the send interval since the previous send.
pub(crate) fn plan_send(
    tick: Res<ServerTick>,
    config: Res<ServerConfig>,
    fixed: Res<Time<Fixed>>,
    mut plan: ResMut<SendPlan>,
) {
    let now = tick.0;
    let interval = config.send_interval_ticks.max(1) as i32;
    let elapsed = plan.last_sent.map(|last| now.diff(last));
    plan.tick = None;
    plan.parallel = config.parallel_send;
    if elapsed.is_some_and(|elapsed| elapsed < interval && elapsed >= 0) {
        return;
    }
    let ticks = elapsed.unwrap_or(interval).clamp(1, 600);
    plan.seconds = f64::from(ticks) * fixed.timestep().as_secs_f64();
    plan.last_sent = Some(now);
    plan.tick = Some(now);
}
