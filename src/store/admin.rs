//! Administration: migrations and the schema check, the installation (its pseudonym key),
//! tenants as the policies name them, services and slots seeded by admins.

use super::sql::{Dialect, RowsAffected, SqlStore, Value};
use super::*;
use crate::domain::audit::AuditEvent;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{ColumnIndex, Database, Encode, Executor, Type};

/// What [`AdminStore::check_schema`] found besides a current schema.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchemaCheck {
    /// Lookup indexes a bulk load dropped and has not built yet (see
    /// [`super::BookingStore::defer_indexes`]).
    pub deferred_indexes: i64,
}

#[async_trait]
pub trait AdminStore: Send + Sync {
    fn backend(&self) -> Backend;

    /// Applies the embedded migrations and makes the pseudonym key if there is none.
    async fn migrate(&self, ctx: &AuditContext) -> Result<MigrationReport>;

    /// Fails with `SchemaBehind` or `SchemaAhead` unless the schema is exactly current;
    /// says what else the caller may have to see to.
    async fn check_schema(&self) -> Result<SchemaCheck>;

    async fn pseudonym_key(&self) -> Result<PseudonymKey>;

    /// Writes and commits a change (the time of this check), so that a database that
    /// cannot be written — a read-only file, a full disk, a lock that is never let go —
    /// fails here rather than on the next booking.
    async fn check_writable(&self, at: DateTime<Utc>) -> Result<()>;

    async fn sync_tenants(
        &self,
        tenants: &[TenantRecord],
        ctx: &AuditContext,
    ) -> Result<TenantSyncReport>;

    async fn list_tenants(&self) -> Result<Vec<Tenant>>;

    /// Upserts a tenant's services by code, all or nothing.
    async fn import_services(
        &self,
        tenant: &str,
        services: &[NewService],
        ctx: &AuditContext,
    ) -> Result<ServiceImportReport>;

    async fn list_services(&self, tenant: &str) -> Result<Vec<Service>>;

    /// Opens slots (service code, slot) at a tenant; never duplicates a slot, never lets
    /// two slots of one service overlap.
    async fn add_slots(
        &self,
        tenant: &str,
        slots: &[(String, NewSlot)],
        on_overlap: OnOverlap,
        action: &str,
        ctx: &AuditContext,
    ) -> Result<SlotAddOutcome>;

    async fn list_slots(&self, tenant: &str, filter: &SlotFilter) -> Result<Vec<Slot>>;

    /// The bookings still booked in the given slots of a tenant, with what a notice to the
    /// citizen needs.
    async fn bookings_in_slots(&self, tenant: &str, slot_ids: &[i64]) -> Result<Vec<SlotBooking>>;

    /// In one transaction with one audit entry (counts only): cancels each booking of
    /// `removal.cancel` that is still booked in its slot (by the office, queued messages
    /// stopped, the given notice queued), then deletes those of `removal.slot_ids` that no
    /// booking refers to any more. A slot still referred to (a booking made meanwhile, or a
    /// cancelled one kept for its retention period) stays.
    async fn remove_slots(
        &self,
        tenant: &str,
        removal: &SlotRemoval,
        ctx: &AuditContext,
    ) -> Result<SlotRemovalReport>;
}

