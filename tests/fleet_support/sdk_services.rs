//! The SDK's gRPC services for the stand-in, by hand on tonic: `agones.dev.sdk.SDK` and
//! `agones.dev.sdk.alpha.SDK`, routed by method name, with the messages the `agones` crate
//! keeps private written out from its proto files (`sdk.proto`, `alpha.proto`).

use std::{
    convert::Infallible,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use agones::GameServer;
use tokio::sync::mpsc;
use tonic::{
    body::BoxBody,
    codec::{ProstCodec, Streaming},
    codegen::{BoxFuture, Service, http, tokio_stream::Stream},
    server::{Grpc, NamedService},
};

use super::{Call, Shared};

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

/// `agones.dev.sdk.SDK`.
#[derive(Clone)]
pub(crate) struct SdkService(pub(crate) Arc<Shared>);

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
pub(crate) struct AlphaService(pub(crate) Arc<Shared>);

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
