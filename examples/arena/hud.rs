//! The heads-up display: connection figures, scoreboard, name labels, chat box, and the reason
//! when not connected.

use bevy::{
    diagnostic::DiagnosticsStore,
    input::{
        ButtonState,
        keyboard::{Key, KeyboardInput},
    },
    prelude::*,
};
use bevy_netsync::{
    prelude::*,
    shared::prediction::PredictionSettings,
    transport::{Reconnecting, ServerAddresses},
};
use bevy_renet::RenetClient;

use crate::{
    player::WorldStats,
    protocol::{ChatLine, ChatSend, Player, Score},
};

/// Chat lines shown.
const CHAT_LINES: usize = 8;
/// HUD text size.
const TEXT_SIZE: f32 = 15.0;

/// Received chat lines, newest last.
#[derive(Resource, Default)]
pub struct ChatLog(pub Vec<String>);

/// The chat line being typed; `Some` while the chat box is open.
#[derive(Resource, Default)]
pub struct ChatInput(pub Option<String>);

#[derive(Component)]
struct StatusText;
#[derive(Component)]
struct ScoreText;
#[derive(Component)]
struct ChatText;
#[derive(Component)]
struct ReasonText;
/// A name label following a player entity.
#[derive(Component)]
struct NameLabel(Entity);

/// The HUD.
pub fn plugin(app: &mut App) {
    app.init_resource::<ChatLog>()
        .init_resource::<ChatInput>()
        .add_systems(Startup, spawn_hud)
        .add_observer(label_player)
        .add_systems(
            Update,
            (
                collect_chat,
                type_chat,
                update_status,
                update_scoreboard,
                update_chat_box,
                update_reason,
                place_labels,
            ),
        );
}

fn text(value: &str) -> (Text, TextFont, TextColor) {
    (
        Text::new(value),
        TextFont::from_font_size(TEXT_SIZE),
        TextColor(Color::srgb(0.92, 0.93, 0.95)),
    )
}

fn panel(node: Node) -> (Node, BackgroundColor) {
    (
        Node {
            padding: UiRect::all(Val::Px(8.0)),
            position_type: PositionType::Absolute,
            ..node
        },
        BackgroundColor(Color::srgba(0.05, 0.06, 0.08, 0.6)),
    )
}

fn spawn_hud(mut commands: Commands) {
    commands
        .spawn(panel(Node {
            left: Val::Px(10.0),
            top: Val::Px(10.0),
            ..default()
        }))
        .with_child((StatusText, text("")));
    commands
        .spawn(panel(Node {
            right: Val::Px(10.0),
            top: Val::Px(10.0),
            ..default()
        }))
        .with_child((ScoreText, text("")));
    commands
        .spawn(panel(Node {
            left: Val::Px(10.0),
            bottom: Val::Px(10.0),
            min_width: Val::Px(360.0),
            ..default()
        }))
        .with_child((ChatText, text("")));
    commands
        .spawn(Node {
            width: Val::Percent(100.0),
            height: Val::Percent(100.0),
            justify_content: JustifyContent::Center,
            align_items: AlignItems::Center,
            position_type: PositionType::Absolute,
            ..default()
        })
        .with_child((
            ReasonText,
            Text::new(""),
            TextFont::from_font_size(26.0),
            TextColor(Color::srgb(1.0, 0.75, 0.4)),
            TextLayout::justify(Justify::Center),
            Node {
                padding: UiRect::all(Val::Px(16.0)),
                ..default()
            },
            BackgroundColor(Color::srgba(0.02, 0.02, 0.03, 0.8)),
            Visibility::Hidden,
        ));
}

fn label_player(event: On<Add, Player>, players: Query<&Player>, mut commands: Commands) {
    let Ok(player) = players.get(event.entity) else {
        return;
    };
    let [r, g, b] = player.color;
    commands.spawn((
        NameLabel(event.entity),
        Text::new(player.name.clone()),
        TextFont::from_font_size(14.0),
        TextColor(Color::linear_rgb(r, g, b).lighter(0.2)),
        Node {
            position_type: PositionType::Absolute,
            ..default()
        },
    ));
}

fn place_labels(
    mut commands: Commands,
    camera: Query<(&Camera, &GlobalTransform), With<Camera3d>>,
    players: Query<(&GlobalTransform, &crate::protocol::Health), With<Player>>,
    mut labels: Query<(Entity, &NameLabel, &mut Node, &mut Visibility)>,
) {
    let Ok((camera, camera_transform)) = camera.single() else {
        return;
    };
    for (label, NameLabel(player), mut node, mut visibility) in &mut labels {
        let Ok((transform, health)) = players.get(*player) else {
            commands.entity(label).despawn();
            continue;
        };
        let above = transform.translation() + Vec3::Y * 2.5;
        match camera.world_to_viewport(camera_transform, above) {
            Ok(position) if health.0 > 0 => {
                node.left = Val::Px(position.x - 30.0);
                node.top = Val::Px(position.y - 10.0);
                *visibility = Visibility::Inherited;
            }
            _ => *visibility = Visibility::Hidden,
        }
    }
}

fn collect_chat(mut lines: MessageReader<ChatLine>, mut log: ResMut<ChatLog>) {
    for line in lines.read() {
        log.0.push(format!("{}: {}", line.from, line.text));
    }
    let excess = log.0.len().saturating_sub(CHAT_LINES);
    log.0.drain(..excess);
}

