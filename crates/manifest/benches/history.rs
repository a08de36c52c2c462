//! Benchmarks [`manifest::list_runs`], the query behind `tracker list`
//! (docs/perf.md: ≤ 20 ms over 1,000 runs, ≤ 150 ms over 10,000, memory and time
//! independent of manifest length).
//!
//! Each case lists the newest 20 runs (`Query { limit: Some(20), .. }`) of an
//! artifact root built through the public API ([`RunWriter`]) in a temporary
//! directory, once per process and outside timing:
//!
//! - `1000_runs/14_lines` and `10000_runs/14_lines`: each run executes a
//!   five-step pipeline, one record line per transition (pending, start and
//!   end of each step, final status) plus two `{"recommendation": …}` lines,
//!   the last one after the final record, so the reader skips it;
//! - `1000_runs/204_lines`: the same with 38 progress records per step, to
//!   show that listing reads a manifest's tail, not the whole file.
//!
//! Runs end completed (75 %), failed (10 %), cancelled (5 %) or abandoned
//! (10 %: left `running` with the writer dropped, so the lister probes the
//! lock and finds it free); the two newest runs stay live, their writers
//! and locks held while timing. Line counts are those of a completed run;
//! a record line is about 2.4 KB.
//!
//! The page cache is warm (the root was just written, then `sync`ed so that
//! writeback does not compete with timing): the figures are those of a
//! `tracker list` on a machine that has touched its runs recently, not of a
//! cold disk.
//!
//! Run it with `cargo bench -p manifest --bench history`; add a filter such
//! as `-- 10000_runs` to run one case (only that case's root is built, in
//! about 1–2 s per 1,000 runs). `cargo test --benches` runs each case once
//! over a fiftieth of the runs (`20_runs`, `200_runs`), a smoke test that
//! checks every run lists in the state it was written to end in.

use std::cell::OnceCell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use manifest::{ArtifactRoot, Query, RunOptions, RunState, RunWriter, list_runs};
use telemetry_model::{
    PerformanceRecommendation, PipelineRunRecord, RunStatus, Severity, StepExecutionEntry,
    StepStatus, Timestamp,
};

/// The pipeline every run executes: step id and display name.
const PIPELINE: [(&str, &str); 5] = [
    ("prepare_scenarios", "Prepare scenarios"),
    ("collect_expert", "Collect expert trajectories"),
    ("pretrain_bc", "Pretrain behaviour cloning policy"),
    ("finetune_ppo", "Fine-tune with PPO"),
    ("evaluate", "Evaluate policy"),
];

/// How many of the newest runs keep a live writer while timing.
const LIVE_RUNS: usize = 2;

/// How a run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Completed,
    Failed,
    Cancelled,
    /// Left `running`, writer dropped: listed as abandoned.
    Abandoned,
    /// Left `running`, writer kept: listed as running.
    Live,
}

impl Outcome {
    /// The outcome of run `index` out of `runs` (oldest first).
    fn of(index: usize, runs: usize) -> Self {
        if index + LIVE_RUNS >= runs {
            return Self::Live;
        }
        match index % 20 {
            0..=14 => Self::Completed,
            15 | 16 => Self::Failed,
            17 => Self::Cancelled,
            _ => Self::Abandoned,
        }
    }

    /// Steps started before the run ends or stops (the last one may be
    /// unfinished).
    fn steps_started(self) -> usize {
        match self {
            Self::Completed => PIPELINE.len(),
            Self::Failed => 4,
            Self::Cancelled | Self::Abandoned | Self::Live => 3,
        }
    }

    /// The status of the run's final record; `None` if it never writes one.
    fn final_status(self) -> Option<RunStatus> {
        match self {
            Self::Completed => Some(RunStatus::Completed),
            Self::Failed => Some(RunStatus::Failed),
            Self::Cancelled => Some(RunStatus::Cancelled),
            Self::Abandoned | Self::Live => None,
        }
    }

    fn state(self) -> RunState {
        match self {
            Self::Completed => RunState::Completed,
            Self::Failed => RunState::Failed,
            Self::Cancelled => RunState::Cancelled,
            Self::Abandoned => RunState::Abandoned,
            Self::Live => RunState::Running,
        }
    }
}

