//! Hand-made damage (docs/reliability.md, "Corruption"): each kind of file a crash, a
//! full disk, a file system or another tool can leave, read through every
//! reader a command uses. Each must keep every good record, report the
//! damage as `file:line: …`, take the last good record as the run's state,
//! and never panic. `properties.rs` checks the same promises on generated
//! files; `recovery.rs` covers the writer's side.

// Helpers outside `#[test]` functions unwrap too: a test fails loudly.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use manifest::{
    ArtifactRoot, Error, ManifestLine, Query, ReadWarning, RunOptions, RunState, RunWriter, files,
    list_runs, read_jsonl, read_last_record, read_manifest, read_steps, resolve_run,
};
use serde_json::json;
use telemetry_model::{
    PerformanceRecommendation, PipelineRunRecord, RunStatus, Severity, StepExecutionEntry,
    StepStatus, TelemetrySnapshot, Timestamp,
};

const RUN: &str = "damaged";

fn record(n: u64) -> PipelineRunRecord {
    let mut r = PipelineRunRecord::new(RUN);
    r.created_at = Timestamp::from_unix_ms(1_735_000_000_000);
    r.status = RunStatus::Completed;
    r.completed_at = Some(Timestamp::from_unix_ms(1_735_000_060_000));
    r.summary.extra.insert("n".into(), json!(n));
    let mut step = StepExecutionEntry::new("collect", "Collect", 1);
    step.status = StepStatus::Completed;
    r.steps.push(step);
    r
}

fn line(value: &impl serde::Serialize) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(value).unwrap();
    bytes.push(b'\n');
    bytes
}

fn r(n: u64) -> Vec<u8> {
    line(&record(n))
}

fn recommendation_line() -> Vec<u8> {
    line(&ManifestLine::Recommendation {
        recommendation: PerformanceRecommendation {
            trigger: "cpu_saturation".into(),
            severity: Severity::Warning,
            message: "CPU saturated".into(),
            evidence: [("cpu".to_owned(), json!(99.0))].into(),
            suggested_actions: vec!["Use fewer workers".into()],
            timestamp_ms: 1_735_000_000_000,
        },
    })
}

fn n_of(record: &PipelineRunRecord) -> u64 {
    record.summary.extra["n"].as_u64().unwrap()
}

/// A run directory `<root>/run-tracker/damaged/` holding `manifest` as
/// its manifest (no lock file: a run written by another tool, or whose
/// writer is gone).
struct Run {
    _tmp: tempfile::TempDir,
    root: ArtifactRoot,
    manifest: PathBuf,
}

impl Run {
    fn new(manifest: &[u8]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = ArtifactRoot::new(tmp.path());
        let dir = root.runs_dir().join(RUN);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(files::MANIFEST);
        std::fs::write(&path, manifest).unwrap();
        Self {
            _tmp: tmp,
            root,
            manifest: path,
        }
    }
}

/// What every reader made of a manifest.
#[derive(Debug, PartialEq)]
struct Seen {
    /// `read_manifest`: the record's `n` and line.
    record: Option<(u64, u64)>,
    /// `read_manifest`'s warnings, as line numbers.
    warned: Vec<u64>,
    /// `read_last_record`'s warnings, as line numbers.
    tail_warned: Vec<u64>,
}

fn lines_of(warnings: &[ReadWarning], path: &Path) -> Vec<u64> {
    let mut lines: Vec<u64> = warnings
        .iter()
        .map(|w| {
            assert_eq!(w.path, path, "{w}");
            let shown = w.to_string();
            assert!(
                shown.starts_with(&format!("{}:{}: ", path.display(), w.line)),
                "{shown}"
            );
            w.line
        })
        .collect();
    lines.sort_unstable();
    lines
}

