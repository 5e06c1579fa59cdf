//! Step 7 of the send pipeline (replication), first part: per client, choose which entities with news go out this send.
//!
//! Each client has a byte budget ([`ServerConfig::bytes_per_second`](super::ServerConfig), or
//! its [`ReplicationBudget`]). When every entity with news fits, all go. When they do not, each
//! adds its priority (its [`ReplicationPriority`](super::ReplicationPriority) weighed by the
//! [`PriorityHook`]) to its account with this client, and the largest accounts go first
//! ([`fit_by_priority`]); a sent entity's account starts again from zero, so nothing waits
//! forever. Whatever waits is left out through [`LeftOut`](super::left_out::LeftOut).

use bevy::prelude::*;

use super::{
    blobs::{BlobKey, BlobStatus, BlobStore, ClientBlobs},
    budget::ReplicationBudget,
    client_replication::{ClientReplication, need, need_slot},
    config::ServerConfig,
    dirty::slots_in,
    interest::{InterestIndex, ViewOrigin, ViewPoint},
    local_client::LocalClient,
    parallel::{SpareStates, for_each_parallel},
    priority::{Contender, PriorityHook, PriorityQuery, fit_by_priority},
    replicated_world::{ReplicatedWorld, SlotRecord},
    send_plan::SendPlan,
    value_cache::{BodyKey, HolderView},
};
use crate::shared::{scoped::scoped, tick::NetTick};

/// The remote clients' tables and budgets.
type ClientTables = QueryState<
    (
        Entity,
        &'static mut ClientReplication,
        Option<&'static ReplicationBudget>,
    ),
    Without<LocalClient>,
>;

/// Chooses each client's entities for this send.
pub(crate) fn choose_entities(
    world: &mut World,
    mut views: Local<QueryState<(Entity, &'static ViewPoint)>>,
    mut clients: Local<ClientTables>,
    mut spares: Local<SpareStates<Scratch>>,
) {
    let plan = world.resource::<SendPlan>();
    if plan.tick.is_none() {
        return;
    }
    let parallel = plan.parallel;
    let config = world.resource::<ServerConfig>().clone();
    let hook = world.get_resource::<PriorityHook>().cloned();
    // Where each client looks from, for the hook's distances.
    let centers: Vec<(Entity, Vec3)> = views
        .iter(world)
        .filter_map(|(client, view)| {
            let center = match view.origin {
                ViewOrigin::Position(position) => Some(position),
                ViewOrigin::Entity(entity) => world.get::<Transform>(entity).map(|t| t.translation),
            };
            center.map(|center| (client, center))
        })
        .collect();
    scoped(world, |world, replicated: &mut ReplicatedWorld| {
        scoped(world, |world, blobs: &mut BlobStore| {
            scoped(world, |world, index: &mut InterestIndex| {
                let mut clients: Vec<_> = clients.iter_mut(world).collect();
                // Each client writes only its own state.
                let work = clients
                    .iter()
                    .map(|(_, client, _)| client.dirty.len())
                    .sum();
                let scratches = for_each_parallel(
                    &mut clients,
                    parallel,
                    work,
                    || spares.take(),
                    |scratch, (client_entity, client, _)| {
                        let client_entity = *client_entity;
                        // Refilled before this send's messages went (`refill_budgets`); what
                        // they left, less what messages still waiting need.
                        let allowance = client
                            .budget
                            .available()
                            .saturating_sub(client.reserved_for_messages)
                            .min(config.update_bytes_per_tick.max(1));
                        client.allowance = allowance;
                        let center = centers
                            .iter()
                            .find(|(client, _)| *client == client_entity)
                            .map(|(_, center)| *center);
                        let weigh = hook.as_ref().map(|hook| Weigh {
                            hook,
                            client: client_entity,
                            center,
                            index,
                        });
                        choose(client, replicated, blobs, weigh.as_ref(), scratch);
                    },
                );
                spares.put_back(scratches);
            });
        });
    });
}

/// What the priority hook is asked with for one client.
struct Weigh<'a> {
    hook: &'a PriorityHook,
    client: Entity,
    center: Option<Vec3>,
    index: &'a InterestIndex,
}

