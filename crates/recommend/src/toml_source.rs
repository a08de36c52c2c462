//! Reading thresholds from TOML text, with errors that name the source, the
//! line and the dotted key.
//!
//! The text is parsed once with spans; the part that holds the thresholds
//! (the whole document, or one table of it) is deserialised strictly
//! (`deny_unknown_fields`) to find unknown keys and wrong types, then
//! merged key by key over the base thresholds and range-checked.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::error::RulesError;
use crate::thresholds::Thresholds;

/// The tables of a thresholds document, one per rule.
const RULE_TABLES: &[&str] = &[
    "throughput",
    "cpu_saturation",
    "memory_pressure",
    "gpu_idle_cpu_bound",
    "slow_step",
];

/// Where each key and value of the thresholds part sits in the text.
struct KeyIndex {
    entries: Vec<Entry>,
}

struct Entry {
    path: String,
    key: Range<usize>,
    value: Range<usize>,
    depth: usize,
}

impl KeyIndex {
    fn new(table: &DeTable<'_>, prefix: &str) -> Self {
        let mut index = Self {
            entries: Vec::new(),
        };
        index.walk(table, prefix, 0);
        index
    }

    fn walk(&mut self, table: &DeTable<'_>, prefix: &str, depth: usize) {
        for (key, value) in table.iter() {
            let path = join(prefix, key.get_ref());
            if let DeValue::Table(inner) = value.get_ref() {
                self.walk(inner, &path, depth + 1);
            }
            self.entries.push(Entry {
                path,
                key: key.span(),
                value: value.span(),
                depth,
            });
        }
    }

    /// The key whose name or value holds `offset`, the innermost one.
    fn at(&self, offset: usize) -> Option<&Entry> {
        let holds = |r: &Range<usize>| r.start <= offset && offset < r.end.max(r.start + 1);
        self.entries
            .iter()
            .filter_map(|e| {
                let len = [&e.key, &e.value]
                    .into_iter()
                    .filter(|r| holds(r))
                    .map(|r| r.len())
                    .min()?;
                Some((len, std::cmp::Reverse(e.depth), e))
            })
            .min_by_key(|(len, depth, _)| (*len, *depth))
            .map(|(_, _, e)| e)
    }

    fn by_path(&self, path: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.path == path)
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |last| last.chars().count())
        + 1;
    (line, column)
}

/// `unknown field `x`, expected …` → `x`.
fn quoted_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

// The TOML constructors live here, beside the reader they use, so that
// `thresholds` (the model) does not depend on its own parser.
impl Thresholds {
    /// Reads a rules file's text; missing keys keep their defaults.
    ///
    /// `source_name` (usually the file's path) labels errors, which also
    /// name the line and the dotted key: an unknown key, a value of the
    /// wrong type or out of range is an error, never ignored.
    ///
    /// ```
    /// use recommend::Thresholds;
    /// let t = Thresholds::from_toml_str("[throughput]\nwarning_ratio = 0.9\n", "rules.toml")?;
    /// assert_eq!(t.throughput.warning_ratio, 0.9);
    /// assert_eq!(t.throughput.critical_ratio, 0.6);
    ///
    /// let err = Thresholds::from_toml_str("[throughput]\nwarn_ratio = 0.9\n", "rules.toml")
    ///     .unwrap_err();
    /// assert!(err.to_string().starts_with("rules.toml:2: `throughput.warn_ratio`: unknown"));
    /// # Ok::<(), recommend::RulesError>(())
    /// ```
    pub fn from_toml_str(text: &str, source_name: &str) -> Result<Self, RulesError> {
        Self::default().overlay_toml_str(text, source_name)
    }

    /// Reads a rules file's text over `self`: the keys it sets replace
    /// those of `self`, the others stay. Use it to layer a `--rules FILE`
    /// over a pipeline file's `[rules]` table over the defaults. The result
    /// is validated.
    pub fn overlay_toml_str(&self, text: &str, source_name: &str) -> Result<Self, RulesError> {
        overlay(self, text, source_name, None)
    }

    /// Reads the table `table` (e.g. `"rules"`) of a larger TOML document,
    /// such as a pipeline file, over `self`; the document's other keys are
    /// not looked at. Without that table, returns `self` unchanged. Errors
    /// give lines in the whole document and keys with the table's prefix
    /// (`rules.throughput.warning_ratio`).
    ///
    /// ```
    /// use recommend::Thresholds;
    /// let pipeline = "name = \"demo\"\n[[steps]]\nid = \"a\"\n[rules.slow_step]\nratio = 2.0\n";
    /// let t = Thresholds::default().overlay_toml_table(pipeline, "pipeline.toml", "rules")?;
    /// assert_eq!(t.slow_step.ratio, 2.0);
    /// # Ok::<(), recommend::RulesError>(())
    /// ```
    pub fn overlay_toml_table(
        &self,
        text: &str,
        source_name: &str,
        table: &str,
    ) -> Result<Self, RulesError> {
        overlay(self, text, source_name, Some(table))
    }
}

