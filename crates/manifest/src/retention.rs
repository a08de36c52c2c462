//! Retention: deleting old runs, only when asked, one pipeline at a time.
//!
//! Nothing here runs by itself. [`Retention`] is what a writer's owner
//! (the `progress` library, `tracker run`) applies to its own pipeline
//! when a run starts and ends, and it keeps every run unless told a
//! number; [`prune`] is the explicit deletion behind `tracker prune`. Both
//! share the rules of `docs/artifact-layout.md` ("Retention"): runs are
//! counted per pipeline, newest first by creation time; a run whose lock
//! is held (a live writer) is never deleted; only one process prunes at a
//! time; every deletion is reported so that the caller can announce it.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::TryLockError;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use telemetry_model::Timestamp;

use crate::error::{Error, Result};
use crate::history::{Candidate, Query, newest_first, scan};
use crate::lock::RunLock;
use crate::root::ArtifactRoot;

/// How many runs of a pipeline a writer's owner keeps when one of its runs
/// starts and ends. The default keeps every run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Retention {
    /// Keep every run (the default).
    #[default]
    KeepAll,
    /// Keep the newest this many runs (at least one) of the run's own
    /// pipeline; other pipelines' runs are never touched.
    KeepNewest(std::num::NonZeroUsize),
}

impl Retention {
    /// `KeepNewest(n)`, or `KeepAll` for 0.
    pub fn keep_newest(n: usize) -> Self {
        std::num::NonZeroUsize::new(n).map_or(Self::KeepAll, Self::KeepNewest)
    }

    /// The prune rule this retention applies to `pipeline`'s runs, if any.
    pub fn rule_for(self, pipeline: Option<&str>) -> Option<PruneRule> {
        match self {
            Self::KeepAll => None,
            Self::KeepNewest(n) => Some(PruneRule {
                keep: Some(n.get()),
                pipeline: Some(PipelineSel::of(pipeline)),
                older_than: None,
                dry_run: false,
            }),
        }
    }
}

impl fmt::Display for Retention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::KeepAll => f.write_str("keep every run"),
            Self::KeepNewest(n) => write!(f, "keep the {} of each pipeline", newest(n.get())),
        }
    }
}

/// Which pipeline's runs a [`PruneRule`] applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PipelineSel {
    /// Runs whose record names this pipeline.
    Named(String),
    /// Runs whose record names no pipeline (written by other tools).
    Unnamed,
}

impl PipelineSel {
    /// The selection matching a record's `pipeline` field.
    pub fn of(pipeline: Option<&str>) -> Self {
        pipeline.map_or(Self::Unnamed, |p| Self::Named(p.to_owned()))
    }

    fn matches(&self, pipeline: Option<&str>) -> bool {
        match self {
            Self::Named(name) => pipeline == Some(name.as_str()),
            Self::Unnamed => pipeline.is_none(),
        }
    }
}

/// What [`prune`] deletes. Runs are grouped by pipeline; in each group
/// (only the selected one, with `pipeline`), a run is deleted when it is
/// past the newest `keep` **and** created before `older_than`, for the
/// rules given. At least one of `keep` and `older_than` must be set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PruneRule {
    /// Keep the newest this many runs of each pipeline (live runs count).
    pub keep: Option<usize>,
    /// Only this pipeline's runs; `None` prunes every pipeline, each
    /// counted on its own.
    pub pipeline: Option<PipelineSel>,
    /// Only runs created before this instant.
    pub older_than: Option<Timestamp>,
    /// Report what would be deleted and delete nothing.
    pub dry_run: bool,
}

impl fmt::Display for PruneRule {
    /// The rule in words, for the line announcing a deletion.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        let whose = match &self.pipeline {
            None => "each pipeline".to_owned(),
            Some(PipelineSel::Named(name)) => format!("pipeline \"{name}\""),
            Some(PipelineSel::Unnamed) => "runs without a pipeline name".to_owned(),
        };
        match self.keep {
            Some(0) => parts.push(format!("delete every run of {whose}")),
            Some(keep) => parts.push(format!("keep the {} of {whose}", newest(keep))),
            None => {}
        }
        if let Some(cutoff) = self.older_than {
            parts.push(format!("delete runs created before {cutoff}"));
        }
        f.write_str(&parts.join(", "))
    }
}

