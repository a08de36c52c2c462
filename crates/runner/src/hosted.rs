//! Steps that are the host's own code: a Python function in a `with
//! run.step(…)` block rather than a command. The host starts and ends each
//! step; the session times it, attributes the process's CPU and the
//! sampled peak memory to it, tells the observers, and ends the run as any
//! other (docs/python.md).

use progress::{Ending, StepResources};
use telemetry_model::{RunStatus, StepStatus};

use crate::observer::Event;
use crate::session::{Ended, Session};
use crate::sys::process_cpu_seconds;
use crate::{Error, Result};

impl Session {
    /// Starts the host's own step `id` (a hosted run's, see
    /// [`crate::Settings::hosted`]). A record that cannot be written (a
    /// full disk) is noted for the summary, not an error; an unknown step,
    /// or one that is not pending, is.
    pub fn begin_step(&self, id: &str) -> Result<()> {
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
        if let Ok(mut began) = self.hosted_cpu.lock() {
            began.insert(id.to_owned(), process_cpu_seconds());
        }
        Ok(())
    }

    /// Ends the host's own step `id`: completed, or failed with `failure`
    /// as its reason. Its CPU time is this process's (and its waited-for
    /// children's) since [`Session::begin_step`]; its peak memory is the
    /// sampled one.
    pub fn end_step(&self, id: &str, failure: Option<&str>) -> Result<()> {
        let began = self
            .hosted_cpu
            .lock()
            .ok()
            .and_then(|mut began| began.remove(id));
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
