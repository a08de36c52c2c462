//! Scripted measurement of ETA accuracy (targets in docs/perf.md).
//!
//! Simulates a five-step pipeline on a manual clock through the public API
//! (`ProgressTracker`, history on disk, `eta_snapshot_seconds`) and prints,
//! for each step index, the median and largest relative error of the ETA
//! shown when the step started:
//!
//! ```text
//! error = |ETA shown − (this step + every later step, as they really ran)|
//!         / (this step + every later step)
//! ```
//!
//! Run it with `cargo run --release -p progress --example eta_accuracy`.
//! `tests/eta_accuracy.rs` asserts the targets on the same simulator.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use manifest::{ArtifactRoot, RunOptions};
use progress::{Display, Ending, ManualClock, ProgressTracker, StepSpec, TrackerOptions};
use telemetry_model::{PipelineRunRecord, StepExecutionEntry};

/// Nominal step durations in seconds (61 s in all).
pub(crate) const NOMINAL: [f64; 5] = [8.0, 14.0, 22.0, 5.0, 12.0];
const STEPS: [(&str, &str); 5] = [
    ("collect", "Collect expert trajectories"),
    ("pretrain", "Pre-train by behaviour cloning"),
    ("train", "Train with PPO"),
    ("evaluate", "Evaluate"),
    ("export", "Export and report"),
];

/// SplitMix64: a small seeded PRNG, so every figure is reproducible.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `1 ± half_width`.
    fn factor(&mut self, half_width: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        1.0 + half_width * (2.0 * unit - 1.0)
    }
}

/// How one run's durations differ from [`NOMINAL`]: a factor for the whole
/// run (today's machine) times an independent factor per step.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Noise {
    /// Label for the table.
    pub(crate) name: &'static str,
    /// Half-width of the per-run factor (0.1 = ±10 %).
    pub(crate) run: f64,
    /// Half-width of the per-step factor.
    pub(crate) step: f64,
}

/// Every step ±10 %, independently, in every run: the harsh reading.
pub(crate) const PER_STEP: Noise = Noise {
    name: "each step ±10 % independently",
    run: 0.0,
    step: 0.10,
};
/// The whole run ±10 % (machine load), each step a further ±3 %.
pub(crate) const PER_RUN: Noise = Noise {
    name: "whole run ±10 %, each step ±3 %",
    run: 0.10,
    step: 0.03,
};

impl Noise {
    fn draw(self, rng: &mut Rng) -> [f64; 5] {
        let run = rng.factor(self.run);
        NOMINAL.map(|nominal| nominal * run * rng.factor(self.step))
    }
}

/// What the tracker is told before the measured run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scenario {
    /// Label for the table.
    pub(crate) name: &'static str,
    /// Configured expected durations as multiples of [`NOMINAL`].
    pub(crate) expected: Option<[f64; 5]>,
    /// Completed runs of the same pipeline before the measured one.
    pub(crate) earlier_runs: usize,
}

/// (a) nothing known.
pub(crate) const NOTHING: Scenario = Scenario {
    name: "(a) no expectations, no history",
    expected: None,
    earlier_runs: 0,
};
/// (b) every expectation 2x too short.
pub(crate) const HALF: Scenario = Scenario {
    name: "(b) expected all 2x too short",
    expected: Some([0.5; 5]),
    earlier_runs: 0,
};
/// (b') expectations wrong by different factors, ×0.5 to ×3.
pub(crate) const MIXED: Scenario = Scenario {
    name: "(b') expected x0.5, x3, x1.5, x2, x0.75",
    expected: Some([0.5, 3.0, 1.5, 2.0, 0.75]),
    earlier_runs: 0,
};
/// (c) one earlier completed run.
pub(crate) const ONE_RUN: Scenario = Scenario {
    name: "(c) 1 earlier run",
    expected: None,
    earlier_runs: 1,
};
/// (c') three earlier completed runs.
pub(crate) const THREE_RUNS: Scenario = Scenario {
    name: "(c') 3 earlier runs",
    expected: None,
    earlier_runs: 3,
};
/// (c'') three earlier runs and (mixed, wrong) expectations: history wins.
pub(crate) const RUNS_AND_MIXED: Scenario = Scenario {
    name: "(c'') 3 earlier runs + mixed expected",
    expected: MIXED.expected,
    earlier_runs: 3,
};

/// One pipeline run on the manual clock; returns its final record.
fn run_once(
    root: &ArtifactRoot,
    clock: &Arc<ManualClock>,
    scenario: Scenario,
    durations: [f64; 5],
) -> PipelineRunRecord {
    let mut options = TrackerOptions::new("eta-accuracy", root.clone());
    options.refresh = None;
    options.clock = clock.clone();
    options.display = Display::Quiet;
    options.history_runs = 5;
    options.run = RunOptions {
        sync: false,
        ..RunOptions::default()
    };
    let specs = STEPS
        .iter()
        .enumerate()
        .map(|(i, (id, name))| {
            let spec = StepSpec::new(*id, *name);
            match scenario.expected {
                Some(factors) => spec.expected(Duration::from_secs_f64(NOMINAL[i] * factors[i])),
                None => spec,
            }
        })
        .collect();
    let tracker = ProgressTracker::start(options, specs).unwrap();
    for ((id, _), seconds) in STEPS.iter().zip(durations) {
        tracker.start_step(id).unwrap();
        clock.advance_secs(seconds);
        tracker.complete_step(id).unwrap();
    }
    let record = tracker.finish(Ending::FromSteps).unwrap();
    clock.advance_secs(60.0); // a pause between runs
    record
}

