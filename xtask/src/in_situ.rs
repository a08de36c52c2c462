//! `tracker_in_situ` and `tracker_in_situ_fast`: the CPU that a real
//! `tracker run` costs while its step idles and it samples telemetry, read
//! from outside the tracker as the kernel counts it. A user pays the cold,
//! woken-up paths of every thread (sampling, progress channel, display
//! refresh, supervisor), which a warm loop such as `telemetry_sample` does
//! not see.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use manifest::{ArtifactRoot, Query, list_runs};

use crate::measure::{Plan, Scenario};

/// How often the telemetry file is looked at for a new sample.
const LOOK: Duration = Duration::from_millis(10);
/// The step outlives the last window by this much (this process may be
/// late to read it on a loaded machine).
const MARGIN: Duration = Duration::from_secs(1);
/// Longest wait for the tracker to start its step's supervisor.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The pipeline: one step that sleeps `$STEP_SECONDS`.
const PIPELINE: &str = r#"[pipeline]
name = "xtask-in-situ"

[[steps]]
id = "idle"
name = "Idle step"
run = "sleep $STEP_SECONDS"
"#;

/// `tracker_in_situ` (or `_fast`): samples per millisecond of the
/// tracker's CPU.
pub(crate) struct TrackerInSitu {
    shape: Shape,
    fixture: Option<Fixture>,
}

/// What a variant measures.
struct Shape {
    name: &'static str,
    title: &'static str,
    /// Telemetry interval of the measured run.
    interval: Duration,
    /// Start-up, left out of the measurement.
    settle: Duration,
    /// Samples in one window (one repetition).
    samples: u32,
}

impl TrackerInSitu {
    /// `tracker_in_situ`: the default interval (1 s), six samples a window.
    /// Between two samples the tracker should do nothing, so whatever it
    /// does wake up for weighs as much as the sample itself. A window of
    /// 6 s holds its exact share of what comes less often than every
    /// sample: three readings of the machine (every 2 s,
    /// `sampler::DEFAULT_SYSTEM_EVERY`) and two process-table scans due
    /// (every 3 s). Start-up (the run's creation, the first sample and
    /// process-table scan, the GPU library's probe) is the first half
    /// second.
    pub(crate) fn default_interval() -> Self {
        Self {
            shape: Shape {
                name: "tracker_in_situ",
                title: "Tracker CPU in situ (tracker run of an idle step, --interval 1)",
                interval: Duration::from_secs(1),
                settle: Duration::from_millis(500),
                samples: 6,
            },
            fixture: None,
        }
    }

    /// `tracker_in_situ_fast`: the shortest interval (0.2 s), where the
    /// sample's own cost dominates. A window holds 30 samples, 6 s: two
    /// process-table scans due (every 3 s, `sampler::DEFAULT_SCAN_EVERY`;
    /// run, or skipped when nothing new started), three readings of the
    /// machine (every 2 s) and six writes (a second's samples at a time),
    /// so every window pays its exact share of them. The first 3.5 s are left
    /// out: a young tree is scanned at every sample of its first 3 s,
    /// which a long step pays once.
    pub(crate) fn fast() -> Self {
        Self {
            shape: Shape {
                name: "tracker_in_situ_fast",
                title: "Tracker CPU in situ (tracker run of an idle step, --interval 0.2)",
                interval: Duration::from_millis(200),
                settle: Duration::from_millis(3500),
                samples: 30,
            },
            fixture: None,
        }
    }
}

struct Fixture {
    tracker: PathBuf,
    dir: tempfile::TempDir,
}

