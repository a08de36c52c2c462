//! `tracker run --mlflow` and `tracker sync` against a real MLflow
//! tracking server (`mlflow server`, SQLite backend, artifact proxy on
//! 127.0.0.1), read back through MLflow's REST API; and against servers
//! that hang or refuse, which must never slow or fail a run.
//!
//! The Python comes from `TRACKER_MLFLOW_PYTHON`, else a venv at
//! `<target dir>/mlflow-venv`, made here with `pip install mlflow` when
//! missing (what `.ci/run` does too). `TRACKER_MLFLOW_SERVER=URI` uses a
//! server that is already running instead (the stress loop does). Without
//! any, the tests that need a server say "skipped: …" and pass, unless
//! `TRACKER_REQUIRE_MLFLOW=1` (set by `.ci/run`) makes that a failure.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{command, stderr, stdout};

// ---------------------------------------------------------------- server

/// A tracking server for this test process.
struct Server {
    uri: String,
}

fn require() -> bool {
    std::env::var("TRACKER_REQUIRE_MLFLOW").is_ok_and(|v| v == "1")
}

/// Says why a test did nothing, where a plain `cargo test` shows it.
fn say_skipped(why: &str) {
    let _ = writeln!(std::io::stderr(), "skipped: {why}");
}

/// The server, or `None` (said) when there is no MLflow here.
fn server() -> Option<&'static Server> {
    static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
    match SERVER.get_or_init(start_server) {
        Ok(server) => Some(server),
        Err(why) if require() => panic!("TRACKER_REQUIRE_MLFLOW=1 but {why}"),
        Err(why) => {
            say_skipped(why);
            None
        }
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

fn imports_mlflow(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import mlflow.server"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A Python that can run `mlflow server`, made if need be.
fn find_python() -> Result<PathBuf, String> {
    if let Some(explicit) = std::env::var_os("TRACKER_MLFLOW_PYTHON") {
        let python = PathBuf::from(explicit);
        return if imports_mlflow(&python) {
            Ok(python)
        } else {
            Err(format!(
                "TRACKER_MLFLOW_PYTHON={} cannot `import mlflow`",
                python.display()
            ))
        };
    }
    let venv = target_dir().join("mlflow-venv");
    let python = venv.join("bin/python");
    if imports_mlflow(&python) {
        return Ok(python);
    }
    // Missing or half made: make it again.
    let _ = std::fs::remove_dir_all(&venv);
    let said = |o: &Output| String::from_utf8_lossy(&o.stderr).trim().to_owned();
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .map_err(|e| format!("no python3 to make {}: {e}", venv.display()))?;
    if !made.status.success() {
        return Err(format!("python3 -m venv failed: {}", said(&made)));
    }
    let installed = Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "mlflow",
        ])
        .output()
        .map_err(|e| format!("cannot run pip: {e}"))?;
    if !installed.status.success() || !imports_mlflow(&python) {
        let _ = std::fs::remove_dir_all(&venv);
        return Err(format!("pip install mlflow failed: {}", said(&installed)));
    }
    Ok(python)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_server() -> Result<Server, String> {
    if let Ok(uri) = std::env::var("TRACKER_MLFLOW_SERVER") {
        return wait_healthy(&uri, None).map(|()| Server { uri });
    }
    let python = find_python()?;
    let dir = std::env::temp_dir().join(format!("tracker-mlflow-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let port = free_port();
    let log = std::fs::File::create(dir.join("server.log")).map_err(|e| e.to_string())?;
    use std::os::unix::process::CommandExt as _;
    let mut child = Command::new(&python)
        .args(["-m", "mlflow", "server", "--backend-store-uri"])
        .arg(format!("sqlite:///{}", dir.join("mlflow.db").display()))
        .arg("--artifacts-destination")
        .arg(dir.join("artifacts"))
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--workers",
            "1",
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start mlflow server: {e}"))?;
    // The server and its workers go when this process does, however it
    // ends: a watchdog outside the test process stops their group.
    Command::new("sh")
        .args([
            "-c",
            "while kill -0 \"$0\" 2>/dev/null; do sleep 1; done; kill -TERM \"-$1\" 2>/dev/null; \
             sleep 3; kill -KILL \"-$1\" 2>/dev/null; rm -rf \"$2\"",
        ])
        .arg(std::process::id().to_string())
        .arg(child.id().to_string())
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start the watchdog: {e}"))?;
    let uri = format!("http://127.0.0.1:{port}");
    wait_healthy(&uri, Some(&mut child)).map_err(|e| {
        let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
        let tail: String = log.lines().rev().take(15).collect::<Vec<_>>().join("\n");
        format!("{e}\n{tail}")
    })?;
    warm_up(&uri);
    Ok(Server { uri })
}

/// One of each call the mirror makes: a fresh server is slow at its first
/// ones (its database, its job runners starting), which is not what the
/// tests measure.
fn warm_up(uri: &str) {
    let exp = post(
        uri,
        "mlflow/experiments/create",
        &json!({ "name": unique("warm-up") }),
    );
    let run = post(
        uri,
        "mlflow/runs/create",
        &json!({ "experiment_id": exp["experiment_id"], "start_time": 0 }),
    );
    let info = &run["run"]["info"];
    post(
        uri,
        "mlflow/runs/log-batch",
        &json!({ "run_id": info["run_id"], "metrics": [{"key": "m", "value": 1, "timestamp": 0, "step": 0}] }),
    );
    let path = info["artifact_uri"]
        .as_str()
        .unwrap()
        .trim_start_matches("mlflow-artifacts:/")
        .to_owned();
    let _ = agent()
        .put(format!(
            "{uri}/api/2.0/mlflow-artifacts/artifacts/{path}/a.json"
        ))
        .send("{}");
    post(
        uri,
        "mlflow/runs/update",
        &json!({ "run_id": info["run_id"], "status": "FINISHED", "end_time": 1 }),
    );
}

fn wait_healthy(uri: &str, mut child: Option<&mut std::process::Child>) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(180);
    let agent = agent();
    loop {
        if let Ok(mut r) = agent.get(format!("{uri}/health")).call()
            && r.status() == 200
            && r.body_mut()
                .read_to_string()
                .is_ok_and(|b| b.contains("OK"))
        {
            return Ok(());
        }
        if let Some(child) = child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            return Err(format!("mlflow server exited: {status}"));
        }
        if Instant::now() > deadline {
            return Err(format!("mlflow server at {uri} not healthy after 180 s"));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

// ---------------------------------------------------------------- REST

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into()
}

fn get(uri: &str, endpoint: &str, query: &[(&str, &str)]) -> Value {
    let mut request = agent().get(format!("{uri}/api/2.0/{endpoint}"));
    for (k, v) in query {
        request = request.query(*k, *v);
    }
    let mut response = request.call().unwrap();
    let body = response.body_mut().read_to_string().unwrap();
    assert_eq!(response.status(), 200, "{endpoint}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn post(uri: &str, endpoint: &str, body: &Value) -> Value {
    let mut response = agent()
        .post(format!("{uri}/api/2.0/{endpoint}"))
        .content_type("application/json")
        .send(body.to_string())
        .unwrap();
    let text = response.body_mut().read_to_string().unwrap();
    assert_eq!(response.status(), 200, "{endpoint}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// The MLflow runs of experiment `name` tagged with `run_id`.
fn mlflow_runs(uri: &str, experiment: &str, run_id: &str) -> Vec<Value> {
    let exp = get(
        uri,
        "mlflow/experiments/get-by-name",
        &[("experiment_name", experiment)],
    );
    let id = exp["experiment"]["experiment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let found = post(
        uri,
        "mlflow/runs/search",
        &json!({
            "experiment_ids": [id],
            "filter": format!("tags.`tracker.run_id` = '{run_id}'"),
        }),
    );
    found["runs"].as_array().cloned().unwrap_or_default()
}

fn tag<'a>(run: &'a Value, key: &str) -> Option<&'a str> {
    run["data"]["tags"]
        .as_array()?
        .iter()
        .find(|t| t["key"] == key)
        .and_then(|t| t["value"].as_str())
}

fn metric_keys(run: &Value) -> Vec<String> {
    run["data"]["metrics"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| m["key"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn history(uri: &str, run: &Value, key: &str) -> Vec<Value> {
    let id = run["info"]["run_id"].as_str().unwrap();
    get(
        uri,
        "mlflow/metrics/get-history",
        &[("run_id", id), ("metric_key", key)],
    )["metrics"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn artifacts(uri: &str, run: &Value) -> Vec<String> {
    let id = run["info"]["run_id"].as_str().unwrap();
    let mut names: Vec<String> = get(uri, "mlflow/artifacts/list", &[("run_id", id)])["files"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

fn download(uri: &str, run: &Value, name: &str) -> Vec<u8> {
    let artifact_uri = run["info"]["artifact_uri"].as_str().unwrap();
    let path = artifact_uri.strip_prefix("mlflow-artifacts:/").unwrap();
    let mut response = agent()
        .get(format!(
            "{uri}/api/2.0/mlflow-artifacts/artifacts/{path}/{name}"
        ))
        .call()
        .unwrap();
    assert_eq!(response.status(), 200);
    response.body_mut().read_to_vec().unwrap()
}

// ---------------------------------------------------------------- runs

/// A pipeline `name` whose second step writes progress for about a second
/// and ends with `last`.
fn pipeline(dir: &Path, name: &str, last: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"[pipeline]
name = "{name}"

[[steps]]
id = "prepare"
run = 'sleep 0.3'

[[steps]]
id = "train"
run = 'for i in 1 2 3 4 5 6 7 8 9 10; do sleep 0.1; echo "{{\"steps\": $((i*20))}}" >> "$TRACKER_PROGRESS"; done; {last}'
"#
        ),
    )
    .unwrap();
    path
}

/// A name no other test (or earlier run of this one) uses.
fn unique(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{nanos}-{n}", std::process::id())
}

/// `tracker` with MLflow's own variables cleared.
fn tracker_cmd(root: &Path) -> Command {
    let mut cmd = command();
    cmd.env_remove("MLFLOW_TRACKING_URI")
        .env_remove("MLFLOW_EXPERIMENT_NAME")
        .env_remove("MLFLOW_TRACKING_TOKEN")
        .env_remove("MLFLOW_TRACKING_USERNAME")
        .env_remove("MLFLOW_TRACKING_PASSWORD")
        .arg("--artifact-root")
        .arg(root);
    cmd
}

fn run_with(root: &Path, pipeline: &Path, extra: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let out = tracker_cmd(root)
        .arg("run")
        .arg(pipeline)
        .args(["--plain", "--interval", "0.2"])
        .args(extra)
        .output()
        .unwrap();
    (out, started.elapsed())
}

/// The id and directory of the only run under `root`.
fn only_run(root: &Path) -> (String, PathBuf) {
    let dirs: Vec<PathBuf> = std::fs::read_dir(root.join("run-tracker"))
        .unwrap()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let id = dirs[0].file_name().unwrap().to_string_lossy().into_owned();
    (id, dirs[0].clone())
}

fn mirror_state(run_dir: &Path) -> Value {
    let text = std::fs::read_to_string(run_dir.join("mlflow.json")).unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["mirrors"][0].clone()
}

fn warnings(err: &str) -> Vec<&str> {
    err.lines()
        .filter(|l| l.starts_with("warning: MLflow mirror"))
        .collect()
}

// ---------------------------------------------------------------- tests

#[test]
fn completed_failed_and_cancelled_runs_are_mirrored_live() {
    let Some(server) = server() else { return };
    let uri = server.uri.as_str();
    let tmp = tempfile::tempdir().unwrap();
    for (last, code, status, word) in [
        ("true", Some(0), "FINISHED", "completed"),
        ("exit 3", Some(1), "FAILED", "failed"),
    ] {
        let name = unique(word);
        let root = tmp.path().join(&name);
        let (out, _) = run_with(
            &root,
            &pipeline(tmp.path(), &name, last),
            &["--mlflow", uri],
        );
        assert_eq!(out.status.code(), code, "{}", stderr(&out));
        assert!(warnings(&stderr(&out)).is_empty(), "{}", stderr(&out));
        let (run_id, run_dir) = only_run(&root);
        let runs = mlflow_runs(uri, &name, &run_id);
        assert_eq!(runs.len(), 1, "one MLflow run per tracker run");
        let run = &runs[0];
        // `show --format json` says where: the mirror's own state.
        let shown = tracker_cmd(&root)
            .args(["show", &run_id, "--format", "json"])
            .output()
            .unwrap();
        let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
        assert_eq!(shown["mlflow"][0], mirror_state(&run_dir));
        assert_eq!(shown["mlflow"][0]["tracking_uri"], uri);
        assert_eq!(shown["mlflow"][0]["mlflow_run_id"], run["info"]["run_id"]);
        assert_eq!(shown["mlflow"][0]["complete"], true);
        assert_eq!(run["info"]["status"], status);
        assert_eq!(run["info"]["run_name"], run_id.as_str());
        assert!(
            run["info"]["end_time"].as_i64().unwrap()
                >= run["info"]["start_time"].as_i64().unwrap()
        );
        assert_eq!(tag(run, "tracker.status"), Some(word));
        assert_eq!(tag(run, "tracker.pipeline"), Some(name.as_str()));
        assert!(tag(run, "tracker.host").is_some());
        assert!(tag(run, "tracker.command").unwrap().contains("--mlflow"));
        let keys = metric_keys(run);
        for key in [
            "system/cpu_utilization_percentage",
            "system/system_memory_usage_megabytes",
            "system/process_memory_rss_megabytes",
            "steps/prepare/duration_seconds",
            "steps/train/duration_seconds",
            "steps/duration_seconds",
            "run/duration_seconds",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} not in {keys:?}");
        }
        // Every sample, each once, at its index.
        let telemetry = std::fs::read_to_string(run_dir.join("telemetry.jsonl")).unwrap();
        let samples = telemetry.lines().count();
        // (The first sample has no CPU figure yet: no interval to measure.)
        let memory = history(uri, run, "system/system_memory_usage_megabytes");
        let mut steps: Vec<i64> = memory.iter().map(|m| m["step"].as_i64().unwrap()).collect();
        steps.sort_unstable();
        assert_eq!(steps, (0..samples as i64).collect::<Vec<_>>());
        assert_eq!(history(uri, run, "steps/duration_seconds").len(), 2);
        assert_eq!(
            artifacts(uri, run),
            [
                "manifest.jsonl",
                "recommendations.json",
                "report.html",
                "summary.json"
            ]
        );
        assert_eq!(
            download(uri, run, "summary.json"),
            std::fs::read(run_dir.join("summary.json")).unwrap()
        );
        let state = mirror_state(&run_dir);
        assert_eq!(state["complete"], true, "{state}");
        assert_eq!(state["mlflow_run_id"], run["info"]["run_id"]);
        let shown = stdout(
            &tracker_cmd(&root)
                .args(["show", "latest"])
                .output()
                .unwrap(),
        );
        assert!(
            shown.contains(&format!(
                "mlflow     mirrored to {uri}, experiment `{name}`"
            )),
            "{shown}"
        );
    }

    // Cancelled by SIGTERM in the middle of a step: KILLED.
    let name = unique("cancelled");
    let root = tmp.path().join(&name);
    let path = tmp.path().join(format!("{name}.toml"));
    let marker = tmp.path().join(format!("{name}.started"));
    std::fs::write(
        &path,
        format!(
            "[pipeline]\nname = \"{name}\"\n[[steps]]\nid = \"wait\"\nrun = 'touch {}; sleep 30'\n",
            marker.display()
        ),
    )
    .unwrap();
    let child = tracker_cmd(&root)
        .arg("run")
        .arg(&path)
        .args(["--plain", "--mlflow", uri])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !marker.exists() {
        assert!(Instant::now() < deadline, "the step never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(warnings(&stderr(&out)).is_empty(), "{}", stderr(&out));
    let (run_id, _) = only_run(&root);
    let runs = mlflow_runs(uri, &name, &run_id);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["info"]["status"], "KILLED");
    assert_eq!(tag(&runs[0], "tracker.status"), Some("cancelled"));
}

#[test]
fn offline_then_sync_twice_never_duplicates() {
    let Some(server) = server() else { return };
    let uri = server.uri.as_str();
    let tmp = tempfile::tempdir().unwrap();
    let name = unique("offline");
    let root = tmp.path().join("root");
    // Nothing listens on this port.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let (out, _) = run_with(
        &root,
        &pipeline(tmp.path(), &name, "true"),
        &["--mlflow", &dead],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(warnings(&err).len(), 1, "warned once: {err}");
    assert!(warnings(&err)[0].contains(&dead), "{err}");
    let (run_id, run_dir) = only_run(&root);
    let state = mirror_state(&run_dir);
    assert_eq!(state["complete"], false);
    assert_eq!(state["pending"], json!(["the whole run"]));
    let shown = stdout(
        &tracker_cmd(&root)
            .args(["show", "latest"])
            .output()
            .unwrap(),
    );
    assert!(shown.contains("mlflow     not mirrored yet to"), "{shown}");

    let sync = |args: &[&str]| {
        let out = tracker_cmd(&root)
            .args(["sync", "--mlflow", uri])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
    };
    let first = sync(&[]);
    assert!(
        first.starts_with(&format!("{run_id}  mirrored: {uri}")),
        "{first}"
    );
    let second = sync(&[]);
    assert!(
        second.starts_with(&format!("{run_id}  already mirrored")),
        "{second}"
    );
    // Without its state file, the run is found again by its tag and
    // completed: still one run, each metric value once.
    std::fs::remove_file(run_dir.join("mlflow.json")).unwrap();
    let third = sync(&[&run_id]);
    assert!(
        third.starts_with(&format!("{run_id}  completed: {uri}")),
        "{third}"
    );

    let runs = mlflow_runs(uri, &name, &run_id);
    assert_eq!(runs.len(), 1, "never duplicated");
    let run = &runs[0];
    assert_eq!(run["info"]["status"], "FINISHED");
    let samples = std::fs::read_to_string(run_dir.join("telemetry.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(
        history(uri, run, "system/system_memory_usage_megabytes").len(),
        samples
    );
    assert_eq!(history(uri, run, "steps/duration_seconds").len(), 2);
    assert_eq!(artifacts(uri, run).len(), 4);
    let shown = stdout(
        &tracker_cmd(&root)
            .args(["show", "latest"])
            .output()
            .unwrap(),
    );
    assert!(
        shown.contains(&format!("mlflow     mirrored to {uri}")),
        "{shown}"
    );
}

/// A proxy to `upstream` (`http://HOST:PORT`) that drops every connection
/// until `up` is set, then forwards them: a server that is down, then back.
fn flaky_proxy(upstream: &str, up: Arc<AtomicBool>) -> String {
    let target = upstream.trim_start_matches("http://").to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let uri = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            if !up.load(Ordering::SeqCst) {
                drop(client);
                continue;
            }
            let Ok(server) = TcpStream::connect(&target) else {
                continue;
            };
            let pipe = |mut from: TcpStream, mut to: TcpStream| {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(Shutdown::Write);
                });
            };
            pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
            pipe(server, client);
        }
    });
    uri
}

#[test]
fn a_server_that_comes_back_is_caught_up_and_mirrored_live() {
    let Some(server) = server() else { return };
    let uri = server.uri.as_str();
    let tmp = tempfile::tempdir().unwrap();
    let name = unique("comeback");
    let up = Arc::new(AtomicBool::new(false));
    let proxy = flaky_proxy(uri, Arc::clone(&up));
    let path = tmp.path().join("comeback.toml");
    std::fs::write(
        &path,
        format!(
            "[pipeline]\nname = \"{name}\"\n\n[[steps]]\nid = \"train\"\n\
             run = 'i=0; while [ ! -e release ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done'\n"
        ),
    )
    .unwrap();
    let root = tmp.path().join("root");
    // The step waits for `release`, or a minute: a failed test leaves no
    // run behind for long.
    let child = tracker_cmd(&root)
        .arg("run")
        .arg(&path)
        .args(["--plain", "--interval", "0.2", "--mlflow", &proxy])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let state_of = || {
        let dir = std::fs::read_dir(root.join("run-tracker"))
            .ok()?
            .flatten()
            .find(|e| !e.file_name().to_string_lossy().starts_with('.'))?
            .path();
        let text = std::fs::read_to_string(dir.join("mlflow.json")).ok()?;
        serde_json::from_str::<Value>(&text).ok()
    };
    let wait = |what: &str, done: &dyn Fn(&Value) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if state_of().is_some_and(|s| done(&s["mirrors"][0])) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    // Down: the first request fails, and the mirror says so.
    wait("the failure", &|m| m["last_error"].is_string());
    up.store(true, Ordering::SeqCst);
    // Back: a later try catches up and the mirror goes on live.
    wait("the catch-up", &|m| {
        m["last_error"].is_null() && m["mlflow_run_id"].is_string()
    });
    let caught_up = state_of().unwrap()["mirrors"][0]["samples_sent"]
        .as_u64()
        .unwrap() as usize;
    // Live again: samples taken after the catch-up reach the server as
    // they come (every 2 s), before the run ends.
    let (run_id, _) = only_run(&root);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let runs = mlflow_runs(uri, &name, &run_id);
        let sent = runs.first().map_or(0, |run| {
            history(uri, run, "system/system_memory_usage_megabytes").len()
        });
        if sent >= caught_up + 5 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for live samples"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::fs::write(tmp.path().join("release"), "").unwrap();
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let said = warnings(&err);
    assert_eq!(said.len(), 2, "the failure, then the return: {err}");
    assert!(
        said[0].contains(&proxy) && said[0].contains("tries the server again"),
        "{err}"
    );
    assert!(
        said[1].contains("answers again") && said[1].contains("goes on live"),
        "{err}"
    );

    let (_, run_dir) = only_run(&root);
    let state = mirror_state(&run_dir);
    assert_eq!(state["complete"], true, "{state}");
    assert_eq!(state["pending"], json!([]), "{state}");
    let runs = mlflow_runs(uri, &name, &run_id);
    assert_eq!(runs.len(), 1, "one MLflow run");
    assert_eq!(runs[0]["info"]["status"], "FINISHED");
    // Every sample once, those of the outage included: no gap, no repeat.
    let samples = std::fs::read_to_string(run_dir.join("telemetry.jsonl"))
        .unwrap()
        .lines()
        .count();
    let mut steps: Vec<i64> = history(uri, &runs[0], "system/system_memory_usage_megabytes")
        .iter()
        .map(|m| m["step"].as_i64().unwrap())
        .collect();
    steps.sort_unstable();
    let expected: Vec<i64> = (0..samples as i64).collect();
    assert_eq!(steps, expected);
    assert_eq!(history(uri, &runs[0], "steps/duration_seconds").len(), 1);
}

#[test]
fn an_abandoned_run_is_marked_killed_when_next_synced() {
    let Some(server) = server() else { return };
    let uri = server.uri.as_str();
    let tmp = tempfile::tempdir().unwrap();
    let name = unique("abandoned");
    let root = tmp.path().join("root");
    let path = tmp.path().join("p.toml");
    let marker = tmp.path().join("started");
    std::fs::write(
        &path,
        format!(
            "[pipeline]\nname = \"{name}\"\n[[steps]]\nid = \"first\"\nrun = 'true'\n\
             [[steps]]\nid = \"wait\"\nrun = 'touch {}; sleep 30'\n",
            marker.display()
        ),
    )
    .unwrap();
    let mut child = tracker_cmd(&root)
        .arg("run")
        .arg(&path)
        .args(["--plain", "--mlflow", uri])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (run_id, run_dir) = loop {
        // Live on the server before the writer dies.
        if marker.exists()
            && let Ok(entries) = std::fs::read_dir(root.join("run-tracker"))
            && let Some(dir) = entries.flatten().map(|e| e.path()).find(|p| {
                std::fs::read_to_string(p.join("mlflow.json"))
                    .is_ok_and(|s| s.contains("\"first\""))
            })
        {
            break (dir.file_name().unwrap().to_string_lossy().into_owned(), dir);
        }
        assert!(Instant::now() < deadline, "the run never got mirrored");
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap(); // SIGKILL: the writer dies, the run is abandoned
    child.wait().unwrap();
    let runs = mlflow_runs(uri, &name, &run_id);
    assert_eq!(runs[0]["info"]["status"], "RUNNING");

    let out = tracker_cmd(&root)
        .args(["sync", "--mlflow", uri])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("marked abandoned"),
        "{}",
        stdout(&out)
    );
    let runs = mlflow_runs(uri, &name, &run_id);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["info"]["status"], "KILLED");
    assert_eq!(tag(&runs[0], "tracker.abandoned"), Some("true"));
    assert_eq!(tag(&runs[0], "tracker.status"), Some("abandoned"));
    assert_eq!(mirror_state(&run_dir)["complete"], true);
}

/// Accepts connections and never answers; returns its URI.
fn hanging_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let uri = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream); // open, silent
        }
    });
    uri
}

