//! Text that leaves the program for a terminal or a spreadsheet: what a hostile string in a
//! mail subject, a name or a reason must not do there; and names folded for searching.

use std::borrow::Cow;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// A name as a search compares it: accents and case gone, so that "Clara Wojcik" finds
/// "Clara Wójcik" and "MÜLLER" finds "Müller". NFKD splits accented letters and strips the
/// marks; the letters NFKD leaves whole (ß, ł, ø, đ, æ, œ, þ, the Turkish dotless ı) are
/// spelled out the way the same name is written without them. Runs of white space become
/// one space. The same function serves both backends: the comparison is made here, not in
/// SQL, because SQLite's `lower()` knows only ASCII and PostgreSQL's depends on the locale.
pub fn fold_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.nfkd() {
        if is_combining_mark(c) {
            continue;
        }
        match c {
            'ß' | 'ẞ' => out.push_str("ss"),
            'ł' | 'Ł' => out.push('l'),
            'ø' | 'Ø' => out.push('o'),
            'đ' | 'Đ' | 'ð' | 'Ð' => out.push('d'),
            'æ' | 'Æ' => out.push_str("ae"),
            'œ' | 'Œ' => out.push_str("oe"),
            'þ' | 'Þ' => out.push_str("th"),
            'ı' => out.push('i'),
            c => out.extend(c.to_lowercase()),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The keys a name is found under: [`fold_name`], and the German transcription of the
/// umlauts (ä → ae, ö → oe, ü → ue) folded, so that "Mueller" finds "Müller" too. Two
/// names match when they share a key.
pub fn name_keys(s: &str) -> [String; 2] {
    let transcribed: String = s
        .nfc()
        .flat_map(|c| match c {
            'ä' => "ae".chars().collect::<Vec<_>>(),
            'ö' => "oe".chars().collect(),
            'ü' => "ue".chars().collect(),
            'Ä' => "Ae".chars().collect(),
            'Ö' => "Oe".chars().collect(),
            'Ü' => "Ue".chars().collect(),
            c => vec![c],
        })
        .collect();
    [fold_name(s), fold_name(&transcribed)]
}

/// Whether two names are the same once folded (see [`name_keys`]).
pub fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (name_keys(a), name_keys(b));
    a.iter().any(|k| !k.is_empty() && b.contains(k))
}

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
    fn names_are_folded_without_accents_and_case() {
        assert_eq!(fold_name("Clara Wójcik"), "clara wojcik");
        assert_eq!(fold_name("  ÇAĞLAR   Şahin "), "caglar sahin");
        assert_eq!(fold_name("Łukasz Wałęsa"), "lukasz walesa");
        assert_eq!(fold_name("Jørgen Strauß"), "jorgen strauss");
        assert_eq!(fold_name("STRAUSS"), "strauss");
        assert_eq!(fold_name("Aydın İnce"), "aydin ince");
        assert_eq!(fold_name("Ærø Œuvre"), "aero oeuvre");
        // Composed and decomposed spellings of the same name fold alike.
        assert_eq!(fold_name("Mu\u{308}ller"), fold_name("Müller"));
    }

    #[test]
    fn names_match_with_or_without_accents_and_with_umlauts_transcribed() {
        assert!(same_name("Clara Wojcik", "Clara Wójcik"));
        assert!(same_name("wojcik", "WÓJCIK"));
        assert!(same_name("Mueller", "Müller"));
        assert!(same_name("Muller", "Müller"));
        assert!(same_name("Strauss", "Strauß"));
        assert!(same_name("Zolkiewski", "Żółkiewski"));
        assert!(!same_name("Mueller", "Muller"));
        assert!(!same_name("Wojcik", "Wojcika"));
        assert!(!same_name("", ""));
    }

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
