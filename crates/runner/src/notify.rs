//! Notifications (docs/notify.md): `[[notify]]` rules that run a command or
//! POST to a webhook when a run fails, is cancelled, completes, stalls or
//! gets a recommendation.
//!
//! ```toml
//! [[notify]]
//! on = ["failed", "cancelled", "stalled"]
//! command = "notify-send \"tracker: $TRACKER_EVENT\" \"$TRACKER_MESSAGE\""
//! [[notify]]
//! on = ["failed"]
//! webhook = "https://hooks.example.org/T000/B000"
//! timeout_seconds = 5
//! [[notify]]
//! webhook_env = "SLACK_WEBHOOK_URL"   # the URL, kept out of the file
//! ```
//!
//! The [`Notifier`] is an [`Observer`]: it turns events into one JSON
//! document each (see [`event_document`]) and hands them to a worker thread,
//! so a slow or failing receiver never delays, blocks or fails the run. When
//! the run ends it waits for what is queued, at most [`EXIT_WAIT`], so a
//! cancelled run's notification still goes out before the tracker exits.
//! Each outcome (sent, or failed and why) is recorded in the run's
//! `summary.notifications`; the first failure of each rule is also said to
//! the run's [`Reporter`].

use std::collections::VecDeque;
use std::fmt;
use std::io::{Read as _, Write as _};
use std::ops::Range;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use telemetry_model::{
    NotificationOutcome, NotificationRecord, PerformanceRecommendation, PipelineRunRecord,
    RunStatus, Severity, StepStatus, Timestamp,
};
use toml::Spanned;

use crate::observer::{Event, Observer, ObserverError};
use crate::{Reporter, sys};

/// Time a notification may take when its table sets no `timeout_seconds`:
/// a command's whole run, or each of a webhook's two tries.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest `timeout_seconds` accepted.
pub const MAX_TIMEOUT_SECONDS: f64 = 600.0;
/// Longest the end of a run waits for its notifications still queued or
/// under way; what is not delivered by then is recorded as failed.
pub const EXIT_WAIT: Duration = Duration::from_secs(30);
/// Pause before a webhook's second try.
const RETRY_PAUSE: Duration = Duration::from_millis(500);
/// Lines of a failed step's log sent with its `failed` event.
pub const LOG_TAIL_LINES: usize = 20;
/// Longest log line sent (characters); longer ones are cut.
const LOG_LINE_CHARS: usize = 500;
/// Most notifications recorded in one run's summary; later ones are still
/// sent, and their failures still said.
const MAX_RECORDED: usize = 100;

/// An event a `[[notify]]` rule can be `on`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NotifyOn {
    /// The run ended failed.
    Failed,
    /// The run was cancelled (SIGINT, SIGTERM, SIGHUP).
    Cancelled,
    /// A running step shows no sign of life (docs/notify.md, "Stalls").
    Stalled,
    /// The run completed.
    Completed,
    /// The run got a warning or critical recommendation.
    Recommendation,
}

impl NotifyOn {
    /// Every event, in the order the docs list them.
    pub const ALL: [Self; 5] = [
        Self::Failed,
        Self::Cancelled,
        Self::Stalled,
        Self::Completed,
        Self::Recommendation,
    ];

    /// The events of a table without `on`: the ones someone must act on.
    pub const DEFAULT: [Self; 3] = [Self::Failed, Self::Cancelled, Self::Stalled];

    /// The name in `on` and in the event JSON (`failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Stalled => "stalled",
            Self::Completed => "completed",
            Self::Recommendation => "recommendation",
        }
    }

    /// The event of `name`, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == name)
    }

    fn expected() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|e| e.as_str()).collect();
        names.join(", ")
    }
}

impl fmt::Display for NotifyOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a notification goes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotifyTarget {
    /// A command run with `sh -c`, the event JSON on its stdin.
    Command(String),
    /// An `http://` or `https://` URL the event JSON is POSTed to.
    Webhook(String),
    /// A webhook whose URL is the value of this environment variable, read
    /// when the run starts: a pipeline or project file shared in a
    /// repository then holds no secret. Unset or not a URL, its
    /// notifications fail (said once, recorded each time); the run goes on.
    WebhookEnv(String),
}

impl NotifyTarget {
    /// The target as recorded and said: the command (cut at 60
    /// characters), or `webhook HOST` without the URL's path, which often
    /// holds a secret token.
    pub fn label(&self) -> String {
        match self {
            Self::Command(command) => {
                let mut short: String = command.chars().take(60).collect();
                if short.len() < command.len() {
                    short.push('…');
                }
                format!("command `{short}`")
            }
            Self::Webhook(url) => format!("webhook {}", host_of(url).unwrap_or("?")),
            Self::WebhookEnv(var) => format!("webhook ${var}"),
        }
    }
}

/// The URL a [`NotifyTarget::WebhookEnv`] names, or why there is none
/// (never the value itself, which may be a secret).
fn webhook_from_env(var: &str) -> Result<String, String> {
    let value = std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("${var} is not set"))?;
    let url = value
        .into_string()
        .map_err(|_| format!("${var} is not valid UTF-8"))?;
    check_url(&url).map_err(|e| match e {
        NotifyError::BadUrl { why, .. } => {
            format!("${var} does not hold an http:// or https:// URL with a host: {why}")
        }
        other => format!("${var}: {other}"),
    })?;
    Ok(url)
}

