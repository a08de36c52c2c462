//! Run history: finding runs under the root, listing, filtering, resolving
//! a RUN argument.

use std::cmp::Ordering;
use std::fmt;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use telemetry_model::{PipelineRunRecord, RunStatus, Timestamp};

use crate::error::{Error, Result, shown};
use crate::files;
use crate::keys::RecordKeys;
use crate::lock::{LockState, RunLock};
use crate::reader::{ReadWarning, read_last_record_in};
use crate::root::ArtifactRoot;

/// How deep below `run-tracker/` run directories are looked for
/// (`perf-tests/latest` is depth 2).
pub const MAX_NESTING: usize = 4;

/// A run's state as readers report it: the recorded status, except that a
/// run recorded as `pending`/`running` whose writer is gone is `abandoned`.
/// Serialises as its lower-case name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
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
    /// When the run last showed a sign of life, for a run whose writer is
    /// gone: the latest of its creation, its steps' recorded starts and
    /// ends, its persisted live progress, and its last telemetry sample
    /// (the tail of `telemetry.jsonl`, read only here). A writer killed in
    /// the middle of a long step was alive until its last sample, not only
    /// until the step started.
    pub fn last_seen(&self) -> Option<Timestamp> {
        /// The one field of a sample this needs.
        #[derive(serde::Deserialize)]
        struct Sample {
            timestamp_ms: i64,
        }
        let record = &self.record;
        let steps = record
            .steps
            .iter()
            .filter_map(|s| s.ended_at.or(s.started_at))
            .max();
        let live = record.summary.live.as_ref().and_then(|l| l.updated_at);
        let telemetry = self.dir.join(files::TELEMETRY);
        let sample = telemetry
            .is_file()
            .then(|| read_last_record_in::<Sample>(&telemetry, &mut Vec::new()))
            .and_then(|read| read.ok().flatten())
            .map(|tail| Timestamp::from_unix_ms(tail.record.timestamp_ms))
            .filter(|t| *t >= record.created_at);
        [Some(record.created_at), steps, live, sample]
            .into_iter()
            .flatten()
            .max()
    }

    /// The run id (from the record; the directory name may differ).
    pub fn run_id(&self) -> &str {
        &self.record.run_id
    }

    /// The manifest's path.
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join(files::MANIFEST)
    }

    /// Seconds the run took, or has taken so far by `now` if it is live.
    /// An abandoned run's duration ends at its last sign of life
    /// ([`RunEntry::last_seen`]).
    pub fn duration_seconds(&self, now: Timestamp) -> Option<f64> {
        let record = &self.record;
        let end = match self.state {
            RunState::Pending | RunState::Running => Some(now),
            RunState::Abandoned => self.last_seen(),
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
    /// Whether a run with these fields passes the time and scenario filters
    /// (the state filter needs the lock and is checked apart).
    fn matches(&self, fields: &QueryFields<'_>) -> bool {
        if self.since.is_some_and(|since| fields.created_at < since)
            || self.until.is_some_and(|until| fields.created_at > until)
        {
            return false;
        }
        match &self.scenario {
            None => true,
            Some(wanted) => fields.scenario_names().any(|name| name == wanted),
        }
    }
}

/// What [`Query`] filters on, borrowed from a full record or from its
/// [`RecordKeys`], so that both passes of [`list_runs`] filter alike.
struct QueryFields<'a> {
    created_at: Timestamp,
    pipeline: Option<&'a str>,
    scenario_config_path: Option<&'a str>,
    /// `summary.scenario_id` and `summary.scenario`, where they are strings.
    summary_scenario: [Option<&'a str>; 2],
}

impl<'a> QueryFields<'a> {
    fn of_record(record: &'a PipelineRunRecord) -> Self {
        Self {
            created_at: record.created_at,
            pipeline: record.pipeline.as_deref(),
            scenario_config_path: record.scenario_config_path.as_deref(),
            summary_scenario: [
                record.summary.scenario_id.as_deref(),
                record.summary.scenario.as_deref(),
            ],
        }
    }

    fn of_keys(keys: &'a RecordKeys) -> Self {
        let summary = keys.summary.as_ref();
        Self {
            created_at: keys.created_at,
            pipeline: keys.pipeline.as_deref(),
            scenario_config_path: keys.scenario_config_path.as_deref(),
            summary_scenario: [
                summary.and_then(|s| s.scenario_id.as_deref()),
                summary.and_then(|s| s.scenario.as_deref()),
            ],
        }
    }

    /// The pipeline name, the scenario config path and its file stem, and
    /// the summary's scenario id and name.
    fn scenario_names(&self) -> impl Iterator<Item = &'a str> {
        let path = self.scenario_config_path;
        let stem = path
            .and_then(|p| Path::new(p).file_stem())
            .and_then(|s| s.to_str());
        [self.pipeline, path, stem]
            .into_iter()
            .chain(self.summary_scenario)
            .flatten()
    }
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
/// Works in two passes. The first reads, in parallel, only the tail of each
/// manifest, and keeps of its last record only the keys that sorting and
/// filtering need (a few hundred bytes a run), so time and memory grow with
/// the number of runs, not with manifest length. The keys are read with the
/// full record's rules, so both passes agree on which line is a run's last
/// record. The second pass reads the full record of the runs kept (the
/// newest `limit`, or all without one) and checks them again: a run that
/// changed in between (a live run finishing) is filtered and placed by
/// what was read last, and one deleted in between (pruned) is left out.
/// Never creates anything: a missing root lists nothing. Symbolic links
/// are not followed.
///
/// Damaged lines are reported for every run; the warning about timestamps
/// without a UTC offset, only for the runs listed.
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
    let Scan {
        mut runs,
        mut warnings,
    } = scan(&root.runs_dir(), query)?;
    let n = read_newest(&mut runs, query, &mut warnings);
    let matched = runs.len();
    for run in runs.drain(n..) {
        warnings.extend(run.warnings.into_iter().map(|w| (run.seq, w)));
    }
    runs.sort_unstable_by(newest_first);
    let mut listed = Vec::with_capacity(runs.len());
    for run in runs {
        warnings.extend(run.warnings.into_iter().map(|w| (run.seq, w)));
        // Every run kept has been read (see `read_newest`).
        listed.extend(run.entry.map(|entry| *entry));
    }
    // In the order the runs were found, as one pass would report them.
    warnings.sort_by_key(|(seq, _)| *seq);
    Ok(Listing {
        runs: listed,
        matched,
        warnings: warnings.into_iter().map(|(_, w)| w).collect(),
    })
}

