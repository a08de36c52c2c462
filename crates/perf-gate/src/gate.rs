//! The end of every perf run, in one place: judge the measurements, record
//! the verdict in the run, conclude it, print the results, and rewrite the
//! baselines when asked. `tracker perf-tests` and `cargo xtask perf` both
//! finish through [`finish`].

use std::io::Write;
use std::path::Path;

use progress::ProgressTracker;
use telemetry_model::{PerfStatus, RunStatus, Timestamp};

use crate::{Baselines, Error, Evaluation, HostInfo, Measurement};

/// What a perf run is judged against and how it is finished.
#[derive(Debug)]
pub struct Gate<'a> {
    /// `summary.perf_tests.kind` (`scenario`, `xtask`).
    pub kind: &'a str,
    /// The baselines file: recorded in the run, rewritten when
    /// [`Gate::update_baselines`].
    pub baselines_path: &'a Path,
    /// Its contents (empty if it does not exist yet).
    pub baselines: Baselines,
    /// Where the revision measured is read from (`git rev-parse HEAD`).
    pub source_dir: &'a Path,
    /// How the measurements were taken, for the closing `perf:` line
    /// (`3 repeats`).
    pub repeats: String,
    /// The build profile measured, where it matters (`release`): said in
    /// the closing line and stored in rewritten baselines.
    pub profile: Option<&'a str>,
    /// Rewrite the baselines from these measurements.
    pub update_baselines: bool,
}

/// How a gated perf run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No measurement failed (soft breaches included).
    Passed,
    /// At least one measurement failed its baseline.
    Failed,
    /// The baselines were rewritten from the measurements.
    BaselinesUpdated,
    /// A signal came before the baselines could be rewritten: they were
    /// left as they were.
    Interrupted,
}

