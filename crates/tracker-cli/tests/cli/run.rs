//! `tracker run`: real pipelines, real child processes, real signals.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use manifest::{ArtifactRoot, Query, RunState, files, list_runs, read_last_record};
use telemetry_model::{PipelineRunRecord, RunStatus, StepStatus};

use crate::{stderr, stdout, tracker};

fn write_pipeline(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn only_run(root: &Path) -> PipelineRunRecord {
    let listing = list_runs(&ArtifactRoot::new(root), &Query::default()).unwrap();
    assert_eq!(listing.runs.len(), 1);
    listing.runs[0].record.clone()
}

const PYTHON_STEP: &str = r#"python3 -c "
import json, os, time
channel = os.environ['TRACKER_PROGRESS']
for i in range(1, 5):
    time.sleep(0.15)
    with open(channel, 'a') as f:
        f.write(json.dumps({'progress': i / 4, 'steps': i * 250, 'message': 'chunk %d' % i}) + '\n')
with open(channel, 'a') as f:
    f.write('this is not json\n')
    f.write(json.dumps({'artifact': 'model.bin', 'fps': 30.5}) + '\n')
print('trained', os.environ['TRACKER_STEP_ID'], os.environ['TRACKER_RUN_ID'][:4])
""#;

#[test]
fn a_pipeline_runs_with_progress_lines_logs_and_a_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write_pipeline(
        dir.path(),
        &format!(
            r#"
[pipeline]
name = "e2e"
scenario = "configs/e2e.yaml"

[[steps]]
id = "prepare"
name = "Prepare data"
run = "echo preparing; sleep 0.3; echo to-stderr >&2"
expected_seconds = 0.3

[[steps]]
id = "train"
name = "Train (Python)"
run = '''{PYTHON_STEP}'''

[[steps]]
id = "disabled"
run = "exit 9"
enabled = false
"#
        ),
    );
    let root = dir.path().join("out");
    let out = tracker(&root, &["run", pipeline.to_str().unwrap()]);
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{err}");
    // The steps' own output reaches the terminal…
    assert!(
        text.contains("preparing\n") && text.contains("trained train"),
        "{text}"
    );
    // …and progress lines, plain because stderr is not a terminal.
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        !err.contains("GPU metrics off") && !err.contains("NVML"),
        "a missing GPU library is no terminal noise: {err}"
    );
    assert!(
        lines[0].starts_with("Run ") && lines[0].ends_with("– e2e: 2 steps, 1 skipped (ETA 1s)"),
        "{err}"
    );
    assert!(
        lines[1].starts_with("Step 1/2 – Prepare data (ETA "),
        "{err}"
    );
    assert!(
        err.contains("Completed step 1/2 – Prepare data in "),
        "{err}"
    );
    assert!(err.contains("Step 2/2 – Train (Python) (ETA "), "{err}");
    assert!(
        err.contains("warning: step `train`: ignoring progress line 5: not JSON"),
        "{err}"
    );
    assert!(
        err.contains("Completed step 2/2 – Train (Python) in "),
        "{err}"
    );
    assert!(!err.contains('\u{1b}'), "no escape codes off a terminal");

    let record = only_run(&root);
    assert_eq!(record.status, RunStatus::Completed);
    assert_eq!(record.pipeline.as_deref(), Some("e2e"));
    assert_eq!(
        record.scenario_config_path.as_deref(),
        Some("configs/e2e.yaml")
    );
    let statuses: Vec<StepStatus> = record.steps.iter().map(|s| s.status).collect();
    assert_eq!(
        statuses,
        [
            StepStatus::Completed,
            StepStatus::Completed,
            StepStatus::Skipped
        ]
    );
    assert_eq!(record.steps[0].exit_code, Some(0));
    // Reported relative to the step's directory, recorded absolute.
    assert_eq!(
        record.steps[1].artifacts,
        [dir.path().join("model.bin").display().to_string()]
    );
    assert!(record.steps[0].duration_seconds.unwrap() >= 0.3);
    assert!(telemetry_model::validate_record(&record).is_empty());

    let run_dir = PathBuf::from(record.artifact_dir.unwrap());
    let log = std::fs::read_to_string(run_dir.join("logs/prepare.log")).unwrap();
    assert!(
        log.contains("preparing") && log.contains("to-stderr"),
        "{log}"
    );
    assert!(run_dir.join(files::SUMMARY_MD).is_file());
}

