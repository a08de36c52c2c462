//! `tracker export`: files, formats, and agreement with `show`.

use crate::{fixture, redactions, stderr, stdout, tracker};

#[test]
fn json_export_round_trips_to_what_show_reads() {
    let fx = fixture::build();
    let file = fx.root().join("alpha.json");
    let out = tracker(
        fx.root(),
        &[
            "export",
            "alpha",
            "--format",
            "json",
            "--output",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let exported: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let shown = tracker(fx.root(), &["show", "alpha", "--format", "json"]);
    let shown: serde_json::Value = serde_json::from_str(&stdout(&shown)).unwrap();
    assert_eq!(exported, shown);
    // The record inside is a model record again.
    let record: telemetry_model::PipelineRunRecord =
        serde_json::from_value(exported["record"].clone()).unwrap();
    assert_eq!(record.steps.len(), 3);
    assert_eq!(
        exported["recommendations"][0]["trigger"],
        "throughput_below_baseline"
    );
    assert_eq!(exported["perf_tests"][0]["status"], "soft-breach");
    assert_eq!(exported["status"], "completed");
}

#[test]
fn markdown_export() {
    let fx = fixture::build();
    let out = tracker(fx.root(), &["export", "beta", "--format", "markdown"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    redactions(fx.root()).bind(|| insta::assert_snapshot!("export_beta_markdown", stdout(&out)));
}

#[test]
fn export_to_a_directory_fails_cleanly_and_leaves_nothing() {
    let fx = fixture::build();
    let target = fx.root().join("somedir");
    std::fs::create_dir(&target).unwrap();
    let out = tracker(
        fx.root(),
        &[
            "export",
            "alpha",
            "--format",
            "json",
            "-o",
            target.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot write --output"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0);
    assert_eq!(
        std::fs::read_dir(fx.root()).unwrap().count(),
        2,
        "only run-tracker/ and somedir/, no temporary file"
    );
}
