//! Resource aggregates of a run and of each step, for `summary.json` and
//! `summary.md`.
//!
//! Field names are part of the summary's contract: they follow the
//! snapshot fields they aggregate (`cpu_percent_process` →
//! `cpu_percent_avg`/`cpu_percent_max`, `memory_rss_mb` →
//! `memory_rss_peak_mb`, …). A figure no sample measured is `null`; the
//! notes say which sensors were unavailable.

use std::collections::{BTreeSet, HashSet};

use serde::{Deserialize, Serialize};
use telemetry_model::TelemetrySnapshot;

use crate::baseline::BaselineStatus;
use crate::inputs::Inputs;
use crate::rules::{Comparison, compare_throughput, round3};
use crate::series::{self, MeanMax};
use crate::thresholds::Thresholds;

/// Aggregates over a set of snapshots. Means and maxima skip samples where
/// the metric is `null` (or not a finite number ≥ 0); derived figures are
/// rounded to 3 decimals.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceAggregate {
    /// Number of snapshots.
    pub samples: usize,
    /// Seconds from the first snapshot to the last; `null` without any.
    pub sampled_seconds: Option<f64>,
    /// Mean CPU of the tracked tree, % of the whole machine.
    pub cpu_percent_avg: Option<f64>,
    /// Highest CPU of the tracked tree, % of the whole machine.
    pub cpu_percent_max: Option<f64>,
    /// Mean CPU of the whole machine, %.
    pub cpu_percent_system_avg: Option<f64>,
    /// Highest CPU of the whole machine, %.
    pub cpu_percent_system_max: Option<f64>,
    /// Peak resident memory of the tracked tree, MB.
    pub memory_rss_peak_mb: Option<f64>,
    /// Peak memory in use on the machine, MB.
    pub memory_system_used_peak_mb: Option<f64>,
    /// The machine's memory, MB (largest value seen).
    pub memory_system_total_mb: Option<f64>,
    /// Mean GPU utilisation, %.
    pub gpu_util_percent_avg: Option<f64>,
    /// Highest GPU utilisation, %.
    pub gpu_util_percent_max: Option<f64>,
    /// Peak GPU memory used, MB.
    pub gpu_mem_used_peak_mb: Option<f64>,
    /// Mean reported throughput, work items per second.
    pub steps_per_sec_mean: Option<f64>,
    /// Mean reported frames per second.
    pub fps_mean: Option<f64>,
    /// Why metrics were unavailable (`gpu: no NVIDIA driver found: GPU metrics off`): the
    /// snapshots' notes, deduplicated and sorted.
    pub notes: Vec<String>,
}

impl ResourceAggregate {
    /// Aggregates `snapshots` (any order).
    pub fn from_snapshots<'s>(snapshots: impl IntoIterator<Item = &'s TelemetrySnapshot>) -> Self {
        let [
            mut cpu,
            mut cpu_sys,
            mut rss,
            mut used,
            mut total,
            mut gpu,
            mut gpu_mem,
            mut sps,
            mut fps,
        ] = [MeanMax::default(); 9];
        let mut notes = BTreeSet::new();
        let (mut samples, mut first, mut last) = (0, i64::MAX, i64::MIN);
        for s in snapshots {
            samples += 1;
            first = first.min(s.timestamp_ms);
            last = last.max(s.timestamp_ms);
            cpu.add(s.cpu_percent_process);
            cpu_sys.add(s.cpu_percent_system);
            rss.add(s.memory_rss_mb);
            used.add(s.memory_system_used_mb);
            total.add(s.memory_system_total_mb);
            gpu.add(s.gpu_util_percent);
            gpu_mem.add(s.gpu_mem_used_mb);
            sps.add(s.steps_per_sec);
            fps.add(s.fps);
            notes.extend(
                s.notes
                    .iter()
                    .map(|n| n.trim())
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned),
            );
        }
        let r = |v: Option<f64>| v.map(round3);
        Self {
            samples,
            sampled_seconds: (samples > 0).then(|| round3((last - first) as f64 / 1000.0)),
            cpu_percent_avg: r(cpu.mean()),
            cpu_percent_max: r(cpu.max()),
            cpu_percent_system_avg: r(cpu_sys.mean()),
            cpu_percent_system_max: r(cpu_sys.max()),
            memory_rss_peak_mb: r(rss.max()),
            memory_system_used_peak_mb: r(used.max()),
            memory_system_total_mb: r(total.max()),
            gpu_util_percent_avg: r(gpu.mean()),
            gpu_util_percent_max: r(gpu.max()),
            gpu_mem_used_peak_mb: r(gpu_mem.max()),
            steps_per_sec_mean: r(sps.mean()),
            fps_mean: r(fps.mean()),
            notes: notes.into_iter().collect(),
        }
    }
}