/// Reads the run with every reader, checks that they agree with each other
/// (full and tail reader, `list_runs`, `resolve_run`), and returns what
/// the full reader saw.
fn read(run: &Run) -> Seen {
    let path = &run.manifest;
    let full = read_manifest(path).unwrap();
    let tail = read_last_record::<PipelineRunRecord>(path).unwrap();
    assert_eq!(
        full.record.as_ref(),
        tail.as_ref().map(|t| &t.record),
        "the full and the tail reader disagree"
    );
    let listing = list_runs(&run.root, &Query::default()).unwrap();
    match &full.record {
        Some(record) => {
            assert_eq!(listing.runs.len(), 1);
            assert_eq!(&listing.runs[0].record, record);
            assert_eq!(&resolve_run(&run.root, RUN).unwrap().record, record);
            assert_eq!(&resolve_run(&run.root, "latest").unwrap().record, record);
        }
        None => {
            assert!(listing.runs.is_empty());
            // Reported, not listed.
            assert_eq!(listing.warnings.len(), 1, "{:?}", listing.warnings);
            assert_eq!(&listing.warnings[0].path, path);
            assert!(
                listing.warnings[0]
                    .to_string()
                    .ends_with("no readable run record; run not listed"),
                "{}",
                listing.warnings[0]
            );
            assert!(matches!(
                resolve_run(&run.root, RUN),
                Err(Error::RunNotFound { .. })
            ));
        }
    }
    Seen {
        record: full.record.as_ref().map(|r| (n_of(r), full.record_line)),
        warned: lines_of(&full.warnings, path),
        tail_warned: tail.map_or_else(Vec::new, |t| lines_of(&t.warnings, path)),
    }
}

fn messages(path: &Path) -> Vec<String> {
    read_manifest(path)
        .unwrap()
        .warnings
        .iter()
        .map(|w| w.message.clone())
        .collect()
}

#[test]
fn torn_last_line() {
    let whole = r(3);
    let run = Run::new(&[r(1), r(2), whole[..whole.len() / 2].to_vec()].concat());
    assert_eq!(
        read(&run),
        Seen {
            record: Some((2, 2)),
            warned: vec![3],
            tail_warned: vec![3],
        }
    );
    assert!(messages(&run.manifest)[0].contains("torn last line"));
}

#[test]
fn torn_wrapper_line_at_the_end_is_reported_by_both_readers() {
    // Regression: the tail reader skipped a torn `{"recommendation": …`
    // last line without a warning, so `tracker list` was silent about
    // damage `tracker show` reported.
    let wrapper = recommendation_line();
    let run = Run::new(&[r(1), r(2), wrapper[..wrapper.len() - 10].to_vec()].concat());
    assert_eq!(
        read(&run),
        Seen {
            record: Some((2, 2)),
            warned: vec![3],
            tail_warned: vec![3],
        }
    );
    // Intact wrapper lines after the last record are no damage.
    let run = Run::new(&[r(1), recommendation_line(), recommendation_line()].concat());
    assert_eq!(
        read(&run),
        Seen {
            record: Some((1, 1)),
            warned: vec![],
            tail_warned: vec![],
        }
    );
    // Nor is a whole wrapper line that lacks only its newline.
    let wrapper = recommendation_line();
    let run = Run::new(&[r(1), wrapper[..wrapper.len() - 1].to_vec()].concat());
    assert_eq!(read(&run).tail_warned, Vec::<u64>::new());
}

#[test]
fn a_record_glued_to_a_torn_wrapper_line_is_found_by_both_readers() {
    // Regression (found by the `manifest_reader` fuzz target): the tail
    // reader looked for a glued record only where its first key is
    // `run_id` or `schema_version`, the full reader everywhere, so `tracker
    // list` and `tracker show` disagreed on a record with other key orders.
    let glued = |record: &str| {
        [
            r(1),
            format!("{{\"recommendation\": {{\"trig{record}\n").into_bytes(),
        ]
        .concat()
    };
    let plain = String::from_utf8(r(2)).unwrap();
    let plain = plain.trim_end();
    let reordered = plain.replacen('{', "{\"first\":1,", 1);
    let escaped = plain.replacen("\"run_id\"", "\"run\\u005fid\"", 1);
    for record in [plain, &reordered, &escaped] {
        let run = Run::new(&glued(record));
        assert_eq!(
            read(&run),
            Seen {
                record: Some((2, 2)),
                warned: vec![2],
                tail_warned: vec![2],
            },
            "{record}"
        );
        assert!(messages(&run.manifest)[0].contains("torn line; the line after it was recovered"));
    }
    // The fuzzer's input, minimised.
    let run = Run::new(
        br#"{"recommendation"{"":1,"run_id":"1o","created_at":"2026-11-24T01:55:11","status":"running"}"#,
    );
    let full = read_manifest(&run.manifest).unwrap();
    assert_eq!(full.record.as_ref().unwrap().run_id, "1o");
    let tail = read_last_record::<PipelineRunRecord>(&run.manifest)
        .unwrap()
        .unwrap();
    assert_eq!(Some(tail.record), full.record);
}

