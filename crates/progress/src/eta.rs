//! ETA estimation (docs/progress-channel.md): how long the unfinished steps will take.
//!
//! The estimator is a pure function of what is known about each step, so it
//! is tested without clocks or sleeps. A step's remaining time comes from,
//! in order of preference:
//!
//! 1. **in-step progress** the step reported (elapsed / fraction done),
//!    blended with the prior below while the fraction is small;
//! 2. **history**: the median duration of the same step in earlier completed
//!    runs of the same pipeline;
//! 3. its **expected duration** from the configuration;
//!
//! with 2 and 3 scaled by how far this run's finished steps ran over or
//! under their own predictions (a slower machine today makes every step
//! slower). A step with nothing known is estimated from the others (the
//! mean of the known durations), never counted as zero.

/// Where a step's prediction came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The step's own progress reports.
    Progress,
    /// Durations of the same step in earlier runs.
    History,
    /// The configured expected duration.
    Expected,
    /// Nothing known about this step: the mean of the others.
    Others,
    /// Nothing known about any step.
    Unknown,
}

/// What the estimator knows about one step before it runs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Prior {
    /// Median seconds of this step in earlier completed runs.
    pub history: Option<f64>,
    /// Configured expected seconds.
    pub expected: Option<f64>,
    /// How much this step's duration varied in earlier completed runs:
    /// (90th − 10th percentile) / median, from at least
    /// [`MIN_RANGE_RUNS`] runs.
    pub spread: Option<f64>,
}

/// Fewest earlier completed runs of a step whose spread gives an ETA range.
pub const MIN_RANGE_RUNS: usize = 3;

/// A step's duration spread (see [`Prior::spread`]) from its durations in
/// earlier runs; `None` with fewer than [`MIN_RANGE_RUNS`] or a zero median.
///
/// ```
/// let spread = progress::eta::spread(&[90.0, 100.0, 110.0]).unwrap();
/// assert!((spread - 0.2).abs() < 1e-12);
/// assert_eq!(progress::eta::spread(&[90.0, 100.0]), None);
/// ```
pub fn spread(durations: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = durations
        .iter()
        .copied()
        .filter(|d| d.is_finite())
        .collect();
    if v.len() < MIN_RANGE_RUNS {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        f64::midpoint(v[n / 2 - 1], v[n / 2])
    };
    (median > 0.0).then(|| (rank(0.9) - rank(0.1)) / median)
}

impl Prior {
    /// The unscaled prior prediction and its source.
    fn base(&self) -> Option<(f64, Source)> {
        valid(self.history)
            .map(|h| (h, Source::History))
            .or_else(|| valid(self.expected).map(|e| (e, Source::Expected)))
    }
}

fn valid(v: Option<f64>) -> Option<f64> {
    v.filter(|v| v.is_finite() && *v >= 0.0)
}

/// Where a step is now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Phase {
    /// Not started.
    Pending,
    /// Started `elapsed` seconds ago; `fraction` done if it reported any.
    Running {
        /// Seconds since the step started.
        elapsed: f64,
        /// Fraction done (0–1) from the step's progress reports.
        fraction: Option<f64>,
    },
    /// Completed after `actual` seconds.
    Done {
        /// Seconds it took.
        actual: f64,
    },
    /// Failed: takes no more time, and says nothing about how long the step
    /// takes when it works (a crash after 1 s is not a fast run).
    Failed,
    /// Skipped or disabled: takes no time and is not counted.
    Skipped,
}

/// One step as the estimator sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct StepView {
    /// What was known before it ran.
    pub prior: Prior,
    /// Where it is.
    pub phase: Phase,
}

/// The estimate for a whole run.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Seconds until every unfinished step is done; `None` when nothing at
    /// all is known (no history, no expectations, nothing finished yet).
    pub remaining: Option<f64>,
    /// Remaining seconds per step (0 for finished or skipped steps).
    pub per_step: Vec<(f64, Source)>,
    /// The factor applied to history and expected durations.
    pub scale: f64,
    /// The band `(low, high)` the remaining time is expected in (about a
    /// 10th to 90th percentile), when the steps still to run have a
    /// history spread ([`Prior::spread`]); `None` otherwise.
    pub range: Option<(f64, f64)>,
}

