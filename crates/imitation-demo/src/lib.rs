//! A small but real imitation-learning pipeline, used as the run tracker's
//! demo workload: a point robot learns to drive to goals from an expert's
//! demonstrations, then improves by reinforcement learning.
//!
//! The four steps, each a function taking the [`DemoConfig`], its inputs and a
//! [`Progress`] sink, and returning a serialisable artifact:
//!
//! 1. [`collect`] — a PD controller refined by model-predictive search (the
//!    expert, [`expert`]) drives the robot ([`env`](mod@env)) to random goals; every
//!    (observation, action) pair is recorded in a [`Dataset`].
//! 2. [`pretrain`] — behaviour cloning: a one-hidden-layer tanh network
//!    ([`Policy`]) is fitted to the pairs by minibatch Adam.
//! 3. [`finetune`] — antithetic random search on the network's weights
//!    improves the episode return.
//! 4. [`evaluate`] — success rate and mean return of the expert and each
//!    policy on the same fresh episodes ([`EvalReport`]).
//!
//! Everything is deterministic given [`DemoConfig::seed`]. [`Scale::Quick`]
//! runs in well under a second; [`Scale::Default`] takes about a minute in a
//! release build. The `imitation-demo-step` binary runs one step per process,
//! passing artifacts as JSON files ([`artifact`]) and reporting progress on
//! the tracker's side channel ([`channel`]).
//!
//! # Example
//!
//! ```
//! use imitation_demo::{DemoConfig, Scale};
//!
//! let config = DemoConfig::new(Scale::Quick).with_seed(7);
//! let dataset = imitation_demo::collect(&config, &mut ());
//! assert!(dataset.stats.success_rate > 0.8);
//!
//! let bc = imitation_demo::pretrain(&config, &dataset, &mut ())?;
//! assert!(bc.report.final_train_loss < bc.report.initial_train_loss);
//!
//! let tuned = imitation_demo::finetune(&config, &bc.policy, &mut ())?;
//! assert!(tuned.report.best.mean_return >= tuned.report.initial.mean_return);
//!
//! let report = imitation_demo::evaluate(
//!     &config,
//!     &[("bc", &bc.policy), ("fine-tuned", &tuned.policy)],
//!     &mut (),
//! );
//! assert_eq!(report.entries.len(), 3); // the expert comes first
//! println!("{}", report.summary_line());
//! # Ok::<(), imitation_demo::Error>(())
//! ```

pub mod artifact;
pub mod channel;
mod collect;
mod config;
pub mod env;
mod error;
mod eval;
pub mod expert;
mod finetune;
pub mod policy;
mod pretrain;
mod progress;
pub mod rng;

pub use collect::{Dataset, collect};
pub use config::{
    CollectConfig, DemoConfig, EvalConfig, FinetuneConfig, PretrainConfig, Scale, ScaleParseError,
};
pub use error::Error;
pub use eval::{ControllerStats, EvalEntry, EvalReport, Tally, evaluate};
pub use finetune::{FinetuneReport, Finetuned, SelectionPoint, finetune};
pub use policy::{Policy, PolicyOrigin};
pub use pretrain::{EpochLoss, PretrainReport, Pretrained, pretrain};
pub use progress::Progress;
