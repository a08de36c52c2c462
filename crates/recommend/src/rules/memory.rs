//! `memory_pressure`: the machine's memory, or the tree's share of it, near
//! the total, for a while.

use telemetry_model::{PerformanceRecommendation, Severity, TelemetrySnapshot, format_duration};

use super::{Evidence, Rule, object, recommendation, show, subject};
use crate::series::{MeanMax, sustained, valid};
use crate::thresholds::MemoryPressureThresholds;

/// One sample with the machine's total known.
struct Sample {
    t: i64,
    /// Machine memory in use, % of total.
    system: Option<f64>,
    /// Tree resident memory, % of the machine's total.
    tree: Option<f64>,
    used_mb: Option<f64>,
    rss_mb: Option<f64>,
    total_mb: f64,
}

pub(super) fn check(
    step: Option<&str>,
    samples: &[&TelemetrySnapshot],
    t: &MemoryPressureThresholds,
    at: i64,
    out: &mut Vec<PerformanceRecommendation>,
) {
    let known: Vec<Sample> = samples
        .iter()
        .filter_map(|s| {
            let total_mb = valid(s.memory_system_total_mb).filter(|v| *v > 0.0)?;
            let used_mb = valid(s.memory_system_used_mb);
            let rss_mb = valid(s.memory_rss_mb);
            (used_mb.is_some() || rss_mb.is_some()).then(|| Sample {
                t: s.timestamp_ms,
                system: used_mb.map(|u| u / total_mb * 100.0),
                tree: rss_mb.map(|r| r / total_mb * 100.0),
                used_mb,
                rss_mb,
                total_mb,
            })
        })
        .collect();
    let times: Vec<i64> = known.iter().map(|s| s.t).collect();
    let over = |v: Option<f64>, limit: f64| v.is_some_and(|v| v >= limit);

    let critical: Vec<bool> = known
        .iter()
        .map(|s| over(s.system, t.critical_system_used_percent))
        .collect();
    let system_hits: Vec<bool> = known
        .iter()
        .map(|s| over(s.system, t.system_used_percent))
        .collect();
    let tree_hits: Vec<bool> = known
        .iter()
        .map(|s| over(s.tree, t.tree_rss_percent))
        .collect();
    let any: Vec<bool> = system_hits
        .iter()
        .zip(&tree_hits)
        .map(|(a, b)| *a || *b)
        .collect();

    let (severity, stretch, hits) =
        if let Some(s) = sustained(&times, &critical, t.min_duration_seconds, t.min_fraction) {
            (Severity::Critical, s, &critical)
        } else if let Some(s) = sustained(&times, &any, t.min_duration_seconds, t.min_fraction) {
            (Severity::Warning, s, &any)
        } else {
            return;
        };

    let [mut system, mut tree, mut used, mut rss, mut total] = [MeanMax::default(); 5];
    let (mut met, mut by_system, mut by_tree) = (0, 0, 0);
    for i in stretch.indices() {
        let s = &known[i];
        system.add(s.system);
        tree.add(s.tree);
        used.add(s.used_mb);
        rss.add(s.rss_mb);
        total.add(Some(s.total_mb));
        met += usize::from(hits[i]);
        by_system += usize::from(system_hits[i]);
        by_tree += usize::from(tree_hits[i]);
    }
    let seconds = format_duration(stretch.seconds(&times));
    let total_mb = total.max().unwrap_or(0.0);
    let tree_fired = severity == Severity::Warning && by_tree > by_system;

    let (threshold_key, threshold) = match (severity, tree_fired) {
        (Severity::Critical, _) => (
            "memory_pressure.critical_system_used_percent",
            t.critical_system_used_percent,
        ),
        (_, true) => ("memory_pressure.tree_rss_percent", t.tree_rss_percent),
        (_, false) => ("memory_pressure.system_used_percent", t.system_used_percent),
    };
    let evidence = Evidence::new(step)
        .threshold(threshold_key, threshold)
        .num("min_duration_seconds", t.min_duration_seconds)
        .num("min_fraction", t.min_fraction)
        .stretch(&stretch, &times, met)
        .opt("memory_system_used_percent_mean", system.mean())
        .opt("memory_system_used_percent_max", system.max())
        .opt("memory_rss_percent_max", tree.max())
        .opt("memory_system_used_peak_mb", used.max())
        .opt("memory_rss_peak_mb", rss.max())
        .num("memory_system_total_mb", total_mb);

    let during = match step {
        Some(step) => format!(" during step '{step}'"),
        None => String::new(),
    };
    let message = if tree_fired {
        format!(
            "{} held at or above {:.0} % of the machine's memory for {seconds} (peak {} of {} MB).",
            subject(step),
            t.tree_rss_percent,
            show(rss.max().unwrap_or(0.0)),
            show(total_mb),
        )
    } else {
        let risk = if severity == Severity::Critical {
            "; the run risks being killed for lack of memory"
        } else {
            ""
        };
        format!(
            "Machine memory stayed at or above {:.0} % in use{during} for {seconds} (peak {} of \
             {} MB){risk}.",
            threshold,
            show(used.max().unwrap_or(0.0)),
            show(total_mb),
        )
    };
    let what = object(step);
    let actions = vec![
        format!(
            "Reduce the memory of {what}: a smaller batch or replay buffer, fewer parallel \
             workers, or streaming data instead of loading it whole."
        ),
        "Run on a machine with more memory, or stop other memory-heavy processes on this host."
            .to_owned(),
    ];
    out.push(recommendation(
        Rule::MemoryPressure,
        severity,
        message,
        evidence,
        actions,
        at,
    ));
}