/// One step's resources, duration and throughput against its baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepResources {
    /// The step (or perf test) id.
    pub step_id: String,
    /// Wall time of the step, from the step entry.
    pub duration_seconds: Option<f64>,
    /// Median duration of the step in earlier runs, when there is history.
    pub history_median_seconds: Option<f64>,
    /// Aggregates of the step's snapshots (flattened into this object).
    #[serde(flatten)]
    pub resources: ResourceAggregate,
    /// Throughput against the baseline; `"no baseline"` without one.
    pub baseline_status: BaselineStatus,
    /// The stored baseline; `null` without one, never guessed.
    pub throughput_baseline: Option<f64>,
    /// The measured throughput (given, or the mean of the snapshots).
    pub throughput_measured: Option<f64>,
    /// Measured / baseline.
    pub throughput_ratio: Option<f64>,
    /// Unit of the baseline and measurement (`steps/s`).
    pub throughput_unit: Option<String>,
}

/// Resource aggregates of a run: the whole run and each step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceSummary {
    /// Every snapshot, including those taken outside any step.
    pub overall: ResourceAggregate,
    /// The run's steps in run order, then steps seen only in snapshots (by
    /// first sample), then keys seen only in the given measurements.
    pub steps: Vec<StepResources>,
    /// The most telling of the steps' statuses; `"no baseline"` when no
    /// step has one.
    pub baseline_status: BaselineStatus,
}

/// Aggregates `inputs` per step and for the whole run, and compares each
/// step's throughput with its baseline (with `thresholds.throughput`'s
/// ratios, as the throughput rule does).
///
/// ```
/// use recommend::{BaselineStatus, Inputs, Thresholds, summarize};
/// use telemetry_model::TelemetrySnapshot;
///
/// let snapshots: Vec<TelemetrySnapshot> = (0..3)
///     .map(|i| TelemetrySnapshot {
///         timestamp_ms: i * 1000,
///         step_id: Some("train".into()),
///         cpu_percent_process: Some(40.0 + i as f64),
///         notes: vec!["gpu: NVML unavailable (no driver)".into()],
///         ..TelemetrySnapshot::default()
///     })
///     .collect();
/// let summary = summarize(&Inputs::new(&snapshots), &Thresholds::default());
/// let train = &summary.steps[0];
/// assert_eq!((train.step_id.as_str(), train.resources.samples), ("train", 3));
/// assert_eq!(train.resources.cpu_percent_max, Some(42.0));
/// assert_eq!(train.resources.notes, ["gpu: NVML unavailable (no driver)"]);
/// assert_eq!(train.baseline_status.as_str(), "no baseline");
/// assert_eq!(summary.baseline_status, BaselineStatus::NoBaseline);
/// ```
pub fn summarize(inputs: &Inputs<'_>, thresholds: &Thresholds) -> ResourceSummary {
    let groups = series::by_step(inputs.snapshots);

    let mut order: Vec<&str> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for step in inputs.steps {
        if seen.insert(&step.step_id) {
            order.push(&step.step_id);
        }
    }
    let mut from_snapshots: Vec<(i64, &str)> = groups
        .iter()
        .filter_map(|(id, samples)| Some((samples.first()?.timestamp_ms, (*id)?)))
        .filter(|(_, id)| !seen.contains(id))
        .collect();
    from_snapshots.sort();
    for (_, id) in from_snapshots {
        seen.insert(id);
        order.push(id);
    }
    for id in inputs.measured_throughput.keys() {
        if seen.insert(id) {
            order.push(id);
        }
    }

    let steps: Vec<StepResources> = order
        .into_iter()
        .map(|id| {
            let samples = groups.get(&Some(id));
            let resources =
                ResourceAggregate::from_snapshots(samples.into_iter().flatten().copied());
            let entry = inputs.steps.iter().find(|s| s.step_id == id);
            let Comparison {
                baseline,
                measured,
                ratio,
                status,
            } = compare_throughput(id, inputs, samples, &thresholds.throughput);
            StepResources {
                step_id: id.to_owned(),
                duration_seconds: entry.and_then(|e| series::valid(e.duration_seconds)),
                history_median_seconds: inputs
                    .history
                    .get(id)
                    .and_then(|h| series::valid(Some(h.median_seconds))),
                resources,
                baseline_status: status,
                throughput_baseline: baseline.map(|b| b.value),
                throughput_measured: measured.map(|(v, _)| round3(v)),
                throughput_ratio: ratio.map(round3),
                throughput_unit: baseline.map(|b| b.unit.clone()),
            }
        })
        .collect();
    ResourceSummary {
        overall: ResourceAggregate::from_snapshots(inputs.snapshots),
        baseline_status: steps
            .iter()
            .map(|s| s.baseline_status)
            .max()
            .unwrap_or_default(),
        steps,
    }
}
