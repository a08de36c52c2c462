//! A small event-file reader for the tests: TFRecord framing with both
//! CRCs checked, and just enough protobuf decoding for scalar events.
#![allow(clippy::unwrap_used, dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

use tensorboard::masked_crc32c;

/// One decoded event.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    pub wall_time: f64,
    pub step: i64,
    pub file_version: Option<String>,
    pub values: Vec<(String, f32)>,
}

/// Splits a file into records, checking the length and data CRCs.
pub fn records(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.len() < 12 {
            return Err(format!("torn header ({} bytes left)", rest.len()));
        }
        let len_bytes = &rest[..8];
        let len = u64::from_le_bytes(len_bytes.try_into().unwrap()) as usize;
        let len_crc = u32::from_le_bytes(rest[8..12].try_into().unwrap());
        if len_crc != masked_crc32c(len_bytes) {
            return Err("length CRC mismatch".into());
        }
        if rest.len() < 12 + len + 4 {
            return Err("torn record".into());
        }
        let data = &rest[12..12 + len];
        let data_crc = u32::from_le_bytes(rest[12 + len..16 + len].try_into().unwrap());
        if data_crc != masked_crc32c(data) {
            return Err("data CRC mismatch".into());
        }
        out.push(data.to_vec());
        rest = &rest[16 + len..];
    }
    Ok(out)
}

fn varint(buf: &mut &[u8]) -> u64 {
    let mut value = 0u64;
    let mut shift = 0;
    loop {
        let byte = buf[0];
        *buf = &buf[1..];
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return value;
        }
        shift += 7;
    }
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, tail) = buf.split_at(n);
    *buf = tail;
    head
}

/// Decodes one `Event`; panics on anything outside the subset we write.
pub fn decode_event(mut buf: &[u8]) -> Decoded {
    let mut event = Decoded {
        wall_time: 0.0,
        step: 0,
        file_version: None,
        values: Vec::new(),
    };
    while !buf.is_empty() {
        let key = varint(&mut buf);
        match key {
            0x09 => event.wall_time = f64::from_le_bytes(take(&mut buf, 8).try_into().unwrap()),
            0x10 => event.step = varint(&mut buf) as i64,
            0x1a => {
                let n = varint(&mut buf) as usize;
                event.file_version = Some(String::from_utf8(take(&mut buf, n).to_vec()).unwrap());
            }
            0x2a => {
                let n = varint(&mut buf) as usize;
                let mut summary = take(&mut buf, n);
                while !summary.is_empty() {
                    assert_eq!(varint(&mut summary), 0x0a, "Summary.value");
                    let n = varint(&mut summary) as usize;
                    let mut value = take(&mut summary, n);
                    let mut tag = None;
                    let mut simple = None;
                    while !value.is_empty() {
                        match varint(&mut value) {
                            0x0a => {
                                let n = varint(&mut value) as usize;
                                tag =
                                    Some(String::from_utf8(take(&mut value, n).to_vec()).unwrap());
                            }
                            0x15 => {
                                simple = Some(f32::from_le_bytes(
                                    take(&mut value, 4).try_into().unwrap(),
                                ));
                            }
                            other => panic!("unexpected Value field key {other:#x}"),
                        }
                    }
                    event.values.push((tag.unwrap(), simple.unwrap()));
                }
            }
            other => panic!("unexpected Event field key {other:#x}"),
        }
    }
    event
}

/// Every event of a file.
pub fn read_events(path: &Path) -> Vec<Decoded> {
    let bytes = std::fs::read(path).unwrap();
    records(&bytes)
        .unwrap()
        .iter()
        .map(|r| decode_event(r))
        .collect()
}

/// The event files directly in `dir`, sorted.
pub fn event_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(tensorboard::EVENT_FILE_PREFIX))
        })
        .collect();
    files.sort();
    files
}

/// A completed three-step run with 24 samples, one per second: GPU metrics
/// only in the second step, `fps` never, a sample with nothing at all, and a
/// skipped step. Returns the record and its telemetry.
pub fn fixture_run() -> (
    telemetry_model::PipelineRunRecord,
    Vec<telemetry_model::TelemetrySnapshot>,
) {
    use telemetry_model::{
        PipelineRunRecord, RunStatus, StepExecutionEntry, StepStatus, TelemetrySnapshot, Timestamp,
    };
    let t0 = 1_735_812_000_000i64; // 2025-01-02T10:00:00Z
    let mut record = PipelineRunRecord::new("run-fixture");
    record.pipeline = Some("demo".into());
    record.created_at = Timestamp::from_unix_ms(t0);
    record.completed_at = Some(Timestamp::from_unix_ms(t0 + 25_000));
    record.status = RunStatus::Completed;
    let step = |id: &str, order: u32, start: i64, end: i64| {
        let mut s = StepExecutionEntry::new(id, id.to_uppercase(), order);
        s.status = StepStatus::Completed;
        s.started_at = Some(Timestamp::from_unix_ms(t0 + start));
        s.ended_at = Some(Timestamp::from_unix_ms(t0 + end));
        s.duration_seconds = Some((end - start) as f64 / 1000.0);
        s
    };
    let mut collect = step("collect", 1, 100, 10_250);
    collect.cpu_time_seconds = Some(9.75);
    collect.peak_rss_mb = Some(212.5);
    let train = step("train", 2, 10_300, 24_800);
    let mut export = StepExecutionEntry::new("export", "Export", 3);
    export.status = StepStatus::Skipped;
    record.steps = vec![collect, train, export];
    record.enabled_steps = vec!["collect".into(), "train".into()];
    let snapshots = (0..24)
        .map(|i: i64| {
            let in_train = i >= 10;
            let x = i as f64;
            let mut s = TelemetrySnapshot {
                timestamp_ms: t0 + 1_000 + i * 1_000,
                step_id: Some(if in_train { "train" } else { "collect" }.into()),
                steps_per_sec: Some(1000.0 + 37.3 * x),
                fps: None,
                cpu_percent_process: Some(40.0 + 2.1 * x),
                cpu_percent_system: Some(55.5 + 1.3 * x),
                memory_rss_mb: Some(100.0 + 4.7 * x),
                memory_system_used_mb: Some(3000.25 + x),
                memory_system_total_mb: Some(16_000.0),
                gpu_util_percent: in_train.then_some(10.0 + 3.3 * x),
                gpu_mem_used_mb: in_train.then_some(512.0 + x),
                notes: if in_train {
                    vec![]
                } else {
                    vec!["gpu: NVML unavailable (no device)".into()]
                },
            };
            if i == 7 {
                // A sample where every sensor failed.
                s = TelemetrySnapshot {
                    timestamp_ms: s.timestamp_ms,
                    step_id: s.step_id,
                    notes: vec!["cpu: /proc/stat unreadable".into()],
                    ..TelemetrySnapshot::default()
                };
            }
            s
        })
        .collect();
    (record, snapshots)
}
