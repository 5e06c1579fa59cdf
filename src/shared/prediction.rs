//! What client prediction shares between server and client: who controls an entity
//! ([`ControlledBy`]), the input it simulates each tick ([`TickInput`]), entities spawned by a
//! client's input ([`SpawnedBy`]), and how a game tells simulated entities ([`Simulated`]) and
//! re-simulation ([`Resimulating`]) apart.
//!
//! ```
//! use bevy::prelude::*;
//! use bevy_netsync::prelude::*;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Clone, Copy, Default, PartialEq, Debug)]
//! struct Walk(Vec2);
//!
//! fn protocol(app: &mut App) {
//!     app.replicate::<Transform>()
//!         .interpolate::<Transform>()
//!         .predict::<Transform>()
//!         .add_input::<Walk>()
//!         // One movement system for both sides: on the server it moves every controlled
//!         // entity, on a client the ones it predicts, also while re-simulating.
//!         .add_systems(FixedUpdate, walk);
//! }
//!
//! fn walk(time: Res<Time<Fixed>>, mut walkers: Query<(&TickInput<Walk>, &mut Transform), Simulated>) {
//!     for (input, mut transform) in &mut walkers {
//!         let step = input.input.0 * 5.0 * time.timestep().as_secs_f32();
//!         transform.translation += Vec3::new(step.x, 0.0, step.y);
//!     }
//! }
//!
//! let mut app = App::new();
//! app.add_plugins((MinimalPlugins, NetsyncPlugins::default()));
//! protocol(&mut app);
//! ```

use bevy::prelude::*;
use serde::{Deserialize, Serialize};

use super::{
    client_ids::NamesClients,
    tick::NetTick,
    tick_buffer::{SameTick, TickBuffer},
};

/// Which client controls an entity (its transport id). Replicated: on that client the entity is
/// predicted (it gets [`Predicted`]), everywhere else it is interpolated as usual. On the server
/// the entity gets the client's input each tick as [`TickInput`]. Registered by the first
/// [`predict`](crate::NetsyncAppExt::predict), with aliased ids: the controlling client sees its
/// own id here, every other client an alias (see [`client_ids`](super::client_ids)).
#[derive(Component, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Reflect)]
#[reflect(Component)]
pub struct ControlledBy {
    /// The controlling client's transport id
    /// ([`LOCAL_CLIENT_ID`](crate::server::LOCAL_CLIENT_ID) for the host's own player).
    pub client_id: u64,
}

impl NamesClients for ControlledBy {
    fn map_client_ids(&mut self, map: &mut dyn FnMut(u64) -> u64) {
        self.client_id = map(self.client_id);
    }
}

/// The input meant for the tick being simulated, on a controlled entity: on the server the
/// controlling client's input for this tick; on the predicting client its own recorded input
/// for this tick (also while re-simulating). Written in `FixedPreUpdate`; read it in
/// `FixedUpdate`.
#[derive(Component, Clone, Debug, Default, PartialEq)]
pub struct TickInput<I> {
    /// The input.
    pub input: I,
    /// The tick it is for.
    pub tick: NetTick,
    /// No input for this tick arrived (server) or was recorded (client): the last one, repeated.
    pub repeated: bool,
}

/// Identifies an entity spawned by a client's input (a projectile, say), the same on both sides:
/// the game spawns it in a shared `FixedUpdate` system with this component, on the server as a
/// replicated entity and on the predicting client at once; when the server's copy arrives it
/// takes over the client's, so there is never a duplicate. A predicted spawn the server does
/// not confirm in time ([`PredictionSettings::spawn_timeout`]) is despawned.
#[derive(Component, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Reflect)]
#[reflect(Component)]
pub struct SpawnedBy {
    /// The client whose input spawned it.
    pub client_id: u64,
    /// The tick of that input.
    pub tick: NetTick,
    /// Which of the entities spawned by that input at that tick (0 for the first).
    pub index: u16,
}

impl NamesClients for SpawnedBy {
    fn map_client_ids(&mut self, map: &mut dyn FnMut(u64) -> u64) {
        self.client_id = map(self.client_id);
    }
}

/// On a client: an entity this client predicts (it controls it, or spawned it). Its predicted
/// components follow the local simulation; values from the server are compared with what was
/// predicted for the same tick, and a difference rolls back and re-simulates.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq, Reflect)]
#[reflect(Component)]
pub struct Predicted;

