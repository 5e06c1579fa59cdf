//! The capture's limits, its ring of two files, and a client's own id.

use super::*;
use crate::shared::{
    tick::NetTick,
    wire::{client_kind, encode_welcome},
};

/// A fresh path in the temporary directory, unique to this process and `name`.
fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "bevy_netsync_capture_{}_{name}.pcapng",
        std::process::id()
    ))
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |metadata| metadata.len())
}

#[test]
fn a_capture_stops_at_its_size_limit() {
    let path = temp_path("size_limit");
    let limits = CaptureLimits {
        max_bytes: Some(1_000),
        ..CaptureLimits::default()
    };
    let mut capture = NetCapture::create(&path, limits).unwrap();
    let goodbye = [client_kind::GOODBYE];
    for _ in 0..100 {
        capture.client_sent(0, &goodbye);
    }
    assert!(!capture.is_active());
    assert!(capture.packets() > 0);
    let written = capture.bytes_written();
    assert!(written <= 1_000, "{written} bytes");
    drop(capture);
    assert_eq!(file_len(&path), written);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_ring_capture_keeps_the_newest_half_in_each_file() {
    let path = temp_path("ring");
    let older = older_path(&path);
    assert!(older.to_string_lossy().ends_with("_ring.old.pcapng"));
    let limits = CaptureLimits {
        max_bytes: Some(2_000),
        max_duration: None,
        ring: true,
    };
    let mut capture = NetCapture::create(&path, limits).unwrap();
    let goodbye = [client_kind::GOODBYE];
    for _ in 0..200 {
        capture.client_sent(0, &goodbye);
    }
    assert!(capture.is_active());
    assert_eq!(capture.packets(), 200);
    capture.stop();
    assert!(file_len(&path) <= 1_000);
    assert!(file_len(&older) <= 1_000);
    assert!(file_len(&path) + file_len(&older) > 1_000);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&older);
}

#[test]
fn a_capture_stops_at_its_time_limit() {
    let path = temp_path("time_limit");
    let limits = CaptureLimits {
        max_duration: Some(Duration::ZERO),
        ..CaptureLimits::default()
    };
    let mut capture = NetCapture::create(&path, limits).unwrap();
    capture.client_sent(0, &[client_kind::GOODBYE]);
    assert!(!capture.is_active());
    assert_eq!(capture.packets(), 0);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_client_records_the_id_its_welcome_names() {
    let path = temp_path("welcome");
    let mut capture = NetCapture::create(&path, CaptureLimits::default()).unwrap();
    capture.client_sent(0, &[client_kind::GOODBYE]);
    assert_eq!(capture.own_id, 0);
    capture.client_received(0, &encode_welcome(42, 7, NetTick(3)), None);
    assert_eq!(capture.own_id, 42);
    capture.client_left();
    assert_eq!(capture.own_id, 0);
    capture.stop();
    // The welcome's header names the id; the packet before it does not.
    let bytes = std::fs::read(&path).unwrap();
    let id = 42u64.to_le_bytes();
    let at = bytes
        .windows(CAPTURE_HEADER_BYTES)
        .position(|window| window[..4] == [HEADER_VERSION, 1, 1, 0] && window[4..] == id);
    assert!(at.is_some(), "no received packet with client id 42");
    let _ = std::fs::remove_file(&path);
}
