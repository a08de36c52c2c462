//! What the operator sees: one line per step start and end, a heartbeat
//! while a step runs, and a live bar on a terminal.

#[cfg(feature = "live")]
use std::io::IsTerminal;
use std::io::Write;
use std::time::Duration;

use telemetry_model::{format_duration, format_eta};

/// Something worth telling the operator.
#[derive(Clone, Debug, PartialEq)]
pub enum Event<'a> {
    /// The run was created.
    RunStarted {
        /// Run id.
        run_id: &'a str,
        /// Pipeline name.
        pipeline: &'a str,
        /// Steps that will run.
        total: usize,
        /// Disabled steps left out of the total.
        skipped: usize,
        /// Predicted run time.
        eta: Option<f64>,
    },
    /// A step started.
    StepStarted {
        /// 1-based position among the counted steps.
        order: u32,
        /// Counted steps.
        total: usize,
        /// Display name.
        name: &'a str,
        /// Predicted time to the end of the run.
        eta: Option<f64>,
        /// The band the rest of the run is expected to take, with enough
        /// history.
        eta_range: Option<(f64, f64)>,
        /// Run time so far.
        elapsed: f64,
    },
    /// A step is still running (refresh or heartbeat).
    StepProgress {
        /// 1-based position.
        order: u32,
        /// Counted steps.
        total: usize,
        /// Display name.
        name: &'a str,
        /// Fraction done, if the step reports it.
        fraction: Option<f64>,
        /// Items done (cumulative), if reported.
        items: Option<u64>,
        /// Items per second, if known.
        rate: Option<f64>,
        /// Last message the step sent.
        message: Option<&'a str>,
        /// Predicted time to the end of the run.
        eta: Option<f64>,
        /// The band the rest of the run is expected to take, with enough
        /// history.
        eta_range: Option<(f64, f64)>,
        /// Run time so far.
        elapsed: f64,
    },
    /// A step finished successfully.
    StepCompleted {
        /// 1-based position.
        order: u32,
        /// Counted steps.
        total: usize,
        /// Display name.
        name: &'a str,
        /// Its duration.
        duration: f64,
    },
    /// A step failed.
    StepFailed {
        /// 1-based position.
        order: u32,
        /// Counted steps.
        total: usize,
        /// Display name.
        name: &'a str,
        /// Its duration.
        duration: f64,
        /// Why.
        reason: &'a str,
    },
    /// A step was skipped while the run went on.
    StepSkipped {
        /// Display name.
        name: &'a str,
    },
    /// The run reached its final status.
    RunFinished {
        /// Run id.
        run_id: &'a str,
        /// `completed`, `failed`, `cancelled`.
        status: &'a str,
        /// Run time.
        duration: f64,
        /// The run directory.
        dir: &'a str,
        /// Why it failed or was cancelled.
        reason: Option<&'a str>,
    },
    /// Retention deleted old runs
    /// ([`PruneReport::announcement`](manifest::PruneReport::announcement)).
    /// Shown by every built-in display, [`Display::Quiet`] included:
    /// nothing is deleted unannounced.
    RunsDeleted {
        /// What was deleted and by which rule.
        text: &'a str,
    },
}

