//! Manifests written by robot_sf's Python tracker list, resolve and read
//! correctly through the public API (docs/artifact-layout.md, "Compatibility with the Python tracker").
//!
//! The fixtures under `tests/fixtures/python/` were written by hand in the
//! Python tracker's exact format (`json.dumps` spacing, `isoformat`
//! timestamps with `+00:00`, one naive timestamp, bare `NaN`/`Infinity`,
//! extra `telemetry`/`recommendations`/`perf_tests` keys, a plain-JSON
//! `run.lock` nobody `flock`s, a run directory whose name differs from its
//! run id, and a nested `perf-tests/latest` run). Every test works on a
//! copy in a temporary directory and checks that reading changed nothing.

// Helpers outside `#[test]` functions unwrap too: a test fails loudly.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use manifest::{
    ArtifactRoot, Error, ManifestContents, Query, RunOptions, RunState, RunWriter, list_runs,
    read_jsonl, read_last_record, read_manifest, read_steps, resolve_run,
};
use serde_json::{Value, json};
use telemetry_model::{
    PerfStatus, PipelineRunRecord, RunStatus, Severity, StepStatus, TelemetrySnapshot, Timestamp,
};

const COMPLETED: &str = "pipeline-3f2a9c1e0b7d4e6fa1b2c3d4e5f60718";
const FAILED: &str = "pipeline-3f2b7d0e1c9a4b8e9f0a1b2c3d4e5f60";
const ABANDONED: &str = "alpha";
const ABANDONED_DIR: &str = "run-alpha";
const PERF: &str = "perf-tests/latest";

fn fixture_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/python")
}

/// Every file (with its bytes) and directory below `dir`, by relative path.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let rel = path.strip_prefix(base).unwrap().to_owned();
            if entry.file_type().unwrap().is_dir() {
                out.insert(rel, None);
                walk(base, &path, out);
            } else {
                out.insert(rel, Some(std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for (rel, content) in tree(from) {
        match content {
            None => std::fs::create_dir_all(to.join(rel)).unwrap(),
            Some(bytes) => {
                let path = to.join(rel);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, bytes).unwrap();
            }
        }
    }
}

/// A private copy of the Python fixtures.
struct Fixture {
    _tmp: tempfile::TempDir,
    root: ArtifactRoot,
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        copy_tree(&fixture_root(), tmp.path());
        let fixture = Self {
            root: ArtifactRoot::new(tmp.path()),
            _tmp: tmp,
        };
        assert_eq!(
            fixture.tree(),
            tree(&fixture_root()),
            "copy differs from fixtures"
        );
        fixture
    }

    fn tree(&self) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
        tree(self.root.path())
    }

    fn manifest(&self, rel: &str) -> PathBuf {
        self.root.runs_dir().join(rel).join("manifest.jsonl")
    }

    fn read(&self, rel: &str) -> ManifestContents {
        read_manifest(&self.manifest(rel)).unwrap()
    }
}

fn ids(listing: &manifest::Listing) -> Vec<&str> {
    listing.runs.iter().map(|r| r.run_id()).collect()
}

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn scenario(root: &ArtifactRoot, name: &str) -> Vec<String> {
    let query = Query {
        scenario: Some(name.to_owned()),
        ..Query::default()
    };
    let listing = list_runs(root, &query).unwrap();
    ids(&listing).into_iter().map(str::to_owned).collect()
}

