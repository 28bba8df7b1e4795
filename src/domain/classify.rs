//! Decides what a citizen's e-mail to a tenant's withdrawal address asks for (step 4 of
//! `withdrawals import`): a withdrawal of consent, a withdrawal limited to SMS reminders, an
//! access request, an erasure request, nothing of that, or "a human must read it".
//!
//! Pure: no I/O, no clock. The caller hands in the decoded Subject and plain-text body;
//! [`new_text`] keeps only what the sender wrote now (no quotes, no replied-to or forwarded
//! history, no signature), and [`classify`] looks for the wordings listed at the top of this
//! module in the subject and that new text, then applies this decision table (first row that
//! applies wins):
//!
//! | what was found                                                          | intent          |
//! |-------------------------------------------------------------------------|-----------------|
//! | nothing                                                                 | `NotARequest`   |
//! | a signal that is negated ("nicht widerrufen"), asked about rather than requested ("Wie kann ich … widerrufen?"), withdrawal wording about data without a consent word, or SMS consent named together with more ("Einwilligung zur SMS-Erinnerung und zur Terminbuchung") | `Review` |
//! | signals only in the subject of a reply or forward (Re:, AW:, WG: …)     | `Review`        |
//! | signals of one kind only                                                | that kind       |
//! | a withdrawal of *all* consent ("alle Einwilligungen") + SMS-only        | `Withdrawal`    |
//! | a withdrawal + an SMS-only withdrawal otherwise                         | `Review`        |
//! | any other mix of kinds (withdrawal + erasure, access + erasure, …)      | `Review`        |
//!
//! A withdrawal is "SMS-only" when the SMS wording is attached to the consent ("Einwilligung
//! zur SMS-Erinnerung"), or when SMS reminders are withdrawn or stopped without mentioning
//! consent at all ("Bitte keine SMS-Erinnerungen mehr").
//!
//! Mixed signals go to review even when they look coherent ("ich widerrufe meine Einwilligung
//! und bitte um Löschung meiner Daten"): the import can take one action per message, and at a
//! tenant whose bookings rest on contract the withdrawal only stops SMS reminders, so the
//! erasure request would be lost. A human reading a message costs a minute; a wrong automatic
//! withdrawal cancels a citizen's appointments.

use serde::Serialize;

// ===========================================================================================
// Wording lists — everything that triggers a decision is here.
//
// How to read an entry: it is compared with the words of the subject and of the new text,
// ignoring case and punctuation. Umlauts may be written either way, in these lists and in the
// mail: "ä" = "ae", "ö" = "oe", "ü" = "ue", "ß" = "ss".
//   widerruf*     any word beginning like this (Widerruf, widerrufe, widerrufen …)
//   *sms          any word ending like this (Erinnerungs-SMS); *einwillig* = containing
//   stop          exactly this word
//   art 15        these words next to each other ("Art. 15", "Art 15", "Art.15")
//   zieh*|zog*    either word at this place
//   zieh* … zurück   up to 12 words in between, in the same sentence
//                 ("ich ziehe meine Einwilligung zurück")
// ===========================================================================================

/// Withdrawing something. Counts as a withdrawal of consent only together with a consent
/// word (next list) in the same sentence or within 12 words; with SMS words instead it is an
/// SMS-only withdrawal; with neither, but next to data words ("widerrufe die Speicherung
/// meiner Daten"), it goes to review.
const WITHDRAW_WORDS: &[&str] = &[
    "widerruf*",
    "widerrief*",
    "zurückzieh*",
    "zurückgezogen",
    "zurückzuziehen",
    "zieh*|zog* … zurück",
    "zurücknahme",
    "zurücknehm*",
    "zurückgenommen",
    "zurückzunehmen",
    "nehm*|nimm*|nahm* … zurück",
    "entzieh*",
    "entzogen",
    "entzug",
    "aufheb*",
    "aufgehoben",
    "kündig*",
    "gekündigt",
    "nicht mehr einverstanden",
    "withdraw*",
    "withdrew",
    "revok*",
    "revoc*",
    "retract*",
    "rescind*",
    "take|took|taking … back",
    "no longer consent*",
];

/// Consent. Needed next to a withdraw word, so that "ich widerrufe meine Buchung" or
/// "ich ziehe nach Berlin zurück" are not taken for a withdrawal of consent.
const CONSENT_WORDS: &[&str] = &[
    "*einwillig*",
    "zustimm*",
    "*einverständnis*",
    "erlaubnis*",
    "consent*",
    "permission*",
    // The article that grants the right to withdraw consent.
    "art|artikel 7 abs|absatz 3",
    "article 7 3",
];

/// Words saying that *all* consent is meant, written before the consent word ("alle meine
/// Einwilligungen", "any consent"). They make a withdrawal general even when SMS is mentioned.
const ALL_QUANTIFIERS: &[&str] = &[
    "alle",
    "allen",
    "aller",
    "sämtlich*",
    "jegliche*",
    "jede",
    "jeder",
    "jedes",
    "all",
    "any",
    "every",
];

/// Adverbs saying that consent is withdrawn entirely ("ziehe meine Einwilligung komplett
/// zurück"). They make a withdrawal general unless SMS is attached to the consent word.
const ALL_ADVERBS: &[&str] = &[
    "komplett",
    "vollständig",
    "insgesamt",
    "generell",
    "gänzlich",
    "grundsätzlich",
    "completely",
    "entirely",
    "fully",
    "altogether",
];

/// SMS reminders, the consent-based extra of a booking. Reminders are only sent by SMS, so
/// "Erinnerung" alone counts too.
const SMS_WORDS: &[&str] = &[
    "sms*",
    "*sms",
    "text message*",
    "textnachricht*",
    "kurznachricht*",
    "*erinnerung*",
    "reminder*",
];

/// Stopping something. Together with an SMS word (within 6 words, same sentence) this is an
/// SMS-only withdrawal ("SMS-Erinnerung bitte abbestellen", "please stop the text messages").
const SMS_STOP_WORDS: &[&str] = &[
    "abbestell*",
    "abmeld*",
    "abgemeldet",
    "meld* … ab",
    "abstell*",
    "abgestellt",
    "stell* … ab",
    "abschalt*",
    "abgeschaltet",
    "schalt* … ab",
    "deaktivier*",
    "beenden",
    "stop",
    "stopp*",
    "stopping",
    "unsubscribe*",
    "opt out",
    "dont send",
    "do not send",
];

/// "No more". Together with an SMS word this is an SMS-only withdrawal only if the sentence
/// also holds a wish (next list): "Bitte keine SMS-Erinnerungen mehr" is a request, "Ich
/// bekomme keine SMS mehr" is a complaint for the office.
const SMS_NO_MORE_WORDS: &[&str] = &[
    "keine … mehr",
    "nicht mehr",
    "möchte|möchten|will|wünsche keine|nicht",
    "no more",
    "no longer",
    "any more",
    "anymore",
    "dont|not want",
];

/// A wish or request, needed for the "no more" wordings above.
const WISH_WORDS: &[&str] = &[
    "bitte", "möchte", "möchten", "will", "wollen", "wünsche", "please", "want", "wish", "like",
    "request",
];

