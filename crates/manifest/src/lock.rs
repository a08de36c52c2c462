//! The per-run lock: `run.lock`, held by the live writer for the run's life.
//!
//! The lock is an advisory whole-file lock (`flock(2)` on Linux) taken with
//! [`std::fs::File::try_lock`], which has the semantics `fd-lock` provides,
//! without a guard that borrows the lock: the lock is released when the
//! descriptor closes, including when the process dies (SIGKILL, OOM), which
//! is what makes "running but unlocked" mean *abandoned*.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// File name of the lock inside a run directory.
pub const LOCK_FILE: &str = "run.lock";

/// Retries of [`RunLock::acquire`] while the lock is busy.
const PROBE_RETRIES: u32 = 3;

/// An exclusive hold on a run. Dropping it releases the lock.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

/// Whether a run's writer is alive, as far as its lock tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockState {
    /// Some process holds the lock: the writer is alive.
    Held,
    /// The lock file exists and nobody holds it.
    Free,
    /// There is no lock file (a run written by another tool).
    Missing,
}

impl RunLock {
    /// Takes the lock of the run in `dir` without waiting, creating
    /// `run.lock` if needed. Fails with [`Error::RunLocked`] if another
    /// process (or another handle in this one) holds it.
    pub fn acquire(dir: &Path, run_id: &str) -> Result<Self> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        // A reader's probe ([`RunLock::state`]) holds a shared lock for two
        // system calls; a few short retries tell it from a live writer.
        for attempt in 0..=PROBE_RETRIES {
            match file.try_lock() {
                Ok(()) => return Ok(Self { file, path }),
                Err(TryLockError::WouldBlock) if attempt < PROBE_RETRIES => {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                Err(TryLockError::WouldBlock) => break,
                Err(TryLockError::Error(e)) => return Err(Error::io("lock", &path, e)),
            }
        }
        Err(Error::RunLocked {
            run_id: run_id.to_owned(),
            dir: dir.to_owned(),
        })
    }

    /// Records who holds the lock (run id, pid, host) in the lock file, for
    /// people looking at the directory. Readers never rely on the content.
    pub fn write_owner(&mut self, run_id: &str, host: &str) -> Result<()> {
        let owner = serde_json::json!({
            "run_id": run_id,
            "pid": std::process::id(),
            "host": host,
        });
        let text = format!("{owner}\n");
        self.file
            .set_len(0)
            .and_then(|()| (&self.file).write_all(text.as_bytes()))
            .map_err(|e| Error::io("write", &self.path, e))
    }

    /// Probes the lock of the run in `dir` without creating anything.
    ///
    /// The probe takes a shared lock for an instant, so it never blocks and
    /// never holds off a writer for longer than two system calls.
    pub fn state(dir: &Path) -> Result<LockState> {
        let path = dir.join(LOCK_FILE);
        // Not `File::open`: a FIFO put in place of the lock would block.
        let file = match crate::reader::open_regular(&path) {
            Ok((file, _)) => file,
            Err(Error::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
                return Ok(LockState::Missing);
            }
            Err(e) => return Err(e),
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(LockState::Free),
            Err(TryLockError::WouldBlock) => Ok(LockState::Held),
            Err(TryLockError::Error(e)) => Err(Error::io("lock", &path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_fails_and_release_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(RunLock::state(dir.path()).unwrap(), LockState::Missing);
        let mut first = RunLock::acquire(dir.path(), "r").unwrap();
        first.write_owner("r", "host").unwrap();
        assert_eq!(RunLock::state(dir.path()).unwrap(), LockState::Held);
        let err = RunLock::acquire(dir.path(), "r").unwrap_err();
        assert!(matches!(err, Error::RunLocked { .. }), "{err}");
        drop(first);
        assert_eq!(RunLock::state(dir.path()).unwrap(), LockState::Free);
        let content = std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert!(content.contains("\"run_id\":\"r\""), "{content}");
        RunLock::acquire(dir.path(), "r").unwrap();
    }
}
