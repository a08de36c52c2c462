//! `tracker perf-tests --scenario PIPELINE.toml`: run a pipeline N times as
//! one tracked run and gate each step's throughput against its baseline
//! (docs/perf.md).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use manifest::ArtifactRoot;
use perf_gate::{Baselines, Gate, Measurement, Verdict};
use progress::StepSpec;
use runner::{ChannelReader, Pipeline, Session, StderrReporter, Step, channel_path};
use telemetry_model::{RunStatus, StepStatus};

use crate::cli::PerfTestsArgs;
use crate::commands::Context;
use crate::commands::run::{print_recommendations, print_resources};
use crate::exit::Outcome;

/// `summary.perf_tests.kind` of these runs.
const KIND: &str = "scenario";
/// Fewest repeats a baseline is written from: the median of one or two
/// runs is too noisy to gate later runs against.
const MIN_BASELINE_REPEATS: u32 = 3;
/// Unit of a throughput from `{"steps": N}` reports.
const STEPS_UNIT: &str = "steps/s";
/// Unit of a throughput from `{"fps": X}` reports.
const FPS_UNIT: &str = "fps";

pub(crate) fn run(
    ctx: &Context,
    args: &PerfTestsArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    if args.update_baselines && args.repeat < MIN_BASELINE_REPEATS {
        bail!(
            "--update-baselines needs at least {MIN_BASELINE_REPEATS} repeats (got --repeat {}): \
             a baseline from fewer is one noisy measurement, and later runs would breach it \
             by chance",
            args.repeat
        );
    }
    let pipeline = Pipeline::load(&args.scenario)?;
    let steps: Vec<&Step> = pipeline.steps.iter().filter(|s| s.enabled).collect();
    if steps.is_empty() {
        bail!(
            "no enabled step in {}: nothing to measure",
            args.scenario.display()
        );
    }
    let baselines_path = args
        .baselines
        .clone()
        .unwrap_or_else(|| default_baselines(&args.scenario));
    let (baselines, existed) = Baselines::load_or_empty(&baselines_path)?;
    if !existed {
        writeln!(
            err,
            "note: {} does not exist: every step is recorded as a candidate \
             (--update-baselines writes it)",
            baselines_path.display()
        )?;
    }

    let mut plan = Vec::new();
    let mut specs = Vec::new();
    for r in 1..=args.repeat {
        for step in &steps {
            let id = repetition_id(&step.id, r)?;
            let mut spec =
                StepSpec::new(&id, format!("{} (repeat {r}/{})", step.name, args.repeat));
            spec.expected = step.expected_seconds.map(Duration::from_secs_f64);
            specs.push(spec);
            plan.push((id, *step));
        }
    }
    let ctx = Context {
        root: args
            .output
            .as_ref()
            .map_or_else(|| ctx.root.clone(), ArtifactRoot::new),
        project: ctx.project.clone(),
        now: ctx.now,
    };
    let scenario = args.scenario.display().to_string();
    let mut settings =
        crate::commands::run::settings(&ctx, &pipeline, args.plain, args.no_telemetry, None)?;
    settings.scenario = Some(scenario.clone());
    settings.retention = ctx.retention(args.keep);
    let mut session = Session::start(&settings, specs, Vec::new(), Arc::new(StderrReporter))?;
    perf_gate::mark_perf_run(session.tracker(), KIND, Some(&baselines_path));
    let failure = session.run_steps(&pipeline, &plan);
    session.stop_sampling();
    if session.interrupted() {
        if let Some(interrupt) = session.end_interrupted().interrupt {
            interrupt.reraise();
        }
        return Ok(Outcome::Failure);
    }
    let recommendations = session.assess();
    let run_dir = session.run_dir().to_owned();
    if let Some(failure) = failure {
        let record = session.conclude(RunStatus::Failed, Some(&failure))?;
        print_resources(err, &record)?;
        print_recommendations(err, &recommendations, &run_dir)?;
        writeln!(err, "error: no perf results: {failure}")?;
        return Ok(Outcome::Failure);
    }

    let measurements = measure(
        &session,
        &pipeline,
        &steps,
        args.repeat,
        &baselines,
        &scenario,
    );
    if measurements.is_empty() {
        writeln!(
            err,
            "warning: no step reported a throughput ({{\"steps\": N}} or {{\"fps\": X}} on \
             TRACKER_PROGRESS): nothing to compare"
        )?;
    }
    let gate = Gate {
        kind: KIND,
        baselines_path: &baselines_path,
        baselines,
        source_dir: &pipeline.dir,
        repeats: format!(
            "{} repeat{}",
            args.repeat,
            if args.repeat == 1 { "" } else { "s" }
        ),
        profile: None,
        update_baselines: args.update_baselines,
    };
    let mut record = None;
    let verdict = perf_gate::finish::<anyhow::Error>(
        session.tracker(),
        gate,
        &measurements,
        |status, reason, err| {
            let concluded = session.conclude(status, reason)?;
            print_resources(err, &concluded)?;
            print_recommendations(err, &recommendations, &run_dir)?;
            record = Some(concluded);
            Ok(())
        },
        || session.interrupted(),
        out,
        err,
    )?;
    let record = record.unwrap_or_else(|| session.tracker().record());
    if let Some(interrupt) = session.into_ended(record, recommendations, false).interrupt {
        // A signal during measuring or recording cancelled the run.
        interrupt.reraise();
        return Ok(Outcome::Failure);
    }
    Ok(match verdict {
        Verdict::Passed | Verdict::BaselinesUpdated => Outcome::Success,
        Verdict::Failed | Verdict::Interrupted => Outcome::Failure,
    })
}

