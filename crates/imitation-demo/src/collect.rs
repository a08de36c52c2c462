//! Step 1: record the expert's (observation, action) pairs.

use serde::{Deserialize, Serialize};

use crate::config::DemoConfig;
use crate::env::{ACTION_DIM, EnvConfig, OBS_DIM, State, run_episode};
use crate::eval::{ControllerStats, Tally};
use crate::expert::{Expert, ExpertConfig};
use crate::progress::{Progress, Ticker};
use crate::rng::Rng;

/// Random stream of the collection episodes' starts.
pub(crate) const STREAM_COLLECT_STARTS: u64 = 1;

/// Expert demonstrations: one observation and one action per step taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// Seed the episodes were drawn from.
    pub seed: u64,
    /// The task the data comes from.
    pub env: EnvConfig,
    /// The expert that acted.
    pub expert: ExpertConfig,
    /// How the expert did on these episodes.
    pub stats: ControllerStats,
    /// Observations (see [`State::observe`]).
    pub observations: Vec<[f32; OBS_DIM]>,
    /// The expert's action for each observation.
    pub actions: Vec<[f32; ACTION_DIM]>,
}

impl Dataset {
    /// Number of (observation, action) pairs.
    pub fn len(&self) -> usize {
        self.observations.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.observations.is_empty()
    }

    /// Checks consistency after deserialising; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.observations.len() != self.actions.len() {
            return Err(format!(
                "{} observations but {} actions",
                self.observations.len(),
                self.actions.len()
            ));
        }
        let finite = |xs: &[f32]| xs.iter().all(|x| x.is_finite());
        if !self.observations.iter().all(|o| finite(o)) || !self.actions.iter().all(|a| finite(a)) {
            return Err("dataset has non-finite numbers".to_owned());
        }
        Ok(())
    }
}

/// Runs `config.collect.episodes` expert episodes and records every step.
///
/// Progress items are environment steps (= pairs recorded).
pub fn collect(config: &DemoConfig, progress: &mut dyn Progress) -> Dataset {
    let episodes = config.collect.episodes;
    let mut ticker = Ticker::new(progress, f64::from(episodes));
    let mut observations = Vec::new();
    let mut actions = Vec::new();
    let mut tally = Tally::default();
    for i in 0..u64::from(episodes) {
        let start = State::random(
            &config.env,
            &mut Rng::derive(config.seed, STREAM_COLLECT_STARTS, i),
        );
        let mut expert = Expert::new(config.expert.clone());
        let episode = run_episode(&config.env, &mut expert, start, &mut |obs, action| {
            observations.push(*obs);
            actions.push([action[0] as f32, action[1] as f32]);
        });
        tally.add(&episode);
        ticker.advance(1.0, u64::from(episode.steps));
        if (i + 1) % 100 == 0 {
            ticker.message(&format!(
                "episode {}/{episodes}: {} pairs, expert success {:.1} %",
                i + 1,
                observations.len(),
                100.0 * tally.stats().success_rate
            ));
        }
    }
    ticker.finish();
    Dataset {
        seed: config.seed,
        env: config.env.clone(),
        expert: config.expert.clone(),
        stats: tally.stats(),
        observations,
        actions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::{DATASET_FILE, load_dataset, save_json};
    use crate::config::Scale;
    use crate::progress::tests::Recorder;

    #[test]
    fn collection_is_deterministic_reports_progress_and_round_trips() {
        let config = DemoConfig::new(Scale::Quick).with_seed(4);
        let mut rec = Recorder::default();
        let a = collect(&config, &mut rec);
        let b = collect(&config, &mut ());
        assert_eq!(a, b);
        assert_ne!(collect(&config.clone().with_seed(5), &mut ()), a);

        assert!(!a.is_empty());
        a.validate().expect("valid");
        assert!(a.stats.success_rate >= 0.9, "{:?}", a.stats);
        assert_eq!(rec.calls.last(), Some(&(1.0, a.len() as u64)));
        assert!(rec.calls.windows(2).all(|w| w[0].1 <= w[1].1));

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(DATASET_FILE);
        save_json(&a, &path, true).expect("save");
        assert_eq!(load_dataset(&path).expect("load"), a);
    }
}
