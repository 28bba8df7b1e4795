//! Delivery of queued notifications: how a failed attempt is classed, when the next one is
//! due, and when a message is given up.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// Attempts after which a message that keeps failing temporarily is failed for good:
/// with the delays of [`retry_delay`] the last one is about ten hours after the first.
pub const MAX_ATTEMPTS: i64 = 8;

/// How long a worker owns the messages it claimed. A worker that dies leaves them claimed;
/// once this is over, the next run takes them again.
pub const CLAIM_LEASE: Duration = Duration::minutes(10);

/// A worker sends no message of its claim in the last part of the lease: another worker may
/// take it over then, and the message would go out twice.
pub const LEASE_MARGIN: Duration = Duration::minutes(2);

/// The way a notification leaves: `notifications.channel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }
}

/// Why an attempt failed, as stored in `last_error_class` (never the server's text, which
/// can quote the address).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The server answered 4xx: try again later.
    Temporary,
    /// The server answered 5xx to this message: it will never take it.
    Permanent,
    /// No answer: the connection broke, timed out, or TLS failed. Try again later.
    Connection,
    /// The recipient or sender is not a usable address; nothing was sent.
    Address,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Temporary => "temporary",
            ErrorClass::Permanent => "permanent",
            ErrorClass::Connection => "connection",
            ErrorClass::Address => "address",
        }
    }

    /// Whether trying again cannot help.
    pub fn is_final(self) -> bool {
        matches!(self, ErrorClass::Permanent | ErrorClass::Address)
    }
}

/// The delay before attempt `attempts + 1`, after `attempts` failed ones: 5 minutes,
/// doubled each time, at most 4 hours.
pub fn retry_delay(attempts: i64) -> Duration {
    let doublings = attempts.clamp(1, 16) - 1;
    (Duration::minutes(5) * (1 << doublings)).min(Duration::hours(4))
}

/// What becomes of a message whose attempt number `attempts` failed with `class`: the
/// instant of the next attempt, or `None` when it has failed for good.
pub fn next_attempt(class: ErrorClass, attempts: i64, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if class.is_final() || attempts >= MAX_ATTEMPTS {
        None
    } else {
        Some(now + retry_delay(attempts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_from_five_minutes_up_to_four_hours() {
        let minutes: Vec<i64> = (1..=8).map(|a| retry_delay(a).num_minutes()).collect();
        assert_eq!(minutes, [5, 10, 20, 40, 80, 160, 240, 240]);
        assert_eq!(retry_delay(0).num_minutes(), 5);
        assert_eq!(retry_delay(1000), Duration::hours(4));
    }

    #[test]
    fn a_permanent_or_address_failure_is_final_at_once() {
        let now = Utc::now();
        assert_eq!(next_attempt(ErrorClass::Permanent, 1, now), None);
        assert_eq!(next_attempt(ErrorClass::Address, 1, now), None);
        assert_eq!(
            next_attempt(ErrorClass::Temporary, 1, now),
            Some(now + Duration::minutes(5))
        );
    }

    #[test]
    fn a_temporary_failure_is_final_after_the_last_attempt() {
        let now = Utc::now();
        assert!(next_attempt(ErrorClass::Connection, MAX_ATTEMPTS - 1, now).is_some());
        assert_eq!(
            next_attempt(ErrorClass::Connection, MAX_ATTEMPTS, now),
            None
        );
    }
}
