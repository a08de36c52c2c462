//! Measurements against baselines: one outcome per scenario, with the
//! recommendations a breach raises.

use std::collections::BTreeMap;

use recommend::{Baseline, Inputs, Thresholds, ThroughputMetric};
use serde::{Deserialize, Serialize};
use telemetry_model::{PerfStatus, PerformanceRecommendation, PerformanceTestResult, Timestamp};

use crate::baselines::Baselines;
use crate::classify::{Tolerance, median, noise_allowance};
use crate::error::{Error, Result};

/// The message of a result without a baseline.
pub const NO_BASELINE_MESSAGE: &str = "no baseline, recorded as candidate";

/// What one scenario measured: the throughput of each repetition.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    /// Scenario name, the key of its baseline (`manifest_append`,
    /// `my-pipeline/train`).
    pub test_id: String,
    /// The configuration it ran with (a pipeline file, a fixture size).
    pub matrix: Option<String>,
    /// Unit of the throughput (`records/s`).
    pub unit: String,
    /// Throughput of each repetition; non-finite values are ignored.
    pub samples: Vec<f64>,
    /// Seconds spent measuring, all repetitions together.
    pub duration_seconds: f64,
}

impl Measurement {
    /// The median over the repetitions.
    pub fn median(&self) -> Option<f64> {
        median(&self.samples)
    }
}

/// One scenario's verdict: the [`PerformanceTestResult`] recorded in the
/// manifest plus the details written to `perf_test_results.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The manifest's result (`recommendations_ref` is set when recorded).
    #[serde(flatten)]
    pub result: PerformanceTestResult,
    /// Unit of both throughputs.
    pub unit: String,
    /// measured / baseline, when both are known.
    pub ratio: Option<f64>,
    /// The ratios it was judged by (the baseline's, its soft ratio
    /// lowered by the noise allowance); `None` without a baseline.
    pub tolerance: Option<Tolerance>,
    /// How much the soft ratio was lowered for the repetitions' spread
    /// ([`crate::noise_allowance`]); `None` with fewer than three.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_allowance: Option<f64>,
    /// Throughput of each repetition.
    pub samples: Vec<f64>,
    /// One line for people: the verdict and why.
    pub message: String,
    /// The recommendations it raised (recorded in the manifest).
    #[serde(skip)]
    pub recommendations: Vec<PerformanceRecommendation>,
}

/// Counts of outcomes by status (the model's, as `summary.perf_tests`
/// carries them).
pub use telemetry_model::PerfCounts as Counts;

/// Every scenario's outcome, in measurement order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evaluation {
    /// One per measurement.
    pub outcomes: Vec<Outcome>,
}

impl Evaluation {
    /// Judges each measurement against its baseline (see [`Tolerance`] for
    /// the boundaries). A scenario without a baseline passes with
    /// [`NO_BASELINE_MESSAGE`]; one that measured nothing fails. Breaches
    /// get the `throughput_below_baseline` recommendation of the
    /// `recommend` crate, with the scenario's ratios as its thresholds, so a
    /// soft breach always has a warning and a failure a critical one.
    ///
    /// Fails only when a measurement's unit differs from its baseline's.
    pub fn evaluate(measurements: &[Measurement], baselines: &Baselines) -> Result<Self> {
        Self::evaluate_at(measurements, baselines, Timestamp::now())
    }

    /// [`Evaluation::evaluate`] with the time recommendations are stamped with.
    pub fn evaluate_at(
        measurements: &[Measurement],
        baselines: &Baselines,
        now: Timestamp,
    ) -> Result<Self> {
        let outcomes = measurements
            .iter()
            .map(|m| judge(m, baselines, now))
            .collect::<Result<_>>()?;
        Ok(Self { outcomes })
    }

