//! [`NetsyncServerDiagnostics`]: the server's figures in Bevy's diagnostics store, recorded
//! once a second, and the clock that times each frame's work.
//!
//! The frame is timed by systems placed around [`Main::run_main`] in the `Main` schedule (no
//! schedule of our own: each schedule run costs Bevy two archetype moves and a map update).
//! What runs between them is the frame's work: `First` to `Last`, that is receiving, the
//! frame's fixed ticks (the game's simulation included), the game's `Update`, sending.
//! Rendering (a sub-app, after the main schedule) and the wait for the next frame are not in
//! it.

use core::time::Duration;

use bevy::{
    diagnostic::{Diagnostic, DiagnosticPath, Diagnostics, FrameCount, RegisterDiagnostic},
    platform::time::Instant,
    prelude::*,
};
use bevy_renet::RenetServer;

use super::{
    client_stats::{ClientNetStats, add_client_stats, update_client_stats},
    connected_client::ConnectedClient,
    local_client::LocalClient,
};

/// Paths of the server's diagnostics (read them from `DiagnosticsStore`), each recorded once a
/// second while a server runs, with 20 seconds of history. Per-client figures are on each
/// client's entity as [`ClientNetStats`].
pub struct NetsyncServerDiagnostics;

impl NetsyncServerDiagnostics {
    /// Connected clients, the host's own player included.
    pub const CONNECTED_CLIENTS: DiagnosticPath =
        DiagnosticPath::const_new("netsync/server/connected_clients");
    /// Median time of a frame's work over the last second, milliseconds: the main schedule from
    /// `First` to `Last` (receive, the frame's fixed ticks, the game's systems, send). A
    /// dedicated server running one frame per tick spends this on a tick.
    pub const TICK_TIME_P50_MS: DiagnosticPath =
        DiagnosticPath::const_new("netsync/server/tick_time_p50_ms");
    /// The 99th percentile of the same frame times, milliseconds.
    pub const TICK_TIME_P99_MS: DiagnosticPath =
        DiagnosticPath::const_new("netsync/server/tick_time_p99_ms");
    /// Bytes sent per second to a remote client, the mean over remote clients (0 without any).
    pub const BYTES_OUT_PER_CLIENT: DiagnosticPath =
        DiagnosticPath::const_new("netsync/server/bytes_out_per_client_per_second");
    /// Share of its byte budget the most loaded remote client used over the last second,
    /// percent.
    pub const BUDGET_USE_PERCENT: DiagnosticPath =
        DiagnosticPath::const_new("netsync/server/budget_use_percent");
    /// Replicated entities in a remote client's view, the mean over remote clients.
    pub const ENTITIES_IN_VIEW: DiagnosticPath =
        DiagnosticPath::const_new("netsync/server/entities_in_view_per_client");
    /// Datagrams the transport dropped per second before netcode read them: every cause of
    /// [`TransportStats::dropped`](crate::transport::TransportStats::dropped) (junk, forgeries,
    /// replays, strangers). Recorded by the netcode transport (feature `netcode`).
    pub const JUNK_DROPPED_PER_SECOND: DiagnosticPath =
        DiagnosticPath::const_new("netsync/server/junk_dropped_per_second");
}

/// Seconds of history each server diagnostic keeps.
const HISTORY_SECONDS: usize = 20;

/// Most frames a second whose times are kept for the percentiles; faster frames past it are
/// left out of that second's figures.
const MAX_FRAMES_PER_SECOND: usize = 8_192;

/// This second's frame times, and whether a second just ended (then the per-second figures
/// are due at this frame's end).
#[derive(Resource, Default, Debug)]
pub(crate) struct FrameTimes {
    started: Option<Instant>,
    second_started: Option<Instant>,
    /// Frame times of this second, milliseconds.
    samples: Vec<f32>,
    /// A second ended with this frame.
    pub(crate) due: bool,
}

/// Registers the paths and times the frames.
pub(crate) fn plugin(app: &mut App) {
    for path in [
        NetsyncServerDiagnostics::CONNECTED_CLIENTS,
        NetsyncServerDiagnostics::TICK_TIME_P50_MS,
        NetsyncServerDiagnostics::TICK_TIME_P99_MS,
        NetsyncServerDiagnostics::BYTES_OUT_PER_CLIENT,
        NetsyncServerDiagnostics::BUDGET_USE_PERCENT,
        NetsyncServerDiagnostics::ENTITIES_IN_VIEW,
        NetsyncServerDiagnostics::JUNK_DROPPED_PER_SECOND,
    ] {
        app.register_diagnostic(Diagnostic::new(path).with_max_history_length(HISTORY_SECONDS));
    }
    app.init_resource::<FrameTimes>()
        .add_observer(add_client_stats);
    // Around the main schedule's run: an App without it (`App::empty`) is not timed.
    let server_exists = resource_exists::<RenetServer>;
    // Each half checks for a server when it runs: the game may stop it in between.
    app.add_systems(
        Main,
        (
            start_frame.before(Main::run_main).run_if(server_exists),
            (
                end_frame,
                update_client_stats.run_if(second_ended),
                record_diagnostics,
            )
                .chain()
                .after(Main::run_main)
                .run_if(server_exists),
        ),
    );
}

