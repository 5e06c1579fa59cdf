//! Chat on the server: a line a player sends goes to everyone, with the sender's name.

use bevy::prelude::*;
use bevy_netsync::prelude::*;

use crate::{
    player::ControlledBy,
    protocol::{ChatLine, ChatSend, Player},
};

/// Longest chat line kept, in characters.
pub const MAX_CHAT_CHARS: usize = 120;

/// Server side chat.
pub fn plugin(app: &mut App) {
    app.add_systems(Update, broadcast_chat);
}

fn broadcast_chat(
    mut received: MessageReader<FromClient<ChatSend>>,
    players: Query<(&ControlledBy, &Player)>,
    mut lines: MessageWriter<ToClients<ChatLine>>,
) {
    for FromClient {
        client, message, ..
    } in received.read()
    {
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
            .find(|(controller, _)| controller.0 == *client)
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
