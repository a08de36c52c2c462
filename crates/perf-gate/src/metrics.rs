//! The metrics document (`metrics.json`), in the shape of rust-analyzer's
//! `xtask metrics`: host, git revision, timestamp and `name: [value, unit]`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use telemetry_model::Timestamp;

use crate::evaluate::Evaluation;

/// The machine a measurement ran on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    /// Host name.
    pub name: String,
    /// Operating system (`linux`).
    pub os: String,
    /// CPU architecture (`x86_64`).
    pub arch: String,
    /// CPUs this process may use.
    pub cpus: Option<usize>,
    /// CPU model, where the system says.
    pub cpu: Option<String>,
    /// Memory of the machine, MB, where the system says.
    pub memory_mb: Option<u64>,
}

impl HostInfo {
    /// This machine, as far as it can be read; what cannot be read is `None`.
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Self {
            name: manifest::host_name(),
            os: std::env::consts::OS.to_owned(),
            arch: std::env::consts::ARCH.to_owned(),
            cpus: std::thread::available_parallelism().ok().map(Into::into),
            cpu: field(&cpuinfo, "model name")
                .map(|m| m.split_whitespace().collect::<Vec<_>>().join(" ")),
            memory_mb: field(&meminfo, "MemTotal")
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                .map(|kb| kb / 1024),
        }
    }

    /// One line for a baselines file's `host`: `name (cpu, N cpus, arch)`.
    ///
    /// ```
    /// let host = perf_gate::HostInfo {
    ///     name: "ci-7".into(), os: "linux".into(), arch: "x86_64".into(),
    ///     cpus: Some(2), cpu: Some("AMD EPYC 7763".into()), memory_mb: Some(7940),
    /// };
    /// assert_eq!(host.describe(), "ci-7 (AMD EPYC 7763, 2 cpus, linux x86_64)");
    /// ```
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(cpu) = &self.cpu {
            parts.push(cpu.clone());
        }
        if let Some(n) = self.cpus {
            parts.push(format!("{n} cpus"));
        }
        parts.push(format!("{} {}", self.os, self.arch));
        format!("{} ({})", self.name, parts.join(", "))
    }
}

/// The value of `key` in a `key : value` file such as /proc/cpuinfo.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key)
            .then(|| v.trim())
            .filter(|v| !v.is_empty())
    })
}

/// The git revision (`HEAD`'s commit) of the work tree holding `dir`, with
/// `-dirty` appended when tracked files differ from it; `None` outside a
/// repository or without git.
pub fn git_revision(dir: &Path) -> Option<String> {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
    };
    let head = git(&["rev-parse", "HEAD"])?;
    let mut revision = String::from_utf8(head.stdout).ok()?.trim().to_owned();
    if revision.is_empty() {
        return None;
    }
    // Refresh the index first, so files only touched (a restored cache,
    // a fresh checkout) do not count as changed; `diff-index --quiet` exits
    // 1 for changes and 128 or more for a failure, which says nothing.
    let _ = git(&["update-index", "-q", "--refresh"]);
    let dirty = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["diff-index", "--quiet", "HEAD", "--"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()
        .and_then(|s| s.code());
    if dirty == Some(1) {
        revision.push_str("-dirty");
    }
    Some(revision)
}

/// `metrics.json`: every scenario's median throughput with its unit.
///
/// ```json
/// {
///   "host": {"name": "ci-7", "os": "linux", "arch": "x86_64", "cpus": 2, "cpu": "…", "memory_mb": 7940},
///   "revision": "4f1c…",
///   "timestamp": "2026-01-10T09:00:00.000000+00:00",
///   "run_id": "0194…",
///   "metrics": {"manifest_append": [251234.5, "records/s"]}
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Where it was measured.
    pub host: HostInfo,
    /// Git revision of the measured code, if known.
    pub revision: Option<String>,
    /// When.
    pub timestamp: Timestamp,
    /// The perf run that recorded it.
    pub run_id: Option<String>,
    /// `name: [value, unit]`, scenarios that measured something only.
    pub metrics: BTreeMap<String, (f64, String)>,
}

impl Metrics {
    /// The medians of an evaluation.
    pub fn from_evaluation(
        evaluation: &Evaluation,
        host: HostInfo,
        revision: Option<String>,
        timestamp: Timestamp,
        run_id: Option<String>,
    ) -> Self {
        let metrics = evaluation
            .outcomes
            .iter()
            .filter_map(|o| {
                let value = o.result.throughput_measured?;
                Some((o.result.test_id.clone(), (value, o.unit.clone())))
            })
            .collect();
        Self {
            host,
            revision,
            timestamp,
            run_id,
            metrics,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_fields_are_read_and_trimmed() {
        let text = "processor\t: 0\nmodel name\t: AMD  EPYC\nflags\t\t:\n";
        assert_eq!(field(text, "model name"), Some("AMD  EPYC"));
        assert_eq!(field(text, "flags"), None);
        assert_eq!(field(text, "missing"), None);
        let host = HostInfo::detect();
        assert!(!host.name.is_empty());
        assert_eq!(host.os, std::env::consts::OS);
        assert!(host.describe().starts_with(&host.name));
    }

    #[test]
    fn revision_outside_a_repository_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(git_revision(dir.path()), None);
    }
}
