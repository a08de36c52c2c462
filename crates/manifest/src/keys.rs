//! The keys of a run record: what listing sorts and filters on, read from a
//! record line without building the rest of the record.
//!
//! [`list_runs`](crate::list_runs) reads these from every run and the full
//! [`PipelineRunRecord`] only for the runs it lists. Both reads go through
//! the same tail reader, which stops at the last line that parses, so the
//! two agree on a run's last record only if a line parses as
//! [`RecordKeys`] exactly when it parses as a [`PipelineRunRecord`]. Hence
//! the mirror types below: every field of the record is checked as the
//! record's own `Deserialize` checks it (same names, order, types, defaults,
//! duplicate rules and error messages), and only the keys are kept. Strings
//! are checked in place, never copied. The tests at the end hold the mirror
//! and the model in step.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

#[cfg(doc)]
use telemetry_model::PipelineRunRecord;

pub(crate) use mirror::PipelineRunRecord as RecordKeys;

/// The mirror types bear the model's names because a derived `Deserialize`
/// names its type in error messages ("expected struct StepExecutionEntry"),
/// and those reach the warnings about skipped lines.
mod mirror {
    use super::{Check, Seq, Str, SummaryKeys};
    use serde::Deserialize;
    use telemetry_model::{RunStatus, StepStatus, Timestamp};

    /// A run record's keys. Fields in the order of the model's.
    #[derive(Deserialize)]
    #[expect(
        dead_code,
        reason = "the fields that are not keys are checked, never read"
    )]
    pub(crate) struct PipelineRunRecord {
        #[serde(default)]
        schema_version: Check<u32>,
        pub(crate) run_id: String,
        #[serde(default)]
        pub(crate) pipeline: Option<String>,
        pub(crate) created_at: Timestamp,
        #[serde(default)]
        completed_at: Check<Option<Timestamp>>,
        pub(crate) status: RunStatus,
        #[serde(default)]
        initiator: Option<Str>,
        #[serde(default)]
        host: Option<Str>,
        #[serde(default)]
        pid: Check<Option<u32>>,
        #[serde(default)]
        pub(crate) scenario_config_path: Option<String>,
        /// `null` reads as empty, as the model's `null_as_default` does.
        #[serde(default)]
        enabled_steps: Option<Seq<Str>>,
        #[serde(default)]
        artifact_dir: Option<Str>,
        #[serde(default)]
        pub(crate) summary: Option<SummaryKeys>,
        #[serde(default)]
        steps: Option<Seq<StepExecutionEntry>>,
    }

    /// Checks a step, keeping nothing. Fields in the order of the model's.
    #[derive(Deserialize)]
    #[expect(dead_code, reason = "checked, never read")]
    pub(super) struct StepExecutionEntry {
        step_id: Str,
        #[serde(default)]
        display_name: Str,
        #[serde(default)]
        order: Check<u32>,
        status: Check<StepStatus>,
        #[serde(default)]
        started_at: Check<Option<Timestamp>>,
        #[serde(default)]
        ended_at: Check<Option<Timestamp>>,
        #[serde(default)]
        duration_seconds: Check<Option<f64>>,
        #[serde(default)]
        eta_snapshot_seconds: Check<Option<f64>>,
        #[serde(default)]
        eta_range_seconds: Check<Option<[f64; 2]>>,
        #[serde(default)]
        artifacts: Option<Seq<Str>>,
        #[serde(default)]
        exit_code: Check<Option<i32>>,
        #[serde(default)]
        cpu_time_seconds: Check<Option<f64>>,
        #[serde(default)]
        peak_rss_mb: Check<Option<f64>>,
    }
}

/// A `RunSummary`'s keys: `scenario_id` and `scenario` where they are
/// strings. Read as the summary is (an object whose `total_duration` is a
/// number or null, once; anything else kept as a JSON value, the last of
/// duplicate keys winning).
#[derive(Default)]
pub(crate) struct SummaryKeys {
    pub(crate) scenario_id: Option<String>,
    pub(crate) scenario: Option<String>,
}

