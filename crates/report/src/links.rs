//! Links from the report to the files a run's steps produced.

use std::path::{Component, Path, PathBuf};

use crate::html::url_path;

/// How artifact paths (as steps reported them) become links in the report.
///
/// Steps report artifacts relative to the directory the pipeline ran in, or
/// as absolute paths. With both directories known, a link is relative to
/// the report (`../../../data/expert.json`), so it keeps working when the
/// tree moves as a whole; with only an absolute target it is a `file://`
/// URL; otherwise the path is used as it is, relative to the report.
///
/// ```
/// use report::ArtifactLinks;
/// let links = ArtifactLinks {
///     base_dir: Some("/work/project".into()),
///     report_dir: Some("/work/project/output/run-tracker/run-1".into()),
/// };
/// assert_eq!(links.href("data/expert.json"), "../../../data/expert.json");
/// assert_eq!(links.href("/tmp/model v2.pt"), "../../../../../tmp/model%20v2.pt");
/// assert_eq!(ArtifactLinks::default().href("/tmp/a.pt"), "file:///tmp/a.pt");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArtifactLinks {
    /// The directory relative artifact paths are relative to: where the
    /// pipeline ran. Absolute to be of use.
    pub base_dir: Option<PathBuf>,
    /// The directory the report file is written to. Absolute to be of use.
    pub report_dir: Option<PathBuf>,
}

impl ArtifactLinks {
    /// The working directory a run was started from, inferred from its run
    /// directory (absolute) and the `artifact_dir` its record holds: when
    /// `artifact_dir` is relative (`output/run-tracker/<id>`, the default
    /// root) and `run_dir` ends with it, the rest of `run_dir` is where
    /// the pipeline ran.
    ///
    /// ```
    /// use std::path::Path;
    /// use report::ArtifactLinks;
    /// let run_dir = Path::new("/work/project/output/run-tracker/run-1");
    /// let base = ArtifactLinks::infer_base_dir(run_dir, "output/run-tracker/run-1");
    /// assert_eq!(base.as_deref(), Some(Path::new("/work/project")));
    /// assert_eq!(ArtifactLinks::infer_base_dir(run_dir, "/elsewhere/run-1"), None);
    /// ```
    pub fn infer_base_dir(run_dir: &Path, artifact_dir: &str) -> Option<PathBuf> {
        let artifact_dir = normalize(Path::new(artifact_dir));
        if !run_dir.is_absolute() || artifact_dir.is_absolute() {
            return None;
        }
        let run_dir = normalize(run_dir);
        let mut base = run_dir.clone();
        let mut tail: Vec<_> = artifact_dir.components().collect();
        while let Some(last) = tail.pop() {
            if base.file_name() != Some(last.as_os_str()) {
                return None;
            }
            base.pop();
        }
        Some(base)
    }

    /// The `href` for one artifact path, percent-encoded.
    pub fn href(&self, artifact: &str) -> String {
        let path = Path::new(artifact);
        let target = if path.is_absolute() {
            Some(normalize(path))
        } else {
            self.base_dir
                .as_deref()
                .filter(|b| b.is_absolute())
                .map(|b| normalize(&b.join(path)))
        };
        match (
            target,
            self.report_dir.as_deref().filter(|r| r.is_absolute()),
        ) {
            (Some(target), Some(report_dir)) => {
                url_path(&relative(&normalize(report_dir), &target).to_string_lossy())
            }
            (Some(target), None) => format!("file://{}", url_path(&target.to_string_lossy())),
            (None, _) => url_path(artifact),
        }
    }
}

/// The files a report links to: every `href` that is neither an anchor nor
/// a URL of another scheme, percent-decoded, as a path relative to the
/// report's folder (or absolute, from a `file://` URL). What a reader of
/// the report can open, for checking that each one exists.
///
/// ```
/// let html = r##"<a href="#steps">x</a><a href="../../data/a%20b.json">y</a><a href="file:///tmp/m.pt">z</a><a href="https://example.org">w</a>"##;
/// assert_eq!(report::linked_files(html), ["../../data/a b.json", "/tmp/m.pt"]);
/// ```
pub fn linked_files(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for piece in html.split("href=\"").skip(1) {
        let Some(href) = piece.split('"').next() else {
            continue;
        };
        let path = match href.strip_prefix("file://") {
            Some(path) => path,
            None if href.starts_with('#') || href.contains("://") || href.starts_with("data:") => {
                continue;
            }
            None => href,
        };
        out.push(percent_decode(path));
    }
    out
}

/// Undoes [`url_path`]'s `%XX` escapes.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Removes `.` and folds `..` lexically (the files may not exist here).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                let up_already = matches!(out.components().next_back(), Some(Component::ParentDir));
                if up_already || (!out.has_root() && out.as_os_str().is_empty()) {
                    out.push("..");
                } else {
                    // At the root, `..` stays at the root.
                    out.pop();
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// `to` relative to the directory `from`; both absolute and normalised.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for component in &to[common..] {
        out.push(component);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_links_walk_up_and_down() {
        let links = ArtifactLinks {
            base_dir: Some("/w/p".into()),
            report_dir: Some("/w/p/out/run".into()),
        };
        assert_eq!(links.href("model.pt"), "../../model.pt");
        assert_eq!(links.href("./out/run/logs/a.log"), "logs/a.log");
        assert_eq!(links.href("../other/x"), "../../../other/x");
        assert_eq!(normalize(Path::new("../../a/./b/..")), Path::new("../../a"));
        assert_eq!(normalize(Path::new("/../a")), Path::new("/a"));
    }

    #[test]
    fn without_directories_paths_stay_as_they_are() {
        let links = ArtifactLinks::default();
        assert_eq!(links.href("data/a b.json"), "data/a%20b.json");
        let only_report = ArtifactLinks {
            base_dir: None,
            report_dir: Some("/w/out".into()),
        };
        assert_eq!(only_report.href("data/x"), "data/x");
        assert_eq!(only_report.href("/w/data/x"), "../data/x");
    }

    #[test]
    fn base_dir_inference_needs_a_matching_suffix() {
        let run = Path::new("/a/b/output/run-tracker/r");
        assert_eq!(
            ArtifactLinks::infer_base_dir(run, "./output/run-tracker/r").as_deref(),
            Some(Path::new("/a/b"))
        );
        assert_eq!(
            ArtifactLinks::infer_base_dir(run, "other/run-tracker/r"),
            None
        );
        assert_eq!(ArtifactLinks::infer_base_dir(Path::new("rel/r"), "r"), None);
    }
}
