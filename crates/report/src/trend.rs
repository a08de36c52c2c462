//! How a pipeline's steps change over its runs (`tracker trend`): each
//! step's durations and throughput over the last completed runs, their
//! median and 90th percentile, and whether the step is drifting.

use serde::Serialize;
use telemetry_model::{PipelineRunRecord, RunStatus, StepStatus, Timestamp};

/// Fewest runs a drift is judged from (three in each half).
pub const MIN_DRIFT_RUNS: usize = 6;
/// A drift smaller than this share of the older half's median is never
/// reported.
pub const MIN_DRIFT: f64 = 0.10;
/// A drift is reported beyond this many median absolute deviations of the
/// runs, each from its own half's median (so that the drift itself does not
/// count as noise).
pub const DRIFT_DEVIATIONS: f64 = 3.0;

/// The trend of every step of a pipeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trend {
    /// The pipeline.
    pub pipeline: String,
    /// The runs the trend is over, oldest first.
    pub runs: Vec<TrendRun>,
    /// One entry per step, in the newest run's order, then steps only older
    /// runs have.
    pub steps: Vec<StepTrend>,
}

/// One run of the trend.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrendRun {
    /// Its id.
    pub run_id: String,
    /// When it started.
    pub created_at: Timestamp,
}

/// One step over the runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepTrend {
    /// The step id.
    pub step_id: String,
    /// Its name in the newest run that has it.
    pub name: String,
    /// Its duration in each run (oldest first), `None` where the run has no
    /// completed step of that id.
    pub durations: Vec<Option<f64>>,
    /// Its mean reported throughput in each run, items per second.
    pub items_per_sec: Vec<Option<f64>>,
    /// The durations' figures.
    pub duration: Series,
    /// The throughput's figures (`None` when no run reported one).
    pub throughput: Option<Series>,
}

/// Figures of one series of values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Series {
    /// How many runs have a value.
    pub runs: usize,
    /// Their median.
    pub median: Option<f64>,
    /// Their 90th percentile (nearest rank).
    pub p90: Option<f64>,
    /// The newer half's median against the older half's, relative
    /// (`0.2`: 20 % more); `None` with fewer than [`MIN_DRIFT_RUNS`].
    pub change: Option<f64>,
    /// What the change says.
    pub drift: Drift,
}

/// Whether a series moves beyond its noise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Drift {
    /// Fewer than [`MIN_DRIFT_RUNS`] values.
    TooFewRuns,
    /// The newer half is within the noise of the older.
    Steady,
    /// The values went up beyond the noise.
    Rising,
    /// The values went down beyond the noise.
    Falling,
}

impl Drift {
    /// How a duration's drift reads (`getting slower`).
    pub fn of_duration(self) -> &'static str {
        match self {
            Self::TooFewRuns => "too few runs",
            Self::Steady => "steady",
            Self::Rising => "getting slower",
            Self::Falling => "getting faster",
        }
    }

    /// How a throughput's drift reads (`falling`).
    pub fn of_throughput(self) -> &'static str {
        match self {
            Self::TooFewRuns => "too few runs",
            Self::Steady => "steady",
            Self::Rising => "rising",
            Self::Falling => "falling",
        }
    }
}

impl Trend {
    /// The trend of `pipeline` over `runs` (in any order; only completed
    /// runs of the pipeline count), every step or only `step`.
    ///
    /// ```
    /// use report::trend::{Drift, Trend};
    /// use telemetry_model::{PipelineRunRecord, RunStatus, StepExecutionEntry, StepStatus, Timestamp};
    ///
    /// let runs: Vec<PipelineRunRecord> = [10.0, 10.5, 9.5, 14.0, 15.0, 14.5]
    ///     .iter()
    ///     .enumerate()
    ///     .map(|(i, secs)| {
    ///         let mut r = PipelineRunRecord::new(format!("r{i}"));
    ///         r.pipeline = Some("p".into());
    ///         r.status = RunStatus::Completed;
    ///         r.created_at = Timestamp::from_unix_ms(i as i64 * 60_000);
    ///         let mut s = StepExecutionEntry::new("train", "Train", 1);
    ///         s.status = StepStatus::Completed;
    ///         s.duration_seconds = Some(*secs);
    ///         r.steps.push(s);
    ///         r
    ///     })
    ///     .collect();
    /// let trend = Trend::new("p", &runs, None);
    /// let train = &trend.steps[0].duration;
    /// assert_eq!((train.median, train.drift), (Some(12.25), Drift::Rising));
    /// ```
    pub fn new(pipeline: &str, runs: &[PipelineRunRecord], step: Option<&str>) -> Self {
        let mut runs: Vec<&PipelineRunRecord> = runs
            .iter()
            .filter(|r| r.status == RunStatus::Completed && r.pipeline.as_deref() == Some(pipeline))
            .collect();
        runs.sort_by_key(|r| r.created_at);
        let mut order: Vec<(String, String)> = Vec::new();
        for run in runs.iter().rev() {
            for s in &run.steps {
                if step.is_none_or(|only| only == s.step_id)
                    && !order.iter().any(|(id, _)| *id == s.step_id)
                {
                    order.push((s.step_id.clone(), s.label().to_owned()));
                }
            }
        }
        let steps = order
            .into_iter()
            .map(|(step_id, name)| {
                let durations: Vec<Option<f64>> = runs
                    .iter()
                    .map(|r| {
                        r.step(&step_id)
                            .filter(|s| s.status == StepStatus::Completed)
                            .and_then(|s| s.duration_seconds)
                    })
                    .collect();
                let items_per_sec: Vec<Option<f64>> = runs
                    .iter()
                    .map(|r| {
                        r.summary
                            .resources
                            .as_ref()
                            .and_then(|res| res.steps.iter().find(|s| s.step_id == step_id))
                            .and_then(|s| s.resources.steps_per_sec_mean)
                    })
                    .collect();
                let throughput = items_per_sec
                    .iter()
                    .any(Option::is_some)
                    .then(|| series(&items_per_sec));
                StepTrend {
                    duration: series(&durations),
                    throughput,
                    step_id,
                    name,
                    durations,
                    items_per_sec,
                }
            })
            .collect();
        Self {
            pipeline: pipeline.to_owned(),
            runs: runs
                .iter()
                .map(|r| TrendRun {
                    run_id: r.run_id.clone(),
                    created_at: r.created_at,
                })
                .collect(),
            steps,
        }
    }
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    v
}

