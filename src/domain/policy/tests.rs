//! Tests of parsing, checking and wording, on small files and on the shipped policies.

use super::*;
use std::collections::HashSet;

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
    assert!(single_error(&source).starts_with("3: tenant.slug: \"Muster Stadt\" is not a slug"));
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
    assert!(single_error(&source).starts_with("16: purpose.categories: unknown category \"xyz\""));
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
        single_error(&source).starts_with("12: purpose.consent: a purpose based on consent needs")
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
    assert!(single_error(&source).starts_with("17: purpose.consent: the legal basis is contract"));
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
    assert!(
        single_error(&source).starts_with(
            "24: retention.data: unknown data category \"termine\"; use one of bookings"
        )
    );
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
    assert!(single_error(&source).contains("months and years are not fixed lengths: use d or w"));
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
    // The seed's lit. b (a "Nutzungsvertrag") is no basis for an official appointment.
    assert_eq!(p.booking_purpose().legal_basis, LegalBasis::PublicTask);
    assert!(!p.confirmed("tenant.dpo"), "the seed names no DPO");
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

fn in_region(region: &str, extra_tenant_lines: &str) -> String {
    replace(
        "region = \"DE-NW\"",
        &format!("region = \"{region}\"\n{extra_tenant_lines}"),
    )
}

#[test]
fn a_policy_without_local_holidays_or_closed_days_has_none() {
    let policy = parse_policy("x.toml", MINIMAL).unwrap();
    assert!(policy.tenant.local_holidays.is_empty());
    assert!(policy.tenant.closed_days.is_empty());
}

#[test]
fn accepts_assumption_day_and_closed_days_for_a_bavarian_tenant() {
    let source = in_region(
        "DE-BY",
        "local_holidays = [\"assumption_day\", \"augsburg_peace_festival\"]\n\
         closed_days = [\"--12-24\", \"--12-31\", \"2026-06-12\"]",
    );
    let policy = parse_policy("x.toml", &source).unwrap();
    assert_eq!(
        policy.tenant.local_holidays,
        vec![
            LocalHoliday::AssumptionDay,
            LocalHoliday::AugsburgPeaceFestival
        ]
    );
    let closed: Vec<String> = policy
        .tenant
        .closed_days
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(closed, ["--12-24", "--12-31", "2026-06-12"]);
}

#[test]
fn accepts_corpus_christi_in_saxony_and_thuringia() {
    for region in ["DE-SN", "DE-TH"] {
        let source = in_region(region, "local_holidays = [\"corpus_christi\"]");
        assert!(parse_policy("x.toml", &source).is_ok(), "{region}");
    }
}

#[test]
fn rejects_a_local_holiday_of_another_state_naming_file_line_and_field() {
    let source = in_region("DE-NW", "local_holidays = [\"assumption_day\"]");
    let errs = errors(&source);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(
        errs[0].to_string(),
        "policies/x.toml:9: tenant.local_holidays: assumption_day (Mariä Himmelfahrt) is no \
         holiday in any part of DE-NW; it can be named in DE-BY"
    );
}

#[test]
fn rejects_corpus_christi_where_it_is_statewide_already() {
    let source = in_region("DE-BY", "local_holidays = [\"corpus_christi\"]");
    let error = single_error(&source);
    assert!(
        error.starts_with("9: tenant.local_holidays: corpus_christi (Fronleichnam) is a holiday in all of DE-BY already"),
        "{error}"
    );
}

#[test]
fn rejects_assumption_day_in_saarland_where_it_is_statewide() {
    let source = in_region("DE-SL", "local_holidays = [\"assumption_day\"]");
    assert!(single_error(&source).contains("in all of DE-SL already"));
}

