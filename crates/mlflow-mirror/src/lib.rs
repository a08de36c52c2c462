//! Mirrors tracked runs to an MLflow tracking server, live and offline,
//! without giving up the local files as the source of truth
//! (docs/mlflow.md).
//!
//! - [`MlflowObserver`] is a [`runner::Observer`]: each run it observes
//!   becomes one MLflow run (name = run id, `tracker.*` tags, status
//!   `RUNNING` → `FINISHED` / `FAILED` / `KILLED`), its telemetry goes
//!   under MLflow's `system/…` metric names, each step's duration and
//!   throughput under `steps/…`, and `report.html`, `summary.json`,
//!   `manifest.jsonl` and `recommendations.json` through the server's
//!   artifact proxy when it ends. It sends from its own thread: a server
//!   that is down, slow or refusing never fails, slows or blocks the run;
//!   a problem is said once, the server is tried again now and then (what
//!   the run recorded meanwhile is sent once it answers), and what was not
//!   sent is listed in the run's `mlflow.json`.
//! - [`sync_run`] mirrors a run from its files afterwards (`tracker
//!   sync`), sending only what is missing; the MLflow run is found again
//!   by its `tracker.run_id` tag, never duplicated; an abandoned run is
//!   marked `KILLED` with `tracker.abandoned`.
//! - [`Client`] is the small blocking REST client both use (ureq; token or
//!   basic auth from `MLFLOW_TRACKING_TOKEN` or
//!   `MLFLOW_TRACKING_USERNAME`/`MLFLOW_TRACKING_PASSWORD`).
//!
//! # Example
//!
//! ```
//! use mlflow_mirror::MlflowObserver;
//!
//! // What `tracker run pipeline.toml --mlflow http://127.0.0.1:5000` adds
//! // to the run's observers. Nothing is sent before the run starts.
//! let observer = MlflowObserver::new("http://127.0.0.1:5000", Some("train".to_owned()))?;
//! let observers: Vec<Box<dyn runner::Observer>> = vec![Box::new(observer)];
//! // … runner::run(&pipeline, &ids, &settings, observers, reporter)
//! # drop(observers);
//!
//! // Only a tracking server's http(s) address is taken.
//! let err = MlflowObserver::new("file:///tmp/mlruns", None).unwrap_err();
//! assert!(err.to_string().starts_with("invalid MLflow tracking URI `file:///tmp/mlruns`"), "{err}");
//! # Ok::<(), mlflow_mirror::Error>(())
//! ```

mod client;
mod error;
mod mapping;
mod observer;
mod state;
mod sync;

pub use client::{
    Auth, Client, ENV_EXPERIMENT, ENV_PASSWORD, ENV_TOKEN, ENV_TRACKING_URI, ENV_USERNAME, RunInfo,
    Timeouts, check_tracking_uri,
};
pub use error::{Error, Result};
pub use mapping::{
    Batch, MAX_ENTITIES_PER_BATCH, MAX_KEY, MAX_METRICS_PER_BATCH, MAX_PARAMS_PER_BATCH,
    MAX_TAG_VALUE, MAX_TAGS_PER_BATCH, Metric, Param, StepThroughput, TAG_ABANDONED, TAG_RUN_ID,
    TAG_STATUS, Tag, batches, end_time_ms, metric_key, mlflow_status, run_metrics, run_tags,
    sample_metrics, step_metrics, tracker_status,
};
pub use observer::{FIRST_ANSWER_GRACE, MirrorOptions, MlflowObserver};
pub use state::{MirrorFile, MirrorState, STATE_FILE, describe};
pub use sync::{ARTIFACTS, DEFAULT_EXPERIMENT, RECOMMENDATIONS_ARTIFACT, Synced, Target, sync_run};
