//! [`Replicas`]: the client's bookkeeping of what it holds of the server's world: per server
//! entity, the tick of every component value it applied (so each server change is applied once),
//! the entities its components name (so references follow spawns and despawns), relationships
//! waiting for their target; per slot, the entity; and the watermark messages wait for.

use bevy::{
    ecs::entity::{EntityHashMap, EntityMapper},
    prelude::*,
};

use super::{blob_assembly::BlobAssembly, slot_table::SlotTable};
use crate::shared::{
    entity_map::ServerEntityMap,
    erased::ErasedValue,
    error::DecodeError,
    registry::BASELINE_WINDOW_TICKS,
    tick::NetTick,
    wire::{MAX_DESPAWNS_PER_FRAME, MAX_TICK_LEAP, OwnedAck},
};

/// Most despawned server entities a client remembers at once (to ignore older spawns of them).
/// An honest server sends at most [`MAX_DESPAWNS_PER_FRAME`] despawns a tick, and a tombstone
/// lives `2 * BASELINE_WINDOW_TICKS + 1` ticks: 33,024 at most. More is a hostile server.
pub(crate) const MAX_TOMBSTONES: usize = 1 << 16;
const _: () =
    assert!(MAX_DESPAWNS_PER_FRAME * (2 * BASELINE_WINDOW_TICKS as usize + 1) <= MAX_TOMBSTONES);

/// What the client holds of one server entity.
#[derive(Default)]
pub(crate) struct Replica {
    /// The slot the server named it by.
    pub(crate) slot: u32,
    /// Its client entity, as [`ServerEntityMap`] has it (kept here too, so applying a frame
    /// finds both with one lookup).
    pub(crate) client: Option<Entity>,
    /// Tick of the frame that spawned it here; older frames about it are stale.
    pub(crate) spawned: NetTick,
    /// Per component: the tick of the value (or removal) applied, and whether it is present.
    held: HeldList,
    /// Per component that names entities: the server entities it names, in its order.
    pub(crate) references: Vec<(u32, Vec<Entity>)>,
    /// Relationship components waiting for their target to arrive, with server entities inside.
    pub(crate) deferred: Vec<(u32, ErasedValue)>,
    /// The tick it was frozen at (out of view, kept as last seen), if it is.
    pub(crate) frozen: Option<NetTick>,
}

impl Replica {
    /// The tick of the newest spawn or freeze: older frames about it are stale.
    pub(crate) fn last_life_event(&self) -> NetTick {
        self.frozen
            .map_or(self.spawned, |frozen| frozen.max(self.spawned))
    }
}

/// Components held inline in a [`Replica`] (no other cache line to fetch for them).
const INLINE_HELD: usize = 3;

/// Per component: the tick of the value (or removal) applied, and whether it is present, in the
/// order first held. The first [`INLINE_HELD`] live in the list itself, the rest on the heap.
#[derive(Default)]
struct HeldList {
    inline: [(u32, NetTick, bool); INLINE_HELD],
    len: u8,
    spill: Vec<(u32, NetTick, bool)>,
}

impl HeldList {
    fn iter(&self) -> impl Iterator<Item = &(u32, NetTick, bool)> + '_ {
        self.inline[..usize::from(self.len)]
            .iter()
            .chain(&self.spill)
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut (u32, NetTick, bool)> + '_ {
        self.inline[..usize::from(self.len)]
            .iter_mut()
            .chain(&mut self.spill)
    }

    fn push(&mut self, entry: (u32, NetTick, bool)) {
        match self.inline.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = entry;
                self.len += 1;
            }
            None => self.spill.push(entry),
        }
    }
}

impl Replica {
    /// Whether a value (or removal) of component `index` set at `tick` is newer than what is held.
    pub(crate) fn is_fresh(&self, index: u32, tick: NetTick) -> bool {
        self.held
            .iter()
            .find(|(held, ..)| *held == index)
            .is_none_or(|(_, held, _)| tick.is_newer_than(*held))
    }

    /// Notes what is held of component `index` as of `tick`.
    pub(crate) fn hold(&mut self, index: u32, tick: NetTick, present: bool) {
        if let Some(entry) = self.held.iter_mut().find(|(held, ..)| *held == index) {
            *entry = (index, tick, present);
            return;
        }
        self.held.push((index, tick, present));
    }

    /// Components present.
    pub(crate) fn present(&self) -> impl Iterator<Item = u32> + '_ {
        self.held
            .iter()
            .filter(|(.., present)| *present)
            .map(|(index, ..)| *index)
    }

    /// The server entities component `index` names.
    pub(crate) fn references(&self, index: u32) -> Option<&[Entity]> {
        self.references
            .iter()
            .find(|(held, _)| *held == index)
            .map(|(_, targets)| targets.as_slice())
    }
}

