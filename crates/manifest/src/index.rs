//! `run-tracker/.index/latest`: which run was created last, so that
//! `latest` is found without listing `run-tracker/` (a directory of 10,000
//! runs takes milliseconds just to list; docs/artifact-layout.md, "Finding
//! a run").
//!
//! The file names the newest run and the modification time `run-tracker/`
//! had when it was written. Adding or removing a run changes that time, so
//! a reader trusts the file only while the directory's time is the one
//! recorded, and otherwise finds `latest` by listing. Writers (run creation,
//! pruning) update it under `.index/latest.lock`; it lives in a directory of
//! its own so that writing it does not change `run-tracker/`'s time. Every
//! update is best effort: a missing or stale file only makes `latest` take
//! the slow path.
//!
//! `run-tracker/.index/names` is the same for prefixes: the names of
//! `run-tracker/`'s directories and the time the directory had when they
//! were listed, written by the reader that listed them
//! ([`top_level_names`]).

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use telemetry_model::Timestamp;

use crate::jsonl::write_atomic;

/// The index directory inside `run-tracker/` (ignored by listings: its name
/// starts with a dot).
pub(crate) const INDEX_DIR: &str = ".index";
const LATEST: &str = "latest";
const LATEST_LOCK: &str = "latest.lock";

/// The content of `.index/latest`.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Latest {
    /// The run's directory below `run-tracker/`.
    rel_path: String,
    /// Its creation time, as its first record says.
    created_at: Timestamp,
    /// `run-tracker/`'s modification time when this was written, in
    /// nanoseconds since the epoch.
    runs_dir_mtime_ns: u64,
}

fn mtime_ns(path: &Path) -> Option<u64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
    u64::try_from(since.as_nanos()).ok()
}

fn read(runs_dir: &Path) -> Option<Latest> {
    let path = runs_dir.join(INDEX_DIR).join(LATEST);
    let bytes = crate::reader::read_regular(&path, 4096).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The run directory (below `run-tracker/`) that `.index/latest` names, if
/// the file is there and `run-tracker/` has not changed since it was
/// written.
pub(crate) fn latest(runs_dir: &Path) -> Option<String> {
    let latest = read(runs_dir)?;
    (mtime_ns(runs_dir)? == latest.runs_dir_mtime_ns).then_some(latest.rel_path)
}

/// `.index/names`: `run-tracker/`'s directories, one name a line after a
/// first line with the directory's modification time (nanoseconds) when
/// they were listed.
const NAMES: &str = "names";

/// How long `run-tracker/` must have stood still before its listing is
/// recorded: a change made later than this after the recorded time gets a
/// time of its own, even on a file system that keeps whole seconds (as git
/// does for its racy index entries).
const NAMES_STILL_NS: u64 = 3_000_000_000;

/// The names of `run-tracker/`'s directories that `keep` accepts, as
/// `list` gives them: from `.index/names` while `run-tracker/` keeps the
/// time recorded there (adding, removing or renaming a run changes it),
/// otherwise by `list`, whose result is then recorded (best effort) if the
/// directory did not change while it was listed and has stood still for a
/// few seconds. Listing 10,000 entries takes milliseconds; reading the
/// names back, a fraction of one.
pub(crate) fn top_level_names(
    runs_dir: &Path,
    keep: impl Fn(&str) -> bool,
    list: impl FnOnce() -> crate::Result<Vec<String>>,
) -> crate::Result<Vec<String>> {
    let before = mtime_ns(runs_dir);
    let path = runs_dir.join(INDEX_DIR).join(NAMES);
    if let Some(before) = before
        && let Ok(bytes) = crate::reader::read_regular(&path, 64 << 20)
        && let Ok(text) = std::str::from_utf8(&bytes)
    {
        let mut lines = text.lines();
        if lines.next().and_then(|l| l.parse::<u64>().ok()) == Some(before) {
            return Ok(lines.filter(|n| keep(n)).map(str::to_owned).collect());
        }
    }
    let names = list()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| u64::try_from(d.as_nanos()).ok());
    if let (Some(before), Some(now)) = (before, now)
        && now.saturating_sub(before) > NAMES_STILL_NS
        && mtime_ns(runs_dir) == Some(before)
        && runs_dir.join(INDEX_DIR).is_dir()
        // A name a line: one with a line break (another tool's) is listed.
        && !names.iter().any(|n| n.contains('\n'))
    {
        let mut text = format!("{before}\n");
        for name in &names {
            text.push_str(name);
            text.push('\n');
        }
        let _ = write_atomic(&path, text.as_bytes(), false);
    }
    Ok(names.into_iter().filter(|n| keep(n)).collect())
}

