//! [`TypedWriter`]: puts one component type's received values on entities (over the
//! component, into its interpolation buffer or its record of server values) and maps the
//! entities inside them.

use core::marker::PhantomData;

use bevy::{
    ecs::{component::ComponentMutability, entity::EntityMapper, world::EntityWorldMut},
    prelude::*,
};

use super::{ReceiverIds, WriteComponent};
use crate::shared::{
    entity_map::ServerEntityMap, erased::ErasedValue, interpolate::SnapshotBuffer,
    prediction::Confirmed, tick::NetTick,
};

/// The typed implementation of [`WriteComponent`]; it holds nothing.
pub(super) struct TypedWriter<C>(PhantomData<fn() -> C>);

impl<C> TypedWriter<C> {
    /// The writer of `C`.
    pub(super) fn new() -> Self {
        Self(PhantomData)
    }
}

impl<C: Component> WriteComponent for TypedWriter<C> {
    fn overwrite(&self, entity: &mut EntityWorldMut, value: ErasedValue) {
        let value = value.take::<C>();
        if <C::Mutability as ComponentMutability>::MUTABLE {
            // SAFETY: the component is mutable (checked just above).
            if let Some(mut current) = unsafe { entity.get_mut_assume_mutable::<C>() } {
                *current = value;
                return;
            }
        }
        entity.insert(value);
    }

    fn push_snapshot(
        &self,
        entity: &mut EntityWorldMut,
        tick: NetTick,
        value: ErasedValue,
    ) -> Option<ErasedValue> {
        match entity.get_mut::<SnapshotBuffer<C>>() {
            Some(mut buffer) => {
                buffer.push(tick, value.take::<C>());
                None
            }
            None => Some(value),
        }
    }

    fn new_buffer(&self, tick: NetTick, value: ErasedValue) -> ErasedValue {
        let mut buffer = SnapshotBuffer::<C>::default();
        buffer.push(tick, value.take::<C>());
        ErasedValue::new(buffer)
    }

    fn push_confirmed(
        &self,
        entity: &mut EntityWorldMut,
        tick: NetTick,
        value: ErasedValue,
    ) -> Option<ErasedValue> {
        match entity.get_mut::<Confirmed<C>>() {
            Some(mut confirmed) => {
                confirmed.push(tick, value.take::<C>());
                None
            }
            None => Some(value),
        }
    }

    fn new_confirmed(&self, tick: NetTick, value: ErasedValue) -> ErasedValue {
        let mut confirmed = Confirmed::<C>::default();
        confirmed.push(tick, value.take::<C>());
        ErasedValue::new(confirmed)
    }

    fn remove(&self, entity: &mut EntityWorldMut) {
        entity.remove::<(C, SnapshotBuffer<C>, Confirmed<C>)>();
    }

    fn remap(&self, entity: &mut EntityWorldMut, targets: &[Entity], map: &ServerEntityMap) {
        let mut replay = ReplayMapper {
            targets,
            next: 0,
            map,
        };
        if <C::Mutability as ComponentMutability>::MUTABLE {
            // SAFETY: the component is mutable (checked just above).
            if let Some(mut current) = unsafe { entity.get_mut_assume_mutable::<C>() } {
                C::map_entities(&mut *current, &mut replay);
            }
        } else if let Some(mut current) = entity.take::<C>() {
            C::map_entities(&mut current, &mut replay);
            entity.insert(current);
        }
    }

    fn take_unmapped(
        &self,
        entity: &mut EntityWorldMut,
        targets: &[Entity],
    ) -> Option<ErasedValue> {
        let mut value = entity.take::<C>()?;
        let mut back = TargetsMapper { targets, next: 0 };
        C::map_entities(&mut value, &mut back);
        Some(ErasedValue::new(value))
    }
}

