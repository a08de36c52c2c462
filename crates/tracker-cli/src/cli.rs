//! Command-line interface definition (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use manifest::RunState;
use telemetry_model::Timestamp;

use crate::timearg::parse_time_arg;

const ROOT_HELP: &str = "Artifact root holding run-tracker/ [default: $TRACKER_ARTIFACT_ROOT, \
else $ROBOT_SF_ARTIFACT_ROOT, else artifact_root of the nearest tracker.toml, else ./output; \
`tracker config` shows which]";

/// Crash-safe run history, live progress and telemetry for long pipelines.
///
/// Runs live under ARTIFACT_ROOT/run-tracker/RUN_ID/. A RUN argument is a
/// run id, a unique prefix of one, a run's directory below run-tracker/, or
/// `latest`.
#[derive(Debug, Parser)]
#[command(
    name = "tracker",
    version,
    propagate_version = true,
    max_term_width = 100
)]
#[command(
    after_help = "Exit status: 0 success, 1 the run or check reported a failure, \
2 usage, configuration or I/O error."
)]
#[expect(
    missing_docs,
    reason = "clap would print doc comments on these fields as help text"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    #[arg(long, global = true, value_name = "DIR", help = ROOT_HELP)]
    pub artifact_root: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a pipeline file: each step a command, tracked with progress and ETA.
    Run(RunArgs),
    /// List runs, newest first.
    List(ListArgs),
    /// Show one run: header, steps, recommendations, perf tests.
    #[command(visible_alias = "summary")]
    Show(ShowArgs),
    /// Print where a run is now: state, current step, ETA, whether its writer lives.
    Status(StatusArgs),
    /// Refresh a run's status until it ends, then print its summary (exit 0 if completed).
    Watch(WatchArgs),
    /// Write one run to a file (or stdout) as JSON, Markdown or a self-contained HTML report.
    Export(ExportArgs),
    /// Compare runs step by step: durations, CPU, memory, throughput, status, with deltas.
    Compare(CompareArgs),
    /// Show how a pipeline's steps change over its runs: median, p90, drift.
    Trend(TrendArgs),
    /// Convert a run's telemetry and step durations to TensorBoard event files.
    Tensorboard(TensorboardArgs),
    /// Run a pipeline N times and gate each step's throughput against stored baselines.
    PerfTests(PerfTestsArgs),
    /// Delete old runs: all but the newest N of each pipeline, or those older than an age.
    Prune(PruneArgs),
    /// Show the settings in force here and where each comes from (artifact root, tracker.toml).
    Config(ConfigArgs),
    /// Upload runs to an MLflow tracking server that are not (fully) mirrored there yet.
    Sync(SyncArgs),
    /// Internal: supervises one step's command for `tracker run` (see `runner::supervise`).
    #[command(name = "__supervise", hide = true)]
    Supervise(SuperviseArgs),
}

