//! The clap value parsers for every date and time option: one grammar
//! (`domain::time::parse_when`), read in Europe/Berlin where no zone is given. Clap names
//! the option and the value; the message says what is accepted.

use crate::domain::time::{self, LOCAL_ZONE, When};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

/// A day: `2026-12-01` or `01.12.2026`.
pub fn day(s: &str) -> Result<NaiveDate, String> {
    time::parse_day(s).map_err(|e| e.to_string())
}

/// An instant; a day alone is its local midnight.
pub fn instant(s: &str) -> Result<DateTime<Utc>, String> {
    time::parse_instant(s, LOCAL_ZONE).map_err(|e| e.to_string())
}

/// When a request arrived: a day alone is taken as noon UTC, which is the same day in
/// Germany whatever the season (deadlines count in days), a time as that instant.
pub fn received(s: &str) -> Result<DateTime<Utc>, String> {
    match time::parse_when(s, LOCAL_ZONE).map_err(|e| e.to_string())? {
        When::At(at) => Ok(at),
        When::Day(d) => Ok(d
            .and_time(NaiveTime::from_hms_opt(12, 0, 0).expect("noon"))
            .and_utc()),
    }
}