impl<'de> Deserialize<'de> for SummaryKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(field_identifier, rename_all = "snake_case")]
        enum Field {
            TotalDuration,
            ScenarioId,
            Scenario,
            #[serde(other)]
            Other,
        }
        struct SummaryVisitor;
        impl<'de> Visitor<'de> for SummaryVisitor {
            type Value = SummaryKeys;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("struct RunSummary")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SummaryKeys, A::Error> {
                let mut keys = SummaryKeys::default();
                let mut total_duration = false;
                while let Some(field) = map.next_key::<Field>()? {
                    let slot = match field {
                        Field::TotalDuration => {
                            if total_duration {
                                return Err(de::Error::duplicate_field("total_duration"));
                            }
                            total_duration = true;
                            map.next_value::<Option<f64>>()?;
                            continue;
                        }
                        Field::ScenarioId => &mut keys.scenario_id,
                        Field::Scenario => &mut keys.scenario,
                        Field::Other => {
                            map.next_value::<AnyValue>()?;
                            continue;
                        }
                    };
                    *slot = match map.next_value::<Value>()? {
                        Value::String(text) => Some(text),
                        _ => None,
                    };
                }
                Ok(keys)
            }
        }
        deserializer.deserialize_map(SummaryVisitor)
    }
}

/// Checks a value as `T`, keeping nothing. For types that do not allocate.
struct Check<T>(PhantomData<T>);

impl<T> Default for Check<T> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Check<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(|_| Self::default())
    }
}

/// Checks a string as `String` does, without copying it.
#[derive(Default)]
struct Str;

impl<'de> Deserialize<'de> for Str {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;
        impl Visitor<'_> for StrVisitor {
            type Value = Str;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Str, E> {
                Ok(Str)
            }
            fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Str, E> {
                match std::str::from_utf8(bytes) {
                    Ok(_) => Ok(Str),
                    Err(_) => Err(de::Error::invalid_value(
                        de::Unexpected::Bytes(bytes),
                        &self,
                    )),
                }
            }
        }
        deserializer.deserialize_string(StrVisitor)
    }
}

/// Checks a list as `Vec<T>` does, keeping nothing.
struct Seq<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Seq<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SeqVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for SeqVisitor<T> {
            type Value = Seq<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Seq<T>, A::Error> {
                while seq.next_element::<T>()?.is_some() {}
                Ok(Seq(PhantomData))
            }
        }
        deserializer.deserialize_seq(SeqVisitor(PhantomData))
    }
}

/// Checks any JSON value as [`Value`] does (strings must be valid UTF-8,
/// unlike [`de::IgnoredAny`], which skips them unchecked), keeping nothing.
struct AnyValue;

