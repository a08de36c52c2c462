//! Crash safety of the manifest (docs/artifact-layout.md, "Crash safety"): whatever damage a crash, a disk
//! or another tool leaves (torn lines, garbage, invalid UTF-8, over-long
//! lines, empty files), both readers keep every good line, agree on the
//! run's last record, and name each skipped line by file and exact 1-based
//! line number. Also the writer's side: appending after a torn line,
//! compaction, atomic `steps.json`, and the refusals of `create`/`resume`.

// Helpers outside `#[test]` functions unwrap too: a test fails loudly.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use manifest::{
    ArtifactRoot, Error, MAX_LINE_BYTES, ManifestLine, Query, ReadWarning, RunOptions, RunWriter,
    list_runs, read_last_record, read_manifest, read_steps,
};
use serde_json::json;
use telemetry_model::{
    PerfStatus, PerformanceRecommendation, PerformanceTestResult, PipelineRunRecord, RunStatus,
    Severity, StepExecutionEntry, StepStatus, Timestamp,
};

/// The size of the tail chunk `read_last_record` starts with (the
/// crate's `reader::TAIL_CHUNK`).
const TAIL_CHUNK: usize = 4 * 1024;

fn record(run: &str, n: u64, pad: usize) -> PipelineRunRecord {
    let mut r = PipelineRunRecord::new(run);
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

fn line_of(value: &impl serde::Serialize) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(value).unwrap();
    bytes.push(b'\n');
    bytes
}

fn recommendation(n: i64) -> PerformanceRecommendation {
    PerformanceRecommendation {
        trigger: "cpu_saturation".into(),
        severity: Severity::Warning,
        message: format!("CPU saturated ({n})"),
        evidence: [("n".to_owned(), json!(n))].into(),
        suggested_actions: vec!["Use fewer workers".into()],
        timestamp_ms: 1_735_000_000_000 + n,
    }
}

fn perf_test(n: usize) -> PerformanceTestResult {
    PerformanceTestResult {
        test_id: format!("perf-{n}"),
        matrix: None,
        throughput_baseline: Some(100.0),
        throughput_measured: Some(90.0 + n as f64),
        duration_seconds: Some(1.5),
        status: PerfStatus::SoftBreach,
        recommendations_ref: vec![n],
    }
}

fn wrapper_line(n: usize) -> Vec<u8> {
    if n.is_multiple_of(2) {
        line_of(&ManifestLine::Recommendation {
            recommendation: recommendation(n as i64),
        })
    } else {
        line_of(&ManifestLine::PerfTest {
            perf_test: perf_test(n),
        })
    }
}

fn n_of(record: &PipelineRunRecord) -> u64 {
    record.summary.extra["n"].as_u64().unwrap()
}

fn lines(warnings: &[ReadWarning]) -> Vec<u64> {
    warnings.iter().map(|w| w.line).collect()
}

fn sorted_lines(warnings: &[ReadWarning]) -> Vec<u64> {
    let mut out = lines(warnings);
    out.sort_unstable();
    out
}

fn tail(path: &Path) -> Option<manifest::TailRecord<PipelineRunRecord>> {
    read_last_record::<PipelineRunRecord>(path).unwrap()
}

/// Writes `parts` as one file and returns its path.
fn write_file(dir: &Path, name: &str, parts: &[&[u8]]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, parts.concat()).unwrap();
    path
}

fn assert_warns_about(warnings: &[ReadWarning], path: &Path) {
    for w in warnings {
        assert_eq!(w.path, path, "{w}");
        assert!(
            w.to_string()
                .starts_with(&format!("{}:{}: ", path.display(), w.line)),
            "{w}"
        );
    }
}

#[test]
fn torn_last_line_is_skipped_with_its_line_number() {
    let dir = tempfile::tempdir().unwrap();
    let r1 = line_of(&record("r", 1, 10));
    let r2 = line_of(&record("r", 2, 10));
    let torn = &r2[..r2.len() / 2];
    let path = write_file(dir.path(), "m.jsonl", &[&r1, &r2, torn]);

    let full = read_manifest(&path).unwrap();
    assert_eq!(n_of(full.record.as_ref().unwrap()), 2);
    assert_eq!((full.record_line, full.lines), (2, 3));
    assert_eq!(lines(&full.warnings), [3]);
    assert!(
        full.warnings[0].message.contains("torn last line"),
        "{}",
        full.warnings[0]
    );
    assert_warns_about(&full.warnings, &path);

    let last = tail(&path).unwrap();
    assert_eq!(last.record, full.record.unwrap());
    assert_eq!(lines(&last.warnings), [3]);
    assert!(last.warnings[0].message.contains("torn last line"));
    assert_warns_about(&last.warnings, &path);
}

