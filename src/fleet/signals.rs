//! SIGTERM, Kubernetes' word that the pod stops (after Shutdown, or when the fleet scales
//! down or rolls out a new version): reported to the game, which exits.

use std::io;

use tokio::{
    signal::unix::{SignalKind, signal},
    sync::mpsc::UnboundedSender,
};

use super::link::Report;

/// Listens for SIGTERM on the runtime entered by the caller, reporting each one. From now on
/// SIGTERM no longer ends the process by itself: the App does, through `AppExit`.
pub(crate) fn listen_for_sigterm(reports: UnboundedSender<Report>) -> io::Result<()> {
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        while terminate.recv().await.is_some() {
            if reports.send(Report::Terminate).is_err() {
                return;
            }
        }
    });
    Ok(())
}