/// The steps of the measured run: the last of `scenario.earlier_runs + 1`
/// runs on one root, durations drawn from `noise` with `seed`.
fn measured_steps(scenario: Scenario, noise: Noise, seed: u64) -> Vec<StepExecutionEntry> {
    let tmp = tempfile::tempdir().unwrap();
    let root = ArtifactRoot::new(tmp.path());
    let clock = Arc::new(ManualClock::starting_at_ms(1_750_000_000_000));
    let mut rng = Rng(seed);
    let mut record = None;
    for _ in 0..=scenario.earlier_runs {
        record = Some(run_once(&root, &clock, scenario, noise.draw(&mut rng)));
    }
    record.unwrap().steps
}

/// `judge(step, truth)` at each step start of the measured run (after
/// `scenario.earlier_runs` runs on the same root), `truth` being the time
/// the run really had left then (as recorded: the clock rounds to
/// milliseconds).
fn at_each_start<T>(
    scenario: Scenario,
    noise: Noise,
    seed: u64,
    judge: impl Fn(&StepExecutionEntry, f64) -> Option<T>,
) -> Vec<Option<T>> {
    let steps = measured_steps(scenario, noise, seed);
    let actual: Vec<f64> = steps.iter().map(|s| s.duration_seconds.unwrap()).collect();
    steps
        .iter()
        .enumerate()
        .map(|(i, step)| judge(step, actual[i..].iter().sum()))
        .collect()
}

/// Relative ETA error at each step start of the measured run; `None` where
/// no ETA was shown.
pub(crate) fn errors(scenario: Scenario, noise: Noise, seed: u64) -> Vec<Option<f64>> {
    at_each_start(scenario, noise, seed, |step, truth| {
        step.eta_snapshot_seconds
            .map(|eta| (eta - truth).abs() / truth)
    })
}

/// The ETA ranges recorded at each step start of the measured run, each
/// against the truth: `(held it, width / truth)`; `None` where no range was
/// recorded (too little history).
pub(crate) fn ranges(scenario: Scenario, noise: Noise, seed: u64) -> Vec<Option<(bool, f64)>> {
    at_each_start(scenario, noise, seed, |step, truth| {
        step.eta_range_seconds
            .map(|[low, high]| (low <= truth && truth <= high, (high - low) / truth))
    })
}

/// Over `seeds`: the share of step starts whose range held the true
/// remaining time, the median relative width of the ranges, and how many
/// step starts had a range.
pub(crate) fn coverage(
    scenario: Scenario,
    noise: Noise,
    seeds: impl Iterator<Item = u64>,
) -> (f64, f64, usize) {
    let all: Vec<(bool, f64)> = seeds
        .flat_map(|s| ranges(scenario, noise, s))
        .flatten()
        .collect();
    let held = all.iter().filter(|(held, _)| *held).count();
    let mut widths: Vec<f64> = all.iter().map(|(_, w)| *w).collect();
    widths.sort_by(f64::total_cmp);
    let n = widths.len();
    let median = if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        widths[n / 2]
    } else {
        (widths[n / 2 - 1] + widths[n / 2]) / 2.0
    };
    (held as f64 / n.max(1) as f64, median, n)
}

/// Median and maximum error per step index over `seeds`; `None` where no
/// ETA was shown in some run.
pub(crate) fn stats(
    scenario: Scenario,
    noise: Noise,
    seeds: impl Iterator<Item = u64>,
) -> Vec<Option<(f64, f64)>> {
    let runs: Vec<Vec<Option<f64>>> = seeds.map(|s| errors(scenario, noise, s)).collect();
    (0..NOMINAL.len())
        .map(|i| {
            let mut column: Vec<f64> = runs.iter().map(|r| r[i]).collect::<Option<_>>()?;
            column.sort_by(f64::total_cmp);
            let n = column.len();
            let median = if n % 2 == 1 {
                column[n / 2]
            } else {
                (column[n / 2 - 1] + column[n / 2]) / 2.0
            };
            Some((median, column[n - 1]))
        })
        .collect()
}

fn main() {
    const SEEDS: u64 = 50;
    println!(
        "ETA error at each step start: median / max over {SEEDS} seeded runs \
         (nominal durations {NOMINAL:?} s)\n"
    );
    for noise in [PER_STEP, PER_RUN] {
        println!("Noise: {}\n", noise.name);
        println!("| scenario | step 1 | step 2 | step 3 | step 4 | step 5 |");
        println!("|---|---|---|---|---|---|");
        for scenario in [NOTHING, HALF, MIXED, ONE_RUN, THREE_RUNS, RUNS_AND_MIXED] {
            let cells: Vec<String> = stats(scenario, noise, 1..=SEEDS)
                .into_iter()
                .map(|cell| match cell {
                    Some((median, max)) => {
                        format!("{:.1} / {:.1} %", 100.0 * median, 100.0 * max)
                    }
                    None => "no ETA".into(),
                })
                .collect();
            println!("| {} | {} |", scenario.name, cells.join(" | "));
        }
        println!();
    }
    println!("ETA range: share of step starts whose range held the truth, median width\n");
    println!("| scenario | noise | held | median width | step starts |");
    println!("|---|---|---|---|---|");
    for noise in [PER_STEP, PER_RUN] {
        for scenario in [THREE_RUNS, RUNS_AND_MIXED] {
            let (held, width, n) = coverage(scenario, noise, 1..=SEEDS);
            println!(
                "| {} | {} | {:.0} % | {:.0} % | {n} |",
                scenario.name,
                noise.name,
                100.0 * held,
                100.0 * width
            );
        }
    }
}
