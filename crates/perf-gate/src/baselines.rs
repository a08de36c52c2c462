//! The baselines file (`perf/baselines.json`): what each scenario is
//! expected to reach, and how far below it may fall.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};
use telemetry_model::Timestamp;

use crate::classify::{
    DEFAULT_HARD_RATIO, DEFAULT_SOFT_RATIO, Tolerance, hard_ratio_expectation, hard_ratio_ok,
    soft_ratio_expectation, soft_ratio_ok,
};
use crate::error::{Error, Result};

/// Version of the baselines file layout this crate reads and writes.
pub const BASELINES_SCHEMA_VERSION: u32 = 1;

/// Largest baselines file read.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// A baselines file: a baseline per scenario.
///
/// ```json
/// {
///   "schema_version": 1,
///   "profile": "release",
///   "scenarios": {
///     "manifest_append": {
///       "baseline": 250000.0,
///       "unit": "records/s",
///       "soft_ratio": 0.8,
///       "hard_ratio": 0.5,
///       "host": "ci-runner (2 cpus, x86_64)",
///       "measured_at": "2026-01-10T09:00:00.000000+00:00"
///     }
///   }
/// }
/// ```
///
/// `soft_ratio` and `hard_ratio` default to [`DEFAULT_SOFT_RATIO`] and
/// [`DEFAULT_HARD_RATIO`]; `profile`, `host`, `measured_at` and `note` are
/// optional. Unknown keys are errors: a misspelt `soft_ration` must not be
/// silently ignored.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Baselines {
    /// Layout version, [`BASELINES_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The build profile the baselines were measured with (`release`,
    /// `debug`), for measurements whose speed depends on it (`cargo xtask
    /// perf`); `None` when it does not matter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Free text for the people editing the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Baseline of each scenario, by name (a perf test's `test_id`).
    pub scenarios: BTreeMap<String, BaselineEntry>,
    /// The file this was read from, for messages.
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

/// One scenario's baseline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BaselineEntry {
    /// Expected throughput, > 0.
    pub baseline: f64,
    /// Its unit (`records/s`, `steps/s`, `fps`); a measurement in another
    /// unit is an error.
    pub unit: String,
    /// At or below `soft_ratio` × baseline: a soft breach.
    pub soft_ratio: f64,
    /// At or below `hard_ratio` × baseline: failed.
    pub hard_ratio: f64,
    /// The machine the baseline was measured on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// When it was measured (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measured_at: Option<String>,
    /// Free text: why the baseline moved, for instance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl BaselineEntry {
    /// A baseline with the default ratios.
    pub fn new(baseline: f64, unit: impl Into<String>) -> Self {
        Self {
            baseline,
            unit: unit.into(),
            soft_ratio: DEFAULT_SOFT_RATIO,
            hard_ratio: DEFAULT_HARD_RATIO,
            host: None,
            measured_at: None,
            note: None,
        }
    }

    /// The entry's ratios.
    pub fn tolerance(&self) -> Tolerance {
        Tolerance {
            soft_ratio: self.soft_ratio,
            hard_ratio: self.hard_ratio,
        }
    }
}

impl Baselines {
    /// No baselines, read from nowhere.
    pub fn empty() -> Self {
        Self {
            schema_version: BASELINES_SCHEMA_VERSION,
            ..Self::default()
        }
    }

    /// Reads and validates a baselines file. Errors name the file as given
    /// and the key at fault.
    pub fn load(path: &Path) -> Result<Self> {
        let text = read_text(path)?;
        Self::parse(&text, path)
    }

