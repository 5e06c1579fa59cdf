//! [`InterestIndex`]: what relevance needs to be cheap: each root entity's position in a ground
//! grid, the rooms of each entity, and each entity's replicated children.

use core::any::TypeId;

use bevy::{ecs::change_detection::Tick, platform::collections::HashMap, prelude::*};

use super::{
    rooms::Rooms,
    settings::{InterestSettings, RelevanceRule},
};
use crate::{
    server::replicated_world::ReplicatedWorld,
    shared::{registry::ReplicationRegistry, replicated::Replicated},
};

/// A grid cell on the ground plane (x, z).
pub(crate) type Cell = (i32, i32);

/// Replicated entities' transforms, for their change ticks.
type TransformQuery = QueryState<(Entity, Ref<'static, Transform>), With<Replicated>>;

/// Positions, rooms and children by slot. Updated at the start of each send's relevance step,
/// once interest management is in use.
#[derive(Resource, Default)]
pub(crate) struct InterestIndex {
    /// Whether a `ViewPoint`, `Rooms` or `RelevanceRule` was ever used.
    pub(crate) active: bool,
    cell_size: f32,
    /// Per slot: the position of a root (children have none here).
    positions: Vec<Option<Vec3>>,
    cells: Vec<Option<Cell>>,
    grid: HashMap<Cell, Vec<u32>>,
    /// Roots without a position: every view point sees them.
    unplaced: Vec<u32>,
    /// Per slot: its rooms (empty: none).
    rooms: Vec<Rooms>,
    /// Slots whose rooms are not empty.
    with_rooms: usize,
    /// Slots with a replicated parent.
    with_parent: usize,
    /// Per slot: its replicated children, and the parent it had when they were listed.
    children: Vec<Vec<u32>>,
    parents: Vec<Option<u32>>,
    /// Whether rooms changed this send (every client's view is then recomputed).
    pub(crate) rooms_changed: bool,
    transforms: Option<TransformQuery>,
    room_components: Option<QueryState<(Entity, Ref<'static, Rooms>)>>,
    last_run: Option<Tick>,
    /// Entities whose `Rooms` were removed since the last send.
    pub(crate) rooms_removed: Vec<Entity>,
}

impl InterestIndex {
    /// Brings the index up to date with this send: gone entities, new ones, moved ones, room
    /// changes and hierarchy changes.
    pub(crate) fn update(
        &mut self,
        world: &mut World,
        replicated: &ReplicatedWorld,
        cell_size: f32,
    ) {
        let capacity = replicated.capacity();
        if self.positions.len() < capacity {
            self.positions.resize(capacity, None);
            self.cells.resize(capacity, None);
            self.rooms.resize(capacity, Rooms::default());
            self.children.resize(capacity, Vec::new());
            self.parents.resize(capacity, None);
        }
        if (cell_size - self.cell_size).abs() > f32::EPSILON {
            // A new grid: place every root again.
            self.cell_size = cell_size.max(0.01);
            self.grid.clear();
            self.unplaced.clear();
            self.cells.iter_mut().for_each(|cell| *cell = None);
            for (slot, record) in replicated.live() {
                if record.parent.is_none() {
                    self.place(slot, self.positions[slot as usize]);
                }
            }
        }
        let this_run = world.change_tick();
        let last_run = self.last_run;
        self.last_run = Some(this_run);
        self.rooms_changed = false;

        for &(slot, _) in &replicated.despawned {
            self.place(slot, None);
            self.unplace(slot);
            self.positions[slot as usize] = None;
            if !self.rooms[slot as usize].is_empty() {
                self.rooms_changed = true;
            }
            self.set_rooms(slot, Rooms::default());
        }
        // The first update may come long after the entities (interest management starts with
        // the first `Rooms`, `ViewPoint` or rule): every hierarchy is listed, every entity placed.
        let first = last_run.is_none();
        let mut hierarchy_changed = first || !replicated.despawned.is_empty();
        for &slot in &replicated.changed {
            let record = &replicated.slots[slot as usize];
            if self.parents[slot as usize] != record.parent {
                hierarchy_changed = true;
            }
        }
        if hierarchy_changed {
            self.rebuild_children(replicated);
        }

        // New entities and entities that changed (a root may have become a child or back).
        let existing: Vec<u32> = match first {
            true => replicated.live().map(|(slot, _)| slot).collect(),
            false => Vec::new(),
        };
        for &slot in existing
            .iter()
            .chain(&replicated.spawned)
            .chain(&replicated.changed)
        {
            let record = &replicated.slots[slot as usize];
            if !record.live {
                continue;
            }
            let position = world.get::<Transform>(record.entity).map(|t| t.translation);
            self.set_position(slot, record.parent.is_none(), position);
            if let Some(rooms) = world.get::<Rooms>(record.entity)
                && *rooms != self.rooms[slot as usize]
            {
                self.set_rooms(slot, rooms.clone());
                self.rooms_changed = true;
            }
        }

        // Moved entities. When `Transform` is replicated, those that moved since the last send
        // are among the changed ones above; otherwise (and on the first update) every
        // replicated transform's change tick is looked at.
        let transform_replicated = world
            .resource::<ReplicationRegistry>()
            .index_of(TypeId::of::<Transform>())
            .is_some();
        let mut moved = Vec::new();
        if last_run.is_none() || !transform_replicated {
            let transforms = self.transforms.get_or_insert_with(|| {
                world.query_filtered::<(Entity, Ref<Transform>), With<Replicated>>()
            });
            for (entity, transform) in transforms.iter(world) {
                if last_run
                    .is_none_or(|last| transform.last_changed().is_newer_than(last, this_run))
                    && let Some(slot) = replicated.slot_of(entity)
                {
                    moved.push((slot, transform.translation));
                }
            }
        }
        for (slot, position) in moved {
            let root = replicated.slots[slot as usize].parent.is_none();
            self.set_position(slot, root, Some(position));
        }

        // Room changes of entities and clients.
        let room_components = self
            .room_components
            .get_or_insert_with(|| world.query::<(Entity, Ref<Rooms>)>());
        let mut changed_rooms = Vec::new();
        for (entity, rooms) in room_components.iter(world) {
            if last_run.is_none_or(|last| rooms.last_changed().is_newer_than(last, this_run)) {
                changed_rooms.push((entity, Rooms::clone(&rooms)));
            }
        }
        for (entity, rooms) in changed_rooms {
            self.rooms_changed = true;
            if let Some(slot) = replicated.slot_of(entity) {
                self.set_rooms(slot, rooms);
            }
        }
        for entity in core::mem::take(&mut self.rooms_removed) {
            self.rooms_changed = true;
            if let Some(slot) = replicated.slot_of(entity) {
                let rooms = world.get::<Rooms>(entity).cloned().unwrap_or_default();
                self.set_rooms(slot, rooms);
            }
        }
    }

    fn set_rooms(&mut self, slot: u32, rooms: Rooms) {
        let held = &mut self.rooms[slot as usize];
        self.with_rooms =
            self.with_rooms + usize::from(!rooms.is_empty()) - usize::from(!held.is_empty());
        *held = rooms;
    }

    fn rebuild_children(&mut self, replicated: &ReplicatedWorld) {
        for children in &mut self.children {
            children.clear();
        }
        self.with_parent = 0;
        for (slot, record) in replicated.slots.iter().enumerate() {
            let parent = record.parent.filter(|_| record.live);
            self.parents[slot] = parent;
            self.with_parent += usize::from(parent.is_some());
            if let Some(parent) = parent
                && let Some(children) = self.children.get_mut(parent as usize)
            {
                children.push(slot as u32);
            }
        }
    }

    fn set_position(&mut self, slot: u32, root: bool, position: Option<Vec3>) {
        let position = position.filter(|position| position.is_finite());
        self.positions[slot as usize] = position;
        if root {
            match position {
                Some(position) => {
                    self.unplace(slot);
                    self.place(slot, Some(position));
                }
                None => {
                    self.place(slot, None);
                    if !self.unplaced.contains(&slot) {
                        self.unplaced.push(slot);
                    }
                }
            }
        } else {
            self.place(slot, None);
            self.unplace(slot);
        }
    }

    fn cell_of(&self, position: Vec3) -> Cell {
        (
            (position.x / self.cell_size).floor() as i32,
            (position.z / self.cell_size).floor() as i32,
        )
    }

    /// Moves `slot` to the cell of `position` (or out of the grid).
    fn place(&mut self, slot: u32, position: Option<Vec3>) {
        let cell = position.map(|position| self.cell_of(position));
        let old = self.cells[slot as usize];
        if old == cell {
            return;
        }
        if let Some(old) = old
            && let Some(members) = self.grid.get_mut(&old)
        {
            if let Some(position) = members.iter().position(|held| *held == slot) {
                members.swap_remove(position);
            }
            if members.is_empty() {
                self.grid.remove(&old);
            }
        }
        if let Some(cell) = cell {
            self.grid.entry(cell).or_default().push(slot);
        }
        self.cells[slot as usize] = cell;
    }

    fn unplace(&mut self, slot: u32) {
        if let Some(position) = self.unplaced.iter().position(|held| *held == slot) {
            self.unplaced.swap_remove(position);
        }
    }

    /// The position of a root.
    pub(crate) fn position(&self, slot: u32) -> Option<Vec3> {
        self.positions.get(slot as usize).copied().flatten()
    }

    /// The rooms of a slot's entity.
    pub(crate) fn rooms(&self, slot: u32) -> &Rooms {
        &self.rooms[slot as usize]
    }

    /// Roots that may be within `radius` of `center` (every root in the cells the circle
    /// touches), then the roots without a position.
    pub(crate) fn near(&self, center: Vec3, radius: f32, out: &mut Vec<u32>) {
        let low = self.cell_of(center - Vec3::splat(radius));
        let high = self.cell_of(center + Vec3::splat(radius));
        // A huge radius would visit more cells than there are entities: take them all then.
        let cells = (i64::from(high.0 - low.0) + 1) * (i64::from(high.1 - low.1) + 1);
        if cells > self.grid.len() as i64 {
            self.all_roots(out);
            return;
        }
        for x in low.0..=high.0 {
            for z in low.1..=high.1 {
                if let Some(members) = self.grid.get(&(x, z)) {
                    out.extend_from_slice(members);
                }
            }
        }
        out.extend_from_slice(&self.unplaced);
    }

    /// Every root, placed or not.
    pub(crate) fn all_roots(&self, out: &mut Vec<u32>) {
        for members in self.grid.values() {
            out.extend_from_slice(members);
        }
        out.extend_from_slice(&self.unplaced);
    }

    /// Whether some entity is in a room (else rooms need no look per candidate).
    pub(crate) fn any_rooms(&self) -> bool {
        self.with_rooms > 0
    }

    /// Whether some replicated entity has a replicated parent.
    pub(crate) fn any_children(&self) -> bool {
        self.with_parent > 0
    }

    /// Adds `slot`'s replicated descendants to `out`.
    pub(crate) fn descendants(&self, slot: u32, out: &mut Vec<u32>) {
        let start = out.len();
        out.extend_from_slice(&self.children[slot as usize]);
        let mut index = start;
        while index < out.len() {
            let child = out[index];
            out.extend_from_slice(&self.children[child as usize]);
            index += 1;
            if out.len() - start > self.children.len() {
                // A cycle: stop rather than loop.
                break;
            }
        }
    }
}

/// Turns interest management on when a [`RelevanceRule`] or
/// [`InterestSettings::rooms_for_everything`] is in use (rooms for everything hides what is in
/// no room: in force from the first send, before any [`Rooms`] exists), and says whether it is
/// on. Called once per send, by the table step.
pub(crate) fn interest_in_use(world: &mut World) -> bool {
    let wanted = world.get_resource::<RelevanceRule>().is_some()
        || world.resource::<InterestSettings>().rooms_for_everything;
    let mut index = world.resource_mut::<InterestIndex>();
    if wanted {
        index.active = true;
    }
    index.active
}

/// Turns interest management on when a [`ViewPoint`](super::ViewPoint) or [`Rooms`] appears.
pub(crate) fn activate_on_view_point(
    _: On<Add, super::view_point::ViewPoint>,
    mut index: ResMut<InterestIndex>,
) {
    index.active = true;
}

/// Turns interest management on when [`Rooms`] appear.
pub(crate) fn activate_on_rooms(_: On<Add, Rooms>, mut index: ResMut<InterestIndex>) {
    index.active = true;
}

/// Notes removed [`Rooms`].
pub(crate) fn log_rooms_removed(event: On<Remove, Rooms>, mut index: ResMut<InterestIndex>) {
    index.rooms_removed.push(event.entity);
}
