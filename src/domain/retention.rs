//! Retention as pure rules: which rule treats which rows, when a row is due, and what
//! anonymizing clears and keeps in each kind of data.

use super::duration::RetentionPeriod;
use super::policy::{Policy, RetainedData, RetentionAction, RetentionRule};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The latest reference time that is due at `now`. A row is due when its reference time
/// plus the period lies at or before now, i.e. when `reference <= cutoff(now, after)`: a
/// booking that ended exactly 48 hours ago is due under a 48h rule, one second later not.
pub fn cutoff(now: DateTime<Utc>, after: &RetentionPeriod) -> DateTime<Utc> {
    now - Duration::seconds(after.as_seconds())
}

pub fn is_due(reference: DateTime<Utc>, now: DateTime<Utc>, after: &RetentionPeriod) -> bool {
    reference <= cutoff(now, after)
}

/// How long one batch's write transaction should take at most: on SQLite it holds the
/// database's write lock, and bookings wait for it.
pub const BATCH_WRITE_TARGET: std::time::Duration = std::time::Duration::from_millis(250);
/// Batches never get smaller than this (or `--batch-size`, if smaller).
pub const MIN_BATCH: i64 = 100;
/// A run starts with batches of at most this many rows and grows them while they are fast.
pub const FIRST_BATCH: i64 = 1_000;

/// The size of the next batch: shrunk in proportion when the last write transaction took
/// longer than [`BATCH_WRITE_TARGET`], doubled (up to `max`) when it took less than a
/// third of it. A loaded machine gets short transactions, an idle one few of them.
pub fn next_batch_size(current: i64, max: i64, took: std::time::Duration) -> i64 {
    let floor = MIN_BATCH.min(max);
    let target = BATCH_WRITE_TARGET.as_secs_f64();
    let took = took.as_secs_f64();
    let next = if took > target {
        // Truncating is fine: the result is clamped to at least `floor`.
        (current as f64 * target / took) as i64
    } else if took < target / 3.0 {
        current.saturating_mul(2)
    } else {
        current
    };
    next.clamp(floor, max.max(1))
}

/// One retention rule applied to the rows of one owner: a tenant, or (`tenant: None`) the
/// rows that belong to no tenant.
#[derive(Clone, Debug, Serialize)]
pub struct RetentionTask {
    pub tenant: Option<String>,
    pub rule: RetentionRule,
}

/// Kinds of data that can have rows without a tenant: access-log rows of pages that belong
/// to no tenant (the start page), mail sent to no tenant's address, requests registered
/// without a tenant. Bookings, consents and notifications always have one.
pub fn can_lack_tenant(data: RetainedData) -> bool {
    matches!(
        data,
        RetainedData::AccessLog | RetainedData::Inbox | RetainedData::Requests
    )
}

/// The rule with the shortest period; on a tie, deleting beats anonymizing.
pub fn strictest<'a>(
    rules: impl IntoIterator<Item = &'a RetentionRule>,
) -> Option<&'a RetentionRule> {
    rules
        .into_iter()
        .min_by_key(|r| (r.after.as_seconds(), r.action != RetentionAction::Delete))
}

/// Every task of a run: each tenant's rules in policy order, then — when the run is not
/// limited to one tenant — the rows without a tenant, which follow the strictest rule any
/// tenant has for their kind of data, so that no controller's promise is outlived by them.
pub fn tasks(policies: &[&Policy], only_tenant: Option<&str>) -> Vec<RetentionTask> {
    let mut tasks: Vec<RetentionTask> = policies
        .iter()
        .filter(|p| only_tenant.is_none_or(|t| p.tenant.slug == t))
        .flat_map(|p| {
            p.retention.iter().map(|rule| RetentionTask {
                tenant: Some(p.tenant.slug.clone()),
                rule: rule.clone(),
            })
        })
        .collect();
    if only_tenant.is_none() {
        for data in RetainedData::ALL
            .iter()
            .copied()
            .filter(|d| can_lack_tenant(*d))
        {
            let rules = policies.iter().filter_map(|p| p.retention_for(data));
            if let Some(rule) = strictest(rules) {
                tasks.push(RetentionTask {
                    tenant: None,
                    rule: rule.clone(),
                });
            }
        }
    }
    tasks
}

