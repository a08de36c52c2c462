//! Tolerant readers: whatever the damage, keep every good line.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use telemetry_model::{
    PerformanceRecommendation, PerformanceTestResult, PipelineRunRecord, StepExecutionEntry,
};

use crate::error::{Error, Result};
use crate::jsonl::{Line, LineReader, MAX_LINE_BYTES, memchr_newline};
use crate::line::{
    ManifestLine, Parsed, is_wrapper_line, parse_json, parse_manifest_line, parse_tolerant,
};

/// A line a reader skipped or repaired, with where it is.
///
/// Displays as `path:line: message`, the form editors and terminals link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadWarning {
    /// The file.
    pub path: PathBuf,
    /// 1-based line number (0 when the warning is about the whole file).
    pub line: u64,
    /// What was wrong and what the reader did about it.
    pub message: String,
}

impl fmt::Display for ReadWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
    }
}

/// Everything a manifest holds, as read by [`read_manifest`].
#[derive(Clone, Debug, Default)]
pub struct ManifestContents {
    /// The last complete run record: the run's current state.
    pub record: Option<PipelineRunRecord>,
    /// The line it was on.
    pub record_line: u64,
    /// `{"recommendation": …}` lines, in file order.
    pub recommendations: Vec<PerformanceRecommendation>,
    /// `{"perf_test": …}` lines, in file order.
    pub perf_tests: Vec<PerformanceTestResult>,
    /// Lines in the file.
    pub lines: u64,
    /// Lines skipped or repaired.
    pub warnings: Vec<ReadWarning>,
}

/// Opens a file to read, with its length, refusing anything but a regular
/// file: a FIFO in a run directory would block a reader forever, and a
/// device (`/dev/zero`) never end. The non-blocking open is what keeps a
/// FIFO from blocking; it changes nothing for a regular file. A symbolic
/// link is not followed (`O_NOFOLLOW`): a run's files are read from inside
/// the artifact root only.
pub(crate) fn open_regular(path: &Path) -> Result<(File, u64)> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                let link = std::io::Error::new(
                    ErrorKind::InvalidInput,
                    "a symbolic link, which is not followed",
                );
                Error::io("read", path, link)
            } else {
                Error::io("open", path, e)
            }
        })?;
    let meta = file.metadata().map_err(|e| Error::io("stat", path, e))?;
    if !meta.is_file() {
        let error = std::io::Error::new(ErrorKind::InvalidInput, "not a regular file");
        return Err(Error::io("read", path, error));
    }
    Ok((file, meta.len()))
}