#[test]
fn garbage_lines_mid_file_are_skipped_with_their_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let r = |n| line_of(&record("g", n, 20));
    let path = write_file(
        dir.path(),
        "m.jsonl",
        &[
            &r(1),
            b"garbage\n",
            &r(2),
            b"{\"run_id\": \"g\", broken\n",
            b"\n",
            &wrapper_line(0),
            b"[1, 2, 3]\n",
            &r(3),
            b"{}\n",
            &wrapper_line(1),
            b"null\n",
        ],
    );
    let full = read_manifest(&path).unwrap();
    assert_eq!(n_of(full.record.as_ref().unwrap()), 3);
    assert_eq!((full.record_line, full.lines), (8, 11));
    assert_eq!(lines(&full.warnings), [2, 4, 7, 9, 11]);
    assert!(
        full.warnings
            .iter()
            .all(|w| w.message.contains("not a manifest record"))
    );
    assert_eq!(full.recommendations.len(), 1);
    assert_eq!(full.perf_tests.len(), 1);
    assert_warns_about(&full.warnings, &path);

    // The tail reader meets only the damage after the last record.
    let last = tail(&path).unwrap();
    assert_eq!(last.record, full.record.unwrap());
    assert_eq!(sorted_lines(&last.warnings), [9, 11]);
    assert_warns_about(&last.warnings, &path);
}

#[test]
fn invalid_utf8_lines_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let good = line_of(&record("u", 1, 5));
    let mut bad_string = line_of(&record("u", 2, 5));
    let at = bad_string.windows(3).position(|w| w == b"ppp").unwrap();
    bad_string[at..at + 3].copy_from_slice(&[0xff, 0xfe, 0xc3]);
    let binary: &[u8] = &[0x00, 0x9f, 0x92, 0x96, 0xff, b'\n'];
    let path = write_file(
        dir.path(),
        "m.jsonl",
        &[&good, &bad_string, binary, &bad_string],
    );

    let full = read_manifest(&path).unwrap();
    assert_eq!(n_of(full.record.as_ref().unwrap()), 1);
    assert_eq!(full.record_line, 1);
    assert_eq!(lines(&full.warnings), [2, 3, 4]);
    let last = tail(&path).unwrap();
    assert_eq!(n_of(&last.record), 1);
    assert_eq!(sorted_lines(&last.warnings), [2, 3, 4]);
    assert_warns_about(&last.warnings, &path);
}

#[test]
fn over_long_lines_are_skipped_before_and_after_good_records() {
    let dir = tempfile::tempdir().unwrap();
    let long = {
        let mut l = vec![b'x'; 5 * 1024 * 1024];
        l.push(b'\n');
        l
    };
    assert!(long.len() > MAX_LINE_BYTES);
    let r1 = line_of(&record("l", 1, 10));
    let r2 = line_of(&record("l", 2, 10));

    // long, r1, long, r2, long
    let path = write_file(dir.path(), "a.jsonl", &[&long, &r1, &long, &r2, &long]);
    let full = read_manifest(&path).unwrap();
    assert_eq!(n_of(full.record.as_ref().unwrap()), 2);
    assert_eq!((full.record_line, full.lines), (4, 5));
    assert_eq!(lines(&full.warnings), [1, 3, 5]);
    assert!(
        full.warnings
            .iter()
            .all(|w| w.message.contains("over-long")),
        "{:?}",
        full.warnings
    );
    let last = tail(&path).unwrap();
    assert_eq!(n_of(&last.record), 2);
    assert_eq!(lines(&last.warnings), [5]);
    assert!(
        last.warnings[0].message.contains("over-long"),
        "{}",
        last.warnings[0]
    );

    // r1, long (unterminated: a giant torn tail, bigger than any chunk).
    let mut giant = vec![b'y'; 17 * 1024 * 1024];
    giant[1000] = b'{';
    let path = write_file(dir.path(), "b.jsonl", &[&r1, &giant]);
    let full = read_manifest(&path).unwrap();
    assert_eq!(n_of(full.record.as_ref().unwrap()), 1);
    assert_eq!(lines(&full.warnings), [2]);
    let last = tail(&path).unwrap();
    assert_eq!(n_of(&last.record), 1);
    assert_eq!(lines(&last.warnings), [2]);

    // Only over-long lines: no record, no panic.
    let path = write_file(dir.path(), "c.jsonl", &[&long, &long]);
    assert!(read_manifest(&path).unwrap().record.is_none());
    assert!(tail(&path).is_none());
}

