//! Text that leaves the program for a terminal or a spreadsheet: what a hostile string in a
//! mail subject, a name or a reason must not do there.

use std::borrow::Cow;

/// The text with every control character (C0, DEL, C1) except the line break shown as an
/// escape (`\u{1b}`), so that an escape sequence in a mail subject or a name cannot clear
/// the screen, retitle the terminal or hide lines when a table is printed.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unprintable) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unprintable(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn is_unprintable(c: char) -> bool {
    c.is_control() && c != '\n'
}

/// A CSV cell that a spreadsheet would take for a formula (it starts with `=`, `+`, `-`,
/// `@`, a tab or a carriage return) gets a leading apostrophe, as OWASP recommends against
/// CSV injection; every other cell, and a plain number such as `-60`, is left as it is.
/// The JSON files keep exact values.
pub fn spreadsheet_safe(cell: &str) -> Cow<'_, str> {
    if cell.parse::<f64>().is_ok_and(f64::is_finite) {
        return Cow::Borrowed(cell);
    }
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// Rewrites a CSV document (with its header) so that every cell is [`spreadsheet_safe`].
pub fn spreadsheet_safe_csv(csv: &[u8]) -> Result<Vec<u8>, csv::Error> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(csv);
    let mut out = csv::Writer::from_writer(Vec::with_capacity(csv.len() + 64));
    for record in reader.records() {
        out.write_record(
            record?
                .iter()
                .map(spreadsheet_safe)
                .collect::<Vec<_>>()
                .iter()
                .map(|c| c.as_bytes()),
        )?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_shown_not_run() {
        assert_eq!(printable("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(printable("\x1b]0;pwned\x07x"), "\\u{1b}]0;pwned\\u{7}x");
        assert_eq!(printable("x\ry\u{9b}"), "x\\u{d}y\\u{9b}");
        assert_eq!(printable("Zeile 1\nZeile 2"), "Zeile 1\nZeile 2");
        assert!(matches!(printable("Jürgen Müller"), Cow::Borrowed(_)));
    }

    #[test]
    fn cells_that_spreadsheets_run_as_formulas_are_neutralized() {
        for hostile in [
            "=HYPERLINK(\"http://evil.example\",\"x\")",
            "+A1",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "-inf",
        ] {
            assert_eq!(spreadsheet_safe(hostile), format!("'{hostile}"));
        }
        assert_eq!(spreadsheet_safe("Anna"), "Anna");
        assert_eq!(spreadsheet_safe(""), "");
        assert_eq!(spreadsheet_safe("2026-12-01"), "2026-12-01");
        assert_eq!(spreadsheet_safe("-60"), "-60");
        assert_eq!(spreadsheet_safe("+49.5"), "+49.5");
    }

    #[test]
    fn a_whole_csv_keeps_its_shape_and_loses_its_formulas() {
        let csv = b"name,note\n=1+1,\"a, b\"\nAnna,\"-x\n=y\"\n";
        let safe = spreadsheet_safe_csv(csv).unwrap();
        assert_eq!(
            String::from_utf8(safe).unwrap(),
            "name,note\n'=1+1,\"a, b\"\nAnna,\"'-x\n=y\"\n"
        );
    }
}
