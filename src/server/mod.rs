//! The server side: receive from clients, count ticks, and send each client its share of the
//! replicated world and messages. Everything runs only while a [`RenetServer`] resource exists.
//!
//! The send pipeline is the chain in [`ServerPlugin::build`]: queue this frame's messages; plan
//! the send, detect changes and encode each changed value once; bring each client's table up to
//! date; update what each client should see; pick the messages' recipients and refill the
//! budgets; send the messages (a client delivers each once it holds its tick's replication);
//! choose per client under its budget, pack frames, send them; then close connections.
//!
//! The server's figures: [`NetsyncServerDiagnostics`] in Bevy's diagnostics store, and
//! [`ClientNetStats`] on each client's entity, both refreshed once a second.

mod authority;
mod baseline_floors;
mod blobs;
mod body_key;
mod budget;
mod change_log;
mod choose_entities;
mod client_allowance;
pub(crate) mod client_replication;
mod client_stats;
mod client_tables;
mod component_encoders;
mod config;
mod connected_client;
mod detect_changes;
mod diagnostics;
mod dirty;
mod encode_values;
mod input;
mod interest;
mod lag_compensation;
mod left_out;
mod local_client;
pub(crate) mod outgoing;
mod pack_frames;
mod parallel;
mod priority;
mod receive;
mod refill_budgets;
pub(crate) mod replicated_world;
mod send_frames;
mod send_messages;
mod send_plan;
mod state_summary;
mod tick;
mod value_cache;

use bevy::prelude::*;
use bevy_renet::{RenetReceive, RenetSend, RenetServer, RenetServerPlugin};

pub use crate::shared::replicated::Replicated;
pub use authority::{
    AuthorityChanged, AuthorityCommandsExt, AuthorityRequested, AuthoritySettings,
    ClientSpawnCommandsExt, ClientSpawnRequested, MAX_PENDING_CLIENT_SPAWNS, PendingClientSpawn,
    set_authority,
};
pub(crate) use authority::{RuleOf, add_authority};
pub use blobs::LARGE_VALUE_BYTES;
pub use budget::ReplicationBudget;
pub use client_replication::{DESPAWN_STALL_TICKS, MAX_PENDING_DESPAWNS};
pub use client_stats::{ClientName, ClientNetStats};
pub use config::{DEFAULT_HANDSHAKE_TIMEOUT, ServerConfig};
pub use connected_client::{ClientDisconnected, ConnectedClient, KickClient};
pub use diagnostics::NetsyncServerDiagnostics;
pub use encode_values::ValueRefused;
pub use input::{ClientInput, InputStats, MAX_INPUT_LEAD_TICKS};
pub(crate) use input::{apply_controlled_input, apply_inputs, apply_local_input, receive_inputs};
pub use interest::{
    FreezeWhenHidden, InterestSettings, RelevanceRule, RoomId, Rooms, ViewOrigin, ViewPoint,
};
pub use lag_compensation::{
    HISTORY_BYTES_PER_TICK, HitHistory, HitShape, LagCompensated, LagCompensation,
    LagCompensationSettings, LagHit, MAX_HISTORY_TICKS, SeenTick,
};
pub use local_client::{LOCAL_CLIENT_ID, LocalClient, spawn_local_client};
pub use priority::{PriorityHook, PriorityQuery, ReplicationPriority};

pub(crate) use change_log::{ChangeDetectors, detector, observe_component};
pub(crate) use component_encoders::add_encoder;
pub(crate) use send_messages::{
    MessageOutbox, OutboxResets, decide_message_recipients, forward_local_messages,
    queue_server_messages, send_server_messages,
};

use crate::shared::tick::ServerTick;

/// The server's system sets, in pipeline order.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerSet {
    /// `PreUpdate`, after [`RenetReceive`]: handshakes, acks, inputs, and client messages written
    /// as [`FromClient`](crate::shared::messages::FromClient). Read client messages after it.
    Receive,
    /// `FixedFirst`: advances [`ServerTick`]. Game simulation runs after it, in `FixedUpdate`.
    Tick,
    /// `FixedPreUpdate`: writes each client's [`ClientInput`] for this tick.
    ApplyInputs,
    /// `PostUpdate`, before [`RenetSend`]: [`ToClients`](crate::shared::messages::ToClients)
    /// messages (delivered after this tick's replication), replication of this tick, then
    /// closing connections of disconnected clients. Change replicated state before it.
    Send,
}

/// Steps inside [`ServerSet::Send`], in order.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum SendStep {
    /// Queue this frame's `ToClients` messages (every frame).
    QueueMessages,
    /// Plan the send, detect and encode changes (on send frames).
    Changes,
    /// Bring every client's table up to date: acknowledgements, sizes, despawns, and without
    /// interest management spawns, changes and new clients' whole world (on send frames).
    Tables,
    /// Decide what each client sees, once interest management is in use (on send frames).
    Relevance,
    /// Decide the queued messages' remote recipients from this send's relevance, and refill
    /// the budgets.
    Recipients,
    /// Send the queued messages, stamped with this send's tick (a client delivers them once it
    /// holds that tick's replication, so they may go first), within the budget.
    Messages,
    /// Choose, pack and send the frames with what the budget has left (on send frames).
    Replication,
    /// Close connections whose grace period ran out.
    Close,
}

/// Server-authoritative replication. Part of [`NetsyncPlugins`](crate::NetsyncPlugins).
#[derive(Default)]
pub struct ServerPlugin {
    /// Initial [`ServerConfig`].
    pub config: ServerConfig,
}

