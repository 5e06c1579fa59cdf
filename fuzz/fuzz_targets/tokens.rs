//! Connect tokens and keys as the crate parses them from bytes and text.
#![no_main]

use bevy_netsync::transport::{from_hex, private_key_from_hex, token_from_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = token_from_bytes(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = from_hex(text);
        let _ = private_key_from_hex(text);
    }
});
