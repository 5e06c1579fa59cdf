//! Step 4 of the send pipeline: decide which entities are relevant to each client, once
//! interest management is in use (a [`ViewPoint`], [`Rooms`] or [`RelevanceRule`]; without one
//! every entity is relevant to every client, and this step does nothing).
//!
//! A root entity is relevant to a client when it shares a room with it (or is in no room), is
//! within its view point's radius (or has no position), and the rule allows it; its replicated
//! descendants go with it. An entity that becomes relevant is spawned on the client with its
//! current state; one that stops being relevant is despawned there (or frozen, with
//! [`FreezeWhenHidden`]); a relevant one that changed has news. The tables were brought up to
//! date with this send's acknowledgements and despawns by the step before
//! ([`update_client_tables`](crate::server::client_tables::update_client_tables)).

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
        client_tables::{enter, mark_changed},
        dirty::slots_in,
        local_client::LocalClient,
        parallel::{MIN_PARALLEL_WORK, for_each_parallel},
        replicated_world::ReplicatedWorld,
        send_plan::SendPlan,
    },
    shared::{scoped::scoped, tick::NetTick},
};

/// The remote clients' tables.
type ClientTables = QueryState<(Entity, &'static mut ClientReplication), Without<LocalClient>>;

/// Applies this send's relevance to every client's table.
pub(crate) fn update_relevance(world: &mut World, mut clients: Local<ClientTables>) {
    let plan = world.resource::<SendPlan>();
    let parallel = plan.parallel;
    let Some(tick) = plan.tick else {
        return;
    };
    // Turned on, at the latest, by the table step of this send.
    if !world.resource::<InterestIndex>().active {
        return;
    }
    let settings = world.resource::<InterestSettings>().clone();
    let rule = world.get_resource::<RelevanceRule>().cloned();
    scoped(world, |world, replicated: &mut ReplicatedWorld| {
        scoped(world, |world, index: &mut InterestIndex| {
            index.update(world, replicated, settings.cell_size);
            // What each client sees now, read in parallel from the world.
            let mut views: Vec<(Entity, Option<View>)> = clients
                .iter(world)
                .map(|(client, _)| (client, None))
                .collect();
            let shared = &*world;
            // Whether any entity freezes when hidden: else no view looks for what leaves it.
            let freezing = shared
                .components()
                .component_id::<FreezeWhenHidden>()
                .is_some_and(|id| {
                    shared
                        .archetypes()
                        .iter()
                        .any(|archetype| !archetype.is_empty() && archetype.contains(id))
                });
            // A client's view looks at a few hundred candidates.
            let work = views.len() * 256;
            for_each_parallel(
                &mut views,
                parallel,
                work,
                Scratch::default,
                |scratch, (client, view)| {
                    *view = relevant_slots(
                        shared,
                        replicated,
                        index,
                        &settings,
                        rule.as_ref(),
                        *client,
                        scratch,
                    )
                    .map(|relevant| View::new(shared, replicated, *client, relevant, freezing));
                },
            );
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
                parallel,
                work,
                || (),
                |(), (client, view)| {
                    if let Some(View { relevant, freezes }) = view.take() {
                        apply_relevance(client, replicated, relevant, &freezes, tick);
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
    /// `freezing`: some entity has [`FreezeWhenHidden`] (else none of those leaving freezes).
    fn new(
        world: &World,
        replicated: &ReplicatedWorld,
        client: Entity,
        relevant: Vec<u32>,
        freezing: bool,
    ) -> Self {
        // Both lists are sorted: those leaving are found in one pass over the two, and only
        // they are looked up (most sends, none or a few).
        let mut freezes = Vec::new();
        if freezing && let Some(table) = world.get::<ClientReplication>(client) {
            let mut staying = relevant.iter().copied().peekable();
            for &slot in &table.relevant {
                while staying.next_if(|&next| next < slot).is_some() {}
                if staying.next_if_eq(&slot).is_some() {
                    continue;
                }
                let entity = replicated.slots[slot as usize].entity;
                if world.get::<FreezeWhenHidden>(entity).is_some() {
                    freezes.push(slot);
                }
            }
        }
        Self { relevant, freezes }
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
    if !client.relevance_tracked {
        // A client that saw everything before interest management came into use (or a new
        // one, which sees nothing yet): its table says what it holds.
        client.relevance_tracked = true;
        client.initialized = true;
        client.relevant = (0..replicated.capacity() as u32)
            .filter(|slot| client.slots[*slot as usize].visible)
            .collect();
    }
    let old = core::mem::take(&mut client.relevant);
    // Mostly nothing entered or left since the last send: one comparison says so.
    if old != relevant {
        follow_view_change(client, replicated, &old, &relevant, freezes, tick);
    }
    client.relevant = relevant;
    mark_changed(client, replicated, tick);
}

/// Spawns what is in `new` and not in `old`, and despawns (or freezes) what is in `old` and not
/// in `new` (both sorted), walking the two lists together.
fn follow_view_change(
    client: &mut ClientReplication,
    replicated: &ReplicatedWorld,
    old: &[u32],
    new: &[u32],
    freezes: &[u32],
    tick: NetTick,
) {
    let (mut a, mut b) = (0, 0);
    while a < old.len() || b < new.len() {
        match (old.get(a).copied(), new.get(b).copied()) {
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
    Scratch { candidates, bits }: &mut Scratch,
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
        // Distance first: most candidates fail it. Between the limits: whether it stays.
        let mut undecided = false;
        if let Some((center, inside, outside)) = limits
            && let Some(position) = index.position(slot)
        {
            let distance = position.distance_squared(center);
            if distance > outside {
                continue;
            }
            undecided = distance > inside;
        }
        let record = &replicated.slots[slot as usize];
        if !record.live || record.parent.is_some() {
            continue;
        }
        if undecided {
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
    sort_unique(&mut relevant, bits);
    Some(relevant)
}

/// One worker's reusable lists: the candidates of a view, and the bits that sort them.
#[derive(Default)]
struct Scratch {
    candidates: Vec<u32>,
    bits: Vec<u64>,
}

/// Sorts `slots` and drops repeats. Slots in a view are many and dense (a grid's cells, in no
/// order): set as bits and read back in order, a pass over each; a comparison sort when they
/// are few or spread so thin that the bits would outnumber them.
fn sort_unique(slots: &mut Vec<u32>, bits: &mut Vec<u64>) {
    let words = slots.iter().max().map_or(0, |&max| max as usize / 64 + 1);
    if slots.len() < 32 || words > 4 * slots.len() {
        slots.sort_unstable();
        slots.dedup();
        return;
    }
    bits.clear();
    bits.resize(words, 0);
    for &slot in slots.iter() {
        bits[slot as usize / 64] |= 1 << (slot % 64);
    }
    slots.clear();
    for (word, &set) in bits.iter().enumerate() {
        // Pushed one at a time: `extend` measured slower here.
        for slot in slots_in(word, set) {
            slots.push(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SplitMix64;

    #[test]
    fn slots_come_out_sorted_and_unique_whatever_their_count_and_spread() {
        let mut rng = SplitMix64::new(41);
        let mut bits = Vec::new();
        for _ in 0..2_000 {
            let len = (rng.next_u64() % 400) as usize;
            // Dense (a view's cells), spread thin, or anywhere in the slot range.
            let range = match rng.next_u64() % 3 {
                0 => 1 + len as u64 * 2,
                1 => 1 + len as u64 * 1_000,
                _ => u64::from(u32::MAX),
            };
            let slots: Vec<u32> = (0..len).map(|_| (rng.next_u64() % range) as u32).collect();
            let mut expected = slots.clone();
            expected.sort_unstable();
            expected.dedup();
            let mut got = slots;
            sort_unique(&mut got, &mut bits);
            assert_eq!(got, expected);
        }
    }
}
