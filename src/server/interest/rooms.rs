//! [`Rooms`]: which rooms an entity, or a client, is in.

use bevy::prelude::*;

/// A room: a group of entities and clients that see each other. Any number the game likes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Reflect)]
pub struct RoomId(pub u64);

/// The rooms a replicated entity is in, or (on a [`ConnectedClient`](crate::server::ConnectedClient)
/// entity) the rooms a client is in. A client sees the entities that share a room with it, and
/// the entities in no room at all (unless [`InterestSettings::rooms_for_everything`] is set).
///
/// ```
/// use bevy_netsync::server::{RoomId, Rooms};
///
/// let mut rooms = Rooms::new([RoomId(1)]);
/// rooms.insert(RoomId(7));
/// assert!(rooms.contains(RoomId(7)) && rooms.shares(&Rooms::new([RoomId(1), RoomId(3)])));
/// ```
///
/// [`InterestSettings::rooms_for_everything`]: super::InterestSettings::rooms_for_everything
#[derive(Component, Clone, Debug, Default, PartialEq, Eq)]
pub struct Rooms(Vec<RoomId>);

impl Rooms {
    /// In these rooms.
    pub fn new(rooms: impl IntoIterator<Item = RoomId>) -> Self {
        let mut rooms: Vec<RoomId> = rooms.into_iter().collect();
        rooms.sort_unstable();
        rooms.dedup();
        Self(rooms)
    }

    /// Joins a room.
    pub fn insert(&mut self, room: RoomId) {
        if let Err(position) = self.0.binary_search(&room) {
            self.0.insert(position, room);
        }
    }

    /// Leaves a room.
    pub fn remove(&mut self, room: RoomId) {
        if let Ok(position) = self.0.binary_search(&room) {
            self.0.remove(position);
        }
    }

    /// Whether in `room`.
    pub fn contains(&self, room: RoomId) -> bool {
        self.0.binary_search(&room).is_ok()
    }

    /// Whether it shares a room with `other`.
    pub fn shares(&self, other: &Rooms) -> bool {
        let (mut a, mut b) = (self.0.iter().peekable(), other.0.iter().peekable());
        while let (Some(x), Some(y)) = (a.peek(), b.peek()) {
            match x.cmp(y) {
                core::cmp::Ordering::Less => {
                    a.next();
                }
                core::cmp::Ordering::Greater => {
                    b.next();
                }
                core::cmp::Ordering::Equal => return true,
            }
        }
        false
    }

    /// The rooms, in order.
    pub fn iter(&self) -> impl Iterator<Item = RoomId> + '_ {
        self.0.iter().copied()
    }

    /// Whether in no room.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
