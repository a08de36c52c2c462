//! Step lifecycle, ETA estimation, progress rendering and the failure guard
//! for tracked pipelines.
//!
//! A Rust pipeline declares its steps, then starts, reports on and finishes
//! them through a [`ProgressTracker`]. Every transition is persisted through
//! the [`manifest`] crate (a record line and `steps.json`) before its line is
//! printed, so the run's history survives whatever happens next:
//!
//! ```text
//! Run 0193a5b2-… – imitation-demo: 4 steps (ETA 1m)
//! Step 1/4 – Collect expert trajectories (ETA 1m, elapsed 0s)
//! Completed step 1/4 – Collect expert trajectories in 8.2s
//! Step 2/4 – Pre-train by behaviour cloning (ETA 50s, elapsed 8s)
//! ```
//!
//! On a terminal the lines are followed by a live bar refreshed every second;
//! elsewhere (CI logs) only plain lines are printed, with at most one
//! heartbeat per step per [`TrackerOptions::heartbeat`].
//!
//! The ETA ([`eta`]) uses in-step progress, then the median duration of the
//! same step in earlier runs of the pipeline, then configured expectations
//! scaled by how this run is going. The [`FailureGuard`] turns SIGINT,
//! SIGTERM and SIGHUP into a flushed `cancelled` run.
//!
//! Nothing is ever deleted unless [`TrackerOptions::retention`] asks for it
//! (the default keeps every run).
//!
//! # Features
//!
//! - `live` (default): the live bar on a terminal, through `indicatif`.
//!   Without it the crate has no terminal dependency and prints plain lines
//!   everywhere.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use progress::{Display, Ending, ProgressTracker, Report, StepSpec, TrackerOptions};
//!
//! # let tmp = tempfile::tempdir()?;
//! let root = manifest::ArtifactRoot::new(tmp.path());
//! let mut options = TrackerOptions::new("imitation-demo", root);
//! options.display = Display::Plain;
//! let tracker = ProgressTracker::start(options, vec![
//!     StepSpec::new("collect", "Collect expert trajectories").expected(Duration::from_secs(10)),
//!     StepSpec::new("train", "Train"),
//! ])?;
//! let _guard = progress::FailureGuard::install(&tracker)?; // opt-in
//!
//! tracker.start_step("collect")?;
//! for episode in 1..=10u64 {
//!     // ... real work ...
//!     tracker.report("collect", Report { fraction: Some(episode as f64 / 10.0), items: Some(episode), ..Report::default() })?;
//! }
//! tracker.complete_step("collect")?;
//! tracker.start_step("train")?;
//! tracker.complete_step("train")?;
//! let record = tracker.finish(Ending::FromSteps)?;
//! assert_eq!(record.status, telemetry_model::RunStatus::Completed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod clock;
mod error;
pub mod eta;
mod guard;
mod history;
pub mod render;
mod summary;
mod tracker;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, Result};
pub use guard::{FailureGuard, GUARDED_SIGNALS, interruption_reason};
pub use history::{step_durations, step_medians};
pub use render::{Display, Event, PlainSink, Sink};
pub use summary::RunSummaryDoc;
pub use tracker::{
    Ending, LiveMetrics, MAX_ARTIFACT_PATH_BYTES, MAX_ARTIFACTS_PER_STEP, MAX_STEP_ID_LEN,
    ProgressTracker, Report, Resume, StepResources, StepSpec, TrackerOptions, valid_step_id,
};

pub use manifest;
pub use telemetry_model;
