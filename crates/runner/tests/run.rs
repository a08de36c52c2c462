//! The runner's public API end to end: a pipeline of real commands run
//! through the `tracker-supervise` program, its events, its diagnostics
//! and its files.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use manifest::ArtifactRoot;
use progress::Display;
use runner::{CollectingReporter, Event, Observer, ObserverError, Pipeline, Settings, Supervisor};
use telemetry_model::{RunStatus, StepStatus};

/// The supervisor program built with this crate.
fn supervisor() -> Supervisor {
    Supervisor::new(env!("CARGO_BIN_EXE_tracker-supervise"))
}

fn pipeline(dir: &Path, steps: &str) -> Pipeline {
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, format!("[pipeline]\nname = \"demo\"\n{steps}")).unwrap();
    Pipeline::load(&path).unwrap()
}

fn settings(dir: &Path, pipeline: &Pipeline) -> Settings {
    let mut settings = Settings::new(ArtifactRoot::new(dir.join("out")), pipeline, supervisor());
    settings.display = Display::Quiet;
    settings
}

/// Why the run failed, as its summary says.
fn reason(record: &telemetry_model::PipelineRunRecord) -> String {
    record.summary.reason.clone().unwrap()
}

/// Keeps a one-line description of each event it gets.
struct Recorder {
    events: Arc<Mutex<Vec<String>>>,
    fail_on_step: bool,
}

impl Observer for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }

    fn observe(&mut self, event: &Event<'_>) -> Result<(), ObserverError> {
        let line = match event {
            Event::Started { run_dir, .. } => format!("started {}", run_dir.is_dir()),
            Event::StepEnded { .. } if self.fail_on_step => return Err("step refused".into()),
            Event::Sample(_) => "sample".to_owned(),
            Event::StepEnded { step_id, record } => {
                format!("step {step_id} {}", record.step(step_id).unwrap().status)
            }
            Event::Ended(record) => format!("ended {}", record.status),
            _ => "other".to_owned(),
        };
        self.events.lock().unwrap().push(line);
        Ok(())
    }
}

#[test]
fn a_run_goes_through_the_supervisor_and_every_observer_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = pipeline(
        dir.path(),
        r#"
[[steps]]
id = "collect"
run = "printf '{\"steps\": 10}\\n' >> \"$TRACKER_PROGRESS\"; echo collected; for i in $(seq 600); do [ -s \"$TRACKER_RUN_DIR/telemetry.jsonl\" ] && break; sleep 0.1; done"

[[steps]]
id = "train"
run = 'echo "not json" >> "$TRACKER_PROGRESS"; test "$TRACKER_STEP_ID" = train && exit 3'
continue_on_error = true

[[steps]]
id = "skipped"
run = "true"
"#,
    );
    let mut settings = settings(dir.path(), &pipeline);
    settings.telemetry = Some(Duration::from_millis(200));
    let events = Arc::default();
    let reporter = Arc::new(CollectingReporter::default());
    let selected = ["collect".to_owned(), "train".to_owned()];
    let ended = runner::run(
        &pipeline,
        &selected,
        &settings,
        vec![Box::new(Recorder {
            events: Arc::clone(&events),
            fail_on_step: false,
        })],
        reporter.clone(),
    )
    .unwrap();

    assert!(ended.interrupt.is_none());
    assert_eq!(ended.record.status, RunStatus::Completed, "train may fail");
    let status = |id: &str| ended.record.step(id).unwrap().status;
    assert_eq!(status("collect"), StepStatus::Completed);
    assert_eq!(status("train"), StepStatus::Failed);
    assert_eq!(status("skipped"), StepStatus::Skipped);
    assert_eq!(ended.record.step("train").unwrap().exit_code, Some(3));
    let log = std::fs::read_to_string(ended.run_dir.join("logs/collect.log")).unwrap();
    assert_eq!(log, "collected\n");
    assert!(ended.run_dir.join(runner::REPORT_FILE).is_file());

    let events = events.lock().unwrap().clone();
    let steps: Vec<&String> = events.iter().filter(|e| *e != "sample").collect();
    assert_eq!(
        steps,
        [
            "started true",
            "step collect completed",
            "step train failed",
            "ended completed"
        ]
    );
    assert!(events.contains(&"sample".to_owned()), "{events:?}");
    // The bad progress line went to the reporter, not to stderr.
    let said = reporter.take();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].starts_with("warning: step `train`: ignoring progress line 1: not JSON"),
        "{said:?}"
    );
}

