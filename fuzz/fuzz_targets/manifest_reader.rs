//! Any bytes as `manifest.jsonl` (and as `telemetry.jsonl`): no reader
//! panics, every warning names the file and a line that exists, the full
//! reader and the tail reader agree on the last record, and `list_runs`
//! lists the run, with that record, exactly when it has one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use manifest::{ArtifactRoot, Query, ReadWarning, list_runs};
use telemetry_model::{PipelineRunRecord, TelemetrySnapshot};

#[path = "scratch.rs"]
mod scratch;

fn check_warnings(warnings: &[ReadWarning], path: &std::path::Path, lines: u64) {
    for w in warnings {
        assert_eq!(w.path, path, "{w}");
        assert!(w.line <= lines, "line {} of {lines}: {w}", w.line);
        assert!(
            w.to_string()
                .starts_with(&format!("{}:{}: ", path.display(), w.line))
        );
    }
}

fuzz_target!(|bytes: &[u8]| {
    let path = scratch::write("run-tracker/r/manifest.jsonl", bytes);

    let full = manifest::read_manifest(&path).expect("an existing file reads");
    check_warnings(&full.warnings, &path, full.lines);
    assert!(full.record.is_none() || (1..=full.lines).contains(&full.record_line));

    let tail = manifest::read_last_record::<PipelineRunRecord>(&path).expect("reads");
    match (&full.record, &tail) {
        (None, None) => {}
        (Some(record), Some(tail)) => {
            assert_eq!(
                record, &tail.record,
                "the readers disagree on the last record"
            );
            check_warnings(&tail.warnings, &path, full.lines);
            // The tail reader reports only damage the full reader reports.
            for w in &tail.warnings {
                assert!(
                    full.warnings.iter().any(|f| f.line == w.line),
                    "only the tail reader warns: {w}"
                );
            }
        }
        (full, tail) => panic!(
            "one reader found a record, the other not: full {:?}, tail {:?}",
            full.is_some(),
            tail.is_some()
        ),
    }

    let mut samples = 0u64;
    let warnings = manifest::read_jsonl::<TelemetrySnapshot>(&path, |line, _| {
        assert!(line >= 1 && line <= full.lines);
        samples += 1;
    })
    .expect("reads");
    check_warnings(&warnings, &path, full.lines);

    // The same file as the only run under an artifact root.
    let root = ArtifactRoot::new(scratch::dir());
    let listing = list_runs(&root, &Query::default()).expect("lists");
    match &full.record {
        Some(record) => {
            assert_eq!(listing.runs.len(), 1, "a run with a record is listed");
            assert_eq!(&listing.runs[0].record, record);
        }
        None => assert!(listing.runs.is_empty()),
    }
});