#[test]
fn a_valid_record_over_the_line_limit_is_skipped_by_both_readers() {
    // The limit is part of the format: a record line longer than it is
    // damage, whichever reader meets it, so `tracker list` and `tracker
    // show` never disagree about a run's state.
    let dir = tempfile::tempdir().unwrap();
    let small = line_of(&record("big", 1, 10));
    let huge = line_of(&record("big", 2, MAX_LINE_BYTES + 10));
    let path = write_file(dir.path(), "m.jsonl", &[&small, &huge]);

    let full = read_manifest(&path).unwrap();
    assert_eq!(n_of(full.record.as_ref().unwrap()), 1);
    assert_eq!(lines(&full.warnings), [2]);
    let last = tail(&path).unwrap();
    assert_eq!(n_of(&last.record), 1, "tail reader took an over-long line");
    assert_eq!(lines(&last.warnings), [2]);
}

#[test]
fn empty_and_record_less_files() {
    let dir = tempfile::tempdir().unwrap();
    let empty = write_file(dir.path(), "empty.jsonl", &[]);
    let full = read_manifest(&empty).unwrap();
    assert!(full.record.is_none() && full.warnings.is_empty());
    assert_eq!((full.lines, full.record_line), (0, 0));
    assert!(tail(&empty).is_none());

    let blank = write_file(dir.path(), "blank.jsonl", &[b"\n\n  \n\n"]);
    let full = read_manifest(&blank).unwrap();
    assert!(full.record.is_none() && full.warnings.is_empty());
    assert_eq!(full.lines, 4);
    assert!(tail(&blank).is_none());

    let wrappers_only = write_file(
        dir.path(),
        "wrappers.jsonl",
        &[&wrapper_line(0), &wrapper_line(1), b"junk\n"],
    );
    let full = read_manifest(&wrappers_only).unwrap();
    assert!(full.record.is_none());
    assert_eq!((full.recommendations.len(), full.perf_tests.len()), (1, 1));
    assert_eq!(lines(&full.warnings), [3]);
    assert!(tail(&wrappers_only).is_none());

    // A run whose manifest holds no record is reported, not listed.
    let root = ArtifactRoot::new(dir.path().join("root"));
    let run_dir = root.runs_dir().join("empty-run");
    std::fs::create_dir_all(&run_dir).unwrap();
    std::fs::write(run_dir.join("manifest.jsonl"), b"").unwrap();
    let listing = list_runs(&root, &Query::default()).unwrap();
    assert!(listing.runs.is_empty());
    assert_eq!(listing.warnings.len(), 1);
    assert_eq!(listing.warnings[0].path, run_dir.join("manifest.jsonl"));
}

fn quiet_options() -> RunOptions {
    RunOptions {
        sync: false,
        ..RunOptions::default()
    }
}

