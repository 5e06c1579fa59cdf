//! The ball: one per level, lying about until a player picks it up. The player who holds it
//! has authority over it (the crate's client authority): its client carries the ball in front
//! of its own player and, when it throws, simulates the first moments of the flight itself;
//! then it gives the ball back and the server flies it on. A holder that leaves or dies gives
//! it back too, and it falls.
//!
//! - [`physics`]: how a free ball flies, bounces and rolls, and where a holder carries it
//!   (shared: the server and a throwing holder move it with the same code);
//! - [`server`]: the server's side (the ball, its free flight, who may pick it up, the rules
//!   a holder's values must follow);
//! - [`holder`]: the holding side (picking up, carrying, throwing), on clients and for the
//!   host's own player.

pub mod holder;
pub mod physics;
pub mod server;

use bevy::prelude::*;
use bevy_netsync::prelude::*;
use serde::{Deserialize, Serialize};

pub use holder::{Thrown, UseBall};

/// The ball (replicated). Its [`Transform`] and [`BallVelocity`] are client-authoritative:
/// whoever holds it writes them.
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[require(BallVelocity)]
pub struct Ball;

/// How fast the ball flies, metres per second (replicated, client-authoritative): a holder
/// that throws sets it, so the server continues the throw where the holder left it.
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Debug, Default)]
pub struct BallVelocity(pub Vec3);

/// Registers the ball's replicated components (server and clients, same order). The ball's
/// [`Transform`] is registered client-authoritative in [`protocol`](crate::protocol).
pub fn protocol(app: &mut App) {
    app.replicate::<Ball>()
        .replicate_client_authoritative::<BallVelocity>();
}
