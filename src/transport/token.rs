//! Secure mode: private keys, issuing connect tokens, and moving them around as text.

use std::{
    net::SocketAddr,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bevy_renet::netcode::{ConnectToken, NETCODE_KEY_BYTES, NETCODE_USER_DATA_BYTES};

use super::TransportError;

/// A server's secret: whoever holds it can issue connect tokens. Never send it to clients.
pub type PrivateKey = [u8; NETCODE_KEY_BYTES];

/// Data a token carries to the server (for example, the player's name); see
/// [`user_data_from_text`].
pub type UserData = [u8; NETCODE_USER_DATA_BYTES];

/// A fresh random private key.
pub fn generate_private_key() -> PrivateKey {
    bevy_renet::netcode::generate_random_bytes()
}

/// Issues connect tokens for a secure server: what a game's login service (or the example's
/// command line) runs, holding the server's [`PrivateKey`].
#[derive(Clone, Debug)]
pub struct TokenIssuer {
    /// The server's private key.
    pub private_key: PrivateKey,
    /// The game's netcode protocol id (the server's
    /// [`ServerSettings::protocol_id`](super::ServerSettings::protocol_id)).
    pub protocol_id: u64,
    /// Addresses the client may connect to; the server must advertise one of them.
    pub server_addresses: Vec<SocketAddr>,
    /// How long a token can be used to start a connection.
    pub valid_for: Duration,
    /// How long either side waits without packets before dropping the connection.
    pub timeout: Duration,
}

impl TokenIssuer {
    /// An issuer with tokens valid for 5 minutes and a 5 s connection timeout.
    pub fn new(
        private_key: PrivateKey,
        protocol_id: u64,
        server_addresses: Vec<SocketAddr>,
    ) -> Self {
        Self {
            private_key,
            protocol_id,
            server_addresses,
            valid_for: Duration::from_secs(300),
            timeout: Duration::from_secs(5),
        }
    }

    /// A token for `client_id` carrying `user_data`, issued now.
    pub fn issue(
        &self,
        client_id: u64,
        user_data: &UserData,
    ) -> Result<ConnectToken, TransportError> {
        self.issue_at(unix_now(), client_id, user_data)
    }

    /// A token issued at `now` (time since the Unix epoch); tests use it to make expired tokens.
    pub fn issue_at(
        &self,
        now: Duration,
        client_id: u64,
        user_data: &UserData,
    ) -> Result<ConnectToken, TransportError> {
        ConnectToken::generate(
            now,
            self.protocol_id,
            self.valid_for.as_secs(),
            client_id,
            timeout_seconds(self.timeout),
            self.server_addresses.clone(),
            Some(user_data),
            &self.private_key,
        )
        .map_err(|error| TransportError::InvalidToken(format!("{error:?}")))
    }
}

/// How long an unsecure client's own connect token lives, from each attempt. A server in
/// unsecure mode accepts no token that expires later than this or its
/// [`handshake_timeout`](crate::server::ServerConfig::handshake_timeout), plus 30 s for clocks
/// that differ, so a handshake left pending holds netcode's slot for a minute at most,
/// whatever a client claims; clocks up to 30 s apart either way still connect.
pub const UNSECURE_TOKEN_SECONDS: u64 = 30;

/// Netcode counts timeouts in whole seconds; round up, at least one.
pub(crate) fn timeout_seconds(timeout: Duration) -> i32 {
    timeout.as_secs_f64().ceil().clamp(1.0, i32::MAX as f64) as i32
}

/// Time since the Unix epoch, as netcode timestamps tokens.
pub fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// A token as bytes (netcode's own layout).
pub fn token_to_bytes(token: &ConnectToken) -> Vec<u8> {
    let mut bytes = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = token.write(&mut bytes);
    bytes
}

/// A token from bytes made by [`token_to_bytes`].
pub fn token_from_bytes(mut bytes: &[u8]) -> Result<ConnectToken, TransportError> {
    ConnectToken::read(&mut bytes).map_err(|error| TransportError::InvalidToken(error.to_string()))
}

/// Lowercase hexadecimal, for keys and tokens in files and on command lines.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Bytes from [`to_hex`]'s text (whitespace around it is ignored).
pub fn from_hex(text: &str) -> Result<Vec<u8>, String> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) {
        return Err("odd number of hex digits".into());
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(text.get(i..i + 2).unwrap_or("zz"), 16)
                .map_err(|_| format!("not a hex digit at position {i}"))
        })
        .collect()
}

/// A private key from hex text (64 digits).
pub fn private_key_from_hex(text: &str) -> Result<PrivateKey, TransportError> {
    let bytes = from_hex(text).map_err(TransportError::InvalidKey)?;
    bytes.try_into().map_err(|bytes: Vec<u8>| {
        TransportError::InvalidKey(format!("{} bytes instead of 32", bytes.len()))
    })
}

/// User data holding `text` (up to 255 bytes, cut at a character boundary).
pub fn user_data_from_text(text: &str) -> UserData {
    let mut end = text.len().min(NETCODE_USER_DATA_BYTES - 1);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut data = [0u8; NETCODE_USER_DATA_BYTES];
    data[0] = end as u8;
    data[1..=end].copy_from_slice(&text.as_bytes()[..end]);
    data
}

/// The text stored by [`user_data_from_text`] (lossy on invalid UTF-8).
pub fn text_from_user_data(data: &UserData) -> String {
    let len = usize::from(data[0]).min(NETCODE_USER_DATA_BYTES - 1);
    String::from_utf8_lossy(&data[1..=len]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_roundtrip_through_hex() {
        let issuer = TokenIssuer::new(
            generate_private_key(),
            7,
            vec!["127.0.0.1:5000".parse().unwrap()],
        );
        let token = issuer.issue(42, &user_data_from_text("Ada")).unwrap();
        let text = to_hex(&token_to_bytes(&token));
        let back = token_from_bytes(&from_hex(&text).unwrap()).unwrap();
        assert_eq!(back.client_id, 42);
        assert_eq!(back.protocol_id, 7);
        assert_eq!(back.private_data, token.private_data);
        assert!(token_from_bytes(&[1, 2, 3]).is_err());
    }

    #[test]
    fn user_data_keeps_text_and_cuts_long_names() {
        assert_eq!(text_from_user_data(&user_data_from_text("Grace")), "Grace");
        let long = "é".repeat(200);
        let cut = text_from_user_data(&user_data_from_text(&long));
        assert!(cut.len() <= 255 && long.starts_with(&cut));
    }

    #[test]
    fn keys_parse_from_hex_or_say_why_not() {
        let key = generate_private_key();
        assert_eq!(private_key_from_hex(&to_hex(&key)).unwrap(), key);
        assert!(
            private_key_from_hex("abcd")
                .unwrap_err()
                .to_string()
                .contains("2 bytes")
        );
        assert!(private_key_from_hex("zz").is_err());
        assert_eq!(timeout_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(timeout_seconds(Duration::ZERO), 1);
    }
}
