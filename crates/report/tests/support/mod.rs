//! Fixtures for the report tests: deterministic runs built in code.
#![allow(clippy::unwrap_used, dead_code, unreachable_pub)]

use std::collections::BTreeMap;

use serde_json::json;
use telemetry_model::{
    PerfStatus, PerformanceRecommendation, PerformanceTestResult, PipelineRunRecord, RunStatus,
    Severity, StepExecutionEntry, StepStatus, TelemetrySnapshot, Timestamp,
};

/// 2025-01-02T10:00:00Z.
pub const T0: i64 = 1_735_812_000_000;

/// Everything a report takes, owned.
pub struct Run {
    pub record: PipelineRunRecord,
    pub snapshots: Vec<TelemetrySnapshot>,
    pub recommendations: Vec<PerformanceRecommendation>,
    pub perf_tests: Vec<PerformanceTestResult>,
}

impl Run {
    pub fn input(&self) -> report::ReportInput<'_> {
        let mut input = report::ReportInput::new(&self.record);
        input.snapshots = &self.snapshots;
        input.recommendations = &self.recommendations;
        input.perf_tests = &self.perf_tests;
        input
    }
}

fn step(id: &str, name: &str, order: u32, start_s: f64, end_s: Option<f64>) -> StepExecutionEntry {
    let mut s = StepExecutionEntry::new(id, name, order);
    let ms = |secs: f64| Timestamp::from_unix_ms(T0 + (secs * 1000.0) as i64);
    s.started_at = Some(ms(start_s));
    s.eta_snapshot_seconds = Some(300.0 - start_s);
    match end_s {
        Some(end) => {
            s.status = StepStatus::Completed;
            s.ended_at = Some(ms(end));
            s.duration_seconds = Some(end - start_s);
            s.exit_code = Some(0);
        }
        None => s.status = StepStatus::Running,
    }
    s
}

