//! Queued notifications as e-mails: sender from the tenant's policy, the text the booking
//! stored, and for a confirmation a cancel link, an HTML alternative and the calendar
//! entry (`termin.ics`).
//!
//! The booking path already wrote the German text (greeting, service, local time,
//! reference, office name and address) into the notification; it is sent as it is, with
//! the cancel link added, rather than rendered a second time.

use super::ics::{CalendarEntry, calendar};
use crate::domain::policy::TenantInfo;
use crate::domain::time::appointment_de;
use crate::store::Outgoing;
use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::address::{Address, Envelope};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};

/// Why a message could not be built; nothing was sent.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("the recipient is not a usable address")]
    Recipient,
    #[error("the tenant's sender address (tenant.email in its policy) is not usable")]
    Sender,
    #[error("the message has no text")]
    NoBody,
    #[error("the message cannot be built: {0}")]
    Build(String),
}

/// A message ready for the SMTP server.
pub struct Composed {
    pub envelope: Envelope,
    pub bytes: Vec<u8>,
}

/// The domain of the tenant's sender address, which ends Message-IDs and calendar UIDs.
pub fn sender_domain(tenant: &TenantInfo) -> Option<String> {
    let address: Address = tenant.email.parse().ok()?;
    Some(address.domain().to_ascii_lowercase())
}

/// The citizen's page for cancelling a booking: under `public_url` when there is one,
/// else the path alone.
pub fn cancel_link(public_url: Option<&str>, tenant: &str, reference: &str) -> String {
    let base = public_url.unwrap_or("").trim_end_matches('/');
    format!("{base}/t/{tenant}/absagen?buchung={reference}")
}

