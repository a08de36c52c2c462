//! Background resource sampling of a tracked process tree: CPU, memory and
//! GPU, as [`TelemetrySnapshot`]s.
//!
//! A [`Sampler`] runs a thread that, every interval (default 1 s, at least
//! 200 ms), measures
//!
//! - the tracked process tree — a root pid and all its descendants, found by
//!   a scan of the process table every few seconds, not every sample: CPU %
//!   from cumulative CPU-time deltas (so a process is measured correctly from
//!   its second sample) and resident memory summed over the tree (a process
//!   that has not run since its last reading keeps it for a few seconds; see
//!   [`SamplerConfig::idle_memory_every`]);
//! - the machine's CPU % and memory, read every 2 s: every other sample at
//!   the default interval (the samples in between repeat the last reading; see
//!   [`SamplerConfig::system_every`]); counters that do not advance or move
//!   backwards give `null` with a note, never a bogus 100 %;
//! - GPUs through a [`GpuSource`] (see [`gpu`]);
//!
//! and hands each snapshot, tagged with the current step and the pipeline's
//! reported throughput (from the probe), to a sink: as it is taken, or a
//! batch at a time ([`SamplerConfig::deliver_every`], with
//! [`Sampler::flush`] for the moments a caller needs them all). A sensor
//! that cannot be read yields `null` plus a note; sampling never fails the
//! run.
//!
//! Two backends read the machine ([`Backend`]): on Linux, `/proc` directly
//! (a few small reads per sample, the default there); everywhere, sysinfo
//! (the default on other platforms). Both measure the same things the same
//! way.
//!
//! # Features
//!
//! - `nvml` (default): NVIDIA GPUs through NVML, loaded at run time — a
//!   machine without the driver builds and runs the same, with every GPU
//!   field `null` and the note `gpu: <reason>: GPU metrics off`.
//!
//! # Example
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//! use sampler::{Probe, Sampler, SamplerConfig};
//!
//! let samples = Arc::new(Mutex::new(Vec::new()));
//! let sink = Arc::clone(&samples);
//! let config = SamplerConfig { interval: Duration::from_millis(200), ..SamplerConfig::default() };
//! let sampler = Sampler::start(
//!     config,
//!     || Probe { root_pid: Some(std::process::id()), step_id: Some("train".into()), ..Probe::default() },
//!     move |snapshot| sink.lock().unwrap().push(snapshot.clone()),
//! );
//! std::thread::sleep(Duration::from_millis(500));
//! let report = sampler.stop();
//! let samples = samples.lock().unwrap();
//! assert!(report.samples >= 2 && samples.len() as u64 == report.samples);
//! assert_eq!(samples[0].step_id.as_deref(), Some("train"));
//! assert!(samples[0].memory_rss_mb.unwrap() > 0.0);
//! assert!(samples[1].cpu_percent_process.is_some(), "from the second sample on");
//! ```

pub mod gpu;
mod host;
mod portable;
#[cfg(target_os = "linux")]
mod procfs;
mod schedule;
#[cfg(target_os = "linux")]
mod sys;
#[cfg(target_os = "linux")]
mod system;
#[cfg(target_os = "linux")]
mod tree;

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use telemetry_model::{TelemetrySnapshot, Timestamp};

use crate::host::{SystemSample, SystemSource, TreeSource};

pub use gpu::{GpuSample, GpuSource};

/// Default time between samples.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// Shortest interval allowed: CPU counters move in 10 ms ticks, so shorter
/// intervals give percentages too coarse to mean anything (and sysinfo, on
/// other platforms, ignores CPU refreshes closer than 200 ms).
pub const MIN_INTERVAL: Duration = Duration::from_millis(200);

/// Default time between scans of the process table for new descendants.
pub const DEFAULT_SCAN_EVERY: Duration = Duration::from_secs(3);

/// Default time between readings of the machine-wide figures (CPU %,
/// memory): every other sample at the default interval, every 10th at
/// 200 ms.
pub const DEFAULT_SYSTEM_EVERY: Duration = Duration::from_secs(2);

