//! The hand-written expert: a saturated PD controller refined by a short
//! sampling-based model-predictive search (MPPI).
//!
//! The PD law `a = kp·(g − p) − kd·v` alone reaches goals reliably but is
//! not optimal for the task's reward. At every step the expert also simulates
//! `samples` futures of `horizon` steps in which the PD law is offset by a
//! constant acceleration `δ`, scores each by the task's own reward, and
//! applies PD plus the softmin-weighted mean offset (MPPI). The offsets are a
//! fixed, evenly spread set in a disc (a sunflower spiral, `δ = 0` first), so
//! the expert is a smooth, deterministic function of the state. The search is
//! what makes collection the expensive step, as it is for real experts
//! (planners, humans in the loop).

use serde::{Deserialize, Serialize};

use crate::env::{Controller, EnvConfig, Outcome, State, clip_action, step};

/// Parameters of the expert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpertConfig {
    /// Proportional gain on the goal offset.
    pub kp: f64,
    /// Derivative gain on the velocity.
    pub kd: f64,
    /// Futures simulated per step (0 or 1 = plain PD, no search).
    pub samples: u32,
    /// Length of each simulated future, in steps.
    pub horizon: u32,
    /// Radius of the disc of offsets, as a fraction of `max_accel`.
    pub search_radius: f64,
    /// Softness of the weighting, relative to the spread of the costs.
    pub temperature: f64,
}

/// The PD part of the expert, saturated to the action bound.
pub fn pd_action(expert: &ExpertConfig, config: &EnvConfig, state: &State) -> [f64; 2] {
    let a = [
        expert.kp * (state.goal[0] - state.pos[0]) - expert.kd * state.vel[0],
        expert.kp * (state.goal[1] - state.pos[1]) - expert.kd * state.vel[1],
    ];
    clip_action(a, config.max_accel)
}

/// The expert controller (deterministic).
#[derive(Debug, Clone)]
pub struct Expert {
    config: ExpertConfig,
    /// Offsets in units of `max_accel`; the first is zero.
    offsets: Vec<[f64; 2]>,
    costs: Vec<f64>,
}

impl Expert {
    /// An expert with the given parameters.
    pub fn new(config: ExpertConfig) -> Self {
        let n = config.samples.max(1) as usize;
        // Sunflower spiral: evenly spread points in the disc of radius R.
        let golden_angle = std::f64::consts::PI * (3.0 - 5f64.sqrt());
        let offsets = (0..n)
            .map(|k| {
                if k == 0 {
                    return [0.0, 0.0];
                }
                let r = config.search_radius * (k as f64 / (n - 1) as f64).sqrt();
                let theta = k as f64 * golden_angle;
                [r * theta.cos(), r * theta.sin()]
            })
            .collect();
        Self {
            config,
            offsets,
            costs: Vec::with_capacity(n),
        }
    }

    /// Cost (negative return) of following PD + `offset` for `horizon` steps.
    fn rollout_cost(&self, env: &EnvConfig, start: &State, offset: [f64; 2]) -> f64 {
        let mut s = *start;
        let mut cost = 0.0;
        for _ in 0..self.config.horizon {
            let pd = pd_action(&self.config, env, &s);
            let t = step(env, &mut s, [pd[0] + offset[0], pd[1] + offset[1]]);
            cost -= t.reward;
            if t.outcome != Outcome::Running {
                break;
            }
        }
        cost
    }
}

impl Controller for Expert {
    fn act(&mut self, env: &EnvConfig, state: &State) -> [f64; 2] {
        let pd = pd_action(&self.config, env, state);
        let n = self.offsets.len();
        if n <= 1 {
            return pd;
        }
        let scale = env.max_accel;
        let mut costs = std::mem::take(&mut self.costs);
        costs.clear();
        costs.extend(
            self.offsets
                .iter()
                .map(|&d| self.rollout_cost(env, state, [scale * d[0], scale * d[1]])),
        );
        let min = costs.iter().copied().fold(f64::INFINITY, f64::min);
        let mean = costs.iter().sum::<f64>() / n as f64;
        let lambda = (self.config.temperature * (mean - min)).max(1e-9);
        let (mut wsum, mut dx, mut dy) = (0.0, 0.0, 0.0);
        for (c, d) in costs.iter().zip(&self.offsets) {
            let w = (-(c - min) / lambda).exp();
            wsum += w;
            dx += w * scale * d[0];
            dy += w * scale * d[1];
        }
        self.costs = costs;
        // wsum >= 1: the best sample has weight exp(0).
        clip_action([pd[0] + dx / wsum, pd[1] + dy / wsum], env.max_accel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DemoConfig, Scale};
    use crate::env::run_episode;
    use crate::rng::Rng;

    fn success_and_return(expert: &ExpertConfig, episodes: u64) -> (f64, f64) {
        let env = EnvConfig::default();
        let (mut reached, mut ret) = (0, 0.0);
        for i in 0..episodes {
            let start = State::random(&env, &mut Rng::derive(11, 1, i));
            let mut e = Expert::new(expert.clone());
            let ep = run_episode(&env, &mut e, start, &mut |_, _| {});
            reached += u32::from(ep.outcome == Outcome::Reached);
            ret += ep.total_return;
        }
        (f64::from(reached) / episodes as f64, ret / episodes as f64)
    }

    #[test]
    fn the_expert_reaches_goals() {
        let expert = DemoConfig::new(Scale::Quick).expert;
        let (success, _) = success_and_return(&expert, 30);
        assert!(success >= 0.9, "expert success rate {success}");
    }

    #[test]
    fn the_search_improves_on_plain_pd() {
        let mut expert = DemoConfig::new(Scale::Quick).expert;
        let (_, with_search) = success_and_return(&expert, 30);
        expert.samples = 0;
        let (pd_success, pd_only) = success_and_return(&expert, 30);
        assert!(pd_success >= 0.9, "PD success rate {pd_success}");
        assert!(
            with_search > pd_only,
            "search {with_search} vs PD {pd_only}"
        );
    }
}
