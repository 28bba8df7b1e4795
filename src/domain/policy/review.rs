//! Warnings: what a legal review of a valid policy would flag. The program runs with them
//! (they are not errors), `policy check` lists them and `policy check --strict` fails on them.
//!
//! Each check is a class of mistake that was found in a shipped policy, so that the next
//! tenant's file is caught too: legitimate interest at a public authority, a citation that
//! does not match the basis or cites a norm that cannot carry it, a consent text that does not
//! name every recipient of its purpose, a recipient attached to every purpose, and values the
//! office has not yet confirmed.

use super::model::*;

/// Norms that have been cited for a booking service but cannot carry it, with the reason.
const WRONG_CITATIONS: &[(&str, &str)] = &[
    (
        "§ 35 DSG NRW",
        "§ 35 DSG NRW is the scope clause of the part on police and justice (Directive (EU) \
         2016/680); it is no basis for this processing",
    ),
    (
        "TMG",
        "the Telemediengesetz (TMG) was repealed on 14 May 2024 (now DDG and TDDDG)",
    ),
];

pub(super) fn warnings(policy: &Policy, today: chrono::NaiveDate) -> Vec<PolicyError> {
    let mut out = Vec::new();
    let mut warn = |line: usize, field: &str, problem: String| {
        out.push(PolicyError {
            file: policy.file.clone(),
            line: line.max(1),
            field: field.to_string(),
            problem,
        })
    };
    let purpose_line = |i: usize| policy.lines.purposes.get(i).copied().unwrap_or(1);

    for (i, purpose) in policy.purposes.iter().enumerate() {
        let field = format!("purpose[{}].legal_basis", purpose.id);
        if purpose.legal_basis == LegalBasis::LegitimateInterest
            && policy.tenant.kind == TenantKind::PublicAuthority
        {
            warn(
                purpose_line(i),
                &field,
                "legitimate interest (Art. 6(1)(f)) is not available to a public authority \
                 performing its tasks (Art. 6(1) subpara. 2 DSGVO); use public_task (lit. e) \
                 with the state law, e.g. § 3 DSG NRW or Art. 4 Abs. 1 BayDSG"
                    .into(),
            );
        }
        if let Some(citation) = &purpose.legal_basis_ref {
            let expected = basis_letter(purpose.legal_basis);
            for letter in cited_letters(citation) {
                if letter != expected {
                    warn(
                        purpose_line(i),
                        &format!("purpose[{}].legal_basis_ref", purpose.id),
                        format!(
                            "cites lit. {letter}, but legal_basis is {} (lit. {expected})",
                            purpose.legal_basis.as_str()
                        ),
                    );
                }
            }
            for (norm, why) in WRONG_CITATIONS {
                if cites(citation, norm) {
                    warn(
                        purpose_line(i),
                        &format!("purpose[{}].legal_basis_ref", purpose.id),
                        (*why).to_string(),
                    );
                }
            }
        }
        if let Some(consent) = &purpose.consent {
            for recipient in policy
                .recipients
                .iter()
                .filter(|r| r.purposes.contains(&purpose.id))
            {
                if !names_recipient(&consent.text, recipient.short_name()) {
                    warn(
                        purpose_line(i),
                        &format!("purpose[{}].consent.text", purpose.id),
                        format!(
                            "does not name the recipient \"{}\" of this purpose; a consent \
                             covers only the recipients it names",
                            recipient.short_name()
                        ),
                    );
                }
            }
        }
    }

    for (i, recipient) in policy.recipients.iter().enumerate() {
        if recipient.purposes.is_empty() {
            warn(
                policy.lines.recipients.get(i).copied().unwrap_or(1),
                &format!("recipient[{}].purposes", recipient.short_name()),
                "missing: the recipient is attached to every purpose; list the purpose ids \
                 whose data it receives"
                    .into(),
            );
        }
        if recipient.role == RecipientRole::Processor {
            let line = policy.lines.recipients.get(i).copied().unwrap_or(1);
            if recipient.contract_date.is_none() {
                warn(
                    line,
                    &format!("recipient[{}].contract_date", recipient.short_name()),
                    "missing: the processors register (Art. 28 DSGVO) needs the date of the \
                     processing contract"
                        .into(),
                );
            }
            let due = today
                .checked_sub_months(chrono::Months::new(12))
                .unwrap_or(today);
            match recipient.last_review {
                None => warn(
                    line,
                    &format!("recipient[{}].last_review", recipient.short_name()),
                    "missing: no review of the processor recorded; review it at least every \
                     12 months (Art. 28(3)(h) DSGVO)"
                        .into(),
                ),
                Some(date) if date < due => warn(
                    line,
                    &format!("recipient[{}].last_review", recipient.short_name()),
                    format!(
                        "last review {date} is more than 12 months ago; review the processor \
                         (Art. 28(3)(h) DSGVO)"
                    ),
                ),
                Some(_) => {}
            }
        }
    }

    for data in policy.kinds_without_rule() {
        warn(
            1,
            "retention",
            format!(
                "no rule for {}: the notice can name no storage period for them \
                 (Art. 13(2)(a) DSGVO) and nothing deletes them",
                data.as_str()
            ),
        );
    }

    for item in &policy.unconfirmed {
        warn(
            item.line,
            &item.field,
            "not yet confirmed by the office (listed under confirm)".into(),
        );
    }
    out.sort_by_key(|w| w.line);
    out
}

