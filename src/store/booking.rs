//! Bookings: free slots, booking with the capacity taken conditionally, cancelling and
//! checking a booking's code, the confirmation page's one-hour receipt, and the access log.

use super::sql::{Dialect, MAX_BINDS, SqlStore, Value, keep_prepared, same_secret};
use super::*;
use crate::domain::booking::{CODE_GUESSES, CODE_LOCKOUT, GivenConsent};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{ColumnIndex, Database, Encode, Executor, Type};

/// What the confirmation page shows of a booking: nothing the token's holder did not
/// already know but the masked e-mail, and the sealed code on the first view only.
#[derive(Clone, Debug)]
pub struct Receipt {
    pub booking_id: i64,
    pub tenant: String,
    pub reference: String,
    /// Still booked (not cancelled meanwhile).
    pub booked: bool,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub service_code: String,
    pub service_name: String,
    /// None once the booking was anonymized or erased.
    pub email: Option<String>,
    pub code_hash: Option<String>,
    /// The code sealed at booking, on the first view of the page only.
    pub sealed_code: Option<String>,
}

type ReceiptRow = (
    Option<String>,
    i64,
    String,
    String,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    String,
    String,
    Option<String>,
    Option<String>,
);

/// A place taken in a slot: the slot's service, start and end.
pub(super) type Place = (i64, DateTime<Utc>, DateTime<Utc>);

#[derive(sqlx::FromRow)]
pub(super) struct OpenSlotRow {
    id: i64,
    service_code: String,
    service_name: String,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    capacity: i64,
    booked: i64,
}

impl From<OpenSlotRow> for OpenSlot {
    fn from(r: OpenSlotRow) -> Self {
        OpenSlot {
            id: r.id,
            service_code: r.service_code,
            service_name: r.service_name,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            capacity: r.capacity,
            booked: r.booked,
        }
    }
}

pub(super) const OPEN_SLOT_SELECT: &str =
    "select sl.id, s.code as service_code, s.name as service_name,
        sl.starts_at, sl.ends_at, sl.capacity, sl.booked
     from slots sl join services s on s.id = sl.service_id join tenants t on t.id = sl.tenant_id";

#[async_trait]
pub trait BookingStore: Send + Sync {
    /// One slot of a tenant with its service, whatever its state.
    async fn open_slot(&self, tenant: &str, slot_id: i64) -> Result<Option<OpenSlot>>;

