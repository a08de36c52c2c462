//! Run history: finding runs under the root, listing, filtering, resolving
//! a RUN argument, and retention.

use std::fmt;
use std::fs::TryLockError;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use telemetry_model::{PipelineRunRecord, RunStatus, Timestamp};

use crate::error::{Error, Result, shown};
use crate::lock::{LockState, RunLock};
use crate::reader::{ReadWarning, read_last_record};
use crate::root::ArtifactRoot;
use crate::writer::files;

/// How deep below `run-tracker/` run directories are looked for
/// (`perf-tests/latest` is depth 2).
pub const MAX_NESTING: usize = 4;

/// A run's state as readers report it: the recorded status, except that a
/// run recorded as `pending`/`running` whose writer is gone is `abandoned`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RunState {
    /// Created, no step started, writer alive.
    Pending,
    /// Writer alive, working.
    Running,
    /// Finished successfully.
    Completed,
    /// Finished with a failure.
    Failed,
    /// Stopped by a signal or the user.
    Cancelled,
    /// Says pending/running, but nobody holds its lock: the writer died
    /// (SIGKILL, power loss) without writing a final record.
    Abandoned,
}

impl RunState {
    /// Every state, in a stable order.
    pub const ALL: &'static [RunState] = &[
        Self::Pending,
        Self::Running,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
        Self::Abandoned,
    ];

    /// Combines a recorded status with the state of the run's lock.
    pub fn derive(status: RunStatus, lock: LockState) -> Self {
        match (status, lock) {
            (RunStatus::Pending | RunStatus::Running, LockState::Free | LockState::Missing) => {
                Self::Abandoned
            }
            (RunStatus::Pending, LockState::Held) => Self::Pending,
            (RunStatus::Running, LockState::Held) => Self::Running,
            (RunStatus::Completed, _) => Self::Completed,
            (RunStatus::Failed, _) => Self::Failed,
            (RunStatus::Cancelled, _) => Self::Cancelled,
        }
    }

    /// Lower-case name, as the CLI prints and accepts it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Abandoned => "abandoned",
        }
    }

    /// Whether the run is over, one way or another.
    pub fn is_finished(self) -> bool {
        !matches!(self, Self::Pending | Self::Running)
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not a run state.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid run state `{0}`: expected one of pending, running, completed, failed, cancelled, abandoned"
)]
pub struct RunStateParseError(pub String);

impl FromStr for RunState {
    type Err = RunStateParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|state| state.as_str() == s)
            .or((s == "canceled").then_some(Self::Cancelled))
            .ok_or_else(|| RunStateParseError(shown(s)))
    }
}

/// A run as listed: where it is, its last record, its derived state.
#[derive(Clone, Debug)]
pub struct RunEntry {
    /// The run directory.
    pub dir: PathBuf,
    /// The directory relative to `run-tracker/`, `/`-separated.
    pub rel_path: String,
    /// The last complete record of its manifest.
    pub record: PipelineRunRecord,
    /// Recorded status combined with the lock.
    pub state: RunState,
}

impl RunEntry {
    /// The run id (from the record; the directory name may differ).
    pub fn run_id(&self) -> &str {
        &self.record.run_id
    }

    /// The manifest's path.
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join(files::MANIFEST)
    }

    /// Seconds the run took, or has taken so far by `now` if it is live.
    /// An abandoned run's duration ends at its last recorded step.
    pub fn duration_seconds(&self, now: Timestamp) -> Option<f64> {
        let record = &self.record;
        let end = match self.state {
            RunState::Pending | RunState::Running => Some(now),
            RunState::Abandoned => record
                .steps
                .iter()
                .filter_map(|s| s.ended_at.or(s.started_at))
                .max(),
            _ => record.completed_at,
        };
        record
            .summary
            .total_duration
            .filter(|_| self.state.is_finished() && self.state != RunState::Abandoned)
            .or_else(|| end.map(|end| end.seconds_since(record.created_at).max(0.0)))
    }
}

