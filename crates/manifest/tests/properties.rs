//! Property tests of the tolerant readers (docs/reliability.md, "Corruption"):
//! whatever bytes a crash, a disk or another tool leaves, no reader panics;
//! damage costs only the lines it touches, each reported by file and line;
//! the last intact record is the run's state; and a file cut short at any
//! byte loses at most its last, torn line.
//!
//! Case counts are proptest's default (256 a property) unless
//! `PROPTEST_CASES` says otherwise.

// Helpers outside `#[test]` functions (and the bodies `proptest!` wraps)
// unwrap too: a test fails loudly.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use manifest::{
    ArtifactRoot, ManifestLine, Query, ReadWarning, list_runs, read_jsonl, read_last_record,
    read_manifest, read_steps,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::json;
use telemetry_model::{
    PerformanceRecommendation, PipelineRunRecord, RunStatus, Severity, StepExecutionEntry,
    StepStatus, TelemetrySnapshot, Timestamp,
};

/// A record that says which it is (`summary.n`), padded to `pad` bytes so
/// lines straddle the tail reader's 4 KiB chunks.
fn record(n: usize, pad: usize) -> PipelineRunRecord {
    let mut r = PipelineRunRecord::new("prop-run");
    r.created_at = Timestamp::from_unix_ms(1_735_000_000_000);
    r.status = RunStatus::Running;
    r.summary.extra.insert("n".into(), json!(n));
    r.summary.extra.insert("pad".into(), json!("p".repeat(pad)));
    let mut step = StepExecutionEntry::new("collect", "Collect", 1);
    step.status = StepStatus::Running;
    step.started_at = Some(r.created_at);
    r.steps.push(step);
    r
}

fn n_of(record: &PipelineRunRecord) -> usize {
    record.summary.extra["n"].as_u64().unwrap() as usize
}

fn recommendation_line(n: usize) -> Vec<u8> {
    serde_json::to_vec(&ManifestLine::Recommendation {
        recommendation: PerformanceRecommendation {
            trigger: "cpu_saturation".into(),
            severity: Severity::Warning,
            message: format!("CPU saturated ({n})"),
            evidence: [("n".to_owned(), json!(n))].into(),
            suggested_actions: vec!["Use fewer workers".into()],
            timestamp_ms: 1_735_000_000_000,
        },
    })
    .unwrap()
}

/// What a line of a generated manifest is.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// Record number n.
    Record(usize),
    Wrapper,
    Garbage,
}

/// A manifest as lines (without their newlines) and what each line is.
#[derive(Clone, Debug)]
struct Manifest {
    lines: Vec<Vec<u8>>,
    kinds: Vec<Kind>,
}

impl Manifest {
    /// Records 1..=n with the given paddings, each followed by a
    /// recommendation line where `wrappers` says so.
    fn new(records: &[(usize, bool)]) -> Self {
        let mut m = Self {
            lines: Vec::new(),
            kinds: Vec::new(),
        };
        for (i, &(pad, wrapper)) in records.iter().enumerate() {
            m.lines
                .push(serde_json::to_vec(&record(i + 1, pad)).unwrap());
            m.kinds.push(Kind::Record(i + 1));
            if wrapper {
                m.lines.push(recommendation_line(i + 1));
                m.kinds.push(Kind::Wrapper);
            }
        }
        m
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for line in &self.lines {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        out
    }

    fn wrappers(&self) -> usize {
        self.kinds.iter().filter(|k| **k == Kind::Wrapper).count()
    }

    /// The last record and its 1-based line.
    fn last_record(&self) -> Option<(usize, u64)> {
        self.kinds
            .iter()
            .enumerate()
            .rev()
            .find_map(|(i, k)| match k {
                Kind::Record(n) => Some((*n, i as u64 + 1)),
                _ => None,
            })
    }
}

/// 1 to 12 records, some with long padding, some followed by a wrapper line.
fn manifests() -> impl Strategy<Value = Manifest> {
    prop::collection::vec(
        (
            prop_oneof![3 => 0usize..200, 1 => 3000usize..9000],
            any::<bool>(),
        ),
        1..12,
    )
    .prop_map(|records| Manifest::new(&records))
}

/// Arbitrary bytes that cannot form a JSON object (no `{`), so a garbage
/// line can never read as a record: any bytes otherwise, invalid UTF-8,
/// NUL, CR and newlines included.
fn garbage() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..300).prop_map(|mut bytes| {
        for b in &mut bytes {
            if *b == b'{' {
                *b = b'x';
            }
        }
        bytes
    })
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

