//! Observers: everything that follows a run from outside its own files
//! (the TensorBoard mirror, notifications; other mirrors later)
//! gets the same typed [`Event`] stream through one mechanism.
//!
//! An observer that fails is reported once to the run's [`Reporter`] and
//! gets no further events; it never fails the run.

use std::path::Path;
use std::sync::{Arc, Mutex};

use telemetry_model::{PerformanceRecommendation, PipelineRunRecord, TelemetrySnapshot, Timestamp};

use crate::Reporter;

/// What happened in a run, as observers see it.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The run exists on disk and its steps are about to start.
    Started {
        /// The run's id.
        run_id: &'a str,
        /// The run's directory, absolute.
        run_dir: &'a Path,
    },
    /// A telemetry sample of the running step's process tree (from the
    /// sampling thread).
    Sample(&'a TelemetrySnapshot),
    /// A step ended (completed or failed): the run's record as it now is.
    StepEnded {
        /// The tracked id of the step.
        step_id: &'a str,
        /// The run's record, the step's end included.
        record: &'a PipelineRunRecord,
    },
    /// A running step has shown no sign of life for `stall_seconds`
    /// (stall detection, docs/notify.md); said once per stall.
    Stalled {
        /// The tracked id of the step.
        step_id: &'a str,
        /// Its last sign of life.
        since: Timestamp,
        /// The silence that made it a stall, in seconds.
        stall_seconds: f64,
        /// The run's record, the stall included.
        record: &'a PipelineRunRecord,
    },
    /// The end-of-run rating recorded a recommendation (before
    /// [`Event::Ended`]).
    Recommendation {
        /// The recommendation.
        recommendation: &'a PerformanceRecommendation,
        /// The run's record as it now is.
        record: &'a PipelineRunRecord,
    },
    /// The run ended: its final record (its summary included).
    Ended(&'a PipelineRunRecord),
}

/// Why an observer stopped.
pub type ObserverError = Box<dyn std::error::Error + Send + Sync>;

/// Follows runs. Events come from the run's threads one at a time, in the
/// order they happened.
pub trait Observer: Send {
    /// What the observer is, for the warning when it fails
    /// (`TensorBoard mirror`).
    fn name(&self) -> &str;

    /// Takes one event. An error stops this observer for the rest of the
    /// run (with one warning); the run goes on.
    fn observe(&mut self, event: &Event<'_>) -> Result<(), ObserverError>;

    /// Gives the observer the run's reporter, once, before the first
    /// event: for what an observer that works on its own thread (a mirror
    /// to a server) has to say later. The default ignores it.
    fn attach(&mut self, reporter: Arc<dyn Reporter>) {
        let _ = reporter;
    }
}

/// An observer, until it fails.
type Slot = Option<Box<dyn Observer>>;

/// The observers of one run, each until it fails.
#[derive(Clone)]
pub(crate) struct Observers {
    slots: Arc<Mutex<Vec<Slot>>>,
    reporter: Arc<dyn Reporter>,
}

impl std::fmt::Debug for Observers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observers").finish_non_exhaustive()
    }
}

impl Observers {
    pub(crate) fn new(mut observers: Vec<Box<dyn Observer>>, reporter: Arc<dyn Reporter>) -> Self {
        for observer in &mut observers {
            observer.attach(Arc::clone(&reporter));
        }
        Self {
            slots: Arc::new(Mutex::new(observers.into_iter().map(Some).collect())),
            reporter,
        }
    }

    /// Whether any observer is still listening.
    pub(crate) fn any(&self) -> bool {
        self.slots
            .lock()
            .is_ok_and(|slots| slots.iter().any(Option::is_some))
    }

    /// Hands `event` to every observer still listening; one that fails is
    /// said once and dropped.
    pub(crate) fn emit(&self, event: &Event<'_>) {
        let Ok(mut slots) = self.slots.lock() else {
            return;
        };
        for slot in slots.iter_mut() {
            let Some(observer) = slot.as_mut() else {
                continue;
            };
            if let Err(e) = observer.observe(event) {
                let text = match event {
                    Event::Started { .. } => {
                        format!("no {}: {e}; the run goes on without it", observer.name())
                    }
                    _ => format!(
                        "{} stopped: {e}; the run goes on without it",
                        observer.name()
                    ),
                };
                self.reporter.warn(&text);
                *slot = None;
            }
        }
    }
}

/// The live TensorBoard mirror: telemetry samples and step durations as
/// event files under `DIR/RUN_ID`, readable while the run goes on.
#[derive(Debug)]
pub struct TensorboardObserver {
    dir: std::path::PathBuf,
    mirror: Option<tensorboard::Mirror>,
}

impl TensorboardObserver {
    /// A mirror of each run under `dir` (one subdirectory per run id).
    pub fn new(dir: impl Into<std::path::PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            mirror: None,
        }
    }
}

impl Observer for TensorboardObserver {
    fn name(&self) -> &str {
        "TensorBoard mirror"
    }

    fn observe(&mut self, event: &Event<'_>) -> Result<(), ObserverError> {
        match (event, self.mirror.as_mut()) {
            (Event::Started { run_id, .. }, _) => {
                let logdir = tensorboard::run_logdir(&self.dir, run_id);
                self.mirror = Some(tensorboard::Mirror::create(&logdir)?);
            }
            (Event::Sample(snapshot), Some(mirror)) => {
                mirror.record_snapshot(snapshot)?;
            }
            (Event::StepEnded { record, .. } | Event::Ended(record), Some(mirror)) => {
                mirror.record_run(record)?;
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CollectingReporter;

    /// Fails on its `fail_at`-th event.
    struct Flaky {
        seen: Arc<Mutex<usize>>,
        fail_at: usize,
    }

    impl Observer for Flaky {
        fn name(&self) -> &str {
            "flaky mirror"
        }
        fn observe(&mut self, _: &Event<'_>) -> Result<(), ObserverError> {
            let mut seen = self.seen.lock().unwrap();
            *seen += 1;
            if *seen == self.fail_at {
                return Err("disk full".into());
            }
            Ok(())
        }
    }

    #[test]
    fn a_failing_observer_is_said_once_and_dropped_and_the_others_go_on() {
        let reporter = Arc::new(CollectingReporter::default());
        let (a, b) = (Arc::default(), Arc::default());
        let observers = Observers::new(
            vec![
                Box::new(Flaky {
                    seen: Arc::clone(&a),
                    fail_at: 2,
                }),
                Box::new(Flaky {
                    seen: Arc::clone(&b),
                    fail_at: 0,
                }),
            ],
            reporter.clone(),
        );
        let record = PipelineRunRecord::new("r");
        for _ in 0..4 {
            observers.emit(&Event::Ended(&record));
        }
        assert_eq!(*a.lock().unwrap(), 2, "no event after the failure");
        assert_eq!(*b.lock().unwrap(), 4);
        assert_eq!(
            reporter.take(),
            ["warning: flaky mirror stopped: disk full; the run goes on without it"]
        );
        assert!(observers.any());
    }

    #[test]
    fn an_observer_that_cannot_start_says_so() {
        let reporter = Arc::new(CollectingReporter::default());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        let observers = Observers::new(
            vec![Box::new(TensorboardObserver::new(&file))],
            reporter.clone(),
        );
        observers.emit(&Event::Started {
            run_id: "r1",
            run_dir: dir.path(),
        });
        let said = reporter.take();
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(
            said[0].starts_with("warning: no TensorBoard mirror: ")
                && said[0].ends_with("; the run goes on without it"),
            "{said:?}"
        );
        assert!(!observers.any());
    }
}
