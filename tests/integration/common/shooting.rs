//! The lag compensation scenario the tests and the timeline benchmark share: a shooter aims
//! at a strafing target where its own screen draws it; the server resolves each shot against
//! the world as that client saw it, and (for comparison) as it is on the server when the shot
//! arrives.

use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    server::{HitShape, LagCompensated, LagCompensation},
    testing::{LinkConditioner, TestNet},
};
use serde::{Deserialize, Serialize};

/// The shooter's input: where it aims, and whether it fires this tick.
#[derive(Serialize, Deserialize, Clone, Copy, Default, PartialEq, Debug)]
pub struct Aim {
    pub direction: Vec3,
    pub fire: bool,
}

/// The target strafes along X at this speed (the arena's top speed), bouncing at ±4 m.
pub const SPEED: f32 = 7.0;
pub const TARGET_Z: f32 = -20.0;
pub const RADIUS: f32 = 0.5;

/// The target's velocity along X.
#[derive(Component)]
pub struct Strafe(pub f32);

pub fn protocol(app: &mut App) {
    app.replicate::<Transform>()
        .interpolate::<Transform>()
        .add_input::<Aim>();
}

pub fn strafe(mut targets: Query<(&mut Transform, &mut Strafe)>) {
    for (mut transform, mut strafe) in &mut targets {
        transform.translation.x += strafe.0 / 60.0;
        if transform.translation.x.abs() > 4.0 {
            strafe.0 = -strafe.0;
        }
    }
}

/// Shots the server resolved: with compensation, and against where the target is now.
#[derive(Resource, Default, Debug)]
pub struct Shots {
    pub fired: u32,
    pub compensated: u32,
    pub uncompensated: u32,
}

pub fn resolve_shots(
    shooters: Query<(Entity, &Transform, &ControlledBy, &TickInput<Aim>)>,
    targets: Query<(&Transform, &LagCompensated)>,
    compensation: LagCompensation,
    mut shots: ResMut<Shots>,
) {
    for (shooter, transform, controller, input) in &shooters {
        let Ok(direction) = Dir3::new(input.input.direction) else {
            continue;
        };
        if !input.input.fire || input.repeated {
            continue;
        }
        shots.fired += 1;
        let ray = Ray3d::new(transform.translation, direction);
        let hits = compensation.cast(
            controller.client_id,
            input.tick,
            ray,
            0.0,
            100.0,
            &[shooter],
        );
        shots.compensated += u32::from(!hits.is_empty());
        let now_hit = targets.iter().any(|(pose, target)| {
            target
                .shape
                .cast(
                    &target.shape_pose(pose),
                    ray.origin,
                    *ray.direction,
                    0.0,
                    100.0,
                )
                .is_some()
        });
        shots.uncompensated += u32::from(now_hit);
    }
}

/// The shooter client: every sixth frame, fire at the target where this frame drew it
/// (`offset` metres beside it).
#[derive(Resource)]
pub struct Gunner {
    pub frame: u32,
    pub offset: f32,
}

pub fn aim(
    mut gunner: ResMut<Gunner>,
    targets: Query<&Transform, With<FromServer>>,
    mut input: ResMut<LocalInput<Aim>>,
) {
    gunner.frame += 1;
    let Ok(target) = targets.single() else {
        input.0 = Aim::default();
        return;
    };
    let at = target.translation + Vec3::X * gunner.offset;
    input.0 = Aim {
        direction: at.normalize(),
        fire: gunner.frame.is_multiple_of(6),
    };
}

/// Runs the scenario on `link`: 4 s of warm-up, then 20 s of shots every sixth frame at the
/// target as drawn (`offset` metres beside it).
pub fn run(link: LinkConditioner, seed: u64, offset: f32) -> Shots {
    let mut net = TestNet::new(protocol)
        .with_seed(seed)
        .with_default_link(link);
    net.server_mut()
        .init_resource::<Shots>()
        .add_systems(FixedUpdate, (strafe, resolve_shots))
        .add_observer(
            |event: On<Add, ConnectedClient>,
             clients: Query<&ConnectedClient>,
             mut commands: Commands| {
                let client_id = clients.get(event.entity).unwrap().id();
                commands.spawn((Transform::default(), ControlledBy { client_id }));
            },
        );
    net.spawn_on_server((
        Replicated,
        Transform::from_xyz(0.0, 0.0, TARGET_Z),
        Strafe(SPEED),
        LagCompensated::new(HitShape::Sphere { radius: RADIUS }),
    ));
    net.add_client_with(move |app| {
        app.insert_resource(Gunner { frame: 0, offset })
            .add_systems(Update, aim);
    });
    net.run(240);
    *net.server_mut().world_mut().resource_mut::<Shots>() = Shots::default();
    net.run(1_200);
    net.server_mut()
        .world_mut()
        .remove_resource::<Shots>()
        .unwrap()
}

/// Round trips of the issue: clean, P50 (66 ms ± 11 ms, 3 % loss), P95 (151 ms, 4 % loss) and
/// 300 ms with 20 ms of jitter.
pub fn links() -> [(&'static str, LinkConditioner); 4] {
    [
        ("clean", LinkConditioner::new(0, 0, 0.0)),
        ("P50", LinkConditioner::p50()),
        ("P95", LinkConditioner::p95()),
        (
            "300 ms RTT, 20 ms jitter",
            LinkConditioner::new(150, 10, 0.0),
        ),
    ]
}
