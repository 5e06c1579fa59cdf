//! [`Interpolate`]: how a component blends between two snapshots, and the [`SnapshotBuffer`]
//! that holds them on the client.

use bevy::{ecs::component::Mutable, prelude::*};

use super::{
    tick::NetTick,
    tick_buffer::{SameTick, TickBuffer},
};

/// A component that can be drawn between two server snapshots.
///
/// ```
/// use bevy::prelude::*;
/// use bevy_netsync::prelude::*;
///
/// #[derive(Component, Clone, PartialEq, Debug)]
/// struct Fuel(f32);
///
/// impl Interpolate for Fuel {
///     fn interpolate(&self, to: &Self, t: f32) -> Self {
///         Fuel(self.0 + (to.0 - self.0) * t)
///     }
/// }
///
/// assert_eq!(Fuel(0.0).interpolate(&Fuel(10.0), 0.25), Fuel(2.5));
/// ```
pub trait Interpolate: Component<Mutability = Mutable> + Clone {
    /// The value `t` of the way from `self` to `to`; `t` is in `[0, 1]`, or a little above 1
    /// when extrapolating.
    fn interpolate(&self, to: &Self, t: f32) -> Self;

    /// How far apart two values are, to tell a teleport from movement: snapshots farther apart
    /// than [`InterpolationSettings::snap_distance`](crate::client::InterpolationSettings) snap
    /// instead of sliding. The default never snaps.
    fn distance(&self, _other: &Self) -> f32 {
        0.0
    }
}

impl Interpolate for Transform {
    fn interpolate(&self, to: &Self, t: f32) -> Self {
        Transform {
            translation: self.translation.lerp(to.translation, t),
            rotation: self.rotation.slerp(to.rotation, t),
            scale: self.scale.lerp(to.scale, t),
        }
    }

    fn distance(&self, other: &Self) -> f32 {
        self.translation.distance(other.translation)
    }
}

/// Most snapshots kept per entity.
const MAX_SNAPSHOTS: usize = 64;

/// Received values of an interpolated component, by server tick, oldest first. Filled by
/// [`ClientSet::Receive`](crate::client::ClientSet::Receive), read by
/// [`ClientSet::Interpolate`](crate::client::ClientSet::Interpolate).
#[derive(Component, Debug)]
pub struct SnapshotBuffer<C: Component> {
    snapshots: TickBuffer<C, MAX_SNAPSHOTS>,
}

impl<C: Component> Default for SnapshotBuffer<C> {
    fn default() -> Self {
        Self {
            snapshots: TickBuffer::default(),
        }
    }
}

/// What [`SnapshotBuffer::sample`] decided.
#[derive(Debug, PartialEq)]
pub enum Sample<C> {
    /// Nothing to show yet.
    Empty,
    /// Between two snapshots, or on one.
    Interpolated(C),
    /// Past the newest snapshot, projected forward (within the limit).
    Extrapolated(C),
    /// Past the newest snapshot and the extrapolation limit: held.
    Held(C),
}

impl<C: Component> SnapshotBuffer<C> {
    /// Adds a snapshot, keeping tick order; a tick already present is ignored.
    pub fn push(&mut self, tick: NetTick, value: C) {
        self.snapshots.insert(tick, value, SameTick::Keep);
    }

    /// Number of snapshots held.
    pub fn len(&self) -> usize {
        self.snapshots.len()
    }

    /// Whether no snapshot is held.
    pub fn is_empty(&self) -> bool {
        self.snapshots.is_empty()
    }

    /// The newest snapshot's tick.
    pub fn newest_tick(&self) -> Option<NetTick> {
        self.snapshots.newest().map(|(tick, _)| tick)
    }

    /// The ticks of the two snapshots [`sample`](SnapshotBuffer::sample) blends at `tick` (the
    /// same tick twice when exactly on the newest), or `None` when it does not interpolate:
    /// empty, or past the newest snapshot (extrapolated or held). For tests and tools that
    /// compare what a client drew with the server's state at the ticks it drew from.
    pub fn bracket(&self, tick: f64) -> Option<(NetTick, NetTick)> {
        let (newest, _) = self.snapshots.newest()?;
        let newest_at = newest.unwrap_near(tick);
        if tick >= newest_at {
            return (tick == newest_at).then_some((newest, newest));
        }
        let after = self
            .snapshots
            .ticks()
            .position(|held| held.unwrap_near(tick) > tick)?;
        let tick_at = |index| self.snapshots.entry(index).map(|(held, _)| held);
        match after {
            0 => Some((tick_at(0)?, tick_at(0)?)),
            _ => Some((tick_at(after - 1)?, tick_at(after)?)),
        }
    }

