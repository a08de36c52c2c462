//! File names inside a run directory (docs/artifact-layout.md).

/// Append-only run history: records and wrapper lines.
pub const MANIFEST: &str = "manifest.jsonl";
/// Step index, rewritten atomically on every transition.
pub const STEPS: &str = "steps.json";
/// One telemetry sample a line.
pub const TELEMETRY: &str = "telemetry.jsonl";
/// Run summary, JSON.
pub const SUMMARY_JSON: &str = "summary.json";
/// Run summary, Markdown.
pub const SUMMARY_MD: &str = "summary.md";
/// Per-step logs of wrapper steps: `logs/<step_id>.log`.
pub const LOGS_DIR: &str = "logs";