#[test]
fn a_record_appended_after_a_torn_line_is_found_by_both_readers() {
    let dir = tempfile::tempdir().unwrap();
    let root = ArtifactRoot::new(dir.path());
    let options = RunOptions {
        name: Some("torn".into()),
        ..quiet_options()
    };
    let (writer, first) = RunWriter::create_with(&root, &options, |record| {
        record.status = RunStatus::Running;
    })
    .unwrap();
    let path = writer.dir().join("manifest.jsonl");
    drop(writer);

    // A crash in the middle of the second line.
    let mut torn = serde_json::to_vec(&first).unwrap();
    torn.truncate(torn.len() / 3);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&torn)
        .unwrap();

    let (mut writer, contents) = RunWriter::resume(&root, "torn", &options).unwrap();
    assert_eq!(contents.record.as_ref(), Some(&first));
    assert_eq!(lines(&contents.warnings), [2]);
    let mut done = first.clone();
    done.status = RunStatus::Completed;
    done.completed_at = Some(Timestamp::now());
    writer.commit(&done).unwrap();
    drop(writer);

    let text = std::fs::read(&path).unwrap();
    assert_eq!(
        text.iter().filter(|&&b| b == b'\n').count(),
        3,
        "torn line terminated first"
    );
    let full = read_manifest(&path).unwrap();
    assert_eq!(full.record.as_ref(), Some(&done));
    assert_eq!((full.record_line, full.lines), (3, 3));
    assert_eq!(lines(&full.warnings), [2]);
    let last = tail(&path).unwrap();
    assert_eq!(last.record, done);
    assert!(last.warnings.is_empty(), "{:?}", last.warnings);
    let listed = list_runs(&root, &Query::default()).unwrap();
    assert_eq!(listed.runs[0].state, manifest::RunState::Completed);
}

#[test]
fn a_record_glued_to_a_torn_line_is_salvaged_by_both_readers() {
    // An appender that does not terminate a torn line first (the Python
    // tracker) glues the next record to it.
    let dir = tempfile::tempdir().unwrap();
    let r1 = line_of(&record("s", 1, 10));
    let r2 = line_of(&record("s", 2, 10));
    let torn_record = &r1[..r1.len() - 20];
    let torn_wrapper = &wrapper_line(0)[..40];
    let cases: [(&str, &[u8]); 2] = [("record", torn_record), ("wrapper", torn_wrapper)];
    for (what, torn) in cases {
        let path = write_file(
            dir.path(),
            &format!("{what}.jsonl"),
            &[&r1, torn, &r2, &wrapper_line(1)],
        );
        let full = read_manifest(&path).unwrap();
        assert_eq!(n_of(full.record.as_ref().unwrap()), 2, "{what}");
        assert_eq!(full.record_line, 2, "{what}");
        assert_eq!(lines(&full.warnings), [2], "{what}");
        assert!(
            full.warnings[0]
                .message
                .contains(&format!("dropped {} bytes", torn.len()))
        );
        let last = tail(&path).unwrap();
        assert_eq!(n_of(&last.record), 2, "{what}: tail reader disagrees");
        assert_eq!(lines(&last.warnings), [2], "{what}");
        assert_eq!(last.warnings[0].message, full.warnings[0].message, "{what}");
    }
}

#[test]
fn tail_reader_line_numbers_are_exact_across_chunks() {
    // Thousands of damaged lines after the last record, spread over many
    // tail chunks: every one is reported with its exact line number.
    let dir = tempfile::tempdir().unwrap();
    let mut parts: Vec<Vec<u8>> = (0..50).map(|n| line_of(&record("c", n, 300))).collect();
    let mut expected = Vec::new();
    for i in 0..3000_u64 {
        match i % 4 {
            0 => {
                parts.push(format!("garbage {i} {}\n", "z".repeat((i % 97) as usize)).into_bytes())
            }
            1 => parts.push(wrapper_line(i as usize)),
            2 => parts.push(b"\n".to_vec()),
            _ => parts.push(b"{\"schema_version\":1,\"run_id\":\"c\",\"cre\n".to_vec()),
        }
        if i % 4 == 0 || i % 4 == 3 {
            expected.push(51 + i);
        }
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let path = write_file(dir.path(), "m.jsonl", &refs);
    assert!(std::fs::metadata(&path).unwrap().len() > 8 * TAIL_CHUNK as u64);

    let full = read_manifest(&path).unwrap();
    assert_eq!(n_of(full.record.as_ref().unwrap()), 49);
    assert_eq!(full.record_line, 50);
    assert_eq!(lines(&full.warnings), expected);
    let last = tail(&path).unwrap();
    assert_eq!(n_of(&last.record), 49);
    assert_eq!(sorted_lines(&last.warnings), expected);
    assert_warns_about(&last.warnings, &path);
}

#[test]
fn last_record_straddling_the_tail_chunk_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let before = line_of(&record("b", 1, 50));
    let base_len = line_of(&record("b", 2, 0)).len();
    let mut cases = 0;
    // Record lengths and trailing bytes around the first chunk's size, so
    // the last record starts just before, at, and just after the boundary.
    for record_len in [
        TAIL_CHUNK - 1,
        TAIL_CHUNK,
        TAIL_CHUNK + 1,
        TAIL_CHUNK + 500,
        3 * TAIL_CHUNK + 7,
    ] {
        for trailing_wrappers in [0, 1, 2, 55, 60, 200] {
            let last = line_of(&record("b", 2, record_len - base_len));
            assert_eq!(last.len(), record_len);
            let mut parts = vec![before.clone(), b"junk\n".to_vec(), last];
            parts.extend((0..trailing_wrappers).map(wrapper_line));
            let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            let path = write_file(dir.path(), &format!("s{cases}.jsonl"), &refs);
            let full = read_manifest(&path).unwrap();
            let tail = tail(&path).unwrap();
            assert_eq!(
                n_of(&tail.record),
                2,
                "record {record_len} B, {trailing_wrappers} wrappers"
            );
            assert_eq!(Some(&tail.record), full.record.as_ref());
            assert!(tail.warnings.is_empty());
            assert_eq!(lines(&full.warnings), [2]);
            cases += 1;
        }
    }
    // Offsets around the boundary, one byte at a time.
    for shift in 0..64 {
        let last = line_of(&record("b", 2, TAIL_CHUNK - base_len - 32 + shift));
        let trailer = line_of(&ManifestLine::Recommendation {
            recommendation: recommendation(shift as i64),
        });
        let path = write_file(dir.path(), "shift.jsonl", &[&before, &last, &trailer]);
        assert_eq!(n_of(&tail(&path).unwrap().record), 2, "shift {shift}");
    }
}

