//! Time, injected: the real clock in production, a manual one in tests.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};

use telemetry_model::Timestamp;

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that moves only when told to, for deterministic tests.
///
/// ```
/// use progress::{Clock, ManualClock};
/// let clock = ManualClock::starting_at_ms(1_000);
/// clock.advance_secs(2.5);
/// assert_eq!(clock.now().unix_ms(), 3_500);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock {
    ms: AtomicI64,
}

impl ManualClock {
    /// A clock showing `ms` milliseconds after the Unix epoch.
    pub fn starting_at_ms(ms: i64) -> Self {
        Self {
            ms: AtomicI64::new(ms),
        }
    }

    /// Moves the clock forward.
    pub fn advance_secs(&self, secs: f64) {
        self.ms
            .fetch_add((secs * 1000.0).round() as i64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_ms(self.ms.load(Ordering::SeqCst))
    }
}