/// Filters for [`list_runs`]. The default lists every run.
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// At most this many runs (the newest).
    pub limit: Option<usize>,
    /// Only runs in this state (`abandoned` included).
    pub state: Option<RunState>,
    /// Only runs created at or after this instant.
    pub since: Option<Timestamp>,
    /// Only runs created at or before this instant.
    pub until: Option<Timestamp>,
    /// Only runs whose pipeline name, scenario id, scenario config path or
    /// that path's file stem equals this.
    pub scenario: Option<String>,
}

impl Query {
    fn matches_record(&self, record: &PipelineRunRecord) -> bool {
        if self.since.is_some_and(|since| record.created_at < since)
            || self.until.is_some_and(|until| record.created_at > until)
        {
            return false;
        }
        match &self.scenario {
            None => true,
            Some(wanted) => scenario_names(record).any(|name| name == wanted),
        }
    }
}

fn scenario_names(record: &PipelineRunRecord) -> impl Iterator<Item = &str> {
    let path = record.scenario_config_path.as_deref();
    let stem = path
        .and_then(|p| Path::new(p).file_stem())
        .and_then(|s| s.to_str());
    let extra = ["scenario_id", "scenario"]
        .into_iter()
        .filter_map(|key| record.summary.extra.get(key).and_then(|v| v.as_str()));
    [record.pipeline.as_deref(), path, stem]
        .into_iter()
        .flatten()
        .chain(extra)
}

/// The result of [`list_runs`].
#[derive(Clone, Debug, Default)]
pub struct Listing {
    /// Matching runs, newest first, at most `limit`.
    pub runs: Vec<RunEntry>,
    /// How many runs matched before the limit.
    pub matched: usize,
    /// Damaged lines met on the way; a run without any readable record is
    /// reported here and not listed.
    pub warnings: Vec<ReadWarning>,
}

/// Lists runs under the root, newest first.
///
/// Reads only the tail of each manifest, in parallel, so the cost grows with
/// the number of runs and not with manifest length. Never creates anything:
/// a missing root lists nothing. Symbolic links are not followed.
///
/// ```
/// # let tmp = tempfile::tempdir()?;
/// use manifest::{list_runs, ArtifactRoot, Query, RunOptions, RunState, RunWriter};
/// let root = ArtifactRoot::new(tmp.path());
/// let mut writer = RunWriter::create(&root, &RunOptions::default())?;
/// let mut record = writer.new_record();
/// record.status = telemetry_model::RunStatus::Running;
/// writer.commit(&record)?;
///
/// let listing = list_runs(&root, &Query::default())?;
/// assert_eq!(listing.runs[0].state, RunState::Running);
/// drop(writer); // the writer "dies" without a final record
/// let listing = list_runs(&root, &Query::default())?;
/// assert_eq!(listing.runs[0].state, RunState::Abandoned);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn list_runs(root: &ArtifactRoot, query: &Query) -> Result<Listing> {
    let mut listing = Listing::default();
    let mut runs = Vec::new();
    for outcome in scan(&root.runs_dir())? {
        match outcome {
            Found::Run(entry) => {
                if query.matches_record(&entry.record)
                    && query.state.is_none_or(|state| state == entry.state)
                {
                    runs.push(*entry);
                }
            }
            Found::Warning(warning) => listing.warnings.push(warning),
        }
    }
    runs.sort_unstable_by(|a, b| {
        b.record
            .created_at
            .cmp(&a.record.created_at)
            .then_with(|| b.record.run_id.cmp(&a.record.run_id))
    });
    listing.matched = runs.len();
    if let Some(limit) = query.limit {
        runs.truncate(limit);
    }
    listing.runs = runs;
    Ok(listing)
}

enum Found {
    Run(Box<RunEntry>),
    Warning(ReadWarning),
}

enum Probe {
    Run(Box<RunEntry>, Vec<ReadWarning>),
    Container,
    Warning(ReadWarning),
    Gone,
}