/// Access requests that need nothing else.
const ACCESS_PHRASES: &[&str] = &[
    "datenauskunft*",
    "selbstauskunft*",
    "art 15",
    "artikel 15",
    "article 15",
    "access request",
    "subject access",
    "right of access",
    "right to access",
    "copy of … data",
    "welche* … *daten … gespeichert|speichern|speichert|verarbeitet|verarbeiten|vorliegen|vorliegt",
    "welche* … *daten … über mich",
    "what|which … data … hold|holds|store|stores|stored|keep|process|processes|processed",
    "what|which … data … about|on me",
];

/// "Auskunft" alone is an everyday word ("Auskunft über Öffnungszeiten"); it is an access
/// request only with a data word (next list) within 10 words of the same sentence.
const ACCESS_WORDS: &[&str] = &["auskunft*"];

/// Data words that turn "Auskunft" into an access request.
const ACCESS_DATA_WORDS: &[&str] = &[
    "*daten",
    "personenbezogen*",
    "dsgvo",
    "ds gvo",
    "datenschutz*",
    "art 15",
    "artikel 15",
];

/// Erasure requests that need nothing else.
const ERASURE_PHRASES: &[&str] = &[
    "recht auf vergessen*",
    "recht auf löschung",
    "right to be forgotten",
    "right to erasure",
    "art 17",
    "artikel 17",
    "article 17",
];

/// Erasing. An erasure request only with a data word (next list) within 10 words of the same
/// sentence: "Bitte löschen Sie meinen Termin" is a cancellation the office handles.
const ERASE_WORDS: &[&str] = &[
    "lösche",
    "löschen",
    "löscht",
    "*löschung",
    "gelöscht",
    "entfernen",
    "entferne",
    "delete",
    "deleted",
    "deleting",
    "deletion",
    "erase",
    "erased",
    "erasing",
    "erasure",
    "remove",
    "removed",
    "removal",
];

/// Personal data, as the object of erasing (and of withdraw words without a consent word).
const DATA_WORDS: &[&str] = &[
    "*daten",
    "datensatz*",
    "data",
    "information",
    "details",
    "telefonnummer",
    "handynummer",
    "mobilnummer",
    "*mailadresse",
    "e mail adresse",
    "phone number",
    "email address",
    "e mail address",
];

/// Negations. One of them up to 3 words before a signal, inside it, or up to 2 words after it
/// in the same clause ("ich möchte meine Einwilligung nicht widerrufen", "I do not want to
/// withdraw") sends the message to review.
const NEGATION_WORDS: &[&str] = &[
    "nicht",
    "kein",
    "keine",
    "keinen",
    "keinesfalls",
    "nie",
    "niemals",
    "not",
    "never",
    "no",
    "dont",
    "doesnt",
    "didnt",
    "wont",
];

/// A negation before a comma still counts when the clause after the comma starts with one of
/// these ("Ich möchte nicht, dass meine Daten gelöscht werden").
const THAT_WORDS: &[&str] = &["dass", "that"];

/// Asking how or whether, rather than asking for it ("Ich möchte wissen, wie ich meine
/// Einwilligung widerrufen kann"). Before a withdrawal or erasure signal in the same sentence
/// this sends the message to review, as does a question mark at the end of that sentence —
/// unless the question is a polite request (next list).
const INQUIRY_PHRASES: &[&str] = &[
    "wie ich", "wie kann", "wie man", "ob ich", "ob man", "ob meine", "ob sie", "how to",
    "how can", "how do", "how i", "whether", "if i can",
];

/// Questions that are requests ("Können Sie bitte meine Daten löschen?") …
const POLITE_REQUESTS: &[&str] = &[
    "können|könnten|würden|würdet|könntet|könnt sie|ihr|du",
    "can|could|would|will you",
];

/// … unless they also ask how, when or whether ("Könnten Sie mir sagen, ob meine Daten
/// gelöscht werden?").
const INTERROGATIVES: &[&str] = &[
    "wie", "wo", "wann", "warum", "wieso", "weshalb", "ob", "how", "where", "when", "why",
    "whether", "if",
];

/// Words that end the phrase after a consent word: in "Einwilligung und möchte keine SMS
/// mehr" the SMS is no longer part of what the consent is about.
const CONJUNCTIONS: &[&str] = &[
    "und", "oder", "sowie", "aber", "sondern", "and", "or", "but",
];

/// Words that, right after such a conjunction, start a further object of the consent: in
/// "Einwilligung zur SMS-Erinnerung und zur Terminbuchung" more than SMS is withdrawn, so the
/// message goes to review; in "… zur SMS-Erinnerung und bitte um Bestätigung" only SMS.
const CONSENT_CONTINUATIONS: &[&str] = &[
    "zur", "zum", "zu", "für", "der", "die", "das", "des", "dem", "den", "to", "for", "the", "of",
];

/// Abbreviations whose full stop does not end a sentence ("gemäß Art. 7 Abs. 3 DSGVO").
/// Numbers ("am 12. März") and single letters ("z. B.") never end one either.
const ABBREVIATIONS: &[&str] = &[
    "art", "abs", "nr", "bzw", "ggf", "evtl", "ca", "vgl", "dr", "str", "usw", "etc", "inkl",
    "ziff", "lit", "tel", "mr", "mrs", "ms", "no", "vs",
];

/// Subject prefixes of replies and forwards. Such a subject was usually written by someone
/// else (often the office), so signals found only there go to review.
const REPLY_PREFIXES: &[&str] = &[
    "re", "aw", "antw", "wg", "fw", "fwd", "tr", "wtr", "sv", "vs",
];

/// Lines that start the forwarded or replied-to history; everything from them on is cut.
/// Compared with the line without surrounding dashes, underscores, stars and colons.
const HISTORY_SEPARATORS: &[&str] = &[
    "original message",
    "ursprüngliche nachricht",
    "urspruengliche nachricht",
    "original-nachricht",
    "originalnachricht",
    "forwarded message",
    "weitergeleitete nachricht",
    "anfang der weitergeleiteten nachricht",
    "begin forwarded message",
];

/// The verb of a reply header ("Am … schrieb Max Mustermann <…>:", "On … X wrote:").
const REPLY_VERBS: &[&str] = &["schrieb", "geschrieben", "wrote"];

/// Fields of a quoted header block ("Von: … / Gesendet: … / An: … / Betreff: …"), which
/// starts with one of the first list and has at least two of the second below it.
const HEADER_FROM_FIELDS: &[&str] = &["von", "from"];
const HEADER_FIELDS: &[&str] = &[
    "gesendet", "sent", "datum", "date", "an", "to", "cc", "betreff", "subject",
];

