//! The run's summary (`summary` of every record): the aggregates a run
//! ends with, typed, and every other key a writer put there kept as is
//! (docs/artifact-layout.md).
//!
//! Each typed field is read only if its value has the expected shape; a
//! value of another shape (an older or foreign writer's) stays in
//! [`RunSummary::extra`] under its key, so nothing read is ever lost.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::status::PerfStatus;
use crate::timestamp::Timestamp;

/// Run-level aggregates. `total_duration` is the contract shared with the
/// Python tracker; the other typed fields are this tracker's; anything
/// else is kept verbatim in `extra`. Written as one JSON object whose keys
/// are in alphabetical order after `total_duration`.
///
/// ```
/// use telemetry_model::RunSummary;
///
/// let summary: RunSummary = serde_json::from_str(
///     r#"{"total_duration": 3.5, "reason": "step `a` failed: exit status 2",
///         "storage_errors": "not a list", "scenario_id": "s1"}"#,
/// )?;
/// assert_eq!(summary.reason.as_deref(), Some("step `a` failed: exit status 2"));
/// assert_eq!(summary.scenario_id.as_deref(), Some("s1"));
/// // A value of the wrong shape is kept, not lost.
/// assert!(summary.storage_errors.is_empty());
/// assert_eq!(summary.extra["storage_errors"], "not a list");
/// assert_eq!(
///     serde_json::to_string(&summary)?,
///     r#"{"total_duration":3.5,"reason":"step `a` failed: exit status 2","scenario_id":"s1","storage_errors":"not a list"}"#
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunSummary {
    /// Seconds from creation to the terminal status (or to now, while
    /// running).
    pub total_duration: Option<f64>,
    /// Why the run failed or was cancelled (`reason`).
    pub reason: Option<String>,
    /// The running step's progress, persisted every few seconds while it
    /// runs and removed when it ends (`live`).
    pub live: Option<LiveProgress>,
    /// Resource aggregates of the run and each step, from the end-of-run
    /// rating (`resources`).
    pub resources: Option<ResourceSummary>,
    /// What the run could not write while it ran (a full disk), one line per
    /// kind of file (`storage_errors`); empty when everything was written.
    pub storage_errors: Vec<String>,
    /// A perf run's marker and verdict (`perf_tests`); `None` for other runs.
    pub perf_tests: Option<PerfSummary>,
    /// Each time the run was resumed after it failed, was cancelled or
    /// was abandoned (`resumptions`), oldest first; empty for a run never
    /// resumed.
    pub resumptions: Vec<Resumption>,
    /// The Python tracker's scenario id (`scenario_id`), where it is a string.
    pub scenario_id: Option<String>,
    /// The step that shows no sign of life, while it shows none
    /// (`stalled`); `None` otherwise.
    pub stalled: Option<Stall>,
    /// The notifications of the run and how each went (`notifications`),
    /// oldest first; empty when none was due.
    pub notifications: Vec<NotificationRecord>,
    /// The Python tracker's scenario (`scenario`), where it is a string.
    pub scenario: Option<String>,
    /// Every other key, preserved verbatim.
    pub extra: BTreeMap<String, Value>,
}

/// The typed keys of [`RunSummary`] other than `total_duration`, in
/// alphabetical order.
const TYPED_KEYS: [&str; 10] = [
    "live",
    "notifications",
    "perf_tests",
    "reason",
    "resources",
    "resumptions",
    "scenario",
    "scenario_id",
    "stalled",
    "storage_errors",
];

