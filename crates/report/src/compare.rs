//! Runs side by side (`tracker compare`): step by step, each figure of each
//! run against the first run's, with the changes beyond the noise the
//! pipeline's history shows flagged.

use std::fmt::Write as _;

use serde::Serialize;
use telemetry_model::{PipelineRunRecord, RunStatus, StepStatus, Timestamp, format_duration};

use crate::format::{clock, num};
use crate::html::esc;

/// A change smaller than this share of the first run's figure is never
/// flagged, however quiet the history.
pub const MIN_RELATIVE_CHANGE: f64 = 0.10;
/// A duration change smaller than this (seconds) is never flagged.
pub const MIN_DURATION_CHANGE: f64 = 1.0;
/// A change is flagged beyond this many median absolute deviations of the
/// pipeline's history.
pub const NOISE_DEVIATIONS: f64 = 3.0;

/// The runs compared and each step's figures in every run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// The runs, in the order given; deltas are against the first.
    pub runs: Vec<ComparedRun>,
    /// Every step of any run: the first run's steps in order, then steps
    /// only later runs have.
    pub steps: Vec<ComparedStep>,
    /// Earlier completed runs of the pipeline whose spread is the noise
    /// changes are judged against.
    pub history_runs: usize,
}

/// One compared run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ComparedRun {
    /// Its id.
    pub run_id: String,
    /// Its pipeline.
    pub pipeline: Option<String>,
    /// Its status (`abandoned` as the caller derived it).
    pub status: String,
    /// When it started.
    pub created_at: Timestamp,
    /// How long it ran.
    pub duration_seconds: Option<f64>,
}

/// One step across the runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ComparedStep {
    /// The step id.
    pub step_id: String,
    /// Its name (from the first run that has it).
    pub name: String,
    /// Its figures in each run, `None` where the run has no such step.
    pub runs: Vec<Option<StepFigures>>,
    /// Each run's figures against the first run's (`None` for the first
    /// run and where either lacks the step).
    pub deltas: Vec<Option<StepDeltas>>,
    /// What changed beyond the noise, per run (empty for the first).
    pub flags: Vec<Vec<Flag>>,
}

/// What one run recorded of a step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct StepFigures {
    /// How the step ended.
    pub status: StepStatus,
    /// Its command's exit code.
    pub exit_code: Option<i32>,
    /// Wall time, seconds.
    pub duration_seconds: Option<f64>,
    /// CPU seconds of its process tree.
    pub cpu_time_seconds: Option<f64>,
    /// Peak resident memory, MB.
    pub peak_rss_mb: Option<f64>,
    /// Mean reported throughput, items per second.
    pub items_per_sec: Option<f64>,
}

/// A figure against the first run's.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Delta {
    /// This run's figure minus the first run's.
    pub absolute: f64,
    /// The same over the first run's figure (`None` when that is 0).
    pub relative: Option<f64>,
}

/// Each figure of a step against the first run's.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct StepDeltas {
    /// Wall time.
    pub duration_seconds: Option<Delta>,
    /// CPU seconds.
    pub cpu_time_seconds: Option<Delta>,
    /// Peak RSS.
    pub peak_rss_mb: Option<Delta>,
    /// Throughput.
    pub items_per_sec: Option<Delta>,
}

/// A change worth a look.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// Slower than the first run beyond the noise.
    Slower,
    /// Faster than the first run beyond the noise.
    Faster,
    /// Lower throughput than the first run beyond the noise.
    LowerThroughput,
    /// Higher throughput than the first run beyond the noise.
    HigherThroughput,
    /// Failed where the first run's step completed.
    Failed,
    /// Completed where the first run's step failed.
    Fixed,
}

impl Flag {
    /// The word shown (`slower`, `lower throughput`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slower => "slower",
            Self::Faster => "faster",
            Self::LowerThroughput => "lower throughput",
            Self::HigherThroughput => "higher throughput",
            Self::Failed => "failed",
            Self::Fixed => "fixed",
        }
    }
}

/// How much a step's figures vary across the pipeline's history: the
/// median absolute deviation of each.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Noise {
    duration: Option<f64>,
    items_per_sec: Option<f64>,
}

