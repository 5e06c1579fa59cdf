//! Visual smoothing of corrections: after a rollback moved a predicted transform, the rendered
//! transform keeps an offset that fades out, while the simulated one is already right.

use bevy::{ecs::entity::EntityHashMap, prelude::*};

use crate::shared::prediction::{Predicted, PredictionSettings};

/// The part of a correction not shown yet, on a predicted entity.
#[derive(Component, Clone, Copy, Debug)]
pub(crate) struct VisualCorrection {
    offset: Vec3,
    rotation: Quat,
    /// Seconds left, and the fade's length.
    left: f32,
    length: f32,
}

/// The simulated transform while the rendered one carries a correction.
#[derive(Component, Clone, Copy, Debug)]
pub(crate) struct SimulatedTransform(Transform);

/// Predicted transforms before a correction.
pub(crate) fn before_correction(world: &mut World) -> EntityHashMap<Transform> {
    let mut query = world.query_filtered::<(Entity, &Transform), With<Predicted>>();
    query
        .iter(world)
        .map(|(entity, transform)| (entity, *transform))
        .collect()
}

/// Gives each predicted transform the correction it just took as a fading offset (unless it
/// moved beyond the snap distance, a teleport); returns the largest move.
pub(crate) fn after_correction(
    world: &mut World,
    before: EntityHashMap<Transform>,
    settings: &PredictionSettings,
) -> f32 {
    let length = settings.correction_time.as_secs_f32();
    let mut largest: f32 = 0.0;
    let mut query = world
        .query_filtered::<(Entity, &Transform, Option<&mut VisualCorrection>), With<Predicted>>();
    let mut new = Vec::new();
    for (entity, transform, correction) in query.iter_mut(world) {
        let Some(old) = before.get(&entity) else {
            continue;
        };
        let offset = old.translation - transform.translation;
        largest = largest.max(offset.length());
        if offset.length() > settings.snap_distance || length <= 0.0 {
            continue;
        }
        let rotation = old.rotation * transform.rotation.inverse();
        match correction {
            // A correction on top of one still fading: what is still shown of the old one
            // carries over.
            Some(mut correction) => {
                let (shown_offset, shown_rotation) = correction.shown();
                *correction = VisualCorrection {
                    offset: offset + shown_offset,
                    rotation: (shown_rotation * rotation).normalize(),
                    left: length,
                    length,
                };
            }
            None => new.push((
                entity,
                VisualCorrection {
                    offset,
                    rotation,
                    left: length,
                    length,
                },
            )),
        }
    }
    for (entity, correction) in new {
        world.entity_mut(entity).insert(correction);
    }
    largest
}

impl VisualCorrection {
    /// The offset shown now: all of it at first, none at the end (eased out).
    fn shown(&self) -> (Vec3, Quat) {
        let fraction = (self.left / self.length).clamp(0.0, 1.0);
        let eased = fraction * fraction * (3.0 - 2.0 * fraction);
        (
            self.offset * eased,
            Quat::IDENTITY.slerp(self.rotation, eased),
        )
    }
}

/// Before the frame's simulation: predicted transforms go back to their simulated values.
pub(crate) fn restore_simulated(
    mut commands: Commands,
    mut shown: Query<(Entity, &mut Transform, &SimulatedTransform)>,
) {
    for (entity, mut transform, simulated) in &mut shown {
        *transform = simulated.0;
        commands.entity(entity).remove::<SimulatedTransform>();
    }
}

/// After the frame's simulation, before transforms propagate: rendered transforms carry what is
/// left of their correction.
pub(crate) fn show_corrections(
    time: Res<Time<Real>>,
    mut commands: Commands,
    mut corrected: Query<(Entity, &mut Transform, &mut VisualCorrection)>,
) {
    for (entity, mut transform, mut correction) in &mut corrected {
        correction.left -= time.delta_secs();
        if correction.left <= 0.0 {
            commands.entity(entity).remove::<VisualCorrection>();
            continue;
        }
        let (offset, rotation) = correction.shown();
        commands
            .entity(entity)
            .insert(SimulatedTransform(*transform));
        transform.translation += offset;
        transform.rotation = (rotation * transform.rotation).normalize();
    }
}