/// Why a notification rule is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// `on` names an event that does not exist.
    #[error("unknown event `{0}` in `on`: expected any of {events}", events = NotifyOn::expected())]
    UnknownEvent(String),
    /// `on` is empty.
    #[error("`on` is empty: list at least one of {events}", events = NotifyOn::expected())]
    NoEvents,
    /// None of `command`, `webhook` and `webhook_env`.
    #[error(
        "needs `command = \"…\"` (run with sh -c, the event JSON on stdin), `webhook = \"https://…\"` (the event JSON POSTed) or `webhook_env = \"VARIABLE\"` (POSTed to the URL in that environment variable)"
    )]
    NoTarget,
    /// More than one of `command`, `webhook` and `webhook_env`.
    #[error(
        "has more than one of `command`, `webhook` and `webhook_env`: give each its own [[notify]] table"
    )]
    TwoTargets,
    /// A `webhook_env` that is not an environment variable's name.
    #[error(
        "`webhook_env` must name an environment variable (letters, digits and _, not starting with a digit), got `{0}`"
    )]
    BadVariable(String),
    /// An empty command, or one with a NUL.
    #[error("`command` must be a non-empty shell command without NUL")]
    BadCommand,
    /// A webhook that is not an http(s) URL with a host.
    #[error("`webhook` must be an http:// or https:// URL with a host, got `{url}`: {why}")]
    BadUrl {
        /// The value given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// A timeout out of range.
    #[error("`timeout_seconds` must be more than 0 and at most {MAX_TIMEOUT_SECONDS}, got {0}")]
    BadTimeout(f64),
}

/// One `[[notify]]` rule: which events go where.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct NotifyRule {
    /// The events it sends.
    pub on: Vec<NotifyOn>,
    /// Where they go.
    pub target: NotifyTarget,
    /// How long a command may run, or each webhook try may take.
    pub timeout: Duration,
    /// Where a command runs (the pipeline file's or `tracker.toml`'s
    /// directory).
    pub dir: PathBuf,
    /// Where the rule was declared (`pipeline.toml [[notify]] #2`), for
    /// warnings.
    pub origin: String,
}

impl NotifyRule {
    /// A rule running `command` (with `sh -c`, in `dir`) on `on`.
    ///
    /// ```
    /// use runner::{NotifyOn, NotifyRule};
    /// let rule = NotifyRule::command(&[NotifyOn::Failed], "notify-send failed", ".")?;
    /// assert_eq!(rule.target.label(), "command `notify-send failed`");
    /// assert!(NotifyRule::command(&[NotifyOn::Failed], " ", ".").is_err());
    /// # Ok::<(), runner::NotifyError>(())
    /// ```
    pub fn command(
        on: &[NotifyOn],
        command: impl Into<String>,
        dir: impl Into<PathBuf>,
    ) -> Result<Self, NotifyError> {
        let command = command.into();
        if command.trim().is_empty() || command.contains('\0') {
            return Err(NotifyError::BadCommand);
        }
        Self::new(on, NotifyTarget::Command(command), dir.into())
    }

    /// A rule POSTing to `url` on `on`.
    ///
    /// ```
    /// use runner::{NotifyOn, NotifyRule};
    /// let rule = NotifyRule::webhook(&[NotifyOn::Failed], "https://hooks.example.org/T0/B0")?;
    /// assert_eq!(rule.target.label(), "webhook hooks.example.org");
    /// let err = NotifyRule::webhook(&[NotifyOn::Failed], "hooks.example.org").unwrap_err();
    /// assert!(err.to_string().contains("http:// or https://"), "{err}");
    /// # Ok::<(), runner::NotifyError>(())
    /// ```
    pub fn webhook(on: &[NotifyOn], url: &str) -> Result<Self, NotifyError> {
        check_url(url)?;
        Self::new(
            on,
            NotifyTarget::Webhook(url.to_owned()),
            PathBuf::from("."),
        )
    }

    /// A rule POSTing on `on` to the URL that the environment variable
    /// `var` holds when the run starts. The name is checked here; the
    /// value, when the run starts (unset, the rule's notifications fail
    /// and the run goes on).
    ///
    /// ```
    /// use runner::{NotifyOn, NotifyRule};
    /// let rule = NotifyRule::webhook_env(&[NotifyOn::Failed], "SLACK_WEBHOOK_URL")?;
    /// assert_eq!(rule.target.label(), "webhook $SLACK_WEBHOOK_URL");
    /// assert!(NotifyRule::webhook_env(&[NotifyOn::Failed], "$SLACK").is_err());
    /// # Ok::<(), runner::NotifyError>(())
    /// ```
    pub fn webhook_env(on: &[NotifyOn], var: &str) -> Result<Self, NotifyError> {
        let mut chars = var.chars();
        let valid = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(NotifyError::BadVariable(var.escape_debug().to_string()));
        }
        Self::new(
            on,
            NotifyTarget::WebhookEnv(var.to_owned()),
            PathBuf::from("."),
        )
    }

    fn new(on: &[NotifyOn], target: NotifyTarget, dir: PathBuf) -> Result<Self, NotifyError> {
        if on.is_empty() {
            return Err(NotifyError::NoEvents);
        }
        let mut events = Vec::with_capacity(on.len());
        for event in on {
            if !events.contains(event) {
                events.push(*event);
            }
        }
        let origin = target.label();
        Ok(Self {
            on: events,
            target,
            timeout: DEFAULT_TIMEOUT,
            dir,
            origin,
        })
    }

    /// The same rule with another timeout (more than 0, at most
    /// [`MAX_TIMEOUT_SECONDS`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self, NotifyError> {
        let secs = timeout.as_secs_f64();
        if !(secs > 0.0 && secs <= MAX_TIMEOUT_SECONDS) {
            return Err(NotifyError::BadTimeout(secs));
        }
        self.timeout = timeout;
        Ok(self)
    }

    /// Whether it sends `event`.
    pub fn wants(&self, event: NotifyOn) -> bool {
        self.on.contains(&event)
    }
}

