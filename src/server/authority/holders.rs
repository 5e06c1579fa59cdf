//! Who holds what: changing a holder (and reporting it), returning authority when the holder
//! leaves or the entity goes, and each client's held slots for the send.

use bevy::prelude::*;

use super::{AuthorityChanged, EchoLog, inbox::AuthorityInboxes, receive::Refusals};
use crate::{
    server::{
        client_replication::ClientReplication,
        connected_client::{ClientDisconnected, ClientSlots, Slot},
        replicated_world::ReplicatedWorld,
        send_plan::SendPlan,
    },
    shared::{authority::HeldBy, tick::ServerTick},
};

/// Makes `client_id` (or, with `None`, the server) the holder of `entity`, forgetting what the
/// previous holder sent, and reports the change. Nothing happens for a missing entity or when
/// the holder stays the same.
pub(super) fn set_holder(world: &mut World, entity: Entity, client_id: Option<u64>) {
    // Only a client that is here may hold anything (the host's own player included).
    if let Some(client_id) = client_id
        && client_id != crate::server::LOCAL_CLIENT_ID
        && !matches!(
            world.resource::<ClientSlots>().slots.get(&client_id),
            Some(Slot::Joined(_))
        )
    {
        warn!("not granting {entity} to client {client_id}: it is not connected");
        return;
    }
    let Ok(mut target) = world.get_entity_mut(entity) else {
        return;
    };
    let from = target.get::<HeldBy>().map(|held| held.client_id);
    if from == client_id {
        return;
    }
    match client_id {
        Some(client_id) => {
            target.insert(HeldBy { client_id });
        }
        None => {
            target.remove::<HeldBy>();
        }
    }
    forget(world, entity);
    if let Some(from) = from {
        let now = world.resource::<Time<Real>>().elapsed();
        world
            .resource_mut::<Refusals>()
            .note_revoked(from, entity, now);
    }
    world.write_message(AuthorityChanged {
        entity,
        from,
        to: client_id,
    });
}

/// Forgets what the holder of `entity` sent and which of its values were echoes.
fn forget(world: &mut World, entity: Entity) {
    world.resource_mut::<AuthorityInboxes>().forget(entity);
    world.resource_mut::<EchoLog>().forget(entity);
}

/// A client that leaves gives back everything it held.
pub(super) fn return_on_disconnect(
    event: On<ClientDisconnected>,
    held: Query<(Entity, &HeldBy)>,
    mut commands: Commands,
) {
    let client_id = event.client_id;
    commands.queue(move |world: &mut World| {
        world.resource_mut::<Refusals>().forget_client(client_id);
    });
    for (entity, held) in &held {
        if held.client_id == client_id {
            commands.queue(move |world: &mut World| set_holder(world, entity, None));
        }
    }
}

/// An entity that stops being replicated returns to the server.
pub(super) fn return_on_unreplicated(
    event: On<Remove, crate::server::Replicated>,
    held: Query<(), With<HeldBy>>,
    mut commands: Commands,
) {
    let entity = event.entity;
    if held.contains(entity) {
        commands.queue(move |world: &mut World| set_holder(world, entity, None));
    }
}

/// An entity that loses its [`HeldBy`] some other way (removed by hand, despawned) is
/// forgotten too, and its holder's values still in flight are not held against it.
pub(super) fn forget_on_removal(
    event: On<Remove, HeldBy>,
    held: Query<&HeldBy>,
    time: Res<Time<Real>>,
    mut refusals: ResMut<Refusals>,
    mut commands: Commands,
) {
    let entity = event.entity;
    if let Ok(held) = held.get(entity) {
        refusals.note_revoked(held.client_id, entity, time.elapsed());
    }
    commands.queue(move |world: &mut World| {
        if world.get::<HeldBy>(entity).is_none() {
            forget(world, entity);
        }
    });
}

/// Refreshes each remote client's held slots for this send (after its table is up to date),
/// noting the slots it stopped holding until it acknowledges a later frame of them.
pub(crate) fn note_held_slots(
    held: Query<(Entity, &HeldBy)>,
    mut clients: Query<&mut ClientReplication>,
    slots: Res<ClientSlots>,
    replicated: Res<ReplicatedWorld>,
    tick: Res<ServerTick>,
    plan: Res<SendPlan>,
) {
    if plan.tick.is_none() {
        return;
    }
    let now = tick.0;
    for mut client in &mut clients {
        if client.held.is_empty() && client.released.is_empty() {
            continue;
        }
        let client = &mut *client;
        for slot in core::mem::take(&mut client.held) {
            client.released.retain(|(released, _)| *released != slot);
            client.released.push((slot, now));
        }
        let table = &client.slots;
        client.released.retain(|(slot, at)| {
            table
                .get(*slot as usize)
                .is_some_and(|state| state.acked.is_none_or(|acked| !acked.is_newer_than(*at)))
        });
    }
    for (entity, held) in &held {
        let (Some(slot), Some(Slot::Joined(client))) =
            (replicated.slot_of(entity), slots.slots.get(&held.client_id))
        else {
            continue;
        };
        if let Ok(mut client) = clients.get_mut(*client) {
            client.held.push(slot);
        }
    }
    for mut client in &mut clients {
        if client.held.is_empty() {
            continue;
        }
        let client = &mut *client;
        client.held.sort_unstable();
        let held = &client.held;
        client
            .released
            .retain(|(slot, _)| held.binary_search(slot).is_err());
    }
}
