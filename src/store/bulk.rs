//! Bulk loads into an empty database (`demo`): the lookup indexes whose keys arrive in no
//! order are dropped before the load and built once after it, instead of having every
//! batch's commit rewrite the index pages its rows touched (at 1,000,000 bookings most of
//! a load's writes). Each dropped index is recorded in `deferred_indexes` in the
//! transaction that drops it and forgotten in the one that builds it again, so an index
//! is never lost: a load that dies leaves its records for the next command to build.

use super::sql::{Dialect, SqlStore, Value};
use super::{Result, StoreError};
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Database, Encode, Executor, Type};

/// The indexes a bulk load defers: keys in random order (a person's key, phone number,
/// family name) or spread over weeks (when a booking was made, a page viewed, a message
/// is due). The load itself looks nothing up by them: bookings are found by reference,
/// notifications by booking, and those indexes stay.
pub(super) const DEFERRABLE: &[&str] = &[
    "bookings_subject",
    "bookings_phone",
    "bookings_last_name",
    "consents_subject",
    "notifications_created_at",
    "notifications_due",
    "access_log_logged_at",
];

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    usize: ColumnIndex<<D::DB as Database>::Row>,
    for<'q> &'q str: Encode<'q, D::DB> + Type<D::DB>,
    i64: Value<D::DB>,
    String: Value<D::DB>,
    DateTime<Utc>: Value<D::DB>,
    Option<String>: Value<D::DB>,
{
    /// Drops the [`DEFERRABLE`] indexes, recording each one's definition and the loading
    /// process (`holder`), all in one transaction, and only while the database holds no
    /// booking: otherwise nothing changes and the result is 0. An index another load
    /// deferred already is left to it.
    pub(super) async fn defer_lookup_indexes(
        &self,
        holder: &str,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let _turn = self.write_turn().await;
        let mut tx = self.begin_admin().await?;
        let mut deferred = 0;
        for &name in DEFERRABLE {
            let definition: Option<String> = sqlx::query_scalar(D::INDEX_DEFINITION)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(definition) = definition else {
                continue;
            };
            checked_definition(name, &definition)?;
            sqlx::query(
                "insert into deferred_indexes (name, definition, holder, deferred_at)
                 values ($1, $2, $3, $4)",
            )
            .bind(name)
            .bind(&definition)
            .bind(holder)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("drop index {name}")))
                .execute(&mut *tx)
                .await?;
            deferred += 1;
        }
        // Looked at after the drops, which lock the tables on PostgreSQL (SQLite's
        // transaction holds the write lock from its start): no booking slips in between.
        let bookings: i64 =
            sqlx::query_scalar("select count(*) from (select 1 from bookings limit 1) as b")
                .fetch_one(&mut *tx)
                .await?;
        if bookings > 0 || deferred == 0 {
            tx.rollback().await?;
            return Ok(0);
        }
        tx.commit().await?;
        Ok(deferred)
    }

    /// The loading processes whose deferred indexes are not built yet.
    pub(super) async fn deferred_lookup_index_holders(&self) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("select distinct holder from deferred_indexes order by holder")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Builds every deferred index from its recorded definition, each in a transaction
    /// that also deletes its record: an index is built exactly once, whoever else tries
    /// at the same time (the second finds no record). Returns how many this call built.
    pub(super) async fn build_deferred_lookup_indexes(&self) -> Result<usize> {
        let names: Vec<String> =
            sqlx::query_scalar("select name from deferred_indexes order by name")
                .fetch_all(&self.pool)
                .await?;
        let mut built = 0;
        for name in names {
            let _turn = self.write_turn().await;
            let mut tx = self.begin_admin().await?;
            let definition: Option<String> = sqlx::query_scalar(
                "delete from deferred_indexes where name = $1 returning definition",
            )
            .bind(&name)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(definition) = definition else {
                continue;
            };
            checked_definition(&name, &definition)?;
            sqlx::query(sqlx::AssertSqlSafe(definition))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            built += 1;
        }
        Ok(built)
    }
}

/// A recorded definition is run as SQL: it must be the one `create index` statement of
/// the index it names, as the database itself reported it.
fn checked_definition(name: &str, definition: &str) -> Result<()> {
    let expected = format!("create index {name} on ");
    let starts = definition
        .get(..expected.len())
        .is_some_and(|s| s.eq_ignore_ascii_case(&expected));
    if starts && !definition.contains(';') && DEFERRABLE.contains(&name) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "deferred_indexes: the definition recorded for index {name} is not a `create index {name} on …` statement; \
             build the index by hand from the migrations and delete its row"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_indexs_own_create_statement_is_run() {
        let sqlite = "create index bookings_subject on bookings (subject_ref, tenant_id)";
        let pg =
            "CREATE INDEX bookings_subject ON public.bookings USING btree (subject_ref, tenant_id)";
        assert!(checked_definition("bookings_subject", sqlite).is_ok());
        assert!(checked_definition("bookings_subject", pg).is_ok());
        for (name, bad) in [
            ("bookings_subject", "drop table bookings"),
            (
                "bookings_subject",
                "create index bookings_phone on bookings (phone)",
            ),
            (
                "bookings_subject",
                "create index bookings_subject on bookings (x); drop table bookings",
            ),
            ("bookings", "create index bookings on bookings (x)"),
            ("bookings_subject", "create index"),
        ] {
            assert!(checked_definition(name, bad).is_err(), "{bad}");
        }
    }
}
