//! The SDK worker: a thread of its own running the `agones` crate's async client on a
//! current-thread tokio runtime. It connects (retrying with backoff, logging a failure once),
//! tells a new connection what the game told before ([`Told`]), forwards the game's requests
//! and reports the game server's record as it changes. Nothing here can hold a frame: the
//! game only sends on a channel and reads what is already reported.

use std::{future::Future, io, time::Duration};

use agones::Sdk;
use bevy::log::{debug, info, warn};
use tokio::{
    runtime::Builder,
    sync::mpsc::{self, UnboundedReceiver, UnboundedSender, error::TrySendError},
    time::{sleep, timeout},
};

use super::{
    FleetSettings,
    link::{Report, Request, SdkLink},
    told::Told,
};

/// How long one connection attempt may take (the crate polls the SDK server every 100 ms).
const CONNECT_ATTEMPT: Duration = Duration::from_secs(1);
/// The first pause between two connection attempts; it doubles up to [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(250);
/// The longest pause between two connection attempts.
const LONGEST_PAUSE: Duration = Duration::from_secs(2);
/// How long one call may take before the SDK server counts as gone.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// The port the `agones` crate uses without a setting or `AGONES_SDK_GRPC_PORT`.
const DEFAULT_SDK_PORT: u16 = 9357;

/// Starts the worker thread (and, when asked, the SIGTERM listener) and returns the game's end
/// of the channels. Fails only when the runtime or the thread cannot be made.
pub(crate) fn spawn(settings: &FleetSettings) -> io::Result<SdkLink> {
    let runtime = Builder::new_current_thread().enable_all().build()?;
    let (request_sender, requests) = mpsc::unbounded_channel();
    let (reports, report_receiver) = mpsc::unbounded_channel();
    #[cfg(unix)]
    if settings.exit_on_sigterm {
        // Registered now, on the game thread, so SIGTERM is ours before the App first runs.
        let _entered = runtime.enter();
        if let Err(error) = super::signals::listen_for_sigterm(reports.clone()) {
            warn!("fleet: cannot listen for SIGTERM ({error}); it will end the process at once");
        }
    }
    let port = settings.sdk_port.unwrap_or_else(port_from_environment);
    std::thread::Builder::new()
        .name("agones-sdk".into())
        .spawn(move || runtime.block_on(run(port, requests, reports)))?;
    Ok(SdkLink::new(request_sender, report_receiver))
}

/// `AGONES_SDK_GRPC_PORT`, else the default port.
fn port_from_environment() -> u16 {
    std::env::var("AGONES_SDK_GRPC_PORT")
        .ok()
        .and_then(|port| port.parse().ok())
        .unwrap_or(DEFAULT_SDK_PORT)
}

/// Connects, serves the connection until it is lost, and again, until the game is gone.
async fn run(
    port: u16,
    mut requests: UnboundedReceiver<Request>,
    reports: UnboundedSender<Report>,
) {
    let mut told = Told::default();
    let mut warned = false;
    loop {
        let Some(sdk) = connect(port, warned, &mut requests, &mut told, &reports).await else {
            return;
        };
        info!("fleet: connected to the Agones SDK server on port {port}");
        let _ = reports.send(Report::Connected);
        match serve(sdk, &mut requests, &mut told, &reports).await {
            Ended::GameGone => return,
            Ended::Lost(why) => {
                warn!("fleet: lost the Agones SDK server ({why}); reconnecting");
                let _ = reports.send(Report::Unreachable(why));
                warned = true;
            }
        }
    }
}

/// Why a connection stopped being served.
enum Ended {
    /// The App is gone (its end of the channel dropped).
    GameGone,
    /// The SDK server went away or stopped answering.
    Lost(String),
}

