//! What the arena looks like: level geometry on a floor with a metre grid, a sky and a distant
//! backdrop, lights, a camera that follows the local player, and meshes for replicated players,
//! projectiles, pickups and the ball (added by observers, so the server never loads a mesh).

use bevy::{
    light::CascadeShadowConfigBuilder,
    pbr::{DistanceFog, FogFalloff},
    prelude::*,
};
use bevy_netsync::{prelude::*, server::LOCAL_CLIENT_ID};

use crate::{
    ball::{Ball, physics::BALL_RADIUS},
    bots::my_client_id,
    level::Level,
    movement::{PLAYER_RADIUS, PROJECTILE_RADIUS},
    pickup::{PICKUP_RADIUS, Pickup},
    protocol::{Health, Player, Projectile},
};

/// Where the camera sits relative to the player it follows.
const CAMERA_OFFSET: Vec3 = Vec3::new(0.0, 15.0, 10.5);
/// How quickly the camera catches up (per second).
const CAMERA_FOLLOW: f32 = 6.0;

/// Marks the player this screen controls.
#[derive(Component)]
pub struct LocalPlayer;

/// Marks the body mesh of a player (a child), hidden while dead.
#[derive(Component)]
struct Body;

/// Marks what [`build_level`] spawned, replaced when the level changes.
#[derive(Component)]
struct LevelGeometry;

/// The sky: the clear colour, and the fog colour far things fade into.
const SKY: Color = Color::srgb(0.53, 0.68, 0.84);
/// Grid lines: one every this many metres, every fifth one brighter.
const GRID_STEP: f32 = 2.0;

/// Rendering of the arena.
pub fn plugin(app: &mut App) {
    app.insert_resource(ClearColor(SKY))
        .add_systems(Startup, spawn_camera_and_lights)
        .add_systems(Update, build_level.run_if(resource_changed::<Level>))
        .add_observer(dress_player)
        .add_observer(dress_projectile)
        .add_observer(dress_pickup)
        .add_observer(dress_ball)
        .add_systems(
            Update,
            (
                (mark_local_player, show_living_players, follow_local_player).chain(),
                hide_spent_projectiles,
                spin_pickups,
            ),
        );
}

fn linear([r, g, b]: [f32; 3]) -> Color {
    Color::linear_rgb(r, g, b)
}

/// Builds the level: floor, grid, blocks, and a backdrop ground beyond the walls; again
/// whenever the level changes (a client learns the server's level after connecting).
fn build_level(
    level: Res<Level>,
    old: Query<Entity, With<LevelGeometry>>,
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    for entity in &old {
        commands.entity(entity).despawn();
    }
    let size = level.half_size * 2.0;
    commands.spawn((
        LevelGeometry,
        Mesh3d(meshes.add(Cuboid::new(size.x + 2.0, 0.2, size.y + 2.0))),
        MeshMaterial3d(materials.add(StandardMaterial {
            base_color: linear(level.floor_color),
            perceptual_roughness: 0.9,
            ..default()
        })),
        Transform::from_xyz(0.0, -0.1, 0.0),
    ));
    // Far ground around the level, fading into the sky.
    commands.spawn((
        LevelGeometry,
        Mesh3d(meshes.add(Plane3d::default().mesh().size(2_000.0, 2_000.0))),
        MeshMaterial3d(materials.add(StandardMaterial {
            base_color: Color::srgb(0.22, 0.27, 0.2),
            perceptual_roughness: 1.0,
            ..default()
        })),
        Transform::from_xyz(0.0, -0.25, 0.0),
    ));
    spawn_grid(&level, &mut commands, &mut meshes, &mut materials);
    for block in &level.blocks {
        commands.spawn((
            LevelGeometry,
            Mesh3d(meshes.add(Cuboid::new(
                block.half.x * 2.0,
                block.height,
                block.half.y * 2.0,
            ))),
            MeshMaterial3d(materials.add(StandardMaterial {
                base_color: linear(block.color),
                perceptual_roughness: 0.6,
                ..default()
            })),
            Transform::from_xyz(block.center.x, block.height / 2.0, block.center.y),
        ));
    }
}

