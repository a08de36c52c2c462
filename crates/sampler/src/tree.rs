//! CPU and memory of a process tree, from `/proc`, with CPU % computed from
//! cumulative CPU-time deltas.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::host::{TreeSample, TreeSource};
use crate::procfs::{descendants, descendants_by_children, open_stat, parent_map, reread_stat};
use crate::schedule::ScanSchedule;

/// One tracked process between two samples, with its `stat` file kept open.
#[derive(Debug)]
struct Seen {
    start_ticks: u64,
    cpu_ticks: u64,
    file: std::fs::File,
}

/// Samples a process tree: the root and its descendants. The process table
/// is scanned for new descendants every `scan_every`; in between, each
/// sample reads one `stat` file per tracked process.
#[derive(Debug)]
pub(crate) struct TreeSampler {
    proc_root: PathBuf,
    root: u32,
    schedule: ScanSchedule,
    tracked: HashMap<u32, Seen>,
    last_sample: Option<Instant>,
    clock_ticks: f64,
    page_mb: f64,
    cpus: f64,
    buf: Vec<u8>,
}

impl TreeSampler {
    pub(crate) fn new(proc_root: PathBuf, root: u32, scan_every: Duration, units: Units) -> Self {
        Self {
            proc_root,
            root,
            schedule: ScanSchedule::new(scan_every),
            tracked: HashMap::new(),
            last_sample: None,
            clock_ticks: units.clock_ticks,
            page_mb: units.page_bytes / (1024.0 * 1024.0),
            cpus: units.cpus,
            buf: vec![0; 4096],
        }
    }
}

impl TreeSource for TreeSampler {
    fn pids(&self) -> Vec<u32> {
        self.tracked.keys().copied().collect()
    }

    fn sample(&mut self, now: Instant) -> TreeSample {
        let rescan = self.schedule.scan_due(now);
        let pids: Vec<u32> = if rescan {
            descendants_by_children(&self.proc_root, self.root)
                .unwrap_or_else(|| descendants(self.root, &parent_map(&self.proc_root)))
        } else {
            self.tracked.keys().copied().collect()
        };
        let mut delta_ticks = 0u64;
        let mut rss_pages = 0u64;
        let mut next = HashMap::with_capacity(pids.len());
        let mut previous = std::mem::take(&mut self.tracked);
        for pid in pids {
            // Known processes are re-read through their open file; new ones opened.
            let (file, prev) = match previous.remove(&pid) {
                Some(seen) => (seen.file, Some((seen.start_ticks, seen.cpu_ticks))),
                None => match open_stat(&self.proc_root, pid) {
                    Some(file) => (file, None),
                    None => continue, // exited between the scan and this read
                },
            };
            let Some(stat) = reread_stat(&file, &mut self.buf) else {
                continue; // gone
            };
            if stat.gone {
                continue;
            }
            rss_pages += stat.rss_pages;
            match prev {
                Some((start, ticks)) if start == stat.start_ticks => {
                    delta_ticks += stat.cpu_ticks.saturating_sub(ticks);
                }
                // A new process counts from its next sample.
                _ => {}
            }
            next.insert(
                pid,
                Seen {
                    start_ticks: stat.start_ticks,
                    cpu_ticks: stat.cpu_ticks,
                    file,
                },
            );
        }
        let cpu_percent = self.last_sample.and_then(|at| {
            let wall = now.duration_since(at).as_secs_f64();
            (wall > 0.0).then(|| {
                let busy = delta_ticks as f64 / self.clock_ticks;
                (100.0 * busy / (wall * self.cpus)).clamp(0.0, 100.0)
            })
        });
        self.last_sample = Some(now);
        let processes = next.len();
        self.tracked = next;
        TreeSample {
            cpu_percent,
            rss_mb: rss_pages as f64 * self.page_mb,
            processes,
        }
    }
}

/// Kernel units needed to turn `/proc` numbers into seconds and bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Units {
    /// Clock ticks per second (`_SC_CLK_TCK`).
    pub clock_ticks: f64,
    /// Bytes per page.
    pub page_bytes: f64,
    /// Online CPUs.
    pub cpus: f64,
}

