//! What fuzzing found, replayed through the fuzz targets' own harness ([`FuzzClient`]): each
//! case must be handled without a panic. A crash that `cargo fuzz` finds on a fresh client goes
//! into `tests/fuzz_regressions/<target>/` as is; one that needs the state of earlier runs is
//! written out as a test below.

use std::path::Path;

use bevy_netsync::testing::FuzzClient;

/// Every input in `tests/fuzz_regressions/<target>/`: what crashed a target once, kept as is.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let mut found: Vec<(String, Vec<u8>)> = std::fs::read_dir(&folder)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    (name, std::fs::read(entry.path()).unwrap())
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// Inputs that crashed `from_server` on a fresh client (a component listed twice in one
/// entity's shape, ...): each is now refused or applied, on a fresh client and again.
#[test]
fn what_crashed_a_fresh_client_once_is_now_handled() {
    let found = inputs("from_server");
    assert!(!found.is_empty(), "no regression inputs");
    for (name, data) in found {
        let mut client = FuzzClient::new();
        client.feed(&data);
        client.feed(&data);
        eprintln!("{name}: handled");
    }
}

/// An empty state frame of `tick` (the last of its tick), framed for [`FuzzClient::feed`].
fn empty_state_frame(seq: u16, tick: u32) -> Vec<u8> {
    let bytes = crate::hostile_server::state_frame(seq, tick, 0, true, &[]);
    let mut framed = vec![1];
    framed.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
    framed.extend_from_slice(&bytes);
    framed
}

/// The first crash `from_server` found: a server clock that leaps half the tick range could make
/// the prediction clock's error overflow (the exact case is a unit test of `clock_error`; this
/// drives the whole client through such a leap and back).
#[test]
fn a_server_tick_that_leaps_half_the_range_does_not_overflow_the_prediction_clock() {
    let mut client = FuzzClient::new();
    for step in 0..120u32 {
        client.feed(&empty_state_frame(step as u16, 1_001 + step));
    }
    for step in 0..10u32 {
        client.feed(&empty_state_frame(
            200 + step as u16,
            1_121 + (1 << 31) + step,
        ));
    }
    for step in 0..10u32 {
        client.feed(&empty_state_frame(300 + step as u16, 1_130 + step));
    }
}
