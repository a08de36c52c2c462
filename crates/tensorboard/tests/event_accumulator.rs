//! The real reader: TensorBoard's own `EventAccumulator` (Python) reads what
//! we write, and finds every value. The reader drops whole files silently on
//! a CRC mismatch, so the test compares values, not just "no error".
//!
//! The Python comes from `TRACKER_TB_PYTHON`, else a venv at
//! `<target dir>/tb-venv` (what `.ci/run` creates), else `python3`. Without
//! one that can `import tensorboard` the test says "skipped: …" and passes,
//! unless `TRACKER_REQUIRE_TB=1` (set by `.ci/run`) makes that a failure.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::fixture_run;
use telemetry_model::{PipelineRunRecord, TelemetrySnapshot};
use tensorboard::{Mirror, TELEMETRY_TAGS, convert_run, run_logdir};

/// A Python that can import `tensorboard`, or why there is none.
fn find_python() -> Result<PathBuf, String> {
    if let Some(explicit) = std::env::var_os("TRACKER_TB_PYTHON") {
        let python = PathBuf::from(explicit);
        // Named explicitly: not being able to use it is a set-up error.
        return if imports_tensorboard(&python) {
            Ok(python)
        } else {
            Err(format!(
                "TRACKER_TB_PYTHON={} cannot `import tensorboard`",
                python.display()
            ))
        };
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let venv = target.join("tb-venv/bin/python");
    [venv, PathBuf::from("python3")]
        .into_iter()
        .find(|p| imports_tensorboard(p))
        .ok_or_else(|| {
            "no Python with the `tensorboard` package (set TRACKER_TB_PYTHON, or create \
             target/tb-venv: python3 -m venv target/tb-venv && target/tb-venv/bin/pip install tensorboard)"
                .to_owned()
        })
}

fn imports_tensorboard(python: &Path) -> bool {
    Command::new(python)
        .args([
            "-c",
            "import tensorboard.backend.event_processing.event_accumulator",
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Says why a test did nothing, where a plain `cargo test` shows it:
/// libtest captures `println!` of passing tests, not writes to the stderr
/// handle.
fn say_skipped(why: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "skipped: {why}");
}

fn require() -> bool {
    std::env::var("TRACKER_REQUIRE_TB").is_ok_and(|v| v == "1")
}

/// What the reader found: file version, and per tag `(step, wall time, value)`.
struct Found {
    file_version: Option<f64>,
    scalars: BTreeMap<String, Vec<Point>>,
}

type Point = (i64, f64, f64);

/// Runs `read_events.py` on `logdir`.
fn read_with_tensorboard(python: &Path, logdir: &Path) -> Found {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/read_events.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(logdir)
        .output()
        .expect("run read_events.py");
    assert!(
        out.status.success(),
        "read_events.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("read_events.py prints JSON");
    // Floats come as strings (Python's repr) and are parsed exactly here.
    let exact = |v: &Value| -> f64 {
        v.as_str()
            .and_then(|s| s.parse().ok())
            .expect("a float as a string")
    };
    let scalars = doc["scalars"]
        .as_object()
        .expect("scalars object")
        .iter()
        .map(|(tag, points)| {
            let points = points
                .as_array()
                .expect("a list of points")
                .iter()
                .map(|p| (p[0].as_i64().expect("step"), exact(&p[1]), exact(&p[2])))
                .collect();
            (tag.clone(), points)
        })
        .collect();
    Found {
        file_version: doc["file_version"].as_f64(),
        scalars,
    }
}

/// The value TensorBoard gives back for `value`: stored as a 32-bit float,
/// read as a double.
fn stored(value: f64) -> f64 {
    f64::from(value as f32)
}

/// Checks the reader's view of a logdir against the run it came from.
fn check(found: &Found, record: &PipelineRunRecord, snapshots: &[TelemetrySnapshot]) {
    assert_eq!(found.file_version, Some(2.0));
    let mut want: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for tag in TELEMETRY_TAGS {
        let points: Vec<Point> = snapshots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let value = tag.value(s)?;
                Some((i as i64, s.timestamp_ms as f64 / 1000.0, stored(value)))
            })
            .collect();
        if !points.is_empty() {
            want.insert(tag.tag.to_owned(), points);
        }
    }
    for step in &record.steps {
        let wall = tensorboard::step_wall_time(step);
        for (tag, value) in tensorboard::step_scalars(step) {
            let wall = wall.expect("a finished step has a time");
            want.entry(tag)
                .or_default()
                .push((i64::from(step.order), wall, stored(value)));
        }
    }
    let run = tensorboard::run_duration(record).expect("the fixture run ended");
    let ended = record.completed_at.expect("completed").unix_ms() as f64 / 1000.0;
    want.insert(
        tensorboard::RUN_DURATION_TAG.to_owned(),
        vec![(0, ended, stored(run))],
    );
    // Same tags, and for each the same points, exactly.
    let found_tags: Vec<&String> = found.scalars.keys().collect();
    assert_eq!(found_tags, want.keys().collect::<Vec<_>>());
    for (tag, points) in &want {
        assert_eq!(&found.scalars[tag], points, "{tag}");
    }
    // The fixture exercises what it should: nulls left out, GPU only in part.
    assert!(!found.scalars.contains_key("throughput/fps"));
    assert_eq!(found.scalars["gpu/util_percent"].len(), 14);
    assert_eq!(found.scalars["cpu/process_percent"].len(), 23);
}

#[test]
fn tensorboard_reads_every_value_of_a_converted_and_a_mirrored_run() {
    let python = match find_python() {
        Ok(python) => python,
        Err(why) if require() => panic!("TRACKER_REQUIRE_TB=1 but {why}"),
        Err(why) => {
            say_skipped(&format!("EventAccumulator test: {why}"));
            return;
        }
    };
    let (record, snapshots) = fixture_run();
    let base = tempfile::tempdir().unwrap();

    // `tracker tensorboard RUN --logdir DIR`, twice: the second replaces.
    let logdir = run_logdir(base.path(), &record.run_id);
    convert_run(&logdir, &record, &snapshots).unwrap();
    let again = convert_run(&logdir, &record, &snapshots).unwrap();
    assert_eq!(again.replaced.len(), 1);
    let found = read_with_tensorboard(&python, &logdir);
    check(&found, &record, &snapshots);

    // `tracker run --tensorboard DIR`: steps interleaved with samples, the
    // first step's scalars (order 1) after samples with higher indices.
    let live_dir = base.path().join("live");
    let mut mirror = Mirror::create(&live_dir).unwrap();
    let mut live = record.clone();
    live.steps.truncate(0);
    live.status = telemetry_model::RunStatus::Running;
    for (i, snapshot) in snapshots.iter().enumerate() {
        if i == 12 {
            live.steps = record.steps[..1].to_vec();
            mirror.record_run(&live).unwrap();
        }
        mirror.record_snapshot(snapshot).unwrap();
    }
    mirror.record_run(&record).unwrap();
    let found = read_with_tensorboard(&python, &live_dir);
    check(&found, &record, &snapshots);
}

#[test]
fn tensorboard_reads_nothing_from_a_corrupted_file() {
    // The reason the test above compares values: a bad CRC is not an error
    // for the reader, the data just is not there.
    let python = match find_python() {
        Ok(python) => python,
        Err(why) if require() => panic!("TRACKER_REQUIRE_TB=1 but {why}"),
        Err(why) => {
            say_skipped(&format!("EventAccumulator corruption test: {why}"));
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let mut w = tensorboard::EventWriter::create_at(dir.path(), 1_735_812_000.0).unwrap();
    w.add_scalar("a", 1.0, 1, 1_735_812_001.0).unwrap();
    w.add_scalar("b", 2.0, 2, 1_735_812_002.0).unwrap();
    w.flush().unwrap();
    let found = read_with_tensorboard(&python, dir.path());
    let a = vec![(1, 1_735_812_001.0, 1.0)];
    let b = vec![(2, 1_735_812_002.0, 2.0)];
    assert_eq!(
        found.scalars,
        BTreeMap::from([("a".to_owned(), a.clone()), ("b".to_owned(), b)])
    );
    // Flip one bit of the last record's value: "b" vanishes without an error.
    let mut bytes = std::fs::read(w.path()).unwrap();
    let at = bytes.len() - 6;
    bytes[at] ^= 0x40;
    std::fs::write(w.path(), &bytes).unwrap();
    let found = read_with_tensorboard(&python, dir.path());
    assert_eq!(found.scalars, BTreeMap::from([("a".to_owned(), a)]));
}