#[test]
fn garbage_mid_file() {
    let run = Run::new(
        &[
            r(1),
            b"garbage\n".to_vec(),
            r(2),
            b"{\"run_id\": \"damaged\", \"status\": \n".to_vec(),
            recommendation_line(),
            b"\x1b[31m<html>\t\n".to_vec(),
            r(3),
            b"[]\n".to_vec(),
        ]
        .concat(),
    );
    assert_eq!(
        read(&run),
        Seen {
            record: Some((3, 7)),
            warned: vec![2, 4, 6, 8],
            tail_warned: vec![8],
        }
    );
    assert_eq!(
        read_manifest(&run.manifest).unwrap().recommendations.len(),
        1
    );
}

#[test]
fn invalid_utf8() {
    // In a record's string (that line is lost), alone on a line, and in a
    // whole file of binary.
    let mut bad = r(2);
    let at = bad.windows(7).position(|w| w == b"Collect").unwrap();
    bad[at..at + 2].copy_from_slice(&[0xc3, 0x28]);
    let run = Run::new(
        &[
            r(1),
            bad,
            b"\xff\xfe\xfd\n".to_vec(),
            r(3),
            b"\x80".to_vec(),
        ]
        .concat(),
    );
    assert_eq!(
        read(&run),
        Seen {
            record: Some((3, 4)),
            warned: vec![2, 3, 5],
            tail_warned: vec![5],
        }
    );
    let binary: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let run = Run::new(&binary);
    let seen = read(&run);
    assert_eq!(seen.record, None);
    let lines = binary.split(|b| *b == b'\n').count();
    assert_eq!(seen.warned, (1..=lines as u64).collect::<Vec<_>>());
}

#[test]
fn a_ten_megabyte_line() {
    let ten_mb = |terminated: bool| {
        // A record padded past the line limit: valid JSON, still damage.
        let mut big = record(9);
        big.summary
            .extra
            .insert("pad".into(), json!("x".repeat(10 * 1024 * 1024)));
        let mut bytes = line(&big);
        if !terminated {
            bytes.pop();
        }
        bytes
    };
    // Between good records.
    let run = Run::new(&[r(1), ten_mb(true), r(2)].concat());
    assert_eq!(
        read(&run),
        Seen {
            record: Some((2, 3)),
            warned: vec![2],
            tail_warned: vec![],
        }
    );
    assert!(messages(&run.manifest)[0].starts_with("skipped an over-long line (1048"));
    // As the torn last line.
    let run = Run::new(&[r(1), ten_mb(false)].concat());
    assert_eq!(
        read(&run),
        Seen {
            record: Some((1, 1)),
            warned: vec![2],
            tail_warned: vec![2],
        }
    );
    // Alone.
    let run = Run::new(&ten_mb(true));
    assert_eq!(read(&run).record, None);
}

#[test]
fn lines_longer_than_the_tail_readers_buffer_are_reported_once() {
    // Regression: a terminated line longer than twice the line limit made
    // the tail reader buffer the whole file (memory grew with the line),
    // and its forward fallback reported lines it had already reported.
    let giant = |mb: usize| {
        let mut bytes = vec![b'x'; mb * 1024 * 1024];
        bytes.push(b'\n');
        bytes
    };
    let run = Run::new(&[r(1), giant(20), giant(5)].concat());
    assert_eq!(
        read(&run),
        Seen {
            record: Some((1, 1)),
            warned: vec![2, 3],
            tail_warned: vec![2, 3],
        }
    );
    // Over-long lines before the last record are not the tail reader's.
    let run = Run::new(&[giant(20), r(1), giant(20)].concat());
    assert_eq!(
        read(&run),
        Seen {
            record: Some((1, 2)),
            warned: vec![1, 3],
            tail_warned: vec![3],
        }
    );
}

