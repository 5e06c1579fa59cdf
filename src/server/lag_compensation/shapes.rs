//! Hit shapes and the casts against them: a ray (or a sphere swept along it) against a sphere,
//! a capsule or a box placed by a `Transform` (translation and rotation; scale is ignored).

use bevy::prelude::*;

/// The shape a lag-compensated entity is hit by, centred on its `Transform` and turned with it.
#[derive(Clone, Copy, Debug, PartialEq, Reflect)]
pub enum HitShape {
    /// A ball.
    Sphere {
        /// Its radius.
        radius: f32,
    },
    /// A capsule along the entity's local Y axis: a segment of `2 * half_height` with
    /// `radius` around it (total height `2 * (half_height + radius)`).
    Capsule {
        /// Radius around the segment.
        radius: f32,
        /// Half the length of the segment.
        half_height: f32,
    },
    /// A box.
    Cuboid {
        /// Half its size along each local axis.
        half_extents: Vec3,
    },
}

impl HitShape {
    /// How far along `direction` (unit length) from `origin` a ball of `radius` moving along
    /// the ray first touches this shape placed at `pose`, within `max_distance`; `Some(0.0)`
    /// when it starts inside. `radius` 0 casts a ray. A box is grown by `radius` on each side
    /// (a little generous at its edges and corners).
    pub fn cast(
        &self,
        pose: &Transform,
        origin: Vec3,
        direction: Vec3,
        radius: f32,
        max_distance: f32,
    ) -> Option<f32> {
        // Into the shape's frame: its centre at the origin, its axes the world's.
        let inverse = pose.rotation.inverse();
        let origin = inverse * (origin - pose.translation);
        let direction = inverse * direction;
        let distance = match *self {
            HitShape::Sphere { radius: own } => ray_sphere(origin, direction, own + radius),
            HitShape::Capsule {
                radius: own,
                half_height,
            } => ray_capsule(origin, direction, own + radius, half_height),
            HitShape::Cuboid { half_extents } => {
                ray_box(origin, direction, half_extents + Vec3::splat(radius))
            }
        }?;
        (distance <= max_distance).then_some(distance)
    }
}

/// First `t >= 0` where `origin + t * direction` is within `radius` of the origin.
fn ray_sphere(origin: Vec3, direction: Vec3, radius: f32) -> Option<f32> {
    let c = origin.length_squared() - radius * radius;
    if c <= 0.0 {
        return Some(0.0);
    }
    let b = origin.dot(direction);
    if b > 0.0 {
        return None;
    }
    let discriminant = b * b - c;
    (discriminant >= 0.0).then(|| -b - discriminant.sqrt())
}

/// First `t >= 0` where the ray is within `radius` of the segment from `-half_height` to
/// `half_height` on the Y axis.
fn ray_capsule(origin: Vec3, direction: Vec3, radius: f32, half_height: f32) -> Option<f32> {
    let closest_on_axis =
        |point: Vec3| Vec3::new(0.0, point.y.clamp(-half_height, half_height), 0.0);
    if origin.distance_squared(closest_on_axis(origin)) <= radius * radius {
        return Some(0.0);
    }
    let mut best: Option<f32> = None;
    let mut consider = |t: f32| {
        if t >= 0.0 && best.is_none_or(|held| t < held) {
            best = Some(t);
        }
    };
    // The side: the infinite cylinder, where the hit lies between the caps.
    let a = direction.x * direction.x + direction.z * direction.z;
    if a > f32::EPSILON {
        let b = origin.x * direction.x + origin.z * direction.z;
        let c = origin.x * origin.x + origin.z * origin.z - radius * radius;
        let discriminant = b * b - a * c;
        if discriminant >= 0.0 {
            let t = (-b - discriminant.sqrt()) / a;
            if (origin.y + t * direction.y).abs() <= half_height {
                consider(t);
            }
        }
    }
    // The two caps.
    for cap in [-half_height, half_height] {
        if let Some(t) = ray_sphere(origin - Vec3::new(0.0, cap, 0.0), direction, radius) {
            consider(t);
        }
    }
    best
}

