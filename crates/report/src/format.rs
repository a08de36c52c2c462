//! Numbers and times as the report prints them.

use telemetry_model::Timestamp;

/// `2025-01-02 10:00:00 UTC`.
pub(crate) fn clock(t: Timestamp) -> String {
    let at = t.as_datetime();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// `10:00:04` (time of day only, for tables).
pub(crate) fn time_of_day(t: Timestamp) -> String {
    let at = t.as_datetime();
    format!("{:02}:{:02}:{:02}", at.hour(), at.minute(), at.second())
}

/// A number with at most `decimals` decimals, trailing zeros dropped:
/// `12.5`, `3`, `0.125`. Non-finite numbers print as `–`.
pub(crate) fn num(value: f64, decimals: usize) -> String {
    if !value.is_finite() {
        return "–".to_owned();
    }
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    if text == "-0" { "0".to_owned() } else { text }
}

/// Megabytes for humans: `812 MB`, `1.25 GB`.
pub(crate) fn megabytes(mb: f64) -> String {
    if mb >= 1024.0 {
        format!("{} GB", num(mb / 1024.0, 2))
    } else {
        format!("{} MB", num(mb, 1))
    }
}

/// Elapsed seconds on a time axis: `0s`, `45s`, `2m`, `2m30s`, `1h`,
/// `1h05m`.
pub(crate) fn elapsed(seconds: i64) -> String {
    let (h, m, s) = (seconds / 3600, (seconds % 3600) / 60, seconds % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, 0, _) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

/// [`num`] with thousands separated by commas: `48,232`, `1,536.5`.
pub(crate) fn grouped(value: f64, decimals: usize) -> String {
    let text = num(value, decimals);
    let (sign, rest) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (int, frac) = rest
        .split_once('.')
        .map_or((rest, None), |(i, f)| (i, Some(f)));
    if int.len() <= 3 || !int.bytes().all(|b| b.is_ascii_digit()) {
        return text;
    }
    let mut out = String::from(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(frac) = frac {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// A tick value on a y axis whose ticks are `step` apart and whose top is
/// `top`: every tick in the same unit (`5k`, `10k`, `15k`; `1.5M`),
/// chosen from the top.
pub(crate) fn tick(value: f64, step: f64, top: f64) -> String {
    if value == 0.0 {
        "0".to_owned()
    } else if top.abs() >= 1e6 {
        format!("{}M", num(value / 1e6, decimals_for(step / 1e6)))
    } else if top.abs() >= 1e4 {
        format!("{}k", num(value / 1e3, decimals_for(step / 1e3)))
    } else {
        grouped(value, decimals_for(step))
    }
}

/// The fewest decimals that show every multiple of `step` exactly.
fn decimals_for(step: f64) -> usize {
    if !step.is_finite() || step <= 0.0 {
        return 0;
    }
    let mut decimals = 0;
    let mut scaled = step;
    while decimals < 6 {
        let off = (scaled - scaled.round()).abs();
        if off <= 1e-9 * scaled.max(1.0) {
            break;
        }
        decimals += 1;
        scaled *= 10.0;
    }
    decimals
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(num(12.50, 2), "12.5");
        assert_eq!(num(3.0, 1), "3");
        assert_eq!(num(-0.01, 1), "0");
        assert_eq!(num(f64::NAN, 1), "–");
        assert_eq!(megabytes(812.04), "812 MB");
        assert_eq!(megabytes(2048.0 + 512.0), "2.5 GB");
    }

    #[test]
    fn elapsed_labels() {
        let cases = [
            (0, "0s"),
            (45, "45s"),
            (120, "2m"),
            (150, "2m30s"),
            (3600, "1h"),
            (3900, "1h05m"),
        ];
        for (secs, want) in cases {
            assert_eq!(elapsed(secs), want);
        }
    }

    #[test]
    fn ticks() {
        assert_eq!(tick(20_000.0, 5_000.0, 20_000.0), "20k");
        assert_eq!(tick(5_000.0, 5_000.0, 20_000.0), "5k");
        assert_eq!(tick(0.0, 5_000.0, 20_000.0), "0");
        assert_eq!(tick(12_500.0, 2_500.0, 12_500.0), "12.5k");
        assert_eq!(tick(1_500_000.0, 500_000.0, 2e6), "1.5M");
        assert_eq!(tick(0.25, 0.25, 1.0), "0.25");
        assert_eq!(tick(1_500.0, 500.0, 1_500.0), "1,500");
    }

    #[test]
    fn grouping() {
        assert_eq!(grouped(48_232.0, 0), "48,232");
        assert_eq!(grouped(46_120.5, 2), "46,120.5");
        assert_eq!(grouped(-1_234_567.0, 0), "-1,234,567");
        assert_eq!(grouped(999.0, 0), "999");
        assert_eq!(grouped(f64::NAN, 0), "–");
    }

    #[test]
    fn clock_is_utc() {
        let t = Timestamp::from_unix_ms(1_735_812_000_123);
        assert_eq!(clock(t), "2025-01-02 10:00:00 UTC");
        assert_eq!(time_of_day(t), "10:00:00");
    }
}