/// Enter opens the chat box; typing fills it; Enter sends, Escape cancels.
fn type_chat(
    mut keys: MessageReader<KeyboardInput>,
    mut input: ResMut<ChatInput>,
    mut send: MessageWriter<ChatSend>,
) {
    for key in keys.read() {
        if key.state != ButtonState::Pressed {
            continue;
        }
        match (&mut input.0, &key.logical_key) {
            (None, Key::Enter) => input.0 = Some(String::new()),
            (Some(line), Key::Enter) => {
                if !line.trim().is_empty() {
                    send.write(ChatSend(line.clone()));
                }
                input.0 = None;
            }
            (Some(_), Key::Escape) => input.0 = None,
            (Some(line), Key::Backspace) => {
                line.pop();
            }
            (Some(line), Key::Space) => line.push(' '),
            (Some(line), Key::Character(typed)) => line.push_str(typed),
            _ => {}
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn update_status(
    state: Res<State<ClientState>>,
    client: Option<Res<RenetClient>>,
    timeline: Res<ClientTimeline>,
    server_tick: Res<ServerTick>,
    hosting: Option<Res<ServerAddresses>>,
    world_stats: Option<Res<WorldStats>>,
    held: Res<ServerEntityMap>,
    diagnostics: Res<DiagnosticsStore>,
    prediction: Res<PredictionSettings>,
    players: Query<(), With<Player>>,
    mut status: Query<&mut Text, With<StatusText>>,
) {
    let Ok(mut status) = status.single_mut() else {
        return;
    };
    let players = players.iter().count();
    let entities = world_stats.map_or(0, |stats| stats.entities);
    let controls = "[WASD] move  [mouse] aim  [click/space] fire  [right click/E] rail\n[F] pick up / throw the ball  [Enter] chat  [F3] network graphs";
    status.0 = if let Some(addresses) = hosting {
        format!(
            "Hosting on port {}\nserver tick {}\nplayers {players}   entities {}\n{controls}",
            addresses.local.port(),
            server_tick.0.0,
            entities
        )
    } else if let Some(client) = client.filter(|_| *state.get() == ClientState::Connected) {
        let latest = |path| {
            diagnostics
                .get(path)
                .and_then(|diagnostic| diagnostic.value())
                .unwrap_or(0.0)
        };
        let prediction = if prediction.enabled {
            format!(
                "prediction: {:.1} rollbacks/s   last correction {:.1} cm",
                latest(&NetsyncDiagnostics::ROLLBACKS_PER_SECOND),
                latest(&NetsyncDiagnostics::LAST_CORRECTION_CM)
            )
        } else {
            "prediction off".to_string()
        };
        format!(
            "Connected\nping {:.0} ms   loss {:.1} %\nin {:.1} kB/s   out {:.1} kB/s\nserver tick {:.0}   interp delay {:.0} ms\n{prediction}\nplayers {players}   in view {} of {} entities\n{controls}",
            client.rtt() * 1000.0,
            client.packet_loss() * 100.0,
            client.bytes_received_per_sec() / 1000.0,
            client.bytes_sent_per_sec() / 1000.0,
            timeline.server_tick(),
            timeline.interpolation_delay().as_secs_f64() * 1000.0,
            held.len(),
            entities
        )
    } else {
        format!("{:?}", state.get())
    };
}

fn update_scoreboard(
    players: Query<(&Player, &Score)>,
    mut board: Query<&mut Text, With<ScoreText>>,
) {
    let Ok(mut board) = board.single_mut() else {
        return;
    };
    let mut rows: Vec<(&Player, &Score)> = players.iter().collect();
    rows.sort_by(|a, b| b.1.kills.cmp(&a.1.kills).then(a.1.deaths.cmp(&b.1.deaths)));
    let mut text = String::from("Player            K   D");
    for (player, score) in rows {
        text.push_str(&format!(
            "\n{:<16} {:>3} {:>3}",
            player.name, score.kills, score.deaths
        ));
    }
    board.0 = text;
}

fn update_chat_box(
    log: Res<ChatLog>,
    input: Res<ChatInput>,
    mut chat: Query<&mut Text, With<ChatText>>,
) {
    let Ok(mut chat) = chat.single_mut() else {
        return;
    };
    let mut text = log.0.join("\n");
    match &input.0 {
        Some(line) => text.push_str(&format!("\n> {line}_")),
        None => text.push_str("\n[Enter] to chat"),
    }
    chat.0 = text.trim_start().to_string();
}

/// Says why this screen is not in the game: connecting, the last reason, the next retry.
fn update_reason(
    state: Res<State<ClientState>>,
    last: Res<LastDisconnect>,
    hosting: Option<Res<ServerAddresses>>,
    retry: Option<Res<Reconnecting>>,
    mut reason: Query<(&mut Text, &mut Visibility), With<ReasonText>>,
) {
    let Ok((mut reason, mut visibility)) = reason.single_mut() else {
        return;
    };
    if hosting.is_some() || *state.get() == ClientState::Connected {
        *visibility = Visibility::Hidden;
        return;
    }
    *visibility = Visibility::Inherited;
    let mut text = match (state.get(), &last.0) {
        (ClientState::Connecting, None) => "Connecting...".to_string(),
        (ClientState::Connecting, Some(why)) => format!("Connecting again...\nlast time: {why}"),
        (_, Some(why)) => format!("Not connected\n{why}"),
        (_, None) => "Not connected".to_string(),
    };
    if let Some(retry) = retry {
        text.push_str(&format!(
            "\nretrying in {:.1} s (attempt {})",
            retry.remaining.as_secs_f32(),
            retry.attempt
        ));
    }
    reason.0 = text;
}
