//! A pipeline tracked with the `progress` library (the way a Rust pipeline
//! embeds the tracker) is listed, shown, exported and pruned by the
//! `tracker` command line.

use std::time::Duration;

use manifest::ArtifactRoot;
use progress::{Display, Ending, ProgressTracker, Report, StepSpec, TrackerOptions};
use serde_json::Value;
use tests::tracker;

fn tracked_run(root: &ArtifactRoot, pipeline: &str, fail_second: bool) -> String {
    let mut options = TrackerOptions::new(pipeline, root.clone());
    options.display = Display::Quiet;
    options.refresh = None;
    let tracker = ProgressTracker::start(
        options,
        vec![
            StepSpec::new("collect", "Collect expert trajectories")
                .expected(Duration::from_secs(2)),
            StepSpec::new("train", "Train"),
            StepSpec::new("export", "Export").enabled(false),
        ],
    )
    .unwrap();
    tracker.start_step("collect").unwrap();
    tracker
        .report(
            "collect",
            Report {
                fraction: Some(1.0),
                items: Some(500),
                ..Report::default()
            },
        )
        .unwrap();
    tracker.add_artifact("collect", "data/expert.npz").unwrap();
    tracker.complete_step("collect").unwrap();
    tracker.start_step("train").unwrap();
    if fail_second {
        tracker.fail_step("train", "exit status 3").unwrap();
    } else {
        tracker.complete_step("train").unwrap();
    }
    let id = tracker.run_id().to_owned();
    tracker.finish(Ending::FromSteps).unwrap();
    id
}

#[test]
fn a_library_run_is_listed_shown_and_exported_by_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let root = ArtifactRoot::new(dir.path());
    let first = tracked_run(&root, "imitation", true);
    let second = tracked_run(&root, "imitation", false);

    let out = tracker(dir.path(), &["list", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let runs: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    let ids: Vec<&str> = runs.iter().map(|r| r["run_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [second.as_str(), first.as_str()], "newest first");
    assert_eq!(runs[0]["status"], "completed");
    assert_eq!(runs[1]["status"], "failed");

    // `latest`, an id prefix and the full id name the same runs.
    let out = tracker(dir.path(), &["show", "latest", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let shown: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(shown["run_id"], second.as_str());
    let steps = shown["record"]["steps"].as_array().unwrap();
    let statuses: Vec<&str> = steps
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["completed", "completed", "skipped"]);
    assert_eq!(steps[0]["artifacts"][0], "data/expert.npz");
    let out = tracker(dir.path(), &["status", &first[..13]]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("failed"), "{}", out.stdout);

    // Exports: JSON round-trips what `show` reads; HTML is one file.
    let out = tracker(dir.path(), &["export", &second, "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let exported: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(exported["record"], shown["record"]);
    let html = dir.path().join("report.html");
    let out = tracker(
        dir.path(),
        &[
            "export",
            &first,
            "--format",
            "html",
            "--output",
            html.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("Collect expert trajectories"),
        "no step in the report"
    );
    assert!(!page.contains("<script"), "the report runs no script");

    // The library kept both runs; the CLI deletes only what it is asked to.
    let out = tracker(
        dir.path(),
        &["prune", "--keep", "1", "--pipeline", "imitation"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("deleted 1 run of pipeline \"imitation\""),
        "{}",
        out.stderr
    );
    let out = tracker(dir.path(), &["show", &first]);
    assert_eq!(out.code, 2, "the older run is gone");
}
