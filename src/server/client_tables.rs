//! Step 3 of the send pipeline: bring every remote client's table up to date with this send,
//! whether or not interest management is in use. Each table takes the acknowledgements received
//! since the last send, grows to the replicated resources and slots, and forgets the entities
//! despawned (a despawn goes to the client if it may hold the entity).
//!
//! Without interest management every entity is relevant to every client, and this step also
//! follows the rest of the structure: a new client is given the whole world, a spawned entity
//! is spawned on every client, a changed one has news for every client. With it, which entities
//! a client gets is left to [`update_relevance`](super::interest::update_relevance), the next
//! step, which reads what this one wrote.

use bevy::prelude::*;

use super::{
    client_replication::ClientReplication,
    dirty::slots_in,
    interest::interest_in_use,
    local_client::LocalClient,
    parallel::{MIN_PARALLEL_WORK, for_each_parallel},
    replicated_world::{ReplicatedResources, ReplicatedWorld},
    send_plan::SendPlan,
};
use crate::shared::{scoped::scoped, tick::NetTick};

/// The remote clients' tables.
type ClientTables = QueryState<&'static mut ClientReplication, Without<LocalClient>>;

/// Applies this send's acknowledgements and structure to every remote client's table.
pub(crate) fn update_client_tables(world: &mut World, mut clients: Local<ClientTables>) {
    let plan = world.resource::<SendPlan>();
    let parallel = plan.parallel;
    let Some(tick) = plan.tick else {
        return;
    };
    // Decided once per send, here, for this step and relevance alike.
    let interest = interest_in_use(world);
    let resources = world.resource::<ReplicatedResources>().records.len();
    scoped(world, |world, replicated: &mut ReplicatedWorld| {
        let replicated = &*replicated;
        let mut tables: Vec<_> = clients.iter_mut(world).collect();
        let news = replicated.changed.len() + replicated.despawned.len();
        let work = tables.len() * news.min(MIN_PARALLEL_WORK);
        for_each_parallel(
            &mut tables,
            parallel,
            work,
            || (),
            |(), client| {
                // Acknowledgements first: a despawn below must know what the client holds.
                client.apply_received_acks();
                if client.resources.len() < resources {
                    client.resources.resize(resources, Default::default());
                }
                client.reserve_slots(replicated.capacity());
                if interest {
                    forget_despawned(client, replicated, tick);
                } else {
                    follow_structure(client, replicated, tick);
                }
            },
        );
    });
}

/// Everything relevant: a new client gets the whole world, the others follow spawns,
/// despawns and changes.
fn follow_structure(client: &mut ClientReplication, replicated: &ReplicatedWorld, tick: NetTick) {
    if !client.initialized {
        // A new client: every entity is news.
        client.initialized = true;
        for (slot, record) in replicated.live() {
            let state = &mut client.slots[slot as usize];
            state.reset(record.entity);
            state.visible = true;
            client.mark_dirty(slot, tick);
        }
        return;
    }
    forget_despawned(client, replicated, tick);
    for &slot in &replicated.spawned {
        let record = &replicated.slots[slot as usize];
        if record.live {
            enter(client, slot, record.entity, tick);
        }
    }
    mark_changed(client, replicated, tick);
}

/// Entities that are gone: despawned on the client if it may hold them.
fn forget_despawned(client: &mut ClientReplication, replicated: &ReplicatedWorld, tick: NetTick) {
    for &(slot, entity) in &replicated.despawned {
        let state = &mut client.slots[slot as usize];
        if state.entity != entity {
            continue;
        }
        if state.known {
            client.push_despawn(entity, tick, false);
        }
        client.slots[slot as usize].reset(Entity::PLACEHOLDER);
        client.dirty.remove(slot);
        client.blobs.forget_slot(slot);
        if let Ok(position) = client.relevant.binary_search(&slot) {
            client.relevant.remove(position);
        }
    }
}

/// An entity becomes relevant: it is spawned with its current state.
pub(crate) fn enter(client: &mut ClientReplication, slot: u32, entity: Entity, tick: NetTick) {
    // The same entity left (or stopped and started) and came back: the spawn replaces the
    // despawn or freeze still on its way.
    client.cancel_despawn(entity);
    let state = &mut client.slots[slot as usize];
    state.reset(entity);
    state.visible = true;
    client.mark_dirty(slot, tick);
}

/// Relevant entities that changed have news.
pub(crate) fn mark_changed(
    client: &mut ClientReplication,
    replicated: &ReplicatedWorld,
    tick: NetTick,
) {
    let mark = |client: &mut ClientReplication, slot: u32| {
        // Already out of date: nothing to note (and an entity that changes every send mostly
        // is), without reading its record or state.
        if client.dirty.contains(slot) {
            return;
        }
        let record = &replicated.slots[slot as usize];
        let state = &client.slots[slot as usize];
        if record.live && state.visible && state.entity == record.entity {
            client.mark_dirty(slot, tick);
        }
    };
    if client.relevance_tracked && client.relevant.len() < replicated.changed.len() {
        // A client that sees a small part of a busy world: look only at what it sees.
        for index in 0..client.relevant.len() {
            let slot = client.relevant[index];
            if replicated.changed_in_send(slot) {
                mark(client, slot);
            }
        }
    } else if replicated.changed.len() * 4 >= replicated.changed_set.word_count() {
        // A busy world, whose changes are mostly to slots already out of date for the client:
        // compare the two sets a word at a time, and look only at the slots new to it.
        for word in 0..replicated.changed_set.word_count() {
            let fresh = replicated.changed_set.word(word) & !client.dirty.word(word);
            for slot in slots_in(word, fresh) {
                mark(client, slot);
            }
        }
    } else {
        for &slot in &replicated.changed {
            mark(client, slot);
        }
    }
}
