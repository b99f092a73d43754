//! How stormctl prints: aligned tables, short ages (`850ms`, `12.3s`, `5m12s`), UTC timestamps,
//! JSON documents for scripts, and a progress line on stderr for long scans (only when stderr is
//! a terminal, so scripts and logs stay clean). Amounts are never converted: they are printed as
//! the decimal strings Redis holds.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};

use serde::Serialize;

/// Column alignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// A text table: a header row and aligned columns, two spaces apart.
#[derive(Debug, Default)]
pub(crate) struct Table {
    headers: Vec<String>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
    indent: usize,
}

impl Table {
    /// A table with these column headers (all left-aligned).
    pub fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            align: vec![Align::Left; headers.len()],
            rows: Vec::new(),
            indent: 2,
        }
    }

    /// Right-aligns column `i` (numbers).
    pub fn right(mut self, cols: &[usize]) -> Self {
        for &i in cols {
            if let Some(a) = self.align.get_mut(i) {
                *a = Align::Right;
            }
        }
        self
    }

    /// Adds a row (missing cells are blank, extra ones dropped).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, one line per row, each ending in `\n`.
    pub fn render(&self) -> String {
        let n = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().take(n).enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let empty = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = " ".repeat(self.indent);
            for (i, width) in widths.iter().enumerate() {
                let cell = row.get(i).unwrap_or(&empty);
                let pad = width.saturating_sub(cell.chars().count());
                let last = i + 1 == n;
                match self.align[i] {
                    Align::Left if last => line.push_str(cell),
                    Align::Left => {
                        line.push_str(cell);
                        line.push_str(&" ".repeat(pad));
                    }
                    Align::Right => {
                        line.push_str(&" ".repeat(pad));
                        line.push_str(cell);
                    }
                }
                if !last {
                    line.push_str("  ");
                }
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
        out
    }
}

/// A duration in ms, short: `850ms`, `12.3s`, `5m12s`, `3h04m`, `2d03h`.
pub(crate) fn age(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms}ms"),
        1_000..=59_999 => format!("{}.{}s", ms / 1000, (ms % 1000) / 100),
        60_000..=3_599_999 => format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000),
        3_600_000..=86_399_999 => format!("{}h{:02}m", ms / 3_600_000, (ms % 3_600_000) / 60_000),
        _ => format!("{}d{:02}h", ms / 86_400_000, (ms % 86_400_000) / 3_600_000),
    }
}

/// The age of a timestamp (ms) relative to `now` (ms); a time in the future reads `in 1.2s`.
pub(crate) fn age_since(now: u64, then: u64) -> String {
    if then > now {
        format!("in {}", age(then - now))
    } else {
        age(now - then)
    }
}

/// `2024-08-09T00:34:15.408Z` for a Unix time in ms.
pub(crate) fn utc(ms: u64) -> String {
    let t = storm_core::time::Utc::from_millis(ms);
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", t.year, t.month, t.day, t.hour, t.minute, t.second, t.millis)
}

/// Prints a JSON document (pretty) on stdout.
pub(crate) fn print_json<T: Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("error: cannot encode JSON: {e}"),
    }
}

/// Prints one JSON object on one line (tails) and flushes, so a pipe sees it at once.
pub(crate) fn print_json_line<T: Serialize>(value: &T) {
    match serde_json::to_string(value) {
        Ok(s) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{s}");
            let _ = out.flush();
        }
        Err(e) => eprintln!("error: cannot encode JSON: {e}"),
    }
}

/// A value for a `key=value` list: quoted when it has spaces or is empty.
pub(crate) fn kv_value(v: &str) -> String {
    if v.is_empty() || v.chars().any(char::is_whitespace) {
        format!("{v:?}")
    } else {
        v.to_owned()
    }
}

/// A progress line on stderr (`scanning books… 1200`), only when stderr is a terminal.
#[derive(Debug)]
pub(crate) struct Progress {
    on: bool,
    shown: bool,
}

impl Progress {
    /// Progress for this run; silent when stderr is not a terminal or `quiet`.
    pub fn new(quiet: bool) -> Self {
        Self { on: !quiet && std::io::stderr().is_terminal(), shown: false }
    }

    /// Replaces the progress line.
    pub fn show(&mut self, msg: &str) {
        if self.on {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K{msg}");
            let _ = err.flush();
            self.shown = true;
        }
    }

    /// Clears the progress line.
    pub fn done(&mut self) {
        if self.on && self.shown {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.shown = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.done();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_short() {
        assert_eq!(age(850), "850ms");
        assert_eq!(age(12_345), "12.3s");
        assert_eq!(age(312_000), "5m12s");
        assert_eq!(age(3 * 3_600_000 + 4 * 60_000), "3h04m");
        assert_eq!(age(2 * 86_400_000 + 3 * 3_600_000), "2d03h");
        assert_eq!(age_since(1_000, 2_200), "in 1.2s");
    }

    #[test]
    fn utc_dates_are_right() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(1_723_161_255_408), "2024-08-08T23:54:15.408Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn tables_align() {
        let mut t = Table::new(&["A", "NUM"]).right(&[1]);
        t.row(vec!["long-name".into(), "1".into()]);
        t.row(vec!["x".into(), "123".into()]);
        assert_eq!(t.render(), "  A          NUM\n  long-name    1\n  x          123\n");
        assert_eq!(kv_value("a b"), "\"a b\"");
        assert_eq!(kv_value("ab"), "ab");
    }
}
