//! # bevy_netsync
//!
//! Server-authoritative multiplayer for Bevy. The server simulates; clients receive
//! replicated ECS components over [renet](bevy_renet::renet) channels and exchange typed
//! messages with it.
//!
//! ## The protocol
//!
//! Write one function that registers what travels, and call it on the server and on every
//! client, in the same order:
//!
//! ```
//! use bevy::prelude::*;
//! use bevy_netsync::prelude::*;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Component, Serialize, Deserialize, Clone, PartialEq, Debug)]
//! struct Health(u32);
//!
//! /// A component that names another entity: mapped to the client's entity on arrival.
//! #[derive(Component, Serialize, Deserialize, Clone, PartialEq, Debug)]
//! struct Target(#[entities] Entity);
//!
//! #[derive(Message, Serialize, Deserialize, Clone, Debug)]
//! struct Chat(String);
//!
//! #[derive(Message, Serialize, Deserialize, Clone, Debug)]
//! struct ChatLine { from: u64, text: String }
//!
//! fn protocol(app: &mut App) {
//!     app.replicate::<Health>()
//!         .replicate::<Target>()
//!         .add_client_message::<Chat>(Channel::Reliable)
//!         .add_server_message::<ChatLine>(Channel::Reliable);
//! }
//!
//! // Server: add the plugins, the protocol, and a `RenetServer` from a transport.
//! let mut server = App::new();
//! server.add_plugins((MinimalPlugins, NetsyncPlugins::default()));
//! protocol(&mut server);
//!
//! // Replicate an entity by marking it.
//! server.world_mut().spawn((Replicated, Health(100)));
//!
//! // Client: the same plugins and protocol, and a `RenetClient` from a transport.
//! let mut client = App::new();
//! client.add_plugins((MinimalPlugins, NetsyncPlugins::default()));
//! protocol(&mut client);
//!
//! // Both sides agree on the protocol fingerprint checked at connect time.
//! assert_eq!(
//!     server.world().resource::<ProtocolHash>(),
//!     client.world().resource::<ProtocolHash>()
//! );
//! ```
//!
//! ## What happens on the wire
//!
//! - Once per server tick (a `FixedUpdate` step, 60 Hz by default) the server notes what
//!   changed on [`Replicated`](server::Replicated) entities and encodes each changed value once,
//!   for every client that needs it.
//! - Each client gets one bit-packed stream of state frames on an unreliable channel: spawns
//!   (whole entities), despawns, inserts, removals and values, entity ids and component indices
//!   in a few bits, values delta-coded against the last value that client acknowledged. Lost
//!   frames cost a resend of what is still unacknowledged, never a stall; an idle world sends a
//!   heartbeat a few times a second and nothing else.
//! - A per-client budget ([`ServerConfig::bytes_per_second`](server::ServerConfig)) bounds what
//!   a client receives; within it entities go by accumulating priority
//!   ([`ReplicationPriority`](server::ReplicationPriority), [`PriorityHook`](server::PriorityHook)).
//! - Values above [`LARGE_VALUE_BYTES`](server::LARGE_VALUE_BYTES) travel in acknowledged
//!   slices; a value above [`MAX_VALUE_BYTES`](shared::codec::MAX_VALUE_BYTES) (8 MiB) is refused
//!   on the server with a [`ValueRefused`](server::ValueRefused) event.
//! - A client applies every server change once, a spawn as a whole entity, and never rolls a
//!   value back for a late packet. Game messages sent with a change arrive after it.
//! - Values are encoded by the component's [`ComponentCodec`](shared::codec::ComponentCodec):
//!   serde + bincode by default. For `Transform`, register
//!   [`TransformCodec`](shared::transform_codec::TransformCodec) (1 mm positions,
//!   smallest-three rotations, deltas from the acknowledged value):
//!   `app.replicate_with::<Transform>(TransformCodec::default())`.
//! - To see it: insert a [`NetCapture`](shared::capture::NetCapture) and every message sent
//!   and received goes, decoded, into a pcapng file for tshark or Wireshark.
//!
//! ## Hierarchy, resources, interest
//!
//! ```
//! use bevy::prelude::*;
//! use bevy_netsync::{prelude::*, server::{Rooms, RoomId, ViewPoint}};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Resource, Serialize, Deserialize, Clone, PartialEq, Debug)]
//! struct MatchClock(u32);
//!
//! let mut server = App::new();
//! server
//!     .add_plugins((MinimalPlugins, NetsyncPlugins::default()))
//!     .replicate::<Transform>()
//!     .replicate::<ChildOf>() // children stay children of their parent's copy
//!     .replicate_resource::<MatchClock>(); // a server resource on every client
//!
//! let world = server.world_mut();
//! world.insert_resource(MatchClock(90));
//! let tank = world.spawn((Replicated, Transform::default())).id();
//! world.spawn((Replicated, Transform::default(), ChildOf(tank)));
//!
//! // Interest: a client with a `ViewPoint` receives what lies within its radius (children go
//! // with their root); `Rooms` and a `RelevanceRule` narrow it further.
//! let client = world.spawn_empty().id(); // in a game: the client's `ConnectedClient` entity
//! world.entity_mut(client).insert(ViewPoint::following(tank, 50.0));
//! world.entity_mut(tank).insert(Rooms::new([RoomId(1)]));
//! ```
//!
//! ## Prediction
//!
//! ```
//! use bevy::prelude::*;
//! use bevy_netsync::prelude::*;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Clone, Copy, Default, PartialEq, Debug)]
//! struct Stick(Vec2);
//!
//! // Runs on the server for every controlled entity, and on a client for the ones it predicts,
//! // also when re-simulating after a correction.
//! fn walk(mut walkers: Query<(&TickInput<Stick>, &mut Transform), Simulated>) {
//!     for (input, mut transform) in &mut walkers {
//!         transform.translation += input.input.0.extend(0.0) * 0.1;
//!     }
//! }
//!
//! let mut app = App::new();
//! app.add_plugins((MinimalPlugins, NetsyncPlugins::default()))
//!     .replicate::<Transform>()
//!     .interpolate::<Transform>()
//!     .predict::<Transform>()
//!     .add_input::<Stick>()
//!     .add_systems(FixedUpdate, walk);
//! // Server: `commands.spawn((Replicated, Transform::default(), ControlledBy { client_id }))`.
//! ```
//!
//! ## Lag compensation
//!
//! Clients draw others in the past and their inputs arrive later still; with each input a
//! client says what its screen showed, and the server resolves a shot against that. Mark what
//! can be hit with [`LagCompensated`](server::LagCompensated) and ask
//! [`LagCompensation`](server::LagCompensation) (a system parameter) in `FixedUpdate`:
//!
//! ```
//! use bevy::prelude::*;
//! use bevy_netsync::{prelude::*, server::{HitShape, LagCompensated, LagCompensation}};
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Serialize, Deserialize, Clone, Copy, Default, PartialEq, Debug)]
//! # struct Trigger(bool);
//!
//! fn rail(shooters: Query<(Entity, &Transform, &ControlledBy, &TickInput<Trigger>)>, lag: LagCompensation) {
//!     for (shooter, transform, controller, input) in &shooters {
//!         if input.input.0 && !input.repeated {
//!             let ray = Ray3d::new(transform.translation, transform.forward());
//!             for hit in lag.cast(controller.client_id, input.tick, ray, 0.0, 50.0, &[shooter]) {
//!                 info!("hit {} at {} m", hit.entity, hit.distance);
//!             }
//!         }
//!     }
//! }
//!
//! let mut server = App::new();
//! server
//!     .add_plugins((MinimalPlugins, NetsyncPlugins::default()))
//!     .add_input::<Trigger>()
//!     .add_systems(FixedUpdate, rail);
//! server.world_mut().spawn((
//!     Replicated,
//!     Transform::default(),
//!     LagCompensated::new(HitShape::Sphere { radius: 0.5 }),
//! ));
//! ```
//!
//! ## Client authority
//!
//! A client may own what it holds: register a type with
//! [`replicate_client_authoritative`](AuthorityAppExt::replicate_client_authoritative), give the
//! server a rule for it with [`validate_authority`](AuthorityAppExt::validate_authority), and
//! hand entities to clients with [`grant_authority`](server::AuthorityCommandsExt). The holder's
//! copy gets [`HasAuthority`](client::HasAuthority); the game moves it there, and the values go
//! upstream, through the rule, to everyone else. The server stays the referee: only holders'
//! values of registered types are read, each is checked, and a client that keeps writing what it
//! does not hold is disconnected.
//!
//! ```
//! use bevy::prelude::*;
//! use bevy_netsync::prelude::*;
//! # use serde::{Deserialize, Serialize};
//! #[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Debug)]
//! struct Lamp { on: bool }
//!
//! fn protocol(app: &mut App) {
//!     app.replicate_client_authoritative::<Lamp>();
//! }
//!
//! let mut server = App::new();
//! server.add_plugins((MinimalPlugins, NetsyncPlugins::default()));
//! protocol(&mut server);
//! // Lamps may be switched on, never off, by their holder.
//! server.validate_authority::<Lamp>(|proposal| {
//!     if proposal.proposed.on { Verdict::Accept } else { Verdict::Reject }
//! });
//! let lamp = server.world_mut().spawn((Replicated, Lamp { on: false })).id();
//! // The host's own player holds it now; a connected client the same way, by its id (from a
//! // system: `commands.entity(lamp).grant_authority(client_id)`).
//! use bevy_netsync::server::{LOCAL_CLIENT_ID, set_authority};
//! set_authority(server.world_mut(), lamp, Some(LOCAL_CLIENT_ID));
//! let holder = HeldBy { client_id: LOCAL_CLIENT_ID };
//! assert_eq!(server.world().get::<HeldBy>(lamp), Some(&holder));
//! // A client that is not connected is refused.
//! set_authority(server.world_mut(), lamp, Some(7));
//! assert_eq!(server.world().get::<HeldBy>(lamp), Some(&holder));
//!
//! // On the client: switch on the lamps this client holds.
//! fn switch(mut lamps: Query<&mut Lamp, With<HasAuthority>>) {
//!     for mut lamp in &mut lamps {
//!         lamp.on = true;
//!     }
//! }
//! let mut client = App::new();
//! client.add_plugins((MinimalPlugins, NetsyncPlugins::default()));
//! protocol(&mut client);
//! client.add_systems(FixedUpdate, switch);
//! ```
//!
//! ## Connections
//!
//! On the server each client that completed the handshake is an entity with
//! [`ConnectedClient`](server::ConnectedClient): observe `On<Add, ConnectedClient>` to give it
//! a player, and [`ClientDisconnected`](server::ClientDisconnected) to see why it left. On the
//! client, [`ClientState`](client::ClientState) is a Bevy `States`, and
//! [`LastDisconnect`](client::LastDisconnect) says why the last connection ended. A client
//! whose protocol differs, or that sends malformed or oversized data, is disconnected with a
//! [`DisconnectReason`](shared::disconnect::DisconnectReason); the others are not disturbed.
//!
//! ## Real networking
//!
//! With the default `netcode` feature, [`transport::start_server`] and [`transport::connect`]
//! put an App on renet's netcode UDP transport (unsecure for development, or secure with
//! connect tokens from a [`transport::TokenIssuer`]). Host mode (a listen server) is a server
//! plus [`spawn_local_client`](server::spawn_local_client): the host's player is a client like
//! any other, without a socket.
//!
//! ## Inputs and interpolation
//!
//! ```
//! use bevy::prelude::*;
//! use bevy_netsync::prelude::*;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Clone, Copy, Default, PartialEq, Debug)]
//! struct Steer { x: f32, fire: bool }
//!
//! let mut app = App::new();
//! app.add_plugins((MinimalPlugins, NetsyncPlugins::default()))
//!     .replicate::<Transform>()
//!     .interpolate::<Transform>() // remote entities drawn between snapshots
//!     .add_input::<Steer>();      // tick-stamped, redundant, lead-adjusted
//!
//! // Client: write the local player's input every frame.
//! app.world_mut().resource_mut::<LocalInput<Steer>>().0 = Steer { x: 1.0, fire: false };
//!
//! // Server: in `FixedUpdate`, read each client's input for the tick being simulated.
//! fn steer(inputs: Query<(&ConnectedClient, &ClientInput<Steer>)>) {
//!     for (client, input) in &inputs {
//!         let _ = (client.id(), input.input.x, input.repeated);
//!     }
//! }
//! app.add_systems(FixedUpdate, steer);
//! ```
//!
//! The client's [`ClientTimeline`](client::ClientTimeline) estimates the server's tick and
//! derives the interpolation tick (behind the newest snapshot by an adaptive delay) and the
//! input tick (ahead of the server by just enough).
//!
//! ## Seeing what the network does
//!
//! Both sides put their figures in Bevy's `DiagnosticsStore`: a client's under
//! [`NetsyncDiagnostics`](client::NetsyncDiagnostics) (round trip, jitter, loss, bytes,
//! interpolation delay, input lead, rollbacks), a server's once a second under
//! [`NetsyncServerDiagnostics`](server::NetsyncServerDiagnostics) (clients, tick time p50 and
//! p99, bytes out per client, budget use, junk datagrams dropped). Each connected client's own
//! figures are on its entity as [`ClientNetStats`](server::ClientNetStats). With the `overlay`
//! feature, `overlay::NetsyncOverlayPlugin` graphs the last 15 seconds of them on screen and
//! lists the connected clients, behind a key the game chooses.
//!
//! ## Running in a fleet
//!
//! With the `fleet` feature, `fleet::FleetPlugin` makes a dedicated server a member of an
//! [Agones](https://agones.dev) fleet: it reports Ready once listening, health from the game
//! loop, players joining and leaving, follows the game server's state (an allocation starts a
//! match) and shuts down when the match is over or the server stays empty.
//!
//! ## Testing your game
//!
//! With the `test_utils` feature, `testing::TestNet` runs a server App and client Apps in
//! one process with deterministic time and a link conditioner (latency, jitter, loss,
//! duplication, reordering).