    /// [`Baselines::load`], or no baselines when the file does not exist
    /// (the first run of a new scenario); the flag says whether it did.
    pub fn load_or_empty(path: &Path) -> Result<(Self, bool)> {
        match std::fs::metadata(path) {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let mut empty = Self::empty();
                empty.path = Some(path.to_owned());
                Ok((empty, false))
            }
            _ => Self::load(path).map(|b| (b, true)),
        }
    }

    /// Parses and validates the text of a baselines file; `path` is used in
    /// messages.
    ///
    /// ```
    /// use std::path::Path;
    /// use perf_gate::Baselines;
    ///
    /// let text = r#"{"schema_version": 1, "scenarios": {"append": {"baseline": 1000, "unit": "records/s"}}}"#;
    /// let b = Baselines::parse(text, Path::new("perf/baselines.json"))?;
    /// assert_eq!(b.scenarios["append"].soft_ratio, perf_gate::DEFAULT_SOFT_RATIO);
    ///
    /// let bad = r#"{"scenarios": {"append": {"baseline": 1000, "unit": "records/s", "soft_ratio": 1.5}}}"#;
    /// let err = Baselines::parse(bad, Path::new("perf/baselines.json")).unwrap_err();
    /// assert!(err.to_string().starts_with("perf/baselines.json: scenarios.append.soft_ratio: expected a number in [0.75, 1]"));
    /// # Ok::<(), perf_gate::Error>(())
    /// ```
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let value: Value = serde_json::from_str(text).map_err(|e| Error::Syntax {
            path: path.to_owned(),
            line: e.line(),
            column: e.column(),
            message: syntax_message(&e),
        })?;
        let p = Parser { path };
        let top = p.object(&value, "")?;
        p.only_keys(top, "", &["schema_version", "profile", "note", "scenarios"])?;
        let schema_version = match top.get("schema_version") {
            None => BASELINES_SCHEMA_VERSION,
            Some(v) => {
                let version = v.as_u64().ok_or_else(|| {
                    p.invalid(
                        "schema_version",
                        format!("expected a whole number, got {}", shown(v)),
                    )
                })?;
                if version != u64::from(BASELINES_SCHEMA_VERSION) {
                    return Err(p.invalid(
                        "schema_version",
                        format!(
                            "version {version} is not supported (this tracker reads version \
                             {BASELINES_SCHEMA_VERSION})"
                        ),
                    ));
                }
                BASELINES_SCHEMA_VERSION
            }
        };
        let profile = p.opt_string(top, "", "profile")?;
        let note = p.opt_string(top, "", "note")?;
        let scenarios_value = top
            .get("scenarios")
            .ok_or_else(|| p.invalid("scenarios", "missing: expected an object of scenarios"))?;
        let mut scenarios = BTreeMap::new();
        for (name, entry) in p.object(scenarios_value, "scenarios")? {
            let key = format!("scenarios.{name}");
            if name.trim().is_empty() {
                return Err(p.invalid(&key, "a scenario name must not be empty"));
            }
            scenarios.insert(name.clone(), p.entry(entry, &key)?);
        }
        Ok(Self {
            schema_version,
            profile,
            note,
            scenarios,
            path: Some(path.to_owned()),
        })
    }

    /// The baseline of a scenario.
    pub fn get(&self, name: &str) -> Option<&BaselineEntry> {
        self.scenarios.get(name)
    }

    /// The file named in messages (`<baselines>` when read from nowhere).
    pub fn display_path(&self) -> PathBuf {
        self.path
            .clone()
            .unwrap_or_else(|| PathBuf::from("<baselines>"))
    }

    /// Checks that the baselines were measured with `profile` (when the
    /// file names one).
    pub fn check_profile(&self, profile: &str) -> Result<()> {
        match &self.profile {
            Some(expected) if expected != profile => Err(Error::ProfileMismatch {
                path: self.display_path(),
                expected: expected.clone(),
                actual: profile.to_owned(),
            }),
            _ => Ok(()),
        }
    }

    /// Sets a scenario's baseline to a fresh measurement, keeping its
    /// ratios and note (or the defaults for a new scenario). The value is
    /// rounded to four significant digits so that a rewrite does not fill
    /// the file's history with noise digits. A measurement that is no
    /// baseline (zero, negative, not finite, or zero once rounded) changes
    /// nothing and returns `false`: the file stays one that loads.
    #[must_use = "a measurement that is no baseline is not stored; say so"]
    pub fn update(
        &mut self,
        name: &str,
        measured: f64,
        unit: &str,
        host: Option<String>,
        at: Timestamp,
    ) -> bool {
        let rounded = round_significant(measured, 4);
        if !(measured.is_finite() && rounded.is_finite() && rounded > 0.0) {
            return false;
        }
        let entry = self
            .scenarios
            .entry(name.to_owned())
            .or_insert_with(|| BaselineEntry::new(measured, unit));
        entry.baseline = rounded;
        entry.unit = unit.to_owned();
        entry.host = host;
        entry.measured_at = Some(at.to_string());
        true
    }

    /// Moves every measured scenario's baseline to its median
    /// ([`Baselines::update`]); returns a warning for each median that is
    /// no baseline and was left as it was.
    pub fn update_from(
        &mut self,
        measurements: &[crate::Measurement],
        host: Option<String>,
        at: Timestamp,
    ) -> Vec<String> {
        let mut warnings = Vec::new();
        for m in measurements {
            if let Some(median) = m.median()
                && !self.update(&m.test_id, median, &m.unit, host.clone(), at)
            {
                warnings.push(format!(
                    "{}: a median of {median} {} is no baseline; left as it was",
                    m.test_id, m.unit
                ));
            }
        }
        warnings
    }

    /// The file's text: pretty JSON, keys in a stable order, a final newline.
    pub fn to_json(&self) -> Result<String> {
        let mut text = serde_json::to_string_pretty(self).map_err(|source| Error::Serialize {
            what: "the baselines",
            source,
        })?;
        text.push('\n');
        Ok(text)
    }

    /// Writes the file atomically (temporary file and rename), creating its
    /// directory.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = self.to_json()?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                action: "create the directory of",
                path: path.to_owned(),
                source,
            })?;
        }
        manifest::write_atomic(path, text.as_bytes(), true)?;
        Ok(())
    }
}

