//! The checker: serde reads a policy file into loose `Raw*` structs (every field optional,
//! every string spanned), then `Checker` validates all of it in one pass so a data-protection
//! officer sees every problem of a file at once, each with the line it is on.

use super::model::*;
use super::{LineIndex, is_email_address};
use crate::domain::duration::RetentionPeriod;
use serde::Deserialize;
use std::collections::HashSet;
use toml::Spanned;

const DEFAULT_TIMEZONE: &str = "Europe/Berlin";

type Text = Option<Spanned<String>>;
/// `confirm = ["dpo", …]`: fields of this table the office must still confirm; `"*"` is the
/// whole entry.
type Confirm = Option<Spanned<Vec<Spanned<String>>>>;

/// What each table's `confirm` may name.
const TENANT_FIELDS: &[&str] = &[
    "name",
    "kind",
    "address",
    "email",
    "phone",
    "website",
    "representative",
    "dpo",
    "region",
    "timezone",
    "withdrawal_addresses",
    "supervisory_authority",
    "local_holidays",
    "closed_days",
    "third_countries",
    "case_officer",
    "file_reference_prefix",
];
const PURPOSE_FIELDS: &[&str] = &[
    "*",
    "description",
    "legitimate_interests",
    "legal_basis",
    "legal_basis_ref",
    "categories",
    "consent",
];
const RECIPIENT_FIELDS: &[&str] = &[
    "*",
    "name",
    "role",
    "purpose",
    "purposes",
    "receives",
    "contract_date",
    "sub_processors",
    "location",
    "last_review",
];
const MEASURE_FIELDS: &[&str] = &["*", "title", "description"];
const IDENTITY_FIELDS: &[&str] = &["trusted_authserv_ids", "confirmation_valid_for"];
const SITE_FIELDS: &[&str] = &["imprint", "accessibility", "opening_hours", "bring"];
const RETENTION_FIELDS: &[&str] = &["*", "after", "since", "action"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    tenant: Option<Spanned<RawTenant>>,
    #[serde(default)]
    purpose: Vec<Spanned<RawPurpose>>,
    #[serde(default)]
    recipient: Vec<Spanned<RawRecipient>>,
    #[serde(default)]
    retention: Vec<Spanned<RawRetention>>,
    identity: Option<Spanned<RawIdentity>>,
    #[serde(default)]
    measure: Vec<Spanned<RawMeasure>>,
    site: Option<Spanned<RawSite>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    imprint: Text,
    accessibility: Text,
    opening_hours: Text,
    bring: Option<std::collections::BTreeMap<String, Spanned<String>>>,
    confirm: Confirm,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeasure {
    title: Text,
    description: Text,
    confirm: Confirm,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdentity {
    trusted_authserv_ids: Option<Spanned<Vec<Spanned<String>>>>,
    confirmation_valid_for: Text,
    confirm: Confirm,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    slug: Text,
    name: Text,
    kind: Text,
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
    local_holidays: Option<Spanned<Vec<Spanned<String>>>>,
    closed_days: Option<Spanned<Vec<Spanned<String>>>>,
    confirm: Confirm,
    third_countries: Text,
    case_officer: Text,
    file_reference_prefix: Text,
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
    legitimate_interests: Text,
    confirm: Confirm,
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
    purposes: Option<Spanned<Vec<Spanned<String>>>>,
    confirm: Confirm,
    receives: Option<Spanned<Vec<Spanned<String>>>>,
    contract_date: Text,
    sub_processors: Option<Spanned<Vec<Spanned<String>>>>,
    location: Text,
    last_review: Text,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    data: Text,
    after: Text,
    since: Text,
    action: Text,
    note: Text,
    confirm: Confirm,
}

pub(super) struct Checker<'a> {
    pub(super) file: &'a str,
    pub(super) lines: LineIndex,
    pub(super) errors: Vec<PolicyError>,
    pub(super) unconfirmed: Vec<Unconfirmed>,
    /// The tenant's kind once read, for checks of the purposes.
    pub(super) kind: Option<TenantKind>,
}

impl Checker<'_> {
    fn line<T>(&self, spanned: &Spanned<T>) -> usize {
        self.lines.line(spanned.span().start)
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

    /// Records the fields a `confirm` list names, as `{label}.{field}` (`{label}` for `"*"`).
    /// Unknown names are errors: a typo must not hide an assumption.
    fn confirm(&mut self, list: &Confirm, allowed: &[&str], table: &str, label: &str) {
        let Some(list) = list else { return };
        for entry in list.get_ref() {
            let name = entry.get_ref().trim();
            let line = self.line(entry);
            if !allowed.contains(&name) {
                self.error(
                    line,
                    &format!("{table}.confirm"),
                    format!(
                        "\"{name}\" is not a field of [{table}]; use one of {}",
                        names(allowed.iter().copied())
                    ),
                );
                continue;
            }
            let field = if name == "*" {
                label.to_string()
            } else {
                format!("{label}.{name}")
            };
            if !self.unconfirmed.iter().any(|u| u.field == field) {
                self.unconfirmed.push(Unconfirmed { field, line });
            }
        }
    }

    pub(super) fn policy(&mut self, raw: RawPolicy) -> Option<Policy> {
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
            .filter_map(|r| self.recipient(r, &seen_ids))
            .collect();

        let mut retention = Vec::new();
        let mut seen_data: HashSet<RetainedData> = HashSet::new();
        for r in &raw.retention {
            if let Some(rule) = self.retention(r, &mut seen_data) {
                retention.push(rule);
            }
        }

        let mut measures = Vec::new();
        for m in &raw.measure {
            if let Some(measure) = self.measure(m) {
                measures.push(measure);
            }
        }
        let measures_complete = measures.len() == raw.measure.len();
        if raw.measure.is_empty() {
            measures = default_measures();
        }

        let identity = self.identity(raw.identity.as_ref());
        let site = self.site(raw.site.as_ref());
        let (tenant, mut lines) = tenant?;
        let identity = identity?;
        lines.purposes = raw.purpose.iter().map(|p| self.line(p)).collect();
        lines.recipients = raw.recipient.iter().map(|r| self.line(r)).collect();
        let complete = purposes.len() == raw.purpose.len()
            && recipients.len() == raw.recipient.len()
            && retention.len() == raw.retention.len()
            && measures_complete
            && site.is_some();
        complete.then(|| Policy {
            file: self.file.to_string(),
            tenant,
            purposes,
            recipients,
            retention,
            measures,
            unconfirmed: std::mem::take(&mut self.unconfirmed),
            identity,
            site: site.unwrap_or_default(),
            lines,
        })
    }

    /// The optional `[site]` table: what the citizen pages link to and say beyond the
    /// record of processing (imprint, accessibility statement, opening hours, what to
    /// bring per service).
    fn site(&mut self, raw: Option<&Spanned<RawSite>>) -> Option<SiteInfo> {
        let Some(raw) = raw else {
            return Some(SiteInfo::default());
        };
        let s = raw.get_ref();
        self.confirm(&s.confirm, SITE_FIELDS, "site", "site");
        let mut ok = true;
        let mut url = |checker: &mut Self, value: &Text, field: &str| -> Option<String> {
            let v = checker.optional(value, field)?;
            let spanned = value.as_ref().expect("optional gave a value");
            let lower = v.trim().to_ascii_lowercase();
            if !(lower.starts_with("https://") || lower.starts_with("http://"))
                || v.contains(char::is_whitespace)
            {
                let line = checker.line(spanned);
                checker.error(
                    line,
                    field,
                    format!("\"{v}\" is not a web address (https://…)"),
                );
                ok = false;
                return None;
            }
            Some(v.trim().to_owned())
        };
        let imprint = url(self, &s.imprint, "site.imprint");
        let accessibility = url(self, &s.accessibility, "site.accessibility");
        let opening_hours = self.optional(&s.opening_hours, "site.opening_hours");
        let mut bring = std::collections::BTreeMap::new();
        for (code, text) in s.bring.iter().flatten() {
            if let Some(t) = self.non_blank(text, &format!("site.bring.{code}")) {
                bring.insert(code.clone(), t);
            }
        }
        ok.then_some(SiteInfo {
            imprint,
            accessibility,
            opening_hours,
            bring,
        })
    }

    /// The optional `[identity]` table: which receiving servers' authentication results
    /// count, and how long a confirmation code is valid.
    fn identity(&mut self, raw: Option<&Spanned<RawIdentity>>) -> Option<IdentityPolicy> {
        let Some(raw) = raw else {
            return Some(IdentityPolicy::default());
        };
        let i = raw.get_ref();
        self.confirm(&i.confirm, IDENTITY_FIELDS, "identity", "identity");
        let mut ok = true;
        let mut ids = Vec::new();
        if let Some(list) = &i.trusted_authserv_ids {
            const FIELD: &str = "identity.trusted_authserv_ids";
            for entry in list.get_ref() {
                let id = entry.get_ref().trim().to_ascii_lowercase();
                let line = self.line(entry);
                if !is_authserv_id(&id) {
                    ok = false;
                    self.error(
                        line,
                        FIELD,
                        format!(
                            "\"{}\" is not an authserv-id: give the host name the receiving server writes first in its Authentication-Results headers (e.g. mx01.example.de)",
                            entry.get_ref()
                        ),
                    );
                } else if ids.contains(&id) {
                    ok = false;
                    self.error(
                        line,
                        FIELD,
                        format!("\"{}\" is listed twice", entry.get_ref()),
                    );
                } else {
                    ids.push(id);
                }
            }
        }
        let mut valid_for = IdentityPolicy::default().confirmation_valid_for;
        if let Some(spanned) = &i.confirmation_valid_for {
            const FIELD: &str = "identity.confirmation_valid_for";
            let line = self.line(spanned);
            match spanned.get_ref().parse::<RetentionPeriod>() {
                Err(e) => {
                    ok = false;
                    self.error(line, FIELD, e.to_string());
                }
                Ok(p) if p.as_seconds() < 3600 || p.as_seconds() > 90 * 86_400 => {
                    ok = false;
                    self.error(
                        line,
                        FIELD,
                        format!(
                            "\"{}\" is out of range: a code must be valid between 1h and 90d",
                            spanned.get_ref()
                        ),
                    );
                }
                Ok(p) => valid_for = p,
            }
        }
        ok.then_some(IdentityPolicy {
            trusted_authserv_ids: ids,
            confirmation_valid_for: valid_for,
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
        let kind = match &t.kind {
            // A datenwart tenant is a citizen office unless the file says otherwise.
            None => Some(TenantKind::PublicAuthority),
            Some(spanned) => {
                let kind = TenantKind::from_name(spanned.get_ref().trim());
                if kind.is_none() {
                    let line = self.line(spanned);
                    self.error(
                        line,
                        "tenant.kind",
                        format!(
                            "unknown kind \"{}\"; use one of {}",
                            spanned.get_ref(),
                            names(TenantKind::ALL.iter().map(|k| k.as_str()))
                        ),
                    );
                }
                kind
            }
        };
        self.kind = kind;
        self.confirm(&t.confirm, TENANT_FIELDS, "tenant", "tenant");
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
        let case_officer = self.optional(&t.case_officer, "tenant.case_officer");
        let file_reference_prefix =
            self.optional(&t.file_reference_prefix, "tenant.file_reference_prefix");

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

        let local_holidays = self.local_holidays(t, region.as_deref().filter(|_| region_ok));
        let closed_days = self.closed_days(t);
        let third_countries = self.optional(&t.third_countries, "tenant.third_countries");

        let slug_line = t.slug.as_ref().map_or(header, |s| self.line(s));
        if !email_ok || !region_ok {
            return None;
        }
        Some((
            TenantInfo {
                slug: slug?,
                name: name?,
                kind: kind?,
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
                local_holidays: local_holidays?,
                closed_days: closed_days?,
                third_countries,
                case_officer,
                file_reference_prefix,
            },
            SourceLines {
                slug: slug_line,
                withdrawal_addresses: address_lines,
                ..SourceLines::default()
            },
        ))
    }

    /// Optional; each name from [`LocalHoliday::ALL`], once, and a holiday in part of the
    /// tenant's state (checked only when the region itself is valid).
    fn local_holidays(&mut self, t: &RawTenant, region: Option<&str>) -> Option<Vec<LocalHoliday>> {
        const FIELD: &str = "tenant.local_holidays";
        let Some(list) = &t.local_holidays else {
            return Some(Vec::new());
        };
        let mut ok = true;
        let mut holidays = Vec::new();
        for entry in list.get_ref() {
            let name = entry.get_ref();
            let line = self.line(entry);
            let Some(holiday) = LocalHoliday::from_name(name.trim()) else {
                ok = false;
                self.error(
                    line,
                    FIELD,
                    format!(
                        "unknown local holiday \"{name}\"; use one of {}",
                        names(LocalHoliday::ALL.iter().map(|h| h.as_str()))
                    ),
                );
                continue;
            };
            if holidays.contains(&holiday) {
                ok = false;
                self.error(line, FIELD, format!("\"{name}\" is listed twice"));
                continue;
            }
            if let Some(region) = region
                && let Err(problem) = holiday.check_region(region)
            {
                ok = false;
                self.error(line, FIELD, problem);
            }
            holidays.push(holiday);
        }
        ok.then_some(holidays)
    }

    /// Optional; each `YYYY-MM-DD` or `--MM-DD`, once.
    fn closed_days(&mut self, t: &RawTenant) -> Option<Vec<ClosedDay>> {
        const FIELD: &str = "tenant.closed_days";
        let Some(list) = &t.closed_days else {
            return Some(Vec::new());
        };
        let mut ok = true;
        let mut days = Vec::new();
        for entry in list.get_ref() {
            let line = self.line(entry);
            match entry.get_ref().parse::<ClosedDay>() {
                Err(problem) => {
                    ok = false;
                    self.error(line, FIELD, problem);
                }
                Ok(day) if days.contains(&day) => {
                    ok = false;
                    self.error(line, FIELD, format!("\"{day}\" is listed twice"));
                }
                Ok(day) => days.push(day),
            }
        }
        ok.then_some(days)
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
        let legitimate_interests =
            self.optional(&p.legitimate_interests, "purpose.legitimate_interests");
        if legal_basis == Some(LegalBasis::LegitimateInterest) && legitimate_interests.is_none() {
            self.error(
                header,
                "purpose.legitimate_interests",
                "a purpose based on legitimate interest must name the interests pursued \
                 (Art. 13(1)(d) DSGVO); the notice prints them",
            );
        }
        if let Some(id) = id.as_ref().filter(|_| id_ok) {
            self.confirm(
                &p.confirm,
                PURPOSE_FIELDS,
                "purpose",
                &format!("purpose[{id}]"),
            );
        }

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
            legitimate_interests,
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

    fn recipient(
        &mut self,
        raw: &Spanned<RawRecipient>,
        purpose_ids: &HashSet<String>,
    ) -> Option<Recipient> {
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
        let receives = self.receives(r);
        let mut purposes = Vec::new();
        let mut purposes_ok = true;
        for entry in r.purposes.iter().flat_map(|l| l.get_ref()) {
            let id = entry.get_ref().trim();
            if purpose_ids.contains(id) {
                purposes.push(id.to_string());
            } else {
                purposes_ok = false;
                let line = self.line(entry);
                self.error(
                    line,
                    "recipient.purposes",
                    format!(
                        "no purpose with id \"{id}\" in this file; use one of {}",
                        names(purpose_ids.iter().map(String::as_str))
                    ),
                );
            }
        }
        if let Some(n) = &name {
            let label = format!("recipient[{}]", short_name(n));
            self.confirm(&r.confirm, RECIPIENT_FIELDS, "recipient", &label);
        }
        let register = self.processor_register(r, role);
        if !purposes_ok {
            return None;
        }
        let (contract_date, sub_processors, location, last_review) = register?;
        Some(Recipient {
            name: name?,
            role: role?,
            purpose: purpose?,
            purposes,
            receives: receives?,
            contract_date,
            sub_processors,
            location,
            last_review,
        })
    }

    /// The optional processors-register fields (Art. 28): only on a processor.
    #[allow(clippy::type_complexity)]
    fn processor_register(
        &mut self,
        r: &RawRecipient,
        role: Option<RecipientRole>,
    ) -> Option<(
        Option<chrono::NaiveDate>,
        Vec<String>,
        Option<String>,
        Option<chrono::NaiveDate>,
    )> {
        let mut ok = true;
        if role.is_some_and(|role| role != RecipientRole::Processor) {
            let set = [
                ("contract_date", r.contract_date.as_ref().map(|s| s.span())),
                (
                    "sub_processors",
                    r.sub_processors.as_ref().map(|s| s.span()),
                ),
                ("location", r.location.as_ref().map(|s| s.span())),
                ("last_review", r.last_review.as_ref().map(|s| s.span())),
            ];
            for (field, span) in set {
                if let Some(span) = span {
                    ok = false;
                    let line = self.lines.line(span.start);
                    self.error(
                        line,
                        &format!("recipient.{field}"),
                        "only a recipient with role \"processor\" has a processors-register entry",
                    );
                }
            }
        }
        let contract_date = self.date(&r.contract_date, "recipient.contract_date", &mut ok);
        let last_review = self.date(&r.last_review, "recipient.last_review", &mut ok);
        let location = self.optional(&r.location, "recipient.location");
        if r.location.is_some() && location.is_none() {
            ok = false;
        }
        let mut sub_processors = Vec::new();
        for entry in r.sub_processors.iter().flat_map(|l| l.get_ref()) {
            match self.non_blank(entry, "recipient.sub_processors") {
                Some(name) => sub_processors.push(name.trim().to_owned()),
                None => ok = false,
            }
        }
        ok.then_some((contract_date, sub_processors, location, last_review))
    }

    /// An optional `YYYY-MM-DD` date.
    fn date(&mut self, value: &Text, field: &str, ok: &mut bool) -> Option<chrono::NaiveDate> {
        let spanned = value.as_ref()?;
        let text = spanned.get_ref().trim();
        match chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            Ok(date) if text.len() == 10 => Some(date),
            _ => {
                *ok = false;
                let line = self.line(spanned);
                self.error(
                    line,
                    field,
                    format!("\"{text}\" is not a date; use YYYY-MM-DD, e.g. 2025-03-31"),
                );
                None
            }
        }
    }

    /// A `[[measure]]` of Art. 32: a title and a description, both required.
    fn measure(&mut self, raw: &Spanned<RawMeasure>) -> Option<Measure> {
        let header = self.line(raw);
        let m = raw.get_ref();
        let title = self.required(&m.title, header, "measure.title");
        let description = self.required(&m.description, header, "measure.description");
        if let Some(t) = &title {
            let label = format!("measure[{}]", t.trim());
            self.confirm(&m.confirm, MEASURE_FIELDS, "measure", &label);
        }
        Some(Measure {
            title: title?.trim().to_owned(),
            description: description?.trim().to_owned(),
            default: false,
        })
    }

    /// Optional; each a [`Handover`] name, once.
    fn receives(&mut self, r: &RawRecipient) -> Option<Vec<Handover>> {
        const FIELD: &str = "recipient.receives";
        let Some(list) = &r.receives else {
            return Some(Vec::new());
        };
        let mut ok = true;
        let mut out = Vec::new();
        for entry in list.get_ref() {
            let line = self.line(entry);
            match Handover::from_name(entry.get_ref().trim()) {
                Some(h) if out.contains(&h) => {
                    ok = false;
                    self.error(line, FIELD, format!("\"{}\" is listed twice", h.as_str()));
                }
                Some(h) => out.push(h),
                None => {
                    ok = false;
                    self.error(
                        line,
                        FIELD,
                        format!(
                            "unknown handover \"{}\"; use one of {}",
                            entry.get_ref(),
                            names(Handover::ALL.iter().map(|h| h.as_str()))
                        ),
                    );
                }
            }
        }
        ok.then_some(out)
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
        if let Some(data) = &data {
            let label = format!("retention[{}]", data.as_str());
            self.confirm(&r.confirm, RETENTION_FIELDS, "retention", &label);
        }

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

/// An RFC 8601 authserv-id as servers write it: a host name or another token without
/// white space, `;`, `=`, quotes or parentheses.
fn is_authserv_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 255
        && id
            .chars()
            .all(|c| c.is_ascii_graphic() && !";=\"()\\,".contains(c))
}
