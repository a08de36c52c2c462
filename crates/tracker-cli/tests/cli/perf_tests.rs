//! `tracker perf-tests`, and how `list` and `show` present perf runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use manifest::{ArtifactRoot, Query, RunOptions, RunWriter, list_runs, read_manifest};
use perf_gate::{
    BaselineEntry, Baselines, Evaluation, HostInfo, Measurement, PerfSummary, RESULTS_FILE,
    ResultsDoc,
};
use telemetry_model::{PerfStatus, RunStatus, Severity, StepExecutionEntry, StepStatus, Timestamp};

use crate::{redactions, stderr, stdout, tracker};

/// The example scenario, shipped in examples/perf-scenario/.
fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/perf-scenario/pipeline.toml")
}

/// `tracker --artifact-root ROOT perf-tests --scenario FILE --plain
/// --no-telemetry ARGS…`, with the example's work made tiny.
fn perf_tests(root: &Path, scenario: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracker"))
        .arg("--artifact-root")
        .arg(root)
        .args(["perf-tests", "--plain", "--no-telemetry", "--scenario"])
        .arg(scenario)
        .args(args)
        .env_remove("TRACKER_ARTIFACT_ROOT")
        .env_remove("ROBOT_SF_ARTIFACT_ROOT")
        .env("NO_COLOR", "1")
        .env("PERF_HASH_ITEMS", "3000")
        .env("PERF_SORT_ITEMS", "60")
        .output()
        .expect("run tracker perf-tests")
}

/// The newest run under `root`: record and manifest.
fn latest(
    root: &Path,
) -> (
    telemetry_model::PipelineRunRecord,
    manifest::ManifestContents,
    PathBuf,
) {
    let query = Query {
        limit: Some(1),
        ..Query::default()
    };
    let listing = list_runs(&ArtifactRoot::new(root), &query).expect("list");
    let run = listing.runs.into_iter().next().expect("a run");
    let contents = read_manifest(&run.manifest_path()).expect("manifest");
    (run.record, contents, run.dir)
}

fn write_baselines(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("baselines.json");
    std::fs::write(&path, text).expect("write baselines");
    path
}

#[test]
fn the_example_scenario_runs_repeatedly_and_records_candidates() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let baselines = tmp.path().join("none.json");
    let out = perf_tests(
        &root,
        &example(),
        &["--repeat", "2", "--baselines", baselines.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for key in ["perf-demo/hash", "perf-demo/sort"] {
        let line = text
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(line.contains(" passed "), "{line}");
        assert!(line.contains("steps/s"), "{line}");
        assert!(
            line.ends_with("no baseline, recorded as candidate"),
            "{line}"
        );
    }
    assert!(
        !text.contains("perf-demo/prepare"),
        "a step without throughput is no perf test"
    );
    let err = stderr(&out);
    assert!(
        err.contains("does not exist: every step is recorded as a candidate"),
        "{err}"
    );
    assert!(
        err.contains("Step 6/6 – Sort lists of 1,000 numbers (repeat 2/2)"),
        "{err}"
    );

    let (record, contents, dir) = latest(&root);
    assert_eq!(record.status, RunStatus::Completed);
    assert_eq!(record.pipeline.as_deref(), Some("perf-demo"));
    let ids: Vec<&str> = record.steps.iter().map(|s| s.step_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "prepare.r1",
            "hash.r1",
            "sort.r1",
            "prepare.r2",
            "hash.r2",
            "sort.r2"
        ]
    );
    assert_eq!(contents.perf_tests.len(), 2);
    for result in &contents.perf_tests {
        assert_eq!(result.status, PerfStatus::Passed);
        assert_eq!(result.throughput_baseline, None);
        assert!(result.throughput_measured.unwrap() > 0.0, "{result:?}");
        assert!(result.recommendations_ref.is_empty());
        assert_eq!(result.matrix.as_deref(), Some(example().to_str().unwrap()));
    }
    let details = ResultsDoc::read(&dir).expect("perf_test_results.json");
    assert_eq!(
        details.results[0].samples.len(),
        2,
        "one throughput per repetition"
    );
    assert!(dir.join("metrics.json").is_file());
    // The step saw its own id, not the repetition's, and the channel is kept.
    assert!(dir.join("progress/hash.r2.jsonl").is_file());
    assert!(dir.join("logs/hash.r2.log").is_file());

    let list = tracker(&root, &["list", "--format", "json"]);
    let runs: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(runs[0]["kind"], "perf-test");
    assert_eq!(runs[0]["perf_tests"]["kind"], "scenario");
    assert_eq!(runs[0]["perf_tests"]["passed"], 2);
    assert_eq!(runs[0]["perf_tests"]["verdict"], "passed");
    let table = stdout(&tracker(&root, &["list"]));
    assert!(
        table.lines().nth(1).unwrap().contains("  2 passed  "),
        "{table}"
    );
}

