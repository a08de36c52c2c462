//! Event files read back with a reader written for the tests: framing,
//! CRCs, and every value where it should be.

mod support;

use support::{event_files, fixture_run, read_events, records};
use tensorboard::{EventWriter, Mirror, TELEMETRY_TAGS, convert_run, run_logdir};

#[test]
fn written_scalars_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = EventWriter::create_at(dir.path(), 1_735_812_000.25).unwrap();
    w.add_scalar("loss", 0.1, 1, 1_735_812_001.0).unwrap();
    w.add_scalars(&[("a", -3.5), ("b", 1e10)], -7, 1_735_812_002.5)
        .unwrap();
    w.flush().unwrap();
    let events = read_events(w.path());
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].file_version.as_deref(), Some("brain.Event:2"));
    assert_eq!(events[0].wall_time, 1_735_812_000.25);
    assert_eq!(events[1].values, [("loss".to_owned(), 0.1f32)]);
    assert_eq!((events[1].step, events[1].wall_time), (1, 1_735_812_001.0));
    assert_eq!(
        events[2].values,
        [("a".to_owned(), -3.5f32), ("b".to_owned(), 1e10f32)]
    );
    assert_eq!(events[2].step, -7);
}

#[test]
fn a_flipped_bit_is_caught_by_the_crc() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = EventWriter::create_at(dir.path(), 1.0).unwrap();
    w.add_scalar("x", 1.0, 1, 1.0).unwrap();
    w.flush().unwrap();
    let mut bytes = std::fs::read(w.path()).unwrap();
    assert!(records(&bytes).is_ok());
    let last = bytes.len() - 6;
    bytes[last] ^= 0x01; // inside the last value
    assert_eq!(records(&bytes).unwrap_err(), "data CRC mismatch");
}

#[test]
fn a_converted_run_holds_every_metric_and_step() {
    let (record, snapshots) = fixture_run();
    let base = tempfile::tempdir().unwrap();
    let logdir = run_logdir(base.path(), &record.run_id);
    let done = convert_run(&logdir, &record, &snapshots).unwrap();
    assert_eq!(event_files(&logdir), std::slice::from_ref(&done.path));
    let events = read_events(&done.path);

    // File version, one event per sample with any metric, one per finished
    // step, one for the run.
    let with_metrics = snapshots.len() - 1;
    assert_eq!(events.len(), 1 + with_metrics + 2 + 1);
    assert_eq!(done.samples, 24);

    for tag in TELEMETRY_TAGS {
        let want: Vec<(i64, f64, f32)> = snapshots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let v = tag.value(s)?;
                Some((i as i64, s.timestamp_ms as f64 / 1000.0, v as f32))
            })
            .collect();
        let got: Vec<(i64, f64, f32)> = events
            .iter()
            .flat_map(|e| {
                e.values
                    .iter()
                    .filter(|(t, _)| t == tag.tag)
                    .map(|(_, v)| (e.step, e.wall_time, *v))
            })
            .collect();
        assert_eq!(got, want, "{}", tag.tag);
    }
    let value_of = |tag: &str| -> Vec<(i64, f32)> {
        events
            .iter()
            .flat_map(|e| {
                e.values
                    .iter()
                    .filter(|(t, _)| t == tag)
                    .map(|(_, v)| (e.step, *v))
            })
            .collect()
    };
    assert_eq!(value_of("steps/collect/duration_seconds"), [(1, 10.15)]);
    assert_eq!(value_of("steps/collect/cpu_time_seconds"), [(1, 9.75)]);
    assert_eq!(value_of("steps/collect/peak_rss_mb"), [(1, 212.5)]);
    assert_eq!(value_of("steps/train/duration_seconds"), [(2, 14.5)]);
    assert!(value_of("steps/train/cpu_time_seconds").is_empty());
    assert_eq!(value_of("steps/duration_seconds"), [(1, 10.15), (2, 14.5)]);
    assert!(value_of("steps/export/duration_seconds").is_empty());
    assert_eq!(value_of("run/duration_seconds"), [(0, 25.0)]);
    let total: usize = events.iter().map(|e| e.values.len()).sum();
    assert_eq!(total as u64, done.scalars);
}

#[test]
fn live_mirror_equals_conversion() {
    let (record, snapshots) = fixture_run();
    let base = tempfile::tempdir().unwrap();
    let converted = convert_run(&base.path().join("converted"), &record, &snapshots).unwrap();

    let mut mirror = Mirror::create(&base.path().join("live")).unwrap();
    // As `tracker run` would: the record as each step starts and ends,
    // samples in between.
    let mut live = record.clone();
    for step in &mut live.steps {
        step.status = telemetry_model::StepStatus::Pending;
    }
    live.status = telemetry_model::RunStatus::Running;
    mirror.record_run(&live).unwrap();
    for (i, snapshot) in snapshots.iter().enumerate() {
        if i == 10 {
            live.steps[0] = record.steps[0].clone();
            mirror.record_run(&live).unwrap();
        }
        mirror.record_snapshot(snapshot).unwrap();
        // The file is complete after every call: nothing waits in a buffer.
        assert!(records(&std::fs::read(mirror.path()).unwrap()).is_ok());
    }
    mirror.record_run(&record).unwrap();
    assert_eq!(mirror.scalars(), converted.scalars);

    // Same scalars, in the same order, bar the file's own time.
    let strip = |mut events: Vec<support::Decoded>| {
        events.remove(0);
        events
    };
    let live_events = strip(read_events(mirror.path()));
    let converted_events = strip(read_events(&converted.path));
    let tags = |events: &[support::Decoded]| {
        let mut all: Vec<(String, i64, u32)> = events
            .iter()
            .flat_map(|e| {
                e.values
                    .iter()
                    .map(move |(t, v)| (t.clone(), e.step, v.to_bits()))
            })
            .collect();
        all.sort();
        all
    };
    assert_eq!(tags(&live_events), tags(&converted_events));
}
