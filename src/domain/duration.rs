//! Retention periods as written in policy files ("48h", "7d", "156w"): parsing, canonical form and German wording.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// Upper bound for a period. Anything longer is a typo, and it keeps `now - period`
/// far away from the limits of chrono's date range and of `i64` seconds.
const MAX_SECONDS: i64 = 36_600 * 86_400;

/// Only units of fixed length: months and years vary, so a "1 month" rule would
/// treat rows differently depending on the calendar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    Seconds,
    Minutes,
    Hours,
    Days,
    Weeks,
}

impl Unit {
    fn from_suffix(s: &str) -> Option<Unit> {
        match s {
            "s" => Some(Unit::Seconds),
            "m" => Some(Unit::Minutes),
            "h" => Some(Unit::Hours),
            "d" => Some(Unit::Days),
            "w" => Some(Unit::Weeks),
            _ => None,
        }
    }

    fn suffix(self) -> char {
        match self {
            Unit::Seconds => 's',
            Unit::Minutes => 'm',
            Unit::Hours => 'h',
            Unit::Days => 'd',
            Unit::Weeks => 'w',
        }
    }

    fn seconds(self) -> i64 {
        match self {
            Unit::Seconds => 1,
            Unit::Minutes => 60,
            Unit::Hours => 3_600,
            Unit::Days => 86_400,
            Unit::Weeks => 604_800,
        }
    }

    /// (singular, plural nominative/accusative, plural dative)
    fn german(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Unit::Seconds => ("Sekunde", "Sekunden", "Sekunden"),
            Unit::Minutes => ("Minute", "Minuten", "Minuten"),
            Unit::Hours => ("Stunde", "Stunden", "Stunden"),
            Unit::Days => ("Tag", "Tage", "Tagen"),
            Unit::Weeks => ("Woche", "Wochen", "Wochen"),
        }
    }
}

/// A whole, positive number of seconds, remembered in the unit it was written in so
/// that messages and letters say "48 Stunden" rather than "2 Tage".
///
/// Equality, ordering and hashing look at the length only: `60m == 1h`.
#[derive(Clone, Copy, Debug)]
pub struct RetentionPeriod {
    amount: i64,
    unit: Unit,
}

/// Why a string is not a retention period; the message names the offending value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseDurationError(String);

impl fmt::Display for ParseDurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseDurationError {}

/// Spellings people use for calendar units; they get a dedicated hint instead of
/// the generic one, because "use d or w" is the fix they need.
fn is_calendar_unit(unit: &str) -> bool {
    if unit == "M" {
        return true;
    }
    matches!(
        unit.to_lowercase().as_str(),
        "mo" | "mon"
            | "mos"
            | "month"
            | "months"
            | "y"
            | "yr"
            | "yrs"
            | "year"
            | "years"
            | "a"
            | "j"
            | "monat"
            | "monate"
            | "jahr"
            | "jahre"
    )
}

impl FromStr for RetentionPeriod {
    type Err = ParseDurationError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let value = input.trim();
        let fail =
            |hint: &str| ParseDurationError(format!("\"{value}\" is not a duration: {hint}"));
        let generic = "use a number followed by s, m, h, d or w (e.g. 48h, 7d)";

        let digits_end = value
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(value.len());
        let (digits, unit) = value.split_at(digits_end);

        if digits.is_empty() {
            if value.starts_with('-') {
                return Err(fail("it must be positive (e.g. 48h, 7d)"));
            }
            return Err(fail(generic));
        }
        if is_calendar_unit(unit.trim()) {
            return Err(fail(
                "months and years are not fixed lengths: use d or w (e.g. 30d, 52w)",
            ));
        }
        if unit.starts_with(['.', ',']) {
            return Err(fail(
                "use a whole number followed by s, m, h, d or w (e.g. 90m, 36h)",
            ));
        }
        let Some(unit) = Unit::from_suffix(unit) else {
            return Err(fail(generic));
        };
        let too_long = || {
            ParseDurationError(format!(
                "\"{value}\" is too long: at most {}d (about 100 years)",
                MAX_SECONDS / 86_400
            ))
        };
        // Digits only, so the only possible parse failure is overflow.
        let amount: i64 = digits.parse().map_err(|_| too_long())?;
        if amount == 0 {
            return Err(fail("it must be longer than zero (e.g. 48h, 7d)"));
        }
        match amount.checked_mul(unit.seconds()) {
            Some(seconds) if seconds <= MAX_SECONDS => Ok(RetentionPeriod { amount, unit }),
            _ => Err(too_long()),
        }
    }
}

