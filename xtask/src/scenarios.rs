//! The scenarios of `cargo xtask perf`: the tracker's hot paths, each with
//! a fixture built outside timing (the setups of the criterion benches in
//! `crates/manifest/benches/history.rs` and `crates/sampler/benches/sample.rs`,
//! smaller).

use std::hint::black_box;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use manifest::{ArtifactRoot, Query, RunOptions, RunWriter, list_runs};
use progress::eta::{Phase, Prior, StepView, estimate};
use sampler::{Collector, Probe, SamplerConfig, gpu};
use telemetry_model::{
    PerformanceRecommendation, PipelineRunRecord, RunStatus, Severity, StepExecutionEntry,
    StepStatus, Timestamp,
};

use crate::cpu::CpuStopwatch;
use crate::measure::Scenario;

/// Every scenario, in the order they run.
pub(crate) fn all() -> Vec<Box<dyn Scenario>> {
    vec![
        Box::new(ManifestAppend::default()),
        Box::new(HistoryListing::default()),
        Box::new(TelemetrySample::default()),
        Box::new(EtaEstimate::default()),
        // It reads the tracker's CPU from /proc.
        #[cfg(target_os = "linux")]
        Box::new(crate::in_situ::TrackerInSitu::default_interval()),
        #[cfg(target_os = "linux")]
        Box::new(crate::in_situ::TrackerInSitu::fast()),
        // What any program pays to wake as often: the floor under the above.
        #[cfg(target_os = "linux")]
        Box::new(crate::in_situ::TimerWake::fast()),
    ]
}

/// A five-step pipeline, as in the manifest bench.
const PIPELINE: [(&str, &str); 5] = [
    ("prepare_scenarios", "Prepare scenarios"),
    ("collect_expert", "Collect expert trajectories"),
    ("pretrain_bc", "Pretrain behaviour cloning policy"),
    ("finetune_ppo", "Fine-tune with PPO"),
    ("evaluate", "Evaluate policy"),
];

/// Run options of fixtures: no fsync (that measures the disk, not the
/// tracker), no pruning.
fn fixture_options() -> RunOptions {
    RunOptions {
        sync: false,
        ..RunOptions::default()
    }
}

/// A record of a run halfway through the pipeline (about 2 KB of JSON).
fn sample_record(writer: &RunWriter) -> PipelineRunRecord {
    let mut record = writer.new_record();
    record.pipeline = Some("imitation-demo".to_owned());
    record.initiator = Some(
        "python scripts/run_imitation_pipeline.py --config configs/scenarios/classic_interactions.yaml --seed 7"
            .to_owned(),
    );
    record.scenario_config_path = Some("configs/scenarios/classic_interactions.yaml".to_owned());
    record.enabled_steps = PIPELINE.iter().map(|(id, _)| (*id).to_owned()).collect();
    record.steps = (1..)
        .zip(PIPELINE)
        .map(|(order, (id, name))| StepExecutionEntry::new(id, name, order))
        .collect();
    record.status = RunStatus::Running;
    let artifact_dir = record.artifact_dir.clone().unwrap_or_default();
    for (k, step) in record.steps.iter_mut().enumerate().take(3) {
        step.started_at = Some(Timestamp::now());
        step.eta_snapshot_seconds = Some(60.0 * (PIPELINE.len() - k) as f64);
        if k < 2 {
            step.status = StepStatus::Completed;
            step.ended_at = Some(Timestamp::now());
            step.duration_seconds = Some(55.0 + k as f64);
            step.artifacts = vec![format!("{artifact_dir}/{}.npz", step.step_id)];
            step.exit_code = Some(0);
            step.cpu_time_seconds = Some(101.5);
            step.peak_rss_mb = Some(812.0);
        } else {
            step.status = StepStatus::Running;
        }
    }
    record
        .summary
        .extra
        .insert("scenario_id".to_owned(), "classic_interactions".into());
    record
}

/// `manifest_append`: appending a run record to `manifest.jsonl` (one
/// serialisation and one `write`), as every step transition and progress
/// heartbeat does.
#[derive(Default)]
pub(crate) struct ManifestAppend {
    state: Option<AppendState>,
}

