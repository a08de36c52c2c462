//! `tracker run` killed at random moments (docs/reliability.md): by SIGKILL, which
//! no handler sees, and by SIGTERM and SIGINT, which the failure guard turns
//! into a flushed, cancelled run.
//!
//! After every kill: every manifest parses, the run is `abandoned`
//! (SIGKILL) or `cancelled` (SIGTERM/SIGINT; `completed` if the signal came
//! after the end), the steps the manifest calls completed are exactly a
//! prefix of the steps whose command really finished, no process of the run
//! is left, and a new run on the same root works.
//!
//! CI kills a few dozen times; `TRACKER_KILLS=50 cargo test -p tracker-cli
//! --test reliability kill -- --nocapture` runs 50 of each.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use manifest::{RunState, files};
use telemetry_model::{RunStatus, StepStatus};

use crate::common::{
    Rng, count_from_env, listing, lock_holders, processes_of, quick_pipeline, run, text, tracker,
    wait_for_no_process_of, wait_until, write_pipeline,
};

/// Four steps; each leaves `done-<step>` in the run directory as the very
/// last thing its command does, so the test knows which really finished.
/// The second starts a grandchild that must not outlive the run.
const PIPELINE: &str = r#"
[pipeline]
name = "kill-harness"

[[steps]]
id = "one"
run = 'sleep 0.05; touch "$TRACKER_RUN_DIR/done-$TRACKER_STEP_ID"'

[[steps]]
id = "two"
run = '''
sleep 30 & grandchild=$!
for i in 1 2 3 4; do sleep 0.03; echo "{\"progress\": 0.$((i * 2))}" >> "$TRACKER_PROGRESS"; done
kill $grandchild
touch "$TRACKER_RUN_DIR/done-$TRACKER_STEP_ID"
'''

[[steps]]
id = "three"
run = 'echo working; sleep 0.05; touch "$TRACKER_RUN_DIR/done-$TRACKER_STEP_ID"'

[[steps]]
id = "four"
run = 'touch "$TRACKER_RUN_DIR/done-$TRACKER_STEP_ID"'
"#;

const STEPS: [&str; 4] = ["one", "two", "three", "four"];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kill {
    Sigkill,
    Sigterm,
    Sigint,
}

impl Kill {
    fn signal(self) -> i32 {
        match self {
            Kill::Sigkill => libc::SIGKILL,
            Kill::Sigterm => libc::SIGTERM,
            Kill::Sigint => libc::SIGINT,
        }
    }
}

