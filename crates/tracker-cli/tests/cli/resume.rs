//! `tracker run --resume RUN`: a failed, cancelled or abandoned run goes
//! on in the same run id and directory, its completed steps kept and not
//! run again.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use manifest::{ArtifactRoot, Query, RunState, list_runs};
use telemetry_model::{PipelineRunRecord, RunStatus, StepStatus};

use crate::{stderr, tracker};

/// Each step appends a line to `STEP.count` in the pipeline's directory:
/// the count says how often it ran. `train` fails until `fixed` exists,
/// and sleeps while `hang` exists.
const PIPELINE: &str = r#"
[pipeline]
name = "resumable"

[[steps]]
id = "collect"
run = 'echo x >> collect.count; echo "{\"artifact\": \"data.bin\"}" >> "$TRACKER_PROGRESS"; echo collected'

[[steps]]
id = "train"
run = 'echo x >> train.count; echo attempt; while [ -f hang ]; do sleep 0.05; done; test -f fixed'

[[steps]]
id = "eval"
run = 'echo x >> eval.count'
"#;

fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("pipeline.toml");
    std::fs::write(&pipeline, PIPELINE).unwrap();
    let root = dir.path().join("out");
    (dir, pipeline, root)
}

fn count(dir: &Path, step: &str) -> usize {
    std::fs::read_to_string(dir.join(format!("{step}.count")))
        .map_or(0, |text| text.lines().count())
}

/// The one run under `root`, and its state.
fn the_run(root: &Path) -> (PipelineRunRecord, RunState, PathBuf) {
    let listing = list_runs(&ArtifactRoot::new(root), &Query::default()).unwrap();
    assert_eq!(listing.runs.len(), 1, "resumed in place, never a new run");
    let entry = &listing.runs[0];
    (entry.record.clone(), entry.state, entry.dir.clone())
}

fn run(root: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["run", "--plain", "--no-telemetry"];
    all.extend_from_slice(args);
    tracker(root, &all)
}

