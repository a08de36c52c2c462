//! Every rule fires on a crafted snapshot series and stays quiet on an idle
//! or light one; the ≥ 25 % throughput drop always surfaces.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use recommend::{
    Baseline, BaselineStatus, Inputs, PerformanceRecommendation, Rule, Severity, StepHistory,
    Thresholds, recommend, summarize,
};
use serde_json::json;
use telemetry_model::{StepExecutionEntry, StepStatus, TelemetrySnapshot, Timestamp};

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;
const TOTAL_MB: f64 = 16_000.0;

/// A quiet sample: a few % of CPU, little memory, GPU mostly idle.
fn idle(step: &str, second: i64) -> TelemetrySnapshot {
    TelemetrySnapshot {
        timestamp_ms: T0 + second * 1000,
        step_id: Some(step.to_owned()),
        steps_per_sec: None,
        fps: None,
        cpu_percent_process: Some(3.0),
        cpu_percent_system: Some(6.0),
        memory_rss_mb: Some(450.0),
        memory_system_used_mb: Some(5_000.0),
        memory_system_total_mb: Some(TOTAL_MB),
        gpu_util_percent: Some(1.0),
        gpu_mem_used_mb: Some(300.0),
        notes: Vec::new(),
    }
}

/// `seconds` one-second samples of `step`, each from `idle` then `tweak`.
fn series(
    step: &str,
    seconds: i64,
    tweak: impl Fn(i64, &mut TelemetrySnapshot),
) -> Vec<TelemetrySnapshot> {
    (0..seconds)
        .map(|i| {
            let mut s = idle(step, i);
            tweak(i, &mut s);
            s
        })
        .collect()
}

fn completed(step: &str, order: u32, seconds: f64) -> StepExecutionEntry {
    let mut s = StepExecutionEntry::new(step, step, order);
    s.status = StepStatus::Completed;
    s.started_at = Some(Timestamp::from_unix_ms(T0));
    s.ended_at = Some(Timestamp::from_unix_ms(T0 + (seconds * 1000.0) as i64));
    s.duration_seconds = Some(seconds);
    s
}

fn run(snapshots: &[TelemetrySnapshot]) -> Vec<PerformanceRecommendation> {
    let recs = recommend(&Inputs::new(snapshots), &Thresholds::default());
    check_contract(&recs);
    recs
}

/// What every recommendation owes its reader.
fn check_contract(recs: &[PerformanceRecommendation]) {
    for r in recs {
        assert!(
            telemetry_model::validate_recommendation(r).is_empty(),
            "{r:?}"
        );
        assert!(!r.suggested_actions.is_empty());
        assert!(r.evidence.contains_key("threshold"), "{r:?}");
        assert!(r.evidence.contains_key("threshold_key"), "{r:?}");
        assert!(r.message.ends_with('.') && !r.message.contains('\n'));
        assert!(Rule::ALL.iter().any(|rule| rule.trigger() == r.trigger));
    }
}

fn triggers(recs: &[PerformanceRecommendation]) -> Vec<&str> {
    recs.iter().map(|r| r.trigger.as_str()).collect()
}

// ---------------------------------------------------------------- quiet runs

#[test]
fn empty_inputs_give_nothing() {
    assert_eq!(run(&[]), vec![]);
    let summary = summarize(&Inputs::default(), &Thresholds::default());
    assert_eq!(summary.steps, vec![]);
    assert_eq!(summary.overall.samples, 0);
    assert_eq!(summary.overall.sampled_seconds, None);
    assert_eq!(summary.baseline_status, BaselineStatus::NoBaseline);
}

#[test]
fn an_idle_run_gives_no_recommendation() {
    let snapshots = series("collect", 600, |_, _| {});
    let steps = [completed("collect", 1, 600.0)];
    let history = BTreeMap::from([(
        "collect".to_owned(),
        StepHistory::from_durations([590.0, 610.0, 605.0]).unwrap(),
    )]);
    let inputs = Inputs {
        steps: &steps,
        history: &history,
        ..Inputs::new(&snapshots)
    };
    assert_eq!(recommend(&inputs, &Thresholds::default()), vec![]);
}