#[test]
fn many_wrapper_lines_after_the_last_record() {
    let dir = tempfile::tempdir().unwrap();
    for count in [100, 1000, 5000] {
        let mut parts = vec![line_of(&record("w", 1, 10)), line_of(&record("w", 2, 10))];
        parts.extend((0..count).map(wrapper_line));
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let path = write_file(dir.path(), &format!("w{count}.jsonl"), &refs);
        let wrapper_bytes: usize = parts[2..].iter().map(Vec::len).sum();
        assert!(wrapper_bytes > TAIL_CHUNK, "{wrapper_bytes}");

        let full = read_manifest(&path).unwrap();
        assert_eq!(full.record_line, 2);
        assert_eq!(full.recommendations.len() + full.perf_tests.len(), count);
        assert!(full.warnings.is_empty());
        let last = tail(&path).unwrap();
        assert_eq!(n_of(&last.record), 2, "{count} wrappers");
        assert!(last.warnings.is_empty());
    }
}

/// xorshift64*: deterministic, dependency-free randomness for generated files.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What a generated line is, and what each reader must make of it.
#[derive(Default)]
struct Expect {
    /// `Some(n)` when the line holds record number `n` (clean or salvaged).
    record: Option<u64>,
    salvaged: bool,
    /// `read_manifest` warns about the line.
    warn_full: bool,
    /// `read_last_record` warns about it (when met after the last record).
    warn_tail: bool,
}