#[derive(Debug, Args)]
#[command(
    after_help = "Each step runs as `sh -c RUN` in the pipeline file's directory, in its own \
process group, with TRACKER_RUN_ID, TRACKER_STEP_ID, TRACKER_RUN_DIR and TRACKER_PROGRESS set \
(docs/pipeline-file.md). Ctrl-C or SIGTERM ends the run as cancelled and stops the step.\n\n\
Exit status: 0 the run completed, 1 it failed, 2 the pipeline file or a flag is invalid; \
interrupted runs end by the signal (130 for Ctrl-C)."
)]
pub struct RunArgs {
    /// The pipeline file (TOML).
    #[arg(value_name = "PIPELINE.toml")]
    pub pipeline: PathBuf,
    /// Name the run instead of generating an id ([A-Za-z0-9][A-Za-z0-9._-]*).
    #[arg(long, value_name = "NAME", conflicts_with = "resume")]
    pub run_id: Option<String>,
    /// Continue a failed, cancelled or abandoned run (run id, unique prefix or
    /// `latest`): in the same run id and directory, its completed steps kept,
    /// the others run; the pipeline file is read again.
    #[arg(long, value_name = "RUN")]
    pub resume: Option<String>,
    /// With --resume: go on even if the run's pipeline name, or the steps it
    /// completed, no longer match the pipeline file (completed steps that
    /// are gone are dropped from the run).
    #[arg(long, requires = "resume")]
    pub force: bool,
    /// Skip this step (repeatable).
    #[arg(long, value_name = "STEP")]
    pub skip: Vec<String>,
    /// Run only this step (repeatable); disabled steps named here run too.
    #[arg(long, value_name = "STEP")]
    pub only: Vec<String>,
    /// Plain progress lines even on a terminal.
    #[arg(long)]
    pub plain: bool,
    /// Plain mode: seconds between heartbeat lines of a running step.
    #[arg(long, value_name = "SECS", default_value_t = 10.0, value_parser = parse_seconds)]
    pub heartbeat: f64,
    /// Delete all but the newest N runs of this pipeline when the run starts
    /// and ends (live runs and other pipelines' runs are never touched; each
    /// deletion is announced) [default: [retention] keep of tracker.toml,
    /// else keep every run].
    #[arg(long, value_name = "N", value_parser = parse_keep, allow_negative_numbers = true)]
    pub keep: Option<usize>,
    /// Do not sample CPU, memory and GPU (also: TRACKER_TELEMETRY=0).
    #[arg(long)]
    pub no_telemetry: bool,
    /// Recommendation thresholds (TOML), over the pipeline file's [rules] table.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Seconds between telemetry samples (at least 0.2) [default: [telemetry]
    /// interval of tracker.toml, else 1].
    #[arg(long, value_name = "SECS", value_parser = parse_interval)]
    pub interval: Option<f64>,
    /// Also mirror telemetry and step durations, live, to TensorBoard event
    /// files under DIR/RUN_ID (a failure there never fails the run).
    #[arg(long, value_name = "DIR")]
    pub tensorboard: Option<PathBuf>,
    /// Also mirror the run, live, to an MLflow tracking server [URI default:
    /// $MLFLOW_TRACKING_URI, else [mlflow] uri of tracker.toml, which also
    /// turns the mirror on]; a server that is down or slow never fails or
    /// slows the run (docs/mlflow.md). A value without a scheme (`--mlflow
    /// PIPELINE.toml`) is the pipeline file; --mlflow=VALUE is always the URI.
    #[arg(long, value_name = "URI", num_args = 0..=1, default_missing_value = "")]
    pub mlflow: Option<String>,
    /// The MLflow experiment [default: $MLFLOW_EXPERIMENT_NAME, else
    /// [mlflow] experiment of tracker.toml, else the pipeline's name].
    #[arg(long, value_name = "NAME")]
    pub mlflow_experiment: Option<String>,
    /// No MLflow mirror, even if tracker.toml's [mlflow] uri asks for one.
    #[arg(long, conflicts_with_all = ["mlflow", "mlflow_experiment"])]
    pub no_mlflow: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "The scenario is a pipeline file (docs/pipeline-file.md) whose steps report \
throughput on TRACKER_PROGRESS ({\"steps\": N} cumulative, or {\"fps\": X}). The pipeline runs \
--repeat times as one tracked run; each step's throughput (items / the step's wall time, or its \
mean fps) is compared, as the median over the repetitions, with the baseline keyed \
PIPELINE_NAME/STEP_ID: above soft_ratio x baseline passed, at or below it soft-breach, at or \
below hard_ratio x baseline failed. No baseline: passed, recorded as candidate. See docs/perf.md.\n\n\
Exit status: 0 every perf test passed or soft-breached, 1 one failed (or a step failed), 2 the \
scenario, the baselines file or a flag is invalid."
)]
pub struct PerfTestsArgs {
    /// The scenario: a pipeline file whose steps report throughput.
    #[arg(long, value_name = "PIPELINE.toml")]
    pub scenario: PathBuf,
    /// Baselines file [default: baselines.json next to the scenario file].
    #[arg(long, value_name = "FILE")]
    pub baselines: Option<PathBuf>,
    /// Artifact root for the perf run (over --artifact-root).
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Runs of the whole pipeline; the median throughput of each step is compared.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: u32,
    /// Rewrite the baselines file from this measurement (keeps each entry's ratios).
    #[arg(long)]
    pub update_baselines: bool,
    /// Plain progress lines even on a terminal.
    #[arg(long)]
    pub plain: bool,
    /// Delete all but the newest N runs of this pipeline when the run starts
    /// and ends (live runs and other pipelines' runs are never touched; each
    /// deletion is announced) [default: [retention] keep of tracker.toml,
    /// else keep every run].
    #[arg(long, value_name = "N", value_parser = parse_keep, allow_negative_numbers = true)]
    pub keep: Option<usize>,
    /// Do not sample CPU, memory and GPU (also: TRACKER_TELEMETRY=0).
    #[arg(long)]
    pub no_telemetry: bool,
}

