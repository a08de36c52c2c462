//! The tracker's lifecycle through the public API, on a manual clock: lines,
//! persistence order, ETA snapshots, history, skips, failures, and the rule
//! that a finished run never changes again.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use manifest::{ArtifactRoot, RunOptions, files, read_last_record};
use progress::render::line;
use progress::{
    Ending, Event, ManualClock, ProgressTracker, Report, Sink, StepSpec, TrackerOptions,
};
use telemetry_model::{PipelineRunRecord, RunStatus, StepStatus};

/// Records each line, and what the manifest said when the line was shown.
#[derive(Clone, Default)]
struct Capture {
    lines: Arc<Mutex<Vec<String>>>,
    on_disk: Arc<Mutex<Vec<Option<PipelineRunRecord>>>>,
    dir: Arc<Mutex<Option<PathBuf>>>,
}

impl Sink for Capture {
    fn show(&mut self, event: &Event<'_>) {
        self.lines.lock().unwrap().push(line(event));
        let dir = self.dir.lock().unwrap().clone();
        let record = dir.and_then(|d| {
            read_last_record::<PipelineRunRecord>(&d.join(files::MANIFEST))
                .ok()
                .flatten()
                .map(|t| t.record)
        });
        self.on_disk.lock().unwrap().push(record);
    }
}

struct Harness {
    _tmp: tempfile::TempDir,
    root: ArtifactRoot,
    clock: Arc<ManualClock>,
}

impl Harness {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = ArtifactRoot::new(tmp.path());
        Self {
            _tmp: tmp,
            root,
            clock: Arc::new(ManualClock::starting_at_ms(1_750_000_000_000)),
        }
    }

    fn start(&self, steps: Vec<StepSpec>) -> (ProgressTracker, Capture) {
        let capture = Capture::default();
        let mut options = TrackerOptions::new("demo", self.root.clone());
        options.refresh = None;
        options.clock = self.clock.clone();
        options.sink = Some(Box::new(capture.clone()));
        options.run = RunOptions {
            sync: false,
            ..RunOptions::default()
        };
        let tracker = ProgressTracker::start(options, steps).unwrap();
        *capture.dir.lock().unwrap() = Some(tracker.dir().to_owned());
        (tracker, capture)
    }

    fn run_step(&self, tracker: &ProgressTracker, id: &str, secs: f64) {
        tracker.start_step(id).unwrap();
        self.clock.advance_secs(secs);
        tracker.complete_step(id).unwrap();
    }
}

fn three_steps() -> Vec<StepSpec> {
    vec![
        StepSpec::new("collect", "Collect expert trajectories").expected(Duration::from_secs(60)),
        StepSpec::new("train", "Train").expected(Duration::from_secs(120)),
        StepSpec::new("eval", "Evaluate").expected(Duration::from_secs(20)),
    ]
}

