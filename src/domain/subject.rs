//! Who a person is to the store: the normalized e-mail and its pseudonymous reference.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

/// The installation's secret key for pseudonymous references (made at first `migrate`).
#[derive(Clone)]
pub struct PseudonymKey(Vec<u8>);

impl PseudonymKey {
    pub const LEN: usize = 32;

    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for PseudonymKey {
    // A key in a log line would undo the pseudonymization.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PseudonymKey(<redacted>)")
    }
}

/// A plain syntax check: one `@`, something before it, a dotted domain after it, no spaces.
/// Deliverability is not ours to judge; typos like a missing domain are.
pub fn is_email_address(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && s.len() <= 254
        && !domain.contains('@')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
}

/// Persons are identified by e-mail, compared case-insensitively after trimming.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A keyed hash of a person's normalized e-mail: stable within one installation, useless
/// without its key. This is what the register, the ledger and the audit trail store.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct SubjectRef(String);

impl SubjectRef {
    pub fn for_email(key: &PseudonymKey, email: &str) -> Self {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any size");
        mac.update(normalize_email(email).as_bytes());
        Self(hex::encode(mac.finalize().into_bytes()))
    }

    /// A reference read back from the store.
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The short handle shown in tables and taken by `--subject`: the first
    /// [`HANDLE_LEN`] characters (48 bits, no collision in practice; a prefix that fits
    /// two persons is refused when used).
    pub fn handle(&self) -> &str {
        &self.0[..self.0.len().min(HANDLE_LEN)]
    }
}

/// Characters of a subject reference shown as its handle.
pub const HANDLE_LEN: usize = 12;

/// The fewest characters `--subject` takes: fewer would fit many persons.
pub const MIN_HANDLE_LEN: usize = 8;

/// A typed `--subject` handle, lower-cased: [`MIN_HANDLE_LEN`] to 64 hexadecimal digits.
pub fn parse_handle(s: &str) -> Result<String, String> {
    let h = s.trim().to_ascii_lowercase();
    if h.len() < MIN_HANDLE_LEN || h.len() > 64 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "\"{}\" is not a subject handle: give the first {MIN_HANDLE_LEN} to 64 hexadecimal \
             characters of the reference `subject find` shows",
            s.trim()
        ));
    }
    Ok(h)
}

/// A name shown without giving it away: initial of the first name, first and last letter
/// of the last name: "C. W***k".
pub fn mask_name(first: Option<&str>, last: Option<&str>) -> String {
    let initial = |s: &str| {
        s.trim()
            .chars()
            .next()
            .map(|c| c.to_uppercase().collect::<String>())
    };
    let first = first.and_then(initial).map(|i| format!("{i}. "));
    let last = last.map(str::trim).filter(|l| !l.is_empty()).map(|l| {
        let mut chars = l.chars();
        let head = chars.next().map(String::from).unwrap_or_default();
        match chars.next_back() {
            Some(tail) => format!("{head}***{tail}"),
            None => format!("{head}***"),
        }
    });
    format!("{}{}", first.unwrap_or_default(), last.unwrap_or_default())
        .trim()
        .to_owned()
}

/// An e-mail address shown without giving it away: first letter and domain,
/// "c***@example.org".
pub fn mask_email(email: &str) -> String {
    match email.trim().split_once('@') {
        Some((local, domain)) => {
            let head: String = local.chars().take(1).collect();
            format!("{head}***@{domain}")
        }
        None => "***".into(),
    }
}

/// Compares with the stored text (64 hex characters).
impl PartialEq<&str> for SubjectRef {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for SubjectRef {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl AsRef<str> for SubjectRef {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SubjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> PseudonymKey {
        PseudonymKey::new(vec![byte; PseudonymKey::LEN])
    }

    #[test]
    fn the_same_person_gets_the_same_reference_whatever_the_case_and_spacing() {
        let a = SubjectRef::for_email(&key(1), "Anna.Schmidt@Example.de");
        let b = SubjectRef::for_email(&key(1), "  anna.schmidt@example.de ");
        assert_eq!(a, b);
    }

    #[test]
    fn another_installation_key_gives_another_reference() {
        let a = SubjectRef::for_email(&key(1), "anna@example.de");
        let b = SubjectRef::for_email(&key(2), "anna@example.de");
        assert_ne!(a, b);
    }

    #[test]
    fn the_reference_does_not_contain_the_address() {
        let r = SubjectRef::for_email(&key(1), "anna@example.de");
        assert!(!r.as_str().contains("anna"));
        assert_eq!(r.as_str().len(), 64);
    }

    #[test]
    fn the_handle_is_a_prefix_of_the_reference_and_typed_handles_are_checked() {
        let r = SubjectRef::for_email(&key(1), "anna@example.de");
        assert_eq!(r.handle().len(), HANDLE_LEN);
        assert!(r.as_str().starts_with(r.handle()));
        assert_eq!(parse_handle(" ABCDEF0123 "), Ok("abcdef0123".into()));
        assert!(parse_handle("abc").unwrap_err().contains("\"abc\""));
        assert!(parse_handle("abcdefgh").is_err());
        assert!(parse_handle("abcd%123").is_err());
    }

    #[test]
    fn names_and_addresses_are_masked() {
        assert_eq!(mask_name(Some("Clara"), Some("Wójcik")), "C. W***k");
        assert_eq!(mask_name(None, Some("Ng")), "N***g");
        assert_eq!(mask_name(Some("ürsel"), None), "Ü.");
        assert_eq!(mask_name(None, None), "");
        assert_eq!(mask_email("clara.w@example.org"), "c***@example.org");
        assert_eq!(mask_email("broken"), "***");
    }

    #[test]
    fn the_key_is_not_printed_by_debug() {
        assert_eq!(format!("{:?}", key(7)), "PseudonymKey(<redacted>)");
    }
}
