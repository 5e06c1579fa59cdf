//! Taking up and giving up authority as [`HeldBy`] names this client or stops naming it.
//!
//! A grant is taken up once the interpolated picture reached the tick the grant arrived at:
//! the server holds the entity still meanwhile (the previous holder's last accepted value), so
//! the new holder starts from exactly what it draws, and nobody sees the entity jump.

use bevy::{ecs::component::Mutable, prelude::*};

use super::{AuthorityGained, AuthorityLost, HasAuthority, send::OwnedSent};
use crate::{
    client::{ClientTimeline, replicas::Replicas, session::ClientSession},
    shared::{
        authority::HeldBy, interpolate::SnapshotBuffer, prediction::Predicted,
        registry::NoInterpolation, tick::NetTick,
    },
};

/// A grant this client has not taken up yet: it waits until it draws the entity at `tick`.
#[derive(Component, Clone, Copy, Debug)]
pub(super) struct AuthorityPending {
    tick: NetTick,
}

/// [`NoInterpolation`] that taking up authority added (and giving it up removes).
#[derive(Component, Clone, Copy, Debug)]
pub(super) struct AddedNoInterpolation;

/// [`Predicted`] that taking up authority removed (and giving it up puts back): a holder does
/// not predict, or roll back, what it owns.
#[derive(Component, Clone, Copy, Debug)]
pub(super) struct WasPredicted;

/// Entities this client held or was about to hold whose [`HeldBy`] is gone.
type Ended = (
    Or<(With<HasAuthority>, With<AuthorityPending>)>,
    Without<HeldBy>,
);

/// Where the messages about this client's authority go, and the commands that change it.
#[derive(bevy::ecs::system::SystemParam)]
pub(super) struct AuthorityReports<'w, 's> {
    gained: MessageWriter<'w, AuthorityGained>,
    lost: MessageWriter<'w, AuthorityLost>,
    commands: Commands<'w, 's>,
}

type Granted<'a> = (
    Entity,
    &'a HeldBy,
    Has<HasAuthority>,
    Option<&'a AuthorityPending>,
    Has<NoInterpolation>,
    Has<Predicted>,
);

/// Follows [`HeldBy`] on the client's entities: takes up grants naming this client, gives up
/// entities that no longer name it.
pub(super) fn track_authority(
    session: Res<ClientSession>,
    timeline: Res<ClientTimeline>,
    replicas: Res<Replicas>,
    granted: Query<Granted>,
    ended: Query<(Entity, Has<HasAuthority>), Ended>,
    added: Query<(Has<AddedNoInterpolation>, Has<WasPredicted>)>,
    mut reports: AuthorityReports,
) {
    let AuthorityReports {
        gained,
        lost,
        commands,
    } = &mut reports;
    let me = session.client_id;
    let mut give_up = |entity: Entity, had: bool, commands: &mut Commands| {
        let mut target = commands.entity(entity);
        target.remove::<(HasAuthority, AuthorityPending)>();
        let (no_interpolation, predicted) = added.get(entity).unwrap_or_default();
        if no_interpolation {
            target.remove::<(NoInterpolation, AddedNoInterpolation)>();
        }
        if predicted {
            target.remove::<WasPredicted>().insert(Predicted);
        }
        if had {
            lost.write(AuthorityLost(entity));
        }
    };
    for (entity, held, has, pending, no_interpolation, predicted) in &granted {
        let mine = me == Some(held.client_id);
        if !mine {
            if has || pending.is_some() {
                give_up(entity, has, commands);
            }
            continue;
        }
        if has {
            continue;
        }
        let Some(pending) = pending else {
            let tick = replicas.newest_tick.unwrap_or_default();
            commands.entity(entity).insert(AuthorityPending { tick });
            continue;
        };
        let shown = timeline.interpolation_tick();
        if timeline.is_synced() && pending.tick.unwrap_near(shown) > shown {
            continue;
        }
        let mut target = commands.entity(entity);
        target.remove::<AuthorityPending>().insert(HasAuthority);
        if !no_interpolation {
            target.insert((NoInterpolation, AddedNoInterpolation));
        }
        if predicted {
            target.remove::<Predicted>().insert(WasPredicted);
        }
        gained.write(AuthorityGained(entity));
    }
    for (entity, had) in &ended {
        give_up(entity, had, commands);
    }
}

/// A held entity's interpolation buffer is dropped: when the holder gives the entity up, the
/// server's values start a new one from where the entity is.
pub(super) fn drop_snapshots<C: Component>(
    held: Query<Entity, (Added<HasAuthority>, With<SnapshotBuffer<C>>)>,
    mut commands: Commands,
) {
    for entity in &held {
        commands.entity(entity).remove::<SnapshotBuffer<C>>();
    }
}

/// An entity this client gave up eases back onto the server's path instead of jumping: it was
/// ahead of the server by its round trip, and the server's value arrived with the revoke (and
/// was written over it). Its interpolation buffer restarts from the newest value it sent, at
/// the tick drawn now, and reaches the server's value one interpolation delay later; the
/// server's later values follow as usual.
pub(super) fn reseed_snapshots<C, K>(
    mut given_up: RemovedComponents<HasAuthority>,
    timeline: Res<ClientTimeline>,
    fixed: Res<Time<Fixed>>,
    sent: Res<OwnedSent<C, K>>,
    mut held: Query<&mut C, Without<HasAuthority>>,
    mut commands: Commands,
) where
    C: Component<Mutability = Mutable> + Clone,
    K: Send + Sync + 'static,
{
    if !timeline.is_synced() {
        given_up.clear();
        return;
    }
    let shown = timeline.interpolation_tick();
    let delay_ticks =
        (timeline.interpolation_delay().as_secs_f64() / fixed.timestep().as_secs_f64()).max(2.0);
    for entity in given_up.read() {
        let Ok(mut value) = held.get_mut(entity) else {
            continue;
        };
        let Some(drawn) = sent.newest_sent(entity) else {
            continue;
        };
        let server = core::mem::replace(&mut *value, drawn.clone());
        let mut buffer = SnapshotBuffer::<C>::default();
        buffer.push(NetTick::from_unwrapped(shown), drawn.clone());
        buffer.push(NetTick::from_unwrapped(shown + delay_ticks), server);
        commands.entity(entity).insert(buffer);
    }
}
