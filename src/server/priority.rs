//! How the send pipeline orders entities when a client's budget cannot carry every change:
//! [`ReplicationPriority`] per entity and a [`PriorityHook`] per game. [`fit_by_priority`] is the
//! one rule both choosing (by estimated sizes) and packing (by real sizes) apply.

use core::cmp::Ordering;
use std::sync::Arc;

use bevy::prelude::*;

use super::{
    client_replication::{ClientSlot, need_slot},
    left_out::LeftOut,
};
use crate::shared::tick::NetTick;

/// How much an entity matters, relative to others (1 by default). Each send, every entity with
/// news a client has not received adds its priority (times the [`PriorityHook`]'s weight) to an
/// account it has with that client; the client's budget goes to the largest accounts, and an
/// account is emptied when its entity is sent. So important entities go first and nothing waits
/// forever.
#[derive(Component, Clone, Copy, Debug, PartialEq, Reflect)]
#[reflect(Component)]
pub struct ReplicationPriority(pub f32);

impl Default for ReplicationPriority {
    fn default() -> Self {
        Self(1.0)
    }
}

/// What a [`PriorityHook`] is asked about.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PriorityQuery {
    /// The client's [`ConnectedClient`](super::ConnectedClient) entity.
    pub client: Entity,
    /// The replicated entity.
    pub entity: Entity,
    /// Distance from the client's view point to the entity, when both have positions (see
    /// [`ViewPoint`](super::ViewPoint)).
    pub distance: Option<f32>,
}

/// Weighs an entity's priority for one client (multiplied with its [`ReplicationPriority`]),
/// for example by distance to the client's player:
///
/// ```
/// use bevy::prelude::*;
/// use bevy_netsync::server::PriorityHook;
///
/// let mut app = App::new();
/// app.insert_resource(PriorityHook::new(|query| match query.distance {
///     Some(distance) => 1.0 / (1.0 + distance / 10.0),
///     None => 1.0,
/// }));
/// ```
///
/// It runs for every entity with news for a client whose budget cannot carry them all, so keep
/// it cheap.
#[derive(Resource, Clone)]
pub struct PriorityHook(pub(crate) Arc<dyn Fn(&PriorityQuery) -> f32 + Send + Sync>);

impl PriorityHook {
    /// A hook from a function.
    pub fn new(weigh: impl Fn(&PriorityQuery) -> f32 + Send + Sync + 'static) -> Self {
        Self(Arc::new(weigh))
    }
}

/// An entity competing for a client's budget this send, and the bits its entry takes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Contender {
    /// The entity and the body its entry needs ([`need`](super::client_replication::need)), as
    /// it goes out if it fits.
    pub(crate) need: u128,
    /// The tick the client's copy has been out of date since (what waiting holds back).
    pub(crate) since: NetTick,
    /// Its account with the client.
    pub(crate) priority: f32,
    /// Its entry's size: estimated when choosing, measured when packing.
    pub(crate) bits: u64,
}

impl Contender {
    /// The contender for `need`, as the client's state of its slot stands.
    pub(crate) fn new(need: u128, state: &ClientSlot, bits: u64) -> Self {
        Self {
            need,
            since: state.out_of_date_since(),
            priority: state.priority,
            bits,
        }
    }
}

/// The priority order: the larger account first, the lower slot on a tie.
fn priority_order(a: &Contender, b: &Contender) -> Ordering {
    b.priority
        .total_cmp(&a.priority)
        .then(need_slot(a.need).cmp(&need_slot(b.need)))
}

/// Replaces `kept` with the needs of the contenders that fit in `room` bits, the largest
/// accounts first (the first always goes, so a send is never empty), in slot order; the rest
/// are left out. Returns the bits kept. Leaves `contenders` in priority order.
pub(crate) fn fit_by_priority(
    contenders: &mut [Contender],
    room: u64,
    kept: &mut Vec<u128>,
    left_out: &mut LeftOut,
) -> u64 {
    contenders.sort_by(priority_order);
    kept.clear();
    let mut used = 0u64;
    for contender in contenders.iter() {
        if used + contender.bits <= room || kept.is_empty() {
            used += contender.bits;
            kept.push(contender.need);
        } else {
            left_out.leave_out(contender.since);
        }
    }
    kept.sort_unstable_by_key(|&need| need_slot(need));
    used
}