/// Holds `.index/latest.lock` while an update runs.
fn locked(runs_dir: &Path) -> Option<(PathBuf, File)> {
    let dir = runs_dir.join(INDEX_DIR);
    std::fs::create_dir_all(&dir).ok()?;
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(LATEST_LOCK))
        .ok()?;
    lock.lock().ok()?;
    Some((dir, lock))
}

fn write(dir: &Path, latest: &Latest) {
    if let Ok(bytes) = serde_json::to_vec(latest) {
        let _ = write_atomic(&dir.join(LATEST), &bytes, false);
    }
}

/// Records a run just created (its manifest in place): it becomes
/// `latest` unless the file already names a newer run.
pub(crate) fn record_created(runs_dir: &Path, rel_path: &str, created_at: Timestamp) {
    let Some((dir, _lock)) = locked(runs_dir) else {
        return;
    };
    // After taking the lock (and creating `.index/`), so that the time is
    // the one every run created so far has left.
    let Some(now) = mtime_ns(runs_dir) else {
        return;
    };
    if read(runs_dir)
        .is_some_and(|old| old.created_at > created_at && runs_dir.join(&old.rel_path).is_dir())
    {
        // A newer run is latest; its time no longer matches, so readers
        // list until the next update.
        return;
    }
    let latest = Latest {
        rel_path: rel_path.to_owned(),
        created_at,
        runs_dir_mtime_ns: now,
    };
    write(&dir, &latest);
}

