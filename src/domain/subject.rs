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
    fn the_key_is_not_printed_by_debug() {
        assert_eq!(format!("{:?}", key(7)), "PseudonymKey(<redacted>)");
    }
}
