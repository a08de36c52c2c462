//! Pipeline files (docs/pipeline-file.md).
//!
//! ```toml
//! [pipeline]
//! name = "imitation-demo"             # groups runs for history-based ETA
//! scenario = "configs/minimal.yaml"   # optional, stored as scenario_config_path
//!
//! [[steps]]
//! id = "collect_expert"
//! name = "Collect expert trajectories"
//! run = "python3 collect.py --episodes 200"   # executed with sh -c
//! expected_seconds = 120              # optional
//! enabled = true                      # optional, default true
//! continue_on_error = false           # optional, default false
//! stall_seconds = 1800                # optional: 0 turns stall detection off
//!
//! [[notify]]                          # optional, any number (docs/notify.md)
//! on = ["failed", "cancelled"]
//! command = "notify-send tracker \"$TRACKER_MESSAGE\""
//! ```
//!
//! [`Pipeline::load`] reads one; [`check`] is the same parser over bytes,
//! the entry point that property tests and the fuzz targets (`fuzz/`)
//! drive.

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use progress::valid_step_id;
use serde::Deserialize;
use toml::Spanned;

/// Largest pipeline file read (a pipeline is a few kilobytes).
const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Longest accepted expected duration: a year.
const MAX_EXPECTED_SECONDS: f64 = 365.0 * 86_400.0;
/// Longest accepted `stall_seconds`: a year.
const MAX_STALL_SECONDS: f64 = 365.0 * 86_400.0;
/// Most steps in one pipeline. Every manifest record lists every step, and
/// a record line must stay well under `manifest::MAX_LINE_BYTES` (4 MiB),
/// or readers would skip it as damage: 1000 steps of a few hundred bytes
/// each leave room for long names and artifacts.
const MAX_STEPS: usize = 1000;
/// Longest `run` command: Linux refuses a single `exec` argument of
/// `MAX_ARG_STRLEN` (128 KiB, its NUL included) or more, so a longer
/// command could never start.
const MAX_RUN_BYTES: usize = 128 * 1024 - 1;

/// A parsed and validated pipeline file.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Pipeline {
    /// `[pipeline] name`: groups runs for history and the ETA.
    pub name: String,
    /// `[pipeline] scenario`, recorded as the run's `scenario_config_path`.
    pub scenario: Option<String>,
    /// The steps, in file order, with unique ids.
    pub steps: Vec<Step>,
    /// Where steps run: the directory holding the file.
    pub dir: PathBuf,
    /// Recommendation thresholds: defaults with the file's `[rules]` table.
    pub thresholds: recommend::Thresholds,
    /// `[[notify]]` tables: who is told of what (docs/notify.md).
    pub notify: Vec<crate::NotifyRule>,
    /// `[pipeline] stall_seconds`: the silence after which a step of this
    /// pipeline counts as stalled; `Some(0.0)` turns detection off, `None`
    /// derives it from history (docs/notify.md, "Stalls").
    pub stall_seconds: Option<f64>,
}

/// One step of a pipeline file.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Step {
    /// Unique id within the pipeline (a valid step id).
    pub id: String,
    /// Display name (the id when the file gives none).
    pub name: String,
    /// The command, run with `sh -c` in the pipeline's directory.
    pub run: String,
    /// How long the step is expected to take, for the first runs' ETA.
    pub expected_seconds: Option<f64>,
    /// Whether a run runs it (unless selected otherwise).
    pub enabled: bool,
    /// Whether the run goes on when it fails.
    pub continue_on_error: bool,
    /// The silence after which this step counts as stalled, over the
    /// pipeline's; `Some(0.0)` turns detection off for it.
    pub stall_seconds: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    pipeline: Header,
    #[serde(default)]
    steps: Vec<StepFile>,
    /// Accepted here, checked by the `recommend` crate (see `Pipeline::load`).
    #[serde(default)]
    #[allow(dead_code)]
    rules: Option<toml::Table>,
    #[serde(default)]
    notify: Vec<Spanned<crate::notify::NotifyTable>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    name: Spanned<String>,
    #[serde(default)]
    scenario: Option<String>,
    #[serde(default)]
    stall_seconds: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    id: Spanned<String>,
    #[serde(default)]
    name: Option<String>,
    run: Spanned<String>,
    #[serde(default)]
    expected_seconds: Option<Spanned<f64>>,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    continue_on_error: bool,
    #[serde(default)]
    stall_seconds: Option<Spanned<f64>>,
}

