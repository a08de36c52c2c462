//! Failed writes of a run's own files — a full disk, for instance. While the
//! pipeline runs they are counted, reported once per kind of file, and never
//! fatal: every manifest record is a complete snapshot, so the next write
//! that succeeds catches up. The run's summary says what was lost
//! (`summary.storage_errors`).

use std::collections::BTreeMap;
use std::fmt::Display;
use std::sync::{Arc, Mutex};

use crate::Reporter;

#[derive(Debug, Default)]
struct Entry {
    failures: u64,
    first: String,
}

/// What could not be written, by kind of file.
pub(crate) struct StorageLedger {
    entries: Mutex<BTreeMap<&'static str, Entry>>,
    reporter: Arc<dyn Reporter>,
}

impl std::fmt::Debug for StorageLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageLedger")
            .field("entries", &self.entries)
            .finish_non_exhaustive()
    }
}

impl StorageLedger {
    /// An empty ledger that says each first failure to `reporter`.
    pub(crate) fn new(reporter: Arc<dyn Reporter>) -> Self {
        Self {
            entries: Mutex::default(),
            reporter,
        }
    }

    /// Records a failed write of `what` (`manifest`, `telemetry`, `log`…);
    /// the first failure of each kind is a warning.
    pub(crate) fn note(&self, what: &'static str, error: &dyn Display) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let entry = entries.entry(what).or_default();
        entry.failures += 1;
        if entry.failures == 1 {
            entry.first = error.to_string();
            self.reporter.warn(&format!(
                "cannot write the run's {what}: {error}; the pipeline goes on{}",
                match what {
                    "manifest" => ", and the next record written catches up",
                    "telemetry" => " without these samples",
                    _ => "",
                }
            ));
        }
    }

    /// One line per kind of file that failed, for the summary; empty when
    /// every write succeeded.
    pub(crate) fn summary(&self) -> Vec<String> {
        let Ok(entries) = self.entries.lock() else {
            return Vec::new();
        };
        entries
            .iter()
            .map(|(what, e)| {
                let writes = if e.failures == 1 { "write" } else { "writes" };
                format!("{what}: {} {writes} failed ({})", e.failures, e.first)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_kind_and_keeps_the_first_error() {
        let reporter = Arc::new(crate::CollectingReporter::default());
        let ledger = StorageLedger::new(reporter.clone());
        assert!(ledger.summary().is_empty());
        ledger.note("telemetry", &"No space left on device");
        ledger.note("telemetry", &"other");
        ledger.note("manifest", &"No space left on device");
        assert_eq!(
            ledger.summary(),
            [
                "manifest: 1 write failed (No space left on device)",
                "telemetry: 2 writes failed (No space left on device)",
            ]
        );
        assert_eq!(
            reporter.take(),
            [
                "warning: cannot write the run's telemetry: No space left on device; \
                 the pipeline goes on without these samples",
                "warning: cannot write the run's manifest: No space left on device; \
                 the pipeline goes on, and the next record written catches up",
            ],
            "the first failure of each kind is said, once"
        );
    }
}
