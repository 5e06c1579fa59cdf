//! [`ErasedValue`]: a decoded component value whose type only the registry knows, so that the
//! client can insert all of an entity's new components with one `insert_by_ids` (observers and
//! hooks then see the whole entity).

use core::{any::TypeId, mem::ManuallyDrop, ptr::NonNull};

use bevy::{
    ecs::{component::ComponentId, entity::EntityMapper, world::EntityWorldMut},
    prelude::*,
    ptr::OwningPtr,
};

/// A boxed value of a component type, with the functions that drop it, free it after a move, and
/// map the entities inside it.
pub(crate) struct ErasedValue {
    ptr: NonNull<u8>,
    type_id: TypeId,
    drop: unsafe fn(NonNull<u8>),
    free: unsafe fn(NonNull<u8>),
    map_entities: unsafe fn(NonNull<u8>, &mut dyn EntityMapper),
}

// SAFETY: only built from `C: Component`, which is `Send + Sync`.
unsafe impl Send for ErasedValue {}
// SAFETY: as above.
unsafe impl Sync for ErasedValue {}

/// # Safety
/// `ptr` comes from `Box::<C>::into_raw` and is used once.
unsafe fn drop_boxed<C>(ptr: NonNull<u8>) {
    // SAFETY: upheld by the caller.
    drop(unsafe { Box::from_raw(ptr.as_ptr().cast::<C>()) });
}

/// # Safety
/// `ptr` comes from `Box::<C>::into_raw`, and its value was moved out.
unsafe fn free_boxed<C>(ptr: NonNull<u8>) {
    // SAFETY: `ManuallyDrop` has the layout of `C` and frees the allocation without dropping.
    drop(unsafe { Box::from_raw(ptr.as_ptr().cast::<ManuallyDrop<C>>()) });
}

/// # Safety
/// `ptr` points to a live `C`.
unsafe fn map_boxed<C: Component>(ptr: NonNull<u8>, mut mapper: &mut dyn EntityMapper) {
    // SAFETY: upheld by the caller; the value is exclusively ours.
    let value = unsafe { &mut *ptr.as_ptr().cast::<C>() };
    C::map_entities(value, &mut mapper);
}

impl ErasedValue {
    /// Boxes `value`.
    pub(crate) fn new<C: Component>(value: C) -> Self {
        let ptr = NonNull::from(Box::leak(Box::new(value))).cast::<u8>();
        Self {
            ptr,
            type_id: TypeId::of::<C>(),
            drop: drop_boxed::<C>,
            free: free_boxed::<C>,
            map_entities: map_boxed::<C>,
        }
    }

    /// Maps the entities inside the value (Bevy's `#[entities]` fields).
    pub(crate) fn map_entities(&mut self, mapper: &mut dyn EntityMapper) {
        // SAFETY: `ptr` holds a live value of the type the functions were made for.
        unsafe { (self.map_entities)(self.ptr, mapper) }
    }

    /// The value, if it is a `C`.
    pub(crate) fn get<C: 'static>(&self) -> Option<&C> {
        // SAFETY: the type was checked; the box is alive as long as `self`.
        (self.type_id == TypeId::of::<C>()).then(|| unsafe { &*self.ptr.as_ptr().cast::<C>() })
    }

    /// The value, mutably, if it is a `C`.
    pub(crate) fn get_mut<C: 'static>(&mut self) -> Option<&mut C> {
        // SAFETY: the type was checked; the box is alive and exclusively ours as long as `self`.
        (self.type_id == TypeId::of::<C>()).then(|| unsafe { &mut *self.ptr.as_ptr().cast::<C>() })
    }

    /// The value as a `C`.
    ///
    /// # Panics
    /// If it holds another type (a registry bug).
    pub(crate) fn take<C: 'static>(self) -> C {
        assert_eq!(
            self.type_id,
            TypeId::of::<C>(),
            "erased value of another type"
        );
        let this = ManuallyDrop::new(self);
        // SAFETY: the type was checked; `this` is never dropped, so the box is freed once.
        *unsafe { Box::from_raw(this.ptr.as_ptr().cast::<C>()) }
    }

    /// Inserts every value into `entity` in one bundle insertion: hooks and `On<Add>`/`On<Insert>`
    /// observers of each component run after all of them are in place.
    ///
    /// Each `ComponentId` must belong to the world of `entity`, be registered for the value's
    /// type, and appear once.
    pub(crate) fn insert_all(entity: &mut EntityWorldMut, values: Vec<(ComponentId, ErasedValue)>) {
        if values.is_empty() {
            return;
        }
        debug_assert!(
            values
                .iter()
                .enumerate()
                .all(|(i, (id, _))| values[..i].iter().all(|(other, _)| other != id)),
            "a component appears twice in one insertion"
        );
        let ids: Vec<ComponentId> = values.iter().map(|(id, _)| *id).collect();
        let values: Vec<ManuallyDrop<ErasedValue>> = values
            .into_iter()
            .map(|(_, value)| ManuallyDrop::new(value))
            .collect();
        // SAFETY: each id was registered for its value's type in this world (the registry's
        // contract), each pointer holds a live value that is moved into the world, after which
        // the boxes are freed without dropping.
        unsafe {
            entity.insert_by_ids(&ids, values.iter().map(|value| OwningPtr::new(value.ptr)));
            for value in &values {
                (value.free)(value.ptr);
            }
        }
    }
}

impl Drop for ErasedValue {
    fn drop(&mut self) {
        // SAFETY: the value was not moved out (moves go through `take` or `insert_all`, which
        // never run this).
        unsafe { (self.drop)(self.ptr) }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;

    #[derive(Component)]
    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[derive(Component, Debug, PartialEq)]
    struct Marker;

    #[derive(Component, Debug, PartialEq)]
    struct Link(#[entities] Entity);

    #[test]
    fn values_are_dropped_once_whether_inserted_taken_or_discarded() {
        let drops = Arc::new(AtomicUsize::new(0));
        drop(ErasedValue::new(Counted(drops.clone())));
        assert_eq!(drops.load(Ordering::Relaxed), 1);

        let taken = ErasedValue::new(Counted(drops.clone())).take::<Counted>();
        assert_eq!(drops.load(Ordering::Relaxed), 1);
        drop(taken);
        assert_eq!(drops.load(Ordering::Relaxed), 2);

        let mut world = World::new();
        let counted = world.register_component::<Counted>();
        let marker = world.register_component::<Marker>();
        let mut entity = world.spawn_empty();
        ErasedValue::insert_all(
            &mut entity,
            vec![
                (counted, ErasedValue::new(Counted(drops.clone()))),
                (marker, ErasedValue::new(Marker)),
            ],
        );
        assert_eq!(drops.load(Ordering::Relaxed), 2, "moved, not dropped");
        assert!(entity.contains::<Marker>());
        entity.despawn();
        assert_eq!(drops.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn entities_inside_are_mapped() {
        let from = Entity::from_raw_u32(1).unwrap();
        let to = Entity::from_raw_u32(2).unwrap();
        let mut value = ErasedValue::new(Link(from));
        value.map_entities(&mut (from, to));
        assert_eq!(value.take::<Link>(), Link(to));
    }
}