/// The host of an http(s) URL.
fn host_of(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let host = if host_port.starts_with('[') {
        host_port.split_inclusive(']').next()?
    } else {
        host_port.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
}

fn check_url(url: &str) -> Result<(), NotifyError> {
    let bad = |why: &str| NotifyError::BadUrl {
        url: url.to_owned(),
        why: why.to_owned(),
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(bad("it does not start with http:// or https://"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains spaces or control characters"));
    }
    if host_of(url).is_none() {
        return Err(bad("it has no host"));
    }
    url.parse::<ureq::http::Uri>()
        .map_err(|e| bad(&e.to_string()))?;
    Ok(())
}

/// A `[[notify]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotifyTable {
    #[serde(default)]
    on: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    command: Option<Spanned<String>>,
    #[serde(default)]
    webhook: Option<Spanned<String>>,
    #[serde(default)]
    webhook_env: Option<Spanned<String>>,
    #[serde(default)]
    timeout_seconds: Option<Spanned<f64>>,
}

/// The rules of `[[notify]]` tables (commands run in `dir`; `file` names
/// the file in each rule's origin). Errors carry the span they are about.
pub(crate) fn rules_from_tables(
    tables: Vec<Spanned<NotifyTable>>,
    dir: &Path,
    file: &str,
) -> Result<Vec<NotifyRule>, (Option<Range<usize>>, String)> {
    let mut rules = Vec::with_capacity(tables.len());
    for (i, table) in tables.into_iter().enumerate() {
        let n = i + 1;
        let span = table.span();
        let table = table.into_inner();
        let at = |span: Range<usize>, e: NotifyError| (Some(span), format!("[[notify]] #{n}: {e}"));
        let mut on = Vec::new();
        let on_span = table.on.as_ref().map(Spanned::span);
        match table.on {
            None => on.extend(NotifyOn::DEFAULT),
            Some(names) => {
                for name in names.into_inner() {
                    match NotifyOn::parse(name.get_ref()) {
                        Some(event) => on.push(event),
                        None => {
                            let e = NotifyError::UnknownEvent(
                                name.get_ref().escape_debug().to_string(),
                            );
                            return Err(at(name.span(), e));
                        }
                    }
                }
            }
        }
        let rule = match (table.command, table.webhook, table.webhook_env) {
            (None, None, None) => Err((span.clone(), NotifyError::NoTarget)),
            (Some(command), None, None) => {
                let command_span = command.span();
                NotifyRule::command(&on, command.into_inner(), dir).map_err(|e| (command_span, e))
            }
            (None, Some(url), None) => {
                let url_span = url.span();
                NotifyRule::webhook(&on, url.get_ref()).map_err(|e| (url_span, e))
            }
            (None, None, Some(var)) => {
                let var_span = var.span();
                NotifyRule::webhook_env(&on, var.get_ref()).map_err(|e| (var_span, e))
            }
            // At the second target, in the order the keys are listed here.
            (Some(_), Some(second), _)
            | (Some(_), None, Some(second))
            | (None, Some(_), Some(second)) => Err((second.span(), NotifyError::TwoTargets)),
        };
        let rule = rule.map_err(|(span, e)| match e {
            NotifyError::NoEvents => at(on_span.clone().unwrap_or(span), e),
            e => at(span, e),
        })?;
        let mut rule = match table.timeout_seconds {
            None => rule,
            Some(t) => {
                let secs = *t.get_ref();
                let timeout = Duration::try_from_secs_f64(secs)
                    .ok()
                    .filter(|_| secs > 0.0);
                timeout
                    .ok_or(NotifyError::BadTimeout(secs))
                    .and_then(|timeout| rule.with_timeout(timeout))
                    .map_err(|e| at(t.span(), e))?
            }
        };
        rule.origin = format!("{} ({file} [[notify]] #{n})", rule.target.label());
        rules.push(rule);
    }
    Ok(rules)
}

/// The `[[notify]]` tables of a project file (`tracker.toml`), for every
/// pipeline run in the project; commands run in the file's directory.
/// Every other key of the file is left to its own reader
/// (`manifest::ProjectConfig`). Errors name the file, the line and the table.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("tracker.toml");
/// std::fs::write(&path, "artifact_root = \"out\"\n[[notify]]\non = [\"failed\"]\nwebhook = \"http://127.0.0.1:9/x\"\n")?;
/// let rules = runner::project_notify_rules(&path)?;
/// assert_eq!(rules[0].target.label(), "webhook 127.0.0.1");
///
/// std::fs::write(&path, "[[notify]]\non = [\"fialed\"]\ncommand = \"true\"\n")?;
/// let err = runner::project_notify_rules(&path).unwrap_err().to_string();
/// assert!(err.ends_with(":2:7: key `on`: [[notify]] #1: unknown event `fialed` in `on`: \
///     expected any of failed, cancelled, stalled, completed, recommendation"), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn project_notify_rules(path: &Path) -> Result<Vec<NotifyRule>, crate::PipelineError> {
    #[derive(Deserialize)]
    struct Project {
        #[serde(default)]
        notify: Vec<Spanned<NotifyTable>>,
    }
    let text = std::fs::read_to_string(path).map_err(|e| crate::PipelineError {
        path: path.to_owned(),
        line: None,
        key: None,
        message: format!("cannot read: {e}"),
        located: false,
    })?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    toml::from_str::<Project>(&text)
        .map_err(|e| (e.span(), e.message().trim().to_owned()))
        .and_then(|project| rules_from_tables(project.notify, dir, &file))
        .map_err(|(span, message)| crate::pipeline::located_error(path, &text, span, message))
}

/// The last [`LOG_TAIL_LINES`] lines of a log file (lossy UTF-8, long lines
/// cut), read from its end only.
pub(crate) fn log_tail(path: &Path) -> Vec<String> {
    const MAX_READ: u64 = 64 * 1024;
    let Ok(mut file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let start = len.saturating_sub(MAX_READ);
    if std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(start)).is_err() {
        return Vec::new();
    }
    let mut bytes = Vec::new();
    if file.take(MAX_READ).read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        lines.remove(0); // cut by the read
    }
    let from = lines.len().saturating_sub(LOG_TAIL_LINES);
    lines[from..]
        .iter()
        .map(|line| line.chars().take(LOG_LINE_CHARS).collect())
        .collect()
}

