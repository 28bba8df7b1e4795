//! The SQLite and PostgreSQL migrations must not diverge: same versions, same tables,
//! same columns, same indexes.

mod common;

use common::{Kind, TestDb, repo};
use std::collections::BTreeMap;

fn migration_files(backend: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("migrations").join(backend))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn both_backends_have_the_same_migration_versions_and_names() {
    let sqlite = migration_files("sqlite");
    let postgres = migration_files("postgres");
    assert!(!sqlite.is_empty());
    assert_eq!(
        sqlite, postgres,
        "migrations/sqlite and migrations/postgres differ"
    );
}

type Schema = BTreeMap<String, Vec<String>>;

async fn sqlite_schema(db: &TestDb) -> (Schema, Vec<String>) {
    let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "select m.name, p.name from sqlite_master m join pragma_table_info(m.name) p
         where m.type = 'table' and m.name not like 'sqlite_%' order by m.name, p.name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let indexes: Vec<String> = sqlx::query_scalar(
        "select name from sqlite_master where type = 'index' and name not like 'sqlite_autoindex%' order by name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    (group(rows), indexes)
}

async fn postgres_schema(db: &TestDb) -> (Schema, Vec<String>) {
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "select table_name::text, column_name::text from information_schema.columns
         where table_schema = 'public' order by table_name, column_name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    // Only indexes created by name; primary keys and unique constraints have their own.
    let indexes: Vec<String> = sqlx::query_scalar(
        "select indexname::text from pg_indexes where schemaname = 'public'
         and indexname not like '%_pkey' and indexname not like '%_key' order by indexname",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    (group(rows), indexes)
}

fn group(rows: Vec<(String, String)>) -> Schema {
    let mut schema = Schema::new();
    for (table, column) in rows {
        schema.entry(table).or_default().push(column);
    }
    schema
}

#[tokio::test]
async fn both_backends_end_with_the_same_tables_columns_and_indexes() {
    let Some(pg) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    let lite = TestDb::new(Kind::Sqlite).await.unwrap();
    for db in [&lite, &pg] {
        datenwart::ops::migrate(&db.context().await).await.unwrap();
    }
    let (lite_tables, lite_indexes) = sqlite_schema(&lite).await;
    let (pg_tables, pg_indexes) = postgres_schema(&pg).await;
    assert!(lite_tables.contains_key("bookings") && lite_tables.contains_key("audit_log"));
    assert_eq!(lite_tables, pg_tables);
    assert_eq!(lite_indexes, pg_indexes);
}
