//! Values too large for a replication frame: the server keeps each one's encoding once
//! ([`BlobStore`]) and sends it to each client in slices ([`ClientBlobs`]), each acknowledged and
//! resent only when it seems lost. The entity's entry refers to the value once every slice
//! arrived, so the client applies it whole and at the right time.

use bevy::{platform::collections::HashMap, prelude::*};
use bevy_renet::renet::Bytes;

use crate::shared::{tick::NetTick, wire::SLICE_BYTES};

/// Whole encodings above this many bytes travel in slices instead of inside frames.
pub const LARGE_VALUE_BYTES: usize = 900;
/// Most large values on their way to one client at once; further ones wait their turn. Enough
/// to keep a long round trip busy with small large values (256 of 1 KB cover 2 s at 128 KB/s).
pub(crate) const MAX_TRANSFERS_PER_CLIENT: usize = 256;
/// Most bytes of large values on their way to one client at once (a single larger value may
/// still go alone): bounds what the server and the client hold for transfers.
pub(crate) const MAX_TRANSFER_BYTES_PER_CLIENT: usize = 32 << 20;

/// What a large value belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum BlobKey {
    /// Component `index` of the entity in `slot`.
    Component { slot: u32, index: u32 },
    /// Resource `index`.
    Resource(u32),
}

/// The encoding of one large value.
#[derive(Clone, Debug)]
pub(crate) struct Blob {
    /// Id on the wire, the same for every client.
    pub(crate) id: u32,
    pub(crate) bytes: Bytes,
}

/// The current large values, each encoded once. Written by the send pipeline's encode step.
#[derive(Resource, Default, Debug)]
pub(crate) struct BlobStore {
    next_id: u32,
    current: HashMap<BlobKey, Blob>,
}

impl BlobStore {
    /// Keeps `bytes` as the current value of `key`; returns its id.
    pub(crate) fn store(&mut self, key: BlobKey, bytes: Vec<u8>) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.current.insert(
            key,
            Blob {
                id,
                bytes: Bytes::from(bytes),
            },
        );
        id
    }

    /// The current large value of `key`.
    pub(crate) fn get(&self, key: BlobKey) -> Option<&Blob> {
        self.current.get(&key)
    }

    /// Forgets the value of `key` (it became small, was removed, or its entity is gone).
    pub(crate) fn remove(&mut self, key: BlobKey) {
        // Called for every small value encoded: most worlds have no large ones at all.
        if !self.current.is_empty() {
            self.current.remove(&key);
        }
    }

    /// Forgets every value of a slot's entity.
    pub(crate) fn remove_slot(&mut self, slot: u32) {
        self.current.retain(
            |key, _| !matches!(key, BlobKey::Component { slot: held, .. } if *held == slot),
        );
    }
}

/// One large value on its way to one client.
#[derive(Debug)]
struct Transfer {
    key: BlobKey,
    blob: Blob,
    acked: Vec<bool>,
    acked_count: usize,
    /// The first slice never sent.
    next_new: usize,
    /// Slices sent and not acknowledged (as far as known), oldest send first.
    in_flight: std::collections::VecDeque<(u32, NetTick)>,
}

/// A slice ready to be framed.
#[derive(Clone, Debug)]
pub(crate) struct SliceOut {
    pub(crate) blob: u32,
    pub(crate) total_len: usize,
    pub(crate) index: u32,
    pub(crate) payload: Bytes,
}

/// Where a large value stands for one client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BlobStatus {
    /// Every slice arrived: the entry may refer to it.
    Complete,
    /// Slices are on their way (or waiting for a free transfer).
    Pending,
}

/// A client's large-value transfers. Part of [`ClientReplication`](super::client_replication::ClientReplication).
#[derive(Debug, Default)]
pub(crate) struct ClientBlobs {
    transfers: Vec<Transfer>,
    /// Per key, the id the client has in full.
    complete: HashMap<BlobKey, u32>,
}

impl ClientBlobs {
    /// Heap bytes this client's transfers hold (values shared with the store counted whole).
    #[cfg_attr(not(feature = "test_utils"), allow(dead_code))]
    pub(crate) fn held_bytes(&self) -> usize {
        let transfers: usize = self
            .transfers
            .iter()
            .map(|transfer| {
                transfer.blob.bytes.len()
                    + transfer.acked.capacity()
                    + transfer.in_flight.capacity() * core::mem::size_of::<(u32, NetTick)>()
            })
            .sum();
        transfers
            + self.transfers.capacity() * core::mem::size_of::<Transfer>()
            + self.complete.capacity() * core::mem::size_of::<(BlobKey, u32)>()
    }

    /// Where `blob` (the current value of `key`) stands, starting its transfer if there is room.
    pub(crate) fn status(&mut self, key: BlobKey, blob: &Blob) -> BlobStatus {
        if self.complete.get(&key) == Some(&blob.id) {
            return BlobStatus::Complete;
        }
        if let Some(position) = self.transfers.iter().position(|t| t.key == key) {
            if self.transfers[position].blob.id == blob.id {
                return BlobStatus::Pending;
            }
            // A newer value replaces the one on its way.
            self.transfers.remove(position);
        }
        let in_flight: usize = self.transfers.iter().map(|t| t.blob.bytes.len()).sum();
        let room = self.transfers.is_empty()
            || (self.transfers.len() < MAX_TRANSFERS_PER_CLIENT
                && in_flight + blob.bytes.len() <= MAX_TRANSFER_BYTES_PER_CLIENT);
        if room {
            let slices = blob.bytes.len().div_ceil(SLICE_BYTES).max(1);
            self.transfers.push(Transfer {
                key,
                blob: blob.clone(),
                acked: vec![false; slices],
                acked_count: 0,
                next_new: 0,
                in_flight: std::collections::VecDeque::new(),
            });
        }
        BlobStatus::Pending
    }

