//! Snapshots handed to the sink a batch at a time
//! (`SamplerConfig::deliver_every`), on flush and at stop.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sampler::{Probe, Sampler, SamplerConfig};

/// A sampler of the machine alone, whose sink records, for each snapshot
/// it gets, how many samples had been started when it got it.
struct Recorded {
    sampler: Sampler,
    started: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<usize>>>,
}

fn start(deliver_every: Duration) -> Recorded {
    let config = SamplerConfig {
        interval: Duration::from_millis(200),
        deliver_every,
        ..SamplerConfig::default()
    };
    let started = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let (counted, started) = (Arc::clone(&started), Arc::clone(&started));
        let seen = Arc::clone(&seen);
        Sampler::start_with_gpu(
            config,
            Box::new(sampler::gpu::Unavailable::new("test")),
            move || {
                counted.fetch_add(1, Ordering::SeqCst);
                Probe::default()
            },
            move |_| seen.lock().unwrap().push(started.load(Ordering::SeqCst)),
        )
    };
    Recorded {
        sampler,
        started,
        seen,
    }
}

/// Waits (at most a minute, however loaded the machine) until `n` samples
/// have been started.
fn wait_started(recorded: &Recorded, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while recorded.started.load(Ordering::SeqCst) < n {
        assert!(
            Instant::now() < deadline,
            "the sampler never took {n} samples"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn snapshots_reach_the_sink_a_batch_at_a_time_and_all_of_them_at_stop() {
    // 600 ms at 200 ms: three to a batch.
    let recorded = start(Duration::from_millis(600));
    wait_started(&recorded, 7);
    let report = recorded.sampler.stop();
    let seen = recorded.seen.lock().unwrap();
    assert_eq!(
        seen.len() as u64,
        report.samples,
        "stop hands over the rest"
    );
    // A batch is handed over right after its third sample, before the
    // next one starts: snapshots 0–2 when 3 had started, 3–5 at 6.
    assert_eq!(seen[..6], [3, 3, 3, 6, 6, 6]);
    let taken = report.samples as usize;
    assert!(
        seen[6..].iter().all(|&at| at == taken || at % 3 == 0),
        "{seen:?}"
    );
}

#[test]
fn without_deliver_every_each_snapshot_is_handed_over_as_taken() {
    let recorded = start(Duration::ZERO);
    wait_started(&recorded, 3);
    let report = recorded.sampler.stop();
    let seen = recorded.seen.lock().unwrap();
    assert_eq!(seen.len() as u64, report.samples);
    assert_eq!(seen[..3], [1, 2, 3]);
}

#[test]
fn a_flush_hands_over_what_was_taken_before_it() {
    // An hour's batch: nothing would reach the sink but for the flushes.
    let recorded = start(Duration::from_secs(3600));
    wait_started(&recorded, 2);
    assert!(recorded.seen.lock().unwrap().is_empty());
    // The first sample was held before the second started.
    recorded.sampler.flush();
    let after_flush = recorded.seen.lock().unwrap().len();
    assert!(after_flush >= 1, "flush handed over nothing");
    wait_started(&recorded, after_flush + 2);
    // From another thread, as a signal handler's would.
    let flusher = recorded.sampler.flusher();
    let from_thread = flusher.clone();
    std::thread::spawn(move || from_thread.flush())
        .join()
        .unwrap();
    assert!(recorded.seen.lock().unwrap().len() > after_flush);
    let report = recorded.sampler.stop();
    assert_eq!(recorded.seen.lock().unwrap().len() as u64, report.samples);
    // Stopped, the sampler's sink is gone: a flusher does nothing.
    assert_eq!(Arc::strong_count(&recorded.seen), 1, "the sink was dropped");
    flusher.flush();
}
