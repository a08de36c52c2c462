//! Inline SVG: the step timeline and the charts over time.

use std::fmt::Write as _;

use telemetry_model::format_duration;

use crate::format::{grouped, tick};
use crate::frame::{Frame, PLOT_LEFT, PLOT_RIGHT, Span, WIDTH};
use crate::html::{esc, truncate};

/// Rows of the step timeline.
const ROW: f64 = 28.0;
/// Longest step label in the timeline's gutter, in characters.
const LABEL_CHARS: usize = 26;

/// Writes the step timeline: one row per step, a bar from its start to its
/// end coloured by status, the duration beside it.
pub(crate) fn gantt(
    out: &mut String,
    frame: &Frame,
    steps: &[telemetry_model::StepExecutionEntry],
) {
    let top = 6.0;
    let rows = steps.len().max(1) as f64;
    let axis_y = top + rows * ROW + 4.0;
    let height = axis_y + 22.0;
    let _ = writeln!(
        out,
        "<svg class=\"gantt\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" \
         aria-label=\"Step timeline\">"
    );
    grid_x(out, frame, top, axis_y);
    if steps.is_empty() {
        let _ = writeln!(
            out,
            "<text class=\"empty\" x=\"{}\" y=\"{}\">No steps recorded.</text>",
            PLOT_LEFT + 8.0,
            top + 18.0
        );
    }
    for (i, step) in steps.iter().enumerate() {
        let y = top + i as f64 * ROW;
        let mid = y + ROW / 2.0;
        let label = step.label();
        let _ = writeln!(
            out,
            "<text class=\"gl\" x=\"0\" y=\"{:.1}\"><title>{} ({})</title>\
             <tspan class=\"order\">{}</tspan> {}</text>",
            mid + 4.0,
            esc(label),
            esc(&step.step_id),
            step.order,
            esc(&truncate(label, LABEL_CHARS))
        );
        let span = frame
            .spans
            .iter()
            .find(|s| s.step_id == step.step_id && s.order == step.order);
        match span {
            Some(span) => bar(out, frame, span, step, y),
            None => {
                let _ = writeln!(
                    out,
                    "<text class=\"no-bar\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                    PLOT_LEFT + 6.0,
                    mid + 4.0,
                    step.status
                );
            }
        }
    }
    axis_x(out, frame, axis_y);
    out.push_str("</svg>\n");
}

fn bar(
    out: &mut String,
    frame: &Frame,
    span: &Span,
    step: &telemetry_model::StepExecutionEntry,
    y: f64,
) {
    let x0 = frame.x(span.start_ms);
    let x1 = frame.x(span.end_ms).max(x0 + 2.0);
    let seconds = step
        .duration_seconds
        .filter(|d| d.is_finite() && !span.open)
        .unwrap_or((span.end_ms - span.start_ms) as f64 / 1000.0);
    let duration = format_duration(seconds);
    let text = if span.open {
        format!("{duration}, {}", span.status)
    } else {
        duration
    };
    let class = if span.open { " open" } else { "" };
    let _ = writeln!(
        out,
        "<rect class=\"bar st-{}{class}\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"16\" rx=\"3\">\
         <title>{} – {}, {}</title></rect>",
        span.status,
        y + 6.0,
        x1 - x0,
        esc(step.label()),
        span.status,
        esc(&text)
    );
    // The duration after the bar, or inside it when there is no room.
    let text_width = text.chars().count() as f64 * 6.6;
    let mid = y + ROW / 2.0 + 4.0;
    if x1 + 6.0 + text_width <= PLOT_RIGHT {
        let _ = writeln!(
            out,
            "<text class=\"dur\" x=\"{:.1}\" y=\"{mid:.1}\">{}</text>",
            x1 + 6.0,
            esc(&text)
        );
    } else if x1 - x0 > text_width + 10.0 {
        let _ = writeln!(
            out,
            "<text class=\"dur inside\" x=\"{:.1}\" y=\"{mid:.1}\" text-anchor=\"end\">{}</text>",
            x1 - 6.0,
            esc(&text)
        );
    } else {
        let _ = writeln!(
            out,
            "<text class=\"dur\" x=\"{:.1}\" y=\"{mid:.1}\" text-anchor=\"end\">{}</text>",
            x0 - 6.0,
            esc(&text)
        );
    }
}

/// Vertical grid lines at the time ticks.
fn grid_x(out: &mut String, frame: &Frame, top: f64, bottom: f64) {
    for (x, _) in frame.ticks() {
        let _ = writeln!(
            out,
            "<line class=\"grid\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{top:.1}\" y2=\"{bottom:.1}\"/>"
        );
    }
}

/// The time axis: a base line and tick labels below `y`.
fn axis_x(out: &mut String, frame: &Frame, y: f64) {
    let _ = writeln!(
        out,
        "<line class=\"axis\" x1=\"{PLOT_LEFT}\" x2=\"{PLOT_RIGHT}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>"
    );
    let ticks = frame.ticks();
    let last = ticks.len().saturating_sub(1);
    for (i, (x, label)) in ticks.iter().enumerate() {
        // Keep the last label inside the view box.
        let anchor = if i == last && *x > PLOT_RIGHT - 20.0 {
            "end"
        } else {
            "middle"
        };
        let _ = writeln!(
            out,
            "<text class=\"tick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{label}</text>",
            y + 15.0
        );
    }
}