#[test]
fn lists_python_runs_newest_first_with_derived_states() {
    let fx = Fixture::new();
    let before = fx.tree();
    let listing = list_runs(&fx.root, &Query::default()).unwrap();

    assert_eq!(ids(&listing), [PERF, COMPLETED, ABANDONED, FAILED]);
    assert_eq!(listing.matched, 4);
    let states: Vec<RunState> = listing.runs.iter().map(|r| r.state).collect();
    assert_eq!(
        states,
        [
            RunState::Completed,
            RunState::Completed,
            RunState::Abandoned,
            RunState::Failed
        ]
    );
    let rel: Vec<&str> = listing.runs.iter().map(|r| r.rel_path.as_str()).collect();
    assert_eq!(rel, [PERF, COMPLETED, ABANDONED_DIR, FAILED]);
    assert_eq!(listing.runs[2].dir, fx.root.runs_dir().join(ABANDONED_DIR));

    // The abandoned run: recorded `running`, lock file present but not held.
    let alpha = &listing.runs[2];
    assert_eq!(alpha.record.status, RunStatus::Running);
    assert_eq!(
        alpha
            .record
            .last_completed_step()
            .map(|s| s.step_id.as_str()),
        Some("collect_expert")
    );
    // Its duration ends at its last recorded step event (12:03:01).
    let far_future = ts("2030-01-01T00:00:00Z");
    assert_eq!(alpha.duration_seconds(far_future), Some(181.0));
    let completed = &listing.runs[1];
    let took = completed.duration_seconds(far_future).unwrap();
    assert!((took - 430.864).abs() < 1e-9, "{took}");

    // Only the naive timestamps of `alpha` deserve a warning.
    assert_eq!(listing.warnings.len(), 1, "{:?}", listing.warnings);
    let warning = &listing.warnings[0];
    assert_eq!(warning.path, fx.manifest(ABANDONED_DIR));
    assert!(warning.message.contains("UTC"), "{warning}");

    // The NaN/Infinity tokens of the nested run were read as null.
    let perf = &listing.runs[0];
    assert_eq!(perf.record.steps[0].eta_snapshot_seconds, None);
    assert_eq!(perf.record.summary.extra["throughput_ratio"], Value::Null);
    assert_eq!(
        perf.record.summary.extra["perf_status"],
        json!("soft-breach")
    );

    assert_eq!(fx.tree(), before, "listing changed the artifact root");
}

#[test]
fn scenario_filter_matches_scenario_id_config_path_and_stem() {
    let fx = Fixture::new();
    let before = fx.tree();
    // `minimal`: summary.scenario_id of one run, config stem of the other.
    assert_eq!(scenario(&fx.root, "minimal"), [PERF, COMPLETED]);
    assert_eq!(scenario(&fx.root, "crowded"), [FAILED]);
    assert_eq!(scenario(&fx.root, "crowded-v2"), [FAILED]);
    assert_eq!(
        scenario(&fx.root, "configs/scenarios/crowded.yaml"),
        [FAILED]
    );
    assert!(
        scenario(&fx.root, "crowd").is_empty(),
        "no substring matches"
    );
    assert!(scenario(&fx.root, "yaml").is_empty());
    assert_eq!(fx.tree(), before);
}

#[test]
fn scenario_filter_matches_pipeline_name_beside_python_runs() {
    let fx = Fixture::new();
    let options = RunOptions {
        sync: false,
        ..RunOptions::default()
    };
    let mut writer = RunWriter::create(&fx.root, &options).unwrap();
    let mut record = writer.new_record();
    record.pipeline = Some("imitation".into());
    record.status = RunStatus::Completed;
    record.completed_at = Some(Timestamp::now());
    writer.commit(&record).unwrap();
    drop(writer);

    assert_eq!(scenario(&fx.root, "imitation"), [record.run_id.clone()]);
    assert_eq!(scenario(&fx.root, "minimal"), [PERF, COMPLETED]);
    let all = list_runs(&fx.root, &Query::default()).unwrap();
    assert_eq!(
        ids(&all),
        [record.run_id.as_str(), PERF, COMPLETED, ABANDONED, FAILED]
    );
}

#[test]
fn state_time_and_limit_filters() {
    let fx = Fixture::new();
    let before = fx.tree();
    let list = |query: Query| list_runs(&fx.root, &query).unwrap();

    let since = list(Query {
        since: Some(ts("2025-01-02T00:00:00Z")),
        ..Query::default()
    });
    assert_eq!(ids(&since), [PERF, COMPLETED]);

    // `until` is inclusive; the naive 12:00:00 is read as UTC.
    let until = list(Query {
        until: Some(ts("2025-01-01T12:00:00+00:00")),
        ..Query::default()
    });
    assert_eq!(ids(&until), [ABANDONED, FAILED]);

    let window = list(Query {
        since: Some(ts("2025-01-01T00:00:00.001Z")),
        until: Some(ts("2025-01-02T10:00:00.123Z")),
        ..Query::default()
    });
    assert_eq!(ids(&window), [COMPLETED, ABANDONED]);

    // An offset other than UTC compares by instant.
    let offset = list(Query {
        since: Some(ts("2025-01-03T09:30:00.500+01:00")),
        ..Query::default()
    });
    assert_eq!(ids(&offset), [PERF]);

    for (state, want) in [
        (RunState::Abandoned, vec![ABANDONED]),
        (RunState::Completed, vec![PERF, COMPLETED]),
        (RunState::Failed, vec![FAILED]),
        (RunState::Running, vec![]),
    ] {
        let by_state = list(Query {
            state: Some(state),
            ..Query::default()
        });
        assert_eq!(ids(&by_state), want, "{state}");
    }

    let limited = list(Query {
        limit: Some(2),
        ..Query::default()
    });
    assert_eq!(ids(&limited), [PERF, COMPLETED]);
    assert_eq!(limited.matched, 4);
    assert_eq!(fx.tree(), before);
}