/// Reads a whole small file of a run (a JSON document beside the
/// manifest) as a reader of run directories must: only a regular file (a
/// FIFO or device there never blocks), and at most `max_bytes` (a larger
/// file is an error, not a memory spike).
pub fn read_regular(path: &Path, max_bytes: u64) -> Result<Vec<u8>> {
    let (file, len) = open_regular(path)?;
    if len > max_bytes {
        let error = std::io::Error::new(
            ErrorKind::InvalidData,
            format!("{len} bytes, more than the {max_bytes} expected"),
        );
        return Err(Error::io("read", path, error));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    std::io::Read::read_to_end(&mut file.take(max_bytes + 1), &mut bytes)
        .map_err(|e| Error::io("read", path, e))?;
    if bytes.len() as u64 > max_bytes {
        let error = std::io::Error::new(ErrorKind::InvalidData, "the file grew while read");
        return Err(Error::io("read", path, error));
    }
    Ok(bytes)
}

fn salvage_message(skipped: usize) -> String {
    format!("dropped {skipped} bytes of a torn line; the line after it was recovered")
}

fn too_long_message(len: u64) -> String {
    format!("skipped an over-long line ({len} bytes, limit {MAX_LINE_BYTES})")
}

fn skip_message(err: &serde_json::Error, terminated: bool) -> String {
    if terminated {
        format!("skipped a line that is not a manifest record: {err}")
    } else {
        "skipped a torn last line (an interrupted write)".to_owned()
    }
}

/// Reads a whole manifest. Torn, garbage and over-long lines are skipped
/// with a warning naming file and line; a record appended after a torn
/// line is recovered; the last complete record wins. Memory use does not
/// grow with the number of lines.
pub fn read_manifest(path: &Path) -> Result<ManifestContents> {
    let (file, _) = open_regular(path)?;
    let mut out = ManifestContents::default();
    let mut reader = LineReader::new(file);
    let warn = |out: &mut ManifestContents, line: u64, message: String| {
        out.warnings.push(ReadWarning {
            path: path.to_owned(),
            line,
            message,
        });
    };
    while let Some(line) = reader.next_line().map_err(|e| Error::io("read", path, e))? {
        let (number, bytes, terminated) = match line {
            Line::TooLong { number, len } => {
                out.lines = number;
                warn(&mut out, number, too_long_message(len));
                continue;
            }
            Line::Text {
                number,
                bytes,
                terminated,
            } => (number, bytes, terminated),
        };
        out.lines = number;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = match parse_tolerant(bytes, parse_manifest_line) {
            Parsed::Clean(line) => line,
            Parsed::Salvaged { value, skipped } => {
                warn(&mut out, number, salvage_message(skipped));
                value
            }
            Parsed::Bad(err) => {
                warn(&mut out, number, skip_message(&err, terminated));
                continue;
            }
        };
        match parsed {
            ManifestLine::Record(record) => {
                out.record = Some(*record);
                out.record_line = number;
            }
            ManifestLine::Recommendation { recommendation } => {
                out.recommendations.push(recommendation)
            }
            ManifestLine::PerfTest { perf_test } => out.perf_tests.push(perf_test),
        }
    }
    if let Some(record) = &out.record
        && record.has_naive_timestamps()
    {
        let line = out.record_line;
        warn(
            &mut out,
            line,
            "timestamps without a UTC offset were read as UTC".to_owned(),
        );
    }
    Ok(out)
}

/// The last record of a manifest, found by reading backwards from the end.
#[derive(Clone, Debug)]
pub struct TailRecord<T> {
    /// The record.
    pub record: T,
    /// Lines skipped or repaired on the way.
    pub warnings: Vec<ReadWarning>,
}

/// How much of a manifest's end is read first. A record line is a few
/// kilobytes and usually the last or second-to-last line, so one read
/// mostly suffices; each further read doubles.
const TAIL_CHUNK: u64 = 4 * 1024;

/// Reads only as much of the end of a manifest as it takes to find the last
/// complete record, so the cost does not grow with the manifest's length.
/// Returns `None` if the file holds no record at all.
///
/// `T` is the record type; a caller that needs only a few fields can pass a
/// smaller struct and parse less. Whatever `T`, the same lines are skipped
/// as damaged, so the record found is on the line [`read_manifest`] takes
/// for the last record, unless that line is a valid `T` but not a valid
/// [`PipelineRunRecord`] (a smaller `T` is more lenient).
pub fn read_last_record<T: DeserializeOwned>(path: &Path) -> Result<Option<TailRecord<T>>> {
    read_last_record_in(path, &mut Vec::new())
}

/// [`read_last_record`] reading into `buf`, so that a caller reading many
/// manifests reuses one allocation. What `buf` holds on return is unspecified.
pub(crate) fn read_last_record_in<T: DeserializeOwned>(
    path: &Path,
    buf: &mut Vec<u8>,
) -> Result<Option<TailRecord<T>>> {
    match read_tail::<T>(path, buf) {
        // The file shrank between the stat and a read: its writer cut off
        // a line the disk took only part of. Once more, from a fresh stat.
        Err(Error::Io { source, .. }) if source.kind() == ErrorKind::UnexpectedEof => {
            read_tail(path, buf)
        }
        other => other,
    }
}

fn read_tail<T: DeserializeOwned>(path: &Path, buf: &mut Vec<u8>) -> Result<Option<TailRecord<T>>> {
    let (file, len) = open_regular(path)?;
    let mut warnings = Vec::new();
    let mut damaged = Vec::new(); // (offset, message): line numbers resolved at the end
    let mut end = len; // bytes [end, len) are done
    let mut chunk = TAIL_CHUNK;
    let found = 'search: loop {
        if end == 0 {
            break None;
        }
        let start = end.saturating_sub(chunk);
        buf.resize((end - start) as usize, 0);
        file.read_exact_at(buf, start)
            .map_err(|e| Error::io("read", path, e))?;
        // The first line in the buffer may be cut by the chunk boundary.
        // A buffer whose only newline is its last byte holds no complete
        // line either: the line it ends is longer than the buffer.
        let first_newline = if start > 0 {
            match memchr_newline(buf) {
                Some(i) if i + 1 < buf.len() => Some(i),
                _ if chunk as usize > 2 * MAX_LINE_BYTES => {
                    // One line longer than any record: scan forwards instead,
                    // up to the lines already searched.
                    break 'search forward_last_record::<T>(path, end, &mut warnings)?;
                }
                _ => {
                    chunk *= 2;
                    continue;
                }
            }
        } else {
            None
        };
        let complete_from = first_newline.map_or(0, |i| i + 1);
        // Walk the complete lines of the buffer from the last to the first.
        let mut region = &buf[complete_from..];
        while !region.is_empty() {
            let (body, terminated) = match region.strip_suffix(b"\n") {
                Some(body) => (body, true),
                None => (region, false), // only the file's very last bytes
            };
            let line_start = memchr::memrchr(b'\n', body).map_or(0, |i| i + 1);
            let bytes = &body[line_start..];
            region = &body[..line_start];
            let offset = start + (complete_from + line_start) as u64;
            // Over the limit is damage whatever the content, as for
            // `read_manifest`: both readers must agree on the last record.
            if bytes.len() > MAX_LINE_BYTES {
                damaged.push((offset, too_long_message(bytes.len() as u64)));
                continue;
            }
            if bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if is_wrapper_line(bytes) {
                match judge_wrapper_line::<T>(bytes, terminated) {
                    Wrapper::Intact => {}
                    Wrapper::Damaged(message) => damaged.push((offset, message)),
                    Wrapper::Record { value, skipped } => {
                        damaged.push((offset, salvage_message(skipped)));
                        break 'search Some(value);
                    }
                }
                continue;
            }
            match parse_tolerant(bytes, parse_json::<T>) {
                Parsed::Clean(record) => break 'search Some(record),
                Parsed::Salvaged { value, skipped } => {
                    damaged.push((offset, salvage_message(skipped)));
                    break 'search Some(value);
                }
                Parsed::Bad(err) => damaged.push((offset, skip_message(&err, terminated))),
            }
        }
        if start == 0 {
            break None;
        }
        end = start + complete_from as u64;
        chunk = chunk.saturating_mul(2);
    };
    if !damaged.is_empty() {
        let numbers = line_numbers_at(&file, damaged.iter().map(|(o, _)| *o))
            .map_err(|e| Error::io("read", path, e))?;
        for ((_, message), line) in damaged.into_iter().zip(numbers) {
            warnings.push(ReadWarning {
                path: path.to_owned(),
                line,
                message,
            });
        }
    }
    Ok(found.map(|record| TailRecord { record, warnings }))
}

