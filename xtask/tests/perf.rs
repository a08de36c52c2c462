//! `cargo xtask perf` end to end: the real binary, one fast scenario, a
//! baselines file and an artifact root in a temporary directory.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

use manifest::{ArtifactRoot, ManifestContents, Query, list_runs, read_manifest};
use telemetry_model::{PerfStatus, PipelineRunRecord, RunStatus, Severity};

/// Runs `xtask perf --repeat 1 --scenario eta_estimate` (the fastest)
/// against `baselines` (written to the temporary directory) and returns the
/// output.
fn perf(dir: &Path, baselines: &str, extra: &[&str]) -> Output {
    perf_of(
        dir,
        baselines,
        &[&["--scenario", "eta_estimate"], extra].concat(),
    )
}

/// Runs `xtask perf --repeat 1 ARGS…` against `baselines`.
fn perf_of(dir: &Path, baselines: &str, args: &[&str]) -> Output {
    let file = dir.join("baselines.json");
    std::fs::write(&file, baselines).unwrap();
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["perf", "--repeat", "1"])
        .arg("--baselines")
        .arg(&file)
        .arg("--output")
        .arg(dir.join("out"))
        .args(args)
        .env_remove("TRACKER_ARTIFACT_ROOT")
        .env_remove("ROBOT_SF_ARTIFACT_ROOT")
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The one perf run under `<dir>/out`: its record and manifest.
fn the_run(dir: &Path) -> (PipelineRunRecord, ManifestContents, std::path::PathBuf) {
    let listing = list_runs(&ArtifactRoot::new(dir.join("out")), &Query::default()).unwrap();
    assert_eq!(listing.runs.len(), 1);
    let run = &listing.runs[0];
    let contents = read_manifest(&run.manifest_path()).unwrap();
    (run.record.clone(), contents, run.dir.clone())
}

fn baselines(value: f64) -> String {
    format!(
        r#"{{"schema_version": 1, "scenarios": {{"eta_estimate": {{"baseline": {value}, "unit": "estimates/cpu-s", "soft_ratio": 0.8, "hard_ratio": 0.5}}}}}}"#
    )
}

#[test]
fn an_impossible_baseline_fails_and_is_recorded_as_failed() {
    let dir = tempfile::tempdir().unwrap();
    let out = perf(dir.path(), &baselines(1e15), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("error: perf test `eta_estimate` failed: "),
        "{err}"
    );
    assert!(
        err.contains("[critical] throughput_below_baseline"),
        "{err}"
    );
    // Measured three times before it counts, and said so.
    for attempt in ["(2 of 3", "(3 of 3"] {
        assert!(
            err.contains(&format!(
                "note: perf test `eta_estimate` failed: 0.00x the baseline: at or below the hard \
                 ratio 0.50x, a regression; measuring it again {attempt}"
            )),
            "{err}"
        );
    }
    assert!(
        stdout(&out).contains("eta_estimate  failed"),
        "{}",
        stdout(&out)
    );

    let (record, contents, run_dir) = the_run(dir.path());
    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(record.pipeline.as_deref(), Some("xtask-perf"));
    assert_eq!(
        record.summary.reason.as_deref(),
        Some("perf tests failed: eta_estimate")
    );
    assert_eq!(
        record.summary.perf_tests.unwrap().verdict,
        Some(PerfStatus::Failed)
    );
    assert_eq!(contents.perf_tests.len(), 1);
    let result = &contents.perf_tests[0];
    assert_eq!(result.status, PerfStatus::Failed);
    assert_eq!(result.throughput_baseline, Some(1e15));
    let matrix = result.matrix.as_deref().unwrap();
    assert!(
        matrix.contains("; the best of 3 measurements (medians "),
        "{matrix}"
    );
    assert!(result.throughput_measured.unwrap() > 0.0);
    assert_eq!(result.recommendations_ref, [0]);
    assert_eq!(contents.recommendations[0].severity, Severity::Critical);
    for file in ["perf_test_results.json", "metrics.json", "summary.json"] {
        assert!(run_dir.join(file).is_file(), "{file}");
    }
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("metrics.json")).unwrap())
            .unwrap();
    assert_eq!(metrics["metrics"]["eta_estimate"][1], "estimates/cpu-s");
    assert!(metrics["metrics"]["eta_estimate"][0].as_f64().unwrap() > 0.0);
    assert!(metrics["host"]["name"].is_string());
    assert!(metrics["timestamp"].is_string());
}

