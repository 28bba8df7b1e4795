//! The visit: the pages a citizen opens before booking, and the booking request itself, as
//! the endpoint's access log records them.

use super::embedded::DemoData;
use super::people::FakePerson;
use super::rng::Rng;
use super::{CANCEL_SHARE, SITE};
use crate::domain::client::UserAgent;
use crate::domain::policy::Policy;
use crate::store::{AccessLogEntry, OpenSlot};
use chrono::{DateTime, Duration, Offset, Utc};
use chrono_tz::Tz;

/// The offset of the tenant's zone to UTC at an instant, in minutes (60 or 120 in Germany).
pub(super) fn offset_minutes(tz: Tz, at: DateTime<Utc>) -> i64 {
    i64::from(at.with_timezone(&tz).offset().fix().local_minus_utc() / 60)
}

/// One request of a visit, as the access log sees it.
pub(super) struct Request {
    pub(super) at: DateTime<Utc>,
    pub(super) method: &'static str,
    pub(super) path: String,
    pub(super) status: i64,
    pub(super) bytes: i64,
    pub(super) referrer: Option<String>,
}

/// One citizen's visit to the booking pages: when, from which address, with which browser.
pub(super) struct Visit {
    pub(super) rng: Rng,
    pub(super) booked_at: DateTime<Utc>,
    /// When the citizen cancels the booking again, if at all.
    pub(super) cancel_at: Option<DateTime<Utc>>,
    pub(super) ip: String,
    pub(super) browser: UserAgent,
    pub(super) language: String,
}

impl Visit {
    pub(super) fn new(
        mut rng: Rng,
        data: &DemoData,
        person: &FakePerson,
        slot: &OpenSlot,
        now: DateTime<Utc>,
    ) -> Self {
        // Booked up to three weeks ahead; never in the future, never after the slot began.
        let hi = (slot.starts_at - Duration::minutes(30)).min(now);
        let lo = (slot.starts_at - Duration::days(21)).min(hi - Duration::days(7));
        let booked_at = lo + Duration::seconds(rng.between(0, (hi - lo).num_seconds() + 1));
        let cancel_by = (slot.starts_at - Duration::minutes(5)).min(now);
        let cancel_at = (rng.chance(CANCEL_SHARE) && cancel_by > booked_at).then(|| {
            booked_at + Duration::seconds(rng.between(1, (cancel_by - booked_at).num_seconds() + 1))
        });
        // Documentation address ranges only (RFC 5737, RFC 3849): no real client's address.
        let ip = if rng.chance(0.2) {
            format!(
                "2001:db8:{:x}:{:x}::{:x}",
                rng.below(0x1_0000),
                rng.below(0x1_0000),
                rng.between(1, 0x1_0000)
            )
        } else {
            let net = *rng.pick(&["192.0.2", "198.51.100", "203.0.113"]);
            format!("{net}.{}", rng.between(1, 255))
        };
        Self {
            rng,
            booked_at,
            cancel_at,
            ip,
            browser: data.browsers[person.browser].1.clone(),
            language: data.languages[person.language].1.clone(),
        }
    }

    pub(super) fn entry(&self, slug: &str, tz: Tz, request: Request) -> AccessLogEntry {
        AccessLogEntry {
            tenant: Some(slug.to_owned()),
            logged_at: request.at,
            utc_offset_minutes: offset_minutes(tz, request.at),
            ip: self.ip.clone(),
            method: request.method.to_owned(),
            path: request.path,
            status: request.status,
            bytes: request.bytes,
            referrer: request.referrer,
            browser: self.browser.browser.clone(),
            browser_version: self.browser.version.clone(),
            operating_system: self.browser.os.clone(),
            language: Some(self.language.clone()),
            booking_id: None,
        }
    }

    /// The form's POST that made the booking (the store links it to the booking).
    pub(super) fn booking_request(
        &mut self,
        slug: &str,
        tz: Tz,
        slot: &OpenSlot,
    ) -> AccessLogEntry {
        let path = format!("/t/{slug}/buchen/{}", slot.id);
        let request = Request {
            at: self.booked_at,
            method: "POST",
            referrer: Some(format!("{SITE}{path}")),
            path,
            status: 201,
            bytes: self.rng.between(3_200, 4_600),
        };
        self.entry(slug, tz, request)
    }

