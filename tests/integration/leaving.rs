//! A client that leaves on purpose is reported the same way on the test network as over UDP:
//! `ClientLeft` on both sides.

use std::sync::{Arc, Mutex};

use bevy::prelude::*;
use bevy_netsync::prelude::*;

use crate::common::*;

#[test]
fn a_client_that_leaves_is_reported_as_leaving_on_both_sides() {
    let mut net = net();
    let leaver = net.add_client();
    let stays = net.add_client();
    net.run(5);
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let seen = reasons.clone();
    net.server_mut()
        .add_observer(move |event: On<ClientDisconnected>| {
            seen.lock().unwrap().push(event.reason.clone());
        });
    net.disconnect(leaver);
    net.run(10);
    assert!(!net.is_attached(leaver));
    assert!(net.is_attached(stays));
    assert_eq!(*reasons.lock().unwrap(), [DisconnectReason::ClientLeft]);
    assert_eq!(
        net.client(leaver).world().resource::<LastDisconnect>().0,
        Some(DisconnectReason::ClientLeft)
    );
    assert_eq!(
        *net.client(leaver)
            .world()
            .resource::<State<ClientState>>()
            .get(),
        ClientState::Disconnected
    );
    net.reconnect(leaver);
    net.run(10);
    assert_eq!(
        *net.client(leaver)
            .world()
            .resource::<State<ClientState>>()
            .get(),
        ClientState::Connected
    );
}
