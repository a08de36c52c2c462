//! `tracker trend`: a pipeline's steps over its runs.

use serde_json::Value;
use telemetry_model::{RunStatus, StepStatus};

use crate::compare::write_run;
use crate::{redactions, stderr, stdout, tracker};

/// Eight completed runs of `train-pipeline`: `collect` steady, `train`
/// 30 % slower in the newer half with its throughput falling; a failed run
/// and another pipeline's run, neither counted.
fn eight_runs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ok = StepStatus::Completed;
    let train = [100.0, 98.0, 102.0, 99.0, 130.0, 128.0, 133.0, 131.0];
    for (i, secs) in train.into_iter().enumerate() {
        let rate = if secs > 110.0 { 380.0 } else { 500.0 };
        write_run(
            dir.path(),
            &format!("r{i}"),
            i as i64 * 60,
            RunStatus::Completed,
            &[
                (
                    "collect",
                    ok,
                    10.0 + (i % 2) as f64 * 0.2,
                    Some(0),
                    Some(1000.0),
                ),
                ("train", ok, secs, Some(0), Some(rate)),
            ],
        );
    }
    write_run(
        dir.path(),
        "broken",
        9 * 60,
        RunStatus::Failed,
        &[("train", StepStatus::Failed, 999.0, Some(1), None)],
    );
    dir
}

#[test]
fn durations_and_throughput_over_the_runs_with_a_drift_verdict() {
    let dir = eight_runs();
    let out = tracker(dir.path(), &["trend"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    redactions(dir.path()).bind(|| insta::assert_snapshot!("trend_table", stdout(&out)));

    let out = tracker(
        dir.path(),
        &["trend", "--step", "train", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["pipeline"], "train-pipeline");
    assert_eq!(
        doc["runs"].as_array().unwrap().len(),
        8,
        "the failed run is left out"
    );
    assert_eq!(doc["steps"].as_array().unwrap().len(), 1);
    let train = &doc["steps"][0];
    assert_eq!(train["duration"]["drift"], "rising");
    assert_eq!(train["throughput"]["drift"], "falling");
    assert_eq!(train["durations"][0], 100.0, "oldest first");

    let out = tracker(dir.path(), &["trend", "--limit", "4", "--format", "json"]);
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["steps"][1]["duration"]["drift"], "too_few_runs");
}

#[test]
fn an_unknown_step_or_pipeline_is_an_error_that_names_what_there_is() {
    let dir = eight_runs();
    let out = tracker(dir.path(), &["trend", "--step", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--step nope: no such step in the completed runs of \"train-pipeline\" (steps: collect, train)"),
        "{}",
        stderr(&out)
    );
    let out = tracker(dir.path(), &["trend", "--pipeline", "other"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no completed run of pipeline \"other\""),
        "{}",
        stderr(&out)
    );
    let empty = tempfile::tempdir().unwrap();
    let out = tracker(empty.path(), &["trend"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--pipeline"), "{}", stderr(&out));
}
