//! The rules' thresholds: defaults, validation, and reading them from TOML.

use serde::{Deserialize, Serialize};

use crate::error::RulesError;

/// The lowest `throughput.warning_ratio` allowed.
///
/// A throughput drop of 25 % or more (measured / baseline ≤ 0.75) always
/// yields at least a warning (docs/telemetry.md); a warning ratio below this would let
/// such a drop pass, so it is refused, and the rule itself never warns later
/// than this ratio even when handed unvalidated thresholds.
pub const GUARANTEED_WARNING_RATIO: f64 = 0.75;

/// The label [`Thresholds::validate`] uses for thresholds set in code.
pub const CODE_SOURCE: &str = "<thresholds>";

/// The default thresholds as a TOML rules file, with a comment per key.
///
/// Parsing it gives exactly [`Thresholds::default()`]; copy it as the
/// starting point of a rules file (`tracker run --rules FILE`) or of a
/// pipeline file's `[rules]` table. A file only needs the keys it changes.
pub const DEFAULT_RULES_TOML: &str = r#"# Run tracker recommendation rules: the defaults.
# Every key is optional; a missing key keeps its default.

[throughput]
# Throughput of a step (or perf test) against its stored baseline,
# as measured / baseline.
enabled = true
# Warn at or below this ratio. Never below 0.75: a drop of 25 % or more
# always yields at least a warning.
warning_ratio = 0.8
# Critical at or below this ratio (≤ warning_ratio).
critical_ratio = 0.6
# Snapshots with steps_per_sec (or fps) a step needs before its mean counts
# as a measurement.
min_samples = 3

[cpu_saturation]
# The tracked process tree uses nearly the whole machine, for a while.
enabled = true
# CPU of the tree, % of the whole machine (all cores), at or above which a
# sample counts as saturated.
percent = 90.0
# Length of the window over which saturation must hold.
min_duration_seconds = 30.0
# Share of the window's samples that must be saturated.
min_fraction = 0.8

[memory_pressure]
# Memory of the machine, or of the tree, close to running out, for a while.
enabled = true
# Machine memory in use, % of total, at or above which a sample counts.
system_used_percent = 90.0
# Resident memory of the tree, % of the machine's total, at or above which
# a sample counts.
tree_rss_percent = 75.0
# Machine memory in use, % of total, that makes it critical (same window).
critical_system_used_percent = 97.0
min_duration_seconds = 30.0
min_fraction = 0.8

[gpu_idle_cpu_bound]
# The GPU idles while the tree keeps the CPU busy. Silent without GPU
# metrics.
enabled = true
# GPU utilisation, %, at or below which the GPU counts as idle.
gpu_util_max_percent = 10.0
# CPU of the tree, % of the whole machine, at or above which it counts as
# CPU-bound.
cpu_percent = 80.0
min_duration_seconds = 30.0
min_fraction = 0.8

[slow_step]
# A completed step against the median duration of the same step in earlier
# runs.
enabled = true
# Warn at or above this multiple of the history median.
ratio = 1.5
# Critical at or above this multiple (≥ ratio).
critical_ratio = 3.0
# The step must also be at least this many seconds slower, so tiny steps do
# not raise noise.
min_extra_seconds = 10.0
# Earlier runs the median must come from.
min_history = 2
"#;

/// Thresholds of every rule, one table per rule.
///
/// Build with [`Thresholds::default()`] (the values in
/// [`DEFAULT_RULES_TOML`]), or read TOML with [`Thresholds::from_toml_str`],
/// [`Thresholds::overlay_toml_str`] or [`Thresholds::overlay_toml_table`].
/// Values set in code are checked by [`Thresholds::validate`]; the rules
/// never panic on bad values (a threshold that is NaN simply never fires).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// `[throughput]`: throughput below baseline.
    pub throughput: ThroughputThresholds,
    /// `[cpu_saturation]`: sustained CPU saturation of the tracked tree.
    pub cpu_saturation: CpuSaturationThresholds,
    /// `[memory_pressure]`: memory close to running out.
    pub memory_pressure: MemoryPressureThresholds,
    /// `[gpu_idle_cpu_bound]`: GPU idle while the tree is CPU-bound.
    pub gpu_idle_cpu_bound: GpuIdleThresholds,
    /// `[slow_step]`: a step much slower than its own history.
    pub slow_step: SlowStepThresholds,
}

