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
    /// The technical and organisational measures (Art. 32, 30(1)(g)): the file's
    /// `[[measure]]` blocks, or [`default_measures`] when it lists none.
    pub measures: Vec<Measure>,
    /// Values the file marks with `confirm = [...]`: assumptions the office has not yet
    /// confirmed. `policy check` warns about them; `--strict` fails on them.
    pub unconfirmed: Vec<Unconfirmed>,
    /// Whose authentication results count, and how long a confirmation code is valid.
    pub identity: IdentityPolicy,
    /// What the citizen pages link to and say beyond the record of processing.
    pub site: SiteInfo,
    /// Where things are in the file, so `check_set` can point at the right line.
    #[serde(skip)]
    pub lines: SourceLines,
}

/// One value (or whole entry) of a policy that the office still has to confirm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unconfirmed {
    /// `tenant.dpo`, `purpose[sms_reminder]` (the whole entry), `retention[consents].after` …
    pub field: String,
    /// 1-based line of the `confirm` entry that names it.
    pub line: usize,
}

impl Policy {
    /// Whether the office has confirmed `field` (e.g. `tenant.dpo`): true unless the file
    /// lists it under `confirm`.
    pub fn confirmed(&self, field: &str) -> bool {
        !self.unconfirmed.iter().any(|u| u.field == field)
    }

    /// The kinds of data this tenant stores for which the policy has no retention rule:
    /// the notice can name no period for them and nothing deletes them. Consents (and their
    /// proofs) are stored only where some purpose asks for consent.
    pub fn kinds_without_rule(&self) -> Vec<RetainedData> {
        let asks_consent = self.purposes.iter().any(|p| p.consent.is_some());
        RetainedData::ALL
            .iter()
            .copied()
            .filter(|d| {
                !matches!(d, RetainedData::Consents | RetainedData::ConsentProofs) || asks_consent
            })
            .filter(|d| self.retention_for(*d).is_none())
            .collect()
    }

    /// What a legal review would flag but the program can run with: see `review.rs`.
    pub fn warnings(&self) -> Vec<PolicyError> {
        self.warnings_on(chrono::Utc::now().date_naive())
    }

    /// The warnings as of `today` (the processors-register review is due after 12 months).
    pub fn warnings_on(&self, today: chrono::NaiveDate) -> Vec<PolicyError> {
        super::review::warnings(self, today)
    }
}

/// "bei der Stadt Recklinghausen", "beim Amt Süderbrarup", "bei Muster GmbH": the
/// preposition with the article the name's first word wants in the dative, for "Ihr Termin
/// bei …".
pub fn bei_de(name: &str) -> String {
    const FEMININE: &[&str] = &[
        "Stadt",
        "Gemeinde",
        "Verwaltungsgemeinschaft",
        "Verbandsgemeinde",
        "Samtgemeinde",
        "Kreisstadt",
        "Hansestadt",
        "Landeshauptstadt",
        "Stadtverwaltung",
        "Gemeindeverwaltung",
        "Kreisverwaltung",
        "Verwaltung",
    ];
    const MASCULINE_OR_NEUTER: &[&str] = &[
        "Amt",
        "Landratsamt",
        "Bürgeramt",
        "Bürgerbüro",
        "Bezirksamt",
        "Markt",
        "Landkreis",
        "Kreis",
        "Zweckverband",
    ];
    let first = name.split_whitespace().next().unwrap_or("");
    if FEMININE.contains(&first) {
        format!("bei der {name}")
    } else if MASCULINE_OR_NEUTER.contains(&first) {
        format!("beim {name}")
    } else {
        format!("bei {name}")
    }
}

impl TenantInfo {
    /// "bei der Stadt Recklinghausen" (see [`bei_de`]).
    pub fn bei(&self) -> String {
        bei_de(&self.name)
    }
}

