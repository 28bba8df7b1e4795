//! Owns the statewide public holidays of the 16 German states and the working-day test built on them.
//!
//! Only holidays that state law makes public in the *whole* state are listed by default.
//! Holidays that apply in some municipalities only (Mariä Himmelfahrt in Bavaria, Fronleichnam
//! in parts of Saxony and Thuringia, the Augsburger Friedensfest) are [`LocalHoliday`]s: a
//! calendar counts them only when the tenant's policy names them (`local_holidays`). These
//! dates feed legal deadlines (`super::deadline`), and leaving out an uncertain holiday can only
//! make a computed deadline earlier, never later — the safe side; naming one is the office's
//! statement that it holds at its seat.
//!
//! The rules are the law as of 2026 plus the year-dependent changes listed in
//! [`holidays`]; years before reunification are not historically accurate (for instance,
//! Buß- und Bettag was a holiday nationwide until 1994).

use std::collections::BTreeMap;

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::Serialize;

/// ISO 3166-2 codes of the German states, the only region codes this module accepts.
pub const REGIONS: &[&str] = &[
    "DE-BW", "DE-BY", "DE-BE", "DE-BB", "DE-HB", "DE-HH", "DE-HE", "DE-MV", "DE-NI", "DE-NW",
    "DE-RP", "DE-SL", "DE-SN", "DE-ST", "DE-SH", "DE-TH",
];

/// One public holiday on one date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holiday {
    pub date: NaiveDate,
    /// German name as used in the state laws, e.g. "Karfreitag".
    pub name: &'static str,
    /// A holiday in part of the state only, counted because the tenant's policy names it.
    pub local: bool,
}

/// A region code that is not one of [`REGIONS`].
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown region \"{0}\": use one of DE-BW, DE-BY, DE-BE, DE-BB, DE-HB, DE-HH, DE-HE, DE-MV, \
     DE-NI, DE-NW, DE-RP, DE-SL, DE-SN, DE-ST, DE-SH, DE-TH"
)]
pub struct UnknownRegion(pub String);

/// The German states; parsed once so the holiday rules can match exhaustively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Bw,
    By,
    Be,
    Bb,
    Hb,
    Hh,
    He,
    Mv,
    Ni,
    Nw,
    Rp,
    Sl,
    Sn,
    St,
    Sh,
    Th,
}

impl State {
    /// Exact, case-sensitive match: region codes come from tenant configuration, and a
    /// misspelt one should fail loudly rather than be guessed.
    fn parse(region: &str) -> Result<Self, UnknownRegion> {
        Ok(match region {
            "DE-BW" => Self::Bw,
            "DE-BY" => Self::By,
            "DE-BE" => Self::Be,
            "DE-BB" => Self::Bb,
            "DE-HB" => Self::Hb,
            "DE-HH" => Self::Hh,
            "DE-HE" => Self::He,
            "DE-MV" => Self::Mv,
            "DE-NI" => Self::Ni,
            "DE-NW" => Self::Nw,
            "DE-RP" => Self::Rp,
            "DE-SL" => Self::Sl,
            "DE-SN" => Self::Sn,
            "DE-ST" => Self::St,
            "DE-SH" => Self::Sh,
            "DE-TH" => Self::Th,
            _ => return Err(UnknownRegion(region.to_owned())),
        })
    }

    fn code(self) -> &'static str {
        match self {
            Self::Bw => "DE-BW",
            Self::By => "DE-BY",
            Self::Be => "DE-BE",
            Self::Bb => "DE-BB",
            Self::Hb => "DE-HB",
            Self::Hh => "DE-HH",
            Self::He => "DE-HE",
            Self::Mv => "DE-MV",
            Self::Ni => "DE-NI",
            Self::Nw => "DE-NW",
            Self::Rp => "DE-RP",
            Self::Sl => "DE-SL",
            Self::Sn => "DE-SN",
            Self::St => "DE-ST",
            Self::Sh => "DE-SH",
            Self::Th => "DE-TH",
        }
    }
}

