//! Wall-clock instants as they appear in manifests.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::error::TimestampError;

/// An instant in UTC, written as RFC 3339 with microseconds and an explicit
/// offset (`2026-11-24T01:55:11.123456+00:00`): the form Python's
/// `datetime.isoformat()` writes and every `datetime.fromisoformat()` reads.
///
/// Reading is lenient so that manifests written by the Python tracker load:
/// any RFC 3339 offset (`+00:00`, `+02:00`, `Z`), with or without fractional
/// seconds, a space instead of `T`, and *naive* timestamps without any offset.
/// A naive timestamp is read as UTC and remembered as such
/// ([`Timestamp::was_naive`]) so that readers can warn about it.
///
/// Equality and ordering compare the instant only.
#[derive(Clone, Copy, Debug)]
pub struct Timestamp {
    at: OffsetDateTime,
    naive: bool,
}

impl Timestamp {
    /// The current time, truncated to microseconds (the precision the Python
    /// tracker writes, so both produce comparable values).
    pub fn now() -> Self {
        let now = OffsetDateTime::now_utc();
        let micros = now.microsecond();
        let at = now.replace_microsecond(micros).unwrap_or(now);
        Self { at, naive: false }
    }

    /// The instant `ms` milliseconds after the Unix epoch.
    ///
    /// Values outside the representable range (years beyond ±9999) saturate
    /// to the epoch rather than panic.
    pub fn from_unix_ms(ms: i64) -> Self {
        let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        Self { at, naive: false }
    }

    /// Wraps an [`OffsetDateTime`], normalised to UTC.
    pub fn from_datetime(at: OffsetDateTime) -> Self {
        Self {
            at: at.to_offset(UtcOffset::UTC),
            naive: false,
        }
    }

    /// Parses any of the accepted forms (see the type's documentation).
    ///
    /// ```
    /// use telemetry_model::Timestamp;
    /// let a: Timestamp = "2025-01-01T00:00:00+00:00".parse().unwrap();
    /// let b: Timestamp = "2025-01-01T01:00:00.000+01:00".parse().unwrap();
    /// let naive: Timestamp = "2025-01-01T00:00:00".parse().unwrap();
    /// assert_eq!(a, b);
    /// assert_eq!(a, naive);
    /// assert!(naive.was_naive() && !a.was_naive());
    /// ```
    pub fn parse(input: &str) -> Result<Self, TimestampError> {
        let trimmed = input.trim();
        // Python's `str(datetime)` separates date and time with a space.
        // Copy only then: most timestamps are parsed as they are.
        let text = if trimmed.as_bytes().get(10) == Some(&b' ') {
            Cow::Owned(format!("{}T{}", &trimmed[..10], &trimmed[11..]))
        } else {
            Cow::Borrowed(trimmed)
        };
        let text = text.as_ref();
        if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
            return Ok(Self::from_datetime(at));
        }
        // A naive timestamp (no offset at all): read it as UTC.
        if !has_offset(text)
            && let Ok(at) = OffsetDateTime::parse(&format!("{text}Z"), &Rfc3339)
        {
            return Ok(Self { at, naive: true });
        }
        Err(TimestampError {
            input: truncate_for_message(trimmed),
        })
    }

    /// Milliseconds since the Unix epoch.
    pub fn unix_ms(&self) -> i64 {
        (self.at.unix_timestamp_nanos() / 1_000_000) as i64
    }

    /// The instant as a `time` value in UTC.
    pub fn as_datetime(&self) -> OffsetDateTime {
        self.at
    }

    /// Whether the text this was read from had no offset and was assumed UTC.
    pub fn was_naive(&self) -> bool {
        self.naive
    }

    /// Seconds from `earlier` to `self` (negative when `earlier` is later).
    pub fn seconds_since(&self, earlier: Timestamp) -> f64 {
        (self.at - earlier.at).as_seconds_f64()
    }
}

fn has_offset(text: &str) -> bool {
    // After the date part, an offset starts with `Z`, `+` or `-`.
    text.get(10..)
        .is_some_and(|rest| rest.contains(['Z', 'z', '+']) || rest.contains('-'))
}

fn truncate_for_message(input: &str) -> String {
    const MAX: usize = 64;
    if input.len() <= MAX {
        return input.to_owned();
    }
    let mut end = MAX;
    while !input.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &input[..end])
}

impl PartialEq for Timestamp {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Timestamp {}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timestamp {
    fn cmp(&self, other: &Self) -> Ordering {
        self.at.cmp(&other.at)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.at;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+00:00",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second(),
            at.microsecond()
        )
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_python_forms() {
        let utc = Timestamp::parse("2025-01-01T00:00:00Z").unwrap();
        for form in [
            "2025-01-01T00:00:00+00:00",
            "2025-01-01T00:00:00.000000+00:00",
            "2025-01-01 00:00:00+00:00",
            "2025-01-01T02:00:00+02:00",
            "2024-12-31T19:00:00-05:00",
        ] {
            let parsed = Timestamp::parse(form).unwrap();
            assert_eq!(parsed, utc, "{form}");
            assert!(!parsed.was_naive(), "{form}");
        }
        for naive in [
            "2025-01-01T00:00:00",
            "2025-01-01T00:00:00.000",
            "2025-01-01 00:00:00",
        ] {
            let parsed = Timestamp::parse(naive).unwrap();
            assert_eq!(parsed, utc, "{naive}");
            assert!(parsed.was_naive(), "{naive}");
        }
    }

    #[test]
    fn only_a_space_at_byte_10_is_a_separator() {
        let utc = Timestamp::parse("2025-01-01T00:00:00Z").unwrap();
        assert_eq!(
            Timestamp::parse("  2025-01-01 00:00:00.000+00:00 ").unwrap(),
            utc
        );
        // Elsewhere a space is an error, and multi-byte text never panics.
        for bad in [
            "2025-01-01  00:00:00Z",
            "2025-01-1 00:00:00Z",
            "2025-01-é1 00:00:00Z",
            "2025-01-0é 00:00:00Z",
            "2025-01-01 ",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keeps_fractional_seconds() {
        let t = Timestamp::parse("2025-01-01T00:00:00.123456+00:00").unwrap();
        assert_eq!(t.unix_ms() % 1000, 123);
        assert_eq!(t.to_string(), "2025-01-01T00:00:00.123456+00:00");
    }

    #[test]
    fn rejects_garbage_with_the_input_in_the_message() {
        for bad in [
            "",
            "yesterday",
            "2025-13-01T00:00:00Z",
            "2025-01-01",
            "12:00",
        ] {
            let err = Timestamp::parse(bad).unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
        let long = "x".repeat(500);
        assert!(Timestamp::parse(&long).unwrap_err().to_string().len() < 200);
    }

    #[test]
    fn serde_round_trip_normalises_to_utc() {
        let t: Timestamp = serde_json::from_str("\"2025-06-01T12:30:00.5+02:00\"").unwrap();
        let text = serde_json::to_string(&t).unwrap();
        assert_eq!(text, "\"2025-06-01T10:30:00.500000+00:00\"");
        let back: Timestamp = serde_json::from_str(&text).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn unix_ms_round_trip_and_out_of_range_saturates() {
        let t = Timestamp::from_unix_ms(1_700_000_000_123);
        assert_eq!(t.unix_ms(), 1_700_000_000_123);
        assert_eq!(Timestamp::from_unix_ms(i64::MAX).unix_ms(), 0);
    }

    #[test]
    fn now_is_microsecond_precision() {
        assert_eq!(Timestamp::now().as_datetime().nanosecond() % 1000, 0);
    }
}
