//! `gpu_idle_cpu_bound`: the GPU idles while the tree keeps the CPU busy.

use telemetry_model::{PerformanceRecommendation, Severity, TelemetrySnapshot, format_duration};

use super::{Evidence, Rule, capitalised, object, recommendation, subject};
use crate::series::{MeanMax, sustained, valid};
use crate::thresholds::GpuIdleThresholds;

pub(super) fn check(
    step: Option<&str>,
    samples: &[&TelemetrySnapshot],
    t: &GpuIdleThresholds,
    at: i64,
    out: &mut Vec<PerformanceRecommendation>,
) {
    // Only samples with both GPU utilisation and the tree's CPU: without
    // GPU metrics (no NVML, no GPU) the rule has nothing to say.
    let known: Vec<(&TelemetrySnapshot, f64, f64)> = samples
        .iter()
        .filter_map(|s| {
            Some((
                *s,
                valid(s.gpu_util_percent)?,
                valid(s.cpu_percent_process)?,
            ))
        })
        .collect();
    let times: Vec<i64> = known.iter().map(|k| k.0.timestamp_ms).collect();
    let hits: Vec<bool> = known
        .iter()
        .map(|&(_, gpu, cpu)| gpu <= t.gpu_util_max_percent && cpu >= t.cpu_percent)
        .collect();
    let Some(stretch) = sustained(&times, &hits, t.min_duration_seconds, t.min_fraction) else {
        return;
    };
    let [mut gpu, mut cpu, mut gpu_mem] = [MeanMax::default(); 3];
    let mut met = 0;
    for i in stretch.indices() {
        let (s, g, c) = known[i];
        gpu.add(Some(g));
        cpu.add(Some(c));
        gpu_mem.add(s.gpu_mem_used_mb);
        met += usize::from(hits[i]);
    }
    let evidence = Evidence::new(step)
        .threshold(
            "gpu_idle_cpu_bound.gpu_util_max_percent",
            t.gpu_util_max_percent,
        )
        .num("cpu_threshold_percent", t.cpu_percent)
        .num("min_duration_seconds", t.min_duration_seconds)
        .num("min_fraction", t.min_fraction)
        .stretch(&stretch, &times, met)
        .opt("gpu_util_percent_mean", gpu.mean())
        .opt("gpu_util_percent_max", gpu.max())
        .opt("cpu_percent_mean", cpu.mean())
        .opt("gpu_mem_used_peak_mb", gpu_mem.max());
    let message = format!(
        "{} left the GPU idle (mean {:.0} % utilisation) for {} while its processes kept the \
         CPU at {:.0} % of the machine.",
        subject(step),
        gpu.mean().unwrap_or(0.0),
        format_duration(stretch.seconds(&times)),
        cpu.mean().unwrap_or(t.cpu_percent),
    );
    let what = object(step);
    let actions = vec![
        format!(
            "Feed the GPU faster in {what}: more data-loader workers, pinned memory and \
             prefetching, or vectorised environments for rollouts."
        ),
        "Move CPU-side preprocessing (augmentation, observation normalisation) onto the GPU, \
         or batch more work into each GPU call."
            .to_owned(),
        format!(
            "{} does not need the GPU, run it on a CPU-only machine and keep the GPU for the \
             steps that use it.",
            capitalised(&format!("if {what}"))
        ),
    ];
    out.push(recommendation(
        Rule::GpuIdleCpuBound,
        Severity::Warning,
        message,
        evidence,
        actions,
        at,
    ));
}
