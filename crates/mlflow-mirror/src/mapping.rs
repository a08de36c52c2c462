//! How a tracked run maps onto an MLflow run: tags, status, metrics, and
//! LogBatch requests within MLflow's limits. Pure functions, no I/O
//! (docs/mlflow.md has the table).

use std::collections::HashMap;

use serde::Serialize;
use telemetry_model::{
    PipelineRunRecord, RunStatus, StepExecutionEntry, StepStatus, TelemetrySnapshot,
};

/// Most metrics in one LogBatch request (MLflow's `MAX_METRICS_PER_BATCH`).
pub const MAX_METRICS_PER_BATCH: usize = 1000;
/// Most params in one LogBatch request.
pub const MAX_PARAMS_PER_BATCH: usize = 100;
/// Most tags in one LogBatch request.
pub const MAX_TAGS_PER_BATCH: usize = 100;
/// Most metrics, params and tags together in one LogBatch request.
pub const MAX_ENTITIES_PER_BATCH: usize = 1000;
/// Longest tag value sent, in characters: what every MLflow server since
/// 1.x accepts (newer ones take 8000); longer values are cut with `…`.
pub const MAX_TAG_VALUE: usize = 5000;
/// Longest metric or tag key MLflow accepts.
pub const MAX_KEY: usize = 250;

/// The tag that ties an MLflow run to its tracker run: how `sync` finds
/// it again.
pub const TAG_RUN_ID: &str = "tracker.run_id";
/// The tracker's own status (`running`, `completed`, `failed`,
/// `cancelled`, `abandoned`).
pub const TAG_STATUS: &str = "tracker.status";
/// Set to `true` on a run whose writer died, when it is next seen.
pub const TAG_ABANDONED: &str = "tracker.abandoned";

/// One metric value (`key`, `value`, epoch ms `timestamp`, `step`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Metric {
    /// The metric's name.
    pub key: String,
    /// Its value (finite).
    pub value: f64,
    /// When, in milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// The x of MLflow's charts: the sample index or the step's order.
    pub step: i64,
}

/// A run tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tag {
    /// The tag's name.
    pub key: String,
    /// Its value (at most [`MAX_TAG_VALUE`] characters).
    pub value: String,
}

impl Tag {
    /// A tag, its value cut to [`MAX_TAG_VALUE`] characters.
    pub fn new(key: impl Into<String>, value: impl AsRef<str>) -> Self {
        let value = value.as_ref();
        let value = match value.char_indices().nth(MAX_TAG_VALUE) {
            Some((at, _)) => {
                let cut = value[..at].char_indices().last().map_or(0, |(i, _)| i);
                format!("{}…", &value[..cut])
            }
            None => value.to_owned(),
        };
        Self {
            key: key.into(),
            value,
        }
    }
}

/// A run parameter (immutable once logged, in MLflow).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Param {
    /// The parameter's name.
    pub key: String,
    /// Its value.
    pub value: String,
}

/// The body of one LogBatch request, within MLflow's limits.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Batch {
    /// At most [`MAX_METRICS_PER_BATCH`].
    pub metrics: Vec<Metric>,
    /// At most [`MAX_PARAMS_PER_BATCH`].
    pub params: Vec<Param>,
    /// At most [`MAX_TAGS_PER_BATCH`].
    pub tags: Vec<Tag>,
}

impl Batch {
    fn len(&self) -> usize {
        self.metrics.len() + self.params.len() + self.tags.len()
    }
}

/// Splits metrics, params and tags into LogBatch requests within MLflow's
/// limits, in order; none when there is nothing to send.
///
/// ```
/// use mlflow_mirror::{Metric, batches};
/// let metrics: Vec<Metric> = (0..2500)
///     .map(|i| Metric { key: "m".into(), value: 1.0, timestamp: 0, step: i })
///     .collect();
/// let sizes: Vec<usize> = batches(metrics, vec![], vec![]).iter().map(|b| b.metrics.len()).collect();
/// assert_eq!(sizes, [1000, 1000, 500]);
/// ```
pub fn batches(metrics: Vec<Metric>, params: Vec<Param>, tags: Vec<Tag>) -> Vec<Batch> {
    let mut out: Vec<Batch> = Vec::new();
    let mut current = Batch::default();
    let full = |b: &Batch| b.len() >= MAX_ENTITIES_PER_BATCH;
    // Tags and params first: a run's status tag goes with its first batch.
    for tag in tags {
        if current.tags.len() >= MAX_TAGS_PER_BATCH || full(&current) {
            out.push(std::mem::take(&mut current));
        }
        current.tags.push(tag);
    }
    for param in params {
        if current.params.len() >= MAX_PARAMS_PER_BATCH || full(&current) {
            out.push(std::mem::take(&mut current));
        }
        current.params.push(param);
    }
    for metric in metrics {
        if current.metrics.len() >= MAX_METRICS_PER_BATCH || full(&current) {
            out.push(std::mem::take(&mut current));
        }
        current.metrics.push(metric);
    }
    if current.len() > 0 {
        out.push(current);
    }
    out
}