/// The step a run-level event is about: the failed one (the last to fail)
/// for a failed or cancelled run, else none.
fn step_of(record: &PipelineRunRecord) -> Option<&telemetry_model::StepExecutionEntry> {
    record
        .steps
        .iter()
        .filter(|s| s.status == StepStatus::Failed)
        .max_by_key(|s| s.ended_at.map(|t| t.unix_ms()))
}

/// What an event is about, beyond the run's record.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum EventDetail<'a> {
    /// The run ended (`failed`, `cancelled`, `completed`).
    Ended,
    /// A step stalled.
    Stalled {
        /// The step.
        step_id: &'a str,
        /// Its last sign of life.
        since: Timestamp,
        /// Seconds of silence that made it a stall.
        stall_seconds: f64,
    },
    /// A recommendation was recorded.
    Recommendation(&'a PerformanceRecommendation),
}

/// The JSON document of one event, as sent to commands (stdin) and
/// webhooks (the body); docs/notify.md lists its fields.
///
/// ```
/// use runner::{EventDetail, NotifyOn, event_document};
/// let mut record = telemetry_model::PipelineRunRecord::new("r1");
/// record.pipeline = Some("demo".into());
/// record.status = telemetry_model::RunStatus::Completed;
/// let doc = event_document(NotifyOn::Completed, &record, "/runs/r1".as_ref(), EventDetail::Ended);
/// assert_eq!(doc["event"], "completed");
/// assert_eq!(doc["run_id"], "r1");
/// assert_eq!(doc["text"], "demo: run r1 completed");
/// assert_eq!(doc["report"], "/runs/r1/report.html");
/// ```
pub fn event_document(
    event: NotifyOn,
    record: &PipelineRunRecord,
    run_dir: &Path,
    detail: EventDetail<'_>,
) -> Value {
    let pipeline = record.pipeline.as_deref().unwrap_or("?");
    let step_json = |step: &telemetry_model::StepExecutionEntry| {
        json!({
            "id": step.step_id,
            "name": step.label(),
            "status": step.status,
            "exit_code": step.exit_code,
            "duration_seconds": step.duration_seconds,
            "log": run_dir.join(manifest::files::LOGS_DIR).join(format!("{}.log", step.step_id)),
        })
    };
    let mut doc = json!({
        "event": event.as_str(),
        "run_id": record.run_id,
        "pipeline": record.pipeline,
        "host": record.host,
        "status": record.status,
        "at": Timestamp::now(),
        "run_dir": run_dir,
        "report": run_dir.join(crate::REPORT_FILE),
    });
    let text;
    match detail {
        EventDetail::Ended => {
            let step = step_of(record).filter(|_| event != NotifyOn::Completed);
            let reason = record.summary.reason.as_deref();
            text = match (step, reason) {
                (_, Some(reason)) => format!("{pipeline}: run {} {event}: {reason}", record.run_id),
                (Some(step), None) => format!(
                    "{pipeline}: run {} {event} at step {}",
                    record.run_id, step.step_id
                ),
                (None, None) => format!("{pipeline}: run {} {event}", record.run_id),
            };
            doc["reason"] = json!(reason);
            if let Some(step) = step {
                doc["step"] = step_json(step);
                doc["log_tail"] = json!(log_tail(
                    &run_dir
                        .join(manifest::files::LOGS_DIR)
                        .join(format!("{}.log", step.step_id))
                ));
            }
        }
        EventDetail::Stalled {
            step_id,
            since,
            stall_seconds,
        } => {
            text = format!(
                "{pipeline}: run {}: step {step_id} stalled: no progress, output or CPU for {}",
                record.run_id,
                telemetry_model::format_duration(stall_seconds)
            );
            if let Some(step) = record.step(step_id) {
                doc["step"] = step_json(step);
            }
            doc["stalled_since"] = json!(since);
            doc["stall_seconds"] = json!(stall_seconds);
        }
        EventDetail::Recommendation(rec) => {
            text = format!(
                "{pipeline}: run {}: [{}] {}",
                record.run_id, rec.severity, rec.message
            );
            doc["recommendation"] = json!(rec);
        }
    }
    doc["text"] = json!(text);
    doc
}

/// One notification to deliver.
struct Job {
    rule: usize,
    event: NotifyOn,
    step_id: Option<String>,
    body: Vec<u8>,
    text: String,
}

#[derive(Default)]
struct QueueState {
    jobs: VecDeque<Job>,
    /// The job being delivered, and its command's process group.
    in_flight: Option<(NotifyOn, Option<String>, usize, Option<u32>)>,
    closed: bool,
    /// The run ended and stopped waiting: outcomes are no longer recorded.
    abandoned: bool,
}

