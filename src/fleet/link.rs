//! [`SdkLink`]: the game thread's two channels to the SDK worker, requests one way and reports
//! the other. Neither side ever waits on the other: sending never blocks, and the game takes
//! only the reports already there.

use bevy::prelude::*;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

/// What the game asks of the SDK server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    /// One health ping.
    Health,
    /// The server can take players.
    Ready,
    /// Most players at once.
    SetPlayerCapacity(i64),
    /// A player (a client id, as text) joined.
    PlayerConnect(String),
    /// A player left.
    PlayerDisconnect(String),
    /// The match is over: take the server away.
    Shutdown,
}

/// What the SDK worker tells the game.
#[derive(Debug)]
pub(crate) enum Report {
    /// The SDK server answers.
    Connected,
    /// The SDK server cannot be reached (why); the worker keeps trying.
    Unreachable(String),
    /// The game server's record, as the SDK server sent it.
    GameServer(Box<agones::GameServer>),
    /// The SDK server answered the Shutdown request: done, or refused (why).
    ShutdownAnswered(Result<(), String>),
    /// The process received SIGTERM.
    Terminate,
}

/// The channels to the SDK worker. Inserted by [`FleetPlugin`](super::FleetPlugin) when the
/// worker started; dropping it (with the App) ends the worker.
#[derive(Resource)]
pub(crate) struct SdkLink {
    requests: UnboundedSender<Request>,
    reports: UnboundedReceiver<Report>,
}

impl SdkLink {
    pub(crate) fn new(
        requests: UnboundedSender<Request>,
        reports: UnboundedReceiver<Report>,
    ) -> Self {
        Self { requests, reports }
    }

    /// Hands `request` to the worker.
    pub(crate) fn send(&self, request: Request) {
        // The worker only ends when this link is dropped, so there is always a receiver.
        let _ = self.requests.send(request);
    }

    /// The next report waiting, if any.
    pub(crate) fn next_report(&mut self) -> Option<Report> {
        self.reports.try_recv().ok()
    }
}
