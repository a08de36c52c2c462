//! Measured throughput against a baseline: passed, soft breach or failed.

use serde::{Deserialize, Serialize};
use telemetry_model::PerfStatus;

/// The lowest soft ratio allowed: a throughput drop of 25 % or more
/// (measured / baseline ≤ 0.75) is always at least a soft breach, with a
/// recommendation (docs/perf.md). The same floor as the recommendation rule's
/// `throughput.warning_ratio` ([`recommend::GUARANTEED_WARNING_RATIO`]).
pub const MIN_SOFT_RATIO: f64 = recommend::GUARANTEED_WARNING_RATIO;

/// Default soft ratio: 20 % slower than the baseline is a soft breach.
pub const DEFAULT_SOFT_RATIO: f64 = 0.8;

/// Default hard ratio: half the baseline throughput (2× slower) or less
/// fails.
pub const DEFAULT_HARD_RATIO: f64 = 0.5;

/// Relative slack of the boundary comparisons, so that a ratio that is a
/// boundary up to floating-point rounding (`0.6 / 0.8`) counts as on it.
/// The recommendation rule uses the same, so statuses and recommendations
/// agree at the boundaries.
const TOLERANCE: f64 = 1e-9;

/// How far below its baseline a throughput may fall, as ratios
/// measured / baseline.
///
/// | ratio = measured / baseline | status |
/// |---|---|
/// | ratio > `soft_ratio` | `passed` |
/// | `hard_ratio` < ratio ≤ `soft_ratio` | `soft-breach` |
/// | ratio ≤ `hard_ratio` | `failed` |
///
/// Both boundaries belong to the worse side, as in the recommendation rule
/// (a drop of *at least* 25 % always warns; *at least* 2× slower fails):
/// a measurement exactly at `soft_ratio` × baseline is a soft breach, one
/// exactly at `hard_ratio` × baseline fails.
///
/// ```
/// use perf_gate::Tolerance;
/// use telemetry_model::PerfStatus;
///
/// let t = Tolerance::default(); // soft 0.8, hard 0.5
/// assert_eq!(t.classify(0.81), PerfStatus::Passed);
/// assert_eq!(t.classify(0.8), PerfStatus::SoftBreach);
/// assert_eq!(t.classify(0.51), PerfStatus::SoftBreach);
/// assert_eq!(t.classify(0.5), PerfStatus::Failed);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tolerance {
    /// At or below this ratio: at least a soft breach. In
    /// [[`MIN_SOFT_RATIO`], 1].
    pub soft_ratio: f64,
    /// At or below this ratio: failed. In (0, `soft_ratio`].
    pub hard_ratio: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Self {
            soft_ratio: DEFAULT_SOFT_RATIO,
            hard_ratio: DEFAULT_HARD_RATIO,
        }
    }
}

impl Tolerance {
    /// Checks the ratios; `Err` names the ratio at fault and says why.
    ///
    /// ```
    /// use perf_gate::Tolerance;
    /// assert!(Tolerance { soft_ratio: 0.8, hard_ratio: 0.5 }.validate().is_ok());
    /// let (key, _) = Tolerance { soft_ratio: 0.7, hard_ratio: 0.5 }.validate().unwrap_err();
    /// assert_eq!(key, "soft_ratio");
    /// ```
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !soft_ratio_ok(self.soft_ratio) {
            return Err(("soft_ratio", soft_ratio_expectation()));
        }
        if !hard_ratio_ok(self.hard_ratio, self.soft_ratio) {
            return Err(("hard_ratio", hard_ratio_expectation(self.soft_ratio)));
        }
        Ok(())
    }

    /// The status of a measurement at `ratio` × its baseline. A ratio that
    /// is not a number fails.
    pub fn classify(&self, ratio: f64) -> PerfStatus {
        if ratio.is_nan() || at_or_below(ratio, self.hard_ratio) {
            PerfStatus::Failed
        } else if at_or_below(ratio, self.soft_ratio.max(MIN_SOFT_RATIO)) {
            PerfStatus::SoftBreach
        } else {
            PerfStatus::Passed
        }
    }
}

