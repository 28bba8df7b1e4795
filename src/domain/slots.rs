//! Opening slots: weekday sets, office hours, local-time conversion and the rule that the
//! slots of one service never overlap.

use super::office_days::DayOff;
use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
    Weekday,
};
use chrono_tz::Tz;
use std::collections::BTreeMap;

/// A slot to be opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSlot {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub capacity: i64,
}

/// The longest stretch one `slots generate` may cover, against typos like 2062 for 2026.
pub const MAX_GENERATE_DAYS: i64 = 731;
pub const MAX_CAPACITY: i64 = 1000;

const WEEKDAYS: [(Weekday, &str, &str); 7] = [
    (Weekday::Mon, "mon", "mo"),
    (Weekday::Tue, "tue", "di"),
    (Weekday::Wed, "wed", "mi"),
    (Weekday::Thu, "thu", "do"),
    (Weekday::Fri, "fri", "fr"),
    (Weekday::Sat, "sat", "sa"),
    (Weekday::Sun, "sun", "so"),
];

fn parse_weekday(s: &str) -> Result<Weekday, String> {
    let s = s.trim().to_lowercase();
    WEEKDAYS
        .iter()
        .find(|(_, en, de)| s == *en || s == *de)
        .map(|(d, _, _)| *d)
        .ok_or_else(|| format!("\"{s}\" is not a weekday: use mon tue wed thu fri sat sun (or mo di mi do fr sa so)"))
}

/// The days of the week slots are opened on, e.g. `mon-fri` or `mon,wed,fri` or `mo-do,sa`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeekdaySet([bool; 7]);

impl WeekdaySet {
    pub fn contains(&self, day: Weekday) -> bool {
        self.0[day.num_days_from_monday() as usize]
    }
}

impl std::str::FromStr for WeekdaySet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut days = [false; 7];
        for part in s.split(',') {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (parse_weekday(a)?, parse_weekday(b)?);
                    let (a, b) = (a.num_days_from_monday(), b.num_days_from_monday());
                    if a > b {
                        return Err(format!(
                            "\"{}\" runs backwards: write it from Monday's side",
                            part.trim()
                        ));
                    }
                    (a..=b).for_each(|d| days[d as usize] = true);
                }
                None => days[parse_weekday(part)?.num_days_from_monday() as usize] = true,
            }
        }
        Ok(Self(days))
    }
}

/// Office hours on one day, local time: `08:00-12:00`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeRange {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

pub fn parse_time(s: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| {
        format!(
            "\"{}\" is not a time of day: use HH:MM, e.g. 08:00",
            s.trim()
        )
    })
}

/// One or more ranges separated by commas: `08:00-12:00,14:00-16:00`.
pub fn parse_time_ranges(s: &str) -> Result<Vec<TimeRange>, String> {
    let mut ranges: Vec<TimeRange> = Vec::new();
    for part in s.split(',') {
        let (a, b) = part.split_once('-').ok_or_else(|| {
            format!(
                "\"{}\" is not a time range: use HH:MM-HH:MM, e.g. 08:00-12:00",
                part.trim()
            )
        })?;
        let range = TimeRange {
            start: parse_time(a)?,
            end: parse_time(b)?,
        };
        if range.end <= range.start {
            return Err(format!("\"{}\" ends before it starts", part.trim()));
        }
        if let Some(other) = ranges
            .iter()
            .find(|r| r.start < range.end && range.start < r.end)
        {
            return Err(format!(
                "\"{}\" overlaps {}-{}",
                part.trim(),
                other.start.format("%H:%M"),
                other.end.format("%H:%M")
            ));
        }
        ranges.push(range);
    }
    Ok(ranges)
}

/// The instant of a local wall-clock time in the tenant's zone. A time skipped by the
/// change to summer time does not exist (None); a repeated one takes its first occurrence.
pub fn local_instant(tz: Tz, at: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&at) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        LocalResult::None => None,
    }
}

/// What `slots generate` is asked for.
#[derive(Clone, Debug)]
pub struct SlotPattern {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub weekdays: WeekdaySet,
    pub times: Vec<TimeRange>,
    pub every_minutes: i64,
    pub duration_minutes: i64,
    pub capacity: i64,
}

/// The slots of a pattern, the local times that did not exist (summer-time change) and
/// the days of the pattern left out, each with its reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Generated {
    pub slots: Vec<NewSlot>,
    pub skipped_nonexistent: usize,
    pub days_off: Vec<(NaiveDate, DayOff)>,
}

impl Generated {
    /// How many days were left out for `reason`.
    pub fn days_off(&self, reason: DayOff) -> usize {
        self.days_off.iter().filter(|(_, r)| *r == reason).count()
    }
}

