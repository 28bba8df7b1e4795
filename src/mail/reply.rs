//! Writing the answer to a request as an `.eml` (RFC 5322 / MIME) for the outbox.
//!
//! The reply is plain UTF-8 text, quoted-printable encoded so that every line stays within
//! the 78/998-character limits whatever the text is, with non-ASCII header text as RFC 2047
//! encoded words. Everything that reaches a header is stripped of line breaks first: the
//! subject comes from the incoming mail and must not be able to inject headers.

use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};

use super::message::ParsedMail;

/// Writes a reply to `original` as an `.eml` text with CRLF line ends.
///
/// * `from`, `to`: a bare address or `Name <address>`; a non-ASCII name is encoded.
/// * `subject`: the subject to answer to; when empty, the original's. `Re: ` is put in front
///   unless it already starts with `Re:` or `AW:` (any case).
/// * `body`: the text, any line ends.
/// * `now`: the Date header, and part of what makes the Message-ID unique.
///
/// Headers: From, To, Subject, Date, Message-ID (`<…@datenwart.invalid>`), In-Reply-To and
/// References (the original's References plus its Message-ID) when the original has ids,
/// Auto-Submitted (so that vacation responders of the recipient do not answer back),
/// MIME-Version, Content-Type `text/plain; charset=utf-8`, Content-Transfer-Encoding
/// quoted-printable.
pub fn reply_eml(
    from: &str,
    to: &str,
    original: &ParsedMail,
    subject: &str,
    body: &str,
    now: DateTime<Utc>,
) -> String {
    let base = one_line(subject);
    let base = if base.is_empty() {
        one_line(&original.subject)
    } else {
        base
    };
    let subject = if has_reply_prefix(&base) {
        base
    } else {
        format!("Re: {base}")
    };

    let mut eml = String::new();
    header(&mut eml, "From", &address(from, "From: ".len()));
    header(&mut eml, "To", &address(to, "To: ".len()));
    header(&mut eml, "Subject", &unstructured("Subject", &subject));
    header(&mut eml, "Date", &now.to_rfc2822());
    header(
        &mut eml,
        "Message-ID",
        &message_id(from, to, original, &subject, body, now),
    );
    if let Some(id) = original.message_id.as_deref().map(one_line) {
        header(&mut eml, "In-Reply-To", &format!("<{id}>"));
    }
    let mut references: Vec<String> = original.references.iter().map(|r| one_line(r)).collect();
    if let Some(id) = original.message_id.as_deref().map(one_line)
        && references.last() != Some(&id)
    {
        references.push(id);
    }
    references.retain(|r| !r.is_empty());
    if !references.is_empty() {
        // One id per line: References of long threads would exceed the line limit otherwise.
        let value = references
            .iter()
            .map(|r| format!("<{r}>"))
            .collect::<Vec<_>>()
            .join("\r\n ");
        header(&mut eml, "References", &value);
    }
    header(&mut eml, "Auto-Submitted", "auto-replied");
    header(&mut eml, "MIME-Version", "1.0");
    header(&mut eml, "Content-Type", "text/plain; charset=utf-8");
    header(&mut eml, "Content-Transfer-Encoding", "quoted-printable");
    eml.push_str("\r\n");
    eml.push_str(&quoted_printable(body));
    eml
}

fn header(eml: &mut String, name: &str, value: &str) {
    eml.push_str(name);
    eml.push_str(": ");
    eml.push_str(value);
    eml.push_str("\r\n");
}

/// Collapses line breaks and runs of whitespace: header values are one logical line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn has_reply_prefix(subject: &str) -> bool {
    let head = subject.get(..3).unwrap_or_default();
    head.eq_ignore_ascii_case("re:") || head.eq_ignore_ascii_case("aw:")
}

/// A bare address, or `Name <address>` with the name quoted or encoded as needed; `offset` is
/// the length of `Name: ` before it.
fn address(text: &str, offset: usize) -> String {
    let text = one_line(text);
    let Some((name, rest)) = text.rsplit_once('<') else {
        return text;
    };
    let Some(addr) = rest.strip_suffix('>') else {
        return text;
    };
    let name = name.trim();
    // An already quoted name is unquoted first, so that it is not quoted twice.
    let name = match name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => name.to_string(),
    };
    if name.is_empty() {
        return format!("<{addr}>");
    }
    if name.is_ascii() {
        let name = name.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{name}\" <{addr}>")
    } else {
        // The address on a line of its own keeps the encoded word's line within 76 characters.
        format!("{}\r\n <{addr}>", encoded_words(&name, offset))
    }
}

/// An unstructured header value: ASCII folded at spaces, anything else as encoded words.
fn unstructured(name: &str, value: &str) -> String {
    if value.is_ascii() {
        fold_ascii(value, name.len() + 2)
    } else {
        encoded_words(value, name.len() + 2)
    }
}

/// Folds at spaces so that lines stay within 78 characters where words allow.
fn fold_ascii(value: &str, first_offset: usize) -> String {
    let mut out = String::new();
    let mut line_len = first_offset;
    for (i, word) in value.split(' ').enumerate() {
        if i > 0 {
            if line_len + 1 + word.len() > 78 {
                out.push_str("\r\n");
                line_len = 0;
            }
            out.push(' ');
            line_len += 1;
        }
        out.push_str(word);
        line_len += word.len();
    }
    out
}

