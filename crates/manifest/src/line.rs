//! What one line of `manifest.jsonl` can be, and how damaged lines are read.

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use telemetry_model::{PerformanceRecommendation, PerformanceTestResult, PipelineRunRecord};

/// One line of a manifest.
///
/// ```text
/// {"schema_version":1,"run_id":"0193…","created_at":"2026-11-24T01:55:11.123456+00:00","status":"running",…}
/// {"recommendation":{"trigger":"cpu_saturation","severity":"warning","message":"…","evidence":{…},"suggested_actions":["…"],"timestamp_ms":1764000000000}}
/// {"perf_test":{"test_id":"manifest_append","matrix":null,"throughput_baseline":50000.0,"throughput_measured":61234.5,"duration_seconds":1.2,"status":"passed","recommendations_ref":[]}}
/// ```
///
/// Lines are told apart by their first key, so a reader skips wrapper lines
/// without parsing them; see [`parse_manifest_line`].
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ManifestLine {
    /// `{"recommendation": {…}}`
    Recommendation {
        /// The recommendation.
        recommendation: PerformanceRecommendation,
    },
    /// `{"perf_test": {…}}`
    PerfTest {
        /// The result.
        perf_test: PerformanceTestResult,
    },
    /// A complete run-record snapshot.
    Record(Box<PipelineRunRecord>),
}

/// How many `{` positions a damaged line is searched for a record that an
/// append left after a torn prefix.
const SALVAGE_ATTEMPTS: usize = 32;