#[test]
fn naive_timestamps_are_read_as_utc_with_a_warning() {
    let mut value = serde_json::to_value(record(1)).unwrap();
    value["created_at"] = json!("2024-12-24T00:26:40");
    value["completed_at"] = json!("2024-12-24T00:27:40.5");
    let run = Run::new(&[r(0), line(&value)].concat());
    let full = read_manifest(&run.manifest).unwrap();
    let got = full.record.as_ref().unwrap();
    assert_eq!(got.created_at, Timestamp::from_unix_ms(1_735_000_000_000));
    assert_eq!(
        got.completed_at,
        Some(Timestamp::from_unix_ms(1_735_000_060_500))
    );
    assert_eq!(lines_of(&full.warnings, &run.manifest), [2]);
    assert_eq!(
        full.warnings[0].message,
        "timestamps without a UTC offset were read as UTC"
    );
    let seen = read(&run);
    assert_eq!(seen.record, Some((1, 2)));
    // Listing reports it for the run listed (no line: the whole record).
    let listing = list_runs(&run.root, &Query::default()).unwrap();
    assert_eq!(listing.warnings.len(), 1);
    assert_eq!(listing.warnings[0].line, 0);
    assert!(listing.warnings[0].message.contains("without a UTC offset"));
}

#[test]
fn empty_file() {
    let run = Run::new(b"");
    assert_eq!(
        read(&run),
        Seen {
            record: None,
            warned: vec![],
            tail_warned: vec![],
        }
    );
    // Resuming it is refused: there is no record to go on from.
    let options = RunOptions {
        ..RunOptions::default()
    };
    assert!(matches!(
        RunWriter::resume(&run.root, RUN, &options),
        Err(Error::NoRecord { .. })
    ));
}

#[test]
fn a_manifest_of_only_garbage() {
    let run = Run::new(b"not json\n\n{\"a\":1}\n[1,2\n   \n\x00\x01\x02\nnull");
    assert_eq!(
        read(&run),
        Seen {
            record: None,
            warned: vec![1, 3, 4, 6, 7],
            tail_warned: vec![],
        }
    );
}

#[test]
fn nul_filled_files() {
    // What a crash leaves on some file systems: the size was updated, the
    // data never written. A file of NULs only ...
    let nuls = vec![0u8; 64 * 1024];
    let run = Run::new(&nuls);
    assert_eq!(
        read(&run),
        Seen {
            record: None,
            warned: vec![1],
            tail_warned: vec![],
        }
    );
    // ... NULs after good records ...
    let run = Run::new(&[r(1), r(2), nuls.clone()].concat());
    assert_eq!(
        read(&run),
        Seen {
            record: Some((2, 2)),
            warned: vec![3],
            tail_warned: vec![3],
        }
    );
    // ... NULs over a whole line in the middle ...
    let run = Run::new(&[r(1), vec![0; 300], b"\n".to_vec(), r(3)].concat());
    assert_eq!(
        read(&run),
        Seen {
            record: Some((3, 3)),
            warned: vec![2],
            tail_warned: vec![],
        }
    );
    // ... and a writer that resumes after a NUL tail: its first line
    // starts on a new line, so the new record is found.
    let run = Run::new(&[r(1), nuls].concat());
    let options = RunOptions {
        sync: false,
        ..RunOptions::default()
    };
    let (mut writer, contents) = RunWriter::resume(&run.root, RUN, &options).unwrap();
    assert_eq!(n_of(contents.record.as_ref().unwrap()), 1);
    writer.commit(&record(4)).unwrap();
    drop(writer);
    assert_eq!(
        read(&run),
        Seen {
            record: Some((4, 3)),
            warned: vec![2],
            tail_warned: vec![],
        }
    );
}

#[test]
fn crlf_line_endings() {
    let crlf = |bytes: Vec<u8>| {
        let mut out = bytes;
        out.pop();
        out.extend_from_slice(b"\r\n");
        out
    };
    let run = Run::new(
        &[
            crlf(r(1)),
            crlf(recommendation_line()),
            crlf(r(2)),
            b"\r\n".to_vec(),
        ]
        .concat(),
    );
    assert_eq!(
        read(&run),
        Seen {
            record: Some((2, 3)),
            warned: vec![],
            tail_warned: vec![],
        }
    );
    assert_eq!(
        read_manifest(&run.manifest).unwrap().recommendations.len(),
        1
    );
}

