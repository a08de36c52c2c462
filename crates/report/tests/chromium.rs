//! The report in a real browser: headless Chromium takes a screenshot, and
//! the PNG must be a full-size page with something on it.
//!
//! Runs when `chromium` or `chromium-browser` is on `PATH` (or
//! `TRACKER_CHROMIUM` names one); otherwise it says "skipped: …" and
//! passes, unless `TRACKER_REQUIRE_CHROMIUM=1` (set by `.ci/run`) makes that
//! a failure. With `TRACKER_SCREENSHOT_DIR` set, the screenshots are copied
//! there for a person to look at.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{T0, demo_run};
use telemetry_model::{RunStatus, StepStatus, Timestamp};

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 2000;

fn find_chromium() -> Result<PathBuf, String> {
    if let Some(explicit) = std::env::var_os("TRACKER_CHROMIUM") {
        return Ok(PathBuf::from(explicit));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err("neither chromium nor chromium-browser is on PATH \
         (Debian: apt-get install --no-install-recommends chromium)"
        .to_owned())
}

/// Says why a test did nothing, where a plain `cargo test` shows it:
/// libtest captures `println!` of passing tests, not writes to the stderr
/// handle.
fn say_skipped(why: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "skipped: {why}");
}

/// Screenshots `html` (a file) into `png`, waiting at most a minute.
fn screenshot(chromium: &Path, html: &Path, png: &Path, profile: &Path) -> Result<(), String> {
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("--window-size={WIDTH},{HEIGHT}"))
        .arg(format!("file://{}", html.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", chromium.display()))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("chromium exited with {status}")),
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("chromium took more than 60 s".to_owned());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("waiting for chromium: {e}")),
        }
    }
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.len() < 24 || &bytes[..8] != SIGNATURE || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let be =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    Some((be(16), be(20)))
}

#[test]
fn headless_chromium_renders_the_report() {
    let chromium = match find_chromium() {
        Ok(path) => path,
        Err(why) if std::env::var("TRACKER_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1") => {
            panic!("TRACKER_REQUIRE_CHROMIUM=1 but {why}")
        }
        Err(why) => {
            say_skipped(&format!("Chromium screenshot test: {why}"));
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile");

    // A blank page first: what "nothing rendered" compresses to.
    let blank = dir.path().join("blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><html><body></body></html>").unwrap();
    let blank_png = dir.path().join("blank.png");
    screenshot(&chromium, &blank, &blank_png, &profile).unwrap();
    let blank_len = std::fs::metadata(&blank_png).unwrap().len();

    // The finished demo run, and the same run caught half-way without GPU
    // figures.
    let finished = demo_run();
    let mut live = demo_run();
    live.record.status = RunStatus::Running;
    live.record.completed_at = None;
    live.record.summary.total_duration = None;
    for step in &mut live.record.steps[2..] {
        step.status = StepStatus::Pending;
        step.started_at = None;
        step.ended_at = None;
        step.duration_seconds = None;
    }
    live.record.steps[2].status = StepStatus::Running;
    live.record.steps[2].started_at = Some(Timestamp::from_unix_ms(T0 + 141_700));
    live.snapshots.retain(|s| s.timestamp_ms < T0 + 165_000);
    for s in &mut live.snapshots {
        s.gpu_util_percent = None;
        s.gpu_mem_used_mb = None;
        s.notes = vec![
            "gpu: NVML unavailable (libnvidia-ml.so.1: cannot open shared object file)".into(),
        ];
    }
    live.recommendations.clear();
    live.perf_tests.clear();

    for (name, run) in [("finished", &finished), ("live", &live)] {
        let mut input = run.input();
        input.now = Some(Timestamp::from_unix_ms(T0 + 166_000));
        let html_path = dir.path().join(format!("{name}.html"));
        std::fs::write(&html_path, report::render_html(&input)).unwrap();
        let png = dir.path().join(format!("{name}.png"));
        screenshot(&chromium, &html_path, &png, &profile).unwrap();

        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(
            png_size(&bytes),
            Some((WIDTH, HEIGHT)),
            "{name}: not a full-size PNG"
        );
        // Charts, text and colour compress far worse than an empty page.
        let len = bytes.len() as u64;
        assert!(len > 50_000, "{name}: screenshot only {len} bytes");
        assert!(
            len > 5 * blank_len,
            "{name}: screenshot ({len} bytes) hardly bigger than a blank page ({blank_len} bytes)"
        );
        if let Some(keep) = std::env::var_os("TRACKER_SCREENSHOT_DIR") {
            std::fs::create_dir_all(&keep).unwrap();
            std::fs::copy(&png, Path::new(&keep).join(format!("report-{name}.png"))).unwrap();
            std::fs::copy(
                &html_path,
                Path::new(&keep).join(format!("report-{name}.html")),
            )
            .unwrap();
        }
    }
}
