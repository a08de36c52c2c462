//! The progress channel of a step (docs/progress-channel.md).
//!
//! Each step gets `TRACKER_PROGRESS`, the path of a file it may append JSON
//! lines to; the tracker follows the file while the step runs:
//!
//! ```text
//! {"progress": 0.42}          fraction done, 0–1: drives the ETA
//! {"steps": 12000}            cumulative work items: gives steps_per_sec
//! {"fps": 31.5}               frames per second
//! {"artifact": "out/model.pt"} a file the step produced
//! {"message": "epoch 3/10"}   a note for the operator
//! ```
//!
//! Keys may be combined in one line; unknown keys are ignored. A bad line
//! is skipped with one warning per step, never fatal.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use progress::{ProgressTracker, Report};
use serde_json::Value;

use crate::Reporter;
use crate::sys::{DirWatch, Watched};

/// The progress channel file of a tracked step: `RUN_DIR/progress/ID.jsonl`.
pub fn channel_path(run_dir: &Path, tracked_id: &str) -> PathBuf {
    run_dir.join("progress").join(format!("{tracked_id}.jsonl"))
}

/// Longest line read from the channel; longer ones are skipped.
pub const MAX_LINE: usize = 64 * 1024;
/// Shortest time between two reads of the file: a step writing many lines
/// a second has them read in batches, at most five times a second. Also how
/// often the file is polled where the kernel cannot tell of changes.
const POLL: Duration = Duration::from_millis(200);
/// While the kernel tells of changes, the file is still read now and then,
/// for writes it cannot see (from another machine, through a memory map):
/// first this long after the last read, then twice as long after each such
/// read that found nothing new, up to [`BACKSTOP_LONGEST`]. A read that
/// finds lines the kernel did not tell of starts over from here: the
/// writer is one the kernel cannot see.
const BACKSTOP_FIRST: Duration = Duration::from_secs(5);
/// The longest wait between two of those reads.
const BACKSTOP_LONGEST: Duration = Duration::from_secs(60);

/// The wait before the next unprompted read, after one that waited
/// `waited` and found new bytes (`unseen`) or not.
fn next_backstop(waited: Duration, unseen: bool) -> Duration {
    if unseen {
        BACKSTOP_FIRST
    } else {
        (waited * 2).min(BACKSTOP_LONGEST)
    }
}

/// What one channel line asks for.
#[derive(Debug, Default, PartialEq)]
pub struct Update {
    /// Progress, throughput or a message, if the line has any.
    pub report: Option<Report>,
    /// A file the step produced, as the step named it.
    pub artifact: Option<String>,
}

/// Parses one line; `Err` says what was expected.
pub fn parse_line(line: &[u8]) -> Result<Update, String> {
    let value: Value = serde_json::from_slice(line).map_err(|e| format!("not JSON ({e})"))?;
    let Value::Object(map) = value else {
        return Err("expected a JSON object such as {\"progress\": 0.42}".to_owned());
    };
    let number = |key: &str| -> Result<Option<f64>, String> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(Some)
                .ok_or_else(|| format!("`{key}` must be a number ≥ 0")),
        }
    };
    let text = |key: &str| -> Result<Option<String>, String> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(
                s.chars().filter(|c| !c.is_control()).take(200).collect(),
            )),
            Some(_) => Err(format!("`{key}` must be a string")),
        }
    };
    let fraction = number("progress")?;
    if fraction.is_some_and(|f| f > 1.0) {
        return Err("`progress` must be between 0 and 1".to_owned());
    }
    let items = match map.get("steps") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or("`steps` must be a whole number ≥ 0 (a cumulative count)")?,
        ),
    };
    let fps = number("fps")?;
    let message = text("message")?;
    let artifact = text("artifact")?.filter(|a| !a.is_empty());
    let report = (fraction.is_some() || items.is_some() || fps.is_some() || message.is_some())
        .then_some(Report {
            fraction,
            items,
            fps,
            message,
        });
    Ok(Update { report, artifact })
}

/// Follows a step's channel file on a thread until stopped.
///
/// The thread sleeps until the file's directory changes (inotify, see
/// docs/progress-channel.md), then reads the new lines; an idle step costs
/// nothing. Where the kernel cannot watch the directory, it polls.
#[derive(Debug)]
pub(crate) struct Follower {
    stop: Arc<AtomicBool>,
    watch: Option<Arc<DirWatch>>,
    thread: Option<JoinHandle<()>>,
}

