//! The new text of a message: what the sender wrote now, without quotes, replied-to or
//! forwarded history and signature, with the HTML leftovers of a text/plain body cleaned.
//!
//! The markup cleanup stays here rather than in `mail::html`: it works on text/plain bodies that
//! an HTML-to-text conversion outside our control left tags and entities in, and it is part of
//! what `classify` (pure, unit-tested on such bodies) reads as new text.

use super::words::*;

/// HTML entities left over by an imperfect HTML-to-text conversion.
pub(super) const HTML_ENTITIES: &[(&str, &str)] = &[
    ("nbsp", " "),
    ("amp", "&"),
    ("lt", "<"),
    ("gt", ">"),
    ("quot", "\""),
    ("apos", "'"),
    ("auml", "ä"),
    ("ouml", "ö"),
    ("uuml", "ü"),
    ("Auml", "Ä"),
    ("Ouml", "Ö"),
    ("Uuml", "Ü"),
    ("szlig", "ß"),
    ("shy", ""),
    ("ndash", "–"),
    ("mdash", "—"),
    ("hellip", "…"),
];

/// The part of the body the sender wrote now: line endings normalized, HTML leftovers
/// cleaned, quoted (`>`) lines dropped, and everything cut from the first reply or forward
/// header or the signature delimiter (`-- `) on.
///
/// A reply header directly followed by quoted lines is dropped alone, so that text written
/// below the quote (bottom-posting) is kept.
pub fn new_text(body: &str) -> String {
    let body = clean_markup(&body.replace("\r\n", "\n").replace('\r', "\n"));
    let lines: Vec<&str> = body.lines().collect();
    let mut kept: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        // "-- " is the signature delimiter; some clients strip its trailing space.
        if line.trim_end() == "--" || is_history_separator(line) || is_header_block(&lines[i..]) {
            break;
        }
        if let Some(span) = reply_header_span(&lines[i..]) {
            let next = lines[i + span..].iter().find(|l| !l.trim().is_empty());
            if next.is_some_and(|l| is_quoted(l)) {
                i += span;
                continue;
            }
            break;
        }
        if !is_quoted(line) {
            kept.push(line.trim_end());
        }
        i += 1;
    }
    while kept.first().is_some_and(|l| l.trim().is_empty()) {
        kept.remove(0);
    }
    while kept.last().is_some_and(|l| l.trim().is_empty()) {
        kept.pop();
    }
    kept.join("\n")
}