/// `[throughput]`: a step's (or perf test's) throughput against its baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThroughputThresholds {
    /// Whether the rule runs. Default `true`.
    pub enabled: bool,
    /// Warning when measured / baseline ≤ this. Default 0.80; at least
    /// [`GUARANTEED_WARNING_RATIO`] (0.75), at most 1.
    pub warning_ratio: f64,
    /// Critical when measured / baseline ≤ this. Default 0.60; in
    /// (0, `warning_ratio`].
    pub critical_ratio: f64,
    /// Snapshots with a throughput value a step needs before their mean
    /// counts as its measurement. Default 3; at least 1. Throughput handed
    /// in directly ([`Inputs::measured_throughput`](crate::Inputs)) needs none.
    pub min_samples: usize,
}

impl Default for ThroughputThresholds {
    fn default() -> Self {
        Self {
            enabled: true,
            warning_ratio: 0.8,
            critical_ratio: 0.6,
            min_samples: 3,
        }
    }
}

/// `[cpu_saturation]`: the tracked tree uses nearly the whole machine for a
/// while, not in a single spike. (One busy thread on a 32-core machine is
/// about 3 %: that is not saturation of the machine.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CpuSaturationThresholds {
    /// Whether the rule runs. Default `true`.
    pub enabled: bool,
    /// A sample is saturated when `cpu_percent_process` (% of the whole
    /// machine) is ≥ this. Default 90; in (0, 100].
    pub percent: f64,
    /// Window length, seconds of snapshot time. Default 30; > 0.
    pub min_duration_seconds: f64,
    /// Share of the window's samples that must be saturated. Default 0.8;
    /// in (0, 1].
    pub min_fraction: f64,
}

impl Default for CpuSaturationThresholds {
    fn default() -> Self {
        Self {
            enabled: true,
            percent: 90.0,
            min_duration_seconds: 30.0,
            min_fraction: 0.8,
        }
    }
}

/// `[memory_pressure]`: machine or tree memory close to the machine's total,
/// sustained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryPressureThresholds {
    /// Whether the rule runs. Default `true`.
    pub enabled: bool,
    /// A sample counts when machine memory in use is ≥ this % of its total.
    /// Default 90; in (0, 100].
    pub system_used_percent: f64,
    /// A sample counts when the tree's resident memory is ≥ this % of the
    /// machine's total. Default 75; in (0, 100].
    pub tree_rss_percent: f64,
    /// Critical when machine memory in use stays ≥ this % (same window
    /// rules). Default 97; in [`system_used_percent`](Self::system_used_percent), 100].
    pub critical_system_used_percent: f64,
    /// Window length, seconds of snapshot time. Default 30; > 0.
    pub min_duration_seconds: f64,
    /// Share of the window's samples that must count. Default 0.8; in (0, 1].
    pub min_fraction: f64,
}

impl Default for MemoryPressureThresholds {
    fn default() -> Self {
        Self {
            enabled: true,
            system_used_percent: 90.0,
            tree_rss_percent: 75.0,
            critical_system_used_percent: 97.0,
            min_duration_seconds: 30.0,
            min_fraction: 0.8,
        }
    }
}

/// `[gpu_idle_cpu_bound]`: the GPU idles while the tree keeps the CPU busy.
/// Samples without GPU utilisation are left out, so the rule is silent on
/// machines without GPU metrics.
///
/// CPU is a share of the whole machine (snapshots carry no core count), so
/// a step bound by one thread on a many-core machine (a single-process data
/// loader) does not count as CPU-bound here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GpuIdleThresholds {
    /// Whether the rule runs. Default `true`.
    pub enabled: bool,
    /// The GPU is idle when `gpu_util_percent` is ≤ this. Default 10; in
    /// [0, 100).
    pub gpu_util_max_percent: f64,
    /// The tree is CPU-bound when `cpu_percent_process` (% of the whole
    /// machine) is ≥ this. Default 80; in (0, 100].
    pub cpu_percent: f64,
    /// Window length, seconds of snapshot time. Default 30; > 0.
    pub min_duration_seconds: f64,
    /// Share of the window's samples that must be idle and CPU-bound.
    /// Default 0.8; in (0, 1].
    pub min_fraction: f64,
}

impl Default for GpuIdleThresholds {
    fn default() -> Self {
        Self {
            enabled: true,
            gpu_util_max_percent: 10.0,
            cpu_percent: 80.0,
            min_duration_seconds: 30.0,
            min_fraction: 0.8,
        }
    }
}

