//! The information a controller owes the person, generated from the tenant's policy: the
//! privacy notice on the booking form (Art. 13) and the information part of an Auskunft
//! (Art. 15(1)(a)–(h)). One text for both, so they cannot drift apart.

use super::booking::FormFields;
use super::policy::{LegalBasis, Policy, RetainedData, TenantInfo};
use serde::Serialize;

/// German names of the personal-data categories a policy may list.
pub fn category_de(category: &str) -> &str {
    match category {
        "name" => "Name",
        "first_name" => "Vorname",
        "last_name" => "Nachname",
        "email" => "E-Mail-Adresse",
        "phone" => "Mobilnummer",
        "address" => "Anschrift",
        "birth_date" => "Geburtsdatum",
        "service" => "gewählte Dienstleistung",
        "slot" => "gewählter Termin",
        "booking_code" => "Buchungscode",
        "consent" => "erteilte und widerrufene Einwilligungen",
        "ip_address" => "IP-Adresse",
        "request_time" => "Datum und Uhrzeit der Anfrage",
        "utc_offset" => "Zeitzonendifferenz zur Greenwich Mean Time (GMT)",
        "requested_path" => "Inhalt der Anforderung (konkrete Seite)",
        "http_status" => "Zugriffsstatus/HTTP-Statuscode",
        "bytes_transferred" => "jeweils übertragene Datenmenge",
        "referrer" => "Webseite, von der die Anforderung kommt",
        "browser" => "Browser",
        "operating_system" => "Betriebssystem und dessen Oberfläche",
        "language" => "Sprache der Browsersoftware",
        "browser_version" => "Version der Browsersoftware",
        "message" => "Inhalt Ihrer Nachricht",
        other => other,
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct NoticePurpose {
    pub id: String,
    pub description: String,
    pub legal_basis: String,
    pub citation: String,
    pub categories: Vec<String>,
    pub consent_based: bool,
    /// The legitimate interests pursued, where the basis is legitimate interest (13(1)(d)).
    pub interests: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NoticeRecipient {
    pub name: String,
    pub role: String,
    pub purpose: String,
}

/// One line of the notice's first layer: a question and its short answer.
#[derive(Clone, Debug, Serialize)]
pub struct Layer {
    pub label: &'static str,
    pub text: String,
}

/// Everything Art. 13 and Art. 15(1) ask for, in German, ready to render.
#[derive(Clone, Debug, Serialize)]
pub struct Notice {
    /// The short first layer: who, what, why, how long, your rights — a few lines above
    /// the full text (and on the booking form, with a link to it).
    pub first_layer: Vec<Layer>,
    /// Whether the data are required and what happens without them (Art. 13(2)(e)).
    pub requirement: String,
    pub controller: TenantInfo,
    pub purposes: Vec<NoticePurpose>,
    pub recipients: Vec<NoticeRecipient>,
    /// One sentence per retention rule.
    pub storage: Vec<String>,
    pub rights: Vec<&'static str>,
    /// How to withdraw consent, when any purpose rests on consent.
    pub withdrawal: Option<String>,
    pub complaint: String,
    pub source: &'static str,
    pub automated_decisions: &'static str,
}

pub const RIGHTS: &[&str] = &[
    "Recht auf Auskunft über die zu Ihrer Person gespeicherten Daten (Art. 15 DSGVO)",
    "Recht auf Berichtigung unrichtiger Daten (Art. 16 DSGVO)",
    "Recht auf Löschung (Art. 17 DSGVO)",
    "Recht auf Einschränkung der Verarbeitung (Art. 18 DSGVO)",
    "Recht auf Datenübertragbarkeit (Art. 20 DSGVO)",
    "Recht auf Widerspruch gegen die Verarbeitung (Art. 21 DSGVO)",
];

impl Notice {
    pub fn of(policy: &Policy) -> Self {
        let t = &policy.tenant;
        let purposes: Vec<NoticePurpose> = policy
            .purposes
            .iter()
            .map(|p| NoticePurpose {
                id: p.id.clone(),
                description: p.description.clone(),
                legal_basis: p.legal_basis.describe_de().to_owned(),
                citation: p.legal_basis_citation().to_owned(),
                categories: p
                    .categories
                    .iter()
                    .map(|c| category_de(c).to_owned())
                    .collect(),
                consent_based: p.legal_basis == LegalBasis::Consent,
                interests: p.legitimate_interests.clone(),
            })
            .collect();
        let mut storage: Vec<String> = policy.retention.iter().map(|r| r.describe_de()).collect();
        let asks_consent = purposes.iter().any(|p| p.consent_based);
        for data in policy.kinds_without_rule() {
            storage.push(format!(
                "Für {} ist keine feste Frist bestimmt; sie werden gelöscht, sobald sie für \
                 den Zweck nicht mehr erforderlich sind.",
                data.describe_de()
            ));
        }
        let withdrawal = purposes.iter().any(|p| p.consent_based).then(|| {
            format!(
                "Eine Einwilligung können Sie jederzeit mit Wirkung für die Zukunft widerrufen (Art. 7 Abs. 3 DSGVO), \
                 formlos per E-Mail an {}. Die Rechtmäßigkeit der bis zum Widerruf erfolgten Verarbeitung bleibt unberührt.",
                t.withdrawal_addresses.join(" oder ")
            )
        });
        Self {
            first_layer: first_layer(policy, asks_consent),
            requirement: requirement(policy),
            controller: t.clone(),
            purposes,
            recipients: policy
                .recipients
                .iter()
                .map(|r| NoticeRecipient {
                    name: r.name.clone(),
                    role: r.role.describe_de().to_owned(),
                    purpose: r.purpose.clone(),
                })
                .collect(),
            storage,
            rights: RIGHTS.to_vec(),
            withdrawal,
            complaint: format!(
                "Sie haben das Recht, sich bei einer Datenschutz-Aufsichtsbehörde zu beschweren (Art. 77 DSGVO). \
                 Zuständig ist: {}.",
                t.supervisory_authority
            ),
            source: "Die Daten werden bei Ihnen selbst erhoben: Sie geben sie bei der Terminbuchung ein, \
                     die Verbindungsdaten übermittelt Ihr Browser.",
            automated_decisions: "Eine automatisierte Entscheidungsfindung einschließlich Profiling (Art. 22 DSGVO) findet nicht statt.",
        }
    }
}

/// Who, what, why, how long, your rights: the few lines a person reads before the full text.
fn first_layer(policy: &Policy, asks_consent: bool) -> Vec<Layer> {
    let t = &policy.tenant;
    let booking = policy.booking_purpose();
    let what: Vec<&str> = booking.categories.iter().map(|c| category_de(c)).collect();
    let others = policy.purposes.len() - 1;
    let why = format!(
        "{} ({}){}",
        booking.description,
        booking.legal_basis_citation(),
        match others {
            0 => String::new(),
            1 => "; dazu ein weiterer Zweck, siehe unten".to_owned(),
            n => format!("; dazu {n} weitere Zwecke, siehe unten"),
        }
    );
    let how_long = policy.retention_for(RetainedData::Bookings).map_or_else(
        || "Bis der Zweck erfüllt ist; Einzelheiten unten.".to_owned(),
        |r| {
            format!(
                "{} Die Fristen der übrigen Daten stehen unten.",
                r.describe_de()
            )
        },
    );
    let mut rights = "Auskunft, Berichtigung, Löschung, Einschränkung, Datenübertragbarkeit, \
                      Widerspruch"
        .to_owned();
    if asks_consent {
        rights.push_str(", Widerruf Ihrer Einwilligung");
    }
    rights.push_str(" und Beschwerde bei der Aufsichtsbehörde.");
    vec![
        Layer {
            label: "Wer ist verantwortlich?",
            text: format!(
                "{}, {}. Datenschutzbeauftragte/r: {}",
                t.name, t.address, t.dpo
            ),
        },
        Layer {
            label: "Welche Daten?",
            text: format!("{}.", what.join(", ")),
        },
        Layer {
            label: "Wozu?",
            text: format!("{why}."),
        },
        Layer {
            label: "Wie lange?",
            text: how_long,
        },
        Layer {
            label: "Ihre Rechte",
            text: rights,
        },
    ]
}

/// Art. 13(2)(e): which data the booking needs, which are voluntary, and what happens
/// without them — with the other ways to get an appointment.
fn requirement(policy: &Policy) -> String {
    let fields = FormFields::of(policy);
    let mut required = vec!["Vorname", "Nachname", "E-Mail-Adresse"];
    if fields.phone {
        required.push("Mobilnummer");
    }
    let mut voluntary = Vec::new();
    if fields.address {
        voluntary.push("Anschrift");
    }
    if fields.birth_date {
        voluntary.push("Geburtsdatum");
    }
    let t = &policy.tenant;
    let other_ways = match &t.phone {
        Some(phone) => format!("telefonisch unter {phone} oder vor Ort ({})", t.address),
        None => format!("vor Ort ({})", t.address),
    };
    let mut text = format!(
        "Für die Online-Buchung sind {} erforderlich{}. Sie sind weder gesetzlich noch \
         vertraglich vorgeschrieben; ohne sie können Sie online keinen Termin buchen, wohl aber \
         {other_ways}.",
        join_de(&required),
        if fields.consent_required {
            ", ebenso Ihre Einwilligung"
        } else {
            ""
        },
    );
    if !voluntary.is_empty() {
        text.push_str(&format!(
            " Freiwillig sind {}; ohne sie wird Ihr Termin genauso vergeben.",
            join_de(&voluntary)
        ));
    }
    if fields.sms_reminder {
        text.push_str(" Die SMS-Erinnerung ist freiwillig; ohne sie bleibt die Buchung gültig.");
    }
    text
}

/// "A, B und C".
fn join_de(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} und {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::parse_policy;

    fn notice(file: &str) -> Notice {
        let path = format!("{}/policies/{file}", env!("CARGO_MANIFEST_DIR"));
        Notice::of(&parse_policy(file, &std::fs::read_to_string(path).unwrap()).unwrap())
    }

    #[test]
    fn a_consent_based_tenant_tells_how_to_withdraw_by_email() {
        let n = notice("recklinghausen.toml");
        let w = n.withdrawal.unwrap();
        assert!(
            w.contains("buergerbuero@recklinghausen.de oder stadtverwaltung@recklinghausen.de"),
            "{w}"
        );
        assert!(n.storage.iter().any(|s| s.contains("48 Stunden")));
        assert!(n.complaint.contains("Nordrhein-Westfalen"));
    }

    #[test]
    fn the_access_log_categories_are_named_as_the_seeds_name_them() {
        let n = notice("oer-erkenschwick.toml");
        let log = n.purposes.iter().find(|p| p.id == "access_log").unwrap();
        assert!(log.categories.contains(&"IP-Adresse".to_owned()));
        assert!(
            log.categories
                .contains(&"Zeitzonendifferenz zur Greenwich Mean Time (GMT)".to_owned())
        );
        assert!(n.recipients.iter().any(|r| r.name.starts_with("LOX24")));
    }

    #[test]
    fn every_shipped_category_has_a_german_name() {
        for c in crate::domain::policy::DATA_CATEGORIES {
            assert_ne!(category_de(c), *c, "{c} has no German name");
        }
    }

    #[test]
    fn the_first_layer_answers_who_what_why_how_long_and_rights_in_five_lines() {
        let n = notice("recklinghausen.toml");
        let labels: Vec<&str> = n.first_layer.iter().map(|l| l.label).collect();
        assert_eq!(
            labels,
            [
                "Wer ist verantwortlich?",
                "Welche Daten?",
                "Wozu?",
                "Wie lange?",
                "Ihre Rechte"
            ]
        );
        assert!(
            n.first_layer[0]
                .text
                .contains("datenschutz@recklinghausen.de")
        );
        assert!(n.first_layer[1].text.contains("E-Mail-Adresse"));
        assert!(n.first_layer[2].text.contains("Art. 6 Abs. 1 lit. a DSGVO"));
        assert!(n.first_layer[2].text.contains("ein weiterer Zweck"));
        assert!(n.first_layer[3].text.contains("48 Stunden"));
        assert!(
            n.first_layer[4]
                .text
                .contains("Widerruf Ihrer Einwilligung")
        );
        for l in &n.first_layer {
            assert!(
                l.text.len() < 400,
                "{}: too long for a first layer",
                l.label
            );
        }
    }

    #[test]
    fn the_notice_says_which_data_are_required_and_what_happens_without_them() {
        let n = notice("oer-erkenschwick.toml");
        assert!(
            n.requirement
                .contains("Vorname, Nachname, E-Mail-Adresse und Mobilnummer erforderlich"),
            "{}",
            n.requirement
        );
        assert!(
            n.requirement
                .contains("ohne sie können Sie online keinen Termin buchen")
        );
        assert!(n.requirement.contains("telefonisch unter +49 2368 691-0"));
        assert!(
            n.requirement
                .contains("Freiwillig sind Anschrift und Geburtsdatum")
        );
        assert!(n.requirement.contains("SMS-Erinnerung ist freiwillig"));
        let r = notice("recklinghausen.toml").requirement;
        assert!(r.contains("ebenso Ihre Einwilligung"), "{r}");
        assert!(!r.contains("Freiwillig sind"), "{r}");
    }

    #[test]
    fn every_kind_of_stored_data_has_a_storage_sentence_and_interests_are_printed() {
        let path = format!(
            "{}/policies/recklinghausen.toml",
            env!("CARGO_MANIFEST_DIR")
        );
        let source = std::fs::read_to_string(path).unwrap();
        // Take out the inbox rule, and put the access log on legitimate interest.
        let start = source.find("[[retention]]\ndata = \"inbox\"").unwrap();
        let end = start + source[start..].find("confirm = [\"after\"]\n").unwrap() + 20;
        let changed = format!("{}{}", &source[..start], &source[end..]).replacen(
            "legal_basis = \"public_task\"\nlegal_basis_ref = \"Art. 6 Abs. 1 lit. e DSGVO i. V. m. § 3 Abs. 1 DSG NRW\"",
            "legal_basis = \"legitimate_interest\"\nlegitimate_interests = \"Abwehr von Angriffen auf den Dienst\"",
            1,
        );
        let n = Notice::of(&parse_policy("x.toml", &changed).unwrap());
        let log = n.purposes.iter().find(|p| p.id == "access_log").unwrap();
        assert_eq!(
            log.interests.as_deref(),
            Some("Abwehr von Angriffen auf den Dienst")
        );
        assert!(
            n.storage
                .iter()
                .any(|s| s.starts_with("Für eingegangene E-Mails ist keine feste Frist")),
            "{:?}",
            n.storage
        );
        assert_eq!(n.storage.len(), RetainedData::ALL.len());
    }
}
