//! GPUs: a seam so the sampler never depends on a driver being present.
//!
//! [`detect`] gives the source for this build. With the `nvml` feature (on by
//! default) it reads NVIDIA GPUs through NVML: `libnvidia-ml.so` is loaded at
//! run time, the first time a sample is taken, once per process (every
//! sampler shares it), so the crate builds and runs on machines without a
//! GPU or a driver. Without the library, or built without the feature, every
//! GPU field is `None` and each sample carries the note
//! `gpu: <reason>: GPU metrics off`; that is never an error.
//!
//! The library never prints. A binary that wants the one log line about a
//! missing NVML prints [`unavailable_note`] once at start.
//!
//! Per sample only cheap NVML queries are made (utilisation, memory,
//! temperature, power, the running-process lists); slow ones such as total
//! energy consumption are not.

mod nvml;
mod seam;

pub use seam::{GpuSample, GpuSource, Unavailable};

/// The GPU source for this build.
///
/// With the `nvml` feature: NVML, initialised on the first sample (on the
/// sampling thread, so starting a sampler never waits for the driver) and
/// shared by every source in the process; if it cannot be loaded, every
/// sample is empty with the note `gpu: <reason>: GPU metrics off`.
/// Without the feature: always [`Unavailable`], reason
/// `built without the nvml feature`.
pub fn detect() -> Box<dyn GpuSource> {
    #[cfg(feature = "nvml")]
    {
        Box::new(nvml::NvmlSource::system())
    }
    #[cfg(not(feature = "nvml"))]
    {
        Box::new(Unavailable::new(NO_FEATURE))
    }
}

/// Why GPUs cannot be measured in this process, as the note the samples
/// carry (`gpu: <reason>: GPU metrics off`), or `None` when NVML is
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
        nvml::shared()
            .err()
            .map(|reason| Unavailable::new(reason).note().to_owned())
    }
    #[cfg(not(feature = "nvml"))]
    {
        Some(Unavailable::new(NO_FEATURE).note().to_owned())
    }
}

#[cfg(not(feature = "nvml"))]
const NO_FEATURE: &str = "built without the nvml feature";