struct AppendState {
    // Field order: the writer (and its lock) goes before the directory.
    writer: RunWriter,
    record: PipelineRunRecord,
    in_file: u64,
    root: ArtifactRoot,
    _dir: tempfile::TempDir,
}

/// Records per manifest before the scenario starts a fresh run (keeps the
/// file around 10 MB; compaction is switched off so it is not measured).
const APPENDS_PER_RUN: u64 = 4000;

impl AppendState {
    fn rotate(&mut self) -> anyhow::Result<()> {
        let dir = self.writer.dir().to_owned();
        let options = RunOptions {
            compact_bytes: u64::MAX,
            ..fixture_options()
        };
        self.writer = RunWriter::create(&self.root, &options)?;
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot remove {}", dir.display()))?;
        self.record = sample_record(&self.writer);
        self.in_file = 0;
        Ok(())
    }
}

impl Scenario for ManifestAppend {
    fn name(&self) -> &'static str {
        "manifest_append"
    }
    fn title(&self) -> &'static str {
        "Manifest append (RunWriter::append_record)"
    }
    fn unit(&self) -> &'static str {
        "records/cpu-s"
    }
    fn matrix(&self) -> String {
        format!(
            "5-step record of about 2 KB, no fsync, a fresh manifest every {APPENDS_PER_RUN} records"
        )
    }
    fn setup(&mut self) -> anyhow::Result<()> {
        let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
        let root = ArtifactRoot::new(dir.path());
        let options = RunOptions {
            compact_bytes: u64::MAX,
            ..fixture_options()
        };
        let writer = RunWriter::create(&root, &options)?;
        let record = sample_record(&writer);
        self.state = Some(AppendState {
            writer,
            record,
            in_file: 0,
            root,
            _dir: dir,
        });
        Ok(())
    }
    fn run(&mut self, n: u64) -> anyhow::Result<Duration> {
        let state = self.state.as_mut().context("setup did not run")?;
        let mut spent = Duration::ZERO;
        let mut left = n;
        while left > 0 {
            if state.in_file >= APPENDS_PER_RUN {
                state.rotate()?;
            }
            let chunk = left.min(APPENDS_PER_RUN - state.in_file);
            let watch = CpuStopwatch::start()?;
            for _ in 0..chunk {
                state.writer.append_record(black_box(&state.record))?;
            }
            spent += watch.elapsed()?;
            state.in_file += chunk;
            left -= chunk;
        }
        Ok(spent)
    }
}

/// Runs in the `history_listing` fixture.
const HISTORY_RUNS: usize = 1000;
/// Runs listed, as `tracker list` does by default.
const LISTED: usize = 20;

/// `history_listing`: `tracker list`'s query, the newest 20 of 1,000 runs.
#[derive(Default)]
pub(crate) struct HistoryListing {
    state: Option<ListingState>,
}

struct ListingState {
    _live: Vec<RunWriter>,
    root: ArtifactRoot,
    _dir: tempfile::TempDir,
}

impl Scenario for HistoryListing {
    fn name(&self) -> &'static str {
        "history_listing"
    }
    fn title(&self) -> &'static str {
        "History listing (list_runs, newest 20 of 1,000 runs)"
    }
    fn unit(&self) -> &'static str {
        "listings/cpu-s"
    }
    fn matrix(&self) -> String {
        format!(
            "{HISTORY_RUNS} runs of 13 manifest lines (completed, failed, cancelled, abandoned, 2 live), newest {LISTED}"
        )
    }
    fn setup(&mut self) -> anyhow::Result<()> {
        let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
        let root = ArtifactRoot::new(dir.path());
        let mut live = Vec::new();
        for index in 0..HISTORY_RUNS {
            if let Some(writer) = write_history_run(&root, index)? {
                live.push(writer);
            }
        }
        let listing = list_runs(&root, &Query::default())?;
        // Write the fixture's dirty pages back now rather than while timing
        // (best effort, as in the criterion bench).
        let _ = Command::new("sync").status();
        if listing.runs.len() != HISTORY_RUNS || !listing.warnings.is_empty() {
            bail!(
                "the history fixture lists {} runs and {} warnings, expected {HISTORY_RUNS} and none",
                listing.runs.len(),
                listing.warnings.len()
            );
        }
        self.state = Some(ListingState {
            _live: live,
            root,
            _dir: dir,
        });
        Ok(())
    }
    fn run(&mut self, n: u64) -> anyhow::Result<Duration> {
        let state = self.state.as_ref().context("setup did not run")?;
        let query = Query {
            limit: Some(LISTED),
            ..Query::default()
        };
        let watch = CpuStopwatch::start()?;
        for _ in 0..n {
            let listing = list_runs(black_box(&state.root), &query)?;
            if listing.runs.len() != LISTED {
                bail!("listed {} runs, expected {LISTED}", listing.runs.len());
            }
            black_box(listing);
        }
        watch.elapsed()
    }
}

