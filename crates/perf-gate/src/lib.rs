//! Performance smoke tests against stored baselines (docs/perf.md): the
//! baselines file, the passed / soft-breach / failed verdict, and recording
//! a perf run as a tracked run. Shared by `cargo xtask perf` (the tracker's
//! own hot paths) and `tracker perf-tests` (users' pipelines).
//!
//! - [`Baselines`] reads and writes the baselines file
//!   (`perf/baselines.json`): per scenario a baseline throughput, its unit,
//!   a soft and a hard ratio and the host it was measured on. Errors name
//!   the file and the key.
//! - [`Tolerance::classify`] judges measured / baseline: above the soft
//!   ratio `passed`; at or below it `soft-breach`; at or below the hard
//!   ratio `failed`. The soft ratio is never below [`MIN_SOFT_RATIO`]
//!   (0.75), so a throughput drop of 25 % or more is always at least a soft
//!   breach with a recommendation.
//! - [`Evaluation::evaluate`] judges the median of each [`Measurement`]'s
//!   repetitions and attaches the `recommend` crate's
//!   `throughput_below_baseline` recommendation to every breach. A scenario
//!   without a baseline passes with "no baseline, recorded as candidate";
//!   no baseline is ever made up.
//! - [`record_perf_run`] writes the verdict into a tracked run: a
//!   `{"perf_test": …}` line per scenario (with `recommendations_ref`), the
//!   recommendations, `perf_test_results.json`, `metrics.json` (the shape of
//!   rust-analyzer's `xtask metrics`) and `summary.perf_tests`
//!   ([`PerfSummary`]), by which `tracker list` tells perf runs apart.
//! - [`finish`] is the end of every perf run: evaluate, record, conclude,
//!   print, and rewrite the baselines when asked.
//!
//! # Example
//!
//! ```
//! use std::path::Path;
//! use perf_gate::{Baselines, Evaluation, HostInfo, Measurement};
//! use progress::{Display, ProgressTracker, StepSpec, TrackerOptions};
//! use telemetry_model::PerfStatus;
//!
//! let baselines = Baselines::parse(
//!     r#"{"schema_version": 1, "scenarios": {
//!         "append": {"baseline": 1000, "unit": "records/s", "soft_ratio": 0.8, "hard_ratio": 0.5}}}"#,
//!     Path::new("perf/baselines.json"),
//! )?;
//! let measure = |name: &str, samples: Vec<f64>| Measurement {
//!     test_id: name.into(), matrix: None, unit: "records/s".into(), samples, duration_seconds: 1.0,
//! };
//! // The median, 700, is 0.7x the baseline: a soft breach, with a warning.
//! let mut evaluation = Evaluation::evaluate(
//!     &[measure("append", vec![690.0, 700.0, 1200.0]), measure("list", vec![40.0])],
//!     &baselines,
//! )?;
//! assert_eq!(evaluation.outcomes[0].result.status, PerfStatus::SoftBreach);
//! assert_eq!(evaluation.outcomes[0].recommendations.len(), 1);
//! assert_eq!(evaluation.outcomes[1].message, "no baseline, recorded as candidate");
//! assert!(!evaluation.failed());
//!
//! // Record it as a tracked run.
//! # let tmp = tempfile::tempdir()?;
//! let mut options = TrackerOptions::new("xtask-perf", manifest::ArtifactRoot::new(tmp.path()));
//! options.display = Display::Quiet;
//! let tracker = ProgressTracker::start(options, vec![StepSpec::new("append", "Append")])?;
//! perf_gate::mark_perf_run(&tracker, "xtask", None);
//! tracker.start_step("append")?;
//! tracker.complete_step("append")?;
//! let recorded = perf_gate::record_perf_run(
//!     &tracker, &mut evaluation, "xtask", None, HostInfo::detect(), None,
//! )?;
//! let record = tracker.finish(progress::Ending::FromSteps)?;
//!
//! let contents = manifest::read_manifest(&tracker_dir(&recorded))?;
//! assert_eq!(contents.perf_tests.len(), 2);
//! assert_eq!(contents.perf_tests[0].recommendations_ref, [0]);
//! assert_eq!(contents.recommendations[0].trigger, "throughput_below_baseline");
//! let perf = record.summary.perf_tests.unwrap();
//! assert_eq!(perf.describe(), "1 soft-breach, 1 passed");
//! assert!(recorded.results.is_file() && recorded.metrics.is_file());
//! # fn tracker_dir(r: &perf_gate::Recorded) -> std::path::PathBuf {
//! #     r.results.parent().unwrap().join("manifest.jsonl")
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod baselines;
mod classify;
mod error;
mod evaluate;
mod gate;
mod metrics;
mod record;
mod report;

pub use baselines::{BASELINES_SCHEMA_VERSION, BaselineEntry, Baselines};
pub use classify::{
    DEFAULT_HARD_RATIO, DEFAULT_SOFT_RATIO, MAX_NOISE_ALLOWANCE, MIN_NOISE_REPEATS, MIN_SOFT_RATIO,
    Tolerance, median, noise_allowance,
};
pub use error::{Error, Result};
pub use evaluate::{Counts, Evaluation, Measurement, NO_BASELINE_MESSAGE, Outcome};
pub use gate::{Gate, Verdict, finish};
pub use metrics::{HostInfo, Metrics, git_revision};
pub use record::{
    METRICS_FILE, PerfSummary, RESULTS_FILE, RESULTS_SCHEMA_VERSION, Recorded, ResultsDoc,
    mark_perf_run, record_perf_run,
};
pub use report::{breach_report, format_throughput, results_table};