/// Thin lines on the floor every [`GRID_STEP`] metres, so that speed and smoothness can be
/// judged by eye.
fn spawn_grid(
    level: &Level,
    commands: &mut Commands,
    meshes: &mut Assets<Mesh>,
    materials: &mut Assets<StandardMaterial>,
) {
    let faint = materials.add(StandardMaterial {
        base_color: Color::srgb(0.16, 0.18, 0.2),
        perceptual_roughness: 0.9,
        ..default()
    });
    let bright = materials.add(StandardMaterial {
        base_color: Color::srgb(0.3, 0.33, 0.36),
        perceptual_roughness: 0.9,
        ..default()
    });
    let size = level.half_size * 2.0;
    let along_x = meshes.add(Cuboid::new(size.x, 0.01, 0.05));
    let along_z = meshes.add(Cuboid::new(0.05, 0.01, size.y));
    let lines = |half: f32| {
        let count = (half / GRID_STEP).floor() as i32;
        (-count..=count).map(|i| (i, i as f32 * GRID_STEP))
    };
    for (i, z) in lines(level.half_size.y) {
        let material = if i % 5 == 0 { &bright } else { &faint };
        commands.spawn((
            LevelGeometry,
            Mesh3d(along_x.clone()),
            MeshMaterial3d(material.clone()),
            Transform::from_xyz(0.0, 0.005, z),
        ));
    }
    for (i, x) in lines(level.half_size.x) {
        let material = if i % 5 == 0 { &bright } else { &faint };
        commands.spawn((
            LevelGeometry,
            Mesh3d(along_z.clone()),
            MeshMaterial3d(material.clone()),
            Transform::from_xyz(x, 0.005, 0.0),
        ));
    }
}

fn spawn_camera_and_lights(mut commands: Commands) {
    commands.spawn((
        Camera3d::default(),
        Transform::from_translation(CAMERA_OFFSET).looking_at(Vec3::ZERO, Vec3::Y),
        DistanceFog {
            color: SKY,
            falloff: FogFalloff::Linear {
                start: 45.0,
                end: 160.0,
            },
            ..default()
        },
    ));
    commands.spawn((
        DirectionalLight {
            illuminance: 9_000.0,
            shadow_maps_enabled: true,
            ..default()
        },
        Transform::from_xyz(-8.0, 20.0, 10.0).looking_at(Vec3::ZERO, Vec3::Y),
        CascadeShadowConfigBuilder {
            maximum_distance: 60.0,
            ..default()
        }
        .build(),
    ));
    commands.insert_resource(GlobalAmbientLight {
        color: Color::WHITE,
        brightness: 400.0,
        ..default()
    });
}

fn dress_player(
    event: On<Add, Player>,
    players: Query<&Player>,
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    let Ok(player) = players.get(event.entity) else {
        return;
    };
    let color = linear(player.color);
    let body = (
        Body,
        Mesh3d(meshes.add(Capsule3d::new(PLAYER_RADIUS, 1.0))),
        MeshMaterial3d(materials.add(StandardMaterial {
            base_color: color,
            ..default()
        })),
        Transform::from_xyz(0.0, 1.0, 0.0),
    );
    let visor = (
        Body,
        Mesh3d(meshes.add(Cuboid::new(0.5, 0.2, 0.3))),
        MeshMaterial3d(materials.add(StandardMaterial {
            base_color: Color::srgb(0.1, 0.1, 0.12),
            ..default()
        })),
        Transform::from_xyz(0.0, 1.45, -0.4),
    );
    commands
        .entity(event.entity)
        .insert((Visibility::default(), InheritedVisibility::default()))
        .with_children(|parent| {
            parent.spawn(body);
            parent.spawn(visor);
        });
}

fn dress_projectile(
    event: On<Add, Projectile>,
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    commands.entity(event.entity).insert((
        Mesh3d(meshes.add(Sphere::new(PROJECTILE_RADIUS))),
        MeshMaterial3d(materials.add(StandardMaterial {
            base_color: Color::srgb(1.0, 0.85, 0.3),
            emissive: LinearRgba::rgb(6.0, 4.0, 1.0),
            ..default()
        })),
    ));
}

