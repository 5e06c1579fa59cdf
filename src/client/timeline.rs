//! [`ClientTimeline`]: the client's estimate of the server's clock, and the two timelines
//! derived from it (interpolation, behind the newest snapshot received; input, ahead of the
//! server).

use core::time::Duration;

use bevy::prelude::*;
use bevy_renet::RenetClient;

use crate::shared::tick::NetTick;

/// A gap this large (in ticks) between estimate and evidence is a clock jump, not drift: jump
/// forward at once (never backward).
const SNAP_TICKS: f64 = 30.0;
/// How strongly the clock speed follows the smoothed error.
const SPEED_GAIN: f64 = 0.05;
/// The clock runs at most this much faster or slower than real time while catching up.
const MAX_SPEED_CHANGE: f64 = 0.05;
/// The interpolation delay changes by at most this share of elapsed time.
const DELAY_SLEW: f64 = 0.1;
/// Input lead the client aims for on a loss-free link: the worst input of a window arrives
/// this many ticks early.
const TARGET_INPUT_LEAD: f64 = 1.0;
/// Each packet repeats the inputs of the last ticks, so a lost packet only delays an input by
/// one frame. The lead covers runs of lost packets up to this probability per tick.
const INPUT_MISS_PROBABILITY: f64 = 2e-4;

/// Bounds and margins of the adaptive interpolation delay and of interpolation itself.
/// Read by [`ClientSet::Receive`](super::ClientSet::Receive) and
/// [`ClientSet::Interpolate`](super::ClientSet::Interpolate).
#[derive(Resource, Clone, Debug, PartialEq)]
pub struct InterpolationSettings {
    /// The delay never goes below this.
    pub min_delay: Duration,
    /// The delay never goes above this.
    pub max_delay: Duration,
    /// Server ticks between two replication sends (the server's
    /// [`ServerConfig::send_interval_ticks`](crate::server::ServerConfig)).
    pub send_interval_ticks: u32,
    /// How long a value may be extrapolated past the newest snapshot before it is held.
    pub max_extrapolation: Duration,
    /// Snapshots farther apart than this (as measured by
    /// [`Interpolate::distance`](crate::shared::interpolate::Interpolate::distance)) snap.
    pub snap_distance: f32,
}

impl Default for InterpolationSettings {
    fn default() -> Self {
        Self {
            min_delay: Duration::from_millis(30),
            max_delay: Duration::from_millis(300),
            send_interval_ticks: 1,
            max_extrapolation: Duration::from_millis(100),
            snap_distance: 5.0,
        }
    }
}

/// The client's clocks, all in server ticks. Updated once per frame by
/// [`ClientSet::Receive`](super::ClientSet::Receive), after the frame's packets are applied.
#[derive(Resource, Debug, Clone, Default)]
pub struct ClientTimeline {
    synced: bool,
    server_tick: f64,
    interpolation_tick: f64,
    input_tick: NetTick,
    delay_ticks: f64,
    speed: f64,
    error_smoothed: f64,
    jitter_ticks: f64,
    input_adjust: f64,
    rtt: f64,
    tick_seconds: f64,
    newest_sample: Option<NetTick>,
    pending_samples: Vec<NetTick>,
    input_feedback: Option<(f64, u32)>,
}

impl ClientTimeline {
    /// Whether the clock has heard from the server yet.
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// The newest server tick stamp received (any frame that carries one).
    pub fn newest_server_tick(&self) -> Option<NetTick> {
        self.newest_sample
    }

    /// Estimated current server tick (fractional), on an unwrapped line: past `u32::MAX` it
    /// keeps counting (see [`NetTick::unwrap_near`]); [`estimated_tick`](Self::estimated_tick)
    /// gives it as a `NetTick`.
    pub fn server_tick(&self) -> f64 {
        self.server_tick
    }

    /// Estimated current server tick.
    pub fn estimated_tick(&self) -> NetTick {
        NetTick::from_unwrapped(self.server_tick)
    }

    /// The fractional tick remote entities are drawn at: the tick of the newest snapshot
    /// arriving now (the server tick minus half the RTT) minus the interpolation delay. Never
    /// goes backwards; on the same unwrapped line as [`server_tick`](Self::server_tick).
    pub fn interpolation_tick(&self) -> f64 {
        self.interpolation_tick
    }

    /// The tick inputs recorded now are meant for: ahead of the server by about half the RTT
    /// plus a lead the server's feedback keeps small. Never goes backwards.
    pub fn input_tick(&self) -> NetTick {
        self.input_tick
    }

