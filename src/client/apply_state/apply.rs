//! Applying what a state frame said: despawns and entities with their components (inserted
//! whole, values only when newer). Their references are in `references.rs`.

use super::*;
use crate::{
    client::session::ClientSession,
    shared::client_ids::{AliasedComponents, Aliasing},
};

/// The component types whose values carry aliases and this client's alias, when it has one
/// and some type does: their values need the client's id put back.
pub(super) fn own_aliasing(world: &World) -> Option<(&AliasedComponents, Aliasing)> {
    let aliased = world.get_resource::<AliasedComponents>()?;
    let session = world.get_resource::<ClientSession>()?;
    let (false, Some(client_id), Some(alias)) =
        (aliased.is_empty(), session.client_id, session.alias)
    else {
        return None;
    };
    Some((aliased, Aliasing { alias, client_id }))
}

impl FrameApply<'_> {
    /// Drops a server entity, or freezes it (kept as last seen, no longer updated).
    pub(super) fn despawn(&mut self, despawn: DespawnEntry) -> Result<(), DecodeError> {
        let remote = despawn.entity;
        if self
            .replicas
            .entities
            .get(&remote)
            .is_some_and(|replica| replica.last_life_event().is_newer_than(self.tick))
        {
            return Ok(());
        }
        if despawn.freeze {
            let Some(replica) = self.replicas.entities.get_mut(&remote) else {
                return Ok(());
            };
            replica.frozen = Some(self.tick);
            let slot = replica.slot;
            self.replicas.forget_slot(slot, remote);
            if let Some(client) = self.map.to_client(remote)
                && let Ok(mut entity) = self.world.get_entity_mut(client)
            {
                entity.insert(Frozen);
            }
            return Ok(());
        }
        self.replicas.bury(remote, self.tick)?;
        let Some(replica) = self.replicas.forget(remote) else {
            return Ok(());
        };
        // Values received are kept by slot: forgotten unless a newer entity holds the slot
        // already (its spawn forgot them when it was read).
        if self.replicas.slots.get(replica.slot).is_none() {
            for receiver in &mut self.receivers.receivers {
                receiver.decoder.forget_slot(replica.slot);
            }
        }
        let client = self.map.remove_by_server(remote);
        self.detach_relationships_to(remote);
        if let Some(client) = client
            && let Ok(entity) = self.world.get_entity_mut(client)
        {
            entity.despawn();
        }
        self.touched_targets.push(remote);
        Ok(())
    }

    pub(super) fn apply(&mut self, staged: &[StagedEntity]) -> Result<(), DecodeError> {
        let mut values = core::mem::take(&mut self.values);
        let result = self.apply_values(staged, &mut values);
        values.clear();
        self.values = values;
        result
    }

    fn apply_values(
        &mut self,
        staged: &[StagedEntity],
        values: &mut [Staged],
    ) -> Result<(), DecodeError> {
        self.decode_blobs(staged, values)?;
        self.restore_own_ids(values)?;
        let spawned_by = self.registry.index_of(TypeId::of::<SpawnedBy>());
        // Map every spawned entity first, so values in this frame that name them resolve.
        for entity in staged {
            if !entity.spawn {
                continue;
            }
            self.replicas.tombstones.remove(&entity.remote);
            let mut client = self.map.to_client(entity.remote);
            if client.is_none() {
                // The server's copy of an entity this client spawned by prediction takes it
                // over: no duplicate.
                let predicted = spawned_by
                    .and_then(|index| {
                        values[entity.values.clone()]
                            .iter()
                            .find(|value| value.index == index)
                    })
                    .and_then(|value| match value.value {
                        StagedValue::Decoded(at) => self.decoded[at as usize]
                            .first()?
                            .get::<SpawnedBy>()
                            .copied(),
                        _ => None,
                    })
                    .and_then(|key| {
                        self.world
                            .get_resource_mut::<PredictedSpawns>()?
                            .pending
                            .remove(&key)
                    })
                    .map(|(local, _)| local)
                    .filter(|local| {
                        self.world.get_entity(*local).is_ok()
                            && self.map.to_server(*local).is_none()
                    });
                let copy = predicted.unwrap_or_else(|| self.world.spawn_empty().id());
                self.map.insert(entity.remote, copy);
                self.touched_targets.push(entity.remote);
                client = Some(copy);
            }
            let replica = self.replicas.entities.entry(entity.remote).or_default();
            replica.client = client;
            replica.slot = entity.slot;
            replica.spawned = self.tick;
            if replica.frozen.take().is_some()
                && let Some(client) = client
                && let Ok(mut copy) = self.world.get_entity_mut(client)
            {
                copy.remove::<Frozen>();
            }
            self.replicas.slots.insert(entity.slot, entity.remote);
        }
        let from_server = staged
            .iter()
            .any(|entity| entity.spawn)
            .then(|| self.world.register_component::<FromServer>());
        for entity in staged {
            self.apply_entity(entity, &mut values[entity.values.clone()], from_server);
        }
        Ok(())
    }

    /// Turns this client's alias back into its id in values that name clients (see
    /// [`client_ids`](crate::shared::client_ids)).
    fn restore_own_ids(&mut self, values: &mut [Staged]) -> Result<(), DecodeError> {
        let Some((aliased, aliasing)) = own_aliasing(self.world) else {
            return Ok(());
        };
        for value in values
            .iter_mut()
            .filter(|value| aliased.carries(value.index))
        {
            if let StagedValue::Staged(at) = value.value {
                let decoder = &mut self.receivers.get_mut(value.index)?.decoder;
                value.value =
                    StagedValue::Decoded(push_decoded(&mut self.decoded, decoder.take_erased(at)));
            }
            if let StagedValue::Decoded(at) = value.value {
                aliased.restore(value.index, &mut self.decoded[at as usize], aliasing);
            }
        }
        Ok(())
    }

    /// Decodes the large values that are still news; one that is news but gone (evicted) is
    /// left out, and the frame is then not acknowledged, so the server sends it again.
    fn decode_blobs(
        &mut self,
        staged: &[StagedEntity],
        values: &mut [Staged],
    ) -> Result<(), DecodeError> {
        for entity in staged {
            for value in &mut values[entity.values.clone()] {
                let StagedValue::Blob(id) = value.value else {
                    continue;
                };
                let fresh = self
                    .replicas
                    .entities
                    .get(&entity.remote)
                    .is_none_or(|replica| replica.is_fresh(value.index, value.tick));
                if !fresh {
                    continue;
                }
                let Some(bytes) = self.replicas.blobs.take(id) else {
                    value.value = StagedValue::Missing;
                    self.blob_missing = true;
                    continue;
                };
                let component = self.registry.get(value.index)?;
                let decoder = &mut self.receivers.get_mut(value.index)?.decoder;
                let copies = component.copies();
                let at = decoder.read_blob(&bytes, entity.slot, value.tick, copies)?;
                value.value = if entity.spawn {
                    StagedValue::Decoded(push_decoded(&mut self.decoded, decoder.take_erased(at)))
                } else {
                    StagedValue::Staged(at)
                };
            }
        }
        Ok(())
    }

    fn apply_entity(
        &mut self,
        staged: &StagedEntity,
        values: &mut [Staged],
        from_server: Option<ComponentId>,
    ) {
        let Some(replica) = self.replicas.entities.get_mut(&staged.remote) else {
            return;
        };
        let Some(client) = replica.client else {
            return;
        };
        let registry = self.registry;
        let receivers = &mut *self.receivers;
        let map = &*self.map;
        let tick = self.tick;
        let mut inserts: Vec<(ComponentId, ErasedValue)> = Vec::new();
        let mut references: Vec<(u32, Vec<Entity>)> = Vec::new();
        let mut entity = self.world.get_entity_mut(client).ok();
        if staged.spawn {
            if let Some(from_server) = from_server
                && entity
                    .as_ref()
                    .is_some_and(|entity| !entity.contains::<FromServer>())
            {
                inserts.push((from_server, ErasedValue::new(FromServer)));
            }
            // A spawn is the whole entity: what it does not list is gone.
            let listed = |index: u32| {
                values.iter().any(|value| {
                    value.index == index && !matches!(value.value, StagedValue::Missing)
                })
            };
            let gone: Vec<u32> = replica.present().filter(|index| !listed(*index)).collect();
            for index in gone {
                if replica.is_fresh(index, tick) {
                    replica.hold(index, tick, false);
                    remove_component(
                        receivers,
                        entity.as_mut(),
                        (replica, staged.slot),
                        index,
                        &mut references,
                    );
                }
            }
        }
        for value in values {
            if matches!(value.value, StagedValue::Missing)
                || !replica.is_fresh(value.index, value.tick)
            {
                continue;
            }
            let staged_at = match value.value {
                StagedValue::Staged(at) => Some(at),
                StagedValue::Decoded(_) | StagedValue::Removed => None,
                // Not held and not news: nothing to do.
                StagedValue::Blob(_) | StagedValue::Missing => continue,
            };
            let removed = matches!(value.value, StagedValue::Removed);
            replica.hold(value.index, value.tick, !removed);
            if removed {
                remove_component(
                    receivers,
                    entity.as_mut(),
                    (replica, staged.slot),
                    value.index,
                    &mut references,
                );
                continue;
            }
            let (Ok(component), Some(receiver)) = (
                registry.get(value.index),
                receivers.receivers.get_mut(value.index as usize),
            ) else {
                continue;
            };
            // A value naming no entity over a component the entity holds, that could not be
            // written as it was read (an entry after a removal, an immutable component).
            if let (Some(at), Some(entity)) = (staged_at, entity.as_mut()) {
                let write = FreshWrite {
                    predicted: component.predicted && entity.contains_id(self.markers.predicted),
                    interpolated: component.interpolated
                        && !entity.contains_id(self.markers.no_interpolation),
                    tick: value.tick,
                    frame_tick: tick,
                    ids: receiver.ids(),
                };
                if receiver.decoder.write_fresh(at, entity, write) {
                    if !replica.deferred.is_empty() {
                        replica.deferred.retain(|(held, _)| *held != value.index);
                    }
                    if replica.references(value.index).is_some() {
                        references.push((value.index, Vec::new()));
                    }
                    continue;
                }
            }
            let mut copies = match core::mem::replace(&mut value.value, StagedValue::Removed) {
                StagedValue::Staged(at) => receiver.decoder.take_erased(at),
                StagedValue::Decoded(at) => core::mem::take(&mut self.decoded[at as usize]),
                _ => continue,
            };
            let receiver = &*receiver;
            let mut listing = ListingMapper { seen: Vec::new() };
            copies[0].map_entities(&mut listing);
            let targets = listing.seen;
            replica.deferred.retain(|(held, _)| *held != value.index);
            if component.relationship
                && targets
                    .iter()
                    .any(|target| map.to_client(*target).is_none())
            {
                // Bevy drops a relationship to a missing entity: wait for the target.
                if let Some(entity) = entity.as_mut() {
                    receiver.writer.remove(entity);
                }
                replica.deferred.push((value.index, copies.swap_remove(0)));
                references.push((value.index, targets));
                continue;
            }
            for copy in &mut copies {
                copy.map_entities(&mut RecordingMapper {
                    map,
                    seen: Vec::new(),
                });
            }
            references.push((value.index, targets));
            if let Some(entity) = entity.as_mut() {
                write_value(
                    component,
                    receiver,
                    entity,
                    value.tick,
                    tick,
                    copies,
                    &mut inserts,
                );
            }
        }
        if let Some(entity) = entity.as_mut()
            && !inserts.is_empty()
        {
            ErasedValue::insert_all(entity, inserts);
        }
        for (index, targets) in references {
            self.replicas.set_references(staged.remote, index, targets);
        }
    }
}