#[test]
fn a_trivially_met_baseline_passes() {
    let dir = tempfile::tempdir().unwrap();
    let out = perf(dir.path(), &baselines(1e-3), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning:"), "{}", stderr(&out));
    let (record, contents, _) = the_run(dir.path());
    assert_eq!(record.status, RunStatus::Completed);
    assert_eq!(contents.perf_tests[0].status, PerfStatus::Passed);
    assert!(contents.recommendations.is_empty());
}

#[test]
fn every_scenario_runs_and_without_baselines_each_is_a_candidate_until_updated() {
    let dir = tempfile::tempdir().unwrap();
    let out = perf_of(dir.path(), r#"{"scenarios": {}}"#, &["--update-baselines"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (record, contents, _) = the_run(dir.path());
    assert_eq!(record.status, RunStatus::Completed);
    let names: Vec<&str> = contents
        .perf_tests
        .iter()
        .map(|p| p.test_id.as_str())
        .collect();
    let mut expected = vec![
        "manifest_append",
        "history_listing",
        "telemetry_sample",
        "eta_estimate",
    ];
    if cfg!(target_os = "linux") {
        expected.extend(["tracker_in_situ", "tracker_in_situ_fast", "timer_wake_fast"]);
    }
    assert_eq!(names, expected);
    for result in &contents.perf_tests {
        assert_eq!(result.status, PerfStatus::Passed);
        assert_eq!(result.throughput_baseline, None);
        assert!(result.throughput_measured.unwrap() > 0.0, "{result:?}");
    }
    let text = stdout(&out);
    assert_eq!(
        text.matches("no baseline, recorded as candidate").count(),
        expected.len(),
        "{text}"
    );
    let written = perf_gate::Baselines::load(&dir.path().join("baselines.json")).unwrap();
    let units: Vec<(&str, &str)> = written
        .scenarios
        .iter()
        .map(|(name, e)| (name.as_str(), e.unit.as_str()))
        .collect();
    let mut expected = vec![
        ("eta_estimate", "estimates/cpu-s"),
        ("history_listing", "listings/cpu-s"),
        ("manifest_append", "records/cpu-s"),
        ("telemetry_sample", "samples/cpu-s"),
    ];
    if cfg!(target_os = "linux") {
        expected.extend([
            ("timer_wake_fast", "wakes/cpu-ms"),
            ("tracker_in_situ", "samples/cpu-ms"),
            ("tracker_in_situ_fast", "samples/cpu-ms"),
        ]);
    }
    assert_eq!(units, expected);
    assert!(written.scenarios.values().all(|e| e.baseline > 0.0));
    assert_eq!(
        written.profile.as_deref(),
        Some("debug"),
        "tests run a debug build"
    );
    // The rewritten file is what the next run is judged against.
    let again = perf(
        dir.path(),
        &std::fs::read_to_string(dir.path().join("baselines.json")).unwrap(),
        &[],
    );
    assert_ne!(again.status.code(), Some(2), "{}", stderr(&again));
}

#[test]
fn a_malformed_baselines_file_names_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = r#"{"scenarios": {"eta_estimate": {"baseline": 10, "unit": "estimates/cpu-s", "soft_ratio": 0.5}}}"#;
    let out = perf(dir.path(), bad, &[]);
    assert_eq!(out.status.code(), Some(2));
    let file = dir.path().join("baselines.json");
    assert_eq!(
        stderr(&out),
        format!(
            "error: {}: scenarios.eta_estimate.soft_ratio: expected a number in [0.75, 1]: a \
             throughput drop of 25 % or more must always be at least a soft breach, got 0.5\n",
            file.display()
        )
    );
    assert!(
        !dir.path().join("out").exists(),
        "nothing is measured or written"
    );
}

#[test]
fn an_unknown_scenario_is_a_usage_error_listing_the_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["perf", "--scenario", "nope", "--output"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let in_situ = if cfg!(target_os = "linux") {
        ", tracker_in_situ, tracker_in_situ_fast, timer_wake_fast"
    } else {
        ""
    };
    assert_eq!(
        stderr(&out),
        format!(
            "error: --scenario nope: no such scenario (scenarios: manifest_append, \
             history_listing, telemetry_sample, eta_estimate{in_situ})\n"
        )
    );
    let list = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["perf", "--list"])
        .output()
        .unwrap();
    assert_eq!(list.status.code(), Some(0));
    assert_eq!(
        stdout(&list).lines().count(),
        4 + 3 * usize::from(cfg!(target_os = "linux"))
    );
}
