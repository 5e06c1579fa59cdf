//! Step 3 of the send pipeline: bring each client's table of entities up to date with this
//! send's spawns and despawns, and decide which entities are relevant to it.
//!
//! Until a game uses interest management every entity is relevant to every client and this
//! step only follows spawns and despawns. Once a [`ViewPoint`], [`Rooms`] or [`RelevanceRule`]
//! is in use, a root entity is relevant to a client when it shares a room with it (or is in no
//! room), is within its view point's radius (or has no position), and the rule allows it; its
//! replicated descendants go with it. An entity that becomes relevant is spawned on the client
//! with its current state; one that stops being relevant is despawned there (or frozen, with
//! [`FreezeWhenHidden`]).

use bevy::prelude::*;

use super::{
    index::InterestIndex,
    rooms::Rooms,
    settings::{FreezeWhenHidden, InterestSettings, RelevanceRule},
    view_point::{ViewOrigin, ViewPoint},
};
use crate::{
    server::{
        client_replication::ClientReplication,
        local_client::LocalClient,
        parallel::{MIN_PARALLEL_WORK, for_each_parallel},
        replicated_world::{ReplicatedResources, ReplicatedWorld},
        send_plan::SendPlan,
    },
    shared::{scoped::scoped, tick::NetTick},
};