impl Follower {
    /// Starts following `path` for `step_id`; bad lines are said to
    /// `reporter`.
    pub(crate) fn start(
        tracker: Arc<ProgressTracker>,
        step_id: String,
        path: PathBuf,
        workdir: PathBuf,
        reporter: Arc<dyn Reporter>,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        // Watched before the first read, so no write goes unnoticed.
        let watch = path
            .parent()
            .and_then(|dir| DirWatch::new(dir).ok())
            .map(Arc::new);
        let thread = {
            let stop = Arc::clone(&stop);
            let watch = watch.clone();
            std::thread::Builder::new()
                .name(format!("progress-{step_id}"))
                .spawn(move || {
                    let mut reader = ChannelReader::new(path);
                    let mut warned = false;
                    let mut refused = false;
                    let watch = watch.as_deref().map(|w| w as &dyn Watch);
                    follow(&mut reader, watch, &stop, |number, result| {
                        match result {
                            Ok(update) => {
                                if let Err(e) = apply(&tracker, &step_id, &workdir, update)
                                    && !std::mem::replace(&mut refused, true)
                                {
                                    reporter.warn(&format!("progress line {number}: {e}"));
                                }
                            }
                            Err(reason) if !warned => {
                                warned = true;
                                reporter.warn(&format!(
                                    "step `{step_id}`: ignoring progress line {number}: {reason} (further bad lines are ignored silently)"
                                ));
                            }
                            Err(_) => {}
                        }
                    });
                })
                .ok()
        };
        Self {
            stop,
            watch,
            thread,
        }
    }

