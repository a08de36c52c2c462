//! Steps that are the host's own code: a Python function in a `with
//! run.step(…)` block rather than a command. The host starts and ends each
//! step; the session times it, attributes the process's CPU and the
//! sampled peak memory to it, tells the observers, and ends the run as any
//! other (docs/python.md).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use progress::{Ending, StepResources};
use telemetry_model::{RunStatus, StepStatus};

use crate::observer::Event;
use crate::session::{Ended, Session};
use crate::stall::{StallWatch, Watched};
use crate::sys::process_cpu_seconds;
use crate::{Error, Result};

/// A running hosted step's sign of life for stall detection: the host
/// calls [`StepPulse::beat`] with each progress report (an atomic
/// increment, nothing else).
#[derive(Clone, Debug, Default)]
pub struct StepPulse(Arc<AtomicU64>);

impl StepPulse {
    /// The step showed progress.
    pub fn beat(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// A hosted step that is running.
pub(crate) struct Running {
    /// The process's CPU seconds when it began.
    cpu_began: f64,
    /// Its stall watch (`None`: detection off).
    watch: Option<StallWatch>,
}

impl Session {
    /// Starts the host's own step `id` (a hosted run's, see
    /// [`crate::Settings::hosted`]) and watches it for stalls: no
    /// [`StepPulse::beat`] and (almost) no CPU of this process and its
    /// children for the stall time (docs/notify.md, "Stalls"). A record
    /// that cannot be written (a full disk) is noted for the summary, not
    /// an error; an unknown step, or one that is not pending, is.
    pub fn begin_step(&self, id: &str) -> Result<StepPulse> {
        match self.tracker.start_step(id) {
            Ok(()) => {}
            Err(progress::Error::Manifest(e)) => self.storage.note("manifest", &e),
            Err(source) => {
                return Err(Error::Step {
                    step: id.to_owned(),
                    source,
                });
            }
        }
        let pulse = StepPulse::default();
        let threshold = crate::stall_threshold(
            None,
            self.stall.seconds,
            self.history_median(id),
            self.expected.get(id).copied(),
        );
        let watch = StallWatch::start(
            threshold,
            Watched {
                step_id: id,
                root_pid: std::process::id(),
                files: &[],
                pulse: Some(Arc::clone(&pulse.0)),
            },
            &self.stall,
            &self.tracker,
            &self.observers,
            &self.reporter,
        );
        let running = Running {
            cpu_began: process_cpu_seconds(),
            watch,
        };
        if let Ok(mut hosted) = self.hosted.lock() {
            hosted.insert(id.to_owned(), running);
        }
        Ok(pulse)
    }

    /// Ends the host's own step `id`: completed, or failed with `failure`
    /// as its reason. Its CPU time is this process's (and its waited-for
    /// children's) since [`Session::begin_step`]; its peak memory is the
    /// sampled one.
    pub fn end_step(&self, id: &str, failure: Option<&str>) -> Result<()> {
        let running = self
            .hosted
            .lock()
            .ok()
            .and_then(|mut hosted| hosted.remove(id));
        let began = running.map(|r| {
            if let Some(watch) = r.watch {
                watch.finish();
            }
            r.cpu_began
        });
        let peak = self.telemetry.as_ref().and_then(|t| t.peak_rss_mb(id));
        let _ = self.tracker.set_step_resources(
            id,
            StepResources {
                exit_code: None,
                cpu_time_seconds: began.map(|b| (process_cpu_seconds() - b).max(0.0)),
                peak_rss_mb: peak,
            },
        );
        let result = match failure {
            None => self.tracker.complete_step(id),
            Some(reason) => self.tracker.fail_step(id, reason),
        };
        let ended = matches!(result, Ok(()) | Err(progress::Error::Manifest(_)));
        if ended && self.observers.any() {
            self.observers.emit(&Event::StepEnded {
                step_id: id,
                record: &self.tracker.record(),
            });
        }
        match result {
            Ok(()) => Ok(()),
            Err(progress::Error::Manifest(e)) => {
                self.storage.note("manifest", &e);
                Ok(())
            }
            Err(source) => Err(Error::Step {
                step: id.to_owned(),
                source,
            }),
        }
    }

    /// Ends a hosted run: stops sampling, rates the run, writes its final
    /// record, summary and `report.html`, tells the observers. With
    /// [`Ending::FromSteps`] the run is `completed`, or `failed` if a step
    /// failed; a step still running fails with the run. A run that already
    /// ended is not ended again: its record is returned as it is.
    pub fn end(mut self, ending: Ending<'_>) -> Result<Ended> {
        self.stop_sampling();
        // Steps still running end with the run: no more stall watching.
        let running: Vec<Running> = self
            .hosted
            .lock()
            .map(|mut hosted| hosted.drain().map(|(_, r)| r).collect())
            .unwrap_or_default();
        for watch in running.into_iter().filter_map(|r| r.watch) {
            watch.finish();
        }
        let (status, reason) = match ending {
            Ending::FromSteps => {
                let record = self.tracker.record();
                match record.steps.iter().find(|s| s.status == StepStatus::Failed) {
                    Some(step) => (
                        RunStatus::Failed,
                        Some(format!("step `{}` failed", step.step_id)),
                    ),
                    None => (RunStatus::Completed, None),
                }
            }
            Ending::Status(status, reason) => (status, reason.map(str::to_owned)),
        };
        let recommendations = self.assess();
        let record = self.conclude(status, reason.as_deref())?;
        Ok(self.into_ended(record, recommendations, false))
    }
}

#[cfg(test)]
mod tests {
    use crate::sys::process_cpu_seconds;

    #[test]
    fn the_process_cpu_clock_moves_with_work() {
        let before = process_cpu_seconds();
        let mut x = 0u64;
        while process_cpu_seconds() - before < 0.02 {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        assert!(process_cpu_seconds() >= before + 0.02);
    }
}
