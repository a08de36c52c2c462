//! Notifications and stall detection end to end: real steps through the
//! `tracker-supervise` program, real commands, and webhooks posted to tiny
//! HTTP servers on 127.0.0.1 (one that answers, one that hangs, one that
//! refuses). Steps that must wait block on a FIFO (no CPU, no sleep) until
//! the test releases them.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use manifest::ArtifactRoot;
use progress::{Display, ManualClock};
use runner::{
    CollectingReporter, Event, NotifyOn, NotifyRule, Observer, ObserverError, Pipeline, Settings,
    Supervisor,
};
use serde_json::Value;
use telemetry_model::{NotificationOutcome, PipelineRunRecord, RunStatus, StepStatus};

fn supervisor() -> Supervisor {
    Supervisor::new(env!("CARGO_BIN_EXE_tracker-supervise"))
}

fn pipeline(dir: &Path, text: &str) -> Pipeline {
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, format!("[pipeline]\nname = \"demo\"\n{text}")).unwrap();
    Pipeline::load(&path).unwrap()
}

fn settings(dir: &Path, pipeline: &Pipeline) -> Settings {
    let mut settings = Settings::new(ArtifactRoot::new(dir.join("out")), pipeline, supervisor());
    settings.display = Display::Quiet;
    settings.telemetry = None;
    settings
}

fn run(
    pipeline: &Pipeline,
    settings: &Settings,
    observers: Vec<Box<dyn Observer>>,
) -> (runner::Ended, Vec<String>) {
    let ids: Vec<String> = pipeline.steps.iter().map(|s| s.id.clone()).collect();
    let reporter = Arc::new(CollectingReporter::default());
    let ended = runner::run(pipeline, &ids, settings, observers, reporter.clone()).unwrap();
    (ended, reporter.take())
}

/// How a test server answers.
#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    /// Reads the request, then says nothing.
    Hang,
}

/// A one-purpose HTTP/1.1 server on 127.0.0.1: every request body it got
/// comes out of `bodies`.
struct Server {
    url: String,
    bodies: Receiver<String>,
}

fn serve(answer: Answer) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook/SECRET", listener.local_addr().unwrap());
    let (tx, bodies) = channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || handle(stream, answer, &tx));
        }
    });
    Server { url, bodies }
}

fn handle(stream: TcpStream, answer: Answer, bodies: &Sender<String>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let _ = bodies.send(String::from_utf8(body).unwrap());
    match answer {
        Answer::Status(code) => {
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {code} X\r\ncontent-length: 7\r\nconnection: close\r\n\r\nanswer!"
            );
        }
        Answer::Hang => std::thread::sleep(Duration::from_secs(120)),
    }
}

/// A port nothing listens on: connections to it are refused.
fn refusing_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}/hook", listener.local_addr().unwrap())
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn received(server: &Server) -> Value {
    json(&server.bodies.recv_timeout(Duration::from_secs(20)).unwrap())
}

/// Every record line of the run's manifest, in order.
fn records(run_dir: &Path) -> Vec<PipelineRunRecord> {
    std::fs::read_to_string(run_dir.join("manifest.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo {}", path.display());
}

/// Lets a step blocked reading `path` go on.
fn release(path: &Path) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .write_all(b"go\n")
        .unwrap();
}