fn write(dir: &Path, bytes: &[u8]) -> PathBuf {
    let path = dir.join("run-tracker").join("r").join("manifest.jsonl");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    path
}

fn warned_lines(warnings: &[ReadWarning], path: &Path) -> Vec<u64> {
    let mut lines: Vec<u64> = warnings
        .iter()
        .map(|w| {
            assert_eq!(w.path, path, "{w}");
            assert!(
                w.to_string()
                    .starts_with(&format!("{}:{}: ", path.display(), w.line)),
                "{w}"
            );
            w.line
        })
        .collect();
    lines.sort_unstable();
    lines
}

/// Every reader on `bytes`: none panics, none fails on an existing file,
/// every warning names the file and a line inside it, and the full and the
/// tail reader agree on the last record.
fn read_all(bytes: &[u8]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), bytes);
    let full = read_manifest(&path).unwrap();
    for line in warned_lines(&full.warnings, &path) {
        prop_assert!(line <= full.lines);
    }
    let tail = read_last_record::<PipelineRunRecord>(&path).unwrap();
    prop_assert_eq!(full.record.as_ref(), tail.as_ref().map(|t| &t.record));
    if let Some(tail) = &tail {
        // The tail reader reports damage the full reader reports too.
        let all = warned_lines(&full.warnings, &path);
        for line in warned_lines(&tail.warnings, &path) {
            prop_assert!(
                all.contains(&line),
                "line {} only in {:?}",
                line,
                tail.warnings
            );
        }
    }
    let mut count = 0;
    let warnings = read_jsonl::<TelemetrySnapshot>(&path, |_, _| count += 1).unwrap();
    for line in warned_lines(&warnings, &path) {
        prop_assert!((1..=full.lines).contains(&line));
    }
    let steps = dir.path().join("steps.json");
    std::fs::write(&steps, bytes).unwrap();
    if let Err(e) = read_steps(&steps) {
        prop_assert!(e.to_string().contains(&steps.display().to_string()));
    }
    let listing = list_runs(&ArtifactRoot::new(dir.path()), &Query::default()).unwrap();
    prop_assert_eq!(listing.runs.len(), usize::from(full.record.is_some()));
    Ok(())
}