/// The range's half-width as a multiple of a step's history spread: the
/// spread of a few runs understates how far the next one may fall, so the
/// band is wider than the runs seen (calibrated on the seeded simulation of
/// `examples/eta_accuracy.rs` to hold the truth at ≥ 80 % of step starts).
pub const RANGE_WIDTH: f64 = 1.25;
/// The least half-width of a step's range, relative: no history is so
/// steady that the next run cannot differ by this much.
pub const MIN_RANGE_HALF_WIDTH: f64 = 0.05;
/// The half-width of a step whose history has no spread (a new step, or
/// one with expectations only), relative.
pub const UNKNOWN_RANGE_HALF_WIDTH: f64 = 0.5;

/// Fractions below this are too noisy to extrapolate on their own.
const MIN_FRACTION: f64 = 0.01;
/// Bounds of the run-speed scale factor.
const SCALE_RANGE: (f64, f64) = (0.2, 5.0);

/// Estimates the remaining time of a run.
///
/// ```
/// use progress::eta::{estimate, Phase, Prior, StepView};
/// let step = |expected: f64, phase| StepView { prior: Prior { expected: Some(expected), ..Prior::default() }, phase };
/// // Step 1 was expected to take 10 s and took 20 s: this machine is 2x slower
/// // today, so the 30 s step still to come should take about 60 s.
/// let eta = estimate(&[step(10.0, Phase::Done { actual: 20.0 }), step(30.0, Phase::Pending)]);
/// assert_eq!(eta.remaining, Some(60.0));
/// assert_eq!(eta.range, None, "no history spread, no range");
///
/// // With a history whose runs spread by 20 %, the 60 s come with a band.
/// let with_history = StepView {
///     prior: Prior { history: Some(30.0), spread: Some(0.2), ..Prior::default() },
///     phase: Phase::Pending,
/// };
/// let eta = estimate(&[step(10.0, Phase::Done { actual: 20.0 }), with_history]);
/// assert_eq!(eta.remaining, Some(60.0));
/// assert_eq!(eta.range, Some((45.0, 75.0)));
/// ```
pub fn estimate(steps: &[StepView]) -> Estimate {
    let scale = run_scale(steps);
    // Mean duration of what is known, for steps with nothing known.
    let known: Vec<f64> = steps
        .iter()
        .filter_map(|s| match s.phase {
            Phase::Done { actual } => Some(actual),
            Phase::Skipped | Phase::Failed => None,
            Phase::Pending | Phase::Running { .. } => s.prior.base().map(|(base, _)| base * scale),
        })
        .collect();
    let fallback = (!known.is_empty()).then(|| known.iter().sum::<f64>() / known.len() as f64);

    let mut remaining = Some(0.0);
    let mut per_step = Vec::with_capacity(steps.len());
    // The band: each step's remaining time, widened by its own spread.
    let (mut low, mut high, mut spread_known) = (0.0, 0.0, false);
    for step in steps {
        let prior = step
            .prior
            .base()
            .map(|(base, source)| (base * scale, source))
            .or_else(|| fallback.map(|f| (f, Source::Others)));
        let (left, source) = match step.phase {
            Phase::Done { .. } | Phase::Failed | Phase::Skipped => (Some(0.0), Source::Progress),
            Phase::Pending => match prior {
                Some((total, source)) => (Some(total), source),
                None => (None, Source::Unknown),
            },
            Phase::Running { elapsed, fraction } => running_remaining(elapsed, fraction, prior),
        };
        let left_now = left.unwrap_or(0.0);
        if left_now > 0.0 {
            let half = match step.prior.spread {
                Some(spread) => {
                    spread_known = true;
                    (RANGE_WIDTH * spread).max(MIN_RANGE_HALF_WIDTH)
                }
                None => UNKNOWN_RANGE_HALF_WIDTH,
            };
            // A step's own progress narrows what is left of its band.
            let half = match step.phase {
                Phase::Running {
                    fraction: Some(f), ..
                } if f.is_finite() => half * (1.0 - f.clamp(0.0, 1.0)).sqrt(),
                _ => half,
            };
            low += left_now * (1.0 - half).max(0.0);
            high += left_now * (1.0 + half);
        }
        per_step.push((left_now, source));
        remaining = match (remaining, left) {
            (Some(r), Some(l)) => Some(r + l),
            _ => None,
        };
    }
    let range = remaining
        .filter(|r| *r > 0.0 && spread_known)
        .map(|_| (low, high));
    Estimate {
        remaining,
        per_step,
        scale,
        range,
    }
}

