//! [`SharedEntries`]: the entity entries one client's frames got, replayed for the next client
//! that chose exactly the same entries with the same bodies.
//!
//! An entry's bits depend only on its slot, its body and the entry before it; where frames
//! split depends only on how many bits came before. So a client that chose the same list, after
//! as many bits of despawns and resources, with at least the budget the first one had, gets
//! the very same entries in the very same frames: they are copied a frame at a time instead of
//! packed again. Clients whose links behave alike (most, on a good network) share them.

use super::{Packer, entries::record_entry};
use crate::server::{
    client_replication::{Chosen, ClientReplication},
    value_cache::BodyKey,
};
use crate::shared::wire::BitWriter;

/// One client's packed entries, kept for the next (see the module).
#[derive(Default)]
pub(crate) struct SharedEntries {
    /// Whether what is kept can be replayed: every chosen entry was packed.
    complete: bool,
    /// The entries' slots and bodies, in order.
    chosen: Vec<(u32, BodyKey)>,
    /// The packer when the entries began: bits in its body, frames closed, budget left.
    start_bits: usize,
    start_frames: usize,
    start_left: usize,
    start_hard_left: usize,
    /// The packer's budget when they ended.
    end_left: usize,
    end_hard_left: usize,
    /// The entries' bits, frame after frame.
    bits: BitWriter,
    /// Where the entries being recorded begin in the packer's current body.
    frame_start: usize,
    /// Per frame: where its entries end in `bits`, and how many entries came before its end.
    frames: Vec<(usize, usize)>,
    /// Each entry's bits.
    entry_bits: Vec<u32>,
}

impl SharedEntries {
    /// Forgets what is kept (a new send: the same bodies have other bits), keeping the buffers.
    pub(super) fn forget(&mut self) {
        self.complete = false;
    }

    /// Packs `chosen` for `client` as kept, when the kept entries are the same list and would
    /// pack the same way (same start, at least the same budget); returns whether it did.
    pub(super) fn replay(
        &self,
        chosen: &[Chosen],
        client: &mut ClientReplication,
        packer: &mut Packer,
    ) -> bool {
        let same_start = packer.body.bit_len() == self.start_bits
            && packer.frames.len() == self.start_frames
            && packer.previous_slot.is_none()
            && packer.left >= self.start_left
            && packer.hard_left >= self.start_hard_left;
        let same_list = self.chosen.len() == chosen.len()
            && self
                .chosen
                .iter()
                .zip(chosen)
                .all(|(&(slot, key), chosen)| slot == chosen.slot && key == chosen.key);
        if !self.complete || !same_start || !same_list {
            return false;
        }
        let (left, hard_left) = (packer.left, packer.hard_left);
        let (mut from, mut entry) = (0, 0);
        for (frame, &(to, entries)) in self.frames.iter().enumerate() {
            if frame > 0 {
                packer.next_frame();
            }
            packer.body.append_bits(&self.bits, from, to - from);
            for (&(slot, _), &bits) in self.chosen[entry..entries]
                .iter()
                .zip(&self.entry_bits[entry..entries])
            {
                let epoch = client.slots[slot as usize].epoch;
                record_entry(packer, client, slot, epoch, bits as usize);
            }
            (from, entry) = (to, entries);
        }
        // The same spending as the first client's, frames and entries alike (none of it
        // saturated there, or an entry would have been left out).
        packer.left = left - (self.start_left - self.end_left);
        packer.hard_left = hard_left - (self.start_hard_left - self.end_hard_left);
        packer.first = false;
        packer.previous_slot = self.chosen.last().map(|&(slot, _)| slot);
        true
    }

    /// Starts recording the packing of `chosen` into `packer`.
    pub(super) fn start(&mut self, chosen: &[Chosen], packer: &Packer) {
        self.complete = !chosen.is_empty() && packer.previous_slot.is_none();
        self.chosen.clear();
        self.chosen
            .extend(chosen.iter().map(|chosen| (chosen.slot, chosen.key)));
        self.start_bits = packer.body.bit_len();
        self.start_frames = packer.frames.len();
        self.start_left = packer.left;
        self.start_hard_left = packer.hard_left;
        self.bits.clear();
        self.frame_start = self.start_bits;
        self.frames.clear();
        self.entry_bits.clear();
    }

    /// Notes an entry of `bits` packed.
    pub(super) fn note_entry(&mut self, bits: usize) {
        self.entry_bits.push(bits as u32);
    }

    /// Notes that the packer's current frame ends here (before it opens the next).
    pub(super) fn end_frame(&mut self, packer: &Packer) {
        if !self.complete {
            return;
        }
        let end = packer.body.bit_len();
        self.bits
            .append_bits(&packer.body, self.frame_start, end - self.frame_start);
        self.frames
            .push((self.bits.bit_len(), self.entry_bits.len()));
    }

    /// Notes that the packer opened its next frame: its entries begin here (after the frame's
    /// empty despawn and resource lists).
    pub(super) fn begin_frame(&mut self, packer: &Packer) {
        self.frame_start = packer.body.bit_len();
    }

    /// Some chosen entry did not go: nothing to replay.
    pub(super) fn drop_recording(&mut self) {
        self.complete = false;
    }

    /// Ends the recording with the packer's last frame.
    pub(super) fn finish(&mut self, packer: &Packer) {
        if !self.complete || self.entry_bits.len() != self.chosen.len() {
            self.complete = false;
            return;
        }
        self.end_frame(packer);
        self.end_left = packer.left;
        self.end_hard_left = packer.hard_left;
    }
}
