//! Errors of the recommend crate: thresholds that cannot be read or make no
//! sense.

/// A thresholds document (a rules file or a pipeline file's `[rules]` table)
/// that cannot be used.
///
/// Every variant names what a user needs to fix it: the source (a file name
/// or `<defaults>`), the line where the TOML says it, and the dotted key
/// (`throughput.warning_ratio`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RulesError {
    /// The text is not TOML.
    #[error("{source_name}:{line}:{column}: invalid TOML: {message}")]
    Syntax {
        /// File name or other label of the text.
        source_name: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column (in characters) of the error.
        column: usize,
        /// What the parser says.
        message: String,
    },
    /// A key that is not a threshold, or a value of the wrong type.
    #[error("{}: `{key}`: {message}", location(source_name, *line))]
    Key {
        /// File name or other label of the text.
        source_name: String,
        /// 1-based line of the key or value, when the parser located it.
        line: Option<usize>,
        /// Dotted path of the key (`throughput.warn_ratio`), as written.
        key: String,
        /// What is wrong (`unknown key, expected one of …`, `invalid type …`).
        message: String,
    },
    /// A threshold outside its allowed range.
    #[error("{}: `{key}`: {message}", location(source_name, *line))]
    Invalid {
        /// File name or other label of the text; `<thresholds>` for values
        /// set in code.
        source_name: String,
        /// 1-based line of the value, when it came from TOML text.
        line: Option<usize>,
        /// Dotted path of the key (`throughput.warning_ratio`).
        key: String,
        /// The rule it breaks, with the value.
        message: String,
    },
}

impl RulesError {
    /// The dotted key the error is about, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Syntax { .. } => None,
            Self::Key { key, .. } | Self::Invalid { key, .. } => Some(key),
        }
    }

    /// The 1-based line the error is about, if known.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::Syntax { line, .. } => Some(*line),
            Self::Key { line, .. } | Self::Invalid { line, .. } => *line,
        }
    }
}

fn location(source_name: &str, line: Option<usize>) -> String {
    match line {
        Some(line) => format!("{source_name}:{line}"),
        None => source_name.to_owned(),
    }
}
