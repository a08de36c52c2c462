//! Event files on disk.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::proto::{Event, EventKind, FILE_VERSION};
use crate::record::frame_record;

/// The `<n>` of `events.out.tfevents.<secs>.<host>.<pid>.<n>`: unique per
/// process, so two writers created in the same second get different files.
static FILE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The prefix of every event file name; TensorBoard reads files whose name
/// contains `tfevents`.
pub const EVENT_FILE_PREFIX: &str = "events.out.tfevents.";

/// Writes one TensorBoard event file.
///
/// The file is named `events.out.tfevents.<secs>.<host>.<pid>.<n>` and
/// starts with a `file_version = "brain.Event:2"` event. Scalars are
/// buffered; [`EventWriter::flush`] (or dropping the writer) writes them
/// out. Each record is handed to the buffer whole, so after a flush the
/// file ends on a record boundary.
///
/// After a failed write the file may end in a torn record: the writer then
/// refuses further writes with [`Error::Broken`] rather than append records
/// a reader could no longer find.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let mut writer = tensorboard::EventWriter::create(dir.path())?;
/// writer.add_scalar("loss", 0.25, 1, 1_735_812_000.0)?;
/// writer.flush()?;
/// assert!(writer.path().starts_with(dir.path()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct EventWriter {
    path: PathBuf,
    out: BufWriter<File>,
    scratch: Vec<u8>,
    record: Vec<u8>,
    broken: bool,
}

impl EventWriter {
    /// Creates `logdir` if needed and a new event file in it, stamped now.
    pub fn create(logdir: &Path) -> Result<Self> {
        Self::create_at(logdir, unix_now())
    }

    /// As [`EventWriter::create`], with the file's time (its name and its
    /// first event) given in seconds since the Unix epoch.
    pub fn create_at(logdir: &Path, wall_time: f64) -> Result<Self> {
        std::fs::create_dir_all(logdir).map_err(|e| Error::io("create directory", logdir, e))?;
        let secs = if wall_time.is_finite() && wall_time > 0.0 {
            wall_time as u64
        } else {
            0
        };
        let host = file_name_part(&host_name());
        let pid = std::process::id();
        let (path, file) = loop {
            let n = FILE_COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = logdir.join(format!("{EVENT_FILE_PREFIX}{secs}.{host}.{pid}.{n}"));
            // Never append to a file another writer may own.
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => break (path, file),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io("create", path, e)),
            }
        };
        let mut writer = Self {
            path,
            out: BufWriter::new(file),
            scratch: Vec::new(),
            record: Vec::new(),
            broken: false,
        };
        writer.write_event(&Event {
            wall_time,
            step: 0,
            kind: EventKind::FileVersion(FILE_VERSION),
        })?;
        Ok(writer)
    }

    /// The event file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds one scalar. TensorBoard stores scalars as 32-bit floats
    /// (`simple_value`), so `value` is rounded to `f32`.
    pub fn add_scalar(&mut self, tag: &str, value: f64, step: i64, wall_time: f64) -> Result<()> {
        self.add_scalars(&[(tag, value)], step, wall_time)
    }

    /// Adds several scalars sharing a step and time, as one event.
    /// Does nothing when `values` is empty.
    pub fn add_scalars(&mut self, values: &[(&str, f64)], step: i64, wall_time: f64) -> Result<()> {
        if values.is_empty() {
            return Ok(());
        }
        let narrowed: Vec<(&str, f32)> = values.iter().map(|&(t, v)| (t, v as f32)).collect();
        self.write_event(&Event {
            wall_time,
            step,
            kind: EventKind::Scalars(&narrowed),
        })
    }

    /// Writes any buffered events to the file.
    pub fn flush(&mut self) -> Result<()> {
        if self.broken {
            return Err(Error::Broken {
                path: self.path.clone(),
            });
        }
        let result = self.out.flush();
        self.check(result, "flush")
    }

    /// Encodes and frames `event`, then hands the whole record to the buffer.
    pub fn write_event(&mut self, event: &Event<'_>) -> Result<()> {
        if self.broken {
            return Err(Error::Broken {
                path: self.path.clone(),
            });
        }
        self.scratch.clear();
        event.encode(&mut self.scratch);
        self.record.clear();
        frame_record(&self.scratch, &mut self.record);
        let result = self.out.write_all(&self.record);
        self.check(result, "write")
    }

    fn check(&mut self, result: std::io::Result<()>, action: &'static str) -> Result<()> {
        result.map_err(|e| {
            self.broken = true;
            Error::io(action, &self.path, e)
        })
    }
}

