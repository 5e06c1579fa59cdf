//! The end of a server's life in the fleet: [`MatchOver`] or an empty server asks for
//! Shutdown, and the App exits once the SDK server answered (clients are told
//! `ServerShutdown` on `AppExit` by the transport).

use std::time::Duration;

use bevy::prelude::*;

use super::{
    FleetSettings,
    link::{Request, SdkLink},
};

/// Write it when the match is over: the fleet plugin asks the SDK server for Shutdown (the
/// fleet replaces this server with a fresh one) and the App exits, telling every client the
/// server shuts down. Read in [`FleetSet::Send`](super::FleetSet::Send).
#[derive(Message, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MatchOver;

/// Whether Shutdown was asked for and answered. Written by `request_shutdown` and
/// [`FleetSet::Receive`](super::FleetSet::Receive).
#[derive(Resource, Debug, Default)]
pub(crate) struct ShutdownProgress {
    /// When Shutdown was asked for (real time).
    pub(crate) requested_at: Option<Duration>,
    /// The SDK server answered it.
    pub(crate) answered: bool,
    /// `AppExit` was written.
    pub(crate) exited: bool,
}

/// Asks for Shutdown, once; `why` goes to the log.
pub(crate) fn request_shutdown(
    link: &SdkLink,
    progress: &mut ShutdownProgress,
    now: Duration,
    why: &str,
) {
    if progress.requested_at.is_some() {
        return;
    }
    info!("fleet: {why}; asking the SDK server for Shutdown");
    progress.requested_at = Some(now);
    link.send(Request::Shutdown);
}

/// Asks for Shutdown when the game wrote [`MatchOver`].
pub(crate) fn end_match(
    mut over: MessageReader<MatchOver>,
    link: Res<SdkLink>,
    mut progress: ResMut<ShutdownProgress>,
    time: Res<Time<Real>>,
) {
    if over.read().count() > 0 {
        request_shutdown(&link, &mut progress, time.elapsed(), "the match is over");
    }
}

/// Writes `AppExit` once Shutdown was answered, or [`FleetSettings::exit_timeout`] after it was
/// asked for without an answer.
pub(crate) fn exit_when_shut_down(
    mut progress: ResMut<ShutdownProgress>,
    settings: Res<FleetSettings>,
    time: Res<Time<Real>>,
    mut exit: MessageWriter<AppExit>,
) {
    let Some(requested_at) = progress.requested_at else {
        return;
    };
    if progress.exited {
        return;
    }
    let waited = time.elapsed().saturating_sub(requested_at);
    if progress.answered || waited >= settings.exit_timeout {
        if !progress.answered {
            warn!(
                "fleet: no answer to Shutdown within {:?}; exiting anyway",
                settings.exit_timeout
            );
        }
        progress.exited = true;
        exit.write(AppExit::Success);
    }
}
