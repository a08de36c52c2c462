//! `tracker prune` and the retention of `tracker run`: nothing is deleted
//! unless asked, runs are counted per pipeline, live runs are never
//! deleted, and every deletion is announced.

use std::path::Path;

use serde_json::Value;

use crate::fixture::{add_completed_run, build};
use crate::{stderr, stdout, tracker};

fn run_ids(root: &Path) -> Vec<String> {
    let out = tracker(root, &["list", "--limit", "0", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let runs: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
    runs.iter()
        .map(|r| r["run_id"].as_str().unwrap().to_owned())
        .collect()
}

fn ids(doc: &Value, key: &str) -> Vec<String> {
    doc[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_dry_run_says_what_would_go_and_deletes_nothing() {
    let fx = build();
    let before = run_ids(fx.root());
    let out = tracker(fx.root(), &["prune", "--keep", "1", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let table = stdout(&out);
    // Counted per pipeline: beta is the newest (and only) nightly run.
    for id in ["gamma", "alpha"] {
        assert!(
            table
                .lines()
                .any(|l| l.starts_with("would delete") && l.contains(id)),
            "{table}"
        );
    }
    assert!(!table.contains("delta"), "the newest run is kept: {table}");
    assert!(
        !table.contains("beta"),
        "another pipeline's newest: {table}"
    );
    assert_eq!(
        stderr(&out).trim(),
        "would delete 2 runs of pipeline \"imitation-demo\" \
         (keep the newest run of each pipeline)"
    );
    assert_eq!(run_ids(fx.root()), before, "a dry run deleted something");
}

#[test]
fn prune_deletes_but_never_a_live_run_and_reports_as_json() {
    let fx = build();
    add_completed_run(fx.root(), Some("other"));
    let out = tracker(
        fx.root(),
        &[
            "prune",
            "--keep",
            "0",
            "--pipeline",
            "imitation-demo",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["dry_run"], false);
    assert_eq!(ids(&doc, "deleted"), ["gamma", "alpha"]);
    assert_eq!(ids(&doc, "kept_live"), ["delta"]);
    assert_eq!(doc["deleted"][0]["pipeline"], "imitation-demo");
    assert!(
        stderr(&out).contains("deleted 2 runs of pipeline \"imitation-demo\""),
        "{}",
        stderr(&out)
    );
    // The live run and the other pipelines' runs are still there.
    let mut left = run_ids(fx.root());
    left.sort();
    assert_eq!(left, ["beta", "delta", "other"]);
}

#[test]
fn prune_by_age_only_touches_older_runs() {
    let fx = build();
    add_completed_run(fx.root(), Some("recent"));
    // The fixture's runs are from January 2025; `recent` is from now.
    let out = tracker(fx.root(), &["prune", "--older-than", "2025-01-02"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut left = run_ids(fx.root());
    left.sort();
    assert_eq!(left, ["beta", "delta", "gamma", "recent"]);
    let out = tracker(fx.root(), &["prune", "--older-than", "30d"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut left = run_ids(fx.root());
    left.sort();
    assert_eq!(left, ["delta", "recent"], "delta is live");
    assert!(
        stderr(&out).contains("a live run is never deleted"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn prune_without_a_rule_or_with_a_bad_one_is_refused() {
    let fx = build();
    let before = run_ids(fx.root());
    let out = tracker(fx.root(), &["prune"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("--keep") && err.contains("--older-than"),
        "{err}"
    );
    for bad in [
        &["prune", "--keep", "-1"][..],
        &["prune", "--keep", "many"],
        &["prune", "--older-than", "soon"],
    ] {
        let out = tracker(fx.root(), bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(stderr(&out).contains("invalid value"), "{}", stderr(&out));
    }
    assert_eq!(run_ids(fx.root()), before);
}

fn write_pipeline(dir: &Path, name: &str) -> String {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!("[pipeline]\nname = \"{name}\"\n[[steps]]\nid = \"s\"\nrun = \"true\"\n"),
    )
    .unwrap();
    path.display().to_string()
}

#[test]
fn run_keeps_every_run_unless_asked_and_then_only_prunes_its_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let a = write_pipeline(dir.path(), "a");
    let b = write_pipeline(dir.path(), "b");
    for pipeline in [&a, &b, &a, &b, &a] {
        let out = tracker(&root, &["run", "--plain", "--no-telemetry", pipeline]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(!stderr(&out).contains("Retention"), "{}", stderr(&out));
    }
    assert_eq!(run_ids(&root).len(), 5, "the default keeps every run");

    let out = tracker(
        &root,
        &["run", "--plain", "--no-telemetry", "--keep", "2", &a],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    let announced: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("Retention: "))
        .collect();
    assert_eq!(
        announced,
        ["Retention: deleted 2 runs of pipeline \"a\" (keep the newest 2 runs of each pipeline)"]
    );
    assert_eq!(run_ids(&root).len(), 4, "2 of a, both of b");

    // --keep 0 would delete every other run: refused, pointing at prune.
    let out = tracker(&root, &["run", "--keep", "0", &a]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("tracker prune"), "{}", stderr(&out));
    assert_eq!(run_ids(&root).len(), 4);
}
