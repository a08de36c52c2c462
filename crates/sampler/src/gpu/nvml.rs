//! NVIDIA GPUs through NVML (`nvml-wrapper`), behind the `nvml` feature.
//!
//! Two layers:
//!
//! - [`NvmlApi`], the seam: the few NVML reads a sample needs, one device at
//!   a time, each read a `Result` with the error as text. [`Real`] implements
//!   it over `nvml-wrapper`; the tests implement it with a fake.
//! - [`NvmlSource`], the [`GpuSource`]: initialises an `NvmlApi` on its
//!   first sample and aggregates the devices into a [`GpuSample`]. Every
//!   failed read becomes a note naming the device and the reading; nothing is
//!   dropped silently and nothing panics.
//!
//! The process's `Nvml` lives in a `OnceLock` ([`shared`]): `nvmlInit` runs
//! once per process, however many samplers start, and its failure is kept as
//! the reason every later sampler reports.
#![cfg(feature = "nvml")]

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::OnceLock;

use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::struct_wrappers::device::ProcessInfo;

use super::seam::{GpuSample, GpuSource, Unavailable};

const MIB: f64 = 1024.0 * 1024.0;

/// The process's NVML, or why it could not be initialised.
static NVML: OnceLock<Result<Nvml, String>> = OnceLock::new();

/// The process's NVML, initialised on the first call; `Err` is the reason it
/// is unavailable (e.g. `libnvidia-ml.so.1: cannot open shared object file:
/// No such file or directory`).
pub(crate) fn shared() -> Result<&'static Nvml, &'static str> {
    NVML.get_or_init(|| Nvml::init().map_err(|e| describe(&e)))
        .as_ref()
        .map_err(String::as_str)
}

/// An NVML error as a short reason a user understands. A library that
/// cannot be loaded (`libnvidia-ml.so.1: cannot open shared object file`)
/// means that no NVIDIA driver is installed.
fn describe(error: &NvmlError) -> String {
    match error {
        NvmlError::LibloadingError(_) => "no NVIDIA driver found".to_owned(),
        NvmlError::DriverNotLoaded => "the NVIDIA driver is not loaded".to_owned(),
        NvmlError::NoPermission => "no permission to read the NVIDIA driver".to_owned(),
        e => format!("NVML failed ({e})"),
    }
}

/// The NVML reads a sample needs. Errors are text for the notes.
pub(crate) trait NvmlApi: Send {
    /// Devices NVML sees.
    fn device_count(&self) -> Result<u32, String>;
    /// Reads device `index`; `Err` when the device itself cannot be opened.
    fn device(&self, index: u32) -> Result<DeviceReading, String>;
}

/// One device, each reading separately fallible.
#[derive(Clone, Debug)]
pub(crate) struct DeviceReading {
    /// Share of time a kernel ran over NVML's last sample period, %.
    pub(crate) utilization_percent: Result<u32, String>,
    /// Device memory.
    pub(crate) memory: Result<Memory, String>,
    /// GPU die temperature, °C.
    pub(crate) temperature_c: Result<u32, String>,
    /// Power draw, mW.
    pub(crate) power_mw: Result<u32, String>,
    /// Processes with a compute context (CUDA).
    pub(crate) compute_processes: Result<Vec<ProcessMemory>, String>,
    /// Processes with a graphics context.
    pub(crate) graphics_processes: Result<Vec<ProcessMemory>, String>,
}

/// Device memory, bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Memory {
    pub(crate) used: u64,
    pub(crate) total: u64,
}

/// A process on a device and the memory it holds there (`None`: the driver
/// does not say, e.g. under Windows WDDM or MIG without privileges).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ProcessMemory {
    pub(crate) pid: u32,
    pub(crate) used_bytes: Option<u64>,
}

/// [`NvmlApi`] over the process's real NVML.
#[derive(Debug)]
pub(crate) struct Real {
    nvml: &'static Nvml,
}