impl SlotPattern {
    /// Checks the pattern as a whole; problems name the option.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.to < self.from {
            return Err((
                "--to",
                format!("{} is before --from {}", self.to, self.from),
            ));
        }
        if (self.to - self.from).num_days() >= MAX_GENERATE_DAYS {
            return Err((
                "--to",
                format!("the range covers more than {MAX_GENERATE_DAYS} days"),
            ));
        }
        if self.every_minutes < self.duration_minutes {
            return Err((
                "--every",
                format!(
                    "{} minutes is shorter than the service's {} minutes: slots of one service must not overlap",
                    self.every_minutes, self.duration_minutes
                ),
            ));
        }
        if !(1..=MAX_CAPACITY).contains(&self.capacity) {
            return Err((
                "--capacity",
                format!("{} is not between 1 and {MAX_CAPACITY}", self.capacity),
            ));
        }
        Ok(())
    }

    /// Every slot that starts inside an office-hours range and ends inside it too, on the
    /// pattern's weekdays except the days `day_off` gives a reason for (a holiday, a closed
    /// day; see `office_days::OfficeCalendar::day_off`).
    pub fn generate(
        &self,
        tz: Tz,
        mut day_off: impl FnMut(NaiveDate) -> Option<DayOff>,
    ) -> Generated {
        let mut out = Generated::default();
        let mut day = self.from;
        while day <= self.to {
            if !self.weekdays.contains(day.weekday()) {
                // Not an office day of this pattern: nothing to leave out.
            } else if let Some(reason) = day_off(day) {
                out.days_off.push((day, reason));
            } else {
                for range in &self.times {
                    let end = day.and_time(range.end);
                    let mut start = day.and_time(range.start);
                    while start + Duration::minutes(self.duration_minutes) <= end {
                        let slot_end = start + Duration::minutes(self.duration_minutes);
                        match (local_instant(tz, start), local_instant(tz, slot_end)) {
                            (Some(s), Some(e)) if e > s => out.slots.push(NewSlot {
                                starts_at: s,
                                ends_at: e,
                                capacity: self.capacity,
                            }),
                            _ => out.skipped_nonexistent += 1,
                        }
                        start += Duration::minutes(self.every_minutes);
                    }
                }
            }
            day = day.succ_opt().expect("dates before year 262143");
        }
        out
    }
}

/// What happens to one candidate slot against the slots a service already has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotFate {
    Create,
    /// The same slot (start and end) is already there.
    Exists,
    /// Overlaps a slot that starts at the given instant.
    Overlaps(DateTime<Utc>),
}

