//! The live writer of one run.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::Serialize;
use telemetry_model::{
    PerformanceRecommendation, PerformanceTestResult, PipelineRunRecord, StepExecutionEntry,
    TelemetrySnapshot,
};

use crate::error::{Error, Result, shown};
use crate::files;
use crate::jsonl::{LineFile, write_atomic};
use crate::line::ManifestLine;
use crate::lock::{LOCK_FILE, RunLock};
use crate::reader::{ManifestContents, read_manifest};
use crate::root::ArtifactRoot;
use crate::run_id::{new_run_id, validate_run_name};

/// Manifests larger than this are compacted (see [`RunWriter::append_record`]).
pub const DEFAULT_COMPACT_BYTES: u64 = 8 * 1024 * 1024;

/// How a new run is created.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// A user-chosen run id; `None` generates a UUIDv7.
    pub name: Option<String>,
    /// `fdatasync` after every manifest line and before every atomic
    /// rewrite (`steps.json`, [`RunWriter::write_json`],
    /// [`RunWriter::write_file`]), so a power cut loses nothing already
    /// reported. A crash of the process alone (SIGKILL) loses nothing
    /// either way, and rewrites stay atomic (temporary file and rename)
    /// with or without it. Compacting the manifest syncs regardless. On by
    /// default.
    pub sync: bool,
    /// Compact the manifest when it grows past this many bytes.
    pub compact_bytes: u64,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            name: None,
            sync: true,
            compact_bytes: DEFAULT_COMPACT_BYTES,
        }
    }
}

/// Owns a run directory for the life of the run: holds `run.lock`, appends
/// to `manifest.jsonl` and `telemetry.jsonl`, rewrites `steps.json`.
///
/// Dropping the writer (or [`RunWriter::release`]) releases the lock; a run
/// whose last record says `running` is then reported as abandoned, which
/// is the point: write a terminal record before dropping. The writer never
/// deletes other runs: retention is its owner's choice (see
/// [`apply_retention`](crate::apply_retention)).
#[derive(Debug)]
pub struct RunWriter {
    run_id: String,
    dir: PathBuf,
    host: String,
    /// Held, never read: dropping it releases the run. `None` once
    /// released, and then nothing more is written.
    lock: Option<RunLock>,
    manifest: LineFile,
    telemetry: Option<LineFile>,
    /// Samples written together ([`RunWriter::batch_telemetry`]).
    telemetry_batch: usize,
    sync: bool,
    compact_bytes: u64,
}

impl RunWriter {
    /// Creates a new run directory under `<root>/run-tracker`, takes its
    /// lock and writes a first `pending` record (see
    /// [`RunWriter::create_with`]).
    pub fn create(root: &ArtifactRoot, options: &RunOptions) -> Result<Self> {
        Self::create_with(root, options, |_| {}).map(|(writer, _)| writer)
    }

