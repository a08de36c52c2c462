//! Stall detection (docs/notify.md, "Stalls"): a running step is *stalled*
//! when, for `stall_seconds`, it has written nothing to its progress
//! channel, nothing to its log, and its process tree has used (almost) no
//! CPU. A stall is recorded (`summary.stalled`, a warning recommendation),
//! said once, and handed to the observers as [`Event::Stalled`]; the step
//! is never touched. Its next sign of life clears it.
//!
//! The judgement is [`Detector`], a pure state machine fed with the time
//! (from an injectable [`progress::Clock`]), whether the step's files grew,
//! and on demand the CPU seconds of its process tree. A watcher thread per
//! running step feeds it: two `stat`s a look, and a scan of `/proc` only
//! when the files have been quiet (so a chatty step costs no scans).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use progress::{Clock, ProgressTracker, SystemClock};
use serde_json::json;
use telemetry_model::{PerformanceRecommendation, Severity, Stall, Timestamp, format_duration};

use crate::Reporter;
use crate::observer::{Event, Observers};

/// The shortest stall a derived default gives: 10 minutes.
pub const MIN_DEFAULT_STALL: Duration = Duration::from_secs(600);
/// A derived default is this many times the step's median (or expected)
/// duration.
pub const STALL_FACTOR: f64 = 3.0;
/// "Almost no CPU": less than this fraction of one core over the quiet
/// time (2 %).
pub const CPU_FRACTION: f64 = 0.02;
/// The recommendation's trigger.
pub const STALL_TRIGGER: &str = "stalled_step";

/// How stalls are detected: the pipeline-wide `stall_seconds` and the
/// clock they are measured by.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StallSettings {
    /// The silence after which a step counts as stalled, unless the step
    /// sets its own: `Some(Duration::ZERO)` turns detection off, `None`
    /// derives it per step ([`stall_threshold`]).
    pub seconds: Option<Duration>,
    /// The clock (tests inject a [`progress::ManualClock`]).
    pub clock: Arc<dyn Clock>,
    /// How often a running step is looked at; `None`: a fifth of its
    /// threshold, between every 0.1 s and every 30 s.
    pub look_every: Option<Duration>,
}

impl Default for StallSettings {
    fn default() -> Self {
        Self {
            seconds: None,
            clock: Arc::new(SystemClock),
            look_every: None,
        }
    }
}

/// The stall threshold of a step, `None` when detection is off for it:
/// the step's own `stall_seconds`, else the pipeline's, else
/// [`STALL_FACTOR`] × its median duration in history (or its expected
/// duration), at least [`MIN_DEFAULT_STALL`]. Zero turns detection off.
///
/// ```
/// use std::time::Duration;
/// use runner::stall_threshold;
/// let min = Duration::from_secs(600);
/// assert_eq!(stall_threshold(None, None, None, None), Some(min));
/// assert_eq!(stall_threshold(None, None, Some(1000.0), Some(60.0)), Some(Duration::from_secs(3000)));
/// assert_eq!(stall_threshold(None, None, None, Some(60.0)), Some(min));
/// assert_eq!(stall_threshold(None, Some(Duration::from_secs(5)), Some(1000.0), None), Some(Duration::from_secs(5)));
/// assert_eq!(stall_threshold(Some(0.0), Some(Duration::from_secs(5)), None, None), None);
/// assert_eq!(stall_threshold(None, Some(Duration::ZERO), None, None), None);
/// ```
pub fn stall_threshold(
    step: Option<f64>,
    pipeline: Option<Duration>,
    median_seconds: Option<f64>,
    expected_seconds: Option<f64>,
) -> Option<Duration> {
    let chosen = match (step, pipeline) {
        (Some(secs), _) => Duration::try_from_secs_f64(secs).unwrap_or(Duration::ZERO),
        (None, Some(pipeline)) => pipeline,
        (None, None) => {
            let typical = median_seconds
                .or(expected_seconds)
                .filter(|s| s.is_finite() && *s > 0.0)
                .unwrap_or(0.0);
            Duration::try_from_secs_f64(STALL_FACTOR * typical)
                .unwrap_or(MIN_DEFAULT_STALL)
                .max(MIN_DEFAULT_STALL)
        }
    };
    (!chosen.is_zero()).then_some(chosen)
}

