//! The fake people: one citizen per seed and number, the form as that person fills it in, and
//! who books next.

use super::embedded::{DemoData, TenantData};
use super::rng::{Rng, Stream};
use super::{
    ADDRESS_SHARE, BIRTH_DATE_SHARE, EMAIL_DOMAINS, MOBILE_PREFIXES, REPEAT_SHARE, SMS_SHARE,
};
use crate::domain::booking::{BookingForm, FormFields};
use chrono::{Duration, NaiveDate};

/// One fake citizen, the same for the same seed and number.
pub(super) struct FakePerson {
    pub(super) first_name: &'static str,
    pub(super) last_name: &'static str,
    pub(super) email: String,
    /// As the person types it; the booking path normalizes it.
    pub(super) mobile: String,
    pub(super) address: Option<String>,
    pub(super) birth_date: NaiveDate,
    pub(super) gives_address: bool,
    pub(super) gives_birth_date: bool,
    pub(super) wants_sms: bool,
    pub(super) browser: usize,
    pub(super) language: usize,
}

/// E-mail local parts are made of a-z, '.', '-' and '_': umlauts and ß spelled out.
pub(super) fn ascii_for_email(name: &str) -> String {
    let mut out = String::new();
    for c in name.to_lowercase().chars() {
        match c {
            'ä' => out.push_str("ae"),
            'ö' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            'a'..='z' | '-' => out.push(c),
            'á' | 'à' | 'â' | 'ą' => out.push('a'),
            'é' | 'è' | 'ê' | 'ë' | 'ę' => out.push('e'),
            'í' | 'ì' | 'î' | 'ï' | 'ı' => out.push('i'),
            'ó' | 'ò' | 'ô' => out.push('o'),
            'ú' | 'ù' | 'û' => out.push('u'),
            'ç' | 'ć' | 'č' => out.push('c'),
            'ş' | 'ś' | 'š' => out.push('s'),
            'ğ' => out.push('g'),
            'ł' => out.push('l'),
            'ń' => out.push('n'),
            'ż' | 'ź' | 'ž' => out.push('z'),
            'đ' => out.push('d'),
            _ => {}
        }
    }
    out
}

impl FakePerson {
    pub(super) fn new(data: &DemoData, seed: u64, id: u32, home: &TenantData) -> Self {
        let mut rng = Rng::derive(seed, Stream::Person, u64::from(id));
        let first_name = *rng.pick(&data.first_names);
        let last_name = *rng.pick(&data.last_names);
        let (f, l) = (ascii_for_email(first_name), ascii_for_email(last_name));
        let local = match rng.below(6) {
            0 | 1 => format!("{f}.{l}"),
            2 => format!("{}.{l}", &f[..1.min(f.len())]),
            3 => format!("{f}{l}"),
            4 => format!("{l}.{f}"),
            _ => format!("{f}_{l}"),
        };
        // The number makes every address unique: the local part before it has no digits.
        let domain = rng.pick(EMAIL_DOMAINS);
        let email = format!("{local}{}@{domain}", u64::from(id) + 1);
        let prefix = rng.pick(MOBILE_PREFIXES);
        let digits = if rng.chance(0.5) { 7 } else { 8 };
        let number: String = (0..digits)
            .map(|i| {
                let d = if i == 0 {
                    rng.between(1, 10)
                } else {
                    rng.between(0, 10)
                };
                char::from(b'0' + d as u8)
            })
            .collect();
        let mobile = match rng.below(5) {
            0 => format!("{prefix} {number}"),
            1 => format!("{prefix}/{number}"),
            2 => format!("{prefix}-{number}"),
            3 => format!("+49 {} {number}", &prefix[1..]),
            _ => format!("{prefix}{number}"),
        };
        let address = (!home.streets.is_empty()).then(|| {
            let (code, town, street) = rng.pick(&home.streets);
            let letter = match rng.below(12) {
                0 => "a",
                1 => "b",
                _ => "",
            };
            format!("{street} {}{letter}, {code} {town}", rng.between(1, 120))
        });
        let first = NaiveDate::from_ymd_opt(1940, 1, 1).expect("valid date");
        let last = NaiveDate::from_ymd_opt(2006, 12, 31).expect("valid date");
        let birth_date = first + Duration::days(rng.between(0, (last - first).num_days() + 1));
        Self {
            first_name,
            last_name,
            email,
            mobile,
            address,
            birth_date,
            gives_address: rng.chance(ADDRESS_SHARE),
            gives_birth_date: rng.chance(BIRTH_DATE_SHARE),
            wants_sms: rng.chance(SMS_SHARE),
            browser: rng.weighted(&data.browsers),
            language: rng.weighted(&data.languages),
        }
    }

    /// The form as this person fills it in: what the policy asks for, the voluntary
    /// details as the person likes, the consent box ticked.
    pub(super) fn form(&self, slot_id: i64, fields: &FormFields, rng: &mut Rng) -> BookingForm {
        BookingForm {
            slot_id: Some(slot_id),
            first_name: Some(self.first_name.to_owned()),
            last_name: Some(self.last_name.to_owned()),
            // Some type their address with a capital letter; it is one person all the same.
            email: Some(if rng.chance(0.1) {
                let mut e = self.email.clone();
                e[..1].make_ascii_uppercase();
                e
            } else {
                self.email.clone()
            }),
            phone: fields.phone.then(|| self.mobile.clone()),
            address: (fields.address && self.gives_address)
                .then(|| self.address.clone())
                .flatten(),
            birth_date: (fields.birth_date && self.gives_birth_date)
                .then(|| self.birth_date.format("%Y-%m-%d").to_string()),
            consent: true,
            sms_reminder: fields.sms_reminder && fields.phone && self.wants_sms,
        }
    }
}

