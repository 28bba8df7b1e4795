//! Owns the answer deadlines for data-subject requests under Art. 12(3) DSGVO (GDPR).
//!
//! Art. 12(3) DSGVO: the controller answers a request under Art. 15–22 without undue delay and
//! in any event within one month of receipt. That period may be extended by two further months
//! where necessary, given the complexity and number of requests; the data subject must be told
//! of the extension, with reasons, within the first month.
//!
//! The DSGVO does not say how to count a month, so — as the EDPB's guidelines on the right of
//! access do — we count under Regulation (EEC, Euratom) No 1182/71 (periods, dates and time
//! limits), Art. 3:
//!
//! - Art. 3(1): a period counted from an event (here: receipt of the request) does not count
//!   the day on which the event occurs.
//! - Art. 3(2)(c): a period expressed in months ends with the expiry of the last hour of the
//!   day in the last month that has the same date as the day of the event; if that month has
//!   no such date, at the end of its last day (31 January + 1 month = 28/29 February).
//! - Art. 3(3): periods include public holidays, Saturdays and Sundays.
//! - Art. 3(4): if the last day of the period is a public holiday, a Saturday or a Sunday, the
//!   period ends with the expiry of the last hour of the following working day. Public
//!   holidays are those at the controller's seat: the statewide ones of the tenant's state and
//!   the local ones its policy names (`super::holidays`, `local_holidays`). The office's own
//!   closed days (`closed_days`) are no public holidays and do not move a deadline.
//!
//! Art. 3(5) (at least two working days in any period of two days or more) never bites for
//! periods of a month or more.
//!
//! Every function returns the last day on which the answer is in time (it is in time until
//! the end of that day). All dates are arguments: nothing here reads the clock.

use chrono::{Months, NaiveDate};

use super::holidays::{HolidayCalendar, UnknownRegion};

/// The regular Art. 12(3) period in months.
pub const ANSWER_MONTHS: u32 = 1;

/// The longest extension Art. 12(3) sentence 2 allows, in months.
pub const MAX_EXTENSION_MONTHS: u32 = 2;

/// Why an extended deadline could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum DeadlineError {
    #[error(transparent)]
    UnknownRegion(#[from] UnknownRegion),
    #[error("an Art. 12(3) DSGVO extension is 1 or 2 months, not {0}")]
    InvalidExtension(u32),
}

/// The deadline to answer a data-subject request received on `received` (the day of the
/// event), for a period of `months` months, in `region` (e.g. "DE-NW").
///
/// `months = 0` gives the day of receipt itself moved to a working day; callers normally pass
/// [`ANSWER_MONTHS`].
///
/// # Panics
/// If the deadline lies beyond the end of chrono's `NaiveDate` range.
pub fn due_date(
    region: &str,
    received: NaiveDate,
    months: u32,
) -> Result<NaiveDate, UnknownRegion> {
    let mut calendar = HolidayCalendar::new(region)?;
    Ok(due_date_in(&mut calendar, received, months))
}

/// [`due_date`] with a calendar the caller keeps, for computing many deadlines in one region.
///
/// # Panics
/// If the deadline lies beyond the end of chrono's `NaiveDate` range.
pub fn due_date_in(calendar: &mut HolidayCalendar, received: NaiveDate, months: u32) -> NaiveDate {
    // chrono's month addition keeps the day of the month and clamps it to the month's last day
    // when that day does not exist — exactly Art. 3(2)(c). Not counting the day of receipt
    // (Art. 3(1)) is what makes "same date, one month later" the last day.
    let last_day = received
        .checked_add_months(Months::new(months))
        .expect("deadline within chrono's date range");
    calendar.working_day_on_or_after(last_day)
}

/// The deadline after extending the period by `extension_months` (1 or 2) under Art. 12(3)
/// sentence 2 ("um weitere zwei Monate verlängert").
///
/// Our reading: the extended period is one period of `1 + extension_months` months counted
/// from the same event (receipt), and the working-day rule of Art. 3(4) is applied once, at its
/// end. We do not chain the extension onto the first deadline after that deadline has been
/// moved to a working day: that reading can give a later date (received 31 January: first
/// deadline Mon 2 March, + 2 months = 2 May, against 30 April here), and for a legal deadline
/// the earlier date is the safe side.
pub fn extended_due_date(
    region: &str,
    received: NaiveDate,
    extension_months: u32,
) -> Result<NaiveDate, DeadlineError> {
    if !(1..=MAX_EXTENSION_MONTHS).contains(&extension_months) {
        return Err(DeadlineError::InvalidExtension(extension_months));
    }
    let mut calendar = HolidayCalendar::new(region)?;
    extended_due_date_in(&mut calendar, received, extension_months)
}