/// Reads the thresholds part of `text` over `base` and validates the result.
pub(crate) fn overlay(
    base: &Thresholds,
    text: &str,
    source_name: &str,
    table: Option<&str>,
) -> Result<Thresholds, RulesError> {
    let doc = DeTable::parse(text).map_err(|e| {
        let (line, column) = line_column(text, e.span().map_or(0, |s| s.start));
        RulesError::Syntax {
            source_name: source_name.to_owned(),
            line,
            column,
            message: e.message().trim().to_owned(),
        }
    })?;

    // The part that holds the thresholds, and the prefix of its keys.
    let (part, prefix): (Spanned<DeValue<'_>>, &str) = match table {
        None => {
            let span = doc.span();
            (Spanned::new(span, DeValue::Table(doc.into_inner())), "")
        }
        Some(name) => {
            let Some((key, value)) = doc
                .into_inner()
                .into_iter()
                .find(|(k, _)| k.get_ref() == name)
            else {
                return Ok(base.clone());
            };
            if !value.get_ref().is_table() {
                return Err(RulesError::Key {
                    source_name: source_name.to_owned(),
                    line: Some(line_column(text, key.span().start).0),
                    key: name.to_owned(),
                    message: format!("must be a table, got {}", value.get_ref().type_str()),
                });
            }
            (value, name)
        }
    };
    let index = match part.get_ref() {
        DeValue::Table(t) => KeyIndex::new(t, prefix),
        _ => KeyIndex {
            entries: Vec::new(),
        },
    };

    // Unknown keys and wrong types, located.
    let located = |e: toml::de::Error| {
        let message = e.message().trim().to_owned();
        let entry = e.span().and_then(|span| index.at(span.start));
        let (key, line) = match entry {
            Some(entry) => {
                let line = line_column(text, entry.key.start).0;
                // An unknown key's span is its own name; a bad value's is
                // the value. Either way the entry names the key.
                (entry.path.clone(), Some(line))
            }
            None => match quoted_field(&message) {
                Some(field) => (join(prefix, field), None),
                None => (prefix.to_owned(), None),
            },
        };
        let message = match message.strip_prefix("unknown field") {
            Some(rest) => format!("unknown key{rest}"),
            None => message
                .replace("expected usize", "expected a whole number ≥ 0")
                .replace("expected f64", "expected a number"),
        };
        RulesError::Key {
            source_name: source_name.to_owned(),
            line,
            key,
            message,
        }
    };
    // Each rule's entry must be a table (serde would read an array as the
    // struct's fields in order, with a confusing message).
    if let DeValue::Table(t) = part.get_ref() {
        for (key, value) in t.iter() {
            if RULE_TABLES.contains(&key.get_ref().as_ref()) && !value.get_ref().is_table() {
                return Err(RulesError::Key {
                    source_name: source_name.to_owned(),
                    line: Some(line_column(text, key.span().start).0),
                    key: join(prefix, key.get_ref()),
                    message: format!("must be a table, got {}", value.get_ref().type_str()),
                });
            }
        }
    }
    Thresholds::deserialize(ValueDeserializer::from(part.clone())).map_err(located)?;

    // Merge what the text sets over the base, key by key.
    let user = toml::Table::deserialize(ValueDeserializer::from(part)).map_err(located)?;
    let mut merged = toml::Table::try_from(base).map_err(|e| RulesError::Invalid {
        source_name: crate::thresholds::CODE_SOURCE.to_owned(),
        line: None,
        key: String::new(),
        message: format!("base thresholds cannot be represented in TOML: {e}"),
    })?;
    merge(&mut merged, user);
    let result: Thresholds = merged.try_into().map_err(located)?;

    if let Some((key, message)) = result.problems().into_iter().next() {
        let key = join(prefix, key);
        let line = index
            .by_path(&key)
            .map(|e| line_column(text, e.value.start).0);
        return Err(RulesError::Invalid {
            source_name: source_name.to_owned(),
            line,
            key,
            message,
        });
    }
    Ok(result)
}