/// Default time snapshots wait to be handed to the sink together: none,
/// each is handed over as it is taken (see [`SamplerConfig::deliver_every`]).
pub const DEFAULT_DELIVER_EVERY: Duration = Duration::ZERO;

/// Default longest time a tracked process that uses no CPU keeps its
/// memory figure (see [`SamplerConfig::idle_memory_every`]).
pub const DEFAULT_IDLE_MEMORY_EVERY: Duration = Duration::from_secs(5);

/// Environment variable that turns telemetry off: `0`, `false`, `off`, `no`.
pub const ENV_TELEMETRY: &str = "TRACKER_TELEMETRY";

/// CPU seconds (user + system) used so far by process `root` and all its
/// descendants, the children they reaped included (so the figure never
/// goes back when one exits), read from `/proc`; `None` where it cannot be
/// read (`root` is gone, or not Linux). The runner's stall detection asks
/// whether a step's tree used any CPU.
///
/// ```
/// # #[cfg(target_os = "linux")] {
/// let spent = sampler::tree_cpu_seconds(std::process::id()).unwrap();
/// assert!(spent >= 0.0);
/// assert_eq!(sampler::tree_cpu_seconds(u32::MAX), None);
/// # }
/// ```
pub fn tree_cpu_seconds(root: u32) -> Option<f64> {
    #[cfg(target_os = "linux")]
    {
        procfs::tree_cpu_seconds(std::path::Path::new("/proc"), root)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = root;
        None
    }
}

/// Whether [`ENV_TELEMETRY`] turns telemetry off in this process.
pub fn disabled_by_env() -> bool {
    std::env::var(ENV_TELEMETRY).is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "0" | "false" | "off" | "no"
        )
    })
}

/// `interval`, raised to [`MIN_INTERVAL`] if shorter.
pub fn clamp_interval(interval: Duration) -> Duration {
    interval.max(MIN_INTERVAL)
}

/// How the sampler reads processes and the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `/proc`, read directly: the cheapest (per tracked process and
    /// sample, its CPU clock and, while it runs, one read of its `statm`,
    /// kept open; the machine's files at most every
    /// [`SamplerConfig::system_every`]).
    /// Linux only; elsewhere it falls back to [`Backend::Sysinfo`].
    Procfs,
    /// The sysinfo crate: every platform it supports.
    Sysinfo,
}

impl Default for Backend {
    /// [`Backend::Procfs`] on Linux, [`Backend::Sysinfo`] elsewhere.
    fn default() -> Self {
        if cfg!(target_os = "linux") {
            Self::Procfs
        } else {
            Self::Sysinfo
        }
    }
}

