//! ETA accuracy against the targets of docs/perf.md, on the simulator of
//! `examples/eta_accuracy.rs`: a five-step pipeline (8, 14, 22, 5, 12 s) on
//! a manual clock, driven through the public API, under two noise models,
//! on fixed seeds, so every figure is deterministic.
//!
//! - With history (one or three earlier runs): error ≤ 10 % at every step
//!   start from step 1.
//! - Without history (no expectations, or wrong ones): error ≤ 20 % at
//!   every step start after step 2 (steps 3, 4 and 5).
//!
//! The current estimator misses some of these. They are listed, with the
//! figures and the reason, in [`KNOWN_MISSES`]: the tests fail when a target
//! outside that list is missed (a regression) and when a listed one is met
//! (an improvement: take it off the list).

#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "../examples/eta_accuracy.rs"]
mod sim;

use std::ops::RangeInclusive;

use sim::{HALF, MIXED, NOTHING, Noise, ONE_RUN, PER_RUN, PER_STEP, Scenario, THREE_RUNS};

const SEEDS: RangeInclusive<u64> = 1..=10;

/// Targets the current estimator misses on [`SEEDS`]: (scenario, noise,
/// step). The largest error over the seeds, and why, in the comments.
const KNOWN_MISSES: &[(&str, &str, usize)] = &[
    // History, steps varying independently by ±10 %: the run-speed scale is
    // fitted to the first one or two noisy steps and carried to all the
    // others (10–25 % at steps 2–3); near the end the time left is one
    // step's own noise against its history (18–22 % at step 5).
    (ONE_RUN.name, PER_STEP.name, 2),
    (ONE_RUN.name, PER_STEP.name, 3),
    (ONE_RUN.name, PER_STEP.name, 4),
    (ONE_RUN.name, PER_STEP.name, 5),
    (THREE_RUNS.name, PER_STEP.name, 2),
    (THREE_RUNS.name, PER_STEP.name, 3),
    (THREE_RUNS.name, PER_STEP.name, 4),
    (THREE_RUNS.name, PER_STEP.name, 5),
    // History, the whole run ±10 %: before any step has finished nothing
    // tells today's pace from the history's (13–16 %).
    (ONE_RUN.name, PER_RUN.name, 1),
    (THREE_RUNS.name, PER_RUN.name, 1),
    // No expectations and no history: a step with nothing known is
    // predicted as the mean of the finished ones. At step 3 that is
    // (8 + 14) / 2 for each of 22, 5 and 12 s, 15 % short before noise
    // (24 % with it). At step 4 it is (8 + 14 + 22) / 3 for each of 5 and
    // 12 s, 77–89 % over: no estimator can know the last two are short.
    (NOTHING.name, PER_STEP.name, 3),
    (NOTHING.name, PER_STEP.name, 4),
    (NOTHING.name, PER_RUN.name, 4),
    // Expectations wrong by different factors (x0.5 … x3): one run-wide
    // scale cannot correct errors that differ per step (37–64 %).
    (MIXED.name, PER_STEP.name, 3),
    (MIXED.name, PER_STEP.name, 4),
    (MIXED.name, PER_STEP.name, 5),
    (MIXED.name, PER_RUN.name, 3),
    (MIXED.name, PER_RUN.name, 4),
    (MIXED.name, PER_RUN.name, 5),
];

type Key = (&'static str, &'static str, usize);

/// Median and largest error over [`SEEDS`] at each step start (1-based),
/// for every scenario under every noise model given.
#[allow(clippy::print_stdout)]
fn measure(scenarios: &[Scenario], noises: &[Noise]) -> Vec<(Key, f64, f64)> {
    let mut out = Vec::new();
    for &noise in noises {
        for &scenario in scenarios {
            for (i, cell) in sim::stats(scenario, noise, SEEDS).into_iter().enumerate() {
                if let Some((median, max)) = cell {
                    let key = (scenario.name, noise.name, i + 1);
                    println!("{key:?}: median {median:.3}, max {max:.3}");
                    out.push((key, median, max));
                }
            }
        }
    }
    out
}

