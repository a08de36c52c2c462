//! `tracker show` / `summary` and `tracker status`.

use crate::{fixture, redactions, stderr, stdout, tracker};

#[test]
fn show_prints_header_steps_recommendations_and_perf_tests() {
    let fx = fixture::build();
    let out = tracker(fx.root(), &["show", "alpha"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    redactions(fx.root()).bind(|| insta::assert_snapshot!("show_alpha", stdout(&out)));
    let alias = tracker(fx.root(), &["summary", "alpha"]);
    assert_eq!(alias.stdout, out.stdout, "`summary` is an alias of `show`");
}

#[test]
fn show_explains_an_abandoned_run() {
    let fx = fixture::build();
    let out = tracker(fx.root(), &["show", "gamma"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains("abandoned (recorded running, but its writer is gone; it died after step 1/3 `Collect expert trajectories` completed)"),
        "{text}"
    );
}

#[test]
fn run_arguments_resolve_by_id_prefix_and_latest() {
    let fx = fixture::build();
    let id_of = |arg: &str| {
        let out = tracker(fx.root(), &["show", arg, "--format", "json"]);
        assert_eq!(out.status.code(), Some(0), "{arg}: {}", stderr(&out));
        let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        doc["run_id"].as_str().unwrap().to_owned()
    };
    assert_eq!(id_of("alpha"), "alpha");
    assert_eq!(id_of("alp"), "alpha");
    assert_eq!(id_of("latest"), "delta");
    assert_eq!(id_of("g"), "gamma");
}

#[test]
fn show_json_tells_where_the_run_is_mirrored_to_mlflow() {
    let fx = fixture::build();
    let show_json = || {
        let out = tracker(fx.root(), &["show", "alpha", "--format", "json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        serde_json::from_str::<serde_json::Value>(&stdout(&out)).unwrap()
    };
    // Never mirrored: an empty list.
    let doc = show_json();
    assert_eq!(doc["mlflow"], serde_json::json!([]));
    let state = std::path::Path::new(doc["artifact_dir"].as_str().unwrap()).join("mlflow.json");

    // As the mirror leaves it (the file's own shape, one entry a server).
    std::fs::write(
        &state,
        r#"{"mirrors": [{"tracking_uri": "http://mlflow.example.org:5000", "experiment_name": "robots",
            "experiment_id": "7", "mlflow_run_id": "f00d", "complete": false,
            "pending": ["2 telemetry samples"], "last_error": "connection refused"}]}"#,
    )
    .unwrap();
    let doc = show_json();
    let mirror = &doc["mlflow"][0];
    assert_eq!(mirror["tracking_uri"], "http://mlflow.example.org:5000");
    assert_eq!(mirror["experiment_name"], "robots");
    assert_eq!(mirror["mlflow_run_id"], "f00d");
    assert_eq!(mirror["complete"], false);
    assert_eq!(
        mirror["pending"],
        serde_json::json!(["2 telemetry samples"])
    );
    assert_eq!(mirror["last_error"], "connection refused");
    assert_eq!(doc["warnings"], serde_json::json!([]));

    // Damaged: said among the warnings, never an error.
    std::fs::write(&state, "{not json").unwrap();
    let doc = show_json();
    assert_eq!(doc["mlflow"], serde_json::json!([]));
    let warnings = doc["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .contains("mlflow.json: not a mirror state file: "),
        "{warnings:?}"
    );
}

#[test]
fn status_of_a_live_run_names_the_step_and_the_writer() {
    let fx = fixture::build();
    let out = tracker(fx.root(), &["status", "delta"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("Run delta (imitation-demo): running, writer alive"),
        "{text}"
    );
    assert!(
        text.contains("Step 2/3 – Pre-train by behaviour cloning (50%, elapsed "),
        "the persisted live progress: {text}"
    );
    assert!(text.contains(") – epoch 3/10\n"), "{text}");
    assert!(
        text.contains("1/3 steps completed; last completed: Collect expert trajectories"),
        "{text}"
    );

    let out = tracker(fx.root(), &["status", "delta", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["current_step"]["step_id"], "pretrain");
    assert_eq!(doc["current_step"]["fraction"], 0.5);
    assert_eq!(doc["current_step"]["steps_per_sec"], 200.0);
    assert_eq!(doc["current_step"]["message"], "epoch 3/10");
    assert!(doc["eta_seconds"].is_number(), "{doc}");
    // The live band, counted down as the ETA is: both ends shrink by the
    // same age, so their gap stays 50 s.
    let [low, high] = [0, 1].map(|i| doc["eta_range_seconds"][i].as_f64().unwrap());
    assert!(high >= low, "{doc}");

    let out = tracker(fx.root(), &["status", "gamma", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["status"], "abandoned");
    assert_eq!(doc["writer_alive"], false);
    assert_eq!(doc["current_step"], serde_json::Value::Null);
    assert_eq!(doc["last_completed_step"], "Collect expert trajectories");

    // Without an argument, status shows the latest run.
    let out = tracker(fx.root(), &["status"]);
    assert!(stdout(&out).starts_with("Run delta"), "{}", stdout(&out));
}