/// Reads the full record of the newest `query.limit` runs (all of them
/// without a limit) and moves them to the front of `runs`, returning how
/// many that is. Runs that no longer match once read, or that are gone or
/// unreadable, leave `runs` (their warnings go to `warnings`), and the
/// next newest take their place, until the newest `limit` runs have all
/// been read and match.
fn read_newest(
    runs: &mut Vec<Candidate>,
    query: &Query,
    warnings: &mut Vec<(usize, ReadWarning)>,
) -> usize {
    loop {
        let n = query
            .limit
            .map_or(runs.len(), |limit| limit.min(runs.len()));
        if n < runs.len() {
            // The newest `n` first, in no particular order.
            runs.select_nth_unstable_by(n, newest_first);
        }
        let unread: Vec<usize> = (0..n).filter(|&i| runs[i].entry.is_none()).collect();
        if unread.is_empty() {
            return n;
        }
        let loaded = parallel_map(&unread, Vec::new, |buf, &i| {
            load(&runs[i].dir, &runs[i].rel_path, buf)
        });
        let mut leaving = Vec::new();
        for (i, loaded) in unread.into_iter().zip(loaded) {
            let run = &mut runs[i];
            match loaded {
                Loaded::Run(entry, run_warnings) => {
                    run.warnings = run_warnings;
                    let matches = query.matches(&QueryFields::of_record(&entry.record))
                        && query.state.is_none_or(|state| state == entry.state);
                    if matches {
                        run.entry = Some(entry);
                    } else {
                        leaving.push(i);
                    }
                }
                Loaded::Warning(warning) => {
                    run.warnings = vec![warning];
                    leaving.push(i);
                }
                Loaded::Gone => {
                    run.warnings.clear();
                    leaving.push(i);
                }
            }
        }
        // Highest index first, so that each `swap_remove` moves a run that
        // is staying.
        for i in leaving.into_iter().rev() {
            let run = runs.swap_remove(i);
            warnings.extend(run.warnings.into_iter().map(|w| (run.seq, w)));
        }
    }
}

/// Newest first: by creation time, then by run id, both descending; a run
/// already read is placed by its full record.
pub(crate) fn newest_first(a: &Candidate, b: &Candidate) -> Ordering {
    b.sort_key().cmp(&a.sort_key())
}

/// A run found by the first pass of [`list_runs`].
pub(crate) struct Candidate {
    /// Position in the scan, to report warnings in the order runs are found.
    seq: usize,
    pub(crate) dir: PathBuf,
    pub(crate) rel_path: String,
    pub(crate) run_id: String,
    pub(crate) created_at: Timestamp,
    /// The pipeline its last record names.
    pub(crate) pipeline: Option<String>,
    /// Lines skipped reading the keys; once the full record has been read,
    /// those skipped reading it.
    warnings: Vec<ReadWarning>,
    /// The run as listed, once its full record has been read.
    entry: Option<Box<RunEntry>>,
}