fn read_text(path: &Path) -> Result<String> {
    let io = |source| Error::Io {
        action: "read",
        path: path.to_owned(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_FILE_BYTES {
        return Err(Error::invalid(
            path,
            "(file)",
            format!("{len} bytes is too large for a baselines file (limit {MAX_FILE_BYTES})"),
        ));
    }
    std::fs::read_to_string(path).map_err(io)
}

/// serde_json's message without its own ` at line L column C` suffix (the
/// position is printed in front).
fn syntax_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// A JSON value, shortened for a message.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 40 {
        let mut short: String = text.chars().take(40).collect();
        short.push('…');
        short
    } else {
        text
    }
}

fn round_significant(value: f64, digits: i32) -> f64 {
    if !value.is_finite() || value == 0.0 {
        return value;
    }
    let magnitude = value.abs().log10().floor() as i32;
    let factor = 10f64.powi(digits - 1 - magnitude);
    (value * factor).round() / factor
}

struct Parser<'a> {
    path: &'a Path,
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

impl Parser<'_> {
    fn invalid(&self, key: &str, message: impl Into<String>) -> Error {
        Error::invalid(
            self.path,
            if key.is_empty() { "(top level)" } else { key },
            message,
        )
    }

    fn object<'v>(&self, value: &'v Value, key: &str) -> Result<&'v Map<String, Value>> {
        value
            .as_object()
            .ok_or_else(|| self.invalid(key, format!("expected an object, got {}", shown(value))))
    }

    fn only_keys(&self, map: &Map<String, Value>, prefix: &str, allowed: &[&str]) -> Result<()> {
        match map.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(unknown) => Err(self.invalid(
                &join(prefix, unknown),
                format!("unknown key (expected one of: {})", allowed.join(", ")),
            )),
            None => Ok(()),
        }
    }

    fn opt_string(
        &self,
        map: &Map<String, Value>,
        prefix: &str,
        key: &str,
    ) -> Result<Option<String>> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.invalid(
                &join(prefix, key),
                format!("expected a string, got {}", shown(other)),
            )),
        }
    }

    fn number(&self, map: &Map<String, Value>, prefix: &str, key: &str) -> Result<Option<f64>> {
        match map.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|f| f.is_finite())
                .map(Some)
                .ok_or_else(|| {
                    self.invalid(
                        &join(prefix, key),
                        format!("expected a number, got {}", shown(v)),
                    )
                }),
        }
    }

    fn entry(&self, value: &Value, prefix: &str) -> Result<BaselineEntry> {
        let map = self.object(value, prefix)?;
        self.only_keys(
            map,
            prefix,
            &[
                "baseline",
                "unit",
                "soft_ratio",
                "hard_ratio",
                "host",
                "measured_at",
                "note",
            ],
        )?;
        let key = |k: &str| join(prefix, k);
        let baseline = self
            .number(map, prefix, "baseline")?
            .ok_or_else(|| self.invalid(&key("baseline"), "missing: expected a number > 0"))?;
        if baseline <= 0.0 {
            return Err(self.invalid(
                &key("baseline"),
                format!("expected a number > 0, got {baseline}"),
            ));
        }
        let unit = self
            .opt_string(map, prefix, "unit")?
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| {
                self.invalid(
                    &key("unit"),
                    "missing: expected the unit of the baseline, such as \"steps/s\"",
                )
            })?;
        let soft_ratio = self
            .number(map, prefix, "soft_ratio")?
            .unwrap_or(DEFAULT_SOFT_RATIO);
        if !soft_ratio_ok(soft_ratio) {
            return Err(self.invalid(
                &key("soft_ratio"),
                format!("{}, got {soft_ratio}", soft_ratio_expectation()),
            ));
        }
        let hard_ratio = self
            .number(map, prefix, "hard_ratio")?
            .unwrap_or(DEFAULT_HARD_RATIO.min(soft_ratio));
        if !hard_ratio_ok(hard_ratio, soft_ratio) {
            return Err(self.invalid(
                &key("hard_ratio"),
                format!("{}, got {hard_ratio}", hard_ratio_expectation(soft_ratio)),
            ));
        }
        Ok(BaselineEntry {
            baseline,
            unit,
            soft_ratio,
            hard_ratio,
            host: self.opt_string(map, prefix, "host")?,
            measured_at: self.opt_string(map, prefix, "measured_at")?,
            note: self.opt_string(map, prefix, "note")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "perf/baselines.json";

    fn parse(text: &str) -> Result<Baselines> {
        Baselines::parse(text, Path::new(PATH))
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn a_full_file_reads_and_round_trips() {
        let text = r#"{
          "schema_version": 1,
          "profile": "release",
          "note": "measured on CI",
          "scenarios": {
            "a": {"baseline": 1000, "unit": "records/s", "soft_ratio": 0.9, "hard_ratio": 0.4,
                  "host": "ci", "measured_at": "2026-01-01T00:00:00.000000+00:00", "note": "n"},
            "b": {"baseline": 2.5, "unit": "listings/s"}
          }
        }"#;
        let b = parse(text).unwrap();
        assert_eq!(b.profile.as_deref(), Some("release"));
        assert_eq!(
            b.scenarios["a"].tolerance(),
            Tolerance {
                soft_ratio: 0.9,
                hard_ratio: 0.4
            }
        );
        assert_eq!(b.scenarios["b"].tolerance(), Tolerance::default());
        let again = parse(&b.to_json().unwrap()).unwrap();
        assert_eq!(again, b);
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        let cases = [
            (
                r#"{"scenarios": {"manifest_append": {"baseline": 1, "unit": "x", "soft_ratio": 0.5}}}"#,
                "perf/baselines.json: scenarios.manifest_append.soft_ratio: expected a number in [0.75, 1]",
            ),
            (
                r#"{"scenarios": {"a": {"baseline": 1, "unit": "x", "soft_ratio": "high"}}}"#,
                "perf/baselines.json: scenarios.a.soft_ratio: expected a number, got \"high\"",
            ),
            (
                r#"{"scenarios": {"a": {"baseline": 1, "unit": "x", "hard_ratio": 0.9}}}"#,
                "perf/baselines.json: scenarios.a.hard_ratio: expected a number in (0, soft_ratio = 0.8], got 0.9",
            ),
            (
                r#"{"scenarios": {"a": {"baseline": 0, "unit": "x"}}}"#,
                "perf/baselines.json: scenarios.a.baseline: expected a number > 0, got 0",
            ),
            (
                r#"{"scenarios": {"a": {"unit": "x"}}}"#,
                "perf/baselines.json: scenarios.a.baseline: missing",
            ),
            (
                r#"{"scenarios": {"a": {"baseline": 1}}}"#,
                "perf/baselines.json: scenarios.a.unit: missing",
            ),
            (
                r#"{"scenarios": {"a": {"baseline": 1, "unit": "x", "soft_ration": 0.9}}}"#,
                "perf/baselines.json: scenarios.a.soft_ration: unknown key",
            ),
            (
                r#"{"scenarios": {"a": [1]}}"#,
                "perf/baselines.json: scenarios.a: expected an object, got [1]",
            ),
            (
                r#"{"scenario": {}}"#,
                "perf/baselines.json: scenario: unknown key",
            ),
            (r#"{}"#, "perf/baselines.json: scenarios: missing"),
            (
                r#"{"schema_version": 2, "scenarios": {}}"#,
                "perf/baselines.json: schema_version: version 2 is not supported",
            ),
            (
                r#"[]"#,
                "perf/baselines.json: (top level): expected an object",
            ),
            (
                "{\n  \"scenarios\": {,}\n}",
                "perf/baselines.json:2:17: not valid JSON: key must be a string",
            ),
        ];
        for (text, want) in cases {
            let got = error(text);
            assert!(got.starts_with(want), "{text}\n got: {got}\nwant: {want}");
        }
    }

    #[test]
    fn a_missing_file_is_no_baselines_and_other_read_errors_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("none.json");
        let (b, existed) = Baselines::load_or_empty(&path).unwrap();
        assert!(!existed && b.scenarios.is_empty());
        let err = Baselines::load(&path).unwrap_err().to_string();
        assert!(err.starts_with("cannot read "), "{err}");
        assert!(err.contains("none.json"), "{err}");
        let err = Baselines::load_or_empty(dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("cannot read "), "{err}");
    }

    #[test]
    fn update_keeps_ratios_and_rounds_and_save_is_atomic_and_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("perf").join("baselines.json");
        let mut b = parse(
            r#"{"scenarios": {"a": {"baseline": 1, "unit": "x", "soft_ratio": 0.9, "hard_ratio": 0.3, "note": "keep"}}}"#,
        )
        .unwrap();
        let at = Timestamp::from_unix_ms(0);
        assert!(b.update("a", 123_456.789, "x", Some("host".into()), at));
        assert!(b.update("new", 0.012_345_6, "fps", None, at));
        // No baseline: zero, negative, not finite; nothing changes.
        for bad in [0.0, -3.0, f64::NAN, f64::INFINITY, 1e-320] {
            assert!(!b.update("a", bad, "x", None, at), "{bad}");
            assert!(!b.update("zero", bad, "x", None, at), "{bad}");
        }
        assert!(!b.scenarios.contains_key("zero"));
        b.save(&path).unwrap();
        let read = Baselines::load(&path).unwrap();
        assert_eq!(read.scenarios["a"].baseline, 123_500.0);
        assert_eq!(read.scenarios["a"].tolerance().soft_ratio, 0.9);
        assert_eq!(read.scenarios["a"].note.as_deref(), Some("keep"));
        assert_eq!(read.scenarios["a"].host.as_deref(), Some("host"));
        assert_eq!(
            read.scenarios["a"].measured_at.as_deref(),
            Some("1970-01-01T00:00:00.000000+00:00")
        );
        assert_eq!(read.scenarios["new"].baseline, 0.01235);
        assert_eq!(read.scenarios["new"].tolerance(), Tolerance::default());
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, ["baselines.json"]);
    }

    #[test]
    fn profile_mismatch_is_an_error_naming_both() {
        let b = parse(r#"{"profile": "release", "scenarios": {}}"#).unwrap();
        assert!(b.check_profile("release").is_ok());
        let err = b.check_profile("debug").unwrap_err().to_string();
        assert_eq!(
            err,
            "perf/baselines.json: profile: the baselines were measured with a release build, \
             this is a debug build"
        );
        assert!(
            parse(r#"{"scenarios": {}}"#)
                .unwrap()
                .check_profile("debug")
                .is_ok()
        );
    }
}