    /// Slots of a service with a free place that start after `after` and before `before`.
    async fn free_slots(
        &self,
        tenant: &str,
        service: &str,
        after: DateTime<Utc>,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OpenSlot>>;

    /// Books each entry in one transaction: the slot's capacity is taken by a conditional
    /// update, so a slot is never overbooked whatever runs at the same time. A refused
    /// entry writes nothing; the others are stored.
    async fn book(
        &self,
        tenant: &str,
        bookings: &[NewBooking],
    ) -> Result<Vec<std::result::Result<Booked, BookingRefusal>>>;

    /// Cancels a booking whose code hash matches, and frees its place.
    async fn cancel_booking(
        &self,
        reference: &str,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<Cancelled, CancelRefusal>>;

    /// Cancels each booking as [`BookingStore::cancel_booking`] does, one after the other
    /// in one transaction (bulk jobs: `demo`); each gets its own outcome.
    async fn cancel_bookings(
        &self,
        cancels: &[CancelRequest],
    ) -> Result<Vec<std::result::Result<Cancelled, CancelRefusal>>>;

    /// Checks a booking's code exactly as `cancel_booking` does — the same hash comparison,
    /// wrong guesses counted in the database and locked out after as many — without
    /// changing the booking: for the citizen page that withdraws consent.
    async fn verify_booking_code(
        &self,
        reference: &str,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<CodeHolder, CancelRefusal>>;

    /// Stores the receipt of a new booking for its confirmation page: the keyed hash of the
    /// page's token, the code sealed with a key only the token gives, valid until
    /// `expires_at`. Receipts that expired before `now` are deleted in the same transaction.
    async fn save_receipt(
        &self,
        token_hash: &str,
        booking_id: i64,
        sealed_code: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()>;

    /// The receipt whose token has this hash, if it has not expired. The sealed code is
    /// handed out once: the first call takes it (a conditional update), later calls get
    /// `None` in its place.
    /// `take_code` false reads the receipt without touching the code (the calendar file).
    async fn open_receipt(
        &self,
        token_hash: &str,
        take_code: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<Receipt>>;

    /// Appends rows to the access log, all in one transaction.
    async fn log_access(&self, entries: &[AccessLogEntry]) -> Result<()>;

    /// The store a bulk job (`demo`) writes its batches through: on SQLite a connection
    /// of its own, whose page cache lasts from one batch to the next; `None`: this store.
    async fn bulk_writer(&self) -> Result<Option<std::sync::Arc<dyn Store>>>;

    /// After a bulk job's writes (`demo`): statistics for the planner (PostgreSQL), the WAL
    /// emptied into the database file (SQLite).
    async fn after_bulk_load(&self) -> Result<()>;

    /// Before a bulk load into a database without bookings: drops the lookup indexes the
    /// load would rewrite batch by batch, recording them (and `holder`, the loading
    /// process) in one transaction. How many; 0 (nothing changed) when there are bookings.
    async fn defer_indexes(&self, holder: &str, now: DateTime<Utc>) -> Result<usize>;

    /// The loading processes whose deferred indexes are not built yet.
    async fn deferred_index_holders(&self) -> Result<Vec<String>>;

    /// Builds every deferred index again, each exactly once whoever else tries at the same
    /// time. How many this call built.
    async fn build_deferred_indexes(&self) -> Result<usize>;
}

#[async_trait]
impl<D: Dialect> BookingStore for SqlStore<D>
where
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    for<'r> &'r str: ColumnIndex<<D::DB as Database>::Row>,
    usize: ColumnIndex<<D::DB as Database>::Row>,
    for<'q> &'q str: Encode<'q, D::DB> + Type<D::DB>,
    i64: Value<D::DB>,
    bool: Value<D::DB>,
    String: Value<D::DB>,
    DateTime<Utc>: Value<D::DB>,
    NaiveDate: Value<D::DB>,
    Option<i64>: Value<D::DB>,
    Option<String>: Value<D::DB>,
    Option<DateTime<Utc>>: Value<D::DB>,
    Option<NaiveDate>: Value<D::DB>,
{
    async fn open_slot(&self, tenant: &str, slot_id: i64) -> Result<Option<OpenSlot>> {
        let sql = format!("{} where t.slug = $1 and sl.id = $2", OPEN_SLOT_SELECT);
        let row: Option<OpenSlotRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(slot_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(Into::into))
    }

    async fn free_slots(
        &self,
        tenant: &str,
        service: &str,
        after: DateTime<Utc>,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OpenSlot>> {
        let sql = format!(
            "{} where t.slug = $1 and s.code = $2 and sl.starts_at > $3 and sl.starts_at < $4
               and sl.booked < sl.capacity
             order by sl.starts_at limit $5",
            OPEN_SLOT_SELECT
        );
        let rows: Vec<OpenSlotRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(service)
            .bind(after)
            .bind(before)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn book(
        &self,
        tenant: &str,
        bookings: &[NewBooking],
    ) -> Result<Vec<Result<Booked, BookingRefusal>>> {
        let _turn = self.write_turn().await;
        let mut tx = self.begin_write().await?;
        let tenant_id = self.known_tenant_id(&mut tx, tenant).await?;
        let mut outcome: Vec<Option<Result<Place, BookingRefusal>>> = vec![None; bookings.len()];

        // Two entries of one batch with the same reference: only the first can be stored.
        let mut references = std::collections::HashSet::with_capacity(bookings.len());
        for (i, b) in bookings.iter().enumerate() {
            if !references.insert(b.reference.as_str()) {
                outcome[i] = Some(Err(BookingRefusal::ReferenceTaken));
            }
        }

        // Taking the places first and conditionally is what makes overbooking
        // impossible: a concurrent booking of the last place updates no row. A batch
        // takes all its places in a slot with one update when they are all free, else
        // place by place; slots go in the order of their ids, so concurrent batches
        // lock them in the same order.
        let mut by_slot: std::collections::BTreeMap<i64, Vec<usize>> =
            std::collections::BTreeMap::new();
        for (i, b) in bookings.iter().enumerate() {
            if outcome[i].is_none() {
                by_slot.entry(b.slot_id).or_default().push(i);
            }
        }
        for (&slot_id, entries) in &by_slot {
            if let [_, _, ..] = entries.as_slice() {
                let latest = entries.iter().map(|&i| bookings[i].booked_at).max();
                let all: Option<Place> = sqlx::query_as(
                    "update slots set booked = booked + $3
                     where id = $1 and tenant_id = $2 and booked + $3 <= capacity and starts_at > $4
                     returning service_id, starts_at, ends_at",
                )
                .bind(slot_id)
                .bind(tenant_id)
                .bind(entries.len() as i64)
                .bind(latest)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(place) = all {
                    for &i in entries {
                        outcome[i] = Some(Ok(place));
                    }
                    continue;
                }
            }
            for &i in entries {
                outcome[i] = Some(Self::take_place(&mut tx, tenant_id, &bookings[i]).await?);
            }
        }

        // The bookings, many rows per statement. A reference that exists already is
        // not stored (`on conflict do nothing`): its place is given back and the caller
        // books it again under a new reference.
        let placed: Vec<(usize, Place)> = outcome
            .iter()
            .enumerate()
            .filter_map(|(i, o)| match o {
                Some(Ok(place)) => Some((i, *place)),
                _ => None,
            })
            .collect();
        let mut ids: std::collections::HashMap<String, i64> =
            std::collections::HashMap::with_capacity(placed.len());
        for chunk in placed.chunks(MAX_BINDS / 15) {
            let mut q = sqlx::QueryBuilder::<D::DB>::new(
                "insert into bookings (tenant_id, slot_id, service_id, reference, code_hash, status,
                     appointment_start, appointment_end, booked_at, subject_ref,
                     first_name, last_name, email, phone, address, birth_date) ",
            );
            q.push_values(chunk, |mut r, &(i, (service_id, starts_at, ends_at))| {
                let b = &bookings[i];
                let p = &b.person;
                r.push_bind(tenant_id)
                    .push_bind(b.slot_id)
                    .push_bind(service_id)
                    .push_bind(&b.reference)
                    .push_bind(&b.code_hash)
                    .push("'booked'")
                    .push_bind(starts_at)
                    .push_bind(ends_at)
                    .push_bind(b.booked_at)
                    .push_bind(&b.subject_ref)
                    .push_bind(&p.first_name)
                    .push_bind(&p.last_name)
                    .push_bind(&p.email)
                    .push_bind(&p.phone)
                    .push_bind(&p.address)
                    .push_bind(p.birth_date);
            });
            q.push(" on conflict (reference) do nothing returning id, reference");
            let rows: Vec<(i64, String)> = q
                .build_query_as()
                .persistent(keep_prepared(chunk.len(), MAX_BINDS / 15))
                .fetch_all(&mut *tx)
                .await?;
            ids.extend(rows.into_iter().map(|(id, reference)| (reference, id)));
        }
        let mut stored: Vec<(usize, i64)> = Vec::with_capacity(placed.len());
        for &(i, _) in &placed {
            match ids.get(&bookings[i].reference) {
                Some(&id) => stored.push((i, id)),
                None => {
                    sqlx::query("update slots set booked = booked - 1 where id = $1")
                        .bind(bookings[i].slot_id)
                        .execute(&mut *tx)
                        .await?;
                    outcome[i] = Some(Err(BookingRefusal::ReferenceTaken));
                }
            }
        }

        let consents: Vec<(&NewBooking, i64, &GivenConsent)> = stored
            .iter()
            .flat_map(|&(i, id)| {
                bookings[i]
                    .consents
                    .iter()
                    .map(move |c| (&bookings[i], id, c))
            })
            .collect();
        for chunk in consents.chunks(MAX_BINDS / 7) {
            let mut q = sqlx::QueryBuilder::<D::DB>::new(
                "insert into consents (tenant_id, booking_id, subject_ref, purpose, text_version, text_sha256, given_at) ",
            );
            q.push_values(chunk, |mut r, &(b, booking_id, c)| {
                r.push_bind(tenant_id)
                    .push_bind(booking_id)
                    .push_bind(&b.subject_ref)
                    .push_bind(&c.purpose)
                    .push_bind(&c.version)
                    .push_bind(&c.text_sha256)
                    .push_bind(b.booked_at);
            });
            q.build()
                .persistent(keep_prepared(chunk.len(), MAX_BINDS / 7))
                .execute(&mut *tx)
                .await?;
        }

        let notifications: Vec<(&NewBooking, i64, &NewNotification)> = stored
            .iter()
            .flat_map(|&(i, id)| {
                bookings[i]
                    .notifications
                    .iter()
                    .map(move |n| (&bookings[i], id, n))
            })
            .collect();
        for chunk in notifications.chunks(MAX_BINDS / 9) {
            let mut q = sqlx::QueryBuilder::<D::DB>::new(
                "insert into notifications (tenant_id, booking_id, channel, kind, recipient, subject, body,
                     status, created_at, send_after) ",
            );
            q.push_values(chunk, |mut r, &(b, booking_id, n)| {
                r.push_bind(tenant_id)
                    .push_bind(booking_id)
                    .push_bind(n.channel)
                    .push_bind(n.kind)
                    .push_bind(&n.recipient)
                    .push_bind(&n.subject)
                    .push_bind(&n.body)
                    .push("'queued'")
                    .push_bind(b.booked_at)
                    .push_bind(n.send_after);
            });
            q.build()
                .persistent(keep_prepared(chunk.len(), MAX_BINDS / 9))
                .execute(&mut *tx)
                .await?;
        }

        let access: Vec<(&AccessLogEntry, Option<i64>)> = stored
            .iter()
            .filter_map(|&(i, id)| bookings[i].access.as_ref().map(|a| (a, Some(id))))
            .collect();
        Self::insert_access_rows(&mut tx, &access).await?;
        tx.commit().await?;

        let ids: std::collections::HashMap<usize, i64> = stored.into_iter().collect();
        Ok(outcome
            .into_iter()
            .enumerate()
            .map(|(i, o)| {
                let (_, starts_at, ends_at) = o.expect("every entry has an outcome")?;
                Ok(Booked {
                    booking_id: ids[&i],
                    reference: bookings[i].reference.clone(),
                    slot_id: bookings[i].slot_id,
                    starts_at,
                    ends_at,
                })
            })
            .collect())
    }

    /// Cancels a booking whose code hash matches, and frees its place.
    async fn cancel_booking(
        &self,
        reference: &str,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<Cancelled, CancelRefusal>> {
        let _turn = self.write_turn().await;
        let mut tx = self.begin_write().await?;
        let outcome = Self::cancel_in(&mut tx, reference, code_hash, now).await?;
        // Also a refusal commits: a wrong code's count (and the lock) is kept; the other
        // refusals changed nothing.
        tx.commit().await?;
        Ok(outcome)
    }

    async fn cancel_bookings(
        &self,
        cancels: &[CancelRequest],
    ) -> Result<Vec<Result<Cancelled, CancelRefusal>>> {
        if cancels.is_empty() {
            return Ok(Vec::new());
        }
        let _turn = self.write_turn().await;
        let mut tx = self.begin_write().await?;
        let mut outcomes = Vec::with_capacity(cancels.len());
        for c in cancels {
            outcomes.push(Self::cancel_in(&mut tx, &c.reference, &c.code_hash, c.at).await?);
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn verify_booking_code(
        &self,
        reference: &str,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<CodeHolder, CancelRefusal>> {
        let _turn = self.write_turn().await;
        let mut tx = self.begin_write().await?;
        let checked = Self::check_code(&mut tx, reference.trim(), code_hash, now).await?;
        tx.commit().await?;
        Ok(checked)
    }

    async fn save_receipt(
        &self,
        token_hash: &str,
        booking_id: i64,
        sealed_code: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let _turn = self.write_turn().await;
        let mut tx = self.begin_write().await?;
        sqlx::query("delete from booking_receipts where expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "insert into booking_receipts (token_hash, booking_id, sealed_code, expires_at)
             values ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(booking_id)
        .bind(sealed_code)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn open_receipt(
        &self,
        token_hash: &str,
        take_code: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<Receipt>> {
        let _turn = self.write_turn().await;
        let mut tx = self.begin_write().await?;
        let row: Option<ReceiptRow> = sqlx::query_as(
            "select r.sealed_code, b.id, t.slug, b.reference, b.status, b.appointment_start,
                    b.appointment_end, s.code, s.name, b.email, b.code_hash
             from booking_receipts r join bookings b on b.id = r.booking_id
             join tenants t on t.id = b.tenant_id join services s on s.id = b.service_id
             where r.token_hash = $1 and r.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        // Of two views at once only one takes the code.
        let taken = match &row.0 {
            Some(_) if take_code => {
                let cleared: Option<String> = sqlx::query_scalar(
                    "update booking_receipts set sealed_code = null
                     where token_hash = $1 and sealed_code is not null
                     returning token_hash",
                )
                .bind(token_hash)
                .fetch_optional(&mut *tx)
                .await?;
                cleared.is_some()
            }
            _ => false,
        };
        tx.commit().await?;
        let (
            sealed,
            booking_id,
            tenant,
            reference,
            status,
            starts_at,
            ends_at,
            service_code,
            service_name,
            email,
            code_hash,
        ) = row;
        Ok(Some(Receipt {
            booking_id,
            tenant,
            reference,
            booked: status == "booked",
            starts_at,
            ends_at,
            service_code,
            service_name,
            email,
            code_hash,
            sealed_code: sealed.filter(|_| taken),
        }))
    }

    async fn log_access(&self, entries: &[AccessLogEntry]) -> Result<()> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await?;
        let rows: Vec<_> = entries.iter().map(|e| (e, e.booking_id)).collect();
        Self::insert_access_rows(&mut tx, &rows).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn bulk_writer(&self) -> Result<Option<std::sync::Arc<dyn Store>>> {
        Ok(D::bulk_writer(self).await?)
    }

    async fn after_bulk_load(&self) -> Result<()> {
        Ok(D::after_bulk_load(&self.pool).await?)
    }

    async fn defer_indexes(&self, holder: &str, now: DateTime<Utc>) -> Result<usize> {
        self.defer_lookup_indexes(holder, now).await
    }

    async fn deferred_index_holders(&self) -> Result<Vec<String>> {
        self.deferred_lookup_index_holders().await
    }

    async fn build_deferred_indexes(&self) -> Result<usize> {
        self.build_deferred_lookup_indexes().await
    }
}

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    usize: ColumnIndex<<D::DB as Database>::Row>,
    i64: Value<D::DB>,
    bool: Value<D::DB>,
    String: Value<D::DB>,
    DateTime<Utc>: Value<D::DB>,
    NaiveDate: Value<D::DB>,
    Option<i64>: Value<D::DB>,
    Option<String>: Value<D::DB>,
    Option<DateTime<Utc>>: Value<D::DB>,
{
    /// Appends access-log rows (each with the booking it belongs to) with as few
    /// statements as the parameter limit allows. A single row (every request of `serve`)
    /// finds its tenant by slug in the statement itself, so it is one statement; more rows
    /// look the tenants up once instead: a subquery per row gives each row a cursor of its
    /// own, all open until the statement ends, and SQLite walks the open cursors whenever
    /// it opens one (a sixth of a `demo` run's database time went there).
    pub(super) async fn insert_access_rows(
        tx: &mut sqlx::Transaction<'static, D::DB>,
        rows: &[(&AccessLogEntry, Option<i64>)],
    ) -> sqlx::Result<()> {
        let tenants: Option<std::collections::HashMap<String, i64>> = if rows.len() > 1 {
            let all: Vec<(String, i64)> = sqlx::query_as("select slug, id from tenants")
                .fetch_all(&mut **tx)
                .await?;
            Some(all.into_iter().collect())
        } else {
            None
        };
        for chunk in rows.chunks(MAX_BINDS / 14) {
            let mut q = sqlx::QueryBuilder::<D::DB>::new(
                "insert into access_log (tenant_id, logged_at, utc_offset_minutes, ip, method, path, status, bytes,
                     referrer, browser, browser_version, operating_system, language, booking_id) ",
            );
            q.push_values(chunk, |mut r, (e, booking_id)| {
                match &tenants {
                    // An unknown slug gives null, as the subquery does.
                    Some(ids) => r.push_bind(e.tenant.as_ref().and_then(|t| ids.get(t)).copied()),
                    None => r
                        .push("(select id from tenants where slug = ")
                        .push_bind_unseparated(&e.tenant)
                        .push_unseparated(")"),
                };
                r.push_bind(e.logged_at)
                    .push_bind(e.utc_offset_minutes)
                    .push_bind(&e.ip)
                    .push_bind(&e.method)
                    .push_bind(&e.path)
                    .push_bind(e.status)
                    .push_bind(e.bytes)
                    .push_bind(&e.referrer)
                    .push_bind(&e.browser)
                    .push_bind(&e.browser_version)
                    .push_bind(&e.operating_system)
                    .push_bind(&e.language)
                    .push_bind(*booking_id);
            });
            q.build()
                .persistent(keep_prepared(chunk.len(), MAX_BINDS / 14))
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Takes one place in a slot by a conditional update, or says why it cannot.
    pub(super) async fn take_place(
        tx: &mut sqlx::Transaction<'static, D::DB>,
        tenant_id: i64,
        b: &NewBooking,
    ) -> sqlx::Result<Result<Place, BookingRefusal>> {
        let taken: Option<Place> = sqlx::query_as(
            "update slots set booked = booked + 1
             where id = $1 and tenant_id = $2 and booked < capacity and starts_at > $3
             returning service_id, starts_at, ends_at",
        )
        .bind(b.slot_id)
        .bind(tenant_id)
        .bind(b.booked_at)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(place) = taken {
            return Ok(Ok(place));
        }
        let slot: Option<DateTime<Utc>> =
            sqlx::query_scalar("select starts_at from slots where id = $1 and tenant_id = $2")
                .bind(b.slot_id)
                .bind(tenant_id)
                .fetch_optional(&mut **tx)
                .await?;
        Ok(Err(match slot {
            None => BookingRefusal::SlotNotFound,
            Some(start) if start <= b.booked_at => BookingRefusal::SlotInPast,
            Some(_) => BookingRefusal::SlotFull,
        }))
    }
}

/// A booking as the code check reads it: id, code hash, start, tenant, lock, subject
/// reference, e-mail.
type CodeRow = (
    i64,
    Option<String>,
    DateTime<Utc>,
    String,
    Option<DateTime<Utc>>,
    Option<String>,
    Option<String>,
);

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    for<'r> &'r str: ColumnIndex<<D::DB as Database>::Row>,
    usize: ColumnIndex<<D::DB as Database>::Row>,
    for<'q> &'q str: Encode<'q, D::DB> + Type<D::DB>,
    i64: Value<D::DB>,
    String: Value<D::DB>,
    DateTime<Utc>: Value<D::DB>,
    Option<String>: Value<D::DB>,
    Option<DateTime<Utc>>: Value<D::DB>,
{
    /// One cancel by code inside `tx`: the code check (a wrong code counted), then the
    /// conditional transition from booked to cancelled, the place freed and the queued
    /// notifications cancelled. A refusal changes nothing but the count of wrong codes.
    async fn cancel_in(
        tx: &mut sqlx::Transaction<'static, D::DB>,
        reference: &str,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<Cancelled, CancelRefusal>> {
        let holder = match Self::check_code(tx, reference, code_hash, now).await? {
            Ok(holder) => holder,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let (booking_id, starts_at, tenant) = (holder.booking_id, holder.starts_at, holder.tenant);
        // The transition happens once: of concurrent cancels (or a cancel and an erasure)
        // only the one that finds the booking still booked changes it and frees its place.
        let slot_id: Option<i64> = sqlx::query_scalar(
            "update bookings set status = 'cancelled', cancelled_at = $2, cancelled_by = 'citizen',
                 code_failures = 0
             where id = $1 and status = 'booked' and appointment_start > $2
             returning slot_id",
        )
        .bind(booking_id)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?;
        let Some(slot_id) = slot_id else {
            // What changed it meanwhile: a cancel (or erasure), time, or retention deleting it.
            let status: Option<String> =
                sqlx::query_scalar("select status from bookings where id = $1")
                    .bind(booking_id)
                    .fetch_optional(&mut **tx)
                    .await?;
            return Ok(Err(match status.as_deref() {
                None => CancelRefusal::NotFound,
                Some("cancelled") => CancelRefusal::AlreadyCancelled,
                Some(_) => CancelRefusal::InPast,
            }));
        };
        sqlx::query("update slots set booked = booked - 1 where id = $1")
            .bind(slot_id)
            .execute(&mut **tx)
            .await?;
        // A reminder for an appointment that will not take place must not go out.
        sqlx::query(
            "update notifications set status = 'cancelled' where booking_id = $1 and status = 'queued'",
        )
        .bind(booking_id)
        .execute(&mut **tx)
        .await?;
        Ok(Ok(Cancelled {
            booking_id,
            reference: reference.to_owned(),
            tenant,
            starts_at,
        }))
    }

    /// The one code check of the citizen's booking code (cancel and withdrawal): a locked
    /// booking is refused whatever the code; a wrong code counts towards the lock. The
    /// caller commits either way, so the count holds across processes and restarts.
    async fn check_code(
        tx: &mut sqlx::Transaction<'static, D::DB>,
        reference: &str,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<CodeHolder, CancelRefusal>> {
        let row: Option<CodeRow> = sqlx::query_as(
            "select b.id, b.code_hash, b.appointment_start, t.slug, b.code_locked_until,
                    b.subject_ref, b.email
                 from bookings b join tenants t on t.id = b.tenant_id where b.reference = $1",
        )
        .bind(reference)
        .fetch_optional(&mut **tx)
        .await?;
        let Some((booking_id, stored_hash, starts_at, tenant, locked_until, subject_ref, email)) =
            row
        else {
            return Ok(Err(CancelRefusal::NotFound));
        };
        // Refused while locked, whatever the code: a guesser learns nothing more.
        if locked_until.is_some_and(|until| until > now) {
            return Ok(Err(CancelRefusal::Locked));
        }
        let matches = stored_hash
            .as_deref()
            .is_some_and(|h| same_secret(h, code_hash));
        if !matches {
            // Counted in the database, so the limit holds across processes and restarts;
            // the count restarts once the lock is set.
            let locked: Option<DateTime<Utc>> = sqlx::query_scalar(
                "update bookings set
                     code_locked_until = case when code_failures + 1 >= $3 then $4 else code_locked_until end,
                     code_failures = case when code_failures + 1 >= $3 then 0 else code_failures + 1 end
                 where id = $1 returning code_locked_until",
            )
            .bind(booking_id)
            .bind(now)
            .bind(CODE_GUESSES)
            .bind(now + CODE_LOCKOUT)
            .fetch_one(&mut **tx)
            .await?;
            return Ok(Err(if locked.is_some_and(|until| until > now) {
                CancelRefusal::Locked
            } else {
                CancelRefusal::WrongCode
            }));
        }
        Ok(Ok(CodeHolder {
            booking_id,
            tenant,
            starts_at,
            subject_ref: subject_ref.map(crate::domain::subject::SubjectRef::from_stored),
            email,
        }))
    }
}