#[test]
fn prints_a_line_per_transition_after_persisting_it() {
    let h = Harness::new();
    let (tracker, capture) = h.start(three_steps());
    h.run_step(&tracker, "collect", 65.0);
    h.run_step(&tracker, "train", 130.0);
    h.run_step(&tracker, "eval", 21.0);
    let dir = tracker.dir().display().to_string();
    let run_id = tracker.run_id().to_owned();
    let record = tracker.finish(Ending::FromSteps).unwrap();
    assert_eq!(record.status, RunStatus::Completed);

    let lines = capture.lines.lock().unwrap().clone();
    assert_eq!(
        lines,
        [
            format!("Run {run_id} – demo: 3 steps (ETA 3m)"),
            "Step 1/3 – Collect expert trajectories (ETA 3m, elapsed 0s)".to_owned(),
            "Completed step 1/3 – Collect expert trajectories in 1m05s".to_owned(),
            // 65 s for 60 expected: the rest is scaled by 65/60.
            "Step 2/3 – Train (ETA 3m, elapsed 1m)".to_owned(),
            "Completed step 2/3 – Train in 2m10s".to_owned(),
            "Step 3/3 – Evaluate (ETA 20s, elapsed 3m)".to_owned(),
            "Completed step 3/3 – Evaluate in 21s".to_owned(),
            format!("Run {run_id} completed in 3m36s. Files: {dir}"),
        ]
    );
    // When each line was shown, the manifest already held its transition.
    let on_disk = capture.on_disk.lock().unwrap().clone();
    let status_at = |i: usize, step: usize| on_disk[i].as_ref().unwrap().steps[step].status;
    assert_eq!(status_at(1, 0), StepStatus::Running);
    assert_eq!(status_at(2, 0), StepStatus::Completed);
    assert_eq!(status_at(5, 2), StepStatus::Running);
    assert_eq!(on_disk[7].as_ref().unwrap().status, RunStatus::Completed);

    // ETA snapshots: what was shown at each start.
    let etas: Vec<f64> = record
        .steps
        .iter()
        .map(|s| s.eta_snapshot_seconds.unwrap())
        .collect();
    assert_eq!(etas[0], 200.0);
    assert!((etas[1] - 140.0 * 65.0 / 60.0).abs() < 1e-6, "{etas:?}");
    assert!(telemetry_model::validate_record(&record).is_empty());
    // steps.json and the summaries are there.
    let steps = manifest::read_steps(&PathBuf::from(&dir).join(files::STEPS)).unwrap();
    assert_eq!(steps, record.steps);
    let summary = std::fs::read_to_string(PathBuf::from(&dir).join(files::SUMMARY_MD)).unwrap();
    assert!(
        summary.contains("| 2 | Train | completed | 2025-06-15 15:07:45 | 2m10s | 3m |"),
        "{summary}"
    );
    assert!(PathBuf::from(&dir).join(files::SUMMARY_JSON).is_file());
}

#[test]
fn history_drives_the_eta_of_the_next_run() {
    let h = Harness::new();
    // No expectations at all; the first run teaches the second.
    let bare = || {
        vec![
            StepSpec::new("a", "A"),
            StepSpec::new("b", "B"),
            StepSpec::new("c", "C"),
        ]
    };
    let (first, _) = h.start(bare());
    assert_eq!(first.estimate().remaining, None, "nothing known yet");
    h.run_step(&first, "a", 10.0);
    h.run_step(&first, "b", 50.0);
    h.run_step(&first, "c", 40.0);
    first.finish(Ending::FromSteps).unwrap();

    let (second, capture) = h.start(bare());
    assert_eq!(second.estimate().remaining, Some(100.0));
    h.run_step(&second, "a", 11.0);
    second.start_step("b").unwrap();
    let snapshot = second.record().steps[1].eta_snapshot_seconds.unwrap();
    // 90 s of history left, scaled by 11/10 for today's pace.
    assert!((snapshot - 99.0).abs() < 1e-6, "{snapshot}");
    assert!(capture.lines.lock().unwrap()[0].ends_with("3 steps (ETA 2m)"));
}

#[test]
fn disabled_and_skipped_steps_leave_the_total() {
    let h = Harness::new();
    let steps = vec![
        StepSpec::new("a", "A"),
        StepSpec::new("b", "B").enabled(false),
        StepSpec::new("c", "C"),
        StepSpec::new("d", "D"),
    ];
    let (tracker, capture) = h.start(steps);
    h.run_step(&tracker, "a", 1.0);
    tracker.skip_step("c").unwrap();
    h.run_step(&tracker, "d", 1.0);
    let record = tracker.finish(Ending::FromSteps).unwrap();
    let lines = capture.lines.lock().unwrap().clone();
    assert!(
        lines[0].ends_with("3 steps, 1 skipped (ETA ?)"),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1], "Step 1/3 – A (ETA ?, elapsed 0s)");
    assert_eq!(lines[3], "Skipped step – C");
    assert!(lines[4].starts_with("Step 2/2 – D"), "{}", lines[4]);
    let orders: Vec<(StepStatus, u32)> = record.steps.iter().map(|s| (s.status, s.order)).collect();
    assert_eq!(
        orders,
        [
            (StepStatus::Completed, 1),
            (StepStatus::Skipped, 0),
            (StepStatus::Skipped, 0),
            (StepStatus::Completed, 2)
        ]
    );
    assert_eq!(record.enabled_steps, ["a", "d"]);
    assert!(
        telemetry_model::validate_record(&record).is_empty(),
        "{:?}",
        telemetry_model::validate_record(&record)
    );
}

