//! `tracker compare`: runs side by side, deltas against the first, changes
//! beyond the history's noise flagged.

use std::path::Path;

use manifest::{ArtifactRoot, RunOptions, RunWriter};
use serde_json::Value;
use telemetry_model::{RunStatus, StepExecutionEntry, StepStatus, Timestamp};

use crate::{redactions, stderr, stdout, tracker};

/// One step as a run recorded it: id, status, seconds, exit code, items/s.
pub(crate) type Step<'a> = (&'a str, StepStatus, f64, Option<i32>, Option<f64>);

/// Writes a finished run of `train-pipeline` named `name`, created
/// `minute` minutes into the day, with `steps`.
pub(crate) fn write_run(
    root: &Path,
    name: &str,
    minute: i64,
    status: RunStatus,
    steps: &[Step<'_>],
) {
    let options = RunOptions {
        name: Some(name.to_owned()),
        sync: false,
        ..RunOptions::default()
    };
    let mut writer = RunWriter::create(&ArtifactRoot::new(root), &options).unwrap();
    let mut record = writer.new_record();
    let start = 1_767_225_600_000 + minute * 60_000; // 2026-01-01T00:00Z
    record.created_at = Timestamp::from_unix_ms(start);
    record.pipeline = Some("train-pipeline".into());
    record.status = status;
    let mut at = start;
    let mut resources = Vec::new();
    for (i, (id, status, secs, exit, rate)) in steps.iter().enumerate() {
        let mut step = StepExecutionEntry::new(*id, format!("Step {id}"), i as u32 + 1);
        step.status = *status;
        step.started_at = Some(Timestamp::from_unix_ms(at));
        at += (*secs * 1000.0) as i64;
        step.ended_at = Some(Timestamp::from_unix_ms(at));
        step.duration_seconds = Some(*secs);
        step.exit_code = *exit;
        step.cpu_time_seconds = Some(secs * 0.9);
        step.peak_rss_mb = Some(100.0 + i as f64);
        record.steps.push(step);
        resources.push(serde_json::json!({
            "step_id": id, "samples": 3, "notes": [],
            "steps_per_sec_mean": rate, "baseline_status": "no baseline"
        }));
    }
    record.completed_at = Some(Timestamp::from_unix_ms(at));
    record.summary.total_duration = Some((at - start) as f64 / 1000.0);
    record.summary.resources = Some(
        serde_json::from_value(serde_json::json!({
            "overall": {"samples": 0, "notes": []},
            "steps": resources,
            "baseline_status": "no baseline"
        }))
        .unwrap(),
    );
    writer.commit(&record).unwrap();
}

/// Five steady earlier runs, then `a` (like them) and `b`: `train` 30 %
/// slower, `eval` failing, `export` new, throughput down by a half.
fn history_and_two_runs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let ok = StepStatus::Completed;
    for (n, train) in [98.0, 101.0, 100.0, 103.0, 99.0].into_iter().enumerate() {
        write_run(
            root,
            &format!("h{n}"),
            n as i64 * 10,
            RunStatus::Completed,
            &[
                ("collect", ok, 10.0, Some(0), Some(1000.0)),
                ("train", ok, train, Some(0), Some(500.0)),
                ("eval", ok, 5.0, Some(0), None),
            ],
        );
    }
    write_run(
        root,
        "a",
        100,
        RunStatus::Completed,
        &[
            ("collect", ok, 10.0, Some(0), Some(1000.0)),
            ("train", ok, 100.0, Some(0), Some(500.0)),
            ("eval", ok, 5.0, Some(0), None),
        ],
    );
    write_run(
        root,
        "b",
        200,
        RunStatus::Failed,
        &[
            ("collect", ok, 10.5, Some(0), Some(990.0)),
            ("train", ok, 130.0, Some(0), Some(250.0)),
            ("eval", StepStatus::Failed, 1.0, Some(3), None),
            ("export", StepStatus::Pending, 0.0, None, None),
        ],
    );
    dir
}

#[test]
fn two_runs_side_by_side_with_the_changes_beyond_noise_flagged() {
    let dir = history_and_two_runs();
    let out = tracker(dir.path(), &["compare", "a", "b"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    redactions(dir.path()).bind(|| insta::assert_snapshot!("compare_two_runs", stdout(&out)));
}

#[test]
fn the_json_document_has_every_figure_delta_and_flag() {
    let dir = history_and_two_runs();
    let out = tracker(dir.path(), &["compare", "a", "b", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        doc["history_runs"], 5,
        "the compared runs are not their own noise"
    );
    assert_eq!(doc["runs"][1]["status"], "failed");
    let step = |id: &str| {
        doc["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step_id"] == id)
            .unwrap()
            .clone()
    };
    let train = step("train");
    assert_eq!(train["deltas"][0], Value::Null);
    assert_eq!(train["deltas"][1]["duration_seconds"]["absolute"], 30.0);
    assert_eq!(train["deltas"][1]["duration_seconds"]["relative"], 0.3);
    assert_eq!(
        train["flags"][1],
        serde_json::json!(["slower", "lower_throughput"])
    );
    // Half a second more on a 10 s step is within the noise.
    assert_eq!(step("collect")["flags"][1], serde_json::json!([]));
    assert_eq!(step("eval")["flags"][1], serde_json::json!(["failed"]));
    assert_eq!(step("eval")["runs"][1]["exit_code"], 3);
    let export = step("export");
    assert_eq!(export["runs"][0], Value::Null, "not in run a");
    assert_eq!(export["deltas"][1], Value::Null);
}

#[test]
fn markdown_and_html_forms() {
    let dir = history_and_two_runs();
    let out = tracker(dir.path(), &["compare", "a", "b", "--format", "markdown"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("# Comparison of 2 runs of train-pipeline\n"),
        "{text}"
    );
    assert!(
        text.contains("| Step train | 1m40s | 2m10s (+30%) slower |"),
        "{text}"
    );
    let file = dir.path().join("compare.html");
    let out = tracker(
        dir.path(),
        &[
            "compare",
            "a",
            "b",
            "--format",
            "html",
            "-o",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let html = std::fs::read_to_string(&file).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<script"), "self-contained, no scripts");
    assert!(html.contains("2m10s <span class=\"muted\">(+30%)</span> <span class=\"badge st-warning\">slower</span>"), "{html}");
}

#[test]
fn one_run_or_an_unknown_run_is_a_usage_error() {
    let dir = history_and_two_runs();
    let out = tracker(dir.path(), &["compare", "a"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("RUN"), "{}", stderr(&out));
    let out = tracker(dir.path(), &["compare", "a", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
    assert_eq!(stdout(&out), "", "nothing half-printed");
}

#[test]
fn the_html_report_compares_a_run_with_its_pipelines_history() {
    let dir = history_and_two_runs();
    let file = dir.path().join("b.html");
    let out = tracker(
        dir.path(),
        &[
            "export",
            "b",
            "--format",
            "html",
            "-o",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let html = std::fs::read_to_string(&file).unwrap();
    let section = &html[html.find("id=\"history\"").expect("a history section")..];
    let section = &section[..section.find("</section>").unwrap()];
    // train: 2m10s against a median of 1m40s over 6 completed runs (a included).
    assert!(
        section.contains(
            "<td>Step train</td><td class=\"num\">2m10s</td><td class=\"num\" title=\"6 earlier runs\">1m40s</td>\
             <td class=\"num\">+30%</td><td><span class=\"badge st-warning\">slower</span></td>"
        ),
        "{section}"
    );
    assert!(
        !section.contains("Step eval"),
        "a failed step is not compared: {section}"
    );
}
