//! GPUs: a seam so the sampler never depends on a driver being present.

/// One GPU reading, summed or averaged over the devices. `None` fields are
/// unavailable; `notes` says why.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GpuSample {
    /// Mean utilisation over the devices, %.
    pub util_percent: Option<f64>,
    /// GPU memory used by the tracked processes (or the devices, when
    /// per-process figures are unavailable), MB.
    pub mem_used_mb: Option<f64>,
    /// Why GPU metrics are missing.
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
}

impl GpuSource for Unavailable {
    fn sample(&mut self, _pids: &[u32]) -> GpuSample {
        GpuSample {
            notes: vec![self.note.clone()],
            ..GpuSample::default()
        }
    }
}

/// The GPU source for this build: NVML support arrives in a later change;
/// until then every GPU field is `null` with a note.
pub fn detect() -> Box<dyn GpuSource> {
    Box::new(Unavailable::new("this build has no NVML support yet"))
}
