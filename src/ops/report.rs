//! The DPO's annual report (Tätigkeitsbericht): requests by kind, channel and outcome with
//! the days they took, mailbox outcomes, erasures, retention volumes per rule and breaches,
//! for one calendar year (Europe/Berlin) at one tenant or all. Counts only.

use super::{Context, Refusal};
use crate::domain::breach::{Risk, authority_deadline};
use crate::domain::requests::{Outcome, RequestKind, RequestStatus};
use crate::store::RequestFilter;
use anyhow::Result;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Serialize)]
pub struct Count {
    pub key: String,
    pub count: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Days {
    /// Requests closed (of those received in the year).
    pub closed: i64,
    pub median: Option<f64>,
    pub max: Option<i64>,
    /// Closed after their deadline in force, or open and past it at the report's date.
    pub overdue: i64,
    /// Still open at the report's date.
    pub open: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct RuleVolume {
    pub tenant: String,
    pub data: String,
    pub action: String,
    pub anonymized: i64,
    pub deleted: i64,
    pub dependents_deleted: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Breaches {
    pub total: i64,
    pub by_risk: Vec<Count>,
    /// Breaches that had to be notified and were, within 72 hours.
    pub notified_in_time: i64,
    /// Breaches that had to be notified and were late or are not notified yet.
    pub notified_late_or_not: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct AnnualReport {
    pub year: i32,
    pub tenant: Option<String>,
    pub generated_at: DateTime<Utc>,
    pub requests: i64,
    pub requests_by_kind: Vec<Count>,
    pub requests_by_channel: Vec<Count>,
    pub requests_by_outcome: Vec<Count>,
    pub days_to_answer: Days,
    pub mailbox_by_outcome: Vec<Count>,
    /// Erasure requests closed with data erased (fully or partly).
    pub erasures: i64,
    pub retention: Vec<RuleVolume>,
    pub breaches: Breaches,
}

fn counts(map: BTreeMap<String, i64>) -> Vec<Count> {
    map.into_iter()
        .map(|(key, count)| Count { key, count })
        .collect()
}

fn year_bounds(year: i32) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let start = |y: i32| {
        NaiveDate::from_ymd_opt(y, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .and_then(|t| chrono_tz::Europe::Berlin.from_local_datetime(&t).earliest())
            .map(|t| t.with_timezone(&Utc))
    };
    match (start(year), start(year + 1)) {
        (Some(a), Some(b)) if (2000..=2200).contains(&year) => Ok((a, b)),
        _ => Err(Refusal::InvalidInput(format!(
            "--year: {year} is not a year between 2000 and 2200"
        ))
        .into()),
    }
}

/// The median of sorted values.
fn median(sorted: &[i64]) -> Option<f64> {
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[n / 2] as f64),
        n => Some((sorted[n / 2 - 1] + sorted[n / 2]) as f64 / 2.0),
    }
}

pub async fn annual(ctx: &Context, year: i32, tenant: Option<&str>) -> Result<AnnualReport> {
    if let Some(t) = tenant {
        ctx.policies.require(t)?;
    }
    let (from, to) = year_bounds(year)?;
    let now = crate::domain::time::now();
    let today = now.with_timezone(&chrono_tz::Europe::Berlin).date_naive();
    let berlin = |t: DateTime<Utc>| t.with_timezone(&chrono_tz::Europe::Berlin).date_naive();

    let filter = RequestFilter {
        tenant: tenant.map(str::to_owned),
        ..Default::default()
    };
    let requests: Vec<_> = ctx
        .store
        .list_requests(&filter)
        .await?
        .into_iter()
        .filter(|r| r.received_at >= from && r.received_at < to)
        .filter(|r| tenant.is_none() || r.tenant.as_deref() == tenant)
        .collect();
    let mut by_kind = BTreeMap::new();
    let mut by_channel = BTreeMap::new();
    let mut by_outcome = BTreeMap::new();
    let mut days = Vec::new();
    let (mut overdue, mut open, mut erasures) = (0, 0, 0);
    for r in &requests {
        *by_kind.entry(r.kind.as_str().to_owned()).or_insert(0) += 1;
        *by_channel.entry(r.channel.as_str().to_owned()).or_insert(0) += 1;
        let outcome = r.outcome.map_or("open", |o| o.as_str());
        *by_outcome.entry(outcome.to_owned()).or_insert(0) += 1;
        match (r.status, r.closed_at) {
            (RequestStatus::Closed, Some(closed)) => {
                let closed_on = berlin(closed);
                days.push((closed_on - berlin(r.received_at)).num_days());
                if closed_on > r.effective_due() {
                    overdue += 1;
                }
            }
            _ => {
                open += 1;
                if r.effective_due() < today {
                    overdue += 1;
                }
            }
        }
        if r.kind == RequestKind::Erasure
            && matches!(r.outcome, Some(Outcome::Erased | Outcome::ErasedPartly))
        {
            erasures += 1;
        }
    }
    days.sort_unstable();

    let mailbox = ctx.store.inbox_outcome_counts(tenant, from, to).await?;

    let mut volumes: BTreeMap<(String, String, String), (i64, i64, i64)> = BTreeMap::new();
    for counts in ctx.store.retention_run_counts(from, to).await? {
        let value: serde_json::Value = serde_json::from_str(&counts).unwrap_or_default();
        for rule in value["rules"].as_array().into_iter().flatten() {
            // Rules for rows without a tenant (page views of the start page, mail sent to
            // no tenant's address) belong to no controller.
            let rule_tenant = rule["tenant"].as_str().unwrap_or("(no tenant)").to_owned();
            if tenant.is_some_and(|t| t != rule_tenant) {
                continue;
            }
            let key = (
                rule_tenant,
                rule["data"].as_str().unwrap_or("").to_owned(),
                rule["action"].as_str().unwrap_or("").to_owned(),
            );
            let n = |f: &str| rule[f].as_i64().unwrap_or(0);
            let v = volumes.entry(key).or_insert((0, 0, 0));
            v.0 += n("anonymized");
            v.1 += n("deleted");
            v.2 += n("dependents_deleted");
        }
    }
    let retention = volumes
        .into_iter()
        .map(|((tenant, data, action), (a, d, dd))| RuleVolume {
            tenant,
            data,
            action,
            anonymized: a,
            deleted: d,
            dependents_deleted: dd,
        })
        .collect();

    let breaches: Vec<_> = ctx
        .store
        .breaches(tenant)
        .await?
        .into_iter()
        .filter(|b| b.known_at >= from && b.known_at < to)
        .collect();
    let mut by_risk = BTreeMap::new();
    let (mut in_time, mut late) = (0, 0);
    for b in &breaches {
        *by_risk.entry(b.risk.clone()).or_insert(0) += 1;
        let must = b.risk.parse::<Risk>().map_or(true, Risk::notify_authority);
        if must {
            match b.authority_notified_at {
                Some(at) if at <= authority_deadline(b.known_at) => in_time += 1,
                _ => late += 1,
            }
        }
    }

    Ok(AnnualReport {
        year,
        tenant: tenant.map(str::to_owned),
        generated_at: now,
        requests: requests.len() as i64,
        requests_by_kind: counts(by_kind),
        requests_by_channel: counts(by_channel),
        requests_by_outcome: counts(by_outcome),
        days_to_answer: Days {
            closed: days.len() as i64,
            median: median(&days),
            max: days.last().copied(),
            overdue,
            open,
        },
        mailbox_by_outcome: mailbox
            .into_iter()
            .map(|(key, count)| Count { key, count })
            .collect(),
        erasures,
        retention,
        breaches: Breaches {
            total: breaches.len() as i64,
            by_risk: counts(by_risk),
            notified_in_time: in_time,
            notified_late_or_not: late,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3]), Some(3.0));
        assert_eq!(median(&[1, 2, 9]), Some(2.0));
        assert_eq!(median(&[1, 2, 4, 9]), Some(3.0));
    }

    #[test]
    fn a_year_runs_from_new_year_in_berlin() {
        let (a, b) = year_bounds(2026).unwrap();
        assert_eq!(a.to_rfc3339(), "2025-12-31T23:00:00+00:00");
        assert_eq!(b.to_rfc3339(), "2026-12-31T23:00:00+00:00");
        assert!(year_bounds(26).is_err());
    }
}