#[derive(Debug, Args)]
pub struct SuperviseArgs {
    /// The tracker's pid.
    #[arg(long)]
    pub parent: u32,
    /// The step's command.
    #[arg(last = true, required = true)]
    pub command: String,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show at most N runs (0 = all).
    #[arg(long, short = 'n', value_name = "N", default_value_t = 20, allow_negative_numbers = true, value_parser = parse_count)]
    pub limit: usize,
    /// Only runs in this state (`abandoned`: says running, but its writer died).
    #[arg(long, value_name = "STATE")]
    pub status: Option<StateArg>,
    /// Only runs created at or after TIME: RFC 3339, a date, or an age (30m, 12h, 7d).
    #[arg(long, value_name = "TIME", value_parser = parse_time_now, allow_negative_numbers = true)]
    pub since: Option<Timestamp>,
    /// Only runs created at or before TIME (same forms as --since).
    #[arg(long, value_name = "TIME", value_parser = parse_time_now, allow_negative_numbers = true)]
    pub until: Option<Timestamp>,
    /// Only runs of this pipeline name, scenario id, scenario config path or its file stem.
    #[arg(long, value_name = "NAME")]
    pub scenario: Option<String>,
    /// Output format. `json` is a stable machine interface (docs/cli.md).
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Run id, unique id prefix, path below run-tracker/, or `latest`.
    #[arg(value_name = "RUN")]
    pub run: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ShowFormat::Human)]
    pub format: ShowFormat,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Run id, unique id prefix, path below run-tracker/, or `latest`.
    #[arg(value_name = "RUN", default_value = "latest")]
    pub run: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = StatusFormat::Human)]
    pub format: StatusFormat,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Run id, unique id prefix, path below run-tracker/, or `latest`.
    #[arg(value_name = "RUN", default_value = "latest")]
    pub run: String,
    /// Seconds between refreshes.
    #[arg(long, value_name = "SECS", default_value_t = 2.0, value_parser = parse_seconds)]
    pub interval: f64,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Writes DIR/RUN_ID/events.out.tfevents.*: every telemetry metric (cpu/process_percent, memory/rss_mb, gpu/util_percent, throughput/steps_per_sec, …) against the sample index, and each finished step's duration. Converting a run again replaces its earlier event file. View with `tensorboard --logdir DIR` (docs/tensorboard.md)."
)]
pub struct TensorboardArgs {
    /// Run id, unique id prefix, path below run-tracker/, or `latest`.
    #[arg(value_name = "RUN")]
    pub run: String,
    /// TensorBoard log directory; the run gets a subdirectory named after it.
    #[arg(long, value_name = "DIR")]
    pub logdir: PathBuf,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Each step of every run is shown with its duration, CPU seconds, peak memory and \
throughput, and each run's figures against the first run's (absolute and relative deltas). A \
step only some runs have says `not in this run`. A change is flagged (slower, faster, lower or \
higher throughput, failed, fixed) when it is beyond the noise of the pipeline's history: three \
median absolute deviations of the step over its last 20 completed runs, and at least 10 % (and \
1 s for durations). Exit status: 0, whatever changed; 2 for an unknown run or a bad flag."
)]
pub struct CompareArgs {
    /// Two or more runs (run id, unique id prefix, path below run-tracker/, or `latest`); deltas
    /// are against the first.
    #[arg(value_name = "RUN", num_args = 2.., required = true)]
    pub runs: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CompareFormat::Table)]
    pub format: CompareFormat,
    /// File to write (replaced atomically); `-` or absent writes to stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "For each step of the pipeline: its duration (and throughput, where the steps \