    /// Outcomes by status.
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for o in &self.outcomes {
            match o.result.status {
                PerfStatus::Passed => counts.passed += 1,
                PerfStatus::SoftBreach => counts.soft_breach += 1,
                PerfStatus::Failed => counts.failed += 1,
            }
        }
        counts
    }

    /// The worst status; `passed` for no outcome at all.
    pub fn verdict(&self) -> PerfStatus {
        self.counts().verdict()
    }

    /// Whether any scenario failed (the commands then exit 1).
    pub fn failed(&self) -> bool {
        self.verdict() == PerfStatus::Failed
    }
}

fn judge(m: &Measurement, baselines: &Baselines, now: Timestamp) -> Result<Outcome> {
    let measured = m.median();
    let entry = baselines.get(&m.test_id);
    if let (Some(entry), Some(_)) = (entry, measured)
        && entry.unit != m.unit
    {
        return Err(Error::UnitMismatch {
            path: baselines.display_path(),
            test_id: m.test_id.clone(),
            baseline_unit: entry.unit.clone(),
            measured_unit: m.unit.clone(),
        });
    }
    let allowance = noise_allowance(&m.samples);
    let tolerance = entry.map(|e| e.tolerance().widened(allowance.unwrap_or(0.0)));
    let ratio = match (measured, entry) {
        (Some(v), Some(e)) => Some(v / e.baseline),
        _ => None,
    };
    let (status, message) = match (measured, entry) {
        (None, _) => (
            PerfStatus::Failed,
            "nothing measured: no repetition reported a throughput".to_owned(),
        ),
        (Some(_), None) => (PerfStatus::Passed, NO_BASELINE_MESSAGE.to_owned()),
        (Some(v), Some(e)) => {
            let t = e.tolerance().widened(allowance.unwrap_or(0.0));
            let ratio = v / e.baseline;
            let status = t.classify(ratio);
            // Said where the allowance moved the soft ratio.
            let noise = allowance
                .filter(|_| t.soft_ratio < e.tolerance().soft_ratio)
                .map(|_| {
                    format!(
                        "; {:.2}x less {:.2} for the spread of {} repeats",
                        e.tolerance().soft_ratio,
                        e.tolerance().soft_ratio - t.soft_ratio,
                        m.samples.len()
                    )
                })
                .unwrap_or_default();
            let message = match status {
                PerfStatus::Passed => format!(
                    "{ratio:.2}x the baseline (soft breach at or below {:.2}x{noise})",
                    t.soft_ratio
                ),
                PerfStatus::SoftBreach => format!(
                    "{ratio:.2}x the baseline: at or below the soft ratio {:.2}x{noise}",
                    t.soft_ratio
                ),
                PerfStatus::Failed => format!(
                    "{ratio:.2}x the baseline: at or below the hard ratio {:.2}x, a regression",
                    t.hard_ratio
                ),
            };
            (status, message)
        }
    };
    let recommendations = match (entry, measured, tolerance) {
        (Some(e), Some(v), Some(t)) if status != PerfStatus::Passed => {
            recommend_for(&m.test_id, e.baseline, &e.unit, v, t, now)
        }
        _ => Vec::new(),
    };
    Ok(Outcome {
        result: PerformanceTestResult {
            test_id: m.test_id.clone(),
            matrix: m.matrix.clone(),
            throughput_baseline: entry.map(|e| e.baseline),
            throughput_measured: measured,
            duration_seconds: Some(m.duration_seconds).filter(|d| d.is_finite() && *d >= 0.0),
            status,
            recommendations_ref: Vec::new(),
        },
        unit: m.unit.clone(),
        ratio,
        tolerance,
        noise_allowance: allowance,
        samples: m.samples.clone(),
        message,
        recommendations,
    })
}