/// Builds the e-mail for one claimed notification, dated `now`.
pub fn compose(
    n: &Outgoing,
    tenant: &TenantInfo,
    public_url: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Composed, ComposeError> {
    let from_address: Address = tenant.email.parse().map_err(|_| ComposeError::Sender)?;
    let to_address: Address = n
        .recipient
        .as_deref()
        .ok_or(ComposeError::Recipient)?
        .trim()
        .parse()
        .map_err(|_| ComposeError::Recipient)?;
    let body = n.body.as_deref().ok_or(ComposeError::NoBody)?;
    let envelope = Envelope::new(Some(from_address.clone()), vec![to_address.clone()])
        .map_err(|e| ComposeError::Build(e.to_string()))?;
    let builder = Message::builder()
        .from(Mailbox::new(Some(tenant.name.clone()), from_address))
        .to(Mailbox::new(None, to_address))
        .subject(n.subject.clone().unwrap_or_default())
        .message_id(Some(n.message_id.clone()))
        .date(now.into())
        .envelope(envelope.clone());
    let confirmation = match &n.appointment {
        Some(a) if n.kind == "confirmation" && !a.cancelled => Some(a),
        _ => None,
    };
    let message = match confirmation {
        None => builder.singlepart(SinglePart::plain(body.to_owned())),
        Some(a) => {
            let link = cancel_link(public_url, &tenant.slug, &a.reference);
            let text = format!("{}\n\nTermin absagen: {link}\n", body.trim_end());
            let html = html_of(body, &link);
            let domain = sender_domain(tenant).ok_or(ComposeError::Sender)?;
            let description = format!(
                "{} bei {}\n{}\nBuchungsnummer: {}\nAbsagen: {link}",
                a.service_name,
                tenant.name,
                appointment_de(tenant.zone(), a.starts_at),
                a.reference
            );
            let ics = calendar(&CalendarEntry {
                reference: &a.reference,
                domain: &domain,
                starts_at: a.starts_at,
                ends_at: a.ends_at,
                summary: &format!("{} – {}", a.service_name, tenant.name),
                location: &format!("{}, {}", tenant.name, tenant.address),
                description: &description,
                stamp: now,
            });
            let calendar_type = ContentType::parse("text/calendar; charset=utf-8; method=PUBLISH")
                .expect("a valid content type");
            builder.multipart(
                MultiPart::mixed()
                    .multipart(MultiPart::alternative_plain_html(text, html))
                    .singlepart(Attachment::new("termin.ics".to_owned()).body(ics, calendar_type)),
            )
        }
    }
    .map_err(|e| ComposeError::Build(e.to_string()))?;
    Ok(Composed {
        envelope,
        bytes: message.formatted(),
    })
}

/// The stored text as HTML: its paragraphs, lines kept, the cancel link as a link.
fn html_of(body: &str, link: &str) -> String {
    let mut html = String::from(
        "<!DOCTYPE html>\n<html lang=\"de\"><head><meta charset=\"utf-8\"></head>\n<body style=\"font-family: sans-serif\">\n",
    );
    for paragraph in body.trim().split("\n\n") {
        let lines: Vec<String> = paragraph.lines().map(|l| escape(l.trim())).collect();
        html.push_str("<p>");
        html.push_str(&lines.join("<br>\n"));
        html.push_str("</p>\n");
    }
    html.push_str(&format!(
        "<p><a href=\"{0}\">Termin absagen</a></p>\n</body></html>\n",
        escape(link)
    ));
    html
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Appointment;
    use chrono::TimeZone;

    fn tenant() -> TenantInfo {
        TenantInfo {
            kind: crate::domain::policy::TenantKind::PublicAuthority,
            slug: "oer-erkenschwick".into(),
            name: "Stadt Oer-Erkenschwick".into(),
            address: "Rathausplatz 1, 45739 Oer-Erkenschwick".into(),
            email: "rathaus@oer-erkenschwick.de".into(),
            phone: None,
            website: None,
            representative: None,
            dpo: "DSB".into(),
            region: "DE-NW".into(),
            timezone: "Europe/Berlin".into(),
            withdrawal_addresses: vec![],
            supervisory_authority: "LDI NRW".into(),
            local_holidays: vec![],
            closed_days: vec![],
            third_countries: None,
            case_officer: None,
            file_reference_prefix: None,
        }
    }

    fn confirmation() -> Outgoing {
        Outgoing {
            id: 7,
            tenant: "oer-erkenschwick".into(),
            kind: "confirmation".into(),
            recipient: Some("anna.schmidt@example.com".into()),
            subject: Some("Terminbestätigung: Personalausweis".into()),
            body: Some("Guten Tag Anna <Schmidt>,\n\nIhr Termin ist gebucht.\n".into()),
            message_id: "<abc@oer-erkenschwick.de>".into(),
            attempts: 1,
            appointment: Some(Appointment {
                reference: "K7QM-4XRT-P2".into(),
                starts_at: Utc.with_ymd_and_hms(2026, 11, 30, 7, 20, 0).unwrap(),
                ends_at: Utc.with_ymd_and_hms(2026, 11, 30, 7, 40, 0).unwrap(),
                service_name: "Personalausweis".into(),
                cancelled: false,
            }),
        }
    }

    #[test]
    fn a_confirmation_has_text_html_and_a_calendar_entry() {
        let now = Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap();
        let m = compose(
            &confirmation(),
            &tenant(),
            Some("https://termine.example.de/"),
            now,
        )
        .unwrap();
        let text = String::from_utf8(m.bytes).unwrap();
        assert!(
            text.contains("Message-ID: <abc@oer-erkenschwick.de>"),
            "{text}"
        );
        assert!(text.contains("multipart/alternative"), "{text}");
        assert!(text.contains("text/calendar"), "{text}");
        assert!(text.contains("Subject: =?utf-8?"), "{text}");
        assert!(text.contains("&lt;Schmidt&gt;"), "{text}");
        assert_eq!(
            m.envelope.from().map(|a| a.to_string()).as_deref(),
            Some("rathaus@oer-erkenschwick.de")
        );
    }

    #[test]
    fn an_unusable_recipient_is_refused_before_sending() {
        let mut n = confirmation();
        n.recipient = Some("not an address".into());
        assert!(matches!(
            compose(&n, &tenant(), None, Utc::now()),
            Err(ComposeError::Recipient)
        ));
    }

    #[test]
    fn the_cancel_link_is_the_path_without_a_public_url() {
        assert_eq!(
            cancel_link(None, "westendorf", "AB-CD"),
            "/t/westendorf/absagen?buchung=AB-CD"
        );
        assert_eq!(
            cancel_link(Some("https://x.example/"), "westendorf", "AB-CD"),
            "https://x.example/t/westendorf/absagen?buchung=AB-CD"
        );
    }
}