impl Weigh<'_> {
    /// The hook's weight of the entity in `slot` (1 when it says something meaningless).
    fn weight(&self, replicated: &ReplicatedWorld, slot: u32) -> f32 {
        let mut root = slot;
        for _ in 0..16 {
            match replicated.slots[root as usize].parent {
                Some(parent) => root = parent,
                None => break,
            }
        }
        let distance = self
            .center
            .zip(self.index.position(root))
            .map(|(center, position)| center.distance(position));
        let weight = (self.hook.0)(&PriorityQuery {
            client: self.client,
            entity: replicated.slots[slot as usize].entity,
            distance,
        });
        if weight.is_finite() {
            weight.max(0.0)
        } else {
            1.0
        }
    }
}

/// One worker's reusable lists.
#[derive(Default)]
pub(crate) struct Scratch {
    candidates: Vec<Contender>,
}

/// Chooses one client's entities: those with news that the budget allows, or the largest
/// accounts of them when it does not allow all; the rest are left out.
fn choose(
    client: &mut ClientReplication,
    replicated: &ReplicatedWorld,
    blobs: &BlobStore,
    weigh: Option<&Weigh>,
    scratch: &mut Scratch,
) {
    client.needs.clear();
    client.chosen_bits = 0;
    client.left_out.clear();
    let mut total_bits = 0u64;
    // Whether a spawn of a child is among the candidates (its parent may have to go along).
    let mut child_spawns = false;
    // Whether some entity is (or was) held by the client, so some keys differ from the rest.
    let holds_any = !client.held.is_empty() || !client.released.is_empty();
    // Every candidate goes straight into `needs`: most sends, all of them fit.
    // In slot order, a word of the set at a time (a slot removed below is already read).
    for word in 0..client.dirty.word_count() {
        for slot in slots_in(word, client.dirty.word(word)) {
            let record = &replicated.slots[slot as usize];
            let state = &client.slots[slot as usize];
            if !record.live || state.entity != record.entity || !state.visible {
                client.dirty.remove(slot);
                continue;
            }
            // One look at what the client acknowledged decides the entry's size and body.
            let (bits, mut key) = match state.acked {
                Some(acked) => {
                    if !record.last_change.is_newer_than(acked) {
                        client.dirty.remove(slot);
                        continue;
                    }
                    (
                        estimate_update_bits(record, state.last_bits, acked),
                        BodyKey::update(acked, state.acked_previous, HolderView::None),
                    )
                }
                None => {
                    child_spawns |= record.parent.is_some();
                    (estimate_spawn_bits(record), BodyKey::SPAWN)
                }
            };
            if record.may_have_large
                && !large_values_ready(&mut client.blobs, state.acked, blobs, slot, record)
            {
                client.left_out.leave_out(state.out_of_date_since());
                continue;
            }
            if holds_any {
                key = holder_key(key, &client.held, &client.released, slot);
            }
            total_bits += u64::from(bits);
            client.needs.push(need(slot, key));
        }
    }

    let allowance_bits = client.allowance as u64 * 8;
    if total_bits <= allowance_bits {
        // All go; a parent that is not among them could not go either.
        client.chosen_bits = total_bits as usize;
        return;
    }
    // Not everything fits: the largest accounts go first (their sizes guessed again, as above).
    scratch.candidates.clear();
    for &need in &client.needs {
        let slot = need_slot(need);
        let record = &replicated.slots[slot as usize];
        let weight = weigh.map_or(1.0, |weigh| weigh.weight(replicated, slot));
        let state = &mut client.slots[slot as usize];
        state.priority += record.priority * weight;
        let bits = match state.acked {
            Some(acked) => estimate_update_bits(record, state.last_bits, acked),
            None => estimate_spawn_bits(record),
        };
        scratch
            .candidates
            .push(Contender::new(need, state, u64::from(bits)));
    }
    let used = fit_by_priority(
        &mut scratch.candidates,
        allowance_bits,
        &mut client.needs,
        &mut client.left_out,
    );
    client.chosen_bits = used as usize;
    if child_spawns {
        add_unsent_parents(client, replicated, &scratch.candidates);
    }
}