#[test]
fn rejects_an_unknown_or_repeated_local_holiday_listing_the_known_ones() {
    let source = in_region("DE-BY", "local_holidays = [\"assumption\"]");
    assert_eq!(
        single_error(&source),
        "9: tenant.local_holidays: unknown local holiday \"assumption\"; use one of \
         assumption_day, augsburg_peace_festival, corpus_christi"
    );
    let source = in_region(
        "DE-BY",
        "local_holidays = [\n  \"assumption_day\",\n  \"assumption_day\",\n]",
    );
    assert_eq!(
        single_error(&source),
        "11: tenant.local_holidays: \"assumption_day\" is listed twice"
    );
}

#[test]
fn rejects_a_closed_day_in_another_syntax_on_its_own_line() {
    let source = in_region("DE-NW", "closed_days = [\n  \"--12-24\",\n  \"12-31\",\n]");
    let error = single_error(&source);
    assert!(
        error.starts_with(
            "11: tenant.closed_days: \"12-31\" is not a closed day (every year: \"--12-31\")"
        ),
        "{error}"
    );
    let source = in_region("DE-NW", "closed_days = [\"2026-02-30\"]");
    assert!(single_error(&source).starts_with("9: tenant.closed_days: \"2026-02-30\""));
    let source = in_region("DE-NW", "closed_days = [\"--12-24\", \"--12-24\"]");
    assert!(single_error(&source).contains("\"--12-24\" is listed twice"));
}

#[test]
fn the_shipped_westendorf_policy_names_assumption_day() {
    let source = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/westendorf.toml"),
    )
    .unwrap();
    let policy = parse_policy("westendorf.toml", &source).unwrap();
    assert_eq!(
        policy.tenant.local_holidays,
        vec![LocalHoliday::AssumptionDay]
    );
}

/// The warnings of `source`, but for the missing retention rules (MINIMAL has only one) and
/// the processors register (MINIMAL's processor has none; see `processors_register_*`).
fn warnings_of(source: &str) -> Vec<String> {
    parse_policy("policies/x.toml", source)
        .expect("valid policy")
        .warnings()
        .iter()
        .filter(|w| !w.problem.starts_with("no rule for") && !is_register_warning(w))
        .map(|w| format!("{}: {}: {}", w.line, w.field, w.problem))
        .collect()
}

#[test]
fn every_kind_of_stored_data_without_a_rule_is_a_warning() {
    let missing: Vec<String> = parse_policy("policies/x.toml", MINIMAL)
        .unwrap()
        .warnings()
        .iter()
        .filter_map(|w| w.problem.strip_prefix("no rule for "))
        .map(|rest| rest.split(':').next().unwrap().to_owned())
        .collect();
    // No purpose asks for consent, so no consents are stored and need no rule.
    assert_eq!(
        missing,
        [
            "notifications",
            "access_log",
            "inbox",
            "requests",
            "audit_subjects",
            "erasure_ledger"
        ]
    );
}

#[test]
fn legitimate_interest_needs_the_interests_named() {
    let source = MINIMAL.replacen(
        "legal_basis = \"contract\"",
        "legal_basis = \"legitimate_interest\"",
        1,
    );
    let e = single_error(&source);
    assert!(
        e.contains(
            "purpose.legitimate_interests: a purpose based on legitimate interest must name"
        ),
        "{e}"
    );
    let named = source.replacen(
        "categories = [\"name\", \"email\"]\n",
        "categories = [\"name\", \"email\"]\nlegitimate_interests = \"Schutz vor Missbrauch\"\n",
        1,
    );
    let policy = parse_policy("policies/x.toml", &named).unwrap();
    assert_eq!(
        policy.booking_purpose().legitimate_interests.as_deref(),
        Some("Schutz vor Missbrauch")
    );
}

const PURPOSES_OF_BENTJEN: &str = "purpose = \"Betrieb der Software\"\n";

/// MINIMAL with the recipient tied to its purpose, so that it has no warning of its own.
fn clean(source: &str) -> String {
    source.replacen(
        PURPOSES_OF_BENTJEN,
        "purpose = \"Betrieb der Software\"\npurposes = [\"booking\"]\n",
        1,
    )
}