#[test]
fn a_light_run_gives_no_recommendation() {
    // Half the machine, GPU busy, 45 % memory, throughput at 95 % of its
    // baseline, steps within 1.2x their history.
    let mut snapshots = series("train", 900, |i, s| {
        s.cpu_percent_process = Some(if i % 60 == 0 { 100.0 } else { 50.0 });
        s.gpu_util_percent = Some(70.0);
        s.memory_system_used_mb = Some(7_200.0);
        s.memory_rss_mb = Some(4_000.0);
        s.steps_per_sec = Some(950.0);
    });
    snapshots.extend(series("eval", 120, |_, s| s.timestamp_ms += 900_000));
    let steps = [completed("train", 1, 900.0), completed("eval", 2, 120.0)];
    let history = BTreeMap::from([
        (
            "train".to_owned(),
            StepHistory::from_durations([800.0, 760.0]).unwrap(),
        ),
        (
            "eval".to_owned(),
            StepHistory::from_durations([100.0, 110.0]).unwrap(),
        ),
    ]);
    let baselines = BTreeMap::from([("train".to_owned(), Baseline::steps_per_sec(1000.0))]);
    let inputs = Inputs {
        steps: &steps,
        history: &history,
        baselines: &baselines,
        ..Inputs::new(&snapshots)
    };
    assert_eq!(recommend(&inputs, &Thresholds::default()), vec![]);
    let summary = summarize(&inputs, &Thresholds::default());
    assert_eq!(summary.steps[0].baseline_status, BaselineStatus::Ok);
    assert_eq!(summary.steps[0].throughput_ratio, Some(0.95));
}

#[test]
fn missing_and_bad_values_are_skipped_without_panicking() {
    let snapshots = series("train", 120, |i, s| {
        let bad = [None, Some(f64::NAN), Some(f64::INFINITY), Some(-5.0)][(i % 4) as usize];
        s.cpu_percent_process = bad;
        s.cpu_percent_system = bad;
        s.memory_rss_mb = bad;
        s.memory_system_used_mb = bad;
        s.memory_system_total_mb = if i % 2 == 0 { Some(0.0) } else { bad };
        s.gpu_util_percent = bad;
        s.gpu_mem_used_mb = bad;
        s.steps_per_sec = bad;
        s.fps = bad;
    });
    let mut steps = vec![completed("train", 1, f64::NAN)];
    steps[0].started_at = None;
    let history = BTreeMap::from([(
        "train".to_owned(),
        StepHistory {
            median_seconds: f64::NAN,
            samples: 5,
        },
    )]);
    let baselines = BTreeMap::from([("train".to_owned(), Baseline::steps_per_sec(f64::NAN))]);
    let measured = BTreeMap::from([("train".to_owned(), f64::NAN)]);
    let inputs = Inputs {
        steps: &steps,
        history: &history,
        baselines: &baselines,
        measured_throughput: &measured,
        now_ms: None,
        snapshots: &snapshots,
    };
    assert_eq!(recommend(&inputs, &Thresholds::default()), vec![]);
    let summary = summarize(&inputs, &Thresholds::default());
    let train = &summary.steps[0];
    assert_eq!(train.resources.samples, 120);
    assert_eq!(train.resources.cpu_percent_avg, None);
    // Zero is a (useless) reading the rules refuse, kept as read here.
    assert_eq!(train.resources.memory_system_total_mb, Some(0.0));
    assert_eq!(train.duration_seconds, None);
    assert_eq!(train.history_median_seconds, None);
    assert_eq!(train.baseline_status, BaselineStatus::NoBaseline);
}

// ------------------------------------------------------------ cpu_saturation

#[test]
fn cpu_saturation_fires_on_sustained_load() {
    // 20 s idle, then 60 s at 95 % (one dip), then idle again.
    let snapshots = series("pretrain", 100, |i, s| {
        s.gpu_util_percent = Some(70.0);
        if (20..80).contains(&i) && i != 50 {
            s.cpu_percent_process = Some(95.0);
        }
    });
    let recs = run(&snapshots);
    assert_eq!(triggers(&recs), ["cpu_saturation"]);
    let r = &recs[0];
    assert_eq!(r.severity, Severity::Warning);
    assert_eq!(r.evidence["step_id"], "pretrain");
    assert_eq!(r.evidence["threshold_key"], "cpu_saturation.percent");
    assert_eq!(r.evidence["threshold"], 90.0);
    assert_eq!(r.evidence["min_duration_seconds"], 30.0);
    assert_eq!(r.evidence["sustained_seconds"], 59.0);
    assert_eq!(r.evidence["samples"], 60);
    assert_eq!(r.evidence["cpu_percent_max"], 95.0);
    assert_eq!(r.evidence["from_ms"], T0 + 20_000);
    assert_eq!(r.evidence["to_ms"], T0 + 79_000);
    assert_eq!(r.timestamp_ms, T0 + 99_000);
    assert!(
        r.message.contains("'pretrain'") && r.message.contains("59s"),
        "{}",
        r.message
    );
}

