use crate::common::*;
use bevy::prelude::*;
use bevy_netsync::{prelude::*, shared::channels};

/// Connects a misbehaving client and a good one, lets `misbehave` act, and checks that only
/// the misbehaving one is dropped, with the expected reason, while the good one keeps up.
fn only_the_offender_is_dropped(
    misbehave: impl FnOnce(&mut bevy_netsync::testing::TestNet, usize),
    expected: impl Fn(&DisconnectReason) -> bool,
) {
    let mut net = net();
    let offender = net.add_client();
    let good = net.add_client();
    let entity = net.spawn_on_server((Replicated, Health(1)));
    net.run(5);
    assert_eq!(connected_clients(&mut net), 2);

    let disconnects = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = disconnects.clone();
    net.server_mut()
        .add_observer(move |event: On<ClientDisconnected>| {
            seen.lock().unwrap().push(event.reason.clone());
        });

    misbehave(&mut net, offender);
    for tick in 0..20 {
        net.server_mut()
            .world_mut()
            .get_mut::<Health>(entity)
            .unwrap()
            .0 = 100 + tick;
        net.step();
    }

    assert_eq!(connected_clients(&mut net), 1);
    assert!(!net.is_attached(offender));
    let logged = disconnects.lock().unwrap().clone();
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert!(expected(&logged[0]), "server reason: {:?}", logged[0]);
    let told = net
        .client(offender)
        .world()
        .resource::<LastDisconnect>()
        .0
        .clone();
    assert_eq!(told.as_ref(), Some(&logged[0]), "the client was told why");
    assert_eq!(client_state(&net, offender), ClientState::Disconnected);

    assert_eq!(client_state(&net, good), ClientState::Connected);
    assert_converged(&mut net, good);
    let state = &client_snapshot(net.client_mut(good))[&entity.to_bits()];
    assert_eq!(state.health, Some(Health(119)));
}

#[test]
fn undecodable_bytes_disconnect_only_the_sender() {
    only_the_offender_is_dropped(
        |net, client| net.send_raw(client, channels::RELIABLE_CHANNEL, vec![0xee, 1, 2, 3]),
        |reason| matches!(reason, DisconnectReason::MalformedData(text) if text.contains("kind 238")),
    );
}

#[test]
fn unknown_message_index_disconnects_only_the_sender() {
    only_the_offender_is_dropped(
        |net, client| {
            net.send_raw(client, channels::UNRELIABLE_CHANNEL, vec![2, 77, 0]);
        },
        |reason| matches!(reason, DisconnectReason::MalformedData(text) if text.contains("unknown message index 77")),
    );
}

#[test]
fn message_that_does_not_decode_disconnects_only_the_sender() {
    // Index 0 is `Chat(String)`: a string claiming 200 bytes with 2 present.
    only_the_offender_is_dropped(
        |net, client| {
            net.send_raw(
                client,
                channels::RELIABLE_CHANNEL,
                vec![2, 0, 200, b'h', b'i'],
            )
        },
        |reason| matches!(reason, DisconnectReason::MalformedData(text) if text.contains("Chat")),
    );
}

#[test]
fn oversized_message_disconnects_only_the_sender() {
    only_the_offender_is_dropped(
        |net, client| net.send_raw(client, channels::RELIABLE_CHANNEL, vec![2; 200_000]),
        |reason| matches!(reason, DisconnectReason::MessageTooLarge { size: 200_000, limit } if *limit == 64 * 1024),
    );
}

#[test]
fn second_handshake_disconnects_only_the_sender() {
    only_the_offender_is_dropped(
        |net, client| {
            let hash = net
                .client(client)
                .world()
                .resource::<ProtocolHash>()
                .value();
            net.send_raw(
                client,
                channels::RELIABLE_CHANNEL,
                bevy_netsync::testing::wire::encode_hello(hash),
            );
        },
        |reason| matches!(reason, DisconnectReason::MalformedData(text) if text.contains("second handshake")),
    );
}