#[test]
fn a_failing_step_fails_the_run_unless_it_may() {
    let dir = tempfile::tempdir().unwrap();
    let text = |continue_on_error: bool| {
        format!(
            "[pipeline]\nname = \"f\"\n[[steps]]\nid = \"a\"\nrun = \"echo boom >&2; exit 3\"\ncontinue_on_error = {continue_on_error}\n[[steps]]\nid = \"b\"\nrun = \"true\"\n"
        )
    };
    let pipeline = write_pipeline(dir.path(), &text(false));
    let root = dir.path().join("strict");
    let out = tracker(&root, &["run", pipeline.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Failed step 1/2 – a after "),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains(": exit status 3"), "{}", stderr(&out));
    let record = only_run(&root);
    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(record.steps[0].exit_code, Some(3));
    assert_eq!(record.steps[1].status, StepStatus::Pending, "b never ran");

    let pipeline = write_pipeline(dir.path(), &text(true));
    let root = dir.path().join("lenient");
    let out = tracker(&root, &["run", pipeline.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let record = only_run(&root);
    assert_eq!(record.status, RunStatus::Completed);
    assert_eq!(record.steps[0].status, StepStatus::Failed);
    assert_eq!(record.steps[1].status, StepStatus::Completed);
    // A completed run is listed with its last completed step, not with the
    // step that was allowed to fail; a failed run names its failed step.
    let current = |root: &Path| {
        let out = tracker(root, &["list", "--format", "json"]);
        let runs: Vec<serde_json::Value> = serde_json::from_str(&stdout(&out)).unwrap();
        runs[0]["current_step"].as_str().unwrap().to_owned()
    };
    assert_eq!(current(&root), "b");
    assert_eq!(current(&dir.path().join("strict")), "a");
}

#[test]
fn skip_only_and_run_id() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write_pipeline(
        dir.path(),
        "[pipeline]\nname = \"s\"\n[[steps]]\nid = \"a\"\nrun = \"true\"\n[[steps]]\nid = \"b\"\nrun = \"true\"\n[[steps]]\nid = \"c\"\nrun = \"true\"\nenabled = false\n",
    );
    let p = pipeline.to_str().unwrap();
    let root = dir.path().join("out");
    let out = tracker(&root, &["run", p, "--skip", "a", "--run-id", "nightly-1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = tracker(&root, &["run", p, "--only", "c", "--run-id", "only-c"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let show = |id: &str| -> Vec<StepStatus> {
        let entry = manifest::resolve_run(&ArtifactRoot::new(&root), id).unwrap();
        entry.record.steps.iter().map(|s| s.status).collect()
    };
    assert_eq!(
        show("nightly-1"),
        [
            StepStatus::Skipped,
            StepStatus::Completed,
            StepStatus::Skipped
        ]
    );
    assert_eq!(
        show("only-c"),
        [
            StepStatus::Skipped,
            StepStatus::Skipped,
            StepStatus::Completed
        ]
    );
    // The same name twice is refused; unknown steps name the flag.
    let out = tracker(&root, &["run", p, "--run-id", "nightly-1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("run `nightly-1` already exists"),
        "{}",
        stderr(&out)
    );
    let out = tracker(&root, &["run", p, "--skip", "zz"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--skip zz: no such step"),
        "{}",
        stderr(&out)
    );
    let out = tracker(&root, &["run", p, "--run-id", "../escape"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid run name"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn invalid_pipeline_files_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write_pipeline(
        dir.path(),
        "[pipeline]\nname = \"x\"\n[[steps]]\nid = \"a\"\nrun = \"touch ran\"\nexpected_seconds = \"ten\"\n",
    );
    let root = dir.path().join("out");
    let out = tracker(&root, &["run", pipeline.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("pipeline.toml:6:20: key `expected_seconds`: invalid type"),
        "{err}"
    );
    assert!(!root.exists(), "no run was created");
    assert!(!dir.path().join("ran").exists(), "no step ran");
    let out = tracker(
        &root,
        &["run", dir.path().join("missing.toml").to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("missing.toml: cannot read"),
        "{}",
        stderr(&out)
    );
}

/// A pipeline whose second step records its pid (and a grandchild's) and
/// then waits, so a test can interrupt it mid-step.
fn long_pipeline(dir: &Path) -> PathBuf {
    write_pipeline(
        dir,
        r#"
[pipeline]
name = "long"
[[steps]]
id = "first"
run = "true"
[[steps]]
id = "second"
name = "Wait"
run = "sleep 60 & echo $! > grandchild.pid; echo $$ > child.pid; wait"
[[steps]]
id = "third"
run = "true"
"#,
    )
}

fn spawn_tracker(root: &Path, pipeline: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tracker"))
        .arg("--artifact-root")
        .arg(root)
        .arg("run")
        .arg(pipeline)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn pid_in(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Alive and not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit(')')
                .next()
                .map(|rest| rest.trim_start().to_owned())
        })
        .is_some_and(|rest| !rest.starts_with('Z') && !rest.starts_with('X'))
}

fn manifest_of(root: &Path) -> Option<PipelineRunRecord> {
    let runs = root.join("run-tracker");
    let dir = std::fs::read_dir(runs)
        .ok()?
        .flatten()
        .find(|e| !e.file_name().to_string_lossy().starts_with('.'))?;
    read_last_record::<PipelineRunRecord>(&dir.path().join(files::MANIFEST))
        .ok()
        .flatten()
        .map(|t| t.record)
}

/// Starts `tracker run` on [`long_pipeline`] and waits until its second
/// step runs; returns the tracker, the root and the step's two pids.
fn start_long_run(dir: &Path) -> (Child, PathBuf, [u32; 2]) {
    let pipeline = long_pipeline(dir);
    let root = dir.join("out");
    let child = spawn_tracker(&root, &pipeline);
    let files = [dir.join("child.pid"), dir.join("grandchild.pid")];
    wait_for("the second step to start", || {
        files.iter().all(|f| pid_in(f).is_some())
    });
    let pids = files.map(|f| pid_in(&f).unwrap());
    assert!(pids.iter().all(|&p| alive(p)));
    (child, root, pids)
}

// The flush time is a figure worth reading with `--nocapture`.
#[allow(clippy::print_stderr)]
fn interrupt_mid_step(signal: i32, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, root, pids) = start_long_run(dir.path());

    let sent = Instant::now();
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    wait_for("the cancelled record", || {
        manifest_of(&root).is_some_and(|r| r.status == RunStatus::Cancelled)
    });
    let flushed = sent.elapsed();
    let status = child.wait().unwrap();
    eprintln!(
        "{name}: manifest flushed {flushed:?} after the signal; tracker exited after {:?}",
        sent.elapsed()
    );

    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(signal),
        "the tracker dies by the signal, as a shell expects"
    );
    let record = manifest_of(&root).unwrap();
    assert_eq!(record.status, RunStatus::Cancelled);
    assert_eq!(record.steps[0].status, StepStatus::Completed);
    assert_eq!(record.steps[1].status, StepStatus::Failed);
    assert_eq!(record.steps[2].status, StepStatus::Pending);
    assert_eq!(
        record.summary.reason,
        Some(format!("interrupted by {name}"))
    );
    let run_dir = PathBuf::from(record.artifact_dir.unwrap());
    assert!(
        run_dir.join(files::SUMMARY_JSON).is_file(),
        "summary flushed"
    );
    // Once the step stopped, the aborted run's summary got its aggregates too.
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join(files::SUMMARY_JSON)).unwrap()).unwrap();
    assert_eq!(summary["status"], "cancelled");
    assert!(summary["resources"]["steps"].is_array(), "{summary}");
    let markdown = std::fs::read_to_string(run_dir.join(files::SUMMARY_MD)).unwrap();
    assert!(markdown.contains("## Recommendations"), "{markdown}");
    let steps = manifest::read_steps(&run_dir.join(files::STEPS)).unwrap();
    assert_eq!(steps[1].status, StepStatus::Failed, "steps.json flushed");
    for pid in pids {
        assert!(
            !alive(pid),
            "{name}: step process {pid} outlived the tracker"
        );
    }
}

#[test]
fn sigterm_mid_step_cancels_flushes_and_stops_the_step() {
    interrupt_mid_step(libc::SIGTERM, "SIGTERM");
}

#[test]
fn sigint_mid_step_cancels_flushes_and_stops_the_step() {
    interrupt_mid_step(libc::SIGINT, "SIGINT");
}

#[test]
fn sigkill_leaves_an_abandoned_run_and_no_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, root, pids) = start_long_run(dir.path());
    child.kill().unwrap(); // SIGKILL: no handler runs
    child.wait().unwrap();
    wait_for("the step's processes to end", || {
        pids.iter().all(|&p| !alive(p))
    });

    let listing = list_runs(&ArtifactRoot::new(&root), &Query::default()).unwrap();
    let entry = &listing.runs[0];
    assert_eq!(entry.state, RunState::Abandoned);
    assert_eq!(
        entry
            .record
            .last_completed_step()
            .map(|s| s.step_id.as_str()),
        Some("first")
    );
    let out = tracker(
        &root,
        &["list", "--status", "abandoned", "--format", "json"],
    );
    assert!(
        stdout(&out).contains("\"status\": \"abandoned\""),
        "{}",
        stdout(&out)
    );
    // A new run on the same root works.
    let quick = write_pipeline(
        dir.path(),
        "[pipeline]\nname = \"q\"\n[[steps]]\nid = \"a\"\nrun = \"true\"\n",
    );
    let out = tracker(&root, &["run", quick.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn several_runs_at_once_on_one_root() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write_pipeline(
        dir.path(),
        "[pipeline]\nname = \"c\"\n[[steps]]\nid = \"a\"\nrun = \"sleep 0.2\"\n[[steps]]\nid = \"b\"\nrun = \"echo $TRACKER_RUN_ID > \\\"$TRACKER_RUN_DIR/id.txt\\\"\"\n",
    );
    let root = dir.path().join("out");
    let children: Vec<Child> = (0..4).map(|_| spawn_tracker(&root, &pipeline)).collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let listing = list_runs(&ArtifactRoot::new(&root), &Query::default()).unwrap();
    assert_eq!(listing.runs.len(), 4);
    assert!(listing.warnings.is_empty(), "{:?}", listing.warnings);
    for run in &listing.runs {
        assert_eq!(run.state, RunState::Completed);
        let written = std::fs::read_to_string(run.dir.join("id.txt")).unwrap();
        assert_eq!(written.trim(), run.run_id(), "each step saw its own run");
    }
}

#[test]
fn status_and_watch_follow_a_live_run_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write_pipeline(
        dir.path(),
        "[pipeline]\nname = \"w\"\n[[steps]]\nid = \"a\"\nname = \"Slow step\"\nrun = \"touch started; sleep 1.5\"\nexpected_seconds = 2\n[[steps]]\nid = \"b\"\nrun = \"exit 4\"\n",
    );
    let root = dir.path().join("out");
    let mut run = spawn_tracker(&root, &pipeline);
    wait_for("the first step", || dir.path().join("started").exists());

    let out = tracker(&root, &["status"]);
    let text = stdout(&out);
    assert!(
        text.starts_with("Run ") && text.contains("(w): running, writer alive, elapsed "),
        "{text}"
    );
    assert!(text.contains(", ETA "), "{text}");
    assert!(text.contains("Step 1/2 – Slow step (elapsed "), "{text}");
    let out = tracker(&root, &["status", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["current_step"]["step_id"], "a");
    assert!(doc["eta_seconds"].as_f64().unwrap() <= 2.0 + 2.0);

    let watch = tracker(&root, &["watch", "latest", "--interval", "0.2"]);
    run.wait().unwrap();
    let text = stdout(&watch);
    assert_eq!(
        watch.status.code(),
        Some(1),
        "a failed run makes watch exit 1: {text}"
    );
    assert!(text.contains("Step 1/2 – Slow step"), "{text}");
    assert!(
        text.contains("  status     failed"),
        "ends with the summary: {text}"
    );
    assert!(!text.contains('\u{1b}'), "no escape codes off a terminal");
}

#[test]
fn a_second_ctrl_c_exits_at_once_and_the_step_is_still_cleaned_up() {
    let dir = tempfile::tempdir().unwrap();
    // The step ignores SIGINT and SIGTERM: only the supervisor's SIGKILL,
    // after its grace period, ends it.
    let pipeline = write_pipeline(
        dir.path(),
        "[pipeline]\nname = \"stubborn\"\n[[steps]]\nid = \"a\"\nrun = \"trap '' INT TERM; echo $$ > child.pid; while true; do sleep 0.05; done\"\n",
    );
    let root = dir.path().join("out");
    let mut child = spawn_tracker(&root, &pipeline);
    let pid_file = dir.path().join("child.pid");
    wait_for("the step", || pid_in(&pid_file).is_some());
    let step = pid_in(&pid_file).unwrap();
    let tracker_pid = child.id().to_string();
    let kill = |sig: &str| {
        Command::new("kill")
            .args([sig, &tracker_pid])
            .status()
            .unwrap()
    };
    kill("-INT");
    wait_for("the cancelled record", || {
        manifest_of(&root).is_some_and(|r| r.status == RunStatus::Cancelled)
    });
    assert!(
        child.try_wait().unwrap().is_none(),
        "after one Ctrl-C the tracker waits for the step"
    );
    kill("-INT");
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGINT));
    assert!(
        alive(step),
        "the tracker did not wait for the stubborn step"
    );
    wait_for("the supervisor to kill the step", || !alive(step));
    assert_eq!(
        manifest_of(&root).unwrap().status,
        RunStatus::Cancelled,
        "never flaps back"
    );
}

#[test]
fn telemetry_samples_the_steps_tree_and_totals_its_resources() {
    let dir = tempfile::tempdir().unwrap();
    // The step burns 1.5 s of CPU, however long that takes on a loaded
    // machine (a wall-clock loop gets less CPU there).
    let pipeline = write_pipeline(
        dir.path(),
        "[pipeline]\nname = \"t\"\n[[steps]]\nid = \"burn\"\nrun = \"python3 -c 'import time\\nt = time.process_time()\\nb = bytearray(b\\\"x\\\" * (80 << 20))\\nwhile time.process_time() - t < 1.5: pass'\"\n[[steps]]\nid = \"rest\"\nrun = \"true\"\n",
    );
    let root = dir.path().join("out");
    let out = tracker(
        &root,
        &["run", pipeline.to_str().unwrap(), "--interval", "0.2"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("STEP  CPU S  CPU % OF MACHINE AVG/MAX  PEAK RSS MB"),
        "resources printed at the end: {err}"
    );
    assert!(err.contains("\nburn "), "{err}");
    let record = only_run(&root);
    let burn = &record.steps[0];
    assert!(burn.cpu_time_seconds.unwrap() >= 0.8, "{burn:?}");
    assert!(burn.peak_rss_mb.unwrap() >= 70.0, "{burn:?}");
    assert!(record.steps[1].cpu_time_seconds.is_some());

    let run_dir = PathBuf::from(record.artifact_dir.unwrap());
    let mut samples = Vec::new();
    let warnings = manifest::read_jsonl::<telemetry_model::TelemetrySnapshot>(
        &run_dir.join(files::TELEMETRY),
        |_, s| samples.push(s),
    )
    .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let during: Vec<_> = samples
        .iter()
        .filter(|s| s.step_id.as_deref() == Some("burn"))
        .collect();
    assert!(
        during.len() >= 4,
        "{} samples during the step",
        during.len()
    );
    let busiest = during
        .iter()
        .filter_map(|s| s.cpu_percent_process)
        .fold(0.0, f64::max);
    // The burning tree registers (at least 4 % of one core in some sample,
    // whatever share of the machine the load leaves it); a sampler that
    // missed it would say 0 or nothing.
    let cpus = std::thread::available_parallelism().unwrap().get() as f64;
    assert!(busiest > 4.0 / cpus, "busiest sample {busiest:.1} %");
    for s in &samples {
        assert!(telemetry_model::validate_snapshot(s).is_empty(), "{s:?}");
        assert!(
            s.notes
                .iter()
                .any(|n| n.starts_with("gpu: ") && n.ends_with("GPU metrics off")),
            "{:?}",
            s.notes
        );
    }
}

#[test]
fn telemetry_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write_pipeline(
        dir.path(),
        "[pipeline]\nname = \"o\"\n[[steps]]\nid = \"a\"\nrun = \"sleep 0.5\"\n",
    );
    let p = pipeline.to_str().unwrap();
    let telemetry_file =
        |root: &Path| PathBuf::from(only_run(root).artifact_dir.unwrap()).join(files::TELEMETRY);

    let root = dir.path().join("flag");
    assert_eq!(
        tracker(&root, &["run", p, "--no-telemetry", "--interval", "0.2"])
            .status
            .code(),
        Some(0)
    );
    assert!(!telemetry_file(&root).exists());

    let root = dir.path().join("env");
    let out = Command::new(env!("CARGO_BIN_EXE_tracker"))
        .arg("--artifact-root")
        .arg(&root)
        .args(["run", p, "--interval", "0.2"])
        .env("TRACKER_TELEMETRY", "0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(!telemetry_file(&root).exists());

    let root = dir.path().join("on");
    assert_eq!(
        tracker(&root, &["run", p, "--interval", "0.2"])
            .status
            .code(),
        Some(0)
    );
    assert!(telemetry_file(&root).exists());

    let out = tracker(&dir.path().join("bad"), &["run", p, "--interval", "0.1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--interval"), "{}", stderr(&out));
}

fn run_with_env(root: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tracker"));
    command.arg("--artifact-root").arg(root).args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

#[test]
fn a_step_much_slower_than_its_history_raises_a_recommendation() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write_pipeline(
        dir.path(),
        "[pipeline]\nname = \"r\"\n[[steps]]\nid = \"work\"\nrun = \"sleep ${NAP:-0.1}\"\n\n[rules.slow_step]\nmin_extra_seconds = 0\n",
    );
    let p = pipeline.to_str().unwrap();
    let root = dir.path().join("out");
    for _ in 0..2 {
        let out = run_with_env(&root, &["run", p, "--no-telemetry"], &[("NAP", "0.1")]);
        assert_eq!(out.status.code(), Some(0));
        assert!(
            stderr(&out).contains("No recommendations."),
            "{}",
            stderr(&out)
        );
    }
    let out = run_with_env(
        &root,
        &["run", p, "--no-telemetry", "--run-id", "slow"],
        &[("NAP", "1.5")],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    // 1.5 s against a ~0.1 s median: far past the 3x critical ratio.
    assert!(
        err.contains("Recommendations (1):\n  [critical] slow_step: Step 'work' took "),
        "{err}"
    );
    assert!(err.contains("      → "), "a suggested action: {err}");

    let entry = manifest::resolve_run(&ArtifactRoot::new(&root), "slow").unwrap();
    let contents = manifest::read_manifest(&entry.manifest_path()).unwrap();
    assert_eq!(contents.recommendations.len(), 1);
    let rec = &contents.recommendations[0];
    assert_eq!(rec.evidence["step_id"], "work");
    assert!(rec.evidence.contains_key("threshold"));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(entry.dir.join(files::SUMMARY_JSON)).unwrap())
            .unwrap();
    assert_eq!(summary["recommendations"][0]["trigger"], "slow_step");
    assert_eq!(
        summary["resources"]["steps"][0]["baseline_status"],
        "no baseline"
    );
    let shown = tracker(&root, &["show", "slow"]);
    assert!(
        stdout(&shown).contains("Recommendations (1)\n  [critical] slow_step: "),
        "{}",
        stdout(&shown)
    );
    assert!(
        stdout(&shown).contains("Resources\nSTEP"),
        "{}",
        stdout(&shown)
    );
}

#[test]
fn bad_rules_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("out");
    let pipeline = write_pipeline(
        dir.path(),
        "[pipeline]\nname = \"b\"\n[[steps]]\nid = \"a\"\nrun = \"touch ran\"\n[rules.throughput]\nwarning_ratio = 0.5\n",
    );
    let out = tracker(&root, &["run", pipeline.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("pipeline.toml:7") && err.contains("warning_ratio"),
        "{err}"
    );
    assert!(!root.exists() && !dir.path().join("ran").exists());

    let pipeline = write_pipeline(
        dir.path(),
        "[pipeline]\nname = \"b\"\n[[steps]]\nid = \"a\"\nrun = \"touch ran\"\n",
    );
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, "[cpu_saturation]\npercnt = 80\n").unwrap();
    let out = tracker(
        &root,
        &[
            "run",
            pipeline.to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("rules.toml:2") && err.contains("percnt"),
        "{err}"
    );
    assert!(!root.exists() && !dir.path().join("ran").exists());
}

#[test]
fn a_run_writes_its_html_report_and_mirrors_to_tensorboard_live() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write_pipeline(
        dir.path(),
        r#"
[pipeline]
name = "mirrored"
[[steps]]
id = "work"
run = 'for i in 1 2 3; do echo "{\"steps\": $((i * 100))}" >> "$TRACKER_PROGRESS"; sleep 0.25; done; mkdir -p data; echo x > data/made.txt; echo "{\"artifact\": \"data/made.txt\"}" >> "$TRACKER_PROGRESS"'
[[steps]]
id = "done"
run = 'echo y > "$TRACKER_RUN_DIR/own.txt"; echo "{\"artifact\": \"$TRACKER_RUN_DIR/own.txt\"}" >> "$TRACKER_PROGRESS"'
"#,
    );
    let root = dir.path().join("out");
    let tb = dir.path().join("tb");
    let out = tracker(
        &root,
        &[
            "run",
            "--plain",
            "--interval",
            "0.2",
            "--tensorboard",
            tb.to_str().unwrap(),
            pipeline.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let record = only_run(&root);
    let run_dir = PathBuf::from(record.artifact_dir.unwrap());
    let html = std::fs::read_to_string(run_dir.join("report.html")).unwrap();
    assert!(html.contains("mirrored") && html.contains("<svg"));
    // Every link to an artifact resolves from the report's folder.
    let links = report::linked_files(&html);
    assert_eq!(links.len(), 2, "{links:?}");
    for link in &links {
        assert!(
            run_dir.join(link).exists(),
            "{link} from {}",
            run_dir.display()
        );
    }
    assert!(stderr(&out).contains("Report:  "), "{}", stderr(&out));
    let events: Vec<_> = std::fs::read_dir(tb.join(&record.run_id))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    let bytes = std::fs::read(&events[0]).unwrap();
    // The version record, samples and both steps' durations.
    assert!(bytes.len() > 200, "{} bytes", bytes.len());
    for tag in [&b"cpu/system_percent"[..], b"work", b"done"] {
        assert!(bytes.windows(tag.len()).any(|w| w == tag), "{tag:?}");
    }
    // A logdir that cannot be created: a warning, and the run still completes.
    let blocked = dir.path().join("blocked");
    std::fs::write(&blocked, "a file").unwrap();
    let out = tracker(
        &root,
        &[
            "run",
            "--plain",
            "--tensorboard",
            blocked.to_str().unwrap(),
            pipeline.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: no TensorBoard mirror"),
        "{}",
        stderr(&out)
    );
}

/// `tracker watch` follows a live run to its end, then prints the summary
/// with the run's real duration (it used to print `-`: the summary was
/// computed from the record read when watching began).
#[test]
fn watch_follows_a_run_to_its_end_and_shows_its_duration() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write_pipeline(
        dir.path(),
        "[pipeline]\nname = \"watched\"\n[[steps]]\nid = \"wait\"\nrun = \"sleep 1\"\n",
    );
    let root = dir.path().join("out");
    let mut run = spawn_tracker(&root, &pipeline);
    wait_for("the run to start its step", || {
        list_runs(&ArtifactRoot::new(&root), &Query::default())
            .is_ok_and(|l| l.runs.first().is_some_and(|r| r.state == RunState::Running))
    });
    let out = tracker(&root, &["watch", "latest", "--interval", "0.2"]);
    assert!(run.wait().unwrap().success());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let duration = text
        .lines()
        .find(|l| l.trim_start().starts_with("duration"))
        .unwrap_or_else(|| panic!("no duration line: {text}"));
    assert!(!duration.trim_end().ends_with('-'), "{duration}\n{text}");
    assert!(duration.contains('s'), "{duration}");
    // And the same as `show` prints.
    let shown = stdout(&tracker(&root, &["show", "latest"]));
    assert!(shown.contains(duration), "{duration} not in\n{shown}");
}

/// A Python step's output is live: its first line reaches the step's log
/// while the step still runs (Python block-buffers a pipe unless told).
#[test]
fn python_output_is_live() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write_pipeline(
        dir.path(),
        r#"
[pipeline]
name = "py"
[[steps]]
id = "talk"
run = '''python3 -c "
import os, time
print('early', os.environ['PYTHONUNBUFFERED'])
release = os.path.join(os.environ['TRACKER_RUN_DIR'], 'release')
give_up = time.time() + 120  # a failed test leaves nothing running
while not os.path.exists(release) and time.time() < give_up:
    time.sleep(0.02)
"'''
"#,
    );
    let root = dir.path().join("out");
    let mut run = spawn_tracker(&root, &pipeline);
    let log = || {
        let runs = root.join("run-tracker");
        std::fs::read_dir(&runs).ok()?.flatten().find_map(|e| {
            let path = e.path().join("logs/talk.log");
            Some((e.path(), std::fs::read_to_string(path).ok()?))
        })
    };
    // The step waits for `release`, which comes only once its first line
    // is in the log: buffered output would never get there.
    wait_for("the step's first line in its log", || {
        log().is_some_and(|(_, text)| text.contains("early 1"))
    });
    let (run_dir, _) = log().unwrap();
    std::fs::write(run_dir.join("release"), "").unwrap();
    assert!(run.wait().unwrap().success());
}