/// A finished run of five steps over about four minutes, sampled every
/// 2 s: a failed step that the pipeline continued past, a skipped step,
/// GPU figures only while training, throughput from two steps, a gap in
/// the samples, three recommendations and two perf tests.
pub fn demo_run() -> Run {
    let mut record = PipelineRunRecord::new("01947a3c-5e00-7d3a-9f2e-3b4c5d6e7f80");
    record.pipeline = Some("imitation-demo".into());
    record.created_at = Timestamp::from_unix_ms(T0);
    record.completed_at = Some(Timestamp::from_unix_ms(T0 + 236_400));
    record.status = RunStatus::Completed;
    record.initiator = Some("tracker run examples/imitation-demo/pipeline.toml".into());
    record.host = Some("lab-01".into());
    record.pid = Some(4242);
    record.scenario_config_path = Some("configs/scenarios/minimal.toml".into());
    record.artifact_dir = Some("output/run-tracker/01947a3c-5e00-7d3a-9f2e-3b4c5d6e7f80".into());
    record.summary.total_duration = Some(236.4);

    let mut collect = step(
        "collect_expert",
        "Collect expert trajectories",
        1,
        0.3,
        Some(52.8),
    );
    collect.cpu_time_seconds = Some(49.6);
    collect.peak_rss_mb = Some(412.3);
    collect.artifacts = vec!["data/expert trajectories.json".into()];
    let mut pretrain = step(
        "pretrain_bc",
        "Pre-train by behaviour cloning",
        2,
        53.0,
        Some(141.5),
    );
    pretrain.cpu_time_seconds = Some(171.2);
    pretrain.peak_rss_mb = Some(1_536.0);
    pretrain.artifacts = vec!["models/bc_policy.pt".into(), "models/bc_curve.csv".into()];
    let mut finetune = step("finetune_rl", "Fine-tune with RL", 3, 141.7, Some(214.0));
    finetune.cpu_time_seconds = Some(70.1);
    finetune.peak_rss_mb = Some(980.4);
    finetune.artifacts = vec!["models/finetuned.pt".into()];
    let mut evaluate = step("evaluate", "Evaluate", 4, 214.2, Some(236.1));
    evaluate.status = StepStatus::Failed;
    evaluate.exit_code = Some(2);
    evaluate.cpu_time_seconds = Some(20.5);
    evaluate.peak_rss_mb = Some(300.0);
    let mut export = StepExecutionEntry::new("export", "Export the policy", 5);
    export.status = StepStatus::Skipped;
    record.steps = vec![collect, pretrain, finetune, evaluate, export];
    record.enabled_steps = record.steps[..4]
        .iter()
        .map(|s| s.step_id.clone())
        .collect();

    let mut snapshots = Vec::new();
    let mut t = 1.0;
    while t < 236.0 {
        // No samples for 12 s in the middle of fine-tuning (a stalled sampler).
        if (170.0..182.0).contains(&t) {
            t += 2.0;
            continue;
        }
        // A wobble in [-1, 1] from integer arithmetic only (no libm), so the
        // snapshot is the same on every platform.
        let i = t as i64;
        let triangle = ((i % 40) - 20).abs() as f64 / 10.0 - 1.0;
        let noise = ((i * 7919) % 13) as f64 / 13.0 - 0.5;
        let wave = (0.7 * triangle + 0.6 * noise).clamp(-1.0, 1.0);
        let (step_id, cpu, rss, sps, gpu) = if t < 52.8 {
            (
                "collect_expert",
                38.0 + 6.0 * wave,
                180.0 + 4.3 * t,
                Some(1_850.0 + 140.0 * wave),
                None,
            )
        } else if t < 141.5 {
            let x = t - 53.0;
            (
                "pretrain_bc",
                92.0 + 5.0 * wave,
                620.0 + 10.0 * x,
                Some(46_000.0 + 3_000.0 * wave),
                Some((31.0 + 12.0 * wave, 1_210.0 + 2.0 * x)),
            )
        } else if t < 214.0 {
            (
                "finetune_rl",
                61.0 + 14.0 * wave,
                900.0 + 20.0 * wave,
                None,
                Some((12.0 + 6.0 * wave, 1_402.0)),
            )
        } else {
            (
                "evaluate",
                24.0 + 4.0 * wave,
                280.0 + wave * 10.0,
                None,
                None,
            )
        };
        let gpu_missing = gpu.is_none();
        snapshots.push(TelemetrySnapshot {
            timestamp_ms: T0 + (t * 1000.0) as i64,
            step_id: Some(step_id.into()),
            steps_per_sec: sps,
            fps: (step_id == "finetune_rl").then_some(58.0 + 3.0 * wave),
            cpu_percent_process: Some(cpu),
            cpu_percent_system: Some((cpu + 9.0 + 3.0 * wave).min(100.0)),
            memory_rss_mb: Some(rss),
            memory_system_used_mb: Some(5_200.0 + rss),
            memory_system_total_mb: Some(15_890.0),
            gpu_util_percent: gpu.map(|g| g.0),
            gpu_mem_used_mb: gpu.map(|g| g.1),
            notes: if gpu_missing {
                vec!["gpu: no process of the tree uses a GPU".into()]
            } else {
                vec![]
            },
        });
        t += 2.0;
    }

    let evidence = |pairs: &[(&str, serde_json::Value)]| -> BTreeMap<String, serde_json::Value> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    };
    let recommendations = vec![
        PerformanceRecommendation {
            trigger: "cpu_saturation".into(),
            severity: Severity::Warning,
            message: "The tree held 92 % of the CPU for 88 s during Pre-train by behaviour cloning"
                .into(),
            evidence: evidence(&[
                ("cpu_percent_avg", json!(92.04)),
                ("seconds", json!(88)),
                ("step_id", json!("pretrain_bc")),
                ("threshold", json!(90.0)),
                ("threshold_key", json!("cpu_saturation.percent")),
            ]),
            suggested_actions: vec![
                "Use more workers or a larger machine".into(),
                "Pin BLAS threads with OMP_NUM_THREADS to avoid oversubscription".into(),
            ],
            timestamp_ms: T0 + 236_300,
        },
        PerformanceRecommendation {
            trigger: "slow_step".into(),
            severity: Severity::Critical,
            message: "Fine-tune with RL took 72.3 s, 3.4× its median of 21.2 s over 5 earlier runs"
                .into(),
            evidence: evidence(&[
                ("duration_seconds", json!(72.3)),
                ("history_median_seconds", json!(21.2)),
                ("ratio", json!(3.41)),
                ("threshold", json!(3.0)),
            ]),
            suggested_actions: vec!["Compare its log with an earlier run's".into()],
            timestamp_ms: T0 + 236_300,
        },
        PerformanceRecommendation {
            trigger: "gpu_idle_cpu_bound".into(),
            severity: Severity::Info,
            message: "GPU 31 % busy while the CPU was saturated".into(),
            evidence: evidence(&[
                ("gpu_util_percent_avg", json!(31.0)),
                ("samples", json!(44)),
            ]),
            suggested_actions: vec!["Move data preparation off the training loop".into()],
            timestamp_ms: 0,
        },
    ];
    let perf_tests = vec![
        PerformanceTestResult {
            test_id: "bc_epoch".into(),
            matrix: Some("quick".into()),
            throughput_baseline: Some(48_000.0),
            throughput_measured: Some(46_120.5),
            duration_seconds: Some(12.4),
            status: PerfStatus::Passed,
            recommendations_ref: vec![],
        },
        PerformanceTestResult {
            test_id: "rollout".into(),
            matrix: Some("quick".into()),
            throughput_baseline: Some(1_900.0),
            throughput_measured: Some(1_402.0),
            duration_seconds: Some(8.0),
            status: PerfStatus::Failed,
            recommendations_ref: vec![0],
        },
        PerformanceTestResult {
            test_id: "export".into(),
            matrix: None,
            throughput_baseline: None,
            throughput_measured: Some(3.5),
            duration_seconds: Some(1.1),
            status: PerfStatus::Passed,
            recommendations_ref: vec![],
        },
    ];
    Run {
        record,
        snapshots,
        recommendations,
        perf_tests,
    }
}