impl Comparison {
    /// Compares `runs` (at least one; deltas against the first), each with
    /// the status to show for it, judging changes against the spread of
    /// each step in `history` (earlier completed runs of the pipeline; the
    /// compared runs among them are left out).
    ///
    /// ```
    /// use report::compare::{Comparison, Flag};
    /// use telemetry_model::{PipelineRunRecord, StepExecutionEntry, StepStatus};
    ///
    /// let run = |id: &str, secs: f64| {
    ///     let mut r = PipelineRunRecord::new(id);
    ///     let mut s = StepExecutionEntry::new("train", "Train", 1);
    ///     s.status = StepStatus::Completed;
    ///     s.duration_seconds = Some(secs);
    ///     r.steps.push(s);
    ///     r
    /// };
    /// let (a, b) = (run("a", 100.0), run("b", 130.0));
    /// let c = Comparison::new(&[(&a, "completed"), (&b, "completed")], &[]);
    /// let delta = c.steps[0].deltas[1].unwrap().duration_seconds.unwrap();
    /// assert_eq!((delta.absolute, delta.relative), (30.0, Some(0.3)));
    /// assert_eq!(c.steps[0].flags[1], [Flag::Slower]);
    /// ```
    pub fn new(runs: &[(&PipelineRunRecord, &str)], history: &[PipelineRunRecord]) -> Self {
        let compared: Vec<&str> = runs.iter().map(|(r, _)| r.run_id.as_str()).collect();
        let history: Vec<&PipelineRunRecord> = history
            .iter()
            .filter(|h| !compared.contains(&h.run_id.as_str()))
            .collect();
        let mut order: Vec<(String, String)> = Vec::new();
        for (record, _) in runs {
            for step in &record.steps {
                if !order.iter().any(|(id, _)| *id == step.step_id) {
                    order.push((step.step_id.clone(), step.label().to_owned()));
                }
            }
        }
        let steps = order
            .into_iter()
            .map(|(step_id, name)| {
                let figures: Vec<Option<StepFigures>> = runs
                    .iter()
                    .map(|(record, _)| figures(record, &step_id))
                    .collect();
                let noise = noise(&history, &step_id);
                let first = figures.first().copied().flatten();
                let deltas = figures
                    .iter()
                    .enumerate()
                    .map(|(i, f)| match (i, first, f) {
                        (0, _, _) | (_, None, _) | (_, _, None) => None,
                        (_, Some(a), Some(b)) => Some(deltas(&a, b)),
                    })
                    .collect();
                let flags = figures
                    .iter()
                    .enumerate()
                    .map(|(i, f)| match (i, first, f) {
                        (0, _, _) | (_, None, _) | (_, _, None) => Vec::new(),
                        (_, Some(a), Some(b)) => flags(&a, b, noise),
                    })
                    .collect();
                ComparedStep {
                    step_id,
                    name,
                    runs: figures,
                    deltas,
                    flags,
                }
            })
            .collect();
        Self {
            runs: runs
                .iter()
                .map(|(record, status)| ComparedRun {
                    run_id: record.run_id.clone(),
                    pipeline: record.pipeline.clone(),
                    status: (*status).to_owned(),
                    created_at: record.created_at,
                    duration_seconds: run_seconds(record),
                })
                .collect(),
            steps,
            history_runs: history.len(),
        }
    }

    /// Whether any run has a step flagged as a regression (slower, lower
    /// throughput, newly failed).
    pub fn regressed(&self) -> bool {
        self.steps
            .iter()
            .flat_map(|s| s.flags.iter().flatten())
            .any(|f| matches!(f, Flag::Slower | Flag::LowerThroughput | Flag::Failed))
    }
}

fn run_seconds(record: &PipelineRunRecord) -> Option<f64> {
    record.summary.total_duration.or_else(|| {
        record
            .completed_at
            .map(|end| end.seconds_since(record.created_at).max(0.0))
    })
}

