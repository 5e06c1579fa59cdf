//! Handing renet a message for a client: every server send goes through here (state frames
//! through [`send_frames`](super::send_frames), which adds what each one held), so a running
//! [`NetCapture`] records each.

use bevy::prelude::*;
use bevy_renet::{
    RenetServer,
    renet::{Bytes, ClientId},
};

use crate::shared::capture::NetCapture;

/// Sends `frame` to `client_id` on `channel`, recording it in `capture` if there is one.
pub(crate) fn send_to_client(
    server: &mut RenetServer,
    capture: Option<&mut NetCapture>,
    client_id: ClientId,
    channel: u8,
    frame: Bytes,
) {
    if let Some(capture) = capture {
        capture.server_sent(client_id, channel, &frame, None);
    }
    server.send_message(client_id, channel, frame);
}

/// [`send_to_client`] from code that holds the world, with the world's server and capture.
pub(crate) fn send_to_client_in(world: &mut World, client_id: ClientId, channel: u8, frame: Bytes) {
    if let Some(mut capture) = world.get_resource_mut::<NetCapture>() {
        capture.server_sent(client_id, channel, &frame, None);
    }
    world
        .resource_mut::<RenetServer>()
        .send_message(client_id, channel, frame);
}
