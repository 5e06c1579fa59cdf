use crate::common::*;
use bevy::prelude::*;
use bevy_netsync::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Component, Serialize, Deserialize)]
struct OnlyOnThisClient;

#[test]
fn client_with_another_protocol_is_refused_with_a_reason() {
    let mut net = net();
    let good = net.add_client();
    let odd = net.add_client_with(|app| {
        app.replicate::<OnlyOnThisClient>();
    });
    net.server_mut().world_mut().spawn((Replicated, Health(3)));
    net.run(15);

    assert_eq!(connected_clients(&mut net), 1);
    assert_eq!(client_state(&net, good), ClientState::Connected);
    assert_eq!(client_state(&net, odd), ClientState::Disconnected);
    let server_hash = net.server().world().resource::<ProtocolHash>().value();
    let client_hash = net.client(odd).world().resource::<ProtocolHash>().value();
    assert_ne!(server_hash, client_hash);
    let reason = net
        .client(odd)
        .world()
        .resource::<LastDisconnect>()
        .0
        .clone();
    assert_eq!(
        reason,
        Some(DisconnectReason::ProtocolMismatch {
            server: server_hash,
            client: client_hash,
        })
    );
    assert!(reason.unwrap().to_string().contains("protocol mismatch"));
    assert!(!net.is_attached(odd), "the server closed the connection");
    // The refused client got nothing; the good one got everything.
    assert!(client_snapshot(net.client_mut(odd)).is_empty());
    assert_converged(&mut net, good);
}
