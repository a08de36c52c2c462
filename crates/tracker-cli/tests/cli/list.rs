//! `tracker list`: formats, filters, limits, derived states.

use crate::{fixture, redactions, stderr, stdout, tracker};

#[test]
fn table_lists_newest_first_with_derived_states() {
    let fx = fixture::build();
    let out = tracker(fx.root(), &["list"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    // Live durations change with the clock: redact the two live-ish rows.
    redactions(fx.root()).bind(|| {
        let mut settings = insta::Settings::clone_current();
        settings.add_filter(r"\d+h\d\dm", "[LIVE]");
        settings.bind(|| insta::assert_snapshot!("list_table", text));
    });
}

#[test]
fn markdown_and_json_formats() {
    let fx = fixture::build();
    let out = tracker(
        fx.root(),
        &["list", "--format", "markdown", "--status", "completed"],
    );
    assert_eq!(out.status.code(), Some(0));
    redactions(fx.root()).bind(|| insta::assert_snapshot!("list_markdown", stdout(&out)));

    let out = tracker(
        fx.root(),
        &["list", "--format", "json", "--status", "failed"],
    );
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed.as_array().unwrap().len(), 1);
    redactions(fx.root()).bind(|| insta::assert_snapshot!("list_json", text));
}

fn ids(root: &std::path::Path, args: &[&str]) -> Vec<String> {
    let mut full = vec!["list", "--format", "json"];
    full.extend_from_slice(args);
    let out = tracker(root, &full);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    let runs: Vec<serde_json::Value> = serde_json::from_str(&stdout(&out)).unwrap();
    runs.iter()
        .map(|r| r["run_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn filters_by_state_time_and_scenario() {
    let fx = fixture::build();
    let root = fx.root();
    assert_eq!(ids(root, &[]), ["delta", "gamma", "beta", "alpha"]);
    assert_eq!(ids(root, &["--status", "abandoned"]), ["gamma"]);
    assert_eq!(ids(root, &["--status", "running"]), ["delta"]);
    assert_eq!(ids(root, &["--status", "cancelled"]), Vec::<String>::new());
    assert_eq!(
        ids(root, &["--since", "2025-01-02"]),
        ["delta", "gamma", "beta"]
    );
    assert_eq!(
        ids(root, &["--until", "2025-01-02T09:00:00Z"]),
        ["beta", "alpha"]
    );
    assert_eq!(
        ids(
            root,
            &[
                "--since",
                "2025-01-02T00:00:00+00:00",
                "--until",
                "2025-01-03"
            ]
        ),
        ["beta"]
    );
    assert_eq!(ids(root, &["--scenario", "nightly"]), ["beta"]);
    assert_eq!(ids(root, &["--scenario", "full"]), ["beta"]);
    assert_eq!(
        ids(root, &["--scenario", "configs/minimal.yaml"]),
        ["delta", "gamma", "alpha"]
    );
    assert_eq!(ids(root, &["--since", "1h"]), Vec::<String>::new());
}

#[test]
fn limit_keeps_the_newest_and_says_how_many_matched() {
    let fx = fixture::build();
    let out = tracker(fx.root(), &["list", "--limit", "2"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out).lines().count(), 3, "header and two rows");
    assert!(
        stderr(&out).contains("showing 2 of 4 runs"),
        "{}",
        stderr(&out)
    );
    assert_eq!(ids(fx.root(), &["--limit", "0"]).len(), 4);
    assert_eq!(ids(fx.root(), &["-n", "1"]), ["delta"]);
}

#[test]
fn empty_or_missing_root_lists_nothing_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("not-there");
    let out = tracker(&root, &["list"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).starts_with("no runs under"),
        "{}",
        stderr(&out)
    );
    let out = tracker(&root, &["list", "--format", "json"]);
    assert_eq!(stdout(&out).trim(), "[]");
    let out = tracker(&root, &["show", "latest"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !root.exists(),
        "read-only commands must not create the root"
    );
}

#[test]
fn closed_pipe_exits_quietly() {
    use std::process::{Command, Stdio};
    let fx = fixture::build();
    // Enough output to fill a pipe buffer, so the write really meets EPIPE.
    for _ in 0..150 {
        fixture::add_completed_run(fx.root(), None);
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracker"))
        .args([
            "list",
            "--limit",
            "0",
            "--format",
            "json",
            "--artifact-root",
        ])
        .arg(fx.root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away, like `| head -0`
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
}
