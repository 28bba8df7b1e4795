//! The policy model: what a validated policy file says (tenant, purposes, recipients,
//! retention rules) and its German wording.

use std::fmt;

use serde::Serialize;

use crate::domain::duration::RetentionPeriod;

/// Personal-data categories a purpose may list. The names are shared with the store,
/// the booking form and the Auskunft letter.
pub const DATA_CATEGORIES: &[&str] = &[
    "name",
    "first_name",
    "last_name",
    "email",
    "phone",
    "address",
    "birth_date",
    "service",
    "slot",
    "booking_code",
    "consent",
    "ip_address",
    "request_time",
    "utc_offset",
    "requested_path",
    "http_status",
    "bytes_transferred",
    "referrer",
    "browser",
    "operating_system",
    "language",
    "browser_version",
    "message",
];

/// German states, as the holiday calendar knows them.
pub use crate::domain::holidays::{LocalHoliday, REGIONS};
pub use crate::domain::office_days::ClosedDay;

/// The purpose the booking endpoint relies on; every tenant must have it. It lives here, not
/// in `booking`, because the checker requires it and `booking` already depends on the policy.
pub const BOOKING_PURPOSE: &str = "booking";

/// One problem in a policy file, reported as `file:line: field: problem`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyError {
    pub file: String,
    /// 1-based.
    pub line: usize,
    pub field: String,
    pub problem: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.field, self.problem
        )
    }
}

impl std::error::Error for PolicyError {}

/// A validated policy: everything the program needs to know about one tenant.
#[derive(Debug, Clone, Serialize)]
pub struct Policy {
    pub file: String,
    pub tenant: TenantInfo,
    pub purposes: Vec<Purpose>,
    pub recipients: Vec<Recipient>,
    pub retention: Vec<RetentionRule>,
    /// Whose authentication results count, and how long a confirmation code is valid.
    pub identity: IdentityPolicy,
    /// Where things are in the file, so `check_set` can point at the right line.
    #[serde(skip)]
    pub lines: SourceLines,
}

/// The `[identity]` table: identity before anything destructive (Art. 12(6) DSGVO).
#[derive(Debug, Clone, Serialize)]
pub struct IdentityPolicy {
    /// The authserv-ids (RFC 8601) of the office's own receiving servers, lower case:
    /// only their `Authentication-Results` headers count; empty = no mail is taken as
    /// proven, every request by mail is confirmed first.
    pub trusted_authserv_ids: Vec<String>,
    /// How long a confirmation code stays valid.
    pub confirmation_valid_for: RetentionPeriod,
}

impl Default for IdentityPolicy {
    fn default() -> Self {
        Self {
            trusted_authserv_ids: Vec::new(),
            confirmation_valid_for: "14d".parse().expect("a valid duration"),
        }
    }
}

/// Line numbers of the values that cross-file checks report on (0 = unknown).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceLines {
    pub slug: usize,
    /// Parallel to `TenantInfo::withdrawal_addresses`.
    pub withdrawal_addresses: Vec<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TenantInfo {
    pub slug: String,
    pub name: String,
    pub address: String,
    pub email: String,
    pub phone: Option<String>,
    pub website: Option<String>,
    pub representative: Option<String>,
    pub dpo: String,
    pub region: String,
    pub timezone: String,
    pub withdrawal_addresses: Vec<String>,
    pub supervisory_authority: String,
    /// Holidays of part of the state that hold at the tenant's seat: they move deadlines
    /// and get no slots.
    pub local_holidays: Vec<LocalHoliday>,
    /// Days the office is closed although no holiday: no slots, deadlines unchanged.
    pub closed_days: Vec<ClosedDay>,
}

