//! Client authority, what both sides share: who holds an entity ([`HeldBy`]), which replicated
//! component types a holder may write ([`AuthorityRegistry`]), what the server's rule answers
//! ([`Verdict`], [`Proposal`]), and the limits of the upstream path.
//!
//! The model: the server stays the referee. It grants one client at a time authority over an
//! entity (a [`HeldBy`] on it, replicated to everyone with aliased ids); the holder then
//! simulates the entity's client-authoritative components itself and sends their values
//! upstream in its update frames, tick-stamped and delta-coded against what the server
//! acknowledged. The server checks each value with the type's rule, applies it at its tick and
//! replicates it to everyone else; the holder gets only the server's corrections back.

use bevy::prelude::*;
use serde::{Deserialize, Serialize};

use super::client_ids::NamesClients;

/// The client holding authority over an entity: its client-authoritative components follow
/// that client's values instead of the server's simulation. Replicated with aliased ids, so
/// the holder sees its own id here and everyone else an alias. On the server, change it with
/// [`AuthorityCommandsExt`](crate::server::AuthorityCommandsExt), which also reports the change.
#[derive(Component, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Reflect)]
#[reflect(Component)]
pub struct HeldBy {
    /// The holder's transport id.
    pub client_id: u64,
}

impl NamesClients for HeldBy {
    fn map_client_ids(&mut self, map: &mut dyn FnMut(u64) -> u64) {
        self.client_id = map(self.client_id);
    }
}

/// A value a holder proposed, as the server's rule for its type sees it.
#[derive(Debug)]
pub struct Proposal<'a, C> {
    /// The server entity.
    pub entity: Entity,
    /// The holder's transport id.
    pub client_id: u64,
    /// The value the server holds now (the last one accepted or set), if any.
    pub current: Option<&'a C>,
    /// The proposed value.
    pub proposed: &'a C,
    /// Server ticks since the last value accepted from this holder for this entity (1 to 8):
    /// with the tick rate, the time the change took, for speed limits. Capped, so a holder that
    /// sat still does not bank a long time's allowance for one move.
    pub ticks: u32,
}

/// What the server's rule decides about a [`Proposal`].
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict<C> {
    /// Apply the value as proposed; it is not sent back to the holder.
    Accept,
    /// Apply this value instead; it is sent to the holder too, which takes it over.
    Correct(C),
    /// Keep the current value; the holder is sent it back if it differs.
    Reject,
}

/// A server rule for one client-authoritative type.
pub type AuthorityRule<C> = Box<dyn Fn(&Proposal<C>) -> Verdict<C> + Send + Sync>;

/// The replicated component types clients may write while holding an entity, by wire index.
/// Filled by [`AuthorityAppExt`](crate::AuthorityAppExt).
#[derive(Resource, Default, Debug)]
pub struct AuthorityRegistry {
    /// Wire indices of the client-authoritative types, in registration order.
    pub(crate) indices: Vec<u32>,
}

impl AuthorityRegistry {
    /// Whether the replicated type at wire `index` is client-authoritative.
    pub(crate) fn contains(&self, index: u32) -> bool {
        self.indices.contains(&index)
    }

    /// Whether any type is client-authoritative (else the authority systems do nothing).
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

/// Run condition: some type is client-authoritative.
pub(crate) fn authority_in_use(registry: Option<Res<AuthorityRegistry>>) -> bool {
    registry.is_some_and(|registry| !registry.is_empty())
}

/// Most values of one type in one update frame.
pub const MAX_OWNED_PER_TYPE: usize = 64;
/// Most bytes of owned values in one update frame; a holder with more sends the rest in the
/// next frames.
pub const MAX_OWNED_SECTION_BYTES: usize = 1_000;
/// Ticks of sent (client) and received (server) values kept per held entity and type, as
/// baselines for deltas.
pub(crate) const OWNED_HISTORY_TICKS: usize = 64;
/// A holder codes a value against its newest acknowledged one only when that is at most this
/// many ticks old; otherwise the value goes whole.
pub(crate) const OWNED_BASELINE_TICKS: i32 = 48;
