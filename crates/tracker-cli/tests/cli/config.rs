//! The project file, `tracker.toml`: runs belong to the project, whatever
//! directory `tracker` starts in; settings resolve flag > environment >
//! `tracker.toml` > default; `tracker config` says what is in force and
//! why; a command that finds nothing says where it looked.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::{stderr, stdout};

/// `tracker ARGS…` started in `cwd`, without `--artifact-root` and with
/// `env` set (every variable that could point elsewhere removed first).
fn tracker_in(cwd: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = crate::command();
    command
        .current_dir(cwd)
        .args(args)
        .env_remove("MLFLOW_TRACKING_URI")
        .env_remove("MLFLOW_EXPERIMENT_NAME");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("run tracker")
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tracker.toml"),
        "artifact_root = \"runs\"\n\n[retention]\nkeep = 2\n\n[telemetry]\ninterval = 0.5\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("pipelines/deep")).unwrap();
    std::fs::write(
        dir.path().join("pipelines/p.toml"),
        "[pipeline]\nname = \"p\"\n[[steps]]\nid = \"s\"\nrun = \"true\"\n",
    )
    .unwrap();
    dir
}

#[test]
fn runs_belong_to_the_project_from_any_subdirectory() {
    let dir = project();
    let deep = dir.path().join("pipelines/deep");
    for _ in 0..3 {
        let out = tracker_in(&deep, &[], &["run", "--plain", "../p.toml"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    // Written under the project's root, whatever the working directory.
    let runs = std::fs::read_dir(dir.path().join("runs/run-tracker"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| {
            e.file_type().unwrap().is_dir() && !e.file_name().to_string_lossy().starts_with('.')
        })
        .count();
    assert_eq!(runs, 2, "[retention] keep = 2 applies to tracker run");
    assert!(
        !deep.join("output").exists(),
        "nothing written in the working directory"
    );
    // And listed from the project's top as from its subdirectories.
    for cwd in [dir.path().to_owned(), deep.clone()] {
        let out = tracker_in(&cwd, &[], &["list", "--format", "json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let listed: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(listed.len(), 2);
    }
    // `latest` resolves in the project's root too.
    let out = tracker_in(&deep, &[], &["show", "latest", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn config_says_what_is_in_force_and_where_it_comes_from() {
    let dir = project();
    let deep = dir.path().join("pipelines/deep");
    let out = tracker_in(&deep, &[], &["config", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let root = dir.path().join("runs");
    assert_eq!(
        doc["project_file"],
        dir.path().join("tracker.toml").display().to_string()
    );
    assert_eq!(doc["artifact_root"]["path"], root.display().to_string());
    assert_eq!(doc["artifact_root"]["source"], "tracker.toml");
    assert_eq!(doc["retention"]["keep"], 2);
    assert_eq!(doc["telemetry"]["interval_seconds"], 0.5);
    assert_eq!(doc["telemetry"]["interval_source"], "tracker.toml");

    // The environment beats the file; the flag beats the environment.
    let out = tracker_in(
        &deep,
        &[("TRACKER_ARTIFACT_ROOT", "/tmp/elsewhere")],
        &["config"],
    );
    let text = stdout(&out);
    assert!(
        text.contains("artifact root:  /tmp/elsewhere ($TRACKER_ARTIFACT_ROOT)"),
        "{text}"
    );
    let out = tracker_in(
        &deep,
        &[("TRACKER_ARTIFACT_ROOT", "/tmp/elsewhere")],
        &["--artifact-root", "/tmp/flagged", "config"],
    );
    let text = stdout(&out);
    assert!(
        text.contains("artifact root:  /tmp/flagged (--artifact-root)"),
        "{text}"
    );

    // Without a project file: the default, said so.
    let bare = tempfile::tempdir().unwrap();
    let out = tracker_in(bare.path(), &[], &["config"]);
    let text = stdout(&out);
    assert!(
        text.contains("project file:   none (tracker.toml not found here or above)"),
        "{text}"
    );
    assert!(text.contains("(default)"), "{text}");
    assert!(
        text.contains("retention:      keep every run (default"),
        "{text}"
    );
    assert!(
        text.contains(
            "mlflow:         off (default; --mlflow [URI] for one run), server none \
             ($MLFLOW_TRACKING_URI or [mlflow] uri in tracker.toml), experiment the \
             pipeline's name (default)"
        ),
        "{text}"
    );
}

#[test]
fn config_says_where_runs_are_mirrored_to_mlflow() {
    let dir = project();
    let file = dir.path().join("tracker.toml");
    let mut toml = std::fs::read_to_string(&file).unwrap();
    toml.push_str("\n[mlflow]\nuri = \"http://mlflow:5000\"\nexperiment = \"robots\"\n");
    std::fs::write(&file, toml).unwrap();
    let out = tracker_in(dir.path(), &[], &["config", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        doc["mlflow"],
        serde_json::json!({
            "every_run": true, "every_run_source": "tracker.toml",
            "uri": "http://mlflow:5000", "uri_source": "tracker.toml",
            "experiment": "robots", "experiment_source": "tracker.toml",
        })
    );
    // The environment's server and experiment win over the file's; the
    // file still mirrors every run.
    let out = tracker_in(
        dir.path(),
        &[
            ("MLFLOW_TRACKING_URI", "https://ml.example"),
            ("MLFLOW_EXPERIMENT_NAME", "lab"),
        ],
        &["config"],
    );
    let text = stdout(&out);
    assert!(
        text.contains(
            "mlflow:         every run (tracker.toml; --no-mlflow for one run), server \
             https://ml.example ($MLFLOW_TRACKING_URI), experiment lab ($MLFLOW_EXPERIMENT_NAME)"
        ),
        "{text}"
    );
}

#[test]
fn finding_nothing_says_where_it_looked_and_how_to_look_elsewhere() {
    let bare = tempfile::tempdir().unwrap();
    let out = tracker_in(bare.path(), &[], &["list"]);
    assert_eq!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(err.contains("no runs under output/run-tracker"), "{err}");
    assert!(err.contains("the default ./output"), "{err}");
    assert!(
        err.contains(
            "--artifact-root DIR, $TRACKER_ARTIFACT_ROOT or artifact_root in tracker.toml"
        ),
        "{err}"
    );

    let dir = project();
    let out = tracker_in(dir.path(), &[], &["show", "latest"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("no run matches `latest`"), "{err}");
    assert!(err.contains("from artifact_root in"), "{err}");
}

#[test]
fn a_broken_project_file_is_a_clear_error_naming_its_line() {
    let dir = project();
    std::fs::write(
        dir.path().join("tracker.toml"),
        "[retention]\nkeep = \"all\"\n",
    )
    .unwrap();
    let out = tracker_in(&dir.path().join("pipelines"), &[], &["list"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "error: {}:2: invalid type",
            dir.path().join("tracker.toml").display()
        )),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