impl TenantInfo {
    /// The tenant's time zone; `parse_policy` has checked the name.
    pub fn zone(&self) -> chrono_tz::Tz {
        self.timezone
            .parse()
            .expect("timezone validated by parse_policy")
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Purpose {
    pub id: String,
    pub description: String,
    pub legal_basis: LegalBasis,
    /// The exact norm as the controller cites it, e.g. "Art. 6 Abs. 1 S. 1 lit. b DSGVO".
    pub legal_basis_ref: Option<String>,
    pub categories: Vec<String>,
    pub consent: Option<ConsentText>,
}

impl Purpose {
    /// The citation to print: the controller's own if given, else the plain GDPR article.
    pub fn legal_basis_citation(&self) -> &str {
        self.legal_basis_ref
            .as_deref()
            .unwrap_or_else(|| self.legal_basis.article())
    }
}

/// The wording a person agrees to; the version is stored with every consent given.
#[derive(Debug, Clone, Serialize)]
pub struct ConsentText {
    pub version: String,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LegalBasis {
    Consent,
    Contract,
    LegalObligation,
    PublicTask,
    LegitimateInterest,
}

impl LegalBasis {
    pub const ALL: &'static [LegalBasis] = &[
        LegalBasis::Consent,
        LegalBasis::Contract,
        LegalBasis::LegalObligation,
        LegalBasis::PublicTask,
        LegalBasis::LegitimateInterest,
    ];

    pub fn from_name(name: &str) -> Option<LegalBasis> {
        Self::ALL.iter().copied().find(|b| b.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LegalBasis::Consent => "consent",
            LegalBasis::Contract => "contract",
            LegalBasis::LegalObligation => "legal_obligation",
            LegalBasis::PublicTask => "public_task",
            LegalBasis::LegitimateInterest => "legitimate_interest",
        }
    }

    pub fn article(self) -> &'static str {
        match self {
            LegalBasis::Consent => "Art. 6 Abs. 1 lit. a DSGVO",
            LegalBasis::Contract => "Art. 6 Abs. 1 lit. b DSGVO",
            LegalBasis::LegalObligation => "Art. 6 Abs. 1 lit. c DSGVO",
            LegalBasis::PublicTask => "Art. 6 Abs. 1 lit. e DSGVO",
            LegalBasis::LegitimateInterest => "Art. 6 Abs. 1 lit. f DSGVO",
        }
    }

    pub fn describe_de(self) -> &'static str {
        match self {
            LegalBasis::Consent => "Einwilligung",
            LegalBasis::Contract => "Erfüllung eines Vertrags oder vorvertragliche Maßnahmen",
            LegalBasis::LegalObligation => "Erfüllung einer rechtlichen Verpflichtung",
            LegalBasis::PublicTask => "Wahrnehmung einer Aufgabe im öffentlichen Interesse",
            LegalBasis::LegitimateInterest => "Wahrung berechtigter Interessen",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Recipient {
    pub name: String,
    pub role: RecipientRole,
    /// Free text: what the recipient does with the data.
    pub purpose: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientRole {
    Processor,
    Internal,
    ThirdParty,
}

impl RecipientRole {
    pub const ALL: &'static [RecipientRole] = &[
        RecipientRole::Processor,
        RecipientRole::Internal,
        RecipientRole::ThirdParty,
    ];

    pub fn from_name(name: &str) -> Option<RecipientRole> {
        Self::ALL.iter().copied().find(|r| r.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecipientRole::Processor => "processor",
            RecipientRole::Internal => "internal",
            RecipientRole::ThirdParty => "third_party",
        }
    }

    pub fn describe_de(self) -> &'static str {
        match self {
            RecipientRole::Processor => "Auftragsverarbeiter (Art. 28 DSGVO)",
            RecipientRole::Internal => "Stelle innerhalb der Verwaltung",
            RecipientRole::ThirdParty => "Dritter (eigener Verantwortlicher)",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RetentionRule {
    pub data: RetainedData,
    pub after: RetentionPeriod,
    /// One of `data.reference_times()`.
    pub since: String,
    pub action: RetentionAction,
    /// Why this period was chosen; shown to the DPO, not to citizens.
    pub note: Option<String>,
}

impl RetentionRule {
    /// One German sentence for the storage-period section of the Auskunft letter, e.g.
    /// "Buchungen werden 48 Stunden nach dem Ende des Termins anonymisiert."
    pub fn describe_de(&self) -> String {
        let subject = capitalize(self.data.describe_de());
        let reference = reference_time_de(&self.since);
        let done = match self.action {
            RetentionAction::Anonymize => "anonymisiert",
            RetentionAction::Delete => "gelöscht",
        };
        format!(
            "{subject} werden {} nach {reference} {done}.",
            self.after.describe_de()
        )
    }
}

/// Dative phrase for "nach …"; possessives are plural because every subject is.
fn reference_time_de(since: &str) -> String {
    match since {
        "appointment_end" => "dem Ende des Termins",
        "appointment_start" => "dem Beginn des Termins",
        "booked_at" => "der Buchung",
        "cancelled_at" => "ihrer Stornierung",
        "withdrawn_at" => "ihrem Widerruf",
        "given_at" => "ihrer Erteilung",
        "created_at" => "ihrer Erstellung",
        "sent_at" => "ihrem Versand",
        "logged_at" => "dem Zugriff",
        "received_at" => "ihrem Eingang",
        "processed_at" => "ihrer Bearbeitung",
        "closed_at" => "ihrem Abschluss",
        other => return format!("dem Zeitpunkt „{other}“"),
    }
    .to_string()
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The kinds of stored rows a retention rule can treat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetainedData {
    Bookings,
    Consents,
    Notifications,
    AccessLog,
    Inbox,
    Requests,
}

impl RetainedData {
    pub const ALL: &'static [RetainedData] = &[
        RetainedData::Bookings,
        RetainedData::Consents,
        RetainedData::Notifications,
        RetainedData::AccessLog,
        RetainedData::Inbox,
        RetainedData::Requests,
    ];

    pub fn from_name(name: &str) -> Option<RetainedData> {
        Self::ALL.iter().copied().find(|d| d.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RetainedData::Bookings => "bookings",
            RetainedData::Consents => "consents",
            RetainedData::Notifications => "notifications",
            RetainedData::AccessLog => "access_log",
            RetainedData::Inbox => "inbox",
            RetainedData::Requests => "requests",
        }
    }

    /// The timestamp columns the store offers for this data as `since`.
    pub fn reference_times(self) -> &'static [&'static str] {
        match self {
            RetainedData::Bookings => &[
                "appointment_end",
                "appointment_start",
                "booked_at",
                "cancelled_at",
            ],
            RetainedData::Consents => &["withdrawn_at", "given_at"],
            RetainedData::Notifications => &["created_at", "sent_at"],
            RetainedData::AccessLog => &["logged_at"],
            RetainedData::Inbox => &["received_at", "processed_at"],
            RetainedData::Requests => &["closed_at"],
        }
    }

    /// Consents and notifications cannot be anonymized meaningfully: without the person
    /// a consent proves nothing and a message is just its text.
    pub fn actions(self) -> &'static [RetentionAction] {
        const BOTH: &[RetentionAction] = &[RetentionAction::Anonymize, RetentionAction::Delete];
        const DELETE_ONLY: &[RetentionAction] = &[RetentionAction::Delete];
        match self {
            RetainedData::Consents | RetainedData::Notifications => DELETE_ONLY,
            RetainedData::Bookings
            | RetainedData::AccessLog
            | RetainedData::Inbox
            | RetainedData::Requests => BOTH,
        }
    }

    /// Plural noun phrase as it stands inside a German sentence.
    pub fn describe_de(self) -> &'static str {
        match self {
            RetainedData::Bookings => "Buchungen",
            RetainedData::Consents => "Einwilligungen",
            RetainedData::Notifications => "Benachrichtigungen",
            RetainedData::AccessLog => "Einträge im Zugriffsprotokoll",
            RetainedData::Inbox => "eingegangene E-Mails",
            RetainedData::Requests => "Anträge betroffener Personen",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetentionAction {
    Anonymize,
    Delete,
}

impl RetentionAction {
    pub const ALL: &'static [RetentionAction] =
        &[RetentionAction::Anonymize, RetentionAction::Delete];

    pub fn from_name(name: &str) -> Option<RetentionAction> {
        Self::ALL.iter().copied().find(|a| a.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RetentionAction::Anonymize => "anonymize",
            RetentionAction::Delete => "delete",
        }
    }

    pub fn describe_de(self) -> &'static str {
        match self {
            RetentionAction::Anonymize => "Anonymisierung",
            RetentionAction::Delete => "Löschung",
        }
    }
}

impl Policy {
    pub fn purpose(&self, id: &str) -> Option<&Purpose> {
        self.purposes.iter().find(|p| p.id == id)
    }

    /// `parse_policy` refuses files without a "booking" purpose, so this only panics on
    /// a hand-built `Policy` that skipped validation.
    pub fn booking_purpose(&self) -> &Purpose {
        self.purpose(BOOKING_PURPOSE)
            .expect("a validated policy always has a \"booking\" purpose")
    }

    pub fn retention_for(&self, data: RetainedData) -> Option<&RetentionRule> {
        self.retention.iter().find(|r| r.data == data)
    }
}
