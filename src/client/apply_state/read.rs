//! Reading a frame's entity entries. A spawn's values, and those of other entries that cannot
//! be written yet, are staged for the apply (`apply.rs`); a fresh value of an entity the client
//! holds that names no entity is written as it is read, into the component, its interpolation
//! buffer or its record of server values: what the apply would do with it, without the stage.

use super::*;
use crate::client::{
    component_receivers::ReadValue,
    replicas::{NamedBy, forget_references},
};

/// The entity an entry's values are written into as they are read, with what decides where.
struct InPlaceEntity<'w, 'r> {
    entity: EntityWorldMut<'w>,
    replica: &'r mut Replica,
    /// It is [`Predicted`]: a predicted type's values go to its record of server values.
    predicted: bool,
    /// It is not opted out of interpolation: an interpolated type's values go to its buffer.
    interpolating: bool,
    /// Its server entity, and who names what: what a value written replaces is no longer named.
    remote: Entity,
    named_by: &'r mut NamedBy,
}

impl FrameApply<'_> {
    pub(super) fn read_entities(
        &mut self,
        reader: &mut BitReader,
        staged: &mut Vec<StagedEntity>,
    ) -> Result<(), Stop> {
        let index_bits = self.registry.index_bits();
        let mut previous_slot = None;
        // The previous entry's shape (when there was one), read over in place.
        let mut shape = Shape::default();
        while let Some(head) = read_entry_head(reader, previous_slot)? {
            read_shape_into(
                reader,
                &mut shape,
                previous_slot.is_some(),
                index_bits,
                self.registry.len(),
                self.tick,
            )?;
            previous_slot = Some(head.slot);
            self.note(|summary| {
                summary.entities += 1;
                summary.spawns += u32::from(head.spawn.is_some());
                summary.components.extend_from_slice(&shape.components);
            });
            let (remote, spawn, stale) = match head.spawn {
                Some(remote) => {
                    let despawned_later = self
                        .replicas
                        .tombstones
                        .get(&remote)
                        .is_some_and(|despawned| !self.tick.is_newer_than(*despawned));
                    let spawned_later =
                        self.replicas.entities.get(&remote).is_some_and(|replica| {
                            replica.last_life_event().is_newer_than(self.tick)
                        });
                    (remote, true, despawned_later || spawned_later)
                }
                // Its replica is checked as its values are read.
                None => {
                    let remote = *self.replicas.slots.get(head.slot).ok_or(Stop::Abort)?;
                    (remote, false, false)
                }
            };
            if spawn && !stale && self.replicas.slots.get(head.slot) != Some(&remote) {
                // A new life in the slot: what it held belonged to an earlier one. The server
                // keeps no earlier values for it either, so neither side may find one as the
                // older baseline of a delta.
                for receiver in &mut self.receivers.receivers {
                    receiver.decoder.forget_slot(head.slot);
                }
            }
            let start = self.values.len();
            self.read_values(reader, &shape, head.slot, (!spawn).then_some(remote))?;
            if stale {
                self.values.truncate(start);
            } else if spawn || self.values.len() > start {
                staged.push(StagedEntity {
                    remote,
                    slot: head.slot,
                    spawn,
                    values: start..self.values.len(),
                });
            }
        }
        Ok(())
    }

    /// Reads an entry's values; `held` is the server entity of an entry that is not a spawn,
    /// whose fresh values may be written as they are read.
    fn read_values(
        &mut self,
        reader: &mut BitReader,
        shape: &Shape,
        slot: u32,
        held: Option<Entity>,
    ) -> Result<(), Stop> {
        let spawn = held.is_none();
        let Self {
            world,
            registry,
            receivers,
            replicas,
            values,
            decoded,
            tick,
            aliased,
            markers,
            ..
        } = self;
        let tick = *tick;
        let mut in_place = match held {
            None => None,
            Some(remote) => {
                let Replicas {
                    entities, named_by, ..
                } = &mut **replicas;
                // An update of an entity frozen, or spawned after the frame: it raced that.
                let replica = entities.get_mut(&remote).ok_or(Stop::Abort)?;
                if replica.frozen.is_some() || replica.spawned.is_newer_than(tick) {
                    return Err(Stop::Abort);
                }
                replica
                    .client
                    .and_then(|client| world.get_entity_mut(client).ok())
                    .map(|entity| InPlaceEntity {
                        predicted: entity.contains_id(markers.predicted),
                        interpolating: !entity.contains_id(markers.no_interpolation),
                        entity,
                        replica,
                        remote,
                        named_by,
                    })
            }
        };
        values.reserve(shape.components.len());
        // A removal is applied in order with the values after it: those wait too.
        let mut removal_read = false;
        for &index in &shape.components {
            let removed = !spawn && reader.read_bool()?;
            let changed = read_change_tick(reader, tick)?;
            if removed {
                removal_read = true;
                values.push(Staged {
                    index,
                    tick: changed,
                    value: StagedValue::Removed,
                });
                continue;
            }
            let component = registry.get(index)?;
            let receiver = receivers.get_mut(index)?;
            let delta_allowed = shape.baseline.is_some() && component.uses_baselines;
            let copies = component.copies();
            let encoding = match read_value_kind(reader, delta_allowed)? {
                ValueKind::Whole => ValueEncoding::Whole,
                ValueKind::Delta => {
                    let (base, previous) = shape.baseline.ok_or(Stop::Abort)?;
                    ValueEncoding::Delta { base, previous }
                }
                ValueKind::Blob(id) => {
                    values.push(Staged {
                        index,
                        tick: changed,
                        value: StagedValue::Blob(id),
                    });
                    continue;
                }
            };
            let read = ReadValue {
                encoding,
                slot,
                tick: changed,
                copies,
            };
            let target = in_place.as_mut().filter(|target| {
                !removal_read
                    && target.replica.is_fresh(index, changed)
                    && !aliased.contains(&index)
            });
            let at = match target {
                Some(target) => {
                    let write = FreshWrite {
                        predicted: component.predicted && target.predicted,
                        interpolated: component.interpolated && target.interpolating,
                        tick: changed,
                        frame_tick: tick,
                        ids: receiver.ids(),
                    };
                    let decoder = &mut receiver.decoder;
                    match decoder.read_fresh(reader, read, &mut target.entity, write)? {
                        Some(at) => at,
                        None => {
                            target.written(index, changed);
                            continue;
                        }
                    }
                }
                None => receiver.decoder.read(reader, read)?,
            };
            // A spawn's values are boxed now: they are inserted together.
            let value = if spawn {
                let copies = receiver.decoder.take_erased(at);
                StagedValue::Decoded(push_decoded(decoded, copies))
            } else {
                StagedValue::Staged(at)
            };
            values.push(Staged {
                index,
                tick: changed,
                value,
            });
        }
        Ok(())
    }
}

impl InPlaceEntity<'_, '_> {
    /// Notes that the value of component `index` set at `tick` was written: what the apply
    /// notes of a value it writes in place.
    fn written(&mut self, index: u32, tick: NetTick) {
        self.replica.hold(index, tick, true);
        if !self.replica.deferred.is_empty() {
            self.replica.deferred.retain(|(held, _)| *held != index);
        }
        // It names no entity: what the component named before is forgotten now, whether or
        // not the rest of the frame can be read.
        forget_references(self.named_by, self.replica, self.remote, index);
    }
}
