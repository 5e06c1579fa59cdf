//! Receiving from the server: the welcome and disconnect reasons, state frames and slices
//! (applied as they come), then game messages (delivered once the replication they follow is
//! held).

use bevy::prelude::*;
use bevy_renet::{RenetClient, renet::Bytes};

use super::{
    apply_state::apply_state_frame,
    connection::ClientState,
    held_messages::{HeldMessages, deliver_ready},
    replicas::Replicas,
    session::{ClientSession, Handshake},
    timeline::ClientTimeline,
};
use crate::shared::{
    capture::{NetCapture, StateSummary},
    channels::{RELIABLE_CHANNEL, UNRELIABLE_CHANNEL},
    disconnect::DisconnectReason,
    error::DecodeError,
    link::SimulatedLink,
    wire::{MAX_TICK_LEAP, ServerFrame},
};

/// Drains both channels and applies what arrived. Malformed data from the server disconnects
/// with [`DisconnectReason::MalformedData`].
pub(crate) fn receive_from_server(world: &mut World) {
    // The client is borrowed only to drain it: taking it out of the world for the whole
    // receive (`resource_scope`) would move its entity between archetypes twice per update.
    let Some(mut client) = world.get_resource_mut::<RenetClient>() else {
        return;
    };
    if !client.is_connected() {
        return;
    }
    let drained = drain(&mut client);
    if let Err(reason) = receive_all(world, drained) {
        error!("disconnecting from the server: {reason}");
        world.resource_mut::<ClientSession>().closing_reason = Some(reason);
        if let Some(mut client) = world.get_resource_mut::<RenetClient>() {
            client.disconnect();
        }
    }
}

fn malformed(error: DecodeError) -> DisconnectReason {
    DisconnectReason::MalformedData(error.to_string())
}

/// Records a received frame in the capture, if one runs.
fn capture(world: &mut World, channel: u8, frame: &[u8], summary: Option<&StateSummary>) {
    if let Some(mut capture) = world.get_resource_mut::<NetCapture>() {
        capture.client_received(channel, frame, summary);
    }
}

/// Whether a capture records (state frames are then summarized as they are read).
fn capturing(world: &World) -> bool {
    world
        .get_resource::<NetCapture>()
        .is_some_and(NetCapture::is_active)
}

/// What arrived on each channel: reliable, then unreliable messages.
type Drained = (Vec<Bytes>, Vec<Bytes>);

fn drain(client: &mut RenetClient) -> Drained {
    let mut reliable: Vec<Bytes> = Vec::new();
    while let Some(bytes) = client.receive_message(RELIABLE_CHANNEL) {
        reliable.push(bytes);
    }
    let mut unreliable: Vec<Bytes> = Vec::new();
    while let Some(bytes) = client.receive_message(UNRELIABLE_CHANNEL) {
        unreliable.push(bytes);
    }
    (reliable, unreliable)
}

fn receive_all(
    world: &mut World,
    (mut reliable, mut unreliable): Drained,
) -> Result<(), DisconnectReason> {
    if world.contains_resource::<SimulatedLink>() {
        let now = world.resource::<Time<Real>>().elapsed();
        (reliable, unreliable) = world
            .resource_mut::<SimulatedLink>()
            .receive(now, reliable, unreliable);
    }
    receive_frames(world, &reliable, &unreliable)
}