/// Asserts that, among `steps` of the scenarios measured in `figures`,
/// exactly the [`KNOWN_MISSES`] have a largest error above `bound`.
fn assert_target(figures: &[(Key, f64, f64)], steps: RangeInclusive<usize>, bound: f64) {
    let in_scope = |key: &Key| {
        steps.contains(&key.2) && figures.iter().any(|(k, ..)| k.0 == key.0 && k.1 == key.1)
    };
    let missed: Vec<Key> = figures
        .iter()
        .filter(|(key, _, max)| in_scope(key) && *max > bound)
        .map(|(key, ..)| *key)
        .collect();
    let new: Vec<_> = missed
        .iter()
        .filter(|key| !KNOWN_MISSES.contains(key))
        .collect();
    assert!(new.is_empty(), "ETA error above {bound} newly at {new:?}");
    let now_met: Vec<_> = KNOWN_MISSES
        .iter()
        .filter(|key| in_scope(key) && !missed.contains(key))
        .collect();
    assert!(
        now_met.is_empty(),
        "ETA error now within {bound}; take these off KNOWN_MISSES: {now_met:?}"
    );
}

/// The target with history, and the median within it everywhere (the
/// misses are tails).
fn assert_history_target(noise: Noise) {
    let figures = measure(&[ONE_RUN, THREE_RUNS], &[noise]);
    assert_eq!(figures.len(), 2 * 5, "an ETA at every step start");
    assert_target(&figures, 1..=5, 0.10);
    for (key, median, _) in &figures {
        assert!(*median <= 0.10, "{key:?}: median {median}");
    }
}

#[test]
fn with_history_median_eta_error_is_within_10_percent_and_only_known_tails_miss_steps_varying_alone()
 {
    assert_history_target(PER_STEP);
}

#[test]
fn with_history_median_eta_error_is_within_10_percent_and_only_known_tails_miss_whole_runs_varying()
{
    assert_history_target(PER_RUN);
}

#[test]
fn without_history_only_the_known_cases_miss_20_percent_after_step_2() {
    let figures = measure(&[NOTHING, HALF, MIXED], &[PER_STEP, PER_RUN]);
    assert_target(&figures, 3..=5, 0.20);
    // Expectations off by a common factor (all 2x too short) are 50 % off
    // before anything ran, then corrected by the run-speed scale from step
    // 2 on.
    for (key, _, max) in figures.iter().filter(|(key, ..)| key.0 == HALF.name) {
        match key.2 {
            1 => assert!((0.45..=0.55).contains(max), "{key:?}: {max}"),
            _ => assert!(*max <= 0.20, "{key:?}: {max}"),
        }
    }
}

/// Step starts the range's coverage is measured over: 5 per seed.
const RANGE_SEEDS: RangeInclusive<u64> = 1..=50;

/// With three earlier runs, the ETA range holds the true remaining time at
/// ≥ 80 % of step starts under both noise models; its median width is
/// printed (`--nocapture`) and bounded, so a range cannot buy its coverage
/// by being useless.
#[test]
#[allow(clippy::print_stdout)]
fn with_three_earlier_runs_the_eta_range_holds_the_truth_at_80_percent_of_step_starts() {
    for noise in [PER_STEP, PER_RUN] {
        for scenario in [THREE_RUNS, sim::RUNS_AND_MIXED] {
            let (held, width, n) = sim::coverage(scenario, noise, RANGE_SEEDS);
            println!(
                "{} / {}: held {:.0} %, median width {:.0} % over {n} step starts",
                scenario.name,
                noise.name,
                100.0 * held,
                100.0 * width
            );
            assert_eq!(n, 5 * RANGE_SEEDS.count(), "a range at every step start");
            assert!(
                held >= 0.80,
                "{} / {}: held {held}",
                scenario.name,
                noise.name
            );
            assert!(
                width <= 0.35,
                "{} / {}: median width {width}",
                scenario.name,
                noise.name
            );
        }
    }
    // One earlier run has no spread: no range, rather than a made-up one.
    let (_, _, n) = sim::coverage(ONE_RUN, PER_STEP, 1..=3);
    assert_eq!(n, 0);
}