fn median(values: &[f64]) -> Option<f64> {
    let v = sorted(values);
    let n = v.len();
    (n > 0).then(|| {
        if n % 2 == 1 {
            v[n / 2]
        } else {
            f64::midpoint(v[n / 2 - 1], v[n / 2])
        }
    })
}

/// The nearest-rank 90th percentile.
fn p90(values: &[f64]) -> Option<f64> {
    let v = sorted(values);
    let rank = (0.9 * v.len() as f64).ceil() as usize;
    v.get(rank.checked_sub(1)?).copied()
}

fn series(values: &[Option<f64>]) -> Series {
    let present: Vec<f64> = values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let center = median(&present);
    let (change, drift) = if present.len() < MIN_DRIFT_RUNS {
        (None, Drift::TooFewRuns)
    } else {
        let (older, newer) = present.split_at(present.len() / 2);
        match (median(older), median(newer), center) {
            (Some(old), Some(new), Some(_)) if old > 0.0 => {
                let deviations: Vec<f64> = older
                    .iter()
                    .map(|v| (v - old).abs())
                    .chain(newer.iter().map(|v| (v - new).abs()))
                    .collect();
                let noise = median(&deviations).unwrap_or(0.0);
                let limit = (DRIFT_DEVIATIONS * noise).max(MIN_DRIFT * old);
                let drift = if new - old > limit {
                    Drift::Rising
                } else if old - new > limit {
                    Drift::Falling
                } else {
                    Drift::Steady
                };
                (Some((new - old) / old), drift)
            }
            _ => (None, Drift::Steady),
        }
    };
    Series {
        runs: present.len(),
        median: center,
        p90: p90(&present),
        change,
        drift,
    }
}

/// A line of block characters, one per value (oldest first), from the
/// lowest value (`▁`) to the highest (`█`); a blank for a missing one. The
/// scale spans at least a fifth of the highest value, so that a wiggle of
/// a few per cent does not look like a swing.
///
/// ```
/// use report::trend::sparkline;
/// assert_eq!(sparkline(&[Some(1.0), Some(2.0), None, Some(8.0)]), "▁▂ █");
/// assert_eq!(sparkline(&[Some(10.0), Some(10.2), Some(10.0)]), "▇█▇");
/// assert_eq!(sparkline(&[Some(3.0), Some(3.0)]), "██");
/// ```
pub fn sparkline(values: &[Option<f64>]) -> String {
    const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    /// The least span of the scale, as a share of the highest value.
    const MIN_SPAN: f64 = 0.2;
    let finite = values.iter().flatten().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(*v), hi.max(*v))
    });
    let lo = lo.min(hi - MIN_SPAN * hi.abs());
    values
        .iter()
        .map(|v| match v.filter(|v| v.is_finite()) {
            None => ' ',
            Some(_) if hi - lo <= f64::EPSILON => BLOCKS[7],
            Some(v) => {
                let level = ((v - lo) / (hi - lo) * 7.0).round() as usize;
                BLOCKS[level.min(7)]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(v: &[f64]) -> Vec<Option<f64>> {
        v.iter().copied().map(Some).collect()
    }

    #[test]
    fn drift_needs_six_runs_and_a_change_beyond_the_noise() {
        assert_eq!(
            series(&values(&[1.0, 2.0, 3.0, 4.0, 5.0])).drift,
            Drift::TooFewRuns
        );
        // Noisy but level.
        let level = series(&values(&[10.0, 14.0, 9.0, 13.0, 10.0, 14.0]));
        assert_eq!(level.drift, Drift::Steady, "{level:?}");
        // Faster by a half.
        let faster = series(&values(&[20.0, 21.0, 19.0, 10.0, 11.0, 9.0]));
        assert_eq!(faster.drift, Drift::Falling);
        assert_eq!(faster.change, Some(-0.5));
        // A 5 % creep on a quiet series is under the 10 % floor.
        let creep = series(&values(&[100.0, 100.0, 100.0, 105.0, 105.0, 105.0]));
        assert_eq!(creep.drift, Drift::Steady);
    }

    #[test]
    fn percentiles_and_missing_runs() {
        let s = series(&[Some(1.0), None, Some(3.0), Some(2.0), Some(10.0)]);
        assert_eq!(s.runs, 4);
        assert_eq!(s.median, Some(2.5));
        assert_eq!(s.p90, Some(10.0));
        assert_eq!(series(&[None, None]).median, None);
        assert_eq!(sparkline(&[]), "");
    }
}