#[test]
fn a_single_cpu_spike_does_not_fire() {
    let one_spike = series("pretrain", 120, |i, s| {
        if i == 60 {
            s.cpu_percent_process = Some(100.0);
        }
    });
    assert_eq!(run(&one_spike), vec![]);
    // Spikes every 5 s for ten minutes: frequent, but never sustained.
    let spikes = series("pretrain", 600, |i, s| {
        if i % 5 == 0 {
            s.cpu_percent_process = Some(100.0);
        }
    });
    assert_eq!(run(&spikes), vec![]);
    // 20 s at full load is a burst, not saturation.
    let burst = series("pretrain", 120, |i, s| {
        if (40..60).contains(&i) {
            s.cpu_percent_process = Some(100.0);
        }
    });
    assert_eq!(run(&burst), vec![]);
}

#[test]
fn saturation_is_judged_on_time_not_sample_count() {
    // 100 saturated samples 100 ms apart: only 10 s of snapshot time.
    let fast: Vec<TelemetrySnapshot> = (0..100)
        .map(|i| TelemetrySnapshot {
            timestamp_ms: T0 + i * 100,
            cpu_percent_process: Some(99.0),
            ..idle("pretrain", 0)
        })
        .collect();
    assert_eq!(run(&fast), vec![]);
}

#[test]
fn saturation_is_judged_per_step() {
    // 20 s saturated at the end of one step and 20 s at the start of the next.
    let mut snapshots = series("a", 40, |i, s| {
        if i >= 20 {
            s.cpu_percent_process = Some(99.0);
        }
    });
    snapshots.extend(series("b", 40, |i, s| {
        s.timestamp_ms += 40_000;
        if i < 20 {
            s.cpu_percent_process = Some(99.0);
        }
    }));
    assert_eq!(run(&snapshots), vec![]);
}

#[test]
fn samples_outside_steps_are_rated_too() {
    let snapshots = series("x", 60, |_, s| {
        s.step_id = None;
        s.cpu_percent_process = Some(99.0);
        s.gpu_util_percent = None;
    });
    let recs = run(&snapshots);
    assert_eq!(triggers(&recs), ["cpu_saturation"]);
    assert!(!recs[0].evidence.contains_key("step_id"));
    assert!(recs[0].message.starts_with("The tracked processes"));
}

// ----------------------------------------------------------- memory_pressure

#[test]
fn memory_pressure_fires_on_machine_memory() {
    let snapshots = series("collect", 90, |i, s| {
        if i >= 30 {
            s.memory_system_used_mb = Some(14_720.0); // 92 %
        }
    });
    let recs = run(&snapshots);
    assert_eq!(triggers(&recs), ["memory_pressure"]);
    let r = &recs[0];
    assert_eq!(r.severity, Severity::Warning);
    assert_eq!(r.evidence["step_id"], "collect");
    assert_eq!(
        r.evidence["threshold_key"],
        "memory_pressure.system_used_percent"
    );
    assert_eq!(r.evidence["threshold"], 90.0);
    assert_eq!(r.evidence["memory_system_used_percent_max"], 92.0);
    assert_eq!(r.evidence["memory_system_used_peak_mb"], 14_720.0);
    assert_eq!(r.evidence["memory_system_total_mb"], TOTAL_MB);
    assert_eq!(r.evidence["sustained_seconds"], 59.0);
}

#[test]
fn memory_pressure_fires_on_the_trees_share() {
    let snapshots = series("collect", 90, |i, s| {
        if i >= 30 {
            s.memory_rss_mb = Some(12_800.0); // 80 % of the machine
            s.memory_system_used_mb = Some(13_600.0); // 85 %: below 90
        }
    });
    let recs = run(&snapshots);
    assert_eq!(triggers(&recs), ["memory_pressure"]);
    let r = &recs[0];
    assert_eq!(r.severity, Severity::Warning);
    assert_eq!(
        r.evidence["threshold_key"],
        "memory_pressure.tree_rss_percent"
    );
    assert_eq!(r.evidence["threshold"], 75.0);
    assert_eq!(r.evidence["memory_rss_percent_max"], 80.0);
    assert_eq!(r.evidence["memory_rss_peak_mb"], 12_800.0);
    assert!(r.message.contains("12800 of 16000 MB"), "{}", r.message);
}