/// One value of the summary object, typed or kept.
enum Field<'a> {
    Live(&'a LiveProgress),
    Perf(&'a PerfSummary),
    Text(&'a str),
    Resources(&'a ResourceSummary),
    Resumptions(&'a [Resumption]),
    Lines(&'a [String]),
    Stall(&'a Stall),
    Notifications(&'a [NotificationRecord]),
    Kept(&'a Value),
}

impl Serialize for Field<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Live(v) => v.serialize(serializer),
            Self::Perf(v) => v.serialize(serializer),
            Self::Text(v) => v.serialize(serializer),
            Self::Resources(v) => v.serialize(serializer),
            Self::Resumptions(v) => v.serialize(serializer),
            Self::Lines(v) => v.serialize(serializer),
            Self::Stall(v) => v.serialize(serializer),
            Self::Notifications(v) => v.serialize(serializer),
            Self::Kept(v) => v.serialize(serializer),
        }
    }
}

impl RunSummary {
    /// The typed field under `key`, if it is set.
    fn typed(&self, key: &str) -> Option<Field<'_>> {
        match key {
            "live" => self.live.as_ref().map(Field::Live),
            "notifications" => (!self.notifications.is_empty())
                .then_some(Field::Notifications(&self.notifications)),
            "perf_tests" => self.perf_tests.as_ref().map(Field::Perf),
            "reason" => self.reason.as_deref().map(Field::Text),
            "resources" => self.resources.as_ref().map(Field::Resources),
            "resumptions" => {
                (!self.resumptions.is_empty()).then_some(Field::Resumptions(&self.resumptions))
            }
            "scenario" => self.scenario.as_deref().map(Field::Text),
            "scenario_id" => self.scenario_id.as_deref().map(Field::Text),
            "stalled" => self.stalled.as_ref().map(Field::Stall),
            "storage_errors" => {
                (!self.storage_errors.is_empty()).then_some(Field::Lines(&self.storage_errors))
            }
            _ => None,
        }
    }
}

impl Serialize for RunSummary {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Typed fields and kept keys merged in key order (both are sorted
        // already: no allocation on this path, which every record write
        // takes); a typed field that is set wins over a kept value under
        // its key.
        let kept = || {
            self.extra
                .iter()
                .filter(|(key, _)| key.as_str() != "total_duration" && self.typed(key).is_none())
        };
        let typed = || {
            TYPED_KEYS
                .iter()
                .filter_map(|key| self.typed(key).map(|field| (*key, field)))
        };
        let mut map = serializer.serialize_map(Some(1 + typed().count() + kept().count()))?;
        map.serialize_entry("total_duration", &self.total_duration)?;
        let (mut typed, mut kept) = (typed().peekable(), kept().peekable());
        loop {
            let typed_first = match (typed.peek(), kept.peek()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some((a, _)), Some((b, _))) => *a < b.as_str(),
            };
            if typed_first {
                if let Some((key, field)) = typed.next() {
                    map.serialize_entry(key, &field)?;
                }
            } else if let Some((key, value)) = kept.next() {
                map.serialize_entry(key, &Field::Kept(value))?;
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for RunSummary {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(SummaryVisitor)
    }
}

/// Reads the summary object as it always was: `total_duration` a number or
/// null, once; every other key a JSON value, the last of duplicates
/// winning. The typed fields are then taken from those values.
struct SummaryVisitor;

impl<'de> Visitor<'de> for SummaryVisitor {
    type Value = RunSummary;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // As serde words a derived struct, so errors read as they did.
        f.write_str("struct RunSummary")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RunSummary, A::Error> {
        let mut total_duration: Option<Option<f64>> = None;
        let mut extra = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == "total_duration" {
                if total_duration.is_some() {
                    return Err(de::Error::duplicate_field("total_duration"));
                }
                total_duration = Some(map.next_value()?);
            } else {
                extra.insert(key, map.next_value::<Value>()?);
            }
        }
        /// The value under `key` as a `T`; one of another shape stays in
        /// `extra`.
        fn take<T: DeserializeOwned>(extra: &mut BTreeMap<String, Value>, key: &str) -> Option<T> {
            let value = extra.remove(key)?;
            if value.is_null() {
                return None;
            }
            match T::deserialize(&value) {
                Ok(typed) => Some(typed),
                Err(_) => {
                    extra.insert(key.to_owned(), value);
                    None
                }
            }
        }
        Ok(RunSummary {
            total_duration: total_duration.flatten(),
            reason: take(&mut extra, "reason"),
            live: take(&mut extra, "live"),
            resources: take(&mut extra, "resources"),
            storage_errors: take(&mut extra, "storage_errors").unwrap_or_default(),
            perf_tests: take(&mut extra, "perf_tests"),
            resumptions: take(&mut extra, "resumptions").unwrap_or_default(),
            scenario_id: take(&mut extra, "scenario_id"),
            scenario: take(&mut extra, "scenario"),
            stalled: take(&mut extra, "stalled"),
            notifications: take(&mut extra, "notifications").unwrap_or_default(),
            extra,
        })
    }
}

/// One resumption of a run (`summary.resumptions`): it went on in the same
/// run id and directory, its completed steps kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resumption {
    /// When it was resumed.
    pub at: Timestamp,
    /// The command line that resumed it.
    #[serde(default)]
    pub initiator: Option<String>,
    /// The machine it was resumed on.
    #[serde(default)]
    pub host: Option<String>,
    /// The status it had then (`failed`, `cancelled`, or `running` for an
    /// abandoned run).
    pub previous_status: crate::RunStatus,
    /// The steps kept as they were (completed before), in order.
    #[serde(default)]
    pub kept: Vec<String>,
    /// Completed steps the pipeline no longer has (resumed with force):
    /// their entries were dropped from the record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<String>,
}

/// A running step that has shown no sign of life (`summary.stalled`): no
/// progress on its channel, no output and (almost) no CPU for
/// `stall_seconds`. Cleared when it shows one again or ends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stall {
    /// The step.
    pub step_id: String,
    /// Its last sign of life: the stall is counted from here.
    pub since: Timestamp,
    /// The silence that made it a stall, in seconds.
    pub stall_seconds: f64,
}

/// One notification of a run and how it went (`summary.notifications`).
///
/// ```
/// use telemetry_model::{NotificationOutcome, NotificationRecord};
/// let line = r#"{"event":"failed","target":"webhook hooks.example.org","outcome":"failed",
///     "reason":"connection refused","attempts":2,"at":"2026-01-02T03:04:05Z","step_id":"train"}"#;
/// let record: NotificationRecord = serde_json::from_str(line)?;
/// assert_eq!(record.outcome, NotificationOutcome::Failed);
/// assert_eq!(record.step_id.as_deref(), Some("train"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotificationRecord {
    /// The event notified: `failed`, `cancelled`, `stalled`, `completed`
    /// or `recommendation`.
    pub event: String,
    /// The step concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    /// Where it went, as safe to show: `command `notify-send …``,
    /// `webhook HOST` (never the URL's path, which often holds a token), or
    /// `webhook $VARIABLE` for a URL taken from the environment.
    pub target: String,
    /// Whether it went.
    pub outcome: NotificationOutcome,
    /// Why it failed (or what the receiver answered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Tries made.
    #[serde(default)]
    pub attempts: u32,
    /// When the outcome was known.
    pub at: Timestamp,
}

/// How a notification went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationOutcome {
    /// The command exited 0, or the webhook answered 2xx.
    Sent,
    /// It did not: the reason says why.
    Failed,
}

impl fmt::Display for NotificationOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sent => "sent",
            Self::Failed => "failed",
        })
    }
}

