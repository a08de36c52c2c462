//! The tracker's overhead on a pipeline (docs/perf.md: < 0.5 % of wall time at
//! 1 s sampling, < 2 % at 200 ms).
//!
//! One CPU-bound workload (a fixed number of xorshift rounds, ~4 s, that
//! reports its progress through `TRACKER_PROGRESS` twenty times) runs, in
//! each round and in rotating order:
//!
//! - **bare**: started directly by this benchmark;
//! - **1 s** and **200 ms**: as the only step of a pipeline under
//!   `tracker run --interval 1|0.2` — the run's whole life: start-up,
//!   supervisor, sampling, the channel, logs, manifest, summary and exit.
//!
//! Two figures per mode, as medians over the rounds:
//!
//! - the **wall ratio** tracked / bare of the same round. It is what a user
//!   feels, but on a shared machine a single run's wall time wanders by a
//!   few percent, more than the overhead being measured;
//! - the tracker's **own CPU time** as a share of the bare wall time: the CPU
//!   the `tracker` and supervisor processes used (their rusage, less the
//!   workload's own CPU time, which the supervisor measured and the manifest
//!   records). On a single-threaded workload this is the most the tracker can
//!   add to the wall time, and it does not depend on the machine's noise.
//!
//! Run with `cargo bench -p tracker-cli --bench overhead`
//! (`OVERHEAD_ROUNDS`, default 5; `OVERHEAD_SECONDS`, default 4).

#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]
#![allow(unsafe_code)] // one wait4 call, to read a child's rusage

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

/// Environment variable that makes this binary the workload: its value is
/// the number of rounds of work.
const WORK: &str = "OVERHEAD_WORK";

fn main() -> ExitCode {
    if let Ok(rounds) = std::env::var(WORK) {
        work(rounds.parse().expect("OVERHEAD_WORK is a number"));
        return ExitCode::SUCCESS;
    }
    // `cargo bench --no-run` builds; `cargo test --benches` runs with no
    // `--bench` flag: measure only when asked to.
    if !std::env::args().any(|a| a == "--bench") {
        return ExitCode::SUCCESS;
    }
    measure();
    ExitCode::SUCCESS
}

