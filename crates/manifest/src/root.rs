//! Where runs live: the artifact root and its resolution order.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// Environment variable naming the artifact root.
pub const ENV_ARTIFACT_ROOT: &str = "TRACKER_ARTIFACT_ROOT";
/// The Python tracker's variable, honoured for compatibility.
pub const ENV_ARTIFACT_ROOT_COMPAT: &str = "ROBOT_SF_ARTIFACT_ROOT";
/// The default artifact root, relative to the working directory.
pub const DEFAULT_ARTIFACT_ROOT: &str = "output";
/// The directory under the artifact root that holds one directory per run.
pub const RUNS_DIR_NAME: &str = "run-tracker";

/// Where an artifact root came from, for messages (`--artifact-root`, an
/// environment variable, the project file, or the default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootSource {
    /// Given explicitly (a command-line flag or a library call).
    Explicit,
    /// Read from this environment variable.
    Env(&'static str),
    /// `artifact_root` of the project file, `tracker.toml`.
    ProjectFile,
    /// Nothing was set: `./output`.
    Default,
}

impl fmt::Display for RootSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Explicit => f.write_str("--artifact-root"),
            Self::Env(name) => f.write_str(name),
            Self::ProjectFile => f.write_str(crate::project::PROJECT_FILE),
            Self::Default => f.write_str("default"),
        }
    }
}

/// The directory all tracker files are written under. Nothing is written
/// elsewhere. Constructing one touches no file system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactRoot {
    path: PathBuf,
    source: RootSource,
}

impl ArtifactRoot {
    /// An explicit root.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            source: RootSource::Explicit,
        }
    }

    /// Resolves the root: `explicit` (a flag) if given, else
    /// `TRACKER_ARTIFACT_ROOT`, else `ROBOT_SF_ARTIFACT_ROOT`, else `./output`.
    /// Empty values count as unset.
    pub fn resolve(explicit: Option<&Path>) -> Self {
        Self::resolve_with(explicit, |name| std::env::var_os(name))
    }

    /// [`ArtifactRoot::resolve`] with the environment supplied by the caller.
    ///
    /// ```
    /// use manifest::{ArtifactRoot, RootSource};
    /// let env = |name: &str| (name == "ROBOT_SF_ARTIFACT_ROOT").then(|| "/data/robot".into());
    /// let root = ArtifactRoot::resolve_with(None, env);
    /// assert_eq!(root.path(), std::path::Path::new("/data/robot"));
    /// assert_eq!(root.source(), RootSource::Env("ROBOT_SF_ARTIFACT_ROOT"));
    /// ```
    pub fn resolve_with(explicit: Option<&Path>, env: impl Fn(&str) -> Option<OsString>) -> Self {
        if let Some(path) = explicit.filter(|p| !p.as_os_str().is_empty()) {
            return Self::new(path);
        }
        for name in [ENV_ARTIFACT_ROOT, ENV_ARTIFACT_ROOT_COMPAT] {
            if let Some(value) = env(name).filter(|v| !v.is_empty()) {
                return Self {
                    path: PathBuf::from(value),
                    source: RootSource::Env(name),
                };
            }
        }
        Self {
            path: PathBuf::from(DEFAULT_ARTIFACT_ROOT),
            source: RootSource::Default,
        }
    }

    /// Resolves the root for a command run in `cwd`: `explicit` (a flag) if
    /// given, else `TRACKER_ARTIFACT_ROOT`, else `ROBOT_SF_ARTIFACT_ROOT`,
    /// else `artifact_root` of the nearest `tracker.toml` at or above `cwd`
    /// (relative to that file), else `./output`. Returns the project file
    /// too, whose other settings are defaults for the run; a project file
    /// that cannot be read or is invalid is an error, whatever the root's
    /// source.
    pub fn discover(
        explicit: Option<&Path>,
        cwd: &Path,
    ) -> crate::Result<(Self, Option<crate::ProjectConfig>)> {
        let project = crate::ProjectConfig::discover(cwd)?;
        let root = Self::resolve_in(explicit, |name| std::env::var_os(name), project.as_ref());
        Ok((root, project))
    }

    /// [`ArtifactRoot::discover`] with the environment and the project file
    /// supplied by the caller.
    ///
    /// ```
    /// use std::path::Path;
    /// use manifest::{ArtifactRoot, ProjectConfig, RootSource};
    /// let project = ProjectConfig::parse("artifact_root = \"runs\"\n", Path::new("/p/tracker.toml"))?;
    /// let root = ArtifactRoot::resolve_in(None, |_| None, Some(&project));
    /// assert_eq!(root.path(), Path::new("/p/runs"));
    /// assert_eq!(root.source(), RootSource::ProjectFile);
    /// let env = |name: &str| (name == "TRACKER_ARTIFACT_ROOT").then(|| "/env".into());
    /// assert_eq!(ArtifactRoot::resolve_in(None, env, Some(&project)).path(), Path::new("/env"));
    /// # Ok::<(), manifest::Error>(())
    /// ```
    pub fn resolve_in(
        explicit: Option<&Path>,
        env: impl Fn(&str) -> Option<OsString>,
        project: Option<&crate::ProjectConfig>,
    ) -> Self {
        let resolved = Self::resolve_with(explicit, env);
        match project.and_then(|p| p.artifact_root.as_ref()) {
            Some(path) if resolved.source == RootSource::Default => Self {
                path: path.clone(),
                source: RootSource::ProjectFile,
            },
            _ => resolved,
        }
    }

    /// The root directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the path came from.
    pub fn source(&self) -> RootSource {
        self.source
    }

    /// `<root>/run-tracker`, the directory of run directories.
    pub fn runs_dir(&self) -> PathBuf {
        self.path.join(RUNS_DIR_NAME)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn precedence_flag_then_tracker_env_then_compat_then_default() {
        let both = env_of(&[(ENV_ARTIFACT_ROOT, "/t"), (ENV_ARTIFACT_ROOT_COMPAT, "/r")]);
        let flag = ArtifactRoot::resolve_with(Some(Path::new("/f")), &both);
        assert_eq!(
            (flag.path(), flag.source()),
            (Path::new("/f"), RootSource::Explicit)
        );
        let env = ArtifactRoot::resolve_with(None, &both);
        assert_eq!(env.path(), Path::new("/t"));
        let compat = ArtifactRoot::resolve_with(None, env_of(&[(ENV_ARTIFACT_ROOT_COMPAT, "/r")]));
        assert_eq!(compat.path(), Path::new("/r"));
        let default = ArtifactRoot::resolve_with(None, env_of(&[(ENV_ARTIFACT_ROOT, "")]));
        assert_eq!(default.path(), Path::new("output"));
        assert_eq!(default.source(), RootSource::Default);
        assert_eq!(default.runs_dir(), Path::new("output/run-tracker"));
    }
}
