//! The client side: connection state, applying replication, acknowledgements, inputs and
//! messages. Everything runs only while a [`RenetClient`] resource exists.

mod apply_state;
mod authority;
mod blob_assembly;
mod component_receivers;
mod connection;
mod diagnostics;
mod held_messages;
mod input;
mod interpolation;
mod prediction;
mod receive;
mod replicas;
pub(crate) mod send;
pub(crate) mod session;
mod slot_table;
mod timeline;

use crate::shared::scoped::scoped;
use bevy::{prelude::*, state::app::StatesPlugin};
use bevy_renet::{RenetClient, RenetClientPlugin, RenetReceive, RenetSend};

pub use apply_state::{FromServer, Frozen};
pub(crate) use authority::add_authority;
pub use authority::{
    AuthorityGained, AuthorityLost, HasAuthority, ReleaseAuthority, RequestAuthority, SpawnOwned,
};
pub use connection::{ClientState, LastDisconnect};
pub use diagnostics::NetsyncDiagnostics;
pub use input::INPUT_REDUNDANCY;
pub use prediction::{PredictedTick, PredictionStats};
pub use timeline::{ClientTimeline, InterpolationSettings};

pub use crate::shared::link::SimulatedLink;

pub(crate) use component_receivers::{ComponentReceivers, add_receiver};
pub(crate) use input::{InputHistory, send_inputs};
pub(crate) use interpolation::interpolate_components;
pub(crate) use prediction::{
    MatchFn, PredictedSpawns, PredictionRegistry, TypedPrediction, apply_tick_input, record_input,
};
#[cfg(feature = "test_utils")]
pub(crate) use receive::receive_frames;
#[cfg(feature = "test_utils")]
pub(crate) use replicas::Replicas;
pub(crate) use send::send_client_messages;
#[cfg(feature = "netcode")]
pub(crate) use session::{ClientSession, Handshake};

/// The client's system sets, in pipeline order.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientSet {
    /// `PreUpdate`, after [`RenetReceive`]: connection state, then replication from the server
    /// (spawns, despawns, components, resources), server messages, then the [`ClientTimeline`].
    Receive,
    /// `PreUpdate`, after [`ClientSet::Receive`]: predicted entities are compared with the
    /// server's states and corrected (re-simulating `FixedMain`), and the client's clock is kept
    /// at the input tick.
    Predict,
    /// `PreUpdate`, after [`ClientSet::Receive`]: interpolated components take their value at
    /// the interpolation tick. Read drawn state after it.
    Interpolate,
    /// `PostUpdate`, before [`RenetSend`]: client messages, then one update frame with the
    /// acknowledgements and inputs. Write [`LocalInput`](crate::shared::input::LocalInput)
    /// before it.
    Send,
}

/// Steps inside [`ClientSet::Send`], in order.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ClientSendStep {
    Messages,
    Inputs,
    /// Held entities' values into the update's owned-values section (client authority).
    Authority,
    Update,
}

/// Receives replication from a server. Part of [`NetsyncPlugins`](crate::NetsyncPlugins).
#[derive(Default)]
pub struct ClientPlugin;

impl Plugin for ClientPlugin {
    fn build(&self, app: &mut App) {
        app.world_mut()
            .get_resource_or_init::<crate::shared::sides::Sides>()
            .client = true;
        if !app.is_plugin_added::<RenetClientPlugin>() {
            app.add_plugins(RenetClientPlugin);
        }
        if !app.is_plugin_added::<StatesPlugin>() {
            app.add_plugins(StatesPlugin);
        }
        let client_exists = resource_exists::<RenetClient>;
        app.init_state::<ClientState>()
            .init_resource::<LastDisconnect>()
            .init_resource::<ClientTimeline>()
            .init_resource::<InterpolationSettings>()
            .init_resource::<session::ClientSession>()
            .init_resource::<replicas::Replicas>()
            .init_resource::<ComponentReceivers>()
            .init_resource::<held_messages::HeldMessages>()
            .init_resource::<send::OutgoingInputs>()
            .init_resource::<send::SeenHistory>()
            .init_resource::<crate::shared::entity_map::ServerEntityMap>()
            .configure_sets(
                PreUpdate,
                (
                    ClientSet::Receive,
                    ClientSet::Predict,
                    ClientSet::Interpolate,
                )
                    .chain()
                    .after(RenetReceive),
            )
            .configure_sets(
                PostUpdate,
                ClientSet::Send.before(RenetSend).run_if(client_exists),
            )
            .configure_sets(
                PostUpdate,
                (
                    ClientSendStep::Messages,
                    ClientSendStep::Inputs,
                    ClientSendStep::Authority,
                    ClientSendStep::Update,
                )
                    .chain()
                    .in_set(ClientSet::Send),
            )
            .add_systems(
                PreUpdate,
                (
                    connection::update_connection,
                    receive::receive_from_server.run_if(client_exists),
                    timeline::advance_timeline.run_if(client_exists),
                    diagnostics::record_diagnostics,
                )
                    .chain()
                    .in_set(ClientSet::Receive),
            )
            .add_systems(
                PostUpdate,
                (send::note_shown_tick, send::send_update)
                    .chain()
                    .in_set(ClientSendStep::Update),
            )
            .add_systems(
                PostUpdate,
                crate::shared::link::flush_simulated_link
                    .run_if(resource_exists::<SimulatedLink>)
                    .after(ClientSendStep::Update)
                    .in_set(ClientSet::Send),
            )
            .add_systems(FixedPostUpdate, save_predictions);
        prediction::plugin(app);
        authority::plugin(app);
        diagnostics::register(app);
    }
}

/// Records every predicted component's value for the tick just simulated.
fn save_predictions(world: &mut World) {
    let Some(tick) = world.resource::<PredictedTick>().tick() else {
        return;
    };
    if world.resource::<PredictionRegistry>().components.is_empty() {
        return;
    }
    scoped(world, |world, registry: &mut PredictionRegistry| {
        for component in &mut registry.components {
            component.save(world, tick);
        }
    });
}
