//! The Auskunft letter: one German letter per tenant, each category of data as a section of
//! rows, dates and times in the tenant's zone.

use super::files::csv_file;
use super::*;

#[derive(Template)]
#[template(path = "auskunft.html")]
pub(super) struct AuskunftHtml<'a> {
    pub(super) letters: &'a [Letter],
}

/// One controller's letter, every value ready to print.
pub(super) struct Letter {
    notice: Notice,
    /// The Aktenzeichen of the request answered.
    file_reference: String,
    /// The PDF's address window: `--address`, or the name and the address on file, or the
    /// name and the e-mail address.
    window: Vec<String>,
    date: String,
    as_of: String,
    request_id: i64,
    request_received: String,
    request_channel: String,
    email: String,
    recipient: Vec<String>,
    salutation: String,
    has_data: bool,
    sections: Vec<Section>,
    /// Art. 15(1)(b): every category the policy names, once.
    categories: Vec<String>,
    /// The CSV files holding this tenant's rows.
    csv_files: Vec<&'static str>,
    /// Art. 15(1)(c): the recipients that actually received the person's data, each once
    /// with what and when (CJEU C-154/21).
    actual_recipients: Vec<String>,
    /// Art. 15(2): the third-country position.
    third_countries: String,
}

/// One category of the copy: a table with a row per record, or (`compact == false`, for
/// records with many fields) a small two-column table per record.
pub(super) struct Section {
    heading: &'static str,
    explanation: &'static str,
    compact: bool,
    columns: Vec<&'static str>,
    rows: Vec<Vec<(&'static str, String)>>,
}

impl Section {
    fn new(
        heading: &'static str,
        explanation: &'static str,
        compact: bool,
        rows: Vec<Vec<(&'static str, String)>>,
    ) -> Self {
        let columns = rows
            .first()
            .map(|r| r.iter().map(|(label, _)| *label).collect())
            .unwrap_or_default();
        Self {
            heading,
            explanation,
            compact,
            columns,
            rows,
        }
    }
}

impl Letter {
    pub(super) fn new(
        part: &Part<'_>,
        email: &str,
        address: &[String],
        now: DateTime<Utc>,
    ) -> Self {
        let notice = Notice::of(part.policy);
        let tz = part.policy.tenant.zone();
        let d = &part.data;
        // Addressed by the name the person last gave, where they gave one.
        let named = d
            .bookings
            .iter()
            .rev()
            .find(|b| b.first_name.is_some() || b.last_name.is_some());
        let name = named.map(|b| {
            [b.first_name.as_deref(), b.last_name.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ")
        });
        let mut recipient = Vec::new();
        if let Some(n) = &name {
            recipient.push(n.clone());
        }
        if let Some(a) = named.and_then(|b| b.address.as_deref()) {
            recipient.extend(
                a.split(',')
                    .map(|l| l.trim().to_owned())
                    .filter(|l| !l.is_empty()),
            );
        }
        recipient.push(format!("E-Mail: {email}"));
        // The e-mail line only where no postal address is known.
        let window = if !address.is_empty() {
            address.to_vec()
        } else if named.and_then(|b| b.address.as_deref()).is_some() {
            recipient[..recipient.len() - 1].to_vec()
        } else {
            recipient.clone()
        };
        let salutation = match &name {
            Some(n) => format!("Guten Tag {n},"),
            None => "Sehr geehrte Damen und Herren,".to_owned(),
        };
        let mut sections = Vec::new();
        if !d.bookings.is_empty() {
            sections.push(Section::new(
                "Terminbuchungen",
                "Die Angaben, die Sie bei der Online-Terminbuchung gemacht haben, je Termin. Ein Strich (–) steht für eine leere oder bereits gelöschte Angabe.",
                false,
                d.bookings.iter().map(|b| booking_row(tz, b)).collect(),
            ));
        }
        if !d.consents.is_empty() {
            sections.push(Section::new(
                "Einwilligungen",
                "Die Einwilligungen, die Sie erteilt oder widerrufen haben.",
                true,
                d.consents
                    .iter()
                    .map(|c| consent_row(tz, part.policy, c))
                    .collect(),
            ));
        }
        if !d.notifications.is_empty() {
            sections.push(Section::new(
                "Benachrichtigungen",
                "Nachrichten zu Ihren Buchungen: Bestätigungen an Sie, Kopien an die Verwaltung und SMS-Erinnerungen.",
                false,
                d.notifications.iter().map(|n| notification_row(tz, n)).collect(),
            ));
        }
        if !d.access_log.is_empty() {
            sections.push(Section::new(
                "Zugriffsprotokoll",
                "Die Verbindungsdaten der Aufrufe, mit denen Sie gebucht haben, wie sie der Webserver protokolliert.",
                false,
                d.access_log.iter().map(|a| access_row(tz, a)).collect(),
            ));
        }
        if !d.requests.is_empty() {
            sections.push(Section::new(
                "Anträge",
                "Ihre früheren oder noch offenen Anträge nach der DSGVO im Verzeichnis der Anträge (ohne diesen Antrag).",
                true,
                d.requests.iter().map(|r| request_row(tz, r)).collect(),
            ));
        }
        if !d.inbox.is_empty() {
            sections.push(Section::new(
                "Nachrichten",
                "E-Mails von Ihnen an unser Postfach für Widerrufe und Anträge (der Inhalt wird nicht gespeichert).",
                true,
                d.inbox.iter().map(|m| inbox_row(tz, m)).collect(),
            ));
        }
        if !d.replies.is_empty() {
            sections.push(Section::new(
                "Antworten",
                "Unsere Antworten auf Ihre E-Mails, die erstellt, aber noch nicht versandt sind.",
                false,
                d.replies.iter().map(|r| reply_row(tz, r)).collect(),
            ));
        }
        if !d.holds.is_empty() {
            sections.push(Section::new(
                "Sperren wegen Aufbewahrungspflichten",
                "Sperren, wegen derer Ihre Daten trotz Fristablauf oder Löschantrag aufbewahrt werden (z. B. laufende Verfahren). Angaben über andere Personen sind geschwärzt (Art. 15 Abs. 4 DSGVO).",
                true,
                d.holds.iter().map(|h| hold_row(tz, h)).collect(),
            ));
        }
        if !d.restrictions.is_empty() {
            sections.push(Section::new(
                "Einschränkungen der Verarbeitung",
                "Einschränkungen der Verarbeitung Ihrer Daten (Art. 18 DSGVO). Angaben über andere Personen sind geschwärzt (Art. 15 Abs. 4 DSGVO).",
                true,
                d.restrictions.iter().map(|r| restriction_row(tz, r)).collect(),
            ));
        }
        if !d.recipients.is_empty() {
            sections.push(Section::new(
                "Weitergaben an Empfänger",
                "Jede Weitergabe Ihrer Daten an einen Empfänger: wem, welche Daten, wann und mit welcher Nachricht.",
                true,
                d.recipients.iter().map(|r| disclosure_row(tz, r)).collect(),
            ));
        }
        let mut actual_recipients: Vec<String> = Vec::new();
        let mut names: Vec<&str> = d.recipients.iter().map(|r| r.recipient.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            let of: Vec<&DisclosureRecord> = d
                .recipients
                .iter()
                .filter(|r| r.recipient == name)
                .collect();
            let mut cats: Vec<&str> = of.iter().flat_map(|r| r.categories.split(',')).collect();
            cats.sort_unstable();
            cats.dedup();
            let last = of
                .iter()
                .map(|r| r.disclosed_at)
                .max()
                .expect("one at least");
            actual_recipients.push(format!(
                "{name} ({}): {} – {}-mal, zuletzt am {}",
                role_de(&of[0].recipient_role),
                cats.join(", "),
                of.len(),
                local_date_de(tz, last)
            ));
        }
        let mut categories: Vec<String> = Vec::new();
        for c in notice.purposes.iter().flat_map(|p| &p.categories) {
            if !categories.contains(c) {
                categories.push(c.clone());
            }
        }
        let csv_files = d
            .counts()
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(category, _)| csv_file(category))
            .collect();
        Self {
            file_reference: part.policy.tenant.file_reference(part.request.id),
            window,
            notice,
            date: local_date_de(tz, now),
            as_of: local_instant_de(tz, now),
            request_id: part.request.id,
            request_received: local_date_de(tz, part.request.received_at),
            request_channel: part.request.channel.german().to_owned(),
            email: email.to_owned(),
            recipient,
            salutation,
            has_data: part.has_data(),
            sections,
            categories,
            csv_files,
            actual_recipients,
            third_countries: part.policy.tenant.third_countries_de(),
        }
    }
}

impl Letter {
    /// The same letter in the PDF's document model.
    pub(super) fn pdf(&self) -> crate::pdf::Letter {
        use crate::pdf::{Block, Window, sender_lines};
        let c = &self.notice.controller;
        let n = &self.notice;
        let mut sender = sender_lines(
            &c.name,
            &c.address,
            c.phone.as_deref(),
            &c.email,
            c.website.as_deref(),
        );
        if let Some(r) = &c.representative {
            sender.insert(1, format!("vertreten durch {r}"));
        }
        let mut b = vec![
            Block::Subject(TITLE.to_owned()),
            Block::Paragraph(self.salutation.clone()),
            Block::Paragraph(format!(
                "Sie haben am {} {} Auskunft darüber verlangt, ob und welche personenbezogenen \
                 Daten wir, {}, im Rahmen der Online-Terminvergabe über Sie verarbeiten \
                 (Aktenzeichen {}). Wir haben alle Datenbestände der Online-Terminvergabe – \
                 Terminbuchungen, Einwilligungen, Benachrichtigungen, Zugriffsprotokoll, Anträge \
                 und Nachrichten – nach Ihrer E-Mail-Adresse {} durchsucht.",
                self.request_received,
                self.request_channel,
                c.name,
                self.file_reference,
                self.email
            )),
        ];
        if self.has_data {
            b.push(Block::Emphasis(
                "Wir bestätigen Ihnen, dass wir personenbezogene Daten über Sie verarbeiten. \
                 Unter 1. erhalten Sie eine Kopie dieser Daten, unter 2. die Informationen nach \
                 Art. 15 Abs. 1 DSGVO."
                    .to_owned(),
            ));
            b.push(Block::Heading(
                "1. Kopie Ihrer Daten (Art. 15 Abs. 3 DSGVO)".to_owned(),
            ));
            b.push(Block::Paragraph(format!(
                "Die folgende Aufstellung ist die Kopie aller personenbezogenen Daten, die wir am \
                 {} über Sie gespeichert hatten. Zeitangaben sind Ortszeit.",
                self.as_of
            )));
            for s in &self.sections {
                b.push(Block::Subheading(s.heading.to_owned()));
                b.push(Block::Small(s.explanation.to_owned()));
                if s.compact {
                    b.push(Block::Table {
                        columns: s.columns.iter().map(|c| (*c).to_owned()).collect(),
                        rows: s
                            .rows
                            .iter()
                            .map(|r| r.iter().map(|(_, v)| v.clone()).collect())
                            .collect(),
                    });
                } else {
                    for (i, row) in s.rows.iter().enumerate() {
                        if s.rows.len() > 1 {
                            b.push(Block::Subheading(format!("{}. Eintrag", i + 1)));
                        }
                        b.push(Block::KeyValue(
                            row.iter()
                                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                                .collect(),
                        ));
                    }
                }
            }
        } else {
            b.push(Block::Emphasis(format!(
                "Wir verarbeiten keine personenbezogenen Daten über Sie. Unter der \
                 E-Mail-Adresse {} ist bei uns nichts gespeichert.",
                self.email
            )));
            b.push(Block::Paragraph(format!(
                "Ihren Antrag haben wir unter dem Aktenzeichen {} im Verzeichnis der Anträge \
                 vermerkt, damit wir seine Bearbeitung nachweisen können (Art. 5 Abs. 2 DSGVO). \
                 Zu Ihrer Information beschreiben wir unter 2., wie wir Daten bei einer \
                 Online-Terminbuchung verarbeiten.",
                self.file_reference
            )));
        }
        b.push(Block::Heading(
            "2. Informationen nach Art. 15 Abs. 1 DSGVO".to_owned(),
        ));
        b.push(Block::Subheading(
            "a) Zwecke der Verarbeitung und Rechtsgrundlagen".to_owned(),
        ));
        b.push(Block::List(
            n.purposes
                .iter()
                .map(|p| format!("{} – {} ({})", p.description, p.legal_basis, p.citation))
                .collect(),
        ));
        b.push(Block::Subheading(
            "b) Kategorien personenbezogener Daten".to_owned(),
        ));
        b.push(Block::Paragraph(self.categories.join(", ")));
        b.push(Block::Subheading("c) Empfänger".to_owned()));
        b.push(Block::List(
            n.recipients
                .iter()
                .map(|r| format!("{} – {}: {}", r.name, r.role, r.purpose))
                .collect(),
        ));
        if self.actual_recipients.is_empty() {
            b.push(Block::Paragraph(
                "Tatsächlich erhalten hat Ihre Daten bisher keiner dieser Empfänger.".to_owned(),
            ));
        } else {
            b.push(Block::Paragraph(
                "Tatsächlich erhalten haben Ihre Daten:".to_owned(),
            ));
            b.push(Block::List(self.actual_recipients.clone()));
        }
        b.push(Block::Subheading("d) Dauer der Speicherung".to_owned()));
        b.push(Block::List(n.storage.clone()));
        b.push(Block::Subheading("e) Ihre Rechte".to_owned()));
        b.push(Block::Paragraph(
            "Ihnen stehen uns gegenüber folgende Rechte zu:".to_owned(),
        ));
        b.push(Block::List(
            n.rights.iter().map(|r| (*r).to_owned()).collect(),
        ));
        if let Some(w) = &n.withdrawal {
            b.push(Block::Paragraph(w.clone()));
        }
        b.push(Block::Subheading("f) Beschwerderecht".to_owned()));
        b.push(Block::Paragraph(n.complaint.clone()));
        b.push(Block::Subheading("g) Herkunft der Daten".to_owned()));
        b.push(Block::Paragraph(n.source.to_owned()));
        b.push(Block::Subheading(
            "h) Automatisierte Entscheidungsfindung".to_owned(),
        ));
        b.push(Block::Paragraph(n.automated_decisions.to_owned()));
        b.push(Block::Subheading(
            "Übermittlung in Drittländer (Art. 15 Abs. 2 DSGVO)".to_owned(),
        ));
        b.push(Block::Paragraph(self.third_countries.clone()));
        b.push(Block::Heading(
            "3. Ihre Daten in maschinenlesbarer Form (Art. 20 DSGVO)".to_owned(),
        ));
        b.push(Block::Paragraph(if self.has_data {
            format!(
                "Dieselben Daten erhalten Sie zusätzlich in einem strukturierten, gängigen und \
                 maschinenlesbaren Format: in der Datei daten.json (alle Daten) und als Tabellen \
                 im CSV-Format ({}). Sie können diese Dateien einem anderen Verantwortlichen \
                 übermitteln.",
                self.csv_files.join(", ")
            )
        } else {
            "Die Datei daten.json bestätigt in maschinenlesbarer Form, dass über Sie keine \
             Daten gespeichert sind."
                .to_owned()
        }));
        b.push(Block::Closing(vec![
            format!(
                "Bei Fragen zu dieser Auskunft wenden Sie sich bitte unter Angabe des \
                 Aktenzeichens {} an: {}.",
                self.file_reference, c.dpo
            ),
            "Mit freundlichen Grüßen".to_owned(),
            c.name.clone(),
        ]));
        b.push(Block::Small(crate::ops::letters::MACHINE_MADE.to_owned()));
        crate::pdf::Letter {
            title: TITLE.to_owned(),
            window: Some(Window {
                return_address: format!("{} · {}", c.name, c.address),
                lines: self.window.clone(),
            }),
            sender,
            fields: vec![
                ("Aktenzeichen".to_owned(), self.file_reference.clone()),
                ("Ihr Antrag vom".to_owned(), self.request_received.clone()),
                ("Datum".to_owned(), self.date.clone()),
            ],
            reference: self.file_reference.clone(),
            footer: c.name.clone(),
            blocks: b,
        }
    }
}

const TITLE: &str = "Auskunft über Ihre personenbezogenen Daten (Art. 15 DSGVO)";

fn role_de(role: &str) -> &'static str {
    match crate::domain::policy::RecipientRole::from_name(role) {
        Some(r) => r.describe_de(),
        None => "Empfänger",
    }
}

pub(super) fn hold_row(tz: Tz, h: &HoldRecord) -> Vec<(&'static str, String)> {
    vec![
        (
            "Betrifft",
            match &h.booking_reference {
                Some(r) => format!("Buchung {r}"),
                None => "Ihre Daten insgesamt".to_owned(),
            },
        ),
        ("Grund", h.reason.clone()),
        ("Bis", h.until_on.map_or_else(|| DASH.to_owned(), date_de)),
        ("Eingetragen am", local_instant_de(tz, h.created_at)),
        ("Aufgehoben am", opt_instant(tz, h.removed_at)),
    ]
}

pub(super) fn restriction_row(tz: Tz, r: &RestrictionRecord) -> Vec<(&'static str, String)> {
    vec![
        ("Grund", r.reason.clone()),
        ("Seit", local_instant_de(tz, r.created_at)),
        ("Aufgehoben am", opt_instant(tz, r.lifted_at)),
    ]
}

pub(super) fn disclosure_row(tz: Tz, r: &DisclosureRecord) -> Vec<(&'static str, String)> {
    vec![
        ("Empfänger", r.recipient.clone()),
        ("Rolle", role_de(&r.recipient_role).to_owned()),
        ("Daten", r.categories.replace(',', ", ")),
        (
            "Anlass",
            match r.kind.as_str() {
                "confirmation" => "Terminbestätigung an Sie".to_owned(),
                "office_copy" => "Kopie der Buchung an die Verwaltung".to_owned(),
                "sms_reminder" => "SMS-Erinnerung an Sie".to_owned(),
                "cancellation" => "Absage Ihres Termins".to_owned(),
                "reply" => "Antwort auf Ihre E-Mail".to_owned(),
                other => other.to_owned(),
            },
        ),
        ("Übermittelt am", local_instant_de(tz, r.disclosed_at)),
    ]
}

pub(super) const DASH: &str = "–";

pub(super) fn opt_instant(tz: Tz, at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| DASH.to_owned(), |t| local_instant_de(tz, t))
}

