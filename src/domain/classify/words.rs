//! The wording lists and distances: everything that triggers a decision is here.

// Wording lists.
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

/// Withdrawing something. Counts as a withdrawal of consent only together with a consent
/// word (next list) in the same sentence or within 12 words; with SMS words instead it is an
/// SMS-only withdrawal; with neither, but next to data words ("widerrufe die Speicherung
/// meiner Daten"), it goes to review.
pub(super) const WITHDRAW_WORDS: &[&str] = &[
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
pub(super) const CONSENT_WORDS: &[&str] = &[
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
pub(super) const ALL_QUANTIFIERS: &[&str] = &[
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
pub(super) const ALL_ADVERBS: &[&str] = &[
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
pub(super) const SMS_WORDS: &[&str] = &[
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
pub(super) const SMS_STOP_WORDS: &[&str] = &[
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
pub(super) const SMS_NO_MORE_WORDS: &[&str] = &[
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
pub(super) const WISH_WORDS: &[&str] = &[
    "bitte", "möchte", "möchten", "will", "wollen", "wünsche", "please", "want", "wish", "like",
    "request",
];

/// Access requests that need nothing else.
pub(super) const ACCESS_PHRASES: &[&str] = &[
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
pub(super) const ACCESS_WORDS: &[&str] = &["auskunft*"];

/// Data words that turn "Auskunft" into an access request.
pub(super) const ACCESS_DATA_WORDS: &[&str] = &[
    "*daten",
    "personenbezogen*",
    "dsgvo",
    "ds gvo",
    "datenschutz*",
    "art 15",
    "artikel 15",
];

/// Erasure requests that need nothing else.
pub(super) const ERASURE_PHRASES: &[&str] = &[
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
pub(super) const ERASE_WORDS: &[&str] = &[
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

/// Objections (Art. 21) that need nothing else.
pub(super) const OBJECTION_PHRASES: &[&str] = &[
    "widerspruchsrecht*",
    "art 21",
    "artikel 21",
    "article 21",
    "right to object",
];

/// Objecting ("Widerspruch", "ich widerspreche", "lege Widerspruch ein", "I object to"): an
/// objection to the processing of one's data (Art. 21) — unless an appeal word (next list)
/// is in the same sentence, then a human decides.
pub(super) const OBJECTION_WORDS: &[&str] = &[
    "widerspruch",
    "widerspruchs",
    "widersprech*",
    "widerspreche",
    "widersprich*",
    "widerspricht",
    "widersprochen",
    "objection",
    "i object",
    "object to",
    "objecting to",
];

/// Words of an administrative appeal ("Widerspruch gegen den Gebührenbescheid", § 68 VwGO):
/// with them an objection word goes to review.
pub(super) const APPEAL_WORDS: &[&str] = &[
    "*bescheid*",
    "gebühr*",
    "*gebühren*",
    "verwaltungsakt*",
    "vwgo",
    "decision",
];

/// Personal data, as the object of erasing (and of withdraw words without a consent word).
pub(super) const DATA_WORDS: &[&str] = &[
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
pub(super) const NEGATION_WORDS: &[&str] = &[
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
pub(super) const THAT_WORDS: &[&str] = &["dass", "that"];

/// Asking how or whether, rather than asking for it ("Ich möchte wissen, wie ich meine
/// Einwilligung widerrufen kann"). Before a withdrawal or erasure signal in the same sentence
/// this sends the message to review, as does a question mark at the end of that sentence —
/// unless the question is a polite request (next list).
pub(super) const INQUIRY_PHRASES: &[&str] = &[
    "wie ich", "wie kann", "wie man", "ob ich", "ob man", "ob meine", "ob sie", "how to",
    "how can", "how do", "how i", "whether", "if i can",
];

/// Questions that are requests ("Können Sie bitte meine Daten löschen?") …
pub(super) const POLITE_REQUESTS: &[&str] = &[
    "können|könnten|würden|würdet|könntet|könnt sie|ihr|du",
    "can|could|would|will you",
];

/// … unless they also ask how, when or whether ("Könnten Sie mir sagen, ob meine Daten
/// gelöscht werden?").
pub(super) const INTERROGATIVES: &[&str] = &[
    "wie", "wo", "wann", "warum", "wieso", "weshalb", "ob", "how", "where", "when", "why",
    "whether", "if",
];

/// Words that end the phrase after a consent word: in "Einwilligung und möchte keine SMS
/// mehr" the SMS is no longer part of what the consent is about.
pub(super) const CONJUNCTIONS: &[&str] = &[
    "und", "oder", "sowie", "aber", "sondern", "and", "or", "but",
];

/// Words that, right after such a conjunction, start a further object of the consent: in
/// "Einwilligung zur SMS-Erinnerung und zur Terminbuchung" more than SMS is withdrawn, so the
/// message goes to review; in "… zur SMS-Erinnerung und bitte um Bestätigung" only SMS.
pub(super) const CONSENT_CONTINUATIONS: &[&str] = &[
    "zur", "zum", "zu", "für", "der", "die", "das", "des", "dem", "den", "to", "for", "the", "of",
];

/// Abbreviations whose full stop does not end a sentence ("gemäß Art. 7 Abs. 3 DSGVO").
/// Numbers ("am 12. März") and single letters ("z. B.") never end one either.
pub(super) const ABBREVIATIONS: &[&str] = &[
    "art", "abs", "nr", "bzw", "ggf", "evtl", "ca", "vgl", "dr", "str", "usw", "etc", "inkl",
    "ziff", "lit", "tel", "mr", "mrs", "ms", "no", "vs",
];

/// Subject prefixes of replies and forwards. Such a subject was usually written by someone
/// else (often the office), so signals found only there go to review.
pub(super) const REPLY_PREFIXES: &[&str] = &[
    "re", "aw", "antw", "wg", "fw", "fwd", "tr", "wtr", "sv", "vs",
];

/// Lines that start the forwarded or replied-to history; everything from them on is cut.
/// Compared with the line without surrounding dashes, underscores, stars and colons.
pub(super) const HISTORY_SEPARATORS: &[&str] = &[
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
pub(super) const REPLY_VERBS: &[&str] = &["schrieb", "geschrieben", "wrote"];

/// Fields of a quoted header block ("Von: … / Gesendet: … / An: … / Betreff: …"), which
/// starts with one of the first list and has at least two of the second below it.
pub(super) const HEADER_FROM_FIELDS: &[&str] = &["von", "from"];
pub(super) const HEADER_FIELDS: &[&str] = &[
    "gesendet", "sent", "datum", "date", "an", "to", "cc", "betreff", "subject",
];

// Distances, in words.

/// Most words a `…` in a wording may stand for.
pub(super) const GAP: usize = 12;
/// A withdraw word and a consent word belong together within this many words …
pub(super) const NEAR: usize = 12;
/// … or anywhere in the same sentence up to this many (long legal sentences: "widerrufe ich
/// gemäß Art. 7 Abs. 3 DSGVO die von mir bei der Buchung … erteilte Einwilligung").
pub(super) const SENTENCE_REACH: usize = 30;
/// Erase or "Auskunft" word and its data word, in the same sentence.
pub(super) const OBJECT_REACH: usize = 10;
/// Stop or withdraw word and the SMS word it is about.
pub(super) const SMS_REACH: usize = 6;
/// An SMS word this close before a consent word ("SMS-Einwilligung") …
pub(super) const SMS_BEFORE_CONSENT: usize = 2;
/// … or this close after it ("Einwilligung zum Erhalt von SMS") makes the consent SMS-only.
pub(super) const SMS_AFTER_CONSENT: usize = 5;
/// An "all" word this close before the consent word makes the withdrawal general.
pub(super) const ALL_BEFORE: usize = 3;
/// Negation words this close before or after a signal.
pub(super) const NEGATION_BEFORE: usize = 3;
pub(super) const NEGATION_AFTER: usize = 2;

/// Only this many characters of the subject and of the new text are read. A request stands at
/// the beginning of a message; the bound keeps a huge message from slowing the import down
/// (matching takes about 2 µs per character).
pub(super) const MAX_CHARS: usize = 20_000;

#[cfg(test)]
mod tests {
    use super::super::matcher::{Element, is_word_char, parse_wording};
    use super::*;

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
}