#[test]
fn a_failed_run_is_told_to_a_command_and_a_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(Answer::Status(200));
    let pipeline = pipeline(
        dir.path(),
        &format!(
            r#"
[[steps]]
id = "train"
name = "Train"
run = "echo loading; echo boom >&2; exit 3"

[[notify]]
on = ["failed"]
command = "cat > event.json; env | grep ^TRACKER_ | sort > event.env"

[[notify]]
on = ["failed", "completed"]
webhook = "{}"

[[notify]]
on = ["completed", "stalled"]
command = "touch never"
"#,
            server.url
        ),
    );
    let (ended, said) = run(&pipeline, &settings(dir.path(), &pipeline), vec![]);
    assert_eq!(ended.record.status, RunStatus::Failed);
    assert_eq!(said, Vec::<String>::new());

    let posted = received(&server);
    assert_eq!(posted["event"], "failed");
    assert_eq!(posted["run_id"], ended.record.run_id.as_str());
    assert_eq!(posted["pipeline"], "demo");
    assert_eq!(posted["status"], "failed");
    assert_eq!(posted["step"]["id"], "train");
    assert_eq!(posted["step"]["name"], "Train");
    assert_eq!(posted["step"]["exit_code"], 3);
    assert!(posted["step"]["duration_seconds"].is_number());
    let tail: Vec<&str> = posted["log_tail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        tail.contains(&"boom") && tail.contains(&"loading"),
        "{tail:?}"
    );
    assert_eq!(
        posted["report"],
        ended.run_dir.join("report.html").display().to_string()
    );
    assert_eq!(
        posted["text"],
        format!(
            "demo: run {} failed: step `train` failed: exit status 3",
            ended.record.run_id
        )
    );

    // The command got the same document on stdin, and its variables.
    let on_stdin = json(&std::fs::read_to_string(dir.path().join("event.json")).unwrap());
    assert_eq!(on_stdin["event"], "failed");
    assert_eq!(on_stdin["step"]["exit_code"], 3);
    let env = std::fs::read_to_string(dir.path().join("event.env")).unwrap();
    for want in [
        "TRACKER_EVENT=failed".to_owned(),
        format!("TRACKER_RUN_ID={}", ended.record.run_id),
        format!("TRACKER_RUN_DIR={}", ended.run_dir.display()),
        "TRACKER_STEP_ID=train".to_owned(),
    ] {
        assert!(env.lines().any(|l| l == want), "{want} not in\n{env}");
    }
    assert!(!dir.path().join("never").exists(), "not on `failed`");

    // Both outcomes are in the final record, on disk.
    let last = records(&ended.run_dir).pop().unwrap();
    let notes = &last.summary.notifications;
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        notes
            .iter()
            .all(|n| n.outcome == NotificationOutcome::Sent && n.event == "failed")
    );
    let mut targets: Vec<&str> = notes.iter().map(|n| n.target.as_str()).collect();
    targets.sort_unstable();
    assert_eq!(
        targets,
        [
            "command `cat > event.json; env | grep ^TRACKER_ | sort > event.env`",
            "webhook 127.0.0.1"
        ]
    );
}

#[test]
fn hanging_refusing_and_failing_receivers_fail_alone_with_one_warning_each() {
    let dir = tempfile::tempdir().unwrap();
    let hanging = serve(Answer::Hang);
    let failing = serve(Answer::Status(500));
    let pipeline = pipeline(dir.path(), "[[steps]]\nid = \"a\"\nrun = \"true\"\n");
    let mut settings = settings(dir.path(), &pipeline);
    // The library's way: rules built in code.
    let on = [NotifyOn::Completed];
    settings.notify = vec![
        NotifyRule::webhook(&on, &hanging.url)
            .unwrap()
            .with_timeout(Duration::from_millis(300))
            .unwrap(),
        NotifyRule::webhook(&on, &refusing_url()).unwrap(),
        NotifyRule::webhook(&on, &failing.url).unwrap(),
        NotifyRule::command(&on, "echo no >&2; exit 4", dir.path()).unwrap(),
    ];
    let (ended, said) = run(&pipeline, &settings, vec![]);
    assert_eq!(ended.record.status, RunStatus::Completed);
    assert_eq!(said.len(), 4, "{said:#?}");
    assert!(
        said[0].starts_with(
            "warning: completed notification by webhook 127.0.0.1 failed: timed out after 0.3s;"
        ),
        "{said:#?}"
    );
    assert!(said.iter().all(|s| s.ends_with(
        "; the run goes on (later failures of it are recorded, not said)"
    )));
    let notes = &records(&ended.run_dir).pop().unwrap().summary.notifications;
    let outcomes: Vec<(NotificationOutcome, u32, String)> = notes
        .iter()
        .map(|n| (n.outcome, n.attempts, n.reason.clone().unwrap()))
        .collect();
    assert_eq!(outcomes.len(), 4, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| o.0 == NotificationOutcome::Failed));
    assert_eq!(outcomes[0].1, 2, "a timeout is tried again");
    assert!(outcomes[0].2.starts_with("timed out"), "{outcomes:?}");
    assert_eq!(outcomes[1].1, 2, "a refused connection is tried again");
    assert!(
        outcomes[1].2.to_lowercase().contains("connection refused"),
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes[2],
        (NotificationOutcome::Failed, 2, "HTTP 500: answer!".into())
    );
    assert_eq!(
        outcomes[3],
        (NotificationOutcome::Failed, 1, "exit status 4: no".into())
    );
    // The hanging server got both tries.
    for _ in 0..2 {
        assert_eq!(received(&hanging)["event"], "completed");
    }
}