/// The entities a shared simulation system should move: on the server every replicated
/// entity, on a client the ones it predicts (interpolated copies are left alone).
pub type Simulated = Or<(With<super::replicated::Replicated>, With<Predicted>)>;

/// Whether the client is re-simulating ticks after a correction (then `FixedUpdate` runs
/// several times in one frame). Systems that must not run again (sounds, effects, spawning)
/// check it, or use the [`not_resimulating`] run condition.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resimulating(pub bool);

/// Run condition: not re-simulating.
pub fn not_resimulating(resimulating: Option<Res<Resimulating>>) -> bool {
    !resimulating.is_some_and(|resimulating| resimulating.0)
}

/// Client prediction's tunables. Read by [`ClientSet`](crate::client::ClientSet) systems.
#[derive(Resource, Clone, Debug, PartialEq)]
pub struct PredictionSettings {
    /// Whether this client predicts the entities it controls. Off, they are interpolated like
    /// everyone else's (to compare, or for a spectator). Read when control is assigned, so set
    /// it before connecting.
    pub enabled: bool,
    /// Corrections deeper than this many ticks are not re-simulated: predicted entities snap
    /// to the server's newest state instead.
    pub max_rollback_ticks: u32,
    /// How long a correction takes to fade out of the rendered transform.
    pub correction_time: core::time::Duration,
    /// Corrections larger than this (metres) are shown at once: a teleport, not an error.
    pub snap_distance: f32,
    /// A predicted spawn the server has not confirmed after this long is despawned.
    pub spawn_timeout: core::time::Duration,
}

impl Default for PredictionSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            max_rollback_ticks: 60,
            correction_time: core::time::Duration::from_millis(150),
            snap_distance: 4.0,
            spawn_timeout: core::time::Duration::from_millis(1_500),
        }
    }
}

/// Most ticks of predicted values kept per entity.
pub(crate) const PREDICTION_HISTORY_TICKS: usize = 128;

/// A predicted component's values as this client predicted them, by tick. Written every
/// predicted tick (and re-simulated tick) in `FixedPostUpdate`.
#[derive(Component, Debug)]
pub(crate) struct PredictionHistory<C> {
    pub(crate) values: TickBuffer<C, PREDICTION_HISTORY_TICKS>,
}

impl<C> Default for PredictionHistory<C> {
    fn default() -> Self {
        Self {
            values: TickBuffer::default(),
        }
    }
}

impl<C> PredictionHistory<C> {
    /// Records the value predicted for `tick` (replacing values predicted before for it and
    /// after it).
    pub(crate) fn record(&mut self, tick: NetTick, value: C) {
        self.values.push_replacing_newer(tick, value);
    }

    /// The value predicted for `tick`.
    pub(crate) fn at(&self, tick: NetTick) -> Option<&C> {
        self.values.get(tick)
    }

    /// The oldest tick held.
    pub(crate) fn oldest(&self) -> Option<NetTick> {
        self.values.oldest_tick()
    }
}

/// Values of a predicted component received from the server, by the tick of the frame they
/// came in (the server's state as of that tick), not yet compared with the prediction first.
#[derive(Component, Debug)]
pub(crate) struct Confirmed<C> {
    pub(crate) values: TickBuffer<C, CONFIRMED_TICKS>,
    /// How many of the newest values were not compared yet.
    pub(crate) unchecked: usize,
}

impl<C> Default for Confirmed<C> {
    fn default() -> Self {
        Self {
            values: TickBuffer::default(),
            unchecked: 0,
        }
    }
}

/// Most server values kept per predicted component.
const CONFIRMED_TICKS: usize = 64;

impl<C> Confirmed<C> {
    /// Adds the server's value as of `tick`.
    pub(crate) fn push(&mut self, tick: NetTick, value: C) {
        self.values.insert(tick, value, SameTick::Replace);
        self.unchecked = (self.unchecked + 1).min(self.values.len());
    }

    /// The server's value as of `tick`: the newest received at or before it.
    pub(crate) fn at(&self, tick: NetTick) -> Option<&C> {
        self.values.at_or_before(tick).map(|(_, value)| value)
    }

    /// The newest value and its tick.
    pub(crate) fn newest(&self) -> Option<(NetTick, &C)> {
        self.values.newest()
    }
}
