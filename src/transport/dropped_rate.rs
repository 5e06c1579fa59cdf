//! The server transport's dropped datagrams per second, into
//! [`NetsyncServerDiagnostics::JUNK_DROPPED_PER_SECOND`].

use core::time::Duration;

use bevy::{diagnostic::Diagnostics, platform::time::Instant, prelude::*};

use super::stats::TransportStats;
use crate::server::NetsyncServerDiagnostics;

/// Records how many datagrams a second [`TransportStats::dropped`] counted, once a second
/// (`PreUpdate`, after the socket was read).
pub(crate) fn record_dropped_rate(
    mut diagnostics: Diagnostics,
    stats: Res<TransportStats>,
    mut last: Local<Option<(Instant, u64)>>,
) {
    let now = Instant::now();
    let dropped = stats.dropped();
    let Some((then, before)) = *last else {
        *last = Some((now, dropped));
        return;
    };
    let seconds = now.saturating_duration_since(then);
    if seconds < Duration::from_secs(1) {
        return;
    }
    // The counters start again with each server start.
    let new = dropped.saturating_sub(before);
    diagnostics.add_measurement(&NetsyncServerDiagnostics::JUNK_DROPPED_PER_SECOND, || {
        new as f64 / seconds.as_secs_f64()
    });
    *last = Some((now, dropped));
}
