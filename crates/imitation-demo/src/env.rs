//! The task: a point robot in a square arena that must come to rest at a goal.
//!
//! State is position and velocity in 2-D; the action is an acceleration whose
//! norm is capped at [`EnvConfig::max_accel`]. Dynamics are explicit Euler with
//! linear damping:
//!
//! ```text
//! v ← v + dt · (a − damping · v)
//! p ← p + dt · v
//! ```
//!
//! An episode ends when the robot *arrives* (within `goal_tolerance` of the
//! goal, slower than `arrive_speed`), leaves the arena, or runs out of steps.
//! The reward per step is `−distance_cost · |g − p| · dt − effort_cost ·
//! (|a| / max_accel)² · dt`, plus `reach_bonus` on arrival and minus
//! `exit_penalty` on leaving the arena.

use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// Size of an observation vector (see [`State::observe`]).
pub const OBS_DIM: usize = 6;
/// Size of an action vector (acceleration in x and y).
pub const ACTION_DIM: usize = 2;

/// Physical and reward parameters of the task. The same at every scale, so
/// artifacts made at one scale can be used at another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvConfig {
    /// Integration step in seconds.
    pub dt: f64,
    /// Linear velocity damping (1/s).
    pub damping: f64,
    /// Largest acceleration norm; larger actions are scaled down.
    pub max_accel: f64,
    /// The arena is `[-h, h]²`; leaving it ends the episode.
    pub arena_half_size: f64,
    /// Starts and goals are drawn from `[-s, s]²`.
    pub spawn_half_size: f64,
    /// Initial speed is uniform in `[0, max_initial_speed)`, in a random direction.
    pub max_initial_speed: f64,
    /// Goals are at least this far from the start.
    pub min_goal_distance: f64,
    /// Arrival radius around the goal.
    pub goal_tolerance: f64,
    /// Arrival also needs the speed below this.
    pub arrive_speed: f64,
    /// Step limit of an episode.
    pub max_steps: u32,
    /// Weight of the distance term of the reward.
    pub distance_cost: f64,
    /// Weight of the control-effort term of the reward.
    pub effort_cost: f64,
    /// Reward for arriving.
    pub reach_bonus: f64,
    /// Penalty for leaving the arena.
    pub exit_penalty: f64,
}

impl Default for EnvConfig {
    fn default() -> Self {
        Self {
            dt: 0.1,
            damping: 0.5,
            max_accel: 2.0,
            arena_half_size: 5.0,
            spawn_half_size: 4.0,
            max_initial_speed: 2.5,
            min_goal_distance: 1.0,
            goal_tolerance: 0.2,
            arrive_speed: 0.3,
            max_steps: 200,
            distance_cost: 1.0,
            effort_cost: 0.5,
            reach_bonus: 10.0,
            exit_penalty: 50.0,
        }
    }
}

/// Velocity scale used to normalise observations.
const SPEED_SCALE: f64 = 2.0;

/// Full state of the robot and its goal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct State {
    /// Position.
    pub pos: [f64; 2],
    /// Velocity.
    pub vel: [f64; 2],
    /// Goal position.
    pub goal: [f64; 2],
}

impl State {
    /// A random start: position and goal in the spawn square at least
    /// `min_goal_distance` apart, random initial velocity.
    pub fn random(config: &EnvConfig, rng: &mut Rng) -> Self {
        let s = config.spawn_half_size;
        let pos = [rng.uniform(-s, s), rng.uniform(-s, s)];
        let speed = rng.uniform(0.0, config.max_initial_speed);
        let angle = rng.uniform(0.0, std::f64::consts::TAU);
        let vel = [speed * angle.cos(), speed * angle.sin()];
        let goal = loop {
            let g = [rng.uniform(-s, s), rng.uniform(-s, s)];
            if norm([g[0] - pos[0], g[1] - pos[1]]) >= config.min_goal_distance {
                break g;
            }
        };
        Self { pos, vel, goal }
    }

    /// Distance to the goal.
    pub fn goal_distance(&self) -> f64 {
        norm([self.goal[0] - self.pos[0], self.goal[1] - self.pos[1]])
    }

    /// What a learned policy sees: goal-relative position and position
    /// (scaled by the arena size), and velocity (scaled by a typical speed):
    /// `[(gx−x)/h, (gy−y)/h, vx/2, vy/2, x/h, y/h]`.
    pub fn observe(&self, config: &EnvConfig) -> [f32; OBS_DIM] {
        let h = config.arena_half_size;
        [
            ((self.goal[0] - self.pos[0]) / h) as f32,
            ((self.goal[1] - self.pos[1]) / h) as f32,
            (self.vel[0] / SPEED_SCALE) as f32,
            (self.vel[1] / SPEED_SCALE) as f32,
            (self.pos[0] / h) as f32,
            (self.pos[1] / h) as f32,
        ]
    }
}

/// How a step or an episode ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Still going.
    Running,
    /// Arrived at the goal.
    Reached,
    /// Left the arena.
    LeftArena,
    /// Hit the step limit.
    TimedOut,
}

/// Result of one environment step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition {
    /// Reward for this step.
    pub reward: f64,
    /// [`Outcome::Running`], [`Outcome::Reached`] or [`Outcome::LeftArena`].
    pub outcome: Outcome,
}