struct Shared {
    state: Mutex<QueueState>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Where outcomes go: the run's summary (see [`Notifier::new`]).
pub type Recorder = Arc<dyn Fn(NotificationRecord) + Send + Sync>;

/// Sends a run's notifications: an [`Observer`] with a worker thread.
pub struct Notifier {
    rules: Arc<Vec<NotifyRule>>,
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
    run_dir: PathBuf,
    recorder: Recorder,
    exit_wait: Duration,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// A notifier sending by `rules`; each outcome goes to `record` (the
    /// runner records it in the run's summary), the first failure of each
    /// rule to `reporter`. The end of the run waits at most `exit_wait` for
    /// what is still queued.
    pub fn new(
        rules: Vec<NotifyRule>,
        record: Recorder,
        reporter: Arc<dyn Reporter>,
        exit_wait: Duration,
    ) -> Self {
        // Webhooks from the environment are read once, now; one whose
        // variable is unset or wrong is said now, rather than at the first
        // event (at the end of a long run).
        let env_urls: Vec<Option<Result<String, String>>> = rules
            .iter()
            .map(|rule| match &rule.target {
                NotifyTarget::WebhookEnv(var) => Some(webhook_from_env(var)),
                _ => None,
            })
            .collect();
        let warned: Vec<bool> = rules
            .iter()
            .zip(&env_urls)
            .map(|(rule, url)| {
                let Some(Err(why)) = url else {
                    return false;
                };
                reporter.warn(&format!(
                    "notifications by {} will fail: {why}; the run goes on (each is recorded as failed)",
                    rule.origin
                ));
                true
            })
            .collect();
        let targets = Targets { env_urls, warned };
        let rules = Arc::new(rules);
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            changed: Condvar::new(),
        });
        let recorded = Arc::new(Mutex::new(0));
        let recorder: Recorder = {
            let recorded = Arc::clone(&recorded);
            Arc::new(move |entry| {
                let mut n = recorded.lock().unwrap_or_else(PoisonError::into_inner);
                if *n < MAX_RECORDED {
                    *n += 1;
                    record(entry);
                }
            })
        };
        let worker = {
            let rules = Arc::clone(&rules);
            let shared = Arc::clone(&shared);
            let recorder = Arc::clone(&recorder);
            std::thread::Builder::new()
                .name("notify".into())
                .spawn(move || work(&rules, targets, &shared, &recorder, &*reporter))
                .ok()
        };
        Self {
            rules,
            shared,
            worker,
            run_dir: PathBuf::new(),
            recorder,
            exit_wait,
        }
    }

    fn enqueue(
        &self,
        event: NotifyOn,
        record: &PipelineRunRecord,
        step_id: Option<&str>,
        detail: EventDetail<'_>,
    ) {
        let wanted: Vec<usize> = (0..self.rules.len())
            .filter(|i| self.rules[*i].wants(event))
            .collect();
        if wanted.is_empty() {
            return;
        }
        let doc = event_document(event, record, &self.run_dir, detail);
        let text = doc["text"].as_str().unwrap_or_default().to_owned();
        let body = serde_json::to_vec(&doc).unwrap_or_default();
        let mut state = self.shared.lock();
        for rule in wanted {
            state.jobs.push_back(Job {
                rule,
                event,
                step_id: step_id.map(str::to_owned),
                body: body.clone(),
                text: text.clone(),
            });
        }
        drop(state);
        self.shared.changed.notify_all();
    }

    /// Waits for the queue to empty, at most `exit_wait`; records what is
    /// left as not delivered, then stops the worker.
    fn drain(&mut self) {
        let deadline = Instant::now() + self.exit_wait;
        let mut state = self.shared.lock();
        while !state.jobs.is_empty() || state.in_flight.is_some() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state.closed = true;
        let stuck = !state.jobs.is_empty() || state.in_flight.is_some();
        if stuck {
            state.abandoned = true;
            let why = format!(
                "not delivered: the run ended and its notifications had {} to go out",
                telemetry_model::format_duration(self.exit_wait.as_secs_f64())
            );
            let mut left: Vec<(NotifyOn, Option<String>, usize)> = state
                .in_flight
                .take()
                .map(|(event, step, rule, pgid)| {
                    if let Some(pgid) = pgid {
                        sys::signal_group(pgid, libc::SIGKILL);
                    }
                    (event, step, rule)
                })
                .into_iter()
                .collect();
            left.extend(state.jobs.drain(..).map(|j| (j.event, j.step_id, j.rule)));
            for (event, step_id, rule) in left {
                (self.recorder)(NotificationRecord {
                    event: event.as_str().to_owned(),
                    step_id,
                    target: self.rules[rule].target.label(),
                    outcome: NotificationOutcome::Failed,
                    reason: Some(why.clone()),
                    attempts: 0,
                    at: Timestamp::now(),
                });
            }
        }
        drop(state);
        self.shared.changed.notify_all();
        if let Some(worker) = self.worker.take()
            && !stuck
        {
            let _ = worker.join();
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        // A session dropped without its end (an error): the worker sends
        // what is queued and ends; nobody waits for it.
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
    }
}

impl Observer for Notifier {
    fn name(&self) -> &str {
        "notifications"
    }

    fn observe(&mut self, event: &Event<'_>) -> Result<(), ObserverError> {
        match *event {
            Event::Started { run_dir, .. } => self.run_dir = run_dir.to_owned(),
            Event::Stalled {
                step_id,
                since,
                stall_seconds,
                record,
            } => self.enqueue(
                NotifyOn::Stalled,
                record,
                Some(step_id),
                EventDetail::Stalled {
                    step_id,
                    since,
                    stall_seconds,
                },
            ),
            Event::Recommendation {
                recommendation,
                record,
            } => {
                if matches!(
                    recommendation.severity,
                    Severity::Warning | Severity::Critical
                ) {
                    self.enqueue(
                        NotifyOn::Recommendation,
                        record,
                        recommendation
                            .evidence
                            .get("step_id")
                            .and_then(Value::as_str),
                        EventDetail::Recommendation(recommendation),
                    );
                }
            }
            Event::Ended(record) => {
                let kind = match record.status {
                    RunStatus::Completed => Some(NotifyOn::Completed),
                    RunStatus::Failed => Some(NotifyOn::Failed),
                    RunStatus::Cancelled => Some(NotifyOn::Cancelled),
                    _ => None,
                };
                if let Some(kind) = kind {
                    let step = step_of(record)
                        .filter(|_| kind != NotifyOn::Completed)
                        .map(|s| s.step_id.clone());
                    self.enqueue(kind, record, step.as_deref(), EventDetail::Ended);
                }
                self.drain();
            }
            _ => {}
        }
        Ok(())
    }
}