/// The recommendation rule over one scenario, thresholds = its ratios.
fn recommend_for(
    test_id: &str,
    baseline: f64,
    unit: &str,
    measured: f64,
    t: Tolerance,
    now: Timestamp,
) -> Vec<PerformanceRecommendation> {
    let mut thresholds = Thresholds::default();
    thresholds.throughput.warning_ratio = t.soft_ratio;
    thresholds.throughput.critical_ratio = t.hard_ratio;
    thresholds.cpu_saturation.enabled = false;
    thresholds.memory_pressure.enabled = false;
    thresholds.gpu_idle_cpu_bound.enabled = false;
    thresholds.slow_step.enabled = false;
    let baselines = BTreeMap::from([(
        test_id.to_owned(),
        Baseline {
            value: baseline,
            unit: unit.to_owned(),
            metric: ThroughputMetric::StepsPerSec,
        },
    )]);
    let measured = BTreeMap::from([(test_id.to_owned(), measured)]);
    let inputs = Inputs {
        baselines: &baselines,
        measured_throughput: &measured,
        now_ms: Some(now.unix_ms()),
        ..Inputs::default()
    };
    recommend::recommend(&inputs, &thresholds)
}

#[cfg(test)]
mod tests {
    use telemetry_model::Severity;

    use super::*;
    use crate::MIN_SOFT_RATIO;
    use crate::baselines::BaselineEntry;

    fn baselines(entries: &[(&str, f64, f64, f64)]) -> Baselines {
        let mut b = Baselines::empty();
        b.path = Some("perf/baselines.json".into());
        for (name, value, soft, hard) in entries {
            let mut e = BaselineEntry::new(*value, "ops/s");
            e.soft_ratio = *soft;
            e.hard_ratio = *hard;
            b.scenarios.insert((*name).to_owned(), e);
        }
        b
    }

    fn measurement(name: &str, samples: &[f64]) -> Measurement {
        Measurement {
            test_id: name.to_owned(),
            matrix: None,
            unit: "ops/s".to_owned(),
            samples: samples.to_vec(),
            duration_seconds: 1.5,
        }
    }

    #[test]
    fn the_spread_of_the_repeats_widens_the_soft_ratio_down_to_the_floor() {
        let b = baselines(&[("a", 100.0, 0.9, 0.5)]);
        let judge = |samples: &[f64]| {
            let e = Evaluation::evaluate(&[measurement("a", samples)], &b).unwrap();
            e.outcomes[0].clone()
        };
        // Median 86 (0.86x), deviations 6, 0, 4, 2, 8: a spread of 0.05.
        let noisy = judge(&[80.0, 86.0, 90.0, 84.0, 94.0]);
        assert_eq!(noisy.result.status, PerfStatus::Passed, "{}", noisy.message);
        assert_eq!(noisy.noise_allowance, Some(4.0 / 86.0));
        assert!(
            noisy
                .message
                .contains("0.90x less 0.05 for the spread of 5 repeats"),
            "{}",
            noisy.message
        );
        assert!(noisy.recommendations.is_empty());
        // The same median from steady repeats is a soft breach.
        let steady = judge(&[86.0, 86.0, 86.0]);
        assert_eq!(steady.result.status, PerfStatus::SoftBreach);
        assert_eq!(steady.noise_allowance, Some(0.0));
        // Two repeats say nothing of their noise.
        assert_eq!(judge(&[80.0, 92.0]).noise_allowance, None);
        assert_eq!(judge(&[80.0, 92.0]).result.status, PerfStatus::SoftBreach);
        // However wide the spread, a drop of 25 % or more stays a soft breach
        // and one to the hard ratio a failure.
        let wide = judge(&[40.0, 74.0, 150.0]);
        assert_eq!(wide.tolerance.unwrap().soft_ratio, MIN_SOFT_RATIO);
        assert_eq!(wide.result.status, PerfStatus::SoftBreach);
        assert_eq!(judge(&[10.0, 50.0, 90.0]).result.status, PerfStatus::Failed);
    }