pub(super) fn text(value: &Option<String>) -> String {
    match value.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => v.to_owned(),
        _ => DASH.to_owned(),
    }
}

pub(super) fn booking_row(tz: Tz, b: &BookingRecord) -> Vec<(&'static str, String)> {
    vec![
        ("Buchungsnummer", b.reference.clone()),
        (
            "Dienstleistung",
            format!("{} ({})", b.service_name, b.service_code),
        ),
        (
            "Termin",
            format!(
                "{} bis {}",
                local_instant_de(tz, b.appointment_start),
                b.appointment_end.with_timezone(&tz).format("%H:%M Uhr")
            ),
        ),
        (
            "Status",
            match b.status.as_str() {
                "booked" => "gebucht".to_owned(),
                "cancelled" => "abgesagt".to_owned(),
                other => other.to_owned(),
            },
        ),
        ("Gebucht am", local_instant_de(tz, b.booked_at)),
        ("Abgesagt am", opt_instant(tz, b.cancelled_at)),
        ("Vorname", text(&b.first_name)),
        ("Nachname", text(&b.last_name)),
        ("E-Mail-Adresse", text(&b.email)),
        ("Telefon", text(&b.phone)),
        ("Anschrift", text(&b.address)),
        (
            "Geburtsdatum",
            b.birth_date.map_or_else(|| DASH.to_owned(), date_de),
        ),
    ]
}

