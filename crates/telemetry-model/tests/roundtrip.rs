//! Serde contract of the data model (docs/artifact-layout.md): every type survives a
//! round trip through JSON unchanged; what the Python tracker writes
//! (unknown fields, `null`s for optional fields, `notes` as one joined
//! string) reads without error; status enums are written lower-case
//! exactly as the spec lists them.

// Helpers outside `#[test]` functions unwrap too: a test fails loudly.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use telemetry_model::{
    NotificationOutcome, NotificationRecord, PerfStatus, PerformanceRecommendation,
    PerformanceTestResult, PipelineRunRecord, RunStatus, RunSummary, SCHEMA_VERSION, Severity,
    Stall, StepExecutionEntry, StepStatus, TelemetrySnapshot, Timestamp,
};

/// Serialises `value`, reads it back, and checks both the value and the
/// text are stable (a second round trip writes the same bytes).
fn round_trip<T>(value: &T) -> T
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let text = serde_json::to_string(value).unwrap();
    let back: T = serde_json::from_str(&text).unwrap();
    assert_eq!(
        &back, value,
        "round trip changed the value; JSON was {text}"
    );
    let again = serde_json::to_string(&back).unwrap();
    assert_eq!(again, text, "second serialisation differs");
    back
}

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn object_keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

fn finished_step(id: &str, order: u32, status: StepStatus) -> StepExecutionEntry {
    let mut step = StepExecutionEntry::new(id, format!("Step {id}"), order);
    step.status = status;
    step.started_at = Some(ts("2025-01-02T10:00:01.250Z"));
    step.ended_at = Some(ts("2025-01-02T10:02:05.500Z"));
    step.duration_seconds = Some(124.25);
    step.eta_snapshot_seconds = Some(660.0);
    step.artifacts = vec![format!("artifacts/{id}/out.npz"), "logs/x.log".into()];
    step
}

fn full_record() -> PipelineRunRecord {
    let mut record = PipelineRunRecord::new("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b");
    record.pipeline = Some("imitation".into());
    record.created_at = ts("2025-01-02T10:00:00.123456Z");
    record.completed_at = Some(ts("2025-01-02T10:30:00Z"));
    record.status = RunStatus::Failed;
    record.initiator = Some("tracker run pipeline.toml --fast".into());
    record.host = Some("gpu-node-7".into());
    record.pid = Some(4242);
    record.scenario_config_path = Some("configs/scenarios/minimal.yaml".into());
    record.enabled_steps = vec!["collect".into(), "train".into(), "eval".into()];
    record.artifact_dir = Some("/data/output/run-tracker/0193a1b2".into());
    record.summary = RunSummary {
        total_duration: Some(1800.5),
        reason: Some("step `train` failed: killed by SIGKILL".into()),
        storage_errors: vec!["log: 1 write failed (No space left on device)".into()],
        scenario_id: Some("minimal".into()),
        stalled: Some(Stall {
            step_id: "train".into(),
            since: ts("2025-01-02T10:10:00Z"),
            stall_seconds: 600.0,
        }),
        notifications: vec![NotificationRecord {
            event: "failed".into(),
            step_id: Some("train".into()),
            target: "webhook hooks.example.org".into(),
            outcome: NotificationOutcome::Failed,
            reason: Some("connection refused".into()),
            attempts: 2,
            at: ts("2025-01-02T10:30:01Z"),
        }],
        extra: BTreeMap::from([
            ("completed_steps".to_owned(), json!(1)),
            ("demo_mode".to_owned(), json!(true)),
            (
                "telemetry".to_owned(),
                json!({"cpu_avg": 55.5, "peaks": [1, 2, 3], "gpu": null}),
            ),
        ]),
        ..RunSummary::default()
    };
    let mut wrapped = finished_step("train", 2, StepStatus::Failed);
    wrapped.exit_code = Some(-9);
    wrapped.cpu_time_seconds = Some(7200.75);
    wrapped.peak_rss_mb = Some(2048.5);
    let mut skipped = StepExecutionEntry::new("export", "Export", 0);
    skipped.status = StepStatus::Skipped;
    record.steps = vec![
        finished_step("collect", 1, StepStatus::Completed),
        wrapped,
        StepExecutionEntry::new("eval", "Evaluate", 3),
        skipped,
    ];
    record
}

