//! The server transport's real receive path: datagrams from three connected clients' addresses
//! and a stranger's, raw or sealed with a client's keys, then a frame of the server's update.
//! The transport lives across runs, so runs build on earlier state.
#![no_main]

use std::cell::RefCell;

use bevy_netsync::testing::FuzzServerTransport;
use libfuzzer_sys::fuzz_target;

thread_local! {
    static SERVER: RefCell<FuzzServerTransport> = RefCell::new({
        let server = FuzzServerTransport::new(3);
        assert_eq!(server.connected(), 3, "the clients finished netcode's handshake");
        server
    });
}

fuzz_target!(|data: &[u8]| {
    SERVER.with_borrow_mut(|server| server.feed(data));
});
