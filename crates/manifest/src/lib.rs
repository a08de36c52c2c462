//! The run tracker's storage: where runs live, how they are written so a
//! crash loses nothing, and how they are read back, however damaged.
//!
//! - [`ArtifactRoot`] resolves the root (`--artifact-root` >
//!   `TRACKER_ARTIFACT_ROOT` > `ROBOT_SF_ARTIFACT_ROOT` > `./output`); runs
//!   live in `<root>/run-tracker/<run_id>/`.
//! - [`RunWriter`] creates a run (UUIDv7 or a validated name, atomic
//!   `mkdir`), holds its `run.lock` for its whole life, appends whole lines
//!   with single writes, rewrites `steps.json` atomically and compacts
//!   oversized manifests. A run exists (is listable) from the moment its
//!   directory holds a manifest, and the manifest appears with its first
//!   record in it.
//! - [`Retention`] and [`prune`] delete old runs only when asked, counting
//!   each pipeline's runs apart and never touching a live run.
//! - [`read_manifest`] and [`read_last_record`] skip torn, garbage and
//!   over-long lines with a [`ReadWarning`] naming file and line.
//! - [`list_runs`] and [`resolve_run`] answer history queries from each
//!   manifest's tail, deriving [`RunState::Abandoned`] for runs whose
//!   writer died.
//!
//! Manifests written by robot_sf's Python tracker (same layout and field
//! names) read unchanged, including nested run directories.
//!
//! # On-disk format
//!
//! `manifest.jsonl` holds three kinds of line (see [`ManifestLine`]): a
//! complete run record, `{"recommendation": …}` and `{"perf_test": …}`. The
//! last complete record is the run's state. `steps.json` is a pretty JSON
//! list of steps; `telemetry.jsonl` one sample a line.
//!
//! # Locking
//!
//! `run.lock` is locked with [`std::fs::File::try_lock`] (`flock(2)`), the
//! same primitive the `fd-lock` crate wraps, but owned by the writer rather
//! than by a borrowing guard, and released by the kernel when the process
//! dies. That release is what tells a live run from an abandoned one.
//!
//! # Example
//!
//! ```
//! use manifest::{list_runs, resolve_run, ArtifactRoot, Query, RunOptions, RunState, RunWriter};
//! use telemetry_model::{RunStatus, StepExecutionEntry, StepStatus, Timestamp};
//!
//! # let tmp = tempfile::tempdir()?;
//! let root = ArtifactRoot::new(tmp.path());
//! let mut writer = RunWriter::create(&root, &RunOptions::default())?;
//! let mut record = writer.new_record();
//! record.pipeline = Some("imitation-demo".into());
//! record.steps.push(StepExecutionEntry::new("collect", "Collect", 1));
//! record.status = RunStatus::Running;
//! writer.commit(&record)?;
//!
//! record.steps[0].status = StepStatus::Completed;
//! record.steps[0].started_at = Some(record.created_at);
//! record.steps[0].ended_at = Some(Timestamp::now());
//! record.status = RunStatus::Completed;
//! record.completed_at = Some(Timestamp::now());
//! writer.commit(&record)?;
//! drop(writer);
//!
//! let listing = list_runs(&root, &Query { limit: Some(20), ..Query::default() })?;
//! assert_eq!(listing.runs.len(), 1);
//! assert_eq!(listing.runs[0].state, RunState::Completed);
//! let latest = resolve_run(&root, "latest")?;
//! assert_eq!(latest.record.steps[0].status, StepStatus::Completed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
pub mod files;
mod history;
mod index;
mod jsonl;
mod keys;
mod line;
mod lock;
mod project;
mod reader;
mod retention;
mod root;
mod run_id;
mod writer;

pub use error::{Error, Result};
pub use history::{
    Listing, MAX_NESTING, Query, RunEntry, RunState, RunStateParseError, list_runs, resolve_run,
    validate_run_ref,
};
pub use jsonl::{MAX_LINE_BYTES, write_atomic};
pub use line::{ManifestLine, parse_manifest_line};
pub use lock::{LOCK_FILE, LockState, RunLock};
pub use project::{MIN_TELEMETRY_INTERVAL, PROJECT_FILE, ProjectConfig};
pub use reader::{
    ManifestContents, ReadWarning, TailRecord, read_jsonl, read_last_record, read_manifest,
    read_regular, read_steps,
};
pub use retention::{
    END_OF_RUN_PRUNE_WAIT, PipelineSel, PruneReport, PruneRule, PrunedRun, Retention,
    apply_retention, prune,
};
pub use root::{
    ArtifactRoot, DEFAULT_ARTIFACT_ROOT, ENV_ARTIFACT_ROOT, ENV_ARTIFACT_ROOT_COMPAT,
    RUNS_DIR_NAME, RootSource,
};
pub use run_id::{MAX_RUN_NAME_LEN, new_run_id, validate_run_name};
pub use writer::{DEFAULT_COMPACT_BYTES, RunOptions, RunWriter, host_name};