/// The fields anonymizing sets to nothing, per kind of data. Everything else stays, so
/// statistics survive: for bookings tenant, service, slot, status, reference and times;
/// for the access log tenant, time, offset, method, status, bytes, browser family and
/// language (the address, path and referrer are shortened, see [`anonymize_access`]); for
/// mail its key, times, outcome and request; for requests kind, channel, times, status and
/// outcome. Consents and notifications are not anonymized: they are deleted.
pub fn cleared_fields(data: RetainedData) -> &'static [&'static str] {
    match data {
        RetainedData::Bookings => &[
            "subject_ref",
            "first_name",
            "last_name",
            "email",
            "phone",
            "address",
            "birth_date",
            "code_hash",
        ],
        // The browser family ("Firefox") stays for statistics; its version and the
        // operating system with its version narrow the visitor down and go.
        RetainedData::AccessLog => &["browser_version", "operating_system"],
        RetainedData::Inbox => &["sender", "subject", "subject_ref"],
        RetainedData::Requests => &["subject_ref"],
        // Pseudonym and salt together: the commitment the chain hashes stays.
        RetainedData::AuditSubjects => &["subject_ref", "subject_salt"],
        RetainedData::Consents
        | RetainedData::ConsentProofs
        | RetainedData::ErasureLedger
        | RetainedData::Notifications => &[],
    }
}

/// What a consent loses when its booking is anonymized or its person erased: the person
/// and the link to the booking. What proves the consent stays — purpose, text version and
/// hash, given and withdrawn times — until the policy's `consent_proofs` rule deletes it.
pub const CONSENT_PROOF_CLEARED: &[&str] = &["subject_ref", "booking_id"];

/// An access-log row's shortened fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AnonymizedAccess {
    pub ip: String,
    pub path: String,
    pub referrer: Option<String>,
}

pub fn anonymize_access(ip: &str, path: &str, referrer: Option<&str>) -> AnonymizedAccess {
    AnonymizedAccess {
        ip: anonymize_ip(ip),
        path: anonymize_path(path),
        referrer: referrer.and_then(anonymize_referrer),
    }
}

/// IPv4 cut to its /24 network (`203.0.113.77` → `203.0.113.0`), IPv6 to its /48
/// (`2001:db8:4:5::1` → `2001:db8:4::`); an IPv4-mapped IPv6 address is treated as the
/// IPv4 address it is. A port is dropped. Anything that is not an address becomes empty.
pub fn anonymize_ip(ip: &str) -> String {
    let ip = ip.trim();
    let parsed = ip
        .parse::<IpAddr>()
        .ok()
        .or_else(|| ip.parse::<SocketAddr>().ok().map(|s| s.ip()));
    match parsed {
        Some(IpAddr::V4(a)) => cut_v4(a).to_string(),
        Some(IpAddr::V6(a)) => match a.to_ipv4_mapped() {
            Some(v4) => cut_v4(v4).to_string(),
            None => {
                let s = a.segments();
                Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0).to_string()
            }
        },
        None => String::new(),
    }
}

fn cut_v4(a: Ipv4Addr) -> Ipv4Addr {
    let o = a.octets();
    Ipv4Addr::new(o[0], o[1], o[2], 0)
}

/// Whether an address is no more than a /24 (IPv4) or /48 (IPv6) network, or empty.
pub fn is_anonymized_ip(ip: &str) -> bool {
    ip.is_empty() || anonymize_ip(ip) == ip
}

/// The path without its query string or fragment: whatever a client puts there (a search
/// term, an address, a token) is not kept.
pub fn anonymize_path(path: &str) -> String {
    let end = path.find(['?', '#']).unwrap_or(path.len());
    path[..end].to_owned()
}