#[test]
fn a_failing_step_fails_the_run_and_a_failing_observer_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = pipeline(
        dir.path(),
        "[[steps]]\nid = \"a\"\nrun = \"exit 2\"\n[[steps]]\nid = \"b\"\nrun = \"true\"\n",
    );
    let mut settings = settings(dir.path(), &pipeline);
    settings.telemetry = None;
    let events = Arc::default();
    let reporter = Arc::new(CollectingReporter::default());
    let ended = runner::run(
        &pipeline,
        &["a".to_owned(), "b".to_owned()],
        &settings,
        vec![Box::new(Recorder {
            events: Arc::clone(&events),
            fail_on_step: true,
        })],
        reporter.clone(),
    )
    .unwrap();
    assert_eq!(ended.record.status, RunStatus::Failed);
    assert_eq!(reason(&ended.record), "step `a` failed: exit status 2");
    assert_eq!(ended.record.step("b").unwrap().status, StepStatus::Pending);
    assert_eq!(
        *events.lock().unwrap(),
        ["started true"],
        "nothing after the failure"
    );
    assert_eq!(
        reporter.take(),
        ["warning: recorder stopped: step refused; the run goes on without it"]
    );
}

#[test]
fn a_supervisor_that_cannot_start_fails_the_step_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = pipeline(dir.path(), "[[steps]]\nid = \"a\"\nrun = \"true\"\n");
    let mut settings = settings(dir.path(), &pipeline);
    settings.supervisor = Some(Supervisor::new(dir.path().join("no-such-program")));
    settings.telemetry = None;
    let ended = runner::run(
        &pipeline,
        &["a".to_owned()],
        &settings,
        Vec::new(),
        Arc::new(CollectingReporter::default()),
    )
    .unwrap();
    assert_eq!(ended.record.status, RunStatus::Failed);
    let reason = reason(&ended.record);
    assert!(
        reason.starts_with("step `a` failed: cannot start the step's supervisor ")
            && reason.contains("no-such-program"),
        "{reason}"
    );
}

#[test]
fn a_runs_report_compares_it_with_the_pipelines_earlier_runs() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = pipeline(dir.path(), "[[steps]]\nid = \"a\"\nrun = \"true\"\n");
    let mut settings = settings(dir.path(), &pipeline);
    settings.telemetry = None;
    let run = || {
        runner::run(
            &pipeline,
            &["a".to_owned()],
            &settings,
            Vec::new(),
            Arc::new(CollectingReporter::default()),
        )
        .unwrap()
    };
    let report = |ended: &runner::Ended| {
        std::fs::read_to_string(ended.run_dir.join(runner::REPORT_FILE)).unwrap()
    };
    let first = run();
    assert!(
        !report(&first).contains("id=\"history\""),
        "nothing to compare with"
    );
    let second = run();
    assert!(
        report(&second).contains("<h2>Compared with history</h2>"),
        "{}",
        report(&second)
    );
}