/// The workload: `rounds` of xorshift, with twenty progress reports.
fn work(rounds: u64) {
    use std::io::Write as _;
    let mut channel = std::env::var_os("TRACKER_PROGRESS").and_then(|path| {
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .ok()
    });
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let chunk = (rounds / 20).max(1);
    let mut done = 0;
    while done < rounds {
        for _ in 0..chunk.min(rounds - done) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        done += chunk.min(rounds - done);
        if let Some(file) = channel.as_mut() {
            let line = format!(
                "{{\"progress\": {:.3}, \"steps\": {done}}}\n",
                done as f64 / rounds as f64
            );
            let _ = file.write_all(line.as_bytes());
        }
    }
    std::hint::black_box(x);
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    Bare,
    Tracked { interval: &'static str },
}

impl Mode {
    fn name(self) -> String {
        match self {
            Mode::Bare => "bare".to_owned(),
            Mode::Tracked { interval } => format!("tracked, --interval {interval}"),
        }
    }
}

/// One run of one mode.
#[derive(Clone, Copy, Debug)]
struct Measured {
    wall: f64,
    /// CPU seconds of the tracker's own processes (0 for bare).
    tracker_cpu: f64,
}

fn measure() {
    let rounds: usize = env_or("OVERHEAD_ROUNDS", 5);
    let seconds: f64 = env_or("OVERHEAD_SECONDS", 4.0);
    let me = std::env::current_exe().unwrap();
    let work = calibrate(&me, seconds);
    let tmp = tempfile::tempdir().unwrap();
    let pipeline = tmp.path().join("pipeline.toml");
    std::fs::write(
        &pipeline,
        "[pipeline]\nname = \"overhead\"\n\n[[steps]]\nid = \"work\"\n\
         run = 'exec \"$OVERHEAD_SELF\"'\n",
    )
    .unwrap();
    let modes = [
        Mode::Bare,
        Mode::Tracked { interval: "1" },
        Mode::Tracked { interval: "0.2" },
    ];
    println!(
        "overhead: {rounds} rounds of a {seconds:.0} s CPU-bound step ({work} xorshift rounds), \
         {} CPUs",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let mut results: Vec<Vec<Measured>> = vec![Vec::new(); modes.len()];
    for round in 0..rounds {
        for k in 0..modes.len() {
            // Rotate the order so no mode always runs first (warm caches,
            // a neighbour's load that comes and goes).
            let i = (round + k) % modes.len();
            let measured = run(&me, work, modes[i], &pipeline, tmp.path());
            results[i].push(measured);
        }
    }
    let bare: Vec<f64> = results[0].iter().map(|m| m.wall).collect();
    println!(
        "{:<26} {:>10} {:>12} {:>14} {:>14}",
        "mode", "wall (s)", "wall ratio", "tracker CPU", "CPU / wall"
    );
    for (mode, runs) in modes.iter().zip(&results) {
        let walls: Vec<f64> = runs.iter().map(|m| m.wall).collect();
        let ratios: Vec<f64> = walls.iter().zip(&bare).map(|(w, b)| w / b).collect();
        let cpu: Vec<f64> = runs.iter().map(|m| m.tracker_cpu).collect();
        let share: Vec<f64> = cpu.iter().zip(&bare).map(|(c, b)| c / b).collect();
        println!(
            "{:<26} {:>10.3} {:>12} {:>11.1} ms {:>13.3} %",
            mode.name(),
            median(&walls),
            format!(
                "{:.4} ({:+.2}..{:+.2} %)",
                median(&ratios),
                (min(&ratios) - 1.0) * 100.0,
                (max(&ratios) - 1.0) * 100.0
            ),
            median(&cpu) * 1000.0,
            median(&share) * 100.0
        );
    }
}

/// Rounds of work that take about `seconds` here.
fn calibrate(me: &Path, seconds: f64) -> u64 {
    let probe = 200_000_000u64;
    let started = Instant::now();
    let status = Command::new(me).env(WORK, probe.to_string()).status();
    assert!(status.unwrap().success());
    let took = started.elapsed().as_secs_f64();
    (probe as f64 * seconds / took) as u64
}

fn run(me: &Path, work: u64, mode: Mode, pipeline: &Path, tmp: &Path) -> Measured {
    let root = tmp.join("root");
    let mut command = match mode {
        Mode::Bare => Command::new(me),
        Mode::Tracked { interval } => {
            let mut c = Command::new(env!("CARGO_BIN_EXE_tracker"));
            c.arg("--artifact-root")
                .arg(&root)
                .args(["run", "--plain", "--keep", "3", "--interval", interval])
                .arg(pipeline)
                .env("OVERHEAD_SELF", me);
            c
        }
    };
    command
        .env(WORK, work.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let started = Instant::now();
    // Reaped by wait4 below, which also gives its rusage.
    #[allow(clippy::zombie_processes)]
    let child = command.spawn().unwrap();
    let (status, cpu) = wait_with_cpu(child.id());
    let wall = started.elapsed().as_secs_f64();
    assert_eq!(status, 0, "{} exited with {status}", mode.name());
    let tracker_cpu = match mode {
        Mode::Bare => 0.0,
        Mode::Tracked { .. } => cpu - workload_cpu(&root),
    };
    Measured { wall, tracker_cpu }
}

/// The workload's CPU seconds, as the supervisor measured them, from the
/// newest run's manifest.
fn workload_cpu(root: &Path) -> f64 {
    let out = Command::new(env!("CARGO_BIN_EXE_tracker"))
        .arg("--artifact-root")
        .arg(root)
        .args(["show", "latest", "--format", "json"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["record"]["steps"][0]["cpu_time_seconds"]
        .as_f64()
        .expect("the step's cpu_time_seconds")
}

/// Waits for `pid`; its exit status and the CPU seconds (user + system) it
/// and the descendants it waited for used.
fn wait_with_cpu(pid: u32) -> (i32, f64) {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value, and wait4 writes only
    // into the two locals it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let got = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(got, pid as libc::pid_t, "wait4");
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, seconds(usage.ru_utime) + seconds(usage.ru_stime))
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}