/// Writes run `index` of the history fixture; returns its writer if the run
/// stays live (the two newest).
fn write_history_run(root: &ArtifactRoot, index: usize) -> anyhow::Result<Option<RunWriter>> {
    let mut writer = RunWriter::create(root, &fixture_options())?;
    let mut record = writer.new_record();
    record.pipeline = Some("imitation-demo".to_owned());
    record.enabled_steps = PIPELINE.iter().map(|(id, _)| (*id).to_owned()).collect();
    record.steps = (1..)
        .zip(PIPELINE)
        .map(|(order, (id, name))| StepExecutionEntry::new(id, name, order))
        .collect();
    writer.append_record(&record)?;
    record.status = RunStatus::Running;
    let live = index + 2 >= HISTORY_RUNS;
    let (steps, end) = match index % 20 {
        _ if live => (3, None),
        0..=14 => (5, Some(RunStatus::Completed)),
        15 | 16 => (4, Some(RunStatus::Failed)),
        17 => (3, Some(RunStatus::Cancelled)),
        _ => (3, None), // abandoned: left running, writer dropped
    };
    for k in 0..steps {
        record.steps[k].status = StepStatus::Running;
        record.steps[k].started_at = Some(Timestamp::now());
        writer.append_record(&record)?;
        let last = k + 1 == steps;
        record.steps[k].status = match end {
            Some(RunStatus::Failed | RunStatus::Cancelled) if last => StepStatus::Failed,
            None if last => continue,
            _ => StepStatus::Completed,
        };
        record.steps[k].ended_at = Some(Timestamp::now());
        record.steps[k].duration_seconds = Some(55.0 + k as f64);
        writer.append_record(&record)?;
    }
    if let Some(status) = end {
        record.status = status;
        record.completed_at = Some(Timestamp::now());
        writer.append_record(&record)?;
    }
    writer.append_recommendation(&PerformanceRecommendation {
        trigger: "cpu_saturation".to_owned(),
        severity: Severity::Warning,
        message: "The tracked processes used 97 % of the machine for 2m.".to_owned(),
        evidence: Default::default(),
        suggested_actions: vec!["Reduce the number of parallel environments".to_owned()],
        timestamp_ms: Timestamp::now().unix_ms(),
    })?;
    Ok(live.then_some(writer))
}

/// Processes in the sampled tree, the shell included.
const TREE_PROCESSES: usize = 10;

/// `telemetry_sample`: one telemetry sample of a 10-process tree and the
/// machine, serialised and appended to `telemetry.jsonl`.
#[derive(Default)]
pub(crate) struct TelemetrySample {
    state: Option<SampleState>,
}

struct SampleState {
    collector: Collector,
    writer: RunWriter,
    tree: Tree,
    _dir: tempfile::TempDir,
}

/// A shell with sleeping children in its own process group, killed (the
/// whole group) when dropped.
struct Tree {
    shell: Child,
}

impl Tree {
    fn spawn(children: usize) -> anyhow::Result<Self> {
        let script = format!("for i in $(seq {children}); do sleep 600 & done; wait");
        let shell = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .context("cannot start the process tree (sh)")?;
        Ok(Self { shell })
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        // `kill -s KILL -- -PGID`: the whole group, the sleeps included.
        let group = format!("-{}", self.shell.id());
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.shell.wait();
    }
}