impl Scenario for TrackerInSitu {
    fn name(&self) -> &'static str {
        self.shape.name
    }
    fn title(&self) -> &'static str {
        self.shape.title
    }
    fn unit(&self) -> &'static str {
        "samples/cpu-ms"
    }
    fn matrix(&self) -> String {
        format!(
            "`tracker run --plain --interval {}` (this build) of one `sleep` step, from {} s \
             after it started; CPU of the tracker's and its supervisor's threads \
             (/proc/PID/task/*/schedstat) over windows of {} sample(s) each, from half an \
             interval after one sample to half an interval after the window's last",
            self.shape.interval.as_secs_f64(),
            self.shape.settle.as_secs_f64(),
            self.shape.samples,
        )
    }
    fn setup(&mut self) -> anyhow::Result<()> {
        let tracker = build_tracker()?;
        let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
        std::fs::write(dir.path().join("pipeline.toml"), PIPELINE)
            .context("cannot write the pipeline file")?;
        self.fixture = Some(Fixture { tracker, dir });
        Ok(())
    }
    fn run(&mut self, _n: u64) -> anyhow::Result<Duration> {
        bail!("tracker_in_situ is measured from outside the tracker, not by timed operations")
    }
    fn throughputs(&mut self, plan: Plan) -> Option<anyhow::Result<Vec<f64>>> {
        Some(match &self.fixture {
            Some(fixture) => measure(fixture, &self.shape, plan.repeat),
            None => Err(anyhow::anyhow!("setup did not run")),
        })
    }
}

/// Builds the `tracker` binary with this build's profile (a no-op when it is
/// up to date) and returns its path, next to this executable. Features are
/// resolved for the whole workspace, as `cargo build --workspace --bins`
/// resolves them, so the two share their build.
fn build_tracker() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--quiet", "--workspace", "--bin", "tracker"])
        .current_dir(crate::perf::workspace_root())
        .stdin(Stdio::null());
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    let status = build
        .status()
        .context("cannot run cargo to build the tracker")?;
    if !status.success() {
        bail!("cargo could not build the tracker ({status})");
    }
    let exe = std::env::current_exe().context("cannot find xtask's own executable")?;
    let tracker = exe.with_file_name(format!("tracker{}", std::env::consts::EXE_SUFFIX));
    if !tracker.is_file() {
        bail!(
            "no tracker binary at {} after building it",
            tracker.display()
        );
    }
    Ok(tracker)
}

/// A child killed (and reaped) when dropped, so that an error mid-way
/// leaves no tracker running; its supervisor and step follow it (they end
/// when the tracker dies).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the pipeline once and measures `repeat` windows of it, of
/// `shape.samples` samples each.
fn measure(fixture: &Fixture, shape: &Shape, repeat: u32) -> anyhow::Result<Vec<f64>> {
    // A window ends half-way to the next sample, so that it holds exactly
    // its samples whatever the timers' drift.
    let half = shape.interval / 2;
    // Start-up, the sample the windows are aligned to, the windows, and a
    // margin for this process to be late on a loaded machine.
    let step = shape.settle + shape.interval * (repeat * shape.samples + 1) + half + MARGIN;
    let root = fixture.dir.path().join("out");
    let child = Command::new(&fixture.tracker)
        .arg("--artifact-root")
        .arg(&root)
        .args(["run", "--plain", "--interval"])
        .arg(shape.interval.as_secs_f64().to_string())
        .arg(fixture.dir.path().join("pipeline.toml"))
        .env("STEP_SECONDS", format!("{:.3}", step.as_secs_f64()))
        .env_remove("TRACKER_TELEMETRY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", fixture.tracker.display()))?;
    let started = Instant::now();
    let mut running = Running(child);
    let tracker = running.0.id();
    let supervisor = loop {
        if let Some(&pid) = children(tracker).first() {
            break pid;
        }
        if running.0.try_wait()?.is_some() || started.elapsed() > START_TIMEOUT {
            bail!("the tracker did not start its step");
        }
        std::thread::sleep(LOOK);
    };
    // The step's clock starts about now.
    sleep_until(Instant::now() + shape.settle);
    let mut telemetry = Telemetry::find(&root, shape.interval)?;
    let cpu = || -> anyhow::Result<u64> { Ok(cpu_ns(tracker)? + cpu_ns(supervisor)?) };
    sleep_until(telemetry.next_samples(1)? + half);
    let mut cpu_before = cpu()?;
    let mut throughputs = Vec::with_capacity(repeat as usize);
    for _ in 0..repeat {
        sleep_until(telemetry.next_samples(shape.samples)? + half);
        let cpu_after = cpu()?;
        let used_ms = cpu_after.saturating_sub(cpu_before) as f64 / 1e6;
        if used_ms <= 0.0 {
            bail!("the tracker used no CPU over a window");
        }
        throughputs.push(f64::from(shape.samples) / used_ms);
        cpu_before = cpu_after;
    }
    if running.0.try_wait()?.is_some() {
        bail!("the run ended before the measurement did");
    }
    let status = running.0.wait()?;
    if !status.success() {
        bail!("tracker run failed ({status})");
    }
    Ok(throughputs)
}

