//! The clock as the store sees it: UTC instants in whole seconds.

use chrono::{DateTime, SubsecRound, Utc};

/// Now, cut to whole seconds, as every stored instant is.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

/// The canonical text form of an instant (RFC 3339, seconds, `Z`), used in hashes and output.
pub fn format_instant(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike;

    #[test]
    fn now_has_no_fraction_of_a_second() {
        assert_eq!(now().nanosecond(), 0);
    }

    #[test]
    fn instants_are_formatted_in_utc_with_seconds() {
        let at = DateTime::parse_from_rfc3339("2026-11-21T10:00:05+01:00").unwrap();
        assert_eq!(
            format_instant(&at.with_timezone(&Utc)),
            "2026-11-21T09:00:05Z"
        );
    }
}