/// First `t >= 0` where the ray is inside the box of `half_extents` around the origin.
fn ray_box(origin: Vec3, direction: Vec3, half_extents: Vec3) -> Option<f32> {
    let mut near = 0.0f32;
    let mut far = f32::INFINITY;
    for axis in 0..3 {
        let (o, d, h) = (origin[axis], direction[axis], half_extents[axis]);
        if d.abs() < f32::EPSILON {
            if o.abs() > h {
                return None;
            }
            continue;
        }
        let (t1, t2) = ((-h - o) / d, (h - o) / d);
        near = near.max(t1.min(t2));
        far = far.min(t1.max(t2));
        if near > far {
            return None;
        }
    }
    Some(near)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AHEAD: Vec3 = Vec3::NEG_Z;

    fn at(x: f32, y: f32, z: f32) -> Transform {
        Transform::from_xyz(x, y, z)
    }

    #[test]
    fn rays_hit_each_shape_at_its_surface_and_miss_beside_it() {
        let sphere = HitShape::Sphere { radius: 0.5 };
        let hit = sphere.cast(&at(0.0, 0.0, -10.0), Vec3::ZERO, AHEAD, 0.0, 100.0);
        assert!((hit.unwrap() - 9.5).abs() < 1e-4);
        assert_eq!(
            sphere.cast(&at(0.6, 0.0, -10.0), Vec3::ZERO, AHEAD, 0.0, 100.0),
            None
        );
        assert!(
            sphere
                .cast(&at(0.6, 0.0, -10.0), Vec3::ZERO, AHEAD, 0.2, 100.0)
                .is_some()
        );
        assert_eq!(
            sphere.cast(&at(0.0, 0.0, -10.0), Vec3::ZERO, AHEAD, 0.0, 9.0),
            None
        );
        assert_eq!(
            sphere.cast(&at(0.0, 0.0, 10.0), Vec3::ZERO, AHEAD, 0.0, 100.0),
            None,
            "behind"
        );

        let capsule = HitShape::Capsule {
            radius: 0.4,
            half_height: 0.5,
        };
        // The side, a cap, above it.
        let side = capsule.cast(&at(0.0, 0.0, -5.0), Vec3::ZERO, AHEAD, 0.0, 100.0);
        assert!((side.unwrap() - 4.6).abs() < 1e-4);
        let cap = capsule.cast(&at(0.0, -0.8, -5.0), Vec3::ZERO, AHEAD, 0.0, 100.0);
        assert!((cap.unwrap() - (5.0 - (0.16f32 - 0.09).sqrt())).abs() < 1e-4);
        assert_eq!(
            capsule.cast(&at(0.0, -0.95, -5.0), Vec3::ZERO, AHEAD, 0.0, 100.0),
            None
        );
        // Lying on its side (turned a quarter about Z): now long along X.
        let lying =
            at(0.85, 0.0, -5.0).with_rotation(Quat::from_rotation_z(core::f32::consts::FRAC_PI_2));
        assert!(
            capsule
                .cast(&lying, Vec3::ZERO, AHEAD, 0.0, 100.0)
                .is_some()
        );
        assert!(
            capsule
                .cast(&at(0.85, 0.0, -5.0), Vec3::ZERO, AHEAD, 0.0, 100.0)
                .is_none()
        );

        let cuboid = HitShape::Cuboid {
            half_extents: Vec3::new(1.0, 0.5, 0.25),
        };
        let face = cuboid.cast(&at(0.9, 0.0, -5.0), Vec3::ZERO, AHEAD, 0.0, 100.0);
        assert!((face.unwrap() - 4.75).abs() < 1e-4);
        assert_eq!(
            cuboid.cast(&at(0.0, 0.6, -5.0), Vec3::ZERO, AHEAD, 0.0, 100.0),
            None
        );
        assert_eq!(
            cuboid.cast(&at(0.0, 0.0, 0.0), Vec3::ZERO, AHEAD, 0.0, 100.0),
            Some(0.0),
            "inside"
        );
    }
}
