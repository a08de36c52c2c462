//! Errors of the data model.

/// A timestamp that none of the accepted forms matched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp `{input}`: expected RFC 3339, e.g. 2025-01-01T00:00:00Z")]
#[non_exhaustive]
pub struct TimestampError {
    /// The offending input (shortened when very long).
    pub input: String,
}

/// A status string outside the documented set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} `{input}`: expected one of {expected}")]
#[non_exhaustive]
pub struct StatusParseError {
    /// Which status type was being parsed (`run status`, `step status`, …).
    pub kind: &'static str,
    /// The offending input.
    pub input: String,
    /// The accepted values, comma separated.
    pub expected: &'static str,
}
