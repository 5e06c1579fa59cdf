//! The debug overlay (feature `overlay`): scrolling graphs of the last 15 seconds of the
//! figures in Bevy's `DiagnosticsStore`, and on a server or host a table of the connected
//! clients.
//!
//! A client graphs its [`NetsyncDiagnostics`](crate::client::NetsyncDiagnostics) (round trip
//! and jitter, loss, bytes in and out, interpolation delay, input lead, rollbacks, correction
//! size, entities held); a server or host its
//! [`NetsyncServerDiagnostics`](crate::server::NetsyncServerDiagnostics) (tick time, clients,
//! bytes out, budget use, entities in view, junk dropped) and lists each client's
//! [`ClientNetStats`](crate::server::ClientNetStats). The overlay is Bevy UI nodes: the game
//! brings a window and Bevy's UI renderer.
//!
//! ```no_run
//! use bevy::prelude::*;
//! use bevy_netsync::{overlay::NetsyncOverlayPlugin, prelude::*};
//!
//! App::new()
//!     .add_plugins((DefaultPlugins, NetsyncPlugins::default()))
//!     .add_plugins(NetsyncOverlayPlugin { toggle: KeyCode::F3 })
//!     .run();
//! ```

mod graph;
mod history;
#[cfg(feature = "server")]
mod table;

use bevy::prelude::*;

/// Adds the overlay (bottom right, hidden); `toggle` shows and hides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetsyncOverlayPlugin {
    /// The key that shows and hides the overlay.
    pub toggle: KeyCode,
}

impl Default for NetsyncOverlayPlugin {
    fn default() -> Self {
        Self {
            toggle: KeyCode::F3,
        }
    }
}

/// Whether the overlay shows, and its key. Set `visible` to show or hide it from game code.
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetsyncOverlay {
    /// Whether the overlay shows.
    pub visible: bool,
    /// The key that flips `visible`.
    pub toggle: KeyCode,
}

impl Plugin for NetsyncOverlayPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(NetsyncOverlay {
            visible: false,
            toggle: self.toggle,
        })
        .add_systems(Startup, spawn_overlay)
        .add_systems(Update, (toggle_overlay, graph::update_graphs).chain());
        #[cfg(feature = "server")]
        app.add_systems(Update, table::update_table.after(toggle_overlay));
    }
}

/// Colour of the overlay's text.
const LABEL_COLOR: Color = Color::srgb(0.85, 0.87, 0.9);

/// The overlay's panel.
#[derive(Component)]
struct OverlayRoot;

/// A text node's components.
fn text(value: impl Into<String>, size: f32, color: Color) -> (Text, TextFont, TextColor) {
    (
        Text::new(value),
        TextFont::from_font_size(size),
        TextColor(color),
    )
}

/// A figure in about three significant digits.
fn short(value: f64) -> String {
    match value.abs() {
        magnitude if magnitude >= 100.0 => format!("{value:.0}"),
        magnitude if magnitude >= 10.0 => format!("{value:.1}"),
        _ => format!("{value:.2}"),
    }
}

/// Spawns the panel (bottom right, above the game's UI) with every graph and the client table.
fn spawn_overlay(mut commands: Commands, overlay: Res<NetsyncOverlay>) {
    let root = commands
        .spawn((
            OverlayRoot,
            Node {
                display: Display::None,
                position_type: PositionType::Absolute,
                // Bottom right: games keep scores and status at the top.
                bottom: Val::Px(10.0),
                right: Val::Px(10.0),
                flex_direction: FlexDirection::Column,
                row_gap: Val::Px(6.0),
                padding: UiRect::all(Val::Px(8.0)),
                ..default()
            },
            BackgroundColor(Color::srgba(0.02, 0.03, 0.05, 0.85)),
            GlobalZIndex(100),
        ))
        .id();
    commands.spawn((
        text(
            format!("network  [{:?}] to hide", overlay.toggle),
            13.0,
            LABEL_COLOR,
        ),
        ChildOf(root),
    ));
    let graphs = commands
        .spawn((
            Node {
                flex_direction: FlexDirection::Row,
                flex_wrap: FlexWrap::Wrap,
                max_width: Val::Px(520.0),
                column_gap: Val::Px(12.0),
                row_gap: Val::Px(6.0),
                ..default()
            },
            ChildOf(root),
        ))
        .id();
    for spec in graph::specs() {
        graph::spawn_graph(&mut commands, graphs, spec);
    }
    #[cfg(feature = "server")]
    table::spawn_table(&mut commands, root);
}

/// Flips [`NetsyncOverlay::visible`] on its key, and shows or hides the panel when it changed.
fn toggle_overlay(
    keys: Option<Res<ButtonInput<KeyCode>>>,
    mut overlay: ResMut<NetsyncOverlay>,
    mut roots: Query<&mut Node, With<OverlayRoot>>,
) {
    let key = overlay.toggle;
    if keys.is_some_and(|keys| keys.just_pressed(key)) {
        overlay.visible = !overlay.visible;
    }
    if overlay.is_changed() {
        let display = if overlay.visible {
            Display::Flex
        } else {
            Display::None
        };
        for mut node in &mut roots {
            node.display = display;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_keep_about_three_digits() {
        assert_eq!(short(1234.4), "1234");
        assert_eq!(short(45.26), "45.3");
        assert_eq!(short(7.5), "7.50");
        assert_eq!(short(-0.5), "-0.50");
    }
}