#![warn(missing_docs)]
// With only one side compiled in, shared registries keep functions the other side uses.
#![cfg_attr(not(all(feature = "server", feature = "client")), allow(dead_code))]

mod app_ext;
mod authority_app_ext;
#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "fleet")]
pub mod fleet;
#[cfg(feature = "overlay")]
pub mod overlay;
#[cfg(feature = "server")]
pub mod server;
pub mod shared;
#[cfg(feature = "test_utils")]
pub mod testing;
#[cfg(feature = "netcode")]
pub mod transport;

use bevy::{
    app::{App, PluginGroup, PluginGroupBuilder},
    ecs::schedule::{Schedules, SingleThreadedExecutor},
};

pub use app_ext::NetsyncAppExt;
pub use authority_app_ext::AuthorityAppExt;

/// The names a game uses most.
pub mod prelude {
    #[cfg(feature = "client")]
    pub use crate::client::{
        AuthorityGained, AuthorityLost, ClientPlugin, ClientSet, ClientState, ClientTimeline,
        FromServer, Frozen, HasAuthority, InterpolationSettings, LastDisconnect,
        NetsyncDiagnostics, PredictedTick, ReleaseAuthority, RequestAuthority, SpawnOwned,
    };
    #[cfg(feature = "server")]
    pub use crate::server::{
        AuthorityChanged, AuthorityCommandsExt, AuthorityRequested, AuthoritySettings,
        ClientDisconnected, ClientInput, ClientSpawnCommandsExt, ClientSpawnRequested,
        ConnectedClient, FreezeWhenHidden, InterestSettings, KickClient, LocalClient,
        NetsyncServerDiagnostics, PriorityHook, RelevanceRule, Replicated, ReplicationBudget,
        ReplicationPriority, RoomId, Rooms, ServerConfig, ServerPlugin, ServerSet, ValueRefused,
        ViewPoint, spawn_local_client,
    };
    pub use crate::{
        AuthorityAppExt, NetsyncAppExt, NetsyncPlugins,
        shared::{
            SharedPlugin,
            authority::{HeldBy, Proposal, Verdict},
            capture::{CaptureLimits, NetCapture},
            channels::Channel,
            client_ids::NamesClients,
            codec::{ComponentCodec, SerdeCodec},
            disconnect::DisconnectReason,
            entity_map::ServerEntityMap,
            error::{DecodeError, EncodeError},
            input::{LocalInput, NetInput},
            interpolate::{Interpolate, SnapshotBuffer},
            messages::{FromClient, SendMode, ToClients},
            prediction::{
                ControlledBy, Predicted, PredictionSettings, Resimulating, Simulated, SpawnedBy,
                TickInput, not_resimulating,
            },
            protocol::ProtocolHash,
            registry::NoInterpolation,
            tick::{NetTick, ServerTick},
            transform_codec::TransformCodec,
        },
    };
}

