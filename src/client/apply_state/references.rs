//! References between replicated entities on the client: components naming entities are
//! mapped again when their targets come or go, and relationships (which Bevy would despawn
//! with their target, or refuse without it) wait for their target.

use super::*;

impl FrameApply<'_> {
    /// Takes relationships naming `target` off the entities holding them (Bevy would despawn
    /// them with it); they wait, with server entities inside, for `target` to come back.
    pub(super) fn detach_relationships_to(&mut self, target: Entity) {
        let Some(referrers) = self.replicas.named_by.get(&target).cloned() else {
            return;
        };
        for (referrer, index) in referrers {
            let (Ok(component), Ok(receiver)) =
                (self.registry.get(index), self.receivers.get(index))
            else {
                continue;
            };
            if !component.relationship {
                continue;
            }
            let (Some(client), Some(replica)) = (
                self.map.to_client(referrer),
                self.replicas.entities.get_mut(&referrer),
            ) else {
                continue;
            };
            let targets = replica.references(index).unwrap_or_default().to_vec();
            if let Ok(mut entity) = self.world.get_entity_mut(client)
                && let Some(value) = receiver.writer.take_unmapped(&mut entity, &targets)
            {
                replica.deferred.retain(|(held, _)| *held != index);
                replica.deferred.push((index, value));
            }
        }
    }

    /// Maps the components naming entities that appeared or disappeared in this frame again,
    /// and inserts relationships whose target arrived.
    pub(super) fn resolve_references(&mut self) {
        let mut targets = core::mem::take(&mut self.touched_targets);
        targets.sort_unstable();
        targets.dedup();
        for target in targets {
            let Some(referrers) = self.replicas.named_by.get(&target).cloned() else {
                continue;
            };
            for (referrer, index) in referrers {
                self.refresh(referrer, index);
            }
        }
    }

    fn refresh(&mut self, referrer: Entity, index: u32) {
        let (Some(client), Some(replica)) = (
            self.map.to_client(referrer),
            self.replicas.entities.get_mut(&referrer),
        ) else {
            return;
        };
        let (Ok(component), Ok(receiver)) = (self.registry.get(index), self.receivers.get(index))
        else {
            return;
        };
        let targets = replica.references(index).unwrap_or_default().to_vec();
        let Ok(mut entity) = self.world.get_entity_mut(client) else {
            return;
        };
        if let Some(position) = replica.deferred.iter().position(|(held, _)| *held == index) {
            if targets
                .iter()
                .all(|target| self.map.to_client(*target).is_some())
            {
                let (_, mut value) = replica.deferred.swap_remove(position);
                value.map_entities(&mut RecordingMapper {
                    map: self.map,
                    seen: Vec::new(),
                });
                ErasedValue::insert_all(&mut entity, vec![(component.component_id, value)]);
            }
        } else if entity.contains_id(component.component_id) {
            receiver.writer.remap(&mut entity, &targets, self.map);
        }
    }
}