/// Answers every request with HTTP 500 and an MLflow error body.
fn refusing_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let uri = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 65536];
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = stream.read(&mut buf);
            let body = r#"{"error_code": "INTERNAL_ERROR", "message": "database is locked"}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    uri
}

#[test]
fn a_hanging_server_neither_slows_nor_blocks_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let path = pipeline(tmp.path(), "hang", "true");
    let uri = hanging_server();
    let (plain, without) = run_with(&tmp.path().join("a"), &path, &[]);
    assert_eq!(plain.status.code(), Some(0), "{}", stderr(&plain));
    let (out, with) = run_with(&tmp.path().join("b"), &path, &["--mlflow", &uri]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    // Generous: a request may take 10 s before it times out, and the run
    // must not wait for it.
    assert!(
        with < without + Duration::from_secs(3),
        "with a hanging server {with:?}, without a mirror {without:?}"
    );
    let said = warnings(&err);
    assert_eq!(said.len(), 1, "warned once: {err}");
    assert!(
        said[0].contains(&uri) && said[0].contains("mlflow.json"),
        "{err}"
    );
    let (_, run_dir) = only_run(&tmp.path().join("b"));
    let state = mirror_state(&run_dir);
    assert_eq!(state["pending"], json!(["the whole run"]), "{state}");
}

