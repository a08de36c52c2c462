//! `[[notify]]` and stalled steps through the real binary: a cancelled run
//! still delivers its notification, bad tables are refused at load, and
//! `status`, `list` and `show` say what happened.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use crate::{command, redactions, stderr, stdout, tracker};

/// An HTTP server on 127.0.0.1 answering 200 to every request; each body
/// it got comes out of the receiver.
fn serve() -> (String, Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook/SECRET", listener.local_addr().unwrap());
    let (tx, bodies) = channel();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_ok() {
                let _ = tx.send(String::from_utf8(body).unwrap());
            }
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        }
    });
    (url, bodies)
}

/// The `Notifications` section of `tracker show`'s text, to its end.
fn notifications_of(shown: &str) -> String {
    shown
        .split_once("\nNotifications")
        .map(|(_, rest)| format!("Notifications{rest}"))
        .unwrap_or_default()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `tracker --artifact-root DIR/out run pipeline.toml --run-id ID` started
/// in `dir` (so `dir/tracker.toml` is its project file).
fn spawn_run(dir: &Path, run_id: &str) -> Child {
    command()
        .current_dir(dir)
        .args(["--artifact-root", "out", "run", "pipeline.toml", "--plain"])
        .args(["--run-id", run_id])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok);
}

#[test]
fn a_cancelled_run_still_delivers_its_notification_before_it_exits() {
    let dir = tempfile::tempdir().unwrap();
    let (url, bodies) = serve();
    // The project's table applies to every pipeline.
    std::fs::write(
        dir.path().join("tracker.toml"),
        format!("[[notify]]\non = [\"cancelled\"]\nwebhook = \"{url}\"\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("pipeline.toml"),
        "[pipeline]\nname = \"long\"\n[[steps]]\nid = \"wait\"\nrun = \"echo started; echo $$ > step.pid; exec sleep 60\"\n",
    )
    .unwrap();
    let mut child = spawn_run(dir.path(), "cancel-me");
    wait_for("the step", || dir.path().join("step.pid").is_file());
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    // The tracker exits only after the notification went out.
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    let body: serde_json::Value =
        serde_json::from_str(&bodies.try_recv().expect("delivered before the exit")).unwrap();
    assert_eq!(body["event"], "cancelled");
    assert_eq!(body["run_id"], "cancel-me");
    assert_eq!(body["status"], "cancelled");
    assert_eq!(body["reason"], "interrupted by SIGTERM");
    assert_eq!(body["step"]["id"], "wait");
    assert_eq!(body["log_tail"], serde_json::json!(["started"]));

    let root = dir.path().join("out");
    let shown = tracker(&root, &["show", "cancel-me"]);
    let notes = notifications_of(&stdout(&shown));
    insta::assert_snapshot!(notes, @r"
    Notifications (1)
      cancelled (step wait) → webhook 127.0.0.1: sent (1 try)
    ");
}

#[test]
fn a_webhook_url_can_come_from_the_environment_and_an_unset_one_is_said_at_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let (url, bodies) = serve();
    // A project file that can be committed: the URL is not in it.
    std::fs::write(
        dir.path().join("tracker.toml"),
        "[[notify]]\non = [\"completed\"]\nwebhook_env = \"TRACKER_TEST_HOOK\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("pipeline.toml"),
        "[pipeline]\nname = \"quick\"\n[[steps]]\nid = \"a\"\nrun = \"true\"\n",
    )
    .unwrap();
    let run = |run_id: &str, hook: Option<&str>| {
        let mut cmd = command();
        cmd.current_dir(dir.path())
            .args(["--artifact-root", "out", "run", "pipeline.toml", "--plain"])
            .args(["--run-id", run_id, "--no-telemetry"])
            .env_remove("TRACKER_TEST_HOOK");
        if let Some(hook) = hook {
            cmd.env("TRACKER_TEST_HOOK", hook);
        }
        let output = cmd.output().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        output
    };

    let output = run("with-hook", Some(&url));
    assert!(!stderr(&output).contains("warning"), "{}", stderr(&output));
    let body: serde_json::Value =
        serde_json::from_str(&bodies.try_recv().expect("delivered before the exit")).unwrap();
    assert_eq!(body["event"], "completed");
    assert_eq!(body["run_id"], "with-hook");

    // Unset: said once, before the step runs; the run completes; the
    // notification is recorded as failed.
    let output = run("without-hook", None);
    let said = stderr(&output);
    let warning = "warning: notifications by webhook $TRACKER_TEST_HOOK (tracker.toml [[notify]] #1) will fail: $TRACKER_TEST_HOOK is not set; the run goes on (each is recorded as failed)";
    assert_eq!(said.matches("warning:").count(), 1, "{said}");
    let step_starts = said.find("Step 1/1").expect("a step line");
    assert!(
        said.find(warning).is_some_and(|at| at < step_starts),
        "{said}"
    );
    assert!(bodies.try_recv().is_err(), "nothing was POSTed");
    let shown = stdout(&tracker(&dir.path().join("out"), &["show", "without-hook"]));
    let notes = notifications_of(&shown);
    insta::assert_snapshot!(notes, @r"
    Notifications (1)
      completed → webhook $TRACKER_TEST_HOOK: failed: $TRACKER_TEST_HOOK is not set
    ");
}

#[test]
fn bad_notify_tables_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("out");
    let pipeline = |notify: &str| -> PathBuf {
        let path = dir.path().join("pipeline.toml");
        std::fs::write(
            &path,
            format!(
                "[pipeline]\nname = \"p\"\n[[steps]]\nid = \"a\"\nrun = \"touch ran\"\n\n{notify}"
            ),
        )
        .unwrap();
        path
    };
    let mut said = Vec::new();
    for notify in [
        "[[notify]]\non = [\"failed\", \"fialed\"]\ncommand = \"true\"\n",
        "[[notify]]\non = [\"failed\"]\n",
        "[[notify]]\ncommand = \"true\"\nwebhook = \"https://h/x\"\n",
        "[[notify]]\nwebhook = \"hooks.example.org/T0\"\n",
        "[[notify]]\nwebhook_env = \"https://hooks.example.org/T0\"\n",
    ] {
        let path = pipeline(notify);
        let output = tracker(&root, &["run", path.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        said.push(stderr(&output));
    }
    // tracker.toml's tables are checked as strictly, and named.
    pipeline("");
    std::fs::write(
        dir.path().join("tracker.toml"),
        "[retention]\nkeep = 3\n\n[[notify]]\non = [\"stalled\"]\ncommand = \"\"\n",
    )
    .unwrap();
    let output = command()
        .current_dir(dir.path())
        .args(["--artifact-root", "out", "run", "pipeline.toml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    said.push(stderr(&output));
    assert!(!dir.path().join("ran").exists(), "nothing ran");
    let mut settings = redactions(dir.path());
    settings.add_filter(
        r"(?m)^error: [^\n]*/pipeline\.toml",
        "error: [DIR]/pipeline.toml",
    );
    settings.bind(|| insta::assert_snapshot!(said.join("")));
}

#[test]
fn status_list_and_show_tell_of_a_stalled_step_and_its_notifications() {
    let dir = tempfile::tempdir().unwrap();
    mkfifo(&dir.path().join("release.fifo"));
    std::fs::write(
        dir.path().join("pipeline.toml"),
        r#"[pipeline]
name = "stall"
stall_seconds = 0.3

[[steps]]
id = "hang"
name = "Wait for the lock"
run = "read x < release.fifo"

[[notify]]
on = ["stalled", "completed"]
command = "cat >> events.jsonl"
"#,
    )
    .unwrap();
    let root = dir.path().join("out");
    let child = spawn_run(dir.path(), "stall-demo");
    let mut status = String::new();
    wait_for("`stalled for` in status", || {
        status = stdout(&tracker(&root, &["status", "stall-demo"]));
        status.contains("stalled for")
    });
    let step_line = status.lines().nth(1).unwrap();
    assert!(
        step_line.starts_with("Step 1/1 – Wait for the lock (elapsed ")
            && step_line.contains(") – stalled for "),
        "{status}"
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(&tracker(
        &root,
        &["status", "stall-demo", "--format", "json"],
    )))
    .unwrap();
    assert!(json["current_step"]["stalled_seconds"].as_f64().unwrap() >= 0.0);
    let list = stdout(&tracker(&root, &["list"]));
    assert!(list.contains("running (stalled for "), "{list}");
    let listed: serde_json::Value =
        serde_json::from_str(&stdout(&tracker(&root, &["list", "--format", "json"]))).unwrap();
    assert_eq!(listed[0]["stalled_step"], "hang");

    // Released, the step ends; the run completes and the stall is gone.
    std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("release.fifo"))
        .unwrap()
        .write_all(b"go\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("warning: step `hang` has shown no sign of life for 0.3s (no progress, output or CPU); it is left running"),
        "{said}"
    );
    let events: Vec<String> = std::fs::read_to_string(dir.path().join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["event"].to_string())
        .collect();
    assert_eq!(events, ["\"stalled\"", "\"completed\""]);
    let status = stdout(&tracker(&root, &["status", "stall-demo"]));
    assert!(!status.contains("stalled"), "{status}");
    let shown = stdout(&tracker(&root, &["show", "stall-demo"]));
    assert!(
        shown.contains("[warning] stalled_step: step `hang` showed no sign of life for 0.3s"),
        "{shown}"
    );
    let notes = notifications_of(&shown);
    insta::assert_snapshot!(notes, @r"
    Notifications (2)
      stalled (step hang) → command `cat >> events.jsonl`: sent (1 try)
      completed → command `cat >> events.jsonl`: sent (1 try)
    ");
}
