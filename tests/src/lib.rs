//! Scenarios that cross crates, as a user meets them: a pipeline tracked
//! with the `progress` library and then listed, shown and exported by the
//! `tracker` command line; a pipeline run by the `runner` engine and judged
//! by `perf-gate`; a history written by robot_sf's Python tracker
//! read end to end. The scenarios are in `scenarios/`; this library holds
//! what they share.
//!
//! # Example
//!
//! ```
//! let dir = tempfile::tempdir()?;
//! let out = tests::tracker(dir.path(), &["list", "--format", "json"]);
//! assert_eq!(out.code, 0);
//! assert_eq!(out.stdout.trim(), "[]");
//! # Ok::<(), std::io::Error>(())
//! ```

use std::path::Path;

/// What one `tracker` command printed, and its exit status.
#[derive(Debug)]
pub struct Output {
    /// The exit status.
    pub code: u8,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `tracker --artifact-root ROOT ARGS…` in this process, through the
/// command line's own entry point, and returns what it printed.
pub fn tracker(root: &Path, args: &[&str]) -> Output {
    let mut argv = vec![
        "tracker".to_owned(),
        "--artifact-root".to_owned(),
        root.display().to_string(),
    ];
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let code = tracker_cli::run_with(argv, &mut stdout, &mut stderr);
    Output {
        code,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Copies the directory tree `from` to `to` (files and directories only).
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
