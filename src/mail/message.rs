//! Parsing one raw message into what the intake needs.
//!
//! mail-parser does the MIME work (transfer encodings, charsets, encoded words, multipart
//! structure). Its single-header accessors (`from()`, `subject()`, `received()`, …) return the
//! *last* occurrence of a header; for `Received:` that is the oldest hop, not our server's, so
//! every header is taken here as its first occurrence from the header list. mail-parser also
//! parses almost anything as a message (a line of prose with a colon becomes a header), so
//! whether the input is a mail at all is decided here.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::parsers::MessageStream;
use mail_parser::{Header, HeaderName, HeaderValue, Message, MessageParser, PartType};
use sha2::{Digest, Sha256};

use super::auth_results::{self, AuthResults};
use super::html::html_to_text;

/// What the intake needs from a message; `None` or empty where the message has nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedMail {
    /// The Message-ID without `<>`.
    pub message_id: Option<String>,
    /// The dedupe key: the Message-ID, or `sha256:<hex>` of the raw message when there is none
    /// (line endings normalised, so the same message stored with CRLF or LF has one key).
    pub key: String,
    /// The From address (addr-spec only, lowercased) of the first mailbox in From that has one;
    /// `None` if missing or not an address.
    pub from: Option<String>,
    /// The addresses of To, Cc, Delivered-To and X-Original-To, lowercased, each once, in the
    /// order they appear.
    pub recipients: Vec<String>,
    /// The decoded subject (RFC 2047 encoded words in any charset; raw 8-bit as UTF-8 or,
    /// failing that, Windows-1252).
    pub subject: String,
    /// The body as text with `\n` line ends: the text/plain alternative when there is one, else
    /// the HTML converted to text (blockquotes as `> ` lines). Attachments are ignored.
    pub text: String,
    /// When the message arrived: the date of the top (newest) `Received:` header, else `Date:`.
    pub received: Option<DateTime<Utc>>,
    /// The first id of In-Reply-To, without `<>`.
    pub in_reply_to_id: Option<String>,
    /// The ids of References, without `<>`, in order.
    pub references: Vec<String>,
    /// The `Authentication-Results` headers, top (newest) first, whoever wrote them; which
    /// count is decided with the tenant's policy (`auth_results::check_sender`).
    pub auth_results: Vec<AuthResults>,
}

/// The input is not a mail at all: empty, binary, prose without headers, or so truncated that
/// none of From, To, Cc, Subject, Date, Message-ID or Received survived. The reason is for
/// the outcome list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable message: {0}")]
pub struct Unreadable(pub String);

/// Headers of which at least one must be present for the input to count as a mail.
fn is_identifying(name: &HeaderName<'_>) -> bool {
    matches!(
        name,
        HeaderName::From
            | HeaderName::To
            | HeaderName::Cc
            | HeaderName::Subject
            | HeaderName::Date
            | HeaderName::MessageId
            | HeaderName::Received
    )
}

/// Parses one raw message.
pub fn parse(raw: &[u8]) -> Result<ParsedMail, Unreadable> {
    let raw = strip_envelope_line(raw);
    check_starts_like_a_mail(raw)?;
    let message = MessageParser::default()
        .parse(raw)
        .ok_or_else(|| Unreadable("no header fields".into()))?;
    let headers = message.headers();
    if !headers.iter().any(|h| is_identifying(&h.name)) {
        return Err(Unreadable(
            "none of From, To, Cc, Subject, Date, Message-ID, Received".into(),
        ));
    }

    let message_id = first(headers, &HeaderName::MessageId)
        .and_then(|v| ids(v).into_iter().next())
        .filter(|id| !id.is_empty());
    let key = match &message_id {
        Some(id) => id.clone(),
        None => hash_key(raw),
    };

    Ok(ParsedMail {
        key,
        message_id,
        // The first mailbox that has an address: an unquoted "Schulte, Martina <…>" parses as
        // two mailboxes, "Schulte" without an address and "Martina" with it.
        from: first(headers, &HeaderName::From)
            .and_then(HeaderValue::as_address)
            .and_then(|a| {
                a.iter()
                    .find_map(|a| a.address.as_deref().and_then(normalize_address))
            }),
        recipients: recipients(headers),
        subject: subject(&message),
        text: body_text(&message),
        received: received(&message),
        in_reply_to_id: first(headers, &HeaderName::InReplyTo)
            .and_then(|v| ids(v).into_iter().next()),
        references: headers
            .iter()
            .filter(|h| h.name == HeaderName::References)
            .flat_map(|h| ids(&h.value))
            .collect(),
        auth_results: headers
            .iter()
            .filter(|h| h.name == HeaderName::AuthenticationResults)
            .filter_map(|h| auth_results::parse(&String::from_utf8_lossy(raw_value(&message, h))))
            .collect(),
    })
}

