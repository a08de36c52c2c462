//! Several processes sharing one artifact root (docs/reliability.md, "Many runs at once"): run ids and
//! directories stay unique, lines never interleave, retention never deletes
//! a run whose writer lives and converges on the newest [`KEEP`], a run id is
//! claimed by exactly one process, and a writer that dies without a final
//! record (exit or SIGKILL) leaves a run that lists as abandoned.
//!
//! These are real processes, not threads: the test binary re-executes
//! itself (`current_exe() --exact child_entry_point`) with
//! `TRACKER_TEST_CHILD=<artifact root>` set, and [`child_entry_point`]
//! plays the role named in `TRACKER_TEST_ROLE`. Without the variable it
//! returns at once. Parent and children hand over through files in a
//! scratch directory, never through timing.

// Helpers outside `#[test]` functions unwrap too: a test fails loudly.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use manifest::{
    ArtifactRoot, END_OF_RUN_PRUNE_WAIT, Error, PruneReport, PruneRule, Query, Retention,
    RunOptions, RunState, RunWriter, apply_retention, list_runs, prune, read_manifest, resolve_run,
};
use telemetry_model::{PipelineRunRecord, RunStatus, StepExecutionEntry, StepStatus, Timestamp};

const CHILD_ENV: &str = "TRACKER_TEST_CHILD";
const ROLE_ENV: &str = "TRACKER_TEST_ROLE";
const WORK_ENV: &str = "TRACKER_TEST_WORK";
const INDEX_ENV: &str = "TRACKER_TEST_INDEX";

/// How long either side waits for the other before failing the test.
const HANDOVER_LIMIT: Duration = Duration::from_secs(120);

const CHURN_CHILDREN: usize = 8;
/// Finished runs each churn child creates after its live one.
const RUNS_PER_CHILD: usize = 5;
/// The churn children's retention: the newest this many runs of their
/// shared pipeline.
const KEEP: usize = 20;
/// The churn children's pipeline.
const CHURN: &str = "churn";

// ---------------------------------------------------------------- plumbing