fn figures(record: &PipelineRunRecord, step_id: &str) -> Option<StepFigures> {
    let step = record.step(step_id)?;
    let resources = record
        .summary
        .resources
        .as_ref()
        .and_then(|r| r.steps.iter().find(|s| s.step_id == step_id));
    let aggregate = resources.map(|r| &r.resources);
    Some(StepFigures {
        status: step.status,
        exit_code: step.exit_code,
        duration_seconds: step.duration_seconds,
        cpu_time_seconds: step.cpu_time_seconds,
        peak_rss_mb: step
            .peak_rss_mb
            .or_else(|| aggregate.and_then(|a| a.memory_rss_peak_mb)),
        items_per_sec: aggregate.and_then(|a| a.steps_per_sec_mean),
    })
}

fn delta(a: Option<f64>, b: Option<f64>) -> Option<Delta> {
    let (a, b) = (a.filter(|v| v.is_finite())?, b.filter(|v| v.is_finite())?);
    Some(Delta {
        absolute: b - a,
        relative: (a != 0.0).then(|| (b - a) / a),
    })
}

fn deltas(a: &StepFigures, b: &StepFigures) -> StepDeltas {
    StepDeltas {
        duration_seconds: delta(a.duration_seconds, b.duration_seconds),
        cpu_time_seconds: delta(a.cpu_time_seconds, b.cpu_time_seconds),
        peak_rss_mb: delta(a.peak_rss_mb, b.peak_rss_mb),
        items_per_sec: delta(a.items_per_sec, b.items_per_sec),
    }
}

/// The median of finite `values`.
fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    (n > 0).then(|| {
        if n % 2 == 1 {
            values[n / 2]
        } else {
            f64::midpoint(values[n / 2 - 1], values[n / 2])
        }
    })
}

/// The median absolute deviation of `values`; `None` for fewer than three.
fn deviation(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite());
    if values.len() < 3 {
        return None;
    }
    let center = median(&mut values)?;
    let mut deviations: Vec<f64> = values.iter().map(|v| (v - center).abs()).collect();
    median(&mut deviations)
}

fn noise(history: &[&PipelineRunRecord], step_id: &str) -> Noise {
    let completed = || {
        history
            .iter()
            .filter(|r| r.status == RunStatus::Completed)
            .filter_map(|r| figures(r, step_id))
            .filter(|f| f.status == StepStatus::Completed)
    };
    Noise {
        duration: deviation(completed().filter_map(|f| f.duration_seconds).collect()),
        items_per_sec: deviation(completed().filter_map(|f| f.items_per_sec).collect()),
    }
}

/// How far `b` may be from `a` before it is flagged: the larger of
/// [`NOISE_DEVIATIONS`] × the history's deviation, [`MIN_RELATIVE_CHANGE`]
/// of `a`, and `floor`.
fn threshold(a: f64, deviation: Option<f64>, floor: f64) -> f64 {
    let noise = deviation.map_or(0.0, |d| NOISE_DEVIATIONS * d);
    noise.max(MIN_RELATIVE_CHANGE * a.abs()).max(floor)
}

fn flags(a: &StepFigures, b: &StepFigures, noise: Noise) -> Vec<Flag> {
    let mut flags = Vec::new();
    match (a.status, b.status) {
        (StepStatus::Completed, StepStatus::Failed) => flags.push(Flag::Failed),
        (StepStatus::Failed, StepStatus::Completed) => flags.push(Flag::Fixed),
        _ => {}
    }
    // Times and rates of finished work only: a failed step's are not comparable.
    if a.status == StepStatus::Completed && b.status == StepStatus::Completed {
        if let (Some(x), Some(y)) = (a.duration_seconds, b.duration_seconds) {
            let limit = threshold(x, noise.duration, MIN_DURATION_CHANGE);
            if y - x > limit {
                flags.push(Flag::Slower);
            } else if x - y > limit {
                flags.push(Flag::Faster);
            }
        }
        if let (Some(x), Some(y)) = (a.items_per_sec, b.items_per_sec) {
            let limit = threshold(x, noise.items_per_sec, 0.0);
            if x - y > limit {
                flags.push(Flag::LowerThroughput);
            } else if y - x > limit {
                flags.push(Flag::HigherThroughput);
            }
        }
    }
    flags
}