fn dress_pickup(
    event: On<Add, Pickup>,
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    commands.entity(event.entity).insert((
        Mesh3d(meshes.add(Cuboid::from_length(PICKUP_RADIUS * 1.4))),
        MeshMaterial3d(materials.add(StandardMaterial {
            base_color: Color::srgb(0.3, 0.9, 0.4),
            emissive: LinearRgba::rgb(0.5, 2.5, 0.8),
            ..default()
        })),
    ));
}

/// The ball: a white sphere with a faint glow, unlike anything else on the floor.
fn dress_ball(
    event: On<Add, Ball>,
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    commands.entity(event.entity).insert((
        Mesh3d(meshes.add(Sphere::new(BALL_RADIUS).mesh().uv(32, 18))),
        MeshMaterial3d(materials.add(StandardMaterial {
            base_color: Color::srgb(0.95, 0.95, 0.97),
            emissive: LinearRgba::rgb(0.6, 0.6, 0.7),
            perceptual_roughness: 0.35,
            ..default()
        })),
    ));
}

/// Pickups turn slowly, to be seen (the replicated transform stands still).
fn spin_pickups(time: Res<Time>, mut pickups: Query<&mut Transform, With<Pickup>>) {
    for mut transform in &mut pickups {
        transform.rotation =
            Quat::from_rotation_y(time.elapsed_secs() * 1.5) * Quat::from_rotation_x(0.6);
    }
}

/// Projectiles this screen predicts.
type PredictedProjectiles = (With<Projectile>, With<Predicted>);

/// A projectile this screen predicts flies on until the server's despawn arrives, a round
/// trip after it hit a wall: hidden from the moment it is inside one.
fn hide_spent_projectiles(
    level: Res<Level>,
    mut projectiles: Query<(&Transform, &mut Visibility), PredictedProjectiles>,
) {
    for (transform, mut visibility) in &mut projectiles {
        let ground = Vec2::new(transform.translation.x, transform.translation.z);
        if level.blocks_circle(ground, PROJECTILE_RADIUS) {
            *visibility = Visibility::Hidden;
        }
    }
}

/// Finds the player this screen controls: the host's own, or the one with this client's id.
fn mark_local_player(world: &mut World) {
    let me = if world.contains_resource::<crate::player::HostName>() {
        Some(LOCAL_CLIENT_ID)
    } else {
        my_client_id(world)
    };
    let mut players = world.query_filtered::<(Entity, &Player), Without<LocalPlayer>>();
    let found: Vec<Entity> = players
        .iter(world)
        .filter(|(_, player)| Some(player.client_id) == me)
        .map(|(entity, _)| entity)
        .collect();
    for entity in found {
        world.entity_mut(entity).insert(LocalPlayer);
    }
}

fn show_living_players(
    players: Query<(&Health, &Children), Changed<Health>>,
    mut bodies: Query<&mut Visibility, With<Body>>,
) {
    for (health, children) in &players {
        for child in children.iter() {
            if let Ok(mut visibility) = bodies.get_mut(child) {
                *visibility = if health.0 > 0 {
                    Visibility::Inherited
                } else {
                    Visibility::Hidden
                };
            }
        }
    }
}

fn follow_local_player(
    time: Res<Time>,
    local: Query<&Transform, (With<LocalPlayer>, Without<Camera3d>)>,
    mut camera: Query<&mut Transform, With<Camera3d>>,
) {
    let (Ok(target), Ok(mut camera)) = (local.single(), camera.single_mut()) else {
        return;
    };
    let wanted = target.translation + CAMERA_OFFSET;
    let blend = 1.0 - (-CAMERA_FOLLOW * time.delta_secs()).exp();
    camera.translation = camera.translation.lerp(wanted, blend);
    let look_at = camera.translation - CAMERA_OFFSET;
    camera.look_at(look_at, Vec3::Y);
}
