//! Tenant policies: the TOML record of processing per tenant, its validation and its German wording.
//!
//! Parsing happens in two steps: serde reads the file into loose `Raw*` structs (every
//! field optional, every string spanned), then `Checker` validates all of it in one
//! pass so a data-protection officer sees every problem of a file at once, each with
//! the line it is on.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::duration::RetentionPeriod;

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
pub use super::holidays::REGIONS;

const DEFAULT_TIMEZONE: &str = "Europe/Berlin";

/// The purpose the booking endpoint relies on; every tenant must have it.
use super::booking::BOOKING_PURPOSE;

// ---------------------------------------------------------------------------
// Public model
// ---------------------------------------------------------------------------

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
    /// Where things are in the file, so `check_set` can point at the right line.
    #[serde(skip)]
    pub lines: SourceLines,
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

pub use super::subject::is_email_address;

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

type Text = Option<Spanned<String>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    tenant: Option<Spanned<RawTenant>>,
    #[serde(default)]
    purpose: Vec<Spanned<RawPurpose>>,
    #[serde(default)]
    recipient: Vec<Spanned<RawRecipient>>,
    #[serde(default)]
    retention: Vec<Spanned<RawRetention>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    slug: Text,
    name: Text,
    address: Text,
    email: Text,
    phone: Text,
    website: Text,
    representative: Text,
    dpo: Text,
    region: Text,
    timezone: Text,
    withdrawal_addresses: Option<Spanned<Vec<Spanned<String>>>>,
    supervisory_authority: Text,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPurpose {
    id: Text,
    description: Text,
    // Optional so that a missing basis gets our message rather than serde's.
    legal_basis: Text,
    legal_basis_ref: Text,
    categories: Option<Spanned<Vec<Spanned<String>>>>,
    consent: Option<Spanned<RawConsent>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConsent {
    version: Text,
    text: Text,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecipient {
    name: Text,
    role: Text,
    purpose: Text,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    data: Text,
    after: Text,
    since: Text,
    action: Text,
    note: Text,
}

/// Parses and validates one policy file. `file` is only used in messages.
/// On failure returns every problem found, sorted by line.
pub fn parse_policy(file: &str, source: &str) -> Result<Policy, Vec<PolicyError>> {
    let raw: RawPolicy = match toml::from_str(source) {
        Ok(raw) => raw,
        Err(e) => return Err(vec![toml_error(file, source, &e)]),
    };
    let mut checker = Checker {
        file,
        source,
        errors: Vec::new(),
    };
    let policy = checker.policy(raw);
    let mut errors = checker.errors;
    match policy {
        Some(policy) if errors.is_empty() => Ok(policy),
        _ => {
            // Every rejection records an error; this only guards against a checker bug
            // turning into an "invalid, but no reason given".
            if errors.is_empty() {
                errors.push(PolicyError {
                    file: file.to_string(),
                    line: 1,
                    field: "policy".into(),
                    problem: "invalid policy".into(),
                });
            }
            // Stable sort keeps the order of discovery within a line.
            errors.sort_by_key(|e| e.line);
            Err(errors)
        }
    }
}

/// Rules that span files: slugs and withdrawal addresses must be unique, or URLs and
/// mail routing become ambiguous. Each clash is reported on the later file.
pub fn check_set(policies: &[Policy]) -> Vec<PolicyError> {
    let mut errors = Vec::new();
    let mut slugs: HashMap<&str, &str> = HashMap::new();
    let mut addresses: HashMap<String, &str> = HashMap::new();
    for policy in policies {
        let slug = policy.tenant.slug.as_str();
        if let Some(other) = slugs.get(slug) {
            errors.push(PolicyError {
                file: policy.file.clone(),
                line: policy.lines.slug.max(1),
                field: "tenant.slug".into(),
                problem: format!("duplicate slug \"{slug}\": also in {other}"),
            });
        } else {
            slugs.insert(slug, &policy.file);
        }
        for (i, address) in policy.tenant.withdrawal_addresses.iter().enumerate() {
            let key = address.trim().to_lowercase();
            match addresses.get(&key) {
                // Within one file this was already reported by parse_policy.
                Some(other) if *other != policy.file => errors.push(PolicyError {
                    file: policy.file.clone(),
                    line: policy
                        .lines
                        .withdrawal_addresses
                        .get(i)
                        .copied()
                        .unwrap_or(0)
                        .max(1),
                    field: "tenant.withdrawal_addresses".into(),
                    problem: format!(
                        "withdrawal address \"{address}\" is also used in {other}; \
                         incoming mail could not be routed to one tenant"
                    ),
                }),
                Some(_) => {}
                None => {
                    addresses.insert(key, &policy.file);
                }
            }
        }
    }
    errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    errors
}

/// Turns a TOML/serde error into our format. toml reports no key path, so the field
/// is recovered from the source around the error.
fn toml_error(file: &str, source: &str, e: &toml::de::Error) -> PolicyError {
    let offset = e.span().map_or(0, |s| s.start);
    let problem = e
        .message()
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("invalid TOML")
        .to_string();
    PolicyError {
        file: file.to_string(),
        line: line_of(source, offset),
        field: field_at(source, offset).unwrap_or_else(|| "toml".to_string()),
        problem,
    }
}

fn line_of(source: &str, offset: usize) -> usize {
    let end = offset.min(source.len());
    source.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Best-effort key path at `offset`: the last table header before it plus the key on
/// (or last assigned before) the error's line. Multi-line strings are skipped so that
/// their content is not mistaken for keys.
fn field_at(source: &str, offset: usize) -> Option<String> {
    let target = line_of(source, offset);
    let mut table: Option<String> = None;
    let mut key: Option<String> = None;
    let mut in_multiline: Option<&str> = None;
    for (index, raw_line) in source.lines().enumerate() {
        let line = raw_line.trim();
        let number = index + 1;
        if let Some(delim) = in_multiline {
            if line.matches(delim).count() % 2 == 1 {
                in_multiline = None;
            }
            if number == target {
                break;
            }
            continue;
        }
        if line.starts_with('[') {
            let name = line
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim();
            table = Some(name.replace(['"', '\'', ' '], ""));
            key = None;
        } else if let Some((k, rest)) = line.split_once('=') {
            let k = k.trim();
            if !k.is_empty()
                && k.chars()
                    .all(|c| c.is_alphanumeric() || "_-.\"'".contains(c))
            {
                key = Some(k.replace(['"', '\''], ""));
            }
            for delim in ["\"\"\"", "'''"] {
                if rest.matches(delim).count() % 2 == 1 {
                    in_multiline = Some(delim);
                }
            }
        }
        if number == target {
            break;
        }
    }
    match (table, key) {
        (Some(t), Some(k)) => Some(format!("{t}.{k}")),
        (Some(t), None) => Some(t),
        (None, Some(k)) => Some(k),
        (None, None) => None,
    }
}

struct Checker<'a> {
    file: &'a str,
    source: &'a str,
    errors: Vec<PolicyError>,
}

impl Checker<'_> {
    fn line<T>(&self, spanned: &Spanned<T>) -> usize {
        line_of(self.source, spanned.span().start)
    }

    fn error(&mut self, line: usize, field: &str, problem: impl Into<String>) {
        self.errors.push(PolicyError {
            file: self.file.to_string(),
            line,
            field: field.to_string(),
            problem: problem.into(),
        });
    }

    /// A required, non-blank string. A missing one is reported on `header_line`.
    fn required(&mut self, value: &Text, header_line: usize, field: &str) -> Option<String> {
        match value {
            None => {
                self.error(header_line, field, "required field is missing");
                None
            }
            Some(v) => self.non_blank(v, field),
        }
    }

    fn optional(&mut self, value: &Text, field: &str) -> Option<String> {
        value.as_ref().and_then(|v| self.non_blank(v, field))
    }

    fn non_blank(&mut self, value: &Spanned<String>, field: &str) -> Option<String> {
        if value.get_ref().trim().is_empty() {
            let line = self.line(value);
            self.error(line, field, "must not be empty");
            None
        } else {
            Some(value.get_ref().clone())
        }
    }

    fn policy(&mut self, raw: RawPolicy) -> Option<Policy> {
        let tenant = match &raw.tenant {
            Some(t) => self.tenant(t),
            None => {
                self.error(1, "tenant", "the [tenant] table is missing");
                None
            }
        };

        let mut purposes = Vec::new();
        let mut seen_ids: HashSet<String> = HashSet::new();
        for p in &raw.purpose {
            if let Some(purpose) = self.purpose(p, &mut seen_ids) {
                purposes.push(purpose);
            }
        }
        if !seen_ids.contains(BOOKING_PURPOSE) {
            let line = raw.purpose.first().map_or(1, |p| self.line(p));
            self.error(
                line,
                "purpose",
                "no purpose with id \"booking\"; the booking endpoint needs it",
            );
        }

        let recipients: Vec<Recipient> = raw
            .recipient
            .iter()
            .filter_map(|r| self.recipient(r))
            .collect();

        let mut retention = Vec::new();
        let mut seen_data: HashSet<RetainedData> = HashSet::new();
        for r in &raw.retention {
            if let Some(rule) = self.retention(r, &mut seen_data) {
                retention.push(rule);
            }
        }

        let (tenant, lines) = tenant?;
        let complete = purposes.len() == raw.purpose.len()
            && recipients.len() == raw.recipient.len()
            && retention.len() == raw.retention.len();
        complete.then(|| Policy {
            file: self.file.to_string(),
            tenant,
            purposes,
            recipients,
            retention,
            lines,
        })
    }

    fn tenant(&mut self, raw: &Spanned<RawTenant>) -> Option<(TenantInfo, SourceLines)> {
        let header = self.line(raw);
        let t = raw.get_ref();

        let mut slug = self.required(&t.slug, header, "tenant.slug");
        if let (Some(s), Some(spanned)) = (slug.clone(), &t.slug) {
            let valid = s.len() <= 40
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !valid {
                let line = self.line(spanned);
                self.error(
                    line,
                    "tenant.slug",
                    format!("\"{s}\" is not a slug: use 1 to 40 of a-z, 0-9 and -"),
                );
                slug = None;
            }
        }
        let name = self.required(&t.name, header, "tenant.name");
        let address = self.required(&t.address, header, "tenant.address");
        let email = self.required(&t.email, header, "tenant.email");
        let email_ok = match (&email, &t.email) {
            (Some(e), Some(spanned)) => self.check_email(e, spanned, "tenant.email"),
            _ => false,
        };
        let phone = self.optional(&t.phone, "tenant.phone");
        let website = self.optional(&t.website, "tenant.website");
        let representative = self.optional(&t.representative, "tenant.representative");
        let dpo = self.required(&t.dpo, header, "tenant.dpo");

        let region = self.required(&t.region, header, "tenant.region");
        let mut region_ok = region.is_some();
        if let (Some(r), Some(spanned)) = (&region, &t.region)
            && !REGIONS.contains(&r.as_str())
        {
            region_ok = false;
            let line = self.line(spanned);
            self.error(
                line,
                "tenant.region",
                format!(
                    "unknown region \"{r}\"; use the ISO 3166-2 code of a German state: {}",
                    REGIONS.join(", ")
                ),
            );
        }

        let timezone = match &t.timezone {
            None => Some(DEFAULT_TIMEZONE.to_string()),
            Some(spanned) => {
                let tz = spanned.get_ref();
                if tz.parse::<chrono_tz::Tz>().is_ok() {
                    Some(tz.clone())
                } else {
                    let line = self.line(spanned);
                    self.error(
                        line,
                        "tenant.timezone",
                        format!("unknown time zone \"{tz}\"; use an IANA name like Europe/Berlin"),
                    );
                    None
                }
            }
        };

        let (withdrawal_addresses, address_lines) = self.withdrawal_addresses(t, header);
        let supervisory_authority = self.required(
            &t.supervisory_authority,
            header,
            "tenant.supervisory_authority",
        );

        let slug_line = t.slug.as_ref().map_or(header, |s| self.line(s));
        if !email_ok || !region_ok {
            return None;
        }
        Some((
            TenantInfo {
                slug: slug?,
                name: name?,
                address: address?,
                email: email?,
                phone,
                website,
                representative,
                dpo: dpo?,
                region: region?,
                timezone: timezone?,
                withdrawal_addresses: withdrawal_addresses?,
                supervisory_authority: supervisory_authority?,
            },
            SourceLines {
                slug: slug_line,
                withdrawal_addresses: address_lines,
            },
        ))
    }

    fn check_email(&mut self, value: &str, spanned: &Spanned<String>, field: &str) -> bool {
        if is_email_address(value) {
            return true;
        }
        let line = self.line(spanned);
        self.error(line, field, format!("\"{value}\" is not an e-mail address"));
        false
    }

    fn withdrawal_addresses(
        &mut self,
        t: &RawTenant,
        header: usize,
    ) -> (Option<Vec<String>>, Vec<usize>) {
        const FIELD: &str = "tenant.withdrawal_addresses";
        let Some(list) = &t.withdrawal_addresses else {
            self.error(header, FIELD, "required field is missing");
            return (None, Vec::new());
        };
        if list.get_ref().is_empty() {
            let line = self.line(list);
            self.error(
                line,
                FIELD,
                "must list at least one address where citizens can withdraw consent",
            );
            return (None, Vec::new());
        }
        let mut ok = true;
        let mut seen = HashSet::new();
        let mut addresses = Vec::new();
        let mut lines = Vec::new();
        for entry in list.get_ref() {
            let address = entry.get_ref();
            let line = self.line(entry);
            if !self.check_email(address, entry, FIELD) {
                ok = false;
            } else if !seen.insert(address.trim().to_lowercase()) {
                ok = false;
                self.error(line, FIELD, format!("\"{address}\" is listed twice"));
            }
            addresses.push(address.clone());
            lines.push(line);
        }
        (ok.then_some(addresses), lines)
    }

    fn purpose(
        &mut self,
        raw: &Spanned<RawPurpose>,
        seen: &mut HashSet<String>,
    ) -> Option<Purpose> {
        let header = self.line(raw);
        let p = raw.get_ref();

        let id = self.required(&p.id, header, "purpose.id");
        let mut id_ok = id.is_some();
        if let (Some(id), Some(spanned)) = (&id, &p.id) {
            let line = self.line(spanned);
            if !id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                id_ok = false;
                self.error(
                    line,
                    "purpose.id",
                    format!("\"{id}\" is not a purpose id: use a-z, 0-9 and _"),
                );
            } else if !seen.insert(id.clone()) {
                id_ok = false;
                self.error(line, "purpose.id", format!("duplicate purpose id \"{id}\""));
            }
        }

        let description = self.required(&p.description, header, "purpose.description");

        let legal_basis = match &p.legal_basis {
            None => {
                self.error(
                    header,
                    "purpose.legal_basis",
                    "purpose without a legal basis",
                );
                None
            }
            Some(spanned) => {
                let basis = LegalBasis::from_name(spanned.get_ref());
                if basis.is_none() {
                    let line = self.line(spanned);
                    self.error(
                        line,
                        "purpose.legal_basis",
                        format!(
                            "unknown legal basis \"{}\"; use one of {}",
                            spanned.get_ref(),
                            names(LegalBasis::ALL.iter().map(|b| b.as_str()))
                        ),
                    );
                }
                basis
            }
        };
        let legal_basis_ref = self.optional(&p.legal_basis_ref, "purpose.legal_basis_ref");
        let categories = self.categories(p, header);
        let consent = self.consent(p, header, legal_basis);

        if !id_ok {
            return None;
        }
        Some(Purpose {
            id: id?,
            description: description?,
            legal_basis: legal_basis?,
            legal_basis_ref,
            categories: categories?,
            consent: consent?,
        })
    }

    fn categories(&mut self, p: &RawPurpose, header: usize) -> Option<Vec<String>> {
        const FIELD: &str = "purpose.categories";
        let Some(list) = &p.categories else {
            self.error(header, FIELD, "required field is missing");
            return None;
        };
        if list.get_ref().is_empty() {
            let line = self.line(list);
            self.error(line, FIELD, "must list at least one data category");
            return None;
        }
        let mut ok = true;
        let mut seen = HashSet::new();
        for entry in list.get_ref() {
            let category = entry.get_ref();
            let line = self.line(entry);
            if !DATA_CATEGORIES.contains(&category.as_str()) {
                ok = false;
                self.error(
                    line,
                    FIELD,
                    format!(
                        "unknown category \"{category}\"; use one of {}",
                        names(DATA_CATEGORIES.iter().copied())
                    ),
                );
            } else if !seen.insert(category.as_str()) {
                ok = false;
                self.error(
                    line,
                    FIELD,
                    format!("category \"{category}\" is listed twice"),
                );
            }
        }
        ok.then(|| list.get_ref().iter().map(|c| c.get_ref().clone()).collect())
    }

    /// Outer `None` = invalid; `Some(None)` = valid and no consent text.
    fn consent(
        &mut self,
        p: &RawPurpose,
        header: usize,
        basis: Option<LegalBasis>,
    ) -> Option<Option<ConsentText>> {
        const FIELD: &str = "purpose.consent";
        match (&p.consent, basis) {
            (None, Some(LegalBasis::Consent)) => {
                self.error(
                    header,
                    FIELD,
                    "a purpose based on consent needs [purpose.consent] with version and text",
                );
                None
            }
            (None, _) => Some(None),
            (Some(table), _) => {
                let line = self.line(table);
                let c = table.get_ref();
                let version = self.required(&c.version, line, "purpose.consent.version");
                let text = self.required(&c.text, line, "purpose.consent.text");
                if let Some(other) = basis.filter(|b| *b != LegalBasis::Consent) {
                    self.error(
                        line,
                        FIELD,
                        format!(
                            "the legal basis is {}, not consent; remove the consent text \
                             (asking for consent that is not the basis misleads the person)",
                            other.as_str()
                        ),
                    );
                    return None;
                }
                Some(Some(ConsentText {
                    version: version?,
                    text: text?,
                }))
            }
        }
    }

    fn recipient(&mut self, raw: &Spanned<RawRecipient>) -> Option<Recipient> {
        let header = self.line(raw);
        let r = raw.get_ref();
        let name = self.required(&r.name, header, "recipient.name");
        let role = match &r.role {
            None => {
                self.error(header, "recipient.role", "required field is missing");
                None
            }
            Some(spanned) => {
                let role = RecipientRole::from_name(spanned.get_ref());
                if role.is_none() {
                    let line = self.line(spanned);
                    self.error(
                        line,
                        "recipient.role",
                        format!(
                            "unknown role \"{}\"; use one of {}",
                            spanned.get_ref(),
                            names(RecipientRole::ALL.iter().map(|r| r.as_str()))
                        ),
                    );
                }
                role
            }
        };
        let purpose = self.required(&r.purpose, header, "recipient.purpose");
        Some(Recipient {
            name: name?,
            role: role?,
            purpose: purpose?,
        })
    }

    fn retention(
        &mut self,
        raw: &Spanned<RawRetention>,
        seen: &mut HashSet<RetainedData>,
    ) -> Option<RetentionRule> {
        let header = self.line(raw);
        let r = raw.get_ref();

        let data = match &r.data {
            None => {
                self.error(header, "retention.data", "required field is missing");
                None
            }
            Some(spanned) => {
                let line = self.line(spanned);
                match RetainedData::from_name(spanned.get_ref()) {
                    None => {
                        self.error(
                            line,
                            "retention.data",
                            format!(
                                "unknown data category \"{}\"; use one of {}",
                                spanned.get_ref(),
                                names(RetainedData::ALL.iter().map(|d| d.as_str()))
                            ),
                        );
                        None
                    }
                    Some(data) if !seen.insert(data) => {
                        self.error(
                            line,
                            "retention.data",
                            format!(
                                "a second rule for {}; each kind of data has one rule",
                                data.as_str()
                            ),
                        );
                        None
                    }
                    Some(data) => Some(data),
                }
            }
        };

        let after = match &r.after {
            None => {
                self.error(header, "retention.after", "required field is missing");
                None
            }
            Some(spanned) => match spanned.get_ref().parse::<RetentionPeriod>() {
                Ok(period) => Some(period),
                Err(e) => {
                    let line = self.line(spanned);
                    self.error(line, "retention.after", e.to_string());
                    None
                }
            },
        };

        let since = self.required(&r.since, header, "retention.since");
        let known = r
            .data
            .as_ref()
            .and_then(|d| RetainedData::from_name(d.get_ref()));
        let mut since_ok = since.is_some();
        if let (Some(since), Some(spanned), Some(data)) = (&since, &r.since, known)
            && !data.reference_times().contains(&since.as_str())
        {
            since_ok = false;
            let line = self.line(spanned);
            self.error(
                line,
                "retention.since",
                format!(
                    "{} has no reference time \"{since}\"; use one of {}",
                    data.as_str(),
                    data.reference_times().join(", ")
                ),
            );
        }

        let action = match &r.action {
            None => {
                self.error(header, "retention.action", "required field is missing");
                None
            }
            Some(spanned) => {
                let line = self.line(spanned);
                match RetentionAction::from_name(spanned.get_ref()) {
                    None => {
                        self.error(
                            line,
                            "retention.action",
                            format!(
                                "unknown action \"{}\"; use one of {}",
                                spanned.get_ref(),
                                names(RetentionAction::ALL.iter().map(|a| a.as_str()))
                            ),
                        );
                        None
                    }
                    Some(action) => match known {
                        Some(data) if !data.actions().contains(&action) => {
                            self.error(
                                line,
                                "retention.action",
                                format!(
                                    "{} cannot be {}d; use {}",
                                    data.as_str(),
                                    action.as_str(),
                                    names(data.actions().iter().map(|a| a.as_str()))
                                ),
                            );
                            None
                        }
                        _ => Some(action),
                    },
                }
            }
        };
        let note = self.optional(&r.note, "retention.note");

        if !since_ok {
            return None;
        }
        Some(RetentionRule {
            data: data?,
            after: after?,
            since: since?,
            action: action?,
            note,
        })
    }
}

