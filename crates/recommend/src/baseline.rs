//! How a step's throughput compares with its stored baseline: the verdict
//! that the throughput rule gives and the run summary shows.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The text a summary shows for a step without a stored baseline.
pub const NO_BASELINE: &str = "no baseline";

/// How a step's throughput compares with its baseline.
///
/// Serialised as its text: `"no baseline"`, `"no measurement"`, `"ok"`,
/// `"warning"`, `"critical"`. Ordered from least to most telling, so the
/// run's status is the maximum over its steps.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum BaselineStatus {
    /// No stored baseline (or one that is not a positive number): nothing
    /// is compared, and nothing is made up.
    #[default]
    #[serde(rename = "no baseline")]
    NoBaseline,
    /// A baseline, but no throughput was measured (too few samples).
    #[serde(rename = "no measurement")]
    NoMeasurement,
    /// Above the warning ratio.
    #[serde(rename = "ok")]
    Ok,
    /// At or below the warning ratio.
    #[serde(rename = "warning")]
    Warning,
    /// At or below the critical ratio.
    #[serde(rename = "critical")]
    Critical,
}

impl BaselineStatus {
    /// The text written in summaries ([`NO_BASELINE`] for `NoBaseline`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoBaseline => NO_BASELINE,
            Self::NoMeasurement => "no measurement",
            Self::Ok => "ok",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

impl fmt::Display for BaselineStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
