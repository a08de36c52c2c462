//! `list_runs` reads the sort and filter keys of every run, then the full
//! record of only the runs it lists. These tests check, through the public
//! API, that the two reads agree: same last record, same filters, each
//! damaged line reported once, whatever the limit.

// Helpers outside `#[test]` functions unwrap too: a test fails loudly.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use manifest::{ArtifactRoot, Listing, Query, RunState, list_runs, read_manifest, resolve_run};
use serde_json::{Value, json};
use telemetry_model::{PipelineRunRecord, RunStatus, StepExecutionEntry, StepStatus, Timestamp};

fn minute(n: i64) -> Timestamp {
    Timestamp::from_unix_ms(1_735_000_000_000 + n * 60_000)
}

/// A completed record of run `id`, created at `minute(n)`.
fn record(id: &str, n: i64, pipeline: &str) -> PipelineRunRecord {
    let mut r = PipelineRunRecord::new(id);
    r.created_at = minute(n);
    r.completed_at = Some(minute(n + 1));
    r.status = RunStatus::Completed;
    r.pipeline = Some(pipeline.to_owned());
    let mut step = StepExecutionEntry::new("collect", "Collect", 1);
    step.status = StepStatus::Completed;
    r.steps.push(step);
    r
}

fn line(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap() + "\n"
}