/// MLflow's status for a tracker run: `RUNNING` while it runs, then
/// `FINISHED`, `FAILED`, or `KILLED` (cancelled, or abandoned: its writer
/// died).
pub fn mlflow_status(status: RunStatus, abandoned: bool) -> &'static str {
    if abandoned {
        return "KILLED";
    }
    match status {
        RunStatus::Completed => "FINISHED",
        RunStatus::Failed => "FAILED",
        RunStatus::Cancelled => "KILLED",
        _ => "RUNNING",
    }
}

/// The tracker's status word: the record's, or `abandoned`.
pub fn tracker_status(status: RunStatus, abandoned: bool) -> String {
    if abandoned {
        "abandoned".to_owned()
    } else {
        status.to_string()
    }
}

/// The run's tags: `tracker.run_id`, `tracker.pipeline`, `tracker.host`,
/// `tracker.status`, `tracker.command` (also `mlflow.source.name`),
/// `tracker.scenario`, `tracker.reason`, and `tracker.abandoned` for an
/// abandoned run. Absent values are left out.
pub fn run_tags(record: &PipelineRunRecord, abandoned: bool) -> Vec<Tag> {
    let mut tags = vec![
        Tag::new(TAG_RUN_ID, &record.run_id),
        Tag::new(TAG_STATUS, tracker_status(record.status, abandoned)),
    ];
    let mut optional = |key: &str, value: Option<&str>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            tags.push(Tag::new(key, value));
        }
    };
    optional("tracker.pipeline", record.pipeline.as_deref());
    optional("tracker.host", record.host.as_deref());
    optional("tracker.command", record.initiator.as_deref());
    optional("mlflow.source.name", record.initiator.as_deref());
    optional(
        "tracker.scenario",
        record
            .scenario_config_path
            .as_deref()
            .or(record.summary.scenario.as_deref()),
    );
    optional("tracker.reason", record.summary.reason.as_deref());
    if abandoned {
        tags.push(Tag::new(TAG_ABANDONED, "true"));
    }
    tags
}

/// MLflow's megabytes are 10⁶ bytes; the tracker's are MiB.
const MIB_IN_MB: f64 = 1.048_576;

/// The metrics of one telemetry sample, at `index` (the sample's place in
/// `telemetry.jsonl`) and its own time. The machine's and the process
/// tree's figures go under MLflow's `system/…` names, so the MLflow UI
/// shows them in its system-metrics view; the reported throughput under
/// `throughput/…`.
///
/// | tracker field | MLflow metric |
/// |---|---|
/// | `cpu_percent_system` | `system/cpu_utilization_percentage` |
/// | `memory_system_used_mb` (MiB) | `system/system_memory_usage_megabytes` (10⁶ B) |
/// | used / total | `system/system_memory_usage_percentage` |
/// | `cpu_percent_process` (% of the machine) | `system/process_tree_cpu_percentage` |
/// | `memory_rss_mb` (MiB) | `system/process_memory_rss_megabytes` (10⁶ B) |
/// | `gpu_util_percent` (mean over GPUs) | `system/gpu_utilization_percentage` |
/// | `gpu_mem_used_mb` (MiB) | `system/gpu_memory_usage_megabytes` (10⁶ B) |
/// | `steps_per_sec`, `fps` | `throughput/steps_per_sec`, `throughput/fps` |
pub fn sample_metrics(snapshot: &TelemetrySnapshot, index: usize) -> Vec<Metric> {
    let step = i64::try_from(index).unwrap_or(i64::MAX);
    let mut out = Vec::with_capacity(9);
    let mut push = |key: &str, value: Option<f64>| {
        if let Some(value) = value.filter(|v| v.is_finite()) {
            out.push(Metric {
                key: key.to_owned(),
                value,
                timestamp: snapshot.timestamp_ms,
                step,
            });
        }
    };
    let mb = |mib: Option<f64>| mib.map(|v| v * MIB_IN_MB);
    push(
        "system/cpu_utilization_percentage",
        snapshot.cpu_percent_system,
    );
    push(
        "system/system_memory_usage_megabytes",
        mb(snapshot.memory_system_used_mb),
    );
    push(
        "system/system_memory_usage_percentage",
        match (
            snapshot.memory_system_used_mb,
            snapshot.memory_system_total_mb,
        ) {
            (Some(used), Some(total)) if total > 0.0 => Some(used / total * 100.0),
            _ => None,
        },
    );
    push(
        "system/process_tree_cpu_percentage",
        snapshot.cpu_percent_process,
    );
    push(
        "system/process_memory_rss_megabytes",
        mb(snapshot.memory_rss_mb),
    );
    push(
        "system/gpu_utilization_percentage",
        snapshot.gpu_util_percent,
    );
    push(
        "system/gpu_memory_usage_megabytes",
        mb(snapshot.gpu_mem_used_mb),
    );
    push("throughput/steps_per_sec", snapshot.steps_per_sec);
    push("throughput/fps", snapshot.fps);
    out
}