#[test]
fn an_impossible_baseline_fails_with_a_critical_recommendation() {
    let tmp = tempfile::tempdir().unwrap();
    let baselines = write_baselines(
        tmp.path(),
        r#"{"schema_version": 1, "scenarios": {
            "perf-demo/hash": {"baseline": 1e15, "unit": "steps/s"},
            "perf-demo/sort": {"baseline": 0.001, "unit": "steps/s"}}}"#,
    );
    let root = tmp.path().join("root");
    let out = perf_tests(
        &root,
        &example(),
        &["--repeat", "1", "--baselines", baselines.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("error: perf test `perf-demo/hash` failed: "),
        "{err}"
    );
    assert!(
        err.contains("[critical] throughput_below_baseline: Step 'perf-demo/hash' ran at 0.00x"),
        "{err}"
    );
    assert!(
        err.contains("perf: 1 failed, 1 passed (1 repeat, baselines"),
        "{err}"
    );

    let (record, contents, _) = latest(&root);
    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(
        record.summary.reason.as_deref(),
        Some("perf tests failed: perf-demo/hash")
    );
    let by_id = |id: &str| {
        contents
            .perf_tests
            .iter()
            .find(|p| p.test_id == id)
            .unwrap()
    };
    let hash = by_id("perf-demo/hash");
    assert_eq!(hash.status, PerfStatus::Failed);
    assert_eq!(hash.throughput_baseline, Some(1e15));
    assert_eq!(hash.recommendations_ref.len(), 1);
    let rec = &contents.recommendations[hash.recommendations_ref[0]];
    assert_eq!(
        (rec.trigger.as_str(), rec.severity),
        ("throughput_below_baseline", Severity::Critical)
    );
    assert_eq!(by_id("perf-demo/sort").status, PerfStatus::Passed);
}

#[test]
fn a_slower_step_is_a_soft_breach_with_a_warning_and_exits_zero() {
    // A step paced by sleep: 1000 items in about 0.4 s, some 2,500/s. A
    // baseline of 5,000/s puts it near 0.5x, well inside (0.1, 1.0].
    let tmp = tempfile::tempdir().unwrap();
    let scenario = tmp.path().join("pipeline.toml");
    std::fs::write(
        &scenario,
        r#"[pipeline]
name = "paced"

[[steps]]
id = "work"
run = 'sleep 0.4; echo "{\"steps\": 1000}" >> "$TRACKER_PROGRESS"'
"#,
    )
    .unwrap();
    write_baselines(
        tmp.path(),
        r#"{"scenarios": {"paced/work": {"baseline": 5000, "unit": "steps/s", "soft_ratio": 1.0, "hard_ratio": 0.1}}}"#,
    );
    let root = tmp.path().join("elsewhere");
    let output = tmp.path().join("out");
    // --output wins over --artifact-root; the baselines are found next to the scenario.
    let out = perf_tests(
        &root,
        &scenario,
        &["--repeat", "1", "--output", output.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!root.exists());
    let err = stderr(&out);
    assert!(
        err.contains("warning: perf test `paced/work` soft-breach: "),
        "{err}"
    );
    assert!(
        err.contains("[warning] throughput_below_baseline: "),
        "{err}"
    );
    let (record, contents, _) = latest(&output);
    assert_eq!(record.status, RunStatus::Completed);
    assert_eq!(contents.perf_tests[0].status, PerfStatus::SoftBreach);
    assert_eq!(contents.perf_tests[0].recommendations_ref, [0]);
    assert_eq!(contents.recommendations[0].severity, Severity::Warning);
}

#[test]
fn update_baselines_writes_every_measured_step() {
    let tmp = tempfile::tempdir().unwrap();
    let baselines = tmp.path().join("perf").join("baselines.json");
    let args = |repeat| {
        [
            "--repeat".to_owned(),
            repeat,
            "--baselines".to_owned(),
            baselines.display().to_string(),
            "--update-baselines".to_owned(),
        ]
    };
    // One repeat is one noisy measurement: no baseline is written from it.
    let one = args("1".to_owned());
    let one: Vec<&str> = one.iter().map(String::as_str).collect();
    let out = perf_tests(&tmp.path().join("root"), &example(), &one);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("needs at least 3 repeats"),
        "{}",
        stderr(&out)
    );
    assert!(!baselines.exists());

    let three = args("3".to_owned());
    let three: Vec<&str> = three.iter().map(String::as_str).collect();
    let out = perf_tests(&tmp.path().join("root"), &example(), &three);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("(3 repeats, baselines"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("rewritten from this measurement"),
        "{}",
        stderr(&out)
    );
    let written = Baselines::load(&baselines).unwrap();
    let keys: Vec<&str> = written.scenarios.keys().map(String::as_str).collect();
    assert_eq!(keys, ["perf-demo/hash", "perf-demo/sort"]);
    for entry in written.scenarios.values() {
        assert!(entry.baseline > 0.0);
        assert_eq!(entry.unit, "steps/s");
        assert_eq!((entry.soft_ratio, entry.hard_ratio), (0.8, 0.5));
        assert!(entry.host.is_some() && entry.measured_at.is_some());
    }
}