/// How much slower (> 1) or faster (< 1) this run's finished steps were than
/// predicted before they started.
fn run_scale(steps: &[StepView]) -> f64 {
    let (actual, predicted) = steps
        .iter()
        .filter_map(|s| match s.phase {
            Phase::Done { actual } => s.prior.base().map(|(base, _)| (actual, base)),
            _ => None,
        })
        .fold((0.0, 0.0), |(a, p), (actual, base)| (a + actual, p + base));
    if predicted <= 0.0 || actual <= 0.0 {
        return 1.0;
    }
    (actual / predicted).clamp(SCALE_RANGE.0, SCALE_RANGE.1)
}

fn running_remaining(
    elapsed: f64,
    fraction: Option<f64>,
    prior: Option<(f64, Source)>,
) -> (Option<f64>, Source) {
    let elapsed = elapsed.max(0.0);
    let from_progress = fraction
        .filter(|f| f.is_finite() && *f >= MIN_FRACTION)
        .map(|f| f.min(1.0))
        .map(|f| (f, elapsed / f - elapsed));
    let from_prior = prior.map(|(total, source)| {
        // Past its prediction, a step is assumed to need a little longer
        // still, rather than to be done: never promise zero.
        let left = (total - elapsed).max(0.1 * total.max(elapsed));
        (left, source)
    });
    match (from_progress, from_prior) {
        (Some((f, p)), Some((prior_left, _))) => {
            // Trust the step's own measurement more as it gets further.
            let w = f.sqrt();
            (Some(w * p + (1.0 - w) * prior_left), Source::Progress)
        }
        (Some((_, p)), None) => (Some(p), Source::Progress),
        (None, Some((left, source))) => (Some(left), source),
        (None, None) => (None, Source::Unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(history: Option<f64>, expected: Option<f64>) -> StepView {
        StepView {
            prior: Prior {
                history,
                expected,
                spread: None,
            },
            phase: Phase::Pending,
        }
    }

    fn done(view: StepView, actual: f64) -> StepView {
        StepView {
            phase: Phase::Done { actual },
            ..view
        }
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn history_is_preferred_over_expected() {
        let eta = estimate(&[pending(Some(30.0), Some(100.0)), pending(None, Some(10.0))]);
        assert!(close(eta.remaining, 40.0), "{eta:?}");
        assert_eq!(eta.per_step[0].1, Source::History);
        assert_eq!(eta.per_step[1].1, Source::Expected);
    }

    #[test]
    fn wrong_expectations_are_corrected_by_finished_steps() {
        // Everything takes 3x longer than configured.
        let steps = [
            done(pending(None, Some(10.0)), 30.0),
            pending(None, Some(20.0)),
            pending(None, Some(5.0)),
        ];
        let eta = estimate(&steps);
        assert!(close(eta.remaining, 75.0), "{eta:?}");
        assert!((eta.scale - 3.0).abs() < 1e-9);
    }

    #[test]
    fn scale_is_bounded() {
        let eta = estimate(&[
            done(pending(None, Some(1.0)), 1000.0),
            pending(None, Some(1.0)),
        ]);
        assert!(close(eta.remaining, 5.0), "{eta:?}");
    }

    #[test]
    fn steps_with_nothing_known_use_the_others_never_zero() {
        // No expectations at all: after two steps, the rest are their mean.
        let steps = [
            done(pending(None, None), 10.0),
            done(pending(None, None), 20.0),
            pending(None, None),
            pending(None, None),
        ];
        let eta = estimate(&steps);
        assert!(close(eta.remaining, 30.0), "{eta:?}");
        assert_eq!(eta.per_step[2].1, Source::Others);
        // One step known, one not: the unknown one is not free.
        let eta = estimate(&[pending(None, Some(8.0)), pending(None, None)]);
        assert!(close(eta.remaining, 16.0), "{eta:?}");
    }

    #[test]
    fn nothing_known_at_all_is_unknown() {
        let eta = estimate(&[pending(None, None), pending(None, None)]);
        assert_eq!(eta.remaining, None);
        assert_eq!(eta.per_step[0].1, Source::Unknown);
    }

    #[test]
    fn a_fast_failure_does_not_make_the_rest_look_fast() {
        let failed = StepView {
            prior: Prior {
                history: None,
                expected: Some(100.0),
                spread: None,
            },
            phase: Phase::Failed,
        };
        let eta = estimate(&[failed, pending(None, Some(100.0))]);
        assert!(close(eta.remaining, 100.0), "{eta:?}");
        assert!((eta.scale - 1.0).abs() < 1e-9);
        // Nor does it feed the estimate of unknown steps.
        let failed = StepView {
            prior: Prior::default(),
            phase: Phase::Failed,
        };
        let eta = estimate(&[done(pending(None, None), 10.0), failed, pending(None, None)]);
        assert!(close(eta.remaining, 10.0), "{eta:?}");
    }

    #[test]
    fn skipped_steps_take_no_time_and_do_not_skew_the_scale() {
        let skipped = StepView {
            prior: Prior {
                history: None,
                expected: Some(1000.0),
                spread: None,
            },
            phase: Phase::Skipped,
        };
        let eta = estimate(&[skipped, pending(None, Some(10.0))]);
        assert!(close(eta.remaining, 10.0), "{eta:?}");
        assert!((eta.scale - 1.0).abs() < 1e-9);
    }

    #[test]
    fn in_step_progress_takes_over_as_it_advances() {
        let running = |elapsed, fraction| StepView {
            prior: Prior {
                history: None,
                expected: Some(100.0),
                spread: None,
            },
            phase: Phase::Running { elapsed, fraction },
        };
        // The step is twice as slow as expected: at 25 % after 50 s, it
        // needs 150 s more. The estimate moves from the prior (50 s) towards
        // 150 s and reaches it at the end.
        let early = estimate(&[running(50.0, Some(0.25))]).remaining.unwrap();
        assert!((100.0..150.0).contains(&early), "{early}");
        let late = estimate(&[running(180.0, Some(0.9))]).remaining.unwrap();
        assert!((late - 20.0).abs() < 3.0, "{late}");
        // Without a prior, progress alone.
        let bare = StepView {
            prior: Prior::default(),
            phase: Phase::Running {
                elapsed: 10.0,
                fraction: Some(0.5),
            },
        };
        assert!(close(estimate(&[bare]).remaining, 10.0));
        // A tiny or nonsensical fraction is ignored.
        let eta = estimate(&[running(1.0, Some(0.001))]).remaining.unwrap();
        assert!((eta - 99.0).abs() < 1e-9, "{eta}");
        let eta = estimate(&[running(1.0, Some(f64::NAN))]).remaining.unwrap();
        assert!((eta - 99.0).abs() < 1e-9, "{eta}");
    }

    #[test]
    fn a_running_step_past_its_prediction_still_needs_time() {
        let view = StepView {
            prior: Prior {
                history: Some(10.0),
                expected: None,
                spread: None,
            },
            phase: Phase::Running {
                elapsed: 25.0,
                fraction: None,
            },
        };
        let left = estimate(&[view]).remaining.unwrap();
        assert!(left > 0.0, "{left}");
    }
}