/// How a [`Sampler`] samples.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplerConfig {
    /// Time between samples (raised to [`MIN_INTERVAL`]).
    pub interval: Duration,
    /// Time between scans of the process table for new descendants.
    pub scan_every: Duration,
    /// Time between readings of the machine-wide figures (CPU %, memory
    /// used and total), as a whole number of intervals: every
    /// `system_every / interval` samples, rounded down, and at least every
    /// sample, so at the default interval every other sample and at 200 ms
    /// every 10th. The samples in between repeat the last reading; its CPU %
    /// covers the time since the reading before. The first reading has no
    /// CPU %, so the second sample reads again. Rendering `/proc/stat` and
    /// `/proc/meminfo` costs the kernel more than reading a few processes,
    /// and a machine's figures drift slowly.
    pub system_every: Duration,
    /// With the procfs backend, how long a tracked process that uses no
    /// CPU keeps its memory figure, as a whole number of intervals like
    /// [`SamplerConfig::system_every`]: its `statm` is read again after as
    /// many samples, or at the first sample after it ran. A process changes
    /// its own memory only while it runs; the kernel takes pages from a
    /// sleeping one only under pressure, and a parent that has not yet
    /// reaped an ended child leaves its last figure standing, each at most
    /// this late. A `statm` read costs a woken-up sampler as much as three
    /// processes' CPU clocks, so the idle processes of a tree (a shell
    /// waiting for its command, a supervisor) are not read every second.
    pub idle_memory_every: Duration,
    /// How long snapshots wait to be handed to the sink together, as a
    /// whole number of intervals like [`SamplerConfig::system_every`]:
    /// every `deliver_every / interval` samples, at least every sample (so
    /// [`Duration::ZERO`], the default, hands each over as it is taken).
    /// A sink that stores or shows snapshots costs a woken-up sampler more
    /// for the first of a batch than for the others; the price is that a
    /// snapshot reaches the sink up to this late. The held snapshots are
    /// handed over when the sampler stops and at [`Sampler::flush`] (or a
    /// [`Flusher`]'s) too, so a caller that must see them all at some point
    /// (a step's end, before the process ends) flushes there.
    pub deliver_every: Duration,
    /// Where the process table is (`/proc`; tests may point elsewhere).
    /// Only the [`Backend::Procfs`] backend reads it.
    pub proc_root: PathBuf,
    /// How processes and the machine are read.
    pub backend: Backend,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self {
            interval: DEFAULT_INTERVAL,
            scan_every: DEFAULT_SCAN_EVERY,
            system_every: DEFAULT_SYSTEM_EVERY,
            idle_memory_every: DEFAULT_IDLE_MEMORY_EVERY,
            deliver_every: DEFAULT_DELIVER_EVERY,
            proc_root: PathBuf::from("/proc"),
            backend: Backend::default(),
        }
    }
}

/// What the sampler asks its owner before each sample.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Probe {
    /// Root of the tree to measure (the pipeline's own process, or the
    /// running step's child); `None` measures only the machine.
    pub root_pid: Option<u32>,
    /// Whether the root is left out and only its descendants measured: a
    /// supervisor that starts the work and waits for it, whose own CPU and
    /// memory are not the work's. While the root runs with no descendant
    /// (the work not started yet, or just ended) the process fields are
    /// null without a note; once it is gone too, the note says so.
    pub exclude_root: bool,
    /// The step running now.
    pub step_id: Option<String>,
    /// Work items per second the pipeline reported.
    pub steps_per_sec: Option<f64>,
    /// Frames per second the pipeline reported.
    pub fps: Option<f64>,
}

/// What a sampler did, returned by [`Sampler::stop`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SamplerReport {
    /// Snapshots taken.
    pub samples: u64,
    /// Wall time spent taking them (the sampler's own cost), summed.
    pub busy: Duration,
}

/// The sampling thread. Dropping it stops the thread too.
#[derive(Debug)]
pub struct Sampler {
    stop: Arc<(Mutex<bool>, Condvar)>,
    delivery: Arc<Mutex<Delivery>>,
    thread: Option<JoinHandle<SamplerReport>>,
}

/// The sink of a [`Sampler`], as the sampling thread and flushers share it.
type Sink = Box<dyn FnMut(&TelemetrySnapshot) + Send>;

/// Snapshots taken and not yet handed to the sink, and the sink.
struct Delivery {
    held: Vec<TelemetrySnapshot>,
    sink: Sink,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("held", &self.held.len())
            .finish_non_exhaustive()
    }
}

impl Delivery {
    fn lock(delivery: &Mutex<Self>) -> std::sync::MutexGuard<'_, Self> {
        delivery.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn deliver(&mut self) {
        let Self { held, sink } = self;
        for snapshot in held.drain(..) {
            sink(&snapshot);
        }
    }
}

/// Hands a [`Sampler`]'s held snapshots to its sink from any thread (see
/// [`SamplerConfig::deliver_every`]): got from [`Sampler::flusher`], for a
/// thread that does not own the sampler (one that handles signals, say).
///
/// A flusher does not keep the sampler's sink alive (so a sink may own
/// what keeps a flusher): once the sampler is stopped, and has handed
/// over all it held, flushing does nothing.
///
/// Never flush from inside the sink, nor while holding a lock the sink
/// takes: the flush calls the sink, under the lock the sampling thread
/// holds while it does.
#[derive(Clone)]
pub struct Flusher(std::sync::Weak<Mutex<Delivery>>);

