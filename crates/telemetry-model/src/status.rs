//! The closed sets of states that records move through.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::StatusParseError;

macro_rules! status_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $kind:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal $(| $alias:literal)* ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[serde(rename = $text $(, alias = $alias)*)]
                $variant,
            )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as written in manifests.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = StatusParseError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text $(| $alias)* => Ok($name::$variant),)+
                    _ => Err(StatusParseError {
                        kind: $kind,
                        input: s.to_owned(),
                        expected: concat!($($text, " "),+),
                    }),
                }
            }
        }
    };
}

status_enum! {
    /// Where a pipeline run is in its life (`PipelineRunRecord::status`).
    RunStatus, "run status" {
        /// Created, no step started yet.
        Pending = "pending",
        /// A writer is working on it (or was, if its lock is free: abandoned).
        Running = "running",
        /// Every enabled step finished without a fatal failure.
        Completed = "completed",
        /// A step failed, or the pipeline raised an error or panicked.
        Failed = "failed",
        /// Stopped by a signal (SIGINT, SIGTERM, SIGHUP) or by the user.
        Cancelled = "cancelled" | "canceled",
    }
}

impl RunStatus {
    /// Whether the run can no longer change (completed, failed, cancelled).
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

status_enum! {
    /// Where one step of a run is (`StepExecutionEntry::status`).
    StepStatus, "step status" {
        /// Not started yet.
        Pending = "pending",
        /// Started, not finished.
        Running = "running",
        /// Finished successfully.
        Completed = "completed",
        /// Finished with an error, or interrupted.
        Failed = "failed",
        /// Disabled or skipped; does not count towards the run's total.
        Skipped = "skipped",
    }
}

impl StepStatus {
    /// Whether the step has finished one way or another.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Skipped)
    }
}

status_enum! {
    /// How urgent a recommendation is.
    Severity, "severity" {
        /// Worth knowing.
        Info = "info",
        /// Likely costing time or money.
        Warning = "warning",
        /// A regression or a run at risk.
        Critical = "critical",
    }
}

status_enum! {
    /// Outcome of a performance smoke test against its baseline.
    PerfStatus, "perf test status" {
        /// At or above the soft tolerance (or no baseline yet).
        Passed = "passed",
        /// Below the soft tolerance but above the hard one.
        SoftBreach = "soft-breach",
        /// Below the hard tolerance: a regression.
        Failed = "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_lower_case_as_listed() {
        let text: Vec<String> = RunStatus::ALL
            .iter()
            .map(|s| serde_json::to_string(s).unwrap())
            .collect();
        assert_eq!(
            text,
            [
                "\"pending\"",
                "\"running\"",
                "\"completed\"",
                "\"failed\"",
                "\"cancelled\""
            ]
        );
        assert_eq!(
            serde_json::to_string(&PerfStatus::SoftBreach).unwrap(),
            "\"soft-breach\""
        );
        assert_eq!(
            serde_json::to_string(&StepStatus::Skipped).unwrap(),
            "\"skipped\""
        );
        assert_eq!(
            serde_json::to_string(&Severity::Critical).unwrap(),
            "\"critical\""
        );
    }

    #[test]
    fn parses_every_value_and_the_american_spelling() {
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>().unwrap(), *s);
        }
        for s in StepStatus::ALL {
            assert_eq!(s.as_str().parse::<StepStatus>().unwrap(), *s);
        }
        let us: RunStatus = serde_json::from_str("\"canceled\"").unwrap();
        assert_eq!(us, RunStatus::Cancelled);
    }

    #[test]
    fn bad_value_names_input_and_choices() {
        let err = "bogus".parse::<RunStatus>().unwrap_err().to_string();
        assert!(err.contains("bogus") && err.contains("cancelled"), "{err}");
    }
}
