//! A stand-in for the Agones SDK server (the sidecar beside each game server of a fleet): the
//! SDK's gRPC services (`sdk_services.rs`) on 127.0.0.1. It records every call with the time it
//! arrived, keeps a game server record the way the real one does (Ready, Shutdown, players),
//! pushes changes to watchers, and can place, allocate, or stop as a crashed sidecar would.

#[path = "sdk_services.rs"]
mod services;

use std::{
    collections::{BTreeSet, HashMap},
    net::TcpListener,
    sync::{Arc, Mutex},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use agones::{GameServer, ObjectMeta, PlayerStatus, Port, Status};
use tokio::sync::{mpsc, oneshot};
use tonic::transport::{Server, server::TcpIncoming};

use services::{AlphaService, SdkService};

/// A call the stand-in received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    GetGameServer,
    WatchGameServer,
    Ready,
    Allocate,
    Shutdown,
    /// One health ping (a message on the `Health` stream).
    Health,
    SetLabel(String, String),
    SetAnnotation(String, String),
    Reserve(i64),
    SetPlayerCapacity(i64),
    PlayerConnect(String),
    PlayerDisconnect(String),
    /// Any other alpha call, by method name.
    OtherAlpha(String),
}

/// A call and when it arrived.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub call: Call,
    pub at: Instant,
}

/// What both services share.
pub(crate) struct Shared {
    calls: Mutex<Vec<Recorded>>,
    record: Mutex<GameServer>,
    pub(crate) watchers: Mutex<Vec<mpsc::UnboundedSender<GameServer>>>,
}

impl Shared {
    pub(crate) fn note(&self, call: Call) {
        self.calls.lock().unwrap().push(Recorded {
            call,
            at: Instant::now(),
        });
    }

    pub(crate) fn record(&self) -> GameServer {
        self.record.lock().unwrap().clone()
    }

    /// Changes the record and sends it to every watcher.
    pub(crate) fn change(&self, change: impl FnOnce(&mut GameServer)) {
        let record = {
            let mut record = self.record.lock().unwrap();
            change(&mut record);
            record.clone()
        };
        self.watchers
            .lock()
            .unwrap()
            .retain(|watcher| watcher.send(record.clone()).is_ok());
    }

    pub(crate) fn change_status(&self, change: impl FnOnce(&mut Status)) {
        self.change(|record| change(record.status.get_or_insert_with(Default::default)));
    }

    pub(crate) fn change_players(&self, change: impl FnOnce(&mut PlayerStatus)) {
        self.change_status(|status| change(status.players.get_or_insert_with(Default::default)));
    }
}

/// A running stand-in; stops when dropped.
pub struct StandIn {
    shared: Arc<Shared>,
    port: u16,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl StandIn {
    /// A stand-in on a free port, its game server `Scheduled`.
    pub fn start() -> Self {
        Self::start_on(0, "Scheduled")
    }

    /// A stand-in on `port` (0: a free one) whose game server starts in `state`.
    pub fn start_on(port: u16, state: &str) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let record = GameServer {
            object_meta: Some(ObjectMeta {
                name: "arena-fleet-x7k2p".into(),
                ..Default::default()
            }),
            status: Some(Status {
                state: state.into(),
                address: "203.0.113.7".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let shared = Arc::new(Shared {
            calls: Mutex::new(Vec::new()),
            record: Mutex::new(record),
            watchers: Mutex::new(Vec::new()),
        });
        let (stop, stopped) = oneshot::channel();
        let services = (SdkService(shared.clone()), AlphaService(shared.clone()));
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let incoming = TcpIncoming::from_listener(listener, true, None).unwrap();
                let serving = Server::builder()
                    .add_service(services.0)
                    .add_service(services.1)
                    .serve_with_incoming(incoming);
                tokio::select! {
                    _ = serving => {}
                    _ = stopped => {}
                }
            });
            // Dropping the runtime drops every connection task: the SDK server is gone.
            drop(runtime);
        });
        Self {
            shared,
            port,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Recorded> {
        self.shared.calls.lock().unwrap().clone()
    }

    /// The calls that match `filter`.
    pub fn calls_where(&self, filter: impl Fn(&Call) -> bool) -> Vec<Recorded> {
        self.calls()
            .into_iter()
            .filter(|recorded| filter(&recorded.call))
            .collect()
    }

    /// When `call` first arrived.
    pub fn first(&self, call: &Call) -> Option<Instant> {
        self.calls()
            .iter()
            .find(|recorded| &recorded.call == call)
            .map(|recorded| recorded.at)
    }

    /// The player ids it was told joined, and those it was told left.
    pub fn players_reported(&self) -> (BTreeSet<String>, BTreeSet<String>) {
        let (mut joined, mut left) = (BTreeSet::new(), BTreeSet::new());
        for recorded in self.calls() {
            match recorded.call {
                Call::PlayerConnect(id) => {
                    joined.insert(id);
                }
                Call::PlayerDisconnect(id) => {
                    left.insert(id);
                }
                _ => {}
            }
        }
        (joined, left)
    }

    /// Health pings that arrived between `from` and `to`.
    pub fn pings_between(&self, from: Instant, to: Instant) -> usize {
        self.calls_where(|call| *call == Call::Health)
            .iter()
            .filter(|ping| ping.at >= from && ping.at <= to)
            .count()
    }

    /// What Agones does when it places the pod: the node's `address`, and the host ports it
    /// picked, by name.
    pub fn place(&self, address: &str, ports: &[(&str, u16)]) {
        let ports = ports
            .iter()
            .map(|(name, port)| Port {
                name: name.to_string(),
                port: i32::from(*port),
            })
            .collect();
        self.shared.change_status(|status| {
            status.address = address.into();
            status.ports = ports;
        });
    }

    /// What a matchmaker's `GameServerAllocation` does: the game server becomes `Allocated`,
    /// with `labels`.
    pub fn allocate(&self, labels: &[(&str, &str)]) {
        let labels: HashMap<String, String> = labels
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        self.shared.change(|record| {
            record
                .object_meta
                .get_or_insert_with(Default::default)
                .labels
                .extend(labels);
            record.status.get_or_insert_with(Default::default).state = "Allocated".into();
        });
    }

    /// The game server's state as the stand-in holds it.
    pub fn state(&self) -> String {
        self.shared.record().status.unwrap_or_default().state
    }

    /// Stops answering: connections close, the port is free.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until `done` holds, checking every few milliseconds for at most `limit`.
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    done()
}