/// The notifier of a run under `settings`: outcomes recorded in the
/// tracker's summary (`summary.notifications`) and persisted at once; once
/// the run has ended, `summary.json` and `summary.md` are written again too.
pub(crate) fn notifier_for(
    settings: &crate::Settings,
    tracker: &Arc<progress::ProgressTracker>,
    reporter: &Arc<dyn Reporter>,
) -> Notifier {
    let tracker = Arc::downgrade(tracker);
    let record: Recorder = Arc::new(move |entry| {
        let Some(tracker) = tracker.upgrade() else {
            return;
        };
        tracker.update_summary(|s| s.notifications.push(entry));
        let ended = !matches!(
            tracker.record().status,
            RunStatus::Pending | RunStatus::Running
        );
        // A record that cannot be written now is written with the next one.
        let _ = if ended {
            tracker.rewrite_summary()
        } else {
            tracker.persist()
        };
    });
    Notifier::new(
        settings.notify.clone(),
        record,
        Arc::clone(reporter),
        settings.notify_wait,
    )
}

/// What the worker knows of each rule beyond the rule itself.
struct Targets {
    /// For a [`NotifyTarget::WebhookEnv`] rule, its URL as read when the
    /// run started, or why there is none.
    env_urls: Vec<Option<Result<String, String>>>,
    /// The rule's failures have been said already.
    warned: Vec<bool>,
}

/// The worker: delivers jobs in order until the queue is closed and empty.
fn work(
    rules: &[NotifyRule],
    targets: Targets,
    shared: &Shared,
    record: &Recorder,
    reporter: &dyn Reporter,
) {
    let Targets {
        env_urls,
        mut warned,
    } = targets;
    loop {
        let job = {
            let mut state = shared.lock();
            loop {
                if state.abandoned {
                    return;
                }
                if let Some(job) = state.jobs.pop_front() {
                    state.in_flight = Some((job.event, job.step_id.clone(), job.rule, None));
                    break job;
                }
                if state.closed {
                    return;
                }
                state = shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        let rule = &rules[job.rule];
        let (result, attempts) = match &rule.target {
            NotifyTarget::Command(command) => {
                let started = |pgid: u32| {
                    if let Some(flight) = shared.lock().in_flight.as_mut() {
                        flight.3 = Some(pgid);
                    }
                };
                (run_command(command, rule, &job, started), 1)
            }
            NotifyTarget::Webhook(url) => post(url, rule.timeout, &job.body),
            NotifyTarget::WebhookEnv(var) => match &env_urls[job.rule] {
                Some(Ok(url)) => post(url, rule.timeout, &job.body),
                Some(Err(why)) => (Err(why.clone()), 0),
                None => (Err(format!("${var} was not read")), 0),
            },
        };
        let mut state = shared.lock();
        if state.abandoned {
            return;
        }
        let entry = NotificationRecord {
            event: job.event.as_str().to_owned(),
            step_id: job.step_id.clone(),
            target: rule.target.label(),
            outcome: if result.is_ok() {
                NotificationOutcome::Sent
            } else {
                NotificationOutcome::Failed
            },
            reason: result.as_ref().err().cloned(),
            attempts,
            at: Timestamp::now(),
        };
        record(entry);
        if let Err(why) = &result
            && !std::mem::replace(&mut warned[job.rule], true)
        {
            reporter.warn(&format!(
                "{} notification by {} failed: {why}; the run goes on (later failures of it are recorded, not said)",
                job.event, rule.origin
            ));
        }
        state.in_flight = None;
        drop(state);
        shared.changed.notify_all();
    }
}

/// Runs a rule's command with the event on stdin; `Err` says why it failed.
fn run_command(
    command: &str,
    rule: &NotifyRule,
    job: &Job,
    started: impl FnOnce(u32),
) -> Result<(), String> {
    let doc: Value = serde_json::from_slice(&job.body).unwrap_or(Value::Null);
    let text_of = |key: &str| doc[key].as_str().unwrap_or_default().to_owned();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(&rule.dir)
        .env("TRACKER_EVENT", job.event.as_str())
        .env("TRACKER_MESSAGE", &job.text)
        .env(crate::env::RUN_ID, text_of("run_id"))
        .env(crate::env::RUN_DIR, text_of("run_dir"))
        .env_remove(crate::env::STEP_ID)
        .env_remove(crate::env::PROGRESS)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // Its own group: a Ctrl-C at the terminal that cancels the run does
        // not stop the notification of the cancellation.
        .process_group(0);
    if let Some(step) = &job.step_id {
        cmd.env(crate::env::STEP_ID, step);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start sh -c: {e}"))?;
    started(child.id());
    if let Some(mut stdin) = child.stdin.take() {
        let body = job.body.clone();
        // A command that does not read its stdin must not block the worker.
        let _ = std::thread::Builder::new()
            .name("notify-stdin".into())
            .spawn(move || {
                let _ = stdin.write_all(&body);
                let _ = stdin.write_all(b"\n");
            });
    }
    let (tx, rx) = std::sync::mpsc::channel();
    if let Some(stderr) = child.stderr.take() {
        let _ = std::thread::Builder::new()
            .name("notify-stderr".into())
            .spawn(move || {
                let mut kept = Vec::new();
                let _ = stderr.take(4096).read_to_end(&mut kept);
                let _ = tx.send(kept);
            });
    }
    let deadline = Instant::now() + rule.timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                sys::signal_group(child.id(), libc::SIGKILL);
                let _ = child.wait();
                return Err(format!(
                    "timed out after {} (killed)",
                    telemetry_model::format_duration(rule.timeout.as_secs_f64())
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("cannot wait for sh -c: {e}")),
        }
    };
    if status.success() {
        return Ok(());
    }
    let stderr = rx
        .recv_timeout(Duration::from_millis(200))
        .unwrap_or_default();
    let last = String::from_utf8_lossy(&stderr)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| format!(": {}", l.trim().chars().take(200).collect::<String>()))
        .unwrap_or_default();
    use std::os::unix::process::ExitStatusExt as _;
    Err(match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}{last}"),
        (None, Some(signal)) => format!("killed by signal {signal}{last}"),
        _ => format!("ended abnormally{last}"),
    })
}

