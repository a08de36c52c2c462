//! The plain-text report both front ends print: a results table, then a
//! warning or error with its recommendations for every breach.

use std::fmt::Write as _;

use telemetry_model::PerfStatus;

use crate::evaluate::{Evaluation, Outcome};

/// A throughput for people: whole numbers from 1,000 up, then fewer
/// decimals the larger the value.
///
/// ```
/// assert_eq!(perf_gate::format_throughput(251234.56), "251235");
/// assert_eq!(perf_gate::format_throughput(12.345), "12.35");
/// assert_eq!(perf_gate::format_throughput(0.012341), "0.01234");
/// ```
pub fn format_throughput(value: f64) -> String {
    let a = value.abs();
    if a >= 1000.0 {
        format!("{value:.0}")
    } else if a >= 100.0 {
        format!("{value:.1}")
    } else if a >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.prec$}", prec = 4 + leading_zeros(a))
    }
}

/// Zeros between the decimal point and the first significant digit.
fn leading_zeros(a: f64) -> usize {
    if a == 0.0 || !a.is_finite() {
        return 0;
    }
    (-a.log10()).floor().max(0.0) as usize
}

/// The results table:
///
/// ```text
/// SCENARIO         STATUS       MEASURED  BASELINE  UNIT       RATIO  SOFT/HARD  NOTE
/// manifest_append  passed         251235    240000  records/s   1.05  0.80/0.50  1.05x the baseline (…)
/// ```
pub fn results_table(evaluation: &Evaluation) -> String {
    let headers = [
        "SCENARIO",
        "STATUS",
        "MEASURED",
        "BASELINE",
        "UNIT",
        "RATIO",
        "SOFT/HARD",
        "NOTE",
    ];
    let right = [false, false, true, true, false, true, false, false];
    let opt = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), format_throughput);
    let rows: Vec<[String; 8]> = evaluation
        .outcomes
        .iter()
        .map(|o| {
            [
                o.result.test_id.clone(),
                o.result.status.to_string(),
                opt(o.result.throughput_measured),
                opt(o.result.throughput_baseline),
                o.unit.clone(),
                o.ratio
                    .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}")),
                o.tolerance.map_or_else(
                    || "-".to_owned(),
                    |t| format!("{:.2}/{:.2}", t.soft_ratio, t.hard_ratio),
                ),
                o.message.clone(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..headers.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([headers[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let header_row: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for cells in std::iter::once(header_row.as_slice()).chain(rows.iter().map(|r| r.as_slice())) {
        let mut line = String::new();
        for (c, cell) in cells.iter().enumerate() {
            if c > 0 {
                line.push_str("  ");
            }
            let pad = widths[c].saturating_sub(cell.chars().count());
            if right[c] {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A `warning:` (soft breach) or `error:` (failed) line per breach, each
/// followed by its recommendations and their suggested actions. Empty
/// when everything passed.
pub fn breach_report(evaluation: &Evaluation) -> String {
    let mut out = String::new();
    for o in &evaluation.outcomes {
        let level = match o.result.status {
            PerfStatus::Passed => continue,
            PerfStatus::SoftBreach => "warning",
            PerfStatus::Failed => "error",
        };
        let _ = writeln!(out, "{level}: {}", headline(o));
        for rec in &o.recommendations {
            let _ = writeln!(out, "  [{}] {}: {}", rec.severity, rec.trigger, rec.message);
            for action in &rec.suggested_actions {
                let _ = writeln!(out, "      → {action}");
            }
        }
    }
    out
}

fn headline(o: &Outcome) -> String {
    let numbers = match (o.result.throughput_measured, o.result.throughput_baseline) {
        (Some(m), Some(b)) => format!(
            " ({} vs {} {})",
            format_throughput(m),
            format_throughput(b),
            o.unit
        ),
        _ => String::new(),
    };
    format!(
        "perf test `{}` {}: {}{numbers}",
        o.result.test_id, o.result.status, o.message
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BaselineEntry, Baselines, Measurement};

    #[test]
    fn table_and_breaches() {
        let mut b = Baselines::empty();
        b.scenarios
            .insert("slow".into(), BaselineEntry::new(1000.0, "records/s"));
        let m = |name: &str, v: f64| Measurement {
            test_id: name.into(),
            matrix: None,
            unit: "records/s".into(),
            samples: vec![v],
            duration_seconds: 1.0,
        };
        let e = Evaluation::evaluate(&[m("slow", 700.0), m("new", 0.5)], &b).unwrap();
        let table = results_table(&e);
        assert_eq!(
            table,
            "SCENARIO  STATUS       MEASURED  BASELINE  UNIT       RATIO  SOFT/HARD  NOTE\n\
             slow      soft-breach     700.0      1000  records/s   0.70  0.80/0.50  0.70x the baseline: at or below the soft ratio 0.80x\n\
             new       passed         0.5000         -  records/s      -  -          no baseline, recorded as candidate\n"
        );
        let report = breach_report(&e);
        assert!(
            report.starts_with(
                "warning: perf test `slow` soft-breach: 0.70x the baseline: at or below the soft \
                 ratio 0.80x (700.0 vs 1000 records/s)\n  [warning] throughput_below_baseline: "
            ),
            "{report}"
        );
        assert!(report.contains("      → "), "{report}");
        assert!(!report.contains("`new`"), "{report}");
    }

    #[test]
    fn throughputs_keep_four_significant_digits_below_one() {
        assert_eq!(format_throughput(0.5), "0.5000");
        assert_eq!(format_throughput(0.000_123_41), "0.0001234");
        assert_eq!(format_throughput(0.0), "0.0000");
        assert_eq!(format_throughput(1.0), "1.00");
        assert_eq!(format_throughput(999.99), "1000.0");
    }
}
