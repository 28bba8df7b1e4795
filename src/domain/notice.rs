//! The information a controller owes the person, generated from the tenant's policy: the
//! privacy notice on the booking form (Art. 13) and the information part of an Auskunft
//! (Art. 15(1)(a)–(h)). One text for both, so they cannot drift apart.

use super::policy::{LegalBasis, Policy, TenantInfo};
use serde::Serialize;

/// German names of the personal-data categories a policy may list.
pub fn category_de(category: &str) -> &str {
    match category {
        "name" => "Name",
        "first_name" => "Vorname",
        "last_name" => "Nachname",
        "email" => "E-Mail-Adresse",
        "phone" => "(Mobil-)Rufnummer",
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
}

#[derive(Clone, Debug, Serialize)]
pub struct NoticeRecipient {
    pub name: String,
    pub role: String,
    pub purpose: String,
}

/// Everything Art. 13 and Art. 15(1) ask for, in German, ready to render.
#[derive(Clone, Debug, Serialize)]
pub struct Notice {
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
            })
            .collect();
        let withdrawal = purposes.iter().any(|p| p.consent_based).then(|| {
            format!(
                "Eine Einwilligung können Sie jederzeit mit Wirkung für die Zukunft widerrufen (Art. 7 Abs. 3 DSGVO), \
                 formlos per E-Mail an {}. Die Rechtmäßigkeit der bis zum Widerruf erfolgten Verarbeitung bleibt unberührt.",
                t.withdrawal_addresses.join(" oder ")
            )
        });
        Self {
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
            storage: policy.retention.iter().map(|r| r.describe_de()).collect(),
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
}