/// HTML entities left over by an imperfect HTML-to-text conversion.
const HTML_ENTITIES: &[(&str, &str)] = &[
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

// Distances, in words.

/// Most words a `…` in a wording may stand for.
const GAP: usize = 12;
/// A withdraw word and a consent word belong together within this many words …
const NEAR: usize = 12;
/// … or anywhere in the same sentence up to this many (long legal sentences: "widerrufe ich
/// gemäß Art. 7 Abs. 3 DSGVO die von mir bei der Buchung … erteilte Einwilligung").
const SENTENCE_REACH: usize = 30;
/// Erase or "Auskunft" word and its data word, in the same sentence.
const OBJECT_REACH: usize = 10;
/// Stop or withdraw word and the SMS word it is about.
const SMS_REACH: usize = 6;
/// An SMS word this close before a consent word ("SMS-Einwilligung") …
const SMS_BEFORE_CONSENT: usize = 2;
/// … or this close after it ("Einwilligung zum Erhalt von SMS") makes the consent SMS-only.
const SMS_AFTER_CONSENT: usize = 5;
/// An "all" word this close before the consent word makes the withdrawal general.
const ALL_BEFORE: usize = 3;
/// Negation words this close before or after a signal.
const NEGATION_BEFORE: usize = 3;
const NEGATION_AFTER: usize = 2;

/// Only this many characters of the subject and of the new text are read. A request stands at
/// the beginning of a message; the bound keeps a huge message from slowing the import down
/// (matching takes about 2 µs per character).
const MAX_CHARS: usize = 20_000;

// ===========================================================================================
// Public types
// ===========================================================================================

/// What the person asks for. Serialized in snake_case, as the import's outcomes are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    Withdrawal,
    SmsWithdrawal,
    AccessRequest,
    ErasureRequest,
    NotARequest,
    Review,
}

/// The decision with its evidence, for the outcome record and the DPO's review list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    pub intent: Intent,
    /// What matched, subject first, in the order found.
    pub signals: Vec<Signal>,
    /// One English sentence saying why, quoting the matched words.
    pub reason: String,
}

/// One wording found in the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signal {
    /// The kind it points to (never `NotARequest` or `Review`).
    pub kind: Intent,
    /// The matched words as written, " … " where words in between were left out.
    pub matched: String,
}

// ===========================================================================================
// New text of the body
// ===========================================================================================

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

