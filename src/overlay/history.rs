//! [`History`]: a graph's samples of the last [`SAMPLES`] periods, how one sample is taken from
//! a diagnostic, and the scale a graph is drawn at.

use core::time::Duration;
use std::collections::VecDeque;

use bevy::{diagnostic::Diagnostic, platform::time::Instant};

/// Samples a graph shows: 15 seconds.
pub(super) const SAMPLES: usize = 60;

/// Time between two samples.
pub(super) const SAMPLE_PERIOD: Duration = Duration::from_millis(250);

/// A period without a new measurement shows the newest one while it is at most this old (the
/// server's figures come once a second); after that, nothing.
const HOLD: Duration = Duration::from_millis(1_500);

/// One sample: the bars' value and the marks' value, in the units shown.
pub(super) type Sample = [Option<f64>; 2];

/// A graph's samples, oldest first, at most [`SAMPLES`].
#[derive(Debug, Default)]
pub(super) struct History {
    samples: VecDeque<Sample>,
}

impl History {
    /// Adds the newest sample, forgetting the oldest past [`SAMPLES`].
    pub(super) fn push(&mut self, sample: Sample) {
        if self.samples.len() == SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
    }

    /// [`SAMPLES`] slots, oldest first: empty ones first until the history is full, so the
    /// newest sample is always drawn at the right.
    pub(super) fn slots(&self) -> impl Iterator<Item = Sample> + '_ {
        core::iter::repeat_n([None, None], SAMPLES - self.samples.len())
            .chain(self.samples.iter().copied())
    }

    /// The newest sample.
    pub(super) fn newest(&self) -> Sample {
        self.samples.back().copied().unwrap_or([None, None])
    }

    /// Whether any sample has a value for the bars (a figure this App records).
    pub(super) fn has_values(&self) -> bool {
        self.samples.iter().any(|[bars, _]| bars.is_some())
    }

    /// The top of the scale: the largest value held (and `floor`), rounded up to 1, 2 or 5
    /// times a power of ten.
    pub(super) fn top(&self, floor: f64) -> f64 {
        let largest = self
            .samples
            .iter()
            .flatten()
            .flatten()
            .copied()
            .fold(floor, f64::max);
        round_up(largest)
    }
}

/// `value` rounded up to 1, 2 or 5 times a power of ten (1 for anything not positive).
pub(super) fn round_up(value: f64) -> f64 {
    if !value.is_finite() || value <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0]
        .into_iter()
        .map(|step| step * power)
        .find(|&top| value <= top * (1.0 + 1e-9))
        .unwrap_or(10.0 * power)
}

/// How high `value` reaches in a graph topped at `top`, percent of its height.
pub(super) fn height_percent(value: Option<f64>, top: f64) -> f32 {
    value.map_or(0.0, |value| (value / top * 100.0).clamp(0.0, 100.0) as f32)
}

/// A diagnostic's value for the period from `since` to `now`: the mean of the measurements
/// taken in it; else the newest measurement if at most [`HOLD`] old; else none.
pub(super) fn sample(diagnostic: Option<&Diagnostic>, since: Instant, now: Instant) -> Option<f64> {
    let diagnostic = diagnostic?;
    let (sum, count) = diagnostic
        .measurements()
        .filter(|measurement| measurement.time > since && measurement.value.is_finite())
        .fold((0.0, 0u32), |(sum, count), measurement| {
            (sum + measurement.value, count + 1)
        });
    if count > 0 {
        return Some(sum / f64::from(count));
    }
    let newest = diagnostic.measurement()?;
    (newest.value.is_finite() && now.saturating_duration_since(newest.time) <= HOLD)
        .then_some(newest.value)
}

#[cfg(test)]
mod tests {
    use bevy::diagnostic::{DiagnosticMeasurement, DiagnosticPath};

    use super::*;

    #[test]
    fn scales_round_up_to_one_two_or_five() {
        assert_eq!(round_up(0.0), 1.0);
        assert_eq!(round_up(f64::NAN), 1.0);
        assert_eq!(round_up(1.0), 1.0);
        assert_eq!(round_up(1.3), 2.0);
        assert_eq!(round_up(4.9), 5.0);
        assert_eq!(round_up(7.0), 10.0);
        assert_eq!(round_up(230.0), 500.0);
        assert!((round_up(0.03) - 0.05).abs() < 1e-12);
    }

    #[test]
    fn the_newest_sample_is_drawn_at_the_right() {
        let mut history = History::default();
        assert!(!history.has_values());
        history.push([Some(3.0), None]);
        history.push([None, Some(40.0)]);
        let slots: Vec<Sample> = history.slots().collect();
        assert_eq!(slots.len(), SAMPLES);
        assert_eq!(slots[SAMPLES - 2], [Some(3.0), None]);
        assert_eq!(history.newest(), [None, Some(40.0)]);
        assert!(history.has_values());
        assert_eq!(history.top(10.0), 50.0);
        for value in 0..2 * SAMPLES {
            history.push([Some(value as f64), None]);
        }
        assert_eq!(history.slots().count(), SAMPLES);
        assert_eq!(history.top(1.0), 200.0);
        assert_eq!(height_percent(Some(50.0), 200.0), 25.0);
        assert_eq!(height_percent(Some(900.0), 200.0), 100.0);
        assert_eq!(height_percent(None, 200.0), 0.0);
    }

    #[test]
    fn a_sample_is_the_mean_of_the_period_or_a_recent_value() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut diagnostic = Diagnostic::new(DiagnosticPath::const_new("test/sample"));
        for (ms, value) in [(100, 1.0), (300, 2.0), (400, 4.0)] {
            diagnostic.add_measurement(DiagnosticMeasurement {
                time: at(ms),
                value,
            });
        }
        assert_eq!(sample(Some(&diagnostic), at(250), at(500)), Some(3.0));
        assert_eq!(sample(Some(&diagnostic), at(500), at(750)), Some(4.0));
        assert_eq!(sample(Some(&diagnostic), at(2_000), at(2_250)), None);
        assert_eq!(sample(None, at(0), at(250)), None);
    }
}