fn spawn(role: &str, root: &Path, work: &Path, index: usize) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_entry_point",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, root)
        .env(ROLE_ENV, role)
        .env(WORK_ENV, work)
        .env(INDEX_ENV, index.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn describe(output: &Output) -> String {
    format!(
        "{}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn finish(child: Child) -> Output {
    child.wait_with_output().unwrap()
}

fn assert_success(child: Child) {
    let output = finish(child);
    assert!(
        output.status.success(),
        "child failed: {}",
        describe(&output)
    );
}

/// Writes a hand-over file atomically, so its reader never sees half.
fn signal(path: &Path, content: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Parent side: waits until each child has written its file; fails at once
/// if a child exits without writing it.
fn wait_for_files(pairs: &mut [(&mut Child, PathBuf)]) {
    let deadline = Instant::now() + HANDOVER_LIMIT;
    loop {
        let mut missing = 0;
        for (child, path) in pairs.iter_mut() {
            if path.exists() {
                continue;
            }
            missing += 1;
            if let Some(status) = child.try_wait().unwrap() {
                panic!("child exited ({status}) before writing {}", path.display());
            }
        }
        if missing == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "children did not hand over in time"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Child side: waits for the parent's file.
fn await_file(path: &Path) {
    let deadline = Instant::now() + HANDOVER_LIMIT;
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "parent never wrote {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn options() -> RunOptions {
    RunOptions {
        sync: false,
        ..RunOptions::default()
    }
}

fn running_record(writer: &RunWriter, pipeline: &str) -> PipelineRunRecord {
    running_from(writer.new_record(), pipeline)
}

/// `record` running its second step, its first done.
fn running_from(mut record: PipelineRunRecord, pipeline: &str) -> PipelineRunRecord {
    record.pipeline = Some(pipeline.to_owned());
    record.status = RunStatus::Running;
    let mut first = StepExecutionEntry::new("collect", "Collect", 1);
    first.status = StepStatus::Completed;
    first.started_at = Some(record.created_at);
    first.ended_at = Some(Timestamp::now());
    let mut second = StepExecutionEntry::new("train", "Train", 2);
    second.status = StepStatus::Running;
    second.started_at = first.ended_at;
    record.steps = vec![first, second];
    record
}

fn complete(record: &mut PipelineRunRecord) {
    record.status = RunStatus::Completed;
    record.completed_at = Some(Timestamp::now());
    for step in &mut record.steps {
        step.status = StepStatus::Completed;
        step.ended_at = record.completed_at;
    }
}

/// A writer's own check, before letting go: its manifest is still on disk,
/// clean, and ends with what it committed.
fn verify_own(writer: &RunWriter, record: &PipelineRunRecord) {
    let contents = read_manifest(&writer.dir().join("manifest.jsonl"))
        .unwrap_or_else(|e| panic!("run {} lost while its writer lived: {e}", writer.run_id()));
    assert!(contents.warnings.is_empty(), "{:?}", contents.warnings);
    assert_eq!(
        contents.record.as_ref(),
        Some(record),
        "run {}",
        writer.run_id()
    );
}

/// One line of a churn child's report: `kind run_id created_at dir`.
#[derive(Debug)]
struct Reported {
    live: bool,
    run_id: String,
    created_at: Timestamp,
    dir: PathBuf,
}

fn report_line(live: bool, writer: &RunWriter, record: &PipelineRunRecord) -> String {
    let kind = if live { "live" } else { "done" };
    format!(
        "{kind}\t{}\t{}\t{}\n",
        writer.run_id(),
        record.created_at,
        writer.dir().display()
    )
}

fn parse_report(text: &str) -> Vec<Reported> {
    text.lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 4, "{line}");
            Reported {
                live: fields[0] == "live",
                run_id: fields[1].to_owned(),
                created_at: fields[2].parse().unwrap(),
                dir: PathBuf::from(fields[3]),
            }
        })
        .collect()
}

// ---------------------------------------------------------------- children

/// The child side of every test here; a no-op in the parent's run.
#[test]
fn child_entry_point() {
    let Some(root) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let root = ArtifactRoot::new(root);
    let work = PathBuf::from(std::env::var_os(WORK_ENV).unwrap());
    let index: usize = std::env::var(INDEX_ENV).unwrap().parse().unwrap();
    match std::env::var(ROLE_ENV).unwrap().as_str() {
        "churn" => churn(&root, &work, index),
        "claim" => claim(&root, &work, index),
        "die" => die(&root, &work, index),
        role => panic!("unknown role {role}"),
    }
}

/// Creates a run of the churn pipeline and applies the churn retention,
/// as the `progress` library does when a run starts.
/// A churn run, created with its first record, as `progress` creates one:
/// later records keep that record's creation time, which `.index/latest`
/// was stamped with.
fn churn_run(root: &ArtifactRoot) -> (RunWriter, PipelineRunRecord) {
    let retention = Retention::keep_newest(KEEP);
    let (writer, first) = RunWriter::create_with(root, &options(), |record| {
        record.pipeline = Some(CHURN.to_owned());
    })
    .unwrap();
    apply_retention(
        root,
        retention,
        Some(CHURN),
        Some(writer.dir()),
        Duration::ZERO,
    )
    .unwrap();
    (writer, first)
}

/// Ends a churn run as the `progress` library does: release it, then
/// apply retention again, waiting for a concurrent pruner.
fn end_churn_run(root: &ArtifactRoot, mut writer: RunWriter) {
    writer.release();
    let retention = Retention::keep_newest(KEEP);
    apply_retention(root, retention, Some(CHURN), None, END_OF_RUN_PRUNE_WAIT).unwrap();
}

/// Holds one live run, creates and finishes several more (each applying
/// the churn retention as it starts and ends), reports, and finishes the
/// live run once released.
fn churn(root: &ArtifactRoot, work: &Path, index: usize) {
    let mut report = String::new();
    let (mut live, first) = churn_run(root);
    let mut live_record = running_from(first, CHURN);
    live.commit(&live_record).unwrap();
    report += &report_line(true, &live, &live_record);

    for _ in 0..RUNS_PER_CHILD {
        let (mut writer, first) = churn_run(root);
        let mut record = running_from(first, CHURN);
        writer.commit(&record).unwrap();
        complete(&mut record);
        writer.commit(&record).unwrap();
        verify_own(&writer, &record);
        report += &report_line(false, &writer, &record);
        end_churn_run(root, writer);
    }
    verify_own(&live, &live_record);
    signal(&work.join(format!("ready-{index}")), &report);

    await_file(&work.join("release"));
    verify_own(&live, &live_record);
    complete(&mut live_record);
    live.commit(&live_record).unwrap();
    verify_own(&live, &live_record);
    end_churn_run(root, live);
}

/// Races the other claim children for the run id `contested`.
fn claim(root: &ArtifactRoot, work: &Path, index: usize) {
    let named = RunOptions {
        name: Some("contested".into()),
        ..options()
    };
    signal(&work.join(format!("armed-{index}")), "");
    await_file(&work.join("go"));
    match RunWriter::create(root, &named) {
        Ok(mut writer) => {
            let mut record = running_record(&writer, &format!("claimant-{index}"));
            writer.commit(&record).unwrap();
            signal(&work.join("won"), &index.to_string());
            signal(&work.join(format!("outcome-{index}")), "won");
            await_file(&work.join("release"));
            complete(&mut record);
            writer.commit(&record).unwrap();
            verify_own(&writer, &record);
        }
        Err(Error::RunExists { .. }) => {
            // Now that the winner holds the run, taking it over must fail too.
            await_file(&work.join("won"));
            let resumed = match RunWriter::resume(root, "contested", &named) {
                Err(Error::RunLocked { .. }) => "locked".to_owned(),
                Err(e) => format!("resume error: {e}"),
                Ok(_) => "resumed a live run".to_owned(),
            };
            signal(
                &work.join(format!("outcome-{index}")),
                &format!("exists {resumed}"),
            );
        }
        Err(e) => signal(
            &work.join(format!("outcome-{index}")),
            &format!("error: {e}"),
        ),
    }
}

/// Starts a run, reports it, and dies without a final record when told:
/// by `std::process::exit` (index 0) or by the parent's SIGKILL (others).
fn die(root: &ArtifactRoot, work: &Path, index: usize) {
    let mut writer = RunWriter::create(root, &options()).unwrap();
    let record = running_record(&writer, &format!("doomed-{index}"));
    writer.commit(&record).unwrap();
    signal(&work.join(format!("started-{index}")), writer.run_id());
    await_file(&work.join(format!("die-{index}")));
    std::process::exit(3);
}

// ---------------------------------------------------------------- tests

#[test]
fn many_processes_create_and_prune_runs_on_one_root() {
    let tmp = tempfile::tempdir().unwrap();
    let root = ArtifactRoot::new(tmp.path().join("root"));
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();

    let mut children: Vec<Child> = (0..CHURN_CHILDREN)
        .map(|i| spawn("churn", root.path(), &work, i))
        .collect();
    let ready: Vec<PathBuf> = (0..CHURN_CHILDREN)
        .map(|i| work.join(format!("ready-{i}")))
        .collect();
    {
        let mut pairs: Vec<(&mut Child, PathBuf)> =
            children.iter_mut().zip(ready.clone()).collect();
        wait_for_files(&mut pairs);
    }
    let reported: Vec<Reported> = ready
        .iter()
        .flat_map(|path| parse_report(&std::fs::read_to_string(path).unwrap()))
        .collect();
    assert_eq!(reported.len(), CHURN_CHILDREN * (1 + RUNS_PER_CHILD));

    // Unique ids and directories, each directory named after its id.
    let ids: BTreeSet<&str> = reported.iter().map(|r| r.run_id.as_str()).collect();
    let dirs: BTreeSet<&Path> = reported.iter().map(|r| r.dir.as_path()).collect();
    assert_eq!(ids.len(), reported.len(), "two runs share an id");
    assert_eq!(dirs.len(), reported.len(), "two runs share a directory");
    for run in &reported {
        assert_eq!(run.dir, root.runs_dir().join(&run.run_id));
    }

    // Every live run survived every other process's pruning.
    let live: Vec<&Reported> = reported.iter().filter(|r| r.live).collect();
    assert_eq!(live.len(), CHURN_CHILDREN);
    for run in &live {
        assert!(
            run.dir.join("manifest.jsonl").is_file(),
            "live run {} was deleted",
            run.run_id
        );
    }
    let listing = list_runs(&root, &Query::default()).unwrap();
    assert!(listing.warnings.is_empty(), "{:?}", listing.warnings);
    for entry in &listing.runs {
        assert!(
            ids.contains(entry.run_id()),
            "unknown run {}",
            entry.run_id()
        );
        let contents = read_manifest(&entry.manifest_path()).unwrap();
        assert!(contents.warnings.is_empty(), "{:?}", contents.warnings);
        let is_live = live.iter().any(|r| r.run_id == entry.run_id());
        let want = if is_live {
            RunState::Running
        } else {
            RunState::Completed
        };
        assert_eq!(entry.state, want, "{}", entry.run_id());
    }
    // Pruning is live at all: with 48 runs and a limit of 20, some went
    // (prunes may skip while another process prunes, so not all of them).
    assert!(listing.runs.len() < reported.len(), "nothing was pruned");
    // An explicit prune now keeps every live run past the limit, and says so.
    let rule = PruneRule {
        keep: Some(KEEP),
        ..PruneRule::default()
    };
    let report = prune(&root, &rule, None).unwrap();
    assert!(!report.skipped_busy, "{report:?}");
    let newest: BTreeSet<&str> = listing.runs.iter().take(KEEP).map(|r| r.run_id()).collect();
    let kept_live = ids_of(&report.kept_live);
    for run in &live {
        assert!(run.dir.is_dir(), "live run {} pruned", run.run_id);
        if !newest.contains(run.run_id.as_str()) {
            assert!(
                kept_live.contains(&run.run_id.as_str()),
                "{} not reported live: {report:?}",
                run.run_id
            );
        }
    }
    for id in ids_of(&report.removed) {
        assert!(!newest.contains(id), "pruned {id}, one of the newest");
        assert!(!live.iter().any(|r| r.run_id == id), "pruned live run {id}");
    }

    signal(&work.join("release"), "");
    for child in children {
        assert_success(child);
    }

    // The children's own retention converged: an explicit prune finds
    // nothing more to do.
    let report = prune(&root, &rule, None).unwrap();
    assert_eq!(report, PruneReport::default(), "{report:?}");
    let listing = list_runs(&root, &Query::default()).unwrap();
    assert!(listing.warnings.is_empty(), "{:?}", listing.warnings);
    assert_eq!(listing.runs.len(), KEEP);
    let mut newest: Vec<&Reported> = reported.iter().collect();
    newest.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| b.run_id.cmp(&a.run_id))
    });
    let want: Vec<&str> = newest[..KEEP].iter().map(|r| r.run_id.as_str()).collect();
    let got: Vec<&str> = listing.runs.iter().map(|r| r.run_id()).collect();
    assert_eq!(got, want, "the newest 20 runs remain, newest first");
    for entry in &listing.runs {
        assert_eq!(entry.state, RunState::Completed);
        let contents = read_manifest(&entry.manifest_path()).unwrap();
        assert!(contents.warnings.is_empty(), "{:?}", contents.warnings);
    }
    // Nothing but the 20 run directories is left in run-tracker/ (and
    // the index, `.index/`).
    let dirs_left: Vec<String> = std::fs::read_dir(root.runs_dir())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != ".index")
        .collect();
    assert_eq!(dirs_left.len(), KEEP, "{dirs_left:?}");
    // `latest` is the newest run, through the index as through a listing.
    assert_eq!(resolve_run(&root, "latest").unwrap().run_id(), want[0]);
    // Each run by a prefix of its id, through the recorded names once the
    // directory has stood still (aged here), and again after a prune
    // changed it: the pruned run is no longer found.
    let past = std::time::SystemTime::now() - Duration::from_secs(60);
    std::fs::File::open(root.runs_dir())
        .unwrap()
        .set_modified(past)
        .unwrap();
    for id in &want {
        assert_eq!(resolve_run(&root, &id[..30]).unwrap().run_id(), *id);
    }
    assert!(root.runs_dir().join(".index/names").is_file());
    let keep_fewer = manifest::PruneRule {
        keep: Some(KEEP - 1),
        ..manifest::PruneRule::default()
    };
    prune(&root, &keep_fewer, None).unwrap();
    let oldest = want[KEEP - 1];
    assert!(matches!(
        resolve_run(&root, &oldest[..30]),
        Err(manifest::Error::RunNotFound { .. })
    ));
    for id in &want[..KEEP - 1] {
        assert_eq!(resolve_run(&root, &id[..30]).unwrap().run_id(), *id);
    }
}

