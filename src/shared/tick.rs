//! [`NetTick`]: the server's simulation step counter, compared with wrap-around.

use core::cmp::Ordering;

use bevy::prelude::*;
use serde::{Deserialize, Serialize};

/// One server simulation step (`FixedUpdate` run), counted from the server's start.
///
/// Ticks wrap around at `u32::MAX` (over two years at 60 Hz); compare them with
/// [`NetTick::is_newer_than`] or [`NetTick::wrapping_cmp`], never with `>` on the raw numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, Reflect)]
pub struct NetTick(pub u32);

impl NetTick {
    /// Returns the tick `n` steps after this one.
    #[inline]
    pub const fn add(self, n: u32) -> Self {
        Self(self.0.wrapping_add(n))
    }

    /// Returns the tick `n` steps before this one.
    #[inline]
    pub const fn sub(self, n: u32) -> Self {
        Self(self.0.wrapping_sub(n))
    }

    /// Signed distance from `other` to `self`: positive when `self` is later.
    #[inline]
    pub const fn diff(self, other: Self) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// Whether `self` comes strictly after `other` (wrap-around aware).
    #[inline]
    pub const fn is_newer_than(self, other: Self) -> bool {
        self.diff(other) > 0
    }

    /// Orders two ticks on the wrap-around timeline.
    #[inline]
    pub fn wrapping_cmp(self, other: Self) -> Ordering {
        self.diff(other).cmp(&0)
    }

    /// The later of two ticks.
    #[inline]
    pub fn max(self, other: Self) -> Self {
        if other.is_newer_than(self) {
            other
        } else {
            self
        }
    }

    /// This tick on the unwrapped line of fractional ticks, as the occurrence nearest `near`:
    /// client clocks count past `u32::MAX` that way, and only wrap when they become a `NetTick`
    /// again ([`NetTick::from_unwrapped`]).
    #[inline]
    pub fn unwrap_near(self, near: f64) -> f64 {
        let base = near.floor();
        let base_tick = Self::from_unwrapped(base);
        base + f64::from(self.diff(base_tick))
    }

    /// The tick at a point of the unwrapped line (rounded down), wrapped to 32 bits.
    #[inline]
    pub fn from_unwrapped(tick: f64) -> Self {
        Self(tick.floor().rem_euclid(4_294_967_296.0) as u32)
    }

    /// The earlier of two ticks.
    #[inline]
    pub fn min(self, other: Self) -> Self {
        if other.is_newer_than(self) {
            self
        } else {
            other
        }
    }
}

/// The server's current tick, advanced once per `FixedUpdate` step in
/// [`ServerSet::Tick`](crate::server::ServerSet::Tick) (in `FixedFirst`), so game systems in
/// `FixedUpdate` see the tick they are simulating.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq, Deref)]
pub struct ServerTick(pub NetTick);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_across_wrap() {
        let before = NetTick(u32::MAX - 1);
        let after = before.add(3);
        assert_eq!(after, NetTick(1));
        assert!(after.is_newer_than(before));
        assert!(!before.is_newer_than(after));
        assert_eq!(after.diff(before), 3);
        assert_eq!(before.wrapping_cmp(after), Ordering::Less);
        assert_eq!(before.max(after), after);
    }

    #[test]
    fn unwrapping_counts_past_the_wrap() {
        let near = f64::from(u32::MAX) - 0.5;
        assert_eq!(NetTick(2).unwrap_near(near), f64::from(u32::MAX) + 3.0);
        assert_eq!(
            NetTick(u32::MAX - 4).unwrap_near(near),
            f64::from(u32::MAX) - 4.0
        );
        assert_eq!(
            NetTick::from_unwrapped(f64::from(u32::MAX) + 3.7),
            NetTick(2)
        );
        assert_eq!(NetTick::from_unwrapped(-1.0), NetTick(u32::MAX));
        assert_eq!(NetTick(70).unwrap_near(65.2), 70.0);
    }

    #[test]
    fn equal_is_not_newer() {
        assert!(!NetTick(5).is_newer_than(NetTick(5)));
        assert_eq!(NetTick(5).sub(6), NetTick(u32::MAX));
    }
}
