//! Many `tracker run` processes on one artifact root (SPEC §4): unique run
//! ids, whole lines, retention that never deletes a live run and ends at
//! its count, and one owner per run id.

use std::collections::BTreeSet;
use std::process::{Child, Stdio};

use manifest::{RunState, files};

use crate::common::{count_from_env, listing, text, tracker, write_pipeline};

/// Each run records its id in a ledger outside the root, checks that its own
/// run directory is still there at the end of each step (a live run pruned
/// by a neighbour's retention would not be), and samples fast so that
/// telemetry lines are written while the neighbours write theirs.
const PIPELINE: &str = r#"
[pipeline]
name = "crowd"

[[steps]]
id = "start"
run = 'echo "$TRACKER_RUN_ID" >> "$LEDGER/ids"; sleep 0.3; test -f "$TRACKER_RUN_DIR/manifest.jsonl" || echo "$TRACKER_RUN_ID" >> "$LEDGER/pruned"'

[[steps]]
id = "work"
run = 'for i in 1 2 3 4 5; do echo "{\"steps\": $i}" >> "$TRACKER_PROGRESS"; sleep 0.05; done; test -f "$TRACKER_RUN_DIR/manifest.jsonl" || echo "$TRACKER_RUN_ID" >> "$LEDGER/pruned"'
"#;

#[test]
fn eight_runs_at_once_repeatedly_with_default_retention() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write_pipeline(dir.path(), "pipeline.toml", PIPELINE);
    let root = dir.path().join("root");
    let ledger = dir.path().join("ledger");
    std::fs::create_dir(&ledger).unwrap();
    let rounds = count_from_env("TRACKER_CROWD_ROUNDS", 3);
    let at_once = 8;
    for round in 0..rounds {
        let children: Vec<Child> = (0..at_once)
            .map(|_| {
                tracker(&root)
                    .args(["run", "--plain", "--interval", "0.2"])
                    .arg(&pipeline)
                    .env("LEDGER", &ledger)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "round {round}: {}", text(&out.stderr));
        }
    }
    let total = rounds * at_once;
    let ids = std::fs::read_to_string(ledger.join("ids")).unwrap();
    let ids: Vec<&str> = ids.lines().collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), total, "every run started its first step");
    assert_eq!(unique.len(), total, "run ids collided: {ids:?}");
    assert!(
        !ledger.join("pruned").exists(),
        "a live run was pruned: {}",
        std::fs::read_to_string(ledger.join("pruned")).unwrap_or_default()
    );

    let listing = listing(&root);
    assert!(listing.warnings.is_empty(), "{:?}", listing.warnings);
    let kept = total.min(20);
    assert_eq!(listing.runs.len(), kept, "the default retention keeps 20");
    for run in &listing.runs {
        assert_eq!(run.state, RunState::Completed);
        assert!(unique.contains(run.run_id()));
        // Whole lines only: every telemetry line parses.
        let mut samples = 0;
        let warnings = manifest::read_jsonl(
            &run.dir.join(files::TELEMETRY),
            |_, _: telemetry_model::TelemetrySnapshot| samples += 1,
        )
        .unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(samples > 0, "{}: no telemetry", run.run_id());
    }
    // The newest runs are the ones kept.
    let newest: BTreeSet<&str> = ids[total - kept..].iter().copied().collect();
    let listed: BTreeSet<&str> = listing.runs.iter().map(|r| r.run_id()).collect();
    assert!(
        listed.len() == kept && newest.len() == kept,
        "{listed:?} vs {newest:?}"
    );
}

#[test]
fn two_writers_for_one_run_id_one_wins_the_other_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write_pipeline(
        dir.path(),
        "pipeline.toml",
        "[pipeline]\nname = \"duel\"\n[[steps]]\nid = \"a\"\nrun = \"sleep 0.3\"\n",
    );
    let root = dir.path().join("root");
    let children: Vec<Child> = (0..2)
        .map(|_| {
            tracker(&root)
                .args(["run", "--plain", "--run-id", "nightly-1"])
                .arg(&pipeline)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let codes: Vec<_> = outputs.iter().map(|o| o.status.code()).collect();
    assert!(
        codes.contains(&Some(0)) && codes.contains(&Some(2)),
        "{codes:?}: {}",
        outputs.iter().map(|o| text(&o.stderr)).collect::<String>()
    );
    let loser = outputs.iter().find(|o| o.status.code() == Some(2)).unwrap();
    let message = text(&loser.stderr);
    assert!(
        message.contains("nightly-1") && message.contains("exists"),
        "{message}"
    );
    let listing = listing(&root);
    assert_eq!(listing.runs.len(), 1);
    assert_eq!(
        listing.runs[0].state,
        RunState::Completed,
        "the winner is unharmed"
    );
    assert!(listing.warnings.is_empty(), "{:?}", listing.warnings);
}