fn ids_of(runs: &[manifest::PrunedRun]) -> Vec<&str> {
    runs.iter().map(|r| r.run_id.as_str()).collect()
}

#[test]
fn one_run_id_is_claimed_by_exactly_one_process() {
    const CLAIMANTS: usize = 6;
    let tmp = tempfile::tempdir().unwrap();
    let root = ArtifactRoot::new(tmp.path().join("root"));
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();

    let mut children: Vec<Child> = (0..CLAIMANTS)
        .map(|i| spawn("claim", root.path(), &work, i))
        .collect();
    {
        let armed = (0..CLAIMANTS).map(|i| work.join(format!("armed-{i}")));
        let mut pairs: Vec<(&mut Child, PathBuf)> = children.iter_mut().zip(armed).collect();
        wait_for_files(&mut pairs);
    }
    signal(&work.join("go"), "");
    {
        let outcomes = (0..CLAIMANTS).map(|i| work.join(format!("outcome-{i}")));
        let mut pairs: Vec<(&mut Child, PathBuf)> = children.iter_mut().zip(outcomes).collect();
        wait_for_files(&mut pairs);
    }
    let outcomes: BTreeMap<usize, String> = (0..CLAIMANTS)
        .map(|i| {
            (
                i,
                std::fs::read_to_string(work.join(format!("outcome-{i}"))).unwrap(),
            )
        })
        .collect();
    let winners: Vec<usize> = outcomes
        .iter()
        .filter(|(_, o)| *o == "won")
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let winner = winners[0];
    for (i, outcome) in &outcomes {
        if *i != winner {
            assert_eq!(outcome, "exists locked", "claimant {i}");
        }
    }
    // While the winner lives, this process cannot take the run either.
    let named = RunOptions {
        name: Some("contested".into()),
        ..options()
    };
    assert!(matches!(
        RunWriter::resume(&root, "contested", &named),
        Err(Error::RunLocked { .. })
    ));
    assert!(matches!(
        RunWriter::create(&root, &named),
        Err(Error::RunExists { .. })
    ));
    assert_eq!(
        resolve_run(&root, "contested").unwrap().state,
        RunState::Running
    );

    signal(&work.join("release"), "");
    for child in children {
        assert_success(child);
    }
    // The winner's manifest is exactly its own three records: the one
    // written with the directory, and its two commits.
    let contents = read_manifest(&root.runs_dir().join("contested/manifest.jsonl")).unwrap();
    assert!(contents.warnings.is_empty(), "{:?}", contents.warnings);
    assert_eq!(contents.lines, 3);
    let record = contents.record.unwrap();
    assert_eq!(record.pipeline, Some(format!("claimant-{winner}")));
    assert_eq!(record.status, RunStatus::Completed);
    let listing = list_runs(&root, &Query::default()).unwrap();
    assert_eq!(listing.runs.len(), 1);
    assert_eq!(listing.runs[0].state, RunState::Completed);
}