/// Where [`write_in_place`] puts a fresh value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum InPlace {
    /// Over the component.
    Component,
    /// Into the interpolation buffer ([`SnapshotBuffer`]).
    Snapshot,
    /// Into the record of server values of a predicted entity ([`Confirmed`]).
    Confirmed,
}

/// Puts a fresh value (made by `value`, called only then) where `target` says, when the entity
/// already holds the component and, for a buffer or record, that too: what applying a frame
/// does then with a boxed value, typed. Returns whether it wrote;
/// otherwise nothing changed. `ids` must be `C`'s, `SnapshotBuffer<C>`'s and `Confirmed<C>`'s
/// in the entity's world: they are looked up by id, without hashing the types.
pub(super) fn write_in_place<C: Component>(
    entity: &mut EntityWorldMut,
    target: InPlace,
    ids: ReceiverIds,
    tick: NetTick,
    value: impl FnOnce() -> C,
) -> bool {
    match target {
        InPlace::Component => {
            if <C::Mutability as ComponentMutability>::MUTABLE {
                // SAFETY: the component is mutable (checked just above).
                let Ok(current) = (unsafe { entity.get_mut_assume_mutable_by_id(ids.component) })
                else {
                    return false;
                };
                // SAFETY: `ids.component` is `C`'s (the caller's promise).
                *unsafe { current.with_type::<C>() } = value();
            } else {
                if !entity.contains_id(ids.component) {
                    return false;
                }
                entity.insert(value());
            }
        }
        InPlace::Snapshot => {
            if !entity.contains_id(ids.component) {
                return false;
            }
            let Ok(buffer) = entity.get_mut_by_id(ids.buffer) else {
                return false;
            };
            // SAFETY: `ids.buffer` is `SnapshotBuffer<C>`'s (the caller's promise).
            unsafe { buffer.with_type::<SnapshotBuffer<C>>() }.push(tick, value());
        }
        InPlace::Confirmed => {
            if !entity.contains_id(ids.component) {
                return false;
            }
            let Ok(confirmed) = entity.get_mut_by_id(ids.confirmed) else {
                return false;
            };
            // SAFETY: `ids.confirmed` is `Confirmed<C>`'s (the caller's promise).
            unsafe { confirmed.with_type::<Confirmed<C>>() }.push(tick, value());
        }
    }
    true
}

/// Whether a value names any entity (Bevy's `#[entities]` fields); it is left as it is.
pub(super) fn names_entities<C: Component>(value: &mut C) -> bool {
    let mut counter = CountingMapper(0);
    C::map_entities(value, &mut counter);
    counter.0 > 0
}

/// Counts the entities a value names, changing nothing.
struct CountingMapper(usize);

impl EntityMapper for CountingMapper {
    fn get_mapped(&mut self, source: Entity) -> Entity {
        self.0 += 1;
        source
    }

    fn set_mapped(&mut self, _source: Entity, _target: Entity) {}
}

/// Puts the `n`-th recorded server entity back as the `n`-th entity a component names.
struct TargetsMapper<'a> {
    targets: &'a [Entity],
    next: usize,
}

impl EntityMapper for TargetsMapper<'_> {
    fn get_mapped(&mut self, source: Entity) -> Entity {
        let target = self.targets.get(self.next).copied().unwrap_or(source);
        self.next += 1;
        target
    }

    fn set_mapped(&mut self, _source: Entity, _target: Entity) {}
}

/// Maps the `n`-th entity a component names to the client copy of the `n`-th recorded server
/// entity.
struct ReplayMapper<'a> {
    targets: &'a [Entity],
    next: usize,
    map: &'a ServerEntityMap,
}

impl EntityMapper for ReplayMapper<'_> {
    fn get_mapped(&mut self, source: Entity) -> Entity {
        let Some(&target) = self.targets.get(self.next) else {
            return source;
        };
        self.next += 1;
        self.map.to_client(target).unwrap_or(Entity::PLACEHOLDER)
    }

    fn set_mapped(&mut self, _source: Entity, _target: Entity) {}
}
