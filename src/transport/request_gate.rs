//! [`RequestGate`]: which connection requests the server hands to netcode.
//!
//! A request that passes the shape check still costs netcode a decryption and, when it fails,
//! a line in the log; and every request netcode accepts holds a pending handshake until the
//! token's expiry, which an unsecure client picks itself. The gate opens the request's private
//! token with the server's key first (a forged one is dropped and counted), and in unsecure
//! mode refuses tokens that expire later than the handshake timeout allows, so a pending
//! handshake never outlives it by more than a few seconds, whatever the token claims.

use std::time::Duration;

use chacha20poly1305::{AeadInPlace, Key, KeyInit, Tag, XChaCha20Poly1305, XNonce};

use super::{
    datagram_filter::{CONNECTION_REQUEST_BYTES, MAC_BYTES, RequestCheck},
    seal::ConnectionKey,
    token::{PrivateKey, UNSECURE_TOKEN_SECONDS, unix_now},
};

/// How long an unsecure client's own connect token lives: the server accepts no longer one.
const UNSECURE_TOKEN_LIFETIME: Duration = Duration::from_secs(UNSECURE_TOKEN_SECONDS);
/// Clock difference tolerated between an unsecure client and the server (a client behind by
/// less than the token's lifetime, ahead by less than this).
const CLOCK_SLACK: Duration = Duration::from_secs(30);
/// Where the private token starts in a connection request, and its nonce.
const TOKEN_AT: usize = CONNECTION_REQUEST_BYTES - 1024;
const NONCE_AT: usize = TOKEN_AT - 24;

/// The server's rules for connection requests.
#[derive(Clone, Debug)]
pub(crate) struct RequestGate {
    pub(crate) protocol_id: u64,
    /// The key tokens are sealed with (all zeros in unsecure mode, as netcode does).
    pub(crate) private_key: PrivateKey,
    pub(crate) unsecure: bool,
    /// How long a handshake may take, from request to hello.
    pub(crate) handshake_timeout: Duration,
}

impl RequestGate {
    /// What the shape check compares a request's clear fields with, now.
    pub(crate) fn check(&self) -> RequestCheck {
        let now = unix_now();
        let latest_expiry = if self.unsecure {
            (now + self.handshake_timeout.max(UNSECURE_TOKEN_LIFETIME) + CLOCK_SLACK).as_secs()
        } else {
            u64::MAX
        };
        RequestCheck {
            protocol_id: self.protocol_id,
            now_unix: now.as_secs(),
            latest_expiry,
        }
    }

    /// The client-to-server key of the private token of `request` (a request that passed the
    /// shape check), if the token opens with this server's key and reads as netcode will read
    /// it; `None` for a forged or malformed token.
    pub(crate) fn token_key(&self, request: &[u8]) -> Option<ConnectionKey> {
        if request.len() != CONNECTION_REQUEST_BYTES {
            return None;
        }
        // Additional data: version, protocol id and expiry, as they follow the prefix.
        let additional = &request[1..NONCE_AT];
        let nonce = XNonce::from_slice(&request[NONCE_AT..TOKEN_AT]);
        let mut token = [0u8; 1024];
        token.copy_from_slice(&request[TOKEN_AT..]);
        let (sealed, tag) = token.split_at_mut(1024 - MAC_BYTES);
        XChaCha20Poly1305::new(Key::from_slice(&self.private_key))
            .decrypt_in_place_detached(nonce, additional, sealed, Tag::from_slice(tag))
            .ok()?;
        client_to_server_key(sealed)
    }

    /// Whether the private token of `request` opens with this server's key.
    #[cfg(test)]
    pub(crate) fn token_opens(&self, request: &[u8]) -> bool {
        self.token_key(request).is_some()
    }
}

/// The client-to-server key in an opened private token: client id, timeout, the server
/// addresses (a count, then each as a type byte and 6 or 18 bytes; netcode reads 32 at most),
/// then the key.
fn client_to_server_key(token: &[u8]) -> Option<ConnectionKey> {
    let mut at = 8 + 4;
    let count = u32::from_le_bytes(token.get(at..at + 4)?.try_into().ok()?) as usize;
    at += 4;
    for _ in 0..count.min(32) {
        at += 1 + match *token.get(at)? {
            0 => 0,
            1 => 4 + 2,
            2 => 16 + 2,
            _ => return None,
        };
    }
    token.get(at..at + 32)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use renetcode::{ClientAuthentication, ConnectToken, NetcodeClient};

    use super::*;
    use crate::transport::datagram_filter::{self, Refusal};

    const PROTOCOL: u64 = 42;

    /// The connection request a netcode client sends with a token for `key`, `expiry` seconds
    /// from now.
    fn request(key: &PrivateKey, expiry: u64) -> Vec<u8> {
        let server: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let token =
            ConnectToken::generate(unix_now(), PROTOCOL, expiry, 9, 5, vec![server], None, key)
                .unwrap();
        let mut client = NetcodeClient::new(
            unix_now(),
            ClientAuthentication::Secure {
                connect_token: token,
            },
        )
        .unwrap();
        let (bytes, _) = client.update(Duration::ZERO).unwrap();
        bytes.to_vec()
    }

    fn gate(unsecure: bool) -> RequestGate {
        RequestGate {
            protocol_id: PROTOCOL,
            private_key: if unsecure { [0; 32] } else { [7; 32] },
            unsecure,
            handshake_timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn a_real_request_passes_and_a_forged_token_does_not() {
        let secure = gate(false);
        let honest = request(&secure.private_key, 300);
        assert!(datagram_filter::from_client(&honest, &secure.check()).is_ok());
        assert!(secure.token_opens(&honest));
        // Another server's key, and one flipped bit.
        assert!(!secure.token_opens(&request(&[8; 32], 300)));
        let mut flipped = honest.clone();
        flipped[600] ^= 1;
        assert!(!secure.token_opens(&flipped));
        // The clear fields are bound to the token: a changed expiry does not open.
        let mut later = honest;
        later[22] ^= 1;
        assert!(!secure.token_opens(&later));
    }

    #[test]
    fn an_unsecure_token_may_not_outlive_the_handshake() {
        let unsecure = gate(true);
        let short = request(&unsecure.private_key, 10);
        assert!(datagram_filter::from_client(&short, &unsecure.check()).is_ok());
        assert!(unsecure.token_opens(&short));
        let long = request(&unsecure.private_key, 300);
        assert_eq!(
            datagram_filter::from_client(&long, &unsecure.check()),
            Err(Refusal::BadRequest)
        );
        // A secure server takes the lifetime its issuer chose.
        let secure = gate(false);
        let long = request(&secure.private_key, 3_600);
        assert!(datagram_filter::from_client(&long, &secure.check()).is_ok());
    }
}