/// `baselines.json` in the scenario file's directory.
fn default_baselines(scenario: &Path) -> PathBuf {
    scenario.with_file_name("baselines.json")
}

/// The tracked id of repetition `r` of a step: `train.r2`.
fn repetition_id(step_id: &str, r: u32) -> anyhow::Result<String> {
    let id = format!("{step_id}.r{r}");
    if !progress::valid_step_id(&id) {
        bail!(
            "step id `{step_id}` is too long for perf-tests: with the repetition suffix `.r{r}` \
             it exceeds {} characters",
            progress::MAX_STEP_ID_LEN
        );
    }
    Ok(id)
}

/// The baseline key of a step: `PIPELINE_NAME/STEP_ID`.
fn test_id(pipeline: &Pipeline, step: &Step) -> String {
    format!("{}/{}", pipeline.name, step.id)
}

/// What one execution of a step reported on its progress channel.
#[derive(Debug, Default, PartialEq)]
struct Reported {
    /// The last cumulative `steps` count.
    items: Option<u64>,
    /// Every `fps` value.
    fps: Vec<f64>,
}

fn read_channel(path: PathBuf) -> Reported {
    let mut reported = Reported::default();
    ChannelReader::new(path).poll(|_, line| {
        if let Some(report) = line.ok().and_then(|u| u.report) {
            if report.items.is_some() {
                reported.items = report.items;
            }
            reported.fps.extend(report.fps);
        }
    });
    reported
}

/// Each step's throughput in every completed repetition: items reported /
/// the step's wall time, else its mean reported fps. Steps that reported
/// neither are not perf tests, unless they have a baseline (then they fail:
/// nothing measured).
fn measure(
    session: &Session,
    pipeline: &Pipeline,
    steps: &[&Step],
    repeat: u32,
    baselines: &Baselines,
    scenario: &str,
) -> Vec<Measurement> {
    let record = session.tracker().record();
    let mut measurements = Vec::new();
    for step in steps {
        let key = test_id(pipeline, step);
        let (mut rates, mut fps, mut seconds) = (Vec::new(), Vec::new(), 0.0);
        for r in 1..=repeat {
            let Ok(id) = repetition_id(&step.id, r) else {
                continue;
            };
            let Some(entry) = record
                .step(&id)
                .filter(|e| e.status == StepStatus::Completed)
            else {
                continue;
            };
            let secs = entry.duration_seconds.filter(|s| *s > 0.0);
            seconds += secs.unwrap_or(0.0);
            let reported = read_channel(channel_path(session.run_dir(), &id));
            if let (Some(items), Some(secs)) = (reported.items, secs) {
                rates.push(items as f64 / secs);
            }
            if !reported.fps.is_empty() {
                fps.push(reported.fps.iter().sum::<f64>() / reported.fps.len() as f64);
            }
        }
        let (unit, samples) = if !rates.is_empty() {
            (STEPS_UNIT.to_owned(), rates)
        } else if !fps.is_empty() {
            (FPS_UNIT.to_owned(), fps)
        } else if let Some(entry) = baselines.get(&key) {
            (entry.unit.clone(), Vec::new())
        } else {
            continue;
        };
        measurements.push(Measurement {
            test_id: key,
            matrix: Some(scenario.to_owned()),
            unit,
            samples,
            duration_seconds: seconds,
        });
    }
    measurements
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repetition_ids_and_default_baselines() {
        assert_eq!(repetition_id("train", 2).unwrap(), "train.r2");
        let long = "x".repeat(62);
        let err = repetition_id(&long, 10).unwrap_err().to_string();
        assert!(err.contains("too long for perf-tests"), "{err}");
        assert_eq!(
            default_baselines(Path::new("examples/perf-scenario/pipeline.toml")),
            Path::new("examples/perf-scenario/baselines.json")
        );
        assert_eq!(
            default_baselines(Path::new("pipeline.toml")),
            Path::new("baselines.json")
        );
    }

    #[test]
    fn the_channel_gives_the_last_count_and_every_fps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        std::fs::write(
            &path,
            "{\"steps\": 10}\n{\"fps\": 30}\nbad\n{\"steps\": 25, \"fps\": 40}\n{\"progress\": 1}\n",
        )
        .unwrap();
        assert_eq!(
            read_channel(path),
            Reported {
                items: Some(25),
                fps: vec![30.0, 40.0]
            }
        );
        assert_eq!(
            read_channel(dir.path().join("missing")),
            Reported::default()
        );
    }
}
