//! [`LeftOut`]: the one way a send leaves news out of a client's frames, and so the one place
//! that holds the watermark back.
//!
//! A frame's watermark promises the client every change up to a tick; server messages wait for
//! it (`src/server/send_messages.rs`). Whatever a send leaves out (an entity, a resource or a
//! despawn, for the budget, a full frame or a large value still on its way) goes through
//! [`LeftOut::leave_out`], so no reason to leave something out can forget the watermark.

use crate::shared::tick::NetTick;

/// The news left out of one client's frames this send, kept as the oldest tick among them.
/// Cleared when entities are chosen, added to while they are chosen and packed, read once for
/// the last frame's watermark.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LeftOut {
    /// The oldest tick since which the client lacks something left out.
    oldest: Option<NetTick>,
}

impl LeftOut {
    /// Starts a send with nothing left out.
    pub(crate) fn clear(&mut self) {
        self.oldest = None;
    }

    /// Leaves out news the client has lacked since `since` (an entity's `dirty_since`, a
    /// resource's change, a despawn's tick): the watermark stays below it.
    pub(crate) fn leave_out(&mut self, since: NetTick) {
        self.oldest = Some(self.oldest.map_or(since, |held| held.min(since)));
    }

    /// The watermark of this send's frames of `tick`: `tick` when nothing was left out, else the
    /// tick before the oldest news left out.
    pub(crate) fn watermark(&self, tick: NetTick) -> NetTick {
        self.oldest.map_or(tick, |since| since.sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_left_out_holds_the_watermark() {
        let mut left_out = LeftOut::default();
        assert_eq!(left_out.watermark(NetTick(9)), NetTick(9));
        left_out.leave_out(NetTick(7));
        left_out.leave_out(NetTick(4));
        left_out.leave_out(NetTick(6));
        assert_eq!(left_out.watermark(NetTick(9)), NetTick(3));
        left_out.clear();
        assert_eq!(left_out.watermark(NetTick(9)), NetTick(9));
    }
}
