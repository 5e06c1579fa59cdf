//! [`SentFrames`]: what each frame sent to one client carried, kept until the client
//! acknowledges the frame or the ring of [`SENT_FRAMES`] takes its place.
//!
//! The ring holds only each frame's id, tick and the index of its lists in a pool. A client
//! that acknowledges has a few frames in flight, so the pool stays small; one that stops
//! acknowledging fills it up to one entry per frame of the ring, no further.

use super::PendingDespawn;
use crate::shared::tick::NetTick;

/// Frames remembered for acknowledgement; older ones count as lost.
pub(crate) const SENT_FRAMES: usize = 4096;

/// An entity's entry (spawn or update) a frame carried, in the slot's `epoch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SentSlot {
    pub(crate) slot: u32,
    pub(crate) epoch: u32,
}

/// Something else a frame carried, to act on when the frame is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SentItem {
    /// A despawn scheduled at a tick.
    Despawn(PendingDespawn),
    /// A resource's value or removal as of a tick.
    Resource { index: u32, tick: NetTick },
    /// A slice of a large value.
    Slice { blob: u32, index: u32 },
}

/// What one frame carried: its entities' entries (most of it, kept apart so that
/// acknowledging them is a plain loop) and the rest.
#[derive(Debug, Default)]
pub(crate) struct SentLists {
    pub(crate) slots: Vec<SentSlot>,
    pub(crate) items: Vec<SentItem>,
}

impl SentLists {
    /// Whether the frame carried nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty() && self.items.is_empty()
    }

    fn capacity_bytes(&self) -> usize {
        self.slots.capacity() * size_of::<SentSlot>()
            + self.items.capacity() * size_of::<SentItem>()
    }
}

/// A frame of the ring: its id while it waits for its acknowledgement, its tick, and where its
/// lists are in the pool.
#[derive(Clone, Copy, Debug, Default)]
struct SentFrame {
    seq: Option<u16>,
    tick: NetTick,
    lists: u32,
}

/// The frames sent to one client that wait for their acknowledgement (see the module).
#[derive(Debug)]
pub(crate) struct SentFrames {
    ring: Vec<SentFrame>,
    /// Lists of frames in flight, and emptied ones at the indices of `free`.
    pool: Vec<SentLists>,
    free: Vec<u32>,
    /// Frames of the ring not acknowledged, counted as they come and go.
    in_flight: usize,
}

impl Default for SentFrames {
    fn default() -> Self {
        Self {
            ring: vec![SentFrame::default(); SENT_FRAMES],
            pool: Vec::new(),
            free: Vec::new(),
            in_flight: 0,
        }
    }
}

impl SentFrames {
    /// Empty lists for what the next frame carries, with the allocations of an acknowledged
    /// frame's when there is one, so that sends do not allocate anew.
    pub(crate) fn take_lists(&mut self) -> SentLists {
        match self.free.last() {
            Some(&index) => core::mem::take(&mut self.pool[index as usize]),
            None => SentLists::default(),
        }
    }

    /// Remembers what frame `seq` of `tick` carried.
    pub(crate) fn record(&mut self, seq: u16, tick: NetTick, lists: SentLists) {
        let frame = &mut self.ring[usize::from(seq) % SENT_FRAMES];
        let index = match frame.seq {
            // A frame never acknowledged whose place is taken: the new one takes its lists'.
            Some(_) => frame.lists,
            None => {
                self.in_flight += 1;
                self.free.pop().unwrap_or_else(|| {
                    self.pool.push(SentLists::default());
                    (self.pool.len() - 1) as u32
                })
            }
        };
        self.pool[index as usize] = lists;
        *frame = SentFrame {
            seq: Some(seq),
            tick,
            lists: index,
        };
    }

    /// What frame `seq` carried, while it waits for its acknowledgement.
    pub(crate) fn get(&self, seq: u16) -> Option<&SentLists> {
        let frame = &self.ring[usize::from(seq) % SENT_FRAMES];
        (frame.seq == Some(seq)).then(|| &self.pool[frame.lists as usize])
    }

