//! Client authority on the server: who holds what ([`HeldBy`](crate::shared::authority::HeldBy), changed through
//! [`AuthorityCommandsExt`] and reported as [`AuthorityChanged`]), the requests clients make
//! ([`AuthorityRequested`]), the values holders send (read by `receive.rs` into each type's
//! inbox, `inbox.rs`, and applied at their tick after the type's rule), and what keeps a holder's
//! accepted values from being echoed back to it (`echo.rs`).
//!
//! The server stays the referee: only the holder's values for registered client-authoritative
//! types are read; each is checked by the type's rule before it is applied; anything else is
//! refused and counted, and a client past [`AuthoritySettings::refusals_allowed`] is
//! disconnected with [`DisconnectReason::UnauthorizedWrites`].
//!
//! [`DisconnectReason::UnauthorizedWrites`]: crate::shared::disconnect::DisconnectReason::UnauthorizedWrites

mod echo;
mod holders;
mod inbox;
mod receive;
mod spawns;

use core::time::Duration;

use bevy::prelude::*;

pub(crate) use echo::EchoLog;
pub(crate) use holders::note_held_slots;
pub(crate) use inbox::{AuthorityInboxes, RuleOf, add_authority};
pub(crate) use receive::{receive_owned_values, receive_requests};
pub use spawns::{
    ClientSpawnCommandsExt, ClientSpawnRequested, MAX_PENDING_CLIENT_SPAWNS, PendingClientSpawn,
};

use super::{SendStep, ServerSet};
use crate::shared::authority::authority_in_use;

/// Reported on the server whenever an entity's holder changes: granted, transferred, revoked,
/// released by its holder, or returned because the holder left or the entity stopped being
/// replicated.
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthorityChanged {
    /// The server entity.
    pub entity: Entity,
    /// The previous holder's transport id; `None` when the server held it.
    pub from: Option<u64>,
    /// The new holder's transport id; `None` when authority returned to the server.
    pub to: Option<u64>,
}

/// A client asked to hold `entity`. The game's rule decides: grant it with
/// [`AuthorityCommandsExt::grant_authority`], or ignore the request.
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthorityRequested {
    /// The server entity asked for.
    pub entity: Entity,
    /// The asking client's entity.
    pub client: Entity,
    /// The asking client's transport id.
    pub client_id: u64,
}

/// Client authority's tunables on the server.
#[derive(Resource, Clone, Debug, PartialEq)]
pub struct AuthoritySettings {
    /// Refused writes (to entities the client does not hold, to types that are not
    /// client-authoritative) a client may make before it is disconnected with
    /// [`DisconnectReason::UnauthorizedWrites`](crate::shared::disconnect::DisconnectReason::UnauthorizedWrites).
    /// The count forgets one refusal every [`refusal_forgiveness`](Self::refusal_forgiveness),
    /// so a client that slips now and then is never disconnected.
    pub refusals_allowed: u32,
    /// How often the refusal count drops by one.
    pub refusal_forgiveness: Duration,
    /// Values from a former holder that arrive this long after its authority ended are refused
    /// and counted; earlier ones were in flight and are dropped quietly.
    pub revoke_grace: Duration,
    /// A client's spawn the game neither approved nor despawned within this time is despawned.
    pub spawn_approval_timeout: Duration,
}

impl Default for AuthoritySettings {
    fn default() -> Self {
        Self {
            refusals_allowed: 120,
            refusal_forgiveness: Duration::from_millis(100),
            revoke_grace: Duration::from_secs(2),
            spawn_approval_timeout: Duration::from_secs(2),
        }
    }
}

/// Changes who holds an entity, on the server. Each change triggers [`AuthorityChanged`].
pub trait AuthorityCommandsExt {
    /// Gives client `client_id` authority over this entity's client-authoritative components
    /// (taking it from whoever held it). The entity must be replicated, and the client
    /// connected (or the host's own [`LOCAL_CLIENT_ID`](crate::server::LOCAL_CLIENT_ID));
    /// otherwise nothing changes. The new holder starts from the value the server holds,
    /// which is the previous holder's last accepted value.
    fn grant_authority(&mut self, client_id: u64) -> &mut Self;

    /// Returns authority over this entity to the server: the holder's values are no longer
    /// accepted, and the server's own systems move the entity again.
    fn revoke_authority(&mut self) -> &mut Self;
}

impl AuthorityCommandsExt for EntityCommands<'_> {
    fn grant_authority(&mut self, client_id: u64) -> &mut Self {
        let entity = self.id();
        self.commands()
            .queue(move |world: &mut World| holders::set_holder(world, entity, Some(client_id)));
        self
    }

    fn revoke_authority(&mut self) -> &mut Self {
        let entity = self.id();
        self.commands()
            .queue(move |world: &mut World| holders::set_holder(world, entity, None));
        self
    }
}

/// Sets the holder of `entity` at once, from exclusive code (a test, an exclusive system);
/// the same as [`AuthorityCommandsExt`] without the wait for commands to apply.
pub fn set_authority(world: &mut World, entity: Entity, client_id: Option<u64>) {
    holders::set_holder(world, entity, client_id);
}

/// Adds client authority's resources, observers and systems to the server.
pub(super) fn plugin(app: &mut App) {
    app.init_resource::<AuthoritySettings>()
        .init_resource::<EchoLog>()
        .init_resource::<AuthorityInboxes>()
        .init_resource::<receive::Refusals>()
        .add_message::<AuthorityChanged>()
        .add_message::<AuthorityRequested>()
        .add_message::<ClientSpawnRequested>()
        .add_observer(holders::return_on_disconnect)
        .add_observer(holders::forget_on_removal)
        .add_observer(holders::return_on_unreplicated)
        .add_systems(
            PostUpdate,
            note_held_slots
                .after(super::client_tables::update_client_tables)
                .in_set(SendStep::Tables)
                .run_if(authority_in_use),
        )
        .add_systems(
            PreUpdate,
            spawns::expire_client_spawns
                .after(super::receive::receive_from_clients)
                .in_set(ServerSet::Receive)
                .run_if(authority_in_use),
        )
        .add_systems(
            FixedPreUpdate,
            inbox::apply_owned_values
                .in_set(ServerSet::ApplyInputs)
                .run_if(authority_in_use),
        );
}
