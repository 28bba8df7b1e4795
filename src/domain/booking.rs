//! What a citizen's booking must contain, as the tenant's policy asks for it, and the
//! booking's reference and code.

use super::policy::{LegalBasis, Policy};
use super::subject::PseudonymKey;
use chrono::NaiveDate;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use std::collections::BTreeMap;
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// The purpose ids the booking path knows by name.
pub const SMS_PURPOSE: &str = "sms_reminder";
pub const OFFICE_COPY_PURPOSE: &str = "office_copy";

const MAX_NAME: usize = 100;
const MAX_ADDRESS: usize = 200;

/// The booking form as submitted, by JSON or by the HTML form. Every field is optional
/// here so that a missing one becomes a message, not a parse failure.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookingForm {
    pub slot_id: Option<i64>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub birth_date: Option<String>,
    #[serde(default)]
    pub consent: bool,
    #[serde(default)]
    pub sms_reminder: bool,
}

/// The person's details, checked and normalized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub birth_date: Option<NaiveDate>,
}

/// A consent given on the booking form: its purpose, the text's version label, and the
/// SHA-256 (hex) of the exact text shown, which proves the consent when a text is edited
/// under the same label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GivenConsent {
    pub purpose: String,
    pub version: String,
    pub text_sha256: String,
}

impl GivenConsent {
    fn of(purpose: &str, text: &crate::domain::policy::ConsentText) -> Self {
        use sha2::Digest;
        GivenConsent {
            purpose: purpose.to_owned(),
            version: text.version.clone(),
            text_sha256: hex::encode(sha2::Sha256::digest(text.text.as_bytes())),
        }
    }
}

/// A booking that may be stored: the person, the slot and the consents to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidBooking {
    pub slot_id: i64,
    pub person: Person,
    /// Every consent given with this booking.
    pub consents: Vec<GivenConsent>,
    pub sms_reminder: bool,
}

/// Field name → message, in German, for the citizen.
pub type FieldErrors = BTreeMap<String, String>;

/// Which form fields the policy's booking purpose asks for, and whether each is required.
/// `address` and `birth_date` are always voluntary (the seeds: "nur dann, wenn Sie diese
/// Daten freiwillig mitteilen"); the rest are required when listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FormFields {
    pub phone: bool,
    pub address: bool,
    pub birth_date: bool,
    pub sms_reminder: bool,
    /// Booking rests on consent: the consent checkbox is required.
    pub consent_required: bool,
}

impl FormFields {
    pub fn of(policy: &Policy) -> Self {
        let booking = policy.booking_purpose();
        let lists = |c: &str| booking.categories.iter().any(|x| x == c);
        Self {
            phone: lists("phone"),
            address: lists("address"),
            birth_date: lists("birth_date"),
            sms_reminder: policy
                .purpose(SMS_PURPOSE)
                .is_some_and(|p| p.legal_basis == LegalBasis::Consent),
            consent_required: booking.legal_basis == LegalBasis::Consent,
        }
    }
}

fn clean(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// A first or last name: one line, at most 100 characters, no digits or markup.
pub fn validate_name(value: &str) -> Result<String, String> {
    let mut errors = FieldErrors::new();
    let name = check_name("name", &Some(value.to_owned()), &mut errors);
    errors.remove("name").map_or(Ok(name), Err)
}

/// An optional postal address: at most 200 characters.
pub fn validate_address(value: &str) -> Result<String, String> {
    let v = value.trim();
    if v.is_empty()
        || v.chars().count() > MAX_ADDRESS
        || v.chars().any(|c| c.is_control() && c != '\n')
    {
        return Err(format!("Höchstens {MAX_ADDRESS} Zeichen, nicht leer."));
    }
    Ok(v.to_owned())
}

/// A birth date `YYYY-MM-DD` after 1900 and before `today`.
pub fn validate_birth_date(value: &str, today: NaiveDate) -> Result<NaiveDate, String> {
    match NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d") {
        Ok(date)
            if date < today && date > NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid date") =>
        {
            Ok(date)
        }
        _ => Err("Kein gültiges Geburtsdatum (JJJJ-MM-TT).".into()),
    }
}