/// Finds every run below `runs_dir`: a directory with a `manifest.jsonl` is
/// a run; one without is looked into, down to [`MAX_NESTING`].
fn scan(runs_dir: &Path) -> Result<Vec<Found>> {
    let mut found = Vec::new();
    let mut level = vec![(runs_dir.to_owned(), String::new())];
    for _ in 0..MAX_NESTING {
        let mut candidates = Vec::new();
        for (dir, rel) in &level {
            list_subdirs(dir, rel, &mut candidates)?;
        }
        let probes = parallel_map(&candidates, |(dir, rel)| probe(dir, rel));
        level.clear();
        for (probe, candidate) in probes.into_iter().zip(candidates) {
            match probe {
                Probe::Run(entry, warnings) => {
                    found.extend(warnings.into_iter().map(Found::Warning));
                    found.push(Found::Run(entry));
                }
                Probe::Container => level.push(candidate),
                Probe::Warning(w) => found.push(Found::Warning(w)),
                Probe::Gone => {}
            }
        }
        if level.is_empty() {
            break;
        }
    }
    Ok(found)
}

fn list_subdirs(dir: &Path, rel: &str, out: &mut Vec<(PathBuf, String)>) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("read directory", dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("read directory", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') {
            continue; // temporary files, the prune lock
        }
        // `file_type` does not follow symbolic links: a link is never a run.
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            let rel = if rel.is_empty() {
                name.to_owned()
            } else {
                format!("{rel}/{name}")
            };
            out.push((entry.path(), rel));
        }
    }
    Ok(())
}

fn probe(dir: &Path, rel: &str) -> Probe {
    let path = dir.join(files::MANIFEST);
    let tail = match read_last_record::<PipelineRunRecord>(&path) {
        Ok(Some(tail)) => tail,
        Ok(None) => {
            return Probe::Warning(ReadWarning {
                path,
                line: 0,
                message: "no readable run record; run not listed".to_owned(),
            });
        }
        Err(Error::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
            // No manifest: a container of runs, or a run pruned meanwhile.
            return if dir.exists() {
                Probe::Container
            } else {
                Probe::Gone
            };
        }
        Err(e) => {
            return Probe::Warning(ReadWarning {
                path,
                line: 0,
                message: format!("unreadable, run not listed: {e}"),
            });
        }
    };
    let record = tail.record;
    let lock = if record.status.is_terminal() {
        LockState::Free // not needed: a terminal status is final
    } else {
        RunLock::state(dir).unwrap_or(LockState::Free)
    };
    let mut warnings = tail.warnings;
    if record.has_naive_timestamps() {
        warnings.push(ReadWarning {
            path,
            line: 0,
            message: "timestamps without a UTC offset were read as UTC".to_owned(),
        });
    }
    let state = RunState::derive(record.status, lock);
    Probe::Run(
        Box::new(RunEntry {
            dir: dir.to_owned(),
            rel_path: rel.to_owned(),
            record,
            state,
        }),
        warnings,
    )
}

