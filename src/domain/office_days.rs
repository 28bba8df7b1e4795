//! Owns the days an office is shut: the statewide public holidays, the local holidays its
//! policy names, and its own closed days (24 December, a staff outing, a move).
//!
//! Public and local holidays are legal facts: they move Art. 12(3) deadlines
//! (`super::deadline`) and get no slots. Closed days are the office's own decision: they get
//! no slots, but a deadline that ends on one does not move, because Regulation 1182/71
//! Art. 3(4) moves a period only past public holidays, Saturdays and Sundays — an office that
//! closes on 24 December must answer by then or earlier.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Serialize, Serializer};

use super::holidays::{HolidayCalendar, UnknownRegion};
use super::policy::Policy;

/// A day the office is closed although it is no public holiday, as the policy writes it:
/// `2026-06-12` (that date once) or `--12-24` (24 December every year, ISO 8601's notation
/// for a month and day without a year).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClosedDay {
    Once(NaiveDate),
    /// Month and day; `--02-29` is a closed day in leap years only.
    Yearly {
        month: u32,
        day: u32,
    },
}

impl ClosedDay {
    pub fn matches(self, date: NaiveDate) -> bool {
        match self {
            Self::Once(once) => once == date,
            Self::Yearly { month, day } => date.month() == month && date.day() == day,
        }
    }
}

impl fmt::Display for ClosedDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Once(date) => write!(f, "{}", date.format("%Y-%m-%d")),
            Self::Yearly { month, day } => write!(f, "--{month:02}-{day:02}"),
        }
    }
}

impl Serialize for ClosedDay {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl FromStr for ClosedDay {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let text = s.trim();
        let usage = "use YYYY-MM-DD for one day (2026-06-12) or --MM-DD for every year (--12-24)";
        if let Some(rest) = text.strip_prefix("--") {
            let parsed = rest
                .split_once('-')
                .filter(|(m, d)| m.len() == 2 && d.len() == 2)
                .and_then(|(m, d)| Some((m.parse::<u32>().ok()?, d.parse::<u32>().ok()?)));
            // 2000 is a leap year, so --02-29 is accepted.
            return match parsed {
                Some((month, day)) if NaiveDate::from_ymd_opt(2000, month, day).is_some() => {
                    Ok(Self::Yearly { month, day })
                }
                _ => Err(format!("\"{text}\" is not a day of the year: {usage}")),
            };
        }
        if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
            && text.len() == 10
        {
            return Ok(Self::Once(date));
        }
        // "12-24" or "24.12." are the likely slips: say what was meant.
        let hint = match text.split_once('-') {
            Some((m, d)) if m.len() == 2 && d.len() == 2 => format!(" (every year: \"--{text}\")"),
            _ => String::new(),
        };
        Err(format!("\"{text}\" is not a closed day{hint}: {usage}"))
    }
}

/// Why the office has no slots on a day; in the order they are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DayOff {
    /// A holiday in the whole of the tenant's state.
    PublicHoliday,
    /// A holiday in part of the state that the policy names (`local_holidays`).
    LocalHoliday,
    /// A day the policy says the office is closed (`closed_days`).
    ClosedDay,
}

impl DayOff {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PublicHoliday => "public_holiday",
            Self::LocalHoliday => "local_holiday",
            Self::ClosedDay => "closed_day",
        }
    }
}

/// One tenant's holiday calendar (its local holidays included) and closed days, with the
/// calendar's per-year cache, for loops over many days.
#[derive(Debug, Clone)]
pub struct OfficeCalendar {
    holidays: HolidayCalendar,
    closed: Vec<ClosedDay>,
}

impl OfficeCalendar {
    pub fn new(
        region: &str,
        local: &[super::holidays::LocalHoliday],
        closed: &[ClosedDay],
    ) -> Result<Self, UnknownRegion> {
        Ok(Self {
            holidays: HolidayCalendar::with_local(region, local)?,
            closed: closed.to_vec(),
        })
    }

    /// The calendar of a validated policy.
    pub fn for_policy(policy: &Policy) -> Self {
        let t = &policy.tenant;
        Self::new(&t.region, &t.local_holidays, &t.closed_days)
            .expect("region validated by parse_policy")
    }

    /// Why the office has no slots on `date`, if it has none; weekends are the slot
    /// pattern's business, not this.
    pub fn day_off(&mut self, date: NaiveDate) -> Option<DayOff> {
        match self.holidays.holiday(date) {
            Some(holiday) if holiday.local => Some(DayOff::LocalHoliday),
            Some(_) => Some(DayOff::PublicHoliday),
            None if self.closed.iter().any(|c| c.matches(date)) => Some(DayOff::ClosedDay),
            None => None,
        }
    }

