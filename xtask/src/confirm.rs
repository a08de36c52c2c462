//! A breach measured again before it counts.
//!
//! What a scenario measures can only be slowed by what else the machine
//! does: a shared VM's host taking the CPU away (steal) inflates even the
//! CPU time the kernel charges a thread. Such episodes last seconds to a
//! minute; a regression in the code does not go away. So a scenario whose
//! median breaches its baseline is measured again, up to
//! [`ATTEMPTS`] measurements in all, and the best median is judged: a
//! regression breaches every time, a noisy minute once. See docs/perf.md.

use std::io::Write;

use perf_gate::{Baselines, Evaluation, Measurement, format_throughput};
use telemetry_model::PerfStatus;

use crate::measure::{Plan, Scenario, measure};

/// Measurements of a scenario whose median keeps breaching, the first
/// included.
pub(crate) const ATTEMPTS: usize = 3;

/// Measures `scenario` (its fixture set up) and, while `baselines` judge
/// the best median so far a breach, measures it again, up to [`ATTEMPTS`]
/// in all; says so on `notes`. Returns the measurement with the best
/// median; when there was more than one, its matrix says how many and
/// every median. Without `baselines` (they are being rewritten), measures
/// once.
pub(crate) fn measure_confirmed(
    scenario: &mut dyn Scenario,
    plan: Plan,
    baselines: Option<&Baselines>,
    notes: &mut dyn Write,
) -> anyhow::Result<Measurement> {
    let mut best = measurement(scenario, plan)?;
    let Some(baselines) = baselines else {
        return Ok(best);
    };
    let mut medians = vec![best.median()];
    while medians.len() < ATTEMPTS {
        let judged = Evaluation::evaluate(std::slice::from_ref(&best), baselines)?;
        let Some(outcome) = judged.outcomes.first() else {
            break;
        };
        if outcome.result.status == PerfStatus::Passed {
            break;
        }
        writeln!(
            notes,
            "note: perf test `{}` {}: {}; measuring it again ({} of {ATTEMPTS}: a regression \
             breaches every time, a noisy machine seldom does)",
            best.test_id,
            outcome.result.status.as_str(),
            outcome.message,
            medians.len() + 1,
        )?;
        let again = measurement(scenario, plan)?;
        medians.push(again.median());
        let seconds = best.duration_seconds + again.duration_seconds;
        // A scenario that measured nothing has no median: any beats it.
        if again.median() > best.median() {
            best = again;
        }
        best.duration_seconds = seconds;
    }
    if medians.len() > 1 {
        let shown: Vec<String> = medians
            .iter()
            .map(|m| m.map_or_else(|| "none".to_owned(), format_throughput))
            .collect();
        best.matrix = Some(format!(
            "{}; the best of {} measurements (medians {} {})",
            best.matrix.as_deref().unwrap_or_default(),
            medians.len(),
            shown.join(", "),
            best.unit,
        ));
    }
    Ok(best)
}

/// One measurement of `scenario`.
fn measurement(scenario: &mut dyn Scenario, plan: Plan) -> anyhow::Result<Measurement> {
    let measured = measure(scenario, plan)?;
    Ok(Measurement {
        test_id: scenario.name().to_owned(),
        matrix: Some(scenario.matrix()),
        unit: scenario.unit().to_owned(),
        samples: measured.samples,
        duration_seconds: measured.seconds,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;

    /// Reports the next of `medians` as every repetition's throughput.
    struct Scripted {
        medians: Vec<f64>,
        measured: usize,
    }

    impl Scenario for Scripted {
        fn name(&self) -> &'static str {
            "scripted"
        }
        fn title(&self) -> &'static str {
            "Scripted"
        }
        fn unit(&self) -> &'static str {
            "ops/s"
        }
        fn matrix(&self) -> String {
            "fixture".to_owned()
        }
        fn setup(&mut self) -> anyhow::Result<()> {
            Ok(())
        }
        fn run(&mut self, _n: u64) -> anyhow::Result<Duration> {
            anyhow::bail!("measured by throughputs")
        }
        fn throughputs(&mut self, plan: Plan) -> Option<anyhow::Result<Vec<f64>>> {
            let median = self.medians[self.measured];
            self.measured += 1;
            Some(Ok(vec![median; plan.repeat as usize]))
        }
    }

    fn plan() -> Plan {
        Plan {
            repeat: 5,
            budget: Duration::ZERO,
            warm_up: Duration::ZERO,
        }
    }

    /// Baseline 100 ops/s, soft ratio 0.8, hard 0.5.
    fn baselines() -> Baselines {
        Baselines::parse(
            r#"{"scenarios": {"scripted": {"baseline": 100.0, "unit": "ops/s"}}}"#,
            Path::new("baselines.json"),
        )
        .unwrap()
    }

    fn run(medians: &[f64], baselines: Option<&Baselines>) -> (Measurement, usize, String) {
        let mut scenario = Scripted {
            medians: medians.to_vec(),
            measured: 0,
        };
        let mut notes = Vec::new();
        let m = measure_confirmed(&mut scenario, plan(), baselines, &mut notes).unwrap();
        (m, scenario.measured, String::from_utf8(notes).unwrap())
    }

    #[test]
    fn a_pass_is_measured_once() {
        let (m, measured, notes) = run(&[90.0, 1.0, 1.0], Some(&baselines()));
        assert_eq!((measured, m.median()), (1, Some(90.0)));
        assert_eq!(m.matrix.as_deref(), Some("fixture"));
        assert!(notes.is_empty(), "{notes}");
    }

    #[test]
    fn a_breach_that_goes_away_is_judged_by_its_best_measurement() {
        let (m, measured, notes) = run(&[20.0, 95.0, 1.0], Some(&baselines()));
        assert_eq!((measured, m.median()), (2, Some(95.0)));
        assert_eq!(
            m.matrix.as_deref(),
            Some("fixture; the best of 2 measurements (medians 20.00, 95.00 ops/s)")
        );
        assert_eq!(notes.lines().count(), 1, "{notes}");
        assert!(
            notes.starts_with("note: perf test `scripted` failed: 0.20x the baseline"),
            "{notes}"
        );
        assert!(notes.contains("(2 of 3"), "{notes}");
    }

    #[test]
    fn a_breach_that_persists_still_breaches_after_every_attempt() {
        let (m, measured, notes) = run(&[30.0, 40.0, 35.0, 99.0], Some(&baselines()));
        assert_eq!((measured, m.median()), (ATTEMPTS, Some(40.0)));
        let judged = Evaluation::evaluate(std::slice::from_ref(&m), &baselines()).unwrap();
        assert_eq!(judged.outcomes[0].result.status, PerfStatus::Failed);
        assert_eq!(notes.lines().count(), ATTEMPTS - 1, "{notes}");
        // A soft breach is measured again too.
        let (m, measured, _) = run(&[70.0, 75.0, 72.0], Some(&baselines()));
        assert_eq!((measured, m.median()), (ATTEMPTS, Some(75.0)));
    }

    #[test]
    fn without_baselines_it_measures_once() {
        let (m, measured, notes) = run(&[1.0, 100.0], None);
        assert_eq!((measured, m.median()), (1, Some(1.0)));
        assert!(notes.is_empty());
    }
}