/// Takes component `index` off an entity (and forgets what it named or waited for).
fn remove_component(
    receivers: &mut ComponentReceivers,
    entity: Option<&mut EntityWorldMut>,
    (replica, slot): (&mut Replica, u32),
    index: u32,
    references: &mut Vec<(u32, Vec<Entity>)>,
) {
    replica.deferred.retain(|(held, _)| *held != index);
    references.push((index, Vec::new()));
    if let Ok(receiver) = receivers.get_mut(index) {
        // The server forgets the values of a removed component too: a value added again
        // starts a new history on both sides.
        receiver.decoder.forget_slot(slot);
        if let Some(entity) = entity {
            receiver.writer.remove(entity);
        }
    }
}

/// Puts a fresh value on an entity: into the record of server values of a predicted entity,
/// into its interpolation buffer, over its current value, or (new) into the batch inserted at
/// the end. `tick` is when the value was set, `frame_tick` the frame's tick.
fn write_value(
    component: &ReplicatedComponent,
    receiver: &ComponentReceiver,
    entity: &mut EntityWorldMut,
    tick: NetTick,
    frame_tick: NetTick,
    mut copies: Vec<ErasedValue>,
    inserts: &mut Vec<(ComponentId, ErasedValue)>,
) {
    let has_value = entity.contains_id(component.component_id);
    if component.predicted && entity.contains::<Predicted>() && copies.len() == 2 {
        // The simulation owns the component; the server's value is checked against what was
        // predicted for the same tick.
        let record_copy = copies.pop();
        let first = copies.pop();
        let (Some(first), Some(record_copy)) = (first, record_copy) else {
            return;
        };
        if has_value {
            if let Some(first) = receiver.writer.push_confirmed(entity, frame_tick, first) {
                inserts.push((
                    receiver.confirmed_id,
                    receiver.writer.new_confirmed(frame_tick, first),
                ));
            }
        } else {
            inserts.push((component.component_id, first));
            inserts.push((
                receiver.confirmed_id,
                receiver.writer.new_confirmed(frame_tick, record_copy),
            ));
        }
        return;
    }
    if component.interpolated && !entity.contains::<NoInterpolation>() && copies.len() == 2 {
        let buffer_copy = copies.pop();
        let first = copies.pop();
        let (Some(first), Some(buffer_copy)) = (first, buffer_copy) else {
            return;
        };
        if has_value {
            if let Some(first) = receiver.writer.push_snapshot(entity, tick, first) {
                // The value stays as drawn; interpolation takes over from the new buffer.
                inserts.push((receiver.buffer_id, receiver.writer.new_buffer(tick, first)));
            }
        } else {
            inserts.push((component.component_id, first));
            inserts.push((
                receiver.buffer_id,
                receiver.writer.new_buffer(tick, buffer_copy),
            ));
        }
        return;
    }
    let Some(value) = copies.into_iter().next() else {
        return;
    };
    if has_value {
        receiver.writer.overwrite(entity, value);
    } else {
        inserts.push((component.component_id, value));
    }
}
