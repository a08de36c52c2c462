//! The failure guard against real signals.
//!
//! Each test re-runs this test binary as a child (only [`guarded_child`],
//! with [`CHILD_ENV`] naming an artifact root): the child tracks a two-step
//! run on the system clock with the guard installed, and sleeps in step 2.
//! The parent sends it a signal with `kill`, measures how long the
//! `cancelled` record takes to reach the manifest, and checks what was left
//! on disk and how the child died.

#![cfg(unix)]
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};

use manifest::{ArtifactRoot, RunOptions, files, read_last_record, read_steps};
use progress::{Display, FailureGuard, ProgressTracker, StepSpec, TrackerOptions};
use signal_hook::consts::{SIGINT, SIGTERM};
use telemetry_model::{PipelineRunRecord, RunStatus, StepStatus, TelemetrySnapshot};

/// Set in the child: the artifact root to track the run under.
const CHILD_ENV: &str = "PROGRESS_GUARD_CHILD";
/// Written by the child (atomically) once step 2 runs: the run directory.
const READY: &str = "ready";
/// The step of the sample the child's end hook hands over.
const HELD_STEP: &str = "held-back";
/// How long anything here may take before the test gives up.
const PATIENCE: Duration = Duration::from_secs(10);

/// The child's side; returns at once in an ordinary test run.
#[test]
fn guarded_child() {
    let Some(root) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let root = PathBuf::from(root);
    let mut options = TrackerOptions::new("guard-test", ArtifactRoot::new(&root));
    options.display = Display::Plain;
    options.refresh = None;
    options.run = RunOptions::default(); // synced, as in production
    let tracker = Arc::new(
        ProgressTracker::start(
            options,
            vec![
                StepSpec::new("prepare", "Prepare"),
                StepSpec::new("train", "Train"),
            ],
        )
        .unwrap(),
    );
    let _guard = FailureGuard::install(&tracker).unwrap();
    // What a caller holds back (telemetry handed over a second at a time)
    // reaches the run before the signal ends it.
    let weak = Arc::downgrade(&tracker);
    tracker.before_end(move || {
        if let Some(tracker) = weak.upgrade() {
            let held = TelemetrySnapshot {
                step_id: Some(HELD_STEP.to_owned()),
                ..TelemetrySnapshot::default()
            };
            tracker.append_telemetry(&held).unwrap();
        }
    });
    tracker.start_step("prepare").unwrap();
    tracker.complete_step("prepare").unwrap();
    tracker.start_step("train").unwrap();
    let staging = root.join("ready.tmp");
    std::fs::write(&staging, tracker.dir().as_os_str().as_encoded_bytes()).unwrap();
    std::fs::rename(&staging, root.join(READY)).unwrap();
    for _ in 0..600 {
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no signal in 60 s");
}

/// Starts the child on `root`, its output going to `root/child.log`.
fn spawn_child(root: &Path) -> Child {
    let log = File::create(root.join("child.log")).unwrap();
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "guarded_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, root)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// Waits for the child's ready file; returns the run directory.
fn wait_ready(root: &Path, child: &mut Child) -> PathBuf {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(dir) = std::fs::read_to_string(root.join(READY)) {
            return PathBuf::from(dir);
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("child exited before it was ready: {status}\n{}", log(root));
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("child not ready after {PATIENCE:?}\n{}", log(root));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn last_record(dir: &Path) -> PipelineRunRecord {
    read_last_record(&dir.join(files::MANIFEST))
        .unwrap()
        .unwrap()
        .record
}

/// Polls the manifest every millisecond until the run is cancelled; returns
/// how long after `sent` that was.
fn wait_cancelled(dir: &Path, sent: Instant) -> Duration {
    loop {
        let cancelled = read_last_record::<PipelineRunRecord>(&dir.join(files::MANIFEST))
            .ok()
            .flatten()
            .is_some_and(|tail| tail.record.status == RunStatus::Cancelled);
        if cancelled {
            return sent.elapsed();
        }
        assert!(
            sent.elapsed() < PATIENCE,
            "not cancelled after {PATIENCE:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn wait_exit(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("child still alive {PATIENCE:?} after the signal");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn log(root: &Path) -> String {
    std::fs::read_to_string(root.join("child.log")).unwrap_or_default()
}

/// Sends `signal` to a guarded child in step 2 and checks the flushed run.
#[allow(clippy::print_stderr)]
fn signal_cancels_and_flushes(signal: i32, name: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mut child = spawn_child(root);
    let dir = wait_ready(root, &mut child);

    let sent = Instant::now();
    let kill = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(kill.success(), "kill -{signal}: {kill}");
    let killed = sent.elapsed();
    let flushed = wait_cancelled(&dir, sent);
    let status = wait_exit(&mut child);
    let exited = sent.elapsed();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    eprintln!(
        "{name}: `kill` ran {:.1} ms; from its start, the cancelled record was in \
         the manifest after {:.1} ms and the child gone after {:.1} ms",
        ms(killed),
        ms(flushed),
        ms(exited)
    );
    let output = log(root);

    // The signal's default action ran: the child died by it.
    assert_eq!(status.signal(), Some(signal), "{status}\n{output}");

    let record = last_record(&dir);
    assert_eq!(record.status, RunStatus::Cancelled);
    assert!(record.completed_at.is_some());
    let [prepare, train] = &record.steps[..] else {
        panic!("{:?}", record.steps)
    };
    assert_eq!(prepare.status, StepStatus::Completed);
    assert_eq!(train.status, StepStatus::Failed);
    assert!(train.ended_at.is_some() && train.duration_seconds.is_some());

    // steps.json and summary.json were flushed too, and agree.
    let steps = read_steps(&dir.join(files::STEPS)).unwrap();
    assert_eq!(steps, record.steps);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(files::SUMMARY_JSON)).unwrap()).unwrap();
    assert_eq!(summary["status"], "cancelled");
    assert_eq!(summary["steps"], serde_json::to_value(&steps).unwrap());
    let reason = summary["reason"].as_str().unwrap();
    assert!(reason.contains(name), "{reason}");
    assert!(dir.join(files::SUMMARY_MD).is_file());

    // The end hook ran before the run ended: its sample was recorded.
    let telemetry = std::fs::read_to_string(dir.join(files::TELEMETRY)).unwrap_or_default();
    assert!(telemetry.contains(HELD_STEP), "{telemetry:?}");

    // The operator was told.
    assert!(output.contains("cancelled"), "{output}");
}

#[test]
fn sigterm_cancels_the_run_and_flushes_it_before_dying() {
    signal_cancels_and_flushes(SIGTERM, "SIGTERM");
}

#[test]
fn sigint_cancels_the_run_and_flushes_it_before_dying() {
    signal_cancels_and_flushes(SIGINT, "SIGINT");
}