#[test]
fn memory_near_exhaustion_is_critical() {
    let snapshots = series("collect", 90, |i, s| {
        if i >= 30 {
            s.memory_system_used_mb = Some(15_680.0); // 98 %
        }
    });
    let recs = run(&snapshots);
    assert_eq!(triggers(&recs), ["memory_pressure"]);
    assert_eq!(recs[0].severity, Severity::Critical);
    assert_eq!(
        recs[0].evidence["threshold_key"],
        "memory_pressure.critical_system_used_percent"
    );
    assert_eq!(recs[0].evidence["threshold"], 97.0);
}

#[test]
fn a_memory_spike_or_unknown_total_does_not_fire() {
    let spike = series("collect", 90, |i, s| {
        if i == 45 {
            s.memory_system_used_mb = Some(15_900.0);
        }
    });
    assert_eq!(run(&spike), vec![]);
    let no_total = series("collect", 90, |_, s| {
        s.memory_system_used_mb = Some(15_900.0);
        s.memory_system_total_mb = None;
    });
    assert_eq!(run(&no_total), vec![]);
}

// -------------------------------------------------------- gpu_idle_cpu_bound

fn cpu_bound_gpu_idle(i: i64, s: &mut TelemetrySnapshot) {
    s.cpu_percent_process = Some(if i % 2 == 0 { 84.0 } else { 86.0 });
    s.gpu_util_percent = Some(4.0);
    s.gpu_mem_used_mb = Some(2_100.0);
}

#[test]
fn gpu_idle_while_cpu_bound_fires() {
    let snapshots = series("finetune", 120, cpu_bound_gpu_idle);
    let recs = run(&snapshots);
    assert_eq!(triggers(&recs), ["gpu_idle_cpu_bound"]);
    let r = &recs[0];
    assert_eq!(r.severity, Severity::Warning);
    assert_eq!(r.evidence["step_id"], "finetune");
    assert_eq!(
        r.evidence["threshold_key"],
        "gpu_idle_cpu_bound.gpu_util_max_percent"
    );
    assert_eq!(r.evidence["threshold"], 10.0);
    assert_eq!(r.evidence["cpu_threshold_percent"], 80.0);
    assert_eq!(r.evidence["gpu_util_percent_mean"], 4.0);
    assert_eq!(r.evidence["cpu_percent_mean"], 85.0);
    assert_eq!(r.evidence["gpu_mem_used_peak_mb"], 2_100.0);
    assert_eq!(r.evidence["sustained_seconds"], 119.0);
    assert_eq!(r.suggested_actions.len(), 3);
}

#[test]
fn gpu_rule_is_silent_without_gpu_metrics() {
    let snapshots = series("finetune", 120, |i, s| {
        cpu_bound_gpu_idle(i, s);
        s.gpu_util_percent = None;
        s.gpu_mem_used_mb = None;
        s.notes = vec!["gpu: NVML unavailable (libnvidia-ml.so.1: not found)".into()];
    });
    assert_eq!(run(&snapshots), vec![]);
    let summary = summarize(&Inputs::new(&snapshots), &Thresholds::default());
    assert_eq!(
        summary.steps[0].resources.notes,
        ["gpu: NVML unavailable (libnvidia-ml.so.1: not found)"]
    );
    assert_eq!(summary.overall.gpu_util_percent_max, None);
}

#[test]
fn gpu_rule_is_silent_when_the_gpu_works_or_the_cpu_idles() {
    let busy_gpu = series("finetune", 120, |i, s| {
        cpu_bound_gpu_idle(i, s);
        s.gpu_util_percent = Some(60.0);
    });
    assert_eq!(run(&busy_gpu), vec![]);
    // GPU idle, CPU idle: an idle run.
    let idle_both = series("finetune", 120, |_, s| s.gpu_util_percent = Some(0.0));
    assert_eq!(run(&idle_both), vec![]);
}