/// Seconds since the Unix epoch, now.
pub(crate) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// This machine's host name, or `unknown`. (The same lookup as
/// `manifest::host_name`, repeated here so that this crate does not depend
/// on the storage crate for eight lines.)
fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Keeps `[A-Za-z0-9._-]` and replaces anything else with `_`, so a name
/// part can never add a path component.
pub(crate) fn file_name_part(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match cleaned.as_str() {
        "" => "_".to_owned(),
        "." | ".." => cleaned.replace('.', "_"),
        _ => cleaned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_follow_the_convention_and_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        let a = EventWriter::create_at(dir.path(), 1_735_812_000.9).unwrap();
        let b = EventWriter::create_at(dir.path(), 1_735_812_000.9).unwrap();
        assert_ne!(a.path(), b.path());
        let name = a.path().file_name().unwrap().to_str().unwrap().to_owned();
        let parts: Vec<&str> = name
            .strip_prefix(EVENT_FILE_PREFIX)
            .unwrap()
            .rsplitn(3, '.')
            .collect();
        // Reversed: n, pid, "<secs>.<host>".
        assert!(parts[0].parse::<u64>().is_ok(), "{name}");
        assert_eq!(parts[1], std::process::id().to_string(), "{name}");
        assert!(parts[2].starts_with("1735812000."), "{name}");
    }

    #[test]
    fn first_record_is_the_file_version() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create_at(dir.path(), 1_735_812_000.0).unwrap();
        w.flush().unwrap();
        let bytes = std::fs::read(w.path()).unwrap();
        let mut want = Vec::new();
        let mut data = Vec::new();
        Event {
            wall_time: 1_735_812_000.0,
            step: 0,
            kind: EventKind::FileVersion("brain.Event:2"),
        }
        .encode(&mut data);
        frame_record(&data, &mut want);
        assert_eq!(bytes, want);
    }

    #[test]
    fn empty_scalar_lists_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create_at(dir.path(), 1.0).unwrap();
        w.flush().unwrap();
        let before = std::fs::metadata(w.path()).unwrap().len();
        w.add_scalars(&[], 1, 1.0).unwrap();
        w.flush().unwrap();
        assert_eq!(std::fs::metadata(w.path()).unwrap().len(), before);
    }

    #[test]
    fn unwritable_logdir_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let err = EventWriter::create(&file.join("logs")).unwrap_err();
        assert!(
            matches!(
                &err,
                Error::Io {
                    action: "create directory",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("not-a-dir"), "{err}");
    }

    #[test]
    fn a_failed_write_breaks_the_writer() {
        // /dev/full accepts the open and fails every write with ENOSPC.
        let Ok(file) = OpenOptions::new().write(true).open("/dev/full") else {
            return; // not Linux: nothing to test here
        };
        let mut w = EventWriter {
            path: PathBuf::from("/dev/full"),
            out: BufWriter::with_capacity(16, file),
            scratch: Vec::new(),
            record: Vec::new(),
            broken: false,
        };
        let err = w.add_scalar("a", 1.0, 1, 1.0).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Io {
                    action: "write",
                    ..
                }
            ),
            "{err}"
        );
        let err = w.add_scalar("a", 1.0, 2, 1.0).unwrap_err();
        assert!(matches!(err, Error::Broken { .. }), "{err}");
        assert!(matches!(w.flush(), Err(Error::Broken { .. })));
    }

    #[test]
    fn name_parts_cannot_escape() {
        assert_eq!(file_name_part("lab-01.example"), "lab-01.example");
        assert_eq!(file_name_part("a/b c"), "a_b_c");
        assert_eq!(file_name_part(".."), "__");
        assert_eq!(file_name_part(""), "_");
    }
}
