//! Aligned tables for people, and the same rows as JSON for scripts.

use std::io::Write;

/// Prints `header` and `rows` with each column as wide as its widest cell,
/// numbers right-aligned.
pub fn print(out: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: &[String]| -> std::io::Result<()> {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            let numeric = !cell.is_empty() && cell.chars().all(|c| c.is_ascii_digit());
            if numeric {
                text.push_str(&format!("{cell:>w$}"));
            } else {
                text.push_str(&format!("{cell:<w$}"));
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    line(out, &header)?;
    for row in rows {
        line(out, row)?;
    }
    Ok(())
}

/// A listing: each row as a JSON object and as table cells; printed as
/// one JSON array with `json`, else as a table under `header`.
pub fn listing(
    out: &mut dyn Write,
    json: bool,
    header: &[&str],
    rows: Vec<(serde_json::Value, Vec<String>)>,
) -> std::io::Result<()> {
    if json {
        let values: Vec<serde_json::Value> = rows.into_iter().map(|(v, _)| v).collect();
        writeln!(out, "{}", serde_json::Value::Array(values))
    } else {
        let cells: Vec<Vec<String>> = rows.into_iter().map(|(_, c)| c).collect();
        print(out, header, &cells)
    }
}
