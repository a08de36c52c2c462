//! A perf run is a tracked run: its results go into the manifest, its run
//! directory and its record's summary.

use std::path::{Path, PathBuf};

use progress::ProgressTracker;
use serde::{Deserialize, Serialize};
use telemetry_model::{PerfStatus, Timestamp};

use crate::error::{Error, Result};
use crate::evaluate::{Counts, Evaluation, Outcome};
use crate::metrics::{HostInfo, Metrics};

/// The detailed results in a perf run's directory ([`ResultsDoc`]).
pub const RESULTS_FILE: &str = "perf_test_results.json";
/// The metrics document in a perf run's directory ([`Metrics`]).
pub const METRICS_FILE: &str = "metrics.json";
/// Version of [`ResultsDoc`].
pub const RESULTS_SCHEMA_VERSION: u32 = 1;

/// What `summary.perf_tests` of a perf run's record says: that the run is
/// a perf run, and, once judged, its counts and verdict (the model's type,
/// `record.summary.perf_tests`).
pub use telemetry_model::PerfSummary;

/// `perf_test_results.json`: every result with its details.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultsDoc {
    /// [`RESULTS_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The perf run.
    pub run_id: String,
    /// `xtask` or `scenario`.
    pub kind: String,
    /// The baselines file.
    pub baselines: Option<String>,
    /// Where it ran.
    pub host: HostInfo,
    /// Git revision, if known.
    pub revision: Option<String>,
    /// When it was judged.
    pub timestamp: Timestamp,
    /// The worst status.
    pub verdict: PerfStatus,
    /// Outcomes by status.
    pub counts: Counts,
    /// One per scenario, with its `recommendations_ref`.
    pub results: Vec<Outcome>,
}

impl ResultsDoc {
    /// Reads `perf_test_results.json` from a run directory; `None` when it
    /// is missing or unreadable (runs recorded by other tools).
    pub fn read(run_dir: &Path) -> Option<Self> {
        // Only a regular file of sane size: a FIFO put there must not
        // block `tracker show`.
        let bytes = manifest::read_regular(&run_dir.join(RESULTS_FILE), 64 << 20).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// Where a perf run and its files are.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    /// The run.
    pub run_id: String,
    /// `perf_test_results.json`.
    pub results: PathBuf,
    /// `metrics.json`.
    pub metrics: PathBuf,
}

/// Marks a tracked run as a perf run (`summary.perf_tests`, no verdict
/// yet), so that `tracker list` tells it apart while it measures. Persisted
/// with the run's next transition.
pub fn mark_perf_run(tracker: &ProgressTracker, kind: &str, baselines: Option<&Path>) {
    let summary = PerfSummary {
        kind: kind.to_owned(),
        baselines: baselines.map(|p| p.display().to_string()),
        ..PerfSummary::default()
    };
    tracker.update_summary(|s| s.perf_tests = Some(summary));
}

/// Records a judged perf run before it is concluded: appends each
/// outcome's recommendations and then its result (with
/// `recommendations_ref` pointing at them, in manifest order) to the
/// manifest, writes [`RESULTS_FILE`] and [`METRICS_FILE`] into the run
/// directory, and sets the verdict in `summary.perf_tests`.
///
/// Fills in the outcomes' `recommendations_ref`.
pub fn record_perf_run(
    tracker: &ProgressTracker,
    evaluation: &mut Evaluation,
    kind: &str,
    baselines: Option<&Path>,
    host: HostInfo,
    revision: Option<String>,
) -> Result<Recorded> {
    let mut next = tracker.recommendation_count();
    for outcome in &mut evaluation.outcomes {
        outcome.result.recommendations_ref = (next..next + outcome.recommendations.len()).collect();
        next += outcome.recommendations.len();
        tracker.add_recommendations(&outcome.recommendations)?;
    }
    let results: Vec<_> = evaluation
        .outcomes
        .iter()
        .map(|o| o.result.clone())
        .collect();
    tracker.add_perf_tests(&results)?;

    let now = Timestamp::now();
    let counts = evaluation.counts();
    let baselines = baselines.map(|p| p.display().to_string());
    let doc = ResultsDoc {
        schema_version: RESULTS_SCHEMA_VERSION,
        run_id: tracker.run_id().to_owned(),
        kind: kind.to_owned(),
        baselines: baselines.clone(),
        host: host.clone(),
        revision: revision.clone(),
        timestamp: now,
        verdict: counts.verdict(),
        counts,
        results: evaluation.outcomes.clone(),
    };
    let metrics = Metrics::from_evaluation(
        evaluation,
        host,
        revision,
        now,
        Some(tracker.run_id().to_owned()),
    );
    let dir = tracker.dir();
    let recorded = Recorded {
        run_id: tracker.run_id().to_owned(),
        results: dir.join(RESULTS_FILE),
        metrics: dir.join(METRICS_FILE),
    };
    write_pretty(&recorded.results, &doc, "perf_test_results.json")?;
    write_pretty(&recorded.metrics, &metrics, "metrics.json")?;
    let summary = PerfSummary {
        kind: kind.to_owned(),
        baselines,
        counts,
        verdict: Some(counts.verdict()),
    };
    tracker.update_summary(|s| s.perf_tests = Some(summary));
    Ok(recorded)
}

fn write_pretty(path: &Path, value: &impl Serialize, what: &'static str) -> Result<()> {
    let mut bytes =
        serde_json::to_vec_pretty(value).map_err(|source| Error::Serialize { what, source })?;
    bytes.push(b'\n');
    manifest::write_atomic(path, &bytes, true)?;
    Ok(())
}