// ----------------------------------------------------------------- slow_step

fn slow_step_inputs(duration: f64, history: &[f64]) -> Vec<PerformanceRecommendation> {
    let steps = [completed("export", 5, duration)];
    let history = match StepHistory::from_durations(history.iter().copied()) {
        Some(h) => BTreeMap::from([("export".to_owned(), h)]),
        None => BTreeMap::new(),
    };
    let inputs = Inputs {
        steps: &steps,
        history: &history,
        ..Inputs::default()
    };
    let recs = recommend(&inputs, &Thresholds::default());
    check_contract(&recs);
    recs
}

#[test]
fn slow_step_fires_against_its_history() {
    let recs = slow_step_inputs(200.0, &[100.0, 110.0, 90.0]);
    assert_eq!(triggers(&recs), ["slow_step"]);
    let r = &recs[0];
    assert_eq!(r.severity, Severity::Warning);
    assert_eq!(r.evidence["step_id"], "export");
    assert_eq!(r.evidence["threshold_key"], "slow_step.ratio");
    assert_eq!(r.evidence["threshold"], 1.5);
    assert_eq!(r.evidence["duration_seconds"], 200.0);
    assert_eq!(r.evidence["history_median_seconds"], 100.0);
    assert_eq!(r.evidence["history_samples"], 3);
    assert_eq!(r.evidence["ratio"], 2.0);
    assert_eq!(r.evidence["extra_seconds"], 100.0);
    // Stamped with the step's end when there are no snapshots.
    assert_eq!(r.timestamp_ms, T0 + 200_000);
    assert_eq!(
        r.message,
        "Step 'export' took 3m20s, 2.0x its median of 1m40s over 3 earlier runs."
    );
}

#[test]
fn much_slower_steps_are_critical() {
    let recs = slow_step_inputs(300.0, &[100.0, 100.0]);
    assert_eq!(recs[0].severity, Severity::Critical);
    assert_eq!(
        recs[0].evidence["threshold_key"],
        "slow_step.critical_ratio"
    );
    assert_eq!(recs[0].evidence["threshold"], 3.0);
}

#[test]
fn slow_step_needs_history() {
    assert_eq!(slow_step_inputs(500.0, &[]), vec![]);
    assert_eq!(
        slow_step_inputs(500.0, &[100.0]),
        vec![],
        "one run is not history"
    );
    assert_eq!(
        triggers(&slow_step_inputs(500.0, &[100.0, 100.0])),
        ["slow_step"]
    );
}

#[test]
fn slow_step_ignores_noise_and_unfinished_steps() {
    // 2.5x, but only 3 s longer: a tiny step's jitter.
    assert_eq!(slow_step_inputs(5.0, &[2.0, 2.0]), vec![]);
    // Exactly 1.5x and 10 s over: fires (both bounds inclusive).
    assert_eq!(
        triggers(&slow_step_inputs(30.0, &[20.0, 20.0])),
        ["slow_step"]
    );
    assert_eq!(slow_step_inputs(29.9, &[20.0, 20.0]), vec![]);
    // A failed step's duration says nothing about its speed.
    let mut failed = completed("export", 1, 500.0);
    failed.status = StepStatus::Failed;
    let history = BTreeMap::from([(
        "export".to_owned(),
        StepHistory::from_durations([100.0, 100.0]).unwrap(),
    )]);
    let steps = [failed];
    let inputs = Inputs {
        steps: &steps,
        history: &history,
        ..Inputs::default()
    };
    assert_eq!(recommend(&inputs, &Thresholds::default()), vec![]);
}

#[test]
fn slow_step_uses_timestamps_when_the_duration_is_missing() {
    let mut step = completed("export", 1, 300.0);
    step.duration_seconds = None;
    let steps = [step];
    let history = BTreeMap::from([(
        "export".to_owned(),
        StepHistory::from_durations([100.0, 100.0]).unwrap(),
    )]);
    let inputs = Inputs {
        steps: &steps,
        history: &history,
        ..Inputs::default()
    };
    let recs = recommend(&inputs, &Thresholds::default());
    assert_eq!(recs[0].evidence["duration_seconds"], 300.0);
}

// ---------------------------------------------------------------- throughput

