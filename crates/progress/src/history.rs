//! Priors from history: how long each step took in earlier runs.

use std::collections::HashMap;

use manifest::{ArtifactRoot, Query, RunState, list_runs};
use telemetry_model::StepStatus;

/// Durations of each step id, completed steps only, in the newest
/// `max_runs` completed runs of `pipeline` (a live run is not completed, so
/// never counts). Unreadable history is no history: this never fails.
pub fn step_durations(
    root: &ArtifactRoot,
    pipeline: &str,
    max_runs: usize,
) -> HashMap<String, Vec<f64>> {
    let query = Query {
        state: Some(RunState::Completed),
        // Matches the pipeline name (and scenario names, filtered out below).
        scenario: Some(pipeline.to_owned()),
        limit: Some(max_runs),
        ..Query::default()
    };
    let mut samples: HashMap<String, Vec<f64>> = HashMap::new();
    let Ok(listing) = list_runs(root, &query) else {
        return samples;
    };
    for run in listing
        .runs
        .iter()
        .filter(|r| r.record.pipeline.as_deref() == Some(pipeline))
    {
        for step in &run.record.steps {
            if step.status == StepStatus::Completed
                && let Some(d) = step.duration_seconds.filter(|d| d.is_finite() && *d >= 0.0)
            {
                samples.entry(step.step_id.clone()).or_default().push(d);
            }
        }
    }
    samples
}

/// Median duration of each step id over the newest `max_runs` completed
/// runs of `pipeline` (see [`step_durations`]).
pub fn step_medians(root: &ArtifactRoot, pipeline: &str, max_runs: usize) -> HashMap<String, f64> {
    step_durations(root, pipeline, max_runs)
        .into_iter()
        .map(|(id, mut durations)| {
            durations.sort_by(f64::total_cmp);
            let n = durations.len();
            let median = if n % 2 == 1 {
                durations[n / 2]
            } else {
                (durations[n / 2 - 1] + durations[n / 2]) / 2.0
            };
            (id, median)
        })
        .collect()
}