/// RFC 2047 `B` encoded words, split only between characters (a split UTF-8 sequence would
/// not decode), folded one word per line, every line within 76 characters counting the
/// `first_offset` characters before the value on the first line. Decoders drop the whitespace
/// between adjacent encoded words, so the text comes back exactly.
fn encoded_words(text: &str, first_offset: usize) -> String {
    // "=?utf-8?B?" and "?=" take 12 characters; every 3 bytes take 4 base64 characters.
    let max_bytes = |offset: usize| (76usize.saturating_sub(offset + 12) / 4 * 3).max(6);
    let mut words = Vec::new();
    let mut chunk = String::new();
    let mut limit = max_bytes(first_offset);
    for c in text.chars() {
        if !chunk.is_empty() && chunk.len() + c.len_utf8() > limit {
            words.push(format!("=?utf-8?B?{}?=", base64(chunk.as_bytes())));
            chunk.clear();
            // Continuation lines start with one space.
            limit = max_bytes(1);
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?utf-8?B?{}?=", base64(chunk.as_bytes())));
    }
    words.join("\r\n ")
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> shift) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Quoted-printable (RFC 2045 6.7) of UTF-8 text, CRLF line ends, lines of at most 76
/// characters, trailing whitespace encoded (transports strip it), and `From ` at a line
/// start encoded (mbox writers would quote it as `>From `).
fn quoted_printable(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for line in text.split('\n') {
        let bytes = line.as_bytes();
        let mut line_len = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let at_end = i + 1 == bytes.len();
            let literal = match b {
                b' ' | b'\t' => !at_end,
                b'=' => false,
                b'F' => !(i == 0 && line.starts_with("From ")),
                33..=126 => true,
                _ => false,
            };
            let token = if literal {
                (b as char).to_string()
            } else {
                format!("={b:02X}")
            };
            // Keep room for the soft break `=` within 76 characters.
            if line_len + token.len() > 75 {
                out.push_str("=\r\n");
                line_len = 0;
            }
            out.push_str(&token);
            line_len += token.len();
        }
        out.push_str("\r\n");
    }
    // `split` yields a last empty piece for text ending in a newline: one line end is enough.
    while out.ends_with("\r\n\r\n") {
        out.truncate(out.len() - 2);
    }
    out
}

/// `<8-4-4-4-12 hex@datenwart.invalid>` from a hash of everything the reply is made of and the
/// time to the nanosecond: unique without a random source or a uuid crate.
fn message_id(
    from: &str,
    to: &str,
    original: &ParsedMail,
    subject: &str,
    body: &str,
    now: DateTime<Utc>,
) -> String {
    let mut hasher = Sha256::new();
    for part in [
        from,
        to,
        &original.key,
        subject,
        body,
        &now.to_rfc3339_opts(SecondsFormat::Nanos, true),
    ] {
        // Length-prefixed so that ("ab", "c") and ("a", "bc") differ.
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let hex = hex::encode(hasher.finalize());
    format!(
        "<{}-{}-{}-{}-{}@datenwart.invalid>",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn quoted_printable_encodes_umlauts_equals_and_trailing_spaces() {
        assert_eq!(
            quoted_printable("Grüße = 1 \nFrom here\n"),
            "Gr=C3=BC=C3=9Fe =3D 1=20\r\n=46rom here\r\n"
        );
    }

    #[test]
    fn quoted_printable_lines_stay_within_76_characters() {
        let qp = quoted_printable(&"ä".repeat(100));
        assert!(qp.lines().all(|l| l.len() <= 76), "{qp}");
        assert!(qp.lines().count() > 1);
    }

    #[test]
    fn encoded_words_stay_within_75_characters_and_split_between_characters() {
        let words = encoded_words(&"Löschung ".repeat(20), "Subject: ".len());
        let mut lines = words.split("\r\n");
        assert!(
            lines
                .next()
                .is_some_and(|l| "Subject: ".len() + l.len() <= 76)
        );
        assert!(lines.all(|l| l.len() <= 76));
        assert!(words.split("\r\n ").all(|w| w.len() <= 75));
    }

    #[test]
    fn a_name_is_quoted_or_encoded() {
        assert_eq!(address("a@b.de", 4), "a@b.de");
        assert_eq!(
            address("Amt \"X\" <a@b.de>", 4),
            "\"Amt \\\"X\\\"\" <a@b.de>"
        );
        assert_eq!(
            address("Bürgerbüro <a@b.de>", 4),
            "=?utf-8?B?QsO8cmdlcmLDvHJv?=\r\n <a@b.de>"
        );
        assert_eq!(address("\"Amt X\" <a@b.de>", 4), "\"Amt X\" <a@b.de>");
        assert_eq!(address("a@b.de\r\nBcc: x@y.de", 4), "a@b.de Bcc: x@y.de");
    }

    #[test]
    fn reply_prefixes_are_recognised_in_any_case() {
        assert!(has_reply_prefix("Re: x"));
        assert!(has_reply_prefix("AW: x"));
        assert!(has_reply_prefix("aw:x"));
        assert!(!has_reply_prefix("Rechnung"));
        assert!(!has_reply_prefix("Ä"));
    }
}
