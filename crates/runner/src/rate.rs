//! The end-of-run rating: recommendations and resource aggregates from a
//! run's telemetry, its steps and its pipeline's history (docs/telemetry.md).

use std::collections::BTreeMap;
use std::path::Path;

use manifest::ArtifactRoot;
use progress::ProgressTracker;
use telemetry_model::PerformanceRecommendation;

/// Completed runs of the pipeline whose step durations rate this one.
pub(crate) const HISTORY_RUNS: usize = 20;

/// What the rating found, and whether its recommendations were recorded.
pub(crate) struct Rated {
    pub recommendations: Vec<PerformanceRecommendation>,
    pub recorded: Result<(), progress::Error>,
}

/// Rates the run of `tracker`: recommendations (appended to the manifest)
/// and resource aggregates (`summary.resources`). Unreadable inputs count
/// as absent.
pub(crate) fn assess(
    tracker: &ProgressTracker,
    root: &ArtifactRoot,
    pipeline: &str,
    thresholds: &recommend::Thresholds,
    run_dir: &Path,
) -> Rated {
    let mut snapshots = Vec::new();
    let telemetry = run_dir.join(manifest::files::TELEMETRY);
    if telemetry.is_file() {
        let _ = manifest::read_jsonl(&telemetry, |_, s| snapshots.push(s));
    }
    let record = tracker.record();
    let history = step_history(root, pipeline);
    let (baselines, measured) = (Default::default(), Default::default());
    let inputs = recommend::Inputs {
        snapshots: &snapshots,
        steps: &record.steps,
        history: &history,
        baselines: &baselines,
        measured_throughput: &measured,
        now_ms: None,
    };
    let recommendations = recommend::recommend(&inputs, thresholds);
    let summary = recommend::summarize(&inputs, thresholds);
    tracker.update_summary(|s| s.resources = Some(summary));
    let recorded = tracker.add_recommendations(&recommendations);
    Rated {
        recommendations,
        recorded,
    }
}

/// How long each step took in the newest completed runs of `pipeline` (the
/// run being rated is still running, so it is not among them).
fn step_history(root: &ArtifactRoot, pipeline: &str) -> BTreeMap<String, recommend::StepHistory> {
    progress::step_durations(root, pipeline, HISTORY_RUNS)
        .into_iter()
        .filter_map(|(id, d)| recommend::StepHistory::from_durations(d).map(|h| (id, h)))
        .collect()
}