impl Candidate {
    fn sort_key(&self) -> (Timestamp, &str) {
        match &self.entry {
            Some(entry) => (entry.record.created_at, &entry.record.run_id),
            None => (self.created_at, &self.run_id),
        }
    }
}

/// What the first pass found.
pub(crate) struct Scan {
    /// Runs that match the query, in no particular order.
    pub(crate) runs: Vec<Candidate>,
    /// Warnings about the rest, each with its position in the scan.
    warnings: Vec<(usize, ReadWarning)>,
}

enum Probe {
    /// A run the query selects.
    Run(Candidate),
    /// A run the query rules out, with the lines skipped reading it.
    Skipped(Vec<ReadWarning>),
    /// No manifest: a directory that may hold runs.
    Container,
    Warning(ReadWarning),
    Gone,
}

/// Finds every run below `runs_dir` that `query` selects (its state
/// included; `limit` aside): a directory with a `manifest.jsonl` is a run;
/// one without is looked into, down to [`MAX_NESTING`].
pub(crate) fn scan(runs_dir: &Path, query: &Query) -> Result<Scan> {
    let mut top = Vec::new();
    list_subdirs(runs_dir, "", &mut top)?;
    scan_from(top, query)
}

/// [`scan`] of the given directories of `run-tracker/` (each with its
/// `/`-separated path below it) and what they contain.
fn scan_from(candidates: Vec<(PathBuf, String)>, query: &Query) -> Result<Scan> {
    let mut found = Scan {
        runs: Vec::new(),
        warnings: Vec::new(),
    };
    let mut seq = 0;
    let mut candidates = candidates;
    for depth in 0..MAX_NESTING {
        if depth > 0 {
            let level = std::mem::take(&mut candidates);
            for (dir, rel) in &level {
                list_subdirs(dir, rel, &mut candidates)?;
            }
        }
        let probes = parallel_map(&candidates, Vec::new, |buf, (dir, rel)| {
            probe(dir, rel, query, buf)
        });
        let mut containers = Vec::new();
        for (probe, candidate) in probes.into_iter().zip(std::mem::take(&mut candidates)) {
            seq += 1;
            match probe {
                Probe::Run(run) => found.runs.push(Candidate { seq, ..run }),
                Probe::Skipped(warnings) => {
                    found
                        .warnings
                        .extend(warnings.into_iter().map(|w| (seq, w)));
                }
                Probe::Container => containers.push(candidate),
                Probe::Warning(w) => found.warnings.push((seq, w)),
                Probe::Gone => {}
            }
        }
        if containers.is_empty() {
            break;
        }
        candidates = containers;
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

fn no_record_warning(path: PathBuf) -> ReadWarning {
    ReadWarning {
        path,
        line: 0,
        message: "no readable run record; run not listed".to_owned(),
    }
}

fn unreadable_warning(path: PathBuf, error: &Error) -> ReadWarning {
    ReadWarning {
        path,
        line: 0,
        message: format!("unreadable, run not listed: {error}"),
    }
}

fn is_not_found(error: &Error) -> bool {
    matches!(error, Error::Io { source, .. } if source.kind() == ErrorKind::NotFound)
}

/// The first pass over one directory: the keys of its last record, if it
/// is a run, filtered by `query`.
fn probe(dir: &Path, rel: &str, query: &Query, buf: &mut Vec<u8>) -> Probe {
    let path = dir.join(files::MANIFEST);
    let tail = match read_last_record_in::<RecordKeys>(&path, buf) {
        Ok(Some(tail)) => tail,
        Ok(None) => return Probe::Warning(no_record_warning(path)),
        // No manifest: a container of runs, or a run pruned meanwhile.
        Err(e) if is_not_found(&e) => {
            return if dir.exists() {
                Probe::Container
            } else {
                Probe::Gone
            };
        }
        Err(e) => return Probe::Warning(unreadable_warning(path, &e)),
    };
    let keys = tail.record;
    let selected = query.matches(&QueryFields::of_keys(&keys))
        && query
            .state
            .is_none_or(|state| state == derive_state(keys.status, dir));
    if !selected {
        return Probe::Skipped(tail.warnings);
    }
    Probe::Run(Candidate {
        seq: 0,
        dir: dir.to_owned(),
        rel_path: rel.to_owned(),
        run_id: keys.run_id,
        created_at: keys.created_at,
        pipeline: keys.pipeline,
        warnings: tail.warnings,
        entry: None,
    })
}

/// A recorded status combined with the lock of the run in `dir`, probed
/// only where it matters (a terminal status is final).
fn derive_state(status: RunStatus, dir: &Path) -> RunState {
    let lock = if status.is_terminal() {
        LockState::Free
    } else {
        RunLock::state(dir).unwrap_or(LockState::Free)
    };
    RunState::derive(status, lock)
}

enum Loaded {
    Run(Box<RunEntry>, Vec<ReadWarning>),
    /// No record, or unreadable: not listed.
    Warning(ReadWarning),
    /// No manifest (any more).
    Gone,
}

/// Reads the full last record of the run in `dir`.
fn load(dir: &Path, rel: &str, buf: &mut Vec<u8>) -> Loaded {
    let path = dir.join(files::MANIFEST);
    let tail = match read_last_record_in::<PipelineRunRecord>(&path, buf) {
        Ok(Some(tail)) => tail,
        Ok(None) => return Loaded::Warning(no_record_warning(path)),
        Err(e) if is_not_found(&e) => return Loaded::Gone,
        Err(e) => return Loaded::Warning(unreadable_warning(path, &e)),
    };
    let record = tail.record;
    let mut warnings = tail.warnings;
    if record.has_naive_timestamps() {
        warnings.push(ReadWarning {
            path,
            line: 0,
            message: "timestamps without a UTC offset were read as UTC".to_owned(),
        });
    }
    let state = derive_state(record.status, dir);
    Loaded::Run(
        Box::new(RunEntry {
            dir: dir.to_owned(),
            rel_path: rel.to_owned(),
            record,
            state,
        }),
        warnings,
    )
}

/// Maps `f` over `items` on up to one thread per core, keeping order. Each
/// thread has its own `init()` state (a read buffer) that `f` may reuse.
fn parallel_map<T: Sync, S, R: Send>(
    items: &[T],
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, &T) -> R + Sync,
) -> Vec<R> {
    const MIN_PER_THREAD: usize = 64;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len().div_ceil(MIN_PER_THREAD))
        .clamp(1, 16);
    let run = |chunk: &[T]| {
        let mut state = init();
        chunk
            .iter()
            .map(|item| f(&mut state, item))
            .collect::<Vec<R>>()
    };
    if threads == 1 {
        return run(items);
    }
    let per = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let run = &run;
        let handles: Vec<_> = items
            .chunks(per)
            .map(|chunk| scope.spawn(move || run(chunk)))
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
    // `Path::components` drops inner `.` parts (`a/./b`), so the parts
    // are checked as written too.
    if arg.contains('\\')
        || path
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        || arg.split('/').any(|part| matches!(part, "" | "." | ".."))
    {
        return refuse("it must not contain `..`, `.`, empty or `\\` path parts");
    }
    Ok(())
}