    /// Notes that slice `index` of `blob` arrived.
    pub(crate) fn acknowledge(&mut self, blob: u32, index: u32) {
        let Some(position) = self.transfers.iter().position(|t| t.blob.id == blob) else {
            return;
        };
        let transfer = &mut self.transfers[position];
        let Some(acked) = transfer.acked.get_mut(index as usize) else {
            return;
        };
        if !*acked {
            *acked = true;
            transfer.acked_count += 1;
        }
        if transfer.acked_count == transfer.acked.len() {
            let done = self.transfers.remove(position);
            self.complete.insert(done.key, done.blob.id);
        }
    }

    /// Forgets everything about a slot.
    pub(crate) fn forget_slot(&mut self, slot: u32) {
        let is_slot =
            |key: &BlobKey| matches!(key, BlobKey::Component { slot: held, .. } if *held == slot);
        self.complete.retain(|key, _| !is_slot(key));
        self.transfers.retain(|transfer| !is_slot(&transfer.key));
    }

    /// Whether slices are on their way.
    pub(crate) fn is_idle(&self) -> bool {
        self.transfers.is_empty()
    }

    /// Slices to send now, oldest transfer first, within `budget` bytes: slices sent
    /// `resend_after` ticks ago or more without an acknowledgement, then slices never sent.
    pub(crate) fn next_slices(
        &mut self,
        now: NetTick,
        resend_after: u32,
        budget: &mut usize,
        overhead: usize,
    ) -> Vec<SliceOut> {
        let mut out = Vec::new();
        let cost = |blob: &Blob, index: usize| {
            let start = index * SLICE_BYTES;
            (start, (start + SLICE_BYTES).min(blob.bytes.len()))
        };
        // Resends first, across every transfer: a slice lost long ago must not wait behind
        // the new slices of other values (the client holds the rest of its value meanwhile).
        for transfer in &mut self.transfers {
            // The in-flight queue is in send order, so only its front can be due.
            while let Some(&(index, sent)) = transfer.in_flight.front() {
                if transfer.acked[index as usize] {
                    transfer.in_flight.pop_front();
                    continue;
                }
                if now.diff(sent) < resend_after as i32 {
                    break;
                }
                let (start, end) = cost(&transfer.blob, index as usize);
                if end - start + overhead > *budget {
                    return out;
                }
                *budget -= end - start + overhead;
                transfer.in_flight.pop_front();
                transfer.in_flight.push_back((index, now));
                out.push(slice_out(&transfer.blob, index, start, end));
            }
        }
        for transfer in &mut self.transfers {
            while transfer.next_new < transfer.acked.len() {
                let index = transfer.next_new;
                let (start, end) = cost(&transfer.blob, index);
                if end - start + overhead > *budget {
                    return out;
                }
                *budget -= end - start + overhead;
                transfer.next_new += 1;
                transfer.in_flight.push_back((index as u32, now));
                out.push(slice_out(&transfer.blob, index as u32, start, end));
            }
        }
        out
    }
}

fn slice_out(blob: &Blob, index: u32, start: usize, end: usize) -> SliceOut {
    SliceOut {
        blob: blob.id,
        total_len: blob.bytes.len(),
        index,
        payload: blob.bytes.slice(start..end),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_completes_once_every_slice_is_acknowledged_and_lost_ones_are_resent() {
        let mut store = BlobStore::default();
        let key = BlobKey::Component { slot: 1, index: 0 };
        let id = store.store(key, vec![7; 2_500]);
        let blob = store.get(key).unwrap().clone();
        let mut client = ClientBlobs::default();
        assert_eq!(client.status(key, &blob), BlobStatus::Pending);
        let mut budget = 10_000;
        let first = client.next_slices(NetTick(1), 10, &mut budget, 0);
        assert_eq!(first.len(), 3);
        assert_eq!(first[2].payload.len(), 2_500 - 2 * SLICE_BYTES);
        client.acknowledge(id, 0);
        client.acknowledge(id, 2);
        let mut budget = 10_000;
        assert!(
            client
                .next_slices(NetTick(5), 10, &mut budget, 0)
                .is_empty(),
            "not yet"
        );
        let again = client.next_slices(NetTick(11), 10, &mut budget, 0);
        assert_eq!(again.iter().map(|s| s.index).collect::<Vec<_>>(), [1]);
        client.acknowledge(id, 1);
        assert_eq!(client.status(key, &blob), BlobStatus::Complete);
        assert!(client.is_idle());
    }

    #[test]
    fn a_newer_value_replaces_the_one_on_its_way_and_slices_respect_the_budget() {
        let mut store = BlobStore::default();
        let key = BlobKey::Resource(0);
        store.store(key, vec![1; 5_000]);
        let old = store.get(key).unwrap().clone();
        let mut client = ClientBlobs::default();
        client.status(key, &old);
        let mut budget = 1_500;
        assert_eq!(
            client.next_slices(NetTick(1), 10, &mut budget, 100).len(),
            1
        );
        store.store(key, vec![2; 100]);
        let new = store.get(key).unwrap().clone();
        client.status(key, &new);
        let mut budget = 10_000;
        let slices = client.next_slices(NetTick(2), 10, &mut budget, 0);
        assert_eq!(slices.len(), 1);
        assert_eq!(slices[0].blob, new.id);
    }
}
