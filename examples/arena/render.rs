//! What the arena looks like: level geometry, lights, a camera that follows the local player,
//! and meshes for replicated players and projectiles (added by observers, so the server never
//! loads a mesh).

use bevy::{light::CascadeShadowConfigBuilder, prelude::*};
use bevy_netsync::server::LOCAL_CLIENT_ID;

use crate::{
    bots::my_client_id,
    level::Level,
    movement::{PLAYER_RADIUS, PROJECTILE_RADIUS},
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

/// Rendering of the arena.
pub fn plugin(app: &mut App) {
    app.add_systems(Startup, (spawn_level, spawn_camera_and_lights))
        .add_observer(dress_player)
        .add_observer(dress_projectile)
        .add_systems(
            Update,
            (mark_local_player, show_living_players, follow_local_player).chain(),
        );
}

fn linear([r, g, b]: [f32; 3]) -> Color {
    Color::linear_rgb(r, g, b)
}

fn spawn_level(
    level: Res<Level>,
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    let size = level.half_size * 2.0;
    commands.spawn((
        Mesh3d(meshes.add(Cuboid::new(size.x + 2.0, 0.2, size.y + 2.0))),
        MeshMaterial3d(materials.add(StandardMaterial {
            base_color: linear(level.floor_color),
            perceptual_roughness: 0.9,
            ..default()
        })),
        Transform::from_xyz(0.0, -0.1, 0.0),
    ));
    for block in &level.blocks {
        commands.spawn((
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

fn spawn_camera_and_lights(mut commands: Commands) {
    commands.spawn((
        Camera3d::default(),
        Transform::from_translation(CAMERA_OFFSET).looking_at(Vec3::ZERO, Vec3::Y),
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
