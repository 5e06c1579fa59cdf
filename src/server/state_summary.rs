//! What a state frame the server packed held, for a capture's comment: read back from the
//! frame's sent lists (by its id), the entities chosen and the bodies cached in this send.

use super::{
    client_replication::{ClientReplication, SentItem, SentSlot, need_key, need_slot},
    value_cache::ValueCache,
};
use crate::shared::{
    capture::StateSummary,
    wire::{BitReader, read_state_header, server_kind},
};

/// What the state frame `frame`, packed for `client` in this send, held; `None` for other frames.
pub(crate) fn summarize_state_frame(
    client: &ClientReplication,
    cache: &ValueCache,
    frame: &[u8],
) -> Option<StateSummary> {
    if frame.first() != Some(&server_kind::STATE) {
        return None;
    }
    let header = read_state_header(&mut BitReader::new(frame)).ok()?;
    let sent = client.sent_lists(header.seq)?;
    let mut summary = StateSummary {
        read: true,
        ..StateSummary::default()
    };
    for &SentSlot { slot, .. } in &sent.slots {
        summary.entities += 1;
        // The chosen entities are in slot order.
        let Ok(at) = client
            .needs
            .binary_search_by_key(&slot, |&need| need_slot(need))
        else {
            continue;
        };
        let key = need_key(client.needs[at]);
        summary.spawns += u32::from(key.is_spawn());
        if let Some(body) = cache.built_body(slot, key) {
            summary.components.extend_from_slice(cache.components(body));
        }
    }
    for item in &sent.items {
        match *item {
            SentItem::Despawn(_) => summary.despawns += 1,
            SentItem::Resource { index, .. } => summary.resources.push(index),
            SentItem::Slice { .. } => {}
        }
    }
    Some(summary)
}
