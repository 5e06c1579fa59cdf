//! Reading what clients sent: handshakes, acks and game messages.

use bevy::prelude::*;
use bevy_renet::{RenetServer, renet::ClientId};

use super::{
    client_allowance::ClientAllowances,
    client_replication::ClientReplication,
    config::ServerConfig,
    connected_client::{ClientSlots, Slot, accept_client, close_client},
};
use crate::shared::{
    capture::NetCapture,
    channels::{RELIABLE_CHANNEL, UNRELIABLE_CHANNEL},
    disconnect::DisconnectReason,
    input::InputRegistry,
    messages::MessageRegistry,
    protocol::ProtocolHash,
    scoped::scoped,
    tick::{NetTick, ServerTick},
    wire::{ClientFrame, InputBlock},
};

/// The tick nearest `now` whose low 16 bits are `low` (clients send only those).
pub(crate) fn tick_near(now: NetTick, low: u16) -> NetTick {
    let candidate = NetTick((now.0 & !0xffff) | u32::from(low));
    match candidate.diff(now) {
        diff if diff > 0x8000 => candidate.sub(0x1_0000),
        diff if diff < -0x8000 => candidate.add(0x1_0000),
        _ => candidate,
    }
}

/// Drains every client's channels. A client whose data is malformed, oversized or out of
/// place is disconnected with the reason; the others are served as usual.
///
/// A client being disconnected is not listened to any more: whatever it keeps sending is
/// dropped unread, so it cannot delay its own disconnection or make the server repeat the
/// reason. Each message first spends the client's allowance ([`ClientAllowances`]). A running
/// [`NetCapture`] records every message read, dropped ones included.
pub(crate) fn receive_from_clients(world: &mut World, mut clients: Local<Vec<ClientId>>) {
    let now = world.resource::<Time<Real>>().elapsed_secs_f64();
    // Kept between updates for its allocation; in id order.
    clients.clear();
    clients.extend(world.resource::<RenetServer>().clients_id_iter());
    clients.sort_unstable();
    scoped(world, |world, allowances: &mut ClientAllowances| {
        allowances.retain(|client| clients.binary_search(&client).is_ok());
        for &client_id in clients.iter() {
            for channel in [RELIABLE_CHANNEL, UNRELIABLE_CHANNEL] {
                while let Some(bytes) = world
                    .resource_mut::<RenetServer>()
                    .receive_message(client_id, channel)
                {
                    if let Some(mut capture) = world.get_resource_mut::<NetCapture>() {
                        capture.server_received(client_id, channel, &bytes);
                    }
                    let slot = world
                        .resource::<ClientSlots>()
                        .slots
                        .get(&client_id)
                        .copied();
                    let Some(slot) = slot.filter(|slot| !matches!(slot, Slot::Closing { .. }))
                    else {
                        continue;
                    };
                    let config = world.resource::<ServerConfig>();
                    let handled = allowances
                        .take(config, client_id, now, bytes.len())
                        .and_then(|()| handle_frame(world, client_id, slot, &bytes));
                    if let Err(reason) = handled {
                        close_client(world, client_id, reason);
                    }
                }
            }
        }
    });
}