fn yes() -> bool {
    true
}

/// A pipeline file that could not be used, located as `file:line:column`.
#[derive(Debug)]
pub struct PipelineError {
    /// The pipeline file.
    pub path: PathBuf,
    /// 1-based line and column of the problem, where it has one.
    pub line: Option<(usize, usize)>,
    /// The key assigned on that line (`expected_seconds`), where there is one.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
    /// A message that already says where (from the rules parser).
    pub located: bool,
}

impl PipelineError {
    fn verbatim(path: &Path, message: String) -> Self {
        Self {
            path: path.to_owned(),
            line: None,
            key: None,
            message,
            located: true,
        }
    }
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.located {
            return f.write_str(&self.message);
        }
        write!(f, "{}", self.path.display())?;
        if let Some((line, col)) = self.line {
            write!(f, ":{line}:{col}")?;
        }
        f.write_str(": ")?;
        if let Some(key) = &self.key {
            write!(f, "key `{key}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for PipelineError {}

/// `text` up to `offset`, or up to the character boundary before it.
fn prefix(text: &str, offset: usize) -> &str {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = prefix(text, offset);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The key assigned on the line at `offset` (`expected_seconds = "x"`).
fn key_at(text: &str, offset: usize) -> Option<String> {
    let start = prefix(text, offset).rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    (!key.is_empty() && !key.starts_with('[')).then(|| key.trim_matches('"').to_owned())
}

/// An error about `text` (the file at `path`) at `span`.
pub(crate) fn located_error(
    path: &Path,
    text: &str,
    span: Option<Range<usize>>,
    message: String,
) -> PipelineError {
    let at = span.map(|s| s.start);
    PipelineError {
        path: path.to_owned(),
        line: at.map(|o| line_col(text, o)),
        key: at.and_then(|o| key_at(text, o)),
        message,
        located: false,
    }
}

/// A `stall_seconds` value: seconds ≥ 0, at most a year.
fn stall_value(
    value: Option<Spanned<f64>>,
    whose: &str,
) -> Result<Option<f64>, (Option<Range<usize>>, String)> {
    let Some(v) = value else {
        return Ok(None);
    };
    let secs = *v.get_ref();
    if !(secs.is_finite() && (0.0..=MAX_STALL_SECONDS).contains(&secs)) {
        return Err((
            Some(v.span()),
            format!(
                "{whose}stall_seconds must be between 0 (off) and {MAX_STALL_SECONDS} (a year), got {secs}"
            ),
        ));
    }
    Ok(Some(secs))
}

impl Pipeline {
    /// Reads and validates a pipeline file.
    pub fn load(path: &Path) -> Result<Self, PipelineError> {
        let error = |line, key, message: String| PipelineError {
            path: path.to_owned(),
            line,
            key,
            message,
            located: false,
        };
        let meta =
            std::fs::metadata(path).map_err(|e| error(None, None, format!("cannot read: {e}")))?;
        if !meta.is_file() {
            return Err(error(None, None, "not a file".into()));
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(error(
                None,
                None,
                format!("larger than {MAX_FILE_BYTES} bytes; is this a pipeline file?"),
            ));
        }
        let bytes =
            std::fs::read(path).map_err(|e| error(None, None, format!("cannot read: {e}")))?;
        Self::from_bytes(&bytes, path)
    }

    /// Validates the contents of a pipeline file read from `path` (named in
    /// errors; its directory is where the steps run).
    fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, PipelineError> {
        let error = |line, key, message: String| PipelineError {
            path: path.to_owned(),
            line,
            key,
            message,
            located: false,
        };
        // `load` checks the size before reading; this is for `check`.
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(error(
                None,
                None,
                format!("larger than {MAX_FILE_BYTES} bytes; is this a pipeline file?"),
            ));
        }
        let text = std::str::from_utf8(bytes).map_err(|e| {
            let (line, col) = line_col(&String::from_utf8_lossy(bytes), e.valid_up_to());
            error(Some((line, col)), None, "not valid UTF-8".into())
        })?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_owned();
        let file_name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let mut pipeline = Self::parse(text, dir, &file_name)
            .map_err(|(span, message)| located_error(path, text, span, message))?;
        // The rules parser names file, line and key itself.
        pipeline.thresholds = recommend::Thresholds::default()
            .overlay_toml_table(text, &path.display().to_string(), "rules")
            .map_err(|e| PipelineError::verbatim(path, e.to_string()))?;
        Ok(pipeline)
    }

    /// Parses pipeline text; errors carry the byte span they refer to.
    fn parse(
        text: &str,
        dir: PathBuf,
        file_name: &str,
    ) -> Result<Self, (Option<Range<usize>>, String)> {
        let file: File =
            toml::from_str(text).map_err(|e| (e.span(), e.message().trim().to_owned()))?;
        let name = file.pipeline.name.get_ref().trim().to_owned();
        if name.is_empty() {
            return Err((
                Some(file.pipeline.name.span()),
                "the pipeline name must not be empty".into(),
            ));
        }
        if file.steps.is_empty() {
            return Err((None, "no steps: add at least one [[steps]] table".into()));
        }
        if file.steps.len() > MAX_STEPS {
            return Err((
                Some(file.steps[MAX_STEPS].id.span()),
                format!(
                    "{} steps: at most {MAX_STEPS} are supported (every manifest record lists every step)",
                    file.steps.len()
                ),
            ));
        }
        let mut steps: Vec<Step> = Vec::with_capacity(file.steps.len());
        let mut ids = HashSet::with_capacity(file.steps.len());
        for step in file.steps {
            let id = step.id.get_ref().clone();
            if !valid_step_id(&id) {
                return Err((
                    Some(step.id.span()),
                    format!(
                        "invalid step id `{}`: use letters, digits, '_', '.' and '-' (at most 64, not starting with '.')",
                        id.escape_debug()
                    ),
                ));
            }
            if !ids.insert(id.clone()) {
                return Err((
                    Some(step.id.span()),
                    format!("step id `{id}` is used twice"),
                ));
            }
            let run = step.run.get_ref().clone();
            if run.trim().is_empty() {
                return Err((
                    Some(step.run.span()),
                    format!("step `{id}` has an empty `run` command"),
                ));
            }
            if run.contains('\0') {
                return Err((
                    Some(step.run.span()),
                    format!("step `{id}`: `run` contains NUL"),
                ));
            }
            if run.len() > MAX_RUN_BYTES {
                return Err((
                    Some(step.run.span()),
                    format!(
                        "step `{id}`: `run` is {} bytes, longer than the {MAX_RUN_BYTES} a command line may be; put the command in a script",
                        run.len()
                    ),
                ));
            }
            let expected_seconds = match step.expected_seconds {
                None => None,
                Some(v) => {
                    let secs = *v.get_ref();
                    if !(secs.is_finite() && (0.0..=MAX_EXPECTED_SECONDS).contains(&secs)) {
                        return Err((
                            Some(v.span()),
                            format!(
                                "step `{id}`: expected_seconds must be between 0 and {MAX_EXPECTED_SECONDS} (a year), got {secs}"
                            ),
                        ));
                    }
                    Some(secs)
                }
            };
            let stall_seconds = stall_value(step.stall_seconds, &format!("step `{id}`: "))?;
            let name = step
                .name
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| id.clone());
            steps.push(Step {
                id,
                name,
                run,
                expected_seconds,
                enabled: step.enabled,
                continue_on_error: step.continue_on_error,
                stall_seconds,
            });
        }
        let stall_seconds = stall_value(file.pipeline.stall_seconds, "")?;
        let notify = crate::notify::rules_from_tables(file.notify, &dir, file_name)?;
        Ok(Self {
            name,
            scenario: file.pipeline.scenario,
            steps,
            dir,
            thresholds: recommend::Thresholds::default(),
            notify,
            stall_seconds,
        })
    }
}

/// Why a step selection is refused ([`Pipeline::select`]).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// A step named to skip or to run only is not in the pipeline.
    #[error("no such step in {} (steps: {})", path.display(), steps.join(", "))]
    UnknownStep {
        /// Whether it was named to run only (else to skip).
        only: bool,
        /// The id named.
        id: String,
        /// The pipeline file.
        path: PathBuf,
        /// The pipeline's step ids, in order.
        steps: Vec<String>,
    },
    /// Every step is disabled or skipped.
    #[error("no step left to run in {}: every step is disabled or skipped", path.display())]
    NothingLeft {
        /// The pipeline file.
        path: PathBuf,
    },
}

impl Pipeline {
    /// The ids of the steps a run runs, in file order: the enabled steps
    /// minus `skip`, or, when `only` names any, just those (disabled ones
    /// included) minus `skip`. Every id named must be a step of the
    /// pipeline; `path` is the file, named in errors.
    ///
    /// ```
    /// # use std::path::Path;
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("p.toml");
    /// # std::fs::write(&path, "[pipeline]\nname = \"p\"\n[[steps]]\nid = \"a\"\nrun = \"true\"\n\
    /// #     [[steps]]\nid = \"b\"\nrun = \"true\"\nenabled = false\n")?;
    /// let pipeline = runner::Pipeline::load(&path)?;
    /// assert_eq!(pipeline.select(&[], &[], &path)?, ["a"]);
    /// assert_eq!(pipeline.select(&["b".into()], &[], &path)?, ["b"]);
    /// assert!(pipeline.select(&[], &["a".into()], &path).is_err(), "nothing left");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn select(
        &self,
        only: &[String],
        skip: &[String],
        path: &Path,
    ) -> Result<Vec<String>, SelectError> {
        let steps: Vec<String> = self.steps.iter().map(|s| s.id.clone()).collect();
        for (named, is_only) in [(skip, false), (only, true)] {
            if let Some(id) = named.iter().find(|id| !steps.contains(id)) {
                return Err(SelectError::UnknownStep {
                    only: is_only,
                    id: id.clone(),
                    path: path.to_owned(),
                    steps,
                });
            }
        }
        let selected: Vec<String> = self
            .steps
            .iter()
            .filter(|s| {
                let chosen = if only.is_empty() {
                    s.enabled
                } else {
                    only.contains(&s.id)
                };
                chosen && !skip.contains(&s.id)
            })
            .map(|s| s.id.clone())
            .collect();
        if selected.is_empty() {
            return Err(SelectError::NothingLeft {
                path: path.to_owned(),
            });
        }
        Ok(selected)
    }
}

