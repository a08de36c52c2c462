//! Whole-machine CPU and memory.

use std::path::PathBuf;

use crate::host::{SystemSample, SystemSource};
use crate::procfs::{CpuTimes, ProcFile, parse_cpu_times, parse_meminfo};

/// Samples `/proc/stat` and `/proc/meminfo`, both kept open between samples
/// (one read each per sample, no path lookups).
#[derive(Debug)]
pub(crate) struct SystemSampler {
    stat: ProcFile,
    meminfo: ProcFile,
    last: Option<CpuTimes>,
}

impl SystemSampler {
    pub(crate) fn new(proc_root: PathBuf) -> Self {
        Self {
            stat: ProcFile::new(proc_root.join("stat")),
            meminfo: ProcFile::new(proc_root.join("meminfo")),
            last: None,
        }
    }
}

impl SystemSource for SystemSampler {
    fn sample(&mut self) -> SystemSample {
        let mut out = SystemSample::default();
        match self.stat.read_head().and_then(parse_cpu_times) {
            Some(now) => {
                if let Some(prev) = self.last {
                    out.cpu_percent = cpu_percent(prev, now);
                    if out.cpu_percent.is_none() {
                        out.notes.push(
                            "cpu_percent_system: the kernel's CPU counters did not advance (virtual machine?)"
                                .to_owned(),
                        );
                    }
                }
                self.last = Some(now);
            }
            None => out
                .notes
                .push("cpu_percent_system: /proc/stat unreadable".to_owned()),
        }
        match self.meminfo.read_head().and_then(parse_meminfo) {
            Some(mem) => {
                out.memory_total_mb = Some(mem.total_kb as f64 / 1024.0);
                out.memory_used_mb =
                    Some(mem.total_kb.saturating_sub(mem.available_kb) as f64 / 1024.0);
            }
            None => out
                .notes
                .push("memory_system: /proc/meminfo unreadable".to_owned()),
        }
        out
    }
}

/// Busy share of the ticks between two readings. Counters that did not
/// advance, or moved backwards (an idle count that never moves on some
/// virtual machines, a counter reset), give `None` rather than a bogus 100 %.
pub(crate) fn cpu_percent(prev: CpuTimes, now: CpuTimes) -> Option<f64> {
    let total = now.total.checked_sub(prev.total)?;
    let idle = now.idle.checked_sub(prev.idle)?;
    if total == 0 || (idle == 0 && now.idle == 0) {
        return None;
    }
    Some((100.0 * (total.saturating_sub(idle)) as f64 / total as f64).clamp(0.0, 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_share_and_bogus_counters() {
        let t = |total, idle| CpuTimes { total, idle };
        assert_eq!(cpu_percent(t(1000, 800), t(1200, 900)), Some(50.0));
        assert_eq!(
            cpu_percent(t(1000, 800), t(1000, 800)),
            None,
            "did not advance"
        );
        assert_eq!(
            cpu_percent(t(1000, 800), t(900, 700)),
            None,
            "moved backwards"
        );
        assert_eq!(
            cpu_percent(t(1000, 0), t(1200, 0)),
            None,
            "idle never moves"
        );
    }

    #[test]
    fn this_machine() {
        let mut sampler = SystemSampler::new(PathBuf::from("/proc"));
        let first = sampler.sample();
        assert_eq!(first.cpu_percent, None, "needs two readings");
        assert!(first.memory_total_mb.unwrap() > first.memory_used_mb.unwrap());
        let missing = SystemSampler::new(PathBuf::from("/nonexistent")).sample();
        assert_eq!(missing.notes.len(), 2, "{:?}", missing.notes);
    }
}