/// Decides each candidate in order; accepted candidates count against the later ones.
/// `existing` must not overlap itself (the store never lets it).
pub fn plan_slots(
    existing: &[(DateTime<Utc>, DateTime<Utc>)],
    candidates: &[NewSlot],
) -> Vec<SlotFate> {
    let mut occupied: BTreeMap<DateTime<Utc>, DateTime<Utc>> = existing.iter().copied().collect();
    let existing_len = occupied.len();
    let mut fates = Vec::with_capacity(candidates.len());
    for c in candidates {
        if occupied.get(&c.starts_at) == Some(&c.ends_at) {
            // Only a slot of the store counts as existing; a repeat inside the input overlaps.
            let in_store = existing
                .iter()
                .any(|&(s, e)| s == c.starts_at && e == c.ends_at);
            fates.push(if in_store {
                SlotFate::Exists
            } else {
                SlotFate::Overlaps(c.starts_at)
            });
            continue;
        }
        // Non-overlapping intervals: only the last one starting before our end can overlap.
        match occupied.range(..c.ends_at).next_back() {
            Some((&s, &e)) if e > c.starts_at => fates.push(SlotFate::Overlaps(s)),
            _ => {
                occupied.insert(c.starts_at, c.ends_at);
                fates.push(SlotFate::Create);
            }
        }
    }
    debug_assert!(occupied.len() >= existing_len);
    fates
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::holidays::LocalHoliday;
    use crate::domain::office_days::OfficeCalendar;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn pattern(from: &str, to: &str, days: &str, times: &str, every: i64, dur: i64) -> SlotPattern {
        SlotPattern {
            from: date(from),
            to: date(to),
            weekdays: days.parse().unwrap(),
            times: parse_time_ranges(times).unwrap(),
            every_minutes: every,
            duration_minutes: dur,
            capacity: 1,
        }
    }

    #[test]
    fn weekday_sets_accept_ranges_lists_and_german_abbreviations() {
        let s: WeekdaySet = "mon-fri".parse().unwrap();
        assert!(s.contains(Weekday::Mon) && s.contains(Weekday::Fri) && !s.contains(Weekday::Sat));
        let s: WeekdaySet = "mo,mi,sa".parse().unwrap();
        assert!(s.contains(Weekday::Wed) && s.contains(Weekday::Sat) && !s.contains(Weekday::Tue));
        assert!("fri-mon".parse::<WeekdaySet>().is_err());
        assert!(
            "monday"
                .parse::<WeekdaySet>()
                .unwrap_err()
                .contains("\"monday\"")
        );
    }

    #[test]
    fn time_ranges_must_be_forward_and_disjoint() {
        assert_eq!(
            parse_time_ranges("08:00-12:00,14:00-16:00").unwrap().len(),
            2
        );
        assert!(parse_time_ranges("12:00-08:00").is_err());
        assert!(
            parse_time_ranges("08:00-12:00,11:00-13:00")
                .unwrap_err()
                .contains("overlaps")
        );
        assert!(parse_time_ranges("8-12").is_err());
    }

    #[test]
    fn a_week_of_mornings_gives_sixteen_slots_a_day_on_weekdays_only() {
        // 2026-11-23 is a Monday; the week runs to Sunday the 29th.
        let g = pattern("2026-11-23", "2026-11-29", "mon-fri", "08:00-12:00", 15, 15)
            .generate(chrono_tz::Europe::Berlin, |_| None);
        assert_eq!(g.slots.len(), 5 * 16);
        // 08:00 in Berlin in November is 07:00 UTC.
        assert_eq!(g.slots[0].starts_at, utc("2026-11-23T07:00:00Z"));
        assert_eq!(g.slots[0].ends_at, utc("2026-11-23T07:15:00Z"));
        assert_eq!(g.slots.last().unwrap().ends_at, utc("2026-11-27T11:00:00Z"));
    }

    fn office(region: &str, local: &[LocalHoliday], closed: &[&str]) -> OfficeCalendar {
        let closed: Vec<_> = closed.iter().map(|c| c.parse().unwrap()).collect();
        OfficeCalendar::new(region, local, &closed).unwrap()
    }

    #[test]
    fn public_holidays_of_the_region_get_no_slots() {
        // 2026-12-21..27: Christmas Day (Fri 25th) is a holiday everywhere; the 24th is not.
        let p = pattern("2026-12-21", "2026-12-27", "mon-fri", "08:00-09:00", 60, 60);
        let mut nw = office("DE-NW", &[], &[]);
        let g = p.generate(chrono_tz::Europe::Berlin, |d| nw.day_off(d));
        assert_eq!(g.slots.len(), 4);
        assert_eq!(
            g.days_off,
            vec![(date("2026-12-25"), DayOff::PublicHoliday)]
        );
        // Allerheiligen 2027 is a Monday: a holiday in NW, a working day in NI.
        let p = pattern("2027-11-01", "2027-11-01", "mon", "08:00-09:00", 60, 60);
        let mut ni = office("DE-NI", &[], &[]);
        assert_eq!(
            p.generate(chrono_tz::Europe::Berlin, |d| nw.day_off(d))
                .slots
                .len(),
            0
        );
        assert_eq!(
            p.generate(chrono_tz::Europe::Berlin, |d| ni.day_off(d))
                .slots
                .len(),
            1
        );
    }

    #[test]
    fn assumption_day_gets_no_slots_in_a_catholic_bavarian_municipality_only() {
        // 15 August 2025 is a Friday: the week of 11 to 15 August.
        let p = pattern("2025-08-11", "2025-08-15", "mon-fri", "08:00-09:00", 60, 60);
        let mut westendorf = office("DE-BY", &[LocalHoliday::AssumptionDay], &[]);
        let g = p.generate(chrono_tz::Europe::Berlin, |d| westendorf.day_off(d));
        assert_eq!(g.slots.len(), 4);
        assert_eq!(g.days_off, vec![(date("2025-08-15"), DayOff::LocalHoliday)]);
        let mut munich_protestant = office("DE-BY", &[], &[]);
        let g = p.generate(chrono_tz::Europe::Berlin, |d| munich_protestant.day_off(d));
        assert_eq!((g.slots.len(), g.days_off.len()), (5, 0));
    }

    #[test]
    fn augsburg_gets_no_slots_on_its_peace_festival() {
        // 8 August 2025 is a Friday.
        let p = pattern("2025-08-08", "2025-08-08", "fri", "08:00-09:00", 60, 60);
        let mut augsburg = office("DE-BY", &[LocalHoliday::AugsburgPeaceFestival], &[]);
        let g = p.generate(chrono_tz::Europe::Berlin, |d| augsburg.day_off(d));
        assert_eq!(g.days_off(DayOff::LocalHoliday), 1);
        assert!(g.slots.is_empty());
    }

    #[test]
    fn corpus_christi_gets_no_slots_where_a_saxon_or_thuringian_office_names_it() {
        // Fronleichnam 2026: Thursday 4 June.
        let p = pattern("2026-06-04", "2026-06-04", "thu", "08:00-09:00", 60, 60);
        for region in ["DE-SN", "DE-TH"] {
            let mut local = office(region, &[LocalHoliday::CorpusChristi], &[]);
            let g = p.generate(chrono_tz::Europe::Berlin, |d| local.day_off(d));
            assert_eq!(g.days_off, vec![(date("2026-06-04"), DayOff::LocalHoliday)]);
            let mut statewide = office(region, &[], &[]);
            let g = p.generate(chrono_tz::Europe::Berlin, |d| statewide.day_off(d));
            assert_eq!(g.slots.len(), 1, "{region}");
        }
    }

    #[test]
    fn closed_days_get_no_slots_and_are_counted_apart_from_holidays() {
        // Thu 24 – Thu 31 December 2026, weekdays: 24 closed, 25 holiday, 28–30 open, 31 closed.
        let p = pattern("2026-12-24", "2026-12-31", "mon-fri", "08:00-09:00", 60, 60);
        let mut nw = office("DE-NW", &[], &["--12-24", "--12-31"]);
        let g = p.generate(chrono_tz::Europe::Berlin, |d| nw.day_off(d));
        assert_eq!(g.slots.len(), 3);
        assert_eq!(g.days_off(DayOff::ClosedDay), 2);
        assert_eq!(g.days_off(DayOff::PublicHoliday), 1);
        assert_eq!(g.days_off(DayOff::LocalHoliday), 0);
    }

    #[test]
    fn a_slot_that_would_run_past_closing_time_is_not_made() {
        let g = pattern("2026-11-23", "2026-11-23", "mon", "08:00-09:00", 25, 25)
            .generate(chrono_tz::Europe::Berlin, |_| None);
        assert_eq!(g.slots.len(), 2);
    }

    #[test]
    fn summer_time_is_applied_to_local_office_hours() {
        let g = pattern("2026-06-01", "2026-06-01", "mon", "08:00-08:30", 30, 30)
            .generate(chrono_tz::Europe::Berlin, |_| None);
        assert_eq!(g.slots[0].starts_at, utc("2026-06-01T06:00:00Z"));
    }

    #[test]
    fn a_local_time_skipped_by_the_clock_change_is_counted_not_made() {
        // 2026-03-29 02:00-03:00 does not exist in Berlin.
        let g = pattern("2026-03-29", "2026-03-29", "sun", "01:00-04:00", 60, 60)
            .generate(chrono_tz::Europe::Berlin, |_| None);
        assert_eq!(g.slots.len(), 1);
        assert_eq!(g.skipped_nonexistent, 2);
    }

    #[test]
    fn patterns_are_checked_before_generating() {
        assert_eq!(
            pattern("2026-11-23", "2026-11-22", "mon", "08:00-09:00", 15, 15)
                .validate()
                .unwrap_err()
                .0,
            "--to"
        );
        assert_eq!(
            pattern("2026-11-23", "2026-11-23", "mon", "08:00-09:00", 10, 15)
                .validate()
                .unwrap_err()
                .0,
            "--every"
        );
        assert_eq!(
            pattern("2026-01-01", "2028-12-31", "mon", "08:00-09:00", 15, 15)
                .validate()
                .unwrap_err()
                .0,
            "--to"
        );
    }

    #[test]
    fn planning_tells_new_existing_and_overlapping_slots_apart() {
        let slot = |s: &str, e: &str| NewSlot {
            starts_at: utc(s),
            ends_at: utc(e),
            capacity: 1,
        };
        let existing = [(utc("2026-11-23T07:00:00Z"), utc("2026-11-23T07:30:00Z"))];
        let fates = plan_slots(
            &existing,
            &[
                slot("2026-11-23T07:00:00Z", "2026-11-23T07:30:00Z"),
                slot("2026-11-23T07:15:00Z", "2026-11-23T07:45:00Z"),
                slot("2026-11-23T07:30:00Z", "2026-11-23T08:00:00Z"),
                slot("2026-11-23T07:45:00Z", "2026-11-23T08:15:00Z"),
                slot("2026-11-23T07:30:00Z", "2026-11-23T08:00:00Z"),
            ],
        );
        assert_eq!(
            fates,
            vec![
                SlotFate::Exists,
                SlotFate::Overlaps(utc("2026-11-23T07:00:00Z")),
                SlotFate::Create,
                SlotFate::Overlaps(utc("2026-11-23T07:30:00Z")),
                SlotFate::Overlaps(utc("2026-11-23T07:30:00Z")),
            ]
        );
    }
}