    /// The current interpolation delay.
    pub fn interpolation_delay(&self) -> Duration {
        Duration::from_secs_f64(self.delay_ticks * self.tick_seconds)
    }

    /// Round-trip time as renet measures it.
    pub fn rtt(&self) -> Duration {
        Duration::from_secs_f64(self.rtt)
    }

    /// Measured arrival jitter of server packets.
    pub fn jitter(&self) -> Duration {
        Duration::from_secs_f64(self.jitter_ticks * self.tick_seconds)
    }

    /// How far ahead inputs are sent, in ticks, beyond the server's estimated tick.
    pub fn input_lead_ticks(&self) -> f64 {
        self.input_tick.unwrap_near(self.server_tick) - self.server_tick
    }

    /// Notes a server tick stamp that arrived this frame.
    pub(crate) fn observe(&mut self, tick: NetTick) {
        self.pending_samples.push(tick);
    }

    /// Notes the server's report of how early inputs arrive: `(worst lead in ticks, late
    /// inputs)`.
    pub(crate) fn observe_input_feedback(&mut self, min_lead: f64, late: u32) {
        self.input_feedback = Some((min_lead, late));
    }

    /// Advances the clocks by `elapsed` real time and folds in this frame's evidence.
    pub(crate) fn advance(
        &mut self,
        elapsed: Duration,
        tick_seconds: f64,
        rtt_seconds: f64,
        packet_loss: f64,
        settings: &InterpolationSettings,
    ) {
        self.tick_seconds = tick_seconds;
        self.rtt = rtt_seconds;
        let one_way_ticks = rtt_seconds / 2.0 / tick_seconds;
        let newest = self
            .pending_samples
            .drain(..)
            .reduce(NetTick::max)
            .filter(|tick| self.newest_sample.is_none_or(|old| tick.is_newer_than(old)));
        let elapsed_ticks = elapsed.as_secs_f64() / tick_seconds;

        if !self.synced {
            let Some(sample) = newest else {
                return;
            };
            self.synced = true;
            self.speed = 1.0;
            self.server_tick = f64::from(sample.0) + one_way_ticks;
            self.delay_ticks = self.target_delay(packet_loss, settings);
            self.interpolation_tick = self.server_tick - one_way_ticks - self.delay_ticks;
            self.input_adjust = 2.0;
            self.input_tick =
                NetTick::from_unwrapped(self.server_tick + one_way_ticks + self.input_adjust);
            self.newest_sample = Some(sample);
            return;
        }

        self.server_tick += elapsed_ticks * self.speed;
        if let Some(sample) = newest {
            self.newest_sample = Some(sample);
            let error = sample.unwrap_near(self.server_tick) + one_way_ticks - self.server_tick;
            if error > SNAP_TICKS {
                self.server_tick += error;
                self.error_smoothed = 0.0;
            } else {
                self.jitter_ticks =
                    0.95 * self.jitter_ticks + 0.05 * (error - self.error_smoothed).abs();
                self.error_smoothed = 0.9 * self.error_smoothed + 0.1 * error;
            }
            self.speed =
                1.0 + (self.error_smoothed * SPEED_GAIN).clamp(-MAX_SPEED_CHANGE, MAX_SPEED_CHANGE);
        }

        let target = self.target_delay(packet_loss, settings);
        let max_step = DELAY_SLEW * elapsed_ticks;
        self.delay_ticks += (target - self.delay_ticks).clamp(-max_step, max_step);
        // Behind the newest snapshot arriving now (the server's tick one trip ago), not behind
        // the server itself: latency must not eat the delay that covers jitter and loss.
        self.interpolation_tick = self
            .interpolation_tick
            .max(self.server_tick - one_way_ticks - self.delay_ticks);

        if let Some((min_lead, _late)) = self.input_feedback.take() {
            let target = TARGET_INPUT_LEAD + loss_margin_ticks(packet_loss);
            self.input_adjust = (self.input_adjust + 0.5 * (target - min_lead)).clamp(-10.0, 60.0);
        }
        let input_tick =
            NetTick::from_unwrapped(self.server_tick + one_way_ticks + self.input_adjust);
        self.input_tick = self.input_tick.max(input_tick);
    }

    /// About two send intervals, plus margins for measured jitter and loss, within bounds.
    fn target_delay(&self, packet_loss: f64, settings: &InterpolationSettings) -> f64 {
        let interval = f64::from(settings.send_interval_ticks.max(1));
        let loss_margin = (packet_loss * 20.0).min(6.0) * interval;
        let delay = 2.0 * interval + 3.0 * self.jitter_ticks + loss_margin;
        let ticks = |d: Duration| d.as_secs_f64() / self.tick_seconds;
        delay.clamp(ticks(settings.min_delay), ticks(settings.max_delay))
    }
}

