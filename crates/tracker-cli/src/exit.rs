//! Exit statuses, documented and mapped in one place.
//!
//! | status | meaning |
//! |---|---|
//! | 0 | success (also: output pipe closed early, `tracker list \| head`) |
//! | 1 | the command worked and reports a failure: a failed run, a failed check |
//! | 2 | usage, configuration or I/O error: bad flag, unknown run, unreadable file |

/// Success.
pub const OK: u8 = 0;
/// The command ran and reports a failure (a failed run or check).
pub const FAILURE: u8 = 1;
/// Bad usage, configuration or I/O.
pub const USAGE: u8 = 2;

/// What a command concluded, as opposed to an error that stopped it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// All good.
    Success,
    /// The command worked and what it reports is a failure.
    Failure,
}

impl Outcome {
    /// The exit status for this outcome.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Success => OK,
            Outcome::Failure => FAILURE,
        }
    }
}
