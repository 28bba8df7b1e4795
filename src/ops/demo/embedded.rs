//! The data embedded in the binary (names, services, tenants' office hours, streets, browsers,
//! languages) and what each tenant gets of it.

use crate::domain::client::UserAgent;
use crate::domain::service::{NewService, parse_service};
use crate::domain::slots::{self, TimeRange, WeekdaySet};

const FIRST_NAMES: &str = include_str!("data/first_names.txt");
const LAST_NAMES: &str = include_str!("data/last_names.txt");
const SERVICES: &str = include_str!("data/services.csv");
const TENANTS: &str = include_str!("data/tenants.csv");
const STREETS: &str = include_str!("data/streets.csv");
const BROWSERS: &str = include_str!("data/browsers.csv");
const LANGUAGES: &str = include_str!("data/languages.csv");

pub(super) type Hours = Vec<(WeekdaySet, Vec<TimeRange>)>;

pub(super) struct DemoData {
    pub(super) first_names: Vec<&'static str>,
    pub(super) last_names: Vec<&'static str>,
    /// (tenant or "*", row) for each file.
    pub(super) services: Vec<(String, NewService)>,
    pub(super) tenants: Vec<(String, u32, Hours)>,
    pub(super) streets: Vec<(String, String, String, String)>,
    pub(super) browsers: Vec<(u32, UserAgent)>,
    pub(super) languages: Vec<(u32, String)>,
}

/// What one tenant gets: its share of the bookings, office hours, services and streets.
pub(super) struct TenantData {
    pub(super) share: u32,
    pub(super) hours: Hours,
    pub(super) services: Vec<NewService>,
    /// (postcode, town, street)
    pub(super) streets: Vec<(String, String, String)>,
}

pub(super) fn lines(text: &'static str) -> Vec<&'static str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

pub(super) fn csv_rows(text: &'static str) -> Vec<csv::StringRecord> {
    csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.expect("embedded demo CSV is well-formed (unit-tested)"))
        .collect()
}

pub(super) fn parse_hours(text: &str) -> Result<Hours, String> {
    text.split(';')
        .map(|block| {
            let (days, times) = block
                .trim()
                .split_once(' ')
                .ok_or_else(|| format!("\"{block}\" is not \"WEEKDAYS TIMES\""))?;
            Ok((days.parse()?, slots::parse_time_ranges(times)?))
        })
        .collect()
}

impl DemoData {
    /// The data shipped in the binary; a unit test proves it parses.
    pub(super) fn embedded() -> Self {
        let services = csv_rows(SERVICES)
            .iter()
            .map(|r| {
                let s = parse_service(&r[1], &r[2], &r[3])
                    .expect("embedded demo services are valid (unit-tested)");
                (r[0].to_owned(), s)
            })
            .collect();
        let tenants = csv_rows(TENANTS)
            .iter()
            .map(|r| {
                (
                    r[0].to_owned(),
                    r[1].parse().expect("embedded share is a number"),
                    parse_hours(&r[2]).expect("embedded office hours are valid (unit-tested)"),
                )
            })
            .collect();
        let streets = csv_rows(STREETS)
            .iter()
            .map(|r| {
                (
                    r[0].to_owned(),
                    r[1].to_owned(),
                    r[2].to_owned(),
                    r[3].to_owned(),
                )
            })
            .collect();
        let browsers = csv_rows(BROWSERS)
            .iter()
            .map(|r| {
                (
                    r[0].parse().expect("embedded weight is a number"),
                    UserAgent {
                        browser: Some(r[1].to_owned()),
                        version: Some(r[2].to_owned()),
                        os: Some(r[3].to_owned()),
                    },
                )
            })
            .collect();
        let languages = csv_rows(LANGUAGES)
            .iter()
            .map(|r| {
                (
                    r[0].parse().expect("embedded weight is a number"),
                    r[1].to_owned(),
                )
            })
            .collect();
        Self {
            first_names: lines(FIRST_NAMES),
            last_names: lines(LAST_NAMES),
            services,
            tenants,
            streets,
            browsers,
            languages,
        }
    }

    /// The rows of `slug`, or of `*` for a tenant the demo data does not know.
    pub(super) fn for_tenant(&self, slug: &str, tenant_address: &str) -> TenantData {
        // A file that does not list the tenant gives it the rows of "*".
        let of = |listed: bool| if listed { slug } else { "*" };
        let k = of(self.tenants.iter().any(|(t, _, _)| t == slug));
        let (_, share, hours) = self
            .tenants
            .iter()
            .find(|(t, _, _)| t == k)
            .expect("the demo tenants have a \"*\" row");
        let k = of(self.services.iter().any(|(t, _)| t == slug));
        let services = self
            .services
            .iter()
            .filter(|(t, _)| t == k)
            .map(|(_, s)| s.clone())
            .collect();
        let own: Vec<_> = self.streets.iter().filter(|s| s.0 == slug).collect();
        let streets = if own.is_empty() {
            // Streets of nowhere in particular, in the tenant's own postcode and town.
            match postcode_and_town(tenant_address) {
                Some((code, town)) => self
                    .streets
                    .iter()
                    .filter(|s| s.0 == "*")
                    .map(|s| (code.clone(), town.clone(), s.3.clone()))
                    .collect(),
                None => Vec::new(),
            }
        } else {
            own.into_iter()
                .map(|s| (s.1.clone(), s.2.clone(), s.3.clone()))
                .collect()
        };
        TenantData {
            share: *share,
            hours: hours.clone(),
            services,
            streets,
        }
    }
}

/// "45739 Oer-Erkenschwick" from "Rathausplatz 1, 45739 Oer-Erkenschwick".
pub(super) fn postcode_and_town(address: &str) -> Option<(String, String)> {
    let last = address.rsplit(',').next()?.trim();
    let (code, town) = last.split_once(' ')?;
    (code.len() == 5 && code.chars().all(|c| c.is_ascii_digit()) && !town.trim().is_empty())
        .then(|| (code.to_owned(), town.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::demo::testing::*;
    use std::collections::HashSet;

    #[test]
    fn the_embedded_data_is_complete_and_every_tenant_has_services_hours_and_streets() {
        let data = DemoData::embedded();
        assert!(data.first_names.len() >= 200 && data.last_names.len() >= 200);
        for names in [&data.first_names, &data.last_names] {
            let distinct: HashSet<_> = names.iter().collect();
            assert_eq!(distinct.len(), names.len(), "a name appears twice");
            assert!(names.iter().all(|n| !n.chars().any(|c| c.is_ascii_digit())));
        }
        assert!(data.last_names.iter().any(|n| n.contains('ß')));
        assert!(data.last_names.iter().any(|n| n.contains('ü')));
        for p in shipped() {
            let t = data.for_tenant(&p.tenant.slug, &p.tenant.address);
            assert!(t.services.len() >= 5, "{}", p.tenant.slug);
            assert!(!t.hours.is_empty() && !t.streets.is_empty() && t.share > 0);
        }
        let other = data.for_tenant("musterstadt", "Markt 1, 12345 Musterstadt");
        assert_eq!(other.services.len(), 5);
        assert!(
            other
                .streets
                .iter()
                .all(|s| s.0 == "12345" && s.1 == "Musterstadt")
        );
    }

    #[test]
    fn the_postcode_and_town_are_read_from_a_tenant_address() {
        assert_eq!(
            postcode_and_town("Bürgerbüro, Rathausplatz 3/4, 45657 Recklinghausen"),
            Some(("45657".into(), "Recklinghausen".into()))
        );
        assert_eq!(postcode_and_town("Rathaus"), None);
    }
}