impl Units {
    /// This machine's units.
    pub(crate) fn of_this_machine() -> Self {
        Self {
            clock_ticks: crate::sys::clock_ticks_per_second(),
            page_bytes: crate::sys::page_size(),
            cpus: std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A fake `/proc` with one `stat` file per process.
    struct FakeProc(tempfile::TempDir);

    impl FakeProc {
        fn new() -> Self {
            Self(tempfile::tempdir().unwrap())
        }
        fn path(&self) -> &Path {
            self.0.path()
        }
        fn set(&self, pid: u32, ppid: u32, ticks: u64, rss_pages: u64, start: u64) {
            let dir = self.path().join(pid.to_string());
            std::fs::create_dir_all(&dir).unwrap();
            let line = format!(
                "{pid} (worker) R {ppid} 1 1 0 -1 0 0 0 0 0 {ticks} 0 0 0 20 0 1 0 {start} 1000 {rss_pages} 0"
            );
            std::fs::write(dir.join("stat"), line).unwrap();
        }
        /// Like a process exiting: its `stat` reads nothing any more, also
        /// through a file opened before (the real `/proc` fails such reads).
        fn remove(&self, pid: u32) {
            let dir = self.path().join(pid.to_string());
            std::fs::write(dir.join("stat"), "").unwrap();
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    const UNITS: Units = Units {
        clock_ticks: 100.0,
        page_bytes: 1024.0 * 1024.0,
        cpus: 2.0,
    };

    #[test]
    fn cpu_percent_comes_from_tick_deltas_over_the_whole_tree() {
        let proc_ = FakeProc::new();
        proc_.set(10, 1, 1000, 100, 5);
        proc_.set(11, 10, 50, 20, 6);
        proc_.set(99, 1, 0, 500, 7); // not in the tree
        let mut sampler =
            TreeSampler::new(proc_.path().to_owned(), 10, Duration::from_secs(3), UNITS);
        let t0 = Instant::now();
        let first = sampler.sample(t0);
        assert_eq!(first.cpu_percent, None, "no interval yet");
        assert_eq!((first.processes, first.rss_mb), (2, 120.0));
        // One second later: 10 used 100 ticks (1 s), 11 used 50 (0.5 s) of 2 CPUs.
        proc_.set(10, 1, 1100, 100, 5);
        proc_.set(11, 10, 100, 30, 6);
        let second = sampler.sample(t0 + Duration::from_secs(1));
        assert_eq!(second.cpu_percent, Some(75.0));
        assert_eq!(second.rss_mb, 130.0);
    }

    #[test]
    fn new_children_count_from_their_second_sample_and_exits_are_handled() {
        let proc_ = FakeProc::new();
        proc_.set(10, 1, 0, 10, 5);
        // Rescan on every sample, to see children come and go.
        let mut sampler = TreeSampler::new(proc_.path().to_owned(), 10, Duration::ZERO, UNITS);
        let t0 = Instant::now();
        sampler.sample(t0);
        // A child appears having already used 500 ticks: not charged to this interval.
        proc_.set(12, 10, 500, 10, 8);
        let s = sampler.sample(t0 + Duration::from_secs(1));
        assert_eq!((s.cpu_percent, s.processes), (Some(0.0), 2));
        proc_.set(12, 10, 700, 10, 8);
        let s = sampler.sample(t0 + Duration::from_secs(2));
        assert_eq!(s.cpu_percent, Some(100.0), "200 ticks over 1 s on 2 CPUs");
        // The child exits between a scan and a read: it is simply gone.
        proc_.remove(12);
        let s = sampler.sample(t0 + Duration::from_secs(3));
        assert_eq!((s.cpu_percent, s.processes, s.rss_mb), (Some(0.0), 1, 10.0));
        // A reused pid (new start time) is a new process.
        proc_.set(12, 10, 9000, 10, 99);
        let s = sampler.sample(t0 + Duration::from_secs(4));
        assert_eq!(s.cpu_percent, Some(0.0));
        // The root gone too: nothing to measure.
        proc_.remove(10);
        proc_.remove(12);
        let s = sampler.sample(t0 + Duration::from_secs(5));
        assert_eq!(s.processes, 0);
    }

    #[test]
    fn between_scans_only_tracked_processes_are_read() {
        let proc_ = FakeProc::new();
        proc_.set(10, 1, 0, 10, 5);
        let mut sampler =
            TreeSampler::new(proc_.path().to_owned(), 10, Duration::from_secs(3), UNITS);
        let t0 = Instant::now();
        sampler.sample(t0);
        sampler.sample(t0 + Duration::from_secs(3));
        // Past the tree's first interval, a new process waits for the scan.
        proc_.set(13, 10, 0, 10, 9);
        assert_eq!(
            sampler.sample(t0 + Duration::from_secs(4)).processes,
            1,
            "not scanned yet"
        );
        assert_eq!(
            sampler.sample(t0 + Duration::from_secs(6)).processes,
            2,
            "found by the scan"
        );
    }

    /// A young tree (a supervisor that has just started its step) is looked
    /// at again on every sample of its first scan interval: a step shorter
    /// than that is still measured with its command and what it starts.
    #[test]
    fn a_young_tree_finds_new_descendants_at_the_next_sample() {
        let proc_ = FakeProc::new();
        proc_.set(10, 1, 0, 10, 5);
        let mut sampler =
            TreeSampler::new(proc_.path().to_owned(), 10, Duration::from_secs(3), UNITS);
        let t0 = Instant::now();
        assert_eq!(sampler.sample(t0).processes, 1);
        proc_.set(11, 10, 0, 10, 9);
        assert_eq!(sampler.sample(t0 + Duration::from_millis(200)).processes, 2);
        // A grandchild (the shell's command) too.
        proc_.set(12, 11, 0, 10, 9);
        assert_eq!(sampler.sample(t0 + Duration::from_millis(400)).processes, 3);
    }
}
