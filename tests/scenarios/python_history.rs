//! A history written by robot_sf's Python tracker (the fixtures of the
//! `manifest` crate, written in its exact format) is listed, resolved,
//! shown and exported by the `tracker` command line, and left untouched.

use std::path::Path;

use serde_json::Value;
use tests::{copy_tree, tracker};

fn python_root() -> tempfile::TempDir {
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/manifest/tests/fixtures/python");
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixtures, dir.path()).unwrap();
    dir
}

#[test]
fn a_python_trackers_history_reads_end_to_end() {
    let dir = python_root();
    let before = snapshot(dir.path());

    let out = tracker(dir.path(), &["list", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let runs: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    let mut states: Vec<(String, String)> = runs
        .iter()
        .map(|r| {
            (
                r["path"].as_str().unwrap().to_owned(),
                r["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    states.sort();
    assert_eq!(
        states,
        [
            ("perf-tests/latest".to_owned(), "completed".to_owned()),
            (
                "pipeline-3f2a9c1e0b7d4e6fa1b2c3d4e5f60718".to_owned(),
                "completed".to_owned()
            ),
            (
                "pipeline-3f2b7d0e1c9a4b8e9f0a1b2c3d4e5f60".to_owned(),
                "failed".to_owned()
            ),
            // Its `run.lock` is a plain file nobody holds: the Python
            // writer of a `running` record is gone.
            ("run-alpha".to_owned(), "abandoned".to_owned()),
        ]
    );

    // Every form of RUN reaches the same runs.
    for (arg, id) in [
        ("alpha", "alpha"),
        ("run-alpha", "alpha"),
        ("perf-tests/latest", ""),
        ("pipeline-3f2a", "pipeline-3f2a9c1e0b7d4e6fa1b2c3d4e5f60718"),
    ] {
        let out = tracker(dir.path(), &["show", arg, "--format", "json"]);
        assert_eq!(out.code, 0, "{arg}: {}", out.stderr);
        let doc: Value = serde_json::from_str(&out.stdout).unwrap();
        if !id.is_empty() {
            assert_eq!(doc["run_id"], id, "{arg}");
        }
    }
    let out = tracker(dir.path(), &["show", "pipeline-3f2", "--format", "json"]);
    assert_eq!(out.code, 2, "an ambiguous prefix: {}", out.stdout);
    assert!(out.stderr.contains("matches 2 runs"), "{}", out.stderr);

    // Export with telemetry, Markdown and HTML.
    let out = tracker(
        dir.path(),
        &[
            "export",
            "pipeline-3f2a9c1e0b7d4e6fa1b2c3d4e5f60718",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(
        !doc["telemetry"].as_array().unwrap().is_empty(),
        "no samples"
    );
    for format in ["markdown", "html"] {
        let out = tracker(dir.path(), &["export", "latest", "--format", format]);
        assert_eq!(out.code, 0, "{format}: {}", out.stderr);
        assert!(!out.stdout.is_empty(), "{format}");
    }

    // Reading changed nothing.
    assert_eq!(snapshot(dir.path()), before);
}

/// Every file below `dir` with its bytes.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path.strip_prefix(base).unwrap().display().to_string();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