/// The last record among the lines that start before byte `limit`, read
/// forwards with bounded memory: the fallback for a line too long to find
/// the start of by reading backwards. Like the backwards search, it reports
/// only the over-long lines after the record it returns.
fn forward_last_record<T: DeserializeOwned>(
    path: &Path,
    limit: u64,
    warnings: &mut Vec<ReadWarning>,
) -> Result<Option<T>> {
    let (file, _) = open_regular(path)?;
    let mut reader = LineReader::new(file);
    let mut last = None;
    let mut after_last = Vec::new();
    let mut offset = 0u64; // where the line read next starts
    while offset < limit {
        let Some(line) = reader.next_line().map_err(|e| Error::io("read", path, e))? else {
            break;
        };
        let found = match line {
            Line::TooLong { number, len } => {
                offset += len + 1;
                after_last.push(ReadWarning {
                    path: path.to_owned(),
                    line: number,
                    message: too_long_message(len),
                });
                None
            }
            Line::Text {
                bytes, terminated, ..
            } => {
                offset += bytes.len() as u64 + 1;
                if is_wrapper_line(bytes) {
                    match judge_wrapper_line::<T>(bytes, terminated) {
                        Wrapper::Record { value, .. } => Some(value),
                        Wrapper::Intact | Wrapper::Damaged(_) => None,
                    }
                } else if let Parsed::Clean(v) | Parsed::Salvaged { value: v, .. } =
                    parse_tolerant(bytes, parse_json::<T>)
                {
                    Some(v)
                } else {
                    None
                }
            }
        };
        if found.is_some() {
            last = found;
            after_last.clear();
        }
    }
    warnings.append(&mut after_last);
    Ok(last)
}

/// What the tail readers make of a line that starts like a wrapper line.
enum Wrapper<T> {
    /// A wrapper line (or one not worth parsing): nothing for them.
    Intact,
    /// Damaged, with the warning [`read_manifest`] gives it.
    Damaged(String),
    /// A record glued after a torn prefix, as an appender that does not
    /// terminate a torn line first (the Python tracker) leaves it:
    /// `{"recommendation": {"trig{"run_id": …}`.
    Record { value: T, skipped: usize },
}

