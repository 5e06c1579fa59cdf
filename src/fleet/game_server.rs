//! What the game knows of its Agones game server: [`FleetState`], [`FleetGameServer`] and
//! [`SdkConnection`], all written by [`FleetSet::Receive`](super::FleetSet::Receive).

use std::collections::BTreeMap;

use bevy::prelude::*;

/// Where the game server is in its fleet life, as the SDK server last reported it. A Bevy
/// `States`: `OnEnter(FleetState::Allocated)` is where a match starts.
#[derive(States, Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FleetState {
    /// Not Ready yet: being created or scheduled, Ready asked but not confirmed, or the SDK
    /// server not heard from.
    #[default]
    Starting,
    /// In the fleet's pool, waiting for a matchmaker to allocate it.
    Ready,
    /// Held out of the pool for a while (`Reserve`).
    Reserved,
    /// Given to a match by a `GameServerAllocation`: players are on their way.
    Allocated,
    /// Shutting down: Agones deletes the pod.
    Shutdown,
    /// Unhealthy or in error: Agones replaces the server.
    Unhealthy,
}

impl FleetState {
    /// The state named by Agones' `GameServer.status.state`.
    pub fn from_agones(state: &str) -> Self {
        match state {
            "Ready" => Self::Ready,
            "Reserved" => Self::Reserved,
            "Allocated" => Self::Allocated,
            "Shutdown" => Self::Shutdown,
            "Unhealthy" | "Error" => Self::Unhealthy,
            // PortAllocation, Creating, Starting, Scheduled, RequestReady, or nothing yet.
            _ => Self::Starting,
        }
    }
}

/// The game server's record as the SDK server last sent it (`GetGameServer` on connecting,
/// then every change from `WatchGameServer`): the labels and annotations a matchmaker set when
/// allocating, for instance. Default (empty) until the SDK server answered.
#[derive(Resource, Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetGameServer {
    /// The `GameServer`'s name (its pod's name).
    pub name: String,
    /// `status.state` as Agones spells it (`"Allocated"`); [`FleetState`] is its meaning.
    pub state: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `status.address`: the node's address players reach.
    pub address: String,
    /// `status.ports` by name: the host ports players reach.
    pub ports: BTreeMap<String, u16>,
}

impl FleetGameServer {
    pub(crate) fn from_sdk(record: &agones::GameServer) -> Self {
        let (name, labels, annotations) = record
            .object_meta
            .as_ref()
            .map(|meta| {
                (
                    meta.name.clone(),
                    sorted(&meta.labels),
                    sorted(&meta.annotations),
                )
            })
            .unwrap_or_default();
        let (state, address, ports) = record
            .status
            .as_ref()
            .map(|status| {
                let ports = status
                    .ports
                    .iter()
                    .filter_map(|port| Some((port.name.clone(), u16::try_from(port.port).ok()?)))
                    .collect();
                (status.state.clone(), status.address.clone(), ports)
            })
            .unwrap_or_default();
        Self {
            name,
            state,
            labels,
            annotations,
            address,
            ports,
        }
    }
}

impl FleetGameServer {
    /// Where players reach this server, as `ServerSettings::public_addresses` takes it:
    /// [`address`](Self::address) and the host port named `port_name` (or the only port, when
    /// none has that name). In a fleet the host port is picked by Agones when the pod is
    /// placed, so a server learns it here. `None` until the SDK server reported both.
    pub fn public_address(&self, port_name: &str) -> Option<String> {
        if self.address.is_empty() {
            return None;
        }
        let only = || match self.ports.len() {
            1 => self.ports.values().next(),
            _ => None,
        };
        let port = self.ports.get(port_name).or_else(only)?;
        Some(if self.address.contains(':') {
            format!("[{}]:{port}", self.address)
        } else {
            format!("{}:{port}", self.address)
        })
    }
}

fn sorted(map: &std::collections::HashMap<String, String>) -> BTreeMap<String, String> {
    map.iter()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// Whether the SDK worker reaches the SDK server.
#[derive(Resource, Debug, Clone, Default, PartialEq, Eq)]
pub enum SdkConnection {
    /// Not answered yet.
    #[default]
    Connecting,
    /// The SDK server answers.
    Connected,
    /// It could not be reached, or went away (why); the worker keeps trying.
    Unreachable(String),
}