/// The size of an artifact root.
#[derive(Clone, Copy, Debug)]
struct Shape {
    runs: usize,
    /// Progress records committed while each step runs.
    heartbeats_per_step: usize,
}

impl Shape {
    /// Manifest lines of a completed run: the pending record, two per step,
    /// the heartbeats, the final record and two recommendations.
    fn lines_per_run(self) -> usize {
        1 + PIPELINE.len() * (2 + self.heartbeats_per_step) + 1 + 2
    }
}

/// An artifact root full of runs. Fields drop in order: the live writers
/// release their locks before the directory is removed.
struct Fixture {
    live: Vec<RunWriter>,
    root: ArtifactRoot,
    _dir: tempfile::TempDir,
}

impl Fixture {
    #[expect(
        clippy::print_stderr,
        reason = "says why the bench pauses before a case"
    )]
    fn build(shape: Shape) -> Self {
        let started = Instant::now();
        let dir = tempfile::tempdir().expect("create a temporary artifact root");
        let root = ArtifactRoot::new(dir.path());
        let options = RunOptions {
            // Keep-all makes `create` skip pruning; no fsync per record.
            sync: false,
            ..RunOptions::default()
        };
        let mut live = Vec::new();
        for index in 0..shape.runs {
            let outcome = Outcome::of(index, shape.runs);
            let writer = write_run(&root, &options, outcome, shape.heartbeats_per_step);
            if outcome == Outcome::Live {
                live.push(writer);
            }
        }
        let fixture = Self {
            live,
            root,
            _dir: dir,
        };
        fixture.check(shape);
        // Best effort: write the root's dirty pages back now rather than
        // while timing. Without `sync` (not on Linux) timing is just noisier.
        let _ = std::process::Command::new("sync").status();
        eprintln!(
            "built {} runs of {} manifest lines in {:.1?}",
            shape.runs,
            shape.lines_per_run(),
            started.elapsed()
        );
        fixture
    }

    /// Checks, outside timing, that every run lists in the state it was
    /// written to end in and that nothing was skipped.
    fn check(&self, shape: Shape) {
        let all = list_runs(&self.root, &Query::default()).expect("list the fixture");
        assert!(all.warnings.is_empty(), "{:?}", all.warnings.first());
        assert_eq!(all.runs.len(), shape.runs);
        assert_eq!(self.live.len(), LIVE_RUNS);
        for state in RunState::ALL {
            let expected = (0..shape.runs)
                .filter(|&i| Outcome::of(i, shape.runs).state() == *state)
                .count();
            let listed = all.runs.iter().filter(|r| r.state == *state).count();
            assert_eq!(listed, expected, "runs listed as {state}");
        }
    }
}