/// Run time so far, coarse: `0s`, `42s`, `2m`, `1h05m`.
pub fn format_elapsed(seconds: f64) -> String {
    let s = seconds.max(0.0).floor() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// A count or rate for humans: `950`, `12.3k`, `4.64M`, `31.5`.
pub fn format_quantity(value: f64) -> String {
    if !value.is_finite() {
        return "?".to_owned();
    }
    let magnitude = value.abs();
    let (scaled, suffix) = match magnitude {
        m if m >= 1e9 => (value / 1e9, "G"),
        m if m >= 1e6 => (value / 1e6, "M"),
        m if m >= 1e4 => (value / 1e3, "k"),
        _ => (value, ""),
    };
    // Whole numbers stay whole; otherwise three significant digits.
    let digits = if suffix.is_empty() && value.fract() == 0.0 {
        0
    } else {
        match scaled.abs() {
            a if a >= 100.0 => 0,
            a if a >= 10.0 => 1,
            _ => 2,
        }
    };
    format!("{scaled:.digits$}{suffix}")
}

fn eta_text(eta: Option<f64>) -> String {
    eta.map_or_else(|| "?".to_owned(), format_eta)
}

/// `11m (9m–14m)`: an ETA with its range, where there is one.
fn eta_with_range(eta: Option<f64>, range: Option<(f64, f64)>) -> String {
    match (eta, range) {
        (Some(_), Some((low, high))) => {
            format!(
                "{} ({}–{})",
                eta_text(eta),
                format_eta(low),
                format_eta(high)
            )
        }
        _ => eta_text(eta),
    }
}

/// The line for an event, without a trailing newline. Identical for the
/// plain and the live display.
///
/// ```
/// use progress::render::{line, Event};
/// let start = Event::StepStarted { order: 2, total: 5, name: "Collect expert trajectories", eta: Some(660.0), eta_range: None, elapsed: 125.0 };
/// assert_eq!(line(&start), "Step 2/5 – Collect expert trajectories (ETA 11m, elapsed 2m)");
/// let ranged = Event::StepStarted { order: 2, total: 5, name: "Train", eta: Some(660.0), eta_range: Some((540.0, 840.0)), elapsed: 125.0 };
/// assert_eq!(line(&ranged), "Step 2/5 – Train (ETA 11m (9m–14m), elapsed 2m)");
/// let done = Event::StepCompleted { order: 2, total: 5, name: "Collect expert trajectories", duration: 124.0 };
/// assert_eq!(line(&done), "Completed step 2/5 – Collect expert trajectories in 2m04s");
/// ```
pub fn line(event: &Event<'_>) -> String {
    match *event {
        Event::RunStarted {
            run_id,
            pipeline,
            total,
            skipped,
            eta,
        } => {
            let skipped = if skipped > 0 {
                format!(", {skipped} skipped")
            } else {
                String::new()
            };
            format!(
                "Run {run_id} – {pipeline}: {total} step{}{skipped} (ETA {})",
                if total == 1 { "" } else { "s" },
                eta_text(eta)
            )
        }
        Event::StepStarted {
            order,
            total,
            name,
            eta,
            eta_range,
            elapsed,
        } => format!(
            "Step {order}/{total} – {name} (ETA {}, elapsed {})",
            eta_with_range(eta, eta_range),
            format_elapsed(elapsed)
        ),
        Event::StepProgress {
            order,
            total,
            name,
            fraction,
            items,
            rate,
            message,
            eta,
            eta_range,
            elapsed,
        } => {
            let mut parts = Vec::new();
            if let Some(f) = fraction {
                parts.push(format!("{:.0}%", (f * 100.0).clamp(0.0, 100.0)));
            }
            if let Some(n) = items {
                parts.push(format!("{} items", format_quantity(n as f64)));
            }
            if let Some(r) = rate {
                parts.push(format!("({}/s)", format_quantity(r)));
            }
            if let Some(m) = message {
                parts.push(format!("– {m}"));
            }
            let detail = if parts.is_empty() {
                String::new()
            } else {
                format!(": {}", parts.join(" "))
            };
            format!(
                "  step {order}/{total} – {name}{detail} (ETA {}, elapsed {})",
                eta_with_range(eta, eta_range),
                format_elapsed(elapsed)
            )
        }
        Event::StepCompleted {
            order,
            total,
            name,
            duration,
        } => format!(
            "Completed step {order}/{total} – {name} in {}",
            format_duration(duration)
        ),
        Event::StepFailed {
            order,
            total,
            name,
            duration,
            reason,
        } => format!(
            "Failed step {order}/{total} – {name} after {}: {reason}",
            format_duration(duration)
        ),
        Event::StepSkipped { name } => format!("Skipped step – {name}"),
        Event::RunFinished {
            run_id,
            status,
            duration,
            dir,
            reason,
        } => {
            let reason = reason.map(|r| format!(" ({r})")).unwrap_or_default();
            format!(
                "Run {run_id} {status} in {}{reason}. Files: {dir}",
                format_duration(duration)
            )
        }
        Event::RunsDeleted { text } => format!("Retention: {text}"),
    }
}

/// Where events go.
pub trait Sink: Send {
    /// Shows an event. Errors writing to the terminal are ignored: progress
    /// output must never fail a run.
    fn show(&mut self, event: &Event<'_>);

    /// Whether the sink redraws a live display that other output must not
    /// tear (see [`Sink::suspend`]).
    fn is_live(&self) -> bool {
        false
    }

    /// Runs `write` with the live display cleared, so output printed by
    /// someone else (a step's stdout) lands above it.
    fn suspend(&mut self, write: &mut dyn FnMut()) {
        write();
    }

    /// How long from now the sink next shows an [`Event::StepProgress`] of
    /// step `order` at run time `elapsed`: `Some(Duration::ZERO)` shows
    /// every one (the default, a live display refreshed each time), `None`
    /// never. A refresh thread sleeps until then instead of waking a sink
    /// that would drop the event.
    fn progress_due_in(&self, order: u32, elapsed: f64) -> Option<Duration> {
        let _ = (order, elapsed);
        Some(Duration::ZERO)
    }
}

/// How progress is displayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Display {
    /// A live bar when stderr is a terminal (and `TERM` is not `dumb`) and
    /// the `live` feature is on, plain lines otherwise.
    #[default]
    Auto,
    /// Plain lines only, whatever stderr is.
    Plain,
    /// Nothing but the line announcing runs that retention deleted.
    Quiet,
}

/// Plain lines, no escape codes: for CI logs and pipes. Heartbeats are
/// written at most once per `heartbeat` per step.
pub struct PlainSink {
    out: Box<dyn Write + Send>,
    heartbeat: Duration,
    last_heartbeat: Option<(u32, f64)>,
}

impl std::fmt::Debug for PlainSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainSink")
            .field("heartbeat", &self.heartbeat)
            .finish_non_exhaustive()
    }
}

