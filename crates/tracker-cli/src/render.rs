//! Plain-text and Markdown tables, and the small formatting helpers the
//! commands share. No colours, no terminal queries: output is the same on a
//! terminal, in a pipe and in a snapshot.

use telemetry_model::{Timestamp, format_duration};

/// Column alignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// A table whose columns are as wide as their widest cell.
#[derive(Debug)]
pub(crate) struct Table {
    headers: Vec<String>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(columns: &[(&str, Align)]) -> Self {
        Self {
            headers: columns.iter().map(|(h, _)| (*h).to_owned()).collect(),
            align: columns.iter().map(|(_, a)| *a).collect(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.headers.len());
        self.rows.push(cells);
    }

    /// Aligned text, two spaces between columns, no trailing spaces.
    pub(crate) fn to_text(&self) -> String {
        let widths: Vec<usize> = (0..self.headers.len())
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| width(&r[c]))
                    .chain([self.headers[c].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for cells in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (c, cell) in cells.iter().enumerate() {
                if c > 0 {
                    line.push_str("  ");
                }
                let pad = widths[c].saturating_sub(width(cell));
                match self.align[c] {
                    Align::Left => {
                        line.push_str(cell);
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                    Align::Right => {
                        line.extend(std::iter::repeat_n(' ', pad));
                        line.push_str(cell);
                    }
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// A GitHub-flavoured Markdown table.
    pub(crate) fn to_markdown(&self) -> String {
        let mut out = String::new();
        let line = |cells: &mut dyn Iterator<Item = String>| {
            let mut s = String::from("|");
            for cell in cells {
                s.push(' ');
                s.push_str(&cell);
                s.push_str(" |");
            }
            s.push('\n');
            s
        };
        out.push_str(&line(&mut self.headers.iter().map(|h| md_escape(h))));
        out.push_str(&line(&mut self.align.iter().map(|a| {
            match a {
                Align::Left => "---",
                Align::Right => "---:",
            }
            .to_owned()
        })));
        for row in &self.rows {
            out.push_str(&line(&mut row.iter().map(|c| md_escape(c))));
        }
        out
    }
}

fn width(text: &str) -> usize {
    text.chars().count()
}

/// Text made safe for Markdown: the one rule every Markdown output uses.
pub(crate) use report::markdown_escape as md_escape;

/// Makes user-controlled text safe for a terminal: control characters
/// (escape sequences included) become `?`.
pub(crate) fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// `2026-11-24 01:55:11` (UTC), or `-`.
pub(crate) fn time_cell(t: Option<Timestamp>) -> String {
    match t {
        None => "-".to_owned(),
        Some(t) => {
            let d = t.as_datetime();
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                d.year(),
                u8::from(d.month()),
                d.day(),
                d.hour(),
                d.minute(),
                d.second()
            )
        }
    }
}

/// A duration cell, or `-`.
pub(crate) fn duration_cell(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| "-".to_owned(), format_duration)
}

/// An optional string cell, or `-`.
pub(crate) fn opt_cell(text: Option<&str>) -> String {
    text.filter(|t| !t.is_empty())
        .map_or_else(|| "-".to_owned(), clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_their_content() {
        let mut t = Table::new(&[
            ("A", Align::Left),
            ("NUM", Align::Right),
            ("C", Align::Left),
        ]);
        t.row(vec!["long value".into(), "7".into(), "".into()]);
        t.row(vec!["x".into(), "1234".into(), "é".into()]);
        assert_eq!(
            t.to_text(),
            "A            NUM  C\nlong value     7\nx           1234  é\n"
        );
        assert_eq!(
            t.to_markdown(),
            "| A | NUM | C |\n| --- | ---: | --- |\n| long value | 7 |  |\n| x | 1234 | é |\n"
        );
    }

    #[test]
    fn hostile_text_is_neutralised() {
        assert_eq!(clean("a\u{1b}[31mb\n"), "a?[31mb?");
        assert_eq!(md_escape("a|b_c\nd"), "a\\|b\\_c d");
    }
}
