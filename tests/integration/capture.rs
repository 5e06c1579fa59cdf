//! Captures on the test network: a short session recorded on the server and on its client, read
//! back from the pcapng files, and through tshark (with the Lua dissector) when it is installed.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::common::*;
use bevy::prelude::*;
use bevy_netsync::prelude::*;

/// A path in the temporary directory for this process and `name`.
fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "bevy_netsync_capture_test_{}_{name}.pcapng",
        std::process::id()
    ))
}

/// The packet comments of a pcapng file, in order, read block by block (checking that each
/// block's two lengths agree).
fn comments(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let u16_at = |at: usize| u16::from_le_bytes(bytes[at..at + 2].try_into().unwrap());
    assert_eq!(u32_at(0), 0x0A0D_0D0A, "a section header first");
    let mut comments = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let (kind, length) = (u32_at(at), u32_at(at + 4) as usize);
        assert!(length.is_multiple_of(4), "a block of {length} bytes");
        assert_eq!(
            u32_at(at + length - 4) as usize,
            length,
            "the trailing length"
        );
        if kind == 6 {
            let captured = u32_at(at + 20) as usize;
            let mut option = at + 28 + captured.next_multiple_of(4);
            while option < at + length - 4 && u16_at(option) != 0 {
                let size = usize::from(u16_at(option + 2));
                if u16_at(option) == 1 {
                    let text = &bytes[option + 4..option + 4 + size];
                    comments.push(String::from_utf8(text.to_vec()).unwrap());
                }
                option += 4 + size.next_multiple_of(4);
            }
        }
        at += length;
    }
    comments
}

/// The value of `key=` in a comment.
fn value<'a>(comment: &'a str, key: &str) -> Option<&'a str> {
    comment
        .split(' ')
        .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
}

/// Whether some comment starts with `prefix`.
fn has(comments: &[String], prefix: &str) -> bool {
    comments.iter().any(|comment| comment.starts_with(prefix))
}

/// The state frames a capture recorded going `direction` for client `id`: each names its tick,
/// and one spawned the three entities with both their components.
fn check_states(comments: &[String], direction: &str, id: u64) {
    let prefix = format!("{direction} client={id} channel=1 STATE ");
    let states: Vec<&String> = comments.iter().filter(|c| c.starts_with(&prefix)).collect();
    assert!(
        !states.is_empty(),
        "no state frame {direction}: {comments:#?}"
    );
    for state in &states {
        let tick = value(state, "tick").and_then(|tick| tick.parse::<u32>().ok());
        assert!(tick.is_some(), "no tick in {state}");
    }
    let spawn = states
        .iter()
        .find(|state| value(state, "spawns") == Some("3"))
        .unwrap_or_else(|| panic!("no frame spawned 3 entities: {states:#?}"));
    assert_eq!(value(spawn, "entities"), Some("3"), "{spawn}");
    assert_eq!(
        value(spawn, "components"),
        Some("Health:3,Position:3"),
        "{spawn}"
    );
}

fn check_server(comments: &[String], id: u64) {
    assert!(has(
        comments,
        &format!("received client={id} channel=0 HELLO protocol=")
    ));
    assert!(has(
        comments,
        &format!("sent client={id} channel=0 WELCOME tick=")
    ));
    assert!(has(
        comments,
        &format!("received client={id} channel=1 UPDATE acked=")
    ));
    assert!(has(
        comments,
        &format!("received client={id} channel=0 MESSAGE type=Chat payload=")
    ));
    assert!(has(
        comments,
        &format!("sent client={id} channel=0 MESSAGE type=ChatLine tick=")
    ));
    check_states(comments, "sent", id);
    check_message_data(
        comments,
        &format!("received client={id} channel=0 MESSAGE type=Chat "),
        &Chat("hello".into()),
    );
}

/// The capture shows a message's content as the bytes of its encoding.
fn check_message_data(comments: &[String], prefix: &str, message: &impl serde::Serialize) {
    let mut encoded = Vec::new();
    bevy_netsync::shared::codec::encode_serde(message, &mut encoded).unwrap();
    let hex = bevy_netsync::transport::to_hex(&encoded);
    let comment = comments
        .iter()
        .find(|comment| comment.starts_with(prefix))
        .unwrap_or_else(|| panic!("no comment starts with {prefix}"));
    assert!(
        comment.contains(&format!(" data={hex} ")),
        "{comment} does not show {hex}"
    );
}

fn check_client(comments: &[String], id: u64) {
    // Before its welcome a client does not know its id.
    assert!(has(comments, "sent client=0 channel=0 HELLO protocol="));
    assert!(has(
        comments,
        &format!("received client={id} channel=0 WELCOME tick=")
    ));
    assert!(has(
        comments,
        &format!("sent client={id} channel=1 UPDATE acked=")
    ));
    assert!(has(
        comments,
        &format!("sent client={id} channel=0 MESSAGE type=Chat payload=")
    ));
    assert!(has(
        comments,
        &format!("received client={id} channel=0 MESSAGE type=ChatLine tick=")
    ));
    check_states(comments, "received", id);
    check_message_data(
        comments,
        &format!("sent client={id} channel=0 MESSAGE type=Chat "),
        &Chat("hello".into()),
    );
    check_message_data(
        comments,
        &format!("received client={id} channel=0 MESSAGE type=ChatLine "),
        &ChatLine("welcome".into()),
    );
}