    /// `count` pages opened before the booking: with few, the form and the slot list;
    /// with more, the tenant's page, the privacy notice and other weeks of the slot list.
    pub(super) fn page_views(
        &mut self,
        slug: &str,
        tz: Tz,
        slot: &OpenSlot,
        policy: &Policy,
        count: u32,
    ) -> Vec<AccessLogEntry> {
        let list = format!("/t/{slug}/termine?service={}", slot.service_code);
        // (priority, path, bytes from, bytes to), in the order of a visit.
        let mut pages: Vec<(u32, String, i64, i64)> = vec![
            (2, format!("/t/{slug}"), 2_400, 3_600),
            (1, list.clone(), 6_000, 24_000),
            (3, format!("/t/{slug}/datenschutz"), 9_000, 11_000),
        ];
        let local_start = slot.starts_at.with_timezone(&tz).date_naive();
        for week in 1..=count.saturating_sub(4) {
            let day = local_start - Duration::weeks(i64::from(week));
            pages.push((
                3 + week,
                format!("{list}&from={}", day.format("%Y-%m-%d")),
                6_000,
                24_000,
            ));
        }
        pages.push((0, format!("/t/{slug}/buchen/{}", slot.id), 5_200, 7_400));
        let mut chosen: Vec<u32> = pages.iter().map(|p| p.0).collect();
        chosen.sort_unstable();
        chosen.truncate(count as usize);
        pages.retain(|p| chosen.contains(&p.0));

        let mut at = self.booked_at;
        let mut times = Vec::with_capacity(pages.len());
        for _ in &pages {
            at -= Duration::seconds(self.rng.between(20, 300));
            times.push(at);
        }
        times.reverse();
        let mut referrer = policy.tenant.website.clone();
        let mut out = Vec::with_capacity(pages.len());
        for ((_, path, lo, hi), at) in pages.into_iter().zip(times) {
            let next_referrer = Some(format!("{SITE}{path}"));
            let request = Request {
                at,
                method: "GET",
                path,
                status: 200,
                bytes: self.rng.between(lo, hi),
                referrer,
            };
            out.push(self.entry(slug, tz, request));
            referrer = next_referrer;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::demo::rng::Stream;
    use crate::ops::demo::testing::*;

    #[test]
    fn a_visit_books_before_the_slot_begins_and_never_in_the_future() {
        let data = DemoData::embedded();
        let home = data.for_tenant("recklinghausen", "");
        let person = FakePerson::new(&data, 1, 1, &home);
        let now = instant("2026-11-21T10:00:00Z");
        let tz = chrono_tz::Europe::Berlin;
        let p = policy("recklinghausen.toml");
        for (i, start) in [
            "2026-09-01T08:00:00Z",
            "2026-11-21T09:45:00Z",
            "2026-11-21T10:10:00Z",
            "2026-12-20T08:00:00Z",
        ]
        .iter()
        .enumerate()
        {
            let slot = slot(start);
            for k in 0..200u64 {
                let rng = Rng::derive(3, Stream::Booking, i as u64 * 1000 + k);
                let mut visit = Visit::new(rng, &data, &person, &slot, now);
                assert!(visit.booked_at < slot.starts_at && visit.booked_at <= now);
                if let Some(at) = visit.cancel_at {
                    assert!(at > visit.booked_at && at < slot.starts_at && at <= now);
                }
                let post = visit.booking_request("recklinghausen", tz, &slot);
                assert_eq!((post.method.as_str(), post.status), ("POST", 201));
                assert_eq!(post.path, "/t/recklinghausen/buchen/7");
                for count in [0, 2, 4, 6] {
                    let views = visit.page_views("recklinghausen", tz, &slot, &p, count);
                    assert_eq!(views.len(), count as usize);
                    assert!(views.windows(2).all(|w| w[0].logged_at < w[1].logged_at));
                    assert!(views.iter().all(|v| v.logged_at < visit.booked_at));
                    if count > 0 {
                        assert_eq!(views.last().unwrap().path, "/t/recklinghausen/buchen/7");
                    }
                }
            }
        }
    }

    #[test]
    fn addresses_come_from_the_documentation_ranges() {
        let data = DemoData::embedded();
        let home = data.for_tenant("recklinghausen", "");
        let person = FakePerson::new(&data, 1, 1, &home);
        let slot = slot("2026-12-01T08:00:00Z");
        for k in 0..500 {
            let visit = Visit::new(
                Rng::derive(1, Stream::Booking, k),
                &data,
                &person,
                &slot,
                instant("2026-11-21T10:00:00Z"),
            );
            let ip: std::net::IpAddr = visit.ip.parse().unwrap();
            let documentation = match ip {
                std::net::IpAddr::V4(v4) => {
                    let o = v4.octets();
                    matches!(
                        (o[0], o[1], o[2]),
                        (192, 0, 2) | (198, 51, 100) | (203, 0, 113)
                    )
                }
                std::net::IpAddr::V6(v6) => v6.segments()[..2] == [0x2001, 0x0db8],
            };
            assert!(documentation, "{ip}");
        }
    }
}