/// Judges `measurements` against `gate.baselines`, records the verdict in
/// the run of `tracker` ([`crate::record_perf_run`]), ends the run through
/// `conclude` (`completed`, or `failed` naming the failed tests), then
/// prints the results table to `out` and the breaches, the counts and
/// where the files are to `err`; last, rewrites the baselines if asked,
/// unless `interrupted()` says a signal came.
///
/// `conclude` ends the run its own way (retrying a full disk, printing its
/// own summary to the `err` it is given). If the measurements cannot be
/// judged, the run is concluded `failed` with the reason and the error is
/// returned.
pub fn finish<E>(
    tracker: &ProgressTracker,
    gate: Gate<'_>,
    measurements: &[Measurement],
    conclude: impl FnOnce(RunStatus, Option<&str>, &mut dyn Write) -> Result<(), E>,
    interrupted: impl FnOnce() -> bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Verdict, E>
where
    E: From<Error> + From<std::io::Error>,
{
    let mut evaluation = match Evaluation::evaluate(measurements, &gate.baselines) {
        Ok(evaluation) => evaluation,
        Err(e) => {
            let _ = conclude(RunStatus::Failed, Some(&e.to_string()), err);
            return Err(e.into());
        }
    };
    let host = HostInfo::detect();
    let recorded = crate::record_perf_run(
        tracker,
        &mut evaluation,
        gate.kind,
        Some(gate.baselines_path),
        host.clone(),
        crate::git_revision(gate.source_dir),
    )?;
    let failed: Vec<&str> = evaluation
        .outcomes
        .iter()
        .filter(|o| o.result.status == PerfStatus::Failed)
        .map(|o| o.result.test_id.as_str())
        .collect();
    if failed.is_empty() {
        conclude(RunStatus::Completed, None, err)?;
    } else {
        let reason = format!("perf tests failed: {}", failed.join(", "));
        conclude(RunStatus::Failed, Some(&reason), err)?;
    }

    writeln!(out)?;
    out.write_all(crate::results_table(&evaluation).as_bytes())?;
    out.flush()?;
    err.write_all(crate::breach_report(&evaluation).as_bytes())?;
    writeln!(
        err,
        "perf: {} ({}, baselines {}{})",
        evaluation.counts().describe(),
        gate.repeats,
        gate.baselines_path.display(),
        gate.profile
            .map(|p| format!(", {p} build"))
            .unwrap_or_default()
    )?;
    writeln!(err, "Results: {}", recorded.results.display())?;
    writeln!(err, "Metrics: {}", recorded.metrics.display())?;

    if interrupted() {
        // A signal during measuring or recording cancelled the run: no
        // baseline is moved from it.
        return Ok(Verdict::Interrupted);
    }
    if gate.update_baselines {
        let mut updated = gate.baselines;
        for warning in updated.update_from(measurements, Some(host.describe()), Timestamp::now()) {
            writeln!(err, "warning: {warning}")?;
        }
        if let Some(profile) = gate.profile {
            updated.profile = Some(profile.to_owned());
        }
        updated.save(gate.baselines_path)?;
        writeln!(
            err,
            "Baselines: {} rewritten from this measurement",
            gate.baselines_path.display()
        )?;
        return Ok(Verdict::BaselinesUpdated);
    }
    Ok(if failed.is_empty() {
        Verdict::Passed
    } else {
        Verdict::Failed
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use progress::{Display, StepSpec, TrackerOptions};

    fn measurement(samples: Vec<f64>) -> Measurement {
        Measurement {
            test_id: "append".into(),
            matrix: None,
            unit: "records/s".into(),
            samples,
            duration_seconds: 1.0,
        }
    }

    /// A finished perf run of one step: its verdict, its stdout and stderr,
    /// the status it was concluded with, and the baselines file after.
    fn gated(
        samples: Vec<f64>,
        update: bool,
        interrupted: bool,
    ) -> (Verdict, String, String, RunStatus, Baselines) {
        let dir = tempfile::tempdir().unwrap();
        let baselines_path = dir.path().join("baselines.json");
        let baselines = Baselines::parse(
            r#"{"schema_version": 1, "scenarios": {
                "append": {"baseline": 1000, "unit": "records/s", "soft_ratio": 0.8, "hard_ratio": 0.5}}}"#,
            &baselines_path,
        )
        .unwrap();
        baselines.save(&baselines_path).unwrap();
        let mut options =
            TrackerOptions::new("gate", manifest::ArtifactRoot::new(dir.path().join("out")));
        options.display = Display::Quiet;
        options.refresh = None;
        let tracker =
            ProgressTracker::start(options, vec![StepSpec::new("append", "Append")]).unwrap();
        crate::mark_perf_run(&tracker, "test", Some(&baselines_path));
        tracker.start_step("append").unwrap();
        tracker.complete_step("append").unwrap();
        let gate = Gate {
            kind: "test",
            baselines_path: &baselines_path,
            baselines,
            source_dir: dir.path(),
            repeats: "3 repeats".into(),
            profile: Some("release"),
            update_baselines: update,
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut status = None;
        let verdict = finish::<Box<dyn std::error::Error>>(
            &tracker,
            gate,
            &[measurement(samples)],
            |s, reason, err| {
                writeln!(err, "concluded {s}").unwrap();
                tracker.finish(progress::Ending::Status(s, reason))?;
                status = Some(s);
                Ok(())
            },
            || interrupted,
            &mut out,
            &mut err,
        )
        .unwrap();
        let after = Baselines::load(&baselines_path).unwrap();
        (
            verdict,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
            status.unwrap(),
            after,
        )
    }

    #[test]
    fn a_failed_measurement_fails_the_run_and_leaves_the_baselines() {
        let (verdict, out, err, status, after) = gated(vec![100.0, 120.0, 110.0], false, false);
        assert_eq!(verdict, Verdict::Failed);
        assert_eq!(status, RunStatus::Failed);
        assert!(out.contains("append"), "{out}");
        assert!(
            err.starts_with("concluded failed\n"),
            "concluded first: {err}"
        );
        assert!(
            err.contains("perf: 1 failed (3 repeats, baselines ")
                && err.contains(", release build)\nResults: "),
            "{err}"
        );
        assert_eq!(
            after.get("append").unwrap().baseline,
            1000.0,
            "not rewritten"
        );
    }

    #[test]
    fn baselines_are_rewritten_only_when_asked_and_no_signal_came() {
        let (verdict, _, err, status, after) = gated(vec![900.0, 950.0, 1000.0], true, false);
        assert_eq!(
            (verdict, status),
            (Verdict::BaselinesUpdated, RunStatus::Completed)
        );
        assert!(err.contains("Baselines: "), "{err}");
        assert_eq!(after.get("append").unwrap().baseline, 950.0);
        assert_eq!(after.profile.as_deref(), Some("release"));

        let (verdict, _, err, _, after) = gated(vec![900.0, 950.0, 1000.0], true, true);
        assert_eq!(verdict, Verdict::Interrupted);
        assert!(!err.contains("Baselines: "), "{err}");
        assert_eq!(after.get("append").unwrap().baseline, 1000.0);
    }
}
