//! Lending a resource out of the world for the span of a closure, without moving entities.

use core::mem;

use bevy::{ecs::component::Mutable, prelude::*};

/// Runs `f` with the resource `R` lent out of `world`, then puts it back; returns what `f`
/// returned.
///
/// Like [`World::resource_scope`], at a fraction of its cost: in Bevy 0.19 a resource is a
/// component of an entity of its own, and `resource_scope` takes that component off and
/// inserts it again, moving the entity between archetypes twice. Here the value is swapped
/// with `R::default()` in place, so `R` must be cheap to default (no allocation). Unlike
/// `resource_scope`, inside `f` the world holds that default, not nothing: code run by `f`
/// must not read `R` from the world, so `R` is one of the crate's own, never a resource a
/// game's hooks or observers could read.
/// If `f` panics, the default stays in the world.
///
/// # Panics
///
/// If `R` does not exist.
pub(crate) fn scoped<R: Resource<Mutability = Mutable> + Default, U>(
    world: &mut World,
    f: impl FnOnce(&mut World, &mut R) -> U,
) -> U {
    let mut value = mem::take(world.resource_mut::<R>().bypass_change_detection());
    let out = f(world, &mut value);
    *world.resource_mut::<R>() = value;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Resource, Default, Debug, PartialEq)]
    struct Tally(Vec<u32>);

    #[test]
    fn the_value_comes_back_with_the_closures_changes() {
        let mut world = World::new();
        world.insert_resource(Tally(vec![1]));
        let seen = scoped(&mut world, |world, tally: &mut Tally| {
            tally.0.push(2);
            // The world is usable meanwhile, and holds the default.
            world.spawn_empty();
            world.resource::<Tally>().0.len()
        });
        assert_eq!(seen, 0);
        assert_eq!(*world.resource::<Tally>(), Tally(vec![1, 2]));
        assert!(world.is_resource_changed::<Tally>());
    }
}
