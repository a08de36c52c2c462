//! The step supervisor: runs one step's command so that it never outlives
//! the tracker.
//!
//! The runner starts a supervisor as the direct child of each step: a
//! host program (the `tracker` binary's hidden `__supervise` subcommand)
//! that calls [`supervise`], named to the runner by a [`Supervisor`]. The
//! supervisor
//!
//! - asks the kernel for SIGTERM when the tracker dies, however it dies
//!   (`PR_SET_PDEATHSIG`; SIGKILL of the tracker included), and exits at once
//!   if the tracker is already gone;
//! - runs `sh -c COMMAND` in a process group of its own, so that the whole
//!   tree of the step (shell pipelines, Python workers) can be signalled,
//!   and adopts the step's orphans (`PR_SET_CHILD_SUBREAPER`) to reap them;
//!   a simple command ([`shell_line`]) is run as `sh -c 'exec COMMAND'`,
//!   so that the shell becomes the command, as bash does by itself;
//! - forwards SIGINT, SIGTERM and SIGHUP to that group, and sends SIGKILL
//!   to the group if it has not exited [`GRACE`] later;
//! - once the command exits, ends what it left running in its group;
//! - exits with the command's status, or dies by the signal that killed it.

use std::ffi::OsString;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGKILL, SIGTERM};
use signal_hook::iterator::Signals;

use crate::sys;

/// Time a step's processes get to exit after a forwarded signal.
pub const GRACE: Duration = Duration::from_secs(3);

/// The exit status of a supervisor that could not start supervising: the
/// tracker is already gone, or signals cannot be handled.
pub const CANNOT_SUPERVISE: u8 = 2;

/// How the runner starts a step's supervisor: `PROGRAM ARGS… --parent PID
/// -- COMMAND`, where the program hands `PID` and `COMMAND` to
/// [`supervise`] and exits with what it returns.
///
/// ```
/// let supervisor = runner::Supervisor::new("/usr/local/bin/tracker").arg("__supervise");
/// assert_eq!(supervisor.program(), std::path::Path::new("/usr/local/bin/tracker"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Supervisor {
    program: PathBuf,
    args: Vec<OsString>,
}

impl Supervisor {
    /// A supervisor started as `program`, with no arguments before
    /// `--parent`.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
        }
    }

    /// Adds an argument before `--parent` (a subcommand, say).
    #[must_use]
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// The program started.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The command line that supervises `command` for the process `parent`.
    pub(crate) fn command(&self, parent: u32, command: &str) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .arg("--parent")
            .arg(parent.to_string())
            .arg("--")
            .arg(command);
        cmd
    }
}

/// The whole `main` of a supervisor program: reads `--parent PID --
/// COMMAND` from `args` (the program name left out), supervises, and
/// returns the exit status. Arguments of any other shape are a usage error
/// on stderr and [`CANNOT_SUPERVISE`].
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     std::process::ExitCode::from(runner::supervise_main(std::env::args().skip(1)))
/// }
/// ```
pub fn supervise_main(args: impl IntoIterator<Item = String>) -> u8 {
    let args: Vec<String> = args.into_iter().collect();
    let problem = match args.as_slice() {
        [flag, parent, dashes, command] if flag == "--parent" && dashes == "--" => {
            match parent.parse() {
                Ok(parent) => return supervise(parent, command),
                Err(_) => format!("--parent {parent}: expected a process id"),
            }
        }
        _ => "expected --parent PID -- COMMAND".to_owned(),
    };
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "error: {problem}\nusage: --parent PID -- COMMAND (a step's supervisor, started by \
             the tracker for each step; not meant to be run by hand)\n"
        )
        .as_bytes(),
    );
    CANNOT_SUPERVISE
}

/// Characters of a simple command line: none has a meaning to the shell
/// (no quote, expansion, glob, redirection, separator or comment).
fn plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || " \t_-./,:=+@%".contains(c)
}

/// Shell reserved words and builtins: a command line that starts with one
/// is left to the shell as it is (`exec cd` would fail, `exec echo` would
/// run another echo).
const SHELL_WORDS: &[&str] = &[
    "!", ".", ":", "[", "alias", "bg", "break", "case", "cd", "chdir", "command", "continue", "do",
    "done", "echo", "elif", "else", "esac", "eval", "exec", "exit", "export", "false", "fc", "fg",
    "fi", "for", "function", "getopts", "hash", "if", "in", "jobs", "kill", "local", "printf",
    "pwd", "read", "readonly", "return", "select", "set", "shift", "source", "test", "then",
    "time", "times", "trap", "true", "type", "ulimit", "umask", "unalias", "unset", "until",
    "wait", "while",
];

