//! The clock as the store sees it (UTC instants in whole seconds), dates and times as a
//! German reads them in a letter, a reply or on the booking pages, and the one parser for
//! every date and time a person types on the command line.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, SubsecRound, TimeZone, Utc};
use chrono_tz::Tz;

/// The zone a date or time without one is read in, and tables are shown in: the offices
/// are German municipalities.
pub const LOCAL_ZONE: Tz = chrono_tz::Europe::Berlin;

/// What the parser accepts, for error messages and `--help`.
pub const ACCEPTED_DATES: &str = "2026-12-01 or 01.12.2026";
pub const ACCEPTED_TIMES: &str = "2026-12-01, 01.12.2026, 2026-12-01 14:30, 01.12.2026 14:30 \
     (local time, Europe/Berlin) or RFC 3339 (2026-12-01T14:30:00+01:00)";

const DAY_FORMATS: [&str; 2] = ["%Y-%m-%d", "%d.%m.%Y"];
const LOCAL_FORMATS: [&str; 6] = [
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
];

/// A date or time typed by a person: a day alone, or an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    Day(NaiveDate),
    At(DateTime<Utc>),
}

/// Why a typed date or time was refused; the message names the value and what is accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WhenError {
    #[error("\"{0}\" is not a date: use {ACCEPTED_DATES}")]
    NotADate(String),
    #[error("\"{0}\" is not a date or time: use {ACCEPTED_TIMES}")]
    NotATime(String),
    #[error("\"{0}\" does not exist in {1} (the clocks go forward then)")]
    Skipped(String, Tz),
}

/// A day: "2026-12-01" or "01.12.2026" (a leading zero may be left out: "1.12.2026").
pub fn parse_day(s: &str) -> Result<NaiveDate, WhenError> {
    let t = s.trim();
    DAY_FORMATS
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(t, f).ok())
        .ok_or_else(|| WhenError::NotADate(t.to_owned()))
}

/// A day, a local date and time in `zone`, or an RFC 3339 instant with its own offset.
pub fn parse_when(s: &str, zone: Tz) -> Result<When, WhenError> {
    let t = s.trim();
    if let Ok(day) = parse_day(t) {
        return Ok(When::Day(day));
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(When::At(at.with_timezone(&Utc)));
    }
    let local = LOCAL_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
        .ok_or_else(|| WhenError::NotATime(t.to_owned()))?;
    local_instant(t, local, zone).map(When::At)
}

/// Like [`parse_when`], a day alone taken as its first moment (local midnight).
pub fn parse_instant(s: &str, zone: Tz) -> Result<DateTime<Utc>, WhenError> {
    match parse_when(s, zone)? {
        When::At(at) => Ok(at),
        When::Day(day) => local_instant(
            s.trim(),
            day.and_hms_opt(0, 0, 0).expect("midnight exists"),
            zone,
        ),
    }
}

/// A local wall-clock time as an instant; the earlier one when the clocks go back.
fn local_instant(typed: &str, local: NaiveDateTime, zone: Tz) -> Result<DateTime<Utc>, WhenError> {
    zone.from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| WhenError::Skipped(typed.to_owned(), zone))
}

/// An instant as a table shows it: local wall-clock time with the zone's abbreviation,
/// "2026-12-01 14:30:00 CET".
pub fn local_table_instant(at: &DateTime<Utc>, zone: Tz) -> String {
    at.with_timezone(&zone)
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

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

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn days_are_read_the_iso_and_the_german_way() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        for typed in ["2026-12-01", "01.12.2026", "1.12.2026", " 2026-12-01 "] {
            assert_eq!(parse_day(typed), Ok(day), "{typed}");
            assert_eq!(parse_when(typed, LOCAL_ZONE), Ok(When::Day(day)), "{typed}");
        }
    }

    #[test]
    fn local_times_are_read_in_the_zone_and_instants_keep_their_offset() {
        let expected = utc("2026-12-01T13:30:00Z");
        for typed in [
            "2026-12-01 14:30",
            "2026-12-01T14:30",
            "01.12.2026 14:30",
            "01.12.2026 14:30:00",
            "2026-12-01T14:30:00+01:00",
            "2026-12-01T13:30:00Z",
        ] {
            assert_eq!(parse_instant(typed, LOCAL_ZONE), Ok(expected), "{typed}");
        }
        // Summer time: two hours ahead of UTC.
        assert_eq!(
            parse_instant("01.07.2026 14:30", LOCAL_ZONE),
            Ok(utc("2026-07-01T12:30:00Z"))
        );
        // A day alone is its local midnight.
        assert_eq!(
            parse_instant("2026-12-01", LOCAL_ZONE),
            Ok(utc("2026-11-30T23:00:00Z"))
        );
    }

    #[test]
    fn a_bad_value_is_named_with_the_accepted_formats() {
        let e = parse_instant("2026-13-01", LOCAL_ZONE).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("\"2026-13-01\""), "{text}");
        assert!(text.contains("01.12.2026 14:30"), "{text}");
        assert!(text.contains("RFC 3339"), "{text}");
        let e = parse_day("morgen").unwrap_err().to_string();
        assert!(e.contains("\"morgen\"") && e.contains("01.12.2026"), "{e}");
        assert!(parse_instant("", LOCAL_ZONE).is_err());
        assert!(parse_day("2026-12-01 14:30").is_err());
    }

    #[test]
    fn a_time_the_clocks_skip_is_refused_and_one_they_repeat_is_the_earlier() {
        let e = parse_instant("29.03.2026 02:30", LOCAL_ZONE).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        assert_eq!(
            parse_instant("25.10.2026 02:30", LOCAL_ZONE),
            Ok(utc("2026-10-25T00:30:00Z"))
        );
    }

    #[test]
    fn tables_show_local_time_with_the_zone() {
        assert_eq!(
            local_table_instant(&utc("2026-12-01T13:30:00Z"), LOCAL_ZONE),
            "2026-12-01 14:30:00 CET"
        );
        assert_eq!(
            local_table_instant(&utc("2026-07-01T12:30:00Z"), LOCAL_ZONE),
            "2026-07-01 14:30:00 CEST"
        );
    }

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