/// Recommendations for a step measured at `measured` steps/s (mean of its
/// snapshots) against a 1000 steps/s baseline.
fn against_baseline(measured: f64, thresholds: &Thresholds) -> Vec<PerformanceRecommendation> {
    let snapshots = series("pretrain", 60, |_, s| s.steps_per_sec = Some(measured));
    let baselines = BTreeMap::from([("pretrain".to_owned(), Baseline::steps_per_sec(1000.0))]);
    let inputs = Inputs {
        baselines: &baselines,
        ..Inputs::new(&snapshots)
    };
    let recs = recommend(&inputs, thresholds);
    check_contract(&recs);
    recs
}

#[test]
fn throughput_exactly_at_the_warning_ratio_warns() {
    let recs = against_baseline(800.0, &Thresholds::default());
    assert_eq!(triggers(&recs), ["throughput_below_baseline"]);
    let r = &recs[0];
    assert_eq!(r.severity, Severity::Warning);
    assert_eq!(r.evidence["ratio"], 0.8);
    assert_eq!(r.evidence["threshold"], 0.8);
    assert_eq!(r.evidence["threshold_key"], "throughput.warning_ratio");
    // Just above the ratio: nothing.
    assert_eq!(against_baseline(800.5, &Thresholds::default()), vec![]);
}

#[test]
fn a_25_percent_drop_always_warns() {
    let recs = against_baseline(750.0, &Thresholds::default());
    assert_eq!(triggers(&recs), ["throughput_below_baseline"]);
    let r = &recs[0];
    assert_eq!(r.severity, Severity::Warning);
    assert_eq!(
        r.evidence,
        BTreeMap::from([
            ("step_id".to_owned(), json!("pretrain")),
            ("baseline".to_owned(), json!(1000.0)),
            ("measured".to_owned(), json!(750.0)),
            ("unit".to_owned(), json!("steps/s")),
            ("ratio".to_owned(), json!(0.75)),
            ("drop_percent".to_owned(), json!(25.0)),
            ("threshold".to_owned(), json!(0.8)),
            (
                "threshold_key".to_owned(),
                json!("throughput.warning_ratio")
            ),
            ("warning_ratio".to_owned(), json!(0.8)),
            ("critical_ratio".to_owned(), json!(0.6)),
            ("source".to_owned(), json!("steps_per_sec")),
            ("samples".to_owned(), json!(60)),
        ])
    );
    assert_eq!(
        r.message,
        "Step 'pretrain' ran at 0.75x its baseline throughput (750 vs 1000 steps/s, 25 % slower)."
    );

    // A user trying to silence it is refused, with the reason.
    let err = Thresholds::from_toml_str(
        "[throughput]\nwarning_ratio = 0.5\ncritical_ratio = 0.3\n",
        "rules.toml",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "rules.toml:2: `throughput.warning_ratio`: must be at least 0.75, got 0.5: \
         a throughput drop of 25 % or more must always yield a warning"
    );

    // Thresholds set in code without validation still cannot hide it.
    let mut lax = Thresholds::default();
    lax.throughput.warning_ratio = 0.5;
    lax.throughput.critical_ratio = 0.3;
    assert!(lax.validate().is_err());
    let recs = against_baseline(750.0, &lax);
    assert_eq!(recs[0].severity, Severity::Warning);
    assert_eq!(recs[0].evidence["threshold"], 0.75);
    // Worse drops too.
    for measured in [700.0, 400.0, 310.0] {
        assert_eq!(
            against_baseline(measured, &lax)[0].severity,
            Severity::Warning
        );
    }
    assert_eq!(
        against_baseline(300.0, &lax)[0].severity,
        Severity::Critical
    );
}

#[test]
fn a_50_percent_drop_is_critical() {
    let recs = against_baseline(500.0, &Thresholds::default());
    assert_eq!(triggers(&recs), ["throughput_below_baseline"]);
    let r = &recs[0];
    assert_eq!(r.severity, Severity::Critical);
    assert_eq!(r.evidence["ratio"], 0.5);
    assert_eq!(r.evidence["threshold_key"], "throughput.critical_ratio");
    assert_eq!(r.evidence["threshold"], 0.6);
    assert_eq!(r.suggested_actions.len(), 3);
}