/// Finds the run a RUN argument names: `latest`, a run id, a run's path
/// below `run-tracker/` (`perf-tests/latest`), or a unique prefix of an id.
///
/// Costs about the same however many runs the root holds: a directory
/// named by a UUIDv7 (every run the tracker creates without a chosen
/// name) holds the run of that id, created at the time the id carries, so
/// such runs are matched by name and ordered by their id's time without
/// reading their manifests (see `docs/artifact-layout.md`, "Finding a
/// run"). Other directories (chosen names, other tools' runs, nested
/// runs) are read as [`list_runs`] reads them.
pub fn resolve_run(root: &ArtifactRoot, arg: &str) -> Result<RunEntry> {
    validate_run_ref(arg)?;
    let runs_dir = root.runs_dir();
    let not_found = || Error::RunNotFound {
        arg: shown(arg),
        runs_dir: runs_dir.clone(),
    };
    let mut buf = Vec::new();
    if arg == "latest" {
        // The run the index names, while `run-tracker/` is as it left it.
        if let Some(rel) = crate::index::latest(&runs_dir)
            && let Some(dir) = real_subdir(&runs_dir, &rel)
            && let Loaded::Run(entry, _) = load(&dir, &rel, &mut buf)
        {
            return Ok(*entry);
        }
        // A run deleted between finding it and reading it: look again.
        for _ in 0..3 {
            let Some(found) = newest_run(&runs_dir, &mut buf)? else {
                return Err(not_found());
            };
            if let Loaded::Run(entry, _) = load(&found.dir, &found.rel_path, &mut buf) {
                return Ok(*entry);
            }
        }
        let query = Query {
            limit: Some(1),
            ..Query::default()
        };
        return list_runs(root, &query)?.runs.pop().ok_or_else(not_found);
    }
    // Fast path: the argument is the directory of a run (no links followed).
    if let Some(dir) = real_subdir(&runs_dir, arg)
        && let Loaded::Run(entry, _) = load(&dir, arg, &mut buf)
    {
        return Ok(*entry);
    }
    // Otherwise match against the keys of the runs that can match: every
    // directory not named by a UUIDv7, and those UUIDv7 directories whose
    // name the argument starts or continues. Only the run found is read.
    let names = crate::index::top_level_names(
        &runs_dir,
        |name| uuid_v7_ms(name).is_none() || name.starts_with(arg) || arg.starts_with(name),
        || {
            let mut top = Vec::new();
            list_subdirs(&runs_dir, "", &mut top)?;
            Ok(top.into_iter().map(|(_, name)| name).collect())
        },
    )?;
    let top = names
        .into_iter()
        .map(|name| (runs_dir.join(&name), name))
        .collect();
    let mut runs = scan_from(top, &Query::default())?.runs;
    runs.sort_unstable_by(newest_first);
    let found = match runs
        .iter()
        .position(|r| r.run_id == arg || r.rel_path == arg)
    {
        Some(i) => runs.swap_remove(i),
        None => {
            runs.retain(|r| r.run_id.starts_with(arg) || r.rel_path.starts_with(arg));
            match runs.len() {
                0 => return Err(not_found()),
                1 => runs.swap_remove(0),
                count => {
                    return Err(Error::AmbiguousRun {
                        arg: shown(arg),
                        count,
                        candidates: runs.into_iter().take(5).map(|r| r.run_id).collect(),
                    });
                }
            }
        }
    };
    match load(&found.dir, &found.rel_path, &mut buf) {
        Loaded::Run(entry, _) => Ok(*entry),
        // Deleted or damaged since the scan.
        Loaded::Warning(_) | Loaded::Gone => Err(not_found()),
    }
}