/// The `[site]` table: the links every citizen page carries in its footer (the imprint
/// and the accessibility statement that BITV 2.0 requires are the tenant's own pages) and
/// what the booking confirmation tells the citizen.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SiteInfo {
    /// The tenant's Impressum (a URL).
    pub imprint: Option<String>,
    /// The tenant's Barrierefreiheitserklärung (a URL).
    pub accessibility: Option<String>,
    /// When the office can be reached, e.g. "Mo–Fr 8–12 Uhr", shown with the phone number.
    pub opening_hours: Option<String>,
    /// What to bring to the appointment, by service code.
    pub bring: std::collections::BTreeMap<String, String>,
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
    /// Parallel to `Policy::purposes`.
    pub purposes: Vec<usize>,
    /// Parallel to `Policy::recipients`.
    pub recipients: Vec<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TenantInfo {
    pub slug: String,
    pub name: String,
    /// Public authority (the default: a city, a municipal association) or not; decides
    /// whether legitimate interest (Art. 6(1)(f)) is available at all.
    pub kind: TenantKind,
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
    /// Art. 15(2), 13(1)(f): `none` (or left out) when no data go to a third country or an
    /// international organisation; otherwise the transfer and its safeguards, in German.
    pub third_countries: Option<String>,
    /// Who signs the letters of Art. 12 (a name or a function, e.g. "Frau Beispiel,
    /// Datenschutzbeauftragte"); the letters are signed with the tenant's name when absent.
    pub case_officer: Option<String>,
    /// Put before a request's number to make the Aktenzeichen of its letters
    /// (e.g. "DS-RE" gives "DS-RE-12"); "DS" when absent.
    pub file_reference_prefix: Option<String>,
}

impl TenantInfo {
    /// The tenant's time zone; `parse_policy` has checked the name.
    pub fn zone(&self) -> chrono_tz::Tz {
        self.timezone
            .parse()
            .expect("timezone validated by parse_policy")
    }

    /// The Aktenzeichen of a request's letters: the policy's prefix and the register id.
    pub fn file_reference(&self, request_id: i64) -> String {
        let prefix = self.file_reference_prefix.as_deref().unwrap_or("DS");
        format!("{prefix}-{request_id}")
    }
}

/// Art. 6(1) subpara. 2 DSGVO: a public authority performing its tasks cannot rely on
/// legitimate interest; it needs a task in law (lit. e) instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantKind {
    PublicAuthority,
    Private,
}

impl TenantKind {
    pub const ALL: &'static [TenantKind] = &[TenantKind::PublicAuthority, TenantKind::Private];

    pub fn from_name(name: &str) -> Option<TenantKind> {
        Self::ALL.iter().copied().find(|k| k.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TenantKind::PublicAuthority => "public_authority",
            TenantKind::Private => "private",
        }
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
    /// The legitimate interests pursued (Art. 13(1)(d)); required for legitimate interest.
    pub legitimate_interests: Option<String>,
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
    /// Ids of the purposes whose data this recipient receives; empty = every purpose
    /// (the old form, which the checker warns about).
    pub purposes: Vec<String>,
    /// What the service hands to this recipient; each handover is recorded as a
    /// disclosure of the person's data to it (Art. 15(1)(c), Art. 19).
    pub receives: Vec<Handover>,
    /// Processors register (Art. 28, role processor only): when the contract was signed.
    pub contract_date: Option<chrono::NaiveDate>,
    /// The processor's own sub-processors (Art. 28(2), (4)).
    pub sub_processors: Vec<String>,
    /// Where it processes the data, e.g. "Rechenzentrum in Frankfurt am Main".
    pub location: Option<String>,
    /// When the office last reviewed the processor (Art. 28(3)(h)).
    pub last_review: Option<chrono::NaiveDate>,
}

/// One technical or organisational measure of Art. 32 DSGVO, in German.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Measure {
    pub title: String,
    pub description: String,
    /// True for the measures datenwart itself takes, used when a policy lists none.
    pub default: bool,
}

