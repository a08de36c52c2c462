//! The engine behind every front end: runs a pipeline's steps as
//! supervised process trees and tracks them as one run.
//!
//! A front end (the `tracker` command, the Python package) loads a
//! [`Pipeline`], chooses [`Settings`] and calls [`run`]. The runner
//!
//! - creates the run under the artifact root (`progress`, `manifest`) with
//!   its signal guard in place, so a run is never left `running` by a
//!   signal (docs/reliability.md);
//! - starts each step through a [`Supervisor`], a program that calls
//!   [`supervise`], so no step outlives the run; copies its output to the
//!   terminal and its log, and follows its progress channel
//!   ([`channel`], docs/progress-channel.md);
//! - samples the step's process tree (`sampler`), rates the run at its end
//!   (`recommend`) and writes `report.html` (`report`);
//! - watches each running step for a stall (no progress, output or CPU
//!   for `stall_seconds`: [`StallSettings`]), which it records and says but
//!   never acts on;
//! - hands the same typed [`Event`]s to every [`Observer`] (the
//!   [`TensorboardObserver`], and the [`Notifier`] of the `[[notify]]`
//!   rules in [`Settings::notify`]), and every diagnostic to the caller's
//!   [`Reporter`]: nothing is printed behind the caller's back.
//!
//! Front ends that measure between the steps and the end (`tracker
//! perf-tests`) drive a [`Session`] themselves. A host whose steps are its
//! own code (the Python package) starts a [`Session`] with
//! [`Settings::hosted`] and begins and ends each step itself
//! ([`Session::begin_step`], [`Session::end_step`], [`Session::end`]).
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use runner::{Pipeline, Settings, StderrReporter, Supervisor, TensorboardObserver};
//!
//! let pipeline = Pipeline::load("pipeline.toml".as_ref())?;
//! let ids: Vec<String> = pipeline.steps.iter().map(|s| s.id.clone()).collect();
//! // A program whose `__supervise` subcommand calls `runner::supervise`.
//! let supervisor = Supervisor::new("/usr/local/bin/tracker").arg("__supervise");
//! let root = manifest::ArtifactRoot::new("output/run-tracker");
//! let settings = Settings::new(root, &pipeline, supervisor);
//! let observers: Vec<Box<dyn runner::Observer>> = vec![Box::new(TensorboardObserver::new("tb"))];
//! let ended = runner::run(&pipeline, &ids, &settings, observers, Arc::new(StderrReporter))?;
//! println!("{} {}", ended.record.run_id, ended.record.status);
//! if let Some(interrupt) = ended.interrupt {
//!     interrupt.reraise(); // end as the signal would have
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod channel;
mod error;
mod hosted;
mod notify;
mod observer;
pub mod pipeline;
mod rate;
mod reporter;
mod session;
mod stall;
mod storage;
mod supervise;
mod sys;

pub use channel::{ChannelReader, channel_path};
pub use error::{Error, Result, error_text};
pub use hosted::StepPulse;
pub use notify::{
    DEFAULT_TIMEOUT, EXIT_WAIT, EventDetail, LOG_TAIL_LINES, MAX_TIMEOUT_SECONDS, Notifier,
    NotifyError, NotifyOn, NotifyRule, NotifyTarget, Recorder, event_document,
    project_notify_rules,
};
pub use observer::{Event, Observer, ObserverError, TensorboardObserver};
pub use pipeline::{Pipeline, PipelineError, SelectError, Step};
pub use reporter::{CollectingReporter, Reporter, StderrReporter};
pub use session::{Ended, Interrupt, PlainOutput, REPORT_FILE, Session, Settings, env, run};
pub use stall::{
    CPU_FRACTION, MIN_DEFAULT_STALL, STALL_FACTOR, STALL_TRIGGER, StallSettings, stall_threshold,
};
pub use supervise::{CANNOT_SUPERVISE, GRACE, Supervisor, supervise, supervise_main};