impl NvmlApi for Real {
    fn device_count(&self) -> Result<u32, String> {
        self.nvml.device_count().map_err(|e| describe(&e))
    }

    fn device(&self, index: u32) -> Result<DeviceReading, String> {
        let device = self.nvml.device_by_index(index).map_err(|e| describe(&e))?;
        let err = |e: NvmlError| describe(&e);
        Ok(DeviceReading {
            utilization_percent: device.utilization_rates().map(|u| u.gpu).map_err(err),
            memory: device
                .memory_info()
                .map(|m| Memory {
                    used: m.used,
                    total: m.total,
                })
                .map_err(err),
            temperature_c: device.temperature(TemperatureSensor::Gpu).map_err(err),
            power_mw: device.power_usage().map_err(err),
            compute_processes: device
                .running_compute_processes()
                .map(processes)
                .map_err(err),
            graphics_processes: device
                .running_graphics_processes()
                .map(processes)
                .map_err(err),
        })
    }
}

fn processes(list: Vec<ProcessInfo>) -> Vec<ProcessMemory> {
    list.into_iter()
        .map(|p| ProcessMemory {
            pid: p.pid,
            used_bytes: match p.used_gpu_memory {
                UsedGpuMemory::Used(bytes) => Some(bytes),
                UsedGpuMemory::Unavailable => None,
            },
        })
        .collect()
}

type Init = Box<dyn FnOnce() -> Result<Box<dyn NvmlApi>, String> + Send>;

/// The NVML [`GpuSource`].
pub(crate) struct NvmlSource {
    /// Run on the first sample, on the sampling thread; `None` once taken.
    init: Option<Init>,
    /// What `init` gave; `None` until the first sample.
    state: Option<Result<Box<dyn NvmlApi>, Unavailable>>,
}

impl fmt::Debug for NvmlSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            None => "not initialised",
            Some(Ok(_)) => "ready",
            Some(Err(unavailable)) => unavailable.note(),
        };
        f.debug_struct("NvmlSource").field("state", &state).finish()
    }
}

impl NvmlSource {
    /// Over the process's NVML ([`shared`]).
    pub(crate) fn system() -> Self {
        Self::with_init(|| {
            shared()
                .map(|nvml| Box::new(Real { nvml }) as Box<dyn NvmlApi>)
                .map_err(str::to_owned)
        })
    }

    /// Over whatever `init` gives on the first sample; `Err` is the reason
    /// NVML is unavailable.
    pub(crate) fn with_init(
        init: impl FnOnce() -> Result<Box<dyn NvmlApi>, String> + Send + 'static,
    ) -> Self {
        Self {
            init: Some(Box::new(init)),
            state: None,
        }
    }

    fn api(&mut self) -> Result<&dyn NvmlApi, &Unavailable> {
        let init = &mut self.init;
        let state = self.state.get_or_insert_with(|| match init.take() {
            Some(init) => init().map_err(Unavailable::new),
            // Taken but never finished: it panicked on an earlier sample.
            None => Err(Unavailable::new("initialisation panicked")),
        });
        match state {
            Ok(api) => Ok(&**api),
            Err(unavailable) => Err(unavailable),
        }
    }
}

impl GpuSource for NvmlSource {
    fn sample(&mut self, pids: &[u32]) -> GpuSample {
        match self.api() {
            Ok(api) => aggregate(api, pids),
            Err(unavailable) => GpuSample {
                notes: vec![unavailable.note().to_owned()],
                ..GpuSample::default()
            },
        }
    }
}

