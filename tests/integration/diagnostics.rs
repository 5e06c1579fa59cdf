//! The client's figures in Bevy's `DiagnosticsStore`: recorded ten times a second, and what
//! they say matches the world.

use bevy::diagnostic::DiagnosticsStore;
use bevy_netsync::client::NetsyncDiagnostics;

use crate::common::*;
use bevy_netsync::prelude::*;

#[test]
fn client_figures_come_ten_times_a_second_and_count_what_is_held() {
    let mut net = net();
    let client = net.add_client();
    for health in 0..5 {
        net.spawn_on_server((Replicated, Health(health)));
    }
    net.run(60);
    assert_converged(&mut net, client);
    // Two more seconds of 60 steps: about twenty recordings, not 120.
    let before = recorded(&net, client);
    net.run(120);
    let recordings = recorded(&net, client) - before;
    assert!(
        (18..=22).contains(&recordings),
        "{recordings} recordings in 120 steps"
    );
    let store = net.client(client).world().resource::<DiagnosticsStore>();
    let held = store
        .get(&NetsyncDiagnostics::ENTITIES_HELD)
        .and_then(|diagnostic| diagnostic.value());
    assert_eq!(held, Some(server_snapshot(net.server_mut()).len() as f64));
}

/// Recordings of the round trip so far (each recording measures it once).
fn recorded(net: &bevy_netsync::testing::TestNet, client: usize) -> usize {
    net.client(client)
        .world()
        .resource::<DiagnosticsStore>()
        .get(&NetsyncDiagnostics::RTT_MS)
        .map_or(0, |diagnostic| diagnostic.measurements().count())
}