#[async_trait]
impl<D: Dialect> AdminStore for SqlStore<D>
where
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    usize: ColumnIndex<<D::DB as Database>::Row>,
    for<'q> &'q str: Encode<'q, D::DB> + Type<D::DB>,
    i64: Value<D::DB>,
    bool: Value<D::DB>,
    String: Value<D::DB>,
    Vec<u8>: Value<D::DB>,
    DateTime<Utc>: Value<D::DB>,
    NaiveDate: Value<D::DB>,
    Option<i64>: Value<D::DB>,
    Option<String>: Value<D::DB>,
    Option<DateTime<Utc>>: Value<D::DB>,
{
    fn backend(&self) -> Backend {
        D::BACKEND
    }

    async fn migrate(&self, ctx: &AuditContext) -> Result<MigrationReport> {
        let before: std::collections::HashSet<i64> = self
            .applied_versions()
            .await?
            .into_iter()
            .filter(|(_, ok)| *ok)
            .map(|(v, _)| v)
            .collect();
        let migrator = D::migrator();
        migrator.run(&self.pool).await?;
        let known: Vec<_> = migrator
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .collect();
        let applied: Vec<AppliedMigration> = known
            .iter()
            .filter(|m| !before.contains(&m.version))
            .map(|m| AppliedMigration {
                version: m.version,
                description: m.description.to_string(),
            })
            .collect();

        let mut tx = self.begin_admin().await?;
        let mut key = vec![0u8; crate::domain::subject::PseudonymKey::LEN];
        getrandom::fill(&mut key).map_err(|e| {
            sqlx::Error::Protocol(format!("no randomness for the pseudonym key: {e}"))
        })?;
        let key_created = sqlx::query(
            "insert into installation (id, pseudonym_key, created_at) values (1, $1, $2)
             on conflict (id) do nothing",
        )
        .bind(&key)
        .bind(ctx.at)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !applied.is_empty() || key_created {
            let versions: Vec<i64> = applied.iter().map(|m| m.version).collect();
            let event = AuditEvent::new(
                "schema.migrate",
                serde_json::json!({ "applied": versions, "key_created": key_created }),
            );
            Self::append_audit(&mut tx, ctx, &event).await?;
        }
        tx.commit().await?;
        Ok(MigrationReport {
            applied,
            known: known.len(),
            key_created,
        })
    }

    async fn check_schema(&self) -> Result<SchemaCheck> {
        let applied = self.applied_versions().await?;
        let known: Vec<i64> = D::migrator()
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| m.version)
            .collect();
        if let Some((v, _)) = applied.iter().find(|(v, _)| !known.contains(v)) {
            return Err(StoreError::SchemaAhead(*v));
        }
        let complete = known
            .iter()
            .all(|k| applied.iter().any(|(v, ok)| v == k && *ok));
        if !complete {
            return Err(StoreError::SchemaBehind);
        }
        // One statement for both: every command runs it.
        let (keys, deferred_indexes): (i64, i64) = sqlx::query_as(
            "select (select count(*) from installation), (select count(*) from deferred_indexes)",
        )
        .fetch_one(&self.pool)
        .await?;
        if keys != 1 {
            return Err(StoreError::SchemaBehind);
        }
        Ok(SchemaCheck { deferred_indexes })
    }

    async fn pseudonym_key(&self) -> Result<crate::domain::subject::PseudonymKey> {
        let key = self
            .key
            .get_or_try_init(|| async {
                let bytes: Option<Vec<u8>> =
                    sqlx::query_scalar("select pseudonym_key from installation where id = 1")
                        .fetch_optional(&self.pool)
                        .await?;
                bytes
                    .map(crate::domain::subject::PseudonymKey::new)
                    .ok_or(StoreError::SchemaBehind)
            })
            .await?;
        Ok(key.clone())
    }

    async fn check_writable(&self, at: DateTime<Utc>) -> Result<()> {
        let _turn = self.write_turn().await;
        let mut tx = self.begin_write().await?;
        sqlx::query("update installation set checked_at = $1 where id = 1")
            .bind(at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn sync_tenants(
        &self,
        tenants: &[TenantRecord],
        ctx: &AuditContext,
    ) -> Result<TenantSyncReport> {
        let mut tx = self.begin_admin().await?;
        let existing: Vec<(String, String, String)> =
            sqlx::query_as("select slug, name, policy_sha256 from tenants order by slug")
                .fetch_all(&mut *tx)
                .await?;
        let mut report = TenantSyncReport::default();
        for t in tenants {
            let action = match existing.iter().find(|(slug, _, _)| *slug == t.slug) {
                None => {
                    sqlx::query(
                        "insert into tenants (slug, name, policy_sha256, created_at, updated_at)
                         values ($1, $2, $3, $4, $4)",
                    )
                    .bind(&t.slug)
                    .bind(&t.name)
                    .bind(&t.policy_sha256)
                    .bind(ctx.at)
                    .execute(&mut *tx)
                    .await?;
                    report.created.push(t.slug.clone());
                    "tenant.create"
                }
                Some((_, name, sha)) if *name == t.name && *sha == t.policy_sha256 => {
                    report.unchanged.push(t.slug.clone());
                    continue;
                }
                Some(_) => {
                    sqlx::query(
                        "update tenants set name = $2, policy_sha256 = $3, updated_at = $4 where slug = $1",
                    )
                    .bind(&t.slug)
                    .bind(&t.name)
                    .bind(&t.policy_sha256)
                    .bind(ctx.at)
                    .execute(&mut *tx)
                    .await?;
                    report.updated.push(t.slug.clone());
                    "tenant.update"
                }
            };
            let event = AuditEvent::new(
                action,
                serde_json::json!({ "policy_sha256": t.policy_sha256 }),
            )
            .tenant(&t.slug);
            Self::append_audit(&mut tx, ctx, &event).await?;
        }
        report.without_policy = existing
            .into_iter()
            .map(|(slug, _, _)| slug)
            .filter(|slug| !tenants.iter().any(|t| t.slug == *slug))
            .collect();
        tx.commit().await?;
        Ok(report)
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        let rows: Vec<(String, String, String, i64, i64, i64, DateTime<Utc>)> = sqlx::query_as(
            "select t.slug, t.name, t.policy_sha256,
                        (select count(*) from services s where s.tenant_id = t.id),
                        (select count(*) from slots s where s.tenant_id = t.id),
                        (select count(*) from bookings b where b.tenant_id = t.id),
                        t.updated_at
                 from tenants t order by t.slug",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(slug, name, policy_sha256, services, slots, bookings, updated_at)| Tenant {
                    slug,
                    name,
                    policy_sha256,
                    services,
                    slots,
                    bookings,
                    updated_at,
                },
            )
            .collect())
    }

    async fn import_services(
        &self,
        tenant: &str,
        services: &[crate::domain::service::NewService],
        ctx: &AuditContext,
    ) -> Result<ServiceImportReport> {
        let mut tx = self.begin_admin().await?;
        let tenant_id = self.known_tenant_id(&mut tx, tenant).await?;
        let mut report = ServiceImportReport::default();
        for s in services {
            let existing: Option<(String, i64)> = sqlx::query_as(
                "select name, duration_minutes from services where tenant_id = $1 and code = $2",
            )
            .bind(tenant_id)
            .bind(&s.code)
            .fetch_optional(&mut *tx)
            .await?;
            match existing {
                None => {
                    sqlx::query(
                        "insert into services (tenant_id, code, name, duration_minutes, created_at, updated_at)
                         values ($1, $2, $3, $4, $5, $5)",
                    )
                    .bind(tenant_id)
                    .bind(&s.code)
                    .bind(&s.name)
                    .bind(s.duration_minutes)
                    .bind(ctx.at)
                    .execute(&mut *tx)
                    .await?;
                    report.created += 1;
                }
                Some((name, minutes)) if name == s.name && minutes == s.duration_minutes => {
                    report.unchanged += 1;
                }
                Some(_) => {
                    sqlx::query(
                        "update services set name = $3, duration_minutes = $4, updated_at = $5
                         where tenant_id = $1 and code = $2",
                    )
                    .bind(tenant_id)
                    .bind(&s.code)
                    .bind(&s.name)
                    .bind(s.duration_minutes)
                    .bind(ctx.at)
                    .execute(&mut *tx)
                    .await?;
                    report.updated += 1;
                }
            }
        }
        if report.created + report.updated > 0 {
            let event = AuditEvent::new(
                "services.import",
                serde_json::json!({
                    "created": report.created,
                    "updated": report.updated,
                    "unchanged": report.unchanged,
                }),
            )
            .tenant(tenant);
            Self::append_audit(&mut tx, ctx, &event).await?;
        }
        tx.commit().await?;
        Ok(report)
    }

    async fn list_services(&self, tenant: &str) -> Result<Vec<Service>> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "select s.code, s.name, s.duration_minutes from services s
             join tenants t on t.id = s.tenant_id where t.slug = $1 order by s.code",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(code, name, duration_minutes)| Service {
                code,
                name,
                duration_minutes,
            })
            .collect())
    }

    async fn add_slots(
        &self,
        tenant: &str,
        slots: &[(String, crate::domain::slots::NewSlot)],
        on_overlap: OnOverlap,
        action: &str,
        ctx: &AuditContext,
    ) -> Result<SlotAddOutcome> {
        use crate::domain::slots::{SlotFate, plan_slots};
        let mut tx = self.begin_admin().await?;
        let tenant_id = self.known_tenant_id(&mut tx, tenant).await?;
        let mut fates = vec![SlotFate::Create; slots.len()];
        let mut codes: Vec<&str> = slots.iter().map(|(c, _)| c.as_str()).collect();
        codes.sort_unstable();
        codes.dedup();
        let mut to_create = Vec::new();
        for code in codes {
            let service_id: i64 =
                sqlx::query_scalar("select id from services where tenant_id = $1 and code = $2")
                    .bind(tenant_id)
                    .bind(code)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| {
                        StoreError::Invalid(format!(
                            "service {code} is not offered by tenant {tenant}; import it with `datenwart services import`"
                        ))
                    })?;
            let indices: Vec<usize> = (0..slots.len()).filter(|&i| slots[i].0 == code).collect();
            let candidates: Vec<_> = indices.iter().map(|&i| slots[i].1.clone()).collect();
            let lo = candidates
                .iter()
                .map(|s| s.starts_at)
                .min()
                .expect("one slot per code");
            let hi = candidates
                .iter()
                .map(|s| s.ends_at)
                .max()
                .expect("one slot per code");
            let existing: Vec<(DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
                "select starts_at, ends_at from slots
                     where service_id = $1 and starts_at < $2 and ends_at > $3",
            )
            .bind(service_id)
            .bind(hi)
            .bind(lo)
            .fetch_all(&mut *tx)
            .await?;
            for (&i, fate) in indices.iter().zip(plan_slots(&existing, &candidates)) {
                if fate == SlotFate::Create {
                    to_create.push((service_id, i));
                }
                fates[i] = fate;
            }
        }
        let overlapping = fates
            .iter()
            .filter(|f| matches!(f, SlotFate::Overlaps(_)))
            .count();
        if overlapping > 0 && on_overlap == OnOverlap::Refuse {
            tx.rollback().await?;
            return Ok(SlotAddOutcome {
                fates,
                written: false,
            });
        }
        for &(service_id, i) in &to_create {
            let slot = &slots[i].1;
            sqlx::query(
                "insert into slots (tenant_id, service_id, starts_at, ends_at, capacity, created_at)
                 values ($1, $2, $3, $4, $5, $6)",
            )
            .bind(tenant_id)
            .bind(service_id)
            .bind(slot.starts_at)
            .bind(slot.ends_at)
            .bind(slot.capacity)
            .bind(ctx.at)
            .execute(&mut *tx)
            .await?;
        }
        if !to_create.is_empty() {
            let event = AuditEvent::new(
                action,
                serde_json::json!({
                    "created": to_create.len(),
                    "existing": fates.iter().filter(|f| **f == SlotFate::Exists).count(),
                    "overlapping": overlapping,
                }),
            )
            .tenant(tenant);
            Self::append_audit(&mut tx, ctx, &event).await?;
        }
        tx.commit().await?;
        Ok(SlotAddOutcome {
            fates,
            written: true,
        })
    }

    async fn list_slots(&self, tenant: &str, filter: &SlotFilter) -> Result<Vec<Slot>> {
        let rows: Vec<(i64, String, DateTime<Utc>, DateTime<Utc>, i64, i64)> = sqlx::query_as(
            "select sl.id, s.code, sl.starts_at, sl.ends_at, sl.capacity, sl.booked
                 from slots sl
                 join services s on s.id = sl.service_id
                 join tenants t on t.id = sl.tenant_id
                 where t.slug = $1
                   and ($2 is null or s.code = $2)
                   and ($3 is null or sl.starts_at >= $3)
                   and ($4 is null or sl.starts_at < $4)
                 order by sl.starts_at, s.code
                 limit $5",
        )
        .bind(tenant)
        .bind(&filter.service)
        .bind(filter.from)
        .bind(filter.to)
        .bind(filter.limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, service, starts_at, ends_at, capacity, booked)| Slot {
                id,
                service,
                starts_at,
                ends_at,
                capacity,
                booked,
            })
            .collect())
    }

    async fn bookings_in_slots(&self, tenant: &str, slot_ids: &[i64]) -> Result<Vec<SlotBooking>> {
        let mut out = Vec::new();
        for chunk in slot_ids.chunks(super::sql::MAX_BINDS - 1) {
            let mut q = sqlx::QueryBuilder::<D::DB>::new(
                "select b.id, b.slot_id, b.reference, b.appointment_start, s.name,
                        b.first_name, b.last_name, b.email
                 from bookings b join services s on s.id = b.service_id
                 join tenants t on t.id = b.tenant_id
                 where b.status = 'booked' and t.slug = ",
            );
            q.push_bind(tenant).push(" and b.slot_id in (");
            let mut ids = q.separated(", ");
            for id in chunk {
                ids.push_bind(*id);
            }
            q.push(") order by b.appointment_start, b.id");
            type Row = (
                i64,
                i64,
                String,
                DateTime<Utc>,
                String,
                Option<String>,
                Option<String>,
                Option<String>,
            );
            let rows: Vec<Row> = q.build_query_as().fetch_all(&self.pool).await?;
            out.extend(rows.into_iter().map(
                |(booking_id, slot_id, reference, starts_at, service_name, first, last, email)| {
                    SlotBooking {
                        booking_id,
                        slot_id,
                        reference,
                        starts_at,
                        service_name,
                        first_name: first,
                        last_name: last,
                        email,
                    }
                },
            ));
        }
        Ok(out)
    }

    async fn remove_slots(
        &self,
        tenant: &str,
        removal: &SlotRemoval,
        ctx: &AuditContext,
    ) -> Result<SlotRemovalReport> {
        let mut tx = self.begin_admin().await?;
        let tenant_id = self.known_tenant_id(&mut tx, tenant).await?;
        let mut report = SlotRemovalReport::default();
        for c in &removal.cancel {
            // Conditional: a booking cancelled meanwhile (by the citizen, an erasure) is
            // left as it is and not notified twice.
            let cancelled: Option<i64> = sqlx::query_scalar(
                "update bookings set status = 'cancelled', cancelled_at = $4, cancelled_by = 'office'
                 where id = $1 and tenant_id = $2 and slot_id = $3 and status = 'booked'
                 returning id",
            )
            .bind(c.booking_id)
            .bind(tenant_id)
            .bind(c.slot_id)
            .bind(ctx.at)
            .fetch_optional(&mut *tx)
            .await?;
            if cancelled.is_none() {
                continue;
            }
            sqlx::query("update slots set booked = booked - 1 where id = $1 and booked > 0")
                .bind(c.slot_id)
                .execute(&mut *tx)
                .await?;
            // A reminder for an appointment that will not take place must not go out.
            sqlx::query(
                "update notifications set status = 'cancelled' where booking_id = $1 and status = 'queued'",
            )
            .bind(c.booking_id)
            .execute(&mut *tx)
            .await?;
            let n = &c.notification;
            sqlx::query(
                "insert into notifications (tenant_id, booking_id, channel, kind, recipient, subject, body,
                     status, created_at, send_after)
                 values ($1, $2, $3, $4, $5, $6, $7, 'queued', $8, $9)",
            )
            .bind(tenant_id)
            .bind(c.booking_id)
            .bind(n.channel)
            .bind(n.kind)
            .bind(&n.recipient)
            .bind(&n.subject)
            .bind(&n.body)
            .bind(ctx.at)
            .bind(n.send_after)
            .execute(&mut *tx)
            .await?;
            report.bookings_cancelled += 1;
        }
        for &slot_id in &removal.slot_ids {
            let deleted = sqlx::query(
                "delete from slots where id = $1 and tenant_id = $2 and booked = 0
                   and not exists (select 1 from bookings b where b.slot_id = slots.id)",
            )
            .bind(slot_id)
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if deleted > 0 {
                report.slots_deleted += 1;
            } else {
                report.slots_kept += 1;
            }
        }
        if report.slots_deleted + report.bookings_cancelled > 0 {
            let event = AuditEvent::new(
                &removal.action,
                serde_json::json!({
                    "slots_deleted": report.slots_deleted,
                    "bookings_cancelled": report.bookings_cancelled,
                    "slots_kept": report.slots_kept,
                }),
            )
            .tenant(tenant);
            Self::append_audit(&mut tx, ctx, &event).await?;
        }
        tx.commit().await?;
        Ok(report)
    }
}

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    usize: ColumnIndex<<D::DB as Database>::Row>,
    i64: Value<D::DB>,
    bool: Value<D::DB>,
    NaiveDate: Value<D::DB>,
    Option<i64>: Value<D::DB>,
    Option<String>: Value<D::DB>,
    Option<DateTime<Utc>>: Value<D::DB>,
{
    pub(super) async fn applied_versions(&self) -> sqlx::Result<Vec<(i64, bool)>> {
        if !D::migrations_table_exists(&self.pool).await? {
            return Ok(Vec::new());
        }
        sqlx::query_as("select version, success from _sqlx_migrations order by version")
            .fetch_all(&self.pool)
            .await
    }
}