/// Mean reported throughput of each step, from its samples.
#[derive(Clone, Debug, Default)]
pub struct StepThroughput {
    sums: HashMap<String, [(f64, u32); 2]>,
}

impl StepThroughput {
    /// Counts a sample's throughput towards its step.
    pub fn add(&mut self, snapshot: &TelemetrySnapshot) {
        let Some(step) = &snapshot.step_id else {
            return;
        };
        let entry = self.sums.entry(step.clone()).or_default();
        for (slot, value) in entry.iter_mut().zip([snapshot.steps_per_sec, snapshot.fps]) {
            if let Some(v) = value.filter(|v| v.is_finite()) {
                slot.0 += v;
                slot.1 += 1;
            }
        }
    }

    /// `(steps_per_sec, fps)` means of the step's samples that had them.
    pub fn mean(&self, step_id: &str) -> (Option<f64>, Option<f64>) {
        let mean = |(sum, n): (f64, u32)| (n > 0).then(|| sum / f64::from(n));
        self.sums
            .get(step_id)
            .map_or((None, None), |[sps, fps]| (mean(*sps), mean(*fps)))
    }
}

/// A metric key with what MLflow refuses replaced: characters other than
/// letters, digits, `_ - . / :` and space become `_`; at most
/// [`MAX_KEY`] characters.
pub fn metric_key(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':' | ' ') {
                c
            } else {
                '_'
            }
        })
        .take(MAX_KEY)
        .collect()
}

/// The metrics of a finished (completed or failed) step, at its order and
/// end time: `steps/<id>/duration_seconds`, `…/cpu_time_seconds`,
/// `…/peak_rss_mb`, `…/steps_per_sec` and `…/fps` (the mean reported
/// throughput), and `steps/duration_seconds` (every step on one chart).
/// None for a step that has not finished.
pub fn step_metrics(step: &StepExecutionEntry, throughput: &StepThroughput) -> Vec<Metric> {
    if !matches!(step.status, StepStatus::Completed | StepStatus::Failed) {
        return Vec::new();
    }
    let duration = step.finished_duration();
    let timestamp = step.ended_at.or(step.started_at).map_or(0, |t| t.unix_ms());
    let id = metric_key(&step.step_id);
    let (sps, fps) = throughput.mean(&step.step_id);
    let mut out = Vec::new();
    let mut push = |key: String, value: Option<f64>| {
        if let Some(value) = value.filter(|v| v.is_finite()) {
            out.push(Metric {
                key: metric_key(&key),
                value,
                timestamp,
                step: i64::from(step.order),
            });
        }
    };
    push(format!("steps/{id}/duration_seconds"), duration);
    push(
        format!("steps/{id}/cpu_time_seconds"),
        step.cpu_time_seconds,
    );
    push(format!("steps/{id}/peak_rss_mb"), step.peak_rss_mb);
    push(format!("steps/{id}/steps_per_sec"), sps);
    push(format!("steps/{id}/fps"), fps);
    push("steps/duration_seconds".to_owned(), duration);
    out
}

/// `run/duration_seconds` of a run that has ended, at its end time.
pub fn run_metrics(record: &PipelineRunRecord, end_ms: i64) -> Vec<Metric> {
    let duration = record.summary.total_duration.or_else(|| {
        record
            .completed_at
            .map(|end| end.seconds_since(record.created_at))
    });
    duration
        .filter(|d| d.is_finite() && *d >= 0.0)
        .map(|value| Metric {
            key: "run/duration_seconds".to_owned(),
            value,
            timestamp: end_ms,
            step: 0,
        })
        .into_iter()
        .collect()
}

