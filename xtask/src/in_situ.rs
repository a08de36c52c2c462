//! `tracker_in_situ`: the CPU that a real `tracker run` costs while its
//! step idles and it samples telemetry, read from outside the tracker as
//! the kernel counts it. A user pays the cold, woken-up paths of every
//! thread (sampling, progress channel, display refresh, supervisor), which
//! a warm loop such as `telemetry_sample` does not see.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use manifest::{ArtifactRoot, Query, list_runs};

use crate::measure::{Plan, Scenario};

/// Telemetry interval of the measured run: the default. Between two samples
/// the tracker should do nothing, so whatever it does wake up for weighs as
/// much as the sample itself.
const INTERVAL: Duration = Duration::from_secs(1);
/// Start-up, left out of the measurement: the run's creation, the first
/// sample and process-table scan, the GPU library's probe.
const SETTLE: Duration = Duration::from_millis(500);
/// A window ends this long after its sample was written: half-way to the
/// next, so each window holds exactly one sample whatever the timers' drift.
const HALF: Duration = Duration::from_millis(500);
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

/// `tracker_in_situ`: samples per millisecond of the tracker's CPU.
#[derive(Default)]
pub(crate) struct TrackerInSitu {
    fixture: Option<Fixture>,
}

struct Fixture {
    tracker: PathBuf,
    dir: tempfile::TempDir,
}

impl Scenario for TrackerInSitu {
    fn name(&self) -> &'static str {
        "tracker_in_situ"
    }
    fn title(&self) -> &'static str {
        "Tracker CPU in situ (tracker run of an idle step, --interval 1)"
    }
    fn unit(&self) -> &'static str {
        "samples/cpu-ms"
    }
    fn matrix(&self) -> String {
        format!(
            "`tracker run --plain --interval {}` (this build) of one `sleep` step; CPU of the \
             tracker's and its supervisor's threads (/proc/PID/task/*/schedstat) over windows of \
             one sample each, from half an interval after one sample to half an interval after \
             the next",
            INTERVAL.as_secs_f64()
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
            Some(fixture) => measure(fixture, plan.repeat),
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

/// Runs the pipeline once and measures `repeat` windows of it, one sample
/// each.
fn measure(fixture: &Fixture, repeat: u32) -> anyhow::Result<Vec<f64>> {
    // Start-up, the sample the windows are aligned to, the windows, and a
    // margin for this process to be late on a loaded machine.
    let step = SETTLE + INTERVAL * (repeat + 1) + HALF + MARGIN;
    let root = fixture.dir.path().join("out");
    let child = Command::new(&fixture.tracker)
        .arg("--artifact-root")
        .arg(&root)
        .args(["run", "--plain", "--interval"])
        .arg(INTERVAL.as_secs_f64().to_string())
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
    sleep_until(Instant::now() + SETTLE);
    let mut telemetry = Telemetry::find(&root)?;
    let cpu = || -> anyhow::Result<u64> { Ok(cpu_ns(tracker)? + cpu_ns(supervisor)?) };
    sleep_until(telemetry.next_sample()? + HALF);
    let mut cpu_before = cpu()?;
    let mut throughputs = Vec::with_capacity(repeat as usize);
    for _ in 0..repeat {
        sleep_until(telemetry.next_sample()? + HALF);
        let cpu_after = cpu()?;
        let used_ms = cpu_after.saturating_sub(cpu_before) as f64 / 1e6;
        if used_ms <= 0.0 {
            bail!("the tracker used no CPU over a sample");
        }
        throughputs.push(1.0 / used_ms);
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
    len: u64,
}

impl Telemetry {
    /// The telemetry file of the one run under `root`.
    fn find(root: &Path) -> anyhow::Result<Self> {
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
        Ok(Self { path, len })
    }

    /// Waits until a sample is appended; returns when it was seen.
    fn next_sample(&mut self) -> anyhow::Result<Instant> {
        let since = Instant::now();
        loop {
            let len = std::fs::metadata(&self.path).map_or(0, |m| m.len());
            if len > self.len {
                self.len = len;
                return Ok(Instant::now());
            }
            if since.elapsed() > INTERVAL * 10 {
                bail!(
                    "no telemetry sample in {:.0} s ({})",
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
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        total += text
            .split_ascii_whitespace()
            .next()
            .and_then(|ns| ns.parse::<u64>().ok())
            .with_context(|| format!("{}: not a schedstat line: {text:?}", path.display()))?;
    }
    Ok(total)
}
