//! What a server reads from a client that holds authority: owned-value sections (both value
//! kinds, deltas against what it sent before) and authority requests, run through the server.
#![no_main]

use std::cell::RefCell;

use bevy_netsync::testing::FuzzAuthority;
use libfuzzer_sys::fuzz_target;

thread_local! {
    static SERVER: RefCell<FuzzAuthority> = RefCell::new(FuzzAuthority::new());
}

fuzz_target!(|data: &[u8]| {
    SERVER.with(|server| server.borrow_mut().feed(data));
});
