//! A run's telemetry and steps as TensorBoard scalars: live, one sample at a
//! time ([`Mirror`]), or all at once ([`convert_run`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use telemetry_model::{PipelineRunRecord, StepExecutionEntry, TelemetrySnapshot};

use crate::error::{Error, Result};
use crate::scalars::{
    RUN_DURATION_TAG, run_duration, snapshot_scalars, snapshot_wall_time, step_scalars,
    step_wall_time,
};
use crate::writer::{EVENT_FILE_PREFIX, EventWriter, file_name_part, unix_now};

/// The directory a run's event files go in: `<logdir>/<run_id>`, so that
/// `tensorboard --logdir <logdir>` shows each tracker run as its own
/// TensorBoard run. Characters outside `[A-Za-z0-9._-]` in the id become
/// `_`; the result is always directly below `logdir`.
///
/// ```
/// use std::path::Path;
/// let dir = tensorboard::run_logdir(Path::new("tb"), "0193a5b2-7c1e");
/// assert_eq!(dir, Path::new("tb/0193a5b2-7c1e"));
/// assert_eq!(tensorboard::run_logdir(Path::new("tb"), "../x"), Path::new("tb/.._x"));
/// ```
pub fn run_logdir(logdir: &Path, run_id: &str) -> PathBuf {
    logdir.join(file_name_part(run_id))
}

/// Mirrors a run into one event file as it happens.
///
/// Feed it every telemetry sample ([`Mirror::record_snapshot`]) and the
/// run's record whenever it changes ([`Mirror::record_run`]): it writes each
/// sample's metrics at the next sample index, and each step's scalars once,
/// when the step has finished. Every call ends with a flush, so a
/// TensorBoard watching the directory sees the data as it comes.
///
/// Errors are for reporting, never for failing the run: the manifests stay
/// the source of truth, and [`convert_run`] can rebuild the mirror from
/// them at any time. After a write error the mirror refuses further writes
/// ([`Error::Broken`]); a caller can log the first error and drop it.
///
/// ```
/// use telemetry_model::{PipelineRunRecord, TelemetrySnapshot};
/// # let dir = tempfile::tempdir()?;
/// let record = PipelineRunRecord::new("run-1");
/// let mut mirror = tensorboard::Mirror::create(&tensorboard::run_logdir(dir.path(), &record.run_id))?;
/// let sample = TelemetrySnapshot { cpu_percent_process: Some(42.0), ..Default::default() };
/// assert_eq!(mirror.record_snapshot(&sample)?, 1); // one scalar written
/// assert_eq!(mirror.record_run(&record)?, 0); // no step has finished yet
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Mirror {
    writer: EventWriter,
    samples: i64,
    steps_done: BTreeSet<String>,
    run_done: bool,
    flush_each: bool,
    scalars: u64,
}

impl Mirror {
    /// Creates `logdir` if needed and a new event file in it.
    pub fn create(logdir: &Path) -> Result<Self> {
        Ok(Self::with_writer(EventWriter::create(logdir)?))
    }

    /// Mirrors into an existing writer (for a chosen file time, say).
    pub fn with_writer(writer: EventWriter) -> Self {
        Self {
            writer,
            samples: 0,
            steps_done: BTreeSet::new(),
            run_done: false,
            flush_each: true,
            scalars: 0,
        }
    }

    /// The event file.
    pub fn path(&self) -> &Path {
        self.writer.path()
    }

    /// Samples seen so far (the index the next one gets).
    pub fn samples(&self) -> u64 {
        self.samples as u64
    }

    /// Scalars written so far.
    pub fn scalars(&self) -> u64 {
        self.scalars
    }

    /// Writes one telemetry sample's metrics (those that are not `null`) at
    /// the next sample index and the sample's time; returns how many.
    /// A sample with no metric still takes an index, so indices match the
    /// sample's position in `telemetry.jsonl`.
    pub fn record_snapshot(&mut self, snapshot: &TelemetrySnapshot) -> Result<usize> {
        let index = self.samples;
        self.samples += 1;
        let values = snapshot_scalars(snapshot);
        self.writer
            .add_scalars(&values, index, snapshot_wall_time(snapshot))?;
        self.scalars += values.len() as u64;
        self.maybe_flush()?;
        Ok(values.len())
    }

    /// Writes the scalars of every step in `record` that has finished since
    /// the last call, and the run's duration once it has ended; returns how
    /// many scalars. Call it after each change of the record: steps already
    /// written are not written again.
    pub fn record_run(&mut self, record: &PipelineRunRecord) -> Result<usize> {
        let mut written = self.record_steps(&record.steps)?;
        if !self.run_done
            && let Some(duration) = run_duration(record)
        {
            let at = record
                .completed_at
                .map_or_else(unix_now, |t| t.unix_ms() as f64 / 1000.0);
            self.writer.add_scalar(RUN_DURATION_TAG, duration, 0, at)?;
            self.run_done = true;
            self.scalars += 1;
            written += 1;
        }
        self.maybe_flush()?;
        Ok(written)
    }

