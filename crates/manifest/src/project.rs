//! The project file, `tracker.toml`: where a project's runs live and the
//! defaults its runs take, found from the working directory upward as cargo
//! finds `Cargo.toml` (docs/cli.md, "Project settings").
//!
//! ```toml
//! # Every key is optional.
//! artifact_root = "output"   # relative to this file
//!
//! [retention]
//! keep = 20                  # the newest N runs of each pipeline; absent: keep all
//!
//! [mlflow]                   # mirror every `tracker run` (docs/mlflow.md)
//! uri = "http://mlflow.example.org:5000"
//! experiment = "robots"      # absent: each run's pipeline name
//!
//! [telemetry]
//! enabled = true
//! interval = 1.0             # seconds between samples, at least 0.2
//!
//! [[notify]]                 # any number; read by the runner (docs/notify.md)
//! on = ["failed"]
//! webhook_env = "TEAM_WEBHOOK_URL"   # the URL, from the environment
//! ```
//!
//! Settings resolve flag > environment > `tracker.toml` > built-in default.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::retention::Retention;

/// The project file's name.
pub const PROJECT_FILE: &str = "tracker.toml";

/// Shortest telemetry interval, in seconds: CPU counters move in 10 ms
/// ticks, too coarse for shorter intervals.
pub const MIN_TELEMETRY_INTERVAL: f64 = 0.2;

