//! [`OwnedAck`]: which owned-value sections (client authority) the server read, as the last
//! part of a tick's state frames tells the holder.

use crate::shared::tick::NetTick;

/// Which ticks' owned-value sections the server read in full: the newest, and one bit for each
/// of the 32 ticks before it. A holder codes values only against acknowledged ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnedAck {
    /// The newest tick read.
    pub newest: NetTick,
    /// Bit `n`: the tick `newest - 1 - n` was read too.
    pub earlier: u32,
}

impl OwnedAck {
    /// An acknowledgement of `tick` alone.
    pub fn new(tick: NetTick) -> Self {
        Self {
            newest: tick,
            earlier: 0,
        }
    }

    /// Adds `tick`.
    pub fn note(&mut self, tick: NetTick) {
        let ahead = tick.diff(self.newest);
        if ahead > 0 {
            self.earlier = match ahead {
                1..=31 => (self.earlier << ahead) | (1 << (ahead - 1)),
                32 => 1 << 31,
                _ => 0,
            };
            self.newest = tick;
        } else if (-32..0).contains(&ahead) {
            self.earlier |= 1 << (-ahead - 1);
        }
    }

    /// Whether `tick` was read.
    pub fn has(&self, tick: NetTick) -> bool {
        match self.newest.diff(tick) {
            0 => true,
            age @ 1..=32 => self.earlier & (1 << (age - 1)) != 0,
            _ => false,
        }
    }

    /// Merges another acknowledgement into this one.
    pub fn merge(&mut self, other: OwnedAck) {
        for age in (1..=32).rev() {
            if other.earlier & (1 << (age - 1)) != 0 {
                self.note(other.newest.sub(age as u32));
            }
        }
        self.note(other.newest);
    }
}