/// [`extended_due_date`] with a calendar the caller keeps (one with the tenant's local
/// holidays, say).
pub fn extended_due_date_in(
    calendar: &mut HolidayCalendar,
    received: NaiveDate,
    extension_months: u32,
) -> Result<NaiveDate, DeadlineError> {
    if !(1..=MAX_EXTENSION_MONTHS).contains(&extension_months) {
        return Err(DeadlineError::InvalidExtension(extension_months));
    }
    Ok(due_date_in(
        calendar,
        received,
        ANSWER_MONTHS + extension_months,
    ))
}

/// Whether the period for a request received on `received` can still be extended on `today`:
/// only until the first deadline has passed (`today` on or before the first due date), since
/// the data subject must be told of the extension within the first month.
pub fn can_extend(
    received: NaiveDate,
    today: NaiveDate,
    region: &str,
) -> Result<bool, UnknownRegion> {
    Ok(today <= due_date(region, received, ANSWER_MONTHS)?)
}

#[cfg(test)]
mod tests {
    use chrono::{Datelike, Weekday};

    use super::*;
    use crate::domain::holidays::LocalHoliday;

    fn date(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).unwrap()
    }

    fn one_month(region: &str, received: NaiveDate) -> NaiveDate {
        due_date(region, received, ANSWER_MONTHS).unwrap()
    }

    #[test]
    fn a_request_received_on_monday_12_january_is_due_on_thursday_12_february() {
        assert_eq!(date(2026, 1, 12).weekday(), Weekday::Mon);
        assert_eq!(date(2026, 2, 12).weekday(), Weekday::Thu);
        assert_eq!(one_month("DE-NW", date(2026, 1, 12)), date(2026, 2, 12));
    }

    #[test]
    fn a_request_received_on_31_january_ends_on_28_february_and_that_saturday_moves_to_monday() {
        assert_eq!(date(2026, 2, 28).weekday(), Weekday::Sat);
        assert_eq!(date(2026, 3, 2).weekday(), Weekday::Mon);
        assert_eq!(one_month("DE-NW", date(2026, 1, 31)), date(2026, 3, 2));
    }

    #[test]
    fn in_a_leap_year_31_january_is_due_on_29_february() {
        assert_eq!(date(2028, 2, 29).weekday(), Weekday::Tue);
        assert_eq!(one_month("DE-NW", date(2028, 1, 31)), date(2028, 2, 29));
    }

    #[test]
    fn a_request_received_on_31_march_is_due_on_30_april() {
        assert_eq!(date(2026, 4, 30).weekday(), Weekday::Thu);
        assert_eq!(one_month("DE-NW", date(2026, 3, 31)), date(2026, 4, 30));
    }

    #[test]
    fn a_due_date_on_a_sunday_moves_to_monday() {
        assert_eq!(date(2026, 2, 15).weekday(), Weekday::Sun);
        assert_eq!(date(2026, 2, 16).weekday(), Weekday::Mon);
        assert_eq!(one_month("DE-NW", date(2026, 1, 15)), date(2026, 2, 16));
    }

    #[test]
    fn a_due_date_on_easter_monday_moves_to_tuesday() {
        assert_eq!(date(2026, 4, 6).weekday(), Weekday::Mon);
        assert_eq!(date(2026, 4, 7).weekday(), Weekday::Tue);
        for region in ["DE-NW", "DE-NI", "DE-BY", "DE-SN"] {
            assert_eq!(
                one_month(region, date(2026, 3, 6)),
                date(2026, 4, 7),
                "{region}"
            );
        }
    }

    #[test]
    fn a_due_date_on_all_saints_day_moves_in_north_rhine_westphalia_but_not_in_lower_saxony() {
        assert_eq!(date(2027, 11, 1).weekday(), Weekday::Mon);
        assert_eq!(date(2027, 11, 2).weekday(), Weekday::Tue);
        assert_eq!(one_month("DE-NW", date(2027, 10, 1)), date(2027, 11, 2));
        assert_eq!(one_month("DE-NI", date(2027, 10, 1)), date(2027, 11, 1));
    }

    #[test]
    fn a_due_date_on_reformation_day_moves_in_lower_saxony_but_not_in_north_rhine_westphalia() {
        // September has no 31st, so a one-month period never ends on 31 October; a longer one
        // does: here the fully extended period from 31 July.
        assert_eq!(date(2025, 10, 31).weekday(), Weekday::Fri);
        assert_eq!(date(2025, 11, 3).weekday(), Weekday::Mon);
        let received = date(2025, 7, 31);
        assert_eq!(
            extended_due_date("DE-NI", received, 2).unwrap(),
            date(2025, 11, 3)
        );
        assert_eq!(
            extended_due_date("DE-NW", received, 2).unwrap(),
            date(2025, 10, 31)
        );
    }

    #[test]
    fn a_run_of_christmas_holidays_and_a_weekend_moves_the_due_date_to_monday_28_december() {
        assert_eq!(date(2026, 12, 25).weekday(), Weekday::Fri);
        assert_eq!(date(2026, 12, 28).weekday(), Weekday::Mon);
        assert_eq!(one_month("DE-NW", date(2026, 11, 25)), date(2026, 12, 28));
    }

    #[test]
    fn a_december_receipt_rolls_past_new_year_into_the_next_year() {
        assert_eq!(date(2027, 1, 1).weekday(), Weekday::Fri);
        assert_eq!(date(2027, 1, 4).weekday(), Weekday::Mon);
        assert_eq!(one_month("DE-NW", date(2026, 12, 1)), date(2027, 1, 4));
    }

    #[test]
    fn epiphany_moves_the_due_date_in_bavaria_but_not_in_north_rhine_westphalia() {
        assert_eq!(date(2027, 1, 6).weekday(), Weekday::Wed);
        assert_eq!(one_month("DE-BY", date(2026, 12, 6)), date(2027, 1, 7));
        assert_eq!(one_month("DE-NW", date(2026, 12, 6)), date(2027, 1, 6));
    }

    #[test]
    fn corpus_christi_2026_moves_the_due_date_in_north_rhine_westphalia_but_not_in_lower_saxony() {
        assert_eq!(date(2026, 6, 4).weekday(), Weekday::Thu);
        assert_eq!(one_month("DE-NW", date(2026, 5, 4)), date(2026, 6, 5));
        assert_eq!(one_month("DE-NI", date(2026, 5, 4)), date(2026, 6, 4));
    }

    #[test]
    fn the_day_of_receipt_is_not_counted_so_a_thursday_receipt_is_due_on_the_same_date() {
        // Received Thu 12 February: the period starts the next day and ends on 12 March (Thu).
        assert_eq!(date(2026, 3, 12).weekday(), Weekday::Thu);
        assert_eq!(one_month("DE-NW", date(2026, 2, 12)), date(2026, 3, 12));
    }

    #[test]
    fn extending_by_two_months_counts_three_months_from_receipt() {
        assert_eq!(date(2026, 4, 30).weekday(), Weekday::Thu);
        assert_eq!(
            extended_due_date("DE-NW", date(2026, 1, 31), 2).unwrap(),
            date(2026, 4, 30)
        );
    }

    #[test]
    fn extending_by_one_month_counts_two_months_from_receipt() {
        // 31 January + 2 months = 31 March 2026, a Tuesday.
        assert_eq!(date(2026, 3, 31).weekday(), Weekday::Tue);
        assert_eq!(
            extended_due_date("DE-NW", date(2026, 1, 31), 1).unwrap(),
            date(2026, 3, 31)
        );
    }

    #[test]
    fn an_extension_of_zero_or_three_months_is_rejected() {
        for months in [0, 3] {
            let error = extended_due_date("DE-NW", date(2026, 1, 31), months).unwrap_err();
            assert!(matches!(error, DeadlineError::InvalidExtension(m) if m == months));
        }
    }

    #[test]
    fn an_unknown_region_is_an_error_for_every_deadline_function() {
        assert!(due_date("DE-XX", date(2026, 1, 12), 1).is_err());
        assert!(matches!(
            extended_due_date("DE-XX", date(2026, 1, 12), 2),
            Err(DeadlineError::UnknownRegion(_))
        ));
        assert!(can_extend(date(2026, 1, 12), date(2026, 1, 13), "DE-XX").is_err());
    }

    #[test]
    fn the_period_can_be_extended_on_the_first_due_date() {
        // Received 31 January 2026: the first deadline is Mon 2 March.
        assert!(can_extend(date(2026, 1, 31), date(2026, 3, 2), "DE-NW").unwrap());
        assert!(can_extend(date(2026, 1, 31), date(2026, 2, 28), "DE-NW").unwrap());
    }

    #[test]
    fn the_period_cannot_be_extended_the_day_after_the_first_due_date() {
        assert!(!can_extend(date(2026, 1, 31), date(2026, 3, 3), "DE-NW").unwrap());
    }

    fn at_westendorf() -> HolidayCalendar {
        HolidayCalendar::with_local("DE-BY", &[LocalHoliday::AssumptionDay]).unwrap()
    }

    #[test]
    fn at_westendorf_a_request_received_on_15_july_2025_is_due_on_monday_18_august_not_on_assumption_day()
     {
        assert_eq!(date(2025, 8, 15).weekday(), Weekday::Fri);
        assert_eq!(date(2025, 8, 18).weekday(), Weekday::Mon);
        assert_eq!(
            due_date_in(&mut at_westendorf(), date(2025, 7, 15), ANSWER_MONTHS),
            date(2025, 8, 18)
        );
        // Elsewhere in Bavaria 15 August is a working day.
        assert_eq!(one_month("DE-BY", date(2025, 7, 15)), date(2025, 8, 15));
    }

    #[test]
    fn at_westendorf_an_extended_period_ending_on_assumption_day_moves_to_the_next_working_day() {
        // Received 15 May 2030, extended by two months: three months end on Thursday 15
        // August, Mariä Himmelfahrt at Westendorf, so the period ends on Friday the 16th.
        assert_eq!(date(2030, 8, 15).weekday(), Weekday::Thu);
        assert_eq!(
            extended_due_date_in(&mut at_westendorf(), date(2030, 5, 15), 2).unwrap(),
            date(2030, 8, 16)
        );
        assert_eq!(
            extended_due_date("DE-BY", date(2030, 5, 15), 2).unwrap(),
            date(2030, 8, 15)
        );
    }

    #[test]
    fn in_augsburg_the_peace_festival_moves_a_due_date_on_8_august() {
        // Received Tue 8 July 2025: due Fri 8 August, the Friedensfest, so Mon 11 August.
        assert_eq!(date(2025, 8, 8).weekday(), Weekday::Fri);
        let mut augsburg =
            HolidayCalendar::with_local("DE-BY", &[LocalHoliday::AugsburgPeaceFestival]).unwrap();
        assert_eq!(
            due_date_in(&mut augsburg, date(2025, 7, 8), ANSWER_MONTHS),
            date(2025, 8, 11)
        );
    }

    #[test]
    fn corpus_christi_moves_the_due_date_where_a_saxon_or_thuringian_tenant_names_it() {
        // Fronleichnam 2026 is Thursday 4 June.
        for region in ["DE-SN", "DE-TH"] {
            let mut calendar =
                HolidayCalendar::with_local(region, &[LocalHoliday::CorpusChristi]).unwrap();
            assert_eq!(
                due_date_in(&mut calendar, date(2026, 5, 4), ANSWER_MONTHS),
                date(2026, 6, 5),
                "{region}"
            );
            assert_eq!(one_month(region, date(2026, 5, 4)), date(2026, 6, 4));
        }
    }

    #[test]
    fn a_kept_calendar_gives_the_same_deadlines_as_the_free_function() {
        let mut calendar = HolidayCalendar::new("DE-BY").unwrap();
        let mut received = date(2026, 1, 1);
        while received < date(2027, 1, 1) {
            assert_eq!(
                due_date_in(&mut calendar, received, ANSWER_MONTHS),
                one_month("DE-BY", received)
            );
            received = received.succ_opt().unwrap();
        }
    }
}
