//! TensorBoard event files written without protobuf or TensorFlow, and a
//! mirror of a run's telemetry and step durations into them.
//!
//! The JSON manifests stay the source of truth; the event files are a view
//! that `tensorboard --logdir DIR` reads. Everything here returns errors
//! for the caller to report, and nothing here should ever fail a run.
//!
//! - [`EventWriter`]: one `events.out.tfevents.<secs>.<host>.<pid>.<n>`
//!   file, starting with `file_version = "brain.Event:2"`, holding scalar
//!   events framed as TFRecords (length, masked CRC-32C, data, masked
//!   CRC-32C; [`frame_record`], [`crc32c`]) with the `Event`/`Summary`
//!   messages encoded by hand ([`Event`]).
//! - [`Mirror`]: live mirroring, one telemetry sample and one record update
//!   at a time.
//! - [`convert_run`]: a finished or running run, all at once; rerunning it
//!   replaces the previous conversion.
//!
//! # Scalars
//!
//! Telemetry metrics ([`TELEMETRY_TAGS`]) are plotted against the sample
//! index (0 for a run's first sample) at the sample's wall time; `null`
//! and non-finite values are left out:
//!
//! | tag | snapshot field |
//! |---|---|
//! | `cpu/process_percent` | `cpu_percent_process` |
//! | `cpu/system_percent` | `cpu_percent_system` |
//! | `memory/rss_mb` | `memory_rss_mb` |
//! | `memory/system_used_mb` | `memory_system_used_mb` |
//! | `memory/system_total_mb` | `memory_system_total_mb` |
//! | `gpu/util_percent` | `gpu_util_percent` |
//! | `gpu/mem_used_mb` | `gpu_mem_used_mb` |
//! | `throughput/steps_per_sec` | `steps_per_sec` |
//! | `throughput/fps` | `fps` |
//!
//! Each finished step (completed or failed) adds
//! `steps/<step_id>/duration_seconds` (and `cpu_time_seconds`,
//! `peak_rss_mb` when recorded) and a point on `steps/duration_seconds`, at
//! the step's `order` and end time ([`step_scalars`]). A run that has ended
//! adds `run/duration_seconds` at step 0. TensorBoard stores scalars as
//! 32-bit floats.
//!
//! # Example
//!
//! ```
//! use telemetry_model::{PipelineRunRecord, TelemetrySnapshot};
//!
//! # let tmp = tempfile::tempdir()?;
//! let record = PipelineRunRecord::new("run-1");
//! let samples = [TelemetrySnapshot {
//!     timestamp_ms: 1_735_812_000_000,
//!     cpu_percent_process: Some(85.2),
//!     memory_rss_mb: Some(512.0),
//!     ..Default::default()
//! }];
//! let logdir = tensorboard::run_logdir(tmp.path(), &record.run_id);
//! let done = tensorboard::convert_run(&logdir, &record, &samples)?;
//! assert_eq!((done.samples, done.scalars), (1, 2));
//! assert!(done.path.file_name().unwrap().to_str().unwrap().starts_with("events.out.tfevents."));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod crc32c;
mod error;
mod mirror;
mod proto;
mod record;
mod scalars;
mod writer;

pub use crc32c::{crc32c, masked_crc32c};
pub use error::{Error, Result};
pub use mirror::{Conversion, Mirror, convert_run, run_logdir};
pub use proto::{Event, EventKind, FILE_VERSION};
pub use record::{FRAMING_BYTES, frame_record};
pub use scalars::{
    RUN_DURATION_TAG, STEPS_DURATION_TAG, TELEMETRY_TAGS, TelemetryTag, run_duration,
    snapshot_scalars, snapshot_wall_time, step_scalars, step_wall_time,
};
pub use writer::{EVENT_FILE_PREFIX, EventWriter};