/// Per tick: which of its frames arrived, and what its last frame said.
#[derive(Debug, Default)]
struct TickParts {
    tick: NetTick,
    received: Vec<u32>,
    last: Option<(u32, NetTick)>,
}

/// The client's replication bookkeeping for one connection, reset when it disconnects. Written
/// by [`ClientSet::Receive`](super::ClientSet::Receive); acknowledgements are sent by
/// [`ClientSet::Send`](super::ClientSet::Send).
#[derive(Resource, Default)]
pub(crate) struct Replicas {
    pub(crate) entities: EntityHashMap<Replica>,
    /// The lists frames are read into, reused from frame to frame.
    pub(crate) scratch: super::apply_state::FrameScratch,
    /// Slot → server entity, for the slots held.
    pub(crate) slots: SlotTable<Entity>,
    /// Server entity → entities (server ids) whose components name it, with the component.
    pub(crate) named_by: NamedBy,
    /// Server entities despawned, with the tick: older spawns of them are stale.
    pub(crate) tombstones: EntityHashMap<NetTick>,
    /// Per replicated resource: tick of the value (or removal) applied.
    pub(crate) resources: Vec<Option<NetTick>>,
    /// The newest frame tick seen.
    pub(crate) newest_tick: Option<NetTick>,
    /// Every change up to this tick is held.
    pub(crate) watermark: Option<NetTick>,
    parts: Vec<TickParts>,
    /// Frame ids received since the last update frame, and the ones of the update before (each
    /// id is acknowledged twice, in case an update frame is lost).
    pub(crate) acks: Vec<u16>,
    pub(crate) acks_previous: Vec<u16>,
    /// The newest input tick the server said it received.
    pub(crate) input_ack: Option<NetTick>,
    /// The owned-value sections the server said it read (client authority).
    pub(crate) owned_ack: Option<OwnedAck>,
    pub(crate) blobs: BlobAssembly,
}

impl Replicas {
    /// Whether a frame of `tick` is too old to read (its baselines may be forgotten).
    pub(crate) fn is_stale(&self, tick: NetTick) -> bool {
        self.newest_tick
            .is_some_and(|newest| newest.diff(tick) > BASELINE_WINDOW_TICKS as i32)
    }

    /// Notes a frame tick seen.
    pub(crate) fn saw_tick(&mut self, tick: NetTick) {
        self.newest_tick = Some(self.newest_tick.map_or(tick, |newest| newest.max(tick)));
    }

    /// How far `tick` is ahead of the newest tick seen, when that is more than a live
    /// connection allows ([`MAX_TICK_LEAP`]).
    pub(crate) fn leap(&self, tick: NetTick) -> Option<i32> {
        let leap = tick.diff(self.newest_tick?);
        (leap > MAX_TICK_LEAP).then_some(leap)
    }

    /// Notes that part `part` of `tick` was applied whole; the last part names its watermark.
    pub(crate) fn part_applied(&mut self, tick: NetTick, part: u32, last: Option<NetTick>) {
        let position = match self.parts.iter().position(|parts| parts.tick == tick) {
            Some(position) => position,
            None => {
                self.parts.push(TickParts {
                    tick,
                    ..TickParts::default()
                });
                self.parts.len() - 1
            }
        };
        let parts = &mut self.parts[position];
        // Sorted and distinct (part numbers are below MAX_PARTS_PER_TICK).
        if let Err(at) = parts.received.binary_search(&part) {
            parts.received.insert(at, part);
        }
        if let Some(watermark) = last {
            parts.last = Some((part, watermark));
        }
        // Complete exactly when it holds parts 0 to the last, nothing beyond.
        if let Some((last_part, watermark)) = parts.last
            && parts.received.len() as u32 == last_part + 1
            && parts.received.last() == Some(&last_part)
        {
            self.watermark = Some(self.watermark.map_or(watermark, |held| held.max(watermark)));
            self.parts.remove(position);
        }
        let newest = self.newest_tick.unwrap_or(tick);
        self.parts
            .retain(|parts| newest.diff(parts.tick) <= BASELINE_WINDOW_TICKS as i32);
    }