/// The run's `telemetry.jsonl`, watched for new samples.
struct Telemetry {
    path: PathBuf,
    /// Bytes read so far.
    len: u64,
    /// The run's telemetry interval.
    interval: Duration,
}

impl Telemetry {
    /// The telemetry file of the one run under `root`, sampled every
    /// `interval`.
    fn find(root: &Path, interval: Duration) -> anyhow::Result<Self> {
        let listing = list_runs(&ArtifactRoot::new(root), &Query::default())?;
        let Some(dir) = listing
            .runs
            .first()
            .and_then(|run| run.record.artifact_dir.clone())
        else {
            bail!("the run is not in {}", root.display());
        };
        let path = Path::new(&dir).join(manifest::files::TELEMETRY);
        let len = std::fs::metadata(&path).map_or(0, |m| m.len());
        Ok(Self {
            path,
            len,
            interval,
        })
    }

    /// Waits until `n` more samples (whole lines) are appended; returns when
    /// the last was seen.
    fn next_samples(&mut self, n: u32) -> anyhow::Result<Instant> {
        use std::io::{Read as _, Seek as _};
        let since = Instant::now();
        let mut seen = 0;
        loop {
            let len = std::fs::metadata(&self.path).map_or(0, |m| m.len());
            if len > self.len {
                let mut file = std::fs::File::open(&self.path)
                    .with_context(|| format!("cannot open {}", self.path.display()))?;
                file.seek(std::io::SeekFrom::Start(self.len))?;
                let mut appended = Vec::new();
                file.read_to_end(&mut appended)?;
                // Whole lines only: a line being written counts once done.
                let Some(end) = appended.iter().rposition(|&b| b == b'\n') else {
                    std::thread::sleep(LOOK);
                    continue;
                };
                seen += appended[..=end].iter().filter(|&&b| b == b'\n').count();
                self.len += end as u64 + 1;
                if seen >= n as usize {
                    return Ok(Instant::now());
                }
            }
            if since.elapsed() > self.interval * (n + 10) {
                bail!(
                    "{seen} of {n} telemetry samples in {:.0} s ({})",
                    since.elapsed().as_secs_f64(),
                    self.path.display()
                );
            }
            std::thread::sleep(LOOK);
        }
    }
}

fn sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline > now {
        std::thread::sleep(deadline - now);
    }
}

