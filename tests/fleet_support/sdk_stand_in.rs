//! A stand-in for the Agones SDK server (the sidecar beside each game server of a fleet): the
//! SDK's gRPC services, written by hand on tonic from the messages of Agones' proto files
//! (`sdk.proto`, `alpha.proto`), on 127.0.0.1. It records every call with the time it arrived,
//! keeps a game server record the way the real one does (Ready, Shutdown, players), pushes
//! changes to watchers, and can be allocated, or stopped as a crashed sidecar would be.

use std::{
    collections::{BTreeSet, HashMap},
    convert::Infallible,
    net::TcpListener,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use agones::{GameServer, ObjectMeta, PlayerStatus, Port, Status};
use tokio::sync::{mpsc, oneshot};
use tonic::{
    body::BoxBody,
    codec::{ProstCodec, Streaming},
    codegen::{BoxFuture, Service, http, tokio_stream::Stream},
    server::{Grpc, NamedService},
    transport::{Server, server::TcpIncoming},
};

// The messages `agones` keeps private, field for field from the proto files (the field names
// do not travel; the tags and types do).

/// `Empty` (both packages).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Empty {}

/// `KeyValue` (`SetLabel`, `SetAnnotation`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `Duration` (`Reserve`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Seconds {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
}

/// alpha `Count`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Count {
    #[prost(int64, tag = "1")]
    pub count: i64,
}

/// alpha `PlayerID`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PlayerId {
    #[prost(string, tag = "1")]
    pub player_id: String,
}

/// alpha `Bool`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Answer {
    #[prost(bool, tag = "1")]
    pub value: bool,
}

/// alpha `PlayerIDList`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PlayerIdList {
    #[prost(string, repeated, tag = "1")]
    pub list: Vec<String>,
}

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
struct Shared {
    calls: Mutex<Vec<Recorded>>,
    record: Mutex<GameServer>,
    watchers: Mutex<Vec<mpsc::UnboundedSender<GameServer>>>,
}

impl Shared {
    fn note(&self, call: Call) {
        self.calls.lock().unwrap().push(Recorded {
            call,
            at: Instant::now(),
        });
    }

    fn record(&self) -> GameServer {
        self.record.lock().unwrap().clone()
    }