/// All of bevy_netsync's plugins: [`SharedPlugin`](shared::SharedPlugin), and
/// [`ServerPlugin`](server::ServerPlugin) and [`ClientPlugin`](client::ClientPlugin) when their
/// features are on (both are by default; each runs only while its renet resource exists, so
/// one App can be a server, a client, or switch).
///
/// Configure a member with `NetsyncPlugins::default().set(ServerPlugin { .. })`.
///
/// A dedicated server that never plays may leave the client out, and save the client's
/// systems on every update (the same goes for a client-only build and the server):
///
/// Register the protocol after adding the plugins in such an App: they tell the registrations
/// which side's parts to add.
///
/// ```
/// # use bevy::prelude::*;
/// # use bevy_netsync::prelude::*;
/// # #[cfg(all(feature = "server", feature = "client"))]
/// # {
/// let mut app = App::new();
/// app.add_plugins((
///     MinimalPlugins,
///     NetsyncPlugins::default().build().disable::<ClientPlugin>(),
/// ));
/// app.update();
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct NetsyncPlugins {
    /// Server simulation rate: `FixedUpdate` steps (and [`NetTick`](shared::tick::NetTick)s)
    /// per second, on both sides.
    pub tick_rate_hz: f64,
}

impl Default for NetsyncPlugins {
    fn default() -> Self {
        Self { tick_rate_hz: 60.0 }
    }
}

impl PluginGroup for NetsyncPlugins {
    fn build(self) -> PluginGroupBuilder {
        let builder = PluginGroupBuilder::start::<Self>().add(shared::SharedPlugin {
            tick_rate_hz: self.tick_rate_hz,
        });
        #[cfg(feature = "server")]
        let builder = builder.add(server::ServerPlugin::default());
        #[cfg(feature = "client")]
        let builder = builder.add(client::ClientPlugin);
        #[cfg(feature = "netcode")]
        let builder = builder.add(transport::NetcodeTransportPlugin);
        builder
    }
}

/// Runs every schedule of `app`'s main world on one thread. Call it after adding all systems.
///
/// Small Apps (a dedicated server, bots, Apps in tests) are faster that way on few cores
/// (several times per update on 2 cores), and their systems run in the same order every time.
pub fn single_threaded(app: &mut App) {
    let mut schedules = app.world_mut().resource_mut::<Schedules>();
    for (_, schedule) in schedules.iter_mut() {
        schedule.set_executor(SingleThreadedExecutor::new());
    }
}
