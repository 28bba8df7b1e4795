//! The audit trail's hash chain: how an entry's hash is made and how a chain is verified.

use crate::domain::time::format_instant;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a change tells the audit trail. Never a name, e-mail, phone or IP address: the
/// subject is a pseudonymous reference and `details` holds counts and codes.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEvent {
    pub action: String,
    pub tenant: Option<String>,
    pub subject_ref: Option<String>,
    pub details: serde_json::Value,
}

impl AuditEvent {
    pub fn new(action: &str, details: serde_json::Value) -> Self {
        Self {
            action: action.to_owned(),
            tenant: None,
            subject_ref: None,
            details,
        }
    }

    pub fn tenant(mut self, slug: &str) -> Self {
        self.tenant = Some(slug.to_owned());
        self
    }

    /// The pseudonymous reference of the person concerned (never an address or a name).
    pub fn subject(mut self, subject_ref: impl AsRef<str>) -> Self {
        self.subject_ref = Some(subject_ref.as_ref().to_owned());
        self
    }
}

/// One stored entry of the audit trail.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub tenant: Option<String>,
    pub subject_ref: Option<String>,
    /// Random per entry (hex); with the pseudonym it makes `subject_commit`.
    #[serde(skip)]
    pub subject_salt: Option<String>,
    /// What the chain hashes instead of the pseudonym (entries since migration 0006):
    /// SHA-256 of the salt and the pseudonym. A retention rule can then clear pseudonym and
    /// salt together and the chain still verifies; without the salt the commitment links to
    /// nobody.
    #[serde(skip)]
    pub subject_commit: Option<String>,
    /// JSON text, hashed exactly as stored.
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The commitment to a pseudonym that an entry's hash covers.
pub fn subject_commitment(salt: &str, subject_ref: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"datenwart audit subject\0");
    h.update(salt.as_bytes());
    h.update(b"\0");
    h.update(subject_ref.as_bytes());
    hex::encode(h.finalize())
}

impl AuditEntry {
    /// Builds the entry that follows `prev` (id and hash of the newest entry, if any).
    pub fn chain(
        prev: Option<(i64, String)>,
        at: DateTime<Utc>,
        actor: &str,
        event: &AuditEvent,
    ) -> Self {
        Self::chain_salted(prev, at, actor, event, None)
    }

    /// As `chain`; with a salt (random, from the store) the entry commits to its pseudonym
    /// rather than hashing it, so that the pseudonym can be cleared later.
    pub fn chain_salted(
        prev: Option<(i64, String)>,
        at: DateTime<Utc>,
        actor: &str,
        event: &AuditEvent,
        salt: Option<String>,
    ) -> Self {
        let (prev_id, prev_hash) = prev.unwrap_or((0, GENESIS_HASH.to_owned()));
        let (subject_salt, subject_commit) = match (&event.subject_ref, salt) {
            (Some(r), Some(salt)) => {
                let commit = subject_commitment(&salt, r);
                (Some(salt), Some(commit))
            }
            _ => (None, None),
        };
        let mut entry = Self {
            id: prev_id + 1,
            at,
            actor: actor.to_owned(),
            action: event.action.clone(),
            tenant: event.tenant.clone(),
            subject_ref: event.subject_ref.clone(),
            subject_salt,
            subject_commit,
            // serde_json's map is ordered by key, so the text is deterministic.
            details: event.details.to_string(),
            prev_hash,
            hash: String::new(),
        };
        entry.hash = entry.computed_hash();
        entry
    }

    /// SHA-256 over every field but the hash itself, as one JSON array so that no
    /// field boundary is ambiguous.
    /// An entry with a commitment hashes it (after a leading 2) in place of the pseudonym.
    pub fn computed_hash(&self) -> String {
        if let Some(commit) = &self.subject_commit {
            let canonical = serde_json::json!([
                2,
                self.id,
                format_instant(&self.at),
                self.actor,
                self.action,
                self.tenant,
                commit,
                self.details,
                self.prev_hash,
            ]);
            return hex::encode(Sha256::digest(canonical.to_string().as_bytes()));
        }
        let canonical = serde_json::json!([
            self.id,
            format_instant(&self.at),
            self.actor,
            self.action,
            self.tenant,
            self.subject_ref,
            self.details,
            self.prev_hash,
        ]);
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

impl AuditEntry {
    /// A pseudonym still present must be the one committed to; a cleared one (pseudonym
    /// and salt gone) is what retention leaves.
    fn subject_matches_commitment(&self) -> bool {
        match (&self.subject_commit, &self.subject_ref, &self.subject_salt) {
            (None, _, _) | (Some(_), None, None) => true,
            (Some(c), Some(r), Some(salt)) => subject_commitment(salt, r) == *c,
            _ => false,
        }
    }
}

/// Why a chain does not verify; names the first bad entry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("audit entry {id}: its content does not match its hash (the entry was altered)")]
    Altered { id: i64 },
    #[error("audit entry {id}: expected entry {expected} here (entries before it were removed)")]
    Gap { id: i64, expected: i64 },
    #[error("audit entry {id}: it does not follow the entry before it (the chain was altered)")]
    Unlinked { id: i64 },
    #[error(
        "audit trail ends at entry {last}, but entry {head} was written (the newest entries were removed)"
    )]
    Truncated { last: i64, head: i64 },
    #[error("audit trail head does not match entry {id} (the head or the entry was altered)")]
    HeadMismatch { id: i64 },
}