#[test]
fn a_failed_step_fails_the_run_and_nothing_changes_after_the_end() {
    let h = Harness::new();
    let (tracker, capture) = h.start(three_steps());
    h.run_step(&tracker, "collect", 5.0);
    tracker.start_step("train").unwrap();
    h.clock.advance_secs(3.0);
    tracker.fail_step("train", "exit status 3").unwrap();
    assert!(matches!(
        tracker.start_step("train"),
        Err(progress::Error::InvalidTransition {
            action: "start",
            status: StepStatus::Failed,
            ..
        })
    ));
    assert!(matches!(
        tracker.complete_step("nope"),
        Err(progress::Error::UnknownStep(_))
    ));
    let record = tracker.finish(Ending::FromSteps).unwrap();
    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(record.steps[2].status, StepStatus::Pending, "never ran");
    let lines = capture.lines.lock().unwrap().clone();
    assert_eq!(
        lines[4],
        "Failed step 2/3 – Train after 3.0s: exit status 3"
    );
    assert!(
        lines[5].contains(" failed in 8.0s (a step failed)"),
        "{}",
        lines[5]
    );
}

#[test]
fn abort_cancels_once_and_the_status_never_flaps_back() {
    let h = Harness::new();
    let (tracker, _) = h.start(three_steps());
    tracker.start_step("collect").unwrap();
    h.clock.advance_secs(2.0);
    tracker
        .finish(Ending::Status(
            RunStatus::Cancelled,
            Some("interrupted by SIGTERM"),
        ))
        .unwrap();
    assert!(matches!(
        tracker.complete_step("collect"),
        Err(progress::Error::Finished)
    ));
    assert!(matches!(
        tracker.start_step("train"),
        Err(progress::Error::Finished)
    ));
    // A second abort changes nothing.
    tracker
        .finish(Ending::Status(RunStatus::Failed, Some("later")))
        .unwrap();
    let manifest = tracker.dir().join(files::MANIFEST);
    let record = tracker.finish(Ending::FromSteps).unwrap();
    assert_eq!(record.status, RunStatus::Cancelled);
    let on_disk = read_last_record::<PipelineRunRecord>(&manifest)
        .unwrap()
        .unwrap()
        .record;
    assert_eq!(on_disk.status, RunStatus::Cancelled);
    assert_eq!(on_disk.steps[0].status, StepStatus::Failed);
    assert_eq!(on_disk.steps[0].duration_seconds, Some(2.0));
    assert_eq!(
        on_disk.summary.reason.as_deref(),
        Some("interrupted by SIGTERM")
    );
}

#[test]
fn dropping_or_panicking_marks_the_run_failed() {
    let h = Harness::new();
    let (tracker, _) = h.start(three_steps());
    let manifest = tracker.dir().join(files::MANIFEST);
    tracker.start_step("collect").unwrap();
    drop(tracker);
    let record = read_last_record::<PipelineRunRecord>(&manifest)
        .unwrap()
        .unwrap()
        .record;
    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(
        record.summary.reason.as_deref(),
        Some("the tracker was dropped before the run finished")
    );

    let (tracker, _) = h.start(three_steps());
    let manifest = tracker.dir().join(files::MANIFEST);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        tracker.start_step("collect").unwrap();
        panic!("boom");
    }));
    assert!(result.is_err());
    let record = read_last_record::<PipelineRunRecord>(&manifest)
        .unwrap()
        .unwrap()
        .record;
    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(
        record.summary.reason.as_deref(),
        Some("the pipeline panicked")
    );
}