/// Reads every device and aggregates: mean utilisation, memory and power
/// summed, hottest temperature, and the tracked processes' memory.
fn aggregate(api: &dyn NvmlApi, pids: &[u32]) -> GpuSample {
    let mut out = GpuSample::default();
    let count = match api.device_count() {
        Ok(count) => count,
        Err(e) => {
            out.notes
                .push(format!("gpu: device count unreadable ({e})"));
            return out;
        }
    };
    out.devices = Some(count);
    if count == 0 {
        out.notes.push("gpu: NVML sees no devices".to_owned());
        return out;
    }
    let tracked: HashSet<u32> = pids.iter().copied().collect();
    let mut util = Vec::new();
    let mut used = None::<u64>;
    let mut total = None::<u64>;
    let mut temperature = None::<u32>;
    let mut power_mw = None::<u64>;
    let mut tree_bytes = 0u64;
    // Why the tracked processes' memory cannot be given, if it cannot.
    let mut per_process_gap: Option<String> = tracked
        .is_empty()
        .then(|| "no tracked processes".to_owned());
    for index in 0..count {
        let device = match api.device(index) {
            Ok(device) => device,
            Err(e) => {
                out.notes
                    .push(format!("gpu: device {index}: unreadable ({e})"));
                per_process_gap.get_or_insert_with(|| format!("device {index} unreadable"));
                continue;
            }
        };
        let mut note = |what: &str, e: String| {
            out.notes
                .push(format!("gpu: device {index}: {what} unreadable ({e})"));
        };
        match device.utilization_percent {
            Ok(u) => util.push(f64::from(u)),
            Err(e) => note("utilisation", e),
        }
        match device.memory {
            Ok(m) => {
                *used.get_or_insert(0) += m.used;
                *total.get_or_insert(0) += m.total;
            }
            Err(e) => note("memory", e),
        }
        match device.temperature_c {
            Ok(t) => temperature = temperature.max(Some(t)),
            Err(e) => note("temperature", e),
        }
        match device.power_mw {
            Ok(p) => *power_mw.get_or_insert(0) += u64::from(p),
            Err(e) => note("power", e),
        }
        // A process with both a compute and a graphics context is listed
        // twice with the same memory: count it once.
        let mut on_device = BTreeMap::<u32, Option<u64>>::new();
        for (what, list) in [
            ("compute processes", device.compute_processes),
            ("graphics processes", device.graphics_processes),
        ] {
            match list {
                Ok(list) => {
                    for p in list.into_iter().filter(|p| tracked.contains(&p.pid)) {
                        let slot = on_device.entry(p.pid).or_insert(p.used_bytes);
                        *slot = (*slot).max(p.used_bytes);
                    }
                }
                Err(e) => {
                    note(what, e);
                    per_process_gap
                        .get_or_insert_with(|| format!("device {index}: {what} unreadable"));
                }
            }
        }
        for (pid, bytes) in on_device {
            match bytes {
                Some(bytes) => tree_bytes += bytes,
                None => {
                    per_process_gap.get_or_insert_with(|| {
                        format!("device {index} does not report the memory of process {pid}")
                    });
                }
            }
        }
    }
    if !util.is_empty() {
        out.util_percent = Some(util.iter().sum::<f64>() / util.len() as f64);
    }
    out.device_mem_used_mb = used.map(|b| b as f64 / MIB);
    out.mem_total_mb = total.map(|b| b as f64 / MIB);
    out.temperature_c = temperature.map(f64::from);
    out.power_w = power_mw.map(|mw| mw as f64 / 1000.0);
    match per_process_gap {
        None => out.mem_used_mb = Some(tree_bytes as f64 / MIB),
        Some(why) => {
            out.mem_used_mb = out.device_mem_used_mb;
            if out.mem_used_mb.is_some() {
                out.notes.push(format!(
                    "gpu: mem_used_mb is the devices' memory in use, not the tracked processes' ({why})"
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    const GIB: u64 = 1024 * 1024 * 1024;

    /// A fake NVML: fixed devices, or an error for the whole device.
    #[derive(Clone, Debug)]
    struct Fake {
        devices: Vec<Result<DeviceReading, String>>,
    }

    impl NvmlApi for Fake {
        fn device_count(&self) -> Result<u32, String> {
            Ok(self.devices.len() as u32)
        }

        fn device(&self, index: u32) -> Result<DeviceReading, String> {
            self.devices[index as usize].clone()
        }
    }

    fn process(pid: u32, mib: u64) -> ProcessMemory {
        ProcessMemory {
            pid,
            used_bytes: Some(mib * 1024 * 1024),
        }
    }

    fn device(util: u32, used_gib: u64, compute: Vec<ProcessMemory>) -> DeviceReading {
        DeviceReading {
            utilization_percent: Ok(util),
            memory: Ok(Memory {
                used: used_gib * GIB,
                total: 80 * GIB,
            }),
            temperature_c: Ok(40 + util / 10),
            power_mw: Ok(100_000 + util * 1000),
            compute_processes: Ok(compute),
            graphics_processes: Ok(Vec::new()),
        }
    }

    fn source(fake: Fake) -> NvmlSource {
        NvmlSource::with_init(move || Ok(Box::new(fake) as Box<dyn NvmlApi>))
    }

    #[test]
    fn utilisation_is_averaged_and_the_rest_summed_over_two_devices() {
        let mut gpu = source(Fake {
            devices: vec![
                Ok(device(30, 10, vec![process(100, 1024)])),
                Ok(device(90, 20, vec![process(100, 512)])),
            ],
        });
        let sample = gpu.sample(&[100]);
        assert_eq!(sample.util_percent, Some(60.0));
        assert_eq!(sample.devices, Some(2));
        assert_eq!(sample.device_mem_used_mb, Some(30.0 * 1024.0));
        assert_eq!(sample.mem_total_mb, Some(160.0 * 1024.0));
        assert_eq!(sample.temperature_c, Some(49.0), "the hottest device");
        assert_eq!(sample.power_w, Some(100.0 + 30.0 + 100.0 + 90.0));
        assert_eq!(
            sample.mem_used_mb,
            Some(1536.0),
            "the tracked process on both devices"
        );
        assert_eq!(sample.notes, Vec::<String>::new());
    }

    #[test]
    fn per_process_memory_counts_only_tracked_pids() {
        let mut reading = device(50, 30, vec![process(100, 1000), process(200, 4000)]);
        reading.graphics_processes = Ok(vec![process(100, 1000), process(300, 8000)]);
        let mut gpu = source(Fake {
            devices: vec![Ok(reading), Ok(device(0, 1, vec![process(101, 24)]))],
        });
        let sample = gpu.sample(&[100, 101, 102]);
        assert_eq!(
            sample.mem_used_mb,
            Some(1024.0),
            "pid 100 once (compute and graphics) plus pid 101; 200 and 300 are not tracked"
        );
        assert_eq!(sample.device_mem_used_mb, Some(31.0 * 1024.0));
        assert_eq!(sample.notes, Vec::<String>::new());

        let sample = gpu.sample(&[999]);
        assert_eq!(sample.mem_used_mb, Some(0.0), "a tree that uses no GPU");
    }

    #[test]
    fn without_tracked_processes_mem_used_is_the_devices_with_a_note() {
        let mut gpu = source(Fake {
            devices: vec![Ok(device(50, 3, vec![process(100, 1000)]))],
        });
        let sample = gpu.sample(&[]);
        assert_eq!(sample.mem_used_mb, Some(3.0 * 1024.0));
        assert_eq!(
            sample.notes,
            [
                "gpu: mem_used_mb is the devices' memory in use, not the tracked processes' (no tracked processes)"
            ]
        );
    }

    #[test]
    fn unreported_process_memory_falls_back_to_the_devices() {
        let unreported = ProcessMemory {
            pid: 100,
            used_bytes: None,
        };
        let mut gpu = source(Fake {
            devices: vec![Ok(device(50, 3, vec![unreported]))],
        });
        let sample = gpu.sample(&[100]);
        assert_eq!(sample.mem_used_mb, Some(3.0 * 1024.0));
        assert_eq!(
            sample.notes,
            [
                "gpu: mem_used_mb is the devices' memory in use, not the tracked processes' (device 0 does not report the memory of process 100)"
            ]
        );
    }

    #[test]
    fn failed_reads_give_notes_and_other_devices_still_count() {
        let mut broken = device(10, 5, vec![process(100, 100)]);
        broken.utilization_percent = Err("Not Supported".into());
        broken.power_mw = Err("Not Supported".into());
        broken.compute_processes = Err("GPU is lost".into());
        let mut gpu = source(Fake {
            devices: vec![
                Ok(device(40, 2, vec![process(100, 100)])),
                Ok(broken),
                Err("Unknown Error".into()),
            ],
        });
        let sample = gpu.sample(&[100]);
        assert_eq!(sample.devices, Some(3));
        assert_eq!(sample.util_percent, Some(40.0), "device 0 only");
        assert_eq!(sample.power_w, Some(140.0), "device 0 only");
        assert_eq!(
            sample.device_mem_used_mb,
            Some(7.0 * 1024.0),
            "devices 0 and 1"
        );
        assert_eq!(sample.temperature_c, Some(44.0));
        assert_eq!(sample.mem_used_mb, Some(7.0 * 1024.0));
        assert_eq!(
            sample.notes,
            [
                "gpu: device 1: utilisation unreadable (Not Supported)",
                "gpu: device 1: power unreadable (Not Supported)",
                "gpu: device 1: compute processes unreadable (GPU is lost)",
                "gpu: device 2: unreadable (Unknown Error)",
                "gpu: mem_used_mb is the devices' memory in use, not the tracked processes' (device 1: compute processes unreadable)",
            ]
        );
    }

    #[test]
    fn no_devices_or_an_unreadable_count_gives_a_note() {
        let mut gpu = source(Fake {
            devices: Vec::new(),
        });
        let sample = gpu.sample(&[1]);
        assert_eq!(sample.devices, Some(0));
        assert_eq!(sample.util_percent, None);
        assert_eq!(sample.mem_used_mb, None);
        assert_eq!(sample.notes, ["gpu: NVML sees no devices"]);

        struct NoCount;
        impl NvmlApi for NoCount {
            fn device_count(&self) -> Result<u32, String> {
                Err("Driver Not Loaded".into())
            }
            fn device(&self, _: u32) -> Result<DeviceReading, String> {
                unreachable!("no count, no devices")
            }
        }
        let mut gpu = NvmlSource::with_init(|| Ok(Box::new(NoCount) as Box<dyn NvmlApi>));
        let sample = gpu.sample(&[1]);
        assert_eq!(
            sample,
            GpuSample {
                notes: vec!["gpu: device count unreadable (Driver Not Loaded)".into()],
                ..GpuSample::default()
            }
        );
    }

    #[test]
    fn init_failure_gives_the_note_and_every_field_none_and_runs_once() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let mut gpu = NvmlSource::with_init(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            Err(
                "libnvidia-ml.so.1: cannot open shared object file: No such file or directory"
                    .into(),
            )
        });
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "nothing until the first sample"
        );
        for _ in 0..3 {
            assert_eq!(
                gpu.sample(&[1, 2]),
                GpuSample {
                    notes: vec![
                        "gpu: libnvidia-ml.so.1: cannot open shared object file: No such file or directory: GPU metrics off"
                            .into()
                    ],
                    ..GpuSample::default()
                }
            );
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn the_process_nvml_is_initialised_once() {
        match (shared(), shared()) {
            (Ok(a), Ok(b)) => assert!(std::ptr::eq(a, b)),
            (Err(a), Err(b)) => {
                assert!(std::ptr::eq(a, b), "the same stored reason");
                assert!(!a.is_empty());
                assert!(!a.starts_with("a libloading error"), "{a}");
            }
            (a, b) => panic!("NVML changed its mind: {a:?} then {b:?}"),
        }
    }
}
