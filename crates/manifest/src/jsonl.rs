//! JSON Lines files: appending whole lines, reading them back tolerantly.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};

/// Lines longer than this are skipped by readers with a warning. Records
/// are a few kilobytes; a line this long is damage or abuse.
pub const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

/// An append-only JSON Lines file.
///
/// Each [`LineFile::append`] serialises the value and the newline into one
/// buffer and hands it to a single `write(2)` on an `O_APPEND` descriptor, so
/// a reader (or a crash) sees either the whole line or a torn tail, never an
/// interleaving with another writer's line. If the file does not end with a
/// newline (a torn line from an earlier crash, or a short write), the next
/// append starts with one, so the torn line cannot swallow the next record.
/// [`LineFile::hold`] keeps lines back to write several with one `write(2)`
/// ([`LineFile::write_held`]), whole lines all the same.
#[derive(Debug)]
pub(crate) struct LineFile {
    file: File,
    path: PathBuf,
    needs_newline: bool,
    /// Lines serialised and not yet written ([`LineFile::hold`]).
    buf: Vec<u8>,
    /// How many lines `buf` holds.
    held: usize,
    len: u64,
}

impl LineFile {
    /// Opens (creating if needed) `path` for appending.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| Error::io("open", path, e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io("stat", path, e))?
            .len();
        let mut needs_newline = false;
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::End(-1))
                .and_then(|_| file.read_exact(&mut last))
                .map_err(|e| Error::io("read", path, e))?;
            needs_newline = last[0] != b'\n';
        }
        Ok(Self {
            file,
            path: path.to_owned(),
            needs_newline,
            buf: Vec::with_capacity(1024),
            held: 0,
            len,
        })
    }

    /// Appends `value` as one line with a single write (after any lines
    /// [`LineFile::hold`] kept back, in the same write).
    pub(crate) fn append(&mut self, value: &impl Serialize) -> Result<()> {
        self.hold(value)?;
        self.write_held()
    }

    /// Serialises `value` as one line and keeps it for the next write
    /// ([`LineFile::write_held`] or [`LineFile::append`]). A line over
    /// [`MAX_LINE_BYTES`] is refused and nothing is kept of it.
    pub(crate) fn hold(&mut self, value: &impl Serialize) -> Result<()> {
        let start = self.buf.len();
        if start == 0 && self.needs_newline {
            self.buf.push(b'\n');
        }
        let line_start = self.buf.len();
        let serialised = serde_json::to_writer(&mut self.buf, value);
        self.buf.push(b'\n');
        let refused = match serialised {
            Err(source) => Some(Error::Serialize {
                path: self.path.clone(),
                source,
            }),
            // Readers skip such a line: refuse it rather than write it.
            Ok(()) if self.buf.len() - line_start > MAX_LINE_BYTES => Some(Error::LineTooLong {
                path: self.path.clone(),
                len: self.buf.len() - line_start,
                limit: MAX_LINE_BYTES,
            }),
            Ok(()) => None,
        };
        match refused {
            Some(e) => {
                self.buf.truncate(start);
                Err(e)
            }
            None => {
                self.held += 1;
                Ok(())
            }
        }
    }

    /// Lines kept back by [`LineFile::hold`], not yet written.
    pub(crate) fn held(&self) -> usize {
        self.held
    }

    /// Writes the lines kept back by [`LineFile::hold`] with a single
    /// write; a no-op when there are none. They are dropped either way: a
    /// write that fails (a full disk) is not retried with the next one.
    pub(crate) fn write_held(&mut self) -> Result<()> {
        if self.held == 0 {
            return Ok(());
        }
        self.held = 0;
        let written = loop {
            match self.file.write(&self.buf) {
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.clear();
                    return Err(Error::io("append to", &self.path, e));
                }
                Ok(n) => break n,
            }
        };
        let expected = self.buf.len();
        self.buf.clear();
        self.len += written as u64;
        if written != expected {
            // A full disk wrote part of the lines: cut them off again, so
            // the file ends on a whole line and later appends (once there
            // is space) start clean. If even that fails, the next append
            // starts on a new line and readers skip the torn fragment.
            let cut = self
                .file
                .metadata()
                .map(|m| m.len().saturating_sub(written as u64))
                .and_then(|keep| self.file.set_len(keep).map(|()| keep));
            match cut {
                Ok(keep) if written > 0 => self.len = keep,
                _ => self.needs_newline = written > 0 || self.needs_newline,
            }
            return Err(Error::ShortWrite {
                path: self.path.clone(),
                written,
                expected,
            });
        }
        self.needs_newline = false;
        Ok(())
    }

    /// Forces written lines to stable storage.
    pub(crate) fn sync(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| Error::io("sync", &self.path, e))
    }

    /// Bytes in the file as far as this handle knows.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// One line of a file, as [`LineReader`] yields it.
#[derive(Debug)]
pub(crate) enum Line<'a> {
    /// A line within the length limit (without its newline). `terminated`
    /// is false for a last line with no newline: possibly torn.
    Text {
        number: u64,
        bytes: &'a [u8],
        terminated: bool,
    },
    /// A line over [`MAX_LINE_BYTES`]; its content was not kept.
    TooLong { number: u64, len: u64 },
}

/// Reads lines with bounded memory: a line over the limit is skipped, not
/// buffered, so a 10 GB line costs no more memory than a short one.
#[derive(Debug)]
pub(crate) struct LineReader<R> {
    inner: BufReader<R>,
    line: Vec<u8>,
    number: u64,
    max: usize,
}

