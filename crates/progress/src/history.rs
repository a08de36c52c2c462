//! Priors from history: how long each step took in earlier runs.

use std::collections::HashMap;

use manifest::{ArtifactRoot, Query, RunState, list_runs};
use telemetry_model::StepStatus;

/// Durations of each step id, completed steps only, in the newest
/// `max_runs` completed runs of `pipeline` (a live run is not completed, so
/// never counts; performance-test runs of the pipeline, marked
/// `summary.perf_tests`, run its steps under other ids and do not count
/// either). Unreadable history is no history: this never fails.
pub fn step_durations(
    root: &ArtifactRoot,
    pipeline: &str,
    max_runs: usize,
) -> HashMap<String, Vec<f64>> {
    let query = Query {
        state: Some(RunState::Completed),
        // Matches the pipeline name (and scenario names, filtered out below).
        scenario: Some(pipeline.to_owned()),
        // Room for runs filtered out below (perf runs, scenario matches).
        limit: Some(max_runs.saturating_mul(4)),
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
        .filter(|r| r.record.summary.perf_tests.is_none())
        .take(max_runs)
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
        .filter_map(|(id, durations)| median_of(&durations).map(|m| (id, m)))
        .collect()
}

/// The median of `durations`, `None` for none.
pub(crate) fn median_of(durations: &[f64]) -> Option<f64> {
    let mut v = durations.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    (n > 0).then(|| {
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use manifest::{RunOptions, RunWriter};
    use telemetry_model::{RunStatus, StepExecutionEntry, Timestamp};

    /// A completed run of `pipeline` created at `minute`, one step `id`
    /// that took `secs`; a perf run if `perf`.
    fn add_run(root: &ArtifactRoot, minute: i64, id: &str, secs: f64, perf: bool) {
        let options = RunOptions {
            sync: false,
            ..RunOptions::default()
        };
        let mut writer = RunWriter::create(root, &options).unwrap();
        let mut record = writer.new_record();
        record.created_at = Timestamp::from_unix_ms(1_750_000_000_000 + minute * 60_000);
        record.pipeline = Some("demo".into());
        record.status = RunStatus::Completed;
        let mut step = StepExecutionEntry::new(id, id, 1);
        step.status = StepStatus::Completed;
        step.duration_seconds = Some(secs);
        record.steps = vec![step];
        if perf {
            record.summary.perf_tests = Some(telemetry_model::PerfSummary {
                kind: "perf-tests".into(),
                ..Default::default()
            });
        }
        writer.commit(&record).unwrap();
    }

    #[test]
    fn perf_runs_of_the_pipeline_neither_count_nor_crowd_out_its_history() {
        let tmp = tempfile::tempdir().unwrap();
        let root = ArtifactRoot::new(tmp.path());
        add_run(&root, 0, "train", 10.0, false);
        add_run(&root, 1, "train", 20.0, false);
        for minute in 2..5 {
            add_run(&root, minute, "train.r1", 1.0, true);
        }
        let durations = step_durations(&root, "demo", 2);
        assert_eq!(durations.len(), 1, "{durations:?}");
        let mut train = durations["train"].clone();
        train.sort_by(f64::total_cmp);
        assert_eq!(train, [10.0, 20.0]);
    }
}