fn is_quoted(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

fn is_history_separator(line: &str) -> bool {
    let core = line
        .trim()
        .trim_matches(|c: char| matches!(c, '-' | '_' | '=' | '*' | ':') || c.is_whitespace())
        .to_lowercase();
    HISTORY_SEPARATORS.contains(&core.as_str())
}

fn has_reply_verb(line: &str) -> bool {
    line.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .any(|w| REPLY_VERBS.contains(&w))
}

/// How many lines a reply header at the start of `lines` spans: one ("… schrieb …:"), or two
/// when a client wrapped "Am 12.03.2026 um 10:15 schrieb Max Mustermann <…>:" or "On …
/// wrote:" after the date or inside the address.
fn reply_header_span(lines: &[&str]) -> Option<usize> {
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
fn header_field(line: &str) -> Option<String> {
    let line = line.trim().trim_start_matches('*');
    let (name, _) = line.split_once(':')?;
    let name = name.trim_end_matches('*').trim();
    (!name.is_empty() && !name.contains(char::is_whitespace)).then(|| name.to_lowercase())
}

/// An Outlook-style header block of a quoted or forwarded message starts at `lines[0]`.
fn is_header_block(lines: &[&str]) -> bool {
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
fn clean_markup(text: &str) -> String {
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
fn tag_at(tail: &str) -> Option<(String, usize)> {
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
fn entity_at(tail: &str) -> Option<(String, usize)> {
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

// ===========================================================================================
// Words and sentences
// ===========================================================================================

/// Appends `c` to `out` lowercased, with umlauts and ß spelled out, so that both spellings
/// compare equal. A combining diaeresis (decomposed "u" + "¨", as some Mac mailers send it)
/// turns the vowel before it into its spelled-out form too.
fn fold_char(c: char, out: &mut String) {
    if c == '\u{308}' {
        if out.ends_with(['a', 'o', 'u']) {
            out.push('e');
        }
        return;
    }
    if is_combining(c) || is_apostrophe(c) {
        return;
    }
    for l in c.to_lowercase() {
        match l {
            'ä' => out.push_str("ae"),
            'ö' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            other => out.push(other),
        }
    }
}

fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        fold_char(c, &mut out);
    }
    out
}

fn is_combining(c: char) -> bool {
    ('\u{300}'..='\u{36f}').contains(&c)
}

fn is_apostrophe(c: char) -> bool {
    c == '\'' || c == '’'
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || is_combining(c)
}

/// A word of the text: folded form, byte range in the text, sentence and clause number.
struct Word {
    norm: String,
    start: usize,
    end: usize,
    sentence: usize,
    clause: usize,
}

/// Indices of the words a wording matched, ascending (words inside a `…` are not included).
type Found = Vec<usize>;

fn first(f: &Found) -> usize {
    f[0]
}

fn last(f: &Found) -> usize {
    f[f.len() - 1]
}

/// Words between two matches (0 when they touch or overlap).
fn dist(a: &Found, b: &Found) -> usize {
    if last(a) < first(b) {
        first(b) - last(a)
    } else if last(b) < first(a) {
        first(a) - last(b)
    } else {
        0
    }
}

/// A text cut into words, sentences and clauses.
struct Doc<'a> {
    text: &'a str,
    words: Vec<Word>,
    /// Per sentence: whether it ends with a question mark.
    questions: Vec<bool>,
}

impl<'a> Doc<'a> {
    /// Sentences end at `.`, `!`, `?` or `…` followed by a space (not after a number or an
    /// abbreviation), and at blank lines; clauses also end at `,`, `;`, `:`, brackets and dashes.
    fn new(text: &'a str) -> Self {
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let mut words: Vec<Word> = Vec::new();
        let mut questions = vec![false];
        let (mut sentence, mut clause) = (0, 0);
        let (mut end_sentence, mut end_clause) = (false, false);
        let mut newlines = 0;
        let mut current: Option<(usize, String)> = None;
        for (k, &(i, c)) in chars.iter().enumerate() {
            let next = chars.get(k + 1).map(|&(_, n)| n);
            let apostrophe_inside =
                is_apostrophe(c) && current.is_some() && next.is_some_and(char::is_alphabetic);
            if is_word_char(c) || apostrophe_inside {
                let (_, norm) = current.get_or_insert_with(|| {
                    if end_sentence {
                        sentence += 1;
                        questions.push(false);
                    }
                    if end_sentence || end_clause {
                        clause += 1;
                    }
                    (end_sentence, end_clause, newlines) = (false, false, 0);
                    (i, String::new())
                });
                fold_char(c, norm);
                continue;
            }
            if let Some((start, norm)) = current.take() {
                words.push(Word {
                    norm,
                    start,
                    end: i,
                    sentence,
                    clause,
                });
            }
            if !c.is_whitespace() {
                newlines = 0;
            }
            match c {
                '.' | '!' | '?' | '…' => {
                    if c == '?' {
                        questions[sentence] = true;
                    }
                    let spaced =
                        next.is_none_or(|n| n.is_whitespace() || "\"')]»«“”„’.!?".contains(n));
                    let abbreviation = c == '.'
                        && words
                            .last()
                            .is_some_and(|w| w.end == i && is_abbreviation(&w.norm));
                    if spaced && !abbreviation {
                        end_sentence = true;
                    }
                }
                ',' | ';' | ':' | '(' | ')' | '[' | ']' | '–' | '—' => end_clause = true,
                '\n' => {
                    newlines += 1;
                    if newlines >= 2 {
                        end_sentence = true;
                    }
                }
                _ => {}
            }
        }
        if let Some((start, norm)) = current {
            words.push(Word {
                norm,
                start,
                end: text.len(),
                sentence,
                clause,
            });
        }
        Doc {
            text,
            words,
            questions,
        }
    }

    /// Every place where one of `wordings` matches.
    fn find(&self, wordings: &[&str]) -> Vec<Found> {
        let mut found: Vec<Found> = Vec::new();
        for wording in wordings {
            let elements = parse_wording(wording);
            for i in 0..self.words.len() {
                if let Some(f) = self.match_at(&elements, i)
                    && !found.contains(&f)
                {
                    found.push(f);
                }
            }
        }
        found.sort();
        found
    }

    /// Indices of the words where one of `wordings` matches (for single-word lists).
    fn marks(&self, wordings: &[&str]) -> Vec<usize> {
        self.find(wordings).iter().flatten().copied().collect()
    }

    fn match_at(&self, elements: &[Element], i: usize) -> Option<Found> {
        let (Element::Word(globs), rest) = elements.split_first()? else {
            return None;
        };
        let word = self.words.get(i)?;
        if !globs.iter().any(|g| g.matches(&word.norm)) {
            return None;
        }
        let mut found = vec![i];
        let candidates = match rest.first() {
            None => return Some(found),
            // Nearest first, so "keine SMS mehr … mehr" takes the first "mehr".
            Some(Element::Gap) => (i + 1..=i + 1 + GAP, &rest[1..]),
            Some(Element::Word(_)) => (i + 1..=i + 1, rest),
        };
        let (range, rest) = candidates;
        for j in range {
            if self
                .words
                .get(j)
                .is_none_or(|w| w.sentence != word.sentence)
            {
                break;
            }
            if let Some(more) = self.match_at(rest, j) {
                found.extend(more);
                return Some(found);
            }
        }
        None
    }

    fn sentence(&self, i: usize) -> usize {
        self.words[i].sentence
    }

    fn same_clause(&self, i: usize, j: usize) -> bool {
        self.words[i].clause == self.words[j].clause
    }

    /// A withdraw word and a consent word belong together.
    fn near(&self, a: &Found, b: &Found) -> bool {
        let d = dist(a, b);
        d <= NEAR || (self.sentence(first(a)) == self.sentence(first(b)) && d <= SENTENCE_REACH)
    }

    /// Within `n` words in the same sentence.
    fn reach(&self, a: &Found, b: &Found, n: usize) -> bool {
        self.sentence(first(a)) == self.sentence(first(b)) && dist(a, b) <= n
    }

    /// Word `i` lies inside `span`, or up to `before` words before it in the same clause
    /// (also across a comma followed by "dass"), or up to `after` words after it
    /// in the same clause.
    fn around(&self, span: (usize, usize), i: usize, before: usize, after: usize) -> bool {
        if (span.0..=span.1).contains(&i) {
            return true;
        }
        if i > span.1 {
            return i - span.1 <= after && self.same_clause(span.1, i);
        }
        if span.0 - i > before || self.sentence(i) != self.sentence(span.0) {
            return false;
        }
        (i..span.0).all(|k| {
            self.same_clause(k, k + 1) || THAT_WORDS.contains(&self.words[k + 1].norm.as_str())
        })
    }

    /// The given words as written: runs of nearby words verbatim, " … " for longer gaps.
    fn quote(&self, words: &[usize]) -> String {
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for &i in words {
            match runs.last_mut() {
                Some(run) if i <= run.1 + 4 => run.1 = i,
                _ => runs.push((i, i)),
            }
        }
        runs.iter()
            .map(|&(a, b)| {
                let slice = &self.text[self.words[a].start..self.words[b].end];
                slice.split_whitespace().collect::<Vec<_>>().join(" ")
            })
            .collect::<Vec<_>>()
            .join(" … ")
    }
}

fn is_abbreviation(norm: &str) -> bool {
    ABBREVIATIONS.contains(&norm)
        || norm.chars().all(|c| c.is_ascii_digit())
        || norm.chars().count() == 1
}

// ===========================================================================================
// Wordings
// ===========================================================================================

/// One place of a wording: a word (with alternatives) or a gap of up to [`GAP`] words.
enum Element {
    Word(Vec<Glob>),
    Gap,
}

/// A word with optional `*` at either end.
struct Glob {
    text: String,
    any_before: bool,
    any_after: bool,
}

impl Glob {
    fn matches(&self, word: &str) -> bool {
        match (self.any_before, self.any_after) {
            (false, false) => word == self.text,
            (false, true) => word.starts_with(&self.text),
            (true, false) => word.ends_with(&self.text),
            (true, true) => word.contains(&self.text),
        }
    }
}

fn parse_glob(folded: &str) -> Glob {
    Glob {
        text: folded.trim_matches('*').to_string(),
        any_before: folded.starts_with('*'),
        any_after: folded.ends_with('*'),
    }
}

fn parse_wording(wording: &str) -> Vec<Element> {
    fold(wording)
        .split_whitespace()
        .map(|part| match part {
            "…" | "..." => Element::Gap,
            _ => Element::Word(part.split('|').map(parse_glob).collect()),
        })
        .collect()
}

// ===========================================================================================
// Signals
// ===========================================================================================

/// Why a signal cannot be acted on automatically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Doubt {
    Negated,
    Asked,
    NoConsentWord,
    UnclearScope,
}

impl Doubt {
    fn explain(self) -> &'static str {
        match self {
            Doubt::Negated => "negated",
            Doubt::Asked => "asked about rather than requested",
            Doubt::NoConsentWord => "withdrawal wording about data without a consent word",
            Doubt::UnclearScope => "the consent named covers more than the SMS reminders",
        }
    }
}

/// A signal while it is being worked out.
struct Hit {
    kind: Intent,
    words: Vec<usize>,
    /// A withdrawal that says all consent is meant.
    all: bool,
    doubt: Option<Doubt>,
    in_subject: bool,
    matched: String,
}

impl Hit {
    fn new(kind: Intent, parts: &[&Found]) -> Self {
        let mut words: Vec<usize> = parts.iter().flat_map(|f| f.iter().copied()).collect();
        words.sort_unstable();
        words.dedup();
        Hit {
            kind,
            words,
            all: false,
            doubt: None,
            in_subject: false,
            matched: String::new(),
        }
    }

    fn span(&self) -> (usize, usize) {
        (self.words[0], self.words[self.words.len() - 1])
    }

    fn describe(&self) -> String {
        let label = match self.kind {
            Intent::Withdrawal if self.all => "withdrawal of all consent",
            Intent::Withdrawal => "withdrawal of consent",
            Intent::SmsWithdrawal => "withdrawal of SMS reminders",
            Intent::AccessRequest => "access request",
            Intent::ErasureRequest => "erasure request",
            Intent::NotARequest | Intent::Review => "no request",
        };
        let place = if self.in_subject {
            " in the subject"
        } else {
            ""
        };
        format!("{label} (\"{}\"){place}", self.matched)
    }
}

/// Matches that follow each other directly become one ("SMS" and "Erinnerung" in
/// "SMS-Erinnerung"), so that the quoted evidence shows the whole compound.
fn join_adjacent(found: Vec<Found>) -> Vec<Found> {
    let mut joined: Vec<Found> = Vec::new();
    for f in found {
        match joined.last_mut() {
            Some(prev) if first(&f) <= last(prev) + 1 => {
                let end = last(prev);
                prev.extend(f.into_iter().filter(|&i| i > end));
            }
            _ => joined.push(f),
        }
    }
    joined
}

fn nearest<'f>(
    target: &Found,
    candidates: &'f [Found],
    fits: impl Fn(&Found) -> bool,
) -> Option<&'f Found> {
    candidates
        .iter()
        .filter(|c| fits(c))
        .min_by_key(|c| dist(target, c))
}