#[test]
fn the_minimal_policy_with_purposes_has_no_warnings() {
    assert_eq!(warnings_of(&clean(MINIMAL)), Vec::<String>::new());
}

#[test]
fn a_recipient_without_purposes_is_a_warning() {
    let w = warnings_of(MINIMAL);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("recipient[Bentjen Software GmbH].purposes: missing"),
        "{w:?}"
    );
}

#[test]
fn a_recipient_naming_an_unknown_purpose_is_an_error() {
    let source = MINIMAL.replacen(
        PURPOSES_OF_BENTJEN,
        "purpose = \"x\"\npurposes = [\"bookings\"]\n",
        1,
    );
    let e = single_error(&source);
    assert!(
        e.contains("recipient.purposes: no purpose with id \"bookings\""),
        "{e}"
    );
}

#[test]
fn legitimate_interest_at_a_public_authority_is_a_warning_not_at_a_private_one() {
    let source = clean(&MINIMAL.replacen(
        "legal_basis = \"contract\"",
        "legal_basis = \"legitimate_interest\"\nlegitimate_interests = \"Schutz vor Missbrauch\"",
        1,
    ));
    let w = warnings_of(&source);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("purpose[booking].legal_basis"), "{w:?}");
    assert!(w[0].contains("Art. 6(1) subpara. 2"), "{w:?}");

    let private = source.replacen("[tenant]\n", "[tenant]\nkind = \"private\"\n", 1);
    assert_eq!(warnings_of(&private), Vec::<String>::new());
}

#[test]
fn an_unknown_tenant_kind_is_an_error() {
    let source = MINIMAL.replacen("[tenant]\n", "[tenant]\nkind = \"company\"\n", 1);
    let e = single_error(&source);
    assert!(e.contains("tenant.kind: unknown kind \"company\""), "{e}");
}

#[test]
fn a_citation_of_another_letter_or_a_wrong_norm_is_a_warning() {
    let source = clean(&MINIMAL.replacen(
        "legal_basis = \"contract\"",
        "legal_basis = \"consent\"\nlegal_basis_ref = \"Art. 6 Abs. 1 lit. b DSGVO i. V. m. § 35 DSG NRW\"",
        1,
    )
    .replacen(
        "categories = [\"name\", \"email\"]\n",
        "categories = [\"name\", \"email\"]\n[purpose.consent]\nversion = \"1\"\ntext = \"Ich willige ein; die Bentjen Software GmbH betreibt die Software.\"\n",
        1,
    ));
    let w = warnings_of(&source).join("\n");
    assert!(
        w.contains("cites lit. b, but legal_basis is consent (lit. a)"),
        "{w}"
    );
    assert!(w.contains("§ 35 DSG NRW is the scope clause"), "{w}");
}

#[test]
fn a_consent_text_must_name_every_recipient_of_its_purpose() {
    let source = clean(&MINIMAL.replacen(
        "legal_basis = \"contract\"",
        "legal_basis = \"consent\"",
        1,
    )
    .replacen(
        "categories = [\"name\", \"email\"]\n",
        "categories = [\"name\", \"email\"]\n[purpose.consent]\nversion = \"1\"\ntext = \"Ich willige ein, dass die Stadt die Angaben an ihren Auftragsverarbeiter weitergibt.\"\n",
        1,
    ));
    let w = warnings_of(&source);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains(
            "purpose[booking].consent.text: does not name the recipient \"Bentjen Software GmbH\""
        ),
        "{w:?}"
    );
}