/// One line of a chart.
#[derive(Clone, Debug)]
pub(crate) struct Series {
    /// Legend name.
    pub name: &'static str,
    /// CSS class giving its colour (`s-cpu`, …).
    pub class: &'static str,
    /// Drawn dashed (a limit rather than a measurement).
    pub dashed: bool,
    /// `(epoch ms, value)` in time order; `None` where unavailable.
    pub points: Vec<(i64, Option<f64>)>,
}

impl Series {
    fn values(&self) -> impl Iterator<Item = f64> + '_ {
        self.points.iter().filter_map(|(_, v)| *v)
    }

    fn max(&self) -> Option<f64> {
        self.values().reduce(f64::max)
    }
}

/// One chart over time.
#[derive(Clone, Debug)]
pub(crate) struct Chart {
    /// Anchor and CSS hook (`cpu`, `memory-rss`, …).
    pub id: &'static str,
    pub title: &'static str,
    pub unit: &'static str,
    /// The y axis ends here whatever the data (100 for percentages).
    pub fixed_max: Option<f64>,
    pub series: Vec<Series>,
    /// Why there is nothing to draw, shown instead of an empty chart.
    pub empty_reason: String,
}

const CHART_HEIGHT: f64 = 150.0;
const CHART_TOP: f64 = 12.0;
const CHART_BOTTOM: f64 = 120.0;

/// Writes one chart: step bands and boundaries, y grid, the series, a time
/// axis, and the title and legend in the gutter. A chart with no value at
/// all is a one-line note instead.
pub(crate) fn chart(out: &mut String, frame: &Frame, chart: &Chart, gap_ms: i64) {
    let max = chart.series.iter().filter_map(Series::max).reduce(f64::max);
    let Some(data_max) = max else {
        let _ = writeln!(
            out,
            "<svg class=\"chart empty\" id=\"chart-{}\" viewBox=\"0 0 {WIDTH} 40\" role=\"img\" aria-label=\"{}: no data\">\
             <text class=\"ct\" x=\"0\" y=\"17\">{}</text><text class=\"cu\" x=\"0\" y=\"32\">{}</text>\
             <rect class=\"nodata\" x=\"{PLOT_LEFT}\" y=\"4\" width=\"{}\" height=\"30\" rx=\"4\"/>\
             <text class=\"empty\" x=\"{}\" y=\"24\">No data: {}</text></svg>",
            chart.id,
            chart.title,
            chart.title,
            chart.unit,
            PLOT_RIGHT - PLOT_LEFT,
            PLOT_LEFT + 10.0,
            esc(&truncate(&chart.empty_reason, 120)),
        );
        return;
    };
    let data_min = chart
        .series
        .iter()
        .flat_map(Series::values)
        .fold(0.0f64, f64::min);
    let hi = chart.fixed_max.unwrap_or(data_max).max(data_max);
    let (lo, hi, step) = nice_range(data_min, hi);
    let y_of = |v: f64| {
        let at = ((v - lo) / (hi - lo)).clamp(0.0, 1.0);
        CHART_BOTTOM - at * (CHART_BOTTOM - CHART_TOP)
    };
    let _ = writeln!(
        out,
        "<svg class=\"chart\" id=\"chart-{}\" viewBox=\"0 0 {WIDTH} {CHART_HEIGHT}\" role=\"img\" aria-label=\"{} over time\">",
        chart.id, chart.title
    );
    step_bands(out, frame, CHART_TOP, CHART_BOTTOM);
    // Horizontal grid and y labels.
    let mut v = lo;
    while v <= hi + step * 1e-6 {
        let y = y_of(v);
        let _ = writeln!(
            out,
            "<line class=\"grid\" x1=\"{PLOT_LEFT}\" x2=\"{PLOT_RIGHT}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            PLOT_LEFT - 6.0,
            y + 4.0,
            tick(v, step, hi)
        );
        v += step;
    }
    grid_x(out, frame, CHART_TOP, CHART_BOTTOM);
    for series in &chart.series {
        line(out, frame, series, &y_of, gap_ms);
    }
    axis_x(out, frame, CHART_BOTTOM);
    // Title, unit and legend in the gutter.
    let _ = writeln!(
        out,
        "<text class=\"ct\" x=\"0\" y=\"17\">{}</text><text class=\"cu\" x=\"0\" y=\"32\">{}</text>",
        chart.title, chart.unit
    );
    for (i, series) in chart.series.iter().enumerate() {
        let y = 54.0 + i as f64 * 17.0;
        let dash = if series.dashed { " dashed" } else { "" };
        let stat = match series.max() {
            Some(m) => format!(" max {}", grouped(m, if m >= 100.0 { 0 } else { 1 })),
            None => " n/a".to_owned(),
        };
        let _ = writeln!(
            out,
            "<line class=\"{}{dash}\" x1=\"0\" x2=\"16\" y1=\"{:.1}\" y2=\"{:.1}\"/>\
             <text class=\"lg\" x=\"22\" y=\"{y:.1}\">{}<tspan class=\"stat\">{stat}</tspan></text>",
            series.class,
            y - 4.0,
            y - 4.0,
            series.name
        );
    }
    out.push_str("</svg>\n");
}