impl RetentionPeriod {
    /// The length in whole seconds (always > 0).
    pub fn as_seconds(&self) -> i64 {
        self.amount * self.unit.seconds()
    }

    /// German words for "… nach dem Ende des Termins": "48 Stunden", "1 Tag", "7 Tage".
    pub fn describe_de(&self) -> String {
        let (one, many, _) = self.unit.german();
        self.german_words(one, many) + &self.in_years_de("Jahre")
    }

    /// German words after "nach" (dative): "nach 7 Tagen", "nach 1 Woche", "nach 48 Stunden".
    pub fn describe_de_dative(&self) -> String {
        let (one, _, many) = self.unit.german();
        self.german_words(one, many) + &self.in_years_de("Jahren")
    }

    fn german_words(&self, one: &str, many: &str) -> String {
        if self.amount == 1 {
            format!("1 {one}")
        } else {
            format!("{} {many}", group_thousands_de(self.amount))
        }
    }

    /// " (rund 3 Jahre)" for a period within 1 % of whole years (156 weeks, 730 days), so a
    /// citizen reading a notice need not divide by 52; empty otherwise.
    fn in_years_de(&self, plural: &str) -> String {
        let years = self.as_seconds() as f64 / (365.25 * 86_400.0);
        let whole = years.round();
        if whole < 1.0
            || (years - whole).abs() > 0.01 * whole
            || self.unit != Unit::Weeks && self.unit != Unit::Days
        {
            return String::new();
        }
        if whole == 1.0 {
            " (rund 1 Jahr)".to_owned()
        } else {
            format!(" (rund {whole} {plural})")
        }
    }
}

/// German typography groups numbers of five or more digits with a dot: 36.600.
fn group_thousands_de(n: i64) -> String {
    let digits = n.to_string();
    if digits.len() < 5 {
        return digits;
    }
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for RetentionPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.amount, self.unit.suffix())
    }
}

impl PartialEq for RetentionPeriod {
    fn eq(&self, other: &Self) -> bool {
        self.as_seconds() == other.as_seconds()
    }
}

impl Eq for RetentionPeriod {}

impl Hash for RetentionPeriod {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_seconds().hash(state);
    }
}

impl PartialOrd for RetentionPeriod {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RetentionPeriod {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_seconds().cmp(&other.as_seconds())
    }
}

impl serde::Serialize for RetentionPeriod {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<RetentionPeriod, String> {
        s.parse::<RetentionPeriod>().map_err(|e| e.to_string())
    }

    #[test]
    fn parses_every_fixed_length_unit() {
        assert_eq!(parse("30s").unwrap().as_seconds(), 30);
        assert_eq!(parse("15m").unwrap().as_seconds(), 900);
        assert_eq!(parse("48h").unwrap().as_seconds(), 172_800);
        assert_eq!(parse("7d").unwrap().as_seconds(), 604_800);
        assert_eq!(parse("156w").unwrap().as_seconds(), 156 * 604_800);
    }

    #[test]
    fn allows_whitespace_around_the_value() {
        assert_eq!(parse("  48h\t").unwrap().to_string(), "48h");
    }

    #[test]
    fn displays_the_canonical_form_in_the_unit_it_was_written_in() {
        assert_eq!(parse("048h").unwrap().to_string(), "48h");
        assert_eq!(parse("60m").unwrap().to_string(), "60m");
    }

    #[test]
    fn compares_periods_by_length() {
        assert_eq!(parse("60m").unwrap(), parse("1h").unwrap());
        assert!(parse("1w").unwrap() > parse("6d").unwrap());
    }

    #[test]
    fn serializes_as_the_canonical_string() {
        let json = serde_json::to_string(&parse(" 48h ").unwrap()).unwrap();
        assert_eq!(json, "\"48h\"");
    }

