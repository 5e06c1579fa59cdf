//! Step 7 of the send pipeline: hand each client's packed frames to renet.

use bevy::prelude::*;
use bevy_renet::RenetServer;

use super::{
    client_replication::ClientReplication, connected_client::ConnectedClient,
    local_client::LocalClient, send_plan::SendPlan,
};
use crate::shared::channels::UNRELIABLE_CHANNEL;

/// Sends every client's outbox on the unreliable channel.
pub(crate) fn send_frames(
    plan: Res<SendPlan>,
    fixed: Res<Time<Fixed>>,
    mut server: ResMut<RenetServer>,
    mut clients: Query<(&ConnectedClient, &mut ClientReplication), Without<LocalClient>>,
) {
    if plan.tick.is_none() {
        return;
    }
    let tick_seconds = fixed.timestep().as_secs_f64().max(1e-6);
    for (connected, mut client) in &mut clients {
        let id = connected.id();
        client.rtt_ticks = (server.rtt(id) / tick_seconds).ceil().clamp(1.0, 600.0) as u32;
        for frame in client.outbox.drain(..) {
            server.send_message(id, UNRELIABLE_CHANNEL, frame);
        }
    }
}
