//! Background resource sampling of a tracked process tree: CPU, memory and
//! GPU (via NVML, loaded at run time), written as `TelemetrySnapshot` lines.
//!
//! Status: skeleton. Sampling arrives with the telemetry work (SPEC §6);
//! the crate already fixes the interval rules every backend will share.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! assert_eq!(sampler::clamp_interval(Duration::from_millis(50)), sampler::MIN_INTERVAL);
//! assert_eq!(sampler::clamp_interval(Duration::from_secs(2)), Duration::from_secs(2));
//! ```

use std::time::Duration;

/// Default time between samples.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// Shortest interval allowed: CPU counters refreshed closer than this are
/// too coarse to give a meaningful percentage (sysinfo ignores refreshes
/// under 200 ms, and `/proc` tick counters move in 10 ms steps).
pub const MIN_INTERVAL: Duration = Duration::from_millis(200);

/// `interval`, raised to [`MIN_INTERVAL`] if shorter.
pub fn clamp_interval(interval: Duration) -> Duration {
    interval.max(MIN_INTERVAL)
}
