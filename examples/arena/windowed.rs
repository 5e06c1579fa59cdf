//! The windowed Apps: host (server + local player) and client. Input from keyboard and mouse,
//! and the screenshot mode for checks without a person.

use std::{path::PathBuf, time::Duration};

use bevy::{
    prelude::*,
    render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk},
    window::PrimaryWindow,
};
use bevy_netsync::{overlay::NetsyncOverlayPlugin, prelude::*};

use crate::{
    ball::UseBall,
    beams, headless, hud,
    hud::ChatInput,
    protocol::{ArenaInput, direction_yaw},
    render,
    render::LocalPlayer,
};

/// Longest wait for a requested screenshot to be written before exiting anyway.
const SCREENSHOT_TIMEOUT: Duration = Duration::from_secs(20);

/// Take a screenshot at `at`, and exit once it is saved (seconds of real time).
#[derive(Resource, Clone, Debug)]
pub struct ScreenshotPlan {
    pub path: Option<PathBuf>,
    pub at: Duration,
    requested: bool,
    saved: bool,
}

impl ScreenshotPlan {
    /// A screenshot (if `path`) after `exit_after`, then exit. Rendering on a CPU can be slow,
    /// so the exit waits for the picture to be written.
    pub fn new(path: Option<PathBuf>, exit_after: Duration) -> Self {
        Self {
            saved: path.is_none(),
            path,
            at: exit_after,
            requested: false,
        }
    }
}

/// Whether a window can open here: on Linux and the BSDs winit needs an X or Wayland display,
/// and without one it panics deep inside; say so in one line instead.
pub fn check_display() -> Result<(), String> {
    let unix_desktop = cfg!(all(unix, not(target_os = "macos"), not(target_os = "ios")));
    let has_display = ["DISPLAY", "WAYLAND_DISPLAY", "WAYLAND_SOCKET"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()));
    if unix_desktop && !has_display {
        return Err(
            "no display to open a window on (DISPLAY and WAYLAND_DISPLAY are not set): \
             run `arena server` for a headless server, or wrap this command in \
             `xvfb-run -a -s \"-screen 0 1280x720x24\"`"
                .into(),
        );
    }
    Ok(())
}

/// A window with the arena drawn, the HUD, the network overlay on F3, and keyboard and mouse
/// input.
pub fn window_app(title: &str) -> App {
    let mut app = App::new();
    app.add_plugins((
        DefaultPlugins.set(WindowPlugin {
            primary_window: Some(Window {
                title: title.into(),
                resolution: (1280, 720).into(),
                ..default()
            }),
            ..default()
        }),
        NetsyncPlugins::default(),
    ));
    headless::shared(&mut app);
    render::plugin(&mut app);
    beams::plugin(&mut app);
    hud::plugin(&mut app);
    app.add_plugins(NetsyncOverlayPlugin {
        toggle: KeyCode::F3,
    });
    app.add_systems(Update, (sample_input, press_ball_key, run_screenshot_plan));
    app
}

/// Turns keys and the mouse into this player's [`ArenaInput`]: WASD or arrows move relative to
/// the camera, the cursor aims, the left button or space fires, the right button or E fires the rail gun.
fn sample_input(
    keys: Res<ButtonInput<KeyCode>>,
    mouse: Res<ButtonInput<MouseButton>>,
    chat: Res<ChatInput>,
    window: Query<&Window, With<PrimaryWindow>>,
    camera: Query<(&Camera, &GlobalTransform), With<Camera3d>>,
    local: Query<&Transform, With<LocalPlayer>>,
    mut input: ResMut<LocalInput<ArenaInput>>,
) {
    if chat.0.is_some() {
        input.0 = ArenaInput::new(Vec2::ZERO, input.0.aim(), false);
        return;
    }
    let pressed = |a: KeyCode, b: KeyCode| keys.pressed(a) || keys.pressed(b);
    let mut wanted = Vec2::ZERO;
    if pressed(KeyCode::KeyW, KeyCode::ArrowUp) {
        wanted.y += 1.0;
    }
    if pressed(KeyCode::KeyS, KeyCode::ArrowDown) {
        wanted.y -= 1.0;
    }
    if pressed(KeyCode::KeyD, KeyCode::ArrowRight) {
        wanted.x += 1.0;
    }
    if pressed(KeyCode::KeyA, KeyCode::ArrowLeft) {
        wanted.x -= 1.0;
    }
    let Ok((camera, camera_transform)) = camera.single() else {
        return;
    };
    // Forward is where the camera looks, flattened onto the ground.
    let forward = camera_transform.forward().as_vec3();
    let forward = Vec2::new(forward.x, forward.z).normalize_or(Vec2::NEG_Y);
    let right = Vec2::new(-forward.y, forward.x);
    let movement = (forward * wanted.y + right * wanted.x).normalize_or_zero();
    let fire = mouse.pressed(MouseButton::Left) || keys.pressed(KeyCode::Space);
    let rail = mouse.pressed(MouseButton::Right) || keys.pressed(KeyCode::KeyE);
    input.0 = ArenaInput::new(movement, input.0.aim(), fire).with_rail(rail);

    let (Ok(window), Ok(player)) = (window.single(), local.single()) else {
        return;
    };
    let Some(cursor) = window.cursor_position() else {
        return;
    };
    let Ok(ray) = camera.viewport_to_world(camera_transform, cursor) else {
        return;
    };
    let aim_height = Vec3::Y;
    if let Some(distance) = ray.intersect_plane(aim_height, InfinitePlane3d::new(Vec3::Y)) {
        let point = ray.get_point(distance);
        let direction = Vec2::new(
            point.x - player.translation.x,
            point.z - player.translation.z,
        );
        if direction.length() > 0.1 {
            let (movement, fire, rail) = (input.0.movement(), input.0.fire, input.0.rail);
            input.0 = ArenaInput::new(movement, direction_yaw(direction.normalize()), fire)
                .with_rail(rail);
        }
    }
}

/// The ball key, F: picks the ball up when it is within reach, throws it when held.
fn press_ball_key(
    keys: Res<ButtonInput<KeyCode>>,
    chat: Res<ChatInput>,
    mut presses: MessageWriter<UseBall>,
) {
    if chat.0.is_none() && keys.just_pressed(KeyCode::KeyF) {
        presses.write(UseBall);
    }
}

fn run_screenshot_plan(
    time: Res<Time<Real>>,
    plan: Option<ResMut<ScreenshotPlan>>,
    mut commands: Commands,
    mut exit: MessageWriter<AppExit>,
) {
    let Some(mut plan) = plan else {
        return;
    };
    let elapsed = time.elapsed();
    if !plan.requested && elapsed >= plan.at {
        plan.requested = true;
        if let Some(path) = plan.path.clone() {
            info!("saving a screenshot to {}", path.display());
            commands
                .spawn(Screenshot::primary_window())
                .observe(save_to_disk(path))
                .observe(
                    |_: On<ScreenshotCaptured>, mut plan: ResMut<ScreenshotPlan>| {
                        plan.saved = true;
                    },
                );
        }
    }
    if plan.requested && (plan.saved || elapsed >= plan.at + SCREENSHOT_TIMEOUT) {
        if !plan.saved {
            error!("the screenshot was not written within {SCREENSHOT_TIMEOUT:?}");
        }
        exit.write(AppExit::Success);
    }
}
