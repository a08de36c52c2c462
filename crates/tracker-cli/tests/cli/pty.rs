//! The live display under a real pseudo-terminal: what `tracker run` draws,
//! fed through a terminal emulator and read back as the screen a user sees.

#![allow(unsafe_code)]

use std::io::Read as _;
use std::os::fd::{FromRawFd as _, OwnedFd};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Rows and columns of the terminal: tall enough that nothing scrolls off.
const ROWS: u16 = 200;
const COLS: u16 = 100;
/// Longer than the run takes on any machine; the child is killed after.
const LIMIT: Duration = Duration::from_secs(120);

/// A pseudo-terminal of `ROWS` × `COLS`: (controller, terminal).
fn openpty() -> (OwnedFd, OwnedFd) {
    let mut controller: libc::c_int = -1;
    let mut terminal: libc::c_int = -1;
    let size = libc::winsize {
        ws_row: ROWS,
        ws_col: COLS,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two descriptors into the integers we own and
    // reads `size`; the name and termios pointers may be null.
    let rc = unsafe {
        libc::openpty(
            &raw mut controller,
            &raw mut terminal,
            std::ptr::null_mut(),
            std::ptr::null(),
            &raw const size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened for us and are owned here.
    unsafe {
        (
            OwnedFd::from_raw_fd(controller),
            OwnedFd::from_raw_fd(terminal),
        )
    }
}

/// Runs `tracker run` of `pipeline` with stdout and stderr on a terminal
/// and returns the screen's rows, trailing blanks trimmed.
fn run_on_a_terminal(root: &std::path::Path, pipeline: &std::path::Path) -> Vec<String> {
    let (controller, terminal) = openpty();
    let mut child = crate::command()
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .arg("--artifact-root")
        .arg(root)
        .args(["run", "--no-telemetry"])
        .arg(pipeline)
        .stdin(Stdio::null())
        .stdout(Stdio::from(terminal.try_clone().unwrap()))
        .stderr(Stdio::from(terminal))
        .spawn()
        .unwrap();
    // The child holds the terminal now: reading ends (EIO) once it exits.
    let mut reader = std::fs::File::from(controller);
    let bytes = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        all
    });
    let deadline = Instant::now() + LIMIT;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tracker run did not end within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let bytes = bytes.join().unwrap();
    let size = |n| std::num::NonZero::new(n).unwrap();
    let mut parser = vt100::Parser::new(size(ROWS), size(COLS), 0);
    parser.process(&bytes);
    parser
        .screen()
        .rows(0, COLS)
        .map(|row| row.trim_end().to_owned())
        .collect()
}

/// A spinner frame of the live bar (indicatif's default braille dots).
fn spinner(c: char) -> bool {
    ('\u{2800}'..='\u{28ff}').contains(&c)
}

#[test]
fn the_live_display_keeps_step_output_and_warnings_on_lines_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("pipeline.toml");
    // `train` prints a line in two writes a second apart, a bad progress
    // line (a warning), and a last line without its newline; the steps
    // sleep so that the bar is drawn between their writes.
    std::fs::write(
        &pipeline,
        r#"[pipeline]
name = "pty"

[[steps]]
id = "train"
name = "Train"
run = "printf 'training'; sleep 1; echo ' done'; echo 'not json' >> \"$TRACKER_PROGRESS\"; sleep 1; printf 'no newline at the end'; sleep 1"

[[steps]]
id = "second"
name = "Second"
run = "sleep 1; echo second"
"#,
    )
    .unwrap();
    let screen = run_on_a_terminal(&dir.path().join("out"), &pipeline);
    let text = screen.join("\n");
    let lines: Vec<&str> = screen.iter().map(String::as_str).collect();
    assert!(
        lines.contains(&"training done"),
        "one line, not glued to the bar:\n{text}"
    );
    assert!(
        lines.contains(&"no newline at the end"),
        "flushed at the step's end:\n{text}"
    );
    assert!(lines.contains(&"second"), "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("warning: step `train`: ignoring progress line 1: not JSON")),
        "the warning on a line of its own:\n{text}"
    );
    for line in &lines {
        let has_spinner = line.chars().any(spinner);
        assert!(
            !has_spinner || line.chars().filter(|c| !c.is_whitespace()).count() > 1,
            "a spinner left on a line of its own:\n{text}"
        );
        if has_spinner {
            for output in ["training", "no newline", "second", "warning:"] {
                assert!(
                    !line.contains(output),
                    "output glued to the bar: {line:?}\n{text}"
                );
            }
        }
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Run ") && l.contains("completed")),
        "{text}"
    );
}
