//! Workload sizes: one [`DemoConfig`] per [`Scale`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::env::EnvConfig;
use crate::expert::ExpertConfig;

/// How much work the pipeline does. The task itself is the same at every
/// scale; only episode counts, network size and iteration counts change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scale {
    /// A few hundred milliseconds in a debug build: for tests and doctests.
    Quick,
    /// The demo: roughly 8 s collect, 15 s pre-train, 20 s fine-tune and
    /// 5 s evaluation in a release build on a small machine.
    Default,
}

impl Scale {
    /// The lower-case name (`quick`, `default`).
    pub fn name(self) -> &'static str {
        match self {
            Scale::Quick => "quick",
            Scale::Default => "default",
        }
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error for a scale name that is neither `quick` nor `default`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scale {0:?} (expected quick or default)")]
pub struct ScaleParseError(pub String);

impl FromStr for Scale {
    type Err = ScaleParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "quick" => Ok(Scale::Quick),
            "default" => Ok(Scale::Default),
            other => Err(ScaleParseError(other.to_owned())),
        }
    }
}

/// Step 1: expert data collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectConfig {
    /// Expert episodes to record.
    pub episodes: u32,
}

/// Step 2: behaviour cloning (minibatch Adam on mean squared error).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainConfig {
    /// Hidden units of the policy network.
    pub hidden: usize,
    /// Passes over the training set.
    pub epochs: u32,
    /// Minibatch size.
    pub batch_size: usize,
    /// Initial Adam step size; decays with a cosine schedule to 10 % of it.
    pub learning_rate: f64,
    /// Share of the pairs held out to measure validation loss.
    pub validation_fraction: f64,
}

/// Step 3: RL fine-tuning by antithetic random search (ARS / ES).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetuneConfig {
    /// Parameter updates.
    pub iterations: u32,
    /// Random directions per update (each evaluated at `+σ` and `−σ`).
    pub directions: u32,
    /// Episodes per evaluation of a perturbed policy (the same starts for
    /// every direction of an update: common random numbers).
    pub episodes_per_eval: u32,
    /// Perturbation size `σ`.
    pub noise_std: f64,
    /// Update size `α` (the update is normalised by the spread of returns).
    pub step_size: f64,
    /// Fixed training episodes on which the best parameters are chosen.
    pub selection_episodes: u32,
    /// Evaluate on the selection episodes every this many updates.
    pub select_every: u32,
}

/// Step 4: evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    /// Fresh episodes per controller (the same starts for all of them).
    pub episodes: u32,
}

/// Everything the four steps need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoConfig {
    /// The workload size these numbers came from.
    pub scale: Scale,
    /// Seed from which every random stream of every step is derived.
    pub seed: u64,
    /// The task.
    pub env: EnvConfig,
    /// The expert.
    pub expert: ExpertConfig,
    /// Step 1.
    pub collect: CollectConfig,
    /// Step 2.
    pub pretrain: PretrainConfig,
    /// Step 3.
    pub finetune: FinetuneConfig,
    /// Step 4.
    pub eval: EvalConfig,
}

impl DemoConfig {
    /// The configuration for `scale`, with seed 0.
    pub fn new(scale: Scale) -> Self {
        let env = EnvConfig::default();
        match scale {
            Scale::Quick => Self {
                scale,
                seed: 0,
                env,
                expert: ExpertConfig {
                    kp: 3.0,
                    kd: 3.0,
                    samples: 16,
                    horizon: 20,
                    search_radius: 0.5,
                    temperature: 0.2,
                },
                collect: CollectConfig { episodes: 30 },
                pretrain: PretrainConfig {
                    hidden: 16,
                    epochs: 25,
                    batch_size: 32,
                    learning_rate: 0.01,
                    validation_fraction: 0.1,
                },
                finetune: FinetuneConfig {
                    iterations: 30,
                    directions: 4,
                    episodes_per_eval: 4,
                    noise_std: 0.03,
                    step_size: 0.02,
                    selection_episodes: 16,
                    select_every: 5,
                },
                eval: EvalConfig { episodes: 30 },
            },
            Scale::Default => Self {
                scale,
                seed: 0,
                env,
                expert: ExpertConfig {
                    kp: 3.0,
                    kd: 3.0,
                    samples: 256,
                    horizon: 30,
                    search_radius: 1.0,
                    temperature: 0.1,
                },
                collect: CollectConfig { episodes: 1400 },
                pretrain: PretrainConfig {
                    hidden: 64,
                    epochs: 130,
                    batch_size: 64,
                    learning_rate: 0.003,
                    validation_fraction: 0.1,
                },
                finetune: FinetuneConfig {
                    iterations: 650,
                    directions: 16,
                    episodes_per_eval: 16,
                    noise_std: 0.02,
                    step_size: 0.01,
                    selection_episodes: 200,
                    select_every: 10,
                },
                eval: EvalConfig { episodes: 850 },
            },
        }
    }

    /// The same configuration with another seed.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_parse_and_print() {
        for s in [Scale::Quick, Scale::Default] {
            assert_eq!(s.to_string().parse::<Scale>(), Ok(s));
        }
        assert!("huge".parse::<Scale>().is_err());
        assert_eq!(DemoConfig::new(Scale::Quick).with_seed(9).seed, 9);
        assert_eq!(
            DemoConfig::new(Scale::Quick).env,
            DemoConfig::new(Scale::Default).env
        );
    }
}