/// Maps `f` over `items` on up to one thread per core, keeping order.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    const MIN_PER_THREAD: usize = 64;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len().div_ceil(MIN_PER_THREAD))
        .clamp(1, 16);
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let per = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> = items
            .chunks(per)
            .map(|chunk| scope.spawn(move || chunk.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// Checks a RUN argument: it is a lookup key matched against listed runs,
/// never a path to open, and anything that could reach outside the root is
/// refused outright.
pub fn validate_run_ref(arg: &str) -> Result<()> {
    let refuse = |reason| {
        Err(Error::InvalidRunRef {
            arg: shown(arg),
            reason,
        })
    };
    if arg.is_empty() {
        return refuse("it is empty");
    }
    if arg.contains('\0') {
        return refuse("it contains NUL");
    }
    if arg.len() > 1024 {
        return refuse("it is longer than 1024 bytes");
    }
    let path = Path::new(arg);
    if path.is_absolute() || arg.starts_with(['/', '\\']) {
        return refuse("absolute paths are not run ids; give the id or a prefix of it");
    }
    if arg.contains('\\')
        || path
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        || arg.split('/').any(str::is_empty)
    {
        return refuse("it must not contain `..`, `.`, empty or `\\` path parts");
    }
    Ok(())
}

/// Finds the run a RUN argument names: `latest`, a run id, a run's path
/// below `run-tracker/` (`perf-tests/latest`), or a unique prefix of an id.
pub fn resolve_run(root: &ArtifactRoot, arg: &str) -> Result<RunEntry> {
    validate_run_ref(arg)?;
    let runs_dir = root.runs_dir();
    let not_found = || Error::RunNotFound {
        arg: shown(arg),
        runs_dir: runs_dir.clone(),
    };
    if arg == "latest" {
        let query = Query {
            limit: Some(1),
            ..Query::default()
        };
        return list_runs(root, &query)?.runs.pop().ok_or_else(not_found);
    }
    // Fast path: the argument is the directory of a run (no links followed).
    if let Some(dir) = real_subdir(&runs_dir, arg)
        && let Probe::Run(entry, _) = probe(&dir, arg)
    {
        return Ok(*entry);
    }
    let mut runs = list_runs(root, &Query::default())?.runs;
    if let Some(i) = runs
        .iter()
        .position(|r| r.run_id() == arg || r.rel_path == arg)
    {
        return Ok(runs.swap_remove(i));
    }
    runs.retain(|r| r.run_id().starts_with(arg) || r.rel_path.starts_with(arg));
    match runs.len() {
        0 => Err(not_found()),
        1 => Ok(runs.swap_remove(0)),
        count => Err(Error::AmbiguousRun {
            arg: shown(arg),
            count,
            candidates: runs.iter().take(5).map(|r| r.run_id().to_owned()).collect(),
        }),
    }
}

/// `base/rel` if every component is a real directory (no symbolic links).
fn real_subdir(base: &Path, rel: &str) -> Option<PathBuf> {
    let mut dir = base.to_owned();
    for part in rel.split('/') {
        dir.push(part);
        let meta = std::fs::symlink_metadata(&dir).ok()?;
        if !meta.is_dir() {
            return None;
        }
    }
    Some(dir)
}

/// How many runs to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Keep the newest this many runs; 0 keeps all.
    pub keep: usize,
}

impl Retention {
    /// The default: the newest 20 runs.
    pub const DEFAULT_KEEP: usize = 20;

    /// Keep every run.
    pub const KEEP_ALL: Retention = Retention { keep: 0 };
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            keep: Self::DEFAULT_KEEP,
        }
    }
}

/// What a prune did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Run ids deleted.
    pub removed: Vec<String>,
    /// Run ids past the limit left alone because a live writer holds them.
    pub kept_live: Vec<String>,
    /// Whether another process was pruning, so this call did nothing.
    pub skipped_busy: bool,
}

/// Deletes the oldest runs beyond `retention.keep` (by creation time).
///
/// Never deletes a run whose lock is held (it is live) nor `exclude` (the
/// caller's own run). Only one process prunes at a time
/// (`run-tracker/.prune.lock`); a concurrent call returns at once, and each
/// victim is deleted while holding its own lock, so a writer cannot resume
/// it halfway through.
pub fn prune(
    root: &ArtifactRoot,
    retention: Retention,
    exclude: Option<&Path>,
) -> Result<PruneReport> {
    let mut report = PruneReport::default();
    if retention.keep == 0 {
        return Ok(report);
    }
    let runs_dir = root.runs_dir();
    let lock_path = runs_dir.join(".prune.lock");
    let guard = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|e| Error::io("open", &lock_path, e))?;
    match guard.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            report.skipped_busy = true;
            return Ok(report);
        }
        Err(TryLockError::Error(e)) => return Err(Error::io("lock", &lock_path, e)),
    }
    let listing = list_runs(root, &Query::default())?;
    for entry in listing.runs.into_iter().skip(retention.keep) {
        if exclude.is_some_and(|own| own == entry.dir) {
            continue;
        }
        let held = match RunLock::acquire(&entry.dir, entry.run_id()) {
            Ok(held) => held,
            Err(Error::RunLocked { .. }) => {
                report.kept_live.push(entry.record.run_id);
                continue;
            }
            Err(Error::Io { source, .. }) if source.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        match std::fs::remove_dir_all(&entry.dir) {
            Ok(()) => report.removed.push(entry.record.run_id),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", &entry.dir, e)),
        }
        drop(held);
    }
    Ok(report)
}