/// Whether a second ended with this frame.
fn second_ended(times: Res<FrameTimes>) -> bool {
    times.due
}

/// Starts timing the frame, except the App's first, whose `Main` runs the startup schedules
/// too (`FrameCount` is 0 until the first frame's `Last`).
fn start_frame(mut times: ResMut<FrameTimes>, frame: Option<Res<FrameCount>>) {
    if frame.is_some_and(|frame| frame.0 == 0) {
        return;
    }
    times.started = Some(Instant::now());
}

/// Notes the frame's time, and whether a second ended.
fn end_frame(mut times: ResMut<FrameTimes>) {
    let now = Instant::now();
    if let Some(started) = times.started.take()
        && times.samples.len() < MAX_FRAMES_PER_SECOND
    {
        let milliseconds = now.saturating_duration_since(started).as_secs_f32() * 1000.0;
        times.samples.push(milliseconds);
    }
    let second_started = *times.second_started.get_or_insert(now);
    times.due = now.saturating_duration_since(second_started) >= Duration::from_secs(1);
    if times.due {
        times.second_started = Some(now);
    }
}

/// Records the second's figures (after [`update_client_stats`] refreshed each client's).
fn record_diagnostics(
    mut diagnostics: Diagnostics,
    mut times: ResMut<FrameTimes>,
    clients: Query<(&ClientNetStats, Has<LocalClient>), With<ConnectedClient>>,
) {
    if !times.due {
        return;
    }
    times.due = false;
    let mut samples = core::mem::take(&mut times.samples);
    samples.sort_unstable_by(f32::total_cmp);
    if let (Some(p50), Some(p99)) = (percentile(&samples, 0.5), percentile(&samples, 0.99)) {
        diagnostics.add_measurement(&NetsyncServerDiagnostics::TICK_TIME_P50_MS, || {
            f64::from(p50)
        });
        diagnostics.add_measurement(&NetsyncServerDiagnostics::TICK_TIME_P99_MS, || {
            f64::from(p99)
        });
    }
    samples.clear();
    times.samples = samples;

    let (mut connected, mut remote, mut in_view) = (0usize, 0usize, 0usize);
    let (mut bytes_out, mut budget_use) = (0.0f64, 0.0f64);
    for (stats, local) in &clients {
        connected += 1;
        if !local {
            remote += 1;
            bytes_out += stats.bytes_out_per_second;
            budget_use = budget_use.max(stats.budget_use_percent);
            in_view += stats.entities_in_view;
        }
    }
    let per_client = |sum: f64| {
        if remote == 0 {
            0.0
        } else {
            sum / remote as f64
        }
    };
    diagnostics.add_measurement(&NetsyncServerDiagnostics::CONNECTED_CLIENTS, || {
        connected as f64
    });
    diagnostics.add_measurement(&NetsyncServerDiagnostics::BYTES_OUT_PER_CLIENT, || {
        per_client(bytes_out)
    });
    diagnostics.add_measurement(&NetsyncServerDiagnostics::BUDGET_USE_PERCENT, || budget_use);
    diagnostics.add_measurement(&NetsyncServerDiagnostics::ENTITIES_IN_VIEW, || {
        per_client(in_view as f64)
    });
}

/// The nearest-rank percentile (`share` of 1) of `sorted`, or `None` when it is empty.
fn percentile(sorted: &[f32], share: f64) -> Option<f32> {
    let rank = (share * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The frame's time covers the main schedule's run (here a game system in `Update` that
    /// takes 2 ms), and only while a server runs; a server stopped during a frame ends it
    /// without a panic.
    #[test]
    fn frames_are_timed_around_the_main_schedule() {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins)
            .add_plugins(plugin)
            .add_systems(Update, || std::thread::sleep(Duration::from_millis(2)));
        app.update();
        assert!(app.world().resource::<FrameTimes>().samples.is_empty());
        app.insert_resource(RenetServer::new(
            bevy_renet::renet::ConnectionConfig::default(),
        ));
        for _ in 0..3 {
            app.update();
        }
        let times = app.world().resource::<FrameTimes>();
        assert_eq!(times.samples.len(), 3, "{:?}", times.samples);
        assert!(
            times.samples.iter().all(|&ms| (2.0..1_000.0).contains(&ms)),
            "{:?}",
            times.samples
        );
        // A second ends in a frame that stops the server: the figures wait for the next one.
        app.world_mut().resource_mut::<FrameTimes>().second_started =
            Some(Instant::now() - Duration::from_secs(2));
        app.add_systems(Update, |mut commands: Commands| {
            commands.remove_resource::<RenetServer>();
        });
        app.update();
        app.update();
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let sorted: Vec<f32> = (1..=100).map(|ms| ms as f32).collect();
        assert_eq!(percentile(&sorted, 0.5), Some(50.0));
        assert_eq!(percentile(&sorted, 0.99), Some(99.0));
        assert_eq!(percentile(&sorted[..1], 0.99), Some(1.0));
        assert_eq!(percentile(&[1.0, 9.0], 0.5), Some(1.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