/// How much later than the time in its UUIDv7 id a run may record its
/// creation: the writer makes the id, creates the directory and stamps the
/// first record within milliseconds, so a minute leaves room for a machine
/// under heavy load.
const ID_TIME_SLACK_MS: i64 = 60_000;

/// The newest run below `runs_dir` (as [`list_runs`] orders them), found
/// without reading every manifest: runs in UUIDv7-named directories are
/// visited newest id first, and the visit stops at the first id older than
/// the newest creation time found so far by more than [`ID_TIME_SLACK_MS`].
/// Every other directory is read.
fn newest_run(runs_dir: &Path, buf: &mut Vec<u8>) -> Result<Option<Candidate>> {
    let mut top = Vec::new();
    list_subdirs(runs_dir, "", &mut top)?;
    let mut timed = Vec::new();
    let mut others = Vec::new();
    for (dir, name) in top {
        match uuid_v7_ms(&name) {
            Some(ms) => timed.push((ms, dir, name)),
            None => others.push((dir, name)),
        }
    }
    let newer = |a: &Candidate, b: &Option<Candidate>| {
        b.as_ref()
            .is_none_or(|b| newest_first(a, b) == Ordering::Less)
    };
    let mut best: Option<Candidate> = None;
    for run in scan_from(others, &Query::default())?.runs {
        if newer(&run, &best) {
            best = Some(run);
        }
    }
    // Newest id first; equal times in name order, as ids compare.
    timed.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| b.2.cmp(&a.2)));
    for (ms, dir, name) in timed {
        if let Some(b) = &best
            && ms.saturating_add(ID_TIME_SLACK_MS) < b.created_at.unix_ms()
        {
            break;
        }
        let found = match probe(&dir, &name, &Query::default(), buf) {
            Probe::Run(run) => vec![run],
            // Not a run itself (a run killed before its manifest appeared,
            // say): whatever it contains is read.
            Probe::Container => scan_from(vec![(dir, name)], &Query::default())?.runs,
            Probe::Skipped(_) | Probe::Warning(_) | Probe::Gone => Vec::new(),
        };
        for run in found {
            if newer(&run, &best) {
                best = Some(run);
            }
        }
    }
    Ok(best)
}