/// Writes one run as a pipeline would and returns its writer (dropped by
/// the caller unless the run is to stay live).
fn write_run(
    root: &ArtifactRoot,
    options: &RunOptions,
    outcome: Outcome,
    heartbeats_per_step: usize,
) -> RunWriter {
    let mut writer = RunWriter::create(root, options).expect("create a run");
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
    record
        .summary
        .extra
        .insert("scenario_id".to_owned(), "classic_interactions".into());
    writer
        .append_record(&record)
        .expect("append the pending record");

    record.status = RunStatus::Running;
    let started = outcome.steps_started();
    for k in 0..started {
        let eta = 60.0 * (PIPELINE.len() - k) as f64;
        let step = &mut record.steps[k];
        step.status = StepStatus::Running;
        step.started_at = Some(Timestamp::now());
        step.eta_snapshot_seconds = Some(eta);
        writer.append_record(&record).expect("append a step start");

        for beat in 0..heartbeats_per_step {
            let progress = (beat + 1) as f64 / (heartbeats_per_step + 1) as f64;
            let extra = &mut record.summary.extra;
            extra.insert("step_progress".to_owned(), progress.into());
            extra.insert("eta_seconds".to_owned(), (eta * (1.0 - progress)).into());
            writer
                .append_record(&record)
                .expect("append a progress record");
        }

        let last = k + 1 == started;
        let artifact_dir = record.artifact_dir.clone().unwrap_or_default();
        let step = &mut record.steps[k];
        let stops_here = last && outcome != Outcome::Completed;
        step.status = match outcome {
            _ if !stops_here => StepStatus::Completed,
            Outcome::Failed | Outcome::Cancelled => StepStatus::Failed,
            _ => continue, // abandoned or live: the step never ends
        };
        step.ended_at = Some(Timestamp::now());
        step.duration_seconds = Some(55.0 + k as f64);
        step.artifacts = vec![format!("{artifact_dir}/{}.npz", step.step_id)];
        step.exit_code = Some(i32::from(step.status == StepStatus::Failed));
        writer.append_record(&record).expect("append a step end");
        if k == 1 {
            writer
                .append_recommendation(&recommendation("cpu_saturation"))
                .expect("append a recommendation");
        }
    }

    match outcome.final_status() {
        Some(status) => {
            finish(&mut record, status);
            writer
                .append_record(&record)
                .expect("append the final record");
            writer.append_recommendation(&recommendation("throughput_below_baseline"))
        }
        None => writer.append_recommendation(&recommendation("memory_pressure")),
    }
    .expect("append a recommendation");
    // `steps.json` once per run rather than per transition (`commit`):
    // listing never reads it, and 11 rewrites a run would only slow the
    // building of 10,000 runs.
    writer.write_steps(&record.steps).expect("write steps.json");
    writer
}

fn finish(record: &mut PipelineRunRecord, status: RunStatus) {
    let now = Timestamp::now();
    record.status = status;
    record.completed_at = Some(now);
    record.summary.total_duration = Some(now.seconds_since(record.created_at));
    record.summary.extra.remove("step_progress");
    record.summary.extra.remove("eta_seconds");
}

fn recommendation(trigger: &str) -> PerformanceRecommendation {
    PerformanceRecommendation {
        trigger: trigger.to_owned(),
        severity: Severity::Warning,
        message: format!("{trigger}: the step ran 31% below its baseline throughput"),
        evidence: [
            ("throughput_baseline".to_owned(), 1200.0.into()),
            ("throughput_measured".to_owned(), 828.0.into()),
            ("threshold_ratio".to_owned(), 0.75.into()),
        ]
        .into_iter()
        .collect(),
        suggested_actions: vec![
            "Check CPU contention from other processes".to_owned(),
            "Reduce the number of parallel environments".to_owned(),
        ],
        timestamp_ms: Timestamp::now().unix_ms(),
    }
}

fn bench_list_runs(c: &mut Criterion) {
    // A smoke test needs no big roots: a fiftieth of the runs, at least the
    // 20 listed.
    let scale = if smoke_test() { 50 } else { 1 };
    let shapes = [(1_000, 0), (10_000, 0), (1_000, 38)].map(|(runs, heartbeats_per_step)| Shape {
        runs: runs / scale,
        heartbeats_per_step,
    });
    let query = Query {
        limit: Some(20),
        ..Query::default()
    };
    let mut group = c.benchmark_group("list_runs");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sampling_mode(SamplingMode::Flat);
    for shape in shapes {
        let fixture = OnceCell::new();
        let id = BenchmarkId::new(
            format!("{}_runs", shape.runs),
            format!("{}_lines", shape.lines_per_run()),
        );
        group.throughput(Throughput::Elements(shape.runs as u64));
        group.bench_function(id, |b| {
            let root = &fixture.get_or_init(|| Fixture::build(shape)).root;
            b.iter(|| {
                let listing = list_runs(black_box(root), &query).expect("list runs");
                assert_eq!(listing.runs.len(), 20);
                listing
            });
        });
    }
    group.finish();
}

/// Whether criterion will run each case once instead of measuring it: it
/// measures only under `cargo bench`, which passes `--bench` (and not
/// `--test`); `cargo test --benches` passes neither.
fn smoke_test() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    !has("--bench") || has("--test")
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench_list_runs(&mut criterion);
    criterion.final_summary();
}