fn generate(rng: &mut Rng, file: u64) -> (Vec<u8>, Vec<Expect>) {
    let mut bytes = Vec::new();
    let mut expect = Vec::new();
    let count = 1 + rng.below(40);
    let mut n = 0;
    let mut next_record = |rng: &mut Rng| {
        n += 1;
        let pad = match rng.below(10) {
            0 => (TAIL_CHUNK as u64 - 600 + rng.below(1200)) as usize,
            1 => rng.below(2 * TAIL_CHUNK as u64) as usize,
            _ => rng.below(400) as usize,
        };
        (n, line_of(&record(&format!("gen-{file}"), n, pad)))
    };
    for i in 0..count {
        let last = i + 1 == count;
        let kind = rng.below(if last { 11 } else { 10 });
        let mut e = Expect::default();
        match kind {
            0..=3 => {
                let (n, line) = next_record(rng);
                bytes.extend(line);
                e.record = Some(n);
            }
            4 => bytes.extend(wrapper_line(rng.below(1000) as usize)),
            5 => {
                // A run of wrappers worth more than a tail chunk.
                let many = rng.below(150);
                for _ in 0..many {
                    bytes.extend(wrapper_line(rng.below(1000) as usize));
                    expect.push(Expect::default());
                }
                bytes.extend(b"\n");
            }
            6 => {
                bytes.extend(format!("garbage {}\n", rng.next()).into_bytes());
                (e.warn_full, e.warn_tail) = (true, true);
            }
            7 => {
                let (_, line) = next_record(rng);
                let cut = 1 + rng.below(line.len() as u64 - 2) as usize;
                bytes.extend(&line[..cut]);
                bytes.push(b'\n');
                (e.warn_full, e.warn_tail) = (true, true);
            }
            8 => {
                // A torn record with the next record glued to it.
                let (_, torn) = next_record(rng);
                let cut = 1 + rng.below(torn.len() as u64 - 2) as usize;
                let (n, line) = next_record(rng);
                bytes.extend(&torn[..cut]);
                bytes.extend(line);
                e.record = Some(n);
                e.salvaged = true;
                (e.warn_full, e.warn_tail) = (true, true);
            }
            9 => {
                // A damaged wrapper: the full reader warns, the tail reader
                // skips wrappers unread, unless a record is glued to it.
                let w = wrapper_line(rng.below(1000) as usize);
                // Cut past the key, which is what marks a wrapper line.
                bytes.extend(&w[..20 + rng.below(w.len() as u64 - 21) as usize]);
                if rng.below(2) == 0 {
                    bytes.push(b'\n');
                    e.warn_full = true;
                } else {
                    let (n, line) = next_record(rng);
                    bytes.extend(line);
                    e.record = Some(n);
                    e.salvaged = true;
                    (e.warn_full, e.warn_tail) = (true, true);
                }
            }
            _ => {
                // The last line torn (unterminated) or complete but
                // unterminated.
                let (n, line) = next_record(rng);
                if rng.below(2) == 0 {
                    let cut = 1 + rng.below(line.len() as u64 - 2) as usize;
                    bytes.extend(&line[..cut]);
                    (e.warn_full, e.warn_tail) = (true, true);
                } else {
                    bytes.extend(&line[..line.len() - 1]);
                    e.record = Some(n);
                }
            }
        }
        expect.push(e);
    }
    (bytes, expect)
}

#[test]
fn both_readers_agree_on_generated_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut with_record = 0;
    for file in 0..200 {
        let (bytes, expect) = generate(&mut rng, file);
        let path = dir.path().join(format!("gen-{file}.jsonl"));
        std::fs::write(&path, &bytes).unwrap();

        let last = expect
            .iter()
            .enumerate()
            .rev()
            .find(|(_, e)| e.record.is_some());
        let want_full: Vec<u64> = (1..)
            .zip(&expect)
            .filter(|(_, e)| e.warn_full)
            .map(|(l, _)| l)
            .collect();

        let full = read_manifest(&path).unwrap();
        assert_eq!(lines(&full.warnings), want_full, "file {file}");
        assert_eq!(full.lines, expect.len() as u64, "file {file}");
        let tail = tail(&path);
        match last {
            None => {
                assert!(full.record.is_none(), "file {file}");
                assert!(tail.is_none(), "file {file}");
            }
            Some((index, e)) => {
                with_record += 1;
                let line = index as u64 + 1;
                assert_eq!(full.record_line, line, "file {file}");
                let record = full.record.unwrap();
                assert_eq!(Some(n_of(&record)), e.record, "file {file}");
                let tail = tail.unwrap_or_else(|| panic!("file {file}: tail found no record"));
                assert_eq!(tail.record, record, "file {file}");
                let want_tail: Vec<u64> = (1..)
                    .zip(&expect)
                    .filter(|(l, x)| (*l > line && x.warn_tail) || (*l == line && x.salvaged))
                    .map(|(l, _)| l)
                    .collect();
                assert_eq!(sorted_lines(&tail.warnings), want_tail, "file {file}");
                assert_warns_about(&tail.warnings, &path);
            }
        }
    }
    assert!(
        with_record > 130,
        "the generator should mostly produce records"
    );
}

