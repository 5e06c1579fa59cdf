//! [`FuzzClient`]: a client App fed raw server frames, shared by the `from_server` fuzz target
//! and the regression tests that replay what fuzzing found.

use bevy::{prelude::*, time::TimeUpdateStrategy};
use bevy_renet::RenetClient;
use serde::{Deserialize, Serialize};

use crate::{
    prelude::*,
    shared::{channels::connection_config, wire},
};

#[derive(Component, Serialize, Deserialize, Clone, PartialEq, Debug)]
struct Name(String);

#[derive(Component, Serialize, Deserialize, Clone, PartialEq, Debug)]
struct Link(#[entities] Entity);

#[derive(Resource, Serialize, Deserialize, Clone, PartialEq, Debug)]
struct Score(Vec<u32>);

#[derive(Message, Serialize, Deserialize, Clone, PartialEq, Debug)]
struct Note(String);

/// A connected client App (without a socket) whose protocol uses every kind of value: serde and
/// bit-packed components, entity references, hierarchy, interpolation, prediction, a resource
/// and a message. Frames from [`feed`](Self::feed) build on what earlier ones left.
pub struct FuzzClient {
    app: App,
}

impl Default for FuzzClient {
    fn default() -> Self {
        Self::new()
    }
}

impl FuzzClient {
    /// A client welcomed at tick 1,000.
    pub fn new() -> Self {
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, NetsyncPlugins::default()))
            // Each feed is one 60 Hz frame: runs are deterministic, whatever the machine.
            .insert_resource(TimeUpdateStrategy::ManualDuration(super::STEP));
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
        let mut renet = RenetClient::new(connection_config());
        renet.set_connected();
        app.insert_resource(renet);
        let welcome = wire::encode_welcome(7, 8, NetTick(1_000));
        let _ = client_receive(&mut app, &[&welcome], &[]);
        app.update();
        Self { app }
    }

    /// Applies `data` as frames — `[channel][length u16 LE][bytes]...`, channel 0 reliable,
    /// any other unreliable — then runs one frame of the App.
    pub fn feed(&mut self, data: &[u8]) {
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
        let _ = client_receive(&mut self.app, &reliable, &unreliable);
        self.app.update();
    }

    /// The App.
    pub fn app(&mut self) -> &mut App {
        &mut self.app
    }
}

/// Heap bytes a client App's replication bookkeeping holds where the server's frames decide
/// the size (slot table, tombstones, parts of ticks): what a hostile server could inflate.
pub fn client_bookkeeping_bytes(app: &App) -> usize {
    app.world()
        .resource::<crate::client::Replicas>()
        .bookkeeping_bytes()
}

/// Applies frames to a client App as if its server had sent them on each channel: the entry
/// point of the `client_frames` fuzz target. The error is the reason the client would
/// disconnect with.
pub fn client_receive(
    app: &mut App,
    reliable: &[&[u8]],
    unreliable: &[&[u8]],
) -> Result<(), crate::shared::disconnect::DisconnectReason> {
    let copy = |frames: &[&[u8]]| {
        frames
            .iter()
            .map(|frame| bevy_renet::renet::Bytes::copy_from_slice(frame))
            .collect::<Vec<_>>()
    };
    crate::client::receive_frames(app.world_mut(), &copy(reliable), &copy(unreliable))
}
