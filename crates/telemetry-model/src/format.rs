//! Durations for humans, as progress lines and tables print them.

/// A measured duration: `0.4s`, `42s`, `2m04s`, `1h02m`.
///
/// ```
/// use telemetry_model::format_duration;
/// assert_eq!(format_duration(124.2), "2m04s");
/// assert_eq!(format_duration(3.25), "3.2s");
/// assert_eq!(format_duration(3725.0), "1h02m");
/// ```
pub fn format_duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "-".to_owned();
    }
    if seconds < 10.0 {
        // Truncate, so 9.99 prints 9.9s and never "10.0s".
        return format!("{:.1}s", (seconds * 10.0).floor() / 10.0);
    }
    let total = seconds.floor() as u64;
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s:02}s"),
        _ => format!("{h}h{m:02}m"),
    }
}

/// A prediction, rounded to what is worth saying: `40s`, `11m`, `1h05m`.
///
/// Rounds to the nearest unit (5 s steps under a minute), so an ETA does not
/// flicker between neighbouring values on every refresh.
///
/// ```
/// use telemetry_model::format_eta;
/// assert_eq!(format_eta(659.0), "11m");
/// assert_eq!(format_eta(42.0), "40s");
/// assert_eq!(format_eta(3900.0), "1h05m");
/// ```
pub fn format_eta(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "?".to_owned();
    }
    if seconds < 57.5 {
        let rounded = ((seconds / 5.0).round() * 5.0) as u64;
        return format!("{}s", rounded.clamp(1, 55));
    }
    let minutes = (seconds / 60.0).round() as u64;
    if minutes < 60 {
        return format!("{minutes}m");
    }
    format!("{}h{:02}m", minutes / 60, minutes % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases = [
            (0.0, "0.0s"),
            (0.44, "0.4s"),
            (9.99, "9.9s"),
            (10.0, "10s"),
            (59.9, "59s"),
            (60.0, "1m00s"),
            (124.0, "2m04s"),
            (3599.0, "59m59s"),
            (3600.0, "1h00m"),
            (90061.0, "25h01m"),
            (-1.0, "-"),
            (f64::NAN, "-"),
        ];
        for (secs, want) in cases {
            assert_eq!(format_duration(secs), want, "{secs}");
        }
    }

    #[test]
    fn etas() {
        let cases = [
            (0.0, "1s"),
            (3.0, "5s"),
            (42.0, "40s"),
            (57.0, "55s"),
            (58.0, "1m"),
            (659.0, "11m"),
            (3569.0, "59m"),
            (3571.0, "1h00m"),
            (3900.0, "1h05m"),
            (f64::INFINITY, "?"),
        ];
        for (secs, want) in cases {
            assert_eq!(format_eta(secs), want, "{secs}");
        }
    }
}
