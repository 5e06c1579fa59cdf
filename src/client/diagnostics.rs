//! [`NetsyncDiagnostics`]: the client's network figures in Bevy's diagnostics store.

use bevy::{
    diagnostic::{Diagnostic, DiagnosticPath, Diagnostics, RegisterDiagnostic},
    prelude::*,
};
use bevy_renet::RenetClient;

use super::{prediction::PredictionStats, timeline::ClientTimeline};
use crate::shared::entity_map::ServerEntityMap;

/// Paths of the client's diagnostics (read them from `DiagnosticsStore`), recorded about ten
/// times a second ([`Self::RECORD_PERIOD_SECONDS`], at most once a frame) by
/// [`ClientSet::Receive`](super::ClientSet::Receive) while connected, each keeping the last
/// [`Self::HISTORY_LENGTH`] measurements and smoothed over [`Self::SMOOTHING_SECONDS`].
pub struct NetsyncDiagnostics;

impl NetsyncDiagnostics {
    /// Seconds of real time between two recordings. Every frame would cost a connected client
    /// about 5 % of its frame's network work (a dozen measurements, each timestamped, through
    /// Bevy's buffered store) for figures that are smoothed anyway.
    pub const RECORD_PERIOD_SECONDS: f64 = 0.1;
    /// Measurements each path keeps: about six seconds at [`Self::RECORD_PERIOD_SECONDS`].
    pub const HISTORY_LENGTH: usize = 60;
    /// Seconds for about 83 % of a change to show in `Diagnostic::smoothed` (Bevy's
    /// exponential smoothing; its default of about 0.1 s would not smooth figures recorded
    /// this often).
    pub const SMOOTHING_SECONDS: f64 = 0.5;
    /// Round-trip time, milliseconds.
    pub const RTT_MS: DiagnosticPath = DiagnosticPath::const_new("netsync/rtt_ms");
    /// Arrival jitter of the server's packets, milliseconds.
    pub const JITTER_MS: DiagnosticPath = DiagnosticPath::const_new("netsync/jitter_ms");
    /// Packet loss, percent.
    pub const PACKET_LOSS: DiagnosticPath =
        DiagnosticPath::const_new("netsync/packet_loss_percent");
    /// Bytes received per second.
    pub const BYTES_IN: DiagnosticPath = DiagnosticPath::const_new("netsync/bytes_in_per_second");
    /// Bytes sent per second.
    pub const BYTES_OUT: DiagnosticPath = DiagnosticPath::const_new("netsync/bytes_out_per_second");
    /// Interpolation delay, milliseconds.
    pub const INTERPOLATION_DELAY_MS: DiagnosticPath =
        DiagnosticPath::const_new("netsync/interpolation_delay_ms");
    /// Estimated server tick.
    pub const SERVER_TICK: DiagnosticPath = DiagnosticPath::const_new("netsync/server_tick");
    /// Input lead over the server, ticks.
    pub const INPUT_LEAD_TICKS: DiagnosticPath =
        DiagnosticPath::const_new("netsync/input_lead_ticks");
    /// Prediction: corrections re-simulated per second.
    pub const ROLLBACKS_PER_SECOND: DiagnosticPath =
        DiagnosticPath::const_new("netsync/rollbacks_per_second");
    /// Prediction: ticks simulated again per second.
    pub const RESIMULATED_TICKS_PER_SECOND: DiagnosticPath =
        DiagnosticPath::const_new("netsync/resimulated_ticks_per_second");
    /// Prediction: how far the last correction moved a predicted transform, centimetres.
    pub const LAST_CORRECTION_CM: DiagnosticPath =
        DiagnosticPath::const_new("netsync/last_correction_cm");
    /// Server entities this client holds: its view of the server's world.
    pub const ENTITIES_HELD: DiagnosticPath = DiagnosticPath::const_new("netsync/entities_held");
}