/// A change the detector saw.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Change {
    /// The step stalled; its last sign of life was at `since_ms`.
    Stalled { since_ms: i64 },
    /// A stalled step showed a sign of life.
    Cleared,
}

/// Judges one running step from looks at it (pure: time comes in).
#[derive(Debug)]
pub(crate) struct Detector {
    threshold_ms: i64,
    /// The last sign of life.
    last_ms: i64,
    /// CPU seconds of the tree and when they were read, since the quiet
    /// began (or since the last look while stalled).
    baseline: Option<(i64, f64)>,
    stalled: bool,
}

impl Detector {
    /// A step that started (showed life) at `now_ms`.
    pub(crate) fn new(threshold: Duration, now_ms: i64) -> Self {
        Self {
            threshold_ms: i64::try_from(threshold.as_millis()).unwrap_or(i64::MAX),
            last_ms: now_ms,
            baseline: None,
            stalled: false,
        }
    }

    /// Whether the tree used more than [`CPU_FRACTION`] of a core since
    /// `baseline`.
    fn busy(baseline: Option<(i64, f64)>, now_ms: i64, cpu: f64) -> bool {
        baseline.is_some_and(|(at, before)| {
            let window = (now_ms - at).max(0) as f64 / 1000.0;
            cpu - before > CPU_FRACTION * window.max(1.0)
        })
    }

    /// One look at `now_ms`: `grew` tells whether the step's log or
    /// channel grew since the last look; `cpu` reads the CPU seconds of its
    /// tree (`None`: unreadable, which never makes a stall) and is called
    /// only when the files were quiet.
    pub(crate) fn look(
        &mut self,
        now_ms: i64,
        grew: bool,
        cpu: &mut dyn FnMut() -> Option<f64>,
    ) -> Option<Change> {
        if grew {
            self.last_ms = now_ms;
            self.baseline = None;
            return std::mem::replace(&mut self.stalled, false).then_some(Change::Cleared);
        }
        if self.stalled {
            let now_cpu = cpu();
            if let Some(c) = now_cpu
                && Self::busy(self.baseline, now_ms, c)
            {
                self.stalled = false;
                self.last_ms = now_ms;
                self.baseline = Some((now_ms, c));
                return Some(Change::Cleared);
            }
            if let Some(c) = now_cpu {
                self.baseline = Some((now_ms, c));
            }
            return None;
        }
        if self.baseline.is_none() {
            // The first quiet look: where the CPU is counted from.
            self.baseline = cpu().map(|c| (now_ms, c));
            return None;
        }
        if now_ms - self.last_ms < self.threshold_ms {
            return None;
        }
        let c = cpu()?;
        if Self::busy(self.baseline, now_ms, c) {
            // Silent but working: the quiet starts again from here.
            self.last_ms = now_ms;
            self.baseline = Some((now_ms, c));
            return None;
        }
        self.stalled = true;
        self.baseline = Some((now_ms, c));
        Some(Change::Stalled {
            since_ms: self.last_ms,
        })
    }
}

/// Sizes of the files a step shows life in.
fn sizes(files: &[PathBuf]) -> Vec<Option<u64>> {
    files
        .iter()
        .map(|f| std::fs::metadata(f).ok().map(|m| m.len()))
        .collect()
}

/// The stall watcher of one running step.
pub(crate) struct StallWatch {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    stalled: Arc<Mutex<bool>>,
    tracker: Arc<ProgressTracker>,
}

/// What a watcher needs to know of its step.
pub(crate) struct Watched<'a> {
    pub step_id: &'a str,
    pub root_pid: u32,
    /// Files whose growth is a sign of life (a command's log and channel).
    pub files: &'a [&'a Path],
    /// A counter whose change is a sign of life (a hosted step's reports).
    pub pulse: Option<Arc<AtomicU64>>,
}