    #[test]
    fn statuses_messages_and_recommendations() {
        let b = baselines(&[
            ("fast", 100.0, 0.8, 0.5),
            ("soft", 100.0, 0.8, 0.5),
            ("hard", 100.0, 0.8, 0.5),
            ("empty", 100.0, 0.8, 0.5),
        ]);
        let ms = [
            measurement("fast", &[99.0, 101.0, 100.0]),
            // The median of steady repeats (and two outliers): no allowance.
            measurement("soft", &[80.0, 10.0, 200.0, 80.0, 80.0]),
            measurement("hard", &[50.0]),
            measurement("new", &[7.0, 9.0]),
            measurement("empty", &[]),
        ];
        let e = Evaluation::evaluate_at(&ms, &b, Timestamp::from_unix_ms(5)).unwrap();
        let statuses: Vec<_> = e.outcomes.iter().map(|o| o.result.status).collect();
        assert_eq!(
            statuses,
            [
                PerfStatus::Passed,
                PerfStatus::SoftBreach,
                PerfStatus::Failed,
                PerfStatus::Passed,
                PerfStatus::Failed
            ]
        );
        assert_eq!(
            e.outcomes[1].result.throughput_measured,
            Some(80.0),
            "median"
        );
        assert_eq!(e.outcomes[1].ratio, Some(0.8));
        assert_eq!(e.outcomes[3].message, NO_BASELINE_MESSAGE);
        assert_eq!(e.outcomes[3].result.throughput_baseline, None);
        assert_eq!(e.outcomes[3].result.throughput_measured, Some(8.0));
        assert!(e.outcomes[4].message.starts_with("nothing measured"));
        let severities: Vec<Vec<Severity>> = e
            .outcomes
            .iter()
            .map(|o| o.recommendations.iter().map(|r| r.severity).collect())
            .collect();
        assert_eq!(
            severities,
            [
                vec![],
                vec![Severity::Warning],
                vec![Severity::Critical],
                vec![],
                vec![]
            ]
        );
        let rec = &e.outcomes[1].recommendations[0];
        assert_eq!(rec.trigger, "throughput_below_baseline");
        assert_eq!(rec.timestamp_ms, 5);
        assert!(rec.message.contains("'soft'"), "{}", rec.message);
        assert_eq!(
            e.counts(),
            Counts {
                passed: 2,
                soft_breach: 1,
                failed: 2
            }
        );
        assert_eq!(e.counts().describe(), "2 failed, 1 soft-breach, 2 passed");
        assert!(e.failed());
    }

    #[test]
    fn statuses_agree_with_the_recommendation_rule_at_every_boundary() {
        for (soft, hard) in [(0.8, 0.5), (0.75, 0.75), (1.0, 0.3), (0.9, 0.6)] {
            for measured in [
                100.0 * soft,
                100.0 * hard,
                100.0 * soft + 1e-6,
                100.0 * hard + 1e-6,
                100.0 * hard - 1e-6,
                75.0,
                100.0,
                0.0,
                150.0,
            ] {
                let b = baselines(&[("s", 100.0, soft, hard)]);
                let e = Evaluation::evaluate(&[measurement("s", &[measured])], &b).unwrap();
                let o = &e.outcomes[0];
                let severity = o.recommendations.first().map(|r| r.severity);
                let expected = match o.result.status {
                    PerfStatus::Passed => None,
                    PerfStatus::SoftBreach => Some(Severity::Warning),
                    PerfStatus::Failed => Some(Severity::Critical),
                };
                assert_eq!(
                    severity, expected,
                    "soft {soft} hard {hard} measured {measured}"
                );
                if measured <= 75.0 {
                    assert_ne!(o.result.status, PerfStatus::Passed, "a 25 % drop");
                }
            }
        }
    }

    #[test]
    fn a_unit_mismatch_names_the_file_and_key() {
        let b = baselines(&[("s", 100.0, 0.8, 0.5)]);
        let mut m = measurement("s", &[1.0]);
        m.unit = "fps".to_owned();
        let err = Evaluation::evaluate(&[m], &b).unwrap_err();
        assert_eq!(err.key().as_deref(), Some("scenarios.s.unit"));
        assert!(
            err.to_string()
                .starts_with("perf/baselines.json: scenarios.s.unit: the baseline is in ops/s"),
            "{err}"
        );
    }
}