    /// Creates a new run directory under `<root>/run-tracker`, takes its
    /// lock, and writes the run's first record: [`RunWriter::new_record`]
    /// as `init` completes it. Returns the writer and that record.
    ///
    /// Creating the directory is atomic (`mkdir`), so two processes can
    /// never get the same run. The manifest appears (by a rename) with the
    /// first record already in it, and only once the lock is held: a kill
    /// at any moment leaves either a run that history lists, or a directory
    /// without a manifest, which is not a run. A directory with a manifest
    /// and a free lock is finished or abandoned, never new.
    pub fn create_with(
        root: &ArtifactRoot,
        options: &RunOptions,
        init: impl FnOnce(&mut PipelineRunRecord),
    ) -> Result<(Self, PipelineRunRecord)> {
        // Refuse a bad name before anything is created.
        if let Some(name) = &options.name {
            validate_run_name(name)?;
        }
        let runs_dir = root.runs_dir();
        std::fs::create_dir_all(&runs_dir).map_err(|e| Error::io("create", &runs_dir, e))?;
        let mut attempts = 0;
        let (run_id, dir) = loop {
            let run_id = options.name.clone().unwrap_or_else(new_run_id);
            let dir = runs_dir.join(&run_id);
            match std::fs::create_dir(&dir) {
                Ok(()) => break (run_id, dir),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    attempts += 1;
                    if options.name.is_some() || attempts > 8 {
                        return Err(Error::RunExists { run_id, dir });
                    }
                }
                Err(e) => return Err(Error::io("create", &dir, e)),
            }
        };
        let mut lock = RunLock::acquire(&dir, &run_id)?;
        let host = host_name();
        lock.write_owner(&run_id, &host)?;
        let mut record = fresh_record(&run_id, &host, &dir);
        init(&mut record);
        // The first line goes to a hidden file that becomes the manifest by
        // a rename: no moment shows an empty manifest.
        let manifest_path = dir.join(files::MANIFEST);
        let staged = dir.join(format!(".{}.new", files::MANIFEST));
        let mut first = LineFile::open(&staged)?;
        first.append(&record)?;
        if options.sync {
            first.sync()?;
        }
        drop(first);
        std::fs::rename(&staged, &manifest_path)
            .map_err(|e| Error::io("rename", &manifest_path, e))?;
        crate::index::record_created(&runs_dir, &run_id, record.created_at);
        let writer = Self {
            run_id,
            manifest: LineFile::open(&manifest_path)?,
            dir,
            host,
            lock: Some(lock),
            telemetry: None,
            telemetry_batch: 1,
            sync: options.sync,
            compact_bytes: options.compact_bytes,
        };
        writer.write_steps(&record.steps)?;
        Ok((writer, record))
    }

    /// Reopens an existing run to append to it (after a crash, for
    /// instance). Fails with [`Error::RunLocked`] while another writer lives,
    /// and with [`Error::InvalidRunRef`] if the run directory, its manifest
    /// or its lock is a symbolic link (it could lead outside the root).
    /// Returns the writer and what the manifest holds so far.
    pub fn resume(
        root: &ArtifactRoot,
        run_id: &str,
        options: &RunOptions,
    ) -> Result<(Self, ManifestContents)> {
        validate_run_name(run_id)?;
        let runs_dir = root.runs_dir();
        let dir = runs_dir.join(run_id);
        // Nothing is followed out of the root: a run directory, manifest or
        // lock that is a symbolic link is refused, never written through.
        let kind = |path: &Path| std::fs::symlink_metadata(path).map(|m| m.file_type());
        let manifest = dir.join(files::MANIFEST);
        if [&dir, &manifest, &dir.join(LOCK_FILE)]
            .into_iter()
            .any(|path| kind(path).is_ok_and(|t| t.is_symlink()))
        {
            return Err(Error::InvalidRunRef {
                arg: shown(run_id),
                reason: "the run directory, its manifest or its lock is a symbolic link, which is never followed",
            });
        }
        if !kind(&manifest).is_ok_and(|t| t.is_file()) {
            return Err(Error::RunNotFound {
                arg: run_id.to_owned(),
                runs_dir,
            });
        }
        let writer = Self::open_locked(run_id.to_owned(), dir, options)?;
        let contents = read_manifest(&writer.dir.join(files::MANIFEST))?;
        if contents.record.is_none() {
            return Err(Error::NoRecord {
                path: writer.manifest.path().to_owned(),
            });
        }
        Ok((writer, contents))
    }

    fn open_locked(run_id: String, dir: PathBuf, options: &RunOptions) -> Result<Self> {
        let mut lock = RunLock::acquire(&dir, &run_id)?;
        let host = host_name();
        lock.write_owner(&run_id, &host)?;
        let manifest = LineFile::open(&dir.join(files::MANIFEST))?;
        Ok(Self {
            run_id,
            dir,
            host,
            lock: Some(lock),
            manifest,
            telemetry: None,
            telemetry_batch: 1,
            sync: options.sync,
            compact_bytes: options.compact_bytes,
        })
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The run directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Releases the run's lock before the writer is dropped: the run is
    /// over (write its terminal record first), and every later write fails
    /// with [`Error::Released`]. What an owner does before applying
    /// retention at the end of a run, so that the run itself can be pruned
    /// if newer runs of its pipeline have pushed it past the limit.
    pub fn release(&mut self) {
        // What was held back is the run's, and was never refused.
        let _ = self.flush_telemetry();
        drop(self.lock.take());
    }

    fn check_held(&self) -> Result<()> {
        match self.lock {
            Some(_) => Ok(()),
            None => Err(Error::Released {
                run_id: self.run_id.clone(),
            }),
        }
    }

    /// A `pending` record for this run, created now, with this process's
    /// host, pid and the run directory filled in.
    pub fn new_record(&self) -> PipelineRunRecord {
        fresh_record(&self.run_id, &self.host, &self.dir)
    }

    /// Persists a transition: the record line first (the source of truth),
    /// then `steps.json`.
    pub fn commit(&mut self, record: &PipelineRunRecord) -> Result<()> {
        self.append_record(record)?;
        self.write_steps(&record.steps)
    }

    /// Appends a complete record snapshot as one line. When the manifest
    /// has grown past the compaction size, it is rewritten atomically with
    /// only its wrapper lines and this record, so it stays bounded however
    /// long the run.
    pub fn append_record(&mut self, record: &PipelineRunRecord) -> Result<()> {
        self.check_held()?;
        // The samples taken before a transition are on disk before it.
        // Telemetry never stands in the way of a record.
        let _ = self.flush_telemetry();
        self.manifest.append(record)?;
        if self.sync {
            self.manifest.sync()?;
        }
        if self.manifest.len() > self.compact_bytes {
            self.compact(record)?;
        }
        Ok(())
    }

    /// Appends `{"recommendation": …}`.
    pub fn append_recommendation(
        &mut self,
        recommendation: &PerformanceRecommendation,
    ) -> Result<()> {
        self.append_wrapper(&ManifestLine::Recommendation {
            recommendation: recommendation.clone(),
        })
    }

    /// Appends `{"perf_test": …}`.
    pub fn append_perf_test(&mut self, perf_test: &PerformanceTestResult) -> Result<()> {
        self.append_wrapper(&ManifestLine::PerfTest {
            perf_test: perf_test.clone(),
        })
    }

    fn append_wrapper(&mut self, line: &ManifestLine) -> Result<()> {
        self.check_held()?;
        self.manifest.append(line)?;
        if self.sync {
            self.manifest.sync()?;
        }
        Ok(())
    }

    /// Appends one sample to `telemetry.jsonl` (never synced: samples are
    /// cheap to lose on a power cut and expensive to sync). With
    /// [`RunWriter::batch_telemetry`] above 1, samples are kept back and
    /// written that many at a time.
    pub fn append_telemetry(&mut self, snapshot: &TelemetrySnapshot) -> Result<()> {
        self.check_held()?;
        let file = match &mut self.telemetry {
            Some(file) => file,
            None => self
                .telemetry
                .insert(LineFile::open(&self.dir.join(files::TELEMETRY))?),
        };
        file.hold(snapshot)?;
        if file.held() >= self.telemetry_batch {
            file.write_held()?;
        }
        Ok(())
    }

    /// Writes samples `lines` at a time to `telemetry.jsonl` (1, the
    /// default, writes each at once). Each write costs the file system an
    /// update of the file's times through its journal, the larger part of
    /// a sample's cost at short intervals; the price is that a writer
    /// killed outright (SIGKILL, a power cut) loses the samples it held,
    /// fewer than `lines`. Held samples are written before every record
    /// ([`RunWriter::append_record`]), by [`RunWriter::flush_telemetry`],
    /// when the run is released and when the writer is dropped.
    pub fn batch_telemetry(&mut self, lines: usize) {
        self.telemetry_batch = lines.max(1);
    }

    /// Writes the samples held back by [`RunWriter::batch_telemetry`] now.
    pub fn flush_telemetry(&mut self) -> Result<()> {
        self.check_held()?;
        match &mut self.telemetry {
            Some(file) => file.write_held(),
            None => Ok(()),
        }
    }

    /// Rewrites `steps.json` (a pretty JSON list) atomically.
    pub fn write_steps(&self, steps: &[StepExecutionEntry]) -> Result<()> {
        self.write_json(files::STEPS, &steps)
    }

    /// Writes `value` as pretty JSON to `name` in the run directory,
    /// atomically (summary.json, for instance).
    pub fn write_json(&self, name: &str, value: &impl Serialize) -> Result<()> {
        self.check_held()?;
        let path = self.dir.join(name);
        let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| Error::Serialize {
            path: path.clone(),
            source,
        })?;
        bytes.push(b'\n');
        write_atomic(&path, &bytes, self.sync)
    }

    /// Writes `bytes` to `name` in the run directory, atomically.
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> Result<()> {
        self.check_held()?;
        write_atomic(&self.dir.join(name), bytes, self.sync)
    }

    fn compact(&mut self, record: &PipelineRunRecord) -> Result<()> {
        let path = self.manifest.path().to_owned();
        let contents = read_manifest(&path)?;
        let serialize = |source| Error::Serialize {
            path: path.clone(),
            source,
        };
        let mut bytes = Vec::new();
        for recommendation in contents.recommendations {
            push_line(&mut bytes, &ManifestLine::Recommendation { recommendation })
                .map_err(serialize)?;
        }
        for perf_test in contents.perf_tests {
            push_line(&mut bytes, &ManifestLine::PerfTest { perf_test }).map_err(serialize)?;
        }
        push_line(&mut bytes, record).map_err(serialize)?;
        // Always synced, whatever `sync` says: unlike a lost last line, a
        // compaction lost to a power cut would cost the whole history, and
        // it happens once per `compact_bytes` of records.
        write_atomic(&path, &bytes, true)?;
        self.manifest = LineFile::open(&path)?;
        // If what must be kept is itself large, do not rewrite it on every
        // commit: wait until the file has doubled again.
        self.compact_bytes = self.compact_bytes.max(2 * bytes.len() as u64);
        Ok(())
    }
}

