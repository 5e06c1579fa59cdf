//! An in-process network for tests (feature `test_utils`): one server [`App`] and any number
//! of client Apps, connected through renet without sockets, with time stepped by hand and a
//! seeded [`LinkConditioner`] on each direction.
//!
//! ```
//! use bevy::prelude::*;
//! use bevy_netsync::prelude::*;
//! use bevy_netsync::testing::TestNet;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Component, Serialize, Deserialize, PartialEq, Debug)]
//! struct Score(u32);
//!
//! let mut net = TestNet::new(|app| {
//!     app.replicate::<Score>();
//! });
//! let client = net.add_client();
//! net.server_mut().world_mut().spawn((Replicated, Score(7)));
//! net.run(10);
//!
//! let world = net.client_mut(client).world_mut();
//! let score = world.query::<&Score>().single(world).unwrap();
//! assert_eq!(*score, Score(7));
//! ```

use core::time::Duration;
use std::{sync::Arc, time::Instant};

use bevy::prelude::*;
use bevy_renet::{
    RenetClient, RenetServer,
    renet::{self, ClientId},
};

mod apps;
mod cpu_clock;
#[cfg(feature = "client")]
mod fuzz;
#[cfg(feature = "client")]
pub use fuzz::{FuzzClient, client_bookkeeping_bytes, client_receive};
#[cfg(all(feature = "server", feature = "client"))]
mod fuzz_authority;
#[cfg(all(feature = "client", feature = "server", feature = "netcode"))]
mod fuzz_transport;
#[cfg(all(feature = "server", feature = "client"))]
pub use fuzz_authority::FuzzAuthority;
#[cfg(all(feature = "client", feature = "server", feature = "netcode"))]
pub use fuzz_transport::{FuzzClientTransport, FuzzServerTransport};

pub use crate::shared::link::{LinkConditioner, LinkTraffic, SplitMix64};
/// The crate's frame encoders and decoders, for tests that craft frames by hand.
pub use crate::shared::wire::frames as wire;
pub use cpu_clock::{peak_rss_bytes, process_cpu_time, reset_peak_rss};

use apps::{Plugins, Side, base_app, finish};

use crate::shared::{channels::connection_config, link::Link};

/// The length of one [`TestNet::step`]: one 60 Hz frame.
pub const STEP: Duration = Duration::from_nanos(16_666_667);

type Protocol = Arc<dyn Fn(&mut App) + Send + Sync>;

/// A server App and client Apps joined by simulated links. See the [module](self) docs.
pub struct TestNet {
    server: App,
    clients: Vec<TestClient>,
    protocol: Protocol,
    plugins: Plugins,
    rng: SplitMix64,
    now: Duration,
    next_client_id: ClientId,
    default_link: LinkConditioner,
    last_server_time: Duration,
    last_server_cpu: Option<Duration>,
    last_clients_time: Duration,
}

struct TestClient {
    app: App,
    id: ClientId,
    down: Link,
    up: Link,
    /// Whether the server still has this client's connection.
    attached: bool,
    /// Where a client that left on purpose ([`TestNet::disconnect`]) is in closing.
    leaving: Leaving,
}

/// A client leaving on purpose, as the netcode transport does it: the goodbye goes first, and
/// the connection closes one frame after it had its chance to arrive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Leaving {
    #[default]
    No,
    /// The goodbye is on its way.
    SaidGoodbye,
    /// The goodbye was delivered (or lost): the connection closes at the next step.
    Closing,
}

impl TestNet {
    /// A server App built with `protocol` (also run on every client App). The RNG seed is 0;
    /// links are perfect until set.
    pub fn new(protocol: impl Fn(&mut App) + Send + Sync + 'static) -> Self {
        Self::build(protocol, Plugins::Both)
    }

    /// Like [`new`](Self::new), but each App carries only its own side, as a dedicated server
    /// and its players' clients are built: the server App without
    /// [`ClientPlugin`](crate::client::ClientPlugin), client Apps without
    /// [`ServerPlugin`](crate::server::ServerPlugin). Host mode needs [`new`](Self::new).
    pub fn dedicated(protocol: impl Fn(&mut App) + Send + Sync + 'static) -> Self {
        Self::build(protocol, Plugins::OwnSide)
    }