/// Replaces `base`'s values with `over`'s, recursing into tables.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(over_inner)) => {
                merge(inner, over_inner);
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::thresholds::DEFAULT_RULES_TOML;

    #[test]
    fn default_rules_toml_round_trips() {
        let parsed = Thresholds::from_toml_str(DEFAULT_RULES_TOML, "defaults").unwrap();
        assert_eq!(parsed, Thresholds::default());
        // Every key is spelled out, with its default's type (90.0, not 90).
        let written: toml::Table = DEFAULT_RULES_TOML.parse().unwrap();
        assert_eq!(
            written,
            toml::Table::try_from(Thresholds::default()).unwrap()
        );
    }

    #[test]
    fn empty_text_gives_the_base() {
        let mut base = Thresholds::default();
        base.slow_step.ratio = 2.0;
        assert_eq!(base.overlay_toml_str("", "x").unwrap(), base);
        assert_eq!(
            base.overlay_toml_table("name = 1", "p.toml", "rules")
                .unwrap(),
            base
        );
    }

    #[test]
    fn overlay_keeps_unset_keys_of_the_base() {
        let base = Thresholds::from_toml_str(
            "[throughput]\nwarning_ratio = 0.9\n[slow_step]\nratio = 2.0\n",
            "pipeline",
        )
        .unwrap();
        let t = base
            .overlay_toml_str("throughput.critical_ratio = 0.5\n", "rules.toml")
            .unwrap();
        assert_eq!(t.throughput.warning_ratio, 0.9);
        assert_eq!(t.throughput.critical_ratio, 0.5);
        assert_eq!(t.slow_step.ratio, 2.0);
        assert_eq!(t.cpu_saturation, Default::default());
    }

    #[test]
    fn integers_are_accepted_for_floats() {
        let t = Thresholds::from_toml_str("[cpu_saturation]\npercent = 95\n", "r").unwrap();
        assert_eq!(t.cpu_saturation.percent, 95.0);
    }

    #[test]
    fn unknown_key_names_source_line_and_key() {
        let text = "# rules\n[cpu_saturation]\npercent = 95.0\nmin_secs = 10\n";
        let err = Thresholds::from_toml_str(text, "rules.toml").unwrap_err();
        assert_eq!(err.key(), Some("cpu_saturation.min_secs"));
        assert_eq!(err.line(), Some(4));
        let text = err.to_string();
        assert!(
            text.starts_with("rules.toml:4: `cpu_saturation.min_secs`: unknown key `min_secs`"),
            "{text}"
        );
        assert!(
            text.contains("min_duration_seconds"),
            "lists the keys: {text}"
        );
    }

    #[test]
    fn unknown_table_is_an_error() {
        let err =
            Thresholds::from_toml_str("\n[cpu_saturaton]\npercent = 1\n", "r.toml").unwrap_err();
        assert_eq!(err.key(), Some("cpu_saturaton"));
        assert_eq!(err.line(), Some(2));
    }

    #[test]
    fn bad_type_names_the_key() {
        let text = "[slow_step]\nratio = 2.0\nmin_history = \"two\"\n";
        let err = Thresholds::from_toml_str(text, "rules.toml").unwrap_err();
        assert!(matches!(err, RulesError::Key { .. }), "{err:?}");
        assert_eq!(err.key(), Some("slow_step.min_history"));
        assert_eq!(err.line(), Some(3));
        assert!(err.to_string().contains("invalid type"), "{err}");
        assert!(
            err.to_string().ends_with("expected a whole number ≥ 0"),
            "{err}"
        );
        let err = Thresholds::from_toml_str("[slow_step]\nratio = true\n", "r").unwrap_err();
        assert!(err.to_string().ends_with("expected a number"), "{err}");
        let err = Thresholds::from_toml_str("slow_step = 3\n", "r").unwrap_err();
        assert_eq!(err.key(), Some("slow_step"));
        assert_eq!(err.line(), Some(1));
        let err = Thresholds::from_toml_str("\nthroughput = [1]\n", "r").unwrap_err();
        assert_eq!(
            err.to_string(),
            "r:2: `throughput`: must be a table, got array"
        );
    }

    #[test]
    fn syntax_error_names_line_and_column() {
        let err =
            Thresholds::from_toml_str("[throughput]\nwarning_ratio = = 1\n", "r.toml").unwrap_err();
        assert!(matches!(err, RulesError::Syntax { line: 2, .. }), "{err:?}");
        assert!(err.to_string().starts_with("r.toml:2:"), "{err}");
    }

    #[test]
    fn out_of_range_names_line_and_key() {
        let text = "[throughput]\ncritical_ratio = 0.5\nwarning_ratio = 0.5\n";
        let err = Thresholds::from_toml_str(text, "rules.toml").unwrap_err();
        assert!(matches!(err, RulesError::Invalid { .. }), "{err:?}");
        assert_eq!(err.key(), Some("throughput.warning_ratio"));
        assert_eq!(err.line(), Some(3));
        assert!(err.to_string().contains("25 %"), "{err}");
    }

    #[test]
    fn pipeline_table_errors_carry_the_prefix_and_whole_file_lines() {
        let pipeline = "name = \"demo\"\n\n[[steps]]\nid = \"a\"\nbogus = 1\n\n\
                        [rules.throughput]\nwarning_ratio = 0.9\nratio = 1\n";
        let err = Thresholds::default()
            .overlay_toml_table(pipeline, "pipeline.toml", "rules")
            .unwrap_err();
        assert_eq!(err.key(), Some("rules.throughput.ratio"));
        assert_eq!(err.line(), Some(9));
        let err = Thresholds::default()
            .overlay_toml_table("rules = 3\n", "pipeline.toml", "rules")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "pipeline.toml:1: `rules`: must be a table, got integer"
        );
        let err = Thresholds::default()
            .overlay_toml_table("[rules.slow_step]\nratio = 0.9\n", "pipeline.toml", "rules")
            .unwrap_err();
        assert_eq!(err.key(), Some("rules.slow_step.ratio"));
        assert_eq!(err.line(), Some(2));
    }

    #[test]
    fn line_column_counts_characters() {
        assert_eq!(line_column("ab\ncé d", 7), (2, 4));
        assert_eq!(line_column("", 5), (1, 1));
    }
}