impl Plugin for ServerPlugin {
    fn build(&self, app: &mut App) {
        if !app.is_plugin_added::<RenetServerPlugin>() {
            app.add_plugins(RenetServerPlugin);
        }
        let server_exists = resource_exists::<RenetServer>;
        app.world_mut()
            .get_resource_or_init::<crate::shared::sides::Sides>()
            .server = true;
        app.insert_resource(self.config.clone())
            .add_plugins((
                lag_compensation::plugin,
                diagnostics::plugin,
                authority::plugin,
            ))
            .init_resource::<ServerTick>()
            .init_resource::<connected_client::ClientSlots>()
            .init_resource::<client_allowance::ClientAllowances>()
            .init_resource::<change_log::StructuralLog>()
            .init_resource::<ChangeDetectors>()
            .init_resource::<component_encoders::ComponentEncoders>()
            .init_resource::<replicated_world::ReplicatedWorld>()
            .init_resource::<replicated_world::ReplicatedResources>()
            .init_resource::<value_cache::ValueCache>()
            .init_resource::<blobs::BlobStore>()
            .init_resource::<send_plan::SendPlan>()
            .init_resource::<interest::InterestSettings>()
            .init_resource::<interest::InterestIndex>()
            .configure_sets(
                PreUpdate,
                ServerSet::Receive.after(RenetReceive).run_if(server_exists),
            )
            .configure_sets(FixedFirst, ServerSet::Tick.run_if(server_exists))
            .configure_sets(FixedPreUpdate, ServerSet::ApplyInputs.run_if(server_exists))
            .configure_sets(
                PostUpdate,
                ServerSet::Send.before(RenetSend).run_if(server_exists),
            )
            .configure_sets(
                PostUpdate,
                (
                    SendStep::QueueMessages,
                    SendStep::Changes,
                    SendStep::Tables,
                    SendStep::Relevance,
                    SendStep::Recipients,
                    SendStep::Messages,
                    SendStep::Replication,
                    SendStep::Close,
                )
                    .chain()
                    .in_set(ServerSet::Send),
            )
            .add_observer(connected_client::track_connections)
            .add_observer(connected_client::kick_client)
            .add_observer(change_log::log_started)
            .add_observer(change_log::log_stopped)
            .add_observer(interest::activate_on_view_point)
            .add_observer(interest::activate_on_rooms)
            .add_observer(interest::log_rooms_removed)
            .add_systems(
                PreUpdate,
                (
                    receive::receive_from_clients,
                    connected_client::close_silent_connections,
                )
                    .chain()
                    .in_set(ServerSet::Receive),
            )
            .add_systems(FixedFirst, tick::advance_tick.in_set(ServerSet::Tick))
            .add_systems(
                PostUpdate,
                (
                    (
                        send_plan::plan_send,
                        detect_changes::detect_changes,
                        encode_values::encode_values,
                    )
                        .chain()
                        .in_set(SendStep::Changes),
                    client_tables::update_client_tables.in_set(SendStep::Tables),
                    interest::update_relevance.in_set(SendStep::Relevance),
                    (
                        choose_entities::choose_entities,
                        pack_frames::pack_frames,
                        send_frames::send_frames,
                    )
                        .chain()
                        .in_set(SendStep::Replication),
                    refill_budgets::refill_budgets.in_set(SendStep::Recipients),
                    input::send_input_timing.in_set(SendStep::Messages),
                    (
                        connected_client::close_stalled_clients,
                        connected_client::finish_closing,
                    )
                        .chain()
                        .in_set(SendStep::Close),
                    change_log::clear_log_without_server.run_if(not(server_exists)),
                ),
            );
    }
}

/// Forgets every remote client (triggering [`ClientDisconnected`] with
/// [`DisconnectReason::ServerShutdown`](crate::shared::disconnect::DisconnectReason)) and
/// everything sent so far, so the next server start replicates the world from scratch.
#[cfg(feature = "netcode")]
pub(crate) fn reset_server(world: &mut World) {
    use crate::shared::disconnect::DisconnectReason;

    world
        .resource_mut::<connected_client::ClientSlots>()
        .slots
        .clear();
    let mut remote = world.query_filtered::<(Entity, &ConnectedClient), Without<LocalClient>>();
    let clients: Vec<(Entity, u64)> = remote
        .iter(world)
        .map(|(entity, client)| (entity, client.id()))
        .collect();
    for (client, client_id) in clients {
        world.trigger(ClientDisconnected {
            client,
            client_id,
            reason: DisconnectReason::ServerShutdown,
        });
        world.despawn(client);
    }
    for encoder in &mut world
        .resource_mut::<component_encoders::ComponentEncoders>()
        .encoders
    {
        encoder.clear();
    }
    world.insert_resource(replicated_world::ReplicatedWorld::default());
    world.insert_resource(replicated_world::ReplicatedResources::default());
    world.insert_resource(blobs::BlobStore::default());
    world.insert_resource(send_plan::SendPlan::default());
    world.insert_resource(interest::InterestIndex::default());
    world.insert_resource(change_log::StructuralLog::default());
    world.insert_resource(lag_compensation::SeenTicks::default());
    world.resource_mut::<ChangeDetectors>().last_run = None;
    let resets = world
        .get_resource::<OutboxResets>()
        .map(|resets| resets.0.clone())
        .unwrap_or_default();
    for reset in resets {
        reset(world);
    }
}
