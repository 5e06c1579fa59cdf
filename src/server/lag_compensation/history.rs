//! [`HitHistory`]: where every lag-compensated entity was at each recent tick, kept a while
//! after it is despawned so that a shot at what a client still saw can hit it.

use bevy::{ecs::entity::EntityHashMap, prelude::*};

use super::{LagCompensated, LagCompensationSettings};
use crate::shared::{
    tick::{NetTick, ServerTick},
    tick_buffer::{SameTick, TickBuffer},
};

/// The most ticks of history kept per entity, whatever
/// [`LagCompensationSettings::history`] asks: 256 ticks (4.3 s at 60 Hz).
pub const MAX_HISTORY_TICKS: usize = 256;

/// Bytes one tick of one entity's history takes (its tick and `Transform`), without the few
/// dozen bytes per entity around them.
pub const HISTORY_BYTES_PER_TICK: usize =
    core::mem::size_of::<NetTick>() + core::mem::size_of::<Transform>();

/// One entity's recent poses.
#[derive(Debug)]
pub(crate) struct EntityHistory {
    pub(crate) shape: LagCompensated,
    pub(crate) poses: TickBuffer<Transform, MAX_HISTORY_TICKS>,
    /// The first tick it no longer existed at, once despawned (or no longer compensated).
    pub(crate) gone_at: Option<NetTick>,
}

impl EntityHistory {
    /// Its pose at `tick` plus `fraction` of a tick, if it existed then: between the poses
    /// of the ticks around it, as a client interpolates.
    pub(crate) fn pose_at(&self, tick: NetTick, fraction: f32) -> Option<Transform> {
        if self.gone_at.is_some_and(|gone| !gone.is_newer_than(tick)) {
            return None;
        }
        let (held, from) = self.poses.at_or_before(tick)?;
        if fraction <= 0.0 || held != tick {
            return Some(*from);
        }
        let next = tick.add(1);
        match self.poses.get(next) {
            Some(to) if self.gone_at != Some(next) => Some(Transform {
                translation: from.translation.lerp(to.translation, fraction),
                rotation: from.rotation.slerp(to.rotation, fraction),
                scale: from.scale.lerp(to.scale, fraction),
            }),
            _ => Some(*from),
        }
    }
}

/// Recent poses of every [`LagCompensated`] entity, by entity.
#[derive(Resource, Default, Debug)]
pub struct HitHistory {
    pub(crate) entities: EntityHashMap<EntityHistory>,
}

impl HitHistory {
    /// How many entities have a history (despawned ones included until theirs runs out).
    pub fn len(&self) -> usize {
        self.entities.len()
    }

    /// Whether no entity has a history.
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    /// The most ticks any entity's history holds.
    pub fn longest(&self) -> usize {
        self.entities
            .values()
            .map(|history| history.poses.len())
            .max()
            .unwrap_or(0)
    }
}

/// Records this tick's pose of every compensated entity, notes the ones gone, and forgets
/// what is older than [`LagCompensationSettings::history`]. Runs in `FixedLast`, after the
/// simulation (and a physics engine's step) of the tick.
pub(crate) fn record_hit_history(
    tick: Res<ServerTick>,
    settings: Res<LagCompensationSettings>,
    fixed: Res<Time<Fixed>>,
    compensated: Query<(Entity, &Transform, &LagCompensated)>,
    mut history: ResMut<HitHistory>,
) {
    let now = tick.0;
    for (entity, transform, compensated) in &compensated {
        let entry = history
            .entities
            .entry(entity)
            .or_insert_with(|| EntityHistory {
                shape: *compensated,
                poses: TickBuffer::default(),
                gone_at: None,
            });
        if entry.gone_at.is_some() {
            // Despawned and the entity id reused, or compensated again: a new life.
            entry.poses.clear();
            entry.gone_at = None;
        }
        entry.shape = *compensated;
        entry.poses.insert(now, *transform, SameTick::Replace);
    }
    let keep = settings.history_ticks(fixed.timestep());
    let oldest_kept = now.sub(keep as u32 - 1);
    history.entities.retain(|entity, entry| {
        if entry.gone_at.is_none() && !compensated.contains(*entity) {
            entry.gone_at = Some(now);
        }
        let stale = entry
            .poses
            .ticks()
            .take_while(|held| oldest_kept.is_newer_than(*held))
            .count();
        entry.poses.forget_oldest(stale);
        !entry.poses.is_empty()
            && entry
                .gone_at
                .is_none_or(|gone| gone.is_newer_than(oldest_kept))
    });
}