/// A parsed `tracker.toml`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProjectConfig {
    /// The file it was read from.
    pub path: PathBuf,
    /// `artifact_root`, resolved against the file's directory.
    pub artifact_root: Option<PathBuf>,
    /// `[retention] keep`: the newest N runs of each pipeline.
    pub keep: Option<usize>,
    /// `[telemetry] enabled`.
    pub telemetry: Option<bool>,
    /// `[telemetry] interval`, seconds.
    pub telemetry_interval: Option<f64>,
    /// `[mlflow] uri`: the tracking server every run is mirrored to.
    pub mlflow_uri: Option<String>,
    /// `[mlflow] experiment`: the MLflow experiment of every run.
    pub mlflow_experiment: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    artifact_root: Option<PathBuf>,
    #[serde(default)]
    retention: RetentionTable,
    #[serde(default)]
    mlflow: MlflowTable,
    #[serde(default)]
    telemetry: TelemetryTable,
    /// `[[notify]]` tables: accepted here, read and checked by the runner
    /// (`runner::project_notify_rules`).
    #[serde(default)]
    #[allow(dead_code)]
    notify: Option<toml::Value>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionTable {
    keep: Option<usize>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MlflowTable {
    uri: Option<String>,
    experiment: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TelemetryTable {
    enabled: Option<bool>,
    interval: Option<f64>,
}

impl ProjectConfig {
    /// The `tracker.toml` in `start` or the nearest directory above it, if
    /// any, read and checked.
    pub fn discover(start: &Path) -> Result<Option<Self>> {
        for dir in start.ancestors() {
            let path = dir.join(PROJECT_FILE);
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() => return Self::load(&path).map(Some),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("read", &path, e)),
            }
        }
        Ok(None)
    }

    /// Reads and checks the project file at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
        Self::parse(&text, path)
    }

    /// Checks `text` as the project file at `path` (relative paths in it
    /// resolve against `path`'s directory). Errors name the file, the line
    /// and what was expected.
    ///
    /// ```
    /// use std::path::Path;
    /// use manifest::ProjectConfig;
    /// let config = ProjectConfig::parse("artifact_root = \"runs\"\n[retention]\nkeep = 5\n", Path::new("/p/tracker.toml"))?;
    /// assert_eq!(config.artifact_root.as_deref(), Some(Path::new("/p/runs")));
    /// assert_eq!(config.keep, Some(5));
    ///
    /// let err = ProjectConfig::parse("[retention]\nkeeps = 5\n", Path::new("tracker.toml")).unwrap_err();
    /// assert!(err.to_string().starts_with("tracker.toml:2:"), "{err}");
    /// # Ok::<(), manifest::Error>(())
    /// ```
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let invalid = |line: usize, message: String| Error::InvalidConfig {
            path: path.to_owned(),
            line,
            message,
        };
        let file: File = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |span| {
                text.as_bytes()[..span.start.min(text.len())]
                    .iter()
                    .filter(|b| **b == b'\n')
                    .count()
                    + 1
            });
            invalid(line, e.message().trim().to_owned())
        })?;
        let find = |key: &str| {
            text.lines()
                .position(|l| l.trim_start().starts_with(key))
                .map_or(0, |i| i + 1)
        };
        if let Some(0) = file.retention.keep {
            return Err(invalid(
                find("keep"),
                "`retention.keep` must be at least 1 (leave it out to keep every run)".to_owned(),
            ));
        }
        if let Some(interval) = file.telemetry.interval
            && !(interval.is_finite() && (MIN_TELEMETRY_INTERVAL..=86_400.0).contains(&interval))
        {
            return Err(invalid(
                find("interval"),
                format!(
                    "`telemetry.interval` must be seconds between {MIN_TELEMETRY_INTERVAL} and 86400, got {interval}"
                ),
            ));
        }
        if file
            .artifact_root
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(invalid(
                find("artifact_root"),
                "`artifact_root` must not be empty".to_owned(),
            ));
        }
        for (key, value) in [
            ("uri", &file.mlflow.uri),
            ("experiment", &file.mlflow.experiment),
        ] {
            if value.as_ref().is_some_and(|v| v.trim().is_empty()) {
                return Err(invalid(
                    find(key),
                    format!("`mlflow.{key}` must not be empty (leave it out instead)"),
                ));
            }
        }
        let dir = path.parent().unwrap_or(Path::new(""));
        Ok(Self {
            path: path.to_owned(),
            artifact_root: file.artifact_root.map(|root| dir.join(root)),
            keep: file.retention.keep,
            telemetry: file.telemetry.enabled,
            telemetry_interval: file.telemetry.interval,
            mlflow_uri: file.mlflow.uri,
            mlflow_experiment: file.mlflow.experiment,
        })
    }

    /// The retention the file asks for (every run kept without `keep`).
    pub fn retention(&self) -> Retention {
        Retention::keep_newest(self.keep.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_from_a_subdirectory_and_relative_to_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let project = tmp.path().join("project");
        let deep = project.join("src/pipelines");
        std::fs::create_dir_all(&deep).unwrap();
        assert_eq!(ProjectConfig::discover(&deep).unwrap(), None);
        std::fs::write(
            project.join(PROJECT_FILE),
            "artifact_root = \"../shared-runs\"\n[telemetry]\ninterval = 0.5\nenabled = false\n",
        )
        .unwrap();
        let config = ProjectConfig::discover(&deep).unwrap().unwrap();
        assert_eq!(config.path, project.join(PROJECT_FILE));
        assert_eq!(config.artifact_root, Some(project.join("../shared-runs")));
        assert_eq!(config.telemetry_interval, Some(0.5));
        assert_eq!(config.telemetry, Some(false));
        assert_eq!(config.retention(), Retention::KeepAll);
        // An absolute root stays as it is.
        std::fs::write(
            project.join(PROJECT_FILE),
            "artifact_root = \"/data/runs\"\n",
        )
        .unwrap();
        let config = ProjectConfig::discover(&project).unwrap().unwrap();
        assert_eq!(config.artifact_root, Some(PathBuf::from("/data/runs")));
    }

    #[test]
    fn mistakes_name_the_file_the_line_and_what_was_expected() {
        let path = Path::new("/p/tracker.toml");
        let error = |text: &str| ProjectConfig::parse(text, path).unwrap_err().to_string();
        let e = error("artifact_root = \"out\"\n[retention]\nkep = 3\n");
        assert!(
            e.starts_with("/p/tracker.toml:3: unknown field `kep`"),
            "{e}"
        );
        let e = error("[retention]\nkeep = 0\n");
        assert!(
            e.starts_with("/p/tracker.toml:2: `retention.keep` must be at least 1"),
            "{e}"
        );
        let e = error("[telemetry]\ninterval = 0.01\n");
        assert!(
            e.starts_with("/p/tracker.toml:2: `telemetry.interval` must be"),
            "{e}"
        );
        let e = error("[telemetry]\ninterval = \"fast\"\n");
        assert!(e.starts_with("/p/tracker.toml:2: invalid type"), "{e}");
        let e = error("artifact_root = \n");
        assert!(e.starts_with("/p/tracker.toml:1:"), "{e}");
        let e = error("[notify\n");
        assert!(e.starts_with("/p/tracker.toml:1:"), "{e}");
        let e = error("artifact_root = \"\"\n");
        assert!(e.contains("must not be empty"), "{e}");
        let e = error("[mlflow]\nexperiment = \"x\"\nuri = \" \"\n");
        assert!(
            e.starts_with("/p/tracker.toml:3: `mlflow.uri` must not be empty"),
            "{e}"
        );
        let e = error("[mlflow]\nurl = \"http://h\"\n");
        assert!(
            e.starts_with("/p/tracker.toml:2: unknown field `url`"),
            "{e}"
        );
    }

    #[test]
    fn the_mlflow_table() {
        let config = ProjectConfig::parse(
            "[mlflow]\nuri = \"http://mlflow:5000\"\nexperiment = \"robots\"\n",
            Path::new("/p/tracker.toml"),
        )
        .unwrap();
        assert_eq!(config.mlflow_uri.as_deref(), Some("http://mlflow:5000"));
        assert_eq!(config.mlflow_experiment.as_deref(), Some("robots"));
    }
}
