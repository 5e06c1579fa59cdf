//! How the ball moves: a free ball falls, bounces off the floor and the walls (losing speed
//! each time), rolls to a stop; a held one sits in front of its holder at hand height. The
//! server flies a free ball with [`step`], and a holder flies its own throw with the same
//! function, so the server continues the flight the way the holder began it.

use bevy::prelude::*;

use crate::{level::Level, movement::PLAYER_RADIUS};

/// The ball's radius, metres.
pub const BALL_RADIUS: f32 = 0.3;
/// How far from a player's chest the ball can be picked up, metres.
pub const REACH: f32 = 2.0;
/// Height of the chest, the point [`REACH`] is measured from, metres.
const CHEST_HEIGHT: f32 = 1.0;
/// Height a holder carries the ball at, metres.
const HAND_HEIGHT: f32 = 1.1;
/// How far in front of its holder's centre the ball is carried, metres.
const CARRY_DISTANCE: f32 = PLAYER_RADIUS + BALL_RADIUS + 0.1;
/// Speed of a throw along the thrower's aim, metres per second.
pub const THROW_SPEED: f32 = 13.0;
/// Upward speed of a throw, metres per second.
pub const THROW_LIFT: f32 = 3.5;
/// Gravity, metres per second squared.
const GRAVITY: f32 = 9.81;
/// Share of the speed into a surface a bounce keeps.
const RESTITUTION: f32 = 0.55;
/// A fall slower than this onto the floor stops instead of bouncing, metres per second.
const MIN_BOUNCE_SPEED: f32 = 1.0;
/// How quickly a ball rolling on the floor slows down (share of its speed per second).
const ROLL_DRAG: f32 = 2.0;
/// A rolling ball slower than this stops, metres per second.
const STOP_SPEED: f32 = 0.15;

/// Moves a free ball by one step of `dt` seconds: gravity, the floor, the blocks it is low
/// enough to meet, and the edge of the floor. A ball at rest stays exactly at rest (so that a
/// ball lying on the floor is not sent again every tick).
pub fn step(level: &Level, position: &mut Vec3, velocity: &mut Vec3, dt: f32) {
    if *velocity == Vec3::ZERO && position.y <= BALL_RADIUS {
        return;
    }
    velocity.y -= GRAVITY * dt;
    *position += *velocity * dt;
    if position.y <= BALL_RADIUS {
        position.y = BALL_RADIUS;
        velocity.y = if velocity.y < -MIN_BOUNCE_SPEED {
            -velocity.y * RESTITUTION
        } else {
            0.0
        };
        let mut flat = Vec2::new(velocity.x, velocity.z) * (1.0 - ROLL_DRAG * dt).max(0.0);
        if velocity.y == 0.0 && flat.length() < STOP_SPEED {
            flat = Vec2::ZERO;
        }
        (velocity.x, velocity.z) = (flat.x, flat.y);
    }
    bounce_off_walls(level, position, velocity);
}

/// Pushes the ball out of the blocks it overlaps (those whose top is above its bottom) and
/// back inside the floor, reflecting its speed into them.
fn bounce_off_walls(level: &Level, position: &mut Vec3, velocity: &mut Vec3) {
    let mut ground = Vec2::new(position.x, position.z);
    let mut flat = Vec2::new(velocity.x, velocity.z);
    for block in &level.blocks {
        if position.y - BALL_RADIUS >= block.height {
            continue;
        }
        let closest = ground.clamp(block.center - block.half, block.center + block.half);
        let offset = ground - closest;
        let distance = offset.length();
        if distance >= BALL_RADIUS {
            continue;
        }
        let normal = if distance > 1e-5 {
            ground = closest + offset / distance * BALL_RADIUS;
            offset / distance
        } else {
            // Centre inside the box: leave by the nearest face.
            let local = ground - block.center;
            let room = block.half - local.abs();
            if room.x < room.y {
                ground.x = block.center.x + local.x.signum() * (block.half.x + BALL_RADIUS);
                Vec2::new(local.x.signum(), 0.0)
            } else {
                ground.y = block.center.y + local.y.signum() * (block.half.y + BALL_RADIUS);
                Vec2::new(0.0, local.y.signum())
            }
        };
        reflect(&mut flat, normal);
    }
    let limit = level.half_size - Vec2::splat(BALL_RADIUS);
    for axis in 0..2 {
        if ground[axis].abs() > limit[axis] {
            let side = ground[axis].signum();
            ground[axis] = limit[axis] * side;
            let mut normal = Vec2::ZERO;
            normal[axis] = -side;
            reflect(&mut flat, normal);
        }
    }
    (position.x, position.z) = (ground.x, ground.y);
    (velocity.x, velocity.z) = (flat.x, flat.y);
}

