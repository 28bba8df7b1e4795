//! The register's vocabulary as the store takes it. The store takes text for request kinds,
//! channels, outcomes, inbox outcomes and subject references today and will take
//! `RequestKind`, `Channel`, `InboxOutcome` and `SubjectRef`: a test that builds a store
//! struct or calls the store with one of these goes through a function here, so that change
//! is an edit of this file, not of every test.

use datenwart::domain::requests::{Channel, Outcome, RequestKind};

/// A request kind as `NewRequest::kind` and `RequestFilter::kind` take it.
pub fn kind(kind: RequestKind) -> String {
    kind.as_str().to_owned()
}

/// A channel as `NewRequest::channel` takes it.
pub fn channel(channel: Channel) -> String {
    channel.as_str().to_owned()
}

/// A request's outcome as `Store::close_request` takes it.
pub fn outcome(outcome: Outcome) -> &'static str {
    outcome.as_str()
}

/// An inbox outcome (`review`, `not_addressed`, …, see `ops::withdrawals::OUTCOMES`) as
/// `InboxEntry::outcome` takes it.
pub fn inbox_outcome(outcome: &str) -> String {
    assert!(
        datenwart::ops::withdrawals::OUTCOMES.contains(&outcome),
        "{outcome:?} is not an inbox outcome"
    );
    outcome.to_owned()
}

/// A pseudonymous subject reference as the store's structs take it.
pub fn subject(subject_ref: &str) -> String {
    subject_ref.to_owned()
}
