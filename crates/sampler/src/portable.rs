//! The portable backend: the process tree and the machine through sysinfo,
//! for platforms without `/proc` (and for anyone who asks for it with
//! [`Backend::Sysinfo`](crate::Backend::Sysinfo)).
//!
//! It keeps the procfs backend's semantics: the process table is scanned for
//! new descendants every `scan_every` and only the tracked pids are refreshed
//! in between; CPU % of the tree comes from cumulative CPU-time deltas of the
//! same processes (a process that restarted under the same pid counts from
//! its next sample), as a share of the whole machine.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sysinfo::{MemoryRefreshKind, Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use crate::host::{SystemSample, SystemSource, TreeSample, TreeSource};
use crate::schedule::ScanSchedule;

const MB: f64 = 1024.0 * 1024.0;

/// A process tree measured through sysinfo.
pub(crate) struct PortableTree {
    system: System,
    root: u32,
    /// Whether the root itself is measured.
    count_root: bool,
    /// Whether the last scan found the root.
    root_seen: bool,
    schedule: ScanSchedule,
    /// pid → (start time, cumulative CPU ms) at the last sample.
    tracked: HashMap<u32, (u64, u64)>,
    /// `tracked`'s pids.
    pids: Vec<u32>,
    last_sample: Option<Instant>,
    cpus: f64,
}

impl std::fmt::Debug for PortableTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortableTree")
            .field("root", &self.root)
            .field("tracked", &self.tracked.len())
            .finish_non_exhaustive()
    }
}

impl PortableTree {
    pub(crate) fn new(root: u32, scan_every: Duration) -> Self {
        Self {
            system: System::new(),
            root,
            count_root: true,
            root_seen: false,
            schedule: ScanSchedule::new(scan_every),
            tracked: HashMap::new(),
            pids: Vec::new(),
            last_sample: None,
            cpus: std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64),
        }
    }

    /// If `exclude`, measures the root's descendants and not the root (see
    /// `TreeSampler::excluding_root`).
    pub(crate) fn excluding_root(mut self, exclude: bool) -> Self {
        self.count_root = !exclude;
        self
    }

    /// Refreshes every process and returns the root's tree (without the
    /// root, unless it is counted).
    fn scan(&mut self) -> Vec<u32> {
        self.system
            .refresh_processes_specifics(ProcessesToUpdate::All, true, refresh_kind());
        let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
        for (pid, process) in self.system.processes() {
            if let Some(parent) = process.parent() {
                children
                    .entry(parent.as_u32())
                    .or_default()
                    .push(pid.as_u32());
            }
        }
        self.root_seen = self.system.process(Pid::from_u32(self.root)).is_some();
        if !self.root_seen {
            return Vec::new();
        }
        let mut tree = vec![self.root];
        let mut next = 0;
        while let Some(&pid) = tree.get(next) {
            next += 1;
            if let Some(kids) = children.get(&pid) {
                tree.extend(kids.iter().filter(|k| **k != pid));
            }
        }
        if !self.count_root {
            tree.remove(0);
        }
        tree
    }
}

fn refresh_kind() -> ProcessRefreshKind {
    ProcessRefreshKind::nothing().with_cpu().with_memory()
}

