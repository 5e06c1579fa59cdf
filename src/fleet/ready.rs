//! `report_ready`: the server can take players once its transport listens.

use bevy::prelude::*;

use super::{
    FleetSettings,
    link::{Request, SdkLink},
};
use crate::transport::ServerTransport;

/// Runs when [`ServerAddresses`](crate::transport::ServerAddresses) appears (the socket is
/// bound): reports the player capacity (the transport's `max_clients`), then Ready, once per
/// process. A server started again later only updates the capacity: Ready on an allocated
/// server would put it back in the fleet's pool.
pub(crate) fn report_ready(
    link: Res<SdkLink>,
    settings: Res<FleetSettings>,
    transport: Option<Res<ServerTransport>>,
    mut ready_sent: Local<bool>,
) {
    if let (true, Some(transport)) = (settings.track_players, transport) {
        let capacity = i64::try_from(transport.max_clients()).unwrap_or(i64::MAX);
        link.send(Request::SetPlayerCapacity(capacity));
    }
    if !*ready_sent {
        *ready_sent = true;
        info!("fleet: listening; reporting Ready");
        link.send(Request::Ready);
    }
}
