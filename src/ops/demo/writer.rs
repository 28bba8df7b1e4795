//! The writer pipeline: batches of prepared bookings go to the store while the next batch is
//! prepared, and what was written is counted into the report.

use super::people::Customers;
use super::{BATCH, Progress, TenantDemo};
use crate::domain::subject::PseudonymKey;
use crate::ops::booking::{PreparedBooking, REFERENCE_ATTEMPTS};
use crate::store::{AccessLogEntry, BookingRefusal, CancelRequest, NewBooking, Store};
use anyhow::{Context as _, Result};
use chrono::{DateTime, Utc};
use std::collections::VecDeque;
use std::sync::Arc;

pub(super) struct Meta {
    pub(super) person: u32,
    pub(super) consents: u64,
    pub(super) notifications: u64,
    pub(super) sms: bool,
    pub(super) future: bool,
    pub(super) cancel_at: Option<DateTime<Utc>>,
    /// The booking code the citizen got (to book again under a new reference).
    pub(super) code: String,
}

pub(super) struct Batch {
    pub(super) tenant: usize,
    pub(super) slug: String,
    pub(super) bookings: Vec<NewBooking>,
    pub(super) meta: Vec<Meta>,
    pub(super) page_views: Vec<AccessLogEntry>,
}

impl Batch {
    pub(super) fn new(tenant: usize, slug: &str) -> Self {
        Self {
            tenant,
            slug: slug.to_owned(),
            bookings: Vec::with_capacity(BATCH),
            meta: Vec::with_capacity(BATCH),
            page_views: Vec::new(),
        }
    }
}

pub(super) struct Written {
    pub(super) batch: Batch,
    pub(super) booked: Vec<bool>,
    pub(super) cancelled: Vec<bool>,
}

/// Books a batch in one transaction, logs its page views, then cancels what the citizens
/// cancel — with the code hash, as `DELETE /api/v1/bookings/{reference}` does.
pub(super) async fn write(
    store: Arc<dyn Store>,
    key: PseudonymKey,
    mut batch: Batch,
) -> Result<Written> {
    let mut results = store
        .book(&batch.slug, &batch.bookings)
        .await
        .with_context(|| format!("booking demo citizens at {}", batch.slug))?;
    // A reference drawn twice (50 random bits, so about once in a few million bookings):
    // those citizens book again under new references, as the endpoint does.
    for _ in 1..REFERENCE_ATTEMPTS {
        let again: Vec<usize> = (0..results.len())
            .filter(|&i| matches!(results[i], Err(BookingRefusal::ReferenceTaken)))
            .collect();
        if again.is_empty() {
            break;
        }
        for &i in &again {
            let mut p = PreparedBooking {
                booking: batch.bookings[i].clone(),
                code: std::mem::take(&mut batch.meta[i].code),
            };
            p.renew(&key);
            batch.bookings[i] = p.booking;
            batch.meta[i].code = p.code;
        }
        let retry: Vec<NewBooking> = again.iter().map(|&i| batch.bookings[i].clone()).collect();
        let retried = store
            .book(&batch.slug, &retry)
            .await
            .with_context(|| format!("booking demo citizens at {}", batch.slug))?;
        for (&i, r) in again.iter().zip(retried) {
            results[i] = r;
        }
    }
    if !batch.page_views.is_empty() {
        store
            .log_access(&batch.page_views)
            .await
            .context("logging the demo page views")?;
    }
    let booked: Vec<bool> = results.iter().map(Result::is_ok).collect();
    // The batch's cancels in one transaction, each checked and made as a single one is.
    let (at, cancels): (Vec<usize>, Vec<CancelRequest>) = batch
        .bookings
        .iter()
        .enumerate()
        .filter_map(|(i, b)| match (booked[i], batch.meta[i].cancel_at) {
            (true, Some(at)) => Some((
                i,
                CancelRequest {
                    reference: b.reference.clone(),
                    code_hash: b.code_hash.clone(),
                    at,
                },
            )),
            _ => None,
        })
        .unzip();
    let mut cancelled = vec![false; booked.len()];
    let outcomes = store
        .cancel_bookings(&cancels)
        .await
        .context("cancelling demo bookings")?;
    for (i, outcome) in at.into_iter().zip(outcomes) {
        cancelled[i] = outcome.is_ok();
    }
    // The rows are written; keep only what the report counts.
    batch.bookings = Vec::new();
    Ok(Written {
        batch,
        booked,
        cancelled,
    })
}

/// Keeps a few batches in flight: the store writes one while the next is prepared. SQLite
/// has one writer anyway; PostgreSQL writes several at once.
pub(super) struct Writer {
    pub(super) store: Arc<dyn Store>,
    pub(super) key: PseudonymKey,
    pub(super) in_flight: VecDeque<tokio::task::JoinHandle<Result<Written>>>,
    pub(super) max_in_flight: usize,
}

impl Writer {
    pub(super) fn new(store: Arc<dyn Store>, key: PseudonymKey) -> Self {
        let max_in_flight = match store.backend() {
            crate::store::Backend::Sqlite => 1,
            crate::store::Backend::Postgres => 4,
        };
        Self {
            store,
            key,
            in_flight: VecDeque::new(),
            max_in_flight,
        }
    }

    pub(super) async fn send(
        &mut self,
        batch: Batch,
        reports: &mut [TenantDemo],
        people: &mut Customers,
        progress: &dyn Progress,
    ) -> Result<()> {
        while self.in_flight.len() >= self.max_in_flight {
            self.collect_one(reports, people, progress).await?;
        }
        self.in_flight.push_back(tokio::spawn(write(
            self.store.clone(),
            self.key.clone(),
            batch,
        )));
        Ok(())
    }

    pub(super) async fn finish(
        &mut self,
        reports: &mut [TenantDemo],
        people: &mut Customers,
        progress: &dyn Progress,
    ) -> Result<()> {
        while !self.in_flight.is_empty() {
            self.collect_one(reports, people, progress).await?;
        }
        Ok(())
    }

    pub(super) async fn collect_one(
        &mut self,
        reports: &mut [TenantDemo],
        people: &mut Customers,
        progress: &dyn Progress,
    ) -> Result<()> {
        let Some(handle) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let written = match handle.await.context("a demo writer task failed")? {
            Ok(w) => w,
            Err(e) => {
                for h in self.in_flight.drain(..) {
                    h.abort();
                }
                return Err(e);
            }
        };
        let r = &mut reports[written.batch.tenant];
        r.access_log += written.batch.page_views.len() as u64;
        for ((m, &ok), &cancelled) in written
            .batch
            .meta
            .iter()
            .zip(&written.booked)
            .zip(&written.cancelled)
        {
            if !ok {
                r.refused += 1;
                continue;
            }
            people.booked(m.person, written.batch.tenant);
            r.bookings += 1;
            if m.future {
                r.future += 1;
            } else {
                r.past += 1;
            }
            r.cancelled += u64::from(cancelled);
            r.sms_reminders += u64::from(m.sms);
            r.consents += m.consents;
            r.notifications += m.notifications;
            r.access_log += 1;
        }
        progress.advance(written.booked.len() as u64);
        Ok(())
    }
}