pub(super) fn consent_row(
    tz: Tz,
    policy: &Policy,
    c: &ConsentRecord,
) -> Vec<(&'static str, String)> {
    let purpose = policy
        .purpose(&c.purpose)
        .map_or_else(|| c.purpose.clone(), |p| p.description.clone());
    let withdrawn = match (c.withdrawn_at, c.withdrawal_source.as_deref()) {
        (Some(at), Some(source)) => {
            format!(
                "{} ({})",
                local_instant_de(tz, at),
                withdrawal_source_de(source)
            )
        }
        (Some(at), None) => local_instant_de(tz, at),
        (None, _) => DASH.to_owned(),
    };
    vec![
        ("Zweck", purpose),
        ("Fassung des Textes", c.text_version.clone()),
        ("Erteilt am", local_instant_de(tz, c.given_at)),
        ("Widerrufen am", withdrawn),
        ("Buchungsnummer", text(&c.booking_reference)),
    ]
}

pub(super) fn notification_row(tz: Tz, n: &NotificationRecord) -> Vec<(&'static str, String)> {
    vec![
        ("Buchungsnummer", text(&n.booking_reference)),
        (
            "Art",
            match n.kind.as_str() {
                "confirmation" => "Terminbestätigung an Sie".to_owned(),
                "office_copy" => "Kopie der Buchung an die Verwaltung".to_owned(),
                "sms_reminder" => "SMS-Erinnerung an Sie".to_owned(),
                other => other.to_owned(),
            },
        ),
        (
            "Kanal",
            match n.channel.as_str() {
                "email" => "E-Mail".to_owned(),
                "sms" => "SMS".to_owned(),
                other => other.to_owned(),
            },
        ),
        ("Empfänger", text(&n.recipient)),
        ("Betreff", text(&n.subject)),
        ("Text", text(&n.body)),
        (
            "Status",
            match n.status.as_str() {
                "queued" => "noch nicht versandt".to_owned(),
                "claimed" => "wird gerade versandt".to_owned(),
                "sent" => "versandt".to_owned(),
                "failed" => "Versand fehlgeschlagen".to_owned(),
                "cancelled" => "nicht versandt (entfallen)".to_owned(),
                other => other.to_owned(),
            },
        ),
        ("Erstellt am", local_instant_de(tz, n.created_at)),
        ("Versand ab", opt_instant(tz, n.send_after)),
        ("Versandt am", opt_instant(tz, n.sent_at)),
    ]
}