/// The remote clients' tables.
type ClientTables = QueryState<(Entity, &'static mut ClientReplication), Without<LocalClient>>;

/// Applies this send's structure and relevance to every client's table.
pub(crate) fn update_relevance(world: &mut World, mut clients: Local<ClientTables>) {
    let Some(tick) = world.resource::<SendPlan>().tick else {
        return;
    };
    let settings = world.resource::<InterestSettings>().clone();
    let rule = world.get_resource::<RelevanceRule>().cloned();
    scoped(world, |world, replicated: &mut ReplicatedWorld| {
        scoped(world, |world, index: &mut InterestIndex| {
            // Rooms for everything hides what is in no room: in force from the first send,
            // before any `Rooms` exists.
            if rule.is_some() || settings.rooms_for_everything {
                index.active = true;
            }
            if index.active {
                index.update(world, replicated, settings.cell_size);
            }
            let resources = world.resource::<ReplicatedResources>().records.len();
            // What each client sees now, read in parallel from the world.
            let mut views: Vec<(Entity, Option<View>)> = clients
                .iter(world)
                .map(|(client, _)| (client, None))
                .collect();
            if index.active {
                let world = &*world;
                // A client's view looks at a few hundred candidates.
                let work = views.len() * 256;
                for_each_parallel(&mut views, work, Vec::new, |scratch, (client, view)| {
                    *view = relevant_slots(
                        world,
                        replicated,
                        index,
                        &settings,
                        rule.as_ref(),
                        *client,
                        scratch,
                    )
                    .map(|relevant| View::new(world, replicated, *client, relevant));
                });
            }
            // Then each client's table follows, in parallel too.
            let mut tables: Vec<_> = clients
                .iter_mut(world)
                .zip(views)
                .map(|((client, table), (viewed, view))| {
                    debug_assert_eq!(client, viewed, "the query's order changed");
                    (table, view)
                })
                .collect();
            let news = replicated.changed.len() + replicated.despawned.len();
            let work = tables.len() * news.min(MIN_PARALLEL_WORK);
            for_each_parallel(
                &mut tables,
                work,
                || (),
                |(), (client, view)| {
                    // Acknowledgements first: a despawn below must know what the client holds.
                    client.apply_received_acks();
                    if client.resources.len() < resources {
                        client.resources.resize(resources, Default::default());
                    }
                    match view.take() {
                        Some(View { relevant, freezes }) => {
                            apply_relevance(client, replicated, relevant, &freezes, tick);
                        }
                        None => apply_structure(client, replicated, tick),
                    }
                },
            );
        });
    });
}

/// What one client sees this send: the relevant slots (sorted), and those leaving its view
/// that stay there frozen.
struct View {
    relevant: Vec<u32>,
    freezes: Vec<u32>,
}

impl View {
    fn new(
        world: &World,
        replicated: &ReplicatedWorld,
        client: Entity,
        relevant: Vec<u32>,
    ) -> Self {
        let freezes = world
            .get::<ClientReplication>(client)
            .map(|table| {
                table
                    .relevant
                    .iter()
                    .copied()
                    .filter(|slot| {
                        relevant.binary_search(slot).is_err()
                            && world
                                .get::<FreezeWhenHidden>(replicated.slots[*slot as usize].entity)
                                .is_some()
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self { relevant, freezes }
    }
}

/// Everything relevant: follows spawns and despawns only.
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
fn enter(client: &mut ClientReplication, slot: u32, entity: Entity, tick: NetTick) {
    // The same entity left (or stopped and started) and came back: the spawn replaces the
    // despawn or freeze still on its way.
    client.cancel_despawn(entity);
    let state = &mut client.slots[slot as usize];
    state.reset(entity);
    state.visible = true;
    client.mark_dirty(slot, tick);
}

/// Relevant entities that changed have news.
fn mark_changed(client: &mut ClientReplication, replicated: &ReplicatedWorld, tick: NetTick) {
    let mark = |client: &mut ClientReplication, slot: u32| {
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
    } else {
        for &slot in &replicated.changed {
            mark(client, slot);
        }
    }
}

/// Applies a new relevant set (sorted slots): entities entering are spawned, those leaving are
/// despawned (or frozen: `freezes`).
fn apply_relevance(
    client: &mut ClientReplication,
    replicated: &ReplicatedWorld,
    relevant: Vec<u32>,
    freezes: &[u32],
    tick: NetTick,
) {
    client.reserve_slots(replicated.capacity());
    if !client.relevance_tracked {
        // A client that saw everything before interest management came into use (or a new
        // one, which sees nothing yet): its table says what it holds.
        client.relevance_tracked = true;
        client.initialized = true;
        client.relevant = (0..replicated.capacity() as u32)
            .filter(|slot| client.slots[*slot as usize].visible)
            .collect();
    }
    forget_despawned(client, replicated, tick);
    let old = core::mem::take(&mut client.relevant);
    let (mut a, mut b) = (0, 0);
    while a < old.len() || b < relevant.len() {
        match (old.get(a).copied(), relevant.get(b).copied()) {
            (Some(left), Some(right)) if left == right => {
                a += 1;
                b += 1;
            }
            (Some(left), right) if right.is_none_or(|right| left < right) => {
                leave(client, replicated, left, freezes.contains(&left), tick);
                a += 1;
            }
            (_, Some(right)) => {
                let record = &replicated.slots[right as usize];
                if record.live {
                    enter(client, right, record.entity, tick);
                }
                b += 1;
            }
            _ => break,
        }
    }
    client.relevant = relevant;
    mark_changed(client, replicated, tick);
}

/// An entity stops being relevant: despawned on the client, or frozen there.
fn leave(
    client: &mut ClientReplication,
    replicated: &ReplicatedWorld,
    slot: u32,
    freeze: bool,
    tick: NetTick,
) {
    let record = &replicated.slots[slot as usize];
    let state = client.slots[slot as usize];
    if !record.live || state.entity != record.entity {
        return;
    }
    if state.known {
        client.push_despawn(record.entity, tick, freeze);
    }
    let state = &mut client.slots[slot as usize];
    let held = state.known;
    state.reset(record.entity);
    // A frozen copy is still held: if the entity is despawned, the client must hear of it.
    state.known = freeze && held;
    client.dirty.remove(slot);
    client.blobs.forget_slot(slot);
}

/// The slots relevant to a client (sorted), from its rooms, view point and the rule.
fn relevant_slots(
    world: &World,
    replicated: &ReplicatedWorld,
    index: &InterestIndex,
    settings: &InterestSettings,
    rule: Option<&RelevanceRule>,
    client_entity: Entity,
    candidates: &mut Vec<u32>,
) -> Option<Vec<u32>> {
    let client = world.get::<ClientReplication>(client_entity)?;
    let client_rooms = world.get::<Rooms>(client_entity);
    let view = world.get::<ViewPoint>(client_entity).map(|view| {
        let center = match view.origin {
            ViewOrigin::Position(position) => Some(position),
            ViewOrigin::Entity(entity) => world.get::<Transform>(entity).map(|t| t.translation),
        };
        (center, view.radius.max(0.0))
    });
    let reach = |radius: f32| radius * (1.0 + settings.hysteresis.max(0.0));
    candidates.clear();
    match view {
        Some((Some(center), radius)) => index.near(center, reach(radius), candidates),
        // Following an entity that is gone: only what has no position is in view.
        Some((None, _)) => index.near(Vec3::splat(f32::INFINITY), 0.0, candidates),
        None => index.all_roots(candidates),
    }
    // Squared distances: within `inside` a root is in view, beyond `outside` it is not, and
    // between the two it stays as it was (hysteresis).
    let limits = match view {
        Some((Some(center), radius)) => Some((center, radius * radius, reach(radius).powi(2))),
        _ => None,
    };
    let (any_rooms, any_children) = (index.any_rooms(), index.any_children());
    let mut relevant = Vec::with_capacity(candidates.len());
    for &slot in candidates.iter() {
        // Distance first: most candidates fail it.
        let distance =
            limits
                .zip(index.position(slot))
                .map(|((center, inside, outside), position)| {
                    (position.distance_squared(center), inside, outside)
                });
        if distance.is_some_and(|(distance, _, outside)| distance > outside) {
            continue;
        }
        let record = &replicated.slots[slot as usize];
        if !record.live || record.parent.is_some() {
            continue;
        }
        if let Some((distance, inside, _)) = distance
            && distance > inside
        {
            // A slot freed by this send is not live, and slots are reused only by a later
            // send: a live slot in the sorted list the client's table keeps is the entity it
            // sees (a look in that short list, not in the table's row for the slot).
            let was_visible = if client.relevance_tracked {
                client.relevant.binary_search(&slot).is_ok()
            } else {
                client
                    .slots
                    .get(slot as usize)
                    .is_some_and(|state| state.visible && state.entity == record.entity)
            };
            if !was_visible {
                continue;
            }
        }
        let in_room = if !any_rooms || index.rooms(slot).is_empty() {
            !settings.rooms_for_everything
        } else {
            client_rooms.is_some_and(|client_rooms| client_rooms.shares(index.rooms(slot)))
        };
        if !in_room {
            continue;
        }
        if let Some(rule) = rule
            && !(rule.0)(world, client_entity, record.entity)
        {
            continue;
        }
        relevant.push(slot);
        if any_children {
            index.descendants(slot, &mut relevant);
        }
    }
    relevant.sort_unstable();
    relevant.dedup();
    Some(relevant)
}
