//! The client transport's real receive path, after a real handshake: datagrams from the
//! server's address (a hostile server, or anyone spoofing it) or another, raw or sealed with
//! the server's keys, then a frame of the client's update. The transport lives across runs.
#![no_main]

use std::cell::RefCell;

use bevy_netsync::testing::FuzzClientTransport;
use libfuzzer_sys::fuzz_target;

thread_local! {
    static CLIENT: RefCell<FuzzClientTransport> = RefCell::new({
        let client = FuzzClientTransport::new();
        assert!(client.connected(), "the client finished netcode's handshake");
        client
    });
}

fuzz_target!(|data: &[u8]| {
    CLIENT.with_borrow_mut(|client| client.feed(data));
});