/// The dedupe key of a message without Message-ID, or of one that is not readable at all:
/// `sha256:<hex>` of its bytes without an mbox envelope line on top, with CRLF as LF and
/// without trailing line ends — so the same bytes have one key whether they come from a
/// Maildir, an mbox (which ends every message with a line end) or an `.eml` saved on Windows.
pub fn hash_key(raw: &[u8]) -> String {
    format!("sha256:{}", content_hash(strip_envelope_line(raw)))
}

/// Drops an mbox `From sender date` line on top of a single message (what `formail`, some
/// webmail "download" buttons and mutt's save produce). mail-parser would otherwise read it as
/// a header named `Fromsender…` up to the first colon of the time.
fn strip_envelope_line(raw: &[u8]) -> &[u8] {
    if raw.starts_with(b"From ") {
        match raw.iter().position(|&b| b == b'\n') {
            Some(end) => &raw[end + 1..],
            None => &raw[raw.len()..],
        }
    } else {
        raw
    }
}

/// Refuses what is plainly not a mail before mail-parser turns it into one.
fn check_starts_like_a_mail(raw: &[u8]) -> Result<(), Unreadable> {
    let start = raw
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .ok_or_else(|| Unreadable("empty".into()))?;
    let raw = &raw[start..];
    // One pass to the first empty line: bodies can be megabytes.
    let header_end = (0..raw.len())
        .find(|&i| {
            raw[i] == b'\n' && matches!(raw.get(i + 1..), Some([b'\n', ..] | [b'\r', b'\n', ..]))
        })
        .unwrap_or(raw.len());
    if raw[..header_end].contains(&0) {
        return Err(Unreadable("binary data in the header section".into()));
    }
    let first_line = raw.split(|&b| b == b'\n').next().unwrap_or_default();
    let is_field = first_line
        .iter()
        .position(|&b| b == b':')
        .is_some_and(|colon| {
            // RFC 5322 field names: printable ASCII except colon, no spaces; a few clients put
            // a space before the colon ("Subject : x"), which mail-parser accepts, so do we.
            let name = first_line[..colon].trim_ascii_end();
            !name.is_empty() && name.len() <= 76 && name.iter().all(|&b| (33..=126).contains(&b))
        });
    if !is_field {
        return Err(Unreadable("does not start with a header field".into()));
    }
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Hex SHA-256 of the message with CRLF as LF and without trailing line ends, so that the same
/// message from a Maildir (LF), an .eml saved on Windows (CRLF) or an mbox has one key.
fn content_hash(raw: &[u8]) -> String {
    let raw = &raw[..raw
        .iter()
        .rposition(|&b| b != b'\n' && b != b'\r')
        .map_or(0, |n| n + 1)];
    let mut hasher = Sha256::new();
    let mut rest = raw;
    while let Some(cr) = find(rest, b"\r\n") {
        hasher.update(&rest[..cr]);
        rest = &rest[cr + 1..];
    }
    hasher.update(rest);
    hex::encode(hasher.finalize())
}

fn first<'a, 'x>(headers: &'a [Header<'x>], name: &HeaderName<'_>) -> Option<&'a HeaderValue<'x>> {
    headers.iter().find(|h| h.name == *name).map(|h| &h.value)
}

/// The raw bytes of a top-level header's value (after the colon, folding included).
fn raw_value<'a>(message: &'a Message<'_>, header: &Header<'_>) -> &'a [u8] {
    message
        .raw_message
        .get(header.offset_start as usize..header.offset_end as usize)
        .unwrap_or_default()
}

/// Message ids of an id header, without `<>`; mail-parser gives one id as `Text`, several as
/// `TextList`, and keeps the raw text of an id without brackets ("broken clients").
fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    let clean = |id: &str| {
        id.trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim()
            .to_string()
    };
    match value {
        HeaderValue::Text(id) => vec![clean(id)],
        HeaderValue::TextList(list) => list.iter().map(|id| clean(id)).collect(),
        _ => Vec::new(),
    }
    .into_iter()
    .filter(|id| !id.is_empty())
    .collect()
}

/// An addr-spec checked for plausibility and lowercased; `None` for garbage.
///
/// The whole address is lowercased: local parts are case-sensitive in theory only, and the
/// intake compares with stored person addresses.
fn normalize_address(address: &str) -> Option<String> {
    let address = address.trim().trim_start_matches('<').trim_end_matches('>');
    let (local, domain) = address.rsplit_once('@')?;
    let local_ok = !local.is_empty()
        && local
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !"<>(),;".contains(c));
    let domain_ok = !domain.is_empty()
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || "-.[]:".contains(c));
    (local_ok && domain_ok).then(|| address.to_lowercase())
}

