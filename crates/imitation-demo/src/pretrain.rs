//! Step 2: behaviour cloning — fit the policy network to the expert's pairs.
//!
//! Mean squared error between the network's squashed output and the expert's
//! action divided by `max_accel`, minimised by minibatch Adam with a cosine
//! learning-rate decay. A share of the pairs is held out for validation.

use serde::{Deserialize, Serialize};

use crate::collect::Dataset;
use crate::config::DemoConfig;
use crate::env::{ACTION_DIM, OBS_DIM};
use crate::error::Error;
use crate::eval::tidy;
use crate::policy::{Policy, PolicyOrigin};
use crate::progress::{Progress, Ticker};
use crate::rng::Rng;

/// Random stream of the initial weights.
const STREAM_PRETRAIN_INIT: u64 = 3;
/// Random stream of the validation split and minibatch order.
const STREAM_PRETRAIN_ORDER: u64 = 4;

/// Losses after one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLoss {
    /// 1-based epoch.
    pub epoch: u32,
    /// Mean minibatch loss during the epoch.
    pub train_loss: f64,
    /// Loss on the held-out pairs at the end of the epoch.
    pub validation_loss: f64,
}

/// What behaviour cloning did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainReport {
    /// Pairs trained on.
    pub train_pairs: usize,
    /// Pairs held out.
    pub validation_pairs: usize,
    /// Hidden units of the network.
    pub hidden: usize,
    /// Epochs run.
    pub epochs: u32,
    /// Training-set loss of the initial weights.
    pub initial_train_loss: f64,
    /// Training-set loss of the final weights.
    pub final_train_loss: f64,
    /// Validation loss of the final weights.
    pub final_validation_loss: f64,
    /// Per-epoch losses.
    pub history: Vec<EpochLoss>,
}

/// Output of [`pretrain`].
#[derive(Debug, Clone, PartialEq)]
pub struct Pretrained {
    /// The cloned policy ([`PolicyOrigin::BehaviourCloning`]).
    pub policy: Policy,
    /// Losses.
    pub report: PretrainReport,
}

/// Adam optimiser state over a flat parameter vector.
#[derive(Debug, Clone)]
pub(crate) struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
    t: i32,
}

impl Adam {
    pub(crate) fn new(n: usize) -> Self {
        Self {
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
        }
    }

    /// One descent step along `grad` (a gradient of the loss).
    pub(crate) fn step(&mut self, params: &mut [f32], grad: &[f32], lr: f64) {
        const B1: f32 = 0.9;
        const B2: f32 = 0.999;
        self.t += 1;
        let c1 = 1.0 - B1.powi(self.t);
        let c2 = 1.0 - B2.powi(self.t);
        let lr = lr as f32;
        for (((p, g), m), v) in params
            .iter_mut()
            .zip(grad)
            .zip(&mut self.m)
            .zip(&mut self.v)
        {
            *m = B1 * *m + (1.0 - B1) * g;
            *v = B2 * *v + (1.0 - B2) * g * g;
            *p -= lr * (*m / c1) / ((*v / c2).sqrt() + 1e-8);
        }
    }
}

/// Squared error of `policy` on one pair (mean over action components);
/// with `grad`, also adds this pair's gradient into it.
fn sample_loss(
    policy: &Policy,
    obs: &[f32; OBS_DIM],
    target: &[f32; ACTION_DIM],
    hidden: &mut Vec<f32>,
    grad: Option<&mut [f32]>,
) -> f32 {
    let y = policy.forward_unit(obs, hidden);
    let mut loss = 0.0;
    let mut d_out = [0.0f32; ACTION_DIM];
    for k in 0..ACTION_DIM {
        let e = y[k] - target[k];
        loss += e * e;
        // d(mean e²)/dz through tanh.
        d_out[k] = 2.0 * e / ACTION_DIM as f32 * (1.0 - y[k] * y[k]);
    }
    if let Some(g) = grad {
        let (b1, w2, b2) = policy.offsets();
        let h = policy.hidden;
        let p = &policy.params;
        for k in 0..ACTION_DIM {
            g[b2 + k] += d_out[k];
            let row = &mut g[w2 + k * h..w2 + (k + 1) * h];
            for (gw, hj) in row.iter_mut().zip(hidden.iter()) {
                *gw += d_out[k] * hj;
            }
        }
        for j in 0..h {
            let mut dh = 0.0;
            for k in 0..ACTION_DIM {
                dh += d_out[k] * p[w2 + k * h + j];
            }
            let dz = dh * (1.0 - hidden[j] * hidden[j]);
            g[b1 + j] += dz;
            let row = &mut g[j * OBS_DIM..(j + 1) * OBS_DIM];
            for (gw, x) in row.iter_mut().zip(obs) {
                *gw += dz * x;
            }
        }
    }
    loss / ACTION_DIM as f32
}

