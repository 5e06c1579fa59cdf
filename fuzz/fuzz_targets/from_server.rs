//! What a client applies from its server: any frames on either channel (welcome, disconnect,
//! state frames with spawns, deltas, removals, hierarchy, resources, slices of large values,
//! messages, input timing) into a client App with a protocol that uses every kind of value.
//!
//! Input: frames as `[channel byte][length u16 LE][bytes]...`; channel 0 is reliable, any
//! other value unreliable. The App lives across runs, so frames build on earlier state.
#![no_main]

use std::cell::RefCell;

use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    shared::{channels::connection_config, wire},
    testing,
};
use bevy_renet::RenetClient;
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};

#[derive(Component, Serialize, Deserialize, Clone, PartialEq, Debug)]
struct Name(String);

#[derive(Component, Serialize, Deserialize, Clone, PartialEq, Debug)]
struct Link(#[entities] Entity);

#[derive(Resource, Serialize, Deserialize, Clone, PartialEq, Debug)]
struct Score(Vec<u32>);

#[derive(Message, Serialize, Deserialize, Clone, PartialEq, Debug)]
struct Note(String);

fn client() -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, NetsyncPlugins::default()));
    app.replicate::<Name>()
        .replicate::<Link>()
        .replicate::<ChildOf>()
        .replicate_with::<Transform>(TransformCodec::default())
        .interpolate::<Transform>()
        .predict::<Transform>()
        .replicate_resource::<Score>()
        .add_server_message::<Note>(Channel::Reliable);
    app.finish();
    app.cleanup();
    // A connected renet client without a socket: the crate's systems run as in a game.
    let mut renet = RenetClient::new(connection_config());
    renet.set_connected();
    app.insert_resource(renet);
    let welcome = wire::encode_welcome(7, NetTick(1_000));
    let _ = testing::client_receive(&mut app, &[&welcome], &[]);
    app.update();
    app
}

thread_local! {
    static APP: RefCell<App> = RefCell::new(client());
}

fuzz_target!(|data: &[u8]| {
    let mut reliable: Vec<&[u8]> = Vec::new();
    let mut unreliable: Vec<&[u8]> = Vec::new();
    let mut rest = data;
    while rest.len() >= 3 {
        let channel = rest[0];
        let len = usize::from(u16::from_le_bytes([rest[1], rest[2]]));
        let end = (3 + len).min(rest.len());
        let frame = &rest[3..end];
        if channel == 0 {
            reliable.push(frame);
        } else {
            unreliable.push(frame);
        }
        rest = &rest[end..];
    }
    APP.with_borrow_mut(|app| {
        let _ = testing::client_receive(app, &reliable, &unreliable);
        // A frame of the App too: what was received is used (interpolated, predicted,
        // delivered), as it would be.
        app.update();
    });
});