pub(super) fn is_quoted(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

pub(super) fn is_history_separator(line: &str) -> bool {
    let core = line
        .trim()
        .trim_matches(|c: char| matches!(c, '-' | '_' | '=' | '*' | ':') || c.is_whitespace())
        .to_lowercase();
    HISTORY_SEPARATORS.contains(&core.as_str())
}

pub(super) fn has_reply_verb(line: &str) -> bool {
    line.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .any(|w| REPLY_VERBS.contains(&w))
}

/// How many lines a reply header at the start of `lines` spans: one ("… schrieb …:"), or two
/// when a client wrapped "Am 12.03.2026 um 10:15 schrieb Max Mustermann <…>:" or "On …
/// wrote:" after the date or inside the address.
pub(super) fn reply_header_span(lines: &[&str]) -> Option<usize> {
    let line = lines.first()?.trim();
    if line.ends_with(':') && has_reply_verb(line) {
        return Some(1);
    }
    let lower = line.to_lowercase();
    let intro = lower.starts_with("am ") || lower.starts_with("on ");
    if intro && line.chars().any(|c| c.is_ascii_digit()) {
        let next = lines.get(1)?.trim();
        if next.ends_with(':') && (has_reply_verb(line) || has_reply_verb(next)) {
            return Some(2);
        }
    }
    None
}

/// The field name of a header-like line ("Von: …", "**Betreff:** …"), lowercase.
pub(super) fn header_field(line: &str) -> Option<String> {
    let line = line.trim().trim_start_matches('*');
    let (name, _) = line.split_once(':')?;
    let name = name.trim_end_matches('*').trim();
    (!name.is_empty() && !name.contains(char::is_whitespace)).then(|| name.to_lowercase())
}

/// An Outlook-style header block of a quoted or forwarded message starts at `lines[0]`.
pub(super) fn is_header_block(lines: &[&str]) -> bool {
    let Some(first) = lines.first() else {
        return false;
    };
    if !header_field(first).is_some_and(|f| HEADER_FROM_FIELDS.contains(&f.as_str())) {
        return false;
    }
    // Some HTML conversions put the whole block on one line.
    let lower = first.to_lowercase();
    if ["gesendet:", "sent:", "datum:", "date:"]
        .iter()
        .any(|f| lower.contains(f))
    {
        return true;
    }
    lines[1..]
        .iter()
        .take(6)
        .filter(|l| header_field(l).is_some_and(|f| HEADER_FIELDS.contains(&f.as_str())))
        .count()
        >= 2
}

/// Removes HTML tags and decodes HTML entities that an HTML-to-text conversion left behind.
/// Line-breaking tags become line breaks so that paragraphs stay apart.
pub(super) fn clean_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(['<', '&']) {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        let found = if tail.starts_with('<') {
            tag_at(tail)
        } else {
            entity_at(tail)
        };
        match found {
            Some((replacement, len)) => {
                out.push_str(&replacement);
                rest = &tail[len..];
            }
            None => {
                // '<' and '&' are one byte each.
                out.push_str(&tail[..1]);
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A tag at the start of `tail`: its replacement and its length in bytes.
pub(super) fn tag_at(tail: &str) -> Option<(String, usize)> {
    let second = tail[1..].chars().next()?;
    if !(second.is_ascii_alphabetic() || second == '/' || second == '!') {
        return None;
    }
    // Scan a bounded stretch only, so that a long line full of '<' stays linear.
    let (end, closer) = tail
        .char_indices()
        .skip(1)
        .take(300)
        .find(|&(_, c)| matches!(c, '>' | '<' | '\n'))?;
    if closer != '>' {
        return None;
    }
    let name: String = tail[1..end]
        .trim_start_matches('/')
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    let replacement = match name.as_str() {
        "br" | "div" | "li" | "tr" => "\n",
        "p" => "\n\n",
        _ => " ",
    };
    Some((replacement.to_string(), end + 1))
}

/// An entity at the start of `tail`: its character and its length in bytes.
pub(super) fn entity_at(tail: &str) -> Option<(String, usize)> {
    let (end, _) = tail.char_indices().take(12).find(|&(_, c)| c == ';')?;
    let name = &tail[1..end];
    let decoded = if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        char::from_u32(code)?.to_string()
    } else {
        HTML_ENTITIES
            .iter()
            .find(|(n, _)| *n == name)?
            .1
            .to_string()
    };
    Some((decoded, end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_lines_are_dropped() {
        let body = "Danke.\n> Sie können Ihre Einwilligung widerrufen.\n  > > alt\nGruß";
        assert_eq!(new_text(body), "Danke.\nGruß");
    }

    #[test]
    fn everything_from_a_german_reply_header_on_is_cut() {
        let body = "Alles klar, danke.\n\nAm 12.03.2026 um 10:15 schrieb Bürgerbüro <bb@example.org>:\nSie können Ihre Einwilligung jederzeit widerrufen.";
        assert_eq!(new_text(body), "Alles klar, danke.");
    }

    #[test]
    fn a_reply_header_without_time_is_recognized() {
        let body = "Ok.\nAm 12.03.2026 schrieb Max Mustermann <max@example.org>:\nalt";
        assert_eq!(new_text(body), "Ok.");
    }

    #[test]
    fn a_reply_header_wrapped_over_two_lines_is_recognized() {
        let thunderbird =
            "Ok.\nAm 12.03.2026 um 10:15\nschrieb Max Mustermann <max@example.org>:\nalt";
        let gmail = "Ok.\nAm Do., 12. März 2026 um 10:15 Uhr schrieb Max Mustermann <\nmax@example.org>:\nalt";
        assert_eq!(new_text(thunderbird), "Ok.");
        assert_eq!(new_text(gmail), "Ok.");
    }

    #[test]
    fn schrieb_with_a_colon_at_line_end_is_a_reply_header() {
        let body = "Ok.\nMax Mustermann <max@example.org> schrieb am 12.03.2026:\nalt";
        assert_eq!(new_text(body), "Ok.");
    }

    #[test]
    fn beschrieben_with_a_colon_is_not_a_reply_header() {
        let body = "Wie oben beschrieben:\nIch komme später.";
        assert_eq!(new_text(body), body);
    }

    #[test]
    fn an_english_reply_header_is_recognized_also_when_wrapped() {
        let one = "Thanks.\nOn Tue, Mar 3, 2026 at 10:15 AM Max <max@example.org> wrote:\nold";
        let two = "Thanks.\nOn Tue, Mar 3, 2026 at 10:15 AM Max <max@example.org>\nwrote:\nold";
        assert_eq!(new_text(one), "Thanks.");
        assert_eq!(new_text(two), "Thanks.");
    }

    #[test]
    fn original_message_separators_cut_the_history() {
        for separator in [
            "-----Original Message-----",
            "-----Ursprüngliche Nachricht-----",
        ] {
            assert_eq!(new_text(&format!("Neu\n{separator}\nalt")), "Neu");
        }
    }

    #[test]
    fn forward_separators_cut_the_history() {
        for separator in [
            "---------- Forwarded message ---------",
            "-------- Weitergeleitete Nachricht --------",
            "Anfang der weitergeleiteten Nachricht:",
            "Begin forwarded message:",
        ] {
            assert_eq!(
                new_text(&format!("Zur Kenntnis\n\n{separator}\nalt")),
                "Zur Kenntnis"
            );
        }
    }

    #[test]
    fn outlook_header_blocks_cut_the_history_in_german_and_english() {
        let de = "Neu\n\nVon: Bürgerbüro\nGesendet: Donnerstag, 12. März 2026 10:15\nAn: Max\nBetreff: Termin\nalt";
        let en = "New\n\n*From:* Office\n*Sent:* Thursday\n*To:* Max\n*Subject:* Booking\nold";
        let one_line = "Neu\nVon: Bürgerbüro Gesendet: Do 12.03.2026 An: Max Betreff: Termin\nalt";
        assert_eq!(new_text(de), "Neu");
        assert_eq!(new_text(en), "New");
        assert_eq!(new_text(one_line), "Neu");
    }

    #[test]
    fn a_von_line_without_further_header_fields_is_kept() {
        let body = "Von: meiner Seite ist alles klar.\nBis morgen.";
        assert_eq!(new_text(body), body);
    }

    #[test]
    fn the_signature_after_dash_dash_space_is_cut() {
        let body = "Ich komme später.\n-- \nMax Mustermann\nSie können Ihre Einwilligung jederzeit widerrufen.";
        assert_eq!(new_text(body), "Ich komme später.");
    }

    #[test]
    fn crlf_line_endings_are_normalized() {
        let body = "Zeile eins\r\nZeile zwei\r\n> alt\r\n";
        assert_eq!(new_text(body), "Zeile eins\nZeile zwei");
    }

    #[test]
    fn text_below_a_quote_is_kept_when_bottom_posting() {
        let body = "Am 12.03.2026 um 10:15 schrieb Bürgerbüro <bb@example.org>:\n> Ihr Termin ist bestätigt.\n\nIch widerrufe meine Einwilligung.";
        assert_eq!(new_text(body), "Ich widerrufe meine Einwilligung.");
    }

    #[test]
    fn html_leftovers_are_cleaned() {
        let body = "<p>Ich m&ouml;chte&nbsp;zur&#252;ckziehen<br>und&#x21;</p>&amp; &foo; a < b";
        assert_eq!(
            new_text(body),
            "Ich möchte zurückziehen\nund!\n\n& &foo; a < b"
        );
    }

    #[test]
    fn stray_ampersands_and_brackets_before_umlauts_are_kept() {
        let body = "Müller & Söhne &äöüäöüäöüäöü; <äöü> <b ä";
        assert_eq!(new_text(body), body);
    }

    #[test]
    fn entity_encoded_quote_markers_are_dropped_as_quotes() {
        assert_eq!(new_text("Neu\n&gt; alt"), "Neu");
    }
}