/// `[slow_step]`: a completed step against the median duration of the same
/// step in earlier runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlowStepThresholds {
    /// Whether the rule runs. Default `true`.
    pub enabled: bool,
    /// Warning when duration / median ≥ this. Default 1.5; > 1.
    pub ratio: f64,
    /// Critical when duration / median ≥ this. Default 3.0; ≥ `ratio`.
    pub critical_ratio: f64,
    /// The step must also be at least this many seconds over the median.
    /// Default 10; ≥ 0.
    pub min_extra_seconds: f64,
    /// Earlier durations the median must come from. Default 2; at least 1.
    pub min_history: usize,
}

impl Default for SlowStepThresholds {
    fn default() -> Self {
        Self {
            enabled: true,
            ratio: 1.5,
            critical_ratio: 3.0,
            min_extra_seconds: 10.0,
            min_history: 2,
        }
    }
}

/// One broken range rule: the dotted key and what is wrong.
type Problem = (&'static str, String);

fn check_range(
    problems: &mut Vec<Problem>,
    key: &'static str,
    value: f64,
    ok: bool,
    expected: &str,
) {
    if !(value.is_finite() && ok) {
        problems.push((key, format!("must be {expected}, got {value}")));
    }
}

impl Thresholds {
    /// Checks every threshold's range; the first problem is returned as
    /// [`RulesError::Invalid`] with source [`CODE_SOURCE`].
    ///
    /// ```
    /// use recommend::Thresholds;
    /// let mut t = Thresholds::default();
    /// assert!(t.validate().is_ok());
    /// t.throughput.warning_ratio = 0.5;
    /// let err = t.validate().unwrap_err();
    /// assert_eq!(err.key(), Some("throughput.warning_ratio"));
    /// ```
    pub fn validate(&self) -> Result<(), RulesError> {
        match self.problems().into_iter().next() {
            None => Ok(()),
            Some((key, message)) => Err(RulesError::Invalid {
                source_name: CODE_SOURCE.to_owned(),
                line: None,
                key: key.to_owned(),
                message,
            }),
        }
    }

    /// Every broken range rule, in field order.
    pub(crate) fn problems(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        let t = &self.throughput;
        if t.warning_ratio.is_finite() && t.warning_ratio < GUARANTEED_WARNING_RATIO {
            p.push((
                "throughput.warning_ratio",
                format!(
                    "must be at least {GUARANTEED_WARNING_RATIO}, got {}: a throughput drop of \
                     25 % or more must always yield a warning",
                    t.warning_ratio
                ),
            ));
        } else {
            check_range(
                &mut p,
                "throughput.warning_ratio",
                t.warning_ratio,
                t.warning_ratio <= 1.0,
                "a ratio in [0.75, 1]",
            );
        }
        check_range(
            &mut p,
            "throughput.critical_ratio",
            t.critical_ratio,
            t.critical_ratio > 0.0 && t.critical_ratio <= t.warning_ratio,
            &format!(
                "a ratio in (0, throughput.warning_ratio = {}]",
                t.warning_ratio
            ),
        );
        if t.min_samples == 0 {
            p.push(("throughput.min_samples", "must be at least 1, got 0".into()));
        }

        let c = &self.cpu_saturation;
        percent(&mut p, "cpu_saturation.percent", c.percent);
        window(
            &mut p,
            (
                "cpu_saturation.min_duration_seconds",
                c.min_duration_seconds,
            ),
            ("cpu_saturation.min_fraction", c.min_fraction),
        );

        let m = &self.memory_pressure;
        percent(
            &mut p,
            "memory_pressure.system_used_percent",
            m.system_used_percent,
        );
        percent(
            &mut p,
            "memory_pressure.tree_rss_percent",
            m.tree_rss_percent,
        );
        check_range(
            &mut p,
            "memory_pressure.critical_system_used_percent",
            m.critical_system_used_percent,
            m.critical_system_used_percent >= m.system_used_percent
                && m.critical_system_used_percent <= 100.0,
            &format!(
                "a percentage in [memory_pressure.system_used_percent = {}, 100]",
                m.system_used_percent
            ),
        );
        window(
            &mut p,
            (
                "memory_pressure.min_duration_seconds",
                m.min_duration_seconds,
            ),
            ("memory_pressure.min_fraction", m.min_fraction),
        );

        let g = &self.gpu_idle_cpu_bound;
        check_range(
            &mut p,
            "gpu_idle_cpu_bound.gpu_util_max_percent",
            g.gpu_util_max_percent,
            (0.0..100.0).contains(&g.gpu_util_max_percent),
            "a percentage in [0, 100)",
        );
        percent(&mut p, "gpu_idle_cpu_bound.cpu_percent", g.cpu_percent);
        window(
            &mut p,
            (
                "gpu_idle_cpu_bound.min_duration_seconds",
                g.min_duration_seconds,
            ),
            ("gpu_idle_cpu_bound.min_fraction", g.min_fraction),
        );

        let s = &self.slow_step;
        check_range(
            &mut p,
            "slow_step.ratio",
            s.ratio,
            s.ratio > 1.0,
            "a ratio above 1",
        );
        check_range(
            &mut p,
            "slow_step.critical_ratio",
            s.critical_ratio,
            s.critical_ratio >= s.ratio,
            &format!("a ratio ≥ slow_step.ratio = {}", s.ratio),
        );
        check_range(
            &mut p,
            "slow_step.min_extra_seconds",
            s.min_extra_seconds,
            s.min_extra_seconds >= 0.0,
            "a number of seconds ≥ 0",
        );
        if s.min_history == 0 {
            p.push(("slow_step.min_history", "must be at least 1, got 0".into()));
        }
        p
    }
}

fn percent(p: &mut Vec<Problem>, key: &'static str, value: f64) {
    check_range(
        p,
        key,
        value,
        value > 0.0 && value <= 100.0,
        "a percentage in (0, 100]",
    );
}

fn window(
    p: &mut Vec<Problem>,
    (duration_key, duration): (&'static str, f64),
    (fraction_key, fraction): (&'static str, f64),
) {
    check_range(
        p,
        duration_key,
        duration,
        duration > 0.0,
        "a number of seconds > 0",
    );
    check_range(
        p,
        fraction_key,
        fraction,
        fraction > 0.0 && fraction <= 1.0,
        "a fraction in (0, 1]",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Thresholds::default().problems(), vec![]);
    }

    #[test]
    fn every_range_rule_fires() {
        let mut t = Thresholds::default();
        t.throughput.warning_ratio = 0.5;
        t.throughput.critical_ratio = 0.7;
        t.throughput.min_samples = 0;
        t.cpu_saturation.percent = 0.0;
        t.cpu_saturation.min_duration_seconds = 0.0;
        t.cpu_saturation.min_fraction = 1.5;
        t.memory_pressure.system_used_percent = 101.0;
        t.memory_pressure.tree_rss_percent = f64::NAN;
        t.memory_pressure.critical_system_used_percent = 50.0;
        t.memory_pressure.min_duration_seconds = -1.0;
        t.memory_pressure.min_fraction = 0.0;
        t.gpu_idle_cpu_bound.gpu_util_max_percent = 100.0;
        t.gpu_idle_cpu_bound.cpu_percent = f64::INFINITY;
        t.gpu_idle_cpu_bound.min_duration_seconds = f64::NAN;
        t.gpu_idle_cpu_bound.min_fraction = -0.1;
        t.slow_step.ratio = 1.0;
        t.slow_step.critical_ratio = 0.5;
        t.slow_step.min_extra_seconds = -3.0;
        t.slow_step.min_history = 0;
        let keys: Vec<&str> = t.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "throughput.warning_ratio",
                "throughput.critical_ratio",
                "throughput.min_samples",
                "cpu_saturation.percent",
                "cpu_saturation.min_duration_seconds",
                "cpu_saturation.min_fraction",
                "memory_pressure.system_used_percent",
                "memory_pressure.tree_rss_percent",
                "memory_pressure.critical_system_used_percent",
                "memory_pressure.min_duration_seconds",
                "memory_pressure.min_fraction",
                "gpu_idle_cpu_bound.gpu_util_max_percent",
                "gpu_idle_cpu_bound.cpu_percent",
                "gpu_idle_cpu_bound.min_duration_seconds",
                "gpu_idle_cpu_bound.min_fraction",
                "slow_step.ratio",
                "slow_step.critical_ratio",
                "slow_step.min_extra_seconds",
                "slow_step.min_history",
            ]
        );
    }

    #[test]
    fn warning_ratio_below_the_guarantee_is_explained() {
        let mut t = Thresholds::default();
        t.throughput.warning_ratio = 0.5;
        t.throughput.critical_ratio = 0.4;
        let err = t.validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "<thresholds>: `throughput.warning_ratio`: must be at least 0.75, got 0.5: \
             a throughput drop of 25 % or more must always yield a warning"
        );
        t.throughput.warning_ratio = f64::NAN;
        assert_eq!(
            t.validate().unwrap_err().key(),
            Some("throughput.warning_ratio")
        );
        t.throughput.warning_ratio = GUARANTEED_WARNING_RATIO;
        assert!(t.validate().is_ok());
    }
}