#[test]
fn a_writer_that_dies_leaves_an_abandoned_run() {
    const DOOMED: usize = 2; // 0 exits, 1 is killed
    let tmp = tempfile::tempdir().unwrap();
    let root = ArtifactRoot::new(tmp.path().join("root"));
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();

    let mut children: Vec<Child> = (0..DOOMED)
        .map(|i| spawn("die", root.path(), &work, i))
        .collect();
    {
        let started = (0..DOOMED).map(|i| work.join(format!("started-{i}")));
        let mut pairs: Vec<(&mut Child, PathBuf)> = children.iter_mut().zip(started).collect();
        wait_for_files(&mut pairs);
    }
    let ids: Vec<String> = (0..DOOMED)
        .map(|i| std::fs::read_to_string(work.join(format!("started-{i}"))).unwrap())
        .collect();

    // Alive: running, and locked against this process.
    for id in &ids {
        let entry = resolve_run(&root, id).unwrap();
        assert_eq!(entry.state, RunState::Running, "{id}");
        assert!(matches!(
            RunWriter::resume(&root, id, &options()),
            Err(Error::RunLocked { .. })
        ));
    }

    // Child 0 exits on its own without a final record; child 1 is killed.
    signal(&work.join("die-0"), "");
    let mut children = children.into_iter();
    let exited = finish(children.next().unwrap());
    assert_eq!(exited.status.code(), Some(3), "{}", describe(&exited));
    let mut killed = children.next().unwrap();
    killed.kill().unwrap();
    let killed = finish(killed);
    assert_eq!(
        killed.status.code(),
        None,
        "killed by a signal: {}",
        describe(&killed)
    );

    let listing = list_runs(&root, &Query::default()).unwrap();
    assert_eq!(listing.runs.len(), DOOMED);
    for entry in &listing.runs {
        assert!(ids.iter().any(|id| id == entry.run_id()));
        assert_eq!(entry.state, RunState::Abandoned, "{}", entry.run_id());
        assert_eq!(
            entry.record.status,
            RunStatus::Running,
            "the file still says running"
        );
        let last_done = entry
            .record
            .last_completed_step()
            .map(|s| s.step_id.as_str());
        assert_eq!(last_done, Some("collect"));
    }
    let abandoned = list_runs(
        &root,
        &Query {
            state: Some(RunState::Abandoned),
            ..Query::default()
        },
    )
    .unwrap();
    assert_eq!(abandoned.runs.len(), DOOMED);

    // Now free, the run can be taken over and finished.
    let (mut writer, contents) = RunWriter::resume(&root, &ids[0], &options()).unwrap();
    assert!(contents.warnings.is_empty());
    let mut record = contents.record.unwrap();
    record.status = RunStatus::Failed;
    record.completed_at = Some(Timestamp::now());
    writer.commit(&record).unwrap();
    drop(writer);
    assert_eq!(resolve_run(&root, &ids[0]).unwrap().state, RunState::Failed);
    assert_eq!(
        resolve_run(&root, &ids[1]).unwrap().state,
        RunState::Abandoned
    );
}