    #[test]
    fn rejects_an_unknown_unit_naming_the_value() {
        assert_eq!(
            parse("48x").unwrap_err(),
            "\"48x\" is not a duration: use a number followed by s, m, h, d or w (e.g. 48h, 7d)"
        );
    }

    #[test]
    fn rejects_a_number_without_unit() {
        assert!(
            parse("48")
                .unwrap_err()
                .contains("use a number followed by")
        );
    }

    #[test]
    fn rejects_a_unit_without_number() {
        assert!(
            parse("h")
                .unwrap_err()
                .starts_with("\"h\" is not a duration")
        );
        assert!(parse("").unwrap_err().starts_with("\"\" is not a duration"));
    }

    #[test]
    fn rejects_zero() {
        assert!(parse("0d").unwrap_err().contains("longer than zero"));
    }

    #[test]
    fn rejects_a_negative_period() {
        assert!(parse("-7d").unwrap_err().contains("must be positive"));
    }

    #[test]
    fn rejects_a_fraction() {
        assert!(parse("1.5h").unwrap_err().contains("whole number"));
    }

    #[test]
    fn rejects_whitespace_between_number_and_unit() {
        assert!(parse("48 h").is_err());
    }

    #[test]
    fn rejects_months_and_years_because_they_have_no_fixed_length() {
        for v in ["6M", "3mo", "1y", "2 years", "1month", "3Monate"] {
            let err = parse(v).unwrap_err();
            assert!(
                err.contains("months and years are not fixed lengths: use d or w"),
                "{v}: {err}"
            );
        }
    }

    #[test]
    fn rejects_a_period_that_overflows() {
        assert!(
            parse("99999999999999999999s")
                .unwrap_err()
                .contains("too long")
        );
        assert!(
            parse("9223372036854775807w")
                .unwrap_err()
                .contains("too long")
        );
        assert!(parse("36601d").unwrap_err().contains("too long"));
        assert!(parse("36600d").is_ok());
    }

    #[test]
    fn describes_the_period_in_german_after_nach() {
        let dative = |s: &str| parse(s).unwrap().describe_de_dative();
        assert_eq!(dative("48h"), "48 Stunden");
        assert_eq!(dative("1h"), "1 Stunde");
        assert_eq!(dative("1d"), "1 Tag");
        assert_eq!(dative("7d"), "7 Tagen");
        assert_eq!(dative("1w"), "1 Woche");
        assert_eq!(dative("2w"), "2 Wochen");
        assert_eq!(dative("15m"), "15 Minuten");
        assert_eq!(dative("1m"), "1 Minute");
        assert_eq!(dative("30s"), "30 Sekunden");
        assert_eq!(dative("1s"), "1 Sekunde");
    }

    #[test]
    fn describes_the_period_in_german_before_nach() {
        assert_eq!(parse("7d").unwrap().describe_de(), "7 Tage");
        assert_eq!(parse("1d").unwrap().describe_de(), "1 Tag");
        assert_eq!(
            parse("156w").unwrap().describe_de(),
            "156 Wochen (rund 3 Jahre)"
        );
    }

    #[test]
    fn says_long_periods_in_years_too() {
        let dative = |s: &str| parse(s).unwrap().describe_de_dative();
        assert_eq!(dative("156w"), "156 Wochen (rund 3 Jahren)");
        assert_eq!(dative("52w"), "52 Wochen (rund 1 Jahr)");
        assert_eq!(dative("730d"), "730 Tagen (rund 2 Jahren)");
        assert_eq!(dative("3653d"), "3653 Tagen (rund 10 Jahren)");
        // Not close to whole years, or not counted in days: left as written.
        assert_eq!(dative("100w"), "100 Wochen");
        assert_eq!(dative("26w"), "26 Wochen");
        assert_eq!(dative("8760h"), "8760 Stunden");
    }

    #[test]
    fn groups_long_numbers_the_german_way() {
        assert_eq!(
            parse("36600d").unwrap().describe_de(),
            "36.600 Tage (rund 100 Jahre)"
        );
        assert_eq!(parse("1000s").unwrap().describe_de(), "1000 Sekunden");
    }
}
