//! Runs the real `imitation-demo-step` binary through the whole pipeline at
//! quick scale, with the tracker's progress channel switched on.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_imitation-demo-step");

/// Runs one step with `TRACKER_PROGRESS=channel`; returns its stdout.
fn step(channel: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .args(["--scale", "quick", "--seed", "3"])
        .env("TRACKER_PROGRESS", channel)
        .output()
        .expect("run imitation-demo-step");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Checks one step's channel file and returns the artifacts it names.
fn check_channel(path: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(path).expect("channel file");
    let mut progress = Vec::new();
    let mut steps = Vec::new();
    let mut artifacts = Vec::new();
    let mut messages = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let obj = v.as_object().expect("an object");
        assert_eq!(obj.len(), 1, "one record per line: {line}");
        if let Some(p) = obj.get("progress") {
            progress.push(p.as_f64().expect("progress is a number"));
        } else if let Some(s) = obj.get("steps") {
            steps.push(s.as_u64().expect("steps is a count"));
        } else if let Some(a) = obj.get("artifact") {
            artifacts.push(PathBuf::from(a.as_str().expect("artifact is a path")));
        } else if let Some(m) = obj.get("message") {
            messages.push(m.as_str().expect("message is text").to_owned());
        } else {
            panic!("unknown record {line}");
        }
    }
    assert!(!progress.is_empty(), "{text}");
    assert!(
        progress.iter().all(|p| (0.0..=1.0).contains(p)),
        "{progress:?}"
    );
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert_eq!(progress.last(), Some(&1.0));
    assert!(steps.windows(2).all(|w| w[0] <= w[1]), "{steps:?}");
    assert!(steps.last().is_some_and(|&s| s > 0), "{steps:?}");
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(!artifacts.is_empty());
    for a in &artifacts {
        assert!(a.is_file(), "artifact {} exists", a.display());
    }
    // The result message comes last.
    assert!(
        text.lines()
            .last()
            .is_some_and(|l| l.contains("\"message\""))
    );
    artifacts
}

#[test]
fn the_pipeline_runs_step_by_step_and_reports_progress() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = |name: &str| dir.path().join(name);
    let s = |p: &PathBuf| p.to_str().expect("utf-8 path").to_owned();
    let (collect, pretrain, finetune, evaluate) =
        (d("collect"), d("pretrain"), d("finetune"), d("evaluate"));

    let out = step(&d("p1.jsonl"), &["collect", "--out", &s(&collect)]);
    assert!(out.starts_with("collected "), "{out}");
    assert_eq!(
        check_channel(&d("p1.jsonl")),
        [collect.join("dataset.json")]
    );

    let out = step(
        &d("p2.jsonl"),
        &["pretrain", "--data", &s(&collect), "--out", &s(&pretrain)],
    );
    assert!(out.starts_with("behaviour cloning: "), "{out}");
    assert_eq!(
        check_channel(&d("p2.jsonl")),
        [
            pretrain.join("policy.json"),
            pretrain.join("pretrain-report.json")
        ]
    );

    // Inputs may also name the file itself.
    let bc_policy = pretrain.join("policy.json");
    let out = step(
        &d("p3.jsonl"),
        &[
            "finetune",
            "--policy",
            &s(&bc_policy),
            "--out",
            &s(&finetune),
        ],
    );
    assert!(out.starts_with("fine-tuning: "), "{out}");
    assert_eq!(check_channel(&d("p3.jsonl")).len(), 2);

    let out = step(
        &d("p4.jsonl"),
        &[
            "evaluate",
            "--policy",
            &s(&finetune),
            "--baseline",
            &s(&pretrain),
            "--out",
            &s(&evaluate),
        ],
    );
    assert!(
        out.contains("expert ") && out.contains("bc ") && out.contains("fine-tuned "),
        "{out}"
    );
    assert_eq!(
        check_channel(&d("p4.jsonl")),
        [evaluate.join("eval-report.json")]
    );

    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(evaluate.join("eval-report.json")).expect("report"),
    )
    .expect("report JSON");
    let names: Vec<&str> = report["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["expert", "bc", "fine-tuned"]);

    // Separate processes give the same result as the library in one process.
    let config = imitation_demo::DemoConfig::new(imitation_demo::Scale::Quick).with_seed(3);
    let dataset = imitation_demo::collect(&config, &mut ());
    let bc = imitation_demo::pretrain(&config, &dataset, &mut ()).expect("pretrain");
    let on_disk = imitation_demo::artifact::load_policy(&bc_policy).expect("load");
    assert_eq!(on_disk, bc.policy);
}

#[test]
fn a_bad_channel_warns_but_does_not_fail_and_bad_input_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("out");
    let out = Command::new(BIN)
        .args(["collect", "--scale", "quick", "--out"])
        .arg(&out_dir)
        .env(
            "TRACKER_PROGRESS",
            dir.path().join("no/such/dir/progress.jsonl"),
        )
        .output()
        .expect("run");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("warning").count(), 1, "{stderr}");
    assert!(out_dir.join("dataset.json").is_file());

    let out = Command::new(BIN)
        .args(["pretrain", "--scale", "quick", "--data"])
        .arg(dir.path().join("missing"))
        .arg("--out")
        .arg(dir.path().join("p"))
        .env_remove("TRACKER_PROGRESS")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot load dataset") && stderr.contains("missing"),
        "{stderr}"
    );

    let out = Command::new(BIN)
        .args(["collect", "--scale", "huge"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}
