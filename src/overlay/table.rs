//! The overlay's table of connected clients (server or host): a row per [`ConnectedClient`],
//! from its [`ClientNetStats`] and the [`ClientName`] the game gave it.

use bevy::prelude::*;

use super::{LABEL_COLOR, NetsyncOverlay, short, text};
use crate::server::{ClientName, ClientNetStats, ConnectedClient, LocalClient};

/// The table's text node.
#[derive(Component)]
pub(super) struct ClientTable;

/// Longest name shown, characters.
const NAME_CHARS: usize = 12;

/// Spawns the table (hidden while there is no client) under `parent`.
pub(super) fn spawn_table(commands: &mut Commands, parent: Entity) {
    commands.spawn((
        ClientTable,
        text("", 12.0, LABEL_COLOR),
        Node {
            display: Display::None,
            ..default()
        },
        ChildOf(parent),
    ));
}

/// Most clients the table lists (the host first, then by id); the rest are counted.
const MAX_ROWS: usize = 32;

/// Writes the table while the overlay shows.
pub(super) fn update_table(
    overlay: Res<NetsyncOverlay>,
    clients: Query<(
        &ConnectedClient,
        Option<&ClientName>,
        &ClientNetStats,
        Has<LocalClient>,
    )>,
    changed: Query<(), Changed<ClientNetStats>>,
    mut table: Query<(&mut Text, &mut Node), With<ClientTable>>,
    mut shown: Local<bool>,
) {
    if !overlay.visible {
        *shown = false;
        return;
    }
    // The figures change once a second: rebuild then, or when the overlay appears.
    if *shown && changed.is_empty() {
        return;
    }
    *shown = true;
    let Ok((mut text, mut node)) = table.single_mut() else {
        return;
    };
    let display = if clients.is_empty() {
        Display::None
    } else {
        Display::Flex
    };
    if node.display != display {
        node.display = display;
    }
    let mut rows: Vec<Row> = clients
        .iter()
        .map(|(client, name, stats, local)| Row {
            id: client.id(),
            name: name.map_or("", |name| name.0.as_str()),
            stats: *stats,
            local,
        })
        .collect();
    rows.sort_by_key(|row| (!row.local, row.id));
    let more = rows.len().saturating_sub(MAX_ROWS);
    rows.truncate(MAX_ROWS);
    let mut lines = table_lines(&rows);
    if more > 0 {
        lines.push_str(&format!("\n… and {more} more"));
    }
    if text.0 != lines {
        text.0 = lines;
    }
}

/// One client's row.
struct Row<'a> {
    id: u64,
    name: &'a str,
    stats: ClientNetStats,
    local: bool,
}

/// A header and a line per client, in columns (the default font is monospaced).
fn table_lines(rows: &[Row]) -> String {
    let mut lines = format!(
        "{:<20} {:<12} {:>6} {:>6} {:>8} {:>6} {:>6} {:>7}",
        "client", "name", "rtt ms", "loss %", "out kB/s", "budget", "view", "unacked"
    );
    for row in rows {
        let name: String = row.name.chars().take(NAME_CHARS).collect();
        if row.local {
            lines.push_str(&format!("\n{:<20} {name:<12} {:>6}", "host", "local"));
            continue;
        }
        let stats = &row.stats;
        lines.push_str(&format!(
            "\n{:<20} {name:<12} {:>6} {:>6} {:>8} {:>5.0}% {:>6} {:>7}",
            row.id,
            short(stats.rtt_ms),
            short(stats.packet_loss_percent),
            short(stats.bytes_out_per_second / 1000.0),
            stats.budget_use_percent,
            stats.entities_in_view,
            stats.frames_awaiting_ack,
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_line_up_under_the_header() {
        let stats = ClientNetStats {
            rtt_ms: 48.2,
            packet_loss_percent: 1.5,
            bytes_out_per_second: 12_345.0,
            budget_use_percent: 3.4,
            entities_in_view: 120,
            frames_awaiting_ack: 7,
            ..default()
        };
        let rows = [
            Row {
                id: u64::MAX,
                name: "host",
                stats: ClientNetStats::default(),
                local: true,
            },
            Row {
                id: 42,
                name: "a very long player name",
                stats,
                local: false,
            },
        ];
        let text = table_lines(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].len(), lines[2].len(), "{text}");
        assert!(lines[2].contains("a very long "), "{text}");
        assert!(lines[2].contains(" 48.2 "), "{text}");
        assert!(lines[2].contains(" 12.3 "), "{text}");
        assert!(lines[2].ends_with("    3%    120       7"), "{text}");
    }
}