fn at_or_below(ratio: f64, limit: f64) -> bool {
    ratio <= limit * (1.0 + TOLERANCE)
}

pub(crate) fn soft_ratio_ok(value: f64) -> bool {
    (MIN_SOFT_RATIO..=1.0).contains(&value)
}

pub(crate) fn hard_ratio_ok(value: f64, soft: f64) -> bool {
    value > 0.0 && value <= soft
}

pub(crate) fn soft_ratio_expectation() -> String {
    format!(
        "expected a number in [{MIN_SOFT_RATIO}, 1]: a throughput drop of 25 % or more must \
         always be at least a soft breach"
    )
}

pub(crate) fn hard_ratio_expectation(soft: f64) -> String {
    format!("expected a number in (0, soft_ratio = {soft}]")
}

/// Fewest repetitions whose spread is trusted as noise
/// ([`noise_allowance`]).
pub const MIN_NOISE_REPEATS: usize = 3;

/// Largest noise allowance: a spread wider than this says the measurement
/// is unstable, not that any drop is noise.
pub const MAX_NOISE_ALLOWANCE: f64 = 0.15;

/// How much lower than its soft ratio a measurement may fall before it is a
/// soft breach, learned from the spread of its repetitions: the median
/// absolute deviation of the repetitions relative to their median, at most
/// [`MAX_NOISE_ALLOWANCE`]. `None` with fewer than [`MIN_NOISE_REPEATS`]
/// finite repetitions (one or two runs say nothing of their noise).
///
/// ```
/// use perf_gate::noise_allowance;
/// // Median 100, deviations 10, 0, 8, 2, 30: their median is 8.
/// let allowance = noise_allowance(&[90.0, 100.0, 108.0, 98.0, 130.0]).unwrap();
/// assert!((allowance - 0.08).abs() < 1e-12);
/// assert_eq!(noise_allowance(&[90.0, 110.0]), None);
/// assert_eq!(noise_allowance(&[50.0, 100.0, 150.0]), Some(0.15), "capped");
/// ```
pub fn noise_allowance(samples: &[f64]) -> Option<f64> {
    let finite: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.len() < MIN_NOISE_REPEATS {
        return None;
    }
    let center = median(&finite).filter(|m| *m > 0.0)?;
    let deviations: Vec<f64> = finite.iter().map(|v| (v - center).abs()).collect();
    let mad = median(&deviations)?;
    Some((mad / center).min(MAX_NOISE_ALLOWANCE))
}

impl Tolerance {
    /// These ratios with the soft ratio lowered by `allowance` (the
    /// repetitions' noise), but never below [`MIN_SOFT_RATIO`] nor the hard
    /// ratio: a drop of 25 % or more stays a soft breach, and a hard
    /// regression stays a failure.
    pub fn widened(self, allowance: f64) -> Self {
        let floor = MIN_SOFT_RATIO.max(self.hard_ratio);
        let soft = (self.soft_ratio - allowance.max(0.0)).max(floor);
        Self {
            soft_ratio: soft.min(self.soft_ratio),
            hard_ratio: self.hard_ratio,
        }
    }
}