fn handle_frame(
    world: &mut World,
    client_id: ClientId,
    slot: Slot,
    bytes: &[u8],
) -> Result<(), DisconnectReason> {
    let limit = world.resource::<ServerConfig>().max_client_message_bytes;
    if bytes.len() > limit {
        return Err(DisconnectReason::MessageTooLarge {
            size: bytes.len(),
            limit,
        });
    }
    let malformed =
        |error: &dyn core::fmt::Display| DisconnectReason::MalformedData(error.to_string());
    let frame = ClientFrame::decode(bytes).map_err(|error| malformed(&error))?;
    match &frame {
        ClientFrame::Update { acks, inputs, .. } => trace!(
            "recv update from client {client_id}: {} ack ranges, {} input blocks ({} inputs), {} bytes",
            acks.len(),
            inputs.len(),
            inputs.iter().map(InputBlock::len).sum::<usize>(),
            bytes.len()
        ),
        ClientFrame::Message { index, payload } => trace!(
            "recv message {index} from client {client_id}: {} bytes",
            payload.len()
        ),
        ClientFrame::Hello { protocol } => {
            trace!("recv hello from client {client_id}: protocol {protocol:016x}")
        }
        ClientFrame::Goodbye => trace!("recv goodbye from client {client_id}"),
        ClientFrame::Authority(requests) => trace!(
            "recv {} authority requests from client {client_id}",
            requests.len()
        ),
    }
    match (slot, frame) {
        (Slot::Closing { .. }, _) => Ok(()),
        (_, ClientFrame::Goodbye) => Err(DisconnectReason::ClientLeft),
        (Slot::Handshaking { .. }, ClientFrame::Hello { protocol }) => {
            let server_protocol = world.resource::<ProtocolHash>().value();
            if protocol != server_protocol {
                return Err(DisconnectReason::ProtocolMismatch {
                    server: server_protocol,
                    client: protocol,
                });
            }
            accept_client(world, client_id);
            Ok(())
        }
        (Slot::Handshaking { .. }, _) => Err(malformed(&"data before the handshake")),
        (Slot::Joined(_), ClientFrame::Hello { .. }) => Err(malformed(&"a second handshake")),
        (
            Slot::Joined(client),
            ClientFrame::Update {
                acks,
                inputs,
                extras,
            },
        ) => {
            if let Some(mut replication) = world.get_mut::<ClientReplication>(client) {
                replication.receive_acks(acks.iter().flat_map(|range| range.ids()));
            }
            let now = world.resource::<ServerTick>().0;
            for block in &inputs {
                let (name, receive) = *world
                    .resource::<InputRegistry>()
                    .inputs
                    .get(block.index as usize)
                    .ok_or_else(|| {
                        malformed(&format_args!("unknown input index {}", block.index))
                    })?;
                let newest = tick_near(now, block.newest);
                let encoded: Vec<&[u8]> = block.inputs().collect();
                let kept = receive(world, client, newest, &encoded)
                    .map_err(|error| malformed(&format_args!("input {name}: {error}")))?;
                // Only what was kept: the client resends the rest.
                if let Some(kept) = kept
                    && let Some(mut replication) = world.get_mut::<ClientReplication>(client)
                {
                    replication.input_ack =
                        Some(replication.input_ack.map_or(kept, |held| held.max(kept)));
                }
            }
            // What the client showed, for the inputs of its first block.
            if let Some(first) = inputs.first()
                && !extras.seen.is_empty()
            {
                let count = extras.seen.len().min(first.len());
                let newest = tick_near(now, first.newest);
                super::lag_compensation::note_seen(world, client_id, newest, &extras.seen[..count]);
            }
            if !extras.owned.is_empty() {
                super::authority::receive_owned_values(
                    world,
                    client,
                    client_id,
                    now,
                    &extras.owned,
                )?;
            }
            Ok(())
        }
        (Slot::Joined(client), ClientFrame::Authority(requests)) => {
            super::authority::receive_requests(world, client, client_id, &requests)
        }
        (Slot::Joined(client), ClientFrame::Message { index, payload }) => {
            let kind = world
                .resource::<MessageRegistry>()
                .client_message(index)
                .map_err(|error| malformed(&error))?;
            let (name, receive) = (kind.name, kind.receive);
            receive(world, client, client_id, payload)
                .map_err(|error| malformed(&format_args!("message {name}: {error}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_ticks_are_rebuilt_near_the_server_tick() {
        assert_eq!(
            tick_near(NetTick(70_000), 70_000u32 as u16),
            NetTick(70_000)
        );
        assert_eq!(
            tick_near(NetTick(70_000), (70_010u32 & 0xffff) as u16),
            NetTick(70_010)
        );
        assert_eq!(tick_near(NetTick(65_540), 65_530), NetTick(65_530));
        assert_eq!(
            tick_near(NetTick(u32::MAX - 2), 3),
            NetTick(3),
            "across the wrap"
        );
        assert_eq!(tick_near(NetTick(2), u16::MAX), NetTick(u32::MAX));
    }
}