#[test]
fn without_a_baseline_nothing_is_guessed() {
    // Throughput collapses from 1000 to 100 steps/s, but nothing to compare.
    let snapshots = series("pretrain", 120, |i, s| {
        s.steps_per_sec = Some(if i < 60 { 1000.0 } else { 100.0 });
    });
    let inputs = Inputs::new(&snapshots);
    assert_eq!(recommend(&inputs, &Thresholds::default()), vec![]);
    let summary = summarize(&inputs, &Thresholds::default());
    let step = &summary.steps[0];
    assert_eq!(step.baseline_status.as_str(), "no baseline");
    assert_eq!(step.throughput_baseline, None);
    assert_eq!(step.throughput_ratio, None);
    assert_eq!(step.throughput_measured, Some(550.0));
    assert_eq!(summary.baseline_status.to_string(), "no baseline");
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["baseline_status"], "no baseline");
    assert_eq!(json["steps"][0]["baseline_status"], "no baseline");
    assert_eq!(json["steps"][0]["throughput_baseline"], json!(null));
    // A baseline of zero is no baseline either.
    let zero = BTreeMap::from([("pretrain".to_owned(), Baseline::steps_per_sec(0.0))]);
    let inputs = Inputs {
        baselines: &zero,
        ..inputs
    };
    assert_eq!(recommend(&inputs, &Thresholds::default()), vec![]);
    assert_eq!(
        summarize(&inputs, &Thresholds::default()).steps[0].baseline_status,
        BaselineStatus::NoBaseline
    );
}

#[test]
fn a_baseline_without_a_measurement_says_so() {
    let snapshots = series("pretrain", 60, |i, s| {
        if i < 2 {
            s.steps_per_sec = Some(10.0); // fewer than min_samples
        }
    });
    let baselines = BTreeMap::from([("pretrain".to_owned(), Baseline::steps_per_sec(1000.0))]);
    let inputs = Inputs {
        baselines: &baselines,
        ..Inputs::new(&snapshots)
    };
    assert_eq!(recommend(&inputs, &Thresholds::default()), vec![]);
    let summary = summarize(&inputs, &Thresholds::default());
    assert_eq!(
        summary.steps[0].baseline_status,
        BaselineStatus::NoMeasurement
    );
    assert_eq!(summary.steps[0].throughput_baseline, Some(1000.0));
}

#[test]
fn perf_tests_hand_in_their_measurement() {
    let baselines = BTreeMap::from([("bc_pretrain_small".to_owned(), Baseline::fps(120.0))]);
    let measured = BTreeMap::from([("bc_pretrain_small".to_owned(), 84.0)]);
    let inputs = Inputs {
        baselines: &baselines,
        measured_throughput: &measured,
        now_ms: Some(T0),
        ..Inputs::default()
    };
    let recs = recommend(&inputs, &Thresholds::default());
    check_contract(&recs);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].severity, Severity::Warning);
    assert_eq!(recs[0].evidence["ratio"], 0.7);
    assert_eq!(recs[0].evidence["source"], "given");
    assert_eq!(recs[0].evidence["unit"], "fps");
    assert_eq!(recs[0].timestamp_ms, T0);
    let summary = summarize(&inputs, &Thresholds::default());
    assert_eq!(summary.steps[0].step_id, "bc_pretrain_small");
    assert_eq!(summary.steps[0].baseline_status, BaselineStatus::Warning);
    assert_eq!(summary.baseline_status, BaselineStatus::Warning);
}

#[test]
fn fps_baselines_measure_fps() {
    let snapshots = series("rollout", 30, |_, s| {
        s.fps = Some(30.0);
        s.steps_per_sec = Some(5000.0);
    });
    let baselines = BTreeMap::from([("rollout".to_owned(), Baseline::fps(60.0))]);
    let inputs = Inputs {
        baselines: &baselines,
        ..Inputs::new(&snapshots)
    };
    let recs = recommend(&inputs, &Thresholds::default());
    assert_eq!(recs[0].evidence["ratio"], 0.5);
    assert_eq!(recs[0].evidence["source"], "fps");
}

// ------------------------------------------------------------------ together

/// A run where every rule has something to say.
struct Run {
    snapshots: Vec<TelemetrySnapshot>,
    steps: Vec<StepExecutionEntry>,
    history: BTreeMap<String, StepHistory>,
    baselines: BTreeMap<String, Baseline>,
}

impl Run {
    fn inputs(&self) -> Inputs<'_> {
        Inputs {
            steps: &self.steps,
            history: &self.history,
            baselines: &self.baselines,
            ..Inputs::new(&self.snapshots)
        }
    }
}