/// The median of the finite values; `None` when there is none. An even
/// count gives the mean of the two middle values.
///
/// ```
/// assert_eq!(perf_gate::median(&[3.0, 1.0, 2.0]), Some(2.0));
/// assert_eq!(perf_gate::median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
/// assert_eq!(perf_gate::median(&[f64::NAN]), None);
/// ```
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(measured: f64, baseline: f64, t: Tolerance) -> PerfStatus {
        t.classify(measured / baseline)
    }

    #[test]
    fn exactly_at_the_soft_ratio_is_a_soft_breach() {
        let t = Tolerance::default();
        assert_eq!(status(800.0, 1000.0, t), PerfStatus::SoftBreach);
        // Rounding does not move the boundary: 0.6 / 0.75 is 0.7999999999999999.
        assert_eq!(status(0.6, 0.75, t), PerfStatus::SoftBreach);
        assert_eq!(status(800.001, 1000.0, t), PerfStatus::Passed);
        assert_eq!(status(1000.0, 1000.0, t), PerfStatus::Passed);
    }

    #[test]
    fn exactly_at_the_hard_ratio_fails() {
        let t = Tolerance::default();
        assert_eq!(status(500.0, 1000.0, t), PerfStatus::Failed);
        assert_eq!(status(0.15, 0.3, t), PerfStatus::Failed);
        assert_eq!(status(500.001, 1000.0, t), PerfStatus::SoftBreach);
        assert_eq!(status(0.0, 1000.0, t), PerfStatus::Failed);
    }

    #[test]
    fn boundaries_hold_for_other_ratios() {
        let t = Tolerance {
            soft_ratio: 0.9,
            hard_ratio: 0.9,
        };
        assert_eq!(
            t.classify(0.9),
            PerfStatus::Failed,
            "equal ratios: no soft band"
        );
        assert_eq!(t.classify(0.9000001), PerfStatus::Passed);
        let t = Tolerance {
            soft_ratio: 1.0,
            hard_ratio: 0.25,
        };
        assert_eq!(t.classify(1.0), PerfStatus::SoftBreach);
        assert_eq!(t.classify(1.0000001), PerfStatus::Passed);
        assert_eq!(t.classify(0.25), PerfStatus::Failed);
        assert_eq!(t.classify(f64::NAN), PerfStatus::Failed);
        assert_eq!(t.classify(f64::INFINITY), PerfStatus::Passed);
    }

    #[test]
    fn a_25_percent_drop_is_always_at_least_a_soft_breach() {
        // Even with unvalidated ratios that would let it pass.
        let lax = Tolerance {
            soft_ratio: 0.5,
            hard_ratio: 0.1,
        };
        assert_eq!(lax.classify(0.75), PerfStatus::SoftBreach);
        assert_eq!(lax.classify(0.7500001), PerfStatus::Passed);
        for soft in [MIN_SOFT_RATIO, DEFAULT_SOFT_RATIO, 1.0] {
            let t = Tolerance {
                soft_ratio: soft,
                hard_ratio: DEFAULT_HARD_RATIO,
            };
            assert_ne!(t.classify(0.75), PerfStatus::Passed, "soft {soft}");
            assert_ne!(t.classify(0.3), PerfStatus::Passed, "soft {soft}");
        }
    }

    #[test]
    fn validation_names_the_ratio() {
        let ok = |soft, hard| {
            Tolerance {
                soft_ratio: soft,
                hard_ratio: hard,
            }
            .validate()
            .map_err(|(key, _)| key)
        };
        assert_eq!(ok(0.8, 0.5), Ok(()));
        assert_eq!(ok(0.75, 0.75), Ok(()));
        assert_eq!(ok(1.0, 0.01), Ok(()));
        assert_eq!(ok(0.74, 0.5), Err("soft_ratio"));
        assert_eq!(ok(1.01, 0.5), Err("soft_ratio"));
        assert_eq!(ok(f64::NAN, 0.5), Err("soft_ratio"));
        assert_eq!(ok(0.8, 0.0), Err("hard_ratio"));
        assert_eq!(ok(0.8, 0.81), Err("hard_ratio"));
        assert_eq!(ok(0.8, f64::NAN), Err("hard_ratio"));
    }

    #[test]
    fn median_of_odd_even_and_dirty_inputs() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[5.0]), Some(5.0));
        assert_eq!(median(&[9.0, 1.0, 5.0, f64::NAN, 3.0]), Some(4.0));
        assert_eq!(median(&[1.0, f64::INFINITY, 2.0]), Some(1.5));
    }
}
