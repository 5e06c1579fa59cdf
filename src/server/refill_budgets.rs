//! Step 5 of the send (with the recipients of messages): every remote client's budget refilled
//! for this send, before its messages and its replication spend from it.

use bevy::prelude::*;

use super::{
    LocalClient, ServerConfig, budget::ReplicationBudget, client_replication::ClientReplication,
    send_plan::SendPlan,
};

/// Refills every remote client's budget for this send, before its messages and its
/// replication spend from it (each client's [`ReplicationBudget`], else
/// [`ServerConfig::bytes_per_second`](ServerConfig::bytes_per_second)).
pub(crate) fn refill_budgets(
    plan: Res<SendPlan>,
    config: Res<ServerConfig>,
    mut clients: Query<(&mut ClientReplication, Option<&ReplicationBudget>), Without<LocalClient>>,
) {
    if plan.tick.is_none() {
        return;
    }
    for (mut client, budget) in &mut clients {
        let rate = budget.map_or(config.bytes_per_second, |budget| budget.bytes_per_second);
        client.budget.refill(rate, plan.seconds);
        // Set again by this send's messages if one still waits.
        client.reserved_for_messages = 0;
    }
}