#[test]
fn compaction_keeps_the_file_small_and_every_wrapper_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = ArtifactRoot::new(dir.path());
    let compact_bytes = 16 * 1024;
    let options = RunOptions {
        compact_bytes,
        ..quiet_options()
    };
    let mut writer = RunWriter::create(&root, &options).unwrap();
    let path = writer.dir().join("manifest.jsonl");
    let mut record = writer.new_record();
    record.status = RunStatus::Running;
    record.steps = (1..=5)
        .map(|i| StepExecutionEntry::new(format!("s{i}"), format!("Step {i}"), i))
        .collect();
    let (mut recs, mut perfs) = (Vec::new(), Vec::new());
    let mut written = 0;
    let mut largest = 0;
    for i in 0..400_u64 {
        record.summary.extra.insert("progress".into(), json!(i));
        writer.commit(&record).unwrap();
        written += line_of(&record).len();
        if i % 20 == 5 {
            let rec = recommendation(i as i64);
            writer.append_recommendation(&rec).unwrap();
            recs.push(rec);
        }
        if i % 50 == 7 {
            let perf = perf_test(perfs.len());
            writer.append_perf_test(&perf).unwrap();
            perfs.push(perf);
        }
        largest = largest.max(std::fs::metadata(&path).unwrap().len());
    }
    record.status = RunStatus::Completed;
    record.completed_at = Some(Timestamp::now());
    writer.commit(&record).unwrap();
    let wrapper_bytes: usize = recs
        .iter()
        .map(|r| {
            line_of(&ManifestLine::Recommendation {
                recommendation: r.clone(),
            })
            .len()
        })
        .chain(perfs.iter().map(|p| {
            line_of(&ManifestLine::PerfTest {
                perf_test: p.clone(),
            })
            .len()
        }))
        .sum();
    let bound = compact_bytes + wrapper_bytes as u64 + 2 * line_of(&record).len() as u64;
    assert!(
        largest <= bound,
        "manifest grew to {largest} B (bound {bound} B)"
    );
    assert!(
        written as u64 > 10 * bound,
        "the test must write far more than the bound"
    );

    let full = read_manifest(&path).unwrap();
    assert!(full.warnings.is_empty(), "{:?}", full.warnings);
    assert_eq!(full.record.as_ref(), Some(&record));
    assert_eq!(full.recommendations, recs);
    assert_eq!(full.perf_tests, perfs);
    assert_eq!(tail(&path).unwrap().record, record);
    let names = dir_names(writer.dir());
    assert_eq!(
        names,
        ["manifest.jsonl", "run.lock", "steps.json"],
        "temporary files left"
    );

    // Appends after a compaction go to the new file, not the replaced one.
    record.summary.extra.insert("after".into(), json!(true));
    writer.commit(&record).unwrap();
    assert_eq!(read_manifest(&path).unwrap().record.as_ref(), Some(&record));
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn steps_json_is_a_pretty_list_replaced_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let root = ArtifactRoot::new(dir.path());
    let mut writer = RunWriter::create(&root, &quiet_options()).unwrap();
    let path = writer.dir().join("steps.json");
    let mut record = writer.new_record();
    record.steps = vec![
        StepExecutionEntry::new("collect", "Collect", 1),
        StepExecutionEntry::new("train", "Train", 2),
    ];
    writer.commit(&record).unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("[\n  {\n    \"step_id\": \"collect\""),
        "{text}"
    );
    assert!(text.ends_with("]\n"), "{text}");
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value.as_array().unwrap().len(), 2);
    assert_eq!(read_steps(&path).unwrap(), record.steps);

    // A reader holding the old file keeps a complete old version; the new
    // content arrives as a new file (rename), not as an in-place rewrite.
    let old_inode = std::fs::metadata(&path).unwrap().ino();
    let held = std::fs::File::open(&path).unwrap();
    record.steps[0].status = StepStatus::Completed;
    record
        .steps
        .push(StepExecutionEntry::new("eval", "Evaluate", 3));
    writer.commit(&record).unwrap();
    assert_ne!(std::fs::metadata(&path).unwrap().ino(), old_inode);
    let old: Vec<serde_json::Value> = serde_json::from_reader(held).unwrap();
    assert_eq!(old.len(), 2);
    assert_eq!(read_steps(&path).unwrap(), record.steps);
    assert_eq!(
        dir_names(writer.dir()),
        ["manifest.jsonl", "run.lock", "steps.json"]
    );

    writer.write_steps(&[]).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "[]\n");
    assert_eq!(
        dir_names(writer.dir()),
        ["manifest.jsonl", "run.lock", "steps.json"]
    );
}

