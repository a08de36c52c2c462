//! A pipeline run by the `runner` engine (through a supervisor program of
//! its own, as an embedding host would), its throughput judged by
//! `perf-gate`, and the verdict read back by the `tracker` command line.

use std::path::Path;
use std::sync::Arc;

use manifest::ArtifactRoot;
use perf_gate::{Baselines, Gate, Measurement, Verdict};
use progress::{Display, StepSpec};
use runner::{ChannelReader, CollectingReporter, Pipeline, Session, Settings, Supervisor};
use serde_json::Value;
use telemetry_model::RunStatus;
use tests::tracker;

/// Runs the one-step pipeline in `dir` as a perf run gated against a
/// baseline of `baseline` steps/s; returns the verdict, the run id and
/// what was printed.
fn gated_run(dir: &Path, baseline: f64) -> (Verdict, String, String) {
    let path = dir.join("pipeline.toml");
    std::fs::write(
        &path,
        "[pipeline]\nname = \"demo\"\n[[steps]]\nid = \"train\"\n\
         run = \"echo '{\\\"steps\\\": 5000}' >> \\\"$TRACKER_PROGRESS\\\"\"\n",
    )
    .unwrap();
    let pipeline = Pipeline::load(&path).unwrap();
    let baselines_path = dir.join("baselines.json");
    let mut baselines = Baselines::empty();
    let written = baselines.update(
        "demo/train",
        baseline,
        "steps/s",
        None,
        telemetry_model::Timestamp::now(),
    );
    assert!(written, "a baseline of {baseline}");
    let supervisor = Supervisor::new(env!("CARGO_BIN_EXE_scenario-supervise"));
    let mut settings = Settings::new(ArtifactRoot::new(dir.join("out")), &pipeline, supervisor);
    settings.display = Display::Quiet;
    settings.telemetry = None;
    let reporter = Arc::new(CollectingReporter::default());
    let mut session = Session::start(
        &settings,
        vec![StepSpec::new("train", "Train")],
        Vec::new(),
        reporter.clone(),
    )
    .unwrap();
    perf_gate::mark_perf_run(session.tracker(), "scenario", Some(&baselines_path));
    let plan = [("train".to_owned(), &pipeline.steps[0])];
    assert_eq!(session.run_steps(&pipeline, &plan), None);
    session.stop_sampling();

    let seconds = session
        .tracker()
        .record()
        .step("train")
        .and_then(|s| s.duration_seconds)
        .unwrap();
    let mut items = None;
    ChannelReader::new(runner::channel_path(session.run_dir(), "train")).poll(|_, line| {
        items = line.unwrap().report.and_then(|r| r.items);
    });
    let measurement = Measurement {
        test_id: "demo/train".into(),
        matrix: None,
        unit: "steps/s".into(),
        samples: vec![items.unwrap() as f64 / seconds.max(1e-3)],
        duration_seconds: seconds,
    };
    let gate = Gate {
        kind: "scenario",
        baselines_path: &baselines_path,
        baselines,
        source_dir: dir,
        repeats: "1 repeat".into(),
        profile: None,
        update_baselines: false,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let verdict = perf_gate::finish::<Box<dyn std::error::Error>>(
        session.tracker(),
        gate,
        &[measurement],
        |status, reason, _| {
            session.conclude(status, reason)?;
            Ok(())
        },
        || session.interrupted(),
        &mut out,
        &mut err,
    )
    .unwrap();
    let run_id = session.tracker().run_id().to_owned();
    let ended = session.into_ended(session_record(&dir.join("out"), &run_id), Vec::new(), false);
    assert!(ended.interrupt.is_none());
    assert_eq!(reporter.take(), Vec::<String>::new());
    let printed = String::from_utf8(out).unwrap() + &String::from_utf8(err).unwrap();
    (verdict, run_id, printed)
}

/// The run's record as the CLI reads it.
fn session_record(root: &Path, run_id: &str) -> telemetry_model::PipelineRunRecord {
    let out = tracker(root, &["show", run_id, "--format", "json"]);
    serde_json::from_value(serde_json::from_str::<Value>(&out.stdout).unwrap()["record"].clone())
        .unwrap()
}

#[test]
fn a_runner_run_below_its_baseline_fails_and_the_cli_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let (verdict, run_id, printed) = gated_run(dir.path(), 1e12);
    assert_eq!(verdict, Verdict::Failed, "{printed}");
    assert!(
        printed.contains("perf: 1 failed (1 repeat, baselines "),
        "{printed}"
    );

    let root = dir.path().join("out");
    let record = session_record(&root, &run_id);
    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(
        record.summary.reason.as_deref(),
        Some("perf tests failed: demo/train")
    );
    let out = tracker(&root, &["show", &run_id, "--format", "json"]);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["perf_tests"][0]["test_id"], "demo/train");
    assert_eq!(doc["perf_tests"][0]["status"], "failed");
    assert_eq!(
        doc["recommendations"][0]["trigger"], "throughput_below_baseline",
        "a breach comes with its recommendation"
    );
}

#[test]
fn a_runner_run_above_its_baseline_passes_and_lists_as_a_perf_run() {
    let dir = tempfile::tempdir().unwrap();
    let (verdict, run_id, printed) = gated_run(dir.path(), 1.0);
    assert_eq!(verdict, Verdict::Passed, "{printed}");
    let out = tracker(&dir.path().join("out"), &["list", "--format", "json"]);
    let runs: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["run_id"], run_id);
    assert_eq!(runs[0]["status"], "completed");
    assert_eq!(runs[0]["kind"], "perf-test");
    assert_eq!(runs[0]["perf_tests"]["verdict"], "passed", "{}", out.stdout);
    assert_eq!(runs[0]["perf_tests"]["passed"], 1, "{}", out.stdout);
}