/// All signals of one text (the subject or the new text of the body).
fn detect(doc: &Doc, in_subject: bool) -> Vec<Hit> {
    let consent = doc.find(CONSENT_WORDS);
    let sms = join_adjacent(doc.find(SMS_WORDS));
    let data = doc.find(DATA_WORDS);
    let quantifiers = doc.marks(ALL_QUANTIFIERS);
    let adverbs = doc.marks(ALL_ADVERBS);
    let conjunctions = doc.marks(CONJUNCTIONS);
    let continuations = doc.marks(CONSENT_CONTINUATIONS);
    let mut hits: Vec<Hit> = Vec::new();

    for w in doc.find(WITHDRAW_WORDS) {
        if let Some(c) = nearest(&w, &consent, |c| doc.near(&w, c)) {
            let span = (first(&w).min(first(c)), last(&w).max(last(c)));
            let quantifier = quantifiers
                .iter()
                .copied()
                .find(|&a| a < first(c) && doc.around((first(c), first(c)), a, ALL_BEFORE, 0));
            let adverb = adverbs.iter().copied().find(|&a| doc.around(span, a, 0, 1));
            // An SMS word inside the withdrawal, or attached to the consent word.
            let about_sms = sms.iter().find(|s| {
                let i = first(s);
                (span.0..=span.1).contains(&i)
                    || (i < first(c)
                        && first(c) - i <= SMS_BEFORE_CONSENT
                        && doc.same_clause(i, first(c)))
                    || (i > last(c)
                        && i - last(c) <= SMS_AFTER_CONSENT
                        && doc.same_clause(last(c), i)
                        && !conjunctions.iter().any(|k| (last(c) + 1..i).contains(k)))
            });
            let hit = match (quantifier, about_sms, adverb) {
                (Some(a), _, _) | (None, None, Some(a)) => {
                    let mut hit = Hit::new(Intent::Withdrawal, &[&w, c, &vec![a]]);
                    hit.all = true;
                    hit
                }
                (None, Some(s), _) => {
                    let mut hit = Hit::new(Intent::SmsWithdrawal, &[&w, c, s]);
                    // "Einwilligung zur SMS-Erinnerung und zur Terminbuchung": more than SMS.
                    let more = conjunctions.iter().any(|&k| {
                        k > last(s)
                            && k - last(s) <= 3
                            && doc.same_clause(last(s), k)
                            && continuations.contains(&(k + 1))
                    });
                    if more {
                        hit.doubt = Some(Doubt::UnclearScope);
                    }
                    hit
                }
                (None, None, None) => Hit::new(Intent::Withdrawal, &[&w, c]),
            };
            hits.push(hit);
        } else if let Some(s) = nearest(&w, &sms, |s| {
            doc.reach(&w, s, SMS_REACH) && doc.same_clause(first(&w), first(s))
        }) {
            hits.push(Hit::new(Intent::SmsWithdrawal, &[&w, s]));
        } else if let Some(d) = nearest(&w, &data, |d| doc.reach(&w, d, OBJECT_REACH)) {
            let mut hit = Hit::new(Intent::Withdrawal, &[&w, d]);
            hit.doubt = Some(Doubt::NoConsentWord);
            hits.push(hit);
        }
    }

    for stop in doc.find(SMS_STOP_WORDS) {
        if let Some(s) = nearest(&stop, &sms, |s| doc.reach(&stop, s, SMS_REACH)) {
            hits.push(Hit::new(Intent::SmsWithdrawal, &[&stop, s]));
        }
    }
    let wishes = doc.marks(WISH_WORDS);
    for no_more in doc.find(SMS_NO_MORE_WORDS) {
        let wished = wishes
            .iter()
            .any(|&i| doc.sentence(i) == doc.sentence(first(&no_more)));
        if wished && let Some(s) = nearest(&no_more, &sms, |s| doc.reach(&no_more, s, SMS_REACH)) {
            hits.push(Hit::new(Intent::SmsWithdrawal, &[&no_more, s]));
        }
    }

    for phrase in doc.find(ACCESS_PHRASES) {
        hits.push(Hit::new(Intent::AccessRequest, &[&phrase]));
    }
    let access_data = doc.find(ACCESS_DATA_WORDS);
    for a in doc.find(ACCESS_WORDS) {
        if let Some(d) = nearest(&a, &access_data, |d| doc.reach(&a, d, OBJECT_REACH)) {
            hits.push(Hit::new(Intent::AccessRequest, &[&a, d]));
        }
    }

    for phrase in doc.find(ERASURE_PHRASES) {
        hits.push(Hit::new(Intent::ErasureRequest, &[&phrase]));
    }
    for e in doc.find(ERASE_WORDS) {
        // Same clause: in "meine Daten falsch eingegeben, bitte löschen Sie den Termin" the
        // erasing is about the appointment.
        let object =
            |d: &Found| doc.reach(&e, d, OBJECT_REACH) && doc.same_clause(first(&e), first(d));
        if let Some(d) = nearest(&e, &data, object) {
            hits.push(Hit::new(Intent::ErasureRequest, &[&e, d]));
        }
    }

    let mut hits = merge_overlapping(hits);
    let negations = doc.marks(NEGATION_WORDS);
    for hit in &mut hits {
        hit.in_subject = in_subject;
        if hit.doubt.is_some() {
            continue;
        }
        let span = hit.span();
        let negation = negations.iter().copied().find(|&n| {
            !hit.words.contains(&n) && doc.around(span, n, NEGATION_BEFORE, NEGATION_AFTER)
        });
        if let Some(n) = negation {
            hit.doubt = Some(Doubt::Negated);
            hit.words.push(n);
            hit.words.sort_unstable();
        } else if hit.kind != Intent::AccessRequest && asked(doc, span.0) {
            hit.doubt = Some(Doubt::Asked);
        }
    }
    for hit in &mut hits {
        hit.matched = doc.quote(&hit.words);
    }
    hits
}

/// Signals of one kind that share words are one signal ("keine SMS mehr" found both as
/// "keine … mehr" and "möchte keine"; "Auskunft nach Art. 15" found twice).
fn merge_overlapping(hits: Vec<Hit>) -> Vec<Hit> {
    let mut merged: Vec<Hit> = Vec::new();
    for hit in hits {
        let same = merged
            .iter_mut()
            .find(|m| m.kind == hit.kind && m.words.iter().any(|w| hit.words.contains(w)));
        match same {
            Some(m) => {
                m.words.extend(hit.words);
                m.words.sort_unstable();
                m.words.dedup();
                m.all |= hit.all;
                m.doubt = m.doubt.or(hit.doubt);
            }
            None => merged.push(hit),
        }
    }
    merged.sort_by_key(|h| h.words[0]);
    merged
}

/// The sentence of word `i` asks how or whether rather than asking for it.
fn asked(doc: &Doc, i: usize) -> bool {
    let sentence = doc.sentence(i);
    let in_sentence = |list: &[&str]| {
        doc.find(list)
            .into_iter()
            .filter(move |f| doc.sentence(first(f)) == sentence)
    };
    if in_sentence(INQUIRY_PHRASES).any(|f| first(&f) < i) {
        return true;
    }
    let polite = in_sentence(POLITE_REQUESTS).next().is_some()
        && in_sentence(INTERROGATIVES).next().is_none();
    doc.questions[sentence] && !polite
}

