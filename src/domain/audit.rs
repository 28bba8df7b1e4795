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
    /// JSON text, hashed exactly as stored.
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEntry {
    /// Builds the entry that follows `prev` (id and hash of the newest entry, if any).
    pub fn chain(
        prev: Option<(i64, String)>,
        at: DateTime<Utc>,
        actor: &str,
        event: &AuditEvent,
    ) -> Self {
        let (prev_id, prev_hash) = prev.unwrap_or((0, GENESIS_HASH.to_owned()));
        let mut entry = Self {
            id: prev_id + 1,
            at,
            actor: actor.to_owned(),
            action: event.action.clone(),
            tenant: event.tenant.clone(),
            subject_ref: event.subject_ref.clone(),
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
    pub fn computed_hash(&self) -> String {
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
        if entry.computed_hash() != entry.hash {
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