fn names<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest valid policy; tests change one thing in it at a time.
    const MINIMAL: &str = r#"
[tenant]
slug = "musterstadt"
name = "Stadt Musterstadt"
address = "Rathausplatz 1, 12345 Musterstadt"
email = "buergerbuero@musterstadt.de"
dpo = "Datenschutzbeauftragte, Rathausplatz 1, 12345 Musterstadt"
region = "DE-NW"
withdrawal_addresses = ["buergerbuero@musterstadt.de"]
supervisory_authority = "LDI NRW, Kavalleriestraße 2-4, 40213 Düsseldorf"

[[purpose]]
id = "booking"
description = "Vereinbarung des Termins"
legal_basis = "contract"
categories = ["name", "email"]

[[recipient]]
name = "Bentjen Software GmbH"
role = "processor"
purpose = "Betrieb der Software"

[[retention]]
data = "bookings"
after = "48h"
since = "appointment_end"
action = "anonymize"
"#;

    fn errors(source: &str) -> Vec<PolicyError> {
        parse_policy("policies/x.toml", source).expect_err("policy should be invalid")
    }

    /// The only error of `source`, as `line: field: problem`.
    fn single_error(source: &str) -> String {
        let errs = errors(source);
        assert_eq!(errs.len(), 1, "expected one error, got {errs:#?}");
        format!("{}: {}: {}", errs[0].line, errs[0].field, errs[0].problem)
    }

    fn line_number(source: &str, needle: &str) -> usize {
        source
            .lines()
            .position(|l| l.contains(needle))
            .expect("needle in source")
            + 1
    }

    fn replace(old: &str, new: &str) -> String {
        assert!(MINIMAL.contains(old), "{old}");
        MINIMAL.replacen(old, new, 1)
    }

    fn with(extra: &str) -> String {
        format!("{MINIMAL}\n{extra}")
    }

    #[test]
    fn accepts_the_minimal_policy_and_fills_defaults() {
        let policy = parse_policy("policies/x.toml", MINIMAL).unwrap();
        assert_eq!(policy.file, "policies/x.toml");
        assert_eq!(policy.tenant.timezone, "Europe/Berlin");
        assert_eq!(policy.tenant.phone, None);
        assert_eq!(policy.booking_purpose().legal_basis, LegalBasis::Contract);
        assert_eq!(policy.lines.slug, 3);
        let rule = policy.retention_for(RetainedData::Bookings).unwrap();
        assert_eq!(rule.after.as_seconds(), 48 * 3600);
        assert!(policy.retention_for(RetainedData::Inbox).is_none());
        assert!(policy.purpose("sms_reminder").is_none());
    }

    #[test]
    fn formats_errors_as_file_line_field_problem() {
        let e = PolicyError {
            file: "policies/x.toml".into(),
            line: 12,
            field: "retention.after".into(),
            problem: "bad".into(),
        };
        assert_eq!(e.to_string(), "policies/x.toml:12: retention.after: bad");
    }

    #[test]
    fn reports_a_toml_syntax_error_with_its_line() {
        let source = replace("name = \"Stadt Musterstadt\"", "name = Stadt Musterstadt");
        let errs = errors(&source);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].line, 4);
        assert_eq!(errs[0].field, "tenant.name");
        assert!(!errs[0].problem.contains('\n'));
    }

    #[test]
    fn rejects_a_misspelt_key() {
        let source = replace("dpo =", "dpp =");
        let err = single_error(&source);
        assert!(
            err.starts_with("7: tenant.dpp: unknown field `dpp`"),
            "{err}"
        );
    }

    #[test]
    fn rejects_a_misspelt_key_in_the_consent_table() {
        let source = with(
            "[[purpose]]\nid = \"sms\"\ndescription = \"x\"\nlegal_basis = \"consent\"\n\
             categories = [\"phone\"]\n[purpose.consent]\nversoin = \"1\"\ntext = \"t\"\n",
        );
        let err = single_error(&source);
        let line = line_number(&source, "versoin");
        assert!(
            err.starts_with(&format!("{line}: purpose.consent.versoin: unknown field")),
            "{err}"
        );
    }

    #[test]
    fn rejects_a_value_of_the_wrong_type() {
        let source = replace(
            "categories = [\"name\", \"email\"]",
            "categories = \"name\"",
        );
        let err = single_error(&source);
        assert!(
            err.starts_with("16: purpose.categories: invalid type"),
            "{err}"
        );
    }

    #[test]
    fn rejects_a_file_without_tenant_table() {
        let source = MINIMAL.replace("[tenant]", "[tenant_]");
        assert!(single_error(&source).contains("unknown field `tenant_`"));
        let start = MINIMAL.find("[[purpose]]").unwrap();
        let errs = errors(&MINIMAL[start..]);
        assert_eq!(errs[0].field, "tenant");
        assert_eq!(errs[0].line, 1);
    }

    #[test]
    fn reports_a_missing_required_field_on_the_table_header() {
        let source = replace("name = \"Stadt Musterstadt\"\n", "");
        assert_eq!(
            single_error(&source),
            "2: tenant.name: required field is missing"
        );
    }

    #[test]
    fn rejects_an_empty_required_field() {
        let source = replace("name = \"Stadt Musterstadt\"", "name = \"  \"");
        assert_eq!(single_error(&source), "4: tenant.name: must not be empty");
    }

    #[test]
    fn rejects_a_slug_with_capitals_or_spaces() {
        let source = replace("slug = \"musterstadt\"", "slug = \"Muster Stadt\"");
        assert!(
            single_error(&source).starts_with("3: tenant.slug: \"Muster Stadt\" is not a slug")
        );
    }

    #[test]
    fn rejects_a_slug_longer_than_forty_characters() {
        let long = "a".repeat(41);
        let source = replace("slug = \"musterstadt\"", &format!("slug = \"{long}\""));
        assert!(single_error(&source).contains("is not a slug"));
        let ok = replace(
            "slug = \"musterstadt\"",
            &format!("slug = \"{}\"", &long[1..]),
        );
        assert!(parse_policy("x", &ok).is_ok());
    }

    #[test]
    fn rejects_a_tenant_email_that_is_not_an_address() {
        let source = replace(
            "email = \"buergerbuero@musterstadt.de\"",
            "email = \"Bürgerbüro Musterstadt\"",
        );
        assert_eq!(
            single_error(&source),
            "6: tenant.email: \"Bürgerbüro Musterstadt\" is not an e-mail address"
        );
    }

    #[test]
    fn checks_the_shape_of_email_addresses() {
        assert!(is_email_address("rathaus@oer-erkenschwick.de"));
        for bad in [
            "", "a@b", "@x.de", "a@@x.de", "a b@x.de", "a@x.de.", "a@.x.de", "a.x.de",
        ] {
            assert!(!is_email_address(bad), "{bad}");
        }
    }

    #[test]
    fn rejects_a_withdrawal_address_that_is_not_an_address() {
        let source = replace(
            "withdrawal_addresses = [\"buergerbuero@musterstadt.de\"]",
            "withdrawal_addresses = [\"buergerbuero@musterstadt.de\", \"buergerbuero\"]",
        );
        assert_eq!(
            single_error(&source),
            "9: tenant.withdrawal_addresses: \"buergerbuero\" is not an e-mail address"
        );
    }

    #[test]
    fn rejects_an_empty_list_of_withdrawal_addresses() {
        let source = replace(
            "withdrawal_addresses = [\"buergerbuero@musterstadt.de\"]",
            "withdrawal_addresses = []",
        );
        assert!(single_error(&source).starts_with("9: tenant.withdrawal_addresses: must list"));
    }

    #[test]
    fn rejects_a_withdrawal_address_listed_twice() {
        let source = replace(
            "withdrawal_addresses = [\"buergerbuero@musterstadt.de\"]",
            "withdrawal_addresses = [\"buergerbuero@musterstadt.de\", \"Buergerbuero@Musterstadt.de\"]",
        );
        assert!(single_error(&source).contains("is listed twice"));
    }

    #[test]
    fn rejects_an_unknown_region() {
        let source = replace("region = \"DE-NW\"", "region = \"NRW\"");
        assert!(single_error(&source).starts_with("8: tenant.region: unknown region \"NRW\""));
    }

    #[test]
    fn knows_all_sixteen_german_states() {
        assert_eq!(REGIONS.len(), 16);
        assert_eq!(REGIONS.iter().collect::<HashSet<_>>().len(), 16);
    }

    #[test]
    fn rejects_an_unknown_time_zone() {
        let source = replace(
            "region = \"DE-NW\"",
            "region = \"DE-NW\"\ntimezone = \"Europe/Bonn\"",
        );
        assert!(single_error(&source).starts_with("9: tenant.timezone: unknown time zone"));
        let ok = replace(
            "region = \"DE-NW\"",
            "region = \"DE-NW\"\ntimezone = \"Europe/Berlin\"",
        );
        assert!(parse_policy("x", &ok).is_ok());
    }

    #[test]
    fn rejects_a_purpose_without_legal_basis() {
        let source = replace("legal_basis = \"contract\"\n", "");
        assert_eq!(
            single_error(&source),
            "12: purpose.legal_basis: purpose without a legal basis"
        );
    }

    #[test]
    fn rejects_an_unknown_legal_basis_listing_the_allowed_ones() {
        let source = replace("legal_basis = \"contract\"", "legal_basis = \"vertrag\"");
        assert_eq!(
            single_error(&source),
            "15: purpose.legal_basis: unknown legal basis \"vertrag\"; use one of consent, \
             contract, legal_obligation, public_task, legitimate_interest"
        );
    }

    #[test]
    fn rejects_a_purpose_id_with_invalid_characters() {
        let source = with(
            "[[purpose]]\nid = \"SMS-Reminder\"\ndescription = \"x\"\nlegal_basis = \"contract\"\ncategories = [\"phone\"]\n",
        );
        assert!(single_error(&source).contains("\"SMS-Reminder\" is not a purpose id"));
    }

    #[test]
    fn rejects_a_duplicate_purpose_id() {
        let source = with(
            "[[purpose]]\nid = \"booking\"\ndescription = \"x\"\nlegal_basis = \"contract\"\ncategories = [\"phone\"]\n",
        );
        let line = line_number(&source, "description = \"x\"") - 1;
        assert_eq!(
            single_error(&source),
            format!("{line}: purpose.id: duplicate purpose id \"booking\"")
        );
    }

    #[test]
    fn requires_a_booking_purpose() {
        let source = replace("id = \"booking\"", "id = \"termin\"");
        assert_eq!(
            single_error(&source),
            "12: purpose: no purpose with id \"booking\"; the booking endpoint needs it"
        );
    }

    #[test]
    fn rejects_a_purpose_without_categories() {
        let source = replace("categories = [\"name\", \"email\"]", "categories = []");
        assert!(single_error(&source).starts_with("16: purpose.categories: must list"));
        let source = replace("categories = [\"name\", \"email\"]\n", "");
        assert_eq!(
            single_error(&source),
            "12: purpose.categories: required field is missing"
        );
    }

    #[test]
    fn rejects_an_unknown_category() {
        let source = replace("[\"name\", \"email\"]", "[\"name\", \"xyz\"]");
        assert!(
            single_error(&source).starts_with("16: purpose.categories: unknown category \"xyz\"")
        );
    }

    #[test]
    fn reports_the_line_of_the_bad_entry_in_a_multi_line_list() {
        let source = replace("[\"name\", \"email\"]", "[\n  \"name\",\n  \"emial\",\n]");
        assert!(
            single_error(&source).starts_with("18: purpose.categories: unknown category \"emial\"")
        );
    }

    #[test]
    fn requires_a_consent_text_for_a_consent_based_purpose() {
        let source = replace("legal_basis = \"contract\"", "legal_basis = \"consent\"");
        assert!(
            single_error(&source)
                .starts_with("12: purpose.consent: a purpose based on consent needs")
        );
    }

    #[test]
    fn requires_version_and_text_in_the_consent_table() {
        let source = with(
            "[[purpose]]\nid = \"sms_reminder\"\ndescription = \"x\"\nlegal_basis = \"consent\"\n\
             categories = [\"phone\"]\n[purpose.consent]\ntext = \"Ich willige ein.\"\n",
        );
        let line = line_number(&source, "[purpose.consent]");
        assert_eq!(
            single_error(&source),
            format!("{line}: purpose.consent.version: required field is missing")
        );
    }

    #[test]
    fn accepts_a_consent_based_purpose_with_its_text() {
        let source = with(
            "[[purpose]]\nid = \"sms_reminder\"\ndescription = \"x\"\nlegal_basis = \"consent\"\n\
             categories = [\"phone\"]\n[purpose.consent]\nversion = \"2026-11\"\ntext = \"Ich willige ein.\"\n",
        );
        let policy = parse_policy("x", &source).unwrap();
        let consent = policy
            .purpose("sms_reminder")
            .unwrap()
            .consent
            .as_ref()
            .unwrap();
        assert_eq!(consent.version, "2026-11");
    }

    #[test]
    fn rejects_a_consent_text_on_a_purpose_not_based_on_consent() {
        let source = replace(
            "categories = [\"name\", \"email\"]",
            "categories = [\"name\", \"email\"]\n[purpose.consent]\nversion = \"1\"\ntext = \"t\"",
        );
        assert!(
            single_error(&source).starts_with("17: purpose.consent: the legal basis is contract")
        );
    }

    #[test]
    fn rejects_an_empty_recipient_name() {
        let source = replace("name = \"Bentjen Software GmbH\"", "name = \"\"");
        assert_eq!(
            single_error(&source),
            "19: recipient.name: must not be empty"
        );
    }

    #[test]
    fn rejects_an_unknown_recipient_role_listing_the_allowed_ones() {
        let source = replace("role = \"processor\"", "role = \"auftragsverarbeiter\"");
        assert_eq!(
            single_error(&source),
            "20: recipient.role: unknown role \"auftragsverarbeiter\"; use one of processor, internal, third_party"
        );
    }

    #[test]
    fn rejects_a_recipient_without_purpose() {
        let source = replace("purpose = \"Betrieb der Software\"\n", "");
        assert_eq!(
            single_error(&source),
            "18: recipient.purpose: required field is missing"
        );
    }

    #[test]
    fn rejects_unknown_retained_data() {
        let source = replace("data = \"bookings\"", "data = \"termine\"");
        assert!(single_error(&source).starts_with(
            "24: retention.data: unknown data category \"termine\"; use one of bookings"
        ));
    }

    #[test]
    fn rejects_a_bad_duration_naming_the_value() {
        let source = replace("after = \"48h\"", "after = \"48x\"");
        assert_eq!(
            single_error(&source),
            "25: retention.after: \"48x\" is not a duration: use a number followed by s, m, h, d or w (e.g. 48h, 7d)"
        );
    }

    #[test]
    fn rejects_a_retention_in_months() {
        let source = replace("after = \"48h\"", "after = \"6M\"");
        assert!(
            single_error(&source).contains("months and years are not fixed lengths: use d or w")
        );
    }

    #[test]
    fn rejects_a_reference_time_the_data_does_not_have() {
        let source = replace("since = \"appointment_end\"", "since = \"logged_at\"");
        assert_eq!(
            single_error(&source),
            "26: retention.since: bookings has no reference time \"logged_at\"; use one of \
             appointment_end, appointment_start, booked_at, cancelled_at"
        );
    }

    #[test]
    fn rejects_an_unknown_action() {
        let source = replace("action = \"anonymize\"", "action = \"shred\"");
        assert_eq!(
            single_error(&source),
            "27: retention.action: unknown action \"shred\"; use one of anonymize, delete"
        );
    }

    #[test]
    fn rejects_an_action_the_data_does_not_allow() {
        let source = with(
            "[[retention]]\ndata = \"consents\"\nafter = \"156w\"\nsince = \"withdrawn_at\"\naction = \"anonymize\"\n",
        );
        let line = source
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains("action = \"anonymize\""))
            .last()
            .unwrap()
            .0
            + 1;
        assert_eq!(
            single_error(&source),
            format!("{line}: retention.action: consents cannot be anonymized; use delete")
        );
    }

    #[test]
    fn rejects_a_second_rule_for_the_same_data() {
        let source = with(
            "[[retention]]\ndata = \"bookings\"\nafter = \"7d\"\nsince = \"booked_at\"\naction = \"delete\"\n",
        );
        let line = line_number(&source, "since = \"booked_at\"") - 2;
        assert_eq!(
            single_error(&source),
            format!(
                "{line}: retention.data: a second rule for bookings; each kind of data has one rule"
            )
        );
    }

    #[test]
    fn reports_a_missing_retention_field_on_the_header() {
        let source = replace("since = \"appointment_end\"\n", "");
        assert_eq!(
            single_error(&source),
            "23: retention.since: required field is missing"
        );
    }

    #[test]
    fn collects_all_errors_sorted_by_line() {
        let source = MINIMAL
            .replace("region = \"DE-NW\"", "region = \"NRW\"")
            .replace("email = \"buergerbuero@musterstadt.de\"", "email = \"x\"")
            .replace("after = \"48h\"", "after = \"2y\"")
            .replace("role = \"processor\"", "role = \"boss\"")
            .replace("legal_basis = \"contract\"\n", "");
        let errs = errors(&source);
        let fields: Vec<_> = errs.iter().map(|e| (e.line, e.field.as_str())).collect();
        assert_eq!(
            fields,
            vec![
                (6, "tenant.email"),
                (8, "tenant.region"),
                (12, "purpose.legal_basis"),
                (19, "recipient.role"),
                (24, "retention.after"),
            ]
        );
    }

    fn policy(file: &str, slug: &str, addresses: &str) -> Policy {
        let source = MINIMAL
            .replace("slug = \"musterstadt\"", &format!("slug = \"{slug}\""))
            .replace(
                "withdrawal_addresses = [\"buergerbuero@musterstadt.de\"]",
                &format!("withdrawal_addresses = [{addresses}]"),
            );
        parse_policy(file, &source).unwrap()
    }

    #[test]
    fn rejects_a_duplicate_slug_across_files() {
        let a = policy("policies/a.toml", "stadt", "\"a@a.de\"");
        let b = policy("policies/b.toml", "stadt", "\"b@b.de\"");
        let errs = check_set(&[a, b]);
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].to_string(),
            "policies/b.toml:3: tenant.slug: duplicate slug \"stadt\": also in policies/a.toml"
        );
    }

    #[test]
    fn rejects_a_withdrawal_address_shared_by_two_tenants() {
        let a = policy("policies/a.toml", "a", "\"a@a.de\", \"post@kreis.de\"");
        let b = policy("policies/b.toml", "b", "\"Post@Kreis.de\"");
        let errs = check_set(&[a, b]);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].file, "policies/b.toml");
        assert_eq!(errs[0].line, 9);
        assert!(errs[0].problem.contains("also used in policies/a.toml"));
    }

    #[test]
    fn accepts_a_set_of_distinct_tenants() {
        let a = policy("policies/a.toml", "a", "\"a@a.de\"");
        let b = policy("policies/b.toml", "b", "\"b@b.de\"");
        assert!(check_set(&[a, b]).is_empty());
    }

    #[test]
    fn offers_only_the_documented_reference_times_and_actions() {
        use RetainedData::*;
        assert_eq!(AccessLog.reference_times(), ["logged_at"]);
        assert_eq!(Requests.reference_times(), ["closed_at"]);
        assert_eq!(Consents.actions(), [RetentionAction::Delete]);
        assert_eq!(Notifications.actions(), [RetentionAction::Delete]);
        assert_eq!(Inbox.actions().len(), 2);
        for d in RetainedData::ALL {
            assert_eq!(RetainedData::from_name(d.as_str()), Some(*d));
        }
    }

    #[test]
    fn names_the_gdpr_article_of_each_legal_basis() {
        assert_eq!(LegalBasis::Consent.article(), "Art. 6 Abs. 1 lit. a DSGVO");
        assert_eq!(
            LegalBasis::PublicTask.article(),
            "Art. 6 Abs. 1 lit. e DSGVO"
        );
        assert_eq!(
            LegalBasis::LegitimateInterest.article(),
            "Art. 6 Abs. 1 lit. f DSGVO"
        );
    }

    #[test]
    fn describes_retention_rules_in_grammatical_german() {
        let rule = |data, after: &str, since: &str, action| {
            RetentionRule {
                data,
                after: after.parse().unwrap(),
                since: since.into(),
                action,
                note: None,
            }
            .describe_de()
        };
        use RetainedData::*;
        use RetentionAction::*;
        assert_eq!(
            rule(Bookings, "48h", "appointment_end", Anonymize),
            "Buchungen werden 48 Stunden nach dem Ende des Termins anonymisiert."
        );
        assert_eq!(
            rule(AccessLog, "7d", "logged_at", Delete),
            "Einträge im Zugriffsprotokoll werden 7 Tage nach dem Zugriff gelöscht."
        );
        assert_eq!(
            rule(Inbox, "90d", "processed_at", Anonymize),
            "Eingegangene E-Mails werden 90 Tage nach ihrer Bearbeitung anonymisiert."
        );
        assert_eq!(
            rule(Consents, "156w", "withdrawn_at", Delete),
            "Einwilligungen werden 156 Wochen (rund 3 Jahre) nach ihrem Widerruf gelöscht."
        );
        assert_eq!(
            rule(Notifications, "1d", "sent_at", Delete),
            "Benachrichtigungen werden 1 Tag nach ihrem Versand gelöscht."
        );
    }

    #[test]
    fn serializes_enums_in_snake_case_and_periods_as_strings() {
        let policy = parse_policy("x", MINIMAL).unwrap();
        let json = serde_json::to_value(&policy).unwrap();
        assert_eq!(json["purposes"][0]["legal_basis"], "contract");
        assert_eq!(json["retention"][0]["after"], "48h");
        assert_eq!(json["retention"][0]["data"], "bookings");
        assert!(json.get("lines").is_none());
    }

    // Via CARGO_MANIFEST_DIR so the path holds wherever this module sits in the crate.
    const RECKLINGHAUSEN: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/policies/recklinghausen.toml"
    ));
    const OER_ERKENSCHWICK: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/policies/oer-erkenschwick.toml"
    ));
    const WESTENDORF: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/policies/westendorf.toml"
    ));

    fn shipped(file: &str, source: &str) -> Policy {
        match parse_policy(file, source) {
            Ok(p) => p,
            Err(errs) => panic!(
                "{}",
                errs.iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        }
    }

    #[test]
    fn parses_the_shipped_recklinghausen_policy() {
        let p = shipped("policies/recklinghausen.toml", RECKLINGHAUSEN);
        assert_eq!(p.tenant.slug, "recklinghausen");
        assert_eq!(p.booking_purpose().legal_basis, LegalBasis::Consent);
        assert_eq!(
            p.retention_for(RetainedData::Bookings)
                .unwrap()
                .after
                .as_seconds(),
            48 * 3600
        );
    }

    #[test]
    fn parses_the_shipped_oer_erkenschwick_policy() {
        let p = shipped("policies/oer-erkenschwick.toml", OER_ERKENSCHWICK);
        assert_eq!(p.booking_purpose().legal_basis, LegalBasis::Contract);
        assert_eq!(
            p.purpose("sms_reminder").unwrap().legal_basis,
            LegalBasis::Consent
        );
    }

    #[test]
    fn parses_the_shipped_westendorf_policy() {
        let p = shipped("policies/westendorf.toml", WESTENDORF);
        assert_eq!(p.tenant.region, "DE-BY");
    }

    #[test]
    fn the_shipped_policies_form_a_consistent_set() {
        let set = [
            shipped("r", RECKLINGHAUSEN),
            shipped("o", OER_ERKENSCHWICK),
            shipped("w", WESTENDORF),
        ];
        assert_eq!(check_set(&set), vec![]);
    }
}