impl Flusher {
    /// Hands every snapshot taken so far and still held to the sink, in
    /// the order taken, and returns once it has.
    pub fn flush(&self) {
        if let Some(delivery) = self.0.upgrade() {
            Delivery::lock(&delivery).deliver();
        }
    }
}

impl std::fmt::Debug for Flusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flusher").finish_non_exhaustive()
    }
}

impl Sampler {
    /// Starts sampling with the detected GPU source ([`gpu::detect`]).
    pub fn start(
        config: SamplerConfig,
        probe: impl FnMut() -> Probe + Send + 'static,
        sink: impl FnMut(&TelemetrySnapshot) + Send + 'static,
    ) -> Self {
        Self::start_with_gpu(config, gpu::detect(), probe, sink)
    }

    /// Starts sampling with the given GPU source.
    pub fn start_with_gpu(
        config: SamplerConfig,
        gpu: Box<dyn GpuSource>,
        mut probe: impl FnMut() -> Probe + Send + 'static,
        sink: impl FnMut(&TelemetrySnapshot) + Send + 'static,
    ) -> Self {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let deliver_every = samples_in(config.interval, config.deliver_every) as usize;
        let delivery = Arc::new(Mutex::new(Delivery {
            held: Vec::with_capacity(deliver_every),
            sink: Box::new(sink),
        }));
        let thread = {
            let stop = Arc::clone(&stop);
            let delivery = Arc::clone(&delivery);
            std::thread::Builder::new()
                .name("sampler".into())
                .spawn(move || {
                    let mut state = Collector::new(config.clone(), gpu);
                    let mut report = SamplerReport::default();
                    let interval = clamp_interval(config.interval);
                    loop {
                        let started = Instant::now();
                        let snapshot = state.sample(probe(), started);
                        {
                            let mut delivery = Delivery::lock(&delivery);
                            delivery.held.push(snapshot);
                            if delivery.held.len() >= deliver_every {
                                delivery.deliver();
                            }
                        }
                        let busy = started.elapsed();
                        report.samples += 1;
                        report.busy += busy;
                        let wait = interval.saturating_sub(busy);
                        let (lock, wake) = &*stop;
                        let guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
                        let (guard, _) = wake
                            .wait_timeout_while(guard, wait, |stopped| !*stopped)
                            .unwrap_or_else(PoisonError::into_inner);
                        if *guard {
                            drop(guard);
                            Delivery::lock(&delivery).deliver();
                            return report;
                        }
                    }
                })
                .ok()
        };
        Self {
            stop,
            delivery,
            thread,
        }
    }

    /// Hands the snapshots held back by [`SamplerConfig::deliver_every`]
    /// to the sink now, and returns once it has: every snapshot taken
    /// before the call has then reached the sink. Never call it from
    /// inside the sink, nor while holding a lock the sink takes.
    pub fn flush(&self) {
        Delivery::lock(&self.delivery).deliver();
    }

    /// A handle that flushes from another thread (see [`Flusher`]).
    pub fn flusher(&self) -> Flusher {
        Flusher(Arc::downgrade(&self.delivery))
    }

    /// Stops the thread, hands what it held to the sink, and reports what
    /// it did.
    pub fn stop(mut self) -> SamplerReport {
        self.halt()
    }

