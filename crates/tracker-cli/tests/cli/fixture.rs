//! A deterministic artifact root: four runs in every interesting state.

use std::path::Path;

use manifest::{ArtifactRoot, RunOptions, RunWriter};
use serde_json::json;
use telemetry_model::{
    PerfStatus, PerformanceRecommendation, PerformanceTestResult, PipelineRunRecord, RunStatus,
    Severity, StepExecutionEntry, StepStatus, TelemetrySnapshot, Timestamp,
};

/// Holds the temporary root and the writer of the one live run.
pub(crate) struct Fixture {
    pub(crate) dir: tempfile::TempDir,
    _live: RunWriter,
}

impl Fixture {
    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }
}

fn at(text: &str) -> Timestamp {
    text.parse().expect("fixture timestamp")
}

fn options(name: &str) -> RunOptions {
    RunOptions {
        name: Some(name.to_owned()),
        ..options_keep_all()
    }
}

const STEPS: [(&str, &str); 3] = [
    ("collect_expert", "Collect expert trajectories"),
    ("pretrain", "Pre-train by behaviour cloning"),
    ("evaluate", "Evaluate"),
];

fn record(writer: &RunWriter, created: &str) -> PipelineRunRecord {
    let mut record = writer.new_record();
    record.created_at = at(created);
    record.host = Some("testhost".into());
    record.pid = Some(4242);
    record.pipeline = Some("imitation-demo".into());
    record.initiator = Some("tracker run demo.toml".into());
    record.scenario_config_path = Some("configs/minimal.yaml".into());
    record.enabled_steps = STEPS.iter().map(|(id, _)| (*id).to_owned()).collect();
    record.steps = STEPS
        .iter()
        .enumerate()
        .map(|(i, (id, name))| StepExecutionEntry::new(*id, *name, i as u32 + 1))
        .collect();
    record.status = RunStatus::Running;
    record
}

/// Marks step `i` started at `start` and, with `secs`, finished `secs` later.
fn step(
    record: &mut PipelineRunRecord,
    i: usize,
    start: &str,
    secs: Option<f64>,
    status: StepStatus,
) {
    let s = &mut record.steps[i];
    let started = at(start);
    s.started_at = Some(started);
    s.eta_snapshot_seconds = Some(100.0 - 30.0 * i as f64);
    s.status = status;
    if let Some(secs) = secs {
        s.ended_at = Some(Timestamp::from_unix_ms(
            started.unix_ms() + (secs * 1000.0) as i64,
        ));
        s.duration_seconds = Some(secs);
    }
}

fn finish(record: &mut PipelineRunRecord, status: RunStatus, end: &str) {
    record.status = status;
    record.completed_at = Some(at(end));
    record.summary.total_duration = Some(at(end).seconds_since(record.created_at));
}

/// Adds a completed run, named or with a generated id, to the root at `root`.
pub(crate) fn add_completed_run(root: &Path, name: Option<&str>) {
    let options = RunOptions {
        name: name.map(str::to_owned),
        ..options_keep_all()
    };
    let mut writer = RunWriter::create(&ArtifactRoot::new(root), &options).expect("create");
    let mut record = writer.new_record();
    record.status = RunStatus::Completed;
    record.completed_at = Some(Timestamp::now());
    writer.commit(&record).expect("commit");
}

fn options_keep_all() -> RunOptions {
    RunOptions {
        sync: false,
        ..RunOptions::default()
    }
}

