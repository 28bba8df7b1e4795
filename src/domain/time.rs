//! The clock as the store sees it (UTC instants in whole seconds), and dates and times as a
//! German reads them in a letter, a reply or on the booking pages.

use chrono::{DateTime, Datelike, NaiveDate, SubsecRound, Utc};
use chrono_tz::Tz;

/// The German way of writing a day: "30.11.2026".
const DATE_DE: &str = "%d.%m.%Y";

const WEEKDAYS_DE: [&str; 7] = [
    "Montag",
    "Dienstag",
    "Mittwoch",
    "Donnerstag",
    "Freitag",
    "Samstag",
    "Sonntag",
];

/// Now, cut to whole seconds, as every stored instant is.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

/// The canonical text form of an instant (RFC 3339, seconds, `Z`), used in hashes and output.
pub fn format_instant(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A day as a German writes it: "30.11.2026".
pub fn date_de(day: NaiveDate) -> String {
    day.format(DATE_DE).to_string()
}

/// The day of an instant in the tenant's zone: "30.11.2026".
pub fn local_date_de(tz: Tz, at: DateTime<Utc>) -> String {
    date_de(at.with_timezone(&tz).date_naive())
}

/// An instant in the tenant's zone: "30.11.2026, 08:20 Uhr".
pub fn local_instant_de(tz: Tz, at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&tz);
    format!(
        "{}, {} Uhr",
        date_de(local.date_naive()),
        local.format("%H:%M")
    )
}

/// An appointment in the tenant's zone: "Montag, 30.11.2026, 08:20 Uhr".
pub fn appointment_de(tz: Tz, at: DateTime<Utc>) -> String {
    let weekday = WEEKDAYS_DE[at.with_timezone(&tz).weekday().num_days_from_monday() as usize];
    format!("{weekday}, {}", local_instant_de(tz, at))
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

    #[test]
    fn dates_and_times_are_written_the_german_way_in_the_tenant_zone() {
        let tz = chrono_tz::Europe::Berlin;
        let at = DateTime::parse_from_rfc3339("2026-11-30T07:20:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            date_de(NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()),
            "02.03.2026"
        );
        assert_eq!(local_date_de(tz, at), "30.11.2026");
        assert_eq!(local_instant_de(tz, at), "30.11.2026, 08:20 Uhr");
        assert_eq!(appointment_de(tz, at), "Montag, 30.11.2026, 08:20 Uhr");
    }
}