    fn halt(&mut self) -> SamplerReport {
        let (lock, wake) = &*self.stop;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Takes one sample at a time: what the [`Sampler`] thread runs, for callers
/// that drive their own loop (and for benchmarks). It keeps what the next
/// sample needs for its deltas.
pub struct Collector {
    config: SamplerConfig,
    /// The tree's root, whether it is excluded, and its sampler.
    tree: Option<((u32, bool), Box<dyn TreeSource>)>,
    system: Machine,
    gpu: Box<dyn GpuSource>,
}

/// The machine-wide figures, read every `every` samples; the samples in
/// between repeat the last reading.
#[derive(Debug)]
struct Machine {
    source: Box<dyn SystemSource>,
    every: u32,
    /// The last reading and how many samples have given it.
    last: Option<(SystemSample, u32)>,
}

/// `config.system_every` in samples: at least 1.
fn system_every_samples(config: &SamplerConfig) -> u32 {
    samples_in(config.interval, config.system_every)
}

/// Whole samples taken at `interval` (as [`clamp_interval`] raises it) in
/// `span`, at least 1: how many samples a cadence given as a duration
/// spans (at 200 ms, 5 in a second).
pub fn samples_in(interval: Duration, span: Duration) -> u32 {
    let interval = clamp_interval(interval).as_nanos();
    u32::try_from(span.as_nanos() / interval)
        .unwrap_or(u32::MAX)
        .max(1)
}

impl Machine {
    fn new(source: Box<dyn SystemSource>, config: &SamplerConfig) -> Self {
        Self {
            source,
            every: system_every_samples(config),
            last: None,
        }
    }

    fn sample(&mut self) -> SystemSample {
        match &mut self.last {
            // A reading without CPU % (the first, or a failed one) is
            // followed by another at the next sample.
            Some((reading, given)) if *given < self.every && reading.cpu_percent.is_some() => {
                *given += 1;
                reading.clone()
            }
            last => last.insert((self.source.sample(), 1)).0.clone(),
        }
    }
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Collector {
    /// A collector reading processes and the machine as `config` says and
    /// GPUs from `gpu`.
    pub fn new(config: SamplerConfig, gpu: Box<dyn GpuSource>) -> Self {
        let system: Box<dyn SystemSource> = match config.backend {
            #[cfg(target_os = "linux")]
            Backend::Procfs => Box::new(system::SystemSampler::new(config.proc_root.clone())),
            _ => Box::new(portable::PortableSystem::new()),
        };
        Self {
            system: Machine::new(system, &config),
            config,
            tree: None,
            gpu,
        }
    }

    /// A sampler for the tree of `root` (without it, if `exclude_root`),
    /// by the configured backend.
    fn tree_source(config: &SamplerConfig, root: u32, exclude_root: bool) -> Box<dyn TreeSource> {
        match config.backend {
            #[cfg(target_os = "linux")]
            Backend::Procfs => Box::new(
                tree::TreeSampler::new(
                    config.proc_root.clone(),
                    root,
                    config.scan_every,
                    samples_in(config.interval, config.idle_memory_every),
                    tree::Units::of_this_machine(),
                )
                .excluding_root(exclude_root),
            ),
            _ => Box::new(
                portable::PortableTree::new(root, config.scan_every).excluding_root(exclude_root),
            ),
        }
    }

    /// Takes one sample at `now` (CPU % needs a previous sample).
    pub fn sample(&mut self, probe: Probe, now: Instant) -> TelemetrySnapshot {
        let mut snapshot = TelemetrySnapshot {
            timestamp_ms: Timestamp::now().unix_ms(),
            step_id: probe.step_id,
            steps_per_sec: probe.steps_per_sec,
            fps: probe.fps,
            ..TelemetrySnapshot::default()
        };
        match probe.root_pid {
            Some(root) => {
                let config = &self.config;
                let key = (root, probe.exclude_root);
                let sampler = match &mut self.tree {
                    Some((tree, sampler)) if *tree == key => sampler,
                    slot => {
                        let source = Self::tree_source(config, root, probe.exclude_root);
                        &mut slot.insert((key, source)).1
                    }
                };
                let tree = sampler.sample(now);
                if tree.gone {
                    snapshot
                        .notes
                        .push(format!("process: {root} and its descendants are gone"));
                } else if tree.processes > 0 {
                    snapshot.cpu_percent_process = tree.cpu_percent;
                    snapshot.memory_rss_mb = Some(tree.rss_mb);
                }
                // Otherwise only an excluded root runs: nothing to measure
                // yet (or any more), which is no sensor failure.
            }
            // No tree (between steps): the process fields stay null, which
            // is no sensor failure, so no note.
            None => self.tree = None,
        }
        let system = self.system.sample();
        snapshot.cpu_percent_system = system.cpu_percent;
        snapshot.memory_system_used_mb = system.memory_used_mb;
        snapshot.memory_system_total_mb = system.memory_total_mb;
        snapshot.notes.extend(system.notes);
        // The tree's pids, for its GPU memory (none when it is gone).
        let pids = self.tree.as_ref().map_or(&[][..], |(_, tree)| tree.pids());
        let gpu = self.gpu.sample(pids);
        snapshot.gpu_util_percent = gpu.util_percent;
        snapshot.gpu_mem_used_mb = gpu.mem_used_mb;
        snapshot.notes.extend(gpu.notes);
        snapshot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A machine whose readings are numbered 0, 1, 2, … (as the memory
    /// used); CPU % from the second on, unless `no_cpu`.
    #[derive(Debug, Default)]
    struct Numbered {
        next: u32,
        no_cpu: bool,
    }

    impl SystemSource for Numbered {
        fn sample(&mut self) -> SystemSample {
            let n = self.next;
            self.next += 1;
            SystemSample {
                cpu_percent: (n > 0 && !self.no_cpu).then_some(50.0),
                memory_used_mb: Some(f64::from(n)),
                ..SystemSample::default()
            }
        }
    }

    /// The reading each of `samples` samples gives.
    fn readings(
        source: Numbered,
        interval_ms: u64,
        system_every: Duration,
        samples: usize,
    ) -> Vec<u32> {
        let config = SamplerConfig {
            interval: Duration::from_millis(interval_ms),
            system_every,
            ..SamplerConfig::default()
        };
        let mut machine = Machine::new(Box::new(source), &config);
        (0..samples)
            .map(|_| machine.sample().memory_used_mb.unwrap() as u32)
            .collect()
    }

    #[test]
    fn idle_processes_keep_their_memory_figure_for_five_seconds_of_samples() {
        let at = |ms| {
            let config = SamplerConfig {
                interval: Duration::from_millis(ms),
                ..SamplerConfig::default()
            };
            samples_in(config.interval, config.idle_memory_every)
        };
        assert_eq!(at(200), 25);
        assert_eq!(at(1000), 5);
        assert_eq!(at(10_000), 1, "at least every sample");
    }

    #[test]
    fn machine_wide_figures_are_read_every_second_and_repeated_in_between() {
        let second = Duration::from_secs(1);
        assert_eq!(
            readings(Numbered::default(), 200, second, 12),
            [0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3],
            "200 ms: the first reading has no CPU %, so again at once; then every 5th"
        );
        assert_eq!(
            readings(Numbered::default(), 300, second, 8),
            [0, 1, 1, 1, 2, 2, 2, 3],
            "300 ms: every 3rd (0.9 s), never older than a second"
        );
        assert_eq!(
            readings(Numbered::default(), 1000, second, 4),
            [0, 1, 2, 3],
            "the default interval: every sample"
        );
        assert_eq!(
            readings(Numbered::default(), 200, Duration::ZERO, 3),
            [0, 1, 2],
            "asked for every sample"
        );
        assert_eq!(
            readings(Numbered::default(), 100, second, 7),
            [0, 1, 1, 1, 1, 1, 2],
            "an interval below the minimum counts as the minimum"
        );
        let no_cpu = Numbered {
            no_cpu: true,
            ..Numbered::default()
        };
        assert_eq!(
            readings(no_cpu, 200, second, 3),
            [0, 1, 2],
            "a reading without CPU % is never repeated"
        );
    }
}