fn full_snapshot() -> TelemetrySnapshot {
    TelemetrySnapshot {
        timestamp_ms: 1_735_812_000_123,
        step_id: Some("collect".into()),
        steps_per_sec: Some(1234.5),
        fps: Some(31.5),
        cpu_percent_process: Some(87.5),
        cpu_percent_system: Some(42.25),
        memory_rss_mb: Some(812.0),
        memory_system_used_mb: Some(9_000.0),
        memory_system_total_mb: Some(24_000.0),
        gpu_util_percent: Some(99.0),
        gpu_mem_used_mb: Some(10_240.0),
        notes: vec!["gpu: partial".into()],
    }
}

fn recommendation(severity: Severity) -> PerformanceRecommendation {
    PerformanceRecommendation {
        trigger: "throughput_below_baseline".into(),
        severity,
        message: "Throughput is 40 % below the baseline".into(),
        evidence: BTreeMap::from([
            ("ratio".to_owned(), json!(0.6)),
            ("baseline".to_owned(), json!(50.0)),
            ("window".to_owned(), json!({"samples": 30})),
        ]),
        suggested_actions: vec!["Check GPU utilisation".into(), "Reduce envs".into()],
        timestamp_ms: 1_735_812_000_123,
    }
}

fn perf_result(status: PerfStatus) -> PerformanceTestResult {
    PerformanceTestResult {
        test_id: "env_step_throughput".into(),
        matrix: Some("configs/validation/minimal.yaml".into()),
        throughput_baseline: Some(0.5),
        throughput_measured: Some(1.234),
        duration_seconds: Some(4.05),
        status,
        recommendations_ref: vec![0, 2],
    }
}

#[test]
fn run_record_with_steps_and_summary_extras_round_trips() {
    let record = full_record();
    let back = round_trip(&record);
    assert_eq!(back.summary.extra["telemetry"]["peaks"], json!([1, 2, 3]));
    assert_eq!(back.steps[1].exit_code, Some(-9));

    let value = serde_json::to_value(&record).unwrap();
    assert_eq!(value["schema_version"], json!(SCHEMA_VERSION));
    assert_eq!(value["status"], "failed");
    assert_eq!(value["created_at"], "2025-01-02T10:00:00.123456+00:00");
    // Summary extras sit beside total_duration, not nested under a key.
    assert_eq!(value["summary"]["total_duration"], json!(1800.5));
    assert_eq!(value["summary"]["demo_mode"], json!(true));
    assert!(value["summary"].get("extra").is_none());
    assert_eq!(value["steps"][3]["status"], "skipped");
}

#[test]
fn record_field_names_are_the_python_contract() {
    let value = serde_json::to_value(full_record()).unwrap();
    let mut keys = object_keys(&value);
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "artifact_dir",
            "completed_at",
            "created_at",
            "enabled_steps",
            "host",
            "initiator",
            "pid",
            "pipeline",
            "run_id",
            "scenario_config_path",
            "schema_version",
            "status",
            "steps",
            "summary",
        ]
    );
    let mut step_keys = object_keys(&value["steps"][0]);
    step_keys.sort_unstable();
    assert_eq!(
        step_keys,
        [
            "artifacts",
            "display_name",
            "duration_seconds",
            "ended_at",
            "eta_snapshot_seconds",
            "order",
            "started_at",
            "status",
            "step_id",
        ]
    );
}

#[test]
fn fresh_record_round_trips_with_nulls() {
    let record = PipelineRunRecord::new("run-1");
    let value = serde_json::to_value(&record).unwrap();
    for key in [
        "completed_at",
        "pipeline",
        "initiator",
        "host",
        "pid",
        "scenario_config_path",
    ] {
        assert_eq!(value[key], Value::Null, "{key}");
    }
    assert_eq!(value["summary"], json!({"total_duration": null}));
    round_trip(&record);
}

#[test]
fn step_without_wrapper_fields_omits_them() {
    let plain = finished_step("collect", 1, StepStatus::Completed);
    let value = serde_json::to_value(&plain).unwrap();
    for key in ["exit_code", "cpu_time_seconds", "peak_rss_mb"] {
        assert!(
            value.get(key).is_none(),
            "{key} written for a library step: {value}"
        );
    }
    let back = round_trip(&plain);
    assert_eq!(back.exit_code, None);
    assert_eq!(back.cpu_time_seconds, None);
    assert_eq!(back.peak_rss_mb, None);
}

