//! `cpu_saturation`: the tracked tree uses nearly the whole machine, for a
//! while.

use telemetry_model::{PerformanceRecommendation, Severity, TelemetrySnapshot};

use super::{Evidence, Rule, capitalised, object, recommendation, subject};
use crate::series::{MeanMax, sustained, valid};
use crate::thresholds::CpuSaturationThresholds;

pub(super) fn check(
    step: Option<&str>,
    samples: &[&TelemetrySnapshot],
    t: &CpuSaturationThresholds,
    at: i64,
    out: &mut Vec<PerformanceRecommendation>,
) {
    // Only samples where the tree's CPU was measured.
    let known: Vec<(i64, f64)> = samples
        .iter()
        .filter_map(|s| Some((s.timestamp_ms, valid(s.cpu_percent_process)?)))
        .collect();
    let times: Vec<i64> = known.iter().map(|k| k.0).collect();
    let hits: Vec<bool> = known.iter().map(|k| k.1 >= t.percent).collect();
    let Some(stretch) = sustained(&times, &hits, t.min_duration_seconds, t.min_fraction) else {
        return;
    };
    let mut cpu = MeanMax::default();
    let mut met = 0;
    for i in stretch.indices() {
        cpu.add(Some(known[i].1));
        met += usize::from(hits[i]);
    }
    let seconds = stretch.seconds(&times);
    let evidence = Evidence::new(step)
        .threshold("cpu_saturation.percent", t.percent)
        .num("min_duration_seconds", t.min_duration_seconds)
        .num("min_fraction", t.min_fraction)
        .stretch(&stretch, &times, met)
        .opt("cpu_percent_mean", cpu.mean())
        .opt("cpu_percent_max", cpu.max());
    let message = format!(
        "{} kept the CPU at or above {:.0} % of the machine for {} (mean {:.0} %).",
        subject(step),
        t.percent,
        telemetry_model::format_duration(seconds),
        cpu.mean().unwrap_or(t.percent),
    );
    let what = object(step);
    let actions = vec![
        format!(
            "{} is CPU-bound: give it more cores (a larger machine), or move work off the \
             CPU, e.g. vectorised or GPU-side environments and data loading.",
            capitalised(&what)
        ),
        "Check for oversubscription: keep workers × threads per worker at or below the \
         core count (OMP_NUM_THREADS, MKL_NUM_THREADS, torch.set_num_threads)."
            .to_owned(),
    ];
    out.push(recommendation(
        Rule::CpuSaturation,
        Severity::Warning,
        message,
        evidence,
        actions,
        at,
    ));
}
