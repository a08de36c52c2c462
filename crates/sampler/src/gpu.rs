//! GPUs: a seam so the sampler never depends on a driver being present.
//!
//! [`detect`] gives the source for this build. With the `nvml` feature (on by
//! default) it reads NVIDIA GPUs through NVML: `libnvidia-ml.so` is loaded at
//! run time, the first time a sample is taken, once per process (every
//! sampler shares it), so the crate builds and runs on machines without a
//! GPU or a driver. Without the library, or built without the feature, every
//! GPU field is `None` and each sample carries the note
//! `gpu: NVML unavailable (<reason>)`; that is never an error.
//!
//! The library never prints. A binary that wants the one log line about a
//! missing NVML prints [`unavailable_note`] once at start.
//!
//! Per sample only cheap NVML queries are made (utilisation, memory,
//! temperature, power, the running-process lists); slow ones such as total
//! energy consumption are not.

/// One GPU reading, summed or averaged over the devices. `None` fields are
/// unavailable; `notes` says why.
///
/// A device that cannot be read, or one reading of a device that fails,
/// leaves that device out of the affected aggregates and adds a note
/// (`gpu: device 1: utilisation unreadable (…)`); the other devices still
/// count.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GpuSample {
    /// Mean utilisation over the devices (the share of time a kernel ran,
    /// device-wide: not only the tracked processes), %.
    pub util_percent: Option<f64>,
    /// GPU memory used by the tracked processes, summed over the devices,
    /// MB (MiB). When per-process figures are unavailable (no tracked
    /// processes, a process list that cannot be read, a driver that does not
    /// report a process's memory) this is the devices' memory in use instead
    /// (as [`device_mem_used_mb`](Self::device_mem_used_mb)) and a note says
    /// so. A tracked tree that uses no GPU gives `Some(0.0)`.
    pub mem_used_mb: Option<f64>,
    /// Memory in use on the devices, by any process, summed, MB (MiB).
    pub device_mem_used_mb: Option<f64>,
    /// Memory installed on the devices, summed, MB (MiB).
    pub mem_total_mb: Option<f64>,
    /// Hottest device's temperature, °C.
    pub temperature_c: Option<f64>,
    /// Power drawn by the devices, summed, W.
    pub power_w: Option<f64>,
    /// Number of devices NVML reports (including ones that could not be
    /// read).
    pub devices: Option<u32>,
    /// Why GPU metrics are missing, or what a figure stands for.
    pub notes: Vec<String>,
}

/// Something that can read GPUs. Implementations must be cheap per sample:
/// slow queries (total energy) stay off this path.
pub trait GpuSource: Send {
    /// Reads the GPUs; `pids` are the tracked processes, for per-process memory.
    fn sample(&mut self, pids: &[u32]) -> GpuSample;
}

/// No GPU library: every sample is empty with one note saying why.
#[derive(Clone, Debug)]
pub struct Unavailable {
    note: String,
}

impl Unavailable {
    /// `reason` becomes the note `gpu: NVML unavailable (<reason>)`.
    pub fn new(reason: impl std::fmt::Display) -> Self {
        Self {
            note: format!("gpu: NVML unavailable ({reason})"),
        }
    }

    /// The note every sample carries.
    pub fn note(&self) -> &str {
        &self.note
    }
}

impl GpuSource for Unavailable {
    fn sample(&mut self, _pids: &[u32]) -> GpuSample {
        GpuSample {
            notes: vec![self.note.clone()],
            ..GpuSample::default()
        }
    }
}

/// The GPU source for this build.
///
/// With the `nvml` feature: NVML, initialised on the first sample (on the
/// sampling thread, so starting a sampler never waits for the driver) and
/// shared by every source in the process; if it cannot be loaded, every
/// sample is empty with the note `gpu: NVML unavailable (<reason>)`.
/// Without the feature: always [`Unavailable`], reason
/// `built without the nvml feature`.
pub fn detect() -> Box<dyn GpuSource> {
    #[cfg(feature = "nvml")]
    {
        Box::new(crate::nvml::NvmlSource::system())
    }
    #[cfg(not(feature = "nvml"))]
    {
        Box::new(Unavailable::new(NO_FEATURE))
    }
}

/// Why GPUs cannot be measured in this process, as the note the samples
/// carry (`gpu: NVML unavailable (<reason>)`), or `None` when NVML is
/// loaded.
///
/// The first call (here or in a sampler) initialises NVML, once per process;
/// later calls return the same answer. The library never logs: a binary
/// prints this once at start (to stderr) to give the one log line about a
/// missing GPU library. That NVML loaded does not mean a device can be read;
/// those problems are in the samples' notes.
pub fn unavailable_note() -> Option<String> {
    #[cfg(feature = "nvml")]
    {
        crate::nvml::shared()
            .err()
            .map(|reason| Unavailable::new(reason).note)
    }
    #[cfg(not(feature = "nvml"))]
    {
        Some(Unavailable::new(NO_FEATURE).note)
    }
}

#[cfg(not(feature = "nvml"))]
const NO_FEATURE: &str = "built without the nvml feature";