#[test]
fn resolves_every_form_of_run_argument() {
    let fx = Fixture::new();
    let before = fx.tree();
    let resolve = |arg: &str| resolve_run(&fx.root, arg).unwrap();

    assert_eq!(resolve("latest").run_id(), PERF);
    assert_eq!(resolve(COMPLETED).run_id(), COMPLETED);
    assert_eq!(resolve(FAILED).record.status, RunStatus::Failed);
    // By run id and by directory name, which differ.
    for arg in [ABANDONED, ABANDONED_DIR] {
        let run = resolve(arg);
        assert_eq!(run.run_id(), ABANDONED, "{arg}");
        assert_eq!(run.rel_path, ABANDONED_DIR, "{arg}");
        assert_eq!(run.state, RunState::Abandoned, "{arg}");
    }
    // Nested: the path relative to run-tracker/, and a prefix of it.
    let perf = resolve(PERF);
    assert_eq!((perf.run_id(), perf.rel_path.as_str()), (PERF, PERF));
    assert_eq!(
        perf.dir,
        fx.root.runs_dir().join("perf-tests").join("latest")
    );
    assert_eq!(resolve("perf").run_id(), PERF);
    // Unique prefixes.
    assert_eq!(resolve("pipeline-3f2a").run_id(), COMPLETED);
    assert_eq!(resolve("pipeline-3f2b7").run_id(), FAILED);
    assert_eq!(resolve("al").run_id(), ABANDONED);

    match resolve_run(&fx.root, "pipeline-3f2") {
        Err(Error::AmbiguousRun {
            count, candidates, ..
        }) => {
            assert_eq!(count, 2);
            let mut candidates = candidates;
            candidates.sort();
            assert_eq!(candidates, [COMPLETED, FAILED]);
        }
        other => panic!("expected an ambiguous prefix, got {other:?}"),
    }
    for missing in [
        "pipeline-3f2c",
        "nope",
        "latest-but-not",
        "perf-tests/latest/x",
    ] {
        match resolve_run(&fx.root, missing) {
            Err(Error::RunNotFound { arg, runs_dir }) => {
                assert_eq!(arg, missing);
                assert_eq!(runs_dir, fx.root.runs_dir());
            }
            other => panic!("{missing}: expected not found, got {other:?}"),
        }
    }
    for outside in [
        "../python",
        "/etc",
        "perf-tests/../run-alpha",
        "./alpha",
        "a//b",
        "",
    ] {
        assert!(
            matches!(
                resolve_run(&fx.root, outside),
                Err(Error::InvalidRunRef { .. })
            ),
            "{outside:?} was not refused"
        );
    }
    assert_eq!(fx.tree(), before, "resolving changed the artifact root");
}