/// What datenwart itself does (Art. 32): the record lists these when a policy has no
/// `[[measure]]` of its own.
pub fn default_measures() -> Vec<Measure> {
    const DEFAULTS: &[(&str, &str)] = &[
        (
            "Zugriffsschutz der Dateien",
            "Die Datenbankdatei, das Löschprotokoll und alle Ausgaben mit personenbezogenen Daten \
             (Auskünfte, Exporte) werden nur für das Dienstkonto lesbar angelegt (Dateirechte 0600).",
        ),
        (
            "Sicheres Löschen",
            "SQLite läuft mit secure_delete: gelöschte Inhalte werden in der Datei überschrieben \
             und bleiben nicht in freien Seiten zurück.",
        ),
        (
            "Transportverschlüsselung",
            "Verbindungen zur PostgreSQL-Datenbank und zum Mailserver (SMTP) werden mit TLS \
             verschlüsselt.",
        ),
        (
            "Prüfprotokoll mit Hash-Kette",
            "Jede Änderung an personenbezogenen Daten wird in derselben Transaktion im \
             Prüfprotokoll vermerkt; jeder Eintrag enthält den Hash des vorigen, sodass \
             nachträgliche Änderungen erkannt werden.",
        ),
        (
            "Pseudonymisierte Verweise",
            "Prüfprotokoll, Protokolle und Übersichten nennen Personen nur über Pseudonyme, nie \
             mit Name, E-Mail-Adresse, Telefonnummer oder IP-Adresse.",
        ),
        (
            "Löschprotokoll",
            "Löschungen nach Art. 17 DSGVO werden in einer eigenen Datei festgehalten, damit sie \
             nach einer Wiederherstellung aus einer Sicherung erneut ausgeführt werden.",
        ),
        (
            "Begrenzte Speicherung des Zugriffsprotokolls",
            "Einträge im Zugriffsprotokoll werden nach der in den Löschfristen genannten Frist \
             automatisch anonymisiert oder gelöscht.",
        ),
    ];
    DEFAULTS
        .iter()
        .map(|(title, description)| Measure {
            title: (*title).to_owned(),
            description: (*description).to_owned(),
            default: true,
        })
        .collect()
}

/// One processing activity of the record (Art. 30(1)(b)–(f)): a purpose of the policy, or
/// one of the registers datenwart keeps on its own (requests, mailbox, audit trail).
#[derive(Debug, Clone, Serialize)]
pub struct Activity {
    pub id: String,
    pub description: String,
    pub legal_basis: String,
    pub data_subjects: Vec<&'static str>,
    /// Category ids; the German names are `notice::category_de`.
    pub categories: Vec<String>,
    /// Names of the recipients of this activity only.
    pub recipients: Vec<String>,
    /// The retention sentences (`RetentionRule::describe_de`) of the data it stores.
    pub periods: Vec<String>,
}

/// Data subjects in German (Art. 30(1)(c)).
pub const SUBJECTS_BOOKING: &str = "Buchende";
pub const SUBJECTS_VISITORS: &str = "Besucherinnen und Besucher der Webseite";
pub const SUBJECTS_MAIL: &str = "Absender von E-Mails an das Postfach";
pub const SUBJECTS_REQUESTS: &str = "Personen mit Anträgen";

/// Categories that identify a person who booked (rather than a visitor of the site).
const BOOKING_CATEGORIES: &[&str] = &[
    "name",
    "first_name",
    "last_name",
    "email",
    "phone",
    "address",
    "birth_date",
    "booking_code",
];
/// Categories of a web server's access log.
const VISITOR_CATEGORIES: &[&str] = &[
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
];

impl Recipient {
    /// Whether this recipient receives the data of purpose `id`.
    pub fn serves(&self, id: &str) -> bool {
        self.purposes.is_empty() || self.purposes.iter().any(|p| p == id)
    }

    /// The name without its address: "LOX24 GmbH" of "LOX24 GmbH, Seestraße 109, …".
    pub fn short_name(&self) -> &str {
        short_name(&self.name)
    }
}

/// A recipient's name without its address: "LOX24 GmbH" of "LOX24 GmbH, Seestraße 109, …".
pub fn short_name(name: &str) -> &str {
    name.split(',').next().unwrap_or(name).trim()
}

/// What the service hands to a recipient (`recipient.receives` in the policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Handover {
    /// Every e-mail the service sends (its mail server relays it).
    Email,
    /// Every SMS (the SMS provider).
    Sms,
    /// The copy of each booking to the office.
    OfficeCopy,
}

impl Handover {
    pub const ALL: &'static [Handover] = &[Handover::Email, Handover::Sms, Handover::OfficeCopy];

    pub fn from_name(name: &str) -> Option<Handover> {
        Self::ALL.iter().copied().find(|h| h.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Handover::Email => "email",
            Handover::Sms => "sms",
            Handover::OfficeCopy => "office_copy",
        }
    }
}

/// The text `third_countries = "none"` stands for.
pub const NO_THIRD_COUNTRY: &str = "Ihre Daten werden nicht an Empfänger in Drittländern (außerhalb der Europäischen Union und des Europäischen Wirtschaftsraums) oder an internationale Organisationen übermittelt.";

