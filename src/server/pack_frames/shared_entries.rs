//! [`SharedEntries`]: the entity entries one client's frames got, replayed for the next client
//! that chose exactly the same entries with the same bodies.
//!
//! An entry's bits depend only on its slot, its body and the entry before it; where frames
//! split depends only on how many bits came before. So a client that chose the same list, after
//! as many bits of despawns and resources, with at least the budget the first one had, gets
//! the very same entries in the very same frames: they are copied a frame at a time instead of
//! packed again. Clients whose links behave alike (most, on a good network) share them.

use super::{Packer, entries::record_entry};
use crate::server::client_replication::{ClientReplication, need_slot};
use crate::shared::wire::BitWriter;

/// One client's packed entries, kept for the next (see the module).
#[derive(Default)]
pub(crate) struct SharedEntries {
    /// Whether what is kept can be replayed: every chosen entry was packed.
    complete: bool,
    /// The entries' [needs](crate::server::client_replication::need) (slots and
    /// bodies), in order.
    needs: Vec<u128>,
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

    /// Packs the entries of `needs` for `client` as kept, when the kept entries are the same
    /// list and would pack the same way (same start, at least the same budget); returns whether
    /// it did. Kept out of line: once per client, and its loop is tighter on its own.
    #[inline(never)]
    pub(super) fn replay(
        &self,
        needs: &[u128],
        client: &mut ClientReplication,
        packer: &mut Packer,
    ) -> bool {
        let same_start = packer.body.bit_len() == self.start_bits
            && packer.frames.len() == self.start_frames
            && packer.previous_slot.is_none()
            && packer.left >= self.start_left
            && packer.hard_left >= self.start_hard_left;
        if !self.complete || !same_start || self.needs != needs {
            return false;
        }
        let (left, hard_left) = (packer.left, packer.hard_left);
        let (mut from, mut entry) = (0, 0);
        for (frame, &(to, entries)) in self.frames.iter().enumerate() {
            if frame > 0 {
                packer.next_frame();
            }
            packer.body.append_bits(&self.bits, from, to - from);
            // One reservation for the frame's entries, none per entry.
            let slots = &mut client.slots;
            packer.sent.slots.extend(
                self.needs[entry..entries]
                    .iter()
                    .zip(&self.entry_bits[entry..entries])
                    .map(|(&need, &bits)| {
                        let slot = need_slot(need);
                        record_entry(&mut slots[slot as usize], slot, bits)
                    }),
            );
            (from, entry) = (to, entries);
        }
        // The same spending as the first client's, frames and entries alike (none of it
        // saturated there, or an entry would have been left out).
        packer.left = left - (self.start_left - self.end_left);
        packer.hard_left = hard_left - (self.start_hard_left - self.end_hard_left);
        packer.first = false;
        packer.previous_slot = self.needs.last().map(|&need| need_slot(need));
        true
    }

    /// Starts recording the packing of the entries of `needs` into `packer`.
    pub(super) fn start(&mut self, needs: &[u128], packer: &Packer) {
        self.complete = !needs.is_empty() && packer.previous_slot.is_none();
        self.needs.clear();
        self.needs.extend_from_slice(needs);
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
        if !self.complete || self.entry_bits.len() != self.needs.len() {
            self.complete = false;
            return;
        }
        self.end_frame(packer);
        self.end_left = packer.left;
        self.end_hard_left = packer.hard_left;
    }
}