/// Who books next: mostly someone new, sometimes someone who booked before (maybe at
/// another tenant). Remembers where each person booked, for the report.
pub(super) struct Customers {
    pub(super) rng: Rng,
    /// Per person: the tenant of the first booking, bookings made, tenants booked at (bits).
    pub(super) home: Vec<u16>,
    pub(super) bookings: Vec<u8>,
    pub(super) tenants: Vec<u64>,
}

impl Customers {
    pub(super) fn new(seed: u64) -> Self {
        Self {
            rng: Rng::derive(seed, Stream::Customers, 0),
            home: Vec::new(),
            bookings: Vec::new(),
            tenants: Vec::new(),
        }
    }

    /// The person who books next at `tenant`, and the tenant whose area that person lives in.
    pub(super) fn next(&mut self, tenant: usize) -> (u32, usize) {
        let repeat = self.rng.chance(REPEAT_SHARE);
        let pick = self.rng.below(self.home.len().max(1) as u64) as usize;
        let id = if repeat && !self.home.is_empty() {
            pick
        } else {
            self.home.push(tenant as u16);
            self.bookings.push(0);
            self.tenants.push(0);
            self.home.len() - 1
        };
        let person = u32::try_from(id).expect("fewer than 4 billion demo people");
        (person, usize::from(self.home[id]))
    }

    pub(super) fn booked(&mut self, person: u32, tenant: usize) {
        let i = person as usize;
        self.bookings[i] = self.bookings[i].saturating_add(1);
        self.tenants[i] |= 1 << (tenant % 64);
    }

    /// (persons who booked, of them with several bookings, of them at several tenants)
    pub(super) fn counts(&self) -> (u64, u64, u64) {
        let persons = self.bookings.iter().filter(|&&b| b > 0).count() as u64;
        let several = self.bookings.iter().filter(|&&b| b > 1).count() as u64;
        let tenants = self.tenants.iter().filter(|t| t.count_ones() > 1).count() as u64;
        (persons, several, tenants)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::booking;
    use crate::ops::demo::DEFAULT_SEED;
    use crate::ops::demo::testing::*;
    use std::collections::HashSet;

    #[test]
    fn fake_people_pass_the_booking_validation_of_every_shipped_policy() {
        let data = DemoData::embedded();
        let today = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let policies = shipped();
        let tenants: Vec<TenantData> = policies
            .iter()
            .map(|p| data.for_tenant(&p.tenant.slug, &p.tenant.address))
            .collect();
        let mut emails = HashSet::new();
        let mut with_address = 0;
        let mut with_sms = 0;
        for id in 0..3_000u32 {
            let home = id as usize % tenants.len();
            let person = FakePerson::new(&data, DEFAULT_SEED, id, &tenants[home]);
            assert!(emails.insert(person.email.clone()), "e-mails are unique");
            let domain = person.email.rsplit_once('@').unwrap().1;
            assert!(EMAIL_DOMAINS.contains(&domain));
            assert!(
                (1940..=2006).contains(&chrono::Datelike::year(&person.birth_date)),
                "birth year"
            );
            for p in &policies {
                let mut rng = Rng::derive(1, Stream::Booking, u64::from(id));
                let form = person.form(9, &FormFields::of(p), &mut rng);
                let valid = booking::validate(p, &form, today)
                    .unwrap_or_else(|e| panic!("{} refuses person {id}: {e:?}", p.tenant.slug));
                with_address += usize::from(valid.person.address.is_some());
                with_sms += usize::from(valid.sms_reminder);
                assert!(valid.person.phone.as_deref().unwrap().starts_with("+491"));
            }
        }
        assert!(with_address > 1_000 && with_sms > 1_000);
    }

    #[test]
    fn the_same_seed_gives_the_same_people_and_another_seed_others() {
        let data = DemoData::embedded();
        let home = data.for_tenant("westendorf", "");
        let a = FakePerson::new(&data, 5, 42, &home);
        let b = FakePerson::new(&data, 5, 42, &home);
        let c = FakePerson::new(&data, 6, 42, &home);
        assert_eq!(
            (a.first_name, a.last_name, &a.email, &a.mobile, &a.address),
            (b.first_name, b.last_name, &b.email, &b.mobile, &b.address)
        );
        assert_ne!(a.email, c.email);
    }

    #[test]
    fn e_mail_local_parts_spell_out_umlauts_and_drop_what_is_not_a_letter() {
        assert_eq!(
            ascii_for_email("Müller-Lüdenscheidt"),
            "mueller-luedenscheidt"
        );
        assert_eq!(ascii_for_email("Strauß"), "strauss");
        assert_eq!(ascii_for_email("Yılmaz"), "yilmaz");
        assert_eq!(ascii_for_email("Wiśniewski"), "wisniewski");
        assert_eq!(ascii_for_email("René"), "rene");
    }
}
