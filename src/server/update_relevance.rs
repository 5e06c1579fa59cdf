//! Step 3 of the send pipeline: bring each client's table of entities up to date with this
//! send's spawns and despawns, and decide which entities are relevant to it (every entity, until
//! interest management says otherwise). Relevant entities with news are marked dirty.

use bevy::prelude::*;

use super::{
    client_replication::ClientReplication,
    local_client::LocalClient,
    replicated_world::{ReplicatedResources, ReplicatedWorld},
    send_plan::SendPlan,
};
use crate::shared::tick::NetTick;

/// Applies this send's structure to every client's table.
pub(crate) fn update_relevance(world: &mut World) {
    let Some(tick) = world.resource::<SendPlan>().tick else {
        return;
    };
    world.resource_scope(|world, replicated: Mut<ReplicatedWorld>| {
        let resources = world.resource::<ReplicatedResources>().records.len();
        let mut clients = world.query_filtered::<&mut ClientReplication, Without<LocalClient>>();
        for mut client in clients.iter_mut(world) {
            apply_structure(&mut client, &replicated, tick);
            if client.resources.len() < resources {
                client.resources.resize(resources, Default::default());
            }
        }
    });
}

fn apply_structure(client: &mut ClientReplication, replicated: &ReplicatedWorld, tick: NetTick) {
    client.reserve_slots(replicated.capacity());
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
    for &(slot, entity) in &replicated.despawned {
        let state = &mut client.slots[slot as usize];
        if state.entity != entity {
            continue;
        }
        if state.known {
            client.push_despawn(entity, tick);
        }
        client.slots[slot as usize].reset(Entity::PLACEHOLDER);
        client.dirty.remove(slot);
        client.blobs.forget_slot(slot);
    }
    for &slot in &replicated.spawned {
        let record = &replicated.slots[slot as usize];
        if !record.live {
            continue;
        }
        // The same entity stopped and started again: the spawn replaces the despawn.
        client.cancel_despawn(record.entity);
        let state = &mut client.slots[slot as usize];
        state.reset(record.entity);
        state.visible = true;
        client.mark_dirty(slot, tick);
    }
    for &slot in &replicated.changed {
        let record = &replicated.slots[slot as usize];
        let state = &client.slots[slot as usize];
        if record.live && state.visible && state.entity == record.entity {
            client.mark_dirty(slot, tick);
        }
    }
}