/// The millisecond timestamp of a UUIDv7 in its canonical form
/// (`01a20b60-f858-731e-8e92-75424844d604`), or `None` for any other name.
fn uuid_v7_ms(name: &str) -> Option<i64> {
    let bytes = name.as_bytes();
    let canonical = bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    // Version 7, RFC 9562 variant (10xx).
    if !canonical
        || bytes[14] != b'7'
        || !matches!(bytes[19], b'8' | b'9' | b'a' | b'b' | b'A' | b'B')
    {
        return None;
    }
    // 48 bits of milliseconds: the first 8 and the next 4 hex digits.
    let high = i64::from_str_radix(&name[..8], 16).ok()?;
    let low = i64::from_str_radix(&name[9..13], 16).ok()?;
    Some(high << 16 | low)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::{RunOptions, RunWriter};

    /// Writes run `name`, created `minute` minutes after an epoch, with one
    /// record in `status`; the writer is returned (drop it to end the run).
    fn write_run(root: &ArtifactRoot, name: &str, minute: i64, status: RunStatus) -> RunWriter {
        let options = RunOptions {
            name: Some(name.to_owned()),
            sync: false,
            ..RunOptions::default()
        };
        let mut writer = RunWriter::create(root, &options).unwrap();
        let mut record = writer.new_record();
        record.created_at = Timestamp::from_unix_ms(1_735_000_000_000 + minute * 60_000);
        record.status = status;
        writer.append_record(&record).unwrap();
        writer
    }

    /// Five completed runs, `r1` (oldest) to `r5` (newest).
    fn five_runs() -> (tempfile::TempDir, ArtifactRoot) {
        let tmp = tempfile::tempdir().unwrap();
        let root = ArtifactRoot::new(tmp.path());
        for i in 1..=5 {
            drop(write_run(&root, &format!("r{i}"), i, RunStatus::Completed));
        }
        (tmp, root)
    }

    fn read_ids(runs: &[Candidate], n: usize) -> Vec<&str> {
        let mut ids: Vec<&str> = runs[..n]
            .iter()
            .map(|r| r.entry.as_ref().unwrap().run_id())
            .collect();
        ids.sort_unstable();
        ids
    }

    fn limit(n: usize) -> Query {
        Query {
            limit: Some(n),
            ..Query::default()
        }
    }

    #[test]
    fn only_the_runs_listed_are_read_in_full() {
        let (_tmp, root) = five_runs();
        let query = limit(2);
        let Scan { mut runs, warnings } = scan(&root.runs_dir(), &query).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(runs.len(), 5);
        assert!(
            runs.iter().all(|r| r.entry.is_none()),
            "the scan reads keys only"
        );
        let mut warnings = Vec::new();
        assert_eq!(read_newest(&mut runs, &query, &mut warnings), 2);
        assert_eq!(read_ids(&runs, 2), ["r4", "r5"]);
        assert_eq!(runs.iter().filter(|r| r.entry.is_some()).count(), 2);
        assert_eq!(runs.len(), 5);
        assert!(warnings.is_empty());
    }

    #[test]
    fn a_run_deleted_between_the_passes_is_left_out() {
        let (_tmp, root) = five_runs();
        let query = limit(2);
        let Scan { mut runs, .. } = scan(&root.runs_dir(), &query).unwrap();
        std::fs::remove_dir_all(root.runs_dir().join("r5")).unwrap();
        let mut warnings = Vec::new();
        assert_eq!(read_newest(&mut runs, &query, &mut warnings), 2);
        assert_eq!(read_ids(&runs, 2), ["r3", "r4"]);
        assert_eq!(runs.len(), 4, "no longer counted as matched");
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn a_run_changed_between_the_passes_is_placed_and_filtered_by_its_full_record() {
        let (_tmp, root) = five_runs();
        // The newest run's manifest now says it is the oldest.
        let query = limit(1);
        let Scan { mut runs, .. } = scan(&root.runs_dir(), &query).unwrap();
        let manifest = root.runs_dir().join("r5").join(files::MANIFEST);
        let text = std::fs::read_to_string(&manifest).unwrap();
        let mut record: PipelineRunRecord =
            serde_json::from_str(text.lines().last().unwrap()).unwrap();
        record.created_at = Timestamp::from_unix_ms(0);
        std::fs::write(&manifest, serde_json::to_string(&record).unwrap() + "\n").unwrap();
        let mut warnings = Vec::new();
        assert_eq!(read_newest(&mut runs, &query, &mut warnings), 1);
        assert_eq!(read_ids(&runs, 1), ["r4"]);
        assert_eq!(runs.len(), 5, "r5 still matches, further down");

        // A live run that finishes between the passes no longer matches a
        // query for running runs.
        let mut live = write_run(&root, "live", 9, RunStatus::Running);
        let query = Query {
            state: Some(RunState::Running),
            ..limit(5)
        };
        let Scan { mut runs, .. } = scan(&root.runs_dir(), &query).unwrap();
        assert_eq!(runs.len(), 1);
        let mut record = live.new_record();
        record.created_at = Timestamp::from_unix_ms(1_735_000_000_000 + 9 * 60_000);
        record.status = RunStatus::Completed;
        live.append_record(&record).unwrap();
        drop(live);
        assert_eq!(read_newest(&mut runs, &query, &mut warnings), 0);
        assert!(runs.is_empty());
        assert_eq!(list_runs(&root, &query).unwrap().matched, 0);
    }

    #[test]
    fn a_state_filter_probes_locks_in_the_first_pass() {
        let (_tmp, root) = five_runs();
        let live = write_run(&root, "live", 7, RunStatus::Running);
        drop(write_run(&root, "dead", 8, RunStatus::Running));
        let ids = |state| {
            let query = Query {
                state: Some(state),
                ..limit(1)
            };
            let listing = list_runs(&root, &query).unwrap();
            let ids: Vec<String> = listing.runs.iter().map(|r| r.run_id().to_owned()).collect();
            (ids, listing.matched)
        };
        assert_eq!(ids(RunState::Running), (vec!["live".to_owned()], 1));
        assert_eq!(ids(RunState::Abandoned), (vec!["dead".to_owned()], 1));
        assert_eq!(ids(RunState::Completed), (vec!["r5".to_owned()], 5));
        drop(live);
        assert_eq!(ids(RunState::Running), (vec![], 0));
        assert_eq!(ids(RunState::Abandoned), (vec!["dead".to_owned()], 2));
    }

    #[test]
    fn an_abandoned_run_lasted_until_its_last_sign_of_life() {
        let tmp = tempfile::tempdir().unwrap();
        let root = ArtifactRoot::new(tmp.path());
        let mut writer = write_run(&root, "dead", 0, RunStatus::Running);
        let mut record = writer.new_record();
        record.created_at = Timestamp::from_unix_ms(1_735_000_000_000);
        record.status = RunStatus::Running;
        let mut step = telemetry_model::StepExecutionEntry::new("train", "Train", 1);
        step.status = telemetry_model::StepStatus::Running;
        step.started_at = Some(Timestamp::from_unix_ms(1_735_000_000_100));
        record.steps.push(step);
        writer.append_record(&record).unwrap();
        let dir = writer.dir().to_owned();
        drop(writer);
        let now = Timestamp::from_unix_ms(1_735_000_900_000);
        let duration = || {
            let entry = resolve_run(&root, "dead").unwrap();
            assert_eq!(entry.state, RunState::Abandoned);
            entry.duration_seconds(now)
        };
        assert_eq!(duration(), Some(0.1), "only the step's start was recorded");
        // Samples kept coming for two minutes after the step started; the
        // last line is torn (the writer died writing it).
        let sample = |ms: i64| format!("{{\"timestamp_ms\": {ms}, \"notes\": []}}\n");
        let telemetry = format!(
            "{}{}{{\"timestamp_ms\": 17350",
            sample(1_735_000_060_000),
            sample(1_735_000_120_000)
        );
        std::fs::write(dir.join(files::TELEMETRY), telemetry).unwrap();
        assert_eq!(duration(), Some(120.0), "until the last whole sample");
    }

    /// A UUIDv7 for `ms` (its random bits from `n`).
    fn uuid_at(ms: i64, n: u64) -> String {
        format!(
            "{:08x}-{:04x}-7{:03x}-{:04x}-{:012x}",
            ms >> 16,
            ms & 0xffff,
            n & 0xfff,
            0x8000 | (n & 0x3fff),
            n.wrapping_mul(0x9e37_79b9_7f4a_7c15) & 0xffff_ffff_ffff
        )
    }

    #[test]
    fn uuid_v7_names_carry_their_time_and_nothing_else_does() {
        assert_eq!(
            uuid_v7_ms("01a20b60-f858-731e-8e92-75424844d604"),
            Some(0x01a2_0b60_f858)
        );
        assert_eq!(
            uuid_v7_ms(&uuid_at(1_735_000_000_123, 7)),
            Some(1_735_000_000_123)
        );
        for name in [
            "01a20b60-f858-431e-8e92-75424844d604", // version 4
            "01a20b60-f858-731e-ce92-75424844d604", // another variant
            "01a20b60f858731e8e9275424844d604",
            "alpha",
            "perf-tests",
            "01a20b60-f858-731e-8e92-75424844d60g",
        ] {
            assert_eq!(uuid_v7_ms(name), None, "{name}");
        }
        // The tracker's own ids are UUIDv7.
        assert!(uuid_v7_ms(&crate::run_id::new_run_id()).is_some());
    }

    /// Adds a completed run named `name` of `pipeline`, created at `ms`.
    fn add_at(root: &ArtifactRoot, name: &str, ms: i64) {
        let options = RunOptions {
            name: Some(name.to_owned()),
            sync: false,
            ..RunOptions::default()
        };
        let (mut writer, mut record) = RunWriter::create_with(root, &options, |record| {
            record.created_at = Timestamp::from_unix_ms(ms);
        })
        .unwrap();
        record.status = RunStatus::Completed;
        writer.append_record(&record).unwrap();
    }

    fn newest_listed(root: &ArtifactRoot) -> String {
        list_runs(root, &limit(1)).unwrap().runs[0]
            .run_id()
            .to_owned()
    }

    #[test]
    fn latest_agrees_with_the_listing_whatever_the_names() {
        let tmp = tempfile::tempdir().unwrap();
        let root = ArtifactRoot::new(tmp.path());
        let base = 1_735_000_000_000;
        let check = |why: &str| {
            assert_eq!(
                resolve_run(&root, "latest").unwrap().run_id(),
                newest_listed(&root),
                "{why}"
            );
        };
        // Runs an hour apart, named by their ids.
        for i in 0..50 {
            add_at(
                &root,
                &uuid_at(base + i * 3_600_000, i as u64),
                base + i * 3_600_000,
            );
        }
        check("ids only");
        // A chosen name, newer than every id.
        add_at(&root, "named", base + 60 * 3_600_000);
        check("a newer chosen name");
        assert_eq!(resolve_run(&root, "latest").unwrap().run_id(), "named");
        // An id newer still, created a few milliseconds after its id.
        let id = uuid_at(base + 61 * 3_600_000, 99);
        add_at(&root, &id, base + 61 * 3_600_000 + 5);
        check("a newer id");
        assert_eq!(resolve_run(&root, "latest").unwrap().run_id(), id);
        // Two ids within the slack whose creation order differs from their
        // ids' order: the recorded creation time decides, as when listing.
        let late_id = uuid_at(base + 62 * 3_600_000, 1);
        let early_id = uuid_at(base + 62 * 3_600_000 + 10, 2);
        add_at(&root, &late_id, base + 62 * 3_600_000 + 500);
        add_at(&root, &early_id, base + 62 * 3_600_000 + 20);
        check("creation order within the slack");
        assert_eq!(resolve_run(&root, "latest").unwrap().run_id(), late_id);
        // A nested run (perf-tests/latest) newest of all.
        let nested = root.runs_dir().join("perf-tests");
        std::fs::create_dir_all(&nested).unwrap();
        let nested_root = ArtifactRoot::new(tmp.path().join("nested-src"));
        add_at(&nested_root, "latest", base + 70 * 3_600_000);
        std::fs::rename(nested_root.runs_dir().join("latest"), nested.join("latest")).unwrap();
        check("a nested run");
        assert_eq!(
            resolve_run(&root, "latest").unwrap().rel_path,
            "perf-tests/latest"
        );
        // A UUIDv7 directory without a manifest (a run killed before its
        // first record) is no run, and changes nothing.
        std::fs::create_dir(root.runs_dir().join(uuid_at(base + 80 * 3_600_000, 5))).unwrap();
        check("an empty id directory");
    }

    #[test]
    fn prefixes_match_ids_by_name_and_chosen_names_by_record() {
        let tmp = tempfile::tempdir().unwrap();
        let root = ArtifactRoot::new(tmp.path());
        let base = 1_735_000_000_000;
        let a = uuid_at(base, 1);
        let b = uuid_at(base + 3_600_000, 2);
        add_at(&root, &a, base);
        add_at(&root, &b, base + 3_600_000);
        add_at(&root, "alpha", base);
        assert_eq!(resolve_run(&root, &a[..12]).unwrap().run_id(), a);
        assert_eq!(resolve_run(&root, &b).unwrap().run_id(), b);
        assert_eq!(resolve_run(&root, "alp").unwrap().run_id(), "alpha");
        let err = resolve_run(&root, "01").unwrap_err();
        assert!(matches!(err, Error::AmbiguousRun { count: 2, .. }), "{err}");
        // A chosen name that shares the ids' prefix makes it ambiguous too.
        add_at(&root, &format!("{}-copy", &a[..8]), base);
        let err = resolve_run(&root, &a[..8]).unwrap_err();
        assert!(matches!(err, Error::AmbiguousRun { count: 2, .. }), "{err}");
        assert!(matches!(
            resolve_run(&root, "zzz"),
            Err(Error::RunNotFound { .. })
        ));
    }

    #[test]
    fn latest_reads_no_manifest_of_ids_older_than_the_newest_run() {
        let tmp = tempfile::tempdir().unwrap();
        let root = ArtifactRoot::new(tmp.path());
        let base = 1_735_000_000_000;
        // An old id whose record claims a later creation than any other:
        // only a reader of every manifest would see it, and `latest` does
        // not read it (ids carry their creation time).
        let old = uuid_at(base, 1);
        add_at(&root, &old, base + 100 * 3_600_000);
        let new = uuid_at(base + 3_600_000, 2);
        add_at(&root, &new, base + 3_600_000);
        assert_eq!(newest_listed(&root), old);
        assert_eq!(resolve_run(&root, "latest").unwrap().run_id(), new);
    }
}