/// Checks entries in id order, one page at a time, without holding the whole trail.
#[derive(Debug)]
pub struct ChainVerifier {
    last_id: i64,
    last_hash: String,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            last_id: 0,
            last_hash: GENESIS_HASH.to_owned(),
        }
    }
}

impl ChainVerifier {
    pub fn check(&mut self, entry: &AuditEntry) -> Result<(), ChainBreak> {
        if entry.id != self.last_id + 1 {
            return Err(ChainBreak::Gap {
                id: entry.id,
                expected: self.last_id + 1,
            });
        }
        if entry.computed_hash() != entry.hash || !entry.subject_matches_commitment() {
            return Err(ChainBreak::Altered { id: entry.id });
        }
        if entry.prev_hash != self.last_hash {
            return Err(ChainBreak::Unlinked { id: entry.id });
        }
        self.last_id = entry.id;
        self.last_hash = entry.hash.clone();
        Ok(())
    }

    /// The newest entry checked, if any.
    pub fn last_id(&self) -> i64 {
        self.last_id
    }

    /// Compares the end of the chain with the head the store keeps beside it.
    pub fn finish(&self, head: Option<(i64, String)>) -> Result<i64, ChainBreak> {
        let (head_id, head_hash) = head.unwrap_or((0, GENESIS_HASH.to_owned()));
        if head_id > self.last_id {
            return Err(ChainBreak::Truncated {
                last: self.last_id,
                head: head_id,
            });
        }
        if head_id < self.last_id || head_hash != self.last_hash {
            return Err(ChainBreak::HeadMismatch { id: self.last_id });
        }
        Ok(self.last_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chain_of(n: usize) -> Vec<AuditEntry> {
        let at = DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z")
            .unwrap()
            .to_utc();
        let mut entries: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let prev = entries.last().map(|e| (e.id, e.hash.clone()));
            let event = AuditEvent::new("services.import", json!({ "created": i })).tenant("x");
            entries.push(AuditEntry::chain(prev, at, "cli:test", &event));
        }
        entries
    }

    fn verify(entries: &[AuditEntry]) -> Result<i64, ChainBreak> {
        let mut v = ChainVerifier::default();
        for e in entries {
            v.check(e)?;
        }
        let head = entries.iter().map(|e| (e.id, e.hash.clone())).next_back();
        v.finish(head)
    }

    fn salted_chain_of(n: usize) -> Vec<AuditEntry> {
        let at = DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z")
            .unwrap()
            .to_utc();
        let mut entries: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let prev = entries.last().map(|e| (e.id, e.hash.clone()));
            let event = AuditEvent::new("subject.erase", json!({ "n": i }))
                .tenant("x")
                .subject(format!("{i:064x}"));
            entries.push(AuditEntry::chain_salted(
                prev,
                at,
                "cli:test",
                &event,
                Some(format!("salt{i}")),
            ));
        }
        entries
    }

    #[test]
    fn a_cleared_pseudonym_keeps_the_chain_and_a_changed_one_breaks_it() {
        let mut entries = salted_chain_of(3);
        assert_eq!(verify(&entries), Ok(3));
        // Retention clears pseudonym and salt together: the chain still verifies.
        entries[0].subject_ref = None;
        entries[0].subject_salt = None;
        assert_eq!(verify(&entries), Ok(3));
        // Another person's pseudonym in its place is caught.
        entries[1].subject_ref = Some(format!("{:064x}", 9));
        assert_eq!(verify(&entries), Err(ChainBreak::Altered { id: 2 }));
        let mut entries = salted_chain_of(3);
        // A pseudonym left without its salt, or a removed commitment, too.
        entries[2].subject_salt = None;
        assert_eq!(verify(&entries), Err(ChainBreak::Altered { id: 3 }));
        let mut entries = salted_chain_of(2);
        entries[0].subject_commit = None;
        assert_eq!(verify(&entries), Err(ChainBreak::Altered { id: 1 }));
    }

    #[test]
    fn an_untouched_chain_verifies() {
        assert_eq!(verify(&chain_of(3)), Ok(3));
        assert_eq!(verify(&[]), Ok(0));
    }

    #[test]
    fn an_altered_field_names_the_entry() {
        let mut entries = chain_of(3);
        entries[1].details = json!({ "created": 99 }).to_string();
        assert_eq!(verify(&entries), Err(ChainBreak::Altered { id: 2 }));
    }

    #[test]
    fn a_removed_entry_in_the_middle_is_a_gap() {
        let mut entries = chain_of(3);
        entries.remove(1);
        assert_eq!(
            verify(&entries),
            Err(ChainBreak::Gap { id: 3, expected: 2 })
        );
    }

    #[test]
    fn a_rehashed_entry_no_longer_links_to_the_next() {
        let mut entries = chain_of(3);
        entries[1].actor = "someone else".into();
        entries[1].hash = entries[1].computed_hash();
        assert_eq!(verify(&entries), Err(ChainBreak::Unlinked { id: 3 }));
    }

    #[test]
    fn removing_the_newest_entry_is_caught_by_the_head() {
        let entries = chain_of(3);
        let mut v = ChainVerifier::default();
        for e in &entries[..2] {
            v.check(e).unwrap();
        }
        let head = Some((3, entries[2].hash.clone()));
        assert_eq!(
            v.finish(head),
            Err(ChainBreak::Truncated { last: 2, head: 3 })
        );
    }
}
