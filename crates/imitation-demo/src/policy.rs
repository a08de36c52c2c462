//! The learned policy: a one-hidden-layer tanh network.
//!
//! ```text
//! h = tanh(W1 · obs + b1)            (hidden units)
//! a = action_scale · tanh(W2 · h + b2)
//! ```
//!
//! Parameters are one flat `f32` vector so that training and evolution
//! strategies can treat them uniformly, and so that a policy written to JSON
//! and read back is bit-for-bit the same policy.

use serde::{Deserialize, Serialize};

use crate::env::{ACTION_DIM, Controller, EnvConfig, OBS_DIM, State};
use crate::rng::Rng;

/// Where a policy came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyOrigin {
    /// Random initial weights, never trained.
    Random,
    /// Fitted to expert data by behaviour cloning.
    BehaviourCloning,
    /// Behaviour cloning followed by RL fine-tuning.
    FineTuned,
}

/// A small multilayer perceptron mapping observations to actions.
///
/// Layout of [`Policy::params`]: `W1` (`hidden × obs_dim`, row-major), `b1`
/// (`hidden`), `W2` (`action_dim × hidden`, row-major), `b2` (`action_dim`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// How the weights were obtained.
    pub origin: PolicyOrigin,
    /// Input size; always [`OBS_DIM`] for this task.
    pub obs_dim: usize,
    /// Number of hidden units.
    pub hidden: usize,
    /// Output size; always [`ACTION_DIM`] for this task.
    pub action_dim: usize,
    /// Largest output per component (the task's `max_accel`).
    pub action_scale: f32,
    /// All weights and biases, laid out as described above.
    pub params: Vec<f32>,
}

/// Number of parameters of a network with `hidden` units.
pub fn param_count(hidden: usize) -> usize {
    hidden * OBS_DIM + hidden + ACTION_DIM * hidden + ACTION_DIM
}

impl Policy {
    /// Randomly initialised network (scaled so that initial outputs are small).
    pub fn random(hidden: usize, action_scale: f32, rng: &mut Rng) -> Self {
        let mut params = vec![0.0f32; param_count(hidden)];
        let w1_scale = (1.0 / OBS_DIM as f64).sqrt();
        for w in &mut params[..hidden * OBS_DIM] {
            *w = (rng.normal() * w1_scale) as f32;
        }
        let w2_start = hidden * OBS_DIM + hidden;
        let w2_scale = 0.1 * (1.0 / hidden as f64).sqrt();
        for w in &mut params[w2_start..w2_start + ACTION_DIM * hidden] {
            *w = (rng.normal() * w2_scale) as f32;
        }
        Self {
            origin: PolicyOrigin::Random,
            obs_dim: OBS_DIM,
            hidden,
            action_dim: ACTION_DIM,
            action_scale,
            params,
        }
    }

    /// Checks the shape after deserialising; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.obs_dim != OBS_DIM || self.action_dim != ACTION_DIM {
            return Err(format!(
                "policy maps {} inputs to {} outputs, the task needs {OBS_DIM} to {ACTION_DIM}",
                self.obs_dim, self.action_dim
            ));
        }
        if self.hidden == 0 {
            return Err("policy has no hidden units".to_owned());
        }
        let want = param_count(self.hidden);
        if self.params.len() != want {
            return Err(format!(
                "policy has {} parameters, {} hidden units need {want}",
                self.params.len(),
                self.hidden
            ));
        }
        if !(self.action_scale.is_finite() && self.action_scale > 0.0) {
            return Err(format!(
                "action scale {} is not positive",
                self.action_scale
            ));
        }
        if self.params.iter().any(|p| !p.is_finite()) {
            return Err("policy has non-finite parameters".to_owned());
        }
        Ok(())
    }

    /// Offsets of `b1`, `W2` and `b2` in the flat parameter vector.
    pub(crate) fn offsets(&self) -> (usize, usize, usize) {
        let b1 = self.hidden * OBS_DIM;
        let w2 = b1 + self.hidden;
        let b2 = w2 + ACTION_DIM * self.hidden;
        (b1, w2, b2)
    }

    /// Forward pass with caller-provided scratch space for the hidden layer
    /// (resized as needed). Returns the squashed output `tanh(W2·h + b2)`,
    /// each component in `(-1, 1)`; multiply by `action_scale` for the action.
    pub fn forward_unit(&self, obs: &[f32; OBS_DIM], hidden: &mut Vec<f32>) -> [f32; ACTION_DIM] {
        let (b1, w2, b2) = self.offsets();
        let p = &self.params;
        hidden.clear();
        for j in 0..self.hidden {
            let row = &p[j * OBS_DIM..(j + 1) * OBS_DIM];
            let z: f32 = row.iter().zip(obs).map(|(w, x)| w * x).sum::<f32>() + p[b1 + j];
            hidden.push(z.tanh());
        }
        let mut out = [0.0f32; ACTION_DIM];
        for (k, o) in out.iter_mut().enumerate() {
            let row = &p[w2 + k * self.hidden..w2 + (k + 1) * self.hidden];
            let z: f32 = row
                .iter()
                .zip(hidden.iter())
                .map(|(w, h)| w * h)
                .sum::<f32>()
                + p[b2 + k];
            *o = z.tanh();
        }
        out
    }

    /// The action for an observation.
    pub fn act(&self, obs: &[f32; OBS_DIM]) -> [f64; ACTION_DIM] {
        let mut scratch = Vec::with_capacity(self.hidden);
        let y = self.forward_unit(obs, &mut scratch);
        [
            f64::from(y[0] * self.action_scale),
            f64::from(y[1] * self.action_scale),
        ]
    }

    /// A [`Controller`] that runs this policy without allocating per step.
    pub fn controller(&self) -> PolicyController<'_> {
        PolicyController {
            policy: self,
            scratch: Vec::with_capacity(self.hidden),
        }
    }
}

/// Runs a [`Policy`] in the environment (see [`Policy::controller`]).
#[derive(Debug)]
pub struct PolicyController<'a> {
    policy: &'a Policy,
    scratch: Vec<f32>,
}

impl Controller for PolicyController<'_> {
    fn act(&mut self, config: &EnvConfig, state: &State) -> [f64; 2] {
        let y = self
            .policy
            .forward_unit(&state.observe(config), &mut self.scratch);
        let s = self.policy.action_scale;
        [f64::from(y[0] * s), f64::from(y[1] * s)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_random_policy_has_the_right_shape_and_bounded_output() {
        let p = Policy::random(8, 2.0, &mut Rng::new(1));
        assert_eq!(p.params.len(), 8 * 6 + 8 + 2 * 8 + 2);
        p.validate().expect("valid");
        let a = p.act(&[1.0, -1.0, 0.5, 0.5, 0.2, -0.3]);
        assert!(a.iter().all(|x| x.abs() < 2.0));
    }

    #[test]
    fn validation_rejects_a_wrong_shape() {
        let mut p = Policy::random(4, 2.0, &mut Rng::new(1));
        p.params.pop();
        assert!(p.validate().is_err());
        let mut p = Policy::random(4, 2.0, &mut Rng::new(1));
        p.params[0] = f32::NAN;
        assert!(p.validate().is_err());
    }
}