/// Euclidean norm of a 2-vector.
pub fn norm(v: [f64; 2]) -> f64 {
    (v[0] * v[0] + v[1] * v[1]).sqrt()
}

/// Scales `action` down to norm `max` if it is longer; non-finite actions
/// become zero.
pub fn clip_action(action: [f64; 2], max: f64) -> [f64; 2] {
    if !(action[0].is_finite() && action[1].is_finite()) {
        return [0.0, 0.0];
    }
    let n = norm(action);
    if n > max {
        let k = max / n;
        [action[0] * k, action[1] * k]
    } else {
        action
    }
}

/// Advances `state` by one step under `action` (clipped first).
pub fn step(config: &EnvConfig, state: &mut State, action: [f64; 2]) -> Transition {
    let a = clip_action(action, config.max_accel);
    let dt = config.dt;
    for ((v, p), a) in state.vel.iter_mut().zip(&mut state.pos).zip(a) {
        *v += dt * (a - config.damping * *v);
        *p += dt * *v;
    }
    let dist = state.goal_distance();
    let effort = (a[0] * a[0] + a[1] * a[1]) / (config.max_accel * config.max_accel);
    let mut reward = -(config.distance_cost * dist + config.effort_cost * effort) * dt;
    let h = config.arena_half_size;
    let outcome = if state.pos[0].abs() > h || state.pos[1].abs() > h {
        reward -= config.exit_penalty;
        Outcome::LeftArena
    } else if dist < config.goal_tolerance && norm(state.vel) < config.arrive_speed {
        reward += config.reach_bonus;
        Outcome::Reached
    } else {
        Outcome::Running
    };
    Transition { reward, outcome }
}

/// Anything that picks an action from the state: the expert or a policy.
pub trait Controller {
    /// The action for `state` (it will be clipped by the environment).
    fn act(&mut self, config: &EnvConfig, state: &State) -> [f64; 2];
}

/// Summary of one episode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Episode {
    /// Sum of rewards.
    pub total_return: f64,
    /// Steps taken.
    pub steps: u32,
    /// How it ended (never [`Outcome::Running`]).
    pub outcome: Outcome,
}

/// Runs one episode from `start`, calling `record(observation, action)` for
/// every step before it is applied (the action as given, before clipping).
pub fn run_episode(
    config: &EnvConfig,
    controller: &mut dyn Controller,
    start: State,
    record: &mut dyn FnMut(&[f32; OBS_DIM], [f64; 2]),
) -> Episode {
    let mut state = start;
    let mut total_return = 0.0;
    for steps in 1..=config.max_steps {
        let action = controller.act(config, &state);
        record(&state.observe(config), action);
        let t = step(config, &mut state, action);
        total_return += t.reward;
        if t.outcome != Outcome::Running {
            return Episode {
                total_return,
                steps,
                outcome: t.outcome,
            };
        }
    }
    Episode {
        total_return,
        steps: config.max_steps,
        outcome: Outcome::TimedOut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_clipped_to_the_bound() {
        let a = clip_action([3.0, 4.0], 1.0);
        assert!(
            (a[0] - 0.6).abs() < 1e-12 && (a[1] - 0.8).abs() < 1e-12,
            "{a:?}"
        );
        assert_eq!(clip_action([0.3, 0.4], 1.0), [0.3, 0.4]);
        assert_eq!(clip_action([f64::NAN, 1.0], 1.0), [0.0, 0.0]);
    }

    #[test]
    fn damping_slows_a_coasting_robot_and_walls_end_the_episode() {
        let config = EnvConfig::default();
        let mut s = State {
            pos: [0.0, 0.0],
            vel: [1.0, 0.0],
            goal: [3.0, 3.0],
        };
        let t = step(&config, &mut s, [0.0, 0.0]);
        assert_eq!(t.outcome, Outcome::Running);
        assert!(s.vel[0] < 1.0 && s.pos[0] > 0.0);
        assert!(t.reward < 0.0);

        let mut s = State {
            pos: [4.99, 0.0],
            vel: [2.0, 0.0],
            goal: [0.0, 0.0],
        };
        let t = step(&config, &mut s, [2.0, 0.0]);
        assert_eq!(t.outcome, Outcome::LeftArena);
        assert!(t.reward < -config.exit_penalty);
    }

    #[test]
    fn arriving_slowly_at_the_goal_pays_the_bonus() {
        let config = EnvConfig::default();
        let mut s = State {
            pos: [1.0, 1.0],
            vel: [0.0, 0.0],
            goal: [1.05, 1.0],
        };
        let t = step(&config, &mut s, [0.0, 0.0]);
        assert_eq!(t.outcome, Outcome::Reached);
        assert!(t.reward > 9.0);
    }

    #[test]
    fn random_starts_respect_the_spawn_rules() {
        let config = EnvConfig::default();
        let mut rng = Rng::new(5);
        for _ in 0..500 {
            let s = State::random(&config, &mut rng);
            assert!(s.goal_distance() >= config.min_goal_distance);
            assert!(s.pos.iter().chain(&s.goal).all(|c| c.abs() <= 4.0));
            assert!(norm(s.vel) < config.max_initial_speed);
            assert!(s.observe(&config).iter().all(|x| x.abs() <= 2.0));
        }
    }
}
