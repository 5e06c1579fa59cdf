//! [`ValueCache`]: each component value encoded once per send, shared by every client.

use bevy::{platform::collections::HashMap, prelude::*};

use crate::shared::registry::ReplicationRegistry;

/// Encoded values of the current send, keyed by `(entity, component index)`.
#[derive(Default, Debug)]
pub(crate) struct ValueCache {
    bytes: Vec<u8>,
    spans: HashMap<(Entity, u32), Option<(usize, usize)>>,
}

impl ValueCache {
    /// Forgets the previous send's values.
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.spans.clear();
    }

    /// The encoded value of component `index` on `entity`, encoding it on first use. `None`
    /// when the entity lacks the component or its codec failed (logged once).
    pub(crate) fn get(
        &mut self,
        world: &World,
        registry: &ReplicationRegistry,
        entity: Entity,
        index: u32,
    ) -> Option<&[u8]> {
        let span = *self.spans.entry((entity, index)).or_insert_with(|| {
            let component = registry.get(index).ok()?;
            let start = self.bytes.len();
            match (component.write)(world, entity, &mut self.bytes) {
                Ok(true) => Some((start, self.bytes.len())),
                Ok(false) => None,
                Err(error) => {
                    error!("not replicating {} of {entity}: {error}", component.name);
                    self.bytes.truncate(start);
                    None
                }
            }
        });
        span.map(|(start, end)| &self.bytes[start..end])
    }
}