/// `newest 5 runs`, `newest run`.
fn newest(n: usize) -> String {
    if n == 1 {
        "newest run".to_owned()
    } else {
        format!("newest {n} runs")
    }
}

/// A run that [`prune`] deleted, would delete, or left alone.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PrunedRun {
    /// Its run id.
    pub run_id: String,
    /// Its directory relative to `run-tracker/`.
    pub rel_path: String,
    /// Its pipeline, if the record names one.
    pub pipeline: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// Its directory.
    pub dir: PathBuf,
}

impl PrunedRun {
    fn of(run: Candidate) -> Self {
        Self {
            run_id: run.run_id,
            rel_path: run.rel_path,
            pipeline: run.pipeline,
            created_at: run.created_at,
            dir: run.dir,
        }
    }
}

/// What a prune did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Runs deleted (with [`PruneRule::dry_run`], the runs that would be),
    /// newest first.
    pub removed: Vec<PrunedRun>,
    /// Runs the rule selects but a live writer holds: left alone.
    pub kept_live: Vec<PrunedRun>,
    /// Whether another process was pruning, so this call did nothing.
    pub skipped_busy: bool,
    /// Whether nothing was deleted because the rule asked for a dry run.
    pub dry_run: bool,
}

impl PruneReport {
    /// One line saying what was deleted, per pipeline, and by which rule
    /// (`deleted 3 runs of pipeline "demo" (retention: keep the newest 5
    /// runs of each pipeline)`); `None` if nothing was.
    pub fn announcement(&self, rule: &str) -> Option<String> {
        if self.removed.is_empty() {
            return None;
        }
        let mut per_pipeline = BTreeMap::<Option<&str>, usize>::new();
        for run in &self.removed {
            *per_pipeline.entry(run.pipeline.as_deref()).or_default() += 1;
        }
        let counts: Vec<String> = per_pipeline
            .iter()
            .map(|(pipeline, n)| {
                let runs = if *n == 1 { "run" } else { "runs" };
                match pipeline {
                    Some(name) => format!("{n} {runs} of pipeline \"{name}\""),
                    None => format!("{n} {runs} without a pipeline name"),
                }
            })
            .collect();
        let verb = if self.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        Some(format!("{verb} {} ({rule})", counts.join(", ")))
    }
}

/// Deletes the runs that `rule` selects (see [`PruneRule`]).
///
/// Never deletes a run whose lock is held (it is live, and reported in
/// [`PruneReport::kept_live`]) nor `exclude` (the caller's own run). Only
/// one process prunes at a time (`run-tracker/.prune.lock`); a concurrent
/// call returns at once with [`PruneReport::skipped_busy`], and each victim
/// is deleted while holding its own lock, so a writer cannot resume it
/// halfway through. Only creation times, ids and pipeline names are read.
///
/// Fails with [`Error::EmptyPruneRule`] if the rule sets neither `keep` nor
/// `older_than`: deleting every run of a pipeline takes `keep: Some(0)`.
pub fn prune(root: &ArtifactRoot, rule: &PruneRule, exclude: Option<&Path>) -> Result<PruneReport> {
    prune_inner(root, rule, exclude, Duration::ZERO)
}

/// Applies `retention` to `pipeline`'s runs after the caller created (or
/// ended) a run of it: [`prune`] with [`Retention::rule_for`], waiting up
/// to `wait` for a concurrent pruner (a run that ends waits, so that the
/// last run to end sees every other run ended or live). [`Retention::KeepAll`]
/// reads nothing and deletes nothing.
pub fn apply_retention(
    root: &ArtifactRoot,
    retention: Retention,
    pipeline: Option<&str>,
    exclude: Option<&Path>,
    wait: Duration,
) -> Result<PruneReport> {
    match retention.rule_for(pipeline) {
        None => Ok(PruneReport::default()),
        Some(rule) => prune_inner(root, &rule, exclude, wait),
    }
}

/// How long a run that ends waits for a concurrent pruner: a pruner takes
/// milliseconds, so a lock held longer belongs to a stopped or stuck
/// process, and the end of a run is not held up by it (the next run
/// prunes).
pub const END_OF_RUN_PRUNE_WAIT: Duration = Duration::from_secs(2);