/// When an ended run ended, in epoch ms: its `completed_at`, else (an
/// abandoned run) the last time it recorded, its last step's end or start.
pub fn end_time_ms(record: &PipelineRunRecord) -> i64 {
    record
        .completed_at
        .or_else(|| {
            record
                .steps
                .iter()
                .filter_map(|s| s.ended_at.or(s.started_at))
                .max_by_key(|t| t.unix_ms())
        })
        .unwrap_or(record.created_at)
        .unix_ms()
}

#[cfg(test)]
mod tests {
    use super::*;
    use telemetry_model::Timestamp;

    fn metric(i: i64) -> Metric {
        Metric {
            key: "m".into(),
            value: 1.0,
            timestamp: 0,
            step: i,
        }
    }

    #[test]
    fn batches_keep_every_limit_and_the_order() {
        let tags: Vec<Tag> = (0..250).map(|i| Tag::new(format!("t{i}"), "v")).collect();
        let params: Vec<Param> = (0..150)
            .map(|i| Param {
                key: format!("p{i}"),
                value: "v".into(),
            })
            .collect();
        let metrics: Vec<Metric> = (0..2100).map(metric).collect();
        let out = batches(metrics, params, tags);
        for b in &out {
            assert!(b.tags.len() <= MAX_TAGS_PER_BATCH);
            assert!(b.params.len() <= MAX_PARAMS_PER_BATCH);
            assert!(b.metrics.len() <= MAX_METRICS_PER_BATCH);
            assert!(b.len() <= MAX_ENTITIES_PER_BATCH);
            assert!(b.len() > 0);
        }
        let steps: Vec<i64> = out
            .iter()
            .flat_map(|b| b.metrics.iter().map(|m| m.step))
            .collect();
        assert_eq!(steps, (0..2100).collect::<Vec<_>>());
        assert_eq!(out.iter().map(|b| b.tags.len()).sum::<usize>(), 250);
        assert_eq!(out.iter().map(|b| b.params.len()).sum::<usize>(), 150);
        assert_eq!(out[0].tags[0].key, "t0");
        // 250 tags need three requests; the params and metrics fill up
        // behind them.
        assert_eq!(
            out.iter()
                .map(|b| (b.tags.len(), b.params.len(), b.metrics.len()))
                .collect::<Vec<_>>(),
            [
                (100, 0, 0),
                (100, 0, 0),
                (50, 100, 0),
                (0, 50, 950),
                (0, 0, 1000),
                (0, 0, 150)
            ]
        );
        assert!(batches(vec![], vec![], vec![]).is_empty());
        assert_eq!(batches(vec![metric(0)], vec![], vec![]).len(), 1);
    }

    #[test]
    fn long_tag_values_are_cut() {
        let tag = Tag::new("k", "é".repeat(6000));
        assert_eq!(tag.value.chars().count(), MAX_TAG_VALUE);
        assert!(tag.value.ends_with('…'));
        assert_eq!(Tag::new("k", "short").value, "short");
    }

    #[test]
    fn statuses() {
        assert_eq!(mlflow_status(RunStatus::Running, false), "RUNNING");
        assert_eq!(mlflow_status(RunStatus::Pending, false), "RUNNING");
        assert_eq!(mlflow_status(RunStatus::Completed, false), "FINISHED");
        assert_eq!(mlflow_status(RunStatus::Failed, false), "FAILED");
        assert_eq!(mlflow_status(RunStatus::Cancelled, false), "KILLED");
        assert_eq!(mlflow_status(RunStatus::Running, true), "KILLED");
        assert_eq!(tracker_status(RunStatus::Running, true), "abandoned");
        assert_eq!(tracker_status(RunStatus::Failed, false), "failed");
    }

    #[test]
    fn tags_of_a_run() {
        let mut record = PipelineRunRecord::new("r1");
        record.pipeline = Some("train".into());
        record.host = Some("node-7".into());
        record.initiator = Some("tracker run p.toml".into());
        record.scenario_config_path = Some("scenarios/a.yaml".into());
        let keys = |tags: Vec<Tag>| -> Vec<(String, String)> {
            tags.into_iter().map(|t| (t.key, t.value)).collect()
        };
        let tags = keys(run_tags(&record, true));
        let get = |k: &str| tags.iter().find(|t| t.0 == k).map(|t| t.1.as_str());
        assert_eq!(get(TAG_RUN_ID), Some("r1"));
        assert_eq!(get("tracker.pipeline"), Some("train"));
        assert_eq!(get("tracker.host"), Some("node-7"));
        assert_eq!(get("tracker.command"), Some("tracker run p.toml"));
        assert_eq!(get("mlflow.source.name"), Some("tracker run p.toml"));
        assert_eq!(get("tracker.scenario"), Some("scenarios/a.yaml"));
        assert_eq!(get(TAG_STATUS), Some("abandoned"));
        assert_eq!(get(TAG_ABANDONED), Some("true"));
        assert_eq!(get("tracker.reason"), None);
        let plain = keys(run_tags(&PipelineRunRecord::new("r2"), false));
        assert_eq!(
            plain,
            [
                (TAG_RUN_ID.to_owned(), "r2".to_owned()),
                (TAG_STATUS.to_owned(), "pending".to_owned())
            ]
        );
    }