pub(crate) fn build() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = ArtifactRoot::new(dir.path());

    // alpha: completed, with a recommendation and a perf test.
    let mut w = RunWriter::create(&root, &options("alpha")).expect("create alpha");
    let mut r = record(&w, "2025-01-01T10:00:00Z");
    w.commit(&r).expect("commit");
    step(
        &mut r,
        0,
        "2025-01-01T10:00:01Z",
        Some(12.5),
        StepStatus::Completed,
    );
    step(
        &mut r,
        1,
        "2025-01-01T10:00:14Z",
        Some(124.0),
        StepStatus::Completed,
    );
    step(
        &mut r,
        2,
        "2025-01-01T10:02:18Z",
        Some(3.25),
        StepStatus::Completed,
    );
    r.steps[0].artifacts = vec!["data/trajectories.json".into()];
    // Three telemetry samples in the second step.
    for (i, cpu) in [40.0, 55.5, 61.0].into_iter().enumerate() {
        w.append_telemetry(&TelemetrySnapshot {
            timestamp_ms: 1_735_725_615_000 + i as i64 * 1000,
            step_id: Some("pretrain".into()),
            cpu_percent_process: Some(cpu),
            memory_rss_mb: Some(512.0 + i as f64),
            steps_per_sec: Some(700.0),
            notes: vec!["gpu: NVML unavailable (test)".into()],
            ..TelemetrySnapshot::default()
        })
        .expect("telemetry");
    }
    w.append_recommendation(&PerformanceRecommendation {
        trigger: "throughput_below_baseline".into(),
        severity: Severity::Warning,
        message: "pretrain ran at 0.70x its baseline throughput".into(),
        evidence: [
            ("ratio".to_owned(), json!(0.7)),
            ("threshold".to_owned(), json!(0.8)),
        ]
        .into(),
        suggested_actions: vec!["Check for CPU contention on this host".into()],
        timestamp_ms: 1_735_725_738_000,
    })
    .expect("recommendation");
    w.append_perf_test(&PerformanceTestResult {
        test_id: "pretrain_throughput".into(),
        matrix: Some("configs/minimal.yaml".into()),
        throughput_baseline: Some(1000.0),
        throughput_measured: Some(700.0),
        duration_seconds: Some(4.0),
        status: PerfStatus::SoftBreach,
        recommendations_ref: vec![0],
    })
    .expect("perf test");
    finish(&mut r, RunStatus::Completed, "2025-01-01T10:02:22Z");
    w.commit(&r).expect("commit");
    drop(w);

    // beta: failed in its second step.
    let mut w = RunWriter::create(&root, &options("beta")).expect("create beta");
    let mut r = record(&w, "2025-01-02T09:00:00Z");
    r.pipeline = Some("nightly".into());
    r.scenario_config_path = Some("configs/full.yaml".into());
    step(
        &mut r,
        0,
        "2025-01-02T09:00:01Z",
        Some(10.0),
        StepStatus::Completed,
    );
    step(
        &mut r,
        1,
        "2025-01-02T09:00:11Z",
        Some(5.0),
        StepStatus::Failed,
    );
    r.steps[1].exit_code = Some(3);
    finish(&mut r, RunStatus::Failed, "2025-01-02T09:00:16Z");
    w.commit(&r).expect("commit");
    drop(w);

    // gamma: its writer died after the first step (no terminal record).
    let mut w = RunWriter::create(&root, &options("gamma")).expect("create gamma");
    let mut r = record(&w, "2025-01-03T08:00:00Z");
    step(
        &mut r,
        0,
        "2025-01-03T08:00:01Z",
        Some(20.0),
        StepStatus::Completed,
    );
    step(&mut r, 1, "2025-01-03T08:00:21Z", None, StepStatus::Running);
    w.commit(&r).expect("commit");
    drop(w);

    // delta: running now, writer alive (held by the fixture).
    let mut w = RunWriter::create(&root, &options("delta")).expect("create delta");
    let mut r = record(&w, "2025-01-04T07:00:00Z");
    step(
        &mut r,
        0,
        "2025-01-04T07:00:01Z",
        Some(8.0),
        StepStatus::Completed,
    );
    step(&mut r, 1, "2025-01-04T07:00:09Z", None, StepStatus::Running);
    // The running step's progress, as the tracker persists it.
    r.summary.live = Some(telemetry_model::LiveProgress {
        step_id: "pretrain".into(),
        fraction: Some(0.5),
        items: Some(400),
        steps_per_sec: Some(200.0),
        fps: None,
        message: Some("epoch 3/10".into()),
        eta_seconds: Some(60.0),
        eta_range_seconds: Some([40.0, 90.0]),
        updated_at: Some(at("2025-01-04T07:00:29Z")),
    });
    w.commit(&r).expect("commit");

    Fixture { dir, _live: w }
}
