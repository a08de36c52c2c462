//! Data types of the run tracker: what a run, a step, a telemetry sample, a
//! recommendation and a performance test result look like on disk.
//!
//! This is the bottom crate of the workspace: serde types, the schema version,
//! validation of the rules types cannot express, and duration formatting. It
//! does no I/O. Field names are a contract shared with the Python tracker
//! (robot_sf), so its manifests read here unchanged; unknown fields are
//! ignored, and `null` means "unavailable".
//!
//! # Example
//!
//! ```
//! use telemetry_model::{PipelineRunRecord, RunStatus, StepExecutionEntry, StepStatus};
//!
//! // A line the Python tracker wrote: offset timestamps, extra fields.
//! let line = r#"{"run_id": "pipeline-1", "created_at": "2025-01-02T10:00:00.123+00:00",
//!     "status": "running", "enabled_steps": ["collect"], "telemetry": [],
//!     "steps": [{"step_id": "collect", "display_name": "Collect", "order": 1,
//!                "status": "running", "started_at": "2025-01-02T10:00:01.000+00:00"}]}"#;
//! let record: PipelineRunRecord = serde_json::from_str(line)?;
//! assert_eq!(record.status, RunStatus::Running);
//! assert_eq!(record.running_step().map(|s| s.label()), Some("Collect"));
//! assert!(telemetry_model::validate_record(&record).is_empty());
//!
//! // Records written here carry a schema version and UTC timestamps.
//! let mut mine = PipelineRunRecord::new("run-2");
//! mine.steps.push(StepExecutionEntry::new("collect", "Collect", 1));
//! let text = serde_json::to_string(&mine)?;
//! assert!(text.contains(r#""schema_version":1"#));
//! assert_eq!(serde_json::from_str::<PipelineRunRecord>(&text)?, mine);
//! assert_eq!(mine.steps[0].status, StepStatus::Pending);
//! # Ok::<(), serde_json::Error>(())
//! ```
//!
//! # Features
//!
//! None; the crate has no optional parts. Dependents take it with
//! `default-features = false` so that adding features later costs them nothing.

mod error;
mod format;
mod record;
mod status;
mod summary;
mod timestamp;
mod validate;

pub use error::{StatusParseError, TimestampError};
pub use format::{format_duration, format_eta};
pub use record::{
    PerformanceRecommendation, PerformanceTestResult, PipelineRunRecord, SCHEMA_VERSION,
    StepExecutionEntry, TelemetrySnapshot,
};
pub use status::{PerfStatus, RunStatus, Severity, StepStatus};
pub use summary::{
    BaselineStatus, LiveProgress, NO_BASELINE, NotificationOutcome, NotificationRecord, PerfCounts,
    PerfSummary, ResourceAggregate, ResourceSummary, Resumption, RunSummary, Stall,
    StepResourceSummary,
};
pub use timestamp::Timestamp;
pub use validate::{
    Violation, validate_perf_result, validate_recommendation, validate_record, validate_snapshot,
};