fn prune_inner(
    root: &ArtifactRoot,
    rule: &PruneRule,
    exclude: Option<&Path>,
    wait: Duration,
) -> Result<PruneReport> {
    if rule.keep.is_none() && rule.older_than.is_none() {
        return Err(Error::EmptyPruneRule);
    }
    let mut report = PruneReport {
        dry_run: rule.dry_run,
        ..PruneReport::default()
    };
    let runs_dir = root.runs_dir();
    if !runs_dir.is_dir() {
        return Ok(report);
    }
    // Whether `latest` can be found without listing, before anything here
    // (the prune lock's creation included) changes `run-tracker/`.
    let index_current = !rule.dry_run && crate::index::latest(&runs_dir).is_some();
    // A dry run deletes nothing, so it needs no turn.
    let _turn = if rule.dry_run {
        None
    } else {
        match take_turn(&runs_dir, wait)? {
            Some(turn) => Some(turn),
            None => {
                report.skipped_busy = true;
                return Ok(report);
            }
        }
    };
    // Creation times, ids and pipelines are all it takes: no full record
    // is read.
    let mut runs = scan(&runs_dir, &Query::default())?.runs;
    runs.retain(|run| {
        rule.pipeline
            .as_ref()
            .is_none_or(|sel| sel.matches(run.pipeline.as_deref()))
    });
    runs.sort_unstable_by(newest_first);
    let mut seen_per_pipeline = BTreeMap::<Option<String>, usize>::new();
    for run in runs {
        let seen = seen_per_pipeline.entry(run.pipeline.clone()).or_default();
        *seen += 1;
        if rule.keep.is_some_and(|keep| *seen <= keep)
            || rule
                .older_than
                .is_some_and(|cutoff| run.created_at >= cutoff)
            || exclude.is_some_and(|own| own == run.dir)
        {
            continue;
        }
        let held = match RunLock::acquire(&run.dir, &run.run_id) {
            Ok(held) => held,
            Err(Error::RunLocked { .. }) => {
                report.kept_live.push(PrunedRun::of(run));
                continue;
            }
            Err(Error::Io { source, .. }) if source.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if rule.dry_run {
            report.removed.push(PrunedRun::of(run));
            continue;
        }
        match std::fs::remove_dir_all(&run.dir) {
            Ok(()) => report.removed.push(PrunedRun::of(run)),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", &run.dir, e)),
        }
        drop(held);
    }
    if index_current {
        crate::index::after_deletion(&runs_dir);
    }
    Ok(report)
}

/// Takes `run-tracker/.prune.lock`, waiting up to `wait` for another
/// pruner; `None` if it stayed busy.
fn take_turn(runs_dir: &Path, wait: Duration) -> Result<Option<std::fs::File>> {
    let lock_path = runs_dir.join(".prune.lock");
    let guard = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|e| Error::io("open", &lock_path, e))?;
    let deadline = Instant::now() + wait;
    loop {
        match guard.try_lock() {
            Ok(()) => return Ok(Some(guard)),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(Error::io("lock", &lock_path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::{RunOptions, RunWriter};
    use telemetry_model::RunStatus;

    /// Writes run `name` of `pipeline`, created `minute` minutes after an
    /// epoch, completed; the writer is returned (drop it to end the run).
    fn write_run(
        root: &ArtifactRoot,
        name: &str,
        pipeline: Option<&str>,
        minute: i64,
    ) -> RunWriter {
        let options = RunOptions {
            name: Some(name.to_owned()),
            sync: false,
            ..RunOptions::default()
        };
        let (mut writer, mut record) = RunWriter::create_with(root, &options, |record| {
            record.pipeline = pipeline.map(str::to_owned);
        })
        .unwrap();
        record.created_at = at(minute);
        record.status = RunStatus::Completed;
        writer.append_record(&record).unwrap();
        writer
    }

    fn at(minute: i64) -> Timestamp {
        Timestamp::from_unix_ms(1_735_000_000_000 + minute * 60_000)
    }

    fn ids(runs: &[PrunedRun]) -> Vec<&str> {
        runs.iter().map(|r| r.run_id.as_str()).collect()
    }

    fn remaining(root: &ArtifactRoot) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(root.runs_dir())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn keep_all_is_the_default_and_touches_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let root = ArtifactRoot::new(tmp.path());
        for i in 1..=3 {
            drop(write_run(&root, &format!("a{i}"), Some("a"), i));
        }
        assert_eq!(Retention::default(), Retention::KeepAll);
        let report =
            apply_retention(&root, Retention::default(), Some("a"), None, Duration::ZERO).unwrap();
        assert_eq!(report, PruneReport::default());
        assert_eq!(remaining(&root), ["a1", "a2", "a3"]);
    }

    #[test]
    fn counts_each_pipeline_apart_and_spares_live_runs() {
        let tmp = tempfile::tempdir().unwrap();
        let root = ArtifactRoot::new(tmp.path());
        // Pipeline a: a1..a4, a2 still live. Pipeline b: b1..b3. One run
        // without a pipeline name.
        let mut live = None;
        for i in 1..=4 {
            let writer = write_run(&root, &format!("a{i}"), Some("a"), i);
            if i == 2 {
                live = Some(writer);
            }
        }
        for i in 1..=3 {
            drop(write_run(&root, &format!("b{i}"), Some("b"), 10 + i));
        }
        drop(write_run(&root, "n1", None, 0));

        let report = apply_retention(
            &root,
            Retention::keep_newest(1),
            Some("a"),
            None,
            Duration::ZERO,
        )
        .unwrap();
        assert_eq!(ids(&report.removed), ["a3", "a1"], "newest first");
        assert_eq!(ids(&report.kept_live), ["a2"]);
        assert_eq!(remaining(&root), ["a2", "a4", "b1", "b2", "b3", "n1"]);
        assert_eq!(
            report
                .announcement("retention: keep the newest 1 runs")
                .as_deref(),
            Some("deleted 2 runs of pipeline \"a\" (retention: keep the newest 1 runs)")
        );

        // Every pipeline, each counted apart; the unnamed run is a group
        // of its own.
        let rule = PruneRule {
            keep: Some(1),
            ..PruneRule::default()
        };
        let report = prune(&root, &rule, None).unwrap();
        assert_eq!(ids(&report.removed), ["b2", "b1"]);
        assert_eq!(ids(&report.kept_live), ["a2"]);
        drop(live);
        let report = prune(&root, &rule, None).unwrap();
        assert_eq!(ids(&report.removed), ["a2"]);
        assert_eq!(remaining(&root), ["a4", "b3", "n1"]);
    }

    #[test]
    fn dry_run_reports_without_deleting_and_age_limits_apply() {
        let tmp = tempfile::tempdir().unwrap();
        let root = ArtifactRoot::new(tmp.path());
        for i in 1..=4 {
            drop(write_run(&root, &format!("a{i}"), Some("a"), i));
        }
        let rule = PruneRule {
            keep: Some(1),
            pipeline: Some(PipelineSel::Named("a".into())),
            older_than: Some(at(3)),
            dry_run: true,
        };
        let report = prune(&root, &rule, None).unwrap();
        assert!(report.dry_run);
        // a3 is past the newest one but not older than minute 3.
        assert_eq!(ids(&report.removed), ["a2", "a1"]);
        assert_eq!(remaining(&root), ["a1", "a2", "a3", "a4"]);
        assert_eq!(
            report.announcement(&rule.to_string()).as_deref(),
            Some(
                "would delete 2 runs of pipeline \"a\" (keep the newest run of pipeline \"a\", \
                 delete runs created before 2024-12-24T00:29:40.000000+00:00)"
            )
        );

        // An age alone; another pipeline's name selects nothing.
        let by_age = PruneRule {
            older_than: Some(at(2)),
            ..PruneRule::default()
        };
        let other = PruneRule {
            pipeline: Some(PipelineSel::Named("b".into())),
            ..by_age.clone()
        };
        assert!(prune(&root, &other, None).unwrap().removed.is_empty());
        assert_eq!(ids(&prune(&root, &by_age, None).unwrap().removed), ["a1"]);
        assert_eq!(remaining(&root), ["a2", "a3", "a4"]);
    }

    #[test]
    fn an_empty_rule_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let root = ArtifactRoot::new(tmp.path());
        drop(write_run(&root, "a1", Some("a"), 1));
        let err = prune(&root, &PruneRule::default(), None).unwrap_err();
        assert!(matches!(err, Error::EmptyPruneRule), "{err}");
        assert_eq!(remaining(&root), ["a1"]);
    }
}