impl<'de> Deserialize<'de> for AnyValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AnyVisitor;
        impl<'de> Visitor<'de> for AnyVisitor {
            type Value = AnyValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any valid JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<AnyValue, E> {
                Ok(AnyValue)
            }
            fn visit_i64<E>(self, _: i64) -> Result<AnyValue, E> {
                Ok(AnyValue)
            }
            fn visit_u64<E>(self, _: u64) -> Result<AnyValue, E> {
                Ok(AnyValue)
            }
            fn visit_f64<E>(self, _: f64) -> Result<AnyValue, E> {
                Ok(AnyValue)
            }
            fn visit_str<E>(self, _: &str) -> Result<AnyValue, E> {
                Ok(AnyValue)
            }
            fn visit_unit<E>(self) -> Result<AnyValue, E> {
                Ok(AnyValue)
            }
            fn visit_none<E>(self) -> Result<AnyValue, E> {
                Ok(AnyValue)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<AnyValue, D::Error> {
                AnyValue::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AnyValue, A::Error> {
                while seq.next_element::<AnyValue>()?.is_some() {}
                Ok(AnyValue)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnyValue, A::Error> {
                while map.next_entry::<AnyValue, AnyValue>()?.is_some() {}
                Ok(AnyValue)
            }
        }
        deserializer.deserialize_any(AnyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use serde::de::DeserializeOwned;
    use serde_json::json;
    use telemetry_model::{PipelineRunRecord, RunSummary, StepExecutionEntry, Timestamp};

    use super::*;

    /// A deserializer that answers with the name and field list a derived
    /// `Deserialize` asks for, so the mirror's layout can be compared.
    struct LayoutOf;

    #[derive(Debug)]
    enum Asked {
        Struct(&'static str, &'static [&'static str]),
        Other(String),
    }

    impl fmt::Display for Asked {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Self::Struct(name, _) => write!(f, "struct {name}"),
                Self::Other(message) => f.write_str(message),
            }
        }
    }

    impl std::error::Error for Asked {}

    impl de::Error for Asked {
        fn custom<T: fmt::Display>(msg: T) -> Self {
            Self::Other(msg.to_string())
        }
    }

    impl<'de> Deserializer<'de> for LayoutOf {
        type Error = Asked;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Asked> {
            Err(Asked::Other("not a struct".to_owned()))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Asked> {
            Err(Asked::Struct(name, fields))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }

    fn layout<T: DeserializeOwned>() -> (&'static str, &'static [&'static str]) {
        match T::deserialize(LayoutOf) {
            Err(Asked::Struct(name, fields)) => (name, fields),
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("deserialized from nothing"),
        }
    }

    #[test]
    fn the_mirror_has_the_models_layout() {
        assert_eq!(layout::<RecordKeys>(), layout::<PipelineRunRecord>());
        assert_eq!(
            layout::<mirror::StepExecutionEntry>(),
            layout::<StepExecutionEntry>()
        );
        // `RunSummary` is a map (it flattens `extra`): its only named field
        // must be the one `SummaryKeys` checks.
        let summary = RunSummary {
            total_duration: Some(1.0),
            ..RunSummary::default()
        };
        assert_eq!(
            serde_json::to_value(summary).unwrap(),
            json!({"total_duration": 1.0})
        );
    }

    /// A record with every field set, steps and summary extras included.
    fn full_record() -> Value {
        let mut record = PipelineRunRecord::new("0193-run");
        record.pipeline = Some("imitation".into());
        record.completed_at = Some(Timestamp::now());
        record.initiator = Some("python run.py".into());
        record.host = Some("host".into());
        record.pid = Some(42);
        record.scenario_config_path = Some("configs/classic.yaml".into());
        record.enabled_steps = vec!["a".into(), "b".into()];
        record.artifact_dir = Some("out".into());
        record.summary.total_duration = Some(12.5);
        record.summary.extra = [
            ("scenario_id".to_owned(), json!("classic")),
            ("scenario".to_owned(), json!("Classic")),
            ("nested".to_owned(), json!([1, {"a": "b"}, null])),
        ]
        .into();
        let mut step = StepExecutionEntry::new("a", "Step A", 1);
        step.started_at = Some(Timestamp::now());
        step.ended_at = Some(Timestamp::now());
        step.duration_seconds = Some(1.0);
        step.eta_snapshot_seconds = Some(2.0);
        step.artifacts = vec!["out/a.npz".into()];
        step.exit_code = Some(0);
        step.cpu_time_seconds = Some(0.5);
        step.peak_rss_mb = Some(64.0);
        record.steps = vec![step.clone(), step];
        serde_json::to_value(record).unwrap()
    }

    /// Both parse `bytes` or neither, with the same error, and the keys are
    /// the record's.
    fn assert_agree(bytes: &[u8], what: &str) {
        let full = serde_json::from_slice::<PipelineRunRecord>(bytes);
        let keys = serde_json::from_slice::<RecordKeys>(bytes);
        match (full, keys) {
            (Ok(full), Ok(keys)) => {
                assert_eq!(keys.run_id, full.run_id, "{what}");
                assert_eq!(keys.created_at, full.created_at, "{what}");
                assert_eq!(keys.status, full.status, "{what}");
                assert_eq!(keys.pipeline, full.pipeline, "{what}");
                assert_eq!(keys.scenario_config_path, full.scenario_config_path);
                let summary = keys.summary.unwrap_or_default();
                assert_eq!(summary.scenario_id, full.summary.scenario_id);
                assert_eq!(summary.scenario, full.summary.scenario);
            }
            (Err(full), Err(keys)) => assert_eq!(keys.to_string(), full.to_string(), "{what}"),
            (full, keys) => panic!(
                "{what}: record {:?}, keys {:?}",
                full.err(),
                keys.err().map(|e| e.to_string())
            ),
        }
    }

    fn assert_agree_on(value: &Value, what: &str) {
        assert_agree(&serde_json::to_vec(value).unwrap(), what);
    }

    /// Values of every JSON type, and some edge cases of the numeric ones.
    fn odd_values() -> Vec<Value> {
        vec![
            json!(null),
            json!(true),
            json!(0),
            json!(-1),
            json!(1.5),
            json!(4_294_967_296_u64),
            json!(-2_147_483_649_i64),
            json!("text"),
            json!("2025-01-01 12:00:00"),
            json!("running"),
            json!([]),
            json!(["x"]),
            json!([1]),
            json!({}),
            json!({"step_id": "a", "status": "completed"}),
        ]
    }

    #[test]
    fn every_field_is_checked_as_the_record_checks_it() {
        let base = full_record();
        assert_agree_on(&base, "the full record");
        let mut paths: Vec<Vec<&str>> = Vec::new();
        let top = base.as_object().unwrap();
        paths.extend(top.keys().map(|k| vec![k.as_str()]));
        for key in base["summary"].as_object().unwrap().keys() {
            paths.push(vec!["summary", key.as_str()]);
        }
        for key in base["steps"][0].as_object().unwrap().keys() {
            paths.push(vec!["steps", "0", key.as_str()]);
        }
        paths.push(vec!["enabled_steps", "0"]);
        paths.push(vec!["steps", "0", "artifacts", "0"]);
        paths.push(vec!["steps", "1"]);
        for path in &paths {
            let (last, parents) = path.split_last().unwrap();
            let mut removed = base.clone();
            let mut parent = &mut removed;
            for part in parents {
                parent = match parent {
                    Value::Array(items) => &mut items[part.parse::<usize>().unwrap()],
                    other => &mut other[*part],
                };
            }
            let slot = |parent: &mut Value| -> Option<()> {
                match parent {
                    Value::Object(map) => map.remove(*last).map(drop),
                    Value::Array(items) => {
                        items.remove(last.parse().ok()?);
                        Some(())
                    }
                    _ => None,
                }
            };
            assert!(slot(parent).is_some(), "{path:?}");
            assert_agree_on(&removed, &format!("{path:?} removed"));
            for odd in odd_values() {
                let mut changed = base.clone();
                *changed
                    .pointer_mut(&format!("/{}", path.join("/")))
                    .unwrap() = odd.clone();
                assert_agree_on(&changed, &format!("{path:?} = {odd}"));
            }
        }
    }

    /// `base` with `from` replaced, which must be there.
    fn replaced(base: &str, from: &str, to: &str) -> Vec<u8> {
        assert!(base.contains(from), "{from}");
        base.replacen(from, to, 1).into_bytes()
    }

    #[test]
    fn hand_written_edge_cases_agree() {
        let base = serde_json::to_string(&full_record()).unwrap();
        let body = base.strip_prefix('{').unwrap();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            (
                "duplicate run_id",
                format!(r#"{{"run_id":"b",{body}"#).into_bytes(),
            ),
            (
                "duplicate unknown key",
                format!(r#"{{"x":1,"x":2,{body}"#).into_bytes(),
            ),
            (
                "duplicate total_duration",
                replaced(
                    &base,
                    r#""total_duration":12.5"#,
                    r#""total_duration":1,"total_duration":2"#,
                ),
            ),
            (
                "duplicate scenario_id",
                replaced(
                    &base,
                    r#""scenario_id":"classic""#,
                    r#""scenario_id":"a","scenario_id":"b""#,
                ),
            ),
            (
                "steps null",
                replaced(&base, r#""steps":["#, r#""steps":null,"x":["#),
            ),
            (
                "escaped strings",
                replaced(&base, "Step A", r#"Step \"A\" \u00e9"#),
            ),
            ("truncated", base.as_bytes()[..base.len() - 10].to_vec()),
            ("trailing garbage", format!("{base} x").into_bytes()),
            (
                "an array",
                br#"[1, "id", null, "2025-01-01T00:00:00Z", null, "running"]"#.to_vec(),
            ),
            ("a short array", br#"[1, "id"]"#.to_vec()),
            ("not an object", b"42".to_vec()),
        ];
        for (what, bytes) in &cases {
            assert_agree(bytes, what);
        }
        // Invalid UTF-8 inside strings: a checked field, a summary extra,
        // an unknown field.
        for needle in [&b"Step A"[..], b"Classic", b"python run.py"] {
            let at = base
                .as_bytes()
                .windows(needle.len())
                .position(|w| w == needle)
                .unwrap();
            let mut bytes = base.clone().into_bytes();
            bytes[at + 1] = 0xff;
            assert_agree(&bytes, &String::from_utf8_lossy(needle));
        }
        let mut bytes = format!(r#"{{"unknown":"ab",{body}"#).into_bytes();
        bytes[13] = 0xff;
        assert_agree(&bytes, "invalid UTF-8 in an unknown field");
    }
}
