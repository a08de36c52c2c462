//! What `tracker show latest`, `tracker status latest` and `tracker show
//! PREFIX` cost as the history grows: the same at 10,000 runs as at 100
//! (target: median at 10,000 ÷ median at 100 ≤ 2; docs/perf.md).
//!
//! Three artifact roots are built through the public API, outside timing:
//! 100, 1,000 and 10,000 completed runs of a five-step pipeline (twelve
//! record lines each, as `tracker run` writes them), created five minutes
//! apart, each in the directory named by its UUIDv7 id, as the tracker
//! names runs, and left still for 3.5 s, as a history is between runs (a
//! prefix is looked up in the names `run-tracker/.index/names` recorded
//! once the directory has stood still for 3 s; within 3 s of a change it
//! lists the directory). Then each command runs as a real process (the release
//! `tracker` binary), in rounds that visit the three roots in rotating
//! order, so that the machine's noise falls on all of them alike. The
//! figures are the medians of the wall time per command and root, and the
//! ratios to the 100-run root measured in the same rounds.
//!
//! Run with `cargo bench -p tracker-cli --bench lookup` (`LOOKUP_ROUNDS`,
//! default 40; `LOOKUP_SIZES`, default `100,1000,10000`; `LOOKUP_TRACKER`,
//! another `tracker` binary to time instead, an older build for instance).

#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use manifest::{ArtifactRoot, RunOptions, RunWriter};
use telemetry_model::{RunStatus, StepExecutionEntry, StepStatus, Timestamp};

/// The `tracker` binary timed: `LOOKUP_TRACKER`, else this build's.
fn tracker() -> String {
    env_or("LOOKUP_TRACKER", env!("CARGO_BIN_EXE_tracker"))
}

fn main() -> ExitCode {
    // `cargo bench --no-run` builds; `cargo test --benches` runs with no
    // `--bench` flag: measure only when asked to.
    if !std::env::args().any(|a| a == "--bench") {
        return ExitCode::SUCCESS;
    }
    let rounds: usize = env_or("LOOKUP_ROUNDS", "40").parse().unwrap();
    let sizes: Vec<usize> = env_or("LOOKUP_SIZES", "100,1000,10000")
        .split(',')
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let roots: Vec<(usize, PathBuf, String)> = sizes
        .iter()
        .map(|&n| {
            let started = Instant::now();
            let root = tmp.path().join(format!("runs-{n}"));
            let mid = build_root(&root, n);
            eprintln!("built {n} runs in {:.1?}", started.elapsed());
            (n, root, mid)
        })
        .collect();
    let commands: [(&str, ArgsOf); 3] = [
        ("show latest", |_| vec!["show".into(), "latest".into()]),
        ("status latest", |_| vec!["status".into(), "latest".into()]),
        ("show PREFIX", |mid| {
            vec!["show".into(), mid[..13].to_owned()]
        }),
    ];
    // A history as a user finds it: not changed in the last few seconds.
    // Within 3 s of a change a prefix lookup lists the directory, and only
    // after that records its names (docs/artifact-layout.md).
    std::thread::sleep(Duration::from_millis(3500));
    // Warm the page cache and the binary once per root and command.
    for (_, root, mid) in &roots {
        for (_, args) in &commands {
            time(root, &args(mid));
        }
    }
    // times[command][root] over the rounds.
    let mut times = vec![vec![Vec::with_capacity(rounds); roots.len()]; commands.len()];
    for round in 0..rounds {
        for k in 0..roots.len() {
            let r = (round + k) % roots.len();
            let (_, root, mid) = &roots[r];
            for (c, (_, args)) in commands.iter().enumerate() {
                times[c][r].push(time(root, &args(mid)));
            }
        }
    }
    println!("tracker lookups, median wall time of {rounds} runs each (ratio to the first root):");
    print!("{:<14}", "command");
    for (n, _, _) in &roots {
        print!("{:>22}", format!("{n} runs"));
    }
    println!();
    for (c, (name, _)) in commands.iter().enumerate() {
        print!("{name:<14}");
        let base = median(&mut times[c][0]);
        for samples in &mut times[c] {
            let m = median(samples);
            print!(
                "{:>22}",
                format!(
                    "{:.2} ms ({:.2}x)",
                    m.as_secs_f64() * 1e3,
                    m.as_secs_f64() / base.as_secs_f64()
                )
            );
        }
        println!();
    }
    ExitCode::SUCCESS
}

/// The arguments of a timed command, given the id of the middle run.
type ArgsOf = fn(&str) -> Vec<String>;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Runs `tracker --artifact-root ROOT ARGS…` once; its wall time.
fn time(root: &Path, args: &[String]) -> Duration {
    let started = Instant::now();
    let status = Command::new(tracker())
        .arg("--artifact-root")
        .arg(root)
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let elapsed = started.elapsed();
    assert!(
        status.success(),
        "tracker {args:?} failed on {}",
        root.display()
    );
    elapsed
}

fn median(values: &mut [Duration]) -> Duration {
    values.sort_unstable();
    values[values.len() / 2]
}

/// A UUIDv7 for `ms`, its random bits from `n`: the id the tracker would
/// have given a run created then.
fn uuid_at(ms: i64, n: u64) -> String {
    let bits = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    format!(
        "{:08x}-{:04x}-7{:03x}-{:04x}-{:012x}",
        ms >> 16,
        ms & 0xffff,
        bits >> 52,
        0x8000 | ((bits >> 32) & 0x3fff),
        bits & 0xffff_ffff_ffff
    )
}

const STEPS: [&str; 5] = ["prepare", "collect", "pretrain", "finetune", "evaluate"];

/// `runs` completed runs, five minutes apart, ending now; returns the id
/// of the run in the middle.
fn build_root(root: &Path, runs: usize) -> String {
    let root = ArtifactRoot::new(root);
    let now = Timestamp::now().unix_ms();
    let mut mid = String::new();
    for i in 0..runs {
        let created = now - (runs - i) as i64 * 300_000;
        let id = uuid_at(created, i as u64);
        if i == runs / 2 {
            mid.clone_from(&id);
        }
        let options = RunOptions {
            name: Some(id),
            sync: false,
            ..RunOptions::default()
        };
        let (mut writer, mut record) = RunWriter::create_with(&root, &options, |record| {
            record.created_at = Timestamp::from_unix_ms(created);
            record.pipeline = Some("imitation".into());
            record.initiator = Some("tracker run pipeline.toml".into());
            record.status = RunStatus::Running;
            record.steps = STEPS
                .iter()
                .enumerate()
                .map(|(k, id)| StepExecutionEntry::new(*id, *id, k as u32 + 1))
                .collect();
            record.enabled_steps = STEPS.iter().map(|s| (*s).to_owned()).collect();
        })
        .unwrap();
        let mut at = created;
        for k in 0..STEPS.len() {
            let step = &mut record.steps[k];
            step.status = StepStatus::Running;
            step.started_at = Some(Timestamp::from_unix_ms(at));
            writer.commit(&record).unwrap();
            at += 40_000;
            let step = &mut record.steps[k];
            step.status = StepStatus::Completed;
            step.ended_at = Some(Timestamp::from_unix_ms(at));
            step.duration_seconds = Some(40.0);
            writer.commit(&record).unwrap();
        }
        record.status = RunStatus::Completed;
        record.completed_at = Some(Timestamp::from_unix_ms(at));
        record.summary.total_duration = Some((at - created) as f64 / 1e3);
        writer.commit(&record).unwrap();
    }
    mid
}