#[test]
fn the_end_of_a_run_waits_for_its_notifications_only_so_long() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = pipeline(
        dir.path(),
        r#"
[[steps]]
id = "a"
run = "true"
[[notify]]
on = ["completed"]
command = "echo $$ > notifier.pid; exec sleep 60"
timeout_seconds = 120
"#,
    );
    let mut settings = settings(dir.path(), &pipeline);
    settings.notify_wait = Duration::from_millis(300);
    let (ended, said) = run(&pipeline, &settings, vec![]);
    assert_eq!(ended.record.status, RunStatus::Completed);
    assert_eq!(said, Vec::<String>::new());
    let notes = &records(&ended.run_dir).pop().unwrap().summary.notifications;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].outcome, NotificationOutcome::Failed);
    assert_eq!(
        notes[0].reason.as_deref(),
        Some("not delivered: the run ended and its notifications had 0.3s to go out")
    );
    // The command given up on was stopped.
    let pid: u32 = std::fs::read_to_string(dir.path().join("notifier.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z")
    {
        assert!(std::time::Instant::now() < deadline, "sleep 60 still runs");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What a test observer saw of stalls.
#[derive(Default)]
struct Seen {
    /// (step, stall_seconds, whether the persisted record had the stall).
    stalls: Vec<(String, f64, bool)>,
    since: Vec<telemetry_model::Timestamp>,
}

/// Records stalls; runs `on_stall(n)` at the n-th (from 1).
struct StallObserver {
    seen: Arc<Mutex<Seen>>,
    on_stall: Box<dyn FnMut(usize) + Send>,
}

impl Observer for StallObserver {
    fn name(&self) -> &str {
        "stall observer"
    }

    fn observe(&mut self, event: &Event<'_>) -> Result<(), ObserverError> {
        if let Event::Stalled {
            step_id,
            since,
            stall_seconds,
            record,
        } = event
        {
            let run_dir = Path::new(record.artifact_dir.as_deref().unwrap()).to_owned();
            let persisted = records(&run_dir)
                .pop()
                .is_some_and(|r| r.summary.stalled.is_some());
            let n = {
                let mut seen = self.seen.lock().unwrap();
                seen.stalls
                    .push(((*step_id).to_owned(), *stall_seconds, persisted));
                seen.since.push(*since);
                seen.stalls.len()
            };
            (self.on_stall)(n);
        }
        Ok(())
    }
}

fn stall_recommendations(run_dir: &Path) -> Vec<telemetry_model::PerformanceRecommendation> {
    manifest::read_manifest(&run_dir.join("manifest.jsonl"))
        .unwrap()
        .recommendations
        .into_iter()
        .filter(|r| r.trigger == runner::STALL_TRIGGER)
        .collect()
}

#[test]
fn a_silent_sleep_stalls_once_is_told_and_is_left_to_finish() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = pipeline(
        dir.path(),
        r#"
[[steps]]
id = "wait"
run = "sleep 2"
stall_seconds = 0.3
[[notify]]
on = ["stalled"]
command = "cat > stalled.json"
"#,
    );
    let seen = Arc::new(Mutex::new(Seen::default()));
    let observer = StallObserver {
        seen: Arc::clone(&seen),
        on_stall: Box::new(|_| {}),
    };
    let (ended, said) = run(
        &pipeline,
        &settings(dir.path(), &pipeline),
        vec![Box::new(observer)],
    );
    let step = ended.record.step("wait").unwrap();
    assert_eq!(step.status, StepStatus::Completed, "never killed");
    assert_eq!(step.exit_code, Some(0));
    assert_eq!(
        seen.lock().unwrap().stalls,
        [("wait".to_owned(), 0.3, true)],
        "one event, the stall persisted before it"
    );
    assert_eq!(
        said,
        [
            "warning: step `wait` has shown no sign of life for 0.3s (no progress, output or CPU); it is left running"
        ]
    );
    assert_eq!(stall_recommendations(&ended.run_dir).len(), 1);
    let event = json(&std::fs::read_to_string(dir.path().join("stalled.json")).unwrap());
    assert_eq!(event["event"], "stalled");
    assert_eq!(event["status"], "running");
    assert_eq!(event["step"]["id"], "wait");
    assert_eq!(event["stall_seconds"], 0.3);
    assert!(ended.record.summary.stalled.is_none(), "cleared at its end");
    assert!(
        records(&ended.run_dir)
            .pop()
            .unwrap()
            .summary
            .stalled
            .is_none()
    );
}

#[test]
fn a_stalled_step_that_reports_progress_again_is_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (
        dir.path().join("first.fifo"),
        dir.path().join("second.fifo"),
    );
    mkfifo(&first);
    mkfifo(&second);
    let pipeline = pipeline(
        dir.path(),
        r#"
[[steps]]
id = "train"
run = 'read x < first.fifo; echo "{\"progress\": 0.5}" >> "$TRACKER_PROGRESS"; read y < second.fifo'
"#,
    );
    let mut settings = settings(dir.path(), &pipeline);
    settings.stall.seconds = Some(Duration::from_millis(300));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let observer = StallObserver {
        seen: Arc::clone(&seen),
        on_stall: Box::new(move |n| release(if n == 1 { &first } else { &second })),
    };
    let (ended, _) = run(&pipeline, &settings, vec![Box::new(observer)]);
    assert_eq!(ended.record.status, RunStatus::Completed);
    let stalls = seen.lock().unwrap().stalls.clone();
    assert_eq!(
        stalls.len(),
        2,
        "stalled, cleared by progress, stalled again"
    );
    assert_eq!(
        stall_recommendations(&ended.run_dir).len(),
        1,
        "one per step"
    );
    // On disk: stalled, then cleared while the step still ran, then stalled.
    let marks: Vec<bool> = records(&ended.run_dir)
        .iter()
        .filter(|r| {
            r.step("train")
                .is_some_and(|s| s.status == StepStatus::Running)
        })
        .map(|r| r.summary.stalled.is_some())
        .collect();
    let mut changes = marks.clone();
    changes.dedup();
    assert_eq!(changes, [false, true, false, true], "{marks:?}");
}