/// Turns the part of `velocity` going into a surface (whose outward normal is `normal`) back
/// out of it, [`RESTITUTION`] of it.
fn reflect(velocity: &mut Vec2, normal: Vec2) {
    let into = velocity.dot(normal);
    if into < 0.0 {
        *velocity -= normal * into * (1.0 + RESTITUTION);
    }
}

/// Where a player standing at `holder` (its transform: position on the ground, rotation its
/// aim) carries the ball: in front of it at hand height, never inside a block or past the
/// floor's edge.
pub fn carry_point(level: &Level, holder: &Transform) -> Vec3 {
    let forward = holder.rotation * Vec3::NEG_Z;
    let wanted = holder.translation + forward * CARRY_DISTANCE;
    let ground = level.resolve_circle(Vec2::new(wanted.x, wanted.z), BALL_RADIUS);
    Vec3::new(ground.x, HAND_HEIGHT, ground.y)
}

/// The velocity of a throw by a player facing as `holder` does: along its aim, and up a
/// little.
pub fn throw_velocity(holder: &Transform) -> Vec3 {
    let forward = holder.rotation * Vec3::NEG_Z;
    let flat = Vec2::new(forward.x, forward.z).normalize_or(Vec2::NEG_Y);
    Vec3::new(flat.x, 0.0, flat.y) * THROW_SPEED + Vec3::Y * THROW_LIFT
}

/// Whether a player standing at `player` reaches a ball at `ball`, with `slack` metres more
/// than [`REACH`] (the server allows some, for what the picker saw a moment earlier).
pub fn within_reach(player: &Transform, ball: Vec3, slack: f32) -> bool {
    let chest = player.translation + Vec3::Y * CHEST_HEIGHT;
    chest.distance(ball) <= REACH + slack
}

/// A free spot for the ball on `level`: the clear place nearest its middle, away from blocks,
/// spawn points and pickups.
pub fn free_spot(level: &Level) -> Vec2 {
    let clear = |at: Vec2| {
        !level.blocks_circle(at, BALL_RADIUS + 1.0)
            && level
                .spawns
                .iter()
                .chain(&level.pickups)
                .all(|other| other.distance(at) > 2.0)
    };
    let limit = level.half_size.max_element() as usize;
    for ring in 0..=limit {
        let count = (ring * 6).max(1);
        for index in 0..count {
            let angle = index as f32 / count as f32 * core::f32::consts::TAU;
            let at = Vec2::new(angle.cos(), angle.sin()) * ring as f32;
            if clear(at) {
                return at;
            }
        }
    }
    level.spawns[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level() -> Level {
        Level::named("arena").unwrap()
    }

    #[test]
    fn a_dropped_ball_bounces_lower_each_time_and_comes_to_rest() {
        let level = level();
        let (mut position, mut velocity) = (Vec3::new(5.0, 2.0, 0.0), Vec3::new(1.0, 0.0, 0.0));
        for _ in 0..600 {
            step(&level, &mut position, &mut velocity, 1.0 / 60.0);
        }
        assert_eq!(velocity, Vec3::ZERO);
        assert_eq!(position.y, BALL_RADIUS);
    }

    #[test]
    fn a_ball_thrown_at_a_wall_stays_inside_the_floor() {
        let level = level();
        let (mut position, mut velocity) = (Vec3::new(18.0, 1.0, 0.0), Vec3::new(20.0, 2.0, 0.0));
        let mut bounced = false;
        for _ in 0..120 {
            step(&level, &mut position, &mut velocity, 1.0 / 60.0);
            assert!(position.x <= level.half_size.x - BALL_RADIUS);
            bounced |= velocity.x < 0.0;
        }
        assert!(bounced, "it bounced back");
    }
}
