//! Resource aggregates of a run and of each step, for `summary.json` and
//! `summary.md`.
//!
//! Field names are part of the summary's contract: they follow the
//! snapshot fields they aggregate (`cpu_percent_process` →
//! `cpu_percent_avg`/`cpu_percent_max`, `memory_rss_mb` →
//! `memory_rss_peak_mb`, …). A figure no sample measured is `null`; the
//! notes say which sensors were unavailable. The types are the model's
//! (`telemetry_model::ResourceSummary`): the run's summary carries them.

use std::collections::{BTreeSet, HashSet};

use telemetry_model::{ResourceAggregate, ResourceSummary, StepResourceSummary, TelemetrySnapshot};

use crate::inputs::Inputs;
use crate::rules::{Comparison, compare_throughput, round3};
use crate::series::{self, MeanMax};
use crate::thresholds::Thresholds;

/// Aggregates `snapshots` (any order). Means and maxima skip samples
/// where the metric is `null` (or not a finite number ≥ 0); derived
/// figures are rounded to 3 decimals.
pub fn aggregate<'s>(
    snapshots: impl IntoIterator<Item = &'s TelemetrySnapshot>,
) -> ResourceAggregate {
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
    ResourceAggregate {
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

    let steps: Vec<StepResourceSummary> = order
        .into_iter()
        .map(|id| {
            let samples = groups.get(&Some(id));
            let resources = aggregate(samples.into_iter().flatten().copied());
            let entry = inputs.steps.iter().find(|s| s.step_id == id);
            let Comparison {
                baseline,
                measured,
                ratio,
                status,
            } = compare_throughput(id, inputs, samples, &thresholds.throughput);
            StepResourceSummary {
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
        overall: aggregate(inputs.snapshots),
        baseline_status: steps
            .iter()
            .map(|s| s.baseline_status)
            .max()
            .unwrap_or_default(),
        steps,
    }
}
