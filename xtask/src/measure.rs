//! The measuring loop: a warm-up, then repetitions of at least a time
//! budget each, each giving one throughput (operations per second of
//! timed work). Scenarios time their work by the process's CPU clock
//! ([`crate::cpu`]), so that other load on the machine, which takes wall
//! time but not this process's CPU, does not count against them.

use std::time::Duration;

/// One scenario of `cargo xtask perf`.
pub(crate) trait Scenario {
    /// Name in the baselines file and on the command line.
    fn name(&self) -> &'static str;
    /// Human name, shown as the step's name.
    fn title(&self) -> &'static str;
    /// Unit of the throughput (`records/cpu-s`).
    fn unit(&self) -> &'static str;
    /// What exactly runs (fixture size, options), recorded as `matrix`.
    fn matrix(&self) -> String;
    /// Builds the fixture; not timed.
    fn setup(&mut self) -> anyhow::Result<()>;
    /// Performs `n` operations and returns the CPU time they took (all of
    /// the process's threads, by [`crate::cpu::CpuStopwatch`]), fixture
    /// upkeep (rotating a file, say) excluded.
    fn run(&mut self, n: u64) -> anyhow::Result<Duration>;
    /// The throughput of each of `plan.repeat` repetitions, for a scenario
    /// that measures something other than operations timed here (the
    /// tracker's CPU, read from outside); `None`, the default, times
    /// [`Scenario::run`].
    fn throughputs(&mut self, plan: Plan) -> Option<anyhow::Result<Vec<f64>>> {
        let _ = plan;
        None
    }
}

/// How long to measure.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    /// Repetitions; the median of their throughputs is compared.
    pub repeat: u32,
    /// Timed work per repetition, at least.
    pub budget: Duration,
    /// Timed work of the warm-up (caches, page cache, branch predictors).
    pub warm_up: Duration,
}

/// Throughputs of each repetition and the wall time all of it took.
#[derive(Clone, Debug)]
pub(crate) struct Measured {
    pub samples: Vec<f64>,
    pub seconds: f64,
}

/// Measures a scenario whose fixture is set up.
pub(crate) fn measure(scenario: &mut dyn Scenario, plan: Plan) -> anyhow::Result<Measured> {
    let started = std::time::Instant::now();
    if let Some(samples) = scenario.throughputs(plan) {
        return Ok(Measured {
            samples: samples?,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    timed(scenario, plan.warm_up)?;
    let mut samples = Vec::with_capacity(plan.repeat as usize);
    for _ in 0..plan.repeat {
        let (ops, spent) = timed(scenario, plan.budget)?;
        samples.push(ops as f64 / spent.as_secs_f64().max(1e-9));
    }
    Ok(Measured {
        samples,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Runs batches until `budget` of timed work is done: the batch size
/// doubles while a batch takes under a twentieth of the budget, so the
/// clock is read rarely for fast operations and slow ones are not overshot.
fn timed(scenario: &mut dyn Scenario, budget: Duration) -> anyhow::Result<(u64, Duration)> {
    let mut ops = 0u64;
    let mut spent = Duration::ZERO;
    let mut batch = 1u64;
    while spent < budget {
        let took = scenario.run(batch)?;
        ops += batch;
        spent += took;
        if took < budget / 20 && batch < 1 << 30 {
            batch *= 2;
        }
    }
    Ok((ops, spent))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each operation "takes" 1 ms of timed work, reported without sleeping.
    struct Fake {
        calls: Vec<u64>,
    }

    impl Scenario for Fake {
        fn name(&self) -> &'static str {
            "fake"
        }
        fn title(&self) -> &'static str {
            "Fake"
        }
        fn unit(&self) -> &'static str {
            "ops/s"
        }
        fn matrix(&self) -> String {
            String::new()
        }
        fn setup(&mut self) -> anyhow::Result<()> {
            Ok(())
        }
        fn run(&mut self, n: u64) -> anyhow::Result<Duration> {
            self.calls.push(n);
            Ok(Duration::from_millis(n))
        }
    }

    #[test]
    fn throughput_is_operations_per_timed_second_and_batches_grow() {
        let mut fake = Fake { calls: Vec::new() };
        let plan = Plan {
            repeat: 3,
            budget: Duration::from_millis(100),
            warm_up: Duration::from_millis(10),
        };
        let m = measure(&mut fake, plan).unwrap();
        assert_eq!(m.samples.len(), 3);
        for s in &m.samples {
            assert!((s - 1000.0).abs() < 1e-6, "{s}");
        }
        // The warm-up's batches (budget 10 ms) never grow: one takes 1 ms,
        // more than a twentieth of 10 ms. A repetition's grow to 8 (1, 2, 4,
        // then 8 ms is over 100 ms / 20).
        assert_eq!(fake.calls[..10], [1; 10]);
        assert_eq!(fake.calls[10..14], [1, 2, 4, 8]);
        let repeat: Vec<u64> = fake.calls[fake.calls.len() - 4..].to_vec();
        assert!(repeat.iter().all(|&n| n == 8), "{:?}", fake.calls);
    }
}