/// Easter Sunday of `year` by the anonymous Gregorian computus (Meeus–Jones–Butcher).
///
/// Years before 1583 get the proleptic Gregorian date.
///
/// # Panics
/// If the date lies outside chrono's `NaiveDate` range (about ±262,000 years).
pub fn easter_sunday(year: i32) -> NaiveDate {
    // Euclidean division keeps the algorithm correct for negative (proleptic) years too.
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let d = b.div_euclid(4);
    let e = b.rem_euclid(4);
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c.div_euclid(4);
    let k = c.rem_euclid(4);
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l).div_euclid(451);
    let month = (h + l - 7 * m + 114).div_euclid(31);
    let day = (h + l - 7 * m + 114).rem_euclid(31) + 1;
    // month is 3 or 4 and day 1..=31 by construction, so the casts cannot truncate.
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).expect("year within chrono's range")
}

/// The statewide public holidays of `region` in `year`, sorted by date.
///
/// Two holidays can share a date (Christi Himmelfahrt falls on 1 May in 2008 and 2160); both
/// are then listed, in a stable order.
///
/// # Panics
/// If `year` lies outside chrono's `NaiveDate` range.
pub fn holidays(region: &str, year: i32) -> Result<Vec<Holiday>, UnknownRegion> {
    Ok(compute(State::parse(region)?, year))
}

/// Whether `date` is a statewide public holiday in `region`.
pub fn is_holiday(region: &str, date: NaiveDate) -> Result<bool, UnknownRegion> {
    Ok(HolidayCalendar::new(region)?.is_holiday(date))
}

/// Whether `date` is a working day in `region`: not a Saturday, not a Sunday, not a holiday.
pub fn is_working_day(region: &str, date: NaiveDate) -> Result<bool, UnknownRegion> {
    Ok(HolidayCalendar::new(region)?.is_working_day(date))
}

/// A public holiday that holds in part of a state only, by the law of that state: a tenant's
/// policy names the ones that hold at its seat (`local_holidays`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LocalHoliday {
    /// Mariä Himmelfahrt, 15 August: in Bavarian municipalities with a predominantly Catholic
    /// population (Art. 1 Abs. 1 Nr. 2 FTG Bayern), e.g. Westendorf in the Ostallgäu.
    AssumptionDay,
    /// Augsburger Hohes Friedensfest, 8 August: in the city of Augsburg only (Art. 1 Abs. 2
    /// FTG Bayern).
    AugsburgPeaceFestival,
    /// Fronleichnam, Easter Sunday + 60 days: in the Catholic (Sorbian) municipalities of
    /// Saxony and in the Catholic municipalities of Thuringia (Eichsfeld and others).
    CorpusChristi,
}