#[test]
fn damaged_telemetry() {
    let sample = |ms: i64| {
        line(&TelemetrySnapshot {
            timestamp_ms: ms,
            cpu_percent_system: Some(50.0),
            ..TelemetrySnapshot::default()
        })
    };
    let torn = sample(5);
    let mut crlf = sample(3);
    crlf.pop();
    crlf.extend_from_slice(b"\r\n");
    let bytes = [
        sample(1),
        b"\x00\x00\x00\x00\n".to_vec(),
        sample(2),
        b"\xff garbage\n".to_vec(),
        crlf,
        vec![b'x'; 5 * 1024 * 1024],
        b"\n".to_vec(),
        sample(4),
        torn[..torn.len() / 2].to_vec(),
    ]
    .concat();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(files::TELEMETRY);
    std::fs::write(&path, bytes).unwrap();
    let mut seen = Vec::new();
    let warnings = read_jsonl::<TelemetrySnapshot>(&path, |line, s| {
        seen.push((line, s.timestamp_ms));
    })
    .unwrap();
    assert_eq!(seen, [(1, 1), (3, 2), (5, 3), (7, 4)]);
    assert_eq!(lines_of(&warnings, &path), [2, 4, 6, 8]);
    assert!(warnings[2].message.contains("over-long"), "{}", warnings[2]);
    assert!(
        warnings[3].message.contains("torn last line"),
        "{}",
        warnings[3]
    );
}

#[test]
fn steps_json_truncated_mid_write() {
    // Our writer replaces steps.json atomically, but another tool (or a
    // copy interrupted by a full disk) may leave it cut short: reading it
    // is then an error naming the file and the place, and the run still
    // lists and shows from its manifest, the source of truth.
    let tmp = tempfile::tempdir().unwrap();
    let root = ArtifactRoot::new(tmp.path());
    let options = RunOptions {
        name: Some(RUN.into()),
        sync: false,
        ..RunOptions::default()
    };
    let mut writer = RunWriter::create(&root, &options).unwrap();
    let mut rec = writer.new_record();
    rec.status = RunStatus::Completed;
    rec.steps = (1..=3)
        .map(|i| StepExecutionEntry::new(format!("s{i}"), format!("Step {i}"), i))
        .collect();
    writer.commit(&rec).unwrap();
    drop(writer);
    let steps = root.runs_dir().join(RUN).join(files::STEPS);
    let whole = std::fs::read(&steps).unwrap();
    for cut in [0, 1, whole.len() / 2, whole.len() - 3] {
        std::fs::write(&steps, &whole[..cut]).unwrap();
        let err = read_steps(&steps).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("cannot parse {}: ", steps.display())),
            "{err}"
        );
        assert!(
            err.contains("EOF while parsing") && err.contains("line"),
            "{err}"
        );
        let run = resolve_run(&root, RUN).unwrap();
        assert_eq!(run.record.steps.len(), 3);
        assert_eq!(run.state, RunState::Completed);
    }
    // The writer's next commit replaces it whole.
    let (mut writer, _) = RunWriter::resume(&root, RUN, &options).unwrap();
    writer.commit(&rec).unwrap();
    assert_eq!(read_steps(&steps).unwrap(), rec.steps);
    // A steps.json of NULs, or of garbage, is an error too, never a panic.
    for junk in [
        &[0u8; 4096][..],
        b"{\"steps\": [{\"step_id\": 1}]}",
        b"[[[[[[[",
    ] {
        std::fs::write(&steps, junk).unwrap();
        assert!(read_steps(&steps).is_err());
    }
    // 100,000 levels of nesting: serde_json's depth limit, not a stack
    // overflow.
    std::fs::write(&steps, "[".repeat(100_000)).unwrap();
    let err = read_steps(&steps).unwrap_err().to_string();
    assert!(err.contains("recursion limit"), "{err}");
}