/// Judges a line that starts like a wrapper line as [`read_manifest`]
/// does, so that both readers agree on the last record. Parsing every
/// wrapper line would cost the tail readers their speed, so a terminated
/// one is parsed only if a record could be glued to it: a record needs its
/// `run_id` key, spelt out or with an escape in it (`run\u005fid`).
fn judge_wrapper_line<T: DeserializeOwned>(bytes: &[u8], terminated: bool) -> Wrapper<T> {
    let may_hold_record =
        memchr::memmem::find(bytes, b"run_id").is_some() || memchr::memchr(b'\\', bytes).is_some();
    if terminated && !may_hold_record {
        return Wrapper::Intact;
    }
    match parse_tolerant(bytes, parse_manifest_line) {
        Parsed::Clean(_) => Wrapper::Intact,
        Parsed::Salvaged {
            value: ManifestLine::Record(_),
            skipped,
        } => match parse_json::<T>(&bytes[skipped..]) {
            Ok(value) => Wrapper::Record { value, skipped },
            // Only if `T` is stricter than a run record.
            Err(err) => Wrapper::Damaged(skip_message(&err, terminated)),
        },
        Parsed::Salvaged { skipped, .. } => Wrapper::Damaged(salvage_message(skipped)),
        Parsed::Bad(err) => Wrapper::Damaged(skip_message(&err, terminated)),
    }
}

/// 1-based line numbers of byte offsets (which must be line starts).
fn line_numbers_at(file: &File, offsets: impl Iterator<Item = u64>) -> std::io::Result<Vec<u64>> {
    let mut offsets: Vec<(usize, u64)> = offsets.enumerate().collect();
    offsets.sort_by_key(|(_, o)| *o);
    let mut numbers = vec![0; offsets.len()];
    let mut reader = std::io::BufReader::new(file);
    let mut pos = 0u64;
    let mut newlines = 0u64;
    let mut buf = [0u8; 64 * 1024];
    let mut next = 0;
    while next < offsets.len() {
        // Resolve every offset inside what has been counted so far.
        while next < offsets.len() && offsets[next].1 <= pos {
            numbers[offsets[next].0] = newlines + 1;
            next += 1;
        }
        if next == offsets.len() {
            break;
        }
        let want = (offsets[next].1 - pos).min(buf.len() as u64) as usize;
        let n = match reader.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        newlines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        pos += n as u64;
    }
    Ok(numbers)
}

/// Reads every line of a JSON Lines file as `T` (telemetry, for instance),
/// calling `visit` for each good one. Bad lines become warnings.
pub fn read_jsonl<T: DeserializeOwned>(
    path: &Path,
    mut visit: impl FnMut(u64, T),
) -> Result<Vec<ReadWarning>> {
    let (file, _) = open_regular(path)?;
    let mut reader = LineReader::new(file);
    let mut warnings = Vec::new();
    while let Some(line) = reader.next_line().map_err(|e| Error::io("read", path, e))? {
        let (number, message) = match line {
            Line::TooLong { number, len } => (number, too_long_message(len)),
            Line::Text { bytes, .. } if bytes.iter().all(u8::is_ascii_whitespace) => continue,
            Line::Text {
                number,
                bytes,
                terminated,
            } => match parse_tolerant(bytes, parse_json::<T>) {
                Parsed::Clean(v) => {
                    visit(number, v);
                    continue;
                }
                Parsed::Salvaged { value, skipped } => {
                    visit(number, value);
                    (number, salvage_message(skipped))
                }
                Parsed::Bad(err) => (number, skip_message(&err, terminated)),
            },
        };
        warnings.push(ReadWarning {
            path: path.to_owned(),
            line: number,
            message,
        });
    }
    Ok(warnings)
}

/// Reads `steps.json`: a JSON list of steps (the layout both trackers
/// write), or an object with a `steps` list.
///
/// A file cut short or otherwise damaged is an error naming the file, line
/// and column, never a partial list. [`RunWriter`](crate::RunWriter)
/// replaces the file atomically, so only another tool leaves one damaged;
/// the manifest, which holds the same steps, is the source of truth.
pub fn read_steps(path: &Path) -> Result<Vec<StepExecutionEntry>> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Steps {
        List(Vec<StepExecutionEntry>),
        Object { steps: Vec<StepExecutionEntry> },
    }
    let (mut file, len) = open_regular(path)?;
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.read_to_end(&mut bytes)
        .map_err(|e| Error::io("read", path, e))?;
    match parse_json::<Steps>(&bytes) {
        Ok(Steps::List(steps) | Steps::Object { steps }) => Ok(steps),
        Err(source) => Err(Error::io(
            "parse",
            path,
            std::io::Error::new(
                ErrorKind::InvalidData,
                format!("expected a JSON list of steps: {source}"),
            ),
        )),
    }
}
