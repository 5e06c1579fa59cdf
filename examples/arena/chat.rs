//! Chat on the server: a line a player sends goes to everyone, with the sender's name. Each
//! player may send a few lines at once and then one per second; the rest are dropped and the
//! sender is told so.

use bevy::{platform::collections::HashMap, prelude::*};
use bevy_netsync::prelude::*;

use crate::protocol::{ChatLine, ChatSend, Player};

/// Longest chat line kept, in characters.
pub const MAX_CHAT_CHARS: usize = 120;

/// Lines a player may send at once.
pub const CHAT_BURST: f32 = 5.0;
/// Lines per second a player may send after the burst.
pub const CHAT_LINES_PER_SECOND: f32 = 1.0;
/// Who the server's own notices come from.
pub const SERVER_NAME: &str = "server";

/// Chat lines a client may still send: a token bucket.
#[derive(Clone, Copy, Debug)]
struct Allowance {
    lines: f32,
    at: f32,
    /// Whether the client was told to slow down since its last accepted line.
    warned: bool,
}

impl Allowance {
    /// Takes one line at time `now` (seconds); `false` when none is left.
    fn take(&mut self, now: f32) -> bool {
        self.lines = (self.lines + (now - self.at) * CHAT_LINES_PER_SECOND).min(CHAT_BURST);
        self.at = now;
        if self.lines >= 1.0 {
            self.lines -= 1.0;
            self.warned = false;
            true
        } else {
            false
        }
    }
}

/// Server side chat.
pub fn plugin(app: &mut App) {
    app.add_systems(Update, broadcast_chat);
}

fn broadcast_chat(
    mut received: MessageReader<FromClient<ChatSend>>,
    players: Query<(&ControlledBy, &Player)>,
    connected: Query<(), With<ConnectedClient>>,
    time: Res<Time>,
    mut allowances: Local<HashMap<Entity, Allowance>>,
    mut lines: MessageWriter<ToClients<ChatLine>>,
) {
    let now = time.elapsed_secs();
    allowances.retain(|client, _| connected.contains(*client));
    for FromClient {
        client,
        client_id,
        message,
    } in received.read()
    {
        let allowance = allowances.entry(*client).or_insert(Allowance {
            lines: CHAT_BURST,
            at: now,
            warned: false,
        });
        if !allowance.take(now) {
            // Tell the sender once per refused burst, not once per line.
            if !allowance.warned {
                allowance.warned = true;
                lines.write(ToClients {
                    mode: SendMode::Direct(*client),
                    message: ChatLine {
                        from: SERVER_NAME.into(),
                        text: format!(
                            "slow down: {CHAT_BURST} lines at once, then {CHAT_LINES_PER_SECOND} per second"
                        ),
                    },
                });
            }
            continue;
        }
        let text: String = message
            .0
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_CHAT_CHARS)
            .collect();
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let from = players
            .iter()
            .find(|(controller, _)| controller.client_id == *client_id)
            .map_or_else(|| "?".to_string(), |(_, player)| player.name.clone());
        lines.write(ToClients {
            mode: SendMode::Broadcast,
            message: ChatLine {
                from,
                text: text.to_string(),
            },
        });
    }
}
