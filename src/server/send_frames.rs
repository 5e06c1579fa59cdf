//! Step 7 of the send pipeline: hand each client's packed frames to renet.

use bevy::prelude::*;
use bevy_renet::RenetServer;

use super::{
    client_replication::ClientReplication, connected_client::ConnectedClient,
    local_client::LocalClient, send_plan::SendPlan, state_summary::summarize_state_frame,
    value_cache::ValueCache,
};
use crate::shared::{capture::NetCapture, channels::UNRELIABLE_CHANNEL};

/// Sends every client's outbox on the unreliable channel; a running [`NetCapture`] records
/// each frame with what it held.
pub(crate) fn send_frames(
    plan: Res<SendPlan>,
    fixed: Res<Time<Fixed>>,
    mut server: ResMut<RenetServer>,
    mut clients: Query<(&ConnectedClient, &mut ClientReplication), Without<LocalClient>>,
    mut capture: Option<ResMut<NetCapture>>,
    cache: Res<ValueCache>,
) {
    if plan.tick.is_none() {
        return;
    }
    let tick_seconds = fixed.timestep().as_secs_f64().max(1e-6);
    let mut capture = capture.as_deref_mut().filter(|capture| capture.is_active());
    for (connected, mut client) in &mut clients {
        let id = connected.id();
        client.rtt_ticks = (server.rtt(id) / tick_seconds).ceil().clamp(1.0, 600.0) as u32;
        let mut outbox = core::mem::take(&mut client.outbox);
        for frame in outbox.drain(..) {
            if let Some(capture) = capture.as_deref_mut() {
                let summary = summarize_state_frame(&client, &cache, &frame);
                capture.server_sent(id, UNRELIABLE_CHANNEL, &frame, summary.as_ref());
            }
            server.send_message(id, UNRELIABLE_CHANNEL, frame);
        }
        // The allocation stays for the next send.
        client.outbox = outbox;
    }
}