/// Applies what arrived on each channel, in order. Also the entry point of the fuzz target
/// ([`testing::client_receive`](crate::testing)).
pub(crate) fn receive_frames(
    world: &mut World,
    reliable: &[Bytes],
    unreliable: &[Bytes],
) -> Result<(), DisconnectReason> {
    // The welcome starts the session; a disconnect reason ends it before anything else.
    // Reliable messages wait for the replication below (decoded once, kept in order).
    let mut reliable_messages: Vec<(u32, crate::shared::tick::NetTick, &[u8])> = Vec::new();
    for bytes in reliable {
        capture(world, RELIABLE_CHANNEL, bytes, None);
        match ServerFrame::decode(bytes).map_err(malformed)? {
            ServerFrame::Welcome {
                client_id,
                alias,
                tick,
            } => {
                debug!("welcomed as client {client_id} at tick {}", tick.0);
                world.resource_mut::<ClientTimeline>().observe(tick);
                // Slices of large values may come before any state frame: they are timed by
                // the newest tick seen, which starts here (not at zero, which would make a
                // late joiner's first values look minutes old and be thrown away).
                world.resource_mut::<Replicas>().saw_tick(tick);
                let mut session = world.resource_mut::<ClientSession>();
                session.handshake = Handshake::Welcomed;
                session.client_id = Some(client_id);
                session.alias = Some(alias);
                world
                    .resource_mut::<NextState<ClientState>>()
                    .set(ClientState::Connected);
            }
            ServerFrame::Disconnect(reason) => return Err(reason),
            ServerFrame::Message {
                index,
                tick,
                payload,
            } => reliable_messages.push((index, tick, payload)),
            _ => {
                return Err(DisconnectReason::MalformedData(
                    "replication on the reliable channel".into(),
                ));
            }
        }
    }
    // Replication, in arrival order; none before the welcome (a frame read then could not turn
    // this client's id alias back into its id, and is not acknowledged: it comes again).
    let welcomed = world.resource::<ClientSession>().handshake == Handshake::Welcomed;
    let mut messages: Vec<(u32, crate::shared::tick::NetTick, &[u8])> = Vec::new();
    for bytes in unreliable.iter().filter(|_| welcomed) {
        let decoded = ServerFrame::decode(bytes);
        // A state frame is recorded once read, with what it held.
        if !matches!(decoded, Ok(ServerFrame::State { .. })) {
            capture(world, UNRELIABLE_CHANNEL, bytes, None);
        }
        match decoded.map_err(malformed)? {
            ServerFrame::State {
                header,
                bytes,
                body_start,
            } => {
                // Checked before the clock or the bookkeeping see the tick.
                if let Some(leap) = world.resource::<Replicas>().leap(header.tick) {
                    capture(world, UNRELIABLE_CHANNEL, bytes, None);
                    return Err(DisconnectReason::MalformedData(format!(
                        "a state frame of tick {} is {leap} ticks ahead of the newest seen (at most {MAX_TICK_LEAP})",
                        header.tick.0
                    )));
                }
                world.resource_mut::<ClientTimeline>().observe(header.tick);
                trace!(
                    "state frame {} tick {} part {}: {} bytes",
                    header.seq,
                    header.tick.0,
                    header.part,
                    bytes.len()
                );
                let mut summary = capturing(world).then(StateSummary::default);
                let applied = apply_state_frame(world, header, bytes, body_start, summary.as_mut());
                capture(world, UNRELIABLE_CHANNEL, bytes, summary.as_ref());
                applied.map_err(malformed)?;
            }
            ServerFrame::Slice {
                seq,
                blob,
                total_len,
                index,
                payload,
            } => {
                trace!(
                    "recv slice: seq {seq} value {blob} slice {index} of {total_len} bytes, {} bytes",
                    payload.len()
                );
                let mut replicas = world.resource_mut::<Replicas>();
                let now = replicas.newest_tick.unwrap_or_default();
                replicas
                    .blobs
                    .add_slice(blob, total_len, index, payload, now)
                    .map_err(malformed)?;
                replicas.acks.push(seq);
            }
            ServerFrame::InputTiming { min_lead, late } => {
                trace!("recv input timing: lead {min_lead}, late {late}");
                world
                    .resource_mut::<ClientTimeline>()
                    .observe_input_feedback(f64::from(min_lead), late);
            }
            ServerFrame::Message {
                index,
                tick,
                payload,
            } => {
                trace!(
                    "recv message {index} tick {}: {} bytes",
                    tick.0,
                    payload.len()
                );
                messages.push((index, tick, payload));
            }
            ServerFrame::Welcome { .. } | ServerFrame::Disconnect(_) => {
                return Err(DisconnectReason::MalformedData(
                    "a control frame on the unreliable channel".into(),
                ));
            }
        }
    }
    // Messages, after the replication they follow.
    {
        let mut held = world.resource_mut::<HeldMessages>();
        for (index, tick, payload) in reliable_messages.into_iter().chain(messages) {
            held.hold(index, tick, payload);
        }
    }
    let watermark = world.resource::<Replicas>().watermark;
    deliver_ready(world, watermark).map_err(malformed)?;
    let newest = world.resource::<Replicas>().newest_tick;
    if let Some(newest) = newest {
        world.resource_mut::<Replicas>().blobs.prune(newest);
    }
    Ok(())
}