#[test]
fn bogus_acks_are_harmless() {
    let mut net = net();
    let client = net.add_client();
    let entity = net.spawn_on_server((Replicated, Health(1)));
    net.run(5);
    // Acks for frames never sent (and huge ids) are ignored, not trusted.
    net.send_raw(
        client,
        channels::UNRELIABLE_CHANNEL,
        bevy_netsync::testing::wire::encode_update(
            &[
                bevy_netsync::testing::wire::AckRange {
                    newest: u16::MAX,
                    len: 4_000,
                },
                bevy_netsync::testing::wire::AckRange {
                    newest: 123,
                    len: 0,
                },
            ],
            &[],
        ),
    );
    net.server_mut()
        .world_mut()
        .get_mut::<Health>(entity)
        .unwrap()
        .0 = 9;
    net.run(5);
    assert_eq!(connected_clients(&mut net), 1);
    assert_converged(&mut net, client);
}

#[test]
fn a_flood_of_messages_disconnects_only_the_flooder() {
    only_the_offender_is_dropped(
        |net, client| {
            // Two seconds' worth of the default allowance at once, and more.
            let empty_update = bevy_netsync::testing::wire::encode_update(&[], &[]);
            for _ in 0..2_500 {
                net.send_raw(client, channels::UNRELIABLE_CHANNEL, empty_update.clone());
            }
        },
        |reason| matches!(reason, DisconnectReason::Flooding(text) if text.contains("messages per second")),
    );
}

#[test]
fn a_flood_of_bytes_disconnects_only_the_flooder() {
    only_the_offender_is_dropped(
        |net, client| {
            // Large `Chat` lines within the size limit: 5 × 60 KB is above 2 s of 128 KiB/s.
            for _ in 0..5 {
                let mut text = Vec::new();
                bevy_netsync::shared::codec::encode_serde(&Chat("x".repeat(60_000)), &mut text)
                    .unwrap();
                let frame = bevy_netsync::testing::wire::encode_message(
                    bevy_netsync::testing::wire::client_kind::MESSAGE,
                    0,
                    &text,
                );
                net.send_raw(client, channels::RELIABLE_CHANNEL, frame);
            }
        },
        |reason| matches!(reason, DisconnectReason::Flooding(text) if text.contains("bytes per second")),
    );
}

#[test]
fn an_input_frame_with_too_many_inputs_disconnects_only_the_sender() {
    only_the_offender_is_dropped(
        |net, client| {
            let inputs = vec![Vec::new(); 40];
            let frame = bevy_netsync::testing::wire::encode_update(
                &[],
                &[bevy_netsync::testing::wire::InputsOut {
                    index: 0,
                    newest: 1,
                    inputs: &inputs,
                }],
            );
            net.send_raw(client, channels::UNRELIABLE_CHANNEL, frame);
        },
        |reason| matches!(reason, DisconnectReason::MalformedData(text) if text.contains("inputs")),
    );
}

#[test]
fn deeply_nested_payloads_are_refused_without_overflowing_the_stack() {
    only_the_offender_is_dropped(
        |net, client| {
            // `Some(Some(Some(...)))` 60,000 levels deep: one byte per level.
            let mut payload = vec![1u8; 60_000];
            payload.push(0);
            let frame = bevy_netsync::testing::wire::encode_message(
                bevy_netsync::testing::wire::client_kind::MESSAGE,
                2,
                &payload,
            );
            net.send_raw(client, channels::RELIABLE_CHANNEL, frame);
        },
        |reason| matches!(reason, DisconnectReason::MalformedData(text) if text.contains("Nested")),
    );
}

#[test]
fn a_client_being_disconnected_is_gone_in_time_however_much_junk_it_sends() {
    let mut net = net();
    let offender = net.add_client();
    let good = net.add_client();
    net.run(5);
    let grace = net
        .server()
        .world()
        .resource::<bevy_netsync::server::ServerConfig>()
        .disconnect_grace_frames as usize;
    // The offender never hears that it is disconnected, so it keeps sending as it likes.
    let deaf = bevy_netsync::testing::LinkConditioner {
        loss: 1.0,
        ..bevy_netsync::testing::LinkConditioner::PERFECT
    };
    net.set_links(
        offender,
        deaf,
        bevy_netsync::testing::LinkConditioner::PERFECT,
    );
    let mut steps = 0;
    while net.is_attached(offender) {
        // Junk every frame: it must neither keep the connection open nor make the server
        // repeat the reason.
        for _ in 0..10 {
            net.send_raw(offender, channels::RELIABLE_CHANNEL, vec![0xee, 1, 2, 3]);
        }
        net.step();
        steps += 1;
        assert!(
            steps <= grace + 3,
            "still connected after {steps} frames of junk"
        );
    }
    assert_eq!(client_state(&net, good), ClientState::Connected);
}
