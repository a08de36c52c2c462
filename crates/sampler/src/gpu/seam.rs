//! The seam between the sampler and a GPU library: what a reading is, what
//! reads one, and the source used when there is no library.

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
    /// `reason` becomes the note `gpu: <reason>: GPU metrics off`
    /// (`gpu: no NVIDIA driver found: GPU metrics off`).
    pub fn new(reason: impl std::fmt::Display) -> Self {
        Self {
            note: format!("gpu: {reason}: GPU metrics off"),
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