/// The running step's progress as last persisted (`summary.live`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LiveProgress {
    /// The running step.
    pub step_id: String,
    /// Fraction of the step done, 0–1, if the step reports it.
    pub fraction: Option<f64>,
    /// Cumulative work items reported.
    pub items: Option<u64>,
    /// Work items per second.
    pub steps_per_sec: Option<f64>,
    /// Frames per second.
    pub fps: Option<f64>,
    /// The step's last message.
    pub message: Option<String>,
    /// Seconds left in the run, as estimated then.
    pub eta_seconds: Option<f64>,
    /// The band `[low, high]` of the seconds left, with enough history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_range_seconds: Option<[f64; 2]>,
    /// When this was persisted.
    pub updated_at: Option<Timestamp>,
}

/// A perf run's marker and verdict (`summary.perf_tests`): set when the
/// run starts measuring, completed with the counts when it is judged.
///
/// ```
/// use telemetry_model::{PerfCounts, PerfSummary};
///
/// let mut perf = PerfSummary { kind: "xtask".into(), ..PerfSummary::default() };
/// assert_eq!(perf.describe(), "measuring");
/// assert_eq!(perf.describe_run(true), "no verdict");
/// perf.counts = PerfCounts { passed: 3, failed: 1, ..PerfCounts::default() };
/// perf.verdict = Some(perf.counts.verdict());
/// assert_eq!(perf.describe(), "1 failed, 3 passed");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PerfSummary {
    /// Which front end ran it: `xtask` (`cargo xtask perf`) or `scenario`
    /// (`tracker perf-tests`).
    pub kind: String,
    /// The baselines file it was judged against.
    #[serde(default)]
    pub baselines: Option<String>,
    /// Outcomes by status (zero until judged).
    #[serde(flatten)]
    pub counts: PerfCounts,
    /// The worst status; `None` until the results are in.
    #[serde(default)]
    pub verdict: Option<PerfStatus>,
}

