//! The tracker's cost per telemetry sample (docs/perf.md: < 100 µs median for a
//! tree of ≤ 10 processes plus the machine, serialised and written).
//!
//! The tree is a shell with nine sleeping children (ten processes). Each
//! iteration takes one sample with [`Collector::sample`] at the default
//! interval (1 s), so reading everything: the tree's CPU clocks and `statm`
//! files, `/proc/stat`, `/proc/meminfo`, the GPU source (none on a machine
//! without NVML) — and appends it to a run's `telemetry.jsonl` through
//! [`RunWriter::append_telemetry`], as `tracker run` does.
//!
//! - `sample_and_write`: the sampler's steady state, between process-table
//!   scans;
//! - `sample_with_scan_and_write`: every sample rescans the process table
//!   (the sampler does so every 3 s, so at a 1 s interval one sample in three
//!   pays this). The sampler skips a scan when no task was created since
//!   the last one, so before each sample (untimed) a thread is started and
//!   joined, as on a machine where something always starts.
//!
//! Each for both backends: `procfs/…` (Linux's default) and `sysinfo/…`
//! (the portable one, the default elsewhere).
//!
//! Run with `cargo bench -p sampler --bench sample`.

use std::hint::black_box;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion};
use manifest::{ArtifactRoot, RunOptions, RunWriter};
use sampler::{Backend, Collector, Probe, SamplerConfig, gpu};

fn bench(c: &mut Criterion) {
    let mut shell = Command::new("sh")
        .args([
            "-c",
            "for i in 1 2 3 4 5 6 7 8 9; do sleep 600 & done; wait",
        ])
        .stdout(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("spawn the tree");
    std::thread::sleep(Duration::from_millis(300));
    let tmp = tempfile::tempdir().expect("tempdir");
    let options = RunOptions {
        sync: false,
        ..RunOptions::default()
    };
    let mut writer = RunWriter::create(&ArtifactRoot::new(tmp.path()), &options).expect("run");
    let probe = || Probe {
        root_pid: Some(shell.id()),
        exclude_root: false,
        step_id: Some("train".to_owned()),
        steps_per_sec: Some(1520.0),
        fps: None,
    };
    let mut group = c.benchmark_group("telemetry");
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(4));
    let cases = [
        ("sample_and_write", Duration::from_secs(3600)),
        ("sample_with_scan_and_write", Duration::ZERO),
    ];
    for (backend, (name, scan_every)) in [Backend::Procfs, Backend::Sysinfo]
        .into_iter()
        .flat_map(|b| cases.map(|c| (b, c)))
    {
        let name = format!("{}/{name}", format!("{backend:?}").to_lowercase());
        let config = SamplerConfig {
            scan_every,
            backend,
            // Every process's memory at every sample, as when they all run.
            idle_memory_every: Duration::ZERO,
            ..SamplerConfig::default()
        };
        let mut collector = Collector::new(config, gpu::detect());
        let first = collector.sample(probe(), Instant::now());
        assert!(first.memory_rss_mb.is_some(), "{first:?}");
        let mut sample_and_write = || {
            let snapshot = collector.sample(probe(), Instant::now());
            writer
                .append_telemetry(black_box(&snapshot))
                .expect("append");
        };
        group.bench_function(&name, |b| {
            if scan_every.is_zero() {
                // A new task (pid), so that the scan is not skipped.
                let new_task = || std::thread::spawn(|| {}).join().expect("thread");
                b.iter_batched(new_task, |()| sample_and_write(), BatchSize::PerIteration);
            } else {
                b.iter(&mut sample_and_write);
            }
        });
    }
    group.finish();
    let group = format!("-{}", shell.id());
    let _ = Command::new("kill")
        .args(["-s", "KILL", "--", &group])
        .status();
    let _ = shell.wait();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
}