#[test]
fn confirm_lists_become_warnings_with_their_lines() {
    let source = clean(&MINIMAL.replacen(
        "region = \"DE-NW\"\n",
        "region = \"DE-NW\"\nconfirm = [\"dpo\"]\n",
        1,
    ))
    .replacen(
        "action = \"anonymize\"\n",
        "action = \"anonymize\"\nconfirm = [\"after\", \"*\"]\n",
        1,
    );
    let policy = parse_policy("policies/x.toml", &source).unwrap();
    assert!(!policy.confirmed("tenant.dpo"));
    assert!(policy.confirmed("tenant.email"));
    assert!(!policy.confirmed("retention[bookings].after"));
    assert!(!policy.confirmed("retention[bookings]"));
    let w = warnings_of(&source);
    assert_eq!(w.len(), 3, "{w:?}");
    let line = line_number(&source, "confirm = [\"dpo\"]");
    assert_eq!(
        w[0],
        format!("{line}: tenant.dpo: not yet confirmed by the office (listed under confirm)")
    );
}

#[test]
fn a_confirm_entry_that_names_no_field_is_an_error() {
    let source = MINIMAL.replacen(
        "region = \"DE-NW\"\n",
        "region = \"DE-NW\"\nconfirm = [\"dop\"]\n",
        1,
    );
    let e = single_error(&source);
    assert!(
        e.contains("tenant.confirm: \"dop\" is not a field of [tenant]"),
        "{e}"
    );
}

#[test]
fn the_shipped_policies_have_no_review_findings_besides_their_confirm_lists() {
    for (file, source) in [
        ("policies/recklinghausen.toml", RECKLINGHAUSEN),
        ("policies/oer-erkenschwick.toml", OER_ERKENSCHWICK),
        ("policies/westendorf.toml", WESTENDORF),
    ] {
        let policy = shipped(file, source);
        let warnings = policy.warnings();
        let findings: Vec<_> = warnings
            .iter()
            .filter(|w| !w.problem.starts_with("not yet confirmed") && !is_register_warning(w))
            .collect();
        assert!(findings.is_empty(), "{file}: {findings:#?}");
        // The seeds give no contract dates or reviews: every processor is flagged for both.
        let processors = policy.processors().count();
        assert!(processors > 0, "{file}");
        let register = warnings.iter().filter(|w| is_register_warning(w)).count();
        assert_eq!(register, 2 * processors, "{file}: {warnings:#?}");
    }
}

#[test]
fn recipients_name_what_they_receive_and_an_unknown_handover_is_refused() {
    let source = replace(
        "purpose = \"Betrieb der Software\"",
        "purpose = \"Betrieb der Software\"\nreceives = [\"email\", \"office_copy\"]",
    );
    let policy = parse_policy("policies/x.toml", &source).unwrap();
    assert_eq!(
        policy.recipients[0].receives,
        [Handover::Email, Handover::OfficeCopy]
    );
    assert!(
        parse_policy("policies/x.toml", MINIMAL).unwrap().recipients[0]
            .receives
            .is_empty()
    );
    let bad = replace(
        "purpose = \"Betrieb der Software\"",
        "purpose = \"Betrieb der Software\"\nreceives = [\"fax\"]",
    );
    let line = line_number(&bad, "receives");
    assert_eq!(
        single_error(&bad),
        format!(
            "{line}: recipient.receives: unknown handover \"fax\"; use one of email, sms, office_copy"
        )
    );
    let twice = replace(
        "purpose = \"Betrieb der Software\"",
        "purpose = \"Betrieb der Software\"\nreceives = [\"sms\", \"sms\"]",
    );
    assert!(single_error(&twice).contains("\"sms\" is listed twice"));
}

#[test]
fn the_third_country_position_is_none_unless_the_policy_names_a_transfer() {
    let none = parse_policy("policies/x.toml", MINIMAL).unwrap();
    assert_eq!(none.tenant.third_countries_de(), NO_THIRD_COUNTRY);
    let named = replace(
        "region = \"DE-NW\"",
        "region = \"DE-NW\"\nthird_countries = \"Übermittlung in die USA auf Grundlage von Standardvertragsklauseln\"",
    );
    let policy = parse_policy("policies/x.toml", &named).unwrap();
    assert!(
        policy
            .tenant
            .third_countries_de()
            .starts_with("Übermittlung in die USA")
    );
    let empty = replace(
        "region = \"DE-NW\"",
        "region = \"DE-NW\"\nthird_countries = \" \"",
    );
    assert!(single_error(&empty).contains("tenant.third_countries: must not be empty"));
}

