//! [`FuzzAuthority`]: a server with a client that holds an entity, fed raw owned-value sections
//! and authority requests as that client, for the `owned_values` fuzz target and its tests.

use bevy::prelude::*;
use serde::{Deserialize, Serialize};

use super::TestNet;
use crate::{
    prelude::*,
    server::set_authority,
    shared::wire::{BitWriter, UpstreamExtras, client_kind, encode_update_with, write_owned_tick},
};

#[derive(Component, Serialize, Deserialize, Clone, PartialEq, Debug)]
struct Label(String);

#[derive(Component, Serialize, Deserialize, Clone, PartialEq, Debug)]
struct Marker;

fn protocol(app: &mut App) {
    app.replicate::<Marker>()
        .replicate_client_authoritative_with::<Transform>(TransformCodec::default())
        .replicate_client_authoritative::<Label>()
        .interpolate::<Transform>();
}

/// A server and one client that holds two entities (slots 0 and 1, with a bit-packed and a
/// serde client-authoritative type), and a third it does not hold. Each
/// [`feed`](Self::feed) sends bytes as that client and runs a frame; a client the server
/// disconnected is connected again and given its entities back.
pub struct FuzzAuthority {
    net: TestNet,
    held: [Entity; 2],
}

impl Default for FuzzAuthority {
    fn default() -> Self {
        Self::new()
    }
}

impl FuzzAuthority {
    /// The server, the client, and the entities, after the grants arrived.
    pub fn new() -> Self {
        let mut net = TestNet::new(protocol);
        net.server_mut()
            .validate_authority::<Transform>(|proposal| {
                if proposal.proposed.translation.length() < 1_000.0 {
                    Verdict::Accept
                } else {
                    Verdict::Reject
                }
            });
        net.add_client();
        let held = [0, 1].map(|_| {
            net.spawn_on_server((
                Replicated,
                Marker,
                Transform::default(),
                Label(String::new()),
            ))
        });
        net.spawn_on_server((Replicated, Marker, Transform::default()));
        let mut fuzz = Self { net, held };
        fuzz.grant();
        fuzz
    }

    fn grant(&mut self) {
        self.net.run(30);
        let id = self.net.client_id(0);
        for entity in self.held {
            set_authority(self.net.server_mut().world_mut(), entity, Some(id));
        }
        self.net.run(30);
    }

    /// Sends `data` as the client: with the first byte even, the rest as the owned-values
    /// section of an update frame, for a tick near the server's (the second byte moves it);
    /// odd, as an authority-requests frame. Then runs a frame.
    pub fn feed(&mut self, data: &[u8]) {
        let Some((&selector, rest)) = data.split_first() else {
            return;
        };
        let frame = if selector % 2 == 0 {
            let Some((&offset, rest)) = rest.split_first() else {
                return;
            };
            let now = self.net.server().world().resource::<ServerTick>().0;
            let tick = NetTick(now.0.wrapping_add_signed(i32::from(offset as i8)));
            let mut section = BitWriter::new();
            write_owned_tick(&mut section, tick);
            section.write_bytes(rest);
            let extras = UpstreamExtras {
                seen: Vec::new(),
                owned: section.into_bytes(),
            };
            encode_update_with(&[], &[], &extras)
        } else {
            let mut frame = vec![client_kind::AUTHORITY];
            frame.extend_from_slice(rest);
            frame
        };
        let channel = if selector % 2 == 0 { 1 } else { 0 };
        self.net.send_raw(0, channel, frame);
        self.net.step();
        if !self.net.is_attached(0) {
            self.net.reconnect(0);
            self.grant();
        }
    }

    /// The test network.
    pub fn net(&mut self) -> &mut TestNet {
        &mut self.net
    }
}