impl<R: Read> LineReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self::with_limit(inner, MAX_LINE_BYTES)
    }

    pub(crate) fn with_limit(inner: R, max: usize) -> Self {
        Self {
            inner: BufReader::with_capacity(64 * 1024, inner),
            line: Vec::new(),
            number: 0,
            max,
        }
    }

    /// The next line, or `None` at the end of the input.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.line.clear();
        let mut len: u64 = 0;
        let mut too_long = false;
        let mut terminated = false;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                break;
            }
            let (chunk, found) = match memchr_newline(available) {
                Some(i) => (&available[..i], true),
                None => (available, false),
            };
            len += chunk.len() as u64;
            if !too_long {
                if len as usize > self.max {
                    too_long = true;
                    self.line.clear();
                } else {
                    self.line.extend_from_slice(chunk);
                }
            }
            let consumed = chunk.len() + usize::from(found);
            self.inner.consume(consumed);
            if found {
                terminated = true;
                break;
            }
        }
        if len == 0 && !terminated {
            return Ok(None);
        }
        self.number += 1;
        Ok(Some(if too_long {
            Line::TooLong {
                number: self.number,
                len,
            }
        } else {
            Line::Text {
                number: self.number,
                bytes: &self.line,
                terminated,
            }
        }))
    }
}

pub(crate) fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', bytes)
}

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory, then renamed over the target. Readers see the old content or
/// the new, never a mix; a crash leaves at most a stray `.tmp` file, which
/// readers ignore.
///
/// With `sync`, the temporary file is flushed to disk (`fdatasync`) before
/// the rename, so a power cut cannot leave the target empty or partial.
/// Without it the rename is just as atomic for other processes and for a
/// crash of this one; only a power cut may lose the new content.
pub fn write_atomic(path: &Path, bytes: &[u8], sync: bool) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        if sync {
            file.sync_data()?;
        }
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io("write", path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_readers_would_skip_is_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.jsonl");
        let mut file = LineFile::open(&path).unwrap();
        file.append(&"short").unwrap();
        let huge = "x".repeat(MAX_LINE_BYTES);
        assert!(matches!(
            file.append(&huge),
            Err(Error::LineTooLong { len, limit: MAX_LINE_BYTES, .. }) if len > MAX_LINE_BYTES
        ));
        file.append(&"after").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "\"short\"\n\"after\"\n"
        );
    }

    #[test]
    fn held_lines_are_written_together_and_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        // A torn tail from an earlier writer: the batch starts on a new line.
        std::fs::write(&path, b"{\"torn\":").unwrap();
        let mut file = LineFile::open(&path).unwrap();
        file.hold(&1).unwrap();
        file.hold(&2).unwrap();
        // A refused line leaves the held ones as they were.
        assert!(matches!(
            file.hold(&"x".repeat(MAX_LINE_BYTES)),
            Err(Error::LineTooLong { .. })
        ));
        assert_eq!(file.held(), 2);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"{\"torn\":",
            "nothing written yet"
        );
        file.append(&3).unwrap();
        assert_eq!(file.held(), 0);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "{\"torn\":\n1\n2\n3\n");
        assert_eq!(file.len(), text.len() as u64);
        file.write_held().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            text,
            "nothing held"
        );
    }

    fn lines_of(input: &[u8], max: usize) -> Vec<String> {
        let mut reader = LineReader::with_limit(input, max);
        let mut out = Vec::new();
        while let Some(line) = reader.next_line().unwrap() {
            out.push(match line {
                Line::Text {
                    number,
                    bytes,
                    terminated,
                } => format!(
                    "{number}:{}{}",
                    String::from_utf8_lossy(bytes),
                    if terminated { "" } else { "|torn" }
                ),
                Line::TooLong { number, len } => format!("{number}:too-long({len})"),
            });
        }
        out
    }

    #[test]
    fn splits_lines_and_flags_the_unterminated_tail() {
        assert_eq!(
            lines_of(b"a\nbb\n\nccc", 100),
            ["1:a", "2:bb", "3:", "4:ccc|torn"]
        );
        assert_eq!(lines_of(b"", 100), Vec::<String>::new());
        assert_eq!(lines_of(b"\n", 100), ["1:"]);
    }

    #[test]
    fn over_long_lines_are_skipped_not_buffered() {
        let mut input = b"ok\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 200_000));
        input.extend(b"\nafter\n");
        assert_eq!(
            lines_of(&input, 1000),
            ["1:ok", "2:too-long(200000)", "3:after"]
        );
    }

    #[test]
    fn append_terminates_a_torn_tail_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        std::fs::write(&path, b"{\"a\":1}\n{\"torn\":").unwrap();
        let mut file = LineFile::open(&path).unwrap();
        file.append(&serde_json::json!({"b": 2})).unwrap();
        file.append(&serde_json::json!({"c": 3})).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "{\"a\":1}\n{\"torn\":\n{\"b\":2}\n{\"c\":3}\n");
        assert_eq!(file.len(), text.len() as u64);
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("steps.json");
        write_atomic(&path, b"one", true).unwrap();
        write_atomic(&path, b"two", true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // Without syncing: still a replacement, still no temporary left.
        write_atomic(&path, b"three", false).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"three");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn newline_search_finds_the_first_newline() {
        assert_eq!(memchr_newline(b""), None);
        assert_eq!(memchr_newline(b"abc"), None);
        assert_eq!(memchr_newline(b"\n"), Some(0));
        let mut long = vec![b'x'; 1000];
        long.extend(b"\nmore\n");
        assert_eq!(memchr_newline(&long), Some(1000));
    }
}