/// POSTs `body` to `url`: one try, and one more after a pause when the
/// first could not connect, timed out or got a 5xx or 429. Returns the
/// outcome and the tries made.
fn post(url: &str, timeout: Duration, body: &[u8]) -> (Result<(), String>, u32) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("tracker/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (result, retry) = post_once(&agent, url, timeout, body);
        if result.is_ok() || !retry || attempts == 2 {
            return (result, attempts);
        }
        std::thread::sleep(RETRY_PAUSE);
    }
}

/// One POST; the outcome and whether another try may do better.
fn post_once(
    agent: &ureq::Agent,
    url: &str,
    timeout: Duration,
    body: &[u8],
) -> (Result<(), String>, bool) {
    let response = agent
        .post(url)
        .header("content-type", "application/json")
        .send(body);
    match response {
        Ok(mut response) => {
            let status = response.status().as_u16();
            if (200..300).contains(&status) {
                return (Ok(()), false);
            }
            let text = response
                .body_mut()
                .with_config()
                .limit(2048)
                .read_to_string()
                .unwrap_or_default();
            let text: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
            let why = if text.trim().is_empty() {
                format!("HTTP {status}")
            } else {
                format!("HTTP {status}: {}", text.trim())
            };
            (Err(why), status >= 500 || status == 429)
        }
        Err(ureq::Error::Timeout(_)) => (
            Err(format!(
                "timed out after {}",
                telemetry_model::format_duration(timeout.as_secs_f64())
            )),
            true,
        ),
        Err(e) => (Err(e.to_string()), true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CollectingReporter;

    fn parse(text: &str) -> Result<Vec<NotifyRule>, String> {
        #[derive(Deserialize)]
        struct F {
            #[serde(default)]
            notify: Vec<Spanned<NotifyTable>>,
        }
        let f: F = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        rules_from_tables(f.notify, Path::new("/p"), "p.toml").map_err(|(_, m)| m)
    }

    #[test]
    fn tables_become_rules() {
        let rules = parse(
            "[[notify]]\non = [\"failed\", \"stalled\", \"failed\"]\ncommand = \"echo hi\"\n\
             [[notify]]\nwebhook = \"https://hooks.example.org/T0/B0/secret\"\ntimeout_seconds = 2.5\n\
             [[notify]]\nwebhook_env = \"SLACK_WEBHOOK_URL\"\n",
        )
        .unwrap();
        assert_eq!(rules[0].on, [NotifyOn::Failed, NotifyOn::Stalled]);
        assert_eq!(rules[0].target, NotifyTarget::Command("echo hi".into()));
        assert_eq!(rules[0].dir, Path::new("/p"));
        assert_eq!(rules[0].timeout, DEFAULT_TIMEOUT);
        assert_eq!(rules[1].on, NotifyOn::DEFAULT);
        assert_eq!(rules[1].timeout, Duration::from_millis(2500));
        assert_eq!(
            rules[1].origin,
            "webhook hooks.example.org (p.toml [[notify]] #2)"
        );
        assert_eq!(
            rules[2].target,
            NotifyTarget::WebhookEnv("SLACK_WEBHOOK_URL".into())
        );
        assert_eq!(
            rules[2].origin,
            "webhook $SLACK_WEBHOOK_URL (p.toml [[notify]] #3)"
        );
    }

    #[test]
    fn bad_tables_say_which_and_what_was_expected() {
        let cases = [
            (
                "[[notify]]\non = [\"fialed\"]\ncommand = \"x\"\n",
                "[[notify]] #1: unknown event `fialed` in `on`: expected any of failed, cancelled, stalled, completed, recommendation",
            ),
            (
                "[[notify]]\ncommand = \"x\"\n[[notify]]\non = [\"failed\"]\n",
                "[[notify]] #2: needs `command",
            ),
            (
                "[[notify]]\ncommand = \"x\"\nwebhook = \"http://h/\"\n",
                "[[notify]] #1: has more than one of `command`, `webhook` and `webhook_env`",
            ),
            (
                "[[notify]]\nwebhook = \"http://h/\"\nwebhook_env = \"HOOK\"\n",
                "[[notify]] #1: has more than one of",
            ),
            (
                "[[notify]]\nwebhook_env = \"$SLACK\"\n",
                "[[notify]] #1: `webhook_env` must name an environment variable (letters, digits and _, not starting with a digit), got `$SLACK`",
            ),
            ("[[notify]]\nwebhook_env = \"1X\"\n", "got `1X`"),
            ("[[notify]]\nwebhook_env = \"\"\n", "got ``"),
            ("[[notify]]\nwebhook_env = \"A-B\"\n", "got `A-B`"),
            (
                "[[notify]]\nwebhook = \"ftp://h/x\"\n",
                "[[notify]] #1: `webhook` must be an http:// or https:// URL with a host, got `ftp://h/x`",
            ),
            ("[[notify]]\nwebhook = \"http:///x\"\n", "it has no host"),
            ("[[notify]]\nwebhook = \"http://h/a b\"\n", "spaces"),
            ("[[notify]]\non = []\ncommand = \"x\"\n", "`on` is empty"),
            ("[[notify]]\ncommand = \"  \"\n", "non-empty shell command"),
            (
                "[[notify]]\ncommand = \"x\"\ntimeout_seconds = 0\n",
                "`timeout_seconds` must be more than 0",
            ),
            (
                "[[notify]]\ncommand = \"x\"\ntimeout_seconds = 1e9\n",
                "`timeout_seconds` must be more than 0",
            ),
            (
                "[[notify]]\ncommand = \"x\"\nevents = []\n",
                "unknown field `events`",
            ),
        ];
        for (text, want) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.contains(want), "{text}\ngot:  {err}\nwant: {want}");
        }
    }

    /// A variable no test environment sets.
    const UNSET: &str = "TRACKER_TEST_NOTIFY_HOOK_NEVER_SET_7F3A";

    #[test]
    fn a_webhook_from_the_environment_needs_a_url_there_and_never_shows_it() {
        assert_eq!(
            webhook_from_env(UNSET).unwrap_err(),
            format!("${UNSET} is not set")
        );
        // PATH is set wherever tests run, and is no URL; its value is not
        // said (a wrong secret is still a secret).
        let path = std::env::var("PATH").unwrap();
        let why = webhook_from_env("PATH").unwrap_err();
        assert!(
            why.starts_with("$PATH does not hold an http:// or https:// URL with a host: "),
            "{why}"
        );
        assert!(!why.contains(&path), "{why}");
    }

    #[test]
    fn an_unset_webhook_variable_is_said_once_when_the_run_starts_and_each_event_recorded_failed() {
        let rule =
            NotifyRule::webhook_env(&[NotifyOn::Completed, NotifyOn::Failed], UNSET).unwrap();
        let reporter = Arc::new(CollectingReporter::default());
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let record: Recorder = {
            let recorded = Arc::clone(&recorded);
            Arc::new(move |entry| recorded.lock().unwrap().push(entry))
        };
        let mut notifier = Notifier::new(
            vec![rule],
            record,
            Arc::clone(&reporter) as Arc<dyn Reporter>,
            Duration::from_secs(5),
        );
        assert_eq!(
            reporter.take(),
            [format!(
                "warning: notifications by webhook ${UNSET} will fail: ${UNSET} is not set; the run goes on (each is recorded as failed)"
            )]
        );
        let mut run = PipelineRunRecord::new("r1");
        run.status = RunStatus::Completed;
        notifier.observe(&Event::Ended(&run)).unwrap();
        let recorded = recorded.lock().unwrap();
        assert_eq!(recorded.len(), 1, "{recorded:?}");
        assert_eq!(recorded[0].event, "completed");
        assert_eq!(recorded[0].target, format!("webhook ${UNSET}"));
        assert_eq!(recorded[0].outcome, NotificationOutcome::Failed);
        assert_eq!(
            recorded[0].reason.as_deref(),
            Some(format!("${UNSET} is not set").as_str())
        );
        assert_eq!(recorded[0].attempts, 0);
        // Said at the start, not again at the failure.
        assert!(reporter.take().is_empty());
    }

    #[test]
    fn labels_never_show_a_webhook_path() {
        for (url, host) in [
            (
                "https://hooks.slack.com/services/T0/B0/SECRET",
                "hooks.slack.com",
            ),
            ("http://user:pw@127.0.0.1:8080/x?token=1", "127.0.0.1"),
            ("http://[::1]:80/x", "[::1]"),
        ] {
            let label = NotifyTarget::Webhook(url.into()).label();
            assert_eq!(label, format!("webhook {host}"));
        }
        let long = "x".repeat(100);
        assert_eq!(
            NotifyTarget::Command(long).label(),
            format!("command `{}…`", "x".repeat(60))
        );
    }

    #[test]
    fn failed_events_carry_the_step_and_its_log_tail() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        let lines: Vec<String> = (1..=30).map(|i| format!("line {i}")).collect();
        std::fs::write(logs.join("train.log"), lines.join("\n")).unwrap();
        let mut record = PipelineRunRecord::new("r1");
        record.pipeline = Some("demo".into());
        record.status = RunStatus::Failed;
        record.summary.reason = Some("step `train` failed: exit status 3".into());
        let mut step = telemetry_model::StepExecutionEntry::new("train", "Train", 1);
        step.status = StepStatus::Failed;
        step.exit_code = Some(3);
        step.duration_seconds = Some(1.5);
        record.steps.push(step);
        let doc = event_document(NotifyOn::Failed, &record, dir.path(), EventDetail::Ended);
        assert_eq!(doc["event"], "failed");
        assert_eq!(doc["status"], "failed");
        assert_eq!(doc["step"]["id"], "train");
        assert_eq!(doc["step"]["name"], "Train");
        assert_eq!(doc["step"]["exit_code"], 3);
        assert_eq!(doc["step"]["duration_seconds"], 1.5);
        let tail = doc["log_tail"].as_array().unwrap();
        assert_eq!(tail.len(), LOG_TAIL_LINES);
        assert_eq!(tail[LOG_TAIL_LINES - 1], "line 30");
        assert_eq!(
            doc["text"],
            "demo: run r1 failed: step `train` failed: exit status 3"
        );
    }
}
