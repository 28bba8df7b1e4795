//! Personal-data breaches (Art. 33, 34 DSGVO): the risk levels, the 72-hour clock to the
//! supervisory authority, and where a breach stands. Pure; the register is in `store`.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// Hours the controller has to notify the supervisory authority after becoming aware of a
/// breach (Art. 33(1) DSGVO).
pub const AUTHORITY_HOURS: i64 = 72;

/// The controller's assessment of the risk to the persons (Art. 33(1), 34(1)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// "Unlikely to result in a risk": documented (Art. 33(5)), not notified.
    Unlikely,
    /// A risk: the authority must be notified within 72 hours.
    Risk,
    /// A high risk: the authority and the persons must be notified (Art. 34).
    High,
}

impl Risk {
    pub const ALL: &'static [Risk] = &[Risk::Unlikely, Risk::Risk, Risk::High];

    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Unlikely => "unlikely",
            Risk::Risk => "risk",
            Risk::High => "high",
        }
    }

    pub fn german(self) -> &'static str {
        match self {
            Risk::Unlikely => "voraussichtlich kein Risiko (nur dokumentiert, Art. 33 Abs. 5)",
            Risk::Risk => "Risiko (Meldung an die Aufsichtsbehörde, Art. 33)",
            Risk::High => {
                "hohes Risiko (Meldung an die Aufsichtsbehörde und Benachrichtigung der Personen, Art. 33, 34)"
            }
        }
    }

    /// Whether the authority must be told (Art. 33(1)).
    pub fn notify_authority(self) -> bool {
        self != Risk::Unlikely
    }

    /// Whether the persons must be told (Art. 34(1)).
    pub fn notify_persons(self) -> bool {
        self == Risk::High
    }
}

impl std::str::FromStr for Risk {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Risk::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("\"{s}\" is not a risk level; use unlikely, risk or high"))
    }
}

/// When the authority must have been notified.
pub fn authority_deadline(known_at: DateTime<Utc>) -> DateTime<Utc> {
    known_at + Duration::hours(AUTHORITY_HOURS)
}

/// Where a breach stands, for listings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreachState {
    /// Open; the authority is still to be notified, within the 72 hours.
    Open,
    /// Open, the authority must be notified and the 72 hours are over.
    Overdue,
    /// Open; every notification the risk requires is done (or none is required).
    Notified,
    Closed,
}

impl BreachState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreachState::Open => "open",
            BreachState::Overdue => "overdue",
            BreachState::Notified => "notified",
            BreachState::Closed => "closed",
        }
    }
}

/// What a breach's dates say about it at `now`.
pub fn state(
    risk: Risk,
    known_at: DateTime<Utc>,
    authority_notified_at: Option<DateTime<Utc>>,
    persons_notified_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> BreachState {
    if closed_at.is_some() {
        return BreachState::Closed;
    }
    let authority_done = !risk.notify_authority() || authority_notified_at.is_some();
    let persons_done = !risk.notify_persons() || persons_notified_at.is_some();
    if !authority_done && now > authority_deadline(known_at) {
        BreachState::Overdue
    } else if authority_done && persons_done {
        BreachState::Notified
    } else {
        BreachState::Open
    }
}

/// The kinds of stored data the affected-persons helper counts.
pub const COUNTED: &[&str] = &["bookings", "consents", "notifications", "access_log"];

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn the_clock_runs_72_hours_from_becoming_aware() {
        let known = t("2026-12-01T09:30:00Z");
        assert_eq!(authority_deadline(known), t("2026-12-04T09:30:00Z"));
        let at = |now| state(Risk::Risk, known, None, None, None, t(now));
        assert_eq!(at("2026-12-04T09:30:00Z"), BreachState::Open);
        assert_eq!(at("2026-12-04T09:30:01Z"), BreachState::Overdue);
    }

    #[test]
    fn what_counts_as_done_depends_on_the_risk() {
        let known = t("2026-12-01T09:30:00Z");
        let late = t("2026-12-10T00:00:00Z");
        let told = Some(t("2026-12-02T10:00:00Z"));
        assert_eq!(
            state(Risk::Unlikely, known, None, None, None, late),
            BreachState::Notified
        );
        assert_eq!(
            state(Risk::Risk, known, told, None, None, late),
            BreachState::Notified
        );
        assert_eq!(
            state(Risk::High, known, told, None, None, late),
            BreachState::Open,
            "the persons are still to be told"
        );
        assert_eq!(
            state(Risk::High, known, told, told, None, late),
            BreachState::Notified
        );
        assert_eq!(
            state(Risk::High, known, None, None, Some(late), late),
            BreachState::Closed
        );
    }

    #[test]
    fn risk_levels_parse_and_name_the_allowed_values() {
        assert_eq!("high".parse::<Risk>(), Ok(Risk::High));
        assert!(
            "hoch"
                .parse::<Risk>()
                .unwrap_err()
                .contains("unlikely, risk or high")
        );
    }
}