/// The line the step's shell runs for `command`: `exec COMMAND` when
/// `command` is one program and its arguments with nothing for the shell
/// to expand (`python3 train.py --epochs=10`), so that the shell replaces
/// itself with the program, which is then the supervisor's child: signals
/// reach it straight, a signal that kills it is recorded as that signal
/// (not as the shell's exit status 128 + N), and the step's tree has no
/// idle shell to measure. Bash does this by itself; dash, `/bin/sh` on
/// Debian, does not. Anything else is run as it is.
pub(crate) fn shell_line(command: &str) -> std::borrow::Cow<'_, str> {
    let simple = command.chars().all(plain)
        && command.split_whitespace().next().is_some_and(|program| {
            !program.starts_with('-') && !program.contains('=') && !SHELL_WORDS.contains(&program)
        });
    if simple {
        format!("exec {command}").into()
    } else {
        command.into()
    }
}

/// Supervises `command` for the tracker whose pid is `parent`, and returns
/// the exit status the supervisor's process should end with (it has already
/// died by the command's signal if one killed it). Call it from the
/// program a [`Supervisor`] names, and from nothing else: it changes how
/// this process handles signals and orphans.
pub fn supervise(parent: u32, command: &str) -> u8 {
    if sys::set_parent_death_signal(SIGTERM).is_err()
        || std::os::unix::process::parent_id() != parent
    {
        // The tracker is already gone (or we cannot learn when it goes).
        return CANNOT_SUPERVISE;
    }
    // Orphans of the step (a daemonised helper, a killed shell's children)
    // become ours, so they can be reaped instead of lingering as zombies.
    let _ = sys::become_subreaper();
    let group = Arc::new(AtomicU32::new(0));
    let Ok(mut signals) = Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return CANNOT_SUPERVISE;
    };
    {
        let group = Arc::clone(&group);
        std::thread::spawn(move || {
            let mut first: Option<Instant> = None;
            for signal in signals.forever() {
                let pgid = group.load(Ordering::SeqCst);
                if pgid != 0 {
                    sys::signal_group(pgid, signal);
                }
                if first.is_none() {
                    first = Some(Instant::now());
                    let group = Arc::clone(&group);
                    std::thread::spawn(move || {
                        std::thread::sleep(GRACE);
                        let pgid = group.load(Ordering::SeqCst);
                        if pgid != 0 {
                            sys::signal_group(pgid, SIGKILL);
                        }
                    });
                }
            }
        });
    }
    let mut child = match Command::new("/bin/sh")
        .arg("-c")
        .arg(shell_line(command).as_ref())
        .process_group(0)
        .stdin(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                format!("error: cannot start /bin/sh: {e}\n").as_bytes(),
            );
            return 127;
        }
    };
    let pgid = child.id();
    group.store(pgid, Ordering::SeqCst);
    let status = child.wait();
    // End whatever the command left running in its group.
    sys::reap_exited();
    if sys::group_alive(pgid) {
        sys::signal_group(pgid, SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(1);
        while sys::group_alive(pgid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
            sys::reap_exited();
        }
        sys::signal_group(pgid, SIGKILL);
        sys::reap_exited();
    }
    group.store(0, Ordering::SeqCst);
    match status {
        Ok(status) => {
            use std::os::unix::process::ExitStatusExt;
            if let Some(code) = status.code() {
                u8::try_from(code).unwrap_or(1)
            } else if let Some(signal) = status.signal() {
                // Die the same way, so the tracker records the signal.
                if signal == SIGKILL {
                    let _ = signal_hook::low_level::raise(SIGKILL);
                } else {
                    let _ = signal_hook::low_level::emulate_default_handler(signal);
                }
                u8::try_from(128 + signal).unwrap_or(1)
            } else {
                1
            }
        }
        Err(_) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_commands_are_execed_and_the_rest_left_to_the_shell() {
        for simple in [
            "sleep 36",
            "python3 -m pkg.train --epochs=10 --lr 0.1",
            "./step.sh collect",
            "/usr/bin/env",
            "  make\ttrain  ",
        ] {
            assert_eq!(shell_line(simple), format!("exec {simple}"), "{simple}");
        }
        for left in [
            "",
            "   ",
            "exit 3",
            "echo hi",
            "cd data",
            "true",
            "FOO=1 python3 train.py",
            "python3 train.py > log",
            "python3 train.py && echo done",
            "python3 train.py; echo done",
            "python3 $SCRIPT",
            "python3 'train.py'",
            "python3 train.py # note",
            "ls *.csv",
            "cat ~/notes",
            "sleep 1 &",
            "a | b",
            "python3 train.py\necho done",
            "-x",
            "(sleep 1)",
            "{ sleep 1; }",
        ] {
            assert_eq!(shell_line(left), left, "{left:?}");
        }
    }
}