    /// Notes that `referrer`'s component `index` names `targets` (replacing what it named).
    pub(crate) fn set_references(&mut self, referrer: Entity, index: u32, targets: Vec<Entity>) {
        let Some(replica) = self.entities.get_mut(&referrer) else {
            return;
        };
        let old = match replica
            .references
            .iter()
            .position(|(held, _)| *held == index)
        {
            Some(position) if targets.is_empty() => Some(replica.references.remove(position).1),
            Some(position) => Some(core::mem::replace(
                &mut replica.references[position].1,
                targets.clone(),
            )),
            None => {
                if !targets.is_empty() {
                    replica.references.push((index, targets.clone()));
                }
                None
            }
        };
        unname(
            &mut self.named_by,
            referrer,
            index,
            old.into_iter().flatten(),
        );
        for target in targets {
            let list = self.named_by.entry(target).or_default();
            if !list.contains(&(referrer, index)) {
                list.push((referrer, index));
            }
        }
    }

    /// Forgets a server entity: its slot, references and relationships.
    pub(crate) fn forget(&mut self, remote: Entity) -> Option<Replica> {
        let mut replica = self.entities.remove(&remote)?;
        self.forget_slot(replica.slot, remote);
        for (index, targets) in core::mem::take(&mut replica.references) {
            unname(&mut self.named_by, remote, index, targets);
        }
        Some(replica)
    }

    /// Empties `slot` if it holds `remote` (a newer entity may hold it already).
    pub(crate) fn forget_slot(&mut self, slot: u32, remote: Entity) {
        if self.slots.get(slot) == Some(&remote) {
            self.slots.remove(slot);
        }
    }

    /// Notes that `remote` was despawned at `tick`: older spawns of it are stale. Past
    /// [`MAX_TOMBSTONES`] live ones, the server is lying.
    pub(crate) fn bury(&mut self, remote: Entity, tick: NetTick) -> Result<(), DecodeError> {
        if self.tombstones.len() >= MAX_TOMBSTONES && !self.tombstones.contains_key(&remote) {
            return Err(DecodeError::TooMany {
                what: "despawned entities remembered",
                count: MAX_TOMBSTONES + 1,
                limit: MAX_TOMBSTONES,
            });
        }
        let tombstone = self.tombstones.entry(remote).or_insert(tick);
        *tombstone = tombstone.max(tick);
        Ok(())
    }

    #[cfg(feature = "test_utils")]
    /// Heap bytes of the bookkeeping whose size the server's frames decide (slot table,
    /// tombstones, parts of ticks), for tests that bound what a hostile server can make a
    /// client hold.
    pub(crate) fn bookkeeping_bytes(&self) -> usize {
        use core::mem::size_of;
        self.slots.heap_bytes()
            + self.tombstones.capacity() * size_of::<(Entity, NetTick)>()
            + self
                .parts
                .iter()
                .map(|parts| size_of::<TickParts>() + parts.received.capacity() * size_of::<u32>())
                .sum::<usize>()
    }

    /// Forgets tombstones too old for any frame still read.
    pub(crate) fn prune(&mut self) {
        if let Some(newest) = self.newest_tick {
            self.tombstones
                .retain(|_, tick| newest.diff(*tick) <= 2 * BASELINE_WINDOW_TICKS as i32);
        }
    }
}

/// Maps server entities inside received values to client entities (unknown ones to
/// `Entity::PLACEHOLDER`) and records them in order.
pub(crate) struct RecordingMapper<'a> {
    pub(crate) map: &'a ServerEntityMap,
    pub(crate) seen: Vec<Entity>,
}

impl EntityMapper for RecordingMapper<'_> {
    fn get_mapped(&mut self, source: Entity) -> Entity {
        self.seen.push(source);
        self.map.to_client(source).unwrap_or(Entity::PLACEHOLDER)
    }

    fn set_mapped(&mut self, _source: Entity, _target: Entity) {}
}

/// Records the entities inside a value without changing them.
pub(crate) struct ListingMapper {
    pub(crate) seen: Vec<Entity>,
}

impl EntityMapper for ListingMapper {
    fn get_mapped(&mut self, source: Entity) -> Entity {
        self.seen.push(source);
        source
    }

    fn set_mapped(&mut self, _source: Entity, _target: Entity) {}
}

/// Who names each server entity: per target, the referrers and their components.
pub(crate) type NamedBy = EntityHashMap<Vec<(Entity, u32)>>;

/// Forgets what component `index` of `replica` (server entity `referrer`) names, its value now
/// naming nothing: [`Replicas::set_references`] without targets, for a replica at hand.
pub(crate) fn forget_references(
    named_by: &mut NamedBy,
    replica: &mut Replica,
    referrer: Entity,
    index: u32,
) {
    if let Some(position) = replica
        .references
        .iter()
        .position(|(held, _)| *held == index)
    {
        let (_, targets) = replica.references.remove(position);
        unname(named_by, referrer, index, targets);
    }
}