/// Shaded bands for the steps (every other one) with their order number,
/// and a dashed line where each step starts.
fn step_bands(out: &mut String, frame: &Frame, top: f64, bottom: f64) {
    for span in &frame.spans {
        let x0 = frame.x(span.start_ms);
        let x1 = frame.x(span.end_ms).max(x0);
        if span.order % 2 == 1 {
            let _ = writeln!(
                out,
                "<rect class=\"band\" x=\"{x0:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\"/>",
                x1 - x0,
                bottom - top
            );
        }
        let _ = writeln!(
            out,
            "<line class=\"boundary\" x1=\"{x0:.1}\" x2=\"{x0:.1}\" y1=\"{top:.1}\" y2=\"{bottom:.1}\">\
             <title>step {} starts: {}</title></line>\
             <text class=\"bn\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            span.order,
            esc(&span.label),
            x0 + 3.0,
            // Just above the plot, clear of lines near the top.
            top - 2.0,
            span.order
        );
    }
}

/// The series as paths, broken where a value is missing or samples are
/// far apart; a lone value is a dot.
fn line(out: &mut String, frame: &Frame, series: &Series, y_of: &dyn Fn(f64) -> f64, gap_ms: i64) {
    let mut segments: Vec<Vec<(i64, f64)>> = Vec::new();
    let mut last_ms: Option<i64> = None;
    for &(ms, value) in &series.points {
        let Some(v) = value else {
            last_ms = None;
            continue;
        };
        match (segments.last_mut(), last_ms) {
            (Some(seg), Some(prev)) if ms - prev <= gap_ms => seg.push((ms, v)),
            _ => segments.push(vec![(ms, v)]),
        }
        last_ms = Some(ms);
    }
    let dash = if series.dashed { " dashed" } else { "" };
    for segment in segments {
        let points = decimate(frame, &segment);
        if let [(ms, v)] = points[..] {
            let _ = writeln!(
                out,
                "<circle class=\"dot {}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\"/>",
                series.class,
                frame.x(ms),
                y_of(v)
            );
            continue;
        }
        let mut d = String::with_capacity(points.len() * 14);
        for (i, (ms, v)) in points.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { "L" },
                frame.x(*ms),
                y_of(*v)
            );
        }
        let _ = writeln!(out, "<path class=\"ln {}{dash}\" d=\"{d}\"/>", series.class);
    }
}

/// At most two points per pixel column, its lowest and its highest, in
/// time order: the line looks the same, and a long run stays small.
fn decimate(frame: &Frame, points: &[(i64, f64)]) -> Vec<(i64, f64)> {
    let mut out = Vec::with_capacity(points.len().min(2 * 1000));
    let mut i = 0;
    while i < points.len() {
        let column = frame.x(points[i].0).floor();
        let mut j = i + 1;
        while j < points.len() && frame.x(points[j].0).floor() == column {
            j += 1;
        }
        let group = &points[i..j];
        if group.len() <= 2 {
            out.extend_from_slice(group);
        } else {
            let mut low = 0;
            let mut high = 0;
            for (k, p) in group.iter().enumerate() {
                if p.1 < group[low].1 {
                    low = k;
                }
                if p.1 > group[high].1 {
                    high = k;
                }
            }
            out.push(group[low.min(high)]);
            if low != high {
                out.push(group[low.max(high)]);
            }
        }
        i = j;
    }
    out
}

/// A y range from `lo` to `hi` widened to round ticks about a quarter of
/// the range apart: `(lo, hi, step)`.
fn nice_range(lo: f64, hi: f64) -> (f64, f64, f64) {
    let span = if hi - lo > 0.0 {
        hi - lo
    } else {
        hi.abs().max(1.0)
    };
    let raw = span / 4.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .find(|n| fraction <= *n + 1e-9)
        .unwrap_or(10.0);
    let step = nice * magnitude;
    let lo = (lo / step).floor() * step;
    let mut top = (hi / step).ceil() * step;
    if top <= lo {
        top = lo + step;
    }
    (lo, top, step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ranges() {
        assert_eq!(nice_range(0.0, 100.0), (0.0, 100.0, 25.0));
        assert_eq!(nice_range(0.0, 812.0), (0.0, 1000.0, 250.0));
        assert_eq!(nice_range(0.0, 0.0), (0.0, 0.25, 0.25));
        assert_eq!(nice_range(0.0, 16_000.0), (0.0, 20_000.0, 5_000.0));
        assert_eq!(nice_range(0.0, 1_300.0), (0.0, 1_500.0, 500.0));
    }
}