#[test]
fn nothing_is_created_for_a_missing_root() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = ArtifactRoot::new(tmp.path().join("no").join("such-root"));
    let listing = list_runs(&missing, &Query::default()).unwrap();
    assert!(listing.runs.is_empty() && listing.warnings.is_empty());
    assert_eq!(listing.matched, 0);
    for arg in ["latest", COMPLETED, PERF] {
        assert!(
            matches!(resolve_run(&missing, arg), Err(Error::RunNotFound { .. })),
            "{arg}"
        );
    }
    assert!(
        !tmp.path().join("no").exists(),
        "a missing root was created"
    );

    // A root without run-tracker/ stays as it is, too.
    let empty = ArtifactRoot::new(tmp.path());
    assert!(
        list_runs(&empty, &Query::default())
            .unwrap()
            .runs
            .is_empty()
    );
    assert!(resolve_run(&empty, "latest").is_err());
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn read_manifest_collects_wrapper_lines_and_skips_python_extras() {
    let fx = Fixture::new();
    let before = fx.tree();

    let completed = fx.read(COMPLETED);
    assert!(completed.warnings.is_empty(), "{:?}", completed.warnings);
    assert_eq!((completed.lines, completed.record_line), (4, 4));
    let record = completed.record.unwrap();
    assert_eq!(record.run_id, COMPLETED);
    assert_eq!(record.status, RunStatus::Completed);
    assert_eq!(record.created_at, ts("2025-01-02T10:00:00.123Z"));
    assert_eq!(record.completed_at, Some(ts("2025-01-02T10:07:10.987Z")));
    assert_eq!(record.enabled_steps, ["collect_expert", "pretrain_bc"]);
    assert_eq!(
        record.scenario_config_path.as_deref(),
        Some("configs/scenarios/minimal.yaml")
    );
    assert_eq!(record.summary.total_duration, None);
    assert_eq!(record.summary.extra["completed_steps"], json!(2));
    assert_eq!(record.summary.extra["demo_mode"], json!(true));
    assert_eq!(
        record.summary.extra["telemetry"]["memory_rss_mb_peak"],
        json!(812.0)
    );
    assert_eq!(record.steps.len(), 2);
    assert_eq!(record.steps[1].duration_seconds, Some(306.4));
    assert_eq!(
        record.steps[1].artifacts,
        ["output/models/bc/minimal_bc.zip"]
    );
    assert!(!record.has_naive_timestamps());
    assert!(telemetry_model::validate_record(&record).is_empty());
    assert_eq!(completed.recommendations.len(), 1);
    assert_eq!(completed.recommendations[0].trigger, "cpu_saturation");
    assert_eq!(completed.recommendations[0].severity, Severity::Warning);
    assert_eq!(completed.recommendations[0].timestamp_ms, 1_735_812_184_000);
    assert!(completed.perf_tests.is_empty());

    let perf = fx.read(PERF);
    assert!(perf.warnings.is_empty(), "{:?}", perf.warnings);
    assert_eq!((perf.lines, perf.record_line), (5, 4));
    assert_eq!(perf.record.as_ref().unwrap().status, RunStatus::Completed);
    assert_eq!(perf.recommendations.len(), 1);
    let rec = &perf.recommendations[0];
    assert_eq!(rec.severity, Severity::Critical);
    assert_eq!(rec.suggested_actions.len(), 2);
    assert_eq!(rec.evidence["ratio"], Value::Null, "bare NaN reads as null");
    assert_eq!(rec.evidence["measured"], json!(1.234));
    assert_eq!(rec.timestamp_ms, 1_735_893_004_600);
    let tests: Vec<(&str, PerfStatus)> = perf
        .perf_tests
        .iter()
        .map(|t| (t.test_id.as_str(), t.status))
        .collect();
    assert_eq!(
        tests,
        [
            ("minimal-throughput", PerfStatus::SoftBreach),
            ("minimal-reset", PerfStatus::Passed)
        ]
    );
    let first = &perf.perf_tests[0];
    assert_eq!(
        first.matrix.as_deref(),
        Some("configs/validation/minimal.yaml")
    );
    assert_eq!(first.throughput_baseline, Some(0.5));
    assert_eq!(first.throughput_measured, Some(1.234));
    assert_eq!(first.duration_seconds, Some(4.05));
    assert_eq!(first.recommendations_ref, [0]);
    assert_eq!(perf.perf_tests[1].throughput_baseline, None);

    let failed = fx.read(FAILED).record.unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    let statuses: Vec<StepStatus> = failed.steps.iter().map(|s| s.status).collect();
    assert_eq!(
        statuses,
        [
            StepStatus::Completed,
            StepStatus::Failed,
            StepStatus::Pending
        ]
    );
    assert_eq!(failed.summary.scenario_id.as_deref(), Some("crowded-v2"));

    assert_eq!(fx.tree(), before);
}

#[test]
fn naive_timestamps_are_read_as_utc_with_a_warning() {
    let fx = Fixture::new();
    let alpha = fx.read(ABANDONED_DIR);
    let record = alpha.record.as_ref().unwrap();
    assert_eq!(record.run_id, ABANDONED);
    assert!(record.has_naive_timestamps());
    assert_eq!(record.created_at, ts("2025-01-01T12:00:00Z"));
    assert_eq!(alpha.record_line, 2);
    assert_eq!(alpha.warnings.len(), 1, "{:?}", alpha.warnings);
    let warning = &alpha.warnings[0];
    assert_eq!(warning.path, fx.manifest(ABANDONED_DIR));
    assert_eq!(warning.line, 2);
    assert!(
        warning.message.contains("without a UTC offset"),
        "{warning}"
    );
    assert!(
        warning.to_string().contains("run-alpha/manifest.jsonl:2: "),
        "{warning}"
    );

    // Offset forms with and without fractions are not naive.
    for rel in [COMPLETED, FAILED, PERF] {
        assert!(fx.read(rel).warnings.is_empty(), "{rel}");
    }
}