    /// Changes the record and sends it to every watcher.
    fn change(&self, change: impl FnOnce(&mut GameServer)) {
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

    fn change_status(&self, change: impl FnOnce(&mut Status)) {
        self.change(|record| change(record.status.get_or_insert_with(Default::default)));
    }

    fn change_players(&self, change: impl FnOnce(&mut PlayerStatus)) {
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

/// `agones.dev.sdk.SDK`.
#[derive(Clone)]
struct SdkService(Arc<Shared>);

impl NamedService for SdkService {
    const NAME: &'static str = "agones.dev.sdk.SDK";
}

impl Service<http::Request<BoxBody>> for SdkService {
    type Response = http::Response<BoxBody>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<BoxBody>) -> Self::Future {
        let shared = self.0.clone();
        Box::pin(async move {
            let method = method(&request);
            let response = match method.as_str() {
                "GetGameServer" => {
                    unary(request, move |_: Empty| {
                        shared.note(Call::GetGameServer);
                        shared.record()
                    })
                    .await
                }
                "WatchGameServer" => {
                    let (sender, receiver) = mpsc::unbounded_channel();
                    shared.watchers.lock().unwrap().push(sender);
                    shared.note(Call::WatchGameServer);
                    Grpc::new(ProstCodec::<GameServer, Empty>::default())
                        .server_streaming(Watch(Some(receiver)), request)
                        .await
                }
                "Health" => {
                    Grpc::new(ProstCodec::<Empty, Empty>::default())
                        .client_streaming(Health(shared), request)
                        .await
                }
                "Ready" => {
                    unary(request, move |_: Empty| {
                        shared.note(Call::Ready);
                        shared.change_status(|status| status.state = "Ready".into());
                        Empty {}
                    })
                    .await
                }
                "Allocate" => {
                    unary(request, move |_: Empty| {
                        shared.note(Call::Allocate);
                        shared.change_status(|status| status.state = "Allocated".into());
                        Empty {}
                    })
                    .await
                }
                "Shutdown" => {
                    unary(request, move |_: Empty| {
                        shared.note(Call::Shutdown);
                        shared.change_status(|status| status.state = "Shutdown".into());
                        Empty {}
                    })
                    .await
                }
                "SetLabel" | "SetAnnotation" => {
                    unary(request, move |pair: KeyValue| {
                        shared.note(if method == "SetLabel" {
                            Call::SetLabel(pair.key, pair.value)
                        } else {
                            Call::SetAnnotation(pair.key, pair.value)
                        });
                        Empty {}
                    })
                    .await
                }
                "Reserve" => {
                    unary(request, move |time: Seconds| {
                        shared.note(Call::Reserve(time.seconds));
                        shared.change_status(|status| status.state = "Reserved".into());
                        Empty {}
                    })
                    .await
                }
                _ => unimplemented(),
            };
            Ok(response)
        })
    }
}

/// `agones.dev.sdk.alpha.SDK`: player tracking.
#[derive(Clone)]
struct AlphaService(Arc<Shared>);

impl NamedService for AlphaService {
    const NAME: &'static str = "agones.dev.sdk.alpha.SDK";
}

impl Service<http::Request<BoxBody>> for AlphaService {
    type Response = http::Response<BoxBody>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<BoxBody>) -> Self::Future {
        let shared = self.0.clone();
        Box::pin(async move {
            let method = method(&request);
            let response = match method.as_str() {
                "SetPlayerCapacity" => {
                    unary(request, move |count: Count| {
                        shared.note(Call::SetPlayerCapacity(count.count));
                        shared.change_players(|players| players.capacity = count.count);
                        Empty {}
                    })
                    .await
                }
                "PlayerConnect" => {
                    unary(request, move |player: PlayerId| {
                        shared.note(Call::PlayerConnect(player.player_id.clone()));
                        let mut added = false;
                        shared.change_players(|players| {
                            if !players.ids.contains(&player.player_id) {
                                players.ids.push(player.player_id);
                                players.count = players.ids.len() as i64;
                                added = true;
                            }
                        });
                        Answer { value: added }
                    })
                    .await
                }
                "PlayerDisconnect" => {
                    unary(request, move |player: PlayerId| {
                        shared.note(Call::PlayerDisconnect(player.player_id.clone()));
                        let mut removed = false;
                        shared.change_players(|players| {
                            let before = players.ids.len();
                            players.ids.retain(|id| *id != player.player_id);
                            players.count = players.ids.len() as i64;
                            removed = players.ids.len() < before;
                        });
                        Answer { value: removed }
                    })
                    .await
                }
                "GetPlayerCapacity" | "GetPlayerCount" => {
                    unary(request, move |_: Empty| {
                        shared.note(Call::OtherAlpha(method.clone()));
                        let players = shared
                            .record()
                            .status
                            .and_then(|status| status.players)
                            .unwrap_or_default();
                        Count {
                            count: if method == "GetPlayerCount" {
                                players.count
                            } else {
                                players.capacity
                            },
                        }
                    })
                    .await
                }
                "GetConnectedPlayers" => {
                    unary(request, move |_: Empty| {
                        shared.note(Call::OtherAlpha(method.clone()));
                        let players = shared
                            .record()
                            .status
                            .and_then(|status| status.players)
                            .unwrap_or_default();
                        PlayerIdList { list: players.ids }
                    })
                    .await
                }
                _ => unimplemented(),
            };
            Ok(response)
        })
    }
}

/// The method's name: the last part of the request's path (`/agones.dev.sdk.SDK/Ready`).
fn method(request: &http::Request<BoxBody>) -> String {
    request
        .uri()
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Answers a unary call with `answer` (the stand-in refuses nothing it knows).
async fn unary<In, Out>(
    request: http::Request<BoxBody>,
    answer: impl FnMut(In) -> Out + Send + 'static,
) -> http::Response<BoxBody>
where
    In: prost::Message + Default + Send + 'static,
    Out: prost::Message + Send + 'static,
{
    Grpc::new(ProstCodec::<Out, In>::default())
        .unary(Unary(answer), request)
        .await
}

/// gRPC's answer to a method it does not know.
fn unimplemented() -> http::Response<BoxBody> {
    http::Response::builder()
        .status(200)
        .header("grpc-status", "12")
        .header("content-type", "application/grpc")
        .body(tonic::body::empty_body())
        .unwrap()
}

/// A unary method as the service `Grpc::unary` calls.
struct Unary<F>(F);

impl<F, In, Out> Service<tonic::Request<In>> for Unary<F>
where
    F: FnMut(In) -> Out,
{
    type Response = tonic::Response<Out>;
    type Error = tonic::Status;
    type Future = std::future::Ready<Result<tonic::Response<Out>, tonic::Status>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), tonic::Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: tonic::Request<In>) -> Self::Future {
        std::future::ready(Ok(tonic::Response::new((self.0)(request.into_inner()))))
    }
}

/// `Health`: records each ping of the stream until it ends.
struct Health(Arc<Shared>);

impl Service<tonic::Request<Streaming<Empty>>> for Health {
    type Response = tonic::Response<Empty>;
    type Error = tonic::Status;
    type Future = BoxFuture<tonic::Response<Empty>, tonic::Status>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), tonic::Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: tonic::Request<Streaming<Empty>>) -> Self::Future {
        let shared = self.0.clone();
        Box::pin(async move {
            let mut pings = request.into_inner();
            while let Ok(Some(_)) = pings.message().await {
                shared.note(Call::Health);
            }
            Ok(tonic::Response::new(Empty {}))
        })
    }
}

/// `WatchGameServer`: streams every change of the record.
struct Watch(Option<mpsc::UnboundedReceiver<GameServer>>);

impl Service<tonic::Request<Empty>> for Watch {
    type Response = tonic::Response<Changes>;
    type Error = tonic::Status;
    type Future = std::future::Ready<Result<tonic::Response<Changes>, tonic::Status>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), tonic::Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: tonic::Request<Empty>) -> Self::Future {
        let changes = self.0.take().expect("called once");
        std::future::ready(Ok(tonic::Response::new(Changes(changes))))
    }
}

/// The changes a watcher receives.
struct Changes(mpsc::UnboundedReceiver<GameServer>);

impl Stream for Changes {
    type Item = Result<GameServer, tonic::Status>;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(context).map(|change| change.map(Ok))
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
