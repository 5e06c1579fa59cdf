//! What keeps a holder's accepted values from being sent back to it: the change each accepted
//! value made, by entity and type. A body built for the holder leaves a component out while
//! its last change is still the one noted here; a correction, a rejection or any later write
//! by the server changes it again, and then the holder is sent the server's value.

use bevy::{
    ecs::{change_detection::Tick, component::ComponentId},
    platform::collections::HashMap,
    prelude::*,
};

/// The Bevy change tick of each accepted holder value, by entity and type wire index.
#[derive(Resource, Default)]
pub(crate) struct EchoLog {
    changes: HashMap<(Entity, u32), Tick>,
}

impl EchoLog {
    /// Notes that `entity`'s component at wire `index` was last changed, at `tick`, by its
    /// holder's accepted value.
    pub(super) fn note(&mut self, entity: Entity, index: u32, tick: Tick) {
        self.changes.insert((entity, index), tick);
    }

    /// Forgets the note of one component: its value is the server's own now.
    pub(super) fn forget_one(&mut self, entity: Entity, index: u32) {
        self.changes.remove(&(entity, index));
    }

    /// Forgets every note of `entity`.
    pub(super) fn forget(&mut self, entity: Entity) {
        self.changes.retain(|(held, _), _| *held != entity);
    }

    /// Whether `entity`'s component (wire `index`, world id `component_id`) still holds the
    /// value its holder sent, unchanged since.
    pub(crate) fn is_echo(
        &self,
        world: &World,
        entity: Entity,
        index: u32,
        component_id: ComponentId,
    ) -> bool {
        let Some(noted) = self.changes.get(&(entity, index)) else {
            return false;
        };
        world
            .get_entity(entity)
            .ok()
            .and_then(|entity| entity.get_change_ticks_by_id(component_id))
            .is_some_and(|ticks| ticks.changed == *noted)
    }

    /// Whether nothing is noted.
    pub(crate) fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}