pub(super) fn access_row(tz: Tz, a: &AccessRecord) -> Vec<(&'static str, String)> {
    let offset = a.utc_offset_minutes;
    vec![
        ("Buchungsnummer", text(&a.booking_reference)),
        ("Datum und Uhrzeit", local_instant_de(tz, a.logged_at)),
        (
            "Zeitzonendifferenz zu GMT",
            format!(
                "{}{:02}:{:02}",
                if offset < 0 { '-' } else { '+' },
                offset.abs() / 60,
                offset.abs() % 60
            ),
        ),
        ("IP-Adresse", a.ip.clone()),
        ("Anforderung", format!("{} {}", a.method, a.path)),
        ("HTTP-Status", a.status.to_string()),
        ("Übertragene Datenmenge", format!("{} Byte", a.bytes)),
        ("Referrer", text(&a.referrer)),
        ("Browser", text(&a.browser)),
        ("Browserversion", text(&a.browser_version)),
        ("Betriebssystem", text(&a.operating_system)),
        ("Sprache", text(&a.language)),
    ]
}

pub(super) fn request_row(tz: Tz, r: &Request) -> Vec<(&'static str, String)> {
    let due = match (&r.extended_due_on, &r.extension_reason) {
        (Some(x), Some(reason)) => format!("{} (verlängert: {reason})", date_de(*x)),
        (Some(x), None) => format!("{} (verlängert)", date_de(*x)),
        _ => date_de(r.due_on),
    };
    vec![
        ("Nr.", r.id.to_string()),
        ("Art", r.kind.german().to_owned()),
        ("Eingegangen", local_date_de(tz, r.received_at)),
        ("Eingangsweg", r.channel.german().to_owned()),
        ("Frist", due),
        (
            "Stand",
            match (r.status, r.outcome) {
                (RequestStatus::Open, _) => r.status.german().to_owned(),
                (_, Some(o)) => o.german().to_owned(),
                (s, None) => s.german().to_owned(),
            },
        ),
        ("Erledigt am", opt_instant(tz, r.closed_at)),
    ]
}

pub(super) fn inbox_row(tz: Tz, m: &InboxRecord) -> Vec<(&'static str, String)> {
    vec![
        ("Absender", text(&m.sender)),
        ("Betreff", text(&m.subject)),
        ("Eingegangen", opt_instant(tz, m.received_at)),
        ("Bearbeitet", local_instant_de(tz, m.processed_at)),
        ("Ergebnis", m.outcome.german().to_owned()),
        ("Kennung", m.message_key.clone()),
    ]
}

pub(super) fn reply_row(tz: Tz, r: &ReplyRecord) -> Vec<(&'static str, String)> {
    vec![
        ("Erstellt", local_instant_de(tz, r.created_at)),
        ("Datei", r.file_name.clone()),
        ("Text", r.eml.clone()),
    ]
}

/// How a consent's withdrawal reached the office: a channel of the register, or the
/// erasure that ended it.
fn withdrawal_source_de(source: &str) -> &str {
    match source.parse::<Channel>() {
        Ok(channel) => channel.german(),
        Err(_) if source == "erasure" => "mit der Löschung Ihrer Daten",
        Err(_) => source,
    }
}
