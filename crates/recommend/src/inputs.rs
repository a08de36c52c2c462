//! What the rules look at: snapshots, steps, history and baselines.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use telemetry_model::{StepExecutionEntry, TelemetrySnapshot};

static NO_HISTORY: BTreeMap<String, StepHistory> = BTreeMap::new();
static NO_BASELINES: BTreeMap<String, Baseline> = BTreeMap::new();
static NO_MEASUREMENTS: BTreeMap<String, f64> = BTreeMap::new();

/// Everything the rules and the summary look at, borrowed from the caller.
///
/// Every part may be empty; [`Inputs::default()`] is an empty run. Maps are
/// keyed by step id (or, for performance smoke tests, by test id).
///
/// ```
/// use std::collections::BTreeMap;
/// use recommend::{Baseline, Inputs, StepHistory};
/// use telemetry_model::TelemetrySnapshot;
///
/// let snapshots: Vec<TelemetrySnapshot> = Vec::new();
/// let history = BTreeMap::from([(
///     "train".to_owned(),
///     StepHistory::from_durations([60.0, 64.0, 58.0]).unwrap(),
/// )]);
/// let baselines = BTreeMap::from([("train".to_owned(), Baseline::steps_per_sec(1200.0))]);
/// let inputs = Inputs {
///     history: &history,
///     baselines: &baselines,
///     ..Inputs::new(&snapshots)
/// };
/// assert_eq!(inputs.history["train"].median_seconds, 60.0);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a> {
    /// The run's telemetry, in any order (the rules sort by `timestamp_ms`
    /// within each step). Samples without a `step_id` are rated as their
    /// own group and count in the run-wide totals.
    pub snapshots: &'a [TelemetrySnapshot],
    /// The run's steps, in run order; the slow-step rule looks at the
    /// completed ones and the summary lists them in this order.
    pub steps: &'a [StepExecutionEntry],
    /// Duration history of each step from earlier runs of the same
    /// pipeline, not including this run.
    pub history: &'a BTreeMap<String, StepHistory>,
    /// Stored throughput baselines. A step without one is reported as
    /// "no baseline"; none is ever made up.
    pub baselines: &'a BTreeMap<String, Baseline>,
    /// Throughput measured by the caller (e.g. a perf smoke test), in the
    /// baseline's unit. It takes precedence over the mean of the step's
    /// snapshots.
    pub measured_throughput: &'a BTreeMap<String, f64>,
    /// The time recommendations are stamped with, epoch ms. `None`: the
    /// last snapshot's time (or the last step end, or 0).
    pub now_ms: Option<i64>,
}

impl<'a> Inputs<'a> {
    /// Only snapshots; everything else empty.
    pub fn new(snapshots: &'a [TelemetrySnapshot]) -> Self {
        Self {
            snapshots,
            ..Self::default()
        }
    }
}

impl Default for Inputs<'_> {
    fn default() -> Self {
        Self {
            snapshots: &[],
            steps: &[],
            history: &NO_HISTORY,
            baselines: &NO_BASELINES,
            measured_throughput: &NO_MEASUREMENTS,
            now_ms: None,
        }
    }
}

/// How long a step took in earlier runs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepHistory {
    /// Median duration, seconds.
    pub median_seconds: f64,
    /// How many durations the median is over.
    pub samples: usize,
}

impl StepHistory {
    /// The median of the durations that are finite and ≥ 0; `None` when
    /// none is.
    ///
    /// ```
    /// use recommend::StepHistory;
    /// let h = StepHistory::from_durations([10.0, f64::NAN, 30.0, 20.0, 40.0]).unwrap();
    /// assert_eq!((h.median_seconds, h.samples), (25.0, 4));
    /// assert_eq!(StepHistory::from_durations([f64::NAN]), None);
    /// ```
    pub fn from_durations(durations: impl IntoIterator<Item = f64>) -> Option<Self> {
        let mut d: Vec<f64> = durations
            .into_iter()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .collect();
        if d.is_empty() {
            return None;
        }
        d.sort_by(f64::total_cmp);
        let mid = d.len() / 2;
        let median = if d.len() % 2 == 1 {
            d[mid]
        } else {
            (d[mid - 1] + d[mid]) / 2.0
        };
        Some(Self {
            median_seconds: median,
            samples: d.len(),
        })
    }
}

/// Which snapshot field a throughput is measured from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThroughputMetric {
    /// `steps_per_sec`: work items per second.
    #[default]
    StepsPerSec,
    /// `fps`: frames per second.
    Fps,
}

impl ThroughputMetric {
    /// The snapshot field's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StepsPerSec => "steps_per_sec",
            Self::Fps => "fps",
        }
    }

    pub(crate) fn read(self, s: &TelemetrySnapshot) -> Option<f64> {
        match self {
            Self::StepsPerSec => s.steps_per_sec,
            Self::Fps => s.fps,
        }
    }
}

/// A stored throughput baseline of a step or perf test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Expected throughput. A value that is not finite and > 0 counts as no
    /// baseline.
    pub value: f64,
    /// Unit for messages (`steps/s`, `fps`, `episodes/s`).
    #[serde(default = "default_unit")]
    pub unit: String,
    /// The snapshot field measured against it when the caller gives no
    /// measurement. Default `steps_per_sec`.
    #[serde(default)]
    pub metric: ThroughputMetric,
}

fn default_unit() -> String {
    "steps/s".to_owned()
}

impl Baseline {
    /// A baseline in work items per second, measured from `steps_per_sec`.
    pub fn steps_per_sec(value: f64) -> Self {
        Self {
            value,
            unit: default_unit(),
            metric: ThroughputMetric::StepsPerSec,
        }
    }

    /// A baseline in frames per second, measured from `fps`.
    pub fn fps(value: f64) -> Self {
        Self {
            value,
            unit: "fps".to_owned(),
            metric: ThroughputMetric::Fps,
        }
    }

    /// The value, when it can be compared with (finite and > 0).
    pub(crate) fn usable(&self) -> Option<f64> {
        Some(self.value).filter(|v| v.is_finite() && *v > 0.0)
    }
}
