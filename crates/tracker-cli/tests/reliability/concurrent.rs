//! Many `tracker run` processes on one artifact root: unique run ids, whole
//! lines, retention that counts one pipeline's runs, never deletes a live
//! run or another pipeline's, announces what it deletes and ends at its
//! count, and one owner per run id (docs/artifact-layout.md).

use std::collections::BTreeSet;
use std::process::{Child, Stdio};

use manifest::{RunState, files};

use crate::common::{count_from_env, listing, text, tracker, write_pipeline};

/// Each run records its creation time (from its first record) and id in a
/// ledger outside the root, checks that its own
/// run directory is still there at the end of each step (a live run pruned
/// by a neighbour's retention would not be), and samples fast so that
/// telemetry lines are written while the neighbours write theirs.
const PIPELINE: &str = r#"
[pipeline]
name = "crowd"

[[steps]]
id = "start"
run = '''
created=$(head -n 1 "$TRACKER_RUN_DIR/manifest.jsonl" | sed 's/.*"created_at":"\([^"]*\)".*/\1/')
echo "$created $TRACKER_RUN_ID" >> "$LEDGER/ids"
sleep 0.3
test -f "$TRACKER_RUN_DIR/manifest.jsonl" || echo "$TRACKER_RUN_ID" >> "$LEDGER/pruned"
'''

[[steps]]
id = "work"
run = 'for i in 1 2 3 4 5; do echo "{\"steps\": $i}" >> "$TRACKER_PROGRESS"; sleep 0.05; done; test -f "$TRACKER_RUN_DIR/manifest.jsonl" || echo "$TRACKER_RUN_ID" >> "$LEDGER/pruned"'
"#;

/// The same pipeline name, one step that waits for `$LEDGER/release`: a
/// run that stays live while the crowd prunes around it. It gives up after
/// two minutes, so a test that fails before releasing it leaves nothing
/// running.
const LIVE_PIPELINE: &str = r#"
[pipeline]
name = "crowd"

[[steps]]
id = "wait"
run = 'i=0; while [ ! -f "$LEDGER/release" ] && [ $i -lt 2400 ]; do sleep 0.05; i=$((i + 1)); done'
"#;

/// Runs of the crowd keep the newest this many.
const KEEP: usize = 5;

#[test]
fn eight_runs_at_once_repeatedly_with_retention_across_pipelines() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write_pipeline(dir.path(), "pipeline.toml", PIPELINE);
    let live_pipeline = write_pipeline(dir.path(), "live.toml", LIVE_PIPELINE);
    let quick = crate::common::quick_pipeline(dir.path());
    let root = dir.path().join("root");
    let ledger = dir.path().join("ledger");
    std::fs::create_dir(&ledger).unwrap();

    // Older than every crowd run: a run of another pipeline, and a live
    // crowd run. Neither may be deleted by the crowd's retention.
    let out = crate::common::run(&root, &["run", "--plain", quick.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let other = listing(&root).runs[0].run_id().to_owned();
    let live = tracker(&root)
        .args([
            "run",
            "--plain",
            "--no-telemetry",
            "--keep",
            &KEEP.to_string(),
        ])
        .arg(&live_pipeline)
        .env("LEDGER", &ledger)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(crate::common::wait_until(
        std::time::Duration::from_secs(20),
        || listing(&root)
            .runs
            .iter()
            .any(|r| r.state == RunState::Running)
    ));
    let live_id = listing(&root).runs[0].run_id().to_owned();

    let rounds = count_from_env("TRACKER_CROWD_ROUNDS", 3);
    let at_once = 8;
    let mut announced = Vec::new();
    for round in 0..rounds {
        let children: Vec<Child> = (0..at_once)
            .map(|_| {
                tracker(&root)
                    .args(["run", "--plain", "--interval", "0.2", "--keep"])
                    .arg(KEEP.to_string())
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
            let stderr = text(&out.stderr);
            announced.extend(
                stderr
                    .lines()
                    .filter(|l| l.starts_with("Retention: "))
                    .map(str::to_owned),
            );
        }
    }
    let total = rounds * at_once;
    let ledger_text = std::fs::read_to_string(ledger.join("ids")).unwrap();
    // Oldest first, as retention orders runs: by creation time, then id
    // (RFC 3339 times of one format sort as text).
    let mut created: Vec<(&str, &str)> = ledger_text
        .lines()
        .map(|line| line.split_once(' ').unwrap())
        .collect();
    created.sort_unstable();
    let ids: Vec<&str> = created.iter().map(|(_, id)| *id).collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), total, "every run started its first step");
    assert_eq!(unique.len(), total, "run ids collided: {ids:?}");
    assert!(
        !ledger.join("pruned").exists(),
        "a live run was pruned: {}",
        std::fs::read_to_string(ledger.join("pruned")).unwrap_or_default()
    );
    // Every deletion was announced, with its pipeline and rule.
    assert!(!announced.is_empty(), "nothing announced");
    for line in &announced {
        assert!(
            line.starts_with("Retention: deleted ")
                && line
                    .ends_with(" of pipeline \"crowd\" (keep the newest 5 runs of each pipeline)"),
            "{line}"
        );
    }

    // The newest KEEP crowd runs, the live one, and the other pipeline's.
    let listing_now = listing(&root);
    assert!(
        listing_now.warnings.is_empty(),
        "{:?}",
        listing_now.warnings
    );
    let listed: BTreeSet<&str> = listing_now.runs.iter().map(|r| r.run_id()).collect();
    let mut want: BTreeSet<&str> = ids[total - KEEP..].iter().copied().collect();
    want.insert(&other);
    want.insert(&live_id);
    assert_eq!(listed, want);
    for run in &listing_now.runs {
        let state = if run.run_id() == live_id {
            RunState::Running
        } else {
            RunState::Completed
        };
        assert_eq!(run.state, state, "{}", run.run_id());
        if unique.contains(run.run_id()) {
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
    }

    // Once the live run ends, its own retention deletes it: it is the
    // oldest crowd run, past the newest five.
    std::fs::write(ledger.join("release"), "").unwrap();
    let out = live.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("Retention: deleted 1 run of pipeline \"crowd\""),
        "{}",
        text(&out.stderr)
    );
    let listed: BTreeSet<String> = listing(&root)
        .runs
        .iter()
        .map(|r| r.run_id().to_owned())
        .collect();
    want.remove(live_id.as_str());
    let want: BTreeSet<String> = want.into_iter().map(str::to_owned).collect();
    assert_eq!(listed, want);
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