/// Whether every large value the entry needs has reached the client (starting transfers).
fn large_values_ready(
    client_blobs: &mut ClientBlobs,
    acked: Option<NetTick>,
    blobs: &BlobStore,
    slot: u32,
    record: &SlotRecord,
) -> bool {
    let mut ready = true;
    for component in &record.components {
        let needed = component.present
            && component.large
            && acked.is_none_or(|acked| component.changed.is_newer_than(acked));
        if !needed {
            continue;
        }
        let key = BlobKey::Component {
            slot,
            index: component.index,
        };
        match blobs.get(key) {
            Some(blob) => {
                if client_blobs.status(key, blob) != BlobStatus::Complete {
                    ready = false;
                }
            }
            None => ready = false,
        }
    }
    ready
}

/// A guess of a spawn's size: what its values weigh.
fn estimate_spawn_bits(record: &SlotRecord) -> u32 {
    64 + record
        .present()
        .map(|component| {
            if component.large {
                48
            } else {
                component.whole_bits + 4
            }
        })
        .sum::<u32>()
}

/// A guess of the size of an update against `acked`: the last entry's size, or what its changed
/// values weigh when none went yet.
fn estimate_update_bits(record: &SlotRecord, last_bits: u32, acked: NetTick) -> u32 {
    if last_bits > 0 {
        return last_bits;
    }
    16 + record
        .components
        .iter()
        .filter(|component| component.changed.is_newer_than(acked))
        .map(|component| component.whole_bits / 2 + 4)
        .sum::<u32>()
}

/// A child spawned without its parent would lose its `ChildOf` on the client: spawn unsent
/// parents along (when they can go).
fn add_unsent_parents(
    client: &mut ClientReplication,
    replicated: &ReplicatedWorld,
    candidates: &[Contender],
) {
    let position = |needs: &[u128], slot: u32| needs.binary_search_by_key(&slot, |&n| need_slot(n));
    for _ in 0..8 {
        let mut added = false;
        let mut index = 0;
        while index < client.needs.len() {
            let slot = need_slot(client.needs[index]);
            index += 1;
            if client.slots[slot as usize].acked.is_some() {
                continue;
            }
            let Some(parent) = replicated.slots[slot as usize].parent else {
                continue;
            };
            let parent_state = &client.slots[parent as usize];
            if !parent_state.visible || parent_state.acked.is_some() {
                continue;
            }
            let Err(at) = position(&client.needs, parent) else {
                continue;
            };
            // A parent goes with its child, first of all if packing has to cut again: its
            // account is the largest until it is sent (which empties it).
            if let Some(candidate) = candidates.iter().find(|c| need_slot(c.need) == parent) {
                client.needs.insert(at, candidate.need);
                client.slots[parent as usize].priority = f32::INFINITY;
                added = true;
            }
        }
        if !added {
            break;
        }
    }
}

/// The body key for the client's entry of `slot`: marked when the client holds the entity (its
/// own accepted values are left out) or held it since its baseline (client-authoritative values
/// go whole).
fn holder_key(key: BodyKey, held: &[u32], released: &[(u32, NetTick)], slot: u32) -> BodyKey {
    if key.is_spawn() {
        return key;
    }
    let holder = if !held.is_empty() && held.binary_search(&slot).is_ok() {
        HolderView::Holds
    } else if released.iter().any(|(released, _)| *released == slot) {
        HolderView::Former
    } else {
        return key;
    };
    key.with_holder(holder)
}
