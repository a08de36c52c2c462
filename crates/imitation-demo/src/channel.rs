//! The writing side of the tracker's progress channel (`TRACKER_PROGRESS`).
//!
//! A step run by `tracker run` finds a file path in the environment variable
//! [`ENV_VAR`] and appends JSON lines to it, one complete line per `write`:
//!
//! ```text
//! {"progress":0.42}
//! {"steps":12000}
//! {"artifact":"out/collect/dataset.json"}
//! {"message":"collected 61234 pairs from 1000 episodes"}
//! ```
//!
//! `progress` is the fraction done in `[0, 1]`, `steps` the cumulative item
//! count (never decreasing), `artifact` a file the step wrote, `message` its
//! one-line result. Updates are throttled (at most one progress/steps pair
//! per [`ProgressChannel::DEFAULT_INTERVAL`]), except the final one at 1.0.
//!
//! The channel is a convenience, never a reason to fail: when the file cannot
//! be opened or written, the channel stops writing and keeps one warning for
//! the caller to show ([`ProgressChannel::take_warning`]).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::progress::Progress;

/// The environment variable naming the channel file.
pub const ENV_VAR: &str = "TRACKER_PROGRESS";

/// Appends progress records to the channel file.
#[derive(Debug)]
pub struct ProgressChannel {
    file: Option<File>,
    path: PathBuf,
    interval: Duration,
    last_emit: Option<Instant>,
    last_fraction: f64,
    last_items: Option<u64>,
    finished: bool,
    warning: Option<String>,
}

impl ProgressChannel {
    /// Default minimum time between two progress updates (5 per second).
    pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(200);

    /// Opens `path` for appending (creating it). When that fails the channel
    /// is returned anyway, writing nothing, with a warning waiting.
    pub fn open(path: &Path, interval: Duration) -> Self {
        let (file, warning) = match OpenOptions::new().create(true).append(true).open(path) {
            Ok(f) => (Some(f), None),
            Err(e) => (
                None,
                Some(format!(
                    "progress channel {} unusable, not reporting progress: {e}",
                    path.display()
                )),
            ),
        };
        Self {
            file,
            path: path.to_owned(),
            interval,
            last_emit: None,
            last_fraction: 0.0,
            last_items: None,
            finished: false,
            warning,
        }
    }

    /// The channel named by [`ENV_VAR`], if it is set and not empty.
    pub fn from_env() -> Option<Self> {
        let path = std::env::var_os(ENV_VAR).filter(|p| !p.is_empty())?;
        Some(Self::open(Path::new(&path), Self::DEFAULT_INTERVAL))
    }

    /// Whether records are still being written.
    pub fn is_active(&self) -> bool {
        self.file.is_some()
    }

    /// The first problem met, once.
    pub fn take_warning(&mut self) -> Option<String> {
        self.warning.take()
    }

    /// Writes one record as one line with one `write` call.
    fn record(&mut self, value: &serde_json::Value) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let mut line = value.to_string();
        line.push('\n');
        if let Err(e) = file.write_all(line.as_bytes()).and_then(|()| file.flush()) {
            self.file = None;
            self.warning.get_or_insert_with(|| {
                format!(
                    "cannot write progress channel {}, not reporting progress: {e}",
                    self.path.display()
                )
            });
        }
    }

    /// Records a file the step wrote.
    pub fn artifact(&mut self, path: &Path) {
        self.record(&serde_json::json!({ "artifact": path.to_string_lossy() }));
    }

    /// Records the step's one-line result.
    pub fn result(&mut self, text: &str) {
        self.record(&serde_json::json!({ "message": text }));
    }
}

impl Progress for ProgressChannel {
    fn update(&mut self, fraction_done: f64, items_done: u64) {
        // Progress never goes back, and a nonsensical value means "no news".
        let fraction = if fraction_done.is_finite() {
            fraction_done.clamp(self.last_fraction, 1.0)
        } else {
            self.last_fraction
        };
        let now = Instant::now();
        let is_final = fraction >= 1.0;
        let due = self
            .last_emit
            .is_none_or(|t| now.duration_since(t) >= self.interval);
        if (is_final && self.finished) || !(is_final || due) {
            return;
        }
        self.last_emit = Some(now);
        self.last_fraction = fraction;
        self.finished |= is_final;
        // Four decimals are plenty and keep the lines short.
        let rounded = (fraction * 10_000.0).round() / 10_000.0;
        self.record(&serde_json::json!({ "progress": rounded }));
        // Steps are cumulative; never write a smaller count than before.
        let items = self
            .last_items
            .map_or(items_done, |last| last.max(items_done));
        self.last_items = Some(items);
        self.record(&serde_json::json!({ "steps": items }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .expect("read")
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect()
    }

    #[test]
    fn writes_throttled_json_lines_and_always_the_final_update() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("progress.jsonl");
        let mut ch = ProgressChannel::open(&path, Duration::from_secs(3600));
        ch.update(0.0, 0);
        ch.update(0.5, 10); // throttled
        ch.update(1.0, 20);
        ch.update(1.0, 20); // already finished
        ch.artifact(Path::new("out/policy.json"));
        ch.result("done");
        assert!(ch.take_warning().is_none());
        let got = lines(&path);
        let want: Vec<serde_json::Value> = [
            r#"{"progress":0.0}"#,
            r#"{"steps":0}"#,
            r#"{"progress":1.0}"#,
            r#"{"steps":20}"#,
            r#"{"artifact":"out/policy.json"}"#,
            r#"{"message":"done"}"#,
        ]
        .iter()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn appends_and_never_goes_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.jsonl");
        std::fs::write(&path, "{\"progress\":0.1}\n").expect("seed");
        let mut ch = ProgressChannel::open(&path, Duration::ZERO);
        ch.update(0.3, 50);
        ch.update(0.4, 40);
        ch.update(f64::NAN, 60);
        let got = lines(&path);
        assert_eq!(got.len(), 7);
        assert_eq!(got[3], serde_json::json!({"progress": 0.4}));
        assert_eq!(got[4], serde_json::json!({"steps": 50}));
        assert_eq!(got[5], serde_json::json!({"progress": 0.4}));
        assert_eq!(got[6], serde_json::json!({"steps": 60}));
    }

    #[test]
    fn an_unusable_path_warns_once_and_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ch = ProgressChannel::open(&dir.path().join("missing/dir/p.jsonl"), Duration::ZERO);
        assert!(!ch.is_active());
        ch.update(0.5, 1);
        ch.result("x");
        let warning = ch.take_warning().expect("a warning");
        assert!(warning.contains("missing"), "{warning}");
        assert!(ch.take_warning().is_none());
    }
}