    /// Takes frame `seq` as acknowledged: its tick and what it carried, whose place is free
    /// again once the caller is done with it ([`Self::release`]). `None` for a frame unknown,
    /// acknowledged already or forgotten.
    pub(crate) fn acknowledge(&mut self, seq: u16) -> Option<(NetTick, u32)> {
        let frame = &mut self.ring[usize::from(seq) % SENT_FRAMES];
        if frame.seq != Some(seq) {
            return None;
        }
        frame.seq = None;
        self.in_flight -= 1;
        Some((frame.tick, frame.lists))
    }

    /// The lists at `index` of the pool (from [`Self::acknowledge`]).
    pub(crate) fn lists(&self, index: u32) -> &SentLists {
        &self.pool[index as usize]
    }

    /// Empties the lists at `index`, keeping their allocations for a next frame.
    pub(crate) fn release(&mut self, index: u32) {
        let lists = &mut self.pool[index as usize];
        lists.slots.clear();
        lists.items.clear();
        self.free.push(index);
    }

    /// Frames among the last [`SENT_FRAMES`] sent that are not acknowledged: on their way, or
    /// lost (a lost frame counts until its place in the ring is taken).
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Frames of the ring waiting for their acknowledgement, counted by a scan.
    #[cfg(test)]
    pub(crate) fn scan_waiting(&self) -> usize {
        self.ring.iter().filter(|frame| frame.seq.is_some()).count()
    }

    /// Heap bytes held: the ring, the pool and the lists' allocations.
    pub(crate) fn held_bytes(&self) -> usize {
        self.ring.capacity() * size_of::<SentFrame>()
            + self.pool.capacity() * size_of::<SentLists>()
            + self
                .pool
                .iter()
                .map(SentLists::capacity_bytes)
                .sum::<usize>()
            + self.free.capacity() * size_of::<u32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn carrying(slot: u32) -> SentLists {
        SentLists {
            slots: vec![SentSlot { slot, epoch: 0 }],
            items: Vec::new(),
        }
    }

    /// Each frame reads back what it carried, through acknowledgements, reuse of freed places
    /// and the ring overwriting frames never acknowledged; the pool never outgrows the ring.
    #[test]
    fn frames_read_back_what_they_carried_and_the_pool_stays_bounded() {
        let mut frames = SentFrames::default();
        for seq in 0..3u16 {
            frames.record(seq, NetTick(u32::from(seq)), carrying(u32::from(seq)));
        }
        let (tick, index) = frames.acknowledge(1).expect("frame 1 waits");
        assert_eq!(tick, NetTick(1));
        assert_eq!(frames.lists(index).slots[0].slot, 1);
        frames.release(index);
        assert!(frames.acknowledge(1).is_none(), "acknowledged once only");
        assert!(frames.get(1).is_none());
        // The next frame takes the freed place, with its allocation.
        let lists = frames.take_lists();
        assert!(lists.is_empty() && lists.slots.capacity() > 0);
        frames.record(3, NetTick(3), carrying(3));
        assert_eq!(frames.pool.len(), 3);
        for seq in [0u16, 2, 3] {
            assert_eq!(frames.get(seq).unwrap().slots[0].slot, u32::from(seq));
        }
        assert_eq!(frames.in_flight(), 3);

        // A client that never acknowledges: the ring goes round twice.
        for seq in 4..(2 * SENT_FRAMES as u32 + 4) {
            let seq = seq as u16;
            frames.record(seq, NetTick(u32::from(seq)), carrying(u32::from(seq)));
        }
        assert_eq!(frames.in_flight(), SENT_FRAMES);
        assert!(frames.pool.len() <= SENT_FRAMES);
        let last = (2 * SENT_FRAMES + 3) as u16;
        assert_eq!(frames.get(last).unwrap().slots[0].slot, u32::from(last));
        assert!(frames.get(3).is_none(), "its place was taken");
    }
}
