//! Drawing rail gun beams: a thin glowing bar from the shooter to where the shot stopped,
//! fading out quickly.

use bevy::{light::NotShadowCaster, prelude::*};

use crate::railgun::RailBeam;

/// How long a beam shows, seconds.
const BEAM_SECONDS: f32 = 0.35;
/// How thick a beam is, metres.
const BEAM_WIDTH: f32 = 0.12;

/// A beam on screen, and when it appeared.
#[derive(Component)]
struct Beam {
    shown_at: f32,
}

/// Beams for every rail shot the server reports.
pub fn plugin(app: &mut App) {
    app.add_systems(Update, (show_beams, fade_beams));
}

fn show_beams(
    mut beams: MessageReader<RailBeam>,
    time: Res<Time>,
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    for beam in beams.read() {
        let length = beam.from.distance(beam.to);
        if length < 0.01 || !length.is_finite() {
            continue;
        }
        let color = if beam.hit {
            LinearRgba::rgb(1.0, 0.25, 0.1)
        } else {
            LinearRgba::rgb(0.2, 0.8, 1.0)
        };
        commands.spawn((
            NotShadowCaster,
            Beam {
                shown_at: time.elapsed_secs(),
            },
            Mesh3d(meshes.add(Cuboid::new(BEAM_WIDTH, BEAM_WIDTH, length))),
            MeshMaterial3d(materials.add(StandardMaterial {
                base_color: Color::LinearRgba(color),
                emissive: color,
                alpha_mode: AlphaMode::Blend,
                unlit: true,
                ..default()
            })),
            Transform::from_translation((beam.from + beam.to) / 2.0).looking_at(beam.to, Vec3::Y),
        ));
    }
}

fn fade_beams(
    time: Res<Time>,
    beams: Query<(Entity, &Beam, &MeshMaterial3d<StandardMaterial>)>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    mut commands: Commands,
) {
    let now = time.elapsed_secs();
    for (entity, beam, material) in &beams {
        let age = (now - beam.shown_at) / BEAM_SECONDS;
        if age >= 1.0 {
            commands.entity(entity).despawn();
            continue;
        }
        if let Some(mut material) = materials.get_mut(&material.0) {
            material.base_color.set_alpha(1.0 - age);
        }
    }
}