impl LocalHoliday {
    pub const ALL: &'static [LocalHoliday] = &[
        LocalHoliday::AssumptionDay,
        LocalHoliday::AugsburgPeaceFestival,
        LocalHoliday::CorpusChristi,
    ];

    /// The name in policy files, e.g. "assumption_day".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AssumptionDay => "assumption_day",
            Self::AugsburgPeaceFestival => "augsburg_peace_festival",
            Self::CorpusChristi => "corpus_christi",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|h| h.as_str() == name)
    }

    /// German name as in the state laws.
    pub fn name_de(self) -> &'static str {
        match self {
            Self::AssumptionDay => "Mariä Himmelfahrt",
            Self::AugsburgPeaceFestival => "Augsburger Friedensfest",
            Self::CorpusChristi => "Fronleichnam",
        }
    }

    /// The region codes whose law makes it a holiday in part of the state (and not in all of
    /// it: where it is statewide, the state's own list has it already).
    pub fn regions(self) -> &'static [&'static str] {
        match self {
            Self::AssumptionDay | Self::AugsburgPeaceFestival => &["DE-BY"],
            Self::CorpusChristi => &["DE-SN", "DE-TH"],
        }
    }

    /// Its date in `year`.
    pub fn date(self, year: i32) -> NaiveDate {
        match self {
            Self::AssumptionDay => NaiveDate::from_ymd_opt(year, 8, 15).expect("valid date"),
            Self::AugsburgPeaceFestival => NaiveDate::from_ymd_opt(year, 8, 8).expect("valid date"),
            Self::CorpusChristi => easter_sunday(year) + Days::new(60),
        }
    }

    /// Why it cannot be a local holiday of a tenant in `region`, if it cannot.
    pub fn check_region(self, region: &str) -> Result<(), String> {
        if self.regions().contains(&region) {
            return Ok(());
        }
        let statewide = State::parse(region).is_ok_and(|state| {
            let year = 2026;
            compute(state, year)
                .iter()
                .any(|h| h.date == self.date(year) && h.name == self.name_de())
        });
        Err(if statewide {
            format!(
                "{} ({}) is a holiday in all of {region} already; list only holidays that hold in part of the state",
                self.as_str(),
                self.name_de()
            )
        } else {
            format!(
                "{} ({}) is no holiday in any part of {region}; it can be named in {}",
                self.as_str(),
                self.name_de(),
                self.regions().join(", ")
            )
        })
    }
}

/// A region's holidays with a per-year cache, for loops over many dates (a year of slots,
/// rolling a deadline forward) that should not recompute Easter for every day.
///
/// Built with [`HolidayCalendar::with_local`], it counts the tenant's local holidays too
/// (flagged [`Holiday::local`]).
#[derive(Debug, Clone)]
pub struct HolidayCalendar {
    state: State,
    local: Vec<LocalHoliday>,
    years: BTreeMap<i32, Vec<Holiday>>,
}

impl HolidayCalendar {
    pub fn new(region: &str) -> Result<Self, UnknownRegion> {
        Self::with_local(region, &[])
    }

    /// The statewide holidays of `region` and the `local` holidays of one tenant's seat.
    /// Whether each local holiday exists in `region` is the policy checker's business
    /// ([`LocalHoliday::check_region`]); here each is counted as given.
    pub fn with_local(region: &str, local: &[LocalHoliday]) -> Result<Self, UnknownRegion> {
        Ok(Self {
            state: State::parse(region)?,
            local: local.to_vec(),
            years: BTreeMap::new(),
        })
    }

    /// The region code this calendar was built for, e.g. "DE-NW".
    pub fn region(&self) -> &'static str {
        self.state.code()
    }

    /// All holidays of `year`, sorted by date (computed on first use, then cached).
    pub fn holidays_in(&mut self, year: i32) -> &[Holiday] {
        let state = self.state;
        let local = &self.local;
        self.years.entry(year).or_insert_with(|| {
            let mut list = compute(state, year);
            list.extend(local.iter().map(|h| Holiday {
                date: h.date(year),
                name: h.name_de(),
                local: true,
            }));
            // Stable: a statewide holiday stays first on a date it shares with a local one.
            list.sort_by_key(|holiday| holiday.date);
            list
        })
    }

    /// The holiday on `date`, if any; the first one listed if two share the date.
    pub fn holiday(&mut self, date: NaiveDate) -> Option<&Holiday> {
        self.holidays_in(date.year())
            .iter()
            .find(|holiday| holiday.date == date)
    }

    pub fn is_holiday(&mut self, date: NaiveDate) -> bool {
        self.holiday(date).is_some()
    }

    /// Not a Saturday, not a Sunday, not a holiday.
    pub fn is_working_day(&mut self, date: NaiveDate) -> bool {
        !is_weekend(date) && !self.is_holiday(date)
    }

    /// `date` itself if it is a working day, otherwise the next working day after it.
    ///
    /// # Panics
    /// If no working day follows before the end of chrono's `NaiveDate` range.
    pub fn working_day_on_or_after(&mut self, date: NaiveDate) -> NaiveDate {
        let mut day = date;
        while !self.is_working_day(day) {
            day = day.succ_opt().expect("date within chrono's range");
        }
        day
    }
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

