//! The SQL both backends share. `$1` placeholders, `on conflict` and `returning` work on
//! SQLite and PostgreSQL alike, so one text serves both; what differs (connecting, how an
//! administrative write transaction is serialized, the migrations) lives in `sqlite.rs` and
//! `postgres.rs` as inherent methods that this macro calls:
//!
//! - `async fn begin_admin(&self) -> sqlx::Result<Transaction<'static, DB>>`: a transaction
//!   that holds the audit chain for itself until it ends;
//! - `async fn migrations_table_exists(&self) -> sqlx::Result<bool>`;
//! - `fn migrator() -> &'static Migrator`.

use crate::domain::audit::AuditEntry;
use chrono::{DateTime, Utc};

#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    id: i64,
    at: DateTime<Utc>,
    actor: String,
    action: String,
    tenant: Option<String>,
    subject_ref: Option<String>,
    details: String,
    prev_hash: String,
    hash: String,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            id: r.id,
            at: r.at,
            actor: r.actor,
            action: r.action,
            tenant: r.tenant,
            subject_ref: r.subject_ref,
            details: r.details,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

pub(super) const AUDIT_COLUMNS: &str =
    "id, at, actor, action, tenant, subject_ref, details, prev_hash, hash";

macro_rules! impl_store {
    ($store:ty, $db:ty, $backend:expr) => {
        impl $store {
            /// Appends one entry to the hash chain inside the caller's transaction.
            async fn append_audit(
                tx: &mut sqlx::Transaction<'static, $db>,
                ctx: &$crate::store::AuditContext,
                event: &$crate::domain::audit::AuditEvent,
            ) -> sqlx::Result<()> {
                let head: Option<(i64, String)> =
                    sqlx::query_as("select last_id, last_hash from audit_head where id = 1")
                        .fetch_optional(&mut **tx)
                        .await?;
                let e = $crate::domain::audit::AuditEntry::chain(head, ctx.at, &ctx.actor, event);
                sqlx::query(
                    "insert into audit_log (id, at, actor, action, tenant, subject_ref, details, prev_hash, hash)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(e.id)
                .bind(e.at)
                .bind(&e.actor)
                .bind(&e.action)
                .bind(&e.tenant)
                .bind(&e.subject_ref)
                .bind(&e.details)
                .bind(&e.prev_hash)
                .bind(&e.hash)
                .execute(&mut **tx)
                .await?;
                sqlx::query(
                    "insert into audit_head (id, last_id, last_hash) values (1, $1, $2)
                     on conflict (id) do update set last_id = excluded.last_id, last_hash = excluded.last_hash",
                )
                .bind(e.id)
                .bind(&e.hash)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            async fn tenant_id(
                tx: &mut sqlx::Transaction<'static, $db>,
                slug: &str,
            ) -> $crate::store::Result<i64> {
                sqlx::query_scalar("select id from tenants where slug = $1")
                    .bind(slug)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or_else(|| {
                        $crate::store::StoreError::NotFound(format!(
                            "tenant {slug} is not in the database; run `datenwart tenants sync`"
                        ))
                    })
            }

            async fn applied_versions(&self) -> sqlx::Result<Vec<(i64, bool)>> {
                if !self.migrations_table_exists().await? {
                    return Ok(Vec::new());
                }
                sqlx::query_as("select version, success from _sqlx_migrations order by version")
                    .fetch_all(&self.pool)
                    .await
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            fn backend(&self) -> $crate::store::Backend {
                $backend
            }

            async fn migrate(
                &self,
                ctx: &$crate::store::AuditContext,
            ) -> $crate::store::Result<$crate::store::MigrationReport> {
                let before: std::collections::HashSet<i64> = self
                    .applied_versions()
                    .await?
                    .into_iter()
                    .filter(|(_, ok)| *ok)
                    .map(|(v, _)| v)
                    .collect();
                let migrator = Self::migrator();
                migrator.run(&self.pool).await?;
                let known: Vec<_> = migrator
                    .iter()
                    .filter(|m| !m.migration_type.is_down_migration())
                    .collect();
                let applied: Vec<$crate::store::AppliedMigration> = known
                    .iter()
                    .filter(|m| !before.contains(&m.version))
                    .map(|m| $crate::store::AppliedMigration {
                        version: m.version,
                        description: m.description.to_string(),
                    })
                    .collect();

                let mut tx = self.begin_admin().await?;
                let mut key = vec![0u8; $crate::domain::subject::PseudonymKey::LEN];
                getrandom::fill(&mut key).map_err(|e| sqlx::Error::Protocol(format!("no randomness for the pseudonym key: {e}")))?;
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
                    let event = $crate::domain::audit::AuditEvent::new(
                        "schema.migrate",
                        serde_json::json!({ "applied": versions, "key_created": key_created }),
                    );
                    Self::append_audit(&mut tx, ctx, &event).await?;
                }
                tx.commit().await?;
                Ok($crate::store::MigrationReport { applied, known: known.len(), key_created })
            }

            async fn check_schema(&self) -> $crate::store::Result<()> {
                let applied = self.applied_versions().await?;
                let known: Vec<i64> = Self::migrator()
                    .iter()
                    .filter(|m| !m.migration_type.is_down_migration())
                    .map(|m| m.version)
                    .collect();
                if let Some((v, _)) = applied.iter().find(|(v, _)| !known.contains(v)) {
                    return Err($crate::store::StoreError::SchemaAhead(*v));
                }
                let complete = known.iter().all(|k| applied.iter().any(|(v, ok)| v == k && *ok));
                let has_key: bool = complete
                    && sqlx::query_scalar::<_, i64>("select count(*) from installation")
                        .fetch_one(&self.pool)
                        .await?
                        == 1;
                if !has_key {
                    return Err($crate::store::StoreError::SchemaBehind);
                }
                Ok(())
            }

            async fn pseudonym_key(&self) -> $crate::store::Result<$crate::domain::subject::PseudonymKey> {
                let key = self
                    .key
                    .get_or_try_init(|| async {
                        let bytes: Option<Vec<u8>> =
                            sqlx::query_scalar("select pseudonym_key from installation where id = 1")
                                .fetch_optional(&self.pool)
                                .await?;
                        bytes
                            .map($crate::domain::subject::PseudonymKey::new)
                            .ok_or($crate::store::StoreError::SchemaBehind)
                    })
                    .await?;
                Ok(key.clone())
            }

            async fn sync_tenants(
                &self,
                tenants: &[$crate::store::TenantRecord],
                ctx: &$crate::store::AuditContext,
            ) -> $crate::store::Result<$crate::store::TenantSyncReport> {
                let mut tx = self.begin_admin().await?;
                let existing: Vec<(String, String, String)> =
                    sqlx::query_as("select slug, name, policy_sha256 from tenants order by slug")
                        .fetch_all(&mut *tx)
                        .await?;
                let mut report = $crate::store::TenantSyncReport::default();
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
                    let event = $crate::domain::audit::AuditEvent::new(
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

            async fn list_tenants(&self) -> $crate::store::Result<Vec<$crate::store::Tenant>> {
                let rows: Vec<(String, String, String, i64, i64, i64, chrono::DateTime<chrono::Utc>)> =
                    sqlx::query_as(
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
                    .map(|(slug, name, policy_sha256, services, slots, bookings, updated_at)| {
                        $crate::store::Tenant { slug, name, policy_sha256, services, slots, bookings, updated_at }
                    })
                    .collect())
            }

            async fn import_services(
                &self,
                tenant: &str,
                services: &[$crate::domain::service::NewService],
                ctx: &$crate::store::AuditContext,
            ) -> $crate::store::Result<$crate::store::ServiceImportReport> {
                let mut tx = self.begin_admin().await?;
                let tenant_id = Self::tenant_id(&mut tx, tenant).await?;
                let mut report = $crate::store::ServiceImportReport::default();
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
                    let event = $crate::domain::audit::AuditEvent::new(
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

            async fn list_services(&self, tenant: &str) -> $crate::store::Result<Vec<$crate::store::Service>> {
                let rows: Vec<(String, String, i64)> = sqlx::query_as(
                    "select s.code, s.name, s.duration_minutes from services s
                     join tenants t on t.id = s.tenant_id where t.slug = $1 order by s.code",
                )
                .bind(tenant)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(code, name, duration_minutes)| $crate::store::Service { code, name, duration_minutes })
                    .collect())
            }

            async fn add_slots(
                &self,
                tenant: &str,
                slots: &[(String, $crate::domain::slots::NewSlot)],
                on_overlap: $crate::store::OnOverlap,
                action: &str,
                ctx: &$crate::store::AuditContext,
            ) -> $crate::store::Result<$crate::store::SlotAddOutcome> {
                use $crate::domain::slots::{plan_slots, SlotFate};
                let mut tx = self.begin_admin().await?;
                let tenant_id = Self::tenant_id(&mut tx, tenant).await?;
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
                                $crate::store::StoreError::NotFound(format!(
                                    "service {code} is not offered by tenant {tenant}; import it with `datenwart services import`"
                                ))
                            })?;
                    let indices: Vec<usize> =
                        (0..slots.len()).filter(|&i| slots[i].0 == code).collect();
                    let candidates: Vec<_> = indices.iter().map(|&i| slots[i].1.clone()).collect();
                    let lo = candidates.iter().map(|s| s.starts_at).min().expect("one slot per code");
                    let hi = candidates.iter().map(|s| s.ends_at).max().expect("one slot per code");
                    let existing: Vec<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> =
                        sqlx::query_as(
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
                let overlapping = fates.iter().filter(|f| matches!(f, SlotFate::Overlaps(_))).count();
                if overlapping > 0 && on_overlap == $crate::store::OnOverlap::Refuse {
                    tx.rollback().await?;
                    return Ok($crate::store::SlotAddOutcome { fates, written: false });
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
                    let event = $crate::domain::audit::AuditEvent::new(
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
                Ok($crate::store::SlotAddOutcome { fates, written: true })
            }

            async fn list_slots(
                &self,
                tenant: &str,
                filter: &$crate::store::SlotFilter,
            ) -> $crate::store::Result<Vec<$crate::store::Slot>> {
                let rows: Vec<(i64, String, chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>, i64, i64)> =
                    sqlx::query_as(
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
                    .map(|(id, service, starts_at, ends_at, capacity, booked)| $crate::store::Slot {
                        id,
                        service,
                        starts_at,
                        ends_at,
                        capacity,
                        booked,
                    })
                    .collect())
            }

            async fn record_audit(
                &self,
                event: $crate::domain::audit::AuditEvent,
                ctx: &$crate::store::AuditContext,
            ) -> $crate::store::Result<()> {
                let mut tx = self.begin_admin().await?;
                Self::append_audit(&mut tx, ctx, &event).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn audit_entries(
                &self,
                filter: &$crate::store::AuditFilter,
            ) -> $crate::store::Result<Vec<$crate::domain::audit::AuditEntry>> {
                let sql = format!(
                    "select {} from audit_log
                     where ($1 is null or tenant = $1)
                       and ($2 is null or action = $2)
                       and ($3 is null or at >= $3)
                     order by id desc limit $4",
                    $crate::store::shared::AUDIT_COLUMNS
                );
                let rows: Vec<$crate::store::shared::AuditRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(&filter.tenant)
                    .bind(&filter.action)
                    .bind(filter.since)
                    .bind(filter.limit)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn audit_page(
                &self,
                after_id: i64,
                limit: i64,
            ) -> $crate::store::Result<Vec<$crate::domain::audit::AuditEntry>> {
                let sql = format!(
                    "select {} from audit_log where id > $1 order by id limit $2",
                    $crate::store::shared::AUDIT_COLUMNS
                );
                let rows: Vec<$crate::store::shared::AuditRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(after_id)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn audit_head(&self) -> $crate::store::Result<Option<(i64, String)>> {
                Ok(sqlx::query_as("select last_id, last_hash from audit_head where id = 1")
                    .fetch_optional(&self.pool)
                    .await?)
            }
        }
    };
}