/// Checks the contents of a pipeline file as `tracker run` reads them
/// from `path`, without touching the file system (`path` is only named in
/// errors): the entry point for property tests and fuzzing. Returns the ids
/// of the steps in file order, or the error `tracker run` would report
/// (`file:line:column: …`). Never panics, whatever the bytes.
///
/// ```
/// use std::path::Path;
/// let text = b"[pipeline]\nname = \"demo\"\n[[steps]]\nid = \"a\"\nrun = \"true\"\n";
/// let ids = runner::pipeline::check(text, Path::new("p.toml")).unwrap();
/// assert_eq!(ids, ["a"]);
/// let err = runner::pipeline::check(b"[pipeline\n", Path::new("p.toml")).unwrap_err();
/// assert!(err.to_string().starts_with("p.toml:1:10: "), "{err}");
/// ```
pub fn check(bytes: &[u8], path: &Path) -> Result<Vec<String>, PipelineError> {
    let pipeline = Pipeline::from_bytes(bytes, path)?;
    Ok(pipeline.steps.into_iter().map(|step| step.id).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Pipeline, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pipeline.toml");
        std::fs::write(&path, text).unwrap();
        Pipeline::load(&path).map_err(|e| {
            e.to_string()
                .replace(&dir.path().display().to_string(), "DIR")
        })
    }

    const GOOD: &str = r#"
[pipeline]
name = "imitation-demo"
scenario = "configs/minimal.yaml"

[[steps]]
id = "collect_expert"
name = "Collect expert trajectories"
run = "python3 collect.py --episodes 200"
expected_seconds = 120

[[steps]]
id = "train"
run = "true"
enabled = false
continue_on_error = true
"#;

    #[test]
    fn reads_the_documented_schema() {
        let p = load(GOOD).unwrap();
        assert_eq!(p.name, "imitation-demo");
        assert_eq!(p.scenario.as_deref(), Some("configs/minimal.yaml"));
        assert_eq!(p.steps.len(), 2);
        assert_eq!(p.steps[0].expected_seconds, Some(120.0));
        assert!(p.steps[0].enabled && !p.steps[0].continue_on_error);
        assert_eq!(p.steps[1].name, "train", "name defaults to the id");
        assert!(!p.steps[1].enabled && p.steps[1].continue_on_error);
        assert!(p.notify.is_empty() && p.stall_seconds.is_none());
        let p = load(&format!(
            "{}\n[[notify]]\non = [\"completed\"]\nwebhook = \"http://127.0.0.1:9/hook\"\n",
            GOOD.replace("scenario =", "stall_seconds = 0\nscenario =")
                .replace("enabled = false", "stall_seconds = 90")
        ))
        .unwrap();
        assert_eq!(p.stall_seconds, Some(0.0));
        assert_eq!(p.steps[1].stall_seconds, Some(90.0));
        assert_eq!(p.notify.len(), 1);
        assert_eq!(p.notify[0].on, [crate::NotifyOn::Completed]);
        assert_eq!(
            p.notify[0].origin,
            "webhook 127.0.0.1 (pipeline.toml [[notify]] #1)"
        );
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let cases = [
            (
                GOOD.replace("expected_seconds = 120", "expected_seconds = \"soon\""),
                "DIR/pipeline.toml:10:20: key `expected_seconds`: invalid type: string \"soon\", expected f64",
            ),
            (
                GOOD.replace("expected_seconds = 120", "expected_secs = 120"),
                "DIR/pipeline.toml:10:1: key `expected_secs`: unknown field `expected_secs`",
            ),
            (
                GOOD.replace("expected_seconds = 120", "expected_seconds = -4"),
                "DIR/pipeline.toml:10:20: key `expected_seconds`: step `collect_expert`: expected_seconds must be between 0",
            ),
            (
                GOOD.replace("id = \"train\"", "id = \"collect_expert\""),
                "DIR/pipeline.toml:13:6: key `id`: step id `collect_expert` is used twice",
            ),
            (
                GOOD.replace("id = \"train\"", "id = \"../etc\""),
                "DIR/pipeline.toml:13:6: key `id`: invalid step id `../etc`",
            ),
            (
                GOOD.replace("run = \"true\"", "run = \"  \""),
                "DIR/pipeline.toml:14:7: key `run`: step `train` has an empty `run` command",
            ),
            (
                GOOD.replace("run = \"true\"\n", ""),
                "DIR/pipeline.toml:12:1: missing field `run`",
            ),
            (
                "[pipeline]\nname = \"x\"\n".to_owned(),
                "DIR/pipeline.toml: no steps: add at least one [[steps]] table",
            ),
            (
                format!("{GOOD}\n[[notify]]\non = [\"failed\", \"fialed\"]\ncommand = \"true\"\n"),
                "DIR/pipeline.toml:19:17: key `on`: [[notify]] #1: unknown event `fialed` in `on`: expected any of failed, cancelled, stalled, completed, recommendation",
            ),
            (
                format!("{GOOD}\n[[notify]]\non = [\"failed\"]\n"),
                "DIR/pipeline.toml:18:1: [[notify]] #1: needs `command",
            ),
            (
                format!("{GOOD}\n[[notify]]\nwebhook = \"hooks.example.org/x\"\n"),
                "DIR/pipeline.toml:19:11: key `webhook`: [[notify]] #1: `webhook` must be an http:// or https:// URL with a host",
            ),
            (
                GOOD.replace("enabled = false", "stall_seconds = -1"),
                "DIR/pipeline.toml:15:17: key `stall_seconds`: step `train`: stall_seconds must be between 0 (off)",
            ),
            ("[pipeline\n".to_owned(), "DIR/pipeline.toml:1:10: "),
        ];
        for (text, want) in cases {
            let err = load(&text).unwrap_err();
            assert!(err.starts_with(want), "got:  {err}\nwant: {want}");
        }
    }

    /// `check` with a fixed path, the error rendered.
    fn check_text(text: &str) -> Result<Vec<String>, String> {
        check(text.as_bytes(), Path::new("p.toml")).map_err(|e| e.to_string())
    }

    fn one_step(extra: &str) -> String {
        format!("[pipeline]\nname = \"x\"\n[[steps]]\nid = \"a\"\nrun = \"true\"\n{extra}\n")
    }

    #[test]
    fn huge_and_non_finite_numbers_are_refused_with_their_place() {
        for value in ["1e308", "-1e308", "inf", "-inf", "nan", "1e400", "31536001"] {
            let err = check_text(&one_step(&format!("expected_seconds = {value}"))).unwrap_err();
            assert!(
                err.starts_with("p.toml:6:20: key `expected_seconds`: ")
                    || err.starts_with("p.toml:6:"),
                "{value}: {err}"
            );
        }
        let err = check_text(&one_step("expected_seconds = 1e308")).unwrap_err();
        assert!(err.contains("must be between 0 and"), "{err}");
        // Integers beyond i64 are a TOML error, not a wrap-around.
        let err = check_text(&one_step("expected_seconds = 99999999999999999999")).unwrap_err();
        assert!(err.starts_with("p.toml:6:"), "{err}");
        assert_eq!(
            check_text(&one_step("expected_seconds = 31536000")).unwrap(),
            ["a"]
        );
    }

    #[test]
    fn over_long_commands_and_files_are_refused() {
        let long = |n| one_step("").replace("\"true\"", &format!("\"{}\"", "x".repeat(n)));
        assert_eq!(check_text(&long(MAX_RUN_BYTES)).unwrap(), ["a"]);
        let err = check_text(&long(MAX_RUN_BYTES + 1)).unwrap_err();
        assert!(
            err.starts_with("p.toml:5:7: key `run`: step `a`: `run` is 131072 bytes"),
            "{err}"
        );
        // A 1 MB command makes the file too large to be a pipeline.
        let err = check_text(&long(1024 * 1024)).unwrap_err();
        assert_eq!(
            err,
            "p.toml: larger than 1048576 bytes; is this a pipeline file?"
        );
        let err = check_text(&one_step("").replace("\"true\"", "\"a\\u0000b\"")).unwrap_err();
        assert!(err.contains("`run` contains NUL"), "{err}");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        for depth in [100, 10_000, 300_000] {
            let arrays = format!("deep = {}{}", "[".repeat(depth), "]".repeat(depth));
            let tables = format!("deep = {}1{}", "{a = ".repeat(depth), "}".repeat(depth));
            let headers = format!("[{}]", vec!["a"; depth.min(100_000)].join("."));
            for extra in [arrays, tables, headers] {
                let err = check_text(&one_step(&extra)).unwrap_err();
                assert!(err.starts_with("p.toml:"), "depth {depth}: {err}");
            }
        }
    }

    #[test]
    fn step_count_is_bounded() {
        let steps = |n: usize| {
            let mut text = String::from("[pipeline]\nname = \"many\"\n");
            for i in 0..n {
                text.push_str(&format!("[[steps]]\nid = \"s{i}\"\nrun = \"true\"\n"));
            }
            text
        };
        let ids = check_text(&steps(MAX_STEPS)).unwrap();
        assert_eq!(ids.len(), MAX_STEPS);
        assert_eq!(ids[MAX_STEPS - 1], format!("s{}", MAX_STEPS - 1));
        let err = check_text(&steps(10_000)).unwrap_err();
        assert!(
            err.starts_with(&format!(
                "p.toml:{}:6: key `id`: 10000 steps: at most 1000",
                2 + 3 * MAX_STEPS + 2
            )),
            "{err}"
        );
    }

    /// xorshift64*: deterministic randomness without a dependency.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    #[test]
    fn mangled_files_never_panic_and_errors_are_located() {
        let pieces: [&[u8]; 12] = [
            b"[",
            b"]",
            b"[[steps]]\n",
            b"=",
            b"\"",
            b"\n",
            b"\xff",
            b"\0",
            b"1e308",
            b"{a={",
            b"expected_seconds = ",
            b"\r\n",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15;
        let good = GOOD.as_bytes();
        for _ in 0..3000 {
            let mut bytes = good.to_vec();
            for _ in 0..=next(&mut state) % 4 {
                let at = (next(&mut state) as usize) % (bytes.len() + 1);
                match next(&mut state) % 3 {
                    0 => bytes.truncate(at),
                    1 => {
                        let piece = pieces[(next(&mut state) as usize) % pieces.len()];
                        bytes.splice(at..at, piece.iter().copied());
                    }
                    _ => {
                        if at < bytes.len() {
                            bytes[at] = next(&mut state) as u8;
                        }
                    }
                }
            }
            match check(&bytes, Path::new("p.toml")) {
                Ok(ids) => assert!(!ids.is_empty()),
                Err(e) => {
                    let text = e.to_string();
                    assert!(text.starts_with("p.toml"), "{text}");
                    if let Some((line, col)) = e.line {
                        assert!(line >= 1 && col >= 1, "{text}");
                    }
                }
            }
        }
    }

    #[test]
    fn files_that_are_not_pipelines() {
        let dir = tempfile::tempdir().unwrap();
        let err = Pipeline::load(&dir.path().join("missing.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.toml: cannot read"), "{err}");
        let err = Pipeline::load(dir.path()).unwrap_err().to_string();
        assert!(err.ends_with("not a file"), "{err}");
        let bad = dir.path().join("bin.toml");
        std::fs::write(&bad, b"[pipeline]\nname = \"\xff\"\n").unwrap();
        let err = Pipeline::load(&bad).unwrap_err().to_string();
        assert!(err.contains("bin.toml:2:9: not valid UTF-8"), "{err}");
    }
}
