//! The entries of one client's frame: resources with news, then the chosen entities in slot
//! order, each written straight into the frame and taken back if it does not fit the frame or
//! the budget. What does not go is left out through the client's
//! [`LeftOut`](crate::server::left_out::LeftOut).

use super::{Packer, Shared, SharedEntries, resource_has_news};
use crate::{
    server::{
        blobs::{BlobKey, BlobStatus},
        client_replication::{
            ClientReplication, ClientSlot, SentItem, SentSlot, need_key, need_slot,
        },
        priority::{Contender, fit_by_priority},
    },
    shared::wire::{
        BitWriter, EntryHead, MAX_STATE_FRAME_BYTES, MAX_STATE_HEADER_BITS, ValueKind,
        write_change_tick, write_count, write_entry_head, write_index, write_shape_parts,
        write_value_kind,
    },
};

/// Resources with news, whole or by reference to their slices.
pub(super) fn pack_resources(client: &mut ClientReplication, shared: &Shared, packer: &mut Packer) {
    let tick = shared.tick;
    let mut entries = BitWriter::new();
    let mut count = 0;
    for (index, record) in shared.resources.records.iter().enumerate() {
        let Some(state) = client.resources.get(index).copied() else {
            continue;
        };
        let Some(changed) = record.changed else {
            continue;
        };
        if !resource_has_news(record, &state) {
            continue;
        }
        let index = index as u32;
        let mut entry = BitWriter::new();
        write_index(&mut entry, index);
        entry.write_bool(!record.present);
        write_change_tick(&mut entry, changed, tick);
        if record.present {
            if record.large {
                let key = BlobKey::Resource(index);
                let ready = shared
                    .blobs
                    .get(key)
                    .map(|blob| (client.blobs.status(key, blob), blob.id));
                match ready {
                    Some((BlobStatus::Complete, id)) => {
                        write_value_kind(&mut entry, ValueKind::Blob(id), false);
                    }
                    _ => {
                        client.left_out.leave_out(changed);
                        continue;
                    }
                }
            } else {
                let Some((from, to)) = shared.cache_resource(index) else {
                    // Its value failed to encode: nothing to send, so nothing left out.
                    continue;
                };
                write_value_kind(&mut entry, ValueKind::Whole, false);
                entry.append_bits(&shared.cache.bits, from, to - from);
            }
        }
        if !packer.spend(entry.bit_len()) {
            client.left_out.leave_out(changed);
            continue;
        }
        entries.append(&entry);
        count += 1;
        client.resources[index as usize].known = true;
        packer.sent.items.push(SentItem::Resource {
            index,
            tick: changed,
        });
    }
    write_count(&mut packer.body, count);
    packer.body.append(&entries);
}

