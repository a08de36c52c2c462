//! `throughput_below_baseline`: measured throughput against a stored
//! baseline.

use std::collections::BTreeMap;

use telemetry_model::{PerformanceRecommendation, Severity, TelemetrySnapshot};

use super::{Evidence, Rule, object, recommendation, show, subject};
use crate::inputs::{Baseline, Inputs};
use crate::series::{MeanMax, valid};
use crate::thresholds::{GUARANTEED_WARNING_RATIO, ThroughputThresholds};
use telemetry_model::BaselineStatus;

/// Relative tolerance of the ratio comparisons, so that 750 / 1000 lands
/// on 0.75 whatever the rounding of a mean.
const TOLERANCE: f64 = 1e-9;

/// Where a throughput measurement came from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Source {
    /// Handed in by the caller.
    Given,
    /// The mean over this many snapshots.
    Snapshots(usize),
}

/// One step's throughput against its baseline.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Comparison<'a> {
    pub(crate) baseline: Option<&'a Baseline>,
    pub(crate) measured: Option<(f64, Source)>,
    pub(crate) ratio: Option<f64>,
    pub(crate) status: BaselineStatus,
}

/// Compares `key`'s throughput (given, else the mean of its snapshots)
/// with its baseline. Without a usable baseline the status is
/// "no baseline", whatever was measured.
pub(crate) fn compare_throughput<'a>(
    key: &str,
    inputs: &Inputs<'a>,
    samples: Option<&Vec<&TelemetrySnapshot>>,
    t: &ThroughputThresholds,
) -> Comparison<'a> {
    let baseline = inputs.baselines.get(key);
    let metric = baseline.map(|b| b.metric).unwrap_or_default();
    let measured = match valid(inputs.measured_throughput.get(key).copied()) {
        Some(v) => Some((v, Source::Given)),
        None => {
            let mut m = MeanMax::default();
            for s in samples.into_iter().flatten() {
                m.add(metric.read(s));
            }
            m.mean()
                .filter(|_| m.count() >= t.min_samples.max(1))
                .map(|v| (v, Source::Snapshots(m.count())))
        }
    };
    let Some(base) = baseline.and_then(Baseline::usable) else {
        return Comparison {
            baseline: None,
            measured,
            ratio: None,
            status: BaselineStatus::NoBaseline,
        };
    };
    let Some((value, _)) = measured else {
        return Comparison {
            baseline,
            measured,
            ratio: None,
            status: BaselineStatus::NoMeasurement,
        };
    };
    let ratio = value / base;
    Comparison {
        baseline,
        measured,
        ratio: Some(ratio),
        status: classify(ratio, t),
    }
}

/// The warning ratio in force: the configured one, never below the 25 %
/// guarantee (a NaN one counts as the guarantee).
fn warning_ratio(t: &ThroughputThresholds) -> f64 {
    t.warning_ratio.max(GUARANTEED_WARNING_RATIO)
}

fn at_or_below(ratio: f64, limit: f64) -> bool {
    ratio <= limit * (1.0 + TOLERANCE)
}

fn classify(ratio: f64, t: &ThroughputThresholds) -> BaselineStatus {
    if at_or_below(ratio, t.critical_ratio) {
        BaselineStatus::Critical
    } else if at_or_below(ratio, warning_ratio(t)) {
        BaselineStatus::Warning
    } else {
        BaselineStatus::Ok
    }
}

pub(super) fn check(
    inputs: &Inputs<'_>,
    groups: &BTreeMap<Option<&str>, Vec<&TelemetrySnapshot>>,
    t: &ThroughputThresholds,
    at: i64,
    out: &mut Vec<PerformanceRecommendation>,
) {
    for key in inputs.baselines.keys() {
        let c = compare_throughput(key, inputs, groups.get(&Some(key.as_str())), t);
        let (severity, threshold_key, threshold) = match c.status {
            BaselineStatus::Critical => (
                Severity::Critical,
                "throughput.critical_ratio",
                t.critical_ratio,
            ),
            BaselineStatus::Warning => (
                Severity::Warning,
                "throughput.warning_ratio",
                warning_ratio(t),
            ),
            _ => continue,
        };
        let (Some(baseline), Some((measured, source)), Some(ratio)) =
            (c.baseline, c.measured, c.ratio)
        else {
            continue;
        };
        let step = Some(key.as_str());
        let drop_percent = (1.0 - ratio) * 100.0;
        let mut evidence = Evidence::new(step)
            .num("baseline", baseline.value)
            .num("measured", measured)
            .text("unit", &baseline.unit)
            .num("ratio", ratio)
            .num("drop_percent", drop_percent)
            .threshold(threshold_key, threshold)
            .num("warning_ratio", warning_ratio(t))
            .num("critical_ratio", t.critical_ratio);
        evidence = match source {
            Source::Given => evidence.text("source", "given"),
            Source::Snapshots(n) => evidence
                .text("source", baseline.metric.as_str())
                .count("samples", n),
        };
        let message = format!(
            "{} ran at {:.2}x its baseline throughput ({} vs {} {}, {:.0} % slower).",
            subject(step),
            ratio,
            show(measured),
            show(baseline.value),
            baseline.unit,
            drop_percent,
        );
        let what = object(step);
        let mut actions = vec![
            format!(
                "Compare this run with the one that set the baseline: host, other load on \
                 the machine, CPU frequency or thermal throttling, library versions and the \
                 configuration of {what}."
            ),
            format!(
                "Profile {what} (for example `py-spy record` or `perf record`) to find where \
                 the time goes, and look at this run's CPU, memory and GPU recommendations \
                 for a cause."
            ),
        ];
        if severity == Severity::Critical {
            actions.push(
                "If the slowdown is intended (a larger model or scenario), record a new \
                 baseline; otherwise treat it as a regression and bisect the changes since \
                 the baseline was recorded."
                    .to_owned(),
            );
        }
        out.push(recommendation(
            Rule::ThroughputBelowBaseline,
            severity,
            message,
            evidence,
            actions,
            at,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(warning: f64, critical: f64) -> ThroughputThresholds {
        ThroughputThresholds {
            warning_ratio: warning,
            critical_ratio: critical,
            ..ThroughputThresholds::default()
        }
    }

    #[test]
    fn boundaries_are_inclusive() {
        let d = ThroughputThresholds::default();
        assert_eq!(classify(0.8, &d), BaselineStatus::Warning);
        assert_eq!(classify(0.8000001, &d), BaselineStatus::Ok);
        assert_eq!(classify(0.6, &d), BaselineStatus::Critical);
        assert_eq!(classify(0.75, &d), BaselineStatus::Warning);
        assert_eq!(classify(1.2, &d), BaselineStatus::Ok);
    }

    #[test]
    fn the_25_percent_guarantee_survives_bad_thresholds() {
        for warning in [0.5, 0.0, -1.0, f64::NAN] {
            let bad = t(warning, 0.1);
            assert_eq!(classify(0.75, &bad), BaselineStatus::Warning, "{warning}");
            assert_eq!(classify(0.74999999999, &bad), BaselineStatus::Warning);
        }
        assert_eq!(classify(0.76, &t(0.5, 0.1)), BaselineStatus::Ok);
        assert_eq!(
            classify(0.05, &t(f64::NAN, f64::NAN)),
            BaselineStatus::Warning
        );
    }
}