#[test]
fn reports_give_throughput_progress_and_a_persisted_live_view() {
    let h = Harness::new();
    let (tracker, capture) = h.start(three_steps());
    tracker.start_step("collect").unwrap();
    let report = |items, fraction| Report {
        fraction: Some(fraction),
        items: Some(items),
        fps: Some(30.0),
        message: Some("episode".into()),
    };
    tracker.report("collect", report(0, 0.0)).unwrap();
    h.clock.advance_secs(2.0);
    tracker.report("collect", report(400, 0.5)).unwrap();
    let live = tracker.live_metrics();
    assert_eq!(live.step_id.as_deref(), Some("collect"));
    assert_eq!(live.steps_per_sec, Some(200.0));
    assert_eq!(live.fps, Some(30.0));
    // Reports for steps that are not running are ignored.
    tracker.report("train", report(5, 0.9)).unwrap();
    h.clock.advance_secs(4.0);
    tracker.tick();
    let last = capture.lines.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        last,
        "  step 1/3 – Collect expert trajectories: 50% 400 items (200/s) – episode (ETA 3m, elapsed 6s)"
    );
    let on_disk = read_last_record::<PipelineRunRecord>(&tracker.dir().join(files::MANIFEST))
        .unwrap()
        .unwrap()
        .record;
    let view = on_disk.summary.live.unwrap();
    assert_eq!(view.step_id, "collect");
    assert_eq!(view.fraction, Some(0.5));
    assert_eq!(view.items, Some(400));
    assert_eq!(view.message.as_deref(), Some("episode"));
    tracker.complete_step("collect").unwrap();
    assert_eq!(
        tracker.record().summary.live,
        None,
        "cleared when the step ends"
    );
    // What the sampler is told follows every transition.
    assert_eq!(
        tracker.live_metrics(),
        progress::LiveMetrics::default(),
        "no step running"
    );
    tracker.start_step("train").unwrap();
    let live = tracker.live_metrics();
    assert_eq!(live.step_id.as_deref(), Some("train"));
    assert_eq!(
        (live.steps_per_sec, live.fps),
        (None, None),
        "nothing reported yet"
    );
    tracker.report("train", report(10, 0.1)).unwrap();
    assert_eq!(tracker.live_metrics().fps, Some(30.0));
    tracker
        .finish(progress::Ending::Status(RunStatus::Cancelled, Some("stop")))
        .unwrap();
    assert_eq!(
        tracker.live_metrics(),
        progress::LiveMetrics::default(),
        "the running step ended with the run"
    );
}

#[test]
fn bad_declarations_are_refused_before_anything_is_written() {
    let h = Harness::new();
    let mut options = TrackerOptions::new("demo", h.root.clone());
    options.refresh = None;
    let dup = ProgressTracker::start(
        options,
        vec![StepSpec::new("a", "A"), StepSpec::new("a", "B")],
    );
    assert!(matches!(dup, Err(progress::Error::DuplicateStep(id)) if id == "a"));
    let mut options = TrackerOptions::new("demo", h.root.clone());
    options.refresh = None;
    let bad = ProgressTracker::start(options, vec![StepSpec::new("../x", "A")]);
    assert!(matches!(bad, Err(progress::Error::InvalidStepId(_))));
    assert!(!h.root.runs_dir().exists());
}

#[test]
fn a_step_records_at_most_its_artifact_limit_and_each_path_once() {
    let h = Harness::new();
    let (tracker, _capture) = h.start(three_steps());
    tracker.start_step("collect").unwrap();
    for i in 0..progress::MAX_ARTIFACTS_PER_STEP {
        tracker
            .add_artifact("collect", format!("out/{i}.bin"))
            .unwrap();
    }
    // Already recorded: fine; a new one: refused, nothing written.
    tracker.add_artifact("collect", "out/0.bin").unwrap();
    assert!(matches!(
        tracker.add_artifact("collect", "out/one-more.bin"),
        Err(progress::Error::TooManyArtifacts { limit: 1000, .. })
    ));
    let record = tracker.record();
    assert_eq!(
        record.steps[0].artifacts.len(),
        progress::MAX_ARTIFACTS_PER_STEP
    );
    // The full record is still a line readers accept.
    let dir = tracker.dir().to_owned();
    let last = read_last_record::<PipelineRunRecord>(&dir.join(files::MANIFEST))
        .unwrap()
        .unwrap();
    assert_eq!(last.record.steps[0].artifacts.len(), 1000);
}