impl Drop for RunWriter {
    /// Samples held back are written, as long as the run is still held.
    fn drop(&mut self) {
        if self.lock.is_some() {
            let _ = self.flush_telemetry();
        }
    }
}

/// A `pending` record created now, by this process on `host`, in `dir`.
fn fresh_record(run_id: &str, host: &str, dir: &Path) -> PipelineRunRecord {
    let mut record = PipelineRunRecord::new(run_id);
    record.host = Some(host.to_owned());
    record.pid = Some(std::process::id());
    record.artifact_dir = Some(dir.display().to_string());
    record
}

fn push_line(out: &mut Vec<u8>, value: &impl Serialize) -> Result<(), serde_json::Error> {
    serde_json::to_writer(&mut *out, value)?;
    out.push(b'\n');
    Ok(())
}

/// This machine's host name, or `unknown`.
pub fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Query, RunState, list_runs};

    #[test]
    fn a_created_run_is_listable_before_its_first_commit() {
        let tmp = tempfile::tempdir().unwrap();
        let root = ArtifactRoot::new(tmp.path());
        let (writer, record) = RunWriter::create_with(&root, &RunOptions::default(), |r| {
            r.pipeline = Some("demo".into());
        })
        .unwrap();
        // Nothing but the run's own files: no staged manifest left over.
        let mut names: Vec<String> = std::fs::read_dir(writer.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["manifest.jsonl", "run.lock", "steps.json"]);
        let listing = list_runs(&root, &Query::default()).unwrap();
        assert!(listing.warnings.is_empty(), "{:?}", listing.warnings);
        assert_eq!(listing.runs.len(), 1);
        assert_eq!(listing.runs[0].record, record);
        assert_eq!(listing.runs[0].state, RunState::Pending);
        drop(writer);
        let listing = list_runs(&root, &Query::default()).unwrap();
        assert_eq!(listing.runs[0].state, RunState::Abandoned);
    }

    fn telemetry_lines(writer: &RunWriter) -> usize {
        std::fs::read_to_string(writer.dir().join(files::TELEMETRY))
            .map_or(0, |text| text.lines().count())
    }

    #[test]
    fn batched_samples_are_written_together_and_never_left_behind() {
        let tmp = tempfile::tempdir().unwrap();
        let root = ArtifactRoot::new(tmp.path());
        let mut writer = RunWriter::create(&root, &RunOptions::default()).unwrap();
        writer.batch_telemetry(3);
        let sample = TelemetrySnapshot::default();
        writer.append_telemetry(&sample).unwrap();
        writer.append_telemetry(&sample).unwrap();
        assert_eq!(telemetry_lines(&writer), 0, "held");
        writer.append_telemetry(&sample).unwrap();
        assert_eq!(telemetry_lines(&writer), 3, "the batch is full");
        // A record takes the samples before it along.
        writer.append_telemetry(&sample).unwrap();
        let record = writer.new_record();
        writer.append_record(&record).unwrap();
        assert_eq!(telemetry_lines(&writer), 4);
        writer.append_telemetry(&sample).unwrap();
        writer.flush_telemetry().unwrap();
        assert_eq!(telemetry_lines(&writer), 5);
        // Released or dropped, the writer writes what it held.
        writer.append_telemetry(&sample).unwrap();
        writer.release();
        assert_eq!(telemetry_lines(&writer), 6);
        let (mut again, _) =
            RunWriter::resume(&root, writer.run_id(), &RunOptions::default()).unwrap();
        again.batch_telemetry(10);
        again.append_telemetry(&sample).unwrap();
        assert_eq!(telemetry_lines(&again), 6);
        let dir = again.dir().to_owned();
        drop(again);
        let text = std::fs::read_to_string(dir.join(files::TELEMETRY)).unwrap();
        assert_eq!(text.lines().count(), 7);
        assert!(
            text.lines()
                .all(|line| serde_json::from_str::<TelemetrySnapshot>(line).is_ok())
        );
    }

    #[test]
    fn a_released_writer_writes_nothing_more() {
        let tmp = tempfile::tempdir().unwrap();
        let root = ArtifactRoot::new(tmp.path());
        let mut writer = RunWriter::create(&root, &RunOptions::default()).unwrap();
        let record = writer.new_record();
        writer.release();
        assert!(matches!(
            writer.append_record(&record),
            Err(Error::Released { .. })
        ));
        assert!(matches!(
            writer.write_json("x.json", &1),
            Err(Error::Released { .. })
        ));
        // The lock is free: another writer may take the run over.
        let (_again, contents) =
            RunWriter::resume(&root, writer.run_id(), &RunOptions::default()).unwrap();
        assert_eq!(contents.lines, 1);
    }
}