/// One step of a run against the same step in the pipeline's history.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgainstHistory {
    /// The step id.
    pub step_id: String,
    /// Its name.
    pub name: String,
    /// Its duration in this run.
    pub duration_seconds: Option<f64>,
    /// The median of its durations in the earlier completed runs.
    pub history_median_seconds: Option<f64>,
    /// How many earlier runs completed it.
    pub history_runs: usize,
    /// This run's duration against that median.
    pub change: Option<Delta>,
    /// `Slower` or `Faster` beyond the history's noise (the same rule as
    /// [`Comparison`]'s), else `None`.
    pub flag: Option<Flag>,
}

/// Each completed step of `record` against the median of the same step
/// in `history` (earlier completed runs of its pipeline; the run itself is
/// left out). Steps no earlier run completed are left out.
///
/// ```
/// use report::compare::{against_history, Flag};
/// use telemetry_model::{PipelineRunRecord, RunStatus, StepExecutionEntry, StepStatus};
///
/// let run = |id: &str, secs: f64| {
///     let mut r = PipelineRunRecord::new(id);
///     r.status = RunStatus::Completed;
///     let mut s = StepExecutionEntry::new("train", "Train", 1);
///     s.status = StepStatus::Completed;
///     s.duration_seconds = Some(secs);
///     r.steps.push(s);
///     r
/// };
/// let history = [run("h1", 100.0), run("h2", 102.0), run("h3", 98.0)];
/// let rows = against_history(&run("now", 150.0), &history);
/// assert_eq!(rows[0].history_median_seconds, Some(100.0));
/// assert_eq!(rows[0].flag, Some(Flag::Slower));
/// ```
pub fn against_history(
    record: &PipelineRunRecord,
    history: &[PipelineRunRecord],
) -> Vec<AgainstHistory> {
    let earlier: Vec<&PipelineRunRecord> = history
        .iter()
        .filter(|h| h.run_id != record.run_id && h.status == RunStatus::Completed)
        .collect();
    record
        .steps
        .iter()
        .filter(|s| s.status == StepStatus::Completed)
        .filter_map(|step| {
            let mut durations: Vec<f64> = earlier
                .iter()
                .filter_map(|h| h.step(&step.step_id))
                .filter(|s| s.status == StepStatus::Completed)
                .filter_map(|s| s.duration_seconds)
                .filter(|d| d.is_finite())
                .collect();
            let history_runs = durations.len();
            let center = median(&mut durations)?;
            let noise = deviation(durations);
            let change = delta(Some(center), step.duration_seconds);
            let flag = step.duration_seconds.and_then(|now| {
                let limit = threshold(center, noise, MIN_DURATION_CHANGE);
                if now - center > limit {
                    Some(Flag::Slower)
                } else if center - now > limit {
                    Some(Flag::Faster)
                } else {
                    None
                }
            });
            Some(AgainstHistory {
                step_id: step.step_id.clone(),
                name: step.label().to_owned(),
                duration_seconds: step.duration_seconds,
                history_median_seconds: Some(center),
                history_runs,
                change,
                flag,
            })
        })
        .collect()
}

/// `+12%`, `-3%`, or nothing without a relative change.
pub fn percent(delta: Option<Delta>) -> String {
    delta
        .and_then(|d| d.relative)
        .map_or_else(String::new, |r| format!("{:+.0}%", 100.0 * r))
}