#[test]
fn step_with_wrapper_fields_keeps_them() {
    let mut step = finished_step("train", 2, StepStatus::Completed);
    step.exit_code = Some(0);
    step.cpu_time_seconds = Some(12.5);
    step.peak_rss_mb = Some(300.25);
    let value = serde_json::to_value(&step).unwrap();
    assert_eq!(value["exit_code"], json!(0));
    assert_eq!(value["cpu_time_seconds"], json!(12.5));
    assert_eq!(value["peak_rss_mb"], json!(300.25));
    let back = round_trip(&step);
    assert_eq!(back.exit_code, Some(0));

    // Only some of them: each is independent.
    step.cpu_time_seconds = None;
    let value = serde_json::to_value(&step).unwrap();
    assert!(value.get("cpu_time_seconds").is_none());
    assert_eq!(round_trip(&step).peak_rss_mb, Some(300.25));
}

#[test]
fn every_step_status_round_trips() {
    for &status in StepStatus::ALL {
        let step = finished_step("s", 1, status);
        assert_eq!(round_trip(&step).status, status);
    }
}

#[test]
fn telemetry_snapshot_round_trips() {
    let snapshot = full_snapshot();
    round_trip(&snapshot);
    let value = serde_json::to_value(&snapshot).unwrap();
    assert_eq!(value["notes"], json!(["gpu: partial"]));
    assert_eq!(value["timestamp_ms"], json!(1_735_812_000_123_i64));

    let empty = TelemetrySnapshot {
        timestamp_ms: 5,
        ..TelemetrySnapshot::default()
    };
    let value = serde_json::to_value(&empty).unwrap();
    assert_eq!(value["gpu_util_percent"], Value::Null);
    assert_eq!(value["notes"], json!([]));
    round_trip(&empty);
}

#[test]
fn recommendation_round_trips_for_every_severity() {
    for &severity in Severity::ALL {
        let rec = recommendation(severity);
        let back = round_trip(&rec);
        assert_eq!(back.severity, severity);
        assert_eq!(back.evidence["window"]["samples"], json!(30));
    }
}

#[test]
fn perf_result_round_trips_for_every_status() {
    for &status in PerfStatus::ALL {
        let result = perf_result(status);
        assert_eq!(round_trip(&result).status, status);
    }
    let no_baseline = PerformanceTestResult {
        throughput_baseline: None,
        matrix: None,
        recommendations_ref: vec![],
        ..perf_result(PerfStatus::Passed)
    };
    let value = serde_json::to_value(&no_baseline).unwrap();
    assert_eq!(value["throughput_baseline"], Value::Null);
    round_trip(&no_baseline);
}

#[test]
fn every_run_status_round_trips() {
    for &status in RunStatus::ALL {
        let mut record = full_record();
        record.status = status;
        assert_eq!(round_trip(&record).status, status);
    }
}

