//! The step supervisor program (`tracker-supervise`) and the processes it
//! starts.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};

/// Runs `command` under the supervisor and returns the supervisor's pid
/// and the parent pid the command's `cat /proc/self/stat` printed.
fn parent_of_cat(command: &str) -> (u32, u32) {
    let child = Command::new(env!("CARGO_BIN_EXE_tracker-supervise"))
        .args(["--parent", &std::process::id().to_string(), "--", command])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let supervisor = child.id();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{command}: {}", output.status);
    let stat = String::from_utf8(output.stdout).unwrap();
    // pid (comm) state ppid …: the comm may hold spaces, never a `)`.
    let after_comm = &stat[stat.rfind(')').unwrap() + 1..];
    let ppid = after_comm
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    (supervisor, ppid)
}

#[test]
fn a_simple_command_is_the_supervisors_own_child_and_a_shell_line_runs_in_a_shell() {
    // The shell replaced itself with `cat`.
    let (supervisor, parent) = parent_of_cat("cat /proc/self/stat");
    assert_eq!(parent, supervisor);
    // A list needs its shell, which stays as cat's parent.
    let (supervisor, parent) = parent_of_cat("cat /proc/self/stat; true");
    assert_ne!(parent, supervisor);
}

#[test]
fn a_simple_command_killed_by_a_signal_kills_the_supervisor_by_it() {
    use std::os::unix::process::ExitStatusExt;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracker-supervise"))
        .args([
            "--parent",
            &std::process::id().to_string(),
            "--",
            "sleep 30",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The supervisor's child, once started, is `sleep` itself.
    let children = format!("/proc/{0}/task/{0}/children", child.id());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let sleeper: u32 = loop {
        let listed = std::fs::read_to_string(&children).unwrap_or_default();
        if let Some(pid) = listed.split_whitespace().next() {
            let pid = pid.parse().unwrap();
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "sleep" {
                break pid;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no sleep under the supervisor"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let killed = Command::new("kill")
        .args(["-KILL", &sleeper.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    // Not a shell's `exit status 137`: the signal itself.
    assert_eq!(status.signal(), Some(9), "{status}");
}

#[test]
fn a_script_without_a_shebang_still_runs_as_a_simple_command() {
    // `exec ./script` meets ENOEXEC, as `./script` does; the shell then
    // runs the file itself either way.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("step");
    // Written by another process: a file this one held open for writing
    // could be inherited by a child another test forks meanwhile, and
    // executing it would then fail (ETXTBSY).
    let written = Command::new("sh")
        .args([
            "-c",
            "printf 'echo ran \"$1\"\\n' > \"$0\" && chmod +x \"$0\"",
        ])
        .arg(&script)
        .status()
        .unwrap();
    assert!(written.success());
    let output = Command::new(env!("CARGO_BIN_EXE_tracker-supervise"))
        .args(["--parent", &std::process::id().to_string(), "--"])
        .arg(format!("{} collect", script.display()))
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", output.status);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ran collect\n");
}
