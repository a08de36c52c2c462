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
    let mut exported: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    // The export also carries every telemetry sample, as model snapshots.
    let telemetry = exported
        .as_object_mut()
        .unwrap()
        .remove("telemetry")
        .unwrap();
    let samples: Vec<telemetry_model::TelemetrySnapshot> =
        serde_json::from_value(telemetry).unwrap();
    assert_eq!(samples.len(), 3);
    assert_eq!(samples[1].cpu_percent_process, Some(55.5));
    // The rest is exactly what `show` reads.
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

#[test]
fn html_export_is_one_self_contained_file() {
    let fx = fixture::build();
    let file = fx.root().join("report.html");
    let out = tracker(
        fx.root(),
        &[
            "export",
            "alpha",
            "--format",
            "html",
            "-o",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let html = std::fs::read_to_string(&file).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    for expected in [
        "alpha",
        "imitation-demo",
        "Pre-train by behaviour cloning",
        "<svg",
        "throughput_below_baseline",
        "pretrain_throughput",
        "gpu: NVML unavailable (test)",
    ] {
        assert!(html.contains(expected), "missing {expected:?}");
    }
    // Nothing to fetch: no scripts, no external stylesheets or images.
    assert!(!html.contains("<script"));
    assert!(!html.contains("src=\"http") && !html.contains("<link"));
    // Artifact links are relative to the report.
    assert!(html.contains("href=\"data/trajectories.json\"") || html.contains("trajectories.json"));
    // To stdout as well.
    let out = tracker(fx.root(), &["export", "beta", "--format", "html"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("nightly"));
}

#[test]
fn tensorboard_converts_a_run_and_replaces_its_earlier_conversion() {
    let fx = fixture::build();
    let logdir = fx.root().join("tb");
    for round in 0..2 {
        let out = tracker(
            fx.root(),
            &["tensorboard", "alpha", "--logdir", logdir.to_str().unwrap()],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stderr(&out).contains("3 samples"), "{}", stderr(&out));
        if round == 1 {
            assert!(
                stderr(&out).contains("replacing 1 earlier file"),
                "{}",
                stderr(&out)
            );
        }
    }
    let files: Vec<_> = std::fs::read_dir(logdir.join("alpha"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.starts_with("events.out.tfevents."), "{name}");
    // TFRecord framing: the first record's length and its masked CRC-32C.
    let bytes = std::fs::read(&files[0]).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let crc = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
    assert_eq!(crc, tensorboard::masked_crc32c(&bytes[..8]));
    let data = &bytes[12..12 + len];
    assert!(data.windows(13).any(|w| w == b"brain.Event:2"));
    // A live run converts once; converting it again into the same place
    // (where its live mirror could be) is refused rather than replacing it.
    let live = |expected: i32| {
        let out = tracker(
            fx.root(),
            &["tensorboard", "delta", "--logdir", logdir.to_str().unwrap()],
        );
        assert_eq!(out.status.code(), Some(expected), "{}", stderr(&out));
        stderr(&out)
    };
    live(0);
    assert!(live(2).contains("still running"));
    // A file where a directory should be is refused.
    let out = tracker(
        fx.root(),
        &[
            "tensorboard",
            "alpha",
            "--logdir",
            files[0].to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
