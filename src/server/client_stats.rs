//! [`ClientNetStats`]: each remote client's network figures, refreshed once a second on its
//! [`ConnectedClient`] entity, and [`ClientName`], the name a game gives a client for tables.

use bevy::prelude::*;
use bevy_renet::RenetServer;

use super::{
    budget::ReplicationBudget, client_replication::ClientReplication, config::ServerConfig,
    connected_client::ConnectedClient, local_client::LocalClient,
};

/// The name a game gives a client (from its connect token, a login, a chat command). Put it on
/// the client's [`ConnectedClient`] entity; the crate only shows it (the debug overlay's table).
#[derive(Component, Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientName(pub String);

/// One remote client's network figures, on its [`ConnectedClient`] entity (every
/// `ConnectedClient` has one), refreshed once a second after the frame's send. The host's own
/// player ([`LocalClient`]) has no network: its figures stay zero.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq)]
pub struct ClientNetStats {
    /// Round-trip time, milliseconds, as renet measures it.
    pub rtt_ms: f64,
    /// Packets lost, percent.
    pub packet_loss_percent: f64,
    /// Bytes sent to the client per second.
    pub bytes_out_per_second: f64,
    /// Bytes received from the client per second.
    pub bytes_in_per_second: f64,
    /// The client's byte budget, bytes per second ([`ReplicationBudget`] or
    /// [`ServerConfig::bytes_per_second`]).
    pub budget_bytes_per_second: usize,
    /// What the sends of the trailing second spent of that budget, percent.
    pub budget_use_percent: f64,
    /// Replicated entities in the client's view: what the server replicates to it.
    pub entities_in_view: usize,
    /// State frames sent and not acknowledged, among the last 4,096: those on their way and
    /// those lost.
    pub frames_awaiting_ack: usize,
}

/// Gives every [`ConnectedClient`] its [`ClientNetStats`] (zero until the first refresh).
pub(crate) fn add_client_stats(event: On<Add, ConnectedClient>, mut commands: Commands) {
    commands
        .entity(event.entity)
        .insert_if_new(ClientNetStats::default());
}

/// Refreshes every remote client's [`ClientNetStats`]; run when a second ended (in `Main`
/// after the main schedule's run, so after the frame's send).
pub(crate) fn update_client_stats(
    server: Res<RenetServer>,
    config: Res<ServerConfig>,
    mut clients: Query<
        (
            &ConnectedClient,
            &ClientReplication,
            Option<&ReplicationBudget>,
            &mut ClientNetStats,
        ),
        Without<LocalClient>,
    >,
) {
    for (connected, replication, budget, mut stats) in &mut clients {
        let id = connected.id();
        let rate = budget.map_or(config.bytes_per_second, |budget| budget.bytes_per_second);
        let spent = replication.budget.spent_in_window();
        *stats = ClientNetStats {
            rtt_ms: server.rtt(id) * 1000.0,
            packet_loss_percent: server.packet_loss(id) * 100.0,
            bytes_out_per_second: server.bytes_sent_per_sec(id),
            bytes_in_per_second: server.bytes_received_per_sec(id),
            budget_bytes_per_second: rate,
            budget_use_percent: if rate == 0 {
                0.0
            } else {
                spent as f64 * 100.0 / rate as f64
            },
            entities_in_view: entities_in_view(replication),
            frames_awaiting_ack: replication.in_flight(),
        };
    }
}

/// The entities relevant to a client. With interest management its relevant list is kept, and
/// only those slots are looked at: a scan of every slot for each of 200 clients of an open
/// world of 10,000 entities made the frame that refreshed the figures take milliseconds.
fn entities_in_view(replication: &ClientReplication) -> usize {
    let visible = |slot: &u32| {
        replication
            .slots
            .get(*slot as usize)
            .is_some_and(|state| state.visible)
    };
    if replication.relevance_tracked {
        replication
            .relevant
            .iter()
            .filter(|slot| visible(slot))
            .count()
    } else {
        replication
            .slots
            .iter()
            .filter(|state| state.visible)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_in_view_are_the_visible_slots_whichever_way_they_are_counted() {
        let mut replication = ClientReplication::default();
        replication.slots.resize(10, Default::default());
        for slot in [1, 4, 7] {
            replication.slots[slot].visible = true;
        }
        assert_eq!(entities_in_view(&replication), 3);
        // Kept by interest management: the relevant list, whose slots the table shows visible
        // (a slot listed but reset is not counted).
        replication.relevance_tracked = true;
        replication.relevant = vec![1, 4, 7, 9];
        assert_eq!(entities_in_view(&replication), 3);
        replication.slots[9].visible = true;
        assert_eq!(entities_in_view(&replication), 4);
        // Only the list is read: a visible slot outside it is not in view.
        replication.slots[2].visible = true;
        assert_eq!(entities_in_view(&replication), 4);
    }
}