report one) over the last N completed runs, oldest to newest as a sparkline, the median, the \
90th percentile, the change of the newer half's median against the older half's, and a verdict: \
getting slower or faster when the change is beyond three median absolute deviations of the runs \
and at least 10 %, steady otherwise, `too few runs` under six."
)]
pub struct TrendArgs {
    /// The pipeline [default: the pipeline of the newest run].
    #[arg(long, value_name = "NAME")]
    pub pipeline: Option<String>,
    /// Only this step.
    #[arg(long, value_name = "STEP")]
    pub step: Option<String>,
    /// The newest N completed runs.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = parse_count)]
    pub limit: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TrendFormat::Table)]
    pub format: TrendFormat,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Run id, unique id prefix, path below run-tracker/, or `latest`.
    #[arg(value_name = "RUN")]
    pub run: String,
    /// Export format.
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// File to write (replaced atomically); `-` or absent writes to stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Runs are counted per pipeline, newest first by creation time; with both \
--keep and --older-than, a run goes only if both rules select it. A live run (its writer holds \
run.lock) is never deleted. Nothing is deleted unless you ask: tracker run keeps every run \
unless given --keep.\n\n\
Examples:\n  \
tracker prune --keep 20 --dry-run              # what would go, per pipeline\n  \
tracker prune --keep 5 --pipeline perf-smoke   # one pipeline only\n  \
tracker prune --older-than 30d                 # everything created over 30 days ago\n\n\
Exit status: 0 done (also when nothing matched), 2 a flag is invalid or a run could not be deleted."
)]
#[command(group(clap::ArgGroup::new("rule").required(true).multiple(true).args(["keep", "older_than"])))]
pub struct PruneArgs {
    /// Keep the newest N runs of each pipeline (0 deletes all of them).
    #[arg(long, value_name = "N", value_parser = parse_count, allow_negative_numbers = true)]
    pub keep: Option<usize>,
    /// Only runs of this pipeline (the `pipeline` field of their record).
    #[arg(long, value_name = "NAME")]
    pub pipeline: Option<String>,
    /// Only runs created more than AGE ago (30d, 12h), or before a time (RFC 3339 or a date).
    #[arg(long, value_name = "AGE", value_parser = parse_time_now, allow_negative_numbers = true)]
    pub older_than: Option<Timestamp>,
    /// Print what would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format. `json` is a stable machine interface (docs/cli.md).
    #[arg(long, value_enum, default_value_t = PruneFormat::Table)]
    pub format: PruneFormat,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Settings resolve flag > environment > tracker.toml > built-in default. \
tracker.toml is found in the working directory or the nearest directory above it (as cargo \
finds Cargo.toml); paths in it are relative to it. See docs/cli.md (\"Project settings\")."
)]
pub struct ConfigArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = StatusFormat::Human)]
    pub format: StatusFormat,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Each run becomes one MLflow run (name = run id), found again by its \