// ===========================================================================================
// Decision
// ===========================================================================================

/// What the person asks for, from the Subject and the plain-text body of their message.
pub fn classify(subject: &str, body: &str) -> Classification {
    let subject_text = clean_markup(&subject.replace(['\r', '\n'], " "));
    let subject_text = truncate_chars(&subject_text, MAX_CHARS);
    let body_text = new_text(body);
    let body_text = truncate_chars(&body_text, MAX_CHARS);
    let mut hits = detect(&Doc::new(subject_text), true);
    hits.extend(detect(&Doc::new(body_text), false));
    let (intent, reason) = decide(&hits, is_reply_subject(subject_text));
    let mut signals: Vec<Signal> = Vec::new();
    for hit in &hits {
        let signal = Signal {
            kind: hit.kind,
            matched: hit.matched.clone(),
        };
        if !signals.contains(&signal) {
            signals.push(signal);
        }
    }
    Classification {
        intent,
        signals,
        reason,
    }
}

fn truncate_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((cut, _)) => &text[..cut],
        None => text,
    }
}

fn is_reply_subject(subject: &str) -> bool {
    subject
        .split_once(':')
        .is_some_and(|(prefix, _)| REPLY_PREFIXES.contains(&prefix.trim().to_lowercase().as_str()))
}