#[test]
fn enums_serialise_lower_case() {
    fn texts<T: Serialize>(all: &[T]) -> Vec<String> {
        all.iter()
            .map(|v| {
                serde_json::to_value(v)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }
    assert_eq!(
        texts(RunStatus::ALL),
        ["pending", "running", "completed", "failed", "cancelled"]
    );
    assert_eq!(
        texts(StepStatus::ALL),
        ["pending", "running", "completed", "failed", "skipped"]
    );
    assert_eq!(texts(Severity::ALL), ["info", "warning", "critical"]);
    assert_eq!(texts(PerfStatus::ALL), ["passed", "soft-breach", "failed"]);
    // Display and FromStr agree with serde.
    for &s in RunStatus::ALL {
        assert_eq!(s.to_string(), serde_json::to_value(s).unwrap());
        assert_eq!(s.as_str().parse::<RunStatus>().unwrap(), s);
    }
    for &s in PerfStatus::ALL {
        assert_eq!(s.to_string(), serde_json::to_value(s).unwrap());
        assert_eq!(s.as_str().parse::<PerfStatus>().unwrap(), s);
    }
}

#[test]
fn enums_reject_other_spellings() {
    for bad in [
        "\"Running\"",
        "\"RUNNING\"",
        "\"done\"",
        "\"\"",
        "1",
        "null",
    ] {
        assert!(serde_json::from_str::<RunStatus>(bad).is_err(), "{bad}");
    }
    for bad in ["\"soft_breach\"", "\"SoftBreach\"", "\"Soft-Breach\""] {
        assert!(serde_json::from_str::<PerfStatus>(bad).is_err(), "{bad}");
    }
    assert!(serde_json::from_str::<Severity>("\"Critical\"").is_err());
    assert!(serde_json::from_str::<StepStatus>("\"cancelled\"").is_err());
    // The American spelling is an accepted alias, written back British.
    let us: RunStatus = serde_json::from_str("\"canceled\"").unwrap();
    assert_eq!(serde_json::to_string(&us).unwrap(), "\"cancelled\"");
}

#[test]
fn unknown_fields_are_ignored_everywhere() {
    let line = json!({
        "run_id": "pipeline-3f2a9c1e0b7d4e6fa1b2c3d4e5f60718",
        "created_at": "2025-01-02T10:00:00.123+00:00",
        "status": "completed",
        "completed_at": "2025-01-02T10:05:00.000+00:00",
        "telemetry": [],
        "recommendations": [{"trigger": "x"}],
        "perf_tests": [],
        "some_future_field": {"nested": [1, 2]},
        "summary": {"completed_steps": 1},
        "steps": [{
            "step_id": "collect", "display_name": "Collect", "order": 1,
            "status": "completed", "log_path": "logs/collect.log", "retries": 0,
            "started_at": "2025-01-02T10:00:01+00:00",
            "ended_at": "2025-01-02T10:01:01+00:00"
        }]
    });
    let record: PipelineRunRecord = serde_json::from_value(line).unwrap();
    assert_eq!(record.status, RunStatus::Completed);
    assert_eq!(
        record.schema_version, SCHEMA_VERSION,
        "missing version reads as 1"
    );
    assert_eq!(record.steps[0].step_id, "collect");
    // Top-level unknown fields are dropped, summary extras are kept.
    let written = serde_json::to_value(&record).unwrap();
    assert!(written.get("telemetry").is_none());
    assert!(written.get("some_future_field").is_none());
    assert_eq!(written["summary"]["completed_steps"], json!(1));

    let snapshot: TelemetrySnapshot = serde_json::from_value(json!({
        "timestamp_ms": 1, "frame_idx": 120, "status": "running", "extra": null
    }))
    .unwrap();
    assert_eq!(snapshot.timestamp_ms, 1);

    let rec: PerformanceRecommendation = serde_json::from_value(json!({
        "trigger": "t", "severity": "info", "message": "m",
        "suggested_actions": ["a"], "timestamp_ms": 3, "rule_version": 7
    }))
    .unwrap();
    assert_eq!(rec.severity, Severity::Info);

    let perf: PerformanceTestResult = serde_json::from_value(json!({
        "test_id": "t", "status": "soft-breach", "repetitions": [1.0, 2.0], "host": "h"
    }))
    .unwrap();
    assert_eq!(perf.status, PerfStatus::SoftBreach);
}

#[test]
fn nulls_mean_unavailable() {
    let record: PipelineRunRecord = serde_json::from_value(json!({
        "run_id": "r", "created_at": "2025-01-01T00:00:00+00:00", "status": "running",
        "completed_at": null, "pipeline": null, "initiator": null, "host": null,
        "pid": null, "scenario_config_path": null, "enabled_steps": null,
        "artifact_dir": null, "summary": null,
        "steps": [{
            "step_id": "a", "display_name": "A", "order": 1, "status": "pending",
            "started_at": null, "ended_at": null, "duration_seconds": null,
            "eta_snapshot_seconds": null, "artifacts": null, "exit_code": null,
            "cpu_time_seconds": null, "peak_rss_mb": null
        }]
    }))
    .unwrap();
    assert_eq!(record.completed_at, None);
    assert!(record.enabled_steps.is_empty());
    assert_eq!(record.summary, RunSummary::default());
    let step = &record.steps[0];
    assert_eq!((step.started_at, step.duration_seconds), (None, None));
    assert!(step.artifacts.is_empty());
    assert_eq!(step.exit_code, None);

    let record: PipelineRunRecord = serde_json::from_str(
        r#"{"run_id":"r","created_at":"2025-01-01T00:00:00Z","status":"pending","steps":null}"#,
    )
    .unwrap();
    assert!(record.steps.is_empty());

    let snapshot: TelemetrySnapshot = serde_json::from_value(json!({
        "timestamp_ms": 7, "step_id": null, "steps_per_sec": null, "fps": null,
        "cpu_percent_process": null, "cpu_percent_system": null, "memory_rss_mb": null,
        "gpu_util_percent": null, "gpu_mem_used_mb": null, "notes": null
    }))
    .unwrap();
    assert_eq!(
        snapshot,
        TelemetrySnapshot {
            timestamp_ms: 7,
            ..TelemetrySnapshot::default()
        }
    );

    let rec: PerformanceRecommendation = serde_json::from_value(json!({
        "trigger": "t", "severity": "warning", "message": "m",
        "evidence": null, "suggested_actions": null, "timestamp_ms": null
    }))
    .unwrap();
    assert!(rec.evidence.is_empty() && rec.suggested_actions.is_empty());
    assert_eq!(rec.timestamp_ms, 0);

    let perf: PerformanceTestResult = serde_json::from_value(json!({
        "test_id": "t", "matrix": null, "throughput_baseline": null,
        "throughput_measured": null, "duration_seconds": null, "status": "passed",
        "recommendations_ref": null
    }))
    .unwrap();
    assert_eq!(perf.throughput_baseline, None);
    assert!(perf.recommendations_ref.is_empty());
}

#[test]
fn required_fields_are_required() {
    // A line missing what identifies it is not a record (readers skip it).
    for bad in [
        json!({"created_at": "2025-01-01T00:00:00Z", "status": "running"}),
        json!({"run_id": "r", "status": "running"}),
        json!({"run_id": "r", "created_at": "2025-01-01T00:00:00Z"}),
        json!({"run_id": "r", "created_at": "not a time", "status": "running"}),
    ] {
        assert!(
            serde_json::from_value::<PipelineRunRecord>(bad.clone()).is_err(),
            "{bad}"
        );
    }
    assert!(serde_json::from_value::<StepExecutionEntry>(json!({"step_id": "a"})).is_err());
    assert!(serde_json::from_value::<TelemetrySnapshot>(json!({"fps": 1.0})).is_err());
}

#[test]
fn notes_accept_list_joined_string_or_null() {
    let cases = [
        (
            json!(["gpu: nvml unavailable", "fps: not reported"]),
            vec!["gpu: nvml unavailable", "fps: not reported"],
        ),
        (
            json!("gpu: nvml unavailable, fps: not reported"),
            vec!["gpu: nvml unavailable", "fps: not reported"],
        ),
        (
            json!("gpu: nvml unavailable"),
            vec!["gpu: nvml unavailable"],
        ),
        (json!("a,b , ,c,"), vec!["a", "b", "c"]),
        (json!(""), vec![]),
        (json!([]), vec![]),
        (Value::Null, vec![]),
    ];
    for (notes, want) in cases {
        let snapshot: TelemetrySnapshot =
            serde_json::from_value(json!({"timestamp_ms": 1, "notes": notes.clone()})).unwrap();
        assert_eq!(snapshot.notes, want, "notes = {notes}");
        // Written back always as a list, which reads back the same.
        let value = serde_json::to_value(&snapshot).unwrap();
        assert!(value["notes"].is_array());
        round_trip(&snapshot);
    }
    let missing: TelemetrySnapshot = serde_json::from_value(json!({"timestamp_ms": 1})).unwrap();
    assert!(missing.notes.is_empty());
    assert!(
        serde_json::from_value::<TelemetrySnapshot>(json!({"timestamp_ms": 1, "notes": 3}))
            .is_err()
    );
}

#[test]
fn python_timestamps_read_and_write_back_as_utc() {
    let record: PipelineRunRecord = serde_json::from_str(
        r#"{"run_id": "p", "created_at": "2025-01-02T12:00:00.123+02:00", "status": "completed",
            "completed_at": "2025-01-02T10:00:05+00:00",
            "steps": [{"step_id": "a", "status": "completed",
                       "started_at": "2025-01-02T10:00:01", "ended_at": "2025-01-02 10:00:02+00:00"}]}"#,
    )
    .unwrap();
    assert_eq!(record.created_at, ts("2025-01-02T10:00:00.123Z"));
    assert!(
        record.has_naive_timestamps(),
        "the naive started_at is remembered"
    );
    let value = serde_json::to_value(&record).unwrap();
    assert_eq!(value["created_at"], "2025-01-02T10:00:00.123000+00:00");
    assert_eq!(
        value["steps"][0]["started_at"],
        "2025-01-02T10:00:01.000000+00:00"
    );
    assert_eq!(
        value["steps"][0]["ended_at"],
        "2025-01-02T10:00:02.000000+00:00"
    );
    // Written back, the offset is explicit and the record is no longer naive.
    let back: PipelineRunRecord = serde_json::from_value(value).unwrap();
    assert!(!back.has_naive_timestamps());
    assert_eq!(back, record);
}

#[test]
fn non_finite_floats_are_written_as_null() {
    // serde_json writes NaN/inf as null; that must read back as "unavailable".
    let snapshot = TelemetrySnapshot {
        timestamp_ms: 1,
        fps: Some(f64::NAN),
        steps_per_sec: Some(f64::INFINITY),
        ..TelemetrySnapshot::default()
    };
    let text = serde_json::to_string(&snapshot).unwrap();
    let back: TelemetrySnapshot = serde_json::from_str(&text).unwrap();
    assert_eq!((back.fps, back.steps_per_sec), (None, None));
}
