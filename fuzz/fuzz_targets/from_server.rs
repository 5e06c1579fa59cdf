//! What a client applies from its server: any frames on either channel (welcome, disconnect,
//! state frames with spawns, deltas, removals, hierarchy, resources, slices of large values,
//! messages, input timing) into a client App with a protocol that uses every kind of value
//! ([`FuzzClient`]). The App lives across runs, so frames build on earlier state.
#![no_main]

use std::cell::RefCell;

use bevy_netsync::testing::FuzzClient;
use libfuzzer_sys::fuzz_target;

thread_local! {
    static CLIENT: RefCell<FuzzClient> = RefCell::new(FuzzClient::new());
}

fuzz_target!(|data: &[u8]| {
    CLIENT.with_borrow_mut(|client| client.feed(data));
});