#[test]
fn tail_reader_agrees_with_full_reader_on_python_manifests() {
    let fx = Fixture::new();
    for rel in [COMPLETED, FAILED, ABANDONED_DIR, PERF] {
        let full = fx.read(rel).record.unwrap();
        let tail = read_last_record::<PipelineRunRecord>(&fx.manifest(rel))
            .unwrap()
            .unwrap();
        assert_eq!(tail.record, full, "{rel}");
        assert!(tail.warnings.is_empty(), "{rel}: {:?}", tail.warnings);
    }
}

#[test]
fn read_steps_reads_the_python_bare_list() {
    let fx = Fixture::new();
    for rel in [COMPLETED, ABANDONED_DIR] {
        let path = fx.root.runs_dir().join(rel).join("steps.json");
        let steps = read_steps(&path).unwrap();
        let record = fx.read(rel).record.unwrap();
        assert_eq!(steps, record.steps, "{rel}");
    }
    let alpha = read_steps(&fx.root.runs_dir().join(ABANDONED_DIR).join("steps.json")).unwrap();
    assert_eq!(alpha[1].status, StepStatus::Running);
    assert!(alpha[1].started_at.unwrap().was_naive());
    assert_eq!(
        alpha[0].artifacts,
        ["output/benchmarks/expert_trajectories/alpha.npz"]
    );

    let missing = fx.root.runs_dir().join(FAILED).join("steps.json");
    assert!(matches!(read_steps(&missing), Err(Error::Io { .. })));
}

#[test]
fn telemetry_lines_with_python_extras_read() {
    let fx = Fixture::new();
    let path = fx.root.runs_dir().join(COMPLETED).join("telemetry.jsonl");
    let mut samples = Vec::new();
    let warnings =
        read_jsonl::<TelemetrySnapshot>(&path, |line, s| samples.push((line, s))).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let lines: Vec<u64> = samples.iter().map(|(n, _)| *n).collect();
    assert_eq!(lines, [1, 2, 3, 4]);

    let s: Vec<&TelemetrySnapshot> = samples.iter().map(|(_, s)| s).collect();
    assert_eq!(s[0].timestamp_ms, 1_735_812_001_000);
    assert_eq!(s[0].step_id.as_deref(), Some("collect_expert"));
    assert_eq!(s[0].steps_per_sec, Some(812.5));
    assert_eq!(s[0].gpu_util_percent, None);
    assert_eq!(s[0].notes, ["gpu: nvml unavailable"]);
    assert_eq!(s[1].notes, ["gpu: nvml unavailable", "fps: not reported"]);
    assert_eq!(s[1].steps_per_sec, None, "bare NaN reads as null");
    assert_eq!(s[1].memory_rss_mb, Some(520.5));
    assert!(s[2].notes.is_empty());
    assert_eq!(s[2].gpu_util_percent, Some(0.0));
    assert_eq!(s[3].step_id, None);
    assert!(s[3].notes.is_empty());
    for sample in &s {
        assert!(telemetry_model::validate_snapshot(sample).is_empty());
    }
}

#[test]
fn a_python_run_can_be_finished_by_the_rust_writer() {
    // Python never flocks run.lock, so the abandoned run can be resumed.
    let fx = Fixture::new();
    let options = RunOptions {
        sync: false,
        ..RunOptions::default()
    };
    let (mut writer, contents) = RunWriter::resume(&fx.root, ABANDONED_DIR, &options).unwrap();
    assert_eq!(contents.lines, 2);
    let mut record = contents.record.unwrap();
    assert_eq!(record.run_id, ABANDONED);
    assert_eq!(
        resolve_run(&fx.root, ABANDONED).unwrap().state,
        RunState::Running
    );

    record.status = RunStatus::Cancelled;
    record.completed_at = Some(ts("2025-01-01T12:10:00Z"));
    writer.commit(&record).unwrap();
    drop(writer);

    let after = fx.read(ABANDONED_DIR);
    assert_eq!(after.lines, 3);
    assert_eq!(after.record_line, 3);
    assert_eq!(after.record.unwrap().status, RunStatus::Cancelled);
    let original =
        std::fs::read(fixture_root().join("run-tracker/run-alpha/manifest.jsonl")).unwrap();
    let now = std::fs::read(fx.manifest(ABANDONED_DIR)).unwrap();
    assert!(
        now.starts_with(&original),
        "the Python lines were rewritten"
    );
    assert_eq!(
        resolve_run(&fx.root, ABANDONED).unwrap().state,
        RunState::Cancelled
    );
    // steps.json was replaced by the writer's (same steps, pretty list).
    let steps = read_steps(&fx.root.runs_dir().join(ABANDONED_DIR).join("steps.json")).unwrap();
    assert_eq!(steps, record.steps);
}
