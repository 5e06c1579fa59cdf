//! A client whose acknowledgements stop: what the server keeps for it is bounded.

use bevy::prelude::*;
use bevy_netsync::{prelude::*, testing::LinkConditioner};

use crate::common::*;

/// Every entity moves and some are replaced, so every frame has news the client never
/// acknowledges.
fn churn(net: &mut bevy_netsync::testing::TestNet, entities: &mut [Entity], step: u32) {
    let world = net.server_mut().world_mut();
    for (i, entity) in entities.iter_mut().enumerate() {
        if (step + i as u32).is_multiple_of(29) {
            world.entity_mut(*entity).despawn();
            *entity = world
                .spawn((Replicated, Position(Vec3::splat(step as f32))))
                .id();
        } else if let Some(mut position) = world.get_mut::<Position>(*entity) {
            position.0.x += 0.5;
        }
    }
}

#[test]
fn a_client_that_stops_acknowledging_costs_the_server_a_bounded_amount() {
    let mut net = net();
    let client = net.add_client();
    let mut entities: Vec<Entity> = (0..12)
        .map(|i| {
            net.server_mut()
                .world_mut()
                .spawn((Replicated, Position(Vec3::splat(i as f32))))
                .id()
        })
        .collect();
    let mut step = 0;
    for _ in 0..60 {
        churn(&mut net, &mut entities, step);
        step += 1;
        net.step();
    }
    let connected = net.server_bytes_held(client).expect("the client is known");

    // Nothing the client sends arrives any more: no acknowledgements for 100 s.
    net.set_links(
        client,
        LinkConditioner::PERFECT,
        LinkConditioner::new(0, 0, 1.0),
    );
    let mut held = Vec::new();
    for _ in 0..100 {
        for _ in 0..60 {
            churn(&mut net, &mut entities, step);
            step += 1;
            net.step();
        }
        held.push(
            net.server_bytes_held(client)
                .expect("the client is still known"),
        );
    }
    // Frames wait for acknowledgement in a ring of 4,096 (68 s of one frame per tick); once it
    // has gone round, the server holds no more however long the silence lasts.
    let (growing, full, last) = (held[10], held[75], held[99]);
    assert!(
        growing > connected,
        "unacknowledged frames are kept: {connected} then {growing} bytes"
    );
    assert!(
        last <= full + full / 100,
        "memory must stop growing: {full} bytes at 75 s, {last} at 100 s ({held:?})"
    );
    // Each waiting frame remembers what it carried: its entries and up to 256 despawns, which
    // are repeated until acknowledged (here thousands pile up), about 8 KiB a frame at worst.
    assert!(
        last < 40 << 20,
        "{last} bytes for one client must stay within the ring's bound"
    );

    // Acknowledgements come back: the client catches up exactly.
    net.set_link(client, LinkConditioner::PERFECT);
    net.run(120);
    assert_eq!(client_state(&net, client), ClientState::Connected);
    assert_converged(&mut net, client);
}

/// 200 entities spawned and 200 despawned every tick while one client's acknowledgements are
/// cut (for up to 120 simulated seconds): what the server holds for that client stops growing
/// (past `MAX_PENDING_DESPAWNS`, after `DESPAWN_STALL_TICKS` without an acknowledged despawn,
/// it is disconnected with a reason, about ten seconds in; the run stops once it is gone,
/// since nothing is held for it after that), and the other client converges.
#[test]
fn a_client_that_never_acknowledges_despawns_is_bounded_then_disconnected() {
    use bevy_netsync::server::MAX_PENDING_DESPAWNS;
    let mut net = net();
    let honest = net.add_client();
    let silent = net.add_client();
    net.run(10);
    net.set_links(
        silent,
        LinkConditioner::PERFECT,
        LinkConditioner::new(0, 0, 1.0),
    );
    let reasons = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = reasons.clone();
    net.server_mut()
        .add_observer(move |event: On<ClientDisconnected>| {
            seen.lock()
                .unwrap()
                .push((event.client_id, event.reason.clone()));
        });
    let mut live: Vec<Entity> = Vec::new();
    let mut held = Vec::new();
    let mut step = 0u32;
    for _ in 0..120 {
        for _ in 0..60 {
            let world = net.server_mut().world_mut();
            for entity in live.drain(..) {
                world.entity_mut(entity).despawn();
            }
            for i in 0..200 {
                live.push(world.spawn((Replicated, Health(step * 200 + i))).id());
            }
            step += 1;
            net.step();
        }
        held.push(net.server_bytes_held(silent));
        if held.last() == Some(&None) {
            break;
        }
    }
    // Held for it: bounded while it stayed, then nothing.
    let most = held.iter().flatten().max().copied().unwrap_or(0);
    assert!(
        most < 4 * MAX_PENDING_DESPAWNS * 64 + (4 << 20),
        "{most} bytes held for the silent client"
    );
    assert!(
        held.len() <= 12,
        "disconnected within 12 s, not after {} s",
        held.len()
    );
    let silent_id = net.client_id(silent);
    let reasons = reasons.lock().unwrap();
    assert!(
        reasons.iter().any(|(id, reason)| *id == silent_id
            && matches!(reason, DisconnectReason::ConnectionLost(text) if text.contains("acknowledged no despawn"))),
        "{reasons:?}"
    );
    assert!(
        net.server_bytes_held(honest).is_some(),
        "the honest client stayed"
    );
    net.run(10);
    assert_eq!(
        client_snapshot(net.client_mut(honest)),
        server_snapshot(net.server_mut())
    );
}
