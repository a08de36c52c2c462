//! Parsing `--since` / `--until` values.

use telemetry_model::Timestamp;

const EXPECTED: &str = "expected an RFC 3339 time (2025-01-31T12:00:00Z), a date (2025-01-31) or an age (30m, 12h, 7d)";

/// Parses a point in time given on the command line, relative to `now`:
/// RFC 3339 (a naive time is UTC), a date (midnight UTC), or an age such as
/// `30m`, `12h`, `7d`, `2w` (optionally followed by `ago`).
pub(crate) fn parse_time_arg(input: &str, now: Timestamp) -> Result<Timestamp, String> {
    let text = input.trim();
    if let Ok(t) = Timestamp::parse(text) {
        return Ok(t);
    }
    if let Some(t) = parse_date(text) {
        return Ok(t);
    }
    if let Some(seconds) = parse_age(text) {
        let ms = now.unix_ms().saturating_sub(seconds.saturating_mul(1000));
        return Ok(Timestamp::from_unix_ms(ms));
    }
    Err(EXPECTED.to_owned())
}

fn parse_date(text: &str) -> Option<Timestamp> {
    let bytes = text.as_bytes();
    let is_date = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !is_date {
        return None;
    }
    Timestamp::parse(&format!("{text}T00:00:00Z")).ok()
}

fn parse_age(text: &str) -> Option<i64> {
    let text = text.strip_suffix("ago").unwrap_or(text).trim_end();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().ok()?;
    let unit_seconds = match unit.trim() {
        "s" | "sec" | "secs" => 1,
        "m" | "min" | "mins" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 604_800,
        _ => return None,
    };
    number.checked_mul(unit_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_times_dates_and_ages() {
        let now = Timestamp::parse("2025-06-10T12:00:00.000000+00:00").unwrap();
        let at = |s| parse_time_arg(s, now).unwrap().to_string();
        assert_eq!(
            at("2025-01-31T12:00:00+01:00"),
            "2025-01-31T11:00:00.000000+00:00"
        );
        assert_eq!(at("2025-01-31"), "2025-01-31T00:00:00.000000+00:00");
        assert_eq!(at("30m"), "2025-06-10T11:30:00.000000+00:00");
        assert_eq!(at("2h ago"), "2025-06-10T10:00:00.000000+00:00");
        assert_eq!(at("7d"), "2025-06-03T12:00:00.000000+00:00");
        assert_eq!(at("1w"), "2025-06-03T12:00:00.000000+00:00");
    }

    #[test]
    fn refuses_everything_else_with_the_expected_forms() {
        let now = Timestamp::now();
        for bad in [
            "notadate",
            "",
            "5",
            "-5d",
            "3 fortnights",
            "2025-13-40",
            "99999999999999999999d",
        ] {
            let err = parse_time_arg(bad, now).unwrap_err();
            assert!(err.contains("RFC 3339"), "{bad}: {err}");
        }
    }
}