    fn build(protocol: impl Fn(&mut App) + Send + Sync + 'static, plugins: Plugins) -> Self {
        let protocol: Protocol = Arc::new(protocol);
        let mut server = base_app(&protocol, plugins, Side::Server);
        server.insert_resource(RenetServer::new(connection_config()));
        finish(&mut server);
        Self {
            server,
            clients: Vec::new(),
            protocol,
            plugins,
            rng: SplitMix64::new(0),
            now: Duration::ZERO,
            next_client_id: 1,
            default_link: LinkConditioner::PERFECT,
            last_server_time: Duration::ZERO,
            last_server_cpu: None,
            last_clients_time: Duration::ZERO,
        }
    }

    /// Reseeds the link randomness.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng = SplitMix64::new(seed);
        self
    }

    /// The conditioner clients added from now on get in both directions.
    pub fn with_default_link(mut self, link: LinkConditioner) -> Self {
        self.default_link = link;
        self
    }

    /// Connects a new client; returns its index.
    pub fn add_client(&mut self) -> usize {
        self.add_client_with(|_| {})
    }

    /// Connects a new client whose App is changed by `customize` after the protocol (for
    /// example to register something the server does not have).
    pub fn add_client_with(&mut self, customize: impl FnOnce(&mut App)) -> usize {
        let id = self.next_client_id;
        self.next_client_id += 1;
        let mut app = base_app(&self.protocol, self.plugins, Side::Client);
        customize(&mut app);
        let mut client = RenetClient::new(connection_config());
        client.set_connected();
        app.insert_resource(client);
        finish(&mut app);
        self.server
            .world_mut()
            .resource_mut::<RenetServer>()
            .add_connection(id);
        self.clients.push(TestClient {
            app,
            id,
            down: Link::new(self.default_link),
            up: Link::new(self.default_link),
            attached: true,
            leaving: Leaving::No,
        });
        self.clients.len() - 1
    }

    /// Sets the conditioner of both directions of a client's link.
    pub fn set_link(&mut self, client: usize, link: LinkConditioner) {
        self.set_links(client, link, link);
    }

    /// Sets the server → client (`down`) and client → server (`up`) conditioners.
    pub fn set_links(&mut self, client: usize, down: LinkConditioner, up: LinkConditioner) {
        let client = &mut self.clients[client];
        client.down.conditioner = down;
        client.up.conditioner = up;
    }

    /// Advances every App by one [`STEP`] and moves the packets that are due.
    pub fn step(&mut self) {
        let now = self.now;
        let started = Instant::now();
        let cpu_started = process_cpu_time();
        // Client → server packets that arrived.
        for client in &mut self.clients {
            let packets = client.up.deliver(now);
            if !client.attached {
                continue;
            }
            let mut server = self.server.world_mut().resource_mut::<RenetServer>();
            if client.leaving == Leaving::Closing {
                // Netcode's disconnect, a frame after the goodbye (the server transport defers
                // it the same way), so both sides report `ClientLeft`.
                client.attached = false;
                client.leaving = Leaving::No;
                client.up.clear();
                server.remove_connection(client.id);
                continue;
            }
            for packet in packets {
                let _ = server.process_packet_from(&packet, client.id);
            }
            if client.leaving == Leaving::SaidGoodbye && client.up.is_empty() {
                client.leaving = Leaving::Closing;
            }
        }

        self.server.update();

        // What the transport does after the server's frame: close connections the server
        // disconnected, then send its packets.
        let mut server = self.server.world_mut().resource_mut::<RenetServer>();
        for id in server.disconnections_id() {
            server.remove_connection(id);
            if let Some(client) = self.clients.iter_mut().find(|client| client.id == id) {
                client.attached = false;
                client.down.clear();
                if let Some(mut renet) = client.app.world_mut().get_resource_mut::<RenetClient>() {
                    renet.disconnect_due_to_transport();
                }
            }
        }
        for client in &mut self.clients {
            if !client.attached {
                continue;
            }
            if let Ok(packets) = server.get_packets_to_send(client.id) {
                for packet in packets {
                    client.down.send(now, packet, &mut self.rng);
                }
            }
        }
        self.last_server_time = started.elapsed();
        self.last_server_cpu = cpu_started
            .zip(process_cpu_time())
            .map(|(start, end)| end.saturating_sub(start));
        let clients_started = Instant::now();

        // Each client receives, runs its frame, and sends.
        for client in &mut self.clients {
            let packets = client.down.deliver(now);
            if let Some(mut renet) = client.app.world_mut().get_resource_mut::<RenetClient>() {
                for packet in packets {
                    renet.process_packet(&packet);
                }
            }
            client.app.update();
            let Some(mut renet) = client.app.world_mut().get_resource_mut::<RenetClient>() else {
                continue;
            };
            if renet.is_disconnected() {
                if client.attached && client.leaving == Leaving::No {
                    // A netcode client tells the server it leaves.
                    client.attached = false;
                    client.up.clear();
                    server.remove_connection(client.id);
                }
                continue;
            }
            for packet in renet.get_packets_to_send() {
                client.up.send(now, packet, &mut self.rng);
            }
        }
        self.last_clients_time = clients_started.elapsed();
        self.now += STEP;
    }

    /// Runs `steps` steps.
    pub fn run(&mut self, steps: usize) {
        for _ in 0..steps {
            self.step();
        }
    }

    /// Steps until `done` holds (checked after each step) or `max_steps` ran; returns whether
    /// it held.
    pub fn run_until(&mut self, max_steps: usize, mut done: impl FnMut(&mut Self) -> bool) -> bool {
        for _ in 0..max_steps {
            self.step();
            if done(self) {
                return true;
            }
        }
        false
    }

    /// Wall-clock time the server took in the last step: taking in the clients' packets, its App
    /// update, and renet's packet building for every client. For benchmarks; tests should not
    /// assert on it.
    pub fn last_server_time(&self) -> Duration {
        self.last_server_time
    }

    /// The process's CPU time (every thread) over the same part of the last step as
    /// [`last_server_time`](Self::last_server_time); `None` where the clock is unavailable.
    pub fn last_server_cpu_time(&self) -> Option<Duration> {
        self.last_server_cpu
    }

    /// Wall time of the last step's client frames, all clients together (receive, frame, send).
    pub fn last_clients_time(&self) -> Duration {
        self.last_clients_time
    }

    /// Simulated time since the start.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// The server App.
    pub fn server(&self) -> &App {
        &self.server
    }

    /// The server App, mutably.
    pub fn server_mut(&mut self) -> &mut App {
        &mut self.server
    }

    /// Spawns `bundle` in the server's world and returns the server entity. Include
    /// [`Replicated`](crate::server::Replicated) to replicate it.
    pub fn spawn_on_server(&mut self, bundle: impl Bundle) -> Entity {
        self.server.world_mut().spawn(bundle).id()
    }

    /// The slot the server names a replicated entity by on the wire (for frames crafted by
    /// hand), once a send noted it.
    #[cfg(feature = "server")]
    pub fn server_slot(&self, entity: Entity) -> Option<u32> {
        self.server
            .world()
            .resource::<crate::server::replicated_world::ReplicatedWorld>()
            .slot_of(entity)
    }

    /// A client App.
    pub fn client(&self, client: usize) -> &App {
        &self.clients[client].app
    }

    /// A client App, mutably.
    pub fn client_mut(&mut self, client: usize) -> &mut App {
        &mut self.clients[client].app
    }

    /// Number of clients ever added (disconnected ones included).
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// The transport id of a client.
    pub fn client_id(&self, client: usize) -> ClientId {
        self.clients[client].id
    }

    /// Whether the server still has the client's connection.
    pub fn is_attached(&self, client: usize) -> bool {
        self.clients[client].attached
    }

    /// Server → client counters of a client's link.
    pub fn downstream(&self, client: usize) -> LinkTraffic {
        self.clients[client].down.traffic
    }

    /// Heap bytes the server's replication state for a client holds (its slot table, frames
    /// waiting for acknowledgement, pending despawns and transfers); `None` once the server
    /// forgot the client.
    #[cfg(feature = "server")]
    pub fn server_bytes_held(&mut self, client: usize) -> Option<usize> {
        let id = self.clients[client].id;
        let world = self.server.world_mut();
        let mut clients = world.query::<(
            &crate::server::ConnectedClient,
            &crate::server::client_replication::ClientReplication,
        )>();
        clients
            .iter(world)
            .find(|(connected, _)| connected.id() == id)
            .map(|(_, replication)| replication.held_bytes())
    }

    /// Client → server counters of a client's link.
    pub fn upstream(&self, client: usize) -> LinkTraffic {
        self.clients[client].up.traffic
    }

    /// Sends raw bytes from a client on a renet channel, bypassing the plugin (for testing
    /// how the server handles misbehaving clients).
    pub fn send_raw(&mut self, client: usize, channel: u8, bytes: Vec<u8>) {
        if let Some(mut renet) = self.clients[client]
            .app
            .world_mut()
            .get_resource_mut::<RenetClient>()
        {
            renet.send_message(channel, renet::Bytes::from(bytes));
        }
    }

    /// Connects a client whose connection ended (it left, or the server dropped it) again, as
    /// a new connection with a new id, keeping its App (what a game's reconnect does).
    /// Returns the new id; a client still connected is left alone.
    pub fn reconnect(&mut self, client: usize) -> ClientId {
        let entry = &mut self.clients[client];
        if entry.attached {
            return entry.id;
        }
        let id = self.next_client_id;
        self.next_client_id += 1;
        let mut renet = RenetClient::new(connection_config());
        renet.set_connected();
        entry.app.insert_resource(renet);
        entry.id = id;
        entry.attached = true;
        entry.leaving = Leaving::No;
        entry.down.clear();
        entry.up.clear();
        self.server
            .world_mut()
            .resource_mut::<RenetServer>()
            .add_connection(id);
        id
    }

    /// Leaves the server from the client side, as
    /// [`transport::disconnect`](crate::transport::disconnect) does over UDP: the client says
    /// goodbye, and the connection closes a step after the goodbye had its chance to arrive.
    /// Both sides then report
    /// [`DisconnectReason::ClientLeft`](crate::shared::disconnect::DisconnectReason::ClientLeft)
    /// (the server [`ConnectionLost`](crate::shared::disconnect::DisconnectReason::ConnectionLost)
    /// if the link lost the goodbye, as over UDP).
    pub fn disconnect(&mut self, client: usize) {
        let now = self.now;
        let entry = &mut self.clients[client];
        if !entry.attached || entry.leaving != Leaving::No {
            return;
        }
        let world = entry.app.world_mut();
        let Some(mut renet) = world.remove_resource::<RenetClient>() else {
            return;
        };
        if renet.is_connected() {
            let goodbye = renet::Bytes::from(vec![crate::shared::wire::client_kind::GOODBYE]);
            let channel = crate::shared::channels::RELIABLE_CHANNEL;
            if let Some(mut capture) =
                world.get_resource_mut::<crate::shared::capture::NetCapture>()
            {
                capture.client_sent(channel, &goodbye);
            }
            renet.send_message(channel, goodbye);
            for packet in renet.get_packets_to_send() {
                entry.up.send(now, packet, &mut self.rng);
            }
        }
        renet.disconnect();
        world.insert_resource(renet);
        #[cfg(feature = "client")]
        if let Some(mut session) = world.get_resource_mut::<crate::client::ClientSession>()
            && session.closing_reason.is_none()
        {
            session.closing_reason = Some(crate::shared::disconnect::DisconnectReason::ClientLeft);
        }
        entry.leaving = Leaving::SaidGoodbye;
    }
}
