//! [`HeldMessages`]: server messages waiting until the client holds the replication they
//! follow.

use std::collections::VecDeque;

use bevy::prelude::*;
use bevy_renet::renet::Bytes;

use crate::shared::{error::DecodeError, messages::MessageRegistry, tick::NetTick};

/// Most messages held; past it the oldest is delivered anyway (a server that never sends the
/// replication a message waits for must not make the client hoard).
const MAX_HELD: usize = 4096;
/// Most bytes held, likewise.
const MAX_HELD_BYTES: usize = 16 << 20;

struct Held {
    index: u32,
    tick: NetTick,
    payload: Bytes,
}

/// Server messages received before the replication of their tick, in arrival order. Written
/// and drained by [`ClientSet::Receive`](super::ClientSet::Receive); cleared on disconnect.
#[derive(Resource, Default)]
pub(crate) struct HeldMessages {
    queue: VecDeque<Held>,
    bytes: usize,
}

impl HeldMessages {
    /// Queues a message that follows the replication of `tick`.
    pub(crate) fn hold(&mut self, index: u32, tick: NetTick, payload: &[u8]) {
        self.bytes += payload.len();
        self.queue.push_back(Held {
            index,
            tick,
            payload: Bytes::copy_from_slice(payload),
        });
    }

    /// Number of messages waiting.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Takes the messages that may be delivered now that every change up to `watermark` is
    /// held: the ones in front whose tick it reached (and the oldest ones beyond the limits).
    fn take_ready(&mut self, watermark: Option<NetTick>) -> Vec<(u32, Bytes)> {
        let mut ready = Vec::new();
        while let Some(front) = self.queue.front() {
            let reached = watermark.is_some_and(|watermark| !front.tick.is_newer_than(watermark));
            let over = self.queue.len() > MAX_HELD || self.bytes > MAX_HELD_BYTES;
            if !reached && !over {
                break;
            }
            if over && !reached {
                warn!(
                    "delivering a server message before the replication it follows: too many held"
                );
            }
            if let Some(held) = self.queue.pop_front() {
                self.bytes -= held.payload.len();
                ready.push((held.index, held.payload));
            }
        }
        ready
    }
}

/// Delivers the held messages the watermark allows, as Bevy messages.
pub(crate) fn deliver_ready(
    world: &mut World,
    watermark: Option<NetTick>,
) -> Result<(), DecodeError> {
    let ready = world.resource_mut::<HeldMessages>().take_ready(watermark);

    for (index, payload) in ready {
        let kind = world.resource::<MessageRegistry>().server_message(index)?;
        let (name, receive) = (kind.name, kind.receive);
        receive(world, &payload).map_err(|error| match error {
            // Name the registered message, not the decoder's view of it.
            DecodeError::Codec { detail, .. } => DecodeError::Codec {
                type_name: name,
                detail,
            },
            other => other,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_wait_for_their_tick_in_order() {
        let mut held = HeldMessages::default();
        held.hold(0, NetTick(5), b"a");
        held.hold(1, NetTick(7), b"b");
        held.hold(2, NetTick(6), b"c");
        assert!(held.take_ready(None).is_empty());
        assert_eq!(held.take_ready(Some(NetTick(5))).len(), 1);
        assert!(
            held.take_ready(Some(NetTick(6))).is_empty(),
            "b still blocks c"
        );
        let rest = held.take_ready(Some(NetTick(7)));
        assert_eq!(rest.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(held.len(), 0);
    }
}