fn compute(state: State, year: i32) -> Vec<Holiday> {
    use State::*;

    let fixed = |month, day| NaiveDate::from_ymd_opt(year, month, day).expect("valid date");
    let easter = easter_sunday(year);
    let easter_plus = |days| easter + Days::new(days);

    let mut list = Vec::with_capacity(16);
    let mut add = |date, name| {
        list.push(Holiday {
            date,
            name,
            local: false,
        })
    };

    // Nationwide (Tag der Deutschen Einheit by federal law, the rest by every state law).
    add(fixed(1, 1), "Neujahr");
    add(easter - Days::new(2), "Karfreitag");
    add(easter_plus(1), "Ostermontag");
    add(fixed(5, 1), "Tag der Arbeit");
    add(easter_plus(39), "Christi Himmelfahrt");
    add(easter_plus(50), "Pfingstmontag");
    add(fixed(10, 3), "Tag der Deutschen Einheit");
    add(fixed(12, 25), "1. Weihnachtstag");
    add(fixed(12, 26), "2. Weihnachtstag");

    if matches!(state, Bw | By | St) {
        add(fixed(1, 6), "Heilige Drei Könige");
    }
    if (state == Be && year >= 2019) || (state == Mv && year >= 2023) {
        add(fixed(3, 8), "Internationaler Frauentag");
    }
    // Brandenburg's law names Easter and Whit Sunday; they are Sundays anyway, listed for
    // completeness so that holiday lists shown to users match the law.
    if state == Bb {
        add(easter, "Ostersonntag");
        add(easter_plus(49), "Pfingstsonntag");
    }
    // One-off holidays for the 75th and 80th anniversary of the end of the war.
    if state == Be && (year == 2020 || year == 2025) {
        add(fixed(5, 8), "Tag der Befreiung");
    }
    // Saxony and Thuringia have Fronleichnam only in some (Sorbian / Catholic) municipalities,
    // so it is not statewide there and is left out (see the module doc for why that is safe).
    if matches!(state, Bw | By | He | Nw | Rp | Sl) {
        add(easter_plus(60), "Fronleichnam");
    }
    // Mariä Himmelfahrt is statewide only in Saarland. In Bavaria it is a holiday only in
    // municipalities with a predominantly Catholic population: an office there (e.g. in
    // Westendorf, Ostallgäu) is closed that day, but a deadline rule for all of Bavaria must
    // not assume it.
    if state == Sl {
        add(fixed(8, 15), "Mariä Himmelfahrt");
    }
    if state == Th && year >= 2019 {
        add(fixed(9, 20), "Weltkindertag");
    }
    // Added in the northern states in 2018; nationwide once for the 500th anniversary in 2017.
    let reformation = match state {
        Bb | Mv | Sn | St | Th => true,
        Hb | Hh | Ni | Sh => year >= 2017,
        _ => year == 2017,
    };
    if reformation {
        add(fixed(10, 31), "Reformationstag");
    }
    if matches!(state, Bw | By | Nw | Rp | Sl) {
        add(fixed(11, 1), "Allerheiligen");
    }
    if state == Sn {
        add(buss_und_bettag(year), "Buß- und Bettag");
    }

    // Stable sort keeps a shared date (1 May = Himmelfahrt) in insertion order.
    list.sort_by_key(|holiday| holiday.date);
    list
}