impl StallWatch {
    /// Watches the step until [`StallWatch::finish`]; `None` when
    /// `threshold` is `None` (off).
    pub(crate) fn start(
        threshold: Option<Duration>,
        step: Watched<'_>,
        settings: &StallSettings,
        tracker: &Arc<ProgressTracker>,
        observers: &Observers,
        reporter: &Arc<dyn Reporter>,
    ) -> Option<Self> {
        let threshold = threshold?;
        let stop = Arc::new(AtomicBool::new(false));
        let stalled = Arc::new(Mutex::new(false));
        // Look five times per threshold, between every 0.1 s and 30 s.
        let tick = settings.look_every.unwrap_or_else(|| {
            (threshold / 5).clamp(Duration::from_millis(100), Duration::from_secs(30))
        });
        let clock = Arc::clone(&settings.clock);
        let files: Vec<PathBuf> = step.files.iter().map(|f| f.to_path_buf()).collect();
        let pulse = step.pulse;
        let step_id = step.step_id.to_owned();
        let root = step.root_pid;
        let thread = {
            let stop = Arc::clone(&stop);
            let stalled = Arc::clone(&stalled);
            let tracker = Arc::clone(tracker);
            let observers = observers.clone();
            let reporter = Arc::clone(reporter);
            std::thread::Builder::new()
                .name(format!("stall-{step_id}"))
                .spawn(move || {
                    let mut detector = Detector::new(threshold, clock.now().unix_ms());
                    let mut last = sizes(&files);
                    let beats = || pulse.as_ref().map(|p| p.load(Ordering::Relaxed));
                    let mut last_beat = beats();
                    let mut recommended = false;
                    loop {
                        std::thread::park_timeout(tick);
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let now = sizes(&files);
                        let beat = beats();
                        let grew = now.iter().zip(&last).any(|(n, l)| n > l) || beat != last_beat;
                        last = now;
                        last_beat = beat;
                        let change = detector.look(clock.now().unix_ms(), grew, &mut || {
                            sampler::tree_cpu_seconds(root)
                        });
                        let mut flag = stalled.lock().unwrap_or_else(PoisonError::into_inner);
                        match change {
                            Some(Change::Stalled { since_ms }) if !stop.load(Ordering::SeqCst) => {
                                *flag = true;
                                drop(flag);
                                let stall = Stall {
                                    step_id: step_id.clone(),
                                    since: Timestamp::from_unix_ms(since_ms),
                                    stall_seconds: threshold.as_secs_f64(),
                                };
                                raise(
                                    &tracker,
                                    &observers,
                                    &*reporter,
                                    stall,
                                    !std::mem::replace(&mut recommended, true),
                                    clock.now(),
                                );
                            }
                            Some(Change::Cleared) => {
                                *flag = false;
                                drop(flag);
                                tracker.update_summary(|s| s.stalled = None);
                                let _ = tracker.persist();
                            }
                            _ => {}
                        }
                    }
                })
                .ok()?
        };
        Some(Self {
            stop,
            thread: Some(thread),
            stalled,
            tracker: Arc::clone(tracker),
        })
    }

    /// Stops watching (the step ended); a stall it recorded is cleared, to
    /// be persisted with the step's end.
    pub(crate) fn finish(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
        if *self.stalled.lock().unwrap_or_else(PoisonError::into_inner) {
            self.tracker.update_summary(|s| s.stalled = None);
        }
    }
}