    #[test]
    fn a_sample_maps_to_system_metrics() {
        let snapshot = TelemetrySnapshot {
            timestamp_ms: 1_700_000_000_000,
            step_id: Some("train".into()),
            steps_per_sec: Some(12.5),
            cpu_percent_system: Some(40.0),
            cpu_percent_process: Some(25.0),
            memory_rss_mb: Some(100.0),
            memory_system_used_mb: Some(1024.0),
            memory_system_total_mb: Some(4096.0),
            gpu_util_percent: Some(f64::NAN),
            ..TelemetrySnapshot::default()
        };
        let metrics = sample_metrics(&snapshot, 7);
        let get = |k: &str| metrics.iter().find(|m| m.key == k).map(|m| m.value);
        assert_eq!(get("system/cpu_utilization_percentage"), Some(40.0));
        assert_eq!(get("system/process_tree_cpu_percentage"), Some(25.0));
        assert_eq!(
            get("system/system_memory_usage_megabytes"),
            Some(1024.0 * 1.048_576)
        );
        assert_eq!(get("system/system_memory_usage_percentage"), Some(25.0));
        let rss = get("system/process_memory_rss_megabytes").unwrap();
        assert!((rss - 104.857_6).abs() < 1e-9, "{rss}");
        assert_eq!(get("throughput/steps_per_sec"), Some(12.5));
        // Not finite or not measured: not sent.
        assert_eq!(get("system/gpu_utilization_percentage"), None);
        assert_eq!(get("throughput/fps"), None);
        assert_eq!(metrics.len(), 6);
        assert!(
            metrics
                .iter()
                .all(|m| m.step == 7 && m.timestamp == 1_700_000_000_000)
        );
    }

    #[test]
    fn a_finished_step_maps_to_duration_and_throughput() {
        let start = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let end = Timestamp::parse("2026-01-01T00:00:03Z").unwrap();
        let mut step = StepExecutionEntry::new("train", "Train", 2);
        step.status = StepStatus::Running;
        let mut throughput = StepThroughput::default();
        for sps in [10.0, 20.0] {
            throughput.add(&TelemetrySnapshot {
                step_id: Some("train".into()),
                steps_per_sec: Some(sps),
                ..TelemetrySnapshot::default()
            });
        }
        assert!(step_metrics(&step, &throughput).is_empty(), "still running");
        step.status = StepStatus::Completed;
        step.started_at = Some(start);
        step.ended_at = Some(end);
        step.cpu_time_seconds = Some(1.5);
        let metrics = step_metrics(&step, &throughput);
        let got: Vec<(&str, f64)> = metrics.iter().map(|m| (m.key.as_str(), m.value)).collect();
        assert_eq!(
            got,
            [
                ("steps/train/duration_seconds", 3.0),
                ("steps/train/cpu_time_seconds", 1.5),
                ("steps/train/steps_per_sec", 15.0),
                ("steps/duration_seconds", 3.0),
            ]
        );
        assert!(
            metrics
                .iter()
                .all(|m| m.step == 2 && m.timestamp == end.unix_ms())
        );
    }

    #[test]
    fn keys_lose_what_mlflow_refuses() {
        assert_eq!(metric_key("steps/a b:c.d-e_f/x"), "steps/a b:c.d-e_f/x");
        assert_eq!(metric_key("steps/a*b?"), "steps/a_b_");
        assert_eq!(metric_key(&"k".repeat(300)).len(), MAX_KEY);
    }

    #[test]
    fn end_time_of_an_abandoned_run_is_its_last_record() {
        let mut record = PipelineRunRecord::new("r");
        let created = record.created_at.unix_ms();
        assert_eq!(end_time_ms(&record), created);
        let later = Timestamp::from_unix_ms(created + 5000);
        let mut step = StepExecutionEntry::new("a", "A", 1);
        step.started_at = Some(later);
        record.steps.push(step);
        assert_eq!(end_time_ms(&record), created + 5000);
    }
}
