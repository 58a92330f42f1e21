//! Human tables and `--json` output.

/// `println!` that ignores a closed stdout (`wmai users | head -1`) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

use std::io::{IsTerminal, Write};

use anyhow::Context;
use chrono::{DateTime, Local, Utc};
use comfy_table::{presets, Attribute, Cell, ContentArrangement, Table};
use serde::Serialize;

pub fn stdout_is_tty() -> bool {
    std::io::stdout().is_terminal()
}

/// Prints `value` as pretty JSON on stdout: the `--json` output.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).context("cannot encode the result as JSON")?;
    match writeln!(std::io::stdout().lock(), "{text}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("cannot write to stdout"),
        _ => Ok(()),
    }
}

/// A table with these column headers: framed on a terminal, plain columns when piped.
pub fn table<const N: usize>(headers: [&str; N]) -> Table {
    let mut t = Table::new();
    if stdout_is_tty() {
        t.load_preset(presets::UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
        t.set_header(headers.iter().map(|h| Cell::new(h).add_attribute(Attribute::Bold)));
    } else {
        t.load_preset(presets::NOTHING);
        t.set_header(headers);
    }
    t
}

/// A two-column table of properties of one object.
pub fn properties(rows: Vec<(&str, String)>) -> Table {
    let mut t = Table::new();
    if stdout_is_tty() {
        t.load_preset(presets::UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    } else {
        t.load_preset(presets::NOTHING);
    }
    for (k, v) in rows {
        t.add_row(vec![Cell::new(k).add_attribute(Attribute::Bold), Cell::new(v)]);
    }
    t
}

/// Prints a table; piped, as plain left-aligned columns without trailing blanks.
pub fn print_table(mut t: Table) {
    if !stdout_is_tty() {
        for col in t.column_iter_mut() {
            col.set_padding((0, 2));
        }
    }
    let mut out = std::io::stdout().lock();
    for line in t.lines() {
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

/// A time in the local time zone, to the minute: `2025-03-01 14:05`.
pub fn time(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string()
}

/// Like [`time`], `-` when absent.
pub fn time_opt(t: Option<DateTime<Utc>>) -> String {
    t.map(time).unwrap_or_else(|| "-".to_owned())
}

/// A time of day in the local time zone, to the second: `14:05:09`.
pub fn clock(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local).format("%H:%M:%S").to_string()
}

/// A JSON value for people: strings without quotes, everything else as JSON.
pub fn value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

pub fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// Names joined with `, `, or `-` for none.
pub fn list<I: IntoIterator<Item = S>, S: AsRef<str>>(items: I) -> String {
    let v: Vec<String> = items.into_iter().map(|s| s.as_ref().to_owned()).collect();
    if v.is_empty() {
        "-".to_owned()
    } else {
        v.join(", ")
    }
}

/// A task's progress, 0.0 to 1.0, as a whole percentage.
pub fn percent(progress: f64) -> u64 {
    if progress.is_finite() {
        (progress.clamp(0.0, 1.0) * 100.0).round() as u64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_for_people() {
        assert_eq!(value(&serde_json::json!("Europe/Berlin")), "Europe/Berlin");
        assert_eq!(value(&serde_json::json!(5)), "5");
        assert_eq!(value(&serde_json::json!(true)), "true");
        assert_eq!(value(&serde_json::Value::Null), "-");
    }

    #[test]
    fn percentages_are_clamped() {
        assert_eq!(percent(0.0), 0);
        assert_eq!(percent(0.426), 43);
        assert_eq!(percent(1.0), 100);
        assert_eq!(percent(7.0), 100);
        assert_eq!(percent(-1.0), 0);
        assert_eq!(percent(f64::NAN), 0);
    }

    #[test]
    fn lists() {
        assert_eq!(list(Vec::<String>::new()), "-");
        assert_eq!(list(["a", "b"]), "a, b");
    }
}