/// Mean loss over the pairs at `indices`.
fn mean_loss(policy: &Policy, data: &[([f32; OBS_DIM], [f32; ACTION_DIM])], idx: &[usize]) -> f64 {
    let mut hidden = Vec::with_capacity(policy.hidden);
    let sum: f64 = idx
        .iter()
        .map(|&i| {
            f64::from(sample_loss(
                policy,
                &data[i].0,
                &data[i].1,
                &mut hidden,
                None,
            ))
        })
        .sum();
    sum / idx.len().max(1) as f64
}

/// Fits a fresh network to `dataset` by behaviour cloning.
///
/// Progress items are training samples processed (over all epochs).
///
/// # Errors
///
/// [`Error::InvalidInput`] for an empty or inconsistent dataset,
/// [`Error::Diverged`] if the loss stops being finite.
pub fn pretrain(
    config: &DemoConfig,
    dataset: &Dataset,
    progress: &mut dyn Progress,
) -> Result<Pretrained, Error> {
    dataset.validate().map_err(Error::InvalidInput)?;
    if dataset.len() < 2 {
        return Err(Error::InvalidInput(format!(
            "behaviour cloning needs at least 2 pairs, the dataset has {}",
            dataset.len()
        )));
    }
    let cfg = &config.pretrain;
    if cfg.hidden == 0 || cfg.batch_size == 0 {
        return Err(Error::InvalidInput(
            "hidden units and batch size must be positive".to_owned(),
        ));
    }
    let scale = dataset.env.max_accel as f32;
    let data: Vec<([f32; OBS_DIM], [f32; ACTION_DIM])> = dataset
        .observations
        .iter()
        .zip(&dataset.actions)
        .map(|(o, a)| (*o, [a[0] / scale, a[1] / scale]))
        .collect();

    let mut order_rng = Rng::derive(config.seed, STREAM_PRETRAIN_ORDER, 0);
    let mut indices: Vec<usize> = (0..data.len()).collect();
    order_rng.shuffle(&mut indices);
    let n_val =
        ((data.len() as f64 * cfg.validation_fraction).round() as usize).clamp(1, data.len() - 1);
    let (val_idx, train_idx) = indices.split_at(n_val);
    let val_idx = val_idx.to_vec();
    let mut train_idx = train_idx.to_vec();

    let mut policy = Policy::random(
        cfg.hidden,
        scale,
        &mut Rng::derive(config.seed, STREAM_PRETRAIN_INIT, 0),
    );
    policy.origin = PolicyOrigin::BehaviourCloning;
    let initial_train_loss = mean_loss(&policy, &data, &train_idx);

    let batches = train_idx.len().div_ceil(cfg.batch_size);
    let mut ticker = Ticker::new(progress, f64::from(cfg.epochs) * batches as f64);
    let mut adam = Adam::new(policy.params.len());
    let mut grad = vec![0.0f32; policy.params.len()];
    let mut hidden = Vec::with_capacity(cfg.hidden);
    let mut history = Vec::with_capacity(cfg.epochs as usize);
    for epoch in 1..=cfg.epochs {
        order_rng.shuffle(&mut train_idx);
        let cosine = 0.5
            * (1.0 + (std::f64::consts::PI * f64::from(epoch - 1) / f64::from(cfg.epochs)).cos());
        let lr = cfg.learning_rate * (0.1 + 0.9 * cosine);
        let mut epoch_loss = 0.0f64;
        for batch in train_idx.chunks(cfg.batch_size) {
            grad.fill(0.0);
            let mut batch_loss = 0.0f32;
            for &i in batch {
                batch_loss += sample_loss(
                    &policy,
                    &data[i].0,
                    &data[i].1,
                    &mut hidden,
                    Some(&mut grad),
                );
            }
            let inv = 1.0 / batch.len() as f32;
            grad.iter_mut().for_each(|g| *g *= inv);
            adam.step(&mut policy.params, &grad, lr);
            epoch_loss += f64::from(batch_loss);
            ticker.advance(1.0, batch.len() as u64);
        }
        let train_loss = epoch_loss / train_idx.len() as f64;
        if !train_loss.is_finite() {
            return Err(Error::Diverged(format!(
                "behaviour-cloning loss is {train_loss} at epoch {epoch}"
            )));
        }
        let validation_loss = mean_loss(&policy, &data, &val_idx);
        history.push(EpochLoss {
            epoch,
            train_loss: tidy(train_loss),
            validation_loss: tidy(validation_loss),
        });
        if epoch % (cfg.epochs / 10).max(1) == 0 {
            ticker.message(&format!(
                "epoch {epoch}/{}: train loss {train_loss:.5}, validation loss {validation_loss:.5}",
                cfg.epochs
            ));
        }
    }
    ticker.finish();
    policy
        .validate()
        .map_err(|e| Error::Diverged(format!("behaviour cloning produced a bad policy: {e}")))?;
    let final_train_loss = mean_loss(&policy, &data, &train_idx);
    let final_validation_loss = mean_loss(&policy, &data, &val_idx);
    Ok(Pretrained {
        report: PretrainReport {
            train_pairs: train_idx.len(),
            validation_pairs: val_idx.len(),
            hidden: cfg.hidden,
            epochs: cfg.epochs,
            initial_train_loss: tidy(initial_train_loss),
            final_train_loss: tidy(final_train_loss),
            final_validation_loss: tidy(final_validation_loss),
            history,
        },
        policy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::collect;
    use crate::config::Scale;
    use crate::eval::evaluate;

    #[test]
    fn the_gradient_matches_finite_differences() {
        let mut policy = Policy::random(5, 2.0, &mut Rng::new(8));
        // Larger output weights so the check is not dominated by tiny numbers.
        policy.params.iter_mut().for_each(|p| *p *= 3.0);
        let obs = [0.3, -0.2, 0.5, 0.1, -0.4, 0.6];
        let target = [0.5, -0.7];
        let mut hidden = Vec::new();
        let mut grad = vec![0.0; policy.params.len()];
        sample_loss(&policy, &obs, &target, &mut hidden, Some(&mut grad));
        for (i, &analytic) in grad.iter().enumerate() {
            let mut p = policy.clone();
            let h = 1e-2;
            p.params[i] += h;
            let up = f64::from(sample_loss(&p, &obs, &target, &mut hidden, None));
            p.params[i] -= 2.0 * h;
            let down = f64::from(sample_loss(&p, &obs, &target, &mut hidden, None));
            let numeric = (up - down) / (2.0 * f64::from(h));
            let analytic = f64::from(analytic);
            assert!(
                (numeric - analytic).abs() < 2e-3 + 0.02 * analytic.abs(),
                "param {i}: numeric {numeric}, analytic {analytic}"
            );
        }
    }

    #[test]
    fn behaviour_cloning_learns_and_beats_a_random_policy() {
        let config = DemoConfig::new(Scale::Quick).with_seed(1);
        let dataset = collect(&config, &mut ());
        let bc = pretrain(&config, &dataset, &mut ()).expect("pretrain");
        let r = &bc.report;
        assert!(
            r.final_train_loss < 0.5 * r.initial_train_loss,
            "loss {} -> {}",
            r.initial_train_loss,
            r.final_train_loss
        );
        assert!(
            r.final_validation_loss < 0.5 * r.initial_train_loss,
            "{r:?}"
        );
        assert_eq!(r.history.len(), config.pretrain.epochs as usize);
        assert!(r.history.last().map(|e| e.train_loss) < r.history.first().map(|e| e.train_loss));

        // Same seed, same result.
        assert_eq!(pretrain(&config, &dataset, &mut ()).expect("again"), bc);

        let random = Policy::random(config.pretrain.hidden, 2.0, &mut Rng::new(99));
        let report = evaluate(&config, &[("bc", &bc.policy), ("random", &random)], &mut ());
        let bc_stats = &report.entry("bc").expect("bc").stats;
        let random_stats = &report.entry("random").expect("random").stats;
        assert!(
            bc_stats.success_rate >= random_stats.success_rate + 0.3,
            "bc {bc_stats:?} vs random {random_stats:?}"
        );
        assert!(bc_stats.mean_return > random_stats.mean_return);
    }

    #[test]
    fn an_empty_dataset_is_refused() {
        let mut config = DemoConfig::new(Scale::Quick);
        config.collect.episodes = 1;
        let mut dataset = collect(&config, &mut ());
        dataset.observations.clear();
        dataset.actions.clear();
        assert!(matches!(
            pretrain(&config, &dataset, &mut ()),
            Err(Error::InvalidInput(_))
        ));
    }
}
