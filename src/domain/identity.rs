//! One-time confirmation codes: what a person whose request could not be traced to them
//! (a mail without proof of its sender, the page "Widerruf per E-Mail") gets at the address
//! on file, and confirms by replying with it or by following its link.

use crate::domain::booking::random_chars;
use crate::domain::subject::PseudonymKey;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The code's prefix: it marks the code in a reply whatever the text around it.
const PREFIX: &str = "DW-";
/// Characters after the prefix (60 bits from an alphabet without 0/O/1/I).
const LENGTH: usize = 12;
/// The alphabet of [`random_chars`].
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A new code, e.g. `DW-K7QM-2XPA-M3RT`.
pub fn new_code() -> String {
    let c = random_chars(LENGTH);
    format!("{PREFIX}{}-{}-{}", &c[..4], &c[4..8], &c[8..])
}

/// The code without prefix, dashes and case, if it has the code's shape.
fn normalize(code: &str) -> Option<String> {
    let chars: String = code
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let chars = match chars.strip_prefix("DW") {
        Some(rest) if chars.len() == LENGTH + 2 => rest.to_owned(),
        _ => chars,
    };
    (chars.len() == LENGTH && chars.bytes().all(|b| ALPHABET.contains(&b))).then_some(chars)
}

/// What is stored instead of the code: a keyed hash. `None` when the text is not shaped
/// like a code at all (so it is not looked up).
pub fn code_hash(key: &PseudonymKey, code: &str) -> Option<String> {
    let normalized = normalize(code)?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any size");
    mac.update(b"confirmation-code\0");
    mac.update(normalized.as_bytes());
    Some(hex::encode(mac.finalize().into_bytes()))
}

/// Whether two hashes are equal, in time independent of where they differ.
pub fn same_hash(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The codes in a text (subject or body of a reply, quoted parts included: whoever has
/// the code read the mail it was sent in), each once, in order.
pub fn find_codes(text: &str) -> Vec<String> {
    let upper = text.to_ascii_uppercase();
    let mut found: Vec<String> = Vec::new();
    for (at, _) in upper.match_indices(PREFIX) {
        let candidate: String = upper[at..]
            .chars()
            .take(PREFIX.len() + LENGTH + 2)
            .collect();
        if let Some(code) = normalize(&candidate)
            && !found.contains(&code)
        {
            found.push(code);
        }
    }
    found
        .into_iter()
        .map(|c| format!("{PREFIX}{}-{}-{}", &c[..4], &c[4..8], &c[8..]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_found_in_a_reply_and_hashes_alike_however_typed() {
        let key = PseudonymKey::new(vec![7; 32]);
        let code = new_code();
        assert!(code.starts_with("DW-") && code.len() == 17, "{code}");
        let reply =
            format!("Re: Bitte bestätigen (Code {code})\n\n> Ihr Code: {code}\nJa, das war ich.");
        assert_eq!(find_codes(&reply), vec![code.clone()]);
        let sloppy = code.to_lowercase().replace('-', "");
        assert_eq!(code_hash(&key, &sloppy), code_hash(&key, &code));
        assert!(code_hash(&key, "DW-0000-0000-0000").is_none());
        assert!(code_hash(&key, "hello").is_none());
        assert!(find_codes("no code here, DW-12").is_empty());
        let other = PseudonymKey::new(vec![8; 32]);
        assert_ne!(code_hash(&key, &code), code_hash(&other, &code));
        assert!(same_hash("abc", "abc") && !same_hash("abc", "abd") && !same_hash("a", "ab"));
    }
}