impl PlainSink {
    /// Lines to `out`, heartbeats at most every `heartbeat`.
    pub fn new(out: Box<dyn Write + Send>, heartbeat: Duration) -> Self {
        Self {
            out,
            heartbeat,
            last_heartbeat: None,
        }
    }
}

impl Sink for PlainSink {
    fn show(&mut self, event: &Event<'_>) {
        if let Event::StepProgress { order, elapsed, .. } = *event {
            let due = match self.last_heartbeat {
                Some((step, at)) if step == order => elapsed - at >= self.heartbeat.as_secs_f64(),
                _ => elapsed >= 0.0,
            };
            if !due {
                return;
            }
            self.last_heartbeat = Some((order, elapsed));
        }
        if let Event::StepStarted { order, elapsed, .. } = *event {
            // The start line counts as the step's first heartbeat.
            self.last_heartbeat = Some((order, elapsed));
        }
        let _ = writeln!(self.out, "{}", line(event));
        let _ = self.out.flush();
    }

    fn progress_due_in(&self, order: u32, elapsed: f64) -> Option<Duration> {
        match self.last_heartbeat {
            Some((step, at)) if step == order => {
                let left = at + self.heartbeat.as_secs_f64() - elapsed;
                // Negative (overdue) or not a number: now.
                Some(Duration::try_from_secs_f64(left).unwrap_or(if left > 0.0 {
                    Duration::MAX
                } else {
                    Duration::ZERO
                }))
            }
            _ => Some(Duration::ZERO),
        }
    }
}

/// A live display on a terminal (feature `live`): transition lines stay in the scroll-back,
/// a bar below them shows the running step and is refreshed every second.
///
/// The bar is drawn only while a step runs: before the first step starts
/// and after the run ends, lines are written as they are, so no spinner is
/// ever left on a line of its own.
#[cfg(feature = "live")]
#[derive(Debug)]
pub struct LiveSink {
    bar: indicatif::ProgressBar,
    /// Whether the bar is on the screen (a step has started).
    drawn: bool,
}

#[cfg(feature = "live")]
impl LiveSink {
    /// A live display on stderr.
    pub fn stderr() -> Self {
        let bar =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::hidden());
        let style = indicatif::ProgressStyle::with_template("{spinner} {wide_msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
        bar.set_style(style);
        Self { bar, drawn: false }
    }

    /// A line above the bar (or just a line, while there is none).
    fn println(&self, text: &str) {
        if self.drawn {
            self.bar.println(text);
        } else {
            let _ = writeln!(std::io::stderr(), "{text}");
        }
    }
}

#[cfg(feature = "live")]
impl Sink for LiveSink {
    fn show(&mut self, event: &Event<'_>) {
        match event {
            Event::StepProgress { .. } => {
                self.bar.set_message(line(event).trim_start().to_owned());
                if self.drawn {
                    self.bar.tick();
                }
            }
            Event::StepStarted { .. } => {
                self.println(&line(event));
                self.bar.set_message(line(event));
                if !self.drawn {
                    self.bar
                        .set_draw_target(indicatif::ProgressDrawTarget::stderr());
                    self.drawn = true;
                }
                self.bar.enable_steady_tick(Duration::from_millis(250));
            }
            Event::RunFinished { .. } => {
                if self.drawn {
                    self.bar.finish_and_clear();
                    self.drawn = false;
                }
                self.println(&line(event));
            }
            _ => self.println(&line(event)),
        }
    }

    fn is_live(&self) -> bool {
        true
    }

    fn suspend(&mut self, write: &mut dyn FnMut()) {
        if self.drawn {
            self.bar.suspend(write);
        } else {
            write();
        }
    }
}

