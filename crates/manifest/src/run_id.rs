//! Run identifiers: generated ones and user-chosen names.

use crate::error::{Error, Result, shown};

/// Longest user-chosen run name.
pub const MAX_RUN_NAME_LEN: usize = 128;

/// A fresh run id: a UUIDv7, so ids sort by creation time and stay unique
/// across processes and hosts (48 bits of milliseconds, 74 random bits).
pub fn new_run_id() -> String {
    uuid::Uuid::now_v7().hyphenated().to_string()
}

/// Checks a user-chosen run name against `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`.
///
/// The rule makes a name a single, harmless path component: no separators,
/// no `..`, nothing absolute, no NUL, nothing hidden.
///
/// ```
/// use manifest::validate_run_name;
/// assert!(validate_run_name("nightly-2025.01_a").is_ok());
/// for bad in ["", "..", "a/b", "/etc", ".hidden", "a\0b", "é"] {
///     assert!(validate_run_name(bad).is_err(), "{bad:?}");
/// }
/// ```
pub fn validate_run_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name.len() > MAX_RUN_NAME_LEN {
        Some("it is longer than 128 characters")
    } else if !name.as_bytes()[0].is_ascii_alphanumeric() {
        Some("it must start with a letter or digit")
    } else if name.contains('\0') {
        Some("it contains NUL")
    } else if name.contains(['/', '\\']) {
        Some("it contains a path separator")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        Some("it contains a character other than letters, digits, '.', '_' and '-'")
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(Error::InvalidRunName {
            name: shown(name),
            reason,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_valid_names_and_time_ordered() {
        let ids: Vec<String> = (0..200).map(|_| new_run_id()).collect();
        for id in &ids {
            validate_run_name(id).unwrap();
        }
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(sorted, ids, "UUIDv7 strings sort in creation order");
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len());
    }

    #[test]
    fn length_limit_is_exact() {
        validate_run_name(&"a".repeat(128)).unwrap();
        let err = validate_run_name(&"a".repeat(129)).unwrap_err().to_string();
        assert!(err.contains("longer than 128"), "{err}");
        assert!(err.len() < 300, "long names are shortened in messages");
    }

    #[test]
    fn messages_show_nul_and_reason() {
        let err = validate_run_name("ab\0c").unwrap_err().to_string();
        assert!(err.contains("ab\\0c") && err.contains("NUL"), "{err}");
        let err = validate_run_name("../etc").unwrap_err().to_string();
        assert!(err.contains("start with a letter"), "{err}");
        let err = validate_run_name("a b").unwrap_err().to_string();
        assert!(err.contains("character other than"), "{err}");
    }
}