/// The last Wednesday strictly before 23 November, i.e. between 16 and 22 November.
fn buss_und_bettag(year: i32) -> NaiveDate {
    let nov_22 = NaiveDate::from_ymd_opt(year, 11, 22).expect("valid date");
    let since_wednesday =
        (nov_22.weekday().num_days_from_monday() + 7 - Weekday::Wed.num_days_from_monday()) % 7;
    nov_22 - Days::new(u64::from(since_wednesday))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).unwrap()
    }

    fn names(region: &str, year: i32) -> Vec<&'static str> {
        holidays(region, year)
            .unwrap()
            .iter()
            .map(|holiday| holiday.name)
            .collect()
    }

    fn holiday_on(region: &str, year: i32, month: u32, day: u32) -> bool {
        is_holiday(region, date(year, month, day)).unwrap()
    }

    #[test]
    fn easter_sunday_2024_is_march_31() {
        assert_eq!(easter_sunday(2024), date(2024, 3, 31));
    }

    #[test]
    fn easter_sunday_2025_is_april_20() {
        assert_eq!(easter_sunday(2025), date(2025, 4, 20));
    }

    #[test]
    fn easter_sunday_2026_is_april_5() {
        assert_eq!(easter_sunday(2026), date(2026, 4, 5));
    }

    #[test]
    fn easter_sunday_2027_is_march_28() {
        assert_eq!(easter_sunday(2027), date(2027, 3, 28));
    }

    #[test]
    fn easter_sunday_2038_is_april_25_the_latest_possible_date() {
        assert_eq!(easter_sunday(2038), date(2038, 4, 25));
    }

    #[test]
    fn easter_sunday_2285_is_march_22_the_earliest_possible_date() {
        assert_eq!(easter_sunday(2285), date(2285, 3, 22));
    }

    #[test]
    fn easter_sunday_is_always_a_sunday_between_march_22_and_april_25() {
        for year in 1900..=2200 {
            let easter = easter_sunday(year);
            assert_eq!(easter.weekday(), Weekday::Sun, "{year}");
            assert!(
                easter >= date(year, 3, 22) && easter <= date(year, 4, 25),
                "{year}"
            );
        }
    }

    #[test]
    fn buss_und_bettag_2026_is_november_18() {
        assert_eq!(buss_und_bettag(2026), date(2026, 11, 18));
        assert!(holiday_on("DE-SN", 2026, 11, 18));
    }

    #[test]
    fn buss_und_bettag_2027_is_november_17() {
        assert_eq!(buss_und_bettag(2027), date(2027, 11, 17));
    }

    #[test]
    fn buss_und_bettag_is_a_wednesday_between_november_16_and_22() {
        for year in 2000..=2100 {
            let day = buss_und_bettag(year);
            assert_eq!(day.weekday(), Weekday::Wed, "{year}");
            assert!(
                day >= date(year, 11, 16) && day <= date(year, 11, 22),
                "{year}"
            );
        }
    }

    #[test]
    fn buss_und_bettag_is_a_holiday_only_in_saxony() {
        for region in REGIONS {
            assert_eq!(
                holiday_on(region, 2026, 11, 18),
                *region == "DE-SN",
                "{region}"
            );
        }
    }

    #[test]
    fn north_rhine_westphalia_has_11_holidays_in_2026() {
        assert_eq!(holidays("DE-NW", 2026).unwrap().len(), 11);
    }

    #[test]
    fn bavaria_has_12_statewide_holidays_in_2026_without_assumption_day() {
        // 9 nationwide + Heilige Drei Könige + Fronleichnam + Allerheiligen. Mariä Himmelfahrt
        // would make 13, but it is not statewide in Bavaria.
        let bavaria = names("DE-BY", 2026);
        assert_eq!(bavaria.len(), 12);
        assert!(bavaria.contains(&"Heilige Drei Könige"));
        assert!(bavaria.contains(&"Fronleichnam"));
        assert!(bavaria.contains(&"Allerheiligen"));
        assert!(!bavaria.contains(&"Mariä Himmelfahrt"));
        assert!(!holiday_on("DE-BY", 2026, 8, 15));
    }

    #[test]
    fn every_state_has_its_statutory_number_of_holidays_in_2026() {
        let expected = [
            ("DE-BW", 12),
            ("DE-BY", 12),
            ("DE-BE", 10),
            ("DE-BB", 12),
            ("DE-HB", 10),
            ("DE-HH", 10),
            ("DE-HE", 10),
            ("DE-MV", 11),
            ("DE-NI", 10),
            ("DE-NW", 11),
            ("DE-RP", 11),
            ("DE-SL", 12),
            ("DE-SN", 11),
            ("DE-ST", 11),
            ("DE-SH", 10),
            ("DE-TH", 11),
        ];
        assert_eq!(expected.len(), REGIONS.len());
        for (region, count) in expected {
            assert_eq!(holidays(region, 2026).unwrap().len(), count, "{region}");
        }
    }

    #[test]
    fn holiday_lists_are_sorted_by_date() {
        for region in REGIONS {
            let list = holidays(region, 2026).unwrap();
            assert!(
                list.windows(2).all(|pair| pair[0].date <= pair[1].date),
                "{region}"
            );
        }
    }

    #[test]
    fn nationwide_holidays_of_2026_fall_on_their_dates_in_every_state() {
        for region in REGIONS {
            for (month, day) in [
                (1, 1),
                (4, 3),
                (4, 6),
                (5, 1),
                (5, 14),
                (5, 25),
                (10, 3),
                (12, 25),
                (12, 26),
            ] {
                assert!(
                    holiday_on(region, 2026, month, day),
                    "{region} {month}-{day}"
                );
            }
        }
    }

    #[test]
    fn reformation_day_in_lower_saxony_was_a_holiday_in_2017_by_the_nationwide_one_off() {
        assert!(holiday_on("DE-NI", 2017, 10, 31));
        assert!(holiday_on("DE-NW", 2017, 10, 31));
        assert!(holiday_on("DE-BY", 2017, 10, 31));
    }

    #[test]
    fn reformation_day_in_lower_saxony_was_no_holiday_in_2016() {
        assert!(!holiday_on("DE-NI", 2016, 10, 31));
        assert!(holiday_on("DE-SN", 2016, 10, 31));
    }

    #[test]
    fn reformation_day_in_lower_saxony_is_a_holiday_from_2018() {
        assert!(holiday_on("DE-NI", 2018, 10, 31));
        assert!(holiday_on("DE-HB", 2026, 10, 31));
        assert!(!holiday_on("DE-NW", 2018, 10, 31));
    }

    #[test]
    fn womens_day_is_a_holiday_in_berlin_from_2019() {
        assert!(!holiday_on("DE-BE", 2018, 3, 8));
        assert!(holiday_on("DE-BE", 2019, 3, 8));
    }

    #[test]
    fn womens_day_is_a_holiday_in_mecklenburg_western_pomerania_from_2023() {
        assert!(!holiday_on("DE-MV", 2022, 3, 8));
        assert!(holiday_on("DE-MV", 2023, 3, 8));
    }

    #[test]
    fn liberation_day_is_a_holiday_in_berlin_in_2020_and_2025_only() {
        assert!(holiday_on("DE-BE", 2020, 5, 8));
        assert!(holiday_on("DE-BE", 2025, 5, 8));
        assert!(!holiday_on("DE-BE", 2026, 5, 8));
        assert!(!holiday_on("DE-BB", 2025, 5, 8));
    }

    #[test]
    fn world_childrens_day_is_a_holiday_in_thuringia_from_2019() {
        assert!(!holiday_on("DE-TH", 2018, 9, 20));
        assert!(holiday_on("DE-TH", 2019, 9, 20));
    }

    #[test]
    fn assumption_day_is_statewide_only_in_saarland() {
        for region in REGIONS {
            assert_eq!(
                holiday_on(region, 2026, 8, 15),
                *region == "DE-SL",
                "{region}"
            );
        }
    }

    #[test]
    fn corpus_christi_is_not_statewide_in_saxony_or_thuringia() {
        // Easter 2026 + 60 days = 4 June.
        assert!(holiday_on("DE-NW", 2026, 6, 4));
        assert!(!holiday_on("DE-SN", 2026, 6, 4));
        assert!(!holiday_on("DE-TH", 2026, 6, 4));
    }

    #[test]
    fn easter_and_whit_sunday_are_listed_only_for_brandenburg() {
        let brandenburg = names("DE-BB", 2026);
        assert!(brandenburg.contains(&"Ostersonntag"));
        assert!(brandenburg.contains(&"Pfingstsonntag"));
        assert!(holiday_on("DE-BB", 2026, 5, 24));
        assert!(!holiday_on("DE-BE", 2026, 4, 5));
    }

    #[test]
    fn ascension_day_and_labour_day_coincide_in_2008_and_both_are_listed() {
        let on_may_day: Vec<_> = holidays("DE-NW", 2008)
            .unwrap()
            .into_iter()
            .filter(|holiday| holiday.date == date(2008, 5, 1))
            .collect();
        assert_eq!(on_may_day.len(), 2);
    }

    #[test]
    fn weekends_and_holidays_are_not_working_days() {
        assert!(is_working_day("DE-NW", date(2026, 4, 2)).unwrap()); // Thursday
        assert!(!is_working_day("DE-NW", date(2026, 4, 3)).unwrap()); // Karfreitag
        assert!(!is_working_day("DE-NW", date(2026, 4, 4)).unwrap()); // Saturday
        assert!(!is_working_day("DE-NW", date(2026, 4, 5)).unwrap()); // Sunday
        assert!(!is_working_day("DE-NW", date(2026, 4, 6)).unwrap()); // Ostermontag
        assert!(is_working_day("DE-NW", date(2026, 4, 7)).unwrap()); // Tuesday
    }

    #[test]
    fn calendar_agrees_with_the_free_functions_for_every_day_of_two_years() {
        for region in REGIONS {
            let mut calendar = HolidayCalendar::new(region).unwrap();
            let mut day = date(2026, 1, 1);
            while day < date(2028, 1, 1) {
                assert_eq!(calendar.is_holiday(day), is_holiday(region, day).unwrap());
                assert_eq!(
                    calendar.is_working_day(day),
                    is_working_day(region, day).unwrap()
                );
                day = day.succ_opt().unwrap();
            }
            assert_eq!(calendar.years.len(), 2, "one cache entry per year");
        }
    }

    #[test]
    fn calendar_names_the_holiday_on_a_date() {
        let mut calendar = HolidayCalendar::new("DE-BY").unwrap();
        assert_eq!(calendar.region(), "DE-BY");
        let holiday = calendar.holiday(date(2027, 1, 6)).unwrap();
        assert_eq!(holiday.name, "Heilige Drei Könige");
        assert_eq!(calendar.holiday(date(2027, 1, 7)), None);
    }

    #[test]
    fn calendar_rolls_a_run_of_non_working_days_to_the_next_working_day() {
        let mut calendar = HolidayCalendar::new("DE-NW").unwrap();
        // Fri 25 Dec (holiday), Sat 26 Dec (holiday), Sun 27 Dec.
        assert_eq!(
            calendar.working_day_on_or_after(date(2026, 12, 25)),
            date(2026, 12, 28)
        );
        assert_eq!(
            calendar.working_day_on_or_after(date(2026, 12, 28)),
            date(2026, 12, 28)
        );
    }

    #[test]
    fn every_listed_region_code_is_accepted() {
        for region in REGIONS {
            assert_eq!(HolidayCalendar::new(region).unwrap().region(), *region);
        }
    }

    #[test]
    fn an_unknown_region_is_an_error_that_names_it_and_the_valid_codes() {
        let error = holidays("DE-XX", 2026).unwrap_err();
        assert_eq!(error.0, "DE-XX");
        let message = error.to_string();
        assert!(message.starts_with("unknown region \"DE-XX\": use one of DE-BW, DE-BY,"));
        assert!(REGIONS.iter().all(|region| message.contains(region)));
        assert!(is_holiday("BY", date(2026, 1, 6)).is_err());
        assert!(is_working_day("", date(2026, 1, 6)).is_err());
    }

    #[test]
    fn region_codes_are_case_sensitive() {
        assert!(HolidayCalendar::new("de-nw").is_err());
    }

    #[test]
    fn assumption_day_is_a_holiday_in_a_catholic_bavarian_municipality_that_names_it() {
        let mut westendorf =
            HolidayCalendar::with_local("DE-BY", &[LocalHoliday::AssumptionDay]).unwrap();
        let holiday = westendorf.holiday(date(2025, 8, 15)).unwrap();
        assert_eq!((holiday.name, holiday.local), ("Mariä Himmelfahrt", true));
        assert!(!westendorf.is_working_day(date(2025, 8, 15)));
        assert!(westendorf.is_working_day(date(2025, 8, 14)));
        // Statewide holidays stay, and are not flagged local.
        assert!(!westendorf.holiday(date(2026, 1, 6)).unwrap().local);
        assert_eq!(westendorf.holidays_in(2026).len(), 13);
        assert!(
            !HolidayCalendar::new("DE-BY")
                .unwrap()
                .is_holiday(date(2025, 8, 15))
        );
    }

    #[test]
    fn the_augsburg_peace_festival_is_on_8_august_every_year() {
        let mut augsburg =
            HolidayCalendar::with_local("DE-BY", &[LocalHoliday::AugsburgPeaceFestival]).unwrap();
        for year in 2025..=2030 {
            let holiday = augsburg.holiday(date(year, 8, 8)).unwrap();
            assert_eq!(holiday.name, "Augsburger Friedensfest", "{year}");
        }
        assert!(!augsburg.is_holiday(date(2026, 8, 15)));
    }

    #[test]
    fn corpus_christi_falls_60_days_after_easter_where_a_saxon_or_thuringian_tenant_names_it() {
        // Easter 2025: 20 April → Fronleichnam 19 June; 2026: 5 April → 4 June.
        assert_eq!(LocalHoliday::CorpusChristi.date(2025), date(2025, 6, 19));
        assert_eq!(LocalHoliday::CorpusChristi.date(2026), date(2026, 6, 4));
        for region in ["DE-SN", "DE-TH"] {
            let mut calendar =
                HolidayCalendar::with_local(region, &[LocalHoliday::CorpusChristi]).unwrap();
            assert!(calendar.is_holiday(date(2026, 6, 4)), "{region}");
            assert!(calendar.holiday(date(2026, 6, 4)).unwrap().local);
        }
    }

    #[test]
    fn a_local_holiday_is_allowed_only_where_its_state_has_it_in_part() {
        assert!(LocalHoliday::AssumptionDay.check_region("DE-BY").is_ok());
        assert!(
            LocalHoliday::AugsburgPeaceFestival
                .check_region("DE-BY")
                .is_ok()
        );
        assert!(LocalHoliday::CorpusChristi.check_region("DE-SN").is_ok());
        assert!(LocalHoliday::CorpusChristi.check_region("DE-TH").is_ok());
        let statewide = LocalHoliday::CorpusChristi
            .check_region("DE-NW")
            .unwrap_err();
        assert!(statewide.contains("in all of DE-NW already"), "{statewide}");
        let nowhere = LocalHoliday::AssumptionDay
            .check_region("DE-NI")
            .unwrap_err();
        assert!(
            nowhere.contains("no holiday in any part of DE-NI"),
            "{nowhere}"
        );
        let names: Vec<_> = LocalHoliday::ALL.iter().map(|h| h.as_str()).collect();
        assert_eq!(
            names,
            [
                "assumption_day",
                "augsburg_peace_festival",
                "corpus_christi"
            ]
        );
        assert!(names.iter().all(|n| LocalHoliday::from_name(n).is_some()));
    }
}