/// Takes component `index` of `referrer` off the lists of who names each of `targets`.
fn unname(
    named_by: &mut NamedBy,
    referrer: Entity,
    index: u32,
    targets: impl IntoIterator<Item = Entity>,
) {
    for target in targets {
        if let Some(list) = named_by.get_mut(&target) {
            list.retain(|entry| *entry != (referrer, index));
            if list.is_empty() {
                named_by.remove(&target);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_apply_once_and_never_go_back() {
        let mut replica = Replica::default();
        assert!(replica.is_fresh(0, NetTick(5)));
        replica.hold(0, NetTick(5), true);
        assert!(!replica.is_fresh(0, NetTick(5)));
        assert!(!replica.is_fresh(0, NetTick(4)));
        assert!(replica.is_fresh(0, NetTick(6)));
        assert!(replica.is_fresh(1, NetTick(1)));
        replica.hold(0, NetTick(7), false);
        assert_eq!(replica.present().count(), 0);
    }

    #[test]
    fn many_components_are_held_in_the_order_first_seen() {
        let mut replica = Replica::default();
        for index in [4, 2, 7, 1, 9] {
            replica.hold(index, NetTick(5), true);
        }
        replica.hold(7, NetTick(6), false);
        replica.hold(9, NetTick(6), true);
        assert_eq!(replica.present().collect::<Vec<_>>(), [4, 2, 1, 9]);
        assert!(!replica.is_fresh(9, NetTick(6)));
        assert!(replica.is_fresh(9, NetTick(7)));
        assert!(!replica.is_fresh(1, NetTick(5)));
    }

    #[test]
    fn the_watermark_moves_once_every_part_of_a_tick_arrived() {
        let mut replicas = Replicas::default();
        replicas.saw_tick(NetTick(10));
        replicas.part_applied(NetTick(10), 1, Some(NetTick(9)));
        assert_eq!(replicas.watermark, None);
        replicas.part_applied(NetTick(10), 1, Some(NetTick(9)));
        assert_eq!(
            replicas.watermark, None,
            "a duplicate is not the missing part"
        );
        replicas.part_applied(NetTick(10), 0, None);
        assert_eq!(replicas.watermark, Some(NetTick(9)));
        replicas.part_applied(NetTick(8), 0, Some(NetTick(8)));
        assert_eq!(replicas.watermark, Some(NetTick(9)), "never goes back");
    }

    #[test]
    fn a_part_beyond_the_last_does_not_stand_in_for_a_missing_one() {
        let mut replicas = Replicas::default();
        replicas.saw_tick(NetTick(10));
        replicas.part_applied(NetTick(10), 5, None);
        replicas.part_applied(NetTick(10), 1, Some(NetTick(9)));
        assert_eq!(replicas.watermark, None, "part 0 is missing");
        let mut honest = Replicas::default();
        honest.saw_tick(NetTick(10));
        honest.part_applied(NetTick(10), 1, Some(NetTick(9)));
        honest.part_applied(NetTick(10), 0, None);
        assert_eq!(honest.watermark, Some(NetTick(9)));
    }

    #[test]
    fn tombstones_stop_at_their_cap_and_age_out() {
        let mut replicas = Replicas::default();
        replicas.saw_tick(NetTick(10));
        let entity = |index: usize| Entity::from_raw_u32(index as u32 + 1).unwrap();
        for index in 0..MAX_TOMBSTONES {
            replicas.bury(entity(index), NetTick(10)).unwrap();
        }
        assert!(
            replicas.bury(entity(0), NetTick(11)).is_ok(),
            "known: no new entry"
        );
        assert!(replicas.bury(entity(MAX_TOMBSTONES), NetTick(10)).is_err());
        replicas.saw_tick(NetTick(10 + 2 * BASELINE_WINDOW_TICKS + 2));
        replicas.prune();
        assert!(replicas.bury(entity(MAX_TOMBSTONES), NetTick(200)).is_ok());
    }

    #[test]
    fn references_are_indexed_both_ways() {
        let a = Entity::from_raw_u32(1).unwrap();
        let b = Entity::from_raw_u32(2).unwrap();
        let mut replicas = Replicas::default();
        replicas.entities.insert(a, Replica::default());
        replicas.set_references(a, 3, vec![b]);
        assert_eq!(replicas.named_by[&b], [(a, 3)]);
        replicas.set_references(a, 3, vec![]);
        assert!(replicas.named_by.is_empty());
        replicas.set_references(a, 3, vec![b]);
        replicas.forget(a);
        assert!(replicas.named_by.is_empty());
    }
}