pub(crate) fn register(app: &mut App) {
    for path in [
        NetsyncDiagnostics::RTT_MS,
        NetsyncDiagnostics::JITTER_MS,
        NetsyncDiagnostics::PACKET_LOSS,
        NetsyncDiagnostics::BYTES_IN,
        NetsyncDiagnostics::BYTES_OUT,
        NetsyncDiagnostics::INTERPOLATION_DELAY_MS,
        NetsyncDiagnostics::SERVER_TICK,
        NetsyncDiagnostics::INPUT_LEAD_TICKS,
        NetsyncDiagnostics::ROLLBACKS_PER_SECOND,
        NetsyncDiagnostics::RESIMULATED_TICKS_PER_SECOND,
        NetsyncDiagnostics::LAST_CORRECTION_CM,
        NetsyncDiagnostics::ENTITIES_HELD,
    ] {
        app.register_diagnostic(
            Diagnostic::new(path)
                .with_max_history_length(NetsyncDiagnostics::HISTORY_LENGTH)
                .with_smoothing_factor(NetsyncDiagnostics::SMOOTHING_SECONDS),
        );
    }
}

/// When the diagnostics were last recorded, and the prediction counts and time the rates
/// start from.
#[derive(Default)]
pub(crate) struct Recorded {
    at: Option<f64>,
    rates_from: (PredictionStats, f64),
}

pub(crate) fn record_diagnostics(
    mut diagnostics: Diagnostics,
    client: Option<Res<RenetClient>>,
    timeline: Res<ClientTimeline>,
    prediction: Res<PredictionStats>,
    held: Res<ServerEntityMap>,
    time: Res<Time<Real>>,
    mut recorded: Local<Recorded>,
) {
    let Some(client) = client.filter(|client| client.is_connected()) else {
        return;
    };
    let now = time.elapsed_secs_f64();
    let period = NetsyncDiagnostics::RECORD_PERIOD_SECONDS;
    // Due a period after the last one was due, not after the frame that took it: frames that
    // do not divide the period do not stretch it (nor does a stall make a burst).
    let due = recorded.at.map(|at| at + period);
    if due.is_some_and(|due| now < due) {
        return;
    }
    recorded.at = Some(due.map_or(now, |due| due.max(now - period)));
    // Rates over about half a second.
    let (before, since) = recorded.rates_from;
    let seconds = now - since;
    if seconds >= 0.5 {
        diagnostics.add_measurement(&NetsyncDiagnostics::ROLLBACKS_PER_SECOND, || {
            (prediction.rollbacks - before.rollbacks) as f64 / seconds
        });
        diagnostics.add_measurement(&NetsyncDiagnostics::RESIMULATED_TICKS_PER_SECOND, || {
            (prediction.resimulated_ticks - before.resimulated_ticks) as f64 / seconds
        });
        recorded.rates_from = (*prediction, now);
    }
    diagnostics.add_measurement(&NetsyncDiagnostics::LAST_CORRECTION_CM, || {
        f64::from(prediction.last_correction) * 100.0
    });
    diagnostics.add_measurement(&NetsyncDiagnostics::RTT_MS, || client.rtt() * 1000.0);
    diagnostics.add_measurement(&NetsyncDiagnostics::ENTITIES_HELD, || held.len() as f64);
    diagnostics.add_measurement(&NetsyncDiagnostics::PACKET_LOSS, || {
        client.packet_loss() * 100.0
    });
    diagnostics.add_measurement(&NetsyncDiagnostics::BYTES_IN, || {
        client.bytes_received_per_sec()
    });
    diagnostics.add_measurement(&NetsyncDiagnostics::BYTES_OUT, || {
        client.bytes_sent_per_sec()
    });
    if timeline.is_synced() {
        diagnostics.add_measurement(&NetsyncDiagnostics::INTERPOLATION_DELAY_MS, || {
            timeline.interpolation_delay().as_secs_f64() * 1000.0
        });
        diagnostics.add_measurement(&NetsyncDiagnostics::JITTER_MS, || {
            timeline.jitter().as_secs_f64() * 1000.0
        });
        diagnostics.add_measurement(&NetsyncDiagnostics::SERVER_TICK, || timeline.server_tick());
        diagnostics.add_measurement(&NetsyncDiagnostics::INPUT_LEAD_TICKS, || {
            timeline.input_lead_ticks()
        });
    }
}