impl TreeSource for PortableTree {
    fn sample(&mut self, now: Instant) -> TreeSample {
        let rescan = self.schedule.scan_due(now);
        let pids = if rescan {
            self.scan()
        } else {
            let pids: Vec<Pid> = self.tracked.keys().map(|p| Pid::from_u32(*p)).collect();
            self.system.refresh_processes_specifics(
                ProcessesToUpdate::Some(&pids),
                true,
                refresh_kind(),
            );
            pids.into_iter().map(Pid::as_u32).collect()
        };
        let mut delta_ms = 0u64;
        let mut rss_bytes = 0u64;
        let mut next = HashMap::with_capacity(pids.len());
        for pid in pids {
            let Some(process) = self.system.process(Pid::from_u32(pid)) else {
                continue; // exited between the scan and this read
            };
            let (start, cpu_ms) = (process.start_time(), process.accumulated_cpu_time());
            rss_bytes += process.memory();
            if let Some(&(prev_start, prev_ms)) = self.tracked.get(&pid)
                && prev_start == start
            {
                delta_ms += cpu_ms.saturating_sub(prev_ms);
            }
            next.insert(pid, (start, cpu_ms));
        }
        let cpu_percent = self.last_sample.and_then(|at| {
            let wall = now.duration_since(at).as_secs_f64();
            (wall > 0.0).then(|| {
                let busy = delta_ms as f64 / 1000.0;
                (100.0 * busy / (wall * self.cpus)).clamp(0.0, 100.0)
            })
        });
        self.last_sample = Some(now);
        let processes = next.len();
        self.tracked = next;
        self.pids.clear();
        self.pids.extend(self.tracked.keys().copied());
        TreeSample {
            cpu_percent,
            rss_mb: rss_bytes as f64 / MB,
            processes,
            gone: processes == 0 && (self.count_root || !self.root_seen),
        }
    }

    fn pids(&self) -> &[u32] {
        &self.pids
    }
}

/// The machine's CPU and memory through sysinfo.
pub(crate) struct PortableSystem {
    system: System,
    primed: bool,
}

impl std::fmt::Debug for PortableSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortableSystem")
            .field("primed", &self.primed)
            .finish_non_exhaustive()
    }
}

impl PortableSystem {
    pub(crate) fn new() -> Self {
        Self {
            system: System::new(),
            primed: false,
        }
    }
}

impl SystemSource for PortableSystem {
    fn sample(&mut self) -> SystemSample {
        let mut out = SystemSample::default();
        // sysinfo measures CPU use between two refreshes at least
        // `MINIMUM_CPU_UPDATE_INTERVAL` (200 ms) apart: the first refresh only
        // primes it. Our minimum interval is the same 200 ms.
        self.system.refresh_cpu_usage();
        if self.primed {
            let usage = f64::from(self.system.global_cpu_usage());
            if usage.is_finite() {
                out.cpu_percent = Some(usage.clamp(0.0, 100.0));
            } else {
                out.notes
                    .push("cpu_percent_system: the CPU counters gave no usable figure".to_owned());
            }
        }
        self.primed = true;
        self.system
            .refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        let total = self.system.total_memory();
        if total == 0 {
            out.notes
                .push("memory_system: the platform reported no memory".to_owned());
        } else {
            let available = self.system.available_memory();
            let used = if available > 0 {
                total.saturating_sub(available)
            } else {
                self.system.used_memory()
            };
            out.memory_total_mb = Some(total as f64 / MB);
            out.memory_used_mb = Some(used as f64 / MB);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_and_this_machine() {
        let mut tree = PortableTree::new(std::process::id(), Duration::from_secs(3));
        let t0 = Instant::now();
        let first = tree.sample(t0);
        assert_eq!(first.cpu_percent, None, "needs two readings");
        assert!(first.rss_mb > 1.0, "{first:?}");
        assert!(first.processes >= 1);
        assert!(tree.pids().contains(&std::process::id()));
        // Burn a little CPU so the delta is non-zero.
        let mut x = 0u64;
        let until = Instant::now() + Duration::from_millis(250);
        while Instant::now() < until {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let second = tree.sample(Instant::now());
        assert!(second.cpu_percent.unwrap() > 0.0, "{second:?}");

        let mut system = PortableSystem::new();
        let first = system.sample();
        assert_eq!(first.cpu_percent, None, "the first refresh only primes");
        assert!(first.memory_total_mb.unwrap() > first.memory_used_mb.unwrap());
        std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
        let second = system.sample();
        assert!((0.0..=100.0).contains(&second.cpu_percent.unwrap()));
    }

    #[test]
    fn a_missing_root_is_an_empty_tree() {
        // Pid numbers wrap well below this on Linux and macOS.
        let mut tree = PortableTree::new(u32::MAX - 7, Duration::from_secs(3));
        let sample = tree.sample(Instant::now());
        assert_eq!(sample.processes, 0);
        assert!(tree.pids().is_empty());
    }
}