#[test]
fn resume_of_a_locked_run_fails_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = ArtifactRoot::new(dir.path());
    let options = RunOptions {
        name: Some("busy".into()),
        ..quiet_options()
    };
    let mut writer = RunWriter::create(&root, &options).unwrap();
    let mut record = writer.new_record();
    record.status = RunStatus::Running;
    writer.commit(&record).unwrap();
    let manifest = std::fs::read(writer.dir().join("manifest.jsonl")).unwrap();

    match RunWriter::resume(&root, "busy", &options) {
        Err(Error::RunLocked { run_id, dir }) => {
            assert_eq!(run_id, "busy");
            assert_eq!(dir, writer.dir());
        }
        other => panic!("expected RunLocked, got {other:?}"),
    }
    assert_eq!(
        std::fs::read(writer.dir().join("manifest.jsonl")).unwrap(),
        manifest
    );
    // The live writer is unaffected.
    record.status = RunStatus::Completed;
    record.completed_at = Some(Timestamp::now());
    writer.commit(&record).unwrap();
    drop(writer);
    let (_again, contents) = RunWriter::resume(&root, "busy", &options).unwrap();
    assert_eq!(contents.record, Some(record));
    assert!(contents.warnings.is_empty());
}

#[test]
fn create_with_an_existing_name_fails() {
    let dir = tempfile::tempdir().unwrap();
    let root = ArtifactRoot::new(dir.path());
    let options = RunOptions {
        name: Some("nightly".into()),
        ..quiet_options()
    };
    let mut writer = RunWriter::create(&root, &options).unwrap();
    let record = writer.new_record();
    writer.commit(&record).unwrap();
    let manifest_path = root.runs_dir().join("nightly").join("manifest.jsonl");
    let manifest = std::fs::read(&manifest_path).unwrap();
    let refused = |alive: bool| match RunWriter::create(&root, &options) {
        Err(Error::RunExists { run_id, dir }) => {
            assert_eq!(run_id, "nightly");
            assert_eq!(dir, root.runs_dir().join("nightly"));
        }
        other => panic!("expected RunExists (writer alive: {alive}), got {other:?}"),
    };
    refused(true);
    assert_eq!(std::fs::read(&manifest_path).unwrap(), manifest);
    drop(writer);
    refused(false);
    assert_eq!(std::fs::read(&manifest_path).unwrap(), manifest);

    // A leftover directory without a manifest is not taken over either.
    std::fs::create_dir(root.runs_dir().join("leftover")).unwrap();
    let leftover = RunOptions {
        name: Some("leftover".into()),
        ..quiet_options()
    };
    assert!(matches!(
        RunWriter::create(&root, &leftover),
        Err(Error::RunExists { .. })
    ));
    assert!(matches!(
        RunWriter::resume(&root, "leftover", &leftover),
        Err(Error::RunNotFound { .. })
    ));
    assert!(matches!(
        RunWriter::resume(&root, "never-was", &leftover),
        Err(Error::RunNotFound { .. })
    ));
}

#[test]
fn invalid_names_are_refused_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let root = ArtifactRoot::new(dir.path().join("root"));
    let long = "a".repeat(129);
    for name in [
        "",
        ".",
        "..",
        "../escape",
        "a/b",
        "/abs",
        "a\\b",
        "a\0b",
        ".hidden",
        "-dash",
        "a b",
        "é",
        &long,
    ] {
        let options = RunOptions {
            name: Some(name.to_owned()),
            ..quiet_options()
        };
        match RunWriter::create(&root, &options) {
            Err(Error::InvalidRunName { .. }) => {}
            other => panic!("{name:?}: expected InvalidRunName, got {other:?}"),
        }
        match RunWriter::resume(&root, name, &options) {
            Err(Error::InvalidRunName { .. }) => {}
            other => panic!("{name:?}: resume expected InvalidRunName, got {other:?}"),
        }
        assert!(!root.path().exists(), "{name:?}: something was created");
    }
    assert!(!dir.path().join("escape").exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    // The longest valid name works.
    let options = RunOptions {
        name: Some("a".repeat(128)),
        ..quiet_options()
    };
    RunWriter::create(&root, &options).unwrap();
}
