//! Client authority on the client: which entities this client holds ([`HasAuthority`], taken
//! up in `track.rs` once the server's grant arrived and the entity was drawn where the server
//! holds it), its requests ([`RequestAuthority`], [`ReleaseAuthority`]), entities it spawns to
//! own ([`SpawnOwned`], `spawn.rs`), and the values of what it holds, sent upstream each tick
//! they change (`send.rs`).

mod send;
mod spawn;
mod track;

use std::sync::Arc;

use bevy::{ecs::component::Mutable, prelude::*};

use super::{ClientSendStep, ClientSet};
use crate::shared::{
    authority::authority_in_use, codec::ComponentCodec, prediction::not_resimulating,
};

pub(crate) use send::OutgoingOwned;
pub use spawn::SpawnOwned;

/// On a client: this client holds authority over the entity. Its client-authoritative
/// components are the game's to move (they are neither interpolated nor predicted); their
/// values go to the server, which replicates them to everyone else and sends back only its
/// corrections. Added and removed by the crate as the server grants and revokes authority.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq, Reflect)]
#[reflect(Component)]
pub struct HasAuthority;

/// Write this on a client to ask the server for authority over a replicated entity (the
/// client's copy). The server's rule decides; [`AuthorityGained`] follows if it grants it.
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestAuthority(pub Entity);

/// Write this on a client to give authority over an entity it holds back to the server.
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReleaseAuthority(pub Entity);

/// Reported on a client when it starts holding an entity ([`HasAuthority`] was just added).
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthorityGained(pub Entity);

/// Reported on a client when it stops holding an entity (revoked, transferred, released).
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthorityLost(pub Entity);

/// Adds `C`'s upstream path: its values on held entities go to the server, coded by `codec`.
pub(crate) fn add_authority<C, K>(app: &mut App, index: u32, codec: Arc<K>)
where
    C: Component<Mutability = Mutable> + Clone,
    K: ComponentCodec<C>,
{
    let writer = codec.clone();
    app.world_mut()
        .get_resource_or_init::<spawn::OwnedWriters>()
        .writers
        .push(Box::new(move |world, entity, out| {
            let Some(value) = world.get::<C>(entity) else {
                return false;
            };
            let mut bits = crate::shared::wire::BitWriter::new();
            bits.write_golomb(index.into(), 0);
            if let Err(error) = writer.write(value, &mut bits) {
                warn!("not sending a spawned value: {error}");
                return false;
            }
            out.append(&bits);
            true
        }));
    app.insert_resource(send::OwnedSent::<C, K>::new(index, codec))
        .add_systems(
            FixedPostUpdate,
            send::record_owned::<C, K>.run_if(not_resimulating),
        )
        .add_systems(
            PostUpdate,
            send::collect_owned::<C, K>
                .in_set(ClientSendStep::Authority)
                .run_if(any_with_component::<HasAuthority>),
        )
        .add_systems(
            PreUpdate,
            (track::drop_snapshots::<C>, track::reseed_snapshots::<C, K>)
                .after(track::track_authority)
                .in_set(ClientSet::Receive),
        );
}

/// Adds the client's authority systems.
pub(super) fn plugin(app: &mut App) {
    app.init_resource::<OutgoingOwned>()
        .init_resource::<send::SpawnRequests>()
        .init_resource::<spawn::OwnedWriters>()
        .init_resource::<spawn::SpawnCounter>()
        .add_message::<RequestAuthority>()
        .add_message::<ReleaseAuthority>()
        .add_message::<AuthorityGained>()
        .add_message::<AuthorityLost>()
        .add_systems(
            PreUpdate,
            track::track_authority
                .after(super::receive::receive_from_server)
                .in_set(ClientSet::Receive)
                .run_if(authority_in_use),
        )
        .add_systems(
            PostUpdate,
            (spawn::request_spawns, send::send_requests)
                .chain()
                .in_set(ClientSendStep::Messages)
                .run_if(authority_in_use),
        );
}