/// Ends the capture of `app`, which recorded something.
fn stop_capture(app: &mut App) {
    let mut capture = app.world_mut().resource_mut::<NetCapture>();
    assert!(capture.is_active() && capture.packets() > 0);
    capture.stop();
}

/// tshark's output for `args` on `path`, or `None` when tshark is not installed.
fn tshark(path: &Path, args: &[&str]) -> Option<Vec<String>> {
    let output = Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(args)
        .output()
        .ok()?;
    assert!(
        output.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

#[test]
fn a_captured_session_reads_back_decoded_on_both_sides() {
    let server_path = temp_path("server");
    let client_path = temp_path("client");
    let mut net = net();
    let capture = NetCapture::create(&server_path, CaptureLimits::default()).unwrap();
    net.server_mut().insert_resource(capture);
    collect::<FromClient<Chat>>(net.server_mut());
    for index in 0..3u8 {
        net.spawn_on_server((
            Replicated,
            Health(100 + u32::from(index)),
            Position(Vec3::splat(f32::from(index))),
        ));
    }
    let capture = NetCapture::create(&client_path, CaptureLimits::default()).unwrap();
    let client = net.add_client_with(move |app| {
        app.insert_resource(capture);
    });
    collect::<ChatLine>(net.client_mut(client));
    net.run(10);
    net.client_mut(client)
        .world_mut()
        .write_message(Chat("hello".into()));
    net.server_mut().world_mut().write_message(ToClients {
        mode: SendMode::Broadcast,
        message: ChatLine("welcome".into()),
    });
    net.run(10);
    assert_eq!(collected::<FromClient<Chat>>(net.server()).len(), 1);
    assert_eq!(collected::<ChatLine>(net.client(client)).len(), 1);
    stop_capture(net.server_mut());
    stop_capture(net.client_mut(client));

    let id = net.client_id(client);
    let server = comments(&server_path);
    let on_client = comments(&client_path);
    check_server(&server, id);
    check_client(&on_client, id);

    // tshark prints the same comments, and the dissector's fields.
    let fields = ["-T", "fields", "-e", "frame.comment"];
    let Some(printed) = tshark(&server_path, &fields) else {
        println!("skipping the tshark checks: tshark is not installed");
        return;
    };
    assert_eq!(printed, server);
    assert_eq!(tshark(&client_path, &fields), Some(on_client));
    let dissector = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tools/wireshark/bevy_netsync.lua"
    );
    let script = format!("lua_script:{dissector}");
    let states = tshark(
        &server_path,
        &[
            "-X",
            script.as_str(),
            "-Y",
            "bevy_netsync.kind == \"STATE\"",
            "-T",
            "fields",
            "-e",
            "bevy_netsync.client_id",
            "-e",
            "bevy_netsync.kind",
            "-e",
            "bevy_netsync.tick",
            "-e",
            "bevy_netsync.seq",
        ],
    )
    .unwrap();
    let expected: Vec<String> = server
        .iter()
        .filter(|comment| comment.contains(" STATE "))
        .map(|comment| {
            let (tick, seq) = (value(comment, "tick"), value(comment, "seq"));
            format!("{id}\tSTATE\t{}\t{}", tick.unwrap(), seq.unwrap())
        })
        .collect();
    assert_eq!(states, expected);
    let _ = std::fs::remove_file(&server_path);
    let _ = std::fs::remove_file(&client_path);
}

/// Traffic both ways of one seeded session, captured on both sides or not at all.
fn traffic(capture: bool) -> (u64, u64, u64, u64) {
    let mut net = net()
        .with_seed(3)
        .with_default_link(bevy_netsync::testing::LinkConditioner::new(20, 5, 0.05));
    let path = temp_path(if capture { "same-on" } else { "same-off" });
    for index in 0..20u8 {
        net.spawn_on_server((Replicated, Health(u32::from(index))));
    }
    // After the spawns: a resource is an entity in Bevy 0.19, and one inserted first would give
    // the replicated entities other ids (which the wire carries) in one run than in the other.
    if capture {
        let file = NetCapture::create(&path, CaptureLimits::default()).unwrap();
        net.server_mut().insert_resource(file);
    }
    let client_path = temp_path(if capture {
        "same-on-client"
    } else {
        "same-off-client"
    });
    let client = net.add_client_with(move |app| {
        if capture {
            app.insert_resource(
                NetCapture::create(&client_path, CaptureLimits::default()).unwrap(),
            );
        }
    });
    for _ in 0..120 {
        net.step();
        let world = net.server_mut().world_mut();
        let mut healths = world.query::<&mut Health>();
        for mut health in healths.iter_mut(world) {
            health.0 += 1;
        }
    }
    let (down, up) = (net.downstream(client), net.upstream(client));
    let _ = std::fs::remove_file(&path);
    (down.bytes, down.packets, up.bytes, up.packets)
}

#[test]
fn capturing_changes_nothing_that_is_sent() {
    let captured = traffic(true);
    assert!(captured.0 > 5_000 && captured.2 > 0, "{captured:?}");
    assert_eq!(captured, traffic(false));
}
