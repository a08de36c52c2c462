//! What a backend measures, whichever way it reads the machine: the
//! procfs backend (Linux) and the portable one (sysinfo) both implement
//! these.

use std::time::Instant;

/// One sample of the tracked process tree.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct TreeSample {
    /// CPU use of the tree over the last interval, % of the whole machine
    /// (0–100); `None` on the first sample after a (re)start.
    pub cpu_percent: Option<f64>,
    /// Resident memory summed over the tree, MB.
    pub rss_mb: f64,
    /// Processes measured.
    pub processes: usize,
    /// Whether the tree is gone: nothing measured and no root left.
    pub gone: bool,
}

/// One sample of the machine.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct SystemSample {
    /// CPU use of the machine over the last interval, %.
    pub cpu_percent: Option<f64>,
    /// Memory in use (total − available), MB.
    pub memory_used_mb: Option<f64>,
    /// Total memory, MB.
    pub memory_total_mb: Option<f64>,
    /// Why a metric is missing.
    pub notes: Vec<String>,
}

/// Measures one process tree: a root and its descendants.
pub(crate) trait TreeSource: Send + std::fmt::Debug {
    /// Takes one sample at `now`.
    fn sample(&mut self, now: Instant) -> TreeSample;
    /// The pids the last sample measured.
    fn pids(&self) -> &[u32];
}

/// Measures the machine.
pub(crate) trait SystemSource: Send + std::fmt::Debug {
    /// Takes one sample.
    fn sample(&mut self) -> SystemSample;
}
