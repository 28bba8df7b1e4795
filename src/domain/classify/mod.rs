//! Decides what a citizen's e-mail to a tenant's withdrawal address asks for (step 4 of
//! `withdrawals import`): a withdrawal of consent, a withdrawal limited to SMS reminders, an
//! access request, an erasure request, nothing of that, or "a human must read it".
//!
//! Pure: no I/O, no clock. The caller hands in the decoded Subject and plain-text body;
//! [`new_text`] keeps only what the sender wrote now (no quotes, no replied-to or forwarded
//! history, no signature), and [`classify`] looks for the wordings listed in [`words`] in the subject and that new text, then applies this decision table (first row that
//! applies wins):
//!
//! | what was found                                                          | intent          |
//! |-------------------------------------------------------------------------|-----------------|
//! | nothing                                                                 | `NotARequest`   |
//! | a signal that is negated ("nicht widerrufen"), asked about rather than requested ("Wie kann ich … widerrufen?"), withdrawal wording about data without a consent word, or SMS consent named together with more ("Einwilligung zur SMS-Erinnerung und zur Terminbuchung") | `Review` |
//! | signals only in the subject of a reply or forward (Re:, AW:, WG: …)     | `Review`        |
//! | an objection word next to an appeal word ("Widerspruch gegen den Bescheid") or a consent word ("widerspreche meiner Einwilligung": a withdrawal may be meant) | `Review` |
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

mod matcher;
mod new_text;
mod signals;
mod words;

pub use new_text::new_text;

use matcher::Doc;
use new_text::clean_markup;
use serde::Serialize;
use signals::{Hit, detect};
use words::{MAX_CHARS, REPLY_PREFIXES};

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
    /// An objection to the processing (Art. 21).
    ObjectionRequest,
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

    #[test]
    fn intents_serialize_in_snake_case() {
        let json = serde_json::to_string(&[Intent::SmsWithdrawal, Intent::NotARequest]).unwrap();
        assert_eq!(json, r#"["sms_withdrawal","not_a_request"]"#);
    }

    // --- objections (Art. 21) -----------------------------------------------------------

    #[test]
    fn objections_in_german_and_english_are_objections() {
        for (subject, body) in [
            (
                "Widerspruch",
                "Guten Tag, hiermit lege ich Widerspruch ein. Mit freundlichen Grüßen",
            ),
            (
                "",
                "Ich widerspreche der Verarbeitung meiner personenbezogenen Daten.",
            ),
            (
                "",
                "Hiermit widerspreche ich der Nutzung meiner Daten für Statistiken.",
            ),
            (
                "Datenschutz",
                "Ich lege Widerspruch gegen die Verarbeitung meiner Daten ein.",
            ),
            (
                "",
                "Ich mache von meinem Widerspruchsrecht nach Art. 21 DSGVO Gebrauch.",
            ),
            (
                "Objection",
                "I object to the processing of my personal data.",
            ),
        ] {
            let c = classify(subject, body);
            assert_eq!(
                c.intent,
                Intent::ObjectionRequest,
                "{subject} / {body}: {c:?}"
            );
        }
        assert_eq!(
            classify("", "Ich widerspreche der Verarbeitung meiner Daten.").reason,
            "objection (\"widerspreche\")"
        );
    }

    #[test]
    fn an_objection_to_a_fee_notice_negated_or_asked_about_goes_to_review() {
        for body in [
            "Ich lege Widerspruch gegen den Gebührenbescheid vom 3. März ein.",
            "Ich möchte keinen Widerspruch einlegen.",
            "Wie kann ich der Verarbeitung widersprechen?",
            "Ich widerspreche der Verarbeitung und bitte um Löschung meiner Daten.",
            "Hiermit widerspreche ich meiner Einwilligung zur Terminbuchung.",
            "Ich widerrufe meine Einwilligung und widerspreche der weiteren Nutzung meiner Daten.",
        ] {
            assert_eq!(intent("", body), Intent::Review, "{body}");
        }
    }

    #[test]
    fn contradictory_is_not_an_objection() {
        assert_eq!(
            intent("", "Die Angaben auf der Seite sind widersprüchlich."),
            Intent::NotARequest
        );
    }
}