fn spawn(root: &Path, pipeline: &Path) -> Child {
    tracker(root)
        .args(["run", "--plain", "--interval", "0.2"])
        .arg(pipeline)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn send(pid: u32, signal: i32) {
    let status = std::process::Command::new("kill")
        .args(["-s", &signal.to_string(), "--", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    // The tracker may have finished on its own just before.
    let _ = status;
}

/// How long an undisturbed run takes here, end to end.
fn undisturbed(dir: &Path, pipeline: &Path) -> Duration {
    let root = dir.join("undisturbed");
    let started = Instant::now();
    let status = spawn(&root, pipeline).wait().unwrap();
    assert!(status.success());
    started.elapsed()
}

/// Starts `tracker run PIPELINE` on `root`, sends `signal` after `delay`,
/// waits for the tracker and for every process of the run to be gone, and
/// returns the tracker's exit status and what history then lists.
fn kill_after(
    root: &Path,
    pipeline: &Path,
    delay: Duration,
    signal: i32,
) -> (std::process::ExitStatus, manifest::Listing) {
    let mut child = spawn(root, pipeline);
    std::thread::sleep(delay);
    send(child.id(), signal);
    let status = child.wait().unwrap();
    assert!(
        wait_for_no_process_of(root),
        "signal {signal} after {delay:?} (exit {status:?}): processes left behind: {:?} {:?}",
        processes_of(root),
        lock_holders(root)
    );
    (status, listing(root))
}

/// Kills `count` runs at random moments and checks each as the module says.
fn kill_at_random_moments(kill: Kill, count: usize) {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write_pipeline(dir.path(), "pipeline.toml", PIPELINE);
    let quick = quick_pipeline(dir.path());
    let whole = undisturbed(dir.path(), &pipeline);
    let mut rng = Rng::from_env(&format!("{kill:?}"));
    let root = dir.path().join("root");
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..count {
        // Moments from before the run exists to after it has ended.
        let delay = whole.mul_f64(1.1 * rng.unit());
        let (status, listing) = kill_after(&root, &pipeline, delay, kill.signal());
        let what = format!("{kill:?} #{i} after {delay:?} (exit {status:?})");
        assert!(
            listing.warnings.is_empty(),
            "{what}: damaged lines: {:?}",
            listing.warnings
        );
        // The newest run is this one, if it got as far as existing.
        let newest = listing
            .runs
            .iter()
            .find(|r| r.record.pipeline.as_deref() == Some("kill-harness"));
        let outcome = match newest {
            None => "not started".to_owned(),
            Some(entry) => {
                check_run(kill, &what, entry);
                format!("{:?}", entry.state).to_lowercase()
            }
        };
        // A cancelled or abandoned run: the tracker died by the signal, as
        // a shell expects (130 for Ctrl-C).
        if outcome != "completed" {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), Some(kill.signal()), "{what}: {outcome}");
        }
        *seen.entry(outcome).or_default() += 1;
        // A new run on the same root works; then both runs are thrown
        // away (so that the next killed run is the newest).
        let out = run(&root, &["run", "--plain", quick.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{what}: {}", text(&out.stderr));
        let out = run(&root, &["prune", "--keep", "0"]);
        assert_eq!(out.status.code(), Some(0), "{what}: {}", text(&out.stderr));
        assert!(
            crate::common::listing(&root).runs.is_empty(),
            "{what}: {}",
            text(&out.stderr)
        );
    }
    #[allow(clippy::print_stderr)]
    {
        eprintln!("{kill:?}: {count} kills over a {whole:?} run; outcomes {seen:?}");
    }
}

/// One killed run: its state, its steps against what really finished, its
/// files.
fn check_run(kill: Kill, what: &str, entry: &manifest::RunEntry) {
    let record = &entry.record;
    let finished: Vec<bool> = STEPS
        .iter()
        .map(|s| entry.dir.join(format!("done-{s}")).exists())
        .collect();
    let completed: Vec<bool> = record
        .steps
        .iter()
        .map(|s| s.status == StepStatus::Completed)
        .collect();
    assert_eq!(record.steps.len(), STEPS.len(), "{what}");
    // Completed steps are a prefix, each of them really finished, and at
    // most one more step finished its command (the tracker died before it
    // could record it).
    let recorded = completed.iter().take_while(|c| **c).count();
    assert!(
        completed[recorded..].iter().all(|c| !c),
        "{what}: completed steps are not a prefix: {completed:?}"
    );
    let really = finished.iter().take_while(|f| **f).count();
    assert!(
        finished[really..].iter().all(|f| !f),
        "{what}: steps finished out of order: {finished:?}"
    );
    assert!(
        recorded <= really && really <= recorded + 1,
        "{what}: manifest says {recorded} steps completed, {really} really finished"
    );
    assert_eq!(
        record.last_completed_step().map(|s| s.step_id.as_str()),
        recorded.checked_sub(1).map(|i| STEPS[i]),
        "{what}"
    );
    match entry.state {
        RunState::Completed => assert_eq!(recorded, STEPS.len(), "{what}"),
        RunState::Abandoned => assert_eq!(kill, Kill::Sigkill, "{what}: abandoned"),
        RunState::Cancelled => {
            assert_ne!(kill, Kill::Sigkill, "{what}");
            assert_eq!(record.status, RunStatus::Cancelled);
            // Flushed: steps.json and the summary agree with the manifest.
            let steps = manifest::read_steps(&entry.dir.join(files::STEPS)).unwrap();
            let statuses: Vec<_> = steps.iter().map(|s| s.status).collect();
            let expected: Vec<_> = record.steps.iter().map(|s| s.status).collect();
            assert_eq!(statuses, expected, "{what}: steps.json");
            let summary: serde_json::Value = serde_json::from_slice(
                &std::fs::read(entry.dir.join(files::SUMMARY_JSON)).unwrap(),
            )
            .unwrap();
            assert_eq!(summary["status"], "cancelled", "{what}");
            assert!(
                record.steps.iter().all(|s| s.status != StepStatus::Running),
                "{what}: a step still running in a cancelled run"
            );
        }
        other => panic!(
            "{what}: unexpected state {other:?}; run.lock held by {:?}",
            lock_holders(&entry.dir)
        ),
    }
}

#[test]
fn sigkill_at_random_moments() {
    kill_at_random_moments(Kill::Sigkill, count_from_env("TRACKER_KILLS", 16));
}

#[test]
fn sigterm_at_random_moments() {
    kill_at_random_moments(Kill::Sigterm, count_from_env("TRACKER_KILLS", 8));
}

#[test]
fn sigint_at_random_moments() {
    kill_at_random_moments(Kill::Sigint, count_from_env("TRACKER_KILLS", 8));
}

/// SIGKILL in the first milliseconds of `tracker run`, while it creates the
/// run: whatever the moment, a directory that holds a manifest is a run
/// that history lists (its first record is written with it), and once the
/// tracker's processes are gone it is abandoned.
#[test]
fn sigkill_while_the_run_is_being_created() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write_pipeline(dir.path(), "pipeline.toml", PIPELINE);
    // How long the tracker takes to create its run, undisturbed.
    let probe = dir.path().join("probe");
    let started = Instant::now();
    let mut child = spawn(&probe, &pipeline);
    assert!(wait_until(Duration::from_secs(20), || {
        manifests_under(&probe.join("run-tracker")) > 0
    }));
    let creation = started.elapsed();
    send(child.id(), libc::SIGKILL);
    child.wait().unwrap();

    let mut rng = Rng::from_env("early");
    let count = count_from_env("TRACKER_KILLS", 16);
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..count {
        let root = dir.path().join(format!("root-{i}"));
        let delay = creation.mul_f64(1.5 * rng.unit());
        let (status, listing) = kill_after(&root, &pipeline, delay, libc::SIGKILL);
        let what = format!("early SIGKILL #{i} after {delay:?} (exit {status:?})");
        assert!(
            listing.warnings.is_empty(),
            "{what}: damaged or empty manifests: {:?}",
            listing.warnings
        );
        let manifests = manifests_under(&root.join("run-tracker"));
        assert_eq!(
            manifests,
            listing.runs.len(),
            "{what}: a run history cannot show"
        );
        let outcome = match listing.runs.first() {
            None => "no run yet".to_owned(),
            Some(entry) => {
                assert_eq!(
                    entry.state,
                    RunState::Abandoned,
                    "{what}; run.lock held by {:?}",
                    lock_holders(&entry.dir)
                );
                assert_eq!(entry.record.steps.len(), STEPS.len(), "{what}");
                "abandoned".to_owned()
            }
        };
        *seen.entry(outcome).or_default() += 1;
    }
    #[allow(clippy::print_stderr)]
    {
        eprintln!("early SIGKILL: {count} kills within {creation:?} × 1.5; outcomes {seen:?}");
    }
}

/// How many directories below `runs_dir` hold a `manifest.jsonl`.
fn manifests_under(runs_dir: &Path) -> usize {
    std::fs::read_dir(runs_dir).map_or(0, |entries| {
        entries
            .flatten()
            .filter(|e| e.path().join(files::MANIFEST).exists())
            .count()
    })
}

/// A shell starts background jobs with SIGINT ignored; `kill -INT` on a
/// background `tracker run` still ends the run as cancelled and flushed.
#[test]
fn sigint_to_a_background_job() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write_pipeline(
        dir.path(),
        "pipeline.toml",
        "[pipeline]\nname = \"bg\"\n[[steps]]\nid = \"wait\"\nrun = \"sleep 30\"\n",
    );
    let root = dir.path().join("root");
    let pidfile = dir.path().join("tracker.pid");
    let script = format!(
        "'{tracker}' --artifact-root '{root}' run --plain '{pipeline}' >/dev/null 2>&1 &\n\
         echo $! > '{pidfile}'\nwait $!\necho $? > '{pidfile}.status'",
        tracker = crate::common::TRACKER,
        root = root.display(),
        pipeline = pipeline.display(),
        pidfile = pidfile.display(),
    );
    let mut shell = std::process::Command::new("sh")
        .args(["-c", &script])
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(20), || {
        listing(&root)
            .runs
            .first()
            .is_some_and(|r| r.record.steps[0].status == StepStatus::Running)
    }));
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    send(pid, libc::SIGINT);
    assert!(shell.wait().unwrap().success());
    let status = std::fs::read_to_string(format!("{}.status", pidfile.display())).unwrap();
    assert_eq!(status.trim(), "130", "the job ends by SIGINT (128 + 2)");
    let listing = listing(&root);
    assert_eq!(listing.runs[0].state, RunState::Cancelled);
    assert!(wait_for_no_process_of(&root), "{:?}", processes_of(&root));
}