fn busy_run() -> Run {
    let mut snapshots = series("collect", 120, |i, s| {
        s.cpu_percent_process = Some(if i == 70 { 60.0 } else { 96.0 });
        s.cpu_percent_system = Some(98.0);
        s.gpu_util_percent = None;
        s.gpu_mem_used_mb = None;
        s.notes = vec!["gpu: NVML unavailable (driver not loaded)".into()];
    });
    snapshots.extend(series("pretrain", 180, |i, s| {
        s.timestamp_ms += 120_000;
        s.steps_per_sec = Some(if i % 2 == 0 { 440.0 } else { 460.0 });
        s.memory_system_used_mb = Some(if i < 60 { 9_000.0 } else { 15_040.0 });
        s.memory_rss_mb = Some(if i < 60 { 4_000.0 } else { 10_100.0 });
        s.gpu_util_percent = Some(85.0);
        s.gpu_mem_used_mb = Some(6_000.0);
    }));
    snapshots.extend(series("finetune", 90, |i, s| {
        s.timestamp_ms += 300_000;
        cpu_bound_gpu_idle(i, s);
    }));
    let steps = vec![
        completed("collect", 1, 120.0),
        completed("pretrain", 2, 180.0),
        completed("finetune", 3, 90.0),
    ];
    let history = BTreeMap::from([
        (
            "collect".to_owned(),
            StepHistory::from_durations([50.0, 55.0, 45.0]).unwrap(),
        ),
        (
            "pretrain".to_owned(),
            StepHistory::from_durations([170.0, 190.0]).unwrap(),
        ),
    ]);
    let baselines = BTreeMap::from([
        ("pretrain".to_owned(), Baseline::steps_per_sec(1000.0)),
        ("finetune".to_owned(), Baseline::steps_per_sec(200.0)),
    ]);
    Run {
        snapshots,
        steps,
        history,
        baselines,
    }
}

#[test]
fn every_rule_fires_together_in_a_stable_order() {
    let run = busy_run();
    let inputs = run.inputs();
    let recs = recommend(&inputs, &Thresholds::default());
    check_contract(&recs);
    let order: Vec<(Severity, &str, &str)> = recs
        .iter()
        .map(|r| {
            (
                r.severity,
                r.trigger.as_str(),
                r.evidence["step_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            (Severity::Critical, "throughput_below_baseline", "pretrain"),
            (Severity::Warning, "cpu_saturation", "collect"),
            (Severity::Warning, "gpu_idle_cpu_bound", "finetune"),
            (Severity::Warning, "memory_pressure", "pretrain"),
            (Severity::Warning, "slow_step", "collect"),
        ]
    );
    // The same inputs in another order give the same output.
    let mut shuffled = run.snapshots.clone();
    shuffled.reverse();
    shuffled.rotate_left(77);
    let again = recommend(
        &Inputs {
            snapshots: &shuffled,
            ..inputs
        },
        &Thresholds::default(),
    );
    assert_eq!(again, recs);
}

#[test]
fn disabled_rules_stay_silent() {
    let run = busy_run();
    let inputs = run.inputs();
    let text = "[throughput]\nenabled = false\n[cpu_saturation]\nenabled = false\n\
                [memory_pressure]\nenabled = false\n[gpu_idle_cpu_bound]\nenabled = false\n\
                [slow_step]\nenabled = false\n";
    let off = Thresholds::from_toml_str(text, "off.toml").unwrap();
    assert_eq!(recommend(&inputs, &off), vec![]);
}

#[test]
fn recommendations_json_contract() {
    let run = busy_run();
    let inputs = Inputs {
        now_ms: Some(T0 + 400_000),
        ..run.inputs()
    };
    let recs = recommend(&inputs, &Thresholds::default());
    insta::assert_json_snapshot!("busy_run_recommendations", recs);
}

#[test]
fn summary_json_contract() {
    let run = busy_run();
    let inputs = run.inputs();
    let summary = summarize(&inputs, &Thresholds::default());
    insta::assert_json_snapshot!("busy_run_summary", summary);
    // It reads back as written.
    let text = serde_json::to_string(&summary).unwrap();
    assert_eq!(
        serde_json::from_str::<recommend::ResourceSummary>(&text).unwrap(),
        summary
    );
}
