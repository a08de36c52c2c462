//! When a tree sampler looks for new descendants: both backends share it.

use std::time::{Duration, Instant};

/// Shortest time between two scans of a young tree: at the shortest
/// sampling interval (200 ms, give or take the timer), every sample; in a
/// tight loop (a benchmark), not every call.
const YOUNG_RESCAN_EVERY: Duration = Duration::from_millis(150);

/// Decides, sample by sample, whether to scan for new descendants: every
/// `scan_every`, and on every sample (at most every 150 ms) of the tree's
/// first `scan_every`. A young tree's root (a step's supervisor) has just
/// started its command, which starts its own processes, and a step shorter
/// than a scan interval would otherwise be measured without them.
#[derive(Debug)]
pub(crate) struct ScanSchedule {
    scan_every: Duration,
    first_sample: Option<Instant>,
    last_scan: Option<Instant>,
}

impl ScanSchedule {
    pub(crate) fn new(scan_every: Duration) -> Self {
        Self {
            scan_every,
            first_sample: None,
            last_scan: None,
        }
    }

    /// Whether the sample taken at `now` scans; if so, it is recorded as
    /// the last scan.
    pub(crate) fn scan_due(&mut self, now: Instant) -> bool {
        let first = *self.first_sample.get_or_insert(now);
        let since_scan = self.last_scan.map(|at| now.duration_since(at));
        let due = match since_scan {
            None => true,
            Some(since) if now.duration_since(first) < self.scan_every => {
                since >= YOUNG_RESCAN_EVERY
            }
            Some(since) => since >= self.scan_every,
        };
        if due {
            self.last_scan = Some(now);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn young_trees_are_scanned_every_sample_then_every_interval() {
        let mut schedule = ScanSchedule::new(Duration::from_secs(3));
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        assert!(schedule.scan_due(at(0)), "the first sample");
        assert!(!schedule.scan_due(at(10)), "a tight loop is not every call");
        assert!(schedule.scan_due(at(200)), "young: every sample");
        assert!(schedule.scan_due(at(2_900)));
        assert!(!schedule.scan_due(at(3_100)), "grown up: every 3 s");
        assert!(!schedule.scan_due(at(5_800)));
        assert!(schedule.scan_due(at(5_900)));
    }
}