/// The children of `pid`, from `/proc/PID/task/*/children`.
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|text| {
            text.split_ascii_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// CPU time of every thread of `pid` so far, ns: the first field of each
/// `/proc/PID/task/TID/schedstat` (time on a CPU, as the scheduler counts
/// it, to the nanosecond). A thread that ends meanwhile is left out.
fn cpu_ns(pid: u32) -> anyhow::Result<u64> {
    let tasks = format!("/proc/{pid}/task");
    let entries = std::fs::read_dir(&tasks).with_context(|| format!("cannot read {tasks}"))?;
    let mut total = 0;
    for task in entries.flatten() {
        let path = task.path().join("schedstat");
        // A thread that ended meanwhile is left out.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        total += schedstat_ns(&path, &text)?;
    }
    Ok(total)
}

/// The CPU time, ns, in a `schedstat` line read from `path`: its first
/// field, as the kernel's scheduler counts it.
fn schedstat_ns(path: &Path, text: &str) -> anyhow::Result<u64> {
    text.split_ascii_whitespace()
        .next()
        .and_then(|ns| ns.parse().ok())
        .with_context(|| format!("{}: not a schedstat line: {text:?}", path.display()))
}

/// `timer_wake_fast`: what waking up costs any program on this machine, the
/// baseline that `tracker_in_situ_fast` is read against in the same run. A
/// thread of this process waits on a condition variable with a timeout, as
/// the tracker's sampler does, five times a second, and does nothing else;
/// its CPU is read from `/proc/thread-self/schedstat` over windows of 15
/// wakes. On a virtual machine the kernel's work around each wake (the
/// timer, leaving idle, the scheduler) can cost tens of microseconds, which
/// every sample pays before the tracker does anything.
pub(crate) struct TimerWake {
    interval: Duration,
    wakes: u32,
}

impl TimerWake {
    /// At the shortest telemetry interval (0.2 s), 15 wakes a window.
    pub(crate) fn fast() -> Self {
        Self {
            interval: Duration::from_millis(200),
            wakes: 15,
        }
    }
}

impl Scenario for TimerWake {
    fn name(&self) -> &'static str {
        "timer_wake_fast"
    }
    fn title(&self) -> &'static str {
        "Bare timer wake (a thread waking every 0.2 s and doing nothing)"
    }
    fn unit(&self) -> &'static str {
        "wakes/cpu-ms"
    }
    fn matrix(&self) -> String {
        format!(
            "one thread of xtask waiting on a condition variable with a {} s timeout \
             (as the tracker's sampler waits), nothing else; its CPU \
             (/proc/thread-self/schedstat) over windows of {} wakes",
            self.interval.as_secs_f64(),
            self.wakes,
        )
    }
    fn setup(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
    fn run(&mut self, _n: u64) -> anyhow::Result<Duration> {
        bail!("timer_wake_fast is measured as CPU time, not by timed operations")
    }
    fn throughputs(&mut self, plan: Plan) -> Option<anyhow::Result<Vec<f64>>> {
        let (interval, wakes) = (self.interval, self.wakes);
        let thread = std::thread::Builder::new()
            .name("timer-wake".into())
            .spawn(move || wake_windows(interval, wakes, plan.repeat));
        Some(match thread {
            Ok(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("the waking thread panicked"))),
            Err(e) => Err(anyhow::anyhow!("cannot start the waking thread: {e}")),
        })
    }
}

/// On this thread: `repeat` windows of `wakes` timed-out waits of
/// `interval` each; wakes per millisecond of this thread's CPU in each.
fn wake_windows(interval: Duration, wakes: u32, repeat: u32) -> anyhow::Result<Vec<f64>> {
    let lock = std::sync::Mutex::new(());
    let wake = std::sync::Condvar::new();
    let wait = || {
        let guard = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Never notified: each wait ends by its timeout.
        let _ = wake.wait_timeout(guard, interval);
    };
    wait(); // the first wake, from a fresh thread, is not counted
    let mut throughputs = Vec::with_capacity(repeat as usize);
    for _ in 0..repeat {
        let before = thread_cpu_ns()?;
        for _ in 0..wakes {
            wait();
        }
        let used_ms = thread_cpu_ns()?.saturating_sub(before) as f64 / 1e6;
        if used_ms <= 0.0 {
            bail!("the waking thread used no CPU over a window");
        }
        throughputs.push(f64::from(wakes) / used_ms);
    }
    Ok(throughputs)
}

/// This thread's CPU time, ns, as the kernel's scheduler counts it.
fn thread_cpu_ns() -> anyhow::Result<u64> {
    let path = Path::new("/proc/thread-self/schedstat");
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    schedstat_ns(path, &text)
}