/// The chosen entities, in slot order, until the budget runs out; as the client before did
/// when it chose the same (see [`SharedEntries`]).
pub(super) fn pack_entities(
    client: &mut ClientReplication,
    shared: &Shared,
    packer: &mut Packer,
    kept: &mut SharedEntries,
) {
    let tick = shared.tick;
    let mut needs = core::mem::take(&mut client.needs);
    fit_real_sizes(client, shared, packer.left, &mut needs);
    if kept.replay(&needs, client, packer) {
        client.needs = needs;
        return;
    }
    kept.start(&needs, packer);
    let mut budget_spent = false;
    for &need in &needs {
        let slot = need_slot(need);
        if budget_spent {
            let since = client.slots[slot as usize].out_of_date_since();
            client.left_out.leave_out(since);
            continue;
        }
        let key = need_key(need);
        let Some(body) = shared.cache.built_body(slot, key) else {
            kept.drop_recording();
            // A value failed to encode: nothing to send, so nothing left out for the watermark.
            if !key.is_spawn() {
                // Nothing left to say: not dirty any more.
                client.dirty.remove(slot);
            }
            continue;
        };
        let state = client.slots[slot as usize];
        let spawn = key
            .is_spawn()
            .then(|| shared.replicated.slots[slot as usize].entity);
        let components = shared.cache.components(body);
        let same_shape = packer.previous_baseline == Some(body.baseline)
            && same_list(&packer.previous_components, components);
        // Written straight into the frame, taken back if it does not fit.
        let write = |packer: &mut Packer, same_shape: bool| {
            let out = &mut packer.body;
            write_entry_head(out, &EntryHead { slot, spawn }, packer.previous_slot);
            if same_shape {
                out.write_bool(false);
            } else {
                write_shape_parts(out, components, body.baseline, shared.index_bits, tick);
            }
            let (from, to) = body.range;
            out.append_bits(&shared.cache.bits, from, to - from);
        };
        let mut mark = packer.body.bit_len();
        write(packer, same_shape);
        let overflows =
            packer.body.bit_len() + MAX_STATE_HEADER_BITS + 1 > MAX_STATE_FRAME_BYTES * 8;
        let mut fits = true;
        if overflows && packer.previous_slot.is_some() {
            // The frame is full: this entry opens the next one, where no shape precedes it, if
            // the trailing second leaves room for another frame.
            packer.body.truncate(mark);
            fits = packer.can_open_frame();
            if fits {
                kept.end_frame(packer);
                packer.next_frame();
                kept.begin_frame(packer);
                mark = packer.body.bit_len();
                write(packer, false);
            }
        }
        let bits = packer.body.bit_len() - mark;
        if !fits || !packer.spend(bits) {
            packer.body.truncate(mark);
            kept.drop_recording();
            budget_spent = true;
            client.left_out.leave_out(state.out_of_date_since());
            continue;
        }
        let sent = record_entry(&mut client.slots[slot as usize], slot, bits as u32);
        packer.sent.slots.push(sent);
        kept.note_entry(bits);
        packer.previous_slot = Some(slot);
        if !same_list(&packer.previous_components, components) {
            packer.previous_components.clear();
            packer.previous_components.extend_from_slice(components);
        }
        packer.previous_baseline = Some(body.baseline);
    }
    kept.finish(packer);
    client.needs = needs;
}

/// Whether two component lists are equal; most have one or two entries, which a call to
/// `memcmp` (what slice equality becomes) costs more than comparing.
#[inline]
fn same_list(a: &[u32], b: &[u32]) -> bool {
    match (a, b) {
        ([x], [y]) => x == y,
        ([x0, x1], [y0, y1]) => x0 == y0 && x1 == y1,
        _ => a == b,
    }
}

/// Notes a packed entry of `bits` in the client's `state` of `slot`: its account emptied, its
/// size kept for the next estimate. Returns what its frame's sent list keeps of it (its
/// acknowledgement acknowledges the entity).
#[inline]
pub(super) fn record_entry(state: &mut ClientSlot, slot: u32, bits: u32) -> SentSlot {
    state.known = true;
    state.priority = 0.0;
    state.last_bits = bits;
    SentSlot {
        slot,
        epoch: state.epoch,
    }
}

/// Bits an entry may take besides its body: head, shape, and the frame's end.
const ENTRY_OVERHEAD_BITS: usize = 48;

/// When the chosen entries' real sizes do not all fit the budget, keeps the largest priority
/// accounts that do ([`fit_by_priority`]; the rest wait, accounts growing): packing goes in slot
/// order, so without this the highest slots would always be the ones cut.
fn fit_real_sizes(
    client: &mut ClientReplication,
    shared: &Shared,
    left_bytes: usize,
    needs: &mut Vec<u128>,
) {
    let size = |need: u128| {
        shared
            .cache
            .built_body(need_slot(need), need_key(need))
            .map_or(0, |body| body.range.1 - body.range.0)
            + ENTRY_OVERHEAD_BITS
    };
    let room = left_bytes * 8;
    // The choice was made on estimates; only measure when they came close to the budget.
    if needs.len() <= 1 || client.chosen_bits * 4 <= room * 3 {
        return;
    }
    let total: usize = needs.iter().map(|&need| size(need)).sum();
    if total <= room {
        return;
    }
    let mut contenders: Vec<Contender> = needs
        .iter()
        .map(|&need| {
            let state = &client.slots[need_slot(need) as usize];
            Contender::new(need, state, size(need) as u64)
        })
        .collect();
    fit_by_priority(&mut contenders, room as u64, needs, &mut client.left_out);
}
