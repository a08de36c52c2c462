//! Deterministic rules that turn a run's telemetry, steps, step history and
//! throughput baselines into [`PerformanceRecommendation`]s, and the
//! resource aggregates of the run summary (docs/telemetry.md).
//!
//! The crate does no I/O: callers read snapshots, history and baselines,
//! and the rules file, and hand them in as [`Inputs`] and [`Thresholds`].
//! The same inputs always give the same recommendations, in the same order
//! (most severe first, then by trigger, then by step).
//!
//! # Rules
//!
//! | trigger | fires when | severity |
//! |---|---|---|
//! | `throughput_below_baseline` | measured / baseline ≤ `warning_ratio` (a drop of ≥ 25 % always does) | warning; critical at ≤ `critical_ratio` |
//! | `cpu_saturation` | the tracked tree's CPU ≥ `percent` % of the machine, sustained | warning |
//! | `memory_pressure` | machine memory in use ≥ `system_used_percent` %, or the tree's RSS ≥ `tree_rss_percent` % of the machine, sustained | warning; critical when in use ≥ `critical_system_used_percent` %, sustained |
//! | `gpu_idle_cpu_bound` | GPU ≤ `gpu_util_max_percent` % while the tree's CPU ≥ `cpu_percent` %, sustained; silent without GPU metrics | warning |
//! | `slow_step` | a completed step ≥ `ratio` × its history median and ≥ `min_extra_seconds` longer, with ≥ `min_history` earlier runs | warning; critical at ≥ `critical_ratio` × |
//!
//! *Sustained* is judged on snapshot time, per step: some window from a
//! sample meeting the condition to the first sample at least
//! `min_duration_seconds` later holds at least [`MIN_WINDOW_SAMPLES`]
//! samples, and at least `min_fraction` of them meet the condition. A single
//! spike never fires. Samples where a metric is `null` (or not a finite
//! number ≥ 0) are left out of the rules that need it, so missing sensors
//! keep rules silent rather than guessing; an idle or light run gives no
//! recommendation.
//!
//! Each recommendation carries a one-sentence `message`, at least one
//! concrete suggested action, and `evidence`: the measured numbers,
//! `step_id` where a step is concerned, and the threshold that fired as
//! `threshold` (its value) and `threshold_key` (its key in the rules file,
//! e.g. `throughput.warning_ratio`).
//!
//! # Thresholds
//!
//! Defaults, as in [`DEFAULT_RULES_TOML`] (every table also takes
//! `enabled = false` to turn its rule off):
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `throughput.warning_ratio` | 0.8 | warn at or below; never below 0.75 |
//! | `throughput.critical_ratio` | 0.6 | critical at or below |
//! | `throughput.min_samples` | 3 | snapshots needed for a measured mean |
//! | `cpu_saturation.percent` | 90 | % of the whole machine |
//! | `cpu_saturation.min_duration_seconds` | 30 | window length |
//! | `cpu_saturation.min_fraction` | 0.8 | share of the window's samples |
//! | `memory_pressure.system_used_percent` | 90 | machine memory in use, % of total |
//! | `memory_pressure.tree_rss_percent` | 75 | tree RSS, % of the machine's total |
//! | `memory_pressure.critical_system_used_percent` | 97 | critical, % of total |
//! | `memory_pressure.min_duration_seconds` | 30 | window length |
//! | `memory_pressure.min_fraction` | 0.8 | share of the window's samples |
//! | `gpu_idle_cpu_bound.gpu_util_max_percent` | 10 | GPU idle at or below |
//! | `gpu_idle_cpu_bound.cpu_percent` | 80 | tree CPU, % of the whole machine |
//! | `gpu_idle_cpu_bound.min_duration_seconds` | 30 | window length |
//! | `gpu_idle_cpu_bound.min_fraction` | 0.8 | share of the window's samples |
//! | `slow_step.ratio` | 1.5 | warn at or above this × the median |
//! | `slow_step.critical_ratio` | 3.0 | critical at or above |
//! | `slow_step.min_extra_seconds` | 10 | and at least this much longer |
//! | `slow_step.min_history` | 2 | earlier durations needed |
//!
//! Read a rules file with [`Thresholds::from_toml_str`], layer files with
//! [`Thresholds::overlay_toml_str`], and take a pipeline file's `[rules]`
//! table with [`Thresholds::overlay_toml_table`]. Unknown keys, wrong types
//! and out-of-range values are errors naming the source, the line and the
//! key ([`RulesError`]).
//!
//! # Baselines
//!
//! Without a stored [`Baseline`] for a step there is no throughput
//! recommendation, and [`summarize`] reports the step's
//! [`BaselineStatus`] as `"no baseline"` ([`NO_BASELINE`]); no baseline is
//! ever made up.
//!
//! # Example
//!
//! ```
//! use std::collections::BTreeMap;
//! use recommend::{Baseline, Inputs, Thresholds, recommend, summarize};
//! use telemetry_model::{Severity, TelemetrySnapshot};
//!
//! // One minute of a training step at 97 % of the machine, 600 steps/s.
//! let snapshots: Vec<TelemetrySnapshot> = (0..60)
//!     .map(|i| TelemetrySnapshot {
//!         timestamp_ms: 1_700_000_000_000 + i * 1000,
//!         step_id: Some("train".into()),
//!         cpu_percent_process: Some(97.0),
//!         steps_per_sec: Some(600.0),
//!         ..TelemetrySnapshot::default()
//!     })
//!     .collect();
//! // Earlier runs did 1000 steps/s: a 40 % drop.
//! let baselines = BTreeMap::from([("train".to_owned(), Baseline::steps_per_sec(1000.0))]);
//! let inputs = Inputs { baselines: &baselines, ..Inputs::new(&snapshots) };
//! let thresholds = Thresholds::from_toml_str("[cpu_saturation]\npercent = 95\n", "rules.toml")?;
//!
//! let recs = recommend(&inputs, &thresholds);
//! let triggers: Vec<&str> = recs.iter().map(|r| r.trigger.as_str()).collect();
//! assert_eq!(triggers, ["throughput_below_baseline", "cpu_saturation"]);
//! assert_eq!(recs[0].severity, Severity::Critical);
//! assert_eq!(recs[0].evidence["ratio"], 0.6);
//! assert_eq!(recs[0].evidence["threshold_key"], "throughput.critical_ratio");
//! assert!(recs.iter().all(|r| !r.suggested_actions.is_empty()));
//!
//! let summary = summarize(&inputs, &thresholds);
//! assert_eq!(summary.steps[0].baseline_status.as_str(), "critical");
//! assert_eq!(summary.steps[0].resources.cpu_percent_avg, Some(97.0));
//! # Ok::<(), recommend::RulesError>(())
//! ```

mod error;
mod inputs;
mod rules;
mod series;
mod summary;
mod thresholds;
mod toml_source;

pub use error::RulesError;
pub use inputs::{Baseline, Inputs, StepHistory, ThroughputMetric};
pub use rules::{Rule, recommend};
pub use series::MIN_WINDOW_SAMPLES;
pub use summary::{aggregate, summarize};
pub use telemetry_model::{
    BaselineStatus, NO_BASELINE, ResourceAggregate, ResourceSummary, StepResourceSummary,
};
pub use telemetry_model::{PerformanceRecommendation, Severity};
pub use thresholds::{
    CODE_SOURCE, CpuSaturationThresholds, DEFAULT_RULES_TOML, GUARANTEED_WARNING_RATIO,
    GpuIdleThresholds, MemoryPressureThresholds, SlowStepThresholds, Thresholds,
    ThroughputThresholds,
};
