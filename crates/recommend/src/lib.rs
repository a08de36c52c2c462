//! Deterministic rules that turn telemetry, steps, history and baselines
//! into `PerformanceRecommendation`s, and the run summary aggregates.
//!
//! Status: skeleton. The rules arrive with the telemetry work (SPEC §6);
//! the crate depends on the data model only, never on I/O.
//!
//! # Example
//!
//! ```
//! use telemetry_model::Severity;
//! // Recommendations carry the model's severities.
//! assert_eq!(Severity::Warning.as_str(), "warning");
//! ```

pub use telemetry_model::{PerformanceRecommendation, Severity};
