//! The crate's integration tests, one module per feature, in one test binary: every test binary
//! links all of Bevy, so one binary instead of sixteen saves minutes of linking and gigabytes of
//! disk. The arena's own test (`tests/arena.rs`) stays a binary of its own, since the example's
//! files name their siblings from the crate root.

// Bevy queries in test systems are long by nature.
#![allow(clippy::type_complexity)]

mod common;

mod arena_screenshot;
mod authority;
mod authority_spawns;
mod budget;
mod capture;
mod client_ids;
mod dedicated;
mod diagnostics;
mod entity_mapping;
mod fuzz_regressions;
mod hierarchy;
mod host_mode;
mod hostile_server;
mod inputs;
mod insert_remove;
mod interest;
mod interest_messages;
mod interpolation;
mod lag_compensation;
mod large_values;
mod large_world;
mod late_join;
mod leaving;
mod lossy_link;
mod malformed_input;
mod message_order;
mod messages;
mod mutate;
mod prediction;
mod protocol_mismatch;
mod quantized_transform;
mod references;
mod resources;
mod simulated_link;
mod spawn_despawn;
mod stopped_frames;
mod tick_wrap;
mod udp_abuse;
mod udp_connect;
mod udp_failures;
mod udp_hostile;
mod udp_secure;
mod unacknowledged;
mod whole_entity;