fn basis_letter(basis: LegalBasis) -> char {
    match basis {
        LegalBasis::Consent => 'a',
        LegalBasis::Contract => 'b',
        LegalBasis::LegalObligation => 'c',
        LegalBasis::PublicTask => 'e',
        LegalBasis::LegitimateInterest => 'f',
    }
}

/// The letters of Art. 6(1) a citation names: "lit. e", "lit. b und c".
fn cited_letters(citation: &str) -> Vec<char> {
    let mut letters = Vec::new();
    let mut rest = citation;
    while let Some(at) = rest.find("lit.") {
        rest = &rest[at + 4..];
        let mut words = rest
            .split_whitespace()
            .map(|w| w.trim_end_matches([',', ';', ')']));
        loop {
            match words.next() {
                Some(w) if w.len() == 1 && matches!(w, "a" | "b" | "c" | "d" | "e" | "f") => {
                    letters.extend(w.chars());
                }
                _ => break,
            }
            // Only a conjunction may continue the list.
            match words.next() {
                Some("und" | "and" | "oder" | "bzw." | "sowie") => {}
                _ => break,
            }
        }
    }
    letters
}

/// Whether `norm` appears as its own token(s) in `citation` (so "TMG" does not match
/// "TMGX", and spaces may be non-breaking).
fn cites(citation: &str, norm: &str) -> bool {
    let normalize = |s: &str| s.replace('\u{a0}', " ");
    let citation = normalize(citation);
    citation.match_indices(norm).any(|(at, _)| {
        let before = citation[..at].chars().next_back();
        let after = citation[at + norm.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// Whether a consent text names a recipient: every significant word of the recipient's name
/// occurs in the text, allowing German endings ("städtische" ~ "städtischen").
fn names_recipient(text: &str, name: &str) -> bool {
    let words_of = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric() && c != '&')
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let text_words = words_of(text);
    words_of(name)
        .iter()
        .filter(|w| w.chars().count() >= 4 && !STOP_WORDS.contains(&w.as_str()))
        .all(|word| {
            let stem = stem(word);
            text_words.iter().any(|t| t.starts_with(stem))
        })
}

const STOP_WORDS: &[&str] = &["der", "die", "das", "und", "oder", "für", "sowie"];

/// A word without up to two German inflection letters at its end.
fn stem(word: &str) -> &str {
    let mut stem = word;
    for _ in 0..2 {
        if stem.chars().count() > 4
            && let Some(last) = stem.chars().next_back()
            && matches!(last, 'e' | 'n' | 's' | 'r')
        {
            stem = &stem[..stem.len() - last.len_utf8()];
        }
    }
    stem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cited_letters_are_read_with_conjunctions() {
        assert_eq!(cited_letters("Art. 6 Abs. 1 S. 1 lit. b DSGVO"), vec!['b']);
        assert_eq!(
            cited_letters("Art. 6 Abs. 1 lit. e DSGVO i. V. m. § 3"),
            vec!['e']
        );
        assert_eq!(
            cited_letters("Art. 6 Abs. 1 lit. b und c DSGVO"),
            vec!['b', 'c']
        );
        assert!(cited_letters("§ 3 Abs. 1 DSG NRW").is_empty());
    }

    #[test]
    fn wrong_norms_are_found_as_tokens_only() {
        assert!(cites(
            "Art. 6 Abs. 1 lit. a DSGVO i. V. m. § 35 DSG NRW",
            "§ 35 DSG NRW"
        ));
        assert!(cites("§\u{a0}35 DSG NRW", "§ 35 DSG NRW"));
        assert!(!cites("§ 351 DSG NRW", "§ 35 DSG NRW"));
        assert!(cites("§ 12 TMG", "TMG"));
        assert!(!cites("TMGX", "TMG"));
    }

    #[test]
    fn a_recipient_is_named_with_german_endings() {
        let text = "… an die städtischen Beteiligungen der Stadt Recklinghausen weitergibt";
        assert!(names_recipient(
            text,
            "Städtische Beteiligungen der Stadt Recklinghausen"
        ));
        assert!(!names_recipient(
            "an ihren Auftragsverarbeiter",
            "LOX24 GmbH"
        ));
        assert!(names_recipient("an die LOX24 GmbH", "LOX24 GmbH"));
        assert!(!names_recipient(
            "an ihren Auftragsverarbeiter",
            "Städtische Beteiligungen der Stadt Recklinghausen"
        ));
    }
}