/// Renders the comparison as one self-contained HTML page, in the style
/// of the run report: the runs, then one table per figure.
pub fn render_comparison_html(comparison: &Comparison) -> String {
    let mut out = String::with_capacity(16 * 1024);
    out.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"run tracker report\">\n<title>Comparison of ",
    );
    let ids: Vec<&str> = comparison.runs.iter().map(|r| r.run_id.as_str()).collect();
    let _ = write!(out, "{}", esc(&ids.join(", ")));
    out.push_str("</title>\n<style>\n");
    out.push_str(crate::STYLE);
    out.push_str("</style>\n</head>\n<body>\n<main>\n");
    out.push_str("<header class=\"run\"><p class=\"eyebrow\">Run comparison</p><h1>");
    let pipeline = comparison
        .runs
        .first()
        .and_then(|r| r.pipeline.as_deref())
        .unwrap_or("Runs");
    let _ = write!(out, "{}</h1>", esc(pipeline));
    let _ = writeln!(
        out,
        "<p class=\"muted\">Deltas against the first run; changes beyond the noise of {} earlier \
         completed run{} are flagged.</p></header>",
        comparison.history_runs,
        if comparison.history_runs == 1 {
            ""
        } else {
            "s"
        }
    );
    out.push_str(
        "<section class=\"card\" id=\"runs\"><h2>Runs</h2><div class=\"scroll\"><table><thead><tr>\
         <th>Run</th><th>Status</th><th>Started</th><th class=\"num\">Duration</th></tr></thead><tbody>",
    );
    for run in &comparison.runs {
        let status = esc(&run.status);
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td><span class=\"badge st-{status}\">{status}</span></td>\
             <td>{}</td><td class=\"num\">{}</td></tr>",
            esc(&run.run_id),
            clock(run.created_at),
            run.duration_seconds
                .map_or_else(|| "–".to_owned(), format_duration)
        );
    }
    out.push_str("</tbody></table></div></section>\n");
    let tables: [Table; 4] = [
        (
            "duration",
            "Duration",
            |f| f.duration_seconds,
            |d| d.duration_seconds,
            format_duration,
        ),
        (
            "cpu",
            "CPU seconds",
            |f| f.cpu_time_seconds,
            |d| d.cpu_time_seconds,
            |v| num(v, 1),
        ),
        (
            "memory",
            "Peak memory (MB)",
            |f| f.peak_rss_mb,
            |d| d.peak_rss_mb,
            |v| num(v, 0),
        ),
        (
            "throughput",
            "Throughput (items/s)",
            |f| f.items_per_sec,
            |d| d.items_per_sec,
            |v| num(v, 1),
        ),
    ];
    for (id, title, pick, pick_delta, show) in tables {
        let _ = write!(
            out,
            "<section class=\"card\" id=\"{id}\"><h2>{title}</h2><div class=\"scroll\"><table><thead><tr><th>Step</th>"
        );
        for (i, run) in comparison.runs.iter().enumerate() {
            let _ = write!(
                out,
                "<th class=\"num\" title=\"{}\">{}</th>",
                esc(&run.run_id),
                run_letter(i)
            );
        }
        out.push_str("</tr></thead><tbody>");
        for step in &comparison.steps {
            let _ = write!(out, "<tr><td>{}</td>", esc(&step.name));
            for (i, figures) in step.runs.iter().enumerate() {
                let cell = match figures {
                    None => "<span class=\"muted\">not in this run</span>".to_owned(),
                    Some(f) => {
                        let value = pick(f)
                            .filter(|v| v.is_finite())
                            .map_or_else(|| "–".to_owned(), show);
                        let change = step.deltas[i].and_then(|d| pick_delta(&d));
                        let flags: Vec<&str> = step.flags[i]
                            .iter()
                            .filter(|flag| flag_concerns(**flag, id))
                            .map(|flag| flag.as_str())
                            .collect();
                        let mut cell = esc(&value).to_string();
                        if change.is_some_and(|d| d.relative.is_some()) {
                            let _ =
                                write!(cell, " <span class=\"muted\">({})</span>", percent(change));
                        }
                        for flag in flags {
                            let _ = write!(cell, " <span class=\"badge st-warning\">{flag}</span>");
                        }
                        cell
                    }
                };
                let _ = write!(out, "<td class=\"num\">{cell}</td>");
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody></table></div></section>\n");
    }
    out.push_str(
        "<footer>Written by the run tracker from the runs' manifests. One self-contained file: \
         no scripts, nothing fetched.</footer>\n</main>\n</body>\n</html>\n",
    );
    out
}

/// The figure a table shows.
type Pick = fn(&StepFigures) -> Option<f64>;
/// Its change against the first run.
type PickDelta = fn(&StepDeltas) -> Option<Delta>;
/// One table of the page: its id, title, figure, change, and how a value
/// is shown.
type Table = (
    &'static str,
    &'static str,
    Pick,
    PickDelta,
    fn(f64) -> String,
);

/// Which figure's table a flag belongs in.
fn flag_concerns(flag: Flag, table: &str) -> bool {
    match flag {
        Flag::Slower | Flag::Faster | Flag::Failed | Flag::Fixed => table == "duration",
        Flag::LowerThroughput | Flag::HigherThroughput => table == "throughput",
    }
}

/// `A`, `B`, … `Z`, then `27`, `28`…: how a run is named in column heads.
pub fn run_letter(i: usize) -> String {
    u8::try_from(i)
        .ok()
        .filter(|i| *i < 26)
        .map_or_else(|| (i + 1).to_string(), |i| char::from(b'A' + i).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use telemetry_model::StepExecutionEntry;

    fn run(id: &str, status: RunStatus, steps: &[(&str, StepStatus, f64)]) -> PipelineRunRecord {
        let mut record = PipelineRunRecord::new(id);
        record.pipeline = Some("p".into());
        record.status = status;
        for (i, (step_id, status, secs)) in steps.iter().enumerate() {
            let mut step = StepExecutionEntry::new(*step_id, *step_id, i as u32 + 1);
            step.status = *status;
            step.duration_seconds = Some(*secs);
            record.steps.push(step);
        }
        record
    }

    fn flags_of(a: f64, b: f64, history: &[f64]) -> Vec<Flag> {
        let ok = StepStatus::Completed;
        let history: Vec<PipelineRunRecord> = history
            .iter()
            .enumerate()
            .map(|(i, secs)| run(&format!("h{i}"), RunStatus::Completed, &[("s", ok, *secs)]))
            .collect();
        let (a, b) = (
            run("a", RunStatus::Completed, &[("s", ok, a)]),
            run("b", RunStatus::Completed, &[("s", ok, b)]),
        );
        let c = Comparison::new(&[(&a, "completed"), (&b, "completed")], &history);
        c.steps[0].flags[1].clone()
    }

    #[test]
    fn a_noisy_history_raises_the_bar_and_a_quiet_one_leaves_the_floors() {
        // 20 % slower: beyond the 10 % floor without history.
        assert_eq!(flags_of(100.0, 120.0, &[]), [Flag::Slower]);
        assert_eq!(flags_of(100.0, 80.0, &[]), [Flag::Faster]);
        assert_eq!(flags_of(100.0, 105.0, &[]), []);
        // Within three deviations of a history that swings by 10 s.
        let noisy = [80.0, 90.0, 100.0, 110.0, 120.0];
        assert_eq!(flags_of(100.0, 120.0, &noisy), []);
        assert_eq!(flags_of(100.0, 140.0, &noisy), [Flag::Slower]);
        // A short step: the 1 s floor.
        assert_eq!(flags_of(2.0, 2.8, &[]), []);
    }

    #[test]
    fn statuses_and_steps_only_some_runs_have() {
        let (ok, bad) = (StepStatus::Completed, StepStatus::Failed);
        let a = run("a", RunStatus::Failed, &[("x", ok, 1.0), ("y", bad, 1.0)]);
        let b = run(
            "b",
            RunStatus::Failed,
            &[("x", bad, 1.0), ("y", ok, 1.0), ("z", ok, 1.0)],
        );
        let c = Comparison::new(&[(&a, "failed"), (&b, "failed")], std::slice::from_ref(&a));
        assert_eq!(c.history_runs, 0, "a compared run is not history");
        let ids: Vec<&str> = c.steps.iter().map(|s| s.step_id.as_str()).collect();
        assert_eq!(ids, ["x", "y", "z"]);
        assert_eq!(c.steps[0].flags[1], [Flag::Failed]);
        assert_eq!(c.steps[1].flags[1], [Flag::Fixed]);
        assert_eq!(c.steps[2].runs[0], None);
        assert!(c.regressed());
        assert_eq!(run_letter(0), "A");
        assert_eq!(run_letter(26), "27");
    }

    #[test]
    fn the_page_escapes_what_the_runs_hold() {
        let ok = StepStatus::Completed;
        let mut a = run("a<script>", RunStatus::Completed, &[("s", ok, 1.0)]);
        a.steps[0].display_name = "<img src=x onerror=alert(1)>".into();
        let b = run("b", RunStatus::Completed, &[("s", ok, 1.0)]);
        let html = render_comparison_html(&Comparison::new(&[(&a, "completed"), (&b, "<b>")], &[]));
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    }
}