/// Whether stderr is a terminal that can take a live display.
#[cfg(feature = "live")]
fn live_terminal() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// The sink for `display`, writing to stderr.
pub fn sink_for(display: Display, heartbeat: Duration) -> Box<dyn Sink> {
    struct Quiet;
    impl Sink for Quiet {
        fn show(&mut self, event: &Event<'_>) {
            if let Event::RunsDeleted { .. } = event {
                let _ = writeln!(std::io::stderr(), "{}", line(event));
            }
        }
        fn progress_due_in(&self, _: u32, _: f64) -> Option<Duration> {
            None
        }
    }
    match display {
        Display::Quiet => Box::new(Quiet),
        #[cfg(feature = "live")]
        Display::Auto if live_terminal() => Box::new(LiveSink::stderr()),
        Display::Auto | Display::Plain => {
            Box::new(PlainSink::new(Box::new(std::io::stderr()), heartbeat))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn elapsed_is_coarse_and_starts_at_zero() {
        assert_eq!(format_elapsed(0.0), "0s");
        assert_eq!(format_elapsed(59.9), "59s");
        assert_eq!(format_elapsed(125.0), "2m");
        assert_eq!(format_elapsed(3900.0), "1h05m");
    }

    #[test]
    fn quantities_are_compact() {
        let cases = [
            (0.0, "0"),
            (7.0, "7"),
            (31.5, "31.5"),
            (2.25, "2.25"),
            (950.0, "950"),
            (9999.0, "9999"),
            (12_345.0, "12.3k"),
            (468_009.6, "468k"),
            (4_641_098.0, "4.64M"),
            (11_557_309.0, "11.6M"),
            (2.5e9, "2.50G"),
            (f64::NAN, "?"),
        ];
        for (value, want) in cases {
            assert_eq!(format_quantity(value), want, "{value}");
        }
    }

    #[test]
    fn plain_heartbeats_are_throttled_per_step() {
        let buf = Shared::default();
        let mut sink = PlainSink::new(Box::new(buf.clone()), Duration::from_secs(10));
        let progress = |order, elapsed| Event::StepProgress {
            order,
            total: 2,
            name: "A",
            fraction: Some(0.5),
            items: Some(10),
            rate: Some(2.0),
            message: None,
            eta: Some(30.0),
            eta_range: None,
            elapsed,
        };
        sink.show(&Event::StepStarted {
            order: 1,
            total: 2,
            name: "A",
            eta: Some(60.0),
            eta_range: None,
            elapsed: 0.0,
        });
        let secs = |s: f64| Some(Duration::from_secs_f64(s));
        assert_eq!(sink.progress_due_in(1, 1.0), secs(9.0));
        assert_eq!(sink.progress_due_in(2, 1.0), secs(0.0), "another step");
        for t in [1.0, 5.0, 9.9, 10.0, 15.0, 20.5] {
            sink.show(&progress(1, t));
        }
        assert_eq!(sink.progress_due_in(1, 25.5), secs(5.0), "shown at 20.5 s");
        assert_eq!(sink.progress_due_in(1, 31.0), secs(0.0), "overdue");
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "Step 1/2 – A (ETA 1m, elapsed 0s)",
                "  step 1/2 – A: 50% 10 items (2/s) (ETA 30s, elapsed 10s)",
                "  step 1/2 – A: 50% 10 items (2/s) (ETA 30s, elapsed 20s)",
            ]
        );
        assert!(!text.contains('\u{1b}'), "no escape codes in plain output");
    }

    #[test]
    fn every_event_has_a_line() {
        let events = [
            Event::RunStarted {
                run_id: "r",
                pipeline: "p",
                total: 1,
                skipped: 1,
                eta: None,
            },
            Event::StepFailed {
                order: 1,
                total: 1,
                name: "A",
                duration: 3.0,
                reason: "exit status 2",
            },
            Event::StepSkipped { name: "B" },
            Event::StepProgress {
                order: 1,
                total: 1,
                name: "A",
                fraction: None,
                items: None,
                rate: None,
                message: None,
                eta: None,
                eta_range: None,
                elapsed: 1.0,
            },
            Event::RunFinished {
                run_id: "r",
                status: "failed",
                duration: 3.0,
                dir: "out/r",
                reason: Some("step A failed"),
            },
        ];
        let lines: Vec<String> = events.iter().map(line).collect();
        assert_eq!(
            lines,
            [
                "Run r – p: 1 step, 1 skipped (ETA ?)",
                "Failed step 1/1 – A after 3.0s: exit status 2",
                "Skipped step – B",
                "  step 1/1 – A (ETA ?, elapsed 1s)",
                "Run r failed in 3.0s (step A failed). Files: out/r",
            ]
        );
    }
}