/// Records a stall (summary, recommendation), says it and tells the
/// observers.
fn raise(
    tracker: &ProgressTracker,
    observers: &Observers,
    reporter: &dyn Reporter,
    stall: Stall,
    recommend: bool,
    now: Timestamp,
) {
    let silence = format_duration(stall.stall_seconds);
    let step_id = stall.step_id.clone();
    tracker.update_summary(|s| s.stalled = Some(stall.clone()));
    if recommend {
        let recommendation = PerformanceRecommendation {
            trigger: STALL_TRIGGER.to_owned(),
            severity: Severity::Warning,
            message: format!(
                "step `{step_id}` showed no sign of life for {silence}: no progress on its channel, no output and almost no CPU"
            ),
            evidence: [
                ("step_id".to_owned(), json!(step_id)),
                ("stalled_since".to_owned(), json!(stall.since)),
                ("stall_seconds".to_owned(), json!(stall.stall_seconds)),
            ]
            .into_iter()
            .collect(),
            suggested_actions: vec![
                "look at what the step's processes wait on (py-spy dump --pid PID, gdb -p PID, strace -p PID, /proc/PID/stack)".to_owned(),
                "a deadlocked data loader, a blocked collective (NCCL) call or a prompt waiting for input stalls this way".to_owned(),
                "if the step is silent by design, raise its stall_seconds, or set it to 0 to turn detection off".to_owned(),
            ],
            timestamp_ms: now.unix_ms(),
        };
        let _ = tracker.add_recommendations(std::slice::from_ref(&recommendation));
    }
    let _ = tracker.persist();
    reporter.warn(&format!(
        "step `{step_id}` has shown no sign of life for {silence} (no progress, output or CPU); it is left running"
    ));
    if observers.any() {
        let record = tracker.record();
        observers.emit(&Event::Stalled {
            step_id: &step_id,
            since: stall.since,
            stall_seconds: stall.stall_seconds,
            record: &record,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use progress::ManualClock;

    /// Drives a detector with a manual clock: `looks` is a list of
    /// (seconds to advance, files grew, CPU seconds of the tree).
    fn drive(threshold: u64, looks: &[(f64, bool, f64)]) -> Vec<(f64, Option<Change>)> {
        let clock = ManualClock::starting_at_ms(1_000_000);
        let mut detector = Detector::new(Duration::from_secs(threshold), clock.now().unix_ms());
        let mut elapsed = 0.0;
        looks
            .iter()
            .map(|&(advance, grew, cpu)| {
                clock.advance_secs(advance);
                elapsed += advance;
                let change = detector.look(clock.now().unix_ms(), grew, &mut || Some(cpu));
                (elapsed, change)
            })
            .collect()
    }

    fn changes(results: &[(f64, Option<Change>)]) -> Vec<(f64, Change)> {
        results
            .iter()
            .filter_map(|(t, c)| c.map(|c| (*t, c)))
            .collect()
    }

    #[test]
    fn a_silent_idle_step_stalls_once_after_the_threshold() {
        let looks: Vec<_> = (0..20).map(|_| (60.0, false, 1.0)).collect();
        let seen = changes(&drive(600, &looks));
        assert_eq!(
            seen,
            [(
                600.0,
                Change::Stalled {
                    since_ms: 1_000_000
                }
            )],
            "one event, counted from the step's start"
        );
    }

    #[test]
    fn output_or_progress_keeps_a_step_alive_and_clears_a_stall() {
        let mut looks: Vec<_> = (0..9).map(|_| (60.0, false, 1.0)).collect();
        looks.push((60.0, true, 1.0)); // a line of output at 10 min
        looks.extend((0..12).map(|_| (60.0, false, 1.0)));
        looks.push((60.0, true, 1.0)); // progress again at 23 min
        let seen = changes(&drive(600, &looks));
        assert_eq!(
            seen,
            [
                (
                    1200.0,
                    Change::Stalled {
                        since_ms: 1_000_000 + 600_000
                    }
                ),
                (1380.0, Change::Cleared),
            ]
        );
    }

    #[test]
    fn a_silent_step_using_cpu_is_not_stalled() {
        // 3 CPU seconds a minute: 5 % of a core, more than "almost none".
        let looks: Vec<_> = (0..30)
            .map(|i| (60.0, false, 1.0 + 3.0 * f64::from(i)))
            .collect();
        assert_eq!(changes(&drive(600, &looks)), []);
        // 0.5 CPU seconds in ten minutes is "almost none".
        let looks: Vec<_> = (0..11)
            .map(|i| (60.0, false, 1.0 + 0.05 * f64::from(i)))
            .collect();
        assert_eq!(
            changes(&drive(600, &looks)),
            [(
                600.0,
                Change::Stalled {
                    since_ms: 1_000_000
                }
            )]
        );
    }

    #[test]
    fn cpu_after_a_stall_clears_it() {
        let mut looks: Vec<_> = (0..10).map(|_| (60.0, false, 1.0)).collect();
        looks.push((60.0, false, 1.0)); // still idle
        looks.push((60.0, false, 31.0)); // half a core for a minute
        let seen = changes(&drive(600, &looks));
        assert_eq!(
            seen,
            [
                (
                    600.0,
                    Change::Stalled {
                        since_ms: 1_000_000
                    }
                ),
                (720.0, Change::Cleared)
            ]
        );
    }

    #[test]
    fn unreadable_cpu_never_makes_a_stall() {
        let clock = ManualClock::starting_at_ms(0);
        let mut detector = Detector::new(Duration::from_secs(10), 0);
        for _ in 0..100 {
            clock.advance_secs(1.0);
            assert_eq!(
                detector.look(clock.now().unix_ms(), false, &mut || None),
                None
            );
        }
    }
}