#[test]
fn a_failed_run_resumes_from_its_failed_step_until_it_completes() {
    let (dir, pipeline, root) = setup();
    let pipeline = pipeline.to_str().unwrap();
    let out = run(&root, &[pipeline]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let (first, _, run_dir) = the_run(&root);
    assert_eq!(first.status, RunStatus::Failed);
    let collected = first.step("collect").unwrap().clone();

    // Still broken: the run fails again, collect is not run again.
    let out = run(&root, &["--resume", "latest", pipeline]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        (count(dir.path(), "collect"), count(dir.path(), "train")),
        (1, 2)
    );
    let (again, _, _) = the_run(&root);
    assert_eq!(again.run_id, first.run_id);
    assert_eq!(again.status, RunStatus::Failed);
    assert_eq!(again.summary.resumptions.len(), 1);
    assert_eq!(again.summary.resumptions[0].kept, ["collect"]);
    assert_eq!(
        again.summary.resumptions[0].previous_status,
        RunStatus::Failed
    );
    // The first attempt's log is kept beside the second's.
    for log in ["train.log", "train.1.log"] {
        let text = std::fs::read_to_string(run_dir.join("logs").join(log)).unwrap();
        assert_eq!(text, "attempt\n", "{log}");
    }

    // Fixed: it completes, collect as it was the first time.
    std::fs::write(dir.path().join("fixed"), "").unwrap();
    let out = run(&root, &["--resume", &first.run_id, pipeline]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (done, state, _) = the_run(&root);
    assert_eq!(state, RunState::Completed);
    assert_eq!(done.summary.resumptions.len(), 2);
    assert_eq!(done.summary.reason, None, "the old failure reason is gone");
    assert_eq!(
        [
            count(dir.path(), "collect"),
            count(dir.path(), "train"),
            count(dir.path(), "eval")
        ],
        [1, 3, 1]
    );
    assert_eq!(done.step("collect").unwrap(), &collected, "kept as it was");
    assert!(done.steps.iter().all(|s| s.status == StepStatus::Completed));
    let shown = tracker(&root, &["show", "latest"]);
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("resumed"),
        "{}",
        String::from_utf8_lossy(&shown.stdout)
    );

    // A completed run has nothing to resume.
    let out = run(&root, &["--resume", "latest", pipeline]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("completed: there is nothing to resume"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn steps_or_a_pipeline_that_changed_are_refused_unless_forced() {
    let (dir, pipeline_path, root) = setup();
    let pipeline = pipeline_path.to_str().unwrap();
    assert_eq!(run(&root, &[pipeline]).status.code(), Some(1));
    // collect is gone from the file: refused, then dropped with --force.
    std::fs::write(
        &pipeline_path,
        PIPELINE.replace("id = \"collect\"", "id = \"gather\""),
    )
    .unwrap();
    let out = run(&root, &["--resume", "latest", pipeline]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            "it completed `collect` that the pipeline no longer has (--force drops them)"
        ),
        "{}",
        stderr(&out)
    );
    std::fs::write(dir.path().join("fixed"), "").unwrap();
    let out = run(&root, &["--resume", "latest", "--force", pipeline]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (record, _, _) = the_run(&root);
    assert_eq!(record.summary.resumptions[0].dropped, ["collect"]);
    assert!(record.step("collect").is_none());
    assert_eq!(
        count(dir.path(), "collect"),
        2,
        "gather ran: the same command"
    );

    // Another pipeline's run.
    let (_other_dir, other, other_root) = setup();
    assert_eq!(
        run(&other_root, &[other.to_str().unwrap()]).status.code(),
        Some(1)
    );
    std::fs::write(&other, PIPELINE.replace("resumable", "renamed")).unwrap();
    let out = run(
        &other_root,
        &["--resume", "latest", other.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is a run of pipeline \"resumable\", not \"renamed\""),
        "{}",
        stderr(&out)
    );
    // --force needs --resume; --run-id cannot name a resumed run.
    assert_eq!(run(&root, &["--force", pipeline]).status.code(), Some(2));
    assert_eq!(
        run(&root, &["--resume", "latest", "--run-id", "x", pipeline])
            .status
            .code(),
        Some(2)
    );
}

/// Starts `tracker run` with `train` hanging, waits until `train` runs,
/// sends `signal` to the tracker and waits for it and its run's lock to go.
fn interrupted_run(signal: i32) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let (dir, pipeline, root) = setup();
    std::fs::write(dir.path().join("hang"), "").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracker"))
        .arg("--artifact-root")
        .arg(&root)
        .args(["run", "--plain", "--no-telemetry"])
        .arg(&pipeline)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(dir.path(), "train") == 0 {
        assert!(Instant::now() < deadline, "train never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: kill(2) on our own child's pid.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(child.id() as libc::pid_t, signal);
    }
    child.wait().unwrap();
    // The step's supervisor ends with the tracker; its lock goes with it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, state, _) = the_run(&root);
        if state.is_finished() {
            break;
        }
        assert!(Instant::now() < deadline, "the run stayed {state}");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::fs::remove_file(dir.path().join("hang")).unwrap();
    std::fs::write(dir.path().join("fixed"), "").unwrap();
    (dir, pipeline, root)
}

#[test]
fn a_cancelled_and_an_abandoned_run_resume_too() {
    for (signal, was) in [
        (libc::SIGTERM, RunStatus::Cancelled),
        (libc::SIGKILL, RunStatus::Running),
    ] {
        let (dir, pipeline, root) = interrupted_run(signal);
        let (before, state, _) = the_run(&root);
        assert_eq!(before.status, was, "signal {signal}");
        assert_eq!(
            state,
            if signal == libc::SIGKILL {
                RunState::Abandoned
            } else {
                RunState::Cancelled
            }
        );
        let out = run(&root, &["--resume", "latest", pipeline.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "signal {signal}: {}",
            stderr(&out)
        );
        let (after, state, _) = the_run(&root);
        assert_eq!(state, RunState::Completed, "signal {signal}");
        assert_eq!(after.summary.resumptions[0].previous_status, was);
        assert_eq!(after.summary.resumptions[0].kept, ["collect"]);
        assert_eq!(
            [
                count(dir.path(), "collect"),
                count(dir.path(), "train"),
                count(dir.path(), "eval")
            ],
            [1, 2, 1],
            "signal {signal}"
        );
    }
}