/// Extra input lead for a lossy link: enough ticks that a run of lost packets long enough to
/// make an input late (one tick per lost packet) has at most [`INPUT_MISS_PROBABILITY`].
fn loss_margin_ticks(packet_loss: f64) -> f64 {
    if packet_loss <= INPUT_MISS_PROBABILITY {
        return 0.0;
    }
    let losses_to_cover = (INPUT_MISS_PROBABILITY.ln() / packet_loss.min(0.5).ln()).ceil();
    (losses_to_cover - 1.0).clamp(0.0, 8.0)
}

/// Advances [`ClientTimeline`] with this frame's real time, renet's RTT and loss.
pub(crate) fn advance_timeline(
    mut timeline: ResMut<ClientTimeline>,
    client: Option<Res<RenetClient>>,
    time: Res<Time<Real>>,
    fixed: Res<Time<Fixed>>,
    settings: Res<InterpolationSettings>,
    simulated: Option<Res<super::SimulatedLink>>,
) {
    let (mut rtt, mut loss) =
        client.map_or((0.0, 0.0), |client| (client.rtt(), client.packet_loss()));
    // Renet measures its own packets, which a simulated link does not hold back: add what the
    // link adds to the crate's traffic.
    if let Some(link) = simulated {
        let conditioner = link.conditioner();
        rtt += 2.0 * conditioner.latency.as_secs_f64();
        loss = 1.0 - (1.0 - loss) * (1.0 - conditioner.loss);
    }
    timeline.advance(
        time.delta(),
        fixed.timestep().as_secs_f64(),
        rtt,
        loss,
        &settings,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: f64 = 1.0 / 60.0;
    const FRAME: Duration = Duration::from_nanos(16_666_667);

    #[test]
    fn follows_the_server_and_never_runs_backwards_under_jitter() {
        let settings = InterpolationSettings::default();
        let mut timeline = ClientTimeline::default();
        let mut state = 12345u64;
        let mut previous = (f64::MIN, f64::MIN, NetTick(0));
        for frame in 0..2_000u32 {
            // The server is at `frame`; samples arrive 3 ticks old, ±2 ticks of jitter.
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let jitter = (state >> 33) % 5;
            if frame > 5 {
                timeline.observe(NetTick(frame - 3 - jitter as u32 + 2));
            }
            timeline.advance(FRAME, TICK, 0.1, 0.0, &settings);
            if !timeline.is_synced() {
                continue;
            }
            assert!(
                timeline.server_tick() >= previous.0 - 0.2,
                "clock jumped back"
            );
            assert!(timeline.interpolation_tick() >= previous.1);
            assert!(!previous.2.is_newer_than(timeline.input_tick()));
            previous = (
                timeline.server_tick(),
                timeline.interpolation_tick(),
                timeline.input_tick(),
            );
            if frame > 600 {
                // Truth: the server is at `frame`; the estimate (sample + RTT/2) lands near it.
                let error = timeline.server_tick() - f64::from(frame);
                assert!(error.abs() < 4.0, "frame {frame}: off by {error:.2} ticks");
            }
        }
        let delay = timeline.interpolation_delay().as_secs_f64();
        assert!((0.03..=0.3).contains(&delay), "{delay}");
    }

    #[test]
    fn loss_margin_grows_with_loss() {
        assert_eq!(loss_margin_ticks(0.0), 0.0);
        assert_eq!(loss_margin_ticks(0.03), 2.0);
        assert_eq!(loss_margin_ticks(0.1), 3.0);
        assert!(loss_margin_ticks(0.9) <= 8.0);
    }

    #[test]
    fn input_lead_follows_feedback() {
        let settings = InterpolationSettings::default();
        let mut timeline = ClientTimeline::default();
        timeline.observe(NetTick(100));
        timeline.advance(FRAME, TICK, 0.05, 0.0, &settings);
        let lead_before = timeline.input_lead_ticks();
        for _ in 0..20 {
            // The server says inputs arrive 6 ticks early: too much.
            timeline.observe_input_feedback(6.0, 0);
            timeline.advance(FRAME, TICK, 0.05, 0.0, &settings);
        }
        assert!(timeline.input_lead_ticks() < lead_before);
        for _ in 0..40 {
            // Late: lead grows again.
            timeline.observe_input_feedback(-2.0, 3);
            timeline.advance(FRAME, TICK, 0.05, 0.0, &settings);
        }
        assert!(timeline.input_lead_ticks() > lead_before);
    }
}