/// Characters that are not seen but change how text is seen or split: controls (Cc),
/// format characters such as bidi overrides, zero-width spaces, soft hyphens and the BOM
/// (Cf), and line and paragraph separators (Zl, Zp).
fn is_invisible(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
}

/// Trimmed and in Unicode NFC, so that "Jörg" is stored one way whichever way it was typed.
fn check_name(field: &str, value: &Option<String>, errors: &mut FieldErrors) -> String {
    // Checked before trimming: a trailing separator is as suspicious as an inner one.
    let raw = value.as_deref().unwrap_or("");
    match clean(value).map(|v| v.nfc().collect::<String>()) {
        Some(_) if raw.chars().any(is_invisible) => {
            errors.insert(
                field.into(),
                "Bitte ohne Steuer- oder Formatzeichen (etwa unsichtbare oder die Schreibrichtung umkehrende Zeichen).".into(),
            );
            String::new()
        }
        None => {
            let what = if field == "first_name" {
                "Ihren Vornamen"
            } else {
                "Ihren Nachnamen"
            };
            errors.insert(field.into(), format!("Bitte geben Sie {what} an."));
            String::new()
        }
        Some(v) if v.chars().count() > MAX_NAME => {
            errors.insert(field.into(), format!("Höchstens {MAX_NAME} Zeichen."));
            String::new()
        }
        Some(v)
            if v.chars()
                .any(|c| c.is_ascii_digit() || "<>@{}[]\\|".contains(c)) =>
        {
            errors.insert(field.into(), "Bitte nur den Namen angeben.".into());
            String::new()
        }
        Some(v) => v,
    }
}

/// An e-mail address as browsers accept it in `<input type=email>` (the WHATWG grammar):
/// a local part of letters, digits and ``.!#$%&'*+/=?^_`{|}~-``, one `@`, and a domain of
/// dot-separated labels of letters, digits and inner hyphens, 63 characters each at most.
/// Unlike the grammar, the domain needs a dot (mail goes to the internet, not `localhost`)
/// and its letters may be non-ASCII (`müller.de`, which browsers send as punycode). No
/// quoted local parts, comments or address literals: nothing a mail client renders as markup.
pub fn is_booking_email(s: &str) -> bool {
    const LOCAL: &str = ".!#$%&'*+/=?^_`{|}~-";
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let label = |l: &str| {
        let count = l.chars().count();
        (1..=63).contains(&count)
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    s.chars().count() <= 254
        && !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || LOCAL.contains(c))
        && domain.contains('.')
        && domain.split('.').all(label)
}

/// Normalizes a German or international phone number to `+<digits>`: `0171 1234567` and
/// `+49 (0)171/123 45 67` both become `+491711234567`.
pub fn normalize_phone(raw: &str) -> Option<String> {
    let raw = raw.trim().replace("(0)", "");
    if raw.is_empty()
        || !raw
            .chars()
            .all(|c| c.is_ascii_digit() || " +-/().".contains(c))
    {
        return None;
    }
    if raw.chars().skip(1).any(|c| c == '+') {
        return None;
    }
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    let international = if raw.starts_with('+') {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_owned()
    } else if let Some(rest) = digits.strip_prefix('0') {
        format!("49{rest}")
    } else {
        return None;
    };
    (8..=15)
        .contains(&international.len())
        .then(|| format!("+{international}"))
}

