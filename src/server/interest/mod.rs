//! Interest management: which replicated entities each client receives.
//!
//! - [`Rooms`] on entities and clients: a client sees what shares a room with it.
//! - [`ViewPoint`] on a client: it sees what is within a radius of its player (or a position).
//! - [`RelevanceRule`]: the game's own rule (teams, fog of war, line of sight).
//! - [`FreezeWhenHidden`] on an entity: clients that stop seeing it keep it, frozen.
//!
//! Entities entering a client's view spawn there with their current state; entities leaving
//! it are despawned there. A reference to an entity a client does not see is
//! `Entity::PLACEHOLDER` on that client until it sees it. Without any of these, every client
//! sees every replicated entity, at no cost.

mod index;
mod rooms;
mod settings;
mod update_relevance;
mod view_point;

pub(crate) use index::{
    InterestIndex, activate_on_rooms, activate_on_view_point, interest_in_use, log_rooms_removed,
};
pub use rooms::{RoomId, Rooms};
pub use settings::{FreezeWhenHidden, InterestSettings, RelevanceRule};
pub(crate) use update_relevance::update_relevance;
pub use view_point::{ViewOrigin, ViewPoint};