impl Scenario for TelemetrySample {
    fn name(&self) -> &'static str {
        "telemetry_sample"
    }
    fn title(&self) -> &'static str {
        "Telemetry sample (Collector::sample + append_telemetry)"
    }
    fn unit(&self) -> &'static str {
        "samples/cpu-s"
    }
    fn matrix(&self) -> String {
        format!(
            "tree of {TREE_PROCESSES} processes plus the machine, GPU if any, between process-table scans"
        )
    }
    fn setup(&mut self) -> anyhow::Result<()> {
        let tree = Tree::spawn(TREE_PROCESSES - 1)?;
        // Let the shell start its children.
        std::thread::sleep(Duration::from_millis(300));
        let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
        let writer = RunWriter::create(&ArtifactRoot::new(dir.path()), &fixture_options())?;
        let config = SamplerConfig {
            scan_every: Duration::from_secs(3600),
            // Every process's memory at every sample, as when they all run.
            idle_memory_every: Duration::ZERO,
            ..SamplerConfig::default()
        };
        let mut collector = Collector::new(config, gpu::detect());
        let first = collector.sample(probe(tree.shell.id()), Instant::now());
        if first.memory_rss_mb.is_none() {
            bail!(
                "the sampler cannot read the process tree: {:?}",
                first.notes
            );
        }
        self.state = Some(SampleState {
            collector,
            writer,
            tree,
            _dir: dir,
        });
        Ok(())
    }
    fn run(&mut self, n: u64) -> anyhow::Result<Duration> {
        let state = self.state.as_mut().context("setup did not run")?;
        let pid = state.tree.shell.id();
        let watch = CpuStopwatch::start()?;
        for _ in 0..n {
            let snapshot = state.collector.sample(probe(pid), Instant::now());
            state.writer.append_telemetry(black_box(&snapshot))?;
        }
        watch.elapsed()
    }
}

fn probe(pid: u32) -> Probe {
    Probe {
        root_pid: Some(pid),
        exclude_root: false,
        step_id: Some("train".to_owned()),
        steps_per_sec: Some(1520.0),
        fps: None,
    }
}

/// Steps in the `eta_estimate` pipeline.
const ETA_STEPS: usize = 12;

/// `eta_estimate`: the ETA of a 12-step run (5 done, 1 running with
/// progress, 6 pending with history and expected durations), computed at
/// every progress refresh.
#[derive(Default)]
pub(crate) struct EtaEstimate {
    views: Vec<StepView>,
}

impl Scenario for EtaEstimate {
    fn name(&self) -> &'static str {
        "eta_estimate"
    }
    fn title(&self) -> &'static str {
        "ETA estimation (progress::eta::estimate)"
    }
    fn unit(&self) -> &'static str {
        "estimates/cpu-s"
    }
    fn matrix(&self) -> String {
        format!("{ETA_STEPS} steps: 5 done, 1 running at 40 %, 6 pending with priors")
    }
    fn setup(&mut self) -> anyhow::Result<()> {
        self.views = (0..ETA_STEPS)
            .map(|i| {
                let prior = Prior {
                    history: (i % 3 != 0).then_some(30.0 + i as f64),
                    expected: Some(25.0 + 2.0 * i as f64),
                    spread: (i % 3 != 0).then_some(0.2),
                };
                let phase = match i {
                    0..=4 => Phase::Done {
                        actual: 33.0 + i as f64,
                    },
                    5 => Phase::Running {
                        elapsed: 12.0,
                        fraction: Some(0.4),
                    },
                    _ => Phase::Pending,
                };
                StepView { prior, phase }
            })
            .collect();
        if estimate(&self.views).remaining.is_none() {
            bail!("the ETA fixture gives no estimate");
        }
        Ok(())
    }
    fn run(&mut self, n: u64) -> anyhow::Result<Duration> {
        let watch = CpuStopwatch::start()?;
        for _ in 0..n {
            black_box(estimate(black_box(&self.views)));
        }
        watch.elapsed()
    }
}