/// Checks a submitted form against what the tenant's policy asks for. `today` bounds the
/// birth date. Every problem is reported at once, per field.
pub fn validate(
    policy: &Policy,
    form: &BookingForm,
    today: NaiveDate,
) -> Result<ValidBooking, FieldErrors> {
    let fields = FormFields::of(policy);
    let mut errors = FieldErrors::new();
    let slot_id = match form.slot_id {
        Some(id) if id > 0 => id,
        _ => {
            errors.insert("slot_id".into(), "Bitte einen Termin wählen.".into());
            0
        }
    };
    let first_name = check_name("first_name", &form.first_name, &mut errors);
    let last_name = check_name("last_name", &form.last_name, &mut errors);
    let email = match clean(&form.email) {
        None => {
            errors.insert(
                "email".into(),
                "Bitte geben Sie Ihre E-Mail-Adresse an.".into(),
            );
            String::new()
        }
        Some(e) if !is_booking_email(&e) => {
            errors.insert(
                "email".into(),
                "Keine gültige E-Mail-Adresse. Bitte in der Form name@beispiel.de angeben.".into(),
            );
            String::new()
        }
        Some(e) => e,
    };
    let not_collected = |errors: &mut FieldErrors, field: &str| {
        errors.insert(
            field.into(),
            "Wird für diese Buchung nicht erhoben; bitte leer lassen.".into(),
        );
    };
    let phone = match (clean(&form.phone), fields.phone) {
        (None, true) => {
            errors.insert(
                "phone".into(),
                "Bitte geben Sie Ihre Mobilnummer an.".into(),
            );
            None
        }
        (None, false) => None,
        (Some(_), false) => {
            not_collected(&mut errors, "phone");
            None
        }
        (Some(p), true) => match normalize_phone(&p) {
            Some(n) => Some(n),
            None => {
                errors.insert(
                    "phone".into(),
                    "Keine gültige Mobilnummer. Bitte so angeben: 0171 1234567.".into(),
                );
                None
            }
        },
    };
    let address = match (clean(&form.address), fields.address) {
        (Some(_), false) => {
            not_collected(&mut errors, "address");
            None
        }
        (Some(a), true) => match validate_address(&a) {
            Ok(a) => Some(a),
            Err(e) => {
                errors.insert("address".into(), e);
                None
            }
        },
        (None, _) => None,
    };
    let birth_date = match (clean(&form.birth_date), fields.birth_date) {
        (None, _) => None,
        (Some(_), false) => {
            not_collected(&mut errors, "birth_date");
            None
        }
        (Some(d), true) => match validate_birth_date(&d, today) {
            Ok(date) => Some(date),
            Err(e) => {
                errors.insert("birth_date".into(), e);
                None
            }
        },
    };
    let booking = policy.booking_purpose();
    let mut consents = Vec::new();
    if let Some(text) = &booking.consent {
        if form.consent {
            consents.push(GivenConsent::of(&booking.id, text));
        } else if fields.consent_required {
            errors.insert(
                "consent".into(),
                "Ohne Ihre Einwilligung können wir die Buchung nicht annehmen.".into(),
            );
        }
    }
    let sms_reminder = form.sms_reminder && fields.sms_reminder;
    if form.sms_reminder && !fields.sms_reminder {
        errors.insert(
            "sms_reminder".into(),
            "Dieser Ort versendet keine SMS-Erinnerungen.".into(),
        );
    }
    if sms_reminder {
        if phone.is_none() && !errors.contains_key("phone") {
            errors.insert(
                "phone".into(),
                "Für die SMS-Erinnerung wird eine Mobilnummer gebraucht.".into(),
            );
        }
        let sms = policy.purpose(SMS_PURPOSE).and_then(|p| p.consent.as_ref());
        if let Some(text) = sms {
            consents.push(GivenConsent::of(SMS_PURPOSE, text));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ValidBooking {
        slot_id,
        person: Person {
            first_name,
            last_name,
            email,
            phone,
            address,
            birth_date,
        },
        consents,
        sms_reminder,
    })
}

const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

pub(crate) fn random_chars(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    // 32 symbols divide 256 evenly, so taking the byte modulo 32 keeps them uniform.
    bytes
        .iter()
        .map(|b| CODE_ALPHABET[(*b as usize) % CODE_ALPHABET.len()] as char)
        .collect()
}

/// Wrong codes in a row after which cancelling a booking by its code is refused for
/// [`CODE_LOCKOUT`]. Per booking and in the database, so more processes or a restart do not
/// give a guesser more tries; the per-address rate limit of `serve` comes on top.
pub const CODE_GUESSES: i64 = 5;

/// How long cancelling by code stays refused after [`CODE_GUESSES`] wrong codes.
pub const CODE_LOCKOUT: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// A public booking reference, e.g. `T-7K3MQ9XA2B` (50 bits).
pub fn new_reference() -> String {
    format!("T-{}", random_chars(10))
}

/// A booking code for cancelling, shown once, e.g. `K7QM-2XPA` (40 bits, without 0/O/1/I).
pub fn new_code() -> String {
    let c = random_chars(8);
    format!("{}-{}", &c[..4], &c[4..])
}

/// What is stored instead of the code: a keyed hash bound to the reference.
pub fn code_hash(key: &PseudonymKey, reference: &str, code: &str) -> String {
    let normalized: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any size");
    mac.update(b"booking-code\0");
    mac.update(reference.as_bytes());
    mac.update(b"\0");
    mac.update(normalized.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A booking reference as people type it: any case, with or without the hyphen, with
/// spaces around — `t-7k3mq9xa2b`, `T7K3MQ9XA2B` and ` T-7K3MQ9XA2B ` are one reference.
/// Text that is not shaped like a reference comes back trimmed and in upper case.
pub fn normalize_reference(text: &str) -> String {
    let compact: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    match compact.strip_prefix('T') {
        Some(rest) if rest.len() == 10 => format!("T-{rest}"),
        _ => text.trim().to_ascii_uppercase(),
    }
}

/// The token of a confirmation page's URL (160 bits); only its keyed hash is stored.
pub fn new_receipt_token() -> String {
    random_chars(32)
}

/// What is stored instead of a confirmation page's token.
pub fn receipt_token_hash(key: &PseudonymKey, token: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any size");
    mac.update(b"receipt-token\0");
    mac.update(token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The booking code sealed for the confirmation page: each symbol shifted in the code's
/// alphabet by a key stream that needs the page's token (not stored) and the installation's
/// key — a one-time pad, as every token seals one code. Other characters stay.
pub fn seal_code(key: &PseudonymKey, token: &str, code: &str) -> String {
    shift_code(key, token, code, true)
}

/// The inverse of [`seal_code`]; a wrong token gives a wrong code, which the caller
/// detects with [`code_hash`].
pub fn unseal_code(key: &PseudonymKey, token: &str, sealed: &str) -> String {
    shift_code(key, token, sealed, false)
}

fn shift_code(key: &PseudonymKey, token: &str, text: &str, forward: bool) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any size");
    mac.update(b"receipt-seal\0");
    mac.update(token.as_bytes());
    let stream = mac.finalize().into_bytes();
    let n = CODE_ALPHABET.len();
    text.chars()
        .enumerate()
        .map(
            |(i, c)| match CODE_ALPHABET.iter().position(|&a| a as char == c) {
                Some(at) => {
                    let k = stream[i % stream.len()] as usize % n;
                    let to = if forward {
                        (at + k) % n
                    } else {
                        (at + n - k) % n
                    };
                    CODE_ALPHABET[to] as char
                }
                None => c,
            },
        )
        .collect()
}

/// An e-mail address as a page may show it to whoever holds its URL: the first character
/// of the local part and the domain (`a•••@example.de`).
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}•••@{domain}")
        }
        None => "•••".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::parse_policy;

    fn policy(file: &str) -> Policy {
        let path = format!("{}/policies/{file}", env!("CARGO_MANIFEST_DIR"));
        parse_policy(file, &std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 21).unwrap()
    }

    fn form() -> BookingForm {
        BookingForm {
            slot_id: Some(7),
            first_name: Some(" Anna ".into()),
            last_name: Some("Schmidt".into()),
            email: Some("anna.schmidt@example.de".into()),
            phone: Some("0171 1234567".into()),
            consent: true,
            ..Default::default()
        }
    }

    #[test]
    fn a_complete_consented_booking_is_valid_and_records_the_consent_version() {
        let b = validate(&policy("recklinghausen.toml"), &form(), today()).unwrap();
        assert_eq!(b.person.first_name, "Anna");
        assert_eq!(b.person.phone.as_deref(), Some("+491711234567"));
        assert_eq!(
            b.consents
                .iter()
                .map(|c| (c.purpose.as_str(), c.version.as_str()))
                .collect::<Vec<_>>(),
            vec![("booking", "2026-12")]
        );
        // The hash is of the exact text the form showed.
        use sha2::Digest;
        let shown = &policy("recklinghausen.toml")
            .booking_purpose()
            .consent
            .clone()
            .unwrap()
            .text;
        assert_eq!(
            b.consents[0].text_sha256,
            hex::encode(sha2::Sha256::digest(shown.as_bytes()))
        );
    }

    #[test]
    fn without_consent_a_consent_based_booking_is_refused() {
        let f = BookingForm {
            consent: false,
            ..form()
        };
        let e = validate(&policy("recklinghausen.toml"), &f, today()).unwrap_err();
        assert!(e["consent"].contains("Einwilligung"));
    }

    #[test]
    fn a_contract_based_booking_needs_no_consent_and_records_none() {
        let f = BookingForm {
            consent: false,
            ..form()
        };
        let b = validate(&policy("westendorf.toml"), &f, today()).unwrap();
        assert!(b.consents.is_empty());
    }

    #[test]
    fn an_sms_reminder_records_its_own_consent_where_the_policy_offers_it() {
        let f = BookingForm {
            sms_reminder: true,
            ..form()
        };
        let b = validate(&policy("oer-erkenschwick.toml"), &f, today()).unwrap();
        assert!(b.sms_reminder);
        assert_eq!(
            b.consents
                .iter()
                .map(|c| c.purpose.as_str())
                .collect::<Vec<_>>(),
            vec!["sms_reminder"]
        );
        let e = validate(&policy("recklinghausen.toml"), &f, today()).unwrap_err();
        assert!(e.contains_key("sms_reminder"));
    }

    #[test]
    fn every_bad_field_gets_its_own_message() {
        let f = BookingForm {
            slot_id: None,
            first_name: Some("x".repeat(101)),
            last_name: None,
            email: Some("anna at example".into()),
            phone: Some("call me".into()),
            ..form()
        };
        let e = validate(&policy("recklinghausen.toml"), &f, today()).unwrap_err();
        let fields: Vec<&str> = e.keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            vec!["email", "first_name", "last_name", "phone", "slot_id"]
        );
    }

    #[test]
    fn fields_the_policy_does_not_list_are_refused() {
        let f = BookingForm {
            birth_date: Some("1980-02-03".into()),
            ..form()
        };
        let e = validate(&policy("recklinghausen.toml"), &f, today()).unwrap_err();
        assert!(e["birth_date"].contains("nicht erhoben"));
        let b = validate(&policy("westendorf.toml"), &f, today()).unwrap();
        assert_eq!(b.person.birth_date, NaiveDate::from_ymd_opt(1980, 2, 3));
    }

    #[test]
    fn names_are_nfc_and_without_invisible_characters() {
        assert_eq!(validate_name("  Jo\u{308}rg ").unwrap(), "J\u{f6}rg");
        assert_eq!(
            validate_name("Zoë-Marie O'Brien").unwrap(),
            "Zoë-Marie O'Brien"
        );
        for bad in [
            "Anna\u{202E}tdimhcS",
            "\u{200B}\u{200B}",
            "Anna\u{2028}B",
            "Anna\u{2029}",
            "\u{FEFF}Anna",
            "An\u{AD}na",
            "Anna\u{2066}",
            "Anna\u{E0041}",
            "Anna\tB",
        ] {
            let e = validate_name(bad).unwrap_err();
            assert!(e.contains("Steuer- oder Formatzeichen"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn e_mail_addresses_follow_the_grammar_browsers_use() {
        for good in [
            "anna.schmidt@example.de",
            "a+b!#$%&'*/=?^_`{|}~-@sub.example.org",
            "x@müller-bau.de",
            "x@xn--mller-kva.de",
        ] {
            assert!(is_booking_email(good), "{good}");
        }
        for bad in [
            "<img/src=x/onerror=alert(1)>@evil.example",
            "\"<b>\"@example.com",
            "anna(c)@example.com",
            "anna@[127.0.0.1]",
            "anna@localhost",
            "anna@example..com",
            "anna@.example.com",
            "anna@-x.example.com",
            "anna@x-.example.com",
            "anna@exa_mple.com",
            "anna@@example.com",
            "@example.com",
            "anna@",
            "anna",
            "änna@example.com",
            "anna@example.com\u{202E}",
        ] {
            assert!(!is_booking_email(bad), "{bad}");
        }
        let long_label = format!("a@{}.de", "x".repeat(64));
        assert!(!is_booking_email(&long_label));
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(!is_booking_email(&long));
    }

    #[test]
    fn phone_numbers_are_normalized_to_international_form() {
        assert_eq!(
            normalize_phone("0171 1234567").as_deref(),
            Some("+491711234567")
        );
        assert_eq!(
            normalize_phone("+49 (0)171/123 45 67").as_deref(),
            Some("+491711234567")
        );
        assert_eq!(
            normalize_phone("0049 2361 50-1640").as_deref(),
            Some("+492361501640")
        );
        assert_eq!(normalize_phone("12345"), None);
        assert_eq!(normalize_phone("0171 12+34"), None);
        assert_eq!(normalize_phone("abc"), None);
    }

    #[test]
    fn codes_are_hashed_per_reference_and_forgive_case_and_dashes() {
        let key = PseudonymKey::new(vec![3; 32]);
        let code = new_code();
        assert_eq!(code.len(), 9);
        let h = code_hash(&key, "T-1", &code);
        assert_eq!(
            h,
            code_hash(&key, "T-1", &code.to_lowercase().replace('-', ""))
        );
        assert_ne!(h, code_hash(&key, "T-2", &code));
        assert!(new_reference().starts_with("T-"));
    }

    #[test]
    fn a_reference_is_the_same_in_any_case_and_with_or_without_hyphen() {
        for typed in [
            "T-7K3MQ9XA2B",
            "t-7k3mq9xa2b",
            "T7K3MQ9XA2B",
            " t7k3mq9xa2b ",
            "T 7K3M-Q9XA2B",
        ] {
            assert_eq!(normalize_reference(typed), "T-7K3MQ9XA2B", "{typed}");
        }
        assert_eq!(normalize_reference(" ab-12 "), "AB-12");
        assert_eq!(normalize_reference(""), "");
    }

    #[test]
    fn a_sealed_code_opens_only_with_its_token() {
        let key = PseudonymKey::new(vec![3; PseudonymKey::LEN]);
        let code = "K7QM-2XPA";
        let sealed = seal_code(&key, "TOKEN1", code);
        assert_ne!(sealed, code);
        assert_eq!(sealed.len(), code.len());
        assert_eq!(unseal_code(&key, "TOKEN1", &sealed), code);
        assert_ne!(unseal_code(&key, "TOKEN2", &sealed), code);
        assert_ne!(
            receipt_token_hash(&key, "TOKEN1"),
            receipt_token_hash(&key, "TOKEN2")
        );
    }

    #[test]
    fn a_masked_email_keeps_the_first_character_and_the_domain() {
        assert_eq!(mask_email("anna.schmidt@example.de"), "a•••@example.de");
    }
}