#[test]
fn an_injected_clock_makes_a_stall_without_waiting_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("release.fifo");
    mkfifo(&fifo);
    let pipeline = pipeline(
        dir.path(),
        "stall_seconds = 600\n[[steps]]\nid = \"hang\"\nrun = \"read x < release.fifo\"\n",
    );
    let mut settings = settings(dir.path(), &pipeline);
    let start = 1_700_000_000_000;
    let clock = Arc::new(ManualClock::starting_at_ms(start));
    settings.stall.clock = clock.clone();
    settings.stall.look_every = Some(Duration::from_millis(20));
    assert_eq!(settings.stall.seconds, Some(Duration::from_secs(600)));
    // Ten minutes pass on the injected clock every 50 ms of real time, until
    // the stall is seen.
    let stalled = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ticker = {
        let (clock, stalled) = (Arc::clone(&clock), Arc::clone(&stalled));
        std::thread::spawn(move || {
            while !stalled.load(std::sync::atomic::Ordering::SeqCst) {
                clock.advance_secs(601.0);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let seen = Arc::new(Mutex::new(Seen::default()));
    let observer = StallObserver {
        seen: Arc::clone(&seen),
        on_stall: Box::new(move |_| {
            stalled.store(true, std::sync::atomic::Ordering::SeqCst);
            release(&fifo);
        }),
    };
    let (ended, said) = run(&pipeline, &settings, vec![Box::new(observer)]);
    ticker.join().unwrap();
    assert_eq!(ended.record.status, RunStatus::Completed);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.stalls, [("hang".to_owned(), 600.0, true)]);
    assert!(seen.since[0].unix_ms() >= start);
    assert_eq!(
        said,
        [
            "warning: step `hang` has shown no sign of life for 10m00s (no progress, output or CPU); it is left running"
        ]
    );
    let rec = &stall_recommendations(&ended.run_dir)[0];
    assert_eq!(rec.severity, telemetry_model::Severity::Warning);
    assert_eq!(rec.evidence["step_id"], "hang");
    assert_eq!(rec.evidence["stall_seconds"], 600.0);
}

#[test]
fn stall_detection_is_off_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = pipeline(
        dir.path(),
        "stall_seconds = 0.1\n[[steps]]\nid = \"a\"\nrun = \"sleep 0.6\"\nstall_seconds = 0\n",
    );
    let seen = Arc::new(Mutex::new(Seen::default()));
    let observer = StallObserver {
        seen: Arc::clone(&seen),
        on_stall: Box::new(|_| {}),
    };
    let (ended, said) = run(
        &pipeline,
        &settings(dir.path(), &pipeline),
        vec![Box::new(observer)],
    );
    assert_eq!(ended.record.status, RunStatus::Completed);
    assert!(seen.lock().unwrap().stalls.is_empty());
    assert_eq!(said, Vec::<String>::new());
}