#[test]
fn case_officer_and_file_reference_prefix_are_optional_and_make_the_aktenzeichen() {
    let plain = parse_policy("policies/x.toml", MINIMAL).unwrap();
    assert_eq!(plain.tenant.case_officer, None);
    assert_eq!(plain.tenant.file_reference(12), "DS-12");
    let source = replace(
        "region = \"DE-NW\"",
        "region = \"DE-NW\"\ncase_officer = \"Frau Beispiel, Datenschutz\"\nfile_reference_prefix = \"DS-MU\"",
    );
    let policy = parse_policy("policies/x.toml", &source).unwrap();
    assert_eq!(
        policy.tenant.case_officer.as_deref(),
        Some("Frau Beispiel, Datenschutz")
    );
    assert_eq!(policy.tenant.file_reference(12), "DS-MU-12");
    let blank = replace(
        "region = \"DE-NW\"",
        "region = \"DE-NW\"\ncase_officer = \" \"",
    );
    assert!(
        single_error(&blank).contains("tenant.case_officer: must not be empty"),
        "{}",
        single_error(&blank)
    );
}

#[test]
fn the_new_retention_categories_read_as_german_sentences() {
    use crate::domain::policy::{RetainedData, RetentionAction, RetentionRule};
    let rule = |data, since: &str, action| RetentionRule {
        data,
        after: "156w".parse().unwrap(),
        since: since.into(),
        action,
        note: None,
    };
    let proofs = rule(
        RetainedData::ConsentProofs,
        "anonymized_at",
        RetentionAction::Delete,
    )
    .describe_de();
    assert!(
        proofs
            .starts_with("Nachweise erteilter Einwilligungen ohne Personenbezug werden 156 Wochen")
            && proofs.ends_with("nach ihrer Anonymisierung gelöscht."),
        "{proofs}"
    );
    let audit = rule(
        RetainedData::AuditSubjects,
        "at",
        RetentionAction::Anonymize,
    )
    .describe_de();
    assert!(
        audit.starts_with("Einträge im Prüfprotokoll werden 156 Wochen")
            && audit.ends_with("nach ihrer Aufzeichnung anonymisiert."),
        "{audit}"
    );
}
#[test]
fn the_identity_table_is_optional_and_checked() {
    let p = parse_policy("policies/x.toml", MINIMAL).unwrap();
    assert!(p.identity.trusted_authserv_ids.is_empty());
    assert_eq!(p.identity.confirmation_valid_for.as_seconds(), 14 * 86_400);
    let p = parse_policy(
        "policies/x.toml",
        &with("[identity]\ntrusted_authserv_ids = [\"MX1.Example.DE\"]\nconfirmation_valid_for = \"7d\"\n"),
    )
    .unwrap();
    assert_eq!(p.identity.trusted_authserv_ids, vec!["mx1.example.de"]);
    assert_eq!(p.identity.confirmation_valid_for.as_seconds(), 7 * 86_400);

    let source = with("[identity]\ntrusted_authserv_ids = [\"mx1.example.de; dmarc=pass\"]\n");
    let e = single_error(&source);
    assert!(
        e.contains(
            "identity.trusted_authserv_ids: \"mx1.example.de; dmarc=pass\" is not an authserv-id"
        ),
        "{e}"
    );
    let e = single_error(&with(
        "[identity]\ntrusted_authserv_ids = [\"mx1.example.de\", \"MX1.example.de\"]\n",
    ));
    assert!(e.contains("is listed twice"), "{e}");
    let e = single_error(&with("[identity]\nconfirmation_valid_for = \"120d\"\n"));
    assert!(
        e.contains("identity.confirmation_valid_for: \"120d\" is out of range"),
        "{e}"
    );
    let e = single_error(&with("[identity]\nconfirmation_valid_for = \"2 Wochen\"\n"));
    assert!(e.contains("identity.confirmation_valid_for"), "{e}");
}