/// After runs were deleted, where `.index/latest` was current before: the
/// run it names is still the newest if it is still there (retention never
/// deletes the newest run of a pipeline), so the file is stamped with
/// `run-tracker/`'s new time; if it was deleted, the file is removed.
pub(crate) fn after_deletion(runs_dir: &Path) {
    let Some((dir, _lock)) = locked(runs_dir) else {
        return;
    };
    let Some(old) = read(runs_dir) else {
        return;
    };
    if !runs_dir
        .join(&old.rel_path)
        .join(crate::files::MANIFEST)
        .is_file()
    {
        let _ = std::fs::remove_file(dir.join(LATEST));
        return;
    }
    if let Some(now) = mtime_ns(runs_dir) {
        write(
            &dir,
            &Latest {
                runs_dir_mtime_ns: now,
                ..old
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::resolve_run;
    use crate::retention::{PruneRule, prune};
    use crate::root::ArtifactRoot;
    use crate::writer::{RunOptions, RunWriter};

    fn add(root: &ArtifactRoot, name: &str, ms: i64) {
        let options = RunOptions {
            name: Some(name.to_owned()),
            sync: false,
            ..RunOptions::default()
        };
        RunWriter::create_with(root, &options, |record| {
            record.created_at = Timestamp::from_unix_ms(ms);
            record.pipeline = Some("p".into());
        })
        .unwrap();
    }

    #[test]
    fn the_index_names_the_newest_run_until_the_directory_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let root = ArtifactRoot::new(tmp.path());
        let runs = root.runs_dir();
        add(&root, "a", 1_000);
        add(&root, "b", 3_000);
        assert_eq!(latest(&runs).as_deref(), Some("b"));
        // An older run created later leaves the newer one named (and the
        // index stale, so readers list).
        add(&root, "old", 2_000);
        assert_eq!(latest(&runs), None);
        assert_eq!(resolve_run(&root, "latest").unwrap().run_id(), "b");
        add(&root, "c", 4_000);
        assert_eq!(latest(&runs).as_deref(), Some("c"));

        // A run another tool writes, newer still: the directory changed, so
        // the index is not trusted and `latest` finds it by listing.
        let foreign = runs.join("foreign");
        std::fs::create_dir(&foreign).unwrap();
        let mut record = telemetry_model::PipelineRunRecord::new("foreign");
        record.created_at = Timestamp::from_unix_ms(5_000);
        std::fs::write(
            foreign.join(crate::files::MANIFEST),
            serde_json::to_string(&record).unwrap() + "\n",
        )
        .unwrap();
        assert_eq!(latest(&runs), None);
        assert_eq!(resolve_run(&root, "latest").unwrap().run_id(), "foreign");
    }

    /// Sets `dir`'s modification time `secs` into the past.
    fn age(dir: &Path, secs: u64) {
        let past = std::time::SystemTime::now() - std::time::Duration::from_secs(secs);
        File::open(dir).unwrap().set_modified(past).unwrap();
    }

    #[test]
    fn prefixes_are_matched_against_the_recorded_names_while_the_directory_stands_still() {
        let tmp = tempfile::tempdir().unwrap();
        let root = ArtifactRoot::new(tmp.path());
        let runs = root.runs_dir();
        let options = RunOptions {
            sync: false,
            ..RunOptions::default()
        };
        let ids: Vec<String> = (0..2)
            .map(|_| {
                RunWriter::create(&root, &options)
                    .unwrap()
                    .run_id()
                    .to_owned()
            })
            .collect();
        let prefix = |id: &str| id[..34].to_owned();
        let names = runs.join(INDEX_DIR).join(NAMES);
        // Just changed: listed, and not recorded (a change within the same
        // tick of the clock would not show).
        assert_eq!(
            resolve_run(&root, &prefix(&ids[0])).unwrap().run_id(),
            ids[0]
        );
        assert!(!names.exists());
        // Still for a while: listed once more, and recorded.
        age(&runs, 10);
        assert_eq!(
            resolve_run(&root, &prefix(&ids[0])).unwrap().run_id(),
            ids[0]
        );
        let text = std::fs::read_to_string(&names).unwrap();
        let mut recorded: Vec<&str> = text.lines().skip(1).collect();
        recorded.sort_unstable();
        let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
        expected.sort_unstable();
        assert_eq!(recorded, expected);
        // The record is what is read while the directory keeps its time: a
        // name left out of it is not found by prefix…
        let without: String = text
            .lines()
            .filter(|l| *l != ids[1])
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&names, without).unwrap();
        assert!(matches!(
            resolve_run(&root, &prefix(&ids[1])),
            Err(crate::Error::RunNotFound { .. })
        ));
        // …until a run is added (or removed): the directory is listed again.
        let third = RunWriter::create(&root, &options)
            .unwrap()
            .run_id()
            .to_owned();
        assert_eq!(
            resolve_run(&root, &prefix(&ids[1])).unwrap().run_id(),
            ids[1]
        );
        assert_eq!(resolve_run(&root, &prefix(&third)).unwrap().run_id(), third);
        // A directory whose name has a line break is never recorded (a
        // name a line): such a root is listed at every lookup.
        std::fs::create_dir(runs.join("odd\nname")).unwrap();
        age(&runs, 10);
        assert_eq!(resolve_run(&root, &prefix(&third)).unwrap().run_id(), third);
        let header = std::fs::read_to_string(&names).unwrap();
        let header = header.lines().next().unwrap().to_owned();
        assert_ne!(Some(header.parse::<u64>().unwrap()), mtime_ns(&runs));
    }

    #[test]
    fn pruning_keeps_the_index_current() {
        let tmp = tempfile::tempdir().unwrap();
        let root = ArtifactRoot::new(tmp.path());
        let runs = root.runs_dir();
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            add(&root, name, 1_000 * (i as i64 + 1));
        }
        let keep_one = PruneRule {
            keep: Some(1),
            ..PruneRule::default()
        };
        assert_eq!(prune(&root, &keep_one, None).unwrap().removed.len(), 2);
        assert_eq!(latest(&runs).as_deref(), Some("c"));
        // Deleting the run it names removes the index.
        let all = PruneRule {
            keep: Some(0),
            ..PruneRule::default()
        };
        prune(&root, &all, None).unwrap();
        assert_eq!(latest(&runs), None);
        assert!(!runs.join(INDEX_DIR).join(LATEST).exists());
        assert!(matches!(
            resolve_run(&root, "latest"),
            Err(crate::Error::RunNotFound { .. })
        ));
    }
}
