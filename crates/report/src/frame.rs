//! The time frame every timeline and chart of a report shares, so that a
//! step boundary sits at the same x everywhere.

use telemetry_model::{StepStatus, TelemetrySnapshot};

use crate::ReportInput;
use crate::format::elapsed;

/// Width of every SVG's view box.
pub(crate) const WIDTH: f64 = 1000.0;
/// Left edge of the plot area: the gutter holds labels.
pub(crate) const PLOT_LEFT: f64 = 178.0;
/// Right edge of the plot area.
pub(crate) const PLOT_RIGHT: f64 = 978.0;

/// One step placed on the time axis.
#[derive(Clone, Debug)]
pub(crate) struct Span {
    pub order: u32,
    pub label: String,
    pub step_id: String,
    pub status: StepStatus,
    pub start_ms: i64,
    pub end_ms: i64,
    /// Still running (or cut short without an end): drawn open-ended.
    pub open: bool,
}

/// Run start to run end, in epoch milliseconds, and the steps on it.
#[derive(Clone, Debug)]
pub(crate) struct Frame {
    pub start_ms: i64,
    pub end_ms: i64,
    pub spans: Vec<Span>,
}

/// Samples with a real time (a `null` timestamp reads as 0), in time order.
pub(crate) fn timed_snapshots(snapshots: &[TelemetrySnapshot]) -> Vec<&TelemetrySnapshot> {
    let mut timed: Vec<&TelemetrySnapshot> =
        snapshots.iter().filter(|s| s.timestamp_ms > 0).collect();
    timed.sort_by_key(|s| s.timestamp_ms);
    timed
}

impl Frame {
    pub(crate) fn new(input: &ReportInput<'_>, timed: &[&TelemetrySnapshot]) -> Self {
        let record = input.record;
        let created = record.created_at.unix_ms();
        let step_times = record
            .steps
            .iter()
            .flat_map(|s| [s.started_at, s.ended_at])
            .flatten()
            .map(|t| t.unix_ms());
        let sample_times = timed.iter().map(|s| s.timestamp_ms);
        let data_min = step_times.clone().chain(sample_times.clone()).min();
        let data_max = step_times.chain(sample_times).max();
        let start_ms = data_min.map_or(created, |m| m.min(created));
        let mut end_ms = data_max.unwrap_or(start_ms);
        if let Some(done) = record.completed_at {
            end_ms = end_ms.max(done.unix_ms());
        } else if !input.abandoned
            && !record.status.is_terminal()
            && let Some(now) = input.now
        {
            end_ms = end_ms.max(now.unix_ms());
        }
        // At least a second, so a single sample still has room.
        let end_ms = end_ms.max(start_ms + 1000);

        let spans = record
            .steps
            .iter()
            .filter_map(|step| {
                let start = step.started_at?.unix_ms();
                let (end, open) = match step.ended_at {
                    Some(end) => (end.unix_ms(), false),
                    None => match step.duration_seconds.filter(|d| d.is_finite() && *d >= 0.0) {
                        Some(d) if step.status.is_finished() => {
                            (start + (d * 1000.0).round() as i64, false)
                        }
                        _ => (end_ms, true),
                    },
                };
                Some(Span {
                    order: step.order,
                    label: step.label().to_owned(),
                    step_id: step.step_id.clone(),
                    status: step.status,
                    start_ms: start,
                    end_ms: end.max(start),
                    open,
                })
            })
            .collect();
        Self {
            start_ms,
            end_ms,
            spans,
        }
    }

    /// The x of an instant.
    pub(crate) fn x(&self, ms: i64) -> f64 {
        let span = (self.end_ms - self.start_ms) as f64;
        let at = ((ms - self.start_ms) as f64 / span).clamp(0.0, 1.0);
        PLOT_LEFT + at * (PLOT_RIGHT - PLOT_LEFT)
    }

    /// Ticks on the time axis: `(x, label)`, at a round interval chosen so
    /// that there are at most eight.
    pub(crate) fn ticks(&self) -> Vec<(f64, String)> {
        const STEPS: [i64; 18] = [
            1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200,
            86_400,
        ];
        let seconds = (self.end_ms - self.start_ms) as f64 / 1000.0;
        let step = STEPS
            .iter()
            .copied()
            .find(|s| seconds / *s as f64 <= 8.0)
            .unwrap_or_else(|| ((seconds / 8.0 / 86_400.0).ceil() as i64).max(1) * 86_400);
        (0..)
            .map(|i| i * step)
            .take_while(|s| (*s as f64) <= seconds + 1e-9)
            .map(|s| (self.x(self.start_ms + s * 1000), elapsed(s)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use telemetry_model::{PipelineRunRecord, Timestamp};

    #[test]
    fn ticks_stay_few_and_round() {
        let mut record = PipelineRunRecord::new("r");
        record.created_at = Timestamp::from_unix_ms(1_000_000);
        record.completed_at = Some(Timestamp::from_unix_ms(1_000_000 + 125_000));
        let input = ReportInput::new(&record);
        let frame = Frame::new(&input, &[]);
        let labels: Vec<String> = frame.ticks().into_iter().map(|(_, l)| l).collect();
        assert_eq!(labels, ["0s", "30s", "1m", "1m30s", "2m"]);
        assert_eq!(frame.x(1_000_000), PLOT_LEFT);
        assert_eq!(frame.x(1_125_000), PLOT_RIGHT);
    }

    #[test]
    fn an_empty_run_still_has_a_second() {
        let record = PipelineRunRecord::new("r");
        let frame = Frame::new(&ReportInput::new(&record), &[]);
        assert_eq!(frame.end_ms - frame.start_ms, 1000);
    }
}