#[test]
fn the_shipped_policies_trust_the_operators_receiving_server() {
    for file in [
        "recklinghausen.toml",
        "oer-erkenschwick.toml",
        "westendorf.toml",
    ] {
        let path = format!("{}/policies/{file}", env!("CARGO_MANIFEST_DIR"));
        let p = parse_policy(file, &std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(
            p.identity.trusted_authserv_ids,
            vec!["mx01.kommunal-it.example"],
            "{file}"
        );
    }
}

fn is_register_warning(w: &PolicyError) -> bool {
    w.field.ends_with(".contract_date") || w.field.ends_with(".last_review")
}

fn day(s: &str) -> chrono::NaiveDate {
    s.parse().unwrap()
}

const REGISTER: &str = "purpose = \"Betrieb der Software\"\npurposes = [\"booking\"]\n\
    contract_date = \"2024-05-02\"\nsub_processors = [\"Hetzner Online GmbH\", \"IONOS SE\"]\n\
    location = \"Rechenzentrum in Nürnberg\"\nlast_review = \"2025-11-30\"\n";

#[test]
fn processors_register_fields_are_read_and_a_current_entry_has_no_warning() {
    let source = replace(PURPOSES_OF_BENTJEN, REGISTER);
    let policy = parse_policy("policies/x.toml", &source).unwrap();
    let r = &policy.recipients[0];
    assert_eq!(r.contract_date, Some(day("2024-05-02")));
    assert_eq!(r.sub_processors, ["Hetzner Online GmbH", "IONOS SE"]);
    assert_eq!(r.location.as_deref(), Some("Rechenzentrum in Nürnberg"));
    assert_eq!(r.last_review, Some(day("2025-11-30")));
    let register: Vec<_> = policy
        .warnings_on(day("2026-11-30"))
        .into_iter()
        .filter(is_register_warning)
        .collect();
    assert!(register.is_empty(), "{register:#?}");
}

#[test]
fn processors_register_warns_without_contract_date_and_after_twelve_months_without_review() {
    let missing = parse_policy("policies/x.toml", &clean(MINIMAL)).unwrap();
    let fields: Vec<String> = missing
        .warnings_on(day("2026-12-01"))
        .into_iter()
        .filter(is_register_warning)
        .map(|w| format!("{}: {}", w.line, w.field))
        .collect();
    let line = line_number(MINIMAL, "[[recipient]]");
    assert_eq!(
        fields,
        [
            format!("{line}: recipient[Bentjen Software GmbH].contract_date"),
            format!("{line}: recipient[Bentjen Software GmbH].last_review"),
        ]
    );
    let old = parse_policy("policies/x.toml", &replace(PURPOSES_OF_BENTJEN, REGISTER)).unwrap();
    let stale: Vec<String> = old
        .warnings_on(day("2026-12-01"))
        .into_iter()
        .filter(is_register_warning)
        .map(|w| w.problem)
        .collect();
    assert_eq!(stale.len(), 1, "{stale:?}");
    assert!(
        stale[0].contains("last review 2025-11-30 is more than 12 months ago"),
        "{stale:?}"
    );
}

#[test]
fn processors_register_fields_are_validated_with_their_line() {
    let source = replace(
        PURPOSES_OF_BENTJEN,
        "purpose = \"Betrieb der Software\"\ncontract_date = \"2024-13-01\"\n",
    );
    let e = single_error(&source);
    let line = line_number(&source, "contract_date");
    assert_eq!(
        e,
        format!(
            "{line}: recipient.contract_date: \"2024-13-01\" is not a date; use YYYY-MM-DD, e.g. 2025-03-31"
        )
    );
    let internal = replace(
        "role = \"processor\"",
        "role = \"internal\"\nlocation = \"Rathaus\"",
    );
    let e = single_error(&internal);
    assert!(
        e.contains("recipient.location: only a recipient with role \"processor\""),
        "{e}"
    );
    let unknown = replace(
        PURPOSES_OF_BENTJEN,
        "purpose = \"x\"\ncontract = \"2024-01-01\"\n",
    );
    assert!(single_error(&unknown).contains("unknown field `contract`"));
}

#[test]
fn measures_default_to_what_datenwart_does_and_a_policy_can_list_its_own() {
    let policy = parse_policy("policies/x.toml", MINIMAL).unwrap();
    assert_eq!(policy.measures, default_measures());
    let text: String = policy
        .measures
        .iter()
        .map(|m| m.description.clone())
        .collect();
    for fact in [
        "0600",
        "secure_delete",
        "TLS",
        "Hash",
        "Pseudonym",
        "Löschprotokoll",
        "Zugriffsprotokoll",
    ] {
        assert!(text.contains(fact), "{fact}");
    }
    let own = with(
        "[[measure]]\ntitle = \"Zutrittskontrolle\"\ndescription = \"Serverraum verschlossen\"\nconfirm = [\"description\"]\n",
    );
    let policy = parse_policy("policies/x.toml", &own).unwrap();
    assert_eq!(policy.measures.len(), 1);
    assert_eq!(policy.measures[0].title, "Zutrittskontrolle");
    assert!(!policy.measures[0].default);
    assert!(!policy.confirmed("measure[Zutrittskontrolle].description"));
    let missing = with("[[measure]]\ntitle = \"Zutrittskontrolle\"\n");
    let e = single_error(&missing);
    let line = line_number(&missing, "[[measure]]");
    assert_eq!(
        e,
        format!("{line}: measure.description: required field is missing")
    );
    let unknown = with("[[measure]]\ntitle = \"a\"\ndescription = \"b\"\nkind = \"c\"\n");
    assert!(single_error(&unknown).contains("unknown field `kind`"));
}

#[test]
fn the_record_derives_data_subjects_and_lists_the_registers_as_activities() {
    for (file, source) in [
        ("policies/recklinghausen.toml", RECKLINGHAUSEN),
        ("policies/oer-erkenschwick.toml", OER_ERKENSCHWICK),
        ("policies/westendorf.toml", WESTENDORF),
    ] {
        let policy = shipped(file, source);
        assert_eq!(
            policy.data_subjects_de(),
            [
                SUBJECTS_BOOKING,
                SUBJECTS_VISITORS,
                SUBJECTS_REQUESTS,
                SUBJECTS_MAIL
            ],
            "{file}"
        );
        let activities = policy.activities();
        let ids: Vec<&str> = activities.iter().map(|a| a.id.as_str()).collect();
        for id in ["booking", "access_log", "requests", "mailbox", "audit"] {
            assert!(ids.contains(&id), "{file}: {ids:?}");
        }
        for a in &activities {
            assert!(!a.periods.is_empty(), "{file}: {} has no period", a.id);
            if let Some(p) = policy.purpose(&a.id) {
                let expected: Vec<&str> = policy
                    .recipients
                    .iter()
                    .filter(|r| r.serves(&p.id))
                    .map(|r| r.name.as_str())
                    .collect();
                assert_eq!(a.recipients, expected, "{file}: {}", a.id);
            }
        }
    }
}

#[test]
fn the_line_index_agrees_with_counting_newlines() {
    let source = "a = 1\n\n[tenant]\nname = \"x\"\r\nlast";
    let index = super::LineIndex::new(source);
    for offset in 0..=source.len() + 3 {
        let counted = source.as_bytes()[..offset.min(source.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        assert_eq!(index.line(offset), counted, "offset {offset}");
    }
    assert_eq!(super::LineIndex::new("").line(0), 1);
}
