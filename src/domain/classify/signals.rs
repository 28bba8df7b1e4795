//! Signals: the wordings found in a subject or new text, with what doubts them (negation, a
//! question, wording about data without a consent word).

use super::Intent;
use super::matcher::*;
use super::words::*;

/// Why a signal cannot be acted on automatically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Doubt {
    Negated,
    Asked,
    NoConsentWord,
    UnclearScope,
    Appeal,
    ConsentObjected,
}

impl Doubt {
    pub(super) fn explain(self) -> &'static str {
        match self {
            Doubt::Negated => "negated",
            Doubt::Asked => "asked about rather than requested",
            Doubt::NoConsentWord => "withdrawal wording about data without a consent word",
            Doubt::UnclearScope => "the consent named covers more than the SMS reminders",
            Doubt::Appeal => {
                "may be an appeal against an administrative decision, not an objection under Art. 21"
            }
            Doubt::ConsentObjected => {
                "objection wording about a consent: a withdrawal of consent may be meant"
            }
        }
    }
}

/// A signal while it is being worked out.
pub(super) struct Hit {
    pub(super) kind: Intent,
    pub(super) words: Vec<usize>,
    /// A withdrawal that says all consent is meant.
    pub(super) all: bool,
    pub(super) doubt: Option<Doubt>,
    pub(super) in_subject: bool,
    pub(super) matched: String,
}

impl Hit {
    pub(super) fn new(kind: Intent, parts: &[&Found]) -> Self {
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

    pub(super) fn span(&self) -> (usize, usize) {
        (self.words[0], self.words[self.words.len() - 1])
    }

    pub(super) fn describe(&self) -> String {
        let label = match self.kind {
            Intent::Withdrawal if self.all => "withdrawal of all consent",
            Intent::Withdrawal => "withdrawal of consent",
            Intent::SmsWithdrawal => "withdrawal of SMS reminders",
            Intent::AccessRequest => "access request",
            Intent::ErasureRequest => "erasure request",
            Intent::ObjectionRequest => "objection",
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
pub(super) fn join_adjacent(found: Vec<Found>) -> Vec<Found> {
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

pub(super) fn nearest<'f>(
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
pub(super) fn detect(doc: &Doc, in_subject: bool) -> Vec<Hit> {
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

    for phrase in doc.find(OBJECTION_PHRASES) {
        hits.push(Hit::new(Intent::ObjectionRequest, &[&phrase]));
    }
    let appeal = doc.find(APPEAL_WORDS);
    for o in doc.find(OBJECTION_WORDS) {
        let mut hit = Hit::new(Intent::ObjectionRequest, &[&o]);
        let same_sentence = |a: &Found| doc.sentence(first(a)) == doc.sentence(first(&o));
        if let Some(a) = nearest(&o, &appeal, same_sentence) {
            hit = Hit::new(Intent::ObjectionRequest, &[&o, a]);
            hit.doubt = Some(Doubt::Appeal);
        } else if let Some(c) = nearest(&o, &consent, |c| doc.near(&o, c)) {
            // "Ich widerspreche meiner Einwilligung": people say Widerspruch for Widerruf.
            hit = Hit::new(Intent::ObjectionRequest, &[&o, c]);
            hit.doubt = Some(Doubt::ConsentObjected);
        }
        hits.push(hit);
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
pub(super) fn merge_overlapping(hits: Vec<Hit>) -> Vec<Hit> {
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
pub(super) fn asked(doc: &Doc, i: usize) -> bool {
    let sentence = doc.sentence(i);
    let in_sentence = |list: &'static [&'static str]| {
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