#[test]
fn artifacts_that_would_make_the_record_unreadable_are_refused_and_the_run_still_ends() {
    let h = Harness::new();
    // A record just under the readers' line limit (a very long step name).
    let name = "n".repeat(manifest::MAX_LINE_BYTES - 16 * 1024);
    let (tracker, _capture) = h.start(vec![StepSpec::new("collect", name)]);
    tracker.start_step("collect").unwrap();
    let long = "p".repeat(progress::MAX_ARTIFACT_PATH_BYTES + 1);
    assert!(matches!(
        tracker.add_artifact("collect", long),
        Err(progress::Error::ArtifactTooLong { .. })
    ));
    // Paths at the limit: the one that would cross the line limit is
    // refused and taken back.
    let mut refused = None;
    for i in 0..10 {
        let path = format!(
            "{i:04}{}",
            "q".repeat(progress::MAX_ARTIFACT_PATH_BYTES - 4)
        );
        if let Err(e) = tracker.add_artifact("collect", path) {
            refused = Some((i, e));
            break;
        }
    }
    let (at, error) = refused.expect("the line limit was reached");
    assert!(
        matches!(
            error,
            progress::Error::Manifest(manifest::Error::LineTooLong { .. })
        ),
        "{error}"
    );
    assert!(at >= 2, "{at}");
    assert_eq!(tracker.record().steps[0].artifacts.len(), at);
    // The run is still recordable: the step and the run end, on disk.
    tracker.complete_step("collect").unwrap();
    let dir = tracker.dir().to_owned();
    let record = tracker.finish(Ending::FromSteps).unwrap();
    let last = read_last_record::<PipelineRunRecord>(&dir.join(files::MANIFEST))
        .unwrap()
        .unwrap();
    assert_eq!(last.record.status, record.status);
    assert_eq!(last.record.steps[0].status, StepStatus::Completed);
    assert_eq!(last.record.steps[0].artifacts.len(), at);
}

/// Starts and finishes a one-step run of `pipeline` with `retention`;
/// returns the lines it showed.
fn one_run(h: &Harness, pipeline: &str, retention: manifest::Retention) -> Vec<String> {
    let capture = Capture::default();
    let mut options = TrackerOptions::new(pipeline, h.root.clone());
    options.refresh = None;
    options.clock = h.clock.clone();
    options.sink = Some(Box::new(capture.clone()));
    options.retention = retention;
    options.run = RunOptions {
        sync: false,
        ..RunOptions::default()
    };
    let tracker = ProgressTracker::start(options, vec![StepSpec::new("a", "A")]).unwrap();
    h.run_step(&tracker, "a", 1.0);
    tracker.finish(Ending::FromSteps).unwrap();
    capture.lines.lock().unwrap().clone()
}

fn pipelines_of_runs(h: &Harness) -> Vec<String> {
    let listing = manifest::list_runs(&h.root, &manifest::Query::default()).unwrap();
    listing
        .runs
        .iter()
        .map(|r| r.record.pipeline.clone().unwrap())
        .collect()
}

#[test]
fn keeps_every_run_unless_retention_is_asked_for_then_only_its_pipeline() {
    let h = Harness::new();
    for pipeline in ["demo", "other", "demo", "demo"] {
        let lines = one_run(&h, pipeline, manifest::Retention::default());
        assert!(
            !lines.iter().any(|l| l.starts_with("Retention")),
            "{lines:?}"
        );
        h.clock.advance_secs(60.0);
    }
    assert_eq!(pipelines_of_runs(&h), ["demo", "demo", "other", "demo"]);

    let lines = one_run(&h, "demo", manifest::Retention::keep_newest(2));
    let announced: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("Retention"))
        .collect();
    assert_eq!(
        announced,
        [
            "Retention: deleted 2 runs of pipeline \"demo\" (keep the newest 2 runs of each pipeline)"
        ]
    );
    assert_eq!(pipelines_of_runs(&h), ["demo", "demo", "other"]);
}
