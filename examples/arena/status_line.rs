//! The dedicated server's status line: every few seconds, players, tick time, bytes out per
//! client and junk dropped, from the server's figures in the diagnostics store.

use std::time::Duration;

use bevy::{
    diagnostic::{DiagnosticPath, DiagnosticsStore},
    platform::time::Instant,
    prelude::*,
};
use bevy_netsync::prelude::*;

/// Time between two lines.
const EVERY: Duration = Duration::from_secs(5);

/// Prints the status line every [`EVERY`].
pub fn plugin(app: &mut App) {
    app.add_systems(Last, print_status);
}

fn print_status(store: Res<DiagnosticsStore>, time: Res<Time<Real>>, mut last: Local<Duration>) {
    let now = time.elapsed();
    if now - *last < EVERY {
        return;
    }
    *last = now;
    // The figures of the last few seconds (each is recorded once a second).
    let since = Instant::now().checked_sub(EVERY);
    let recent = |path: &DiagnosticPath| -> Vec<f64> {
        store.get(path).map_or_else(Vec::new, |diagnostic| {
            diagnostic
                .measurements()
                .filter(|measurement| since.is_none_or(|since| measurement.time > since))
                .map(|measurement| measurement.value)
                .collect()
        })
    };
    let mean = |values: Vec<f64>| values.iter().sum::<f64>() / values.len().max(1) as f64;
    let most = |values: Vec<f64>| values.into_iter().fold(0.0, f64::max);
    let players = store
        .get(&NetsyncServerDiagnostics::CONNECTED_CLIENTS)
        .and_then(|diagnostic| diagnostic.value())
        .unwrap_or(0.0);
    println!(
        "players {players:.0}   tick time p50 {:.2} ms, p99 {:.2} ms   out {:.1} kB/s per client   junk dropped {:.0}/s",
        mean(recent(&NetsyncServerDiagnostics::TICK_TIME_P50_MS)),
        most(recent(&NetsyncServerDiagnostics::TICK_TIME_P99_MS)),
        mean(recent(&NetsyncServerDiagnostics::BYTES_OUT_PER_CLIENT)) / 1000.0,
        mean(recent(&NetsyncServerDiagnostics::JUNK_DROPPED_PER_SECOND)),
    );
}
