//! Values as the store takes them: the register's vocabulary and subject references are
//! typed (`RequestKind`, `Channel`, `Outcome`, `InboxOutcome`, `SubjectRef`); tests that
//! spell an inbox outcome or a stored reference as text turn it into its type here.

use datenwart::domain::requests::InboxOutcome;
use datenwart::domain::subject::SubjectRef;

/// An inbox outcome by its stored spelling (`review`, `not_addressed`, …).
pub fn inbox_outcome(outcome: &str) -> InboxOutcome {
    outcome
        .parse()
        .unwrap_or_else(|e| panic!("{outcome:?} is not an inbox outcome: {e}"))
}

/// A subject reference as stored (64 hex characters).
pub fn subject(subject_ref: &str) -> SubjectRef {
    SubjectRef::from_stored(subject_ref.to_owned())
}