/// Writes a run directory by hand (no lock file: a non-terminal run is
/// abandoned) and returns its manifest's path.
fn write_run(root: &ArtifactRoot, dir: &str, lines: &[String]) -> PathBuf {
    let dir = root.runs_dir().join(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("manifest.jsonl");
    std::fs::write(&path, lines.concat()).unwrap();
    path
}

fn ids(listing: &Listing) -> Vec<&str> {
    listing.runs.iter().map(|r| r.run_id()).collect()
}

fn query(limit: Option<usize>) -> Query {
    Query {
        limit,
        ..Query::default()
    }
}

/// Where every warning points: `(file, line)`.
fn places(listing: &Listing) -> Vec<(PathBuf, u64)> {
    listing
        .warnings
        .iter()
        .map(|w| (w.path.clone(), w.line))
        .collect()
}

#[test]
fn a_record_line_with_a_malformed_step_is_skipped_by_both_passes() {
    // `changed`'s last line has the keys of a newer, completed run of
    // another pipeline, but a step no reader accepts (an unknown status,
    // as a newer writer might write): the run's state is the line before,
    // an older running (so abandoned) run of pipeline `old`.
    let tmp = tempfile::tempdir().unwrap();
    let root = ArtifactRoot::new(tmp.path());
    write_run(&root, "a", &[line(&record("a", 10, "p"))]);
    write_run(&root, "b", &[line(&record("b", 20, "p"))]);
    let mut good = record("changed", 5, "old");
    good.status = RunStatus::Running;
    good.completed_at = None;
    let mut bad = serde_json::to_value(record("changed", 30, "new")).unwrap();
    bad["steps"][0]["status"] = json!("retrying");
    let path = write_run(&root, "changed", &[line(&good), line(&bad)]);

    let full = read_manifest(&path).unwrap();
    assert_eq!(full.record.as_ref(), Some(&good));
    assert_eq!(full.warnings.len(), 1);
    assert_eq!(full.warnings[0].line, 2);

    for limit in [None, Some(0), Some(1), Some(3)] {
        let listing = list_runs(&root, &query(limit)).unwrap();
        let all = ["b", "a", "changed"];
        assert_eq!(ids(&listing), all[..limit.unwrap_or(3)], "{limit:?}");
        assert_eq!(listing.matched, 3);
        assert_eq!(places(&listing), [(path.clone(), 2)], "{limit:?}");
        assert_eq!(listing.warnings[0].message, full.warnings[0].message);
    }
    let listing = list_runs(&root, &query(None)).unwrap();
    assert_eq!(listing.runs[2].record, good);
    assert_eq!(listing.runs[2].state, RunState::Abandoned);

    // Filters see the line the record comes from, listed or not.
    let count = |query: Query| {
        let listing = list_runs(&root, &query).unwrap();
        (ids(&listing).len(), listing.matched)
    };
    let scenario = |name: &str, limit| Query {
        scenario: Some(name.to_owned()),
        ..query(limit)
    };
    assert_eq!(count(scenario("old", None)), (1, 1));
    assert_eq!(count(scenario("old", Some(0))), (0, 1));
    assert_eq!(count(scenario("new", None)), (0, 0));
    assert_eq!(count(scenario("new", Some(0))), (0, 0));
    let state = |state, limit| Query {
        state: Some(state),
        ..query(limit)
    };
    assert_eq!(count(state(RunState::Completed, Some(0))), (0, 2));
    assert_eq!(count(state(RunState::Completed, Some(1))), (1, 2));
    assert_eq!(count(state(RunState::Abandoned, Some(0))), (0, 1));
    let since = |n, limit| Query {
        since: Some(minute(n)),
        ..query(limit)
    };
    assert_eq!(count(since(25, Some(0))), (0, 0));
    assert_eq!(count(since(1, Some(0))), (0, 3));

    // Resolving by prefix matches the same record.
    assert_eq!(resolve_run(&root, "chan").unwrap().record, good);
}

#[test]
fn each_damaged_line_is_reported_once_in_scan_order_whatever_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let root = ArtifactRoot::new(tmp.path());
    let mut damaged = Vec::new();
    for i in 0..8 {
        let id = format!("run-{i}");
        let mut lines = vec![line(&record(&id, i, "p"))];
        if i % 3 == 0 {
            lines.push("garbage\n".to_owned());
        }
        if i % 2 == 0 {
            lines.push(r#"{"schema_version":1,"run_id":"torn"#.to_owned());
        }
        let path = write_run(&root, &id, &lines);
        if i % 3 == 0 {
            damaged.push((path.clone(), 2));
        }
        if i % 2 == 0 {
            damaged.push((path, lines.len() as u64));
        }
    }
    // A directory with a manifest but no record, and a nested run.
    let empty = write_run(&root, "empty", &[]);
    let nested = write_run(
        &root,
        "group/nested",
        &[line(&record("nested", 99, "p")), "x\n".into()],
    );

    let everything = list_runs(&root, &query(None)).unwrap();
    assert_eq!(everything.runs.len(), 9);
    let mut expected = damaged.clone();
    expected.push((empty, 0));
    expected.push((nested, 2));
    let mut found = places(&everything);
    found.sort();
    expected.sort();
    assert_eq!(found, expected);
    for limit in [0, 1, 5, 9, 20] {
        let listing = list_runs(&root, &query(Some(limit))).unwrap();
        assert_eq!(listing.runs.len(), limit.min(9));
        assert_eq!(listing.matched, 9);
        assert_eq!(listing.warnings, everything.warnings, "limit {limit}");
    }
    // Runs the query rules out are still reported.
    let none = Query {
        scenario: Some("nothing".into()),
        ..query(Some(5))
    };
    assert_eq!(
        list_runs(&root, &none).unwrap().warnings,
        everything.warnings
    );
}

#[test]
fn naive_timestamps_are_reported_for_listed_runs_only() {
    let tmp = tempfile::tempdir().unwrap();
    let root = ArtifactRoot::new(tmp.path());
    let mut naive = serde_json::to_value(record("naive", 1, "p")).unwrap();
    naive["created_at"] = Value::from("2024-12-24T00:00:00");
    let path = write_run(
        &root,
        "naive",
        &[serde_json::to_string(&naive).unwrap() + "\n"],
    );
    write_run(&root, "newer", &[line(&record("newer", 10_000_000, "p"))]);

    let listing = list_runs(&root, &query(Some(1))).unwrap();
    assert_eq!(ids(&listing), ["newer"]);
    assert!(listing.warnings.is_empty(), "{:?}", listing.warnings);
    let listing = list_runs(&root, &query(None)).unwrap();
    assert_eq!(ids(&listing), ["newer", "naive"]);
    assert_eq!(places(&listing), [(path.clone(), 0)]);
    assert!(listing.warnings[0].message.contains("without a UTC offset"));
    assert!(Path::new(&listing.warnings[0].path).ends_with("naive/manifest.jsonl"));
}