impl PerfSummary {
    /// `1 failed, 3 passed`, or `measuring` before the verdict.
    pub fn describe(&self) -> String {
        self.describe_run(false)
    }

    /// [`PerfSummary::describe`] for a run that may be over: a finished run
    /// without a verdict (cancelled, failed before judging, abandoned) says
    /// `no verdict` rather than `measuring`.
    pub fn describe_run(&self, finished: bool) -> String {
        match self.verdict {
            Some(_) => self.counts.describe(),
            None if finished => "no verdict".to_owned(),
            None => "measuring".to_owned(),
        }
    }
}

/// Counts of perf outcomes by status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PerfCounts {
    /// `passed` (no baseline included).
    pub passed: usize,
    /// `soft-breach`.
    pub soft_breach: usize,
    /// `failed`.
    pub failed: usize,
}

impl PerfCounts {
    /// The worst status counted, `passed` when none was.
    pub fn verdict(&self) -> PerfStatus {
        if self.failed > 0 {
            PerfStatus::Failed
        } else if self.soft_breach > 0 {
            PerfStatus::SoftBreach
        } else {
            PerfStatus::Passed
        }
    }

    /// `1 failed, 2 soft-breach, 3 passed`, leaving out zeros (`0 passed`
    /// when there is nothing at all).
    pub fn describe(&self) -> String {
        let parts: Vec<String> = [
            (self.failed, "failed"),
            (self.soft_breach, "soft-breach"),
            (self.passed, "passed"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        if parts.is_empty() {
            "0 passed".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

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

/// One step's resources, duration and throughput against its baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepResourceSummary {
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
    pub steps: Vec<StepResourceSummary>,
    /// The most telling of the steps' statuses; `"no baseline"` when no
    /// step has one.
    pub baseline_status: BaselineStatus,
}

/// The text a summary shows for a step without a stored baseline.
pub const NO_BASELINE: &str = "no baseline";

/// How a step's throughput compares with its baseline.
///
/// Serialised as its text: `"no baseline"`, `"no measurement"`, `"ok"`,
/// `"warning"`, `"critical"`. Ordered from least to most telling, so the
/// run's status is the maximum over its steps.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum BaselineStatus {
    /// No stored baseline (or one that is not a positive number): nothing
    /// is compared, and nothing is made up.
    #[default]
    #[serde(rename = "no baseline")]
    NoBaseline,
    /// A baseline, but no throughput was measured (too few samples).
    #[serde(rename = "no measurement")]
    NoMeasurement,
    /// Above the warning ratio.
    #[serde(rename = "ok")]
    Ok,
    /// At or below the warning ratio.
    #[serde(rename = "warning")]
    Warning,
    /// At or below the critical ratio.
    #[serde(rename = "critical")]
    Critical,
}

impl BaselineStatus {
    /// The text written in summaries ([`NO_BASELINE`] for `NoBaseline`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoBaseline => NO_BASELINE,
            Self::NoMeasurement => "no measurement",
            Self::Ok => "ok",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

impl fmt::Display for BaselineStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every typed key and some kept ones, as a writer of either kind
    /// leaves them.
    fn object() -> Value {
        json!({
            "total_duration": 12.5,
            "a_first": 1,
            "live": {"step_id": "train", "fraction": 0.5, "items": 10, "steps_per_sec": null,
                     "fps": null, "message": "epoch 1", "eta_seconds": 3.0,
                     "updated_at": "2026-11-24T01:55:11.200000+00:00"},
            "m_middle": [1, 2],
            "perf_tests": {"kind": "xtask", "baselines": null, "passed": 1, "soft_breach": 0,
                           "failed": 0, "verdict": "passed"},
            "reason": "cancelled",
            "resources": {
                "overall": {"samples": 0, "sampled_seconds": null, "cpu_percent_avg": null,
                            "cpu_percent_max": null, "cpu_percent_system_avg": null,
                            "cpu_percent_system_max": null, "memory_rss_peak_mb": null,
                            "memory_system_used_peak_mb": null, "memory_system_total_mb": null,
                            "gpu_util_percent_avg": null, "gpu_util_percent_max": null,
                            "gpu_mem_used_peak_mb": null, "steps_per_sec_mean": null,
                            "fps_mean": null, "notes": []},
                "steps": [], "baseline_status": "no baseline"},
            "scenario": "Classic",
            "scenario_id": "classic",
            "storage_errors": ["log: 1 write failed (disk full)"],
            "z_last": {"k": null}
        })
    }

    #[test]
    fn every_key_is_read_typed_or_kept_and_written_back_in_the_same_order() {
        let summary: RunSummary = serde_json::from_value(object()).unwrap();
        assert_eq!(summary.reason.as_deref(), Some("cancelled"));
        assert_eq!(summary.live.as_ref().unwrap().items, Some(10));
        assert_eq!(summary.perf_tests.as_ref().unwrap().counts.passed, 1);
        assert!(summary.resources.is_some());
        assert_eq!(summary.storage_errors.len(), 1);
        assert_eq!(
            summary.extra.keys().collect::<Vec<_>>(),
            ["a_first", "m_middle", "z_last"]
        );
        // The same object back, its keys in the order a summary of kept
        // values alone was written before: `total_duration`, then sorted.
        let text = serde_json::to_string(&summary).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), object());
        let keys: Vec<&str> = text
            .match_indices("\":")
            .map(|(at, _)| &text[text[..at].rfind('"').unwrap() + 1..at])
            .collect();
        let top: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| object().get(*k).is_some())
            .collect();
        let mut sorted: Vec<&str> = top[1..].to_vec();
        sorted.sort_unstable();
        assert_eq!(top[0], "total_duration");
        assert_eq!(top[1..], sorted[..], "{text}");
    }

    #[test]
    fn a_set_field_wins_over_a_kept_value_under_its_key_and_nulls_read_as_unset() {
        let mut summary: RunSummary =
            serde_json::from_value(json!({"reason": 42, "live": null, "total_duration": null}))
                .unwrap();
        assert_eq!(summary.reason, None);
        assert_eq!(summary.extra["reason"], 42, "kept, not lost");
        assert_eq!(summary.live, None);
        summary.reason = Some("failed".into());
        assert_eq!(
            serde_json::to_string(&summary).unwrap(),
            r#"{"total_duration":null,"reason":"failed"}"#
        );
        let twice =
            serde_json::from_str::<RunSummary>(r#"{"total_duration":1,"total_duration":2}"#);
        assert!(
            twice
                .unwrap_err()
                .to_string()
                .contains("duplicate field `total_duration`"),
            "as strict as the derived reader was"
        );
    }
}
