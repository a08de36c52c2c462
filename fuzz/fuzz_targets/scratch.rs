//! A scratch file per fuzzing process: the readers under test take paths.

use std::path::PathBuf;
use std::sync::OnceLock;

/// A directory of this process's own under the temporary directory
/// (`fuzz/run.sh` points `TMPDIR` at one it removes afterwards).
pub fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("tracker-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        dir
    })
}

/// Writes `bytes` to `rel` below [`dir`] and returns its path.
pub fn write(rel: &str, bytes: &[u8]) -> PathBuf {
    let path = dir().join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create the file's directory");
    }
    std::fs::write(&path, bytes).expect("write the input");
    path
}