#[test]
fn a_refusing_server_is_named_once_and_the_run_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let path = pipeline(tmp.path(), "refused", "true");
    let uri = refusing_server();
    let root = tmp.path().join("root");
    let (out, _) = run_with(&root, &path, &["--mlflow", &uri]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let said = warnings(&err);
    assert_eq!(said.len(), 1, "{err}");
    assert!(
        said[0].contains("HTTP 500 INTERNAL_ERROR: database is locked"),
        "{err}"
    );
    let (_, run_dir) = only_run(&root);
    assert!(
        mirror_state(&run_dir)["last_error"]
            .as_str()
            .unwrap()
            .contains("database is locked")
    );
    // `sync` says so too, and fails.
    let out = tracker_cmd(&root)
        .args(["sync", "--mlflow", &uri])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("database is locked")
            && stderr(&out).contains("could not be mirrored"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_uris_are_refused_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let path = pipeline(tmp.path(), "bad", "true");
    let root = tmp.path().join("root");
    let out = tracker_cmd(&root)
        .arg("run")
        .arg(&path)
        .args(["--mlflow", "file:///tmp/mlruns"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: MLflow tracking URI from --mlflow: invalid MLflow tracking URI \
         `file:///tmp/mlruns`: the mirror talks to a tracking server (`mlflow server`) over HTTP, \
         not `file:`; write http://HOST:PORT or https://HOST\n"
    );
    assert!(!root.join("run-tracker").exists(), "nothing ran");
    // --mlflow alone needs somewhere to look.
    let out = tracker_cmd(&root)
        .arg("run")
        .arg(&path)
        .arg("--mlflow")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--mlflow without a URI needs $MLFLOW_TRACKING_URI"));
    let out = tracker_cmd(&root)
        .arg("run")
        .arg(&path)
        .arg("--mlflow")
        .env("MLFLOW_TRACKING_URI", "localhost:5000")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            "from $MLFLOW_TRACKING_URI: invalid MLflow tracking URI `localhost:5000`: no scheme"
        ),
        "{}",
        stderr(&out)
    );
    let out = tracker_cmd(&root).args(["sync"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no MLflow tracking server"),
        "{}",
        stderr(&out)
    );
}

/// `--mlflow` takes an optional URI: written before the pipeline file it
/// would take the file. A URI has a scheme, so a value without one is the
/// pipeline, and the URI the default; `--mlflow=VALUE` is always the URI.
#[test]
fn mlflow_before_the_pipeline_file_leaves_it_the_pipeline() {
    let tmp = tempfile::tempdir().unwrap();
    let path = pipeline(tmp.path(), "before", "true");
    let root = tmp.path().join("root");
    let dead = format!("http://127.0.0.1:{}", free_port());
    let out = tracker_cmd(&root)
        .args(["run", "--mlflow"])
        .arg(&path)
        .args(["--plain", "--no-telemetry"])
        .env("MLFLOW_TRACKING_URI", &dead)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        warnings(&err).iter().any(|w| w.contains(&dead)),
        "mirrored to the default URI: {err}"
    );
    let (_, run_dir) = only_run(&root);
    assert_eq!(mirror_state(&run_dir)["complete"], false);
    // Given with `=`, the value is the URI, and the pipeline is missing.
    let out = tracker_cmd(&tmp.path().join("other"))
        .arg("run")
        .arg(format!("--mlflow={}", path.display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("required arguments were not provided"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn tracker_toml_turns_the_mirror_on_and_no_mlflow_off() {
    let tmp = tempfile::tempdir().unwrap();
    let dead = format!("http://127.0.0.1:{}", free_port());
    std::fs::write(
        tmp.path().join("tracker.toml"),
        format!("artifact_root = \"out\"\n[mlflow]\nuri = \"{dead}\"\nexperiment = \"robots\"\n"),
    )
    .unwrap();
    let path = pipeline(tmp.path(), "project", "true");
    let run = |extra: &[&str]| {
        let mut cmd = command();
        cmd.env_remove("MLFLOW_TRACKING_URI")
            .env_remove("MLFLOW_EXPERIMENT_NAME")
            .current_dir(tmp.path())
            .arg("run")
            .arg(&path)
            .args(["--plain"])
            .args(extra);
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stderr(&out)
    };
    let err = run(&[]);
    assert_eq!(warnings(&err).len(), 1, "{err}");
    assert!(warnings(&err)[0].contains(&dead), "{err}");
    let (_, first) = only_run(&tmp.path().join("out"));
    assert_eq!(mirror_state(&first)["tracking_uri"], dead.as_str());
    std::fs::remove_dir_all(tmp.path().join("out")).unwrap();
    let err = run(&["--no-mlflow"]);
    assert!(warnings(&err).is_empty(), "{err}");
    let (_, second) = only_run(&tmp.path().join("out"));
    assert!(!second.join("mlflow.json").exists());
}