/// Tries to connect until it works, noting the game's requests meanwhile. The first failure
/// is logged as a warning (unless `warned` already), the retries at debug level. `None`: the
/// game is gone.
async fn connect(
    port: u16,
    mut warned: bool,
    requests: &mut UnboundedReceiver<Request>,
    told: &mut Told,
    reports: &UnboundedSender<Report>,
) -> Option<Sdk> {
    let mut pause = FIRST_PAUSE;
    loop {
        let attempt = timeout(CONNECT_ATTEMPT, Sdk::new(Some(port), None));
        let why = match noting(attempt, requests, told).await? {
            Ok(Ok(sdk)) => return Some(sdk),
            Ok(Err(error)) => describe(&error),
            Err(_) => format!("nothing answered on localhost:{port}"),
        };
        if warned {
            debug!("fleet: Agones SDK server still unreachable ({why}); retrying");
        } else {
            warn!("fleet: cannot reach the Agones SDK server ({why}); retrying in the background");
            let _ = reports.send(Report::Unreachable(why));
            warned = true;
        }
        noting(sleep(pause), requests, told).await?;
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

/// Waits for `future` while noting the game's requests (health pings are dropped: a ping
/// is about now). `None`: the game is gone.
async fn noting<F: Future>(
    future: F,
    requests: &mut UnboundedReceiver<Request>,
    told: &mut Told,
) -> Option<F::Output> {
    tokio::pin!(future);
    loop {
        tokio::select! {
            output = &mut future => return Some(output),
            request = requests.recv() => told.note(&request?),
        }
    }
}

/// Serves one connection: tells it what it must know, then forwards requests and reports
/// the game server's record until the connection is lost or the game is gone.
async fn serve(
    mut sdk: Sdk,
    requests: &mut UnboundedReceiver<Request>,
    told: &mut Told,
    reports: &UnboundedSender<Report>,
) -> Ended {
    let record = match call(sdk.get_gameserver()).await {
        Ok(record) => record,
        Err(why) => return Ended::Lost(why),
    };
    let owed = told.replay(&record);
    let _ = reports.send(Report::GameServer(Box::new(record)));
    let mut watch = match call(sdk.watch_gameserver()).await {
        Ok(watch) => watch,
        Err(why) => return Ended::Lost(why),
    };
    let health = sdk.health_check();
    let mut refused = Vec::new();
    for request in owed {
        if let Err(why) = carry_out(&mut sdk, &health, request, reports, &mut refused).await {
            return Ended::Lost(why);
        }
    }
    loop {
        tokio::select! {
            request = requests.recv() => {
                let Some(request) = request else {
                    return Ended::GameGone;
                };
                told.note(&request);
                if let Err(why) = carry_out(&mut sdk, &health, request, reports, &mut refused).await {
                    return Ended::Lost(why);
                }
            }
            update = watch.message() => match update {
                Ok(Some(record)) => {
                    let _ = reports.send(Report::GameServer(Box::new(record)));
                }
                Ok(None) => return Ended::Lost("the SDK server ended the watch".into()),
                Err(status) => {
                    return Ended::Lost(format!("{:?}: {}", status.code(), status.message()));
                }
            },
        }
    }
}

/// Makes one request of the SDK server. `Err`: the connection is lost. A call the SDK server
/// refuses (player tracking off, say) is logged, as a warning the first time for its kind.
async fn carry_out(
    sdk: &mut Sdk,
    health: &mpsc::Sender<()>,
    request: Request,
    reports: &UnboundedSender<Report>,
    refused: &mut Vec<&'static str>,
) -> Result<(), String> {
    let (kind, outcome) = match request {
        Request::Health => {
            return match health.try_send(()) {
                // Full: pings are still on their way; one more would say nothing new.
                Ok(()) | Err(TrySendError::Full(())) => Ok(()),
                Err(TrySendError::Closed(())) => Err("the health stream closed".into()),
            };
        }
        Request::Ready => ("Ready", call(sdk.ready()).await),
        Request::SetPlayerCapacity(count) => (
            "SetPlayerCapacity",
            call(sdk.alpha().clone().set_player_capacity(count)).await,
        ),
        Request::PlayerConnect(id) => (
            "PlayerConnect",
            call(sdk.alpha().clone().player_connect(id)).await.map(drop),
        ),
        Request::PlayerDisconnect(id) => (
            "PlayerDisconnect",
            call(sdk.alpha().clone().player_disconnect(id))
                .await
                .map(drop),
        ),
        Request::Shutdown => {
            let outcome = call(sdk.shutdown()).await;
            if outcome.is_ok() {
                let _ = reports.send(Report::ShutdownAnswered(Ok(())));
            }
            ("Shutdown", outcome)
        }
    };
    let Err(why) = outcome else {
        return Ok(());
    };
    // Refused, or is the SDK server gone? Ask it something it always answers.
    call(sdk.get_gameserver()).await?;
    if kind == "Shutdown" {
        let _ = reports.send(Report::ShutdownAnswered(Err(why.clone())));
    }
    if refused.contains(&kind) {
        debug!("fleet: the SDK server refused {kind} ({why})");
    } else {
        warn!("fleet: the SDK server refused {kind} ({why})");
        refused.push(kind);
    }
    Ok(())
}

/// Runs one call of the SDK, at most [`CALL_TIMEOUT`].
async fn call<T>(future: impl Future<Output = agones::errors::Result<T>>) -> Result<T, String> {
    match timeout(CALL_TIMEOUT, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(describe(&error)),
        Err(_) => Err(format!("no answer within {CALL_TIMEOUT:?}")),
    }
}

/// An SDK error in words (the crate's own text omits the gRPC status).
fn describe(error: &agones::errors::Error) -> String {
    match error {
        agones::errors::Error::Rpc(status) => format!("{:?}: {}", status.code(), status.message()),
        agones::errors::Error::Transport(error) => match std::error::Error::source(error) {
            Some(source) => format!("{error}: {source}"),
            None => error.to_string(),
        },
        other => other.to_string(),
    }
}