/// This process's CPU time in clock ticks (user + system), from
/// `/proc/self/stat`.
fn process_cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which may hold spaces) in parentheses.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn a_hosted_run_times_its_own_steps_and_ends_from_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::hosted(ArtifactRoot::new(dir.path().join("out")), "hosted");
    settings.display = Display::Quiet;
    settings.telemetry = Some(Duration::from_millis(20));
    let events = Arc::new(Mutex::new(Vec::new()));
    let observers: Vec<Box<dyn Observer>> = vec![Box::new(Recorder {
        events: Arc::clone(&events),
        fail_on_step: false,
    })];
    let specs = vec![
        progress::StepSpec::new("work", "Work"),
        progress::StepSpec::new("broken", "Broken"),
        progress::StepSpec::new("never", "Never"),
    ];
    let reporter = Arc::new(CollectingReporter::default());
    let session = runner::Session::start(&settings, specs, observers, reporter.clone()).unwrap();
    let run_dir = session.run_dir().to_owned();

    session.begin_step("work").unwrap();
    // Burn CPU in this process (the step's CPU time is the process's)
    // until a sample of the step is on disk.
    let sampled = || {
        std::fs::read_to_string(run_dir.join("telemetry.jsonl"))
            .is_ok_and(|t| t.contains("\"step_id\":\"work\""))
    };
    let began = process_cpu_ticks();
    let started = std::time::Instant::now();
    let mut x = 1u64;
    // At least 10 ticks (100 ms) of CPU, however loaded the machine is.
    while process_cpu_ticks() < began + 10
        || (!sampled() && started.elapsed() < Duration::from_secs(60))
    {
        for _ in 0..10_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
    }
    std::hint::black_box(x);
    session.end_step("work", None).unwrap();
    session.begin_step("broken").unwrap();
    session
        .end_step("broken", Some("ValueError: bad batch"))
        .unwrap();
    // Out of order, unknown, or ended twice: an error naming the step.
    let again = session.begin_step("work").unwrap_err().to_string();
    assert!(again.contains("`work`"), "{again}");
    assert!(session.end_step("nope", None).is_err());
    // A command step cannot run without a supervisor.
    let pipeline = pipeline(dir.path(), "[[steps]]\nid = \"cmd\"\nrun = \"true\"\n");
    let plan: Vec<(String, &runner::Step)> = vec![("never".into(), &pipeline.steps[0])];
    let failure = session.run_steps(&pipeline, &plan).unwrap();
    assert!(failure.contains("no step supervisor"), "{failure}");

    let ended = session.end(progress::Ending::FromSteps).unwrap();
    assert_eq!(ended.record.status, RunStatus::Failed);
    assert_eq!(reason(&ended.record), "step `broken` failed");
    let work = ended.record.step("work").unwrap();
    assert_eq!(work.status, StepStatus::Completed);
    assert!(work.cpu_time_seconds.unwrap() >= 0.08, "{work:?}");
    assert_eq!(work.exit_code, None);
    assert_eq!(
        ended.record.step("broken").unwrap().status,
        StepStatus::Failed
    );
    assert!(ended.interrupt.is_none());
    assert!(run_dir.join(runner::REPORT_FILE).is_file());
    // This process was sampled while `work` ran.
    assert!(sampled());
    let events = events.lock().unwrap();
    assert!(
        events.contains(&"step work completed".to_owned()),
        "{events:?}"
    );
    assert!(
        events.contains(&"step broken failed".to_owned()),
        "{events:?}"
    );
    assert_eq!(events.last().unwrap(), "ended failed");
}

#[test]
fn a_steps_peak_memory_counts_every_sample_taken_before_it_ended() {
    // At 0.2 s samples are handed over a second's worth at a time: a step
    // shorter than that ends with its samples still held, and its peak is
    // taken once they are in.
    let dir = tempfile::tempdir().unwrap();
    let pipeline = pipeline(
        dir.path(),
        "[[steps]]\nid = \"short\"\nrun = \"sleep 0.8\"\n[[steps]]\nid = \"next\"\nrun = \"sleep 0.3\"\n",
    );
    let mut settings = settings(dir.path(), &pipeline);
    settings.telemetry = Some(Duration::from_millis(200));
    let reporter = Arc::new(CollectingReporter::default());
    let selected = ["short".to_owned(), "next".to_owned()];
    let ended = runner::run(&pipeline, &selected, &settings, Vec::new(), reporter).unwrap();
    assert_eq!(ended.record.status, RunStatus::Completed);

    let telemetry = std::fs::read_to_string(ended.run_dir.join("telemetry.jsonl")).unwrap();
    let samples: Vec<telemetry_model::TelemetrySnapshot> = telemetry
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    for id in ["short", "next"] {
        let measured = samples
            .iter()
            .filter(|s| s.step_id.as_deref() == Some(id))
            .filter_map(|s| s.memory_rss_mb)
            .fold(None, |peak: Option<f64>, rss| {
                Some(peak.map_or(rss, |p| p.max(rss)))
            });
        let peak = ended.record.step(id).unwrap().peak_rss_mb;
        assert_eq!(peak, measured, "{id}: {} samples", samples.len());
    }
    // Samples are in order and none was lost or written twice.
    let times: Vec<i64> = samples.iter().map(|s| s.timestamp_ms).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
}
