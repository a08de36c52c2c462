//! In-step progress reporting.

/// Receives progress from a running step.
///
/// Steps call [`Progress::update`] at most a couple of hundred times over
/// their whole run (about every 0.5 % of the work) and always finish with a
/// call at `fraction_done == 1.0`. `items_done` is cumulative and never
/// decreases; what an item is depends on the step (environment steps for
/// collection, fine-tuning and evaluation; training samples processed for
/// behaviour cloning), so `items_done / elapsed` is the step's throughput.
pub trait Progress {
    /// `fraction_done` is in `[0, 1]`.
    fn update(&mut self, fraction_done: f64, items_done: u64);

    /// A human-readable note (an epoch's loss, an iteration's return).
    fn message(&mut self, _text: &str) {}
}

/// Ignores all progress.
impl Progress for () {
    fn update(&mut self, _fraction_done: f64, _items_done: u64) {}
}

/// Number of progress buckets: at most this many updates per step.
const BUCKETS: f64 = 200.0;

/// Turns "work done" into throttled [`Progress`] calls.
pub(crate) struct Ticker<'a> {
    progress: &'a mut dyn Progress,
    total: f64,
    done: f64,
    items: u64,
    last_bucket: i64,
}

impl<'a> Ticker<'a> {
    /// `total` units of work (any positive scale).
    pub(crate) fn new(progress: &'a mut dyn Progress, total: f64) -> Self {
        progress.update(0.0, 0);
        Self {
            progress,
            total: total.max(f64::MIN_POSITIVE),
            done: 0.0,
            items: 0,
            last_bucket: 0,
        }
    }

    /// Records `work` more units and `items` more items.
    pub(crate) fn advance(&mut self, work: f64, items: u64) {
        self.done += work;
        self.items += items;
        let fraction = (self.done / self.total).clamp(0.0, 1.0);
        let bucket = (fraction * BUCKETS) as i64;
        if bucket > self.last_bucket && fraction < 1.0 {
            self.last_bucket = bucket;
            self.progress.update(fraction, self.items);
        }
    }

    /// Passes a message through.
    pub(crate) fn message(&mut self, text: &str) {
        self.progress.message(text);
    }

    /// The final `update(1.0, items)`.
    pub(crate) fn finish(self) {
        self.progress.update(1.0, self.items);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Records every update.
    #[derive(Debug, Default)]
    pub(crate) struct Recorder {
        pub(crate) calls: Vec<(f64, u64)>,
        pub(crate) messages: Vec<String>,
    }

    impl Progress for Recorder {
        fn update(&mut self, fraction_done: f64, items_done: u64) {
            self.calls.push((fraction_done, items_done));
        }

        fn message(&mut self, text: &str) {
            self.messages.push(text.to_owned());
        }
    }

    #[test]
    fn ticker_throttles_and_ends_at_one() {
        let mut rec = Recorder::default();
        let mut t = Ticker::new(&mut rec, 10_000.0);
        for _ in 0..10_000 {
            t.advance(1.0, 3);
        }
        t.finish();
        let calls = rec.calls;
        assert!(calls.len() <= 202, "{} calls", calls.len());
        assert_eq!(calls.first(), Some(&(0.0, 0)));
        assert_eq!(calls.last(), Some(&(1.0, 30_000)));
        assert!(
            calls
                .windows(2)
                .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1)
        );
    }
}