    /// Reads what is left and stops.
    pub(crate) fn finish(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            if let Some(watch) = &self.watch {
                watch.wake();
            }
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// What a follower sleeps on: the kernel's word that the channel's
/// directory changed ([`DirWatch`]; a fake in tests).
trait Watch {
    /// Blocks until a change, a wake-up or `timeout`.
    fn wait(&self, timeout: Duration) -> Watched;
    /// Sleeps for `timeout` unless woken.
    fn pause(&self, timeout: Duration);
}

impl Watch for DirWatch {
    fn wait(&self, timeout: Duration) -> Watched {
        DirWatch::wait(self, timeout)
    }
    fn pause(&self, timeout: Duration) {
        DirWatch::pause(self, timeout);
    }
}

/// Reads `reader`'s new lines into `visit` whenever `watch` tells of a
/// change, now and then unprompted ([`BACKSTOP_FIRST`]), or every
/// [`POLL`] without a watch (none, or its directory gone); once more after
/// `stop` is set, then returns.
fn follow(
    reader: &mut ChannelReader,
    mut watch: Option<&dyn Watch>,
    stop: &AtomicBool,
    mut visit: impl FnMut(u64, Result<Update, String>),
) {
    let mut backstop = BACKSTOP_FIRST;
    let mut unprompted = false;
    loop {
        let last = stop.load(Ordering::SeqCst);
        let before = reader.offset;
        reader.poll(&mut visit);
        if std::mem::take(&mut unprompted) {
            backstop = next_backstop(backstop, reader.offset != before);
        }
        if last {
            return;
        }
        match watch {
            // Sleep until the file changes, then let a chatty step write
            // for POLL more: lines are read in batches, at most five times
            // a second.
            Some(w) => match w.wait(backstop) {
                Watched::Changed => w.pause(POLL),
                Watched::Gone => watch = None,
                Watched::TimedOut => unprompted = true,
                Watched::Woken => {}
            },
            None => std::thread::park_timeout(POLL),
        }
    }
}

/// Folds one update into the tracker; an artifact beyond the step's limits
/// is refused (the caller warns once). A relative artifact path is the
/// step's, relative to its working directory `workdir`, and is recorded
/// absolute, so the run's files lead to it from anywhere.
fn apply(
    tracker: &ProgressTracker,
    step_id: &str,
    workdir: &std::path::Path,
    update: Update,
) -> Result<(), progress::Error> {
    if let Some(report) = update.report {
        let _ = tracker.report(step_id, report);
    }
    if let Some(artifact) = update.artifact {
        let artifact = if std::path::Path::new(&artifact).is_absolute() {
            artifact
        } else {
            workdir.join(&artifact).display().to_string()
        };
        // Refused artifacts are said (once); a failed write is retried with
        // the next record, and a finished run takes no more.
        if let Err(
            e @ (progress::Error::TooManyArtifacts { .. }
            | progress::Error::ArtifactTooLong { .. }
            | progress::Error::Manifest(manifest::Error::LineTooLong { .. })),
        ) = tracker.add_artifact(step_id, artifact)
        {
            return Err(e);
        }
    }
    Ok(())
}

/// Reads complete lines appended to a channel file since the last poll.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("train.jsonl");
/// std::fs::write(&path, "{\"steps\": 10}\nnot json\n{\"steps\": 25}\n{\"steps\"")?;
/// let mut steps = Vec::new();
/// runner::ChannelReader::new(path).poll(|_, line| {
///     steps.extend(line.ok().and_then(|u| u.report).and_then(|r| r.items));
/// });
/// assert_eq!(steps, [10, 25], "the bad line is an error, the partial one waits");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct ChannelReader {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
    skipping: bool,
    line: u64,
}

impl ChannelReader {
    /// A reader of `path` from its start (the file need not exist yet).
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            offset: 0,
            partial: Vec::new(),
            skipping: false,
            line: 0,
        }
    }

    /// Calls `visit(line_number, parsed)` for every new complete line.
    pub fn poll(&mut self, mut visit: impl FnMut(u64, Result<Update, String>)) {
        let Ok(mut file) = File::open(&self.path) else {
            return;
        };
        let Ok(len) = file.metadata().map(|m| m.len()) else {
            return;
        };
        if len < self.offset {
            // Truncated by the step: start over.
            self.offset = 0;
            self.partial.clear();
        }
        if len == self.offset || file.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = match file.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            self.offset += n as u64;
            for &byte in &chunk[..n] {
                if byte == b'\n' {
                    self.line += 1;
                    if self.skipping {
                        visit(self.line, Err(format!("longer than {MAX_LINE} bytes")));
                    } else if !self.partial.iter().all(u8::is_ascii_whitespace) {
                        visit(self.line, parse_line(&self.partial));
                    }
                    self.partial.clear();
                    self.skipping = false;
                } else if !self.skipping {
                    if self.partial.len() >= MAX_LINE {
                        self.skipping = true;
                        self.partial.clear();
                    } else {
                        self.partial.push(byte);
                    }
                }
            }
        }
    }

    #[cfg(test)]
    fn path(&self) -> &std::path::Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn documented_lines() {
        let up =
            parse_line(br#"{"progress": 0.42, "steps": 12000, "fps": 31.5, "message": "epoch 3"}"#)
                .unwrap();
        assert_eq!(
            up.report,
            Some(Report {
                fraction: Some(0.42),
                items: Some(12000),
                fps: Some(31.5),
                message: Some("epoch 3".into())
            })
        );
        let up = parse_line(br#"{"artifact": "out/model.pt", "extra": [1]}"#).unwrap();
        assert_eq!(up.artifact.as_deref(), Some("out/model.pt"));
        assert_eq!(up.report, None);
    }

    #[test]
    fn bad_lines_say_what_was_expected() {
        let cases: [(&[u8], &str); 7] = [
            (b"garbage", "not JSON"),
            (b"[1,2]", "expected a JSON object"),
            (br#"{"progress": 1.5}"#, "between 0 and 1"),
            (br#"{"progress": "half"}"#, "`progress` must be a number"),
            (br#"{"steps": -3}"#, "`steps` must be a whole number"),
            (br#"{"steps": 2.5}"#, "`steps` must be a whole number"),
            (br#"{"message": 42}"#, "`message` must be a string"),
        ];
        for (line, want) in cases {
            let err = parse_line(line).unwrap_err();
            assert!(
                err.contains(want),
                "{}: {err}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn a_follower_applies_lines_as_they_come_and_the_last_ones_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let mut options = progress::TrackerOptions::new(
            "follow",
            progress::manifest::ArtifactRoot::new(dir.path().join("out")),
        );
        options.display = progress::Display::Quiet;
        options.refresh = None;
        options.history_runs = 0;
        let tracker = Arc::new(
            ProgressTracker::start(options, vec![progress::StepSpec::new("a", "A")]).unwrap(),
        );
        tracker.start_step("a").unwrap();
        let channels = dir.path().join("progress");
        std::fs::create_dir(&channels).unwrap();
        let path = channels.join("a.jsonl");
        let mut file = File::create(&path).unwrap();
        let reporter = Arc::new(crate::CollectingReporter::default());
        let follower = Follower::start(
            Arc::clone(&tracker),
            "a".into(),
            path,
            dir.path().to_owned(),
            reporter.clone(),
        );
        let fps = || tracker.live_metrics().fps;
        file.write_all(b"{\"fps\": 1}\n").unwrap();
        // Far longer than it takes, even on a loaded machine.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while fps() != Some(1.0) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(fps(), Some(1.0), "read while the step runs");
        file.write_all(b"not json\n{\"fps\": 2}\n").unwrap();
        follower.finish();
        assert_eq!(fps(), Some(2.0), "read once more at the end");
        let warnings = reporter.take();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
    }

    /// A watch that answers each wait from a script (given the wait's
    /// number) and records the timeouts it was asked to wait.
    struct Scripted<F> {
        script: std::cell::RefCell<F>,
        waits: std::cell::RefCell<Vec<Duration>>,
        pauses: std::cell::Cell<usize>,
    }

    impl<F: FnMut(usize) -> Watched> Watch for Scripted<F> {
        fn wait(&self, timeout: Duration) -> Watched {
            let mut waits = self.waits.borrow_mut();
            waits.push(timeout);
            (self.script.borrow_mut())(waits.len() - 1)
        }
        fn pause(&self, _timeout: Duration) {
            self.pauses.set(self.pauses.get() + 1);
        }
    }

    #[test]
    fn unprompted_reads_grow_rarer_while_they_find_nothing_and_frequent_once_they_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let file = std::cell::RefCell::new(File::create(&path).unwrap());
        let write = |line: &[u8]| file.borrow_mut().write_all(line).unwrap();
        let stop = AtomicBool::new(false);
        let watch = Scripted {
            script: std::cell::RefCell::new(|wait| match wait {
                // An idle step: nothing to read.
                0..=5 => Watched::TimedOut,
                // A writer the kernel cannot see.
                6 => {
                    write(b"{\"steps\": 1}\n");
                    Watched::TimedOut
                }
                // One it can.
                7 => {
                    write(b"{\"steps\": 2}\n");
                    Watched::Changed
                }
                8 => Watched::TimedOut,
                _ => {
                    stop.store(true, Ordering::SeqCst);
                    Watched::Woken
                }
            }),
            waits: std::cell::RefCell::default(),
            pauses: std::cell::Cell::default(),
        };
        let mut steps = Vec::new();
        follow(
            &mut ChannelReader::new(path),
            Some(&watch),
            &stop,
            |_, line| steps.extend(line.unwrap().report.and_then(|r| r.items)),
        );
        let seconds: Vec<u64> = watch.waits.take().iter().map(Duration::as_secs).collect();
        assert_eq!(seconds, [5, 10, 20, 40, 60, 60, 60, 5, 5, 10]);
        assert_eq!(watch.pauses.get(), 1, "a change told of is read after POLL");
        assert_eq!(steps, [1, 2]);
    }

    #[test]
    fn reader_follows_appends_and_skips_enormous_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.jsonl");
        let mut file = File::create(&path).unwrap();
        let mut reader = ChannelReader::new(path.clone());
        assert_eq!(reader.path(), path);
        let mut seen = Vec::new();
        file.write_all(b"{\"progress\": 0.1}\n{\"progress\": 0.")
            .unwrap();
        reader.poll(|n, r| seen.push((n, r.map(|u| u.report.and_then(|r| r.fraction)))));
        assert_eq!(seen, [(1, Ok(Some(0.1)))], "the partial line waits");
        file.write_all(b"2}\n").unwrap();
        file.write_all(&vec![b'x'; MAX_LINE + 10]).unwrap();
        file.write_all(b"\n\n{\"progress\": 0.3}\n").unwrap();
        seen.clear();
        reader.poll(|n, r| seen.push((n, r.map(|u| u.report.and_then(|r| r.fraction)))));
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert_eq!(seen[0], (2, Ok(Some(0.2))));
        assert!(seen[1].1.as_ref().unwrap_err().contains("longer than"));
        assert_eq!(seen[2], (5, Ok(Some(0.3))));
    }
}