tracker.run_id tag: what is already there is completed, never duplicated. Runs still running \
are skipped; an abandoned run is marked KILLED with tracker.abandoned. Progress is kept in each \
run's mlflow.json. Auth: MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and \
MLFLOW_TRACKING_PASSWORD (docs/mlflow.md). Exit status: 0 every run is mirrored; 2 a run could \
not be, or the server could not be reached."
)]
pub struct SyncArgs {
    /// Runs (run id, unique id prefix, path below run-tracker/, or `latest`); every run when none
    /// is named.
    #[arg(value_name = "RUN")]
    pub runs: Vec<String>,
    /// The tracking server [default: $MLFLOW_TRACKING_URI, else [mlflow] uri of tracker.toml].
    #[arg(long, value_name = "URI")]
    pub mlflow: Option<String>,
    /// The MLflow experiment [default: $MLFLOW_EXPERIMENT_NAME, else [mlflow] experiment of
    /// tracker.toml, else each run's pipeline name].
    #[arg(long, value_name = "NAME")]
    pub mlflow_experiment: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PruneFormat {
    /// One line per run, then a summary line.
    Table,
    /// One JSON object: `dry_run`, `deleted`, `kept_live`.
    Json,
}

/// Run states accepted by `--status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StateArg {
    Pending,
    Running,
    Completed,
    Failed,
    Cancelled,
    Abandoned,
}

impl From<StateArg> for RunState {
    fn from(arg: StateArg) -> Self {
        match arg {
            StateArg::Pending => RunState::Pending,
            StateArg::Running => RunState::Running,
            StateArg::Completed => RunState::Completed,
            StateArg::Failed => RunState::Failed,
            StateArg::Cancelled => RunState::Cancelled,
            StateArg::Abandoned => RunState::Abandoned,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// Aligned columns for people.
    Table,
    /// A JSON array, one object per run.
    Json,
    /// A Markdown table.
    Markdown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    /// Text for people.
    Human,
    /// The whole run as JSON (same as `export --format json`).
    Json,
    /// Markdown (same as `export --format markdown`).
    Markdown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    /// Text for people.
    Human,
    /// One JSON object.
    Json,
}

/// `tracker trend --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TrendFormat {
    /// Tables for a terminal, with sparklines.
    Table,
    /// The trend as one JSON document.
    Json,
    /// The tables in Markdown.
    Markdown,
}

/// `tracker compare --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CompareFormat {
    /// Tables for a terminal.
    Table,
    /// The comparison as one JSON document.
    Json,
    /// The tables in Markdown.
    Markdown,
    /// One self-contained HTML page, in the style of the run report.
    Html,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// The whole run: record, derived state, recommendations, perf tests.
    Json,
    /// A Markdown report.
    Markdown,
    /// One self-contained HTML file: timeline, charts, steps, recommendations.
    Html,
}

fn parse_count(input: &str) -> Result<usize, String> {
    input
        .trim()
        .parse()
        .map_err(|_| "expected a whole number ≥ 0 (0 = no limit)".to_owned())
}

fn parse_keep(input: &str) -> Result<usize, String> {
    match input.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(
            "expected a number of runs to keep, at least 1 (leave --keep out to keep every run; \
             `tracker prune` deletes explicitly)"
                .to_owned(),
        ),
    }
}

fn parse_seconds(input: &str) -> Result<f64, String> {
    input
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
        .ok_or_else(|| "expected seconds, a number > 0 and ≤ 86400".to_owned())
}

fn parse_interval(input: &str) -> Result<f64, String> {
    let secs = parse_seconds(input)?;
    if secs < 0.2 {
        return Err(
            "expected at least 0.2 seconds: CPU counters are too coarse for shorter intervals"
                .to_owned(),
        );
    }
    Ok(secs)
}

fn parse_time_now(input: &str) -> Result<Timestamp, String> {
    parse_time_arg(input, Timestamp::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_state_maps_to_its_namesake() {
        for arg in StateArg::value_variants() {
            let name = arg.to_possible_value().unwrap().get_name().to_owned();
            assert_eq!(RunState::from(*arg).as_str(), name);
        }
    }
}
