//! Escaping: every string that comes from a run goes through here.

use std::fmt;

/// Text escaped for HTML element content and quoted attribute values.
///
/// `&`, `<`, `>`, `"` and `'` become entities; control characters other
/// than tab and newline (which HTML cannot carry) become U+FFFD.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Esc<'a>(pub(crate) &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0;
        let mut start = 0;
        for (i, c) in text.char_indices() {
            let replacement = match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                '\t' | '\n' => continue,
                c if c.is_control() => "\u{FFFD}",
                _ => continue,
            };
            f.write_str(&text[start..i])?;
            f.write_str(replacement)?;
            start = i + c.len_utf8();
        }
        f.write_str(&text[start..])
    }
}

/// Escapes `text` for HTML.
pub(crate) fn esc(text: &str) -> Esc<'_> {
    Esc(text)
}

/// `text` cut to at most `max` characters, with `…` when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Percent-encodes a path for an `href`: unreserved characters and `/` stay,
/// every other byte becomes `%XX`. The result never contains a quote, `<`,
/// `&` or `:`, so it is safe in an attribute and cannot name a scheme.
pub(crate) fn url_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for &b in path.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_quotes_and_controls() {
        assert_eq!(
            esc(r#"<script>alert("x" & 'y')</script>"#).to_string(),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(esc("a\u{0}b\tc\nd").to_string(), "a\u{FFFD}b\tc\nd");
        assert_eq!(esc("plain – ü").to_string(), "plain – ü");
    }

    #[test]
    fn truncates_by_characters() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("äöü", 3), "äöü");
    }

    #[test]
    fn url_paths_cannot_break_out_or_name_a_scheme() {
        assert_eq!(url_path("out/model v2.pt"), "out/model%20v2.pt");
        assert_eq!(
            url_path(r#"javascript:alert("x")"#),
            "javascript%3Aalert%28%22x%22%29"
        );
        assert_eq!(url_path("ü"), "%C3%BC");
    }
}
