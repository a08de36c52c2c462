//! The GPU seam through the public API: the source this build detects, the
//! "unavailable" note, and the tracked pids a source is given.
//!
//! The NVML aggregation itself (utilisation over devices, per-process memory,
//! failing devices, init failure) is tested against a fake NVML in
//! `src/gpu/nvml.rs`.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sampler::gpu::{self, GpuSample, GpuSource, Unavailable};
use sampler::{Probe, Sampler, SamplerConfig};

#[test]
fn unavailable_gives_every_field_none_and_the_note() {
    let mut source = Unavailable::new("libnvidia-ml.so.1: cannot open shared object file");
    let expected = GpuSample {
        notes: vec![
            "gpu: libnvidia-ml.so.1: cannot open shared object file: GPU metrics off".into(),
        ],
        ..GpuSample::default()
    };
    assert_eq!(source.sample(&[1, 2, 3]), expected);
    assert_eq!(source.sample(&[]), expected, "every sample says it");
    assert_eq!(source.note(), expected.notes[0]);
}

/// On a machine without NVML (CI, this project's build machines) every GPU
/// field is `None` with the note; on one with NVML the readings are sane.
#[test]
fn the_detected_source_on_this_machine() {
    let note = gpu::unavailable_note();
    assert_eq!(
        note,
        gpu::unavailable_note(),
        "initialised once, same answer"
    );
    let mut source = gpu::detect();
    let samples = [source.sample(&[std::process::id()]), source.sample(&[])];
    match note {
        Some(note) => {
            assert!(note.starts_with("gpu: "), "{note}");
            assert!(note.ends_with(": GPU metrics off"), "{note}");
            // Without a driver, in words a user understands.
            #[cfg(feature = "nvml")]
            if !std::path::Path::new("/proc/driver/nvidia").exists() {
                assert_eq!(note, "gpu: no NVIDIA driver found: GPU metrics off");
            }
            #[cfg(not(feature = "nvml"))]
            assert_eq!(note, "gpu: built without the nvml feature: GPU metrics off");
            for sample in samples {
                assert_eq!(
                    sample,
                    GpuSample {
                        notes: vec![note.clone()],
                        ..GpuSample::default()
                    }
                );
            }
        }
        None => {
            for sample in samples {
                assert!(sample.devices.is_some(), "{sample:?}");
                assert!(
                    sample.notes.iter().all(|n| n.starts_with("gpu: ")),
                    "{sample:?}"
                );
                if let Some(util) = sample.util_percent {
                    assert!((0.0..=100.0).contains(&util), "{sample:?}");
                }
                if let (Some(used), Some(total)) = (sample.device_mem_used_mb, sample.mem_total_mb)
                {
                    assert!(used <= total && total > 0.0, "{sample:?}");
                }
                if let (Some(tree), Some(used)) = (sample.mem_used_mb, sample.device_mem_used_mb) {
                    assert!(tree <= used, "{sample:?}");
                }
            }
        }
    }
}

/// A fake source: records the pids it is given, reports fixed readings.
struct Recording(Arc<Mutex<Vec<Vec<u32>>>>);

impl GpuSource for Recording {
    fn sample(&mut self, pids: &[u32]) -> GpuSample {
        self.0.lock().unwrap().push(pids.to_vec());
        GpuSample {
            util_percent: Some(42.0),
            mem_used_mb: Some(512.0),
            notes: vec!["gpu: fake".into()],
            ..GpuSample::default()
        }
    }
}

#[test]
fn the_sampler_gives_the_gpu_source_the_tracked_pids() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let snapshots = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&snapshots);
    let me = std::process::id();
    let sampler = Sampler::start_with_gpu(
        SamplerConfig {
            interval: Duration::from_millis(200),
            ..SamplerConfig::default()
        },
        Box::new(Recording(Arc::clone(&seen))),
        move || Probe {
            root_pid: Some(me),
            ..Probe::default()
        },
        move |s| sink.lock().unwrap().push(s.clone()),
    );
    std::thread::sleep(Duration::from_millis(300));
    let report = sampler.stop();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len() as u64, report.samples);
    assert!(seen.iter().all(|pids| pids.contains(&me)), "{seen:?}");
    let snapshots = snapshots.lock().unwrap();
    assert_eq!(snapshots[0].gpu_util_percent, Some(42.0));
    assert_eq!(snapshots[0].gpu_mem_used_mb, Some(512.0));
    assert!(snapshots[0].notes.iter().any(|n| n == "gpu: fake"));
}