#[test]
fn a_malformed_baselines_file_names_the_file_and_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let baselines = write_baselines(
        tmp.path(),
        r#"{"scenarios": {"perf-demo/hash": {"baseline": 10, "unit": "steps/s", "hard_ratio": 0.9}}}"#,
    );
    let root = tmp.path().join("root");
    let out = perf_tests(
        &root,
        &example(),
        &["--baselines", baselines.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "error: {}: scenarios.perf-demo/hash.hard_ratio: expected a number in (0, soft_ratio \
             = 0.8], got 0.9\n",
            baselines.display()
        )
    );
    assert!(!root.exists(), "no run is started");
}

#[test]
fn a_failing_step_fails_the_run_without_perf_results() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = tmp.path().join("pipeline.toml");
    std::fs::write(
        &scenario,
        "[pipeline]\nname = \"broken\"\n\n[[steps]]\nid = \"work\"\nrun = \"exit 3\"\n",
    )
    .unwrap();
    let root = tmp.path().join("root");
    let out = perf_tests(&root, &scenario, &["--repeat", "2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("error: no perf results: step `work.r1` failed: exit status 3"),
        "{}",
        stderr(&out)
    );
    let (record, contents, _) = latest(&root);
    assert_eq!(record.status, RunStatus::Failed);
    assert!(contents.perf_tests.is_empty());
}

/// A perf run written through the library, with pinned times, host and pid.
fn recorded_perf_run(root: &Path) {
    let options = RunOptions {
        name: Some("perf-1".to_owned()),
        sync: false,
        ..RunOptions::default()
    };
    let mut w = RunWriter::create(&ArtifactRoot::new(root), &options).unwrap();
    let mut record = w.new_record();
    record.created_at = "2025-02-01T12:00:00Z".parse().unwrap();
    record.host = Some("testhost".into());
    record.pid = Some(4242);
    record.pipeline = Some("perf-demo".into());
    record.initiator = Some("tracker perf-tests --scenario pipeline.toml".into());
    record.scenario_config_path = Some("pipeline.toml".into());
    for (i, id) in ["hash.r1", "hash.r2"].into_iter().enumerate() {
        let mut step =
            StepExecutionEntry::new(id, format!("Hash (repeat {}/2)", i + 1), i as u32 + 1);
        step.status = StepStatus::Completed;
        step.started_at = Some(Timestamp::from_unix_ms(1_738_411_201_000 + 2000 * i as i64));
        step.duration_seconds = Some(1.5);
        step.exit_code = Some(0);
        record.enabled_steps.push(id.to_owned());
        record.steps.push(step);
    }
    let mut baselines = Baselines::empty();
    baselines.scenarios.insert(
        "perf-demo/hash".into(),
        BaselineEntry::new(1000.0, "steps/s"),
    );
    let measurements = [
        Measurement {
            test_id: "perf-demo/hash".into(),
            matrix: Some("pipeline.toml".into()),
            unit: "steps/s".into(),
            samples: vec![700.0, 720.0],
            duration_seconds: 3.0,
        },
        Measurement {
            test_id: "perf-demo/sort".into(),
            matrix: Some("pipeline.toml".into()),
            unit: "steps/s".into(),
            samples: vec![41.5],
            duration_seconds: 1.25,
        },
    ];
    let at = Timestamp::from_unix_ms(1_738_411_210_000);
    let mut evaluation = Evaluation::evaluate_at(&measurements, &baselines, at).unwrap();
    let mut next = 0;
    for o in &mut evaluation.outcomes {
        for rec in &o.recommendations {
            w.append_recommendation(rec).unwrap();
            o.result.recommendations_ref.push(next);
            next += 1;
        }
        w.append_perf_test(&o.result).unwrap();
    }
    let counts = evaluation.counts();
    let summary = PerfSummary {
        kind: "scenario".into(),
        baselines: Some("baselines.json".into()),
        counts,
        verdict: Some(counts.verdict()),
    };
    record
        .summary
        .extra
        .insert("perf_tests".into(), serde_json::to_value(&summary).unwrap());
    record.status = RunStatus::Completed;
    record.completed_at = Some(at);
    record.summary.total_duration = Some(10.0);
    w.commit(&record).unwrap();
    let doc = ResultsDoc {
        schema_version: 1,
        run_id: "perf-1".into(),
        kind: "scenario".into(),
        baselines: Some("baselines.json".into()),
        host: HostInfo::default(),
        revision: None,
        timestamp: at,
        verdict: counts.verdict(),
        counts,
        results: evaluation.outcomes,
    };
    w.write_json(RESULTS_FILE, &doc).unwrap();
}

#[test]
fn show_prints_a_perf_runs_results_table_and_list_marks_it() {
    let tmp = tempfile::tempdir().unwrap();
    recorded_perf_run(tmp.path());
    let out = tracker(tmp.path(), &["show", "perf-1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    redactions(tmp.path()).bind(|| insta::assert_snapshot!("show_perf_run", stdout(&out)));
    let list = tracker(tmp.path(), &["list"]);
    redactions(tmp.path()).bind(|| insta::assert_snapshot!("list_perf_run", stdout(&list)));
}