/// The decision table of the module documentation.
fn decide(hits: &[Hit], reply_subject: bool) -> (Intent, String) {
    if hits.is_empty() {
        return (
            Intent::NotARequest,
            "no withdrawal, access or erasure wording in the subject or the new text".into(),
        );
    }
    let doubtful: Vec<String> = hits
        .iter()
        .filter_map(|h| {
            h.doubt
                .map(|d| format!("{} — {}", h.describe(), d.explain()))
        })
        .collect();
    if !doubtful.is_empty() {
        return (Intent::Review, doubtful.join("; "));
    }
    if reply_subject && hits.iter().all(|h| h.in_subject) {
        let found = hits
            .iter()
            .map(Hit::describe)
            .collect::<Vec<_>>()
            .join(" and ");
        return (
            Intent::Review,
            format!(
                "{found} only in the subject of a reply or forward, which the sender may not have written"
            ),
        );
    }
    // The first signal of each kind, in order of appearance.
    let mut firsts: Vec<&Hit> = Vec::new();
    for hit in hits {
        if !firsts.iter().any(|f| f.kind == hit.kind) {
            firsts.push(hit);
        }
    }
    if let [only] = firsts[..] {
        return (only.kind, only.describe());
    }
    let described = |kind: Intent| firsts.iter().find(|h| h.kind == kind).map(|h| h.describe());
    if let [_, _] = firsts[..]
        && let (Some(general), Some(sms)) = (
            described(Intent::Withdrawal),
            described(Intent::SmsWithdrawal),
        )
    {
        // Withdrawing all consent covers the SMS reminders; otherwise the two may mean
        // "everything" or "only SMS", and the actions differ a lot.
        if let Some(all) = hits.iter().find(|h| h.kind == Intent::Withdrawal && h.all) {
            return (
                Intent::Withdrawal,
                format!("{}, which includes the {sms}", all.describe()),
            );
        }
        return (
            Intent::Review,
            format!(
                "{general} and {sms} — unclear whether all consent or only the SMS reminders are meant"
            ),
        );
    }
    let found = firsts
        .iter()
        .map(|h| h.describe())
        .collect::<Vec<_>>()
        .join(" and ");
    (Intent::Review, format!("{found} — conflicting"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(subject: &str, body: &str) -> Intent {
        classify(subject, body).intent
    }

    // --- new_text ---------------------------------------------------------------------

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

    // --- withdrawals ------------------------------------------------------------------

    #[test]
    fn a_plain_german_withdrawal_is_a_withdrawal() {
        let c = classify("Termin", "Hiermit widerrufe ich meine Einwilligung.");
        assert_eq!(c.intent, Intent::Withdrawal);
        assert_eq!(
            c.signals,
            vec![Signal {
                kind: Intent::Withdrawal,
                matched: "widerrufe ich meine Einwilligung".into()
            }]
        );
        assert_eq!(
            c.reason,
            "withdrawal of consent (\"widerrufe ich meine Einwilligung\")"
        );
    }

    #[test]
    fn inflections_of_the_withdraw_verbs_are_recognized() {
        for body in [
            "Ich widerrufe meine Einwilligung.",
            "Meine Einwilligung möchte ich widerrufen.",
            "Ich widerrief meine Einwilligung bereits am 1. März.",
            "Meine Zustimmung habe ich zurückgezogen.",
            "Ich ziehe meine Einwilligung zurück.",
            "Ich ziehe hiermit meine am 3. März bei der Buchung erteilte Einwilligung zurück.",
            "Zurücknahme meiner Zustimmung zur Datenverarbeitung",
            "Ich entziehe Ihnen mein Einverständnis.",
            "Widerruf der Einwilligungserklärung",
        ] {
            assert_eq!(intent("", body), Intent::Withdrawal, "{body}");
        }
    }

    #[test]
    fn spellings_without_umlauts_and_in_capitals_are_recognized() {
        for body in [
            "Ich moechte meine Einwilligung zurueckziehen.",
            "ICH MÖCHTE MEINE EINWILLIGUNG ZURÜCKZIEHEN.",
            "Zuruecknahme meiner Zustimmung",
            "Ich ziehe mein Einverstaendnis zurueck",
        ] {
            assert_eq!(intent("", body), Intent::Withdrawal, "{body}");
        }
    }

    #[test]
    fn decomposed_umlauts_are_recognized() {
        assert_eq!(
            intent(
                "",
                "Ich mo\u{308}chte meine Einwilligung zuru\u{308}ckziehen."
            ),
            Intent::Withdrawal
        );
    }

    #[test]
    fn english_withdrawals_are_recognized() {
        for body in [
            "I hereby withdraw my consent.",
            "Withdrawal of consent",
            "I revoke my consent to the processing of my data.",
            "I no longer consent to you processing my data.",
        ] {
            assert_eq!(intent("", body), Intent::Withdrawal, "{body}");
        }
    }

    #[test]
    fn a_long_legal_sentence_keeps_verb_and_consent_together() {
        let body = "Hiermit widerrufe ich gemäß Art. 7 Abs. 3 DSGVO die von mir bei der Buchung meines Termins im Bürgerbüro am 12. März 2026 über Ihre Webseite erteilte Einwilligung.";
        assert_eq!(intent("", body), Intent::Withdrawal);
    }

    #[test]
    fn citing_article_7_3_counts_as_naming_consent() {
        let body = "Hiermit widerrufe ich gemäß Art. 7 Abs. 3 DSGVO.";
        assert_eq!(intent("Widerruf", body), Intent::Withdrawal);
    }

    #[test]
    fn a_withdraw_verb_without_consent_or_data_is_not_a_request() {
        assert_eq!(
            intent("", "Ich ziehe nächste Woche nach Berlin zurück."),
            Intent::NotARequest
        );
        assert_eq!(
            intent("", "Ich widerrufe meine Buchung für Montag."),
            Intent::NotARequest
        );
    }

    #[test]
    fn a_consent_word_alone_is_not_a_request() {
        assert_eq!(
            intent("", "Meine Einwilligung gilt natürlich weiter."),
            Intent::NotARequest
        );
    }

    #[test]
    fn a_withdrawal_of_data_processing_without_a_consent_word_goes_to_review() {
        let c = classify("", "Ich widerrufe die Speicherung meiner Daten.");
        assert_eq!(c.intent, Intent::Review);
        assert!(c.reason.contains("without a consent word"), "{}", c.reason);
    }

    #[test]
    fn a_withdrawal_in_the_subject_alone_counts() {
        let c = classify(
            "Widerruf meiner Einwilligung",
            "Mit freundlichen Grüßen\nMax Mustermann",
        );
        assert_eq!(c.intent, Intent::Withdrawal);
        assert!(c.reason.ends_with("in the subject"), "{}", c.reason);
    }

    #[test]
    fn a_withdrawal_only_in_the_subject_of_a_reply_goes_to_review() {
        let c = classify("AW: Bestätigung: Widerruf Ihrer Einwilligung", "Danke!");
        assert_eq!(c.intent, Intent::Review);
        assert!(c.reason.contains("subject of a reply"), "{}", c.reason);
    }

    #[test]
    fn a_reply_subject_does_not_hide_a_withdrawal_in_the_body() {
        let body = "Ich widerrufe meine Einwilligung.\n\nAm 12.03.2026 schrieb Bürgerbüro <bb@example.org>:\nIhr Termin ist bestätigt.";
        assert_eq!(
            intent("Re: Ihre Terminbestätigung", body),
            Intent::Withdrawal
        );
    }

    #[test]
    fn html_leftovers_do_not_hide_a_withdrawal() {
        let body =
            "<div>Hiermit&nbsp;m&ouml;chte ich meine Einwilligung zur&uuml;ckziehen.</div><br>";
        assert_eq!(intent("", body), Intent::Withdrawal);
    }

    // --- SMS-only withdrawals ---------------------------------------------------------

    #[test]
    fn no_more_sms_reminders_please_is_an_sms_withdrawal() {
        let c = classify("", "Bitte keine SMS-Erinnerungen mehr.");
        assert_eq!(c.intent, Intent::SmsWithdrawal);
        assert_eq!(c.signals[0].matched, "keine SMS-Erinnerungen mehr");
    }

    #[test]
    fn withdrawing_the_consent_to_sms_reminders_is_an_sms_withdrawal() {
        for body in [
            "Ich widerrufe meine Einwilligung zur SMS-Erinnerung.",
            "Ich widerrufe meine SMS-Einwilligung.",
            "I revoke my consent to SMS reminders.",
            "Mit den SMS-Erinnerungen bin ich nicht mehr einverstanden.",
            "Ich widerrufe die Erinnerung per SMS.",
            "Bitte die SMS-Erinnerung abbestellen.",
            "Please stop sending me text messages.",
            "Ich möchte keine SMS mehr bekommen.",
        ] {
            assert_eq!(intent("", body), Intent::SmsWithdrawal, "{body}");
        }
    }

    #[test]
    fn no_more_sms_without_a_wish_is_a_complaint_not_a_request() {
        assert_eq!(
            intent("", "Ich bekomme seit Tagen keine SMS mehr."),
            Intent::NotARequest
        );
    }

    #[test]
    fn withdrawing_all_consent_including_sms_is_a_withdrawal() {
        assert_eq!(
            intent("", "Ich widerrufe alle Einwilligungen, auch für SMS."),
            Intent::Withdrawal
        );
        let c = classify(
            "",
            "Ich widerrufe sämtliche Einwilligungen und möchte keine SMS mehr.",
        );
        assert_eq!(c.intent, Intent::Withdrawal);
        assert!(
            c.reason
                .contains("includes the withdrawal of SMS reminders"),
            "{}",
            c.reason
        );
    }

    #[test]
    fn sms_consent_named_together_with_more_goes_to_review() {
        let c = classify(
            "",
            "Ich widerrufe meine Einwilligung zur SMS-Erinnerung und zur Terminbuchung.",
        );
        assert_eq!(c.intent, Intent::Review);
        assert!(c.reason.contains("covers more than"), "{}", c.reason);
        let body = "Ich widerrufe meine Einwilligung zur SMS-Erinnerung und bitte um Bestätigung.";
        assert_eq!(intent("", body), Intent::SmsWithdrawal);
    }

    #[test]
    fn withdrawing_consent_to_booking_and_sms_is_a_withdrawal() {
        let body = "Ich widerrufe meine Einwilligung zur Terminbuchung und zur SMS-Erinnerung.";
        assert_eq!(intent("", body), Intent::Withdrawal);
    }

    #[test]
    fn a_general_withdrawal_next_to_an_sms_stop_goes_to_review() {
        let c = classify(
            "",
            "Ich widerrufe meine Einwilligung und möchte keine SMS mehr.",
        );
        assert_eq!(c.intent, Intent::Review);
        assert!(
            c.reason.contains("unclear whether all consent"),
            "{}",
            c.reason
        );
    }

    // --- access requests --------------------------------------------------------------

    #[test]
    fn german_access_requests_are_recognized() {
        for (subject, body) in [
            (
                "",
                "Ich bitte um Auskunft über meine bei Ihnen gespeicherten Daten.",
            ),
            ("Auskunft nach Art. 15 DSGVO", ""),
            ("", "Welche Daten haben Sie über mich gespeichert?"),
            ("", "Bitte senden Sie mir eine Datenauskunft."),
            ("Selbstauskunft", "Mit freundlichen Grüßen"),
        ] {
            assert_eq!(
                intent(subject, body),
                Intent::AccessRequest,
                "{subject} {body}"
            );
        }
    }

    #[test]
    fn english_access_requests_are_recognized() {
        for body in [
            "I would like to know what personal data you hold about me.",
            "This is a subject access request.",
            "Please send me a copy of my personal data.",
        ] {
            assert_eq!(intent("", body), Intent::AccessRequest, "{body}");
        }
    }

    #[test]
    fn an_everyday_auskunft_is_not_a_request() {
        assert_eq!(
            intent(
                "Auskunft",
                "Ich hätte gern eine Auskunft über Ihre Öffnungszeiten."
            ),
            Intent::NotARequest
        );
    }

    // --- erasure requests -------------------------------------------------------------

    #[test]
    fn german_erasure_requests_are_recognized() {
        for body in [
            "Bitte löschen Sie meine Daten.",
            "Ich verlange die Loeschung meiner personenbezogenen Daten.",
            "Ich berufe mich auf mein Recht auf Vergessenwerden.",
            "Bitte entfernen Sie meine Telefonnummer.",
            "Können Sie bitte meine Daten löschen?",
        ] {
            assert_eq!(intent("", body), Intent::ErasureRequest, "{body}");
        }
    }

    #[test]
    fn english_erasure_requests_are_recognized() {
        for body in [
            "Please delete my data.",
            "I ask you to erase my personal data.",
            "I exercise my right to be forgotten.",
            "I request the erasure of my data.",
        ] {
            assert_eq!(intent("", body), Intent::ErasureRequest, "{body}");
        }
    }

    #[test]
    fn cancelling_or_deleting_an_appointment_is_not_a_request() {
        let body = "Ich habe meine Daten falsch eingegeben, bitte löschen Sie den Termin.";
        assert_eq!(intent("", body), Intent::NotARequest);
        assert_eq!(
            intent("", "Bitte stornieren Sie meinen Termin."),
            Intent::NotARequest
        );
        assert_eq!(
            intent(
                "Termin löschen",
                "Bitte löschen Sie meinen Termin am Montag."
            ),
            Intent::NotARequest
        );
    }

    // --- everyday mail and history ----------------------------------------------------

    #[test]
    fn everyday_mails_are_not_requests() {
        for body in [
            "Ich komme 10 Minuten später.",
            "Kann ich meinen Termin verschieben?",
            "Vielen Dank für die schnelle Bestätigung!",
        ] {
            assert_eq!(intent("Mein Termin", body), Intent::NotARequest, "{body}");
        }
    }

    #[test]
    fn a_withdrawal_in_the_quoted_history_does_not_count() {
        let body = "Vielen Dank, bis Montag.\n\nAm 12.03.2026 um 10:15 schrieb Bürgerbüro Recklinghausen <buergerbuero@recklinghausen.de>:\n> Ihre Einwilligung können Sie jederzeit widerrufen.\n> Bitte löschen Sie diese Mail, wenn sie nicht für Sie bestimmt ist.";
        let c = classify("Re: Ihre Terminbestätigung", body);
        assert_eq!(c.intent, Intent::NotARequest);
        assert!(c.signals.is_empty());
    }

    #[test]
    fn outlook_history_with_a_withdrawal_does_not_count() {
        let body = "Danke.\n\n________________________________\nVon: Bürgerbüro\nGesendet: Donnerstag, 12. März 2026 10:15\nAn: Max Mustermann\nBetreff: Einwilligung\n\nSie können Ihre Einwilligung jederzeit widerrufen.";
        assert_eq!(intent("AW: Termin", body), Intent::NotARequest);
    }

    #[test]
    fn a_staff_forward_leaves_no_new_text() {
        let body = "-------- Weitergeleitete Nachricht --------\nBetreff: Widerruf\nDatum: 12.03.2026\nVon: Max <max@example.org>\n\nIch widerrufe meine Einwilligung.";
        assert_eq!(intent("WG: Terminbuchung", body), Intent::NotARequest);
        assert_eq!(
            intent("WG: Widerruf meiner Einwilligung", body),
            Intent::Review
        );
    }

    #[test]
    fn a_withdrawal_in_the_signature_does_not_count() {
        let body = "Bis Montag.\n-- \nMax Mustermann\nHinweis: Sie können Ihre Einwilligung jederzeit widerrufen.";
        assert_eq!(intent("", body), Intent::NotARequest);
    }

    // --- negations, questions, conflicts ----------------------------------------------

    #[test]
    fn negated_signals_go_to_review() {
        for body in [
            "Ich möchte meine Einwilligung nicht widerrufen.",
            "I do not want to withdraw my consent.",
            "Bitte löschen Sie meine Daten nicht.",
            "Ich möchte nicht, daß meine Daten gelöscht werden.",
            "Ich ziehe meine Einwilligung keinesfalls zurück.",
        ] {
            let c = classify("", body);
            assert_eq!(c.intent, Intent::Review, "{body}");
            assert!(c.reason.contains("negated"), "{}", c.reason);
        }
    }

    #[test]
    fn the_negation_word_is_part_of_the_matched_text() {
        let c = classify("", "Ich möchte meine Einwilligung nicht widerrufen.");
        assert_eq!(c.signals[0].matched, "Einwilligung nicht widerrufen");
    }

    #[test]
    fn a_negation_in_another_clause_does_not_count() {
        let body = "Ich möchte das nicht mehr, daher widerrufe ich meine Einwilligung.";
        assert_eq!(intent("", body), Intent::Withdrawal);
    }

    #[test]
    fn asking_how_to_withdraw_goes_to_review() {
        for body in [
            "Wie kann ich meine Einwilligung widerrufen?",
            "Ich möchte wissen, wie ich meine Einwilligung widerrufen kann.",
            "Werden meine Daten nach dem Termin gelöscht?",
            "How can I withdraw my consent?",
        ] {
            let c = classify("", body);
            assert_eq!(c.intent, Intent::Review, "{body}");
            assert!(c.reason.contains("asked about"), "{}", c.reason);
        }
    }

    #[test]
    fn a_question_after_the_withdrawal_does_not_matter() {
        let body = "Ich widerrufe meine Einwilligung. Können Sie mir das bestätigen?";
        assert_eq!(intent("", body), Intent::Withdrawal);
    }

    #[test]
    fn withdrawal_and_erasure_together_go_to_review() {
        let c = classify(
            "",
            "Ich widerrufe meine Einwilligung und bitte löschen Sie meine Daten.",
        );
        assert_eq!(c.intent, Intent::Review);
        assert_eq!(
            c.reason,
            "withdrawal of consent (\"widerrufe meine Einwilligung\") and erasure request (\"löschen Sie meine Daten\") — conflicting"
        );
        assert_eq!(c.signals.len(), 2);
    }

    #[test]
    fn access_and_erasure_together_go_to_review() {
        let body = "Bitte teilen Sie mir mit, welche Daten Sie gespeichert haben. Danach löschen Sie bitte alle Daten.";
        assert_eq!(intent("", body), Intent::Review);
    }

    #[test]
    fn a_withdrawal_and_an_access_request_in_subject_and_body_go_to_review() {
        assert_eq!(
            intent(
                "Auskunft nach Art. 15 DSGVO",
                "Ich widerrufe außerdem meine Einwilligung."
            ),
            Intent::Review
        );
    }

    // --- plumbing ---------------------------------------------------------------------

    #[test]
    fn every_wording_is_well_formed() {
        let lists = [
            WITHDRAW_WORDS,
            CONSENT_WORDS,
            ALL_QUANTIFIERS,
            ALL_ADVERBS,
            SMS_WORDS,
            SMS_STOP_WORDS,
            SMS_NO_MORE_WORDS,
            WISH_WORDS,
            ACCESS_PHRASES,
            ACCESS_WORDS,
            ACCESS_DATA_WORDS,
            ERASURE_PHRASES,
            ERASE_WORDS,
            DATA_WORDS,
            NEGATION_WORDS,
            THAT_WORDS,
            INQUIRY_PHRASES,
            POLITE_REQUESTS,
            INTERROGATIVES,
            CONJUNCTIONS,
            CONSENT_CONTINUATIONS,
        ];
        for wording in lists.iter().flat_map(|l| l.iter()) {
            let elements = parse_wording(wording);
            assert!(
                matches!(elements.first(), Some(Element::Word(_))),
                "{wording}"
            );
            assert!(
                matches!(elements.last(), Some(Element::Word(_))),
                "{wording}"
            );
            for element in &elements {
                if let Element::Word(globs) = element {
                    assert!(globs.iter().all(|g| !g.text.is_empty()), "{wording}");
                    // Words are compared as the tokenizer cuts them: letters and digits only.
                    assert!(
                        globs.iter().all(|g| g.text.chars().all(is_word_char)),
                        "{wording}"
                    );
                }
            }
        }
    }

    #[test]
    fn intents_serialize_in_snake_case() {
        let json = serde_json::to_string(&[Intent::SmsWithdrawal, Intent::NotARequest]).unwrap();
        assert_eq!(json, r#"["sms_withdrawal","not_a_request"]"#);
    }
}
