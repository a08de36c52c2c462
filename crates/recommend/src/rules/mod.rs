//! The rules, and the one entry point that runs them all.

mod cpu;
mod gpu;
mod memory;
mod slow_step;
mod throughput;

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;
use telemetry_model::{PerformanceRecommendation, Severity};

use crate::inputs::Inputs;
use crate::series::{self, Stretch};
use crate::thresholds::Thresholds;

pub(crate) use throughput::{Comparison, compare_throughput};

/// The rules, one per `trigger` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Rule {
    /// `throughput_below_baseline`: measured / baseline at or below the
    /// warning (or critical) ratio.
    ThroughputBelowBaseline,
    /// `cpu_saturation`: the tracked tree near 100 % of the machine, sustained.
    CpuSaturation,
    /// `memory_pressure`: machine or tree memory near the machine's total,
    /// sustained.
    MemoryPressure,
    /// `gpu_idle_cpu_bound`: GPU idle while the tree is CPU-bound, sustained.
    GpuIdleCpuBound,
    /// `slow_step`: a completed step much slower than its history median.
    SlowStep,
}

impl Rule {
    /// Every rule.
    pub const ALL: &'static [Rule] = &[
        Rule::ThroughputBelowBaseline,
        Rule::CpuSaturation,
        Rule::MemoryPressure,
        Rule::GpuIdleCpuBound,
        Rule::SlowStep,
    ];

    /// The `trigger` of its recommendations, also its thresholds table
    /// (except `throughput_below_baseline`, configured in `[throughput]`).
    pub fn trigger(self) -> &'static str {
        match self {
            Self::ThroughputBelowBaseline => "throughput_below_baseline",
            Self::CpuSaturation => "cpu_saturation",
            Self::MemoryPressure => "memory_pressure",
            Self::GpuIdleCpuBound => "gpu_idle_cpu_bound",
            Self::SlowStep => "slow_step",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.trigger())
    }
}

/// Runs every enabled rule over `inputs` and returns the recommendations,
/// most severe first, then by trigger, then by step id.
///
/// Never fails and never panics: missing and non-finite values are
/// skipped, and empty inputs give no recommendation. Call
/// [`Thresholds::validate`] on thresholds built in code; whatever they say,
/// a throughput drop of 25 % or more still yields at least a warning.
pub fn recommend(inputs: &Inputs<'_>, thresholds: &Thresholds) -> Vec<PerformanceRecommendation> {
    let at = stamp(inputs);
    let groups = series::by_step(inputs.snapshots);
    let mut out = Vec::new();
    if thresholds.throughput.enabled {
        throughput::check(inputs, &groups, &thresholds.throughput, at, &mut out);
    }
    for (step, samples) in &groups {
        if thresholds.cpu_saturation.enabled {
            cpu::check(*step, samples, &thresholds.cpu_saturation, at, &mut out);
        }
        if thresholds.memory_pressure.enabled {
            memory::check(*step, samples, &thresholds.memory_pressure, at, &mut out);
        }
        if thresholds.gpu_idle_cpu_bound.enabled {
            gpu::check(*step, samples, &thresholds.gpu_idle_cpu_bound, at, &mut out);
        }
    }
    if thresholds.slow_step.enabled {
        slow_step::check(inputs, &thresholds.slow_step, at, &mut out);
    }
    out.sort_by(|a, b| {
        let step = |r: &PerformanceRecommendation| {
            r.evidence
                .get("step_id")
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        (Reverse(a.severity), &a.trigger, step(a), &a.message).cmp(&(
            Reverse(b.severity),
            &b.trigger,
            step(b),
            &b.message,
        ))
    });
    out
}

/// The time recommendations carry: given, else the last snapshot, else the
/// last step end, else 0.
fn stamp(inputs: &Inputs<'_>) -> i64 {
    inputs
        .now_ms
        .or_else(|| inputs.snapshots.iter().map(|s| s.timestamp_ms).max())
        .or_else(|| {
            inputs
                .steps
                .iter()
                .filter_map(|s| s.ended_at.map(|t| t.unix_ms()))
                .max()
        })
        .unwrap_or(0)
}

/// The evidence of one recommendation, built key by key. Derived numbers
/// are rounded to 3 decimals so the JSON stays readable and stable.
#[derive(Default)]
pub(crate) struct Evidence(BTreeMap<String, Value>);

impl Evidence {
    pub(crate) fn new(step: Option<&str>) -> Self {
        let mut e = Self::default();
        if let Some(step) = step {
            e.0.insert("step_id".into(), Value::from(step));
        }
        e
    }

    pub(crate) fn num(mut self, key: &str, value: f64) -> Self {
        self.0.insert(key.into(), Value::from(round3(value)));
        self
    }

    pub(crate) fn opt(self, key: &str, value: Option<f64>) -> Self {
        match value {
            Some(v) => self.num(key, v),
            None => self,
        }
    }

    pub(crate) fn count(mut self, key: &str, value: usize) -> Self {
        self.0.insert(key.into(), Value::from(value));
        self
    }

    pub(crate) fn int(mut self, key: &str, value: i64) -> Self {
        self.0.insert(key.into(), Value::from(value));
        self
    }

    pub(crate) fn text(mut self, key: &str, value: &str) -> Self {
        self.0.insert(key.into(), Value::from(value));
        self
    }

    /// The threshold that fired: its value and its key in the rules file.
    pub(crate) fn threshold(self, key: &str, value: f64) -> Self {
        self.text("threshold_key", key).num("threshold", value)
    }

    /// Where a sustained condition held: seconds, samples, share, span.
    pub(crate) fn stretch(self, stretch: &Stretch, times: &[i64], met: usize) -> Self {
        let samples = stretch.indices().count();
        let first = stretch.ranges.first().map_or(0, |r| times[r.0]);
        let last = stretch.ranges.last().map_or(0, |r| times[r.1]);
        self.num("sustained_seconds", stretch.seconds(times))
            .count("samples", samples)
            .num("fraction_met", met as f64 / samples.max(1) as f64)
            .int("from_ms", first)
            .int("to_ms", last)
    }
}

pub(crate) fn round3(v: f64) -> f64 {
    if v.is_finite() {
        (v * 1000.0).round() / 1000.0
    } else {
        v
    }
}

/// A number for a sentence: `1234`, `93.3`, `0.71`.
pub(crate) fn show(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// "Step 'train'" or, for samples outside any step, "The tracked processes".
pub(crate) fn subject(step: Option<&str>) -> String {
    match step {
        Some(step) => format!("Step '{step}'"),
        None => "The tracked processes".to_owned(),
    }
}

/// "step 'train'" or "the pipeline", inside an action.
pub(crate) fn object(step: Option<&str>) -> String {
    match step {
        Some(step) => format!("step '{step}'"),
        None => "the pipeline".to_owned(),
    }
}

/// The text with its first letter in upper case.
pub(crate) fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub(crate) fn recommendation(
    rule: Rule,
    severity: Severity,
    message: String,
    evidence: Evidence,
    actions: Vec<String>,
    timestamp_ms: i64,
) -> PerformanceRecommendation {
    PerformanceRecommendation {
        trigger: rule.trigger().to_owned(),
        severity,
        message,
        evidence: evidence.0,
        suggested_actions: actions,
        timestamp_ms,
    }
}
