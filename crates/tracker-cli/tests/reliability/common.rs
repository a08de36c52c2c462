//! Plumbing shared by the reliability tests: the binary, pipelines, waiting,
//! the processes a run left behind, a seeded random source.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use manifest::{ArtifactRoot, Listing, Query, list_runs};

/// The `tracker` binary under test.
pub(crate) const TRACKER: &str = env!("CARGO_BIN_EXE_tracker");

/// `tracker --artifact-root ROOT ARGS…`, with the environment cleaned of
/// anything that would point it elsewhere.
pub(crate) fn tracker(root: &Path) -> Command {
    let mut command = Command::new(TRACKER);
    command
        .arg("--artifact-root")
        .arg(root)
        .env_remove("TRACKER_ARTIFACT_ROOT")
        .env_remove("ROBOT_SF_ARTIFACT_ROOT")
        .env("NO_COLOR", "1");
    command
}

/// Runs `tracker` to completion.
pub(crate) fn run(root: &Path, args: &[&str]) -> Output {
    tracker(root).args(args).output().expect("run tracker")
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub(crate) fn write_pipeline(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A one-step pipeline that succeeds at once.
pub(crate) fn quick_pipeline(dir: &Path) -> PathBuf {
    write_pipeline(
        dir,
        "quick.toml",
        "[pipeline]\nname = \"quick\"\n[[steps]]\nid = \"a\"\nrun = \"true\"\n",
    )
}

/// Polls `done` every 5 ms for up to `limit`; whether it became true.
pub(crate) fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Every run under `root`, read through the library the CLI uses.
pub(crate) fn listing(root: &Path) -> Listing {
    list_runs(&ArtifactRoot::new(root), &Query::default()).unwrap()
}

/// Live processes (not zombies) of the runs under `root`: every step
/// command, its children and every supervisor carry `TRACKER_RUN_DIR` in
/// their environment, and a child the tracker forked that has not yet
/// executed its program still has the tracker's own command line, with
/// `--artifact-root ROOT` in it. Such a child holds a copy of the
/// tracker's descriptors, `run.lock` included, until it executes (they are
/// close-on-exec), so a run looks live for as long as it exists, even when
/// the tracker itself was killed a moment before.
pub(crate) fn processes_of(root: &Path) -> Vec<(u32, String)> {
    let needle = format!("TRACKER_RUN_DIR={}", root.display());
    let root_arg = root.as_os_str().as_encoded_bytes();
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let in_environ = environ
            .split(|b| *b == 0)
            .any(|var| var.starts_with(needle.as_bytes()));
        let in_cmdline = cmdline.split(|b| *b == 0).any(|arg| arg == root_arg);
        if (in_environ || in_cmdline) && alive(pid) {
            found.push((pid, text(&cmdline).replace('\0', " ")));
        }
    }
    found
}

/// The processes that hold a `run.lock` below `dir` open (a run directory,
/// or a whole root), with their command line and state: who keeps a run
/// looking live. A process is found here even in the instant of an
/// `execve` when `/proc` shows neither its old nor its new command line
/// and environment, but it still has the descriptors it is about to close
/// (close-on-exec), which [`processes_of`] cannot see.
pub(crate) fn lock_holders(dir: &Path) -> Vec<String> {
    let mut holders = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return holders;
    };
    for entry in entries.flatten() {
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|target| {
                target.starts_with(dir)
                    && target.file_name() == Some(std::ffi::OsStr::new(manifest::LOCK_FILE))
            })
        });
        if holds {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            holders.push(format!(
                "{}: {} [{}]",
                entry.file_name().to_string_lossy(),
                text(&cmdline).replace('\0', " "),
                stat.trim()
            ));
        }
    }
    holders
}

/// Waits (up to 10 s) until no process of the runs under `root` is left:
/// none with their environment or the tracker's command line
/// ([`processes_of`]), and none holding one of their locks
/// ([`lock_holders`]). Whether that happened.
pub(crate) fn wait_for_no_process_of(root: &Path) -> bool {
    wait_until(Duration::from_secs(10), || {
        processes_of(root).is_empty() && lock_holders(root).is_empty()
    })
}

/// Alive and not a zombie.
pub(crate) fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit(')').next().map(|r| r.trim_start().to_owned()))
        .is_some_and(|rest| !rest.starts_with('Z') && !rest.starts_with('X'))
}

/// A small seeded generator (xorshift64*): the seed is printed, so a
/// failure can be replayed with `TRACKER_TEST_SEED`.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn from_env(test: &str) -> Self {
        let seed = std::env::var("TRACKER_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        #[allow(clippy::print_stderr)]
        {
            eprintln!("{test}: TRACKER_TEST_SEED={seed}");
        }
        Self(seed.max(1))
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A count from the environment (for longer runs than CI's), else `default`.
pub(crate) fn count_from_env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