proptest! {
    // A failing case is kept in `properties.proptest-regressions` beside
    // this file and replayed first from then on.
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    /// Any bytes at all.
    #[test]
    fn any_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        read_all(&bytes)?;
    }

    /// Good lines with arbitrary bytes spliced in at any byte.
    #[test]
    fn spliced_bytes_never_panic(
        m in manifests(),
        junk in prop::collection::vec(any::<u8>(), 0..64),
        at in any::<prop::sample::Index>(),
    ) {
        let mut bytes = m.bytes();
        let at = at.index(bytes.len() + 1);
        bytes.splice(at..at, junk);
        read_all(&bytes)?;
    }

    /// Garbage lines inserted between good lines: every record and wrapper
    /// line is kept, the last record is the state, and each garbage line
    /// that is not blank gets exactly one warning naming its line.
    #[test]
    fn garbage_between_lines_costs_only_itself(
        m in manifests(),
        junk in garbage(),
        at in any::<prop::sample::Index>(),
        torn_end in any::<bool>(),
    ) {
        let mut m = m;
        let at = at.index(m.lines.len() + 1);
        let junk_lines: Vec<Vec<u8>> = junk.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
        let end = at + junk_lines.len();
        for (i, line) in junk_lines.into_iter().enumerate() {
            m.lines.insert(at + i, line);
            m.kinds.insert(at + i, Kind::Garbage);
        }
        let mut bytes = m.bytes();
        if torn_end && end == m.lines.len() {
            bytes.pop(); // garbage at the end, unterminated: a torn last line
        }
        let expected_warnings: Vec<u64> = m
            .lines
            .iter()
            .zip(&m.kinds)
            .enumerate()
            .filter(|(_, (line, kind))| **kind == Kind::Garbage && !is_blank(line))
            .map(|(i, _)| i as u64 + 1)
            .collect();
        let (last, last_line) = m.last_record().unwrap();

        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), &bytes);
        let full = read_manifest(&path).unwrap();
        prop_assert_eq!(n_of(full.record.as_ref().unwrap()), last);
        prop_assert_eq!(full.record_line, last_line);
        prop_assert_eq!(full.recommendations.len(), m.wrappers());
        prop_assert_eq!(warned_lines(&full.warnings, &path), expected_warnings.clone());

        // The tail reader meets only the damage after the last record.
        let tail = read_last_record::<PipelineRunRecord>(&path).unwrap().unwrap();
        prop_assert_eq!(&tail.record, full.record.as_ref().unwrap());
        let after: Vec<u64> = expected_warnings.into_iter().filter(|l| *l > last_line).collect();
        prop_assert_eq!(warned_lines(&tail.warnings, &path), after);

        let listing = list_runs(&ArtifactRoot::new(dir.path()), &Query::default()).unwrap();
        prop_assert_eq!(listing.runs.len(), 1);
        prop_assert_eq!(n_of(&listing.runs[0].record), last);
    }

    /// Garbage written into the middle of a line: that line is lost (or
    /// its record recovered, when the garbage lands before it), every other
    /// line is kept, and the warnings point into the damaged region.
    #[test]
    fn garbage_inside_a_line_costs_only_that_line(
        m in manifests(),
        junk in garbage(),
        line in any::<prop::sample::Index>(),
        offset in any::<prop::sample::Index>(),
    ) {
        let hit = line.index(m.lines.len());
        let mut damaged = m.lines[hit].clone();
        let offset = offset.index(damaged.len() + 1);
        damaged.splice(offset..offset, junk.iter().copied());
        let newlines = junk.iter().filter(|b| **b == b'\n').count() as u64;
        let mut bytes = Vec::new();
        for (i, l) in m.lines.iter().enumerate() {
            bytes.extend_from_slice(if i == hit { &damaged } else { l });
            bytes.push(b'\n');
        }
        let first_damaged = hit as u64 + 1;
        let damaged_lines = first_damaged..=first_damaged + newlines;
        // Lines after the damage move down by the newlines it brought.
        let line_of = |i: usize| i as u64 + 1 + if i > hit { newlines } else { 0 };
        let intact_last = m
            .kinds
            .iter()
            .enumerate()
            .rev()
            .find_map(|(i, k)| match k {
                Kind::Record(n) if i != hit => Some((*n, line_of(i))),
                _ => None,
            });

        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), &bytes);
        let full = read_manifest(&path).unwrap();
        let got = full.record.as_ref().map(|r| (n_of(r), full.record_line));
        match m.kinds[hit] {
            // The hit record may be recovered only if it is the newest.
            Kind::Record(n) if intact_last.is_none_or(|(last, _)| n > last) => {
                prop_assert!(
                    got == intact_last || got.is_some_and(|(g, l)| g == n && damaged_lines.contains(&l)),
                    "got {got:?}, intact {intact_last:?}"
                );
            }
            _ => prop_assert_eq!(got, intact_last),
        }
        // A hit wrapper line may be recovered too; nothing else changes.
        let wrappers = full.recommendations.len();
        if m.kinds[hit] == Kind::Wrapper {
            prop_assert!(wrappers == m.wrappers() || wrappers + 1 == m.wrappers());
        } else {
            prop_assert_eq!(wrappers, m.wrappers());
        }
        let warned = warned_lines(&full.warnings, &path);
        prop_assert!(warned.iter().all(|l| damaged_lines.contains(l)), "{warned:?} outside {damaged_lines:?}");
        let tail = read_last_record::<PipelineRunRecord>(&path).unwrap();
        prop_assert_eq!(full.record.as_ref(), tail.as_ref().map(|t| &t.record));
        if let Some(tail) = tail {
            let warned = warned_lines(&tail.warnings, &path);
            prop_assert!(warned.iter().all(|l| damaged_lines.contains(l)), "{warned:?}");
        }
    }

    /// A file cut at any byte (a crash mid-append) loses at most its last,
    /// torn line; both readers then agree on the last complete record.
    #[test]
    fn truncation_loses_at_most_the_torn_line(
        m in manifests(),
        cut in any::<prop::sample::Index>(),
        crlf in any::<bool>(),
    ) {
        let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        let mut bytes = Vec::new();
        let mut ends = Vec::new(); // where each line's JSON ends
        for line in &m.lines {
            bytes.extend_from_slice(line);
            ends.push(bytes.len());
            bytes.extend_from_slice(eol);
        }
        let cut = cut.index(bytes.len() + 1);
        bytes.truncate(cut);
        // A line is whole if all its JSON survived (its newline need not).
        let whole = ends.iter().filter(|end| **end <= cut).count();
        let expected = m.kinds[..whole].iter().enumerate().rev().find_map(|(i, k)| match k {
            Kind::Record(n) => Some((*n, i as u64 + 1)),
            _ => None,
        });
        let torn = whole < m.lines.len() && ends[..whole].last().map_or(0, |e| e + eol.len()) < cut;

        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), &bytes);
        let full = read_manifest(&path).unwrap();
        prop_assert_eq!(full.record.as_ref().map(|r| (n_of(r), full.record_line)), expected);
        let wrappers = m.kinds[..whole].iter().filter(|k| **k == Kind::Wrapper).count();
        prop_assert_eq!(full.recommendations.len(), wrappers);
        let warned = warned_lines(&full.warnings, &path);
        if torn {
            prop_assert_eq!(warned, vec![whole as u64 + 1]);
            prop_assert!(full.warnings[0].message.contains("torn last line"), "{}", full.warnings[0]);
        } else {
            prop_assert!(warned.is_empty(), "{:?}", full.warnings);
        }
        let tail = read_last_record::<PipelineRunRecord>(&path).unwrap();
        prop_assert_eq!(full.record.as_ref(), tail.as_ref().map(|t| &t.record));
        if let Some(tail) = tail {
            prop_assert_eq!(warned_lines(&tail.warnings, &path), warned_lines(&full.warnings, &path));
        }
    }

    /// Telemetry: every intact sample is visited, in order, with its line
    /// number; garbage lines are warnings.
    #[test]
    fn telemetry_keeps_every_intact_sample(
        count in 1usize..40,
        junk in garbage(),
        at in any::<prop::sample::Index>(),
    ) {
        let mut lines: Vec<(Option<i64>, Vec<u8>)> = (0..count as i64)
            .map(|i| {
                let sample = TelemetrySnapshot {
                    timestamp_ms: 1_735_000_000_000 + i,
                    cpu_percent_system: Some(12.5),
                    ..TelemetrySnapshot::default()
                };
                (Some(sample.timestamp_ms), serde_json::to_vec(&sample).unwrap())
            })
            .collect();
        let at = at.index(lines.len() + 1);
        for (i, line) in junk.split(|b| *b == b'\n').enumerate() {
            lines.insert(at + i, (None, line.to_vec()));
        }
        let mut bytes = Vec::new();
        for (_, line) in &lines {
            bytes.extend_from_slice(line);
            bytes.push(b'\n');
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("telemetry.jsonl");
        std::fs::write(&path, &bytes).unwrap();
        let mut seen = Vec::new();
        let warnings = read_jsonl::<TelemetrySnapshot>(&path, |line, s| seen.push((line, s.timestamp_ms))).unwrap();
        let expected: Vec<(u64, i64)> = lines
            .iter()
            .enumerate()
            .filter_map(|(i, (ts, _))| ts.map(|ts| (i as u64 + 1, ts)))
            .collect();
        prop_assert_eq!(seen, expected);
        let expected_warnings: Vec<u64> = lines
            .iter()
            .enumerate()
            .filter(|(_, (ts, line))| ts.is_none() && !is_blank(line))
            .map(|(i, _)| i as u64 + 1)
            .collect();
        prop_assert_eq!(warned_lines(&warnings, &path), expected_warnings);
    }

    /// `steps.json` cut short (a writer that does not replace it
    /// atomically, a full disk) is an error naming the file, never a
    /// partial list; whole, it reads back exactly.
    #[test]
    fn truncated_steps_json_is_an_error_naming_the_file(
        count in 0usize..20,
        cut in any::<prop::sample::Index>(),
    ) {
        let steps: Vec<StepExecutionEntry> = (0..count)
            .map(|i| StepExecutionEntry::new(format!("s{i}"), format!("Step {i}"), i as u32 + 1))
            .collect();
        let mut bytes = serde_json::to_vec_pretty(&steps).unwrap();
        let json_len = bytes.len();
        bytes.push(b'\n');
        let cut = cut.index(bytes.len() + 1);
        bytes.truncate(cut);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("steps.json");
        std::fs::write(&path, &bytes).unwrap();
        match read_steps(&path) {
            Ok(read) => {
                prop_assert!(cut >= json_len, "a cut file read as {} steps", read.len());
                prop_assert_eq!(read, steps);
            }
            Err(e) => {
                prop_assert!(cut < json_len);
                let text = e.to_string();
                prop_assert!(text.contains(&path.display().to_string()), "{}", text);
                prop_assert!(text.contains("line"), "{}", text);
            }
        }
    }
}
