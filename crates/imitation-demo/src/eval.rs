//! Step 4: measure controllers on fresh episodes.

use serde::{Deserialize, Serialize};

use crate::config::DemoConfig;
use crate::env::{Controller, EnvConfig, Episode, Outcome, State, run_episode};
use crate::expert::Expert;
use crate::policy::{Policy, PolicyOrigin};
use crate::progress::{Progress, Ticker};
use crate::rng::Rng;

/// Random stream of the evaluation episodes' starts.
pub(crate) const STREAM_EVAL_STARTS: u64 = 5;

/// Rounds to 7 significant digits. Reported figures are stored this way so
/// that they survive a JSON round trip exactly and read well.
pub(crate) fn tidy(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let e = x.abs().log10().floor() as i32;
    let k = 6 - e;
    if (0..=22).contains(&k) {
        let p = 10f64.powi(k);
        (x * p).round() / p
    } else if (-22..0).contains(&k) {
        let p = 10f64.powi(-k);
        (x / p).round() * p
    } else {
        x
    }
}

/// How a controller did over a set of episodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControllerStats {
    /// Episodes run.
    pub episodes: u32,
    /// Share of episodes that arrived at the goal.
    pub success_rate: f64,
    /// Share of episodes that left the arena.
    pub left_arena_rate: f64,
    /// Mean sum of rewards.
    pub mean_return: f64,
    /// Mean episode length in steps.
    pub mean_steps: f64,
}

/// Accumulates [`Episode`]s into [`ControllerStats`].
#[derive(Debug, Clone, Default)]
pub struct Tally {
    episodes: u32,
    reached: u32,
    left: u32,
    total_return: f64,
    steps: u64,
}

impl Tally {
    /// Adds one episode.
    pub fn add(&mut self, episode: &Episode) {
        self.episodes += 1;
        self.reached += u32::from(episode.outcome == Outcome::Reached);
        self.left += u32::from(episode.outcome == Outcome::LeftArena);
        self.total_return += episode.total_return;
        self.steps += u64::from(episode.steps);
    }

    /// Steps over all episodes added.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The summary so far (zeros when empty).
    pub fn stats(&self) -> ControllerStats {
        let n = f64::from(self.episodes.max(1));
        ControllerStats {
            episodes: self.episodes,
            success_rate: tidy(f64::from(self.reached) / n),
            left_arena_rate: tidy(f64::from(self.left) / n),
            mean_return: tidy(self.total_return / n),
            mean_steps: tidy(self.steps as f64 / n),
        }
    }
}

/// One evaluated controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalEntry {
    /// `expert`, or the name the caller gave the policy.
    pub name: String,
    /// Where the policy came from; `None` for the expert.
    pub origin: Option<PolicyOrigin>,
    /// The results.
    #[serde(flatten)]
    pub stats: ControllerStats,
}

/// Results of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Seed of the evaluation episodes.
    pub seed: u64,
    /// The expert first, then the policies in the order given.
    pub entries: Vec<EvalEntry>,
}

impl EvalReport {
    /// The entry called `name`.
    pub fn entry(&self, name: &str) -> Option<&EvalEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// One line: `expert 98.0 % / 4.31, bc 91.2 % / 2.05, ...` (success rate
    /// and mean return).
    pub fn summary_line(&self) -> String {
        self.entries
            .iter()
            .map(|e| {
                format!(
                    "{} {:.1} % / {:.2}",
                    e.name,
                    100.0 * e.stats.success_rate,
                    e.stats.mean_return
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Runs `controller` from each of `starts`; `on_episode` sees each result.
pub(crate) fn run_all<C: Controller>(
    env: &EnvConfig,
    starts: &[State],
    mut make: impl FnMut(usize) -> C,
    mut on_episode: impl FnMut(&Episode),
) -> Tally {
    let mut tally = Tally::default();
    for (i, start) in starts.iter().enumerate() {
        let mut c = make(i);
        let episode = run_episode(env, &mut c, *start, &mut |_, _| {});
        tally.add(&episode);
        on_episode(&episode);
    }
    tally
}

/// Starts of `n` episodes from stream `stream`.
pub(crate) fn starts(env: &EnvConfig, seed: u64, stream: u64, n: u32) -> Vec<State> {
    (0..u64::from(n))
        .map(|i| State::random(env, &mut Rng::derive(seed, stream, i)))
        .collect()
}

/// How much more an expert step costs than a policy step, for progress.
fn expert_weight(config: &DemoConfig, policy: &Policy) -> f64 {
    let search = f64::from(config.expert.samples * config.expert.horizon.max(1));
    let policy_cost = (policy.hidden as f64 * 12.0 / 25.0).max(1.0);
    (search / policy_cost).max(1.0)
}

/// Evaluates the expert and each `(name, policy)` on the same
/// `config.eval.episodes` fresh episodes (a stream no training step uses).
///
/// Progress items are environment steps over all controllers.
pub fn evaluate(
    config: &DemoConfig,
    policies: &[(&str, &Policy)],
    progress: &mut dyn Progress,
) -> EvalReport {
    let n = config.eval.episodes;
    let starts = starts(&config.env, config.seed, STREAM_EVAL_STARTS, n);
    let weight = policies
        .first()
        .map_or(1.0, |(_, p)| expert_weight(config, p));
    let total = f64::from(n) * (weight + policies.len() as f64);
    let mut ticker = Ticker::new(progress, total);
    let mut entries = Vec::new();

    let expert = run_all(
        &config.env,
        &starts,
        |_| Expert::new(config.expert.clone()),
        |e| ticker.advance(weight, u64::from(e.steps)),
    );
    entries.push(EvalEntry {
        name: "expert".to_owned(),
        origin: None,
        stats: expert.stats(),
    });
    ticker.message(&format!("expert: {}", line(&expert.stats())));

    for (name, policy) in policies {
        let tally = run_all(
            &config.env,
            &starts,
            |_| policy.controller(),
            |e| ticker.advance(1.0, u64::from(e.steps)),
        );
        ticker.message(&format!("{name}: {}", line(&tally.stats())));
        entries.push(EvalEntry {
            name: (*name).to_owned(),
            origin: Some(policy.origin),
            stats: tally.stats(),
        });
    }
    ticker.finish();
    EvalReport {
        seed: config.seed,
        entries,
    }
}

fn line(s: &ControllerStats) -> String {
    format!(
        "success {:.1} %, mean return {:.2}, mean length {:.1} steps",
        100.0 * s.success_rate,
        s.mean_return,
        s.mean_steps
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy_values_survive_json_exactly() {
        for x in [
            0.0,
            1.0,
            -std::f64::consts::PI,
            0.000_123_456_789,
            12_345.678_9,
            -9.87e-12,
            2.5e9,
            1.0 / 3.0,
        ] {
            let t = tidy(x);
            assert!((t - x).abs() <= 1e-6 * x.abs(), "{x} -> {t}");
            let back: f64 =
                serde_json::from_str(&serde_json::to_string(&t).expect("ser")).expect("de");
            assert_eq!(back.to_bits(), t.to_bits(), "{x}");
        }
    }
}
