//! Secure mode over real UDP: connect tokens signed with the server's private key.

use std::time::Duration;

use crate::common::udp::*;
use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    transport::{
        self, ClientSecurity, ClientSettings, ClientUserData, ServerSecurity, ServerSettings,
        TokenIssuer, TransportError, generate_private_key, text_from_user_data, unix_now,
        user_data_from_text,
    },
};

fn secure_server() -> (App, transport::ServerAddresses, TokenIssuer) {
    let private_key = generate_private_key();
    let settings = ServerSettings {
        security: ServerSecurity::Secure { private_key },
        ..loopback_server()
    };
    let (server, addresses) = server(&settings);
    let mut issuer = TokenIssuer::new(private_key, settings.protocol_id, addresses.public.clone());
    issuer.timeout = Duration::from_secs(1);
    (server, addresses, issuer)
}

fn with_token(
    addresses: &transport::ServerAddresses,
    token: transport::ConnectToken,
) -> ClientSettings {
    ClientSettings {
        security: ClientSecurity::Secure {
            token: Box::new(token),
        },
        ..client_settings(addresses)
    }
}

#[test]
fn a_valid_token_connects_and_carries_its_user_data() {
    let (mut server, addresses, issuer) = secure_server();
    let token = issuer.issue(77, &user_data_from_text("Ada")).unwrap();
    let mut client = client(with_token(&addresses, token));
    step_until(&mut [&mut server, &mut client], 120, |apps| {
        state(apps[1]) == ClientState::Connected
    });
    let world = server.world_mut();
    let (connected, data) = world
        .query::<(&ConnectedClient, &ClientUserData)>()
        .single(world)
        .unwrap();
    assert_eq!(connected.id(), 77);
    assert_eq!(text_from_user_data(&data.0), "Ada");
}

#[test]
fn an_expired_token_is_refused() {
    let (mut server, addresses, issuer) = secure_server();
    let long_ago = unix_now() - Duration::from_secs(3600);
    let token = issuer
        .issue_at(long_ago, 5, &user_data_from_text("late"))
        .unwrap();
    let mut client = app();
    let error = transport::connect(client.world_mut(), with_token(&addresses, token)).unwrap_err();
    let TransportError::Refused(reason) = error else {
        panic!("{error}");
    };
    assert!(matches!(&reason, DisconnectReason::TokenRefused(why) if why.contains("expired")));
    assert_eq!(last_disconnect(&client), Some(reason));
    step(&mut [&mut server, &mut client]);
    assert_eq!(state(&client), ClientState::Disconnected);
    assert_eq!(connected_count(&mut server), 0);
}

#[test]
fn a_token_signed_with_another_key_gets_no_answer() {
    let (mut server, addresses, issuer) = secure_server();
    let forger = TokenIssuer {
        private_key: generate_private_key(),
        ..issuer
    };
    let token = forger.issue(6, &user_data_from_text("mallory")).unwrap();
    let mut client = client(with_token(&addresses, token));
    step_until(&mut [&mut server, &mut client], 120, |apps| {
        state(apps[1]) == ClientState::Disconnected && last_disconnect(apps[1]).is_some()
    });
    assert_eq!(
        last_disconnect(&client),
        Some(DisconnectReason::ConnectTimedOut { millis: 1000 })
    );
    assert_eq!(connected_count(&mut server), 0);
}

#[test]
fn a_token_for_another_protocol_is_refused() {
    let (_server, addresses, issuer) = secure_server();
    let other = TokenIssuer {
        protocol_id: 12345,
        ..issuer
    };
    let token = other.issue(8, &user_data_from_text("x")).unwrap();
    let mut client = app();
    let error = transport::connect(client.world_mut(), with_token(&addresses, token)).unwrap_err();
    assert!(
        matches!(
            error,
            TransportError::Refused(DisconnectReason::TokenRefused(_))
        ),
        "{error}"
    );
}