impl TenantInfo {
    /// Art. 15(2): the third-country position in German, from `third_countries`.
    pub fn third_countries_de(&self) -> String {
        match self.third_countries.as_deref().map(str::trim) {
            None | Some("none") => NO_THIRD_COUNTRY.to_owned(),
            Some(text) => text.to_owned(),
        }
    }
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
        "anonymized_at" => "ihrer Anonymisierung",
        "at" => "ihrer Aufzeichnung",
        "erased_at" => "der Löschung",
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
    /// Consents reduced to their proof (text hash, version, times) when their booking was
    /// anonymized or the person erased: no person, no booking.
    ConsentProofs,
    /// The pseudonyms in the audit trail (entries that commit to theirs, see
    /// `domain::audit`); the entries themselves stay.
    AuditSubjects,
    /// The lines of the erasure ledger file (not a table: see `store::ledger`).
    ErasureLedger,
}

impl RetainedData {
    pub const ALL: &'static [RetainedData] = &[
        RetainedData::Bookings,
        RetainedData::Consents,
        RetainedData::ConsentProofs,
        RetainedData::Notifications,
        RetainedData::AccessLog,
        RetainedData::Inbox,
        RetainedData::Requests,
        RetainedData::AuditSubjects,
        RetainedData::ErasureLedger,
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
            RetainedData::ConsentProofs => "consent_proofs",
            RetainedData::AuditSubjects => "audit_subjects",
            RetainedData::ErasureLedger => "erasure_ledger",
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
            RetainedData::ConsentProofs => &["anonymized_at", "given_at", "withdrawn_at"],
            RetainedData::AuditSubjects => &["at"],
            RetainedData::ErasureLedger => &["erased_at"],
            RetainedData::Notifications => &["created_at", "sent_at"],
            RetainedData::AccessLog => &["logged_at"],
            RetainedData::Inbox => &["received_at", "processed_at"],
            RetainedData::Requests => &["closed_at"],
        }
    }

    /// Consents and notifications cannot be anonymized meaningfully: without the person
    /// a consent proves nothing and a message is just its text. Audit entries are never
    /// deleted (the chain would break); only their pseudonyms are cleared.
    pub fn actions(self) -> &'static [RetentionAction] {
        const BOTH: &[RetentionAction] = &[RetentionAction::Anonymize, RetentionAction::Delete];
        const DELETE_ONLY: &[RetentionAction] = &[RetentionAction::Delete];
        const ANONYMIZE_ONLY: &[RetentionAction] = &[RetentionAction::Anonymize];
        match self {
            RetainedData::AuditSubjects => ANONYMIZE_ONLY,
            RetainedData::Consents
            | RetainedData::ConsentProofs
            | RetainedData::ErasureLedger
            | RetainedData::Notifications => DELETE_ONLY,
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
            RetainedData::ConsentProofs => "Nachweise erteilter Einwilligungen ohne Personenbezug",
            // Anonymized: the person's pseudonym goes, the entry stays.
            RetainedData::AuditSubjects => "Einträge im Prüfprotokoll",
            RetainedData::ErasureLedger => "Einträge im Löschprotokoll",
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

    /// Whose data a purpose concerns: people who booked when it holds a booking's
    /// identifying data, else visitors of the site when it holds access-log data.
    pub fn subjects_of(purpose: &Purpose) -> Vec<&'static str> {
        let has = |set: &[&str]| purpose.categories.iter().any(|c| set.contains(&c.as_str()));
        let mut out = Vec::new();
        if has(BOOKING_CATEGORIES) || !has(VISITOR_CATEGORIES) {
            out.push(SUBJECTS_BOOKING);
        } else {
            out.push(SUBJECTS_VISITORS);
        }
        out
    }

    /// Every category of data subjects of this tenant (Art. 30(1)(c)), derived from the
    /// purposes and the registers every tenant has.
    pub fn data_subjects_de(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for activity in self.activities() {
            for s in activity.data_subjects {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
        out
    }

    /// The processing activities of the record (Art. 30(1)(b)): each purpose, then the
    /// request register, the mailbox intake and the audit trail.
    pub fn activities(&self) -> Vec<Activity> {
        let period = |data: &[RetainedData]| -> Vec<String> {
            data.iter()
                .filter_map(|d| self.retention_for(*d))
                .map(RetentionRule::describe_de)
                .collect()
        };
        let names = |pred: &dyn Fn(&Recipient) -> bool| -> Vec<String> {
            self.recipients
                .iter()
                .filter(|r| pred(r))
                .map(|r| r.name.clone())
                .collect()
        };
        let mut out: Vec<Activity> = self
            .purposes
            .iter()
            .map(|p| {
                let subjects = Self::subjects_of(p);
                let mut data = Vec::new();
                if subjects.contains(&SUBJECTS_VISITORS) {
                    data.push(RetainedData::AccessLog);
                } else {
                    data.extend([RetainedData::Bookings, RetainedData::Notifications]);
                }
                if p.consent.is_some() {
                    data.extend([RetainedData::Consents, RetainedData::ConsentProofs]);
                }
                Activity {
                    id: p.id.clone(),
                    description: p.description.clone(),
                    legal_basis: format!(
                        "{} ({})",
                        p.legal_basis.describe_de(),
                        p.legal_basis_citation()
                    ),
                    data_subjects: subjects,
                    categories: p.categories.clone(),
                    recipients: names(&|r| r.serves(&p.id)),
                    periods: period(&data),
                }
            })
            .collect();
        // The registers live in the service the booking's processors run and host.
        let operators = names(&|r| r.role == RecipientRole::Processor && r.serves(BOOKING_PURPOSE));
        let obligation =
            |norms: &str| format!("{} ({norms})", LegalBasis::LegalObligation.describe_de());
        out.push(Activity {
            id: "requests".into(),
            description: "Register der Anträge betroffener Personen (Auskunft, Berichtigung, \
                          Löschung, Einschränkung, Widerspruch, Widerruf) und ihre Bearbeitung"
                .into(),
            legal_basis: obligation("Art. 6 Abs. 1 lit. c i. V. m. Art. 12 bis 22 DSGVO"),
            data_subjects: vec![SUBJECTS_REQUESTS],
            categories: vec!["name".into(), "email".into(), "message".into()],
            recipients: operators.clone(),
            periods: period(&[RetainedData::Requests]),
        });
        if !self.tenant.withdrawal_addresses.is_empty() {
            out.push(Activity {
                id: "mailbox".into(),
                description: format!(
                    "Eingang von E-Mails an {} (Widerruf von Einwilligungen, Anträge)",
                    self.tenant.withdrawal_addresses.join(", ")
                ),
                legal_basis: obligation(
                    "Art. 6 Abs. 1 lit. c i. V. m. Art. 7 Abs. 3, Art. 12 DSGVO",
                ),
                data_subjects: vec![SUBJECTS_MAIL],
                categories: vec!["email".into(), "message".into()],
                recipients: names(&|r| {
                    r.receives.contains(&Handover::Email)
                        || (r.role == RecipientRole::Processor && r.serves(BOOKING_PURPOSE))
                }),
                periods: period(&[RetainedData::Inbox]),
            });
        }
        out.push(Activity {
            id: "audit".into(),
            description: "Prüfprotokoll (Nachweis der Verarbeitung, Art. 5 Abs. 2 DSGVO) und \
                          Löschprotokoll"
                .into(),
            legal_basis: obligation("Art. 6 Abs. 1 lit. c i. V. m. Art. 5 Abs. 2, Art. 24 DSGVO"),
            data_subjects: vec![SUBJECTS_BOOKING, SUBJECTS_REQUESTS],
            categories: vec![],
            recipients: operators,
            periods: period(&[RetainedData::AuditSubjects, RetainedData::ErasureLedger]),
        });
        out
    }

    /// The processors register (Art. 28): the recipients of role processor.
    pub fn processors(&self) -> impl Iterator<Item = &Recipient> {
        self.recipients
            .iter()
            .filter(|r| r.role == RecipientRole::Processor)
    }
}

#[cfg(test)]
mod article_tests {
    use super::bei_de;

    #[test]
    fn the_tenant_gets_the_article_its_kind_wants() {
        assert_eq!(
            bei_de("Stadt Recklinghausen"),
            "bei der Stadt Recklinghausen"
        );
        assert_eq!(
            bei_de("Verwaltungsgemeinschaft Westendorf"),
            "bei der Verwaltungsgemeinschaft Westendorf"
        );
        assert_eq!(bei_de("Amt Süderbrarup"), "beim Amt Süderbrarup");
        assert_eq!(bei_de("Muster GmbH"), "bei Muster GmbH");
    }
}