    /// Writes the scalars of the finished steps among `steps` not written
    /// before (see [`step_scalars`](crate::step_scalars)); returns how many.
    pub fn record_steps(&mut self, steps: &[StepExecutionEntry]) -> Result<usize> {
        let mut written = 0;
        for step in steps {
            if self.steps_done.contains(&step.step_id) {
                continue;
            }
            let values = step_scalars(step);
            if values.is_empty() {
                continue;
            }
            let refs: Vec<(&str, f64)> = values.iter().map(|(t, v)| (t.as_str(), *v)).collect();
            let at = step_wall_time(step).unwrap_or_else(unix_now);
            self.writer.add_scalars(&refs, i64::from(step.order), at)?;
            self.steps_done.insert(step.step_id.clone());
            written += values.len();
        }
        self.scalars += written as u64;
        self.maybe_flush()?;
        Ok(written)
    }

    /// Writes buffered events to the file.
    pub fn flush(&mut self) -> Result<()> {
        self.writer.flush()
    }

    fn maybe_flush(&mut self) -> Result<()> {
        if self.flush_each {
            self.writer.flush()?;
        }
        Ok(())
    }
}

/// What [`convert_run`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Conversion {
    /// The event file written.
    pub path: PathBuf,
    /// Telemetry samples read.
    pub samples: u64,
    /// Scalars written (samples' metrics, steps, run).
    pub scalars: u64,
    /// Earlier event files in the same directory that were removed.
    pub replaced: Vec<PathBuf>,
}

/// Converts a run — finished or still running — into a fresh event file in
/// `logdir` (use [`run_logdir`] for the conventional place): every sample in
/// `snapshots` (in file order), then every finished step, then the run's
/// duration if it has ended.
///
/// Converting the same run again gives the same result, not twice the
/// points: once the new file is complete, the other event files directly in
/// `logdir` are removed (they are listed in [`Conversion::replaced`]). Do
/// not point it at a directory a live [`Mirror`] is writing to.
pub fn convert_run(
    logdir: &Path,
    record: &PipelineRunRecord,
    snapshots: &[TelemetrySnapshot],
) -> Result<Conversion> {
    let mut mirror = Mirror::with_writer(EventWriter::create(logdir)?);
    mirror.flush_each = false;
    for snapshot in snapshots {
        mirror.record_snapshot(snapshot)?;
    }
    mirror.record_run(record)?;
    mirror.flush()?;
    let path = mirror.path().to_owned();
    let replaced = remove_other_event_files(logdir, &path)?;
    Ok(Conversion {
        path,
        samples: mirror.samples(),
        scalars: mirror.scalars(),
        replaced,
    })
}

fn remove_other_event_files(logdir: &Path, keep: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(logdir).map_err(|e| Error::io("list", logdir, e))?;
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", logdir, e))?;
        let path = entry.path();
        let is_event_file = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(EVENT_FILE_PREFIX));
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_event_file && is_file && path != keep {
            std::fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
            removed.push(path);
        }
    }
    removed.sort();
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use telemetry_model::{RunStatus, StepStatus, Timestamp};

    #[test]
    fn a_mirror_can_move_to_the_sampler_thread() {
        fn send<T: Send>() {}
        send::<Mirror>();
        send::<EventWriter>();
    }

    #[test]
    fn steps_are_written_once_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let mut mirror = Mirror::create(dir.path()).unwrap();
        let mut record = PipelineRunRecord::new("r");
        record.steps.push(StepExecutionEntry::new("a", "A", 1));
        assert_eq!(mirror.record_run(&record).unwrap(), 0);
        record.steps[0].status = StepStatus::Completed;
        record.steps[0].duration_seconds = Some(3.0);
        record.steps[0].ended_at = Some(Timestamp::from_unix_ms(5_000));
        assert_eq!(mirror.record_run(&record).unwrap(), 2);
        assert_eq!(mirror.record_run(&record).unwrap(), 0);
        record.status = RunStatus::Completed;
        record.completed_at = Some(Timestamp::from_unix_ms(6_000));
        record.created_at = Timestamp::from_unix_ms(1_000);
        assert_eq!(mirror.record_run(&record).unwrap(), 1);
        assert_eq!(mirror.record_run(&record).unwrap(), 0);
        assert_eq!(mirror.scalars(), 3);
    }

    #[test]
    fn conversion_replaces_earlier_files_but_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let record = PipelineRunRecord::new("r");
        let first = convert_run(dir.path(), &record, &[]).unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"mine").unwrap();
        let second = convert_run(dir.path(), &record, &[]).unwrap();
        assert_eq!(second.replaced, std::slice::from_ref(&first.path));
        assert!(!first.path.exists() && second.path.exists());
        assert!(dir.path().join("notes.txt").exists());
    }
}