/// Only the origin of a referrer (`https://www.example.com/suche?q=…` →
/// `https://www.example.com`), without user or password; nothing when it has none.
pub fn anonymize_referrer(referrer: &str) -> Option<String> {
    let (scheme, rest) = referrer.trim().split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    (!host.is_empty()).then(|| format!("{}://{}", scheme.to_ascii_lowercase(), host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::parse_policy;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_row_is_due_exactly_when_its_period_has_passed() {
        let after: RetentionPeriod = "48h".parse().unwrap();
        let end = at("2026-11-19T10:00:00Z");
        assert!(!is_due(end, at("2026-11-21T09:59:59Z"), &after));
        assert!(is_due(end, at("2026-11-21T10:00:00Z"), &after));
        assert!(is_due(end, at("2026-11-21T10:00:01Z"), &after));
        assert_eq!(cutoff(at("2026-11-21T10:00:00Z"), &after), end);
    }

    #[test]
    fn weeks_and_days_are_fixed_lengths_across_summer_time() {
        let after: RetentionPeriod = "1w".parse().unwrap();
        // 2027-03-28 the clocks in Germany go forward; UTC instants do not care.
        assert_eq!(
            cutoff(at("2027-03-31T12:00:00Z"), &after),
            at("2027-03-24T12:00:00Z")
        );
    }

    #[test]
    fn batches_shrink_when_slow_and_grow_when_fast_within_their_bounds() {
        use std::time::Duration as D;
        assert_eq!(next_batch_size(1000, 5000, D::from_millis(50)), 2000);
        assert_eq!(next_batch_size(4000, 5000, D::from_millis(10)), 5000);
        assert_eq!(next_batch_size(1000, 5000, D::from_millis(150)), 1000);
        assert_eq!(next_batch_size(5000, 5000, D::from_millis(1000)), 1250);
        assert_eq!(next_batch_size(200, 5000, D::from_secs(10)), MIN_BATCH);
        // A small --batch-size is a hard limit in both directions.
        assert_eq!(next_batch_size(5, 5, D::from_millis(1)), 5);
        assert_eq!(next_batch_size(5, 5, D::from_secs(3)), 5);
    }

    #[test]
    fn ipv4_is_cut_to_its_24_bit_network() {
        assert_eq!(anonymize_ip("203.0.113.77"), "203.0.113.0");
        assert_eq!(anonymize_ip(" 198.51.100.255 "), "198.51.100.0");
        assert_eq!(anonymize_ip("192.0.2.0"), "192.0.2.0");
        assert_eq!(anonymize_ip("192.0.2.9:51234"), "192.0.2.0");
    }

    #[test]
    fn ipv6_is_cut_to_its_48_bit_network() {
        assert_eq!(anonymize_ip("2001:db8:4:5::1"), "2001:db8:4::");
        assert_eq!(
            anonymize_ip("2001:0db8:abcd:0012:0000:0000:0000:0001"),
            "2001:db8:abcd::"
        );
        assert_eq!(anonymize_ip("::1"), "::");
        assert_eq!(anonymize_ip("[2001:db8:1:2::3]:443"), "2001:db8:1::");
        // An IPv4 address in IPv6 clothing is still an IPv4 address.
        assert_eq!(anonymize_ip("::ffff:203.0.113.77"), "203.0.113.0");
    }

    #[test]
    fn what_is_not_an_address_is_not_kept() {
        assert_eq!(anonymize_ip("unknown"), "");
        assert_eq!(anonymize_ip(""), "");
        assert_eq!(anonymize_ip("anna@example.com"), "");
    }

    #[test]
    fn anonymizing_an_address_twice_changes_nothing() {
        for ip in ["203.0.113.77", "2001:db8:4:5::1", "::ffff:1.2.3.4", "x"] {
            let once = anonymize_ip(ip);
            assert_eq!(anonymize_ip(&once), once, "{ip}");
            assert!(is_anonymized_ip(&once), "{ip}");
        }
        assert!(!is_anonymized_ip("203.0.113.77"));
        assert!(!is_anonymized_ip("2001:db8:4:5::1"));
    }

    #[test]
    fn paths_lose_their_query_and_referrers_all_but_their_origin() {
        assert_eq!(
            anonymize_path("/t/recklinghausen/termine?service=PA&day=2026-11-30"),
            "/t/recklinghausen/termine"
        );
        assert_eq!(
            anonymize_path("/api/v1/bookings/AB12#x"),
            "/api/v1/bookings/AB12"
        );
        assert_eq!(anonymize_path("/"), "/");
        assert_eq!(
            anonymize_referrer("https://www.Example.com/suche?q=anna.schmidt%40example.com")
                .as_deref(),
            Some("https://www.Example.com")
        );
        assert_eq!(
            anonymize_referrer("HTTPS://anna:geheim@intranet.example:8443/x").as_deref(),
            Some("https://intranet.example:8443")
        );
        assert_eq!(
            anonymize_referrer("android-app://com.google.android.gm/").as_deref(),
            Some("android-app://com.google.android.gm")
        );
        assert_eq!(anonymize_referrer("kein link"), None);
        assert_eq!(anonymize_referrer("https://"), None);
        let a = anonymize_access(
            "203.0.113.77",
            "/t/x?email=a@b.de",
            Some("https://a.example/p"),
        );
        assert_eq!(
            a,
            AnonymizedAccess {
                ip: "203.0.113.0".into(),
                path: "/t/x".into(),
                referrer: Some("https://a.example".into()),
            }
        );
    }

    #[test]
    fn anonymizing_clears_the_person_and_keeps_the_statistics() {
        let b = cleared_fields(RetainedData::Bookings);
        for f in [
            "first_name",
            "last_name",
            "email",
            "phone",
            "address",
            "birth_date",
            "code_hash",
            "subject_ref",
        ] {
            assert!(b.contains(&f), "{f}");
        }
        for kept in [
            "tenant_id",
            "service_id",
            "slot_id",
            "status",
            "appointment_start",
        ] {
            assert!(!b.contains(&kept), "{kept}");
        }
        assert!(!cleared_fields(RetainedData::AccessLog).contains(&"browser"));
        assert!(cleared_fields(RetainedData::Consents).is_empty());
    }

    fn policy(slug: &str, rules: &str) -> Policy {
        let source = format!(
            r#"
[tenant]
slug = "{slug}"
name = "Stadt {slug}"
address = "Rathausplatz 1, 12345 {slug}"
email = "info@{slug}.example"
dpo = "Datenschutz, dsb@{slug}.example"
region = "DE-NW"
withdrawal_addresses = ["widerruf@{slug}.example"]
supervisory_authority = "LDI NRW"

[[purpose]]
id = "booking"
description = "Termin"
legal_basis = "contract"
categories = ["name", "email"]
{rules}
"#
        );
        parse_policy(&format!("{slug}.toml"), &source).unwrap()
    }

    fn rule(data: &str, after: &str, since: &str, action: &str) -> String {
        format!(
            "\n[[retention]]\ndata = \"{data}\"\nafter = \"{after}\"\nsince = \"{since}\"\naction = \"{action}\"\n"
        )
    }

    #[test]
    fn rows_without_a_tenant_follow_the_strictest_rule_of_any_tenant() {
        let a = policy(
            "a",
            &(rule("access_log", "7d", "logged_at", "delete")
                + &rule("bookings", "48h", "appointment_end", "anonymize")
                + &rule("inbox", "90d", "processed_at", "anonymize")),
        );
        let b = policy(
            "b",
            &(rule("access_log", "24h", "logged_at", "anonymize")
                + &rule("inbox", "90d", "received_at", "delete")),
        );
        let all = tasks(&[&a, &b], None);
        assert_eq!(all.len(), 5 + 2);
        let unowned: Vec<_> = all.iter().filter(|t| t.tenant.is_none()).collect();
        assert_eq!(unowned.len(), 2, "bookings always have a tenant");
        let access = unowned
            .iter()
            .find(|t| t.rule.data == RetainedData::AccessLog)
            .unwrap();
        assert_eq!(
            (access.rule.after.as_seconds(), access.rule.action),
            (86_400, RetentionAction::Anonymize)
        );
        // Same period: deleting is stricter than anonymizing.
        let inbox = unowned
            .iter()
            .find(|t| t.rule.data == RetainedData::Inbox)
            .unwrap();
        assert_eq!(inbox.rule.action, RetentionAction::Delete);
        // One tenant: its rules only, nothing for rows without a tenant.
        let only_b = tasks(&[&a, &b], Some("b"));
        assert_eq!(only_b.len(), 2);
        assert!(only_b.iter().all(|t| t.tenant.as_deref() == Some("b")));
    }
}