    /// Forgets snapshots no longer needed to sample at `tick` (keeps the one just before it).
    /// `tick` is on the unwrapped line of [`ClientTimeline`](crate::client::ClientTimeline).
    pub fn prune(&mut self, tick: f64) {
        let passed = self
            .snapshots
            .ticks()
            .skip(1)
            .take_while(|held| held.unwrap_near(tick) <= tick)
            .count();
        self.snapshots
            .forget_oldest(passed.min(self.snapshots.len().saturating_sub(2)));
    }
}

impl<C: Interpolate> SnapshotBuffer<C> {
    /// The value at fractional server tick `tick` (on the unwrapped line of
    /// [`ClientTimeline`](crate::client::ClientTimeline), so sampling works across the tick
    /// wrap): interpolated between the snapshots around it;
    /// past the newest snapshot, held if the server has been heard from since (`heard_until`, its
    /// newest tick stamp: updates only carry changes, so silence about this entity then means it
    /// did not change), else extrapolated at most `max_extrapolation` ticks and then held.
    /// Snapshots farther apart than `snap_distance` are not blended: the older one shows until
    /// the newer one's tick.
    pub fn sample(
        &self,
        tick: f64,
        heard_until: Option<NetTick>,
        max_extrapolation: f64,
        snap_distance: f32,
    ) -> Sample<C> {
        let Some((newest_tick, newest)) = self.snapshots.newest() else {
            return Sample::Empty;
        };
        let at = |held: NetTick| held.unwrap_near(tick);
        let newest_at = at(newest_tick);
        if tick >= newest_at {
            let unchanged_since = heard_until.is_some_and(|heard| heard.is_newer_than(newest_tick));
            let Some((previous_tick, previous)) = self.snapshots.iter().rev().nth(1) else {
                return Sample::Held(newest.clone());
            };
            let previous_at = at(previous_tick);
            if unchanged_since
                || max_extrapolation <= 0.0
                || tick == newest_at
                || previous.distance(newest) > snap_distance
            {
                return Sample::Held(newest.clone());
            }
            let ahead = (tick - newest_at).min(max_extrapolation);
            let t = ((newest_at + ahead - previous_at) / (newest_at - previous_at)) as f32;
            let value = previous.interpolate(newest, t);
            return if tick - newest_at > max_extrapolation {
                Sample::Held(value)
            } else {
                Sample::Extrapolated(value)
            };
        }
        // The last snapshot at or before `tick`, and the one after it.
        let after = self
            .snapshots
            .ticks()
            .position(|held| at(held) > tick)
            .unwrap_or(self.snapshots.len() - 1);
        if after == 0 {
            return Sample::Interpolated(
                self.snapshots
                    .entry(0)
                    .map_or(newest, |(_, first)| first)
                    .clone(),
            );
        }
        let (from_tick, from) = self
            .snapshots
            .entry(after - 1)
            .unwrap_or((newest_tick, newest));
        let (to_tick, to) = self.snapshots.entry(after).unwrap_or((newest_tick, newest));
        if from.distance(to) > snap_distance {
            return Sample::Interpolated(from.clone());
        }
        let from_at = at(from_tick);
        let t = ((tick - from_at) / (at(to_tick) - from_at)) as f32;
        Sample::Interpolated(from.interpolate(to, t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Component, Clone, Debug, PartialEq)]
    struct X(f32);

    impl Interpolate for X {
        fn interpolate(&self, to: &Self, t: f32) -> Self {
            X(self.0 + (to.0 - self.0) * t)
        }
        fn distance(&self, other: &Self) -> f32 {
            (self.0 - other.0).abs()
        }
    }

    fn buffer(points: &[(u32, f32)]) -> SnapshotBuffer<X> {
        let mut buffer = SnapshotBuffer::default();
        for &(tick, x) in points {
            buffer.push(NetTick(tick), X(x));
        }
        buffer
    }

    #[test]
    fn the_bracket_names_the_snapshots_a_sample_blends() {
        let buffer = buffer(&[(10, 10.0), (12, 12.0), (15, 15.0)]);
        assert_eq!(buffer.bracket(11.5), Some((NetTick(10), NetTick(12))));
        assert_eq!(buffer.bracket(12.0), Some((NetTick(12), NetTick(15))));
        assert_eq!(buffer.bracket(15.0), Some((NetTick(15), NetTick(15))));
        assert_eq!(buffer.bracket(9.0), Some((NetTick(10), NetTick(10))));
        assert_eq!(buffer.bracket(15.5), None, "extrapolated or held");
        assert_eq!(SnapshotBuffer::<X>::default().bracket(1.0), None);
    }

    #[test]
    fn samples_between_snapshots_in_any_arrival_order() {
        let buffer = buffer(&[(12, 12.0), (10, 10.0), (11, 11.0), (11, 99.0)]);
        assert_eq!(buffer.len(), 3, "duplicates are ignored");
        assert_eq!(
            buffer.sample(10.5, None, 0.0, 100.0),
            Sample::Interpolated(X(10.5))
        );
        assert_eq!(
            buffer.sample(11.75, None, 0.0, 100.0),
            Sample::Interpolated(X(11.75))
        );
        assert_eq!(
            buffer.sample(9.0, None, 0.0, 100.0),
            Sample::Interpolated(X(10.0))
        );
    }

    #[test]
    fn extrapolates_within_the_limit_then_holds() {
        let buffer = buffer(&[(10, 10.0), (12, 12.0)]);
        assert_eq!(
            buffer.sample(13.0, None, 3.0, 100.0),
            Sample::Extrapolated(X(13.0))
        );
        assert_eq!(buffer.sample(20.0, None, 3.0, 100.0), Sample::Held(X(15.0)));
        assert_eq!(buffer.sample(13.0, None, 0.0, 100.0), Sample::Held(X(12.0)));
    }

    #[test]
    fn an_entity_the_server_stopped_mentioning_is_held_not_extrapolated() {
        let buffer = buffer(&[(10, 10.0), (12, 12.0)]);
        // The server was heard from at tick 14 without news of this entity: it stopped.
        assert_eq!(
            buffer.sample(13.0, Some(NetTick(14)), 3.0, 100.0),
            Sample::Held(X(12.0))
        );
        // Nothing heard after tick 12: it may be moving on, so extrapolate.
        assert_eq!(
            buffer.sample(13.0, Some(NetTick(12)), 3.0, 100.0),
            Sample::Extrapolated(X(13.0))
        );
    }

    #[test]
    fn teleports_snap_instead_of_sliding() {
        let buffer = buffer(&[(10, 0.0), (11, 1.0), (12, 500.0)]);
        assert_eq!(
            buffer.sample(10.5, None, 0.0, 10.0),
            Sample::Interpolated(X(0.5))
        );
        assert_eq!(
            buffer.sample(11.9, None, 0.0, 10.0),
            Sample::Interpolated(X(1.0))
        );
        assert_eq!(buffer.sample(12.0, None, 0.0, 10.0), Sample::Held(X(500.0)));
        assert_eq!(buffer.sample(13.0, None, 5.0, 10.0), Sample::Held(X(500.0)));
    }

    #[test]
    fn sampling_works_across_the_tick_wrap() {
        let max = u32::MAX;
        let buffer = buffer(&[(max - 1, 10.0), (max, 11.0), (0, 12.0), (1, 13.0)]);
        let at = f64::from(max) + 0.5;
        assert_eq!(
            buffer.sample(at, None, 0.0, 100.0),
            Sample::Interpolated(X(11.5))
        );
        assert_eq!(
            buffer.sample(at + 1.0, None, 0.0, 100.0),
            Sample::Interpolated(X(12.5))
        );
        let mut buffer = buffer;
        buffer.prune(at + 1.0);
        assert_eq!(buffer.len(), 2);
    }

    #[test]
    fn prune_keeps_what_sampling_needs() {
        let mut buffer = buffer(&[(10, 10.0), (11, 11.0), (12, 12.0), (13, 13.0)]);
        buffer.prune(12.5);
        assert_eq!(buffer.len(), 2);
        assert_eq!(
            buffer.sample(12.5, None, 0.0, 100.0),
            Sample::Interpolated(X(12.5))
        );
    }
}
