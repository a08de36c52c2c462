//! `slow_step`: a completed step much slower than the same step in earlier
//! runs.

use telemetry_model::{PerformanceRecommendation, Severity, StepStatus, format_duration};

use super::{Evidence, Rule, object, recommendation, subject};
use crate::inputs::Inputs;
use crate::series::valid;
use crate::thresholds::SlowStepThresholds;

/// Relative tolerance of the ratio comparisons.
const TOLERANCE: f64 = 1e-9;

pub(super) fn check(
    inputs: &Inputs<'_>,
    t: &SlowStepThresholds,
    at: i64,
    out: &mut Vec<PerformanceRecommendation>,
) {
    for entry in inputs.steps {
        if entry.status != StepStatus::Completed {
            continue;
        }
        let duration = valid(entry.duration_seconds).or_else(|| {
            let (start, end) = (entry.started_at?, entry.ended_at?);
            valid(Some(end.seconds_since(start)))
        });
        let Some(duration) = duration else { continue };
        let Some(history) = inputs.history.get(&entry.step_id) else {
            continue;
        };
        let Some(median) = valid(Some(history.median_seconds)).filter(|m| *m > 0.0) else {
            continue;
        };
        if history.samples < t.min_history.max(1) {
            continue;
        }
        let ratio = duration / median;
        let extra = duration - median;
        let reaches = |limit: f64| ratio >= limit * (1.0 - TOLERANCE);
        if !(reaches(t.ratio) && extra >= t.min_extra_seconds) {
            continue;
        }
        let (severity, threshold_key, threshold) = if reaches(t.critical_ratio) {
            (
                Severity::Critical,
                "slow_step.critical_ratio",
                t.critical_ratio,
            )
        } else {
            (Severity::Warning, "slow_step.ratio", t.ratio)
        };
        let step = Some(entry.step_id.as_str());
        let evidence = Evidence::new(step)
            .threshold(threshold_key, threshold)
            .num("min_extra_seconds", t.min_extra_seconds)
            .count("min_history", t.min_history)
            .num("duration_seconds", duration)
            .num("history_median_seconds", median)
            .count("history_samples", history.samples)
            .num("ratio", ratio)
            .num("extra_seconds", extra);
        let runs = if history.samples == 1 { "run" } else { "runs" };
        let message = format!(
            "{} took {}, {ratio:.1}x its median of {} over {} earlier {runs}.",
            subject(step),
            format_duration(duration),
            format_duration(median),
            history.samples,
        );
        let what = object(step);
        let actions = vec![
            format!(
                "Compare the log of {what} with an earlier run's for retries, extra work or \
                 new warnings."
            ),
            format!(
                "Check whether the inputs or configuration of {what} grew since earlier runs, \
                 and look at this run's CPU, memory and GPU recommendations for contention \
                 during the step."
            ),
        ];
        out.push(recommendation(
            Rule::SlowStep,
            severity,
            message,
            evidence,
            actions,
            at,
        ));
    }
}
