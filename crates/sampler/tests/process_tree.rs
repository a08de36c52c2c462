//! The sampler against real processes: a CPU burner, a child holding memory,
//! grandchildren; with each backend.

#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sampler::{Backend, Probe, Sampler, SamplerConfig};
use telemetry_model::TelemetrySnapshot;

/// Kills the child (and its group) when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        // `-s KILL -- -PGID`: procps `kill` misreads `-KILL -PGID` as
        // `kill(-1, …)`, which would signal every process of the user.
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &group])
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(script: &str) -> Guard {
    use std::os::unix::process::CommandExt;
    Guard(
        Command::new("sh")
            .args(["-c", script])
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap(),
    )
}

/// Both backends: `/proc` read directly and sysinfo.
const BACKENDS: [Backend; 2] = [Backend::Procfs, Backend::Sysinfo];

/// Samples the tree of `root` every 200 ms for `secs`.
fn sample(backend: Backend, root: u32, secs: f64) -> Vec<TelemetrySnapshot> {
    sample_tree(backend, root, false, secs)
}

/// Samples the tree of `root` (without it, if `exclude_root`) every 200 ms
/// for `secs`.
fn sample_tree(
    backend: Backend,
    root: u32,
    exclude_root: bool,
    secs: f64,
) -> Vec<TelemetrySnapshot> {
    let out = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&out);
    let config = SamplerConfig {
        interval: Duration::from_millis(200),
        scan_every: Duration::from_millis(400),
        backend,
        ..SamplerConfig::default()
    };
    let sampler = Sampler::start(
        config,
        move || Probe {
            root_pid: Some(root),
            exclude_root,
            step_id: Some("step".into()),
            ..Probe::default()
        },
        move |s| sink.lock().unwrap().push(s.clone()),
    );
    std::thread::sleep(Duration::from_secs_f64(secs));
    sampler.stop();
    out.lock().unwrap().clone()
}

fn wait_for_rss(backend: Backend, root: u32, mb: f64) {
    for _ in 0..100 {
        if sample(backend, root, 0.25)
            .last()
            .and_then(|s| s.memory_rss_mb)
            .unwrap_or(0.0)
            >= mb
        {
            return;
        }
    }
    panic!("{backend:?}: the tree never reached {mb} MB");
}

#[test]
fn a_cpu_burning_child_shows_high_cpu() {
    let burner = spawn("while :; do :; done");
    let idle = spawn("sleep 30");
    for backend in BACKENDS {
        burns_cpu(backend, burner.0.id(), idle.0.id());
    }
}

fn burns_cpu(backend: Backend, burner: u32, idle: u32) {
    let busy = sample(backend, burner, 1.5);
    let quiet = sample(backend, idle, 1.5);
    let mean = |s: &[TelemetrySnapshot]| {
        let v: Vec<f64> = s.iter().filter_map(|s| s.cpu_percent_process).collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    let cpus = std::thread::available_parallelism().unwrap().get() as f64;
    // One busy core is 100 / cpus % of the machine. On a loaded machine
    // (CI: two cores shared with other tests) the burner may get a fraction
    // of a core, so the bound is a tenth of one: far above the sleeper's
    // nothing, and what a sampler that lost the tree would not report.
    assert!(
        mean(&busy) > 10.0 / cpus,
        "{backend:?} burner: {:.1} %",
        mean(&busy)
    );
    assert!(
        mean(&quiet) < 5.0,
        "{backend:?} sleeper: {:.1} %",
        mean(&quiet)
    );
    assert!(
        busy.iter()
            .skip(1)
            .all(|s| s.cpu_percent_process.unwrap() <= 100.0)
    );
    assert!(
        busy[0].cpu_percent_process.is_none(),
        "the first sample has no interval"
    );
    assert!(busy.iter().all(|s| s.memory_system_total_mb.unwrap() > 0.0));
}

#[test]
fn memory_held_by_a_child_and_its_grandchildren_is_counted() {
    let hold = |mb: usize| {
        format!("python3 -c \"import time; b = b'x' * ({mb} * 1024 * 1024); time.sleep(30)\"")
    };
    // One child holding ~300 MB.
    let single = spawn(&format!("exec {}", hold(300)));
    // A shell whose two grandchildren hold 100 MB each.
    let tree = spawn(&format!("{} & {} & wait", hold(100), hold(100)));
    for backend in BACKENDS {
        wait_for_rss(backend, single.0.id(), 280.0);
        wait_for_rss(backend, tree.0.id(), 190.0);
        let last = sample(backend, tree.0.id(), 0.3).pop().unwrap();
        assert!(
            last.memory_rss_mb.unwrap() < 300.0,
            "{backend:?}: siblings outside the tree are not counted"
        );
    }
}

#[test]
fn a_vanished_root_gives_a_note_not_an_error() {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    for backend in BACKENDS {
        vanished(backend, pid);
    }
}

fn vanished(backend: Backend, pid: u32) {
    for exclude_root in [false, true] {
        vanished_tree(backend, pid, exclude_root);
    }
}

fn vanished_tree(backend: Backend, pid: u32, exclude_root: bool) {
    let samples = sample_tree(backend, pid, exclude_root, 0.5);
    assert!(!samples.is_empty());
    for s in &samples {
        assert_eq!(s.memory_rss_mb, None);
        assert!(
            s.notes.iter().any(|n| n.contains("are gone")),
            "{:?}",
            s.notes
        );
        assert!(
            s.notes
                .iter()
                .any(|n| n.starts_with("gpu: ") && n.ends_with(": GPU metrics off")),
            "{:?}",
            s.notes
        );
    }
}

/// A root that is a supervisor (it starts the work and waits) is left out:
/// its descendants are measured without it; alone, it gives no figures and
/// no note, since its work has not started yet or has just ended.
#[test]
fn an_excluded_root_is_left_out_and_alone_is_not_gone() {
    // `; :` keeps the shell waiting for `sleep` rather than becoming it.
    let supervisor = spawn("sleep 30; :");
    let pid = supervisor.0.id();
    let children = format!("/proc/{pid}/task/{pid}/children");
    while std::fs::read_to_string(&children)
        .unwrap()
        .trim()
        .is_empty()
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let alone = spawn("exec sleep 30");
    for backend in BACKENDS {
        let rss = |exclude_root| {
            sample_tree(backend, pid, exclude_root, 0.9)
                .last()
                .and_then(|s| s.memory_rss_mb)
                .unwrap()
        };
        let (with, without) = (rss(false), rss(true));
        assert!(
            without > 0.0 && with > without,
            "{backend:?}: with the shell {with} MB, without {without} MB"
        );
        let samples = sample_tree(backend, alone.0.id(), true, 0.5);
        assert!(!samples.is_empty());
        for s in &samples {
            assert_eq!(
                (s.memory_rss_mb, s.cpu_percent_process),
                (None, None),
                "{backend:?}"
            );
            assert!(
                !s.notes.iter().any(|n| n.contains("are gone")),
                "{backend:?}: {:?}",
                s.notes
            );
        }
    }
}