    /// Whether the policy itself shuts the office on `date`: a local holiday it names or one
    /// of its closed days. Statewide holidays are left to the slot generator, which opens
    /// them on request (`--include-holidays`).
    pub fn is_closed(&mut self, date: NaiveDate) -> bool {
        let local = self
            .holidays
            .holidays_in(date.year())
            .iter()
            .any(|h| h.local && h.date == date);
        local || self.closed.iter().any(|c| c.matches(date))
    }

    /// The holiday calendar alone (local holidays included): what legal deadlines count.
    pub fn holidays(&mut self) -> &mut HolidayCalendar {
        &mut self.holidays
    }
}

/// Whether the tenant of `policy` is closed on `date` by its own policy: a local holiday it
/// names, or a closed day. No slot on such a day is listed or can be booked, whenever it was
/// made.
pub fn is_closed(policy: &Policy, date: NaiveDate) -> bool {
    OfficeCalendar::for_policy(policy).is_closed(date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::holidays::LocalHoliday;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_closed_day_is_a_date_or_a_month_and_day_every_year() {
        assert_eq!(
            "2026-06-12".parse::<ClosedDay>().unwrap(),
            ClosedDay::Once(date("2026-06-12"))
        );
        assert_eq!(
            "--12-24".parse::<ClosedDay>().unwrap(),
            ClosedDay::Yearly { month: 12, day: 24 }
        );
        assert_eq!(
            "--02-29".parse::<ClosedDay>().unwrap().to_string(),
            "--02-29"
        );
    }

    #[test]
    fn a_closed_day_without_its_dashes_or_out_of_the_calendar_is_refused_with_a_hint() {
        let error = "12-24".parse::<ClosedDay>().unwrap_err();
        assert!(error.contains("\"--12-24\""), "{error}");
        assert!("--13-01".parse::<ClosedDay>().is_err());
        assert!("--02-30".parse::<ClosedDay>().is_err());
        assert!("24.12.".parse::<ClosedDay>().is_err());
        assert!("2026-6-12".parse::<ClosedDay>().is_err());
    }

    #[test]
    fn a_yearly_closed_day_matches_in_every_year_and_a_dated_one_once() {
        let eve = ClosedDay::Yearly { month: 12, day: 24 };
        assert!(eve.matches(date("2026-12-24")) && eve.matches(date("2031-12-24")));
        assert!(!eve.matches(date("2026-12-23")));
        let outing = ClosedDay::Once(date("2026-06-12"));
        assert!(outing.matches(date("2026-06-12")) && !outing.matches(date("2027-06-12")));
        let leap = ClosedDay::Yearly { month: 2, day: 29 };
        assert!(leap.matches(date("2028-02-29")));
    }

    #[test]
    fn each_day_off_is_told_by_its_reason_and_a_public_holiday_goes_first() {
        let closed = ["--12-24".parse().unwrap(), "--12-25".parse().unwrap()];
        let mut calendar =
            OfficeCalendar::new("DE-BY", &[LocalHoliday::AssumptionDay], &closed).unwrap();
        assert_eq!(
            calendar.day_off(date("2026-12-25")),
            Some(DayOff::PublicHoliday)
        );
        assert_eq!(calendar.day_off(date("2026-08-14")), None);
        assert_eq!(
            calendar.day_off(date("2026-08-15")),
            Some(DayOff::LocalHoliday)
        );
        assert_eq!(
            calendar.day_off(date("2026-12-24")),
            Some(DayOff::ClosedDay)
        );
        assert!(calendar.is_closed(date("2026-08-15")));
        assert!(calendar.is_closed(date("2026-12-24")));
        // Closed by the policy although a public holiday: a slot opened there on purpose
        // (--include-holidays) is still hidden, because the policy says so.
        assert!(calendar.is_closed(date("2026-12-25")));
        assert!(!calendar.is_closed(date("2026-01-06")));
    }

    #[test]
    fn closed_days_do_not_move_a_deadline_but_local_holidays_do() {
        let closed = ["--08-15".parse().unwrap()];
        let mut only_closed = OfficeCalendar::new("DE-BY", &[], &closed).unwrap();
        assert!(only_closed.holidays().is_working_day(date("2025-08-15")));
        let mut local = OfficeCalendar::new("DE-BY", &[LocalHoliday::AssumptionDay], &[]).unwrap();
        assert!(!local.holidays().is_working_day(date("2025-08-15")));
    }
}