/// Whether the line is one of the one-key wrapper lines, judged from its
/// first key only (cheap: no parsing).
pub(crate) fn is_wrapper_line(bytes: &[u8]) -> bool {
    let trimmed = trim_start(bytes);
    trimmed.starts_with(br#"{"recommendation""#) || trimmed.starts_with(br#"{"perf_test""#)
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    &bytes[start..]
}

#[derive(Deserialize)]
struct WrapperLine {
    #[serde(default)]
    recommendation: Option<PerformanceRecommendation>,
    #[serde(default)]
    perf_test: Option<PerformanceTestResult>,
}

/// Parses one manifest line (without its newline).
///
/// Bare `NaN`/`Infinity` tokens, which Python's `json.dumps` writes, are
/// read as `null`. Damaged lines are an error here; the readers in this
/// crate go further and recover a record appended after a torn prefix.
///
/// ```
/// use manifest::{parse_manifest_line, ManifestLine};
/// let line = br#"{"perf_test": {"test_id": "t", "status": "soft-breach", "throughput_measured": NaN}}"#;
/// let ManifestLine::PerfTest { perf_test } = parse_manifest_line(line)? else { panic!() };
/// assert_eq!(perf_test.throughput_measured, None);
/// # Ok::<(), serde_json::Error>(())
/// ```
pub fn parse_manifest_line(bytes: &[u8]) -> Result<ManifestLine, serde_json::Error> {
    with_non_finite_fallback(bytes, classify)
}

fn classify(bytes: &[u8]) -> Result<ManifestLine, serde_json::Error> {
    // A record line is by far the most common; a wrapper line is known by
    // its first key. A wrapper with unusual spacing falls through below.
    let record_error = if is_wrapper_line(bytes) {
        None
    } else {
        match from_slice::<PipelineRunRecord>(bytes) {
            Ok(record) => return Ok(ManifestLine::Record(Box::new(record))),
            Err(e) => Some(e),
        }
    };
    let wrapper: WrapperLine = match from_slice(bytes) {
        Ok(w) => w,
        Err(e) => return Err(record_error.unwrap_or(e)),
    };
    match (wrapper.recommendation, wrapper.perf_test) {
        (Some(recommendation), None) => Ok(ManifestLine::Recommendation { recommendation }),
        (None, Some(perf_test)) => Ok(ManifestLine::PerfTest { perf_test }),
        _ => Err(record_error.unwrap_or_else(|| {
            serde::de::Error::custom("neither a run record nor a recommendation/perf_test line")
        })),
    }
}

/// The outcome of reading one damaged-or-not line.
pub(crate) enum Parsed<T> {
    /// The line parsed as is.
    Clean(T),
    /// A torn prefix of `skipped` bytes was dropped and the rest parsed.
    Salvaged { value: T, skipped: usize },
    /// Nothing usable; the first error says why.
    Bad(serde_json::Error),
}

/// Parses a line as `T`, tolerating what the Python tracker and crashes
/// leave behind: bare `NaN`/`Infinity` tokens (read as `null`) and a torn
/// prefix before a complete object.
pub(crate) fn parse_tolerant<T>(
    bytes: &[u8],
    parse: impl Fn(&[u8]) -> Result<T, serde_json::Error>,
) -> Parsed<T> {
    let first_error = match with_non_finite_fallback(bytes, &parse) {
        Ok(v) => return Parsed::Clean(v),
        Err(e) => e,
    };
    let mut attempts = 0;
    let mut from = 1;
    while attempts < SALVAGE_ATTEMPTS {
        let Some(offset) = find_object_start(&bytes[from..]) else {
            break;
        };
        let start = from + offset;
        attempts += 1;
        if let Ok(value) = with_non_finite_fallback(&bytes[start..], &parse) {
            return Parsed::Salvaged {
                value,
                skipped: start,
            };
        }
        from = start + 1;
    }
    Parsed::Bad(first_error)
}

fn find_object_start(bytes: &[u8]) -> Option<usize> {
    memchr::memmem::find(bytes, br#"{""#)
}

/// Parses any JSON line as `T` with the same tolerance.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    with_non_finite_fallback(bytes, from_slice)
}

/// `serde_json::from_slice`, faster: a line that is valid UTF-8 as a whole
/// (nearly all) is checked once rather than string by string, with the
/// same result. Only a line with invalid UTF-8 somewhere (where a skipped
/// field may hold it) is parsed as bytes.
fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

fn with_non_finite_fallback<T>(
    bytes: &[u8],
    parse: impl Fn(&[u8]) -> Result<T, serde_json::Error>,
) -> Result<T, serde_json::Error> {
    match parse(bytes) {
        Ok(v) => Ok(v),
        Err(e) => match replace_non_finite(bytes) {
            Cow::Owned(fixed) => parse(&fixed).map_err(|_| e),
            Cow::Borrowed(_) => Err(e),
        },
    }
}

/// Replaces the bare tokens `NaN`, `Infinity` and `-Infinity` (Python's
/// `json.dumps` writes them) with `null`, leaving strings untouched.
fn replace_non_finite(bytes: &[u8]) -> Cow<'_, [u8]> {
    let has_token = memchr::memmem::find(bytes, b"NaN").is_some()
        || memchr::memmem::find(bytes, b"Infinity").is_some();
    if !has_token {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            out.push(b);
            if b == b'\\' && i + 1 < bytes.len() {
                out.push(bytes[i + 1]);
                i += 2;
                continue;
            }
            in_string = b != b'"';
            i += 1;
            continue;
        }
        let rest = &bytes[i..];
        let token = [&b"-Infinity"[..], b"Infinity", b"NaN"]
            .into_iter()
            .find(|t| rest.starts_with(t));
        match token {
            Some(t) => {
                out.extend_from_slice(b"null");
                i += t.len();
            }
            None => {
                in_string = b == b'"';
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn non_finite_tokens_become_null_outside_strings() {
        let line = br#"{"a": NaN, "b": -Infinity, "c": "NaN \" Infinity", "d": [Infinity]}"#;
        let Parsed::Clean(v) = parse_tolerant(line, parse_json::<Value>) else {
            panic!("should parse")
        };
        assert_eq!(v["a"], Value::Null);
        assert_eq!(v["b"], Value::Null);
        assert_eq!(v["c"], "NaN \" Infinity");
        assert_eq!(v["d"][0], Value::Null);
    }

    #[test]
    fn record_after_torn_prefix_is_salvaged() {
        let line = br#"{"run_id":"a","steps":[{"step_id":"x"{"run_id":"b","ok":{"n":1}}"#;
        match parse_tolerant(line, parse_json::<Value>) {
            Parsed::Salvaged { value, skipped } => {
                assert_eq!(value["run_id"], "b");
                let second = line.windows(13).position(|w| w == br#"{"run_id":"b""#);
                assert_eq!(Some(skipped), second);
            }
            _ => panic!("should salvage"),
        }
        assert!(matches!(
            parse_tolerant(b"garbage", parse_json::<Value>),
            Parsed::Bad(_)
        ));
    }

    #[test]
    fn wrapper_lines_are_recognised_by_their_key() {
        assert!(is_wrapper_line(br#"  {"recommendation": {}}"#));
        assert!(is_wrapper_line(br#"{"perf_test":{}}"#));
        assert!(!is_wrapper_line(br#"{"run_id":"perf_test"}"#));
    }
}