fn recipients(headers: &[Header<'_>]) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut add = |address: &str| {
        if let Some(address) = normalize_address(address)
            && !found.contains(&address)
        {
            found.push(address);
        }
    };
    for header in headers {
        match &header.name {
            HeaderName::To | HeaderName::Cc => {
                if let Some(list) = header.value.as_address() {
                    // `iter()` walks group members too ("Bürgerbüro: a@x, b@x;").
                    for addr in list.iter() {
                        if let Some(address) = addr.address.as_deref() {
                            add(address);
                        }
                    }
                }
            }
            // mail-parser knows Delivered-To by name (kept raw); X-Original-To (Postfix) is
            // an `Other` header.
            HeaderName::DeliveredTo => add_listed(header, &mut add),
            HeaderName::Other(name) if name.eq_ignore_ascii_case("X-Original-To") => {
                add_listed(header, &mut add);
            }
            _ => {}
        }
    }
    found
}

/// Addresses of a header set by the delivering server: normally one bare address; `<…>` and
/// lists are tolerated since they cost nothing.
fn add_listed(header: &Header<'_>, add: &mut impl FnMut(&str)) {
    if let Some(text) = header.value.as_text() {
        for part in text.split(',') {
            let part = match (part.find('<'), part.rfind('>')) {
                (Some(open), Some(close)) if open < close => &part[open + 1..close],
                _ => part,
            };
            add(part);
        }
    }
}

fn subject(message: &Message<'_>) -> String {
    let Some(header) = message
        .headers()
        .iter()
        .find(|h| h.name == HeaderName::Subject)
    else {
        return String::new();
    };
    let raw = raw_value(message, header);
    let text: Cow<'_, str> = if std::str::from_utf8(raw).is_ok() {
        header.value.as_text().unwrap_or_default().into()
    } else {
        // Raw 8-bit bytes that are not UTF-8 (old clients writing Latin-1 into the header):
        // mail-parser decodes them lossily to U+FFFD. Windows-1252 is what they nearly always
        // are in German mail; decode so, then let mail-parser handle encoded words as usual.
        let decoded = charset_decoder(b"windows-1252").map_or_else(
            || String::from_utf8_lossy(raw).into_owned(),
            |decode| decode(raw),
        );
        let mut bytes = decoded.into_bytes();
        if !bytes.ends_with(b"\n") {
            bytes.push(b'\n');
        }
        MessageStream::new(&bytes)
            .parse_unstructured()
            .as_text()
            .unwrap_or_default()
            .to_string()
            .into()
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text bodies mail-parser selected (the plain alternative, else HTML), joined.
fn body_text(message: &Message<'_>) -> String {
    let mut text = String::new();
    for part in message.text_bodies() {
        let part_text = match &part.body {
            PartType::Text(t) => t.replace("\r\n", "\n"),
            PartType::Html(h) => html_to_text(h),
            _ => continue,
        };
        if !text.is_empty() && !part_text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(part_text.trim_end());
    }
    text
}

/// The date of the top `Received:` header (after its `;`), else `Date:`.
fn received(message: &Message<'_>) -> Option<DateTime<Utc>> {
    let headers = message.headers();
    let from_received = headers
        .iter()
        .find(|h| h.name == HeaderName::Received)
        .and_then(|h| {
            h.value
                .as_received()
                .and_then(|r| r.date())
                .filter(mail_parser::DateTime::is_valid)
                .or_else(|| {
                    // mail-parser's Received grammar gives up on some odd clauses; the date is
                    // always last, after a semicolon.
                    let raw = String::from_utf8_lossy(raw_value(message, h)).into_owned();
                    let (_, date) = raw.rsplit_once(';')?;
                    mail_parser::DateTime::parse_rfc822(&format!("{}\n", date.trim()))
                        .filter(mail_parser::DateTime::is_valid)
                })
        });
    let date = from_received.or_else(|| {
        first(headers, &HeaderName::Date)
            .and_then(HeaderValue::as_datetime)
            .copied()
            .filter(mail_parser::DateTime::is_valid)
    })?;
    DateTime::from_timestamp(date.to_timestamp(), 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_and_lowercased() {
        assert_eq!(
            normalize_address("<Max.Muster@Example.DE>").as_deref(),
            Some("max.muster@example.de")
        );
        assert_eq!(normalize_address("no address"), None);
        assert_eq!(normalize_address("a@"), None);
        assert_eq!(normalize_address("@b.de"), None);
        assert_eq!(normalize_address("a b@c.de"), None);
        assert_eq!(normalize_address("a@c..de"), None);
    }

    #[test]
    fn the_hash_ignores_line_endings() {
        assert_eq!(
            content_hash(b"Subject: x\r\n\r\nbody\r\n"),
            content_hash(b"Subject: x\n\nbody\n\n")
        );
        assert_ne!(
            content_hash(b"Subject: x\n\nbody"),
            content_hash(b"Subject: y\n\nbody")
        );
    }

    #[test]
    fn an_envelope_line_on_top_is_dropped() {
        assert_eq!(
            strip_envelope_line(b"From a@b Sat Jan  3 01:05:34 1996\nSubject: x\n"),
            b"Subject: x\n"
        );
        assert_eq!(strip_envelope_line(b"From: a@b\n"), b"From: a@b\n");
    }
}
