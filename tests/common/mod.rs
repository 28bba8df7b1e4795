//! Test harness: a fresh database per test on SQLite always and on PostgreSQL when
//! `DATENWART_TEST_POSTGRES_URL` is set, and the same story run on each. A test that cannot
//! run here (no PostgreSQL, no browser) fails under `CI` and says why; elsewhere it says on
//! stderr that it is skipped. [`cli`] runs the built binary, [`people`] makes people with
//! bookings, [`values`] gives the store its vocabulary.
#![allow(dead_code)] // each test binary uses its own part of the harness

pub mod cli;
pub mod imap;
pub mod lox24;
pub mod people;
pub mod server;
pub mod smtp;
pub mod values;

use datenwart::ops::Context;
use datenwart::ops::policies;
use datenwart::store;
use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const POSTGRES_ENV: &str = "DATENWART_TEST_POSTGRES_URL";

/// Whether the tests run in CI: `CI` is set and neither empty, `0` nor `false`.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// Says that a test, or one half of it, cannot run here because of `why`, and how to make
/// it run (`remedy`). Under `CI` it fails the test with that message: what CI does not
/// run, it must not report as passed. Elsewhere it writes `skipped: {why} ({remedy})` to
/// stderr and the caller returns.
#[track_caller]
pub fn cannot_run(why: &str, remedy: &str) {
    assert!(
        !in_ci(),
        "CI is set, so this test must not be skipped, but {why} ({remedy})"
    );
    eprintln!("skipped: {why} ({remedy})");
}

/// Makes ring the process's rustls provider, for the tests' own `reqwest::Client::new()`:
/// reqwest is built without a provider of its own (the binary builds its TLS configuration
/// with ring explicitly), so a client made with the defaults needs one installed. Called
/// where every test starts (a test database, a server); repeated calls do nothing.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// Runs `$body` with `$pool` connected to the test database, whichever backend it is.
macro_rules! with_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db.kind {
            Kind::Sqlite => {
                let $pool = sqlx::SqlitePool::connect(&$db.url).await.unwrap();
                let out = $body;
                $pool.close().await;
                out
            }
            Kind::Postgres => {
                let $pool = sqlx::PgPool::connect(&$db.url).await.unwrap();
                let out = $body;
                $pool.close().await;
                out
            }
        }
    };
}

/// One test's own database; dropped (PostgreSQL) or deleted (SQLite) at the end.
pub struct TestDb {
    pub kind: Kind,
    pub url: String,
    /// SQLite: the folder holding the file.
    pub dir: tempfile::TempDir,
    pg: Option<(String, String)>, // (admin url, database name)
}

impl TestDb {
    pub async fn new(kind: Kind) -> Option<TestDb> {
        install_crypto_provider();
        let dir = tempfile::tempdir().expect("temp dir");
        match kind {
            Kind::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("datenwart.db").display());
                Some(TestDb {
                    kind,
                    url,
                    dir,
                    pg: None,
                })
            }
            Kind::Postgres => {
                let admin = match std::env::var(POSTGRES_ENV) {
                    Ok(url) if !url.trim().is_empty() => url,
                    _ => {
                        cannot_run(
                            &format!("{POSTGRES_ENV} is not set"),
                            "the PostgreSQL half of this test needs it, e.g. \
                             postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
                        );
                        return None;
                    }
                };
                let name = format!("dw_test_{}", uuid::Uuid::new_v4().simple());
                // A set URL is a promise to test PostgreSQL: a server that does not answer
                // fails the test, in CI and elsewhere.
                // One connection, not a pool: a pool retries until it times out and hides why.
                let connect = sqlx::PgConnection::connect(&admin);
                let mut conn = tokio::time::timeout(std::time::Duration::from_secs(10), connect)
                    .await
                    .map_err(|_| "no answer within 10 s".to_owned())
                    .and_then(|r| r.map_err(|e| e.to_string()))
                    .unwrap_or_else(|e| {
                        panic!(
                            "{POSTGRES_ENV} is set, but its PostgreSQL server cannot be \
                             reached, so the PostgreSQL half of this test cannot run: {e}"
                        )
                    });
                sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                conn.close().await.ok();
                let url = replace_db_name(&admin, &name);
                Some(TestDb {
                    kind,
                    url,
                    dir,
                    pg: Some((admin, name)),
                })
            }
        }
    }

    /// The SQLite file (SQLite only).
    pub fn sqlite_file(&self) -> PathBuf {
        self.dir.path().join("datenwart.db")
    }

    /// Runs one statement on the database behind datenwart's back (tampering tests).
    pub async fn execute_raw(&self, sql: &str) -> u64 {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        with_pool!(self, |pool| sqlx::query(sql)
            .execute(&pool)
            .await
            .unwrap()
            .rows_affected())
    }

    /// One integer from a query such as `select count(*) from slots`.
    pub async fn count(&self, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        with_pool!(self, |pool| sqlx::query_scalar(sql)
            .fetch_one(&pool)
            .await
            .unwrap())
    }

    /// How many audit entries of `action` (e.g. `request.close`) the trail holds.
    pub async fn audit_count(&self, action: &str) -> i64 {
        self.count(&format!(
            "select count(*) from audit_log where action = '{action}'"
        ))
        .await
    }

    /// One text from a query such as `select body from notifications where …`.
    pub async fn text(&self, sql: &str) -> String {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        with_pool!(self, |pool| sqlx::query_scalar(sql)
            .fetch_one(&pool)
            .await
            .unwrap())
    }

    /// Makes the database refuse a change, as a full disk or a broken constraint would: a
    /// trigger `name` on `event` (e.g. `before insert on access_log`) that fails with
    /// `message`, only for rows where `when` holds (SQL over `new.…`) if given.
    pub async fn refuse(&self, name: &str, event: &str, when: Option<&str>, message: &str) {
        match self.kind {
            Kind::Sqlite => {
                let when = when.map(|w| format!("when {w}")).unwrap_or_default();
                self.execute_raw(&format!(
                    "create trigger {name} {event} {when}
                     begin select raise(abort, '{message}'); end"
                ))
                .await;
            }
            Kind::Postgres => {
                let when = when.unwrap_or("true");
                self.execute_raw(&format!(
                    "create function {name}() returns trigger language plpgsql as $$
                     begin
                         if {when} then raise exception '{message}'; end if;
                         return new;
                     end $$"
                ))
                .await;
                self.execute_raw(&format!(
                    "create trigger {name} {event} for each row execute function {name}()"
                ))
                .await;
            }
        }
    }

    /// A copy of the database as it is now, as a backup would be. The copy is a database
    /// of its own (file or PostgreSQL database), dropped with the returned handle.
    pub async fn snapshot(&self) -> TestDb {
        match self.kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let file = dir.path().join("datenwart.db");
                let sql = format!("vacuum into '{}'", file.display());
                self.execute_raw(&sql).await;
                TestDb {
                    kind: Kind::Sqlite,
                    url: format!("sqlite://{}", file.display()),
                    dir,
                    pg: None,
                }
            }
            Kind::Postgres => {
                let (admin, name) = self.pg.clone().expect("a PostgreSQL test database");
                let copy = format!("{name}_copy_{}", uuid::Uuid::new_v4().simple());
                let pool = sqlx::PgPool::connect(&admin).await.unwrap();
                // A template database must have no other sessions.
                sqlx::query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()")
                    .bind(&name)
                    .execute(&pool)
                    .await
                    .unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "create database {copy} template {name}"
                )))
                .execute(&pool)
                .await
                .unwrap();
                pool.close().await;
                let url = replace_db_name(&admin, &copy);
                TestDb {
                    kind: Kind::Postgres,
                    url,
                    dir: tempfile::tempdir().unwrap(),
                    pg: Some((admin, copy)),
                }
            }
        }
    }

    /// A context over the shipped policies, as the CLI builds it.
    pub async fn context(&self) -> Context {
        self.context_with(&shipped_policies()).await
    }

    pub async fn context_with(&self, policy_dir: &Path) -> Context {
        self.context_with_ledger(policy_dir, self.ledger()).await
    }

    /// The erasure ledger file this database's commands write: beside a SQLite file (its
    /// default), in the test's folder for PostgreSQL (which has no default).
    pub fn ledger(&self) -> PathBuf {
        match self.kind {
            Kind::Sqlite => store::default_ledger_path(&self.url).expect("a SQLite file"),
            Kind::Postgres => cli::ledger_for(&self.url),
        }
    }

    /// A context whose erasures write the ledger file at `ledger`. Its store has one
    /// connection, as a command's: a store method that waits for a second connection while
    /// it holds one hangs and fails the test.
    pub async fn context_with_ledger(&self, policy_dir: &Path, ledger: PathBuf) -> Context {
        let store = store::open_with_ledger(&self.url, Some(ledger), store::Sessions::One)
            .await
            .expect("open store");
        let policies = Arc::new(policies::load(policy_dir).expect("valid policies"));
        Context {
            store,
            policies,
            actor: "test:harness".into(),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg.take() {
            let _ = std::fs::remove_file(cli::ledger_for(&self.url));
            // Drop runs outside async: a short-lived runtime of its own on another thread.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(pool) = sqlx::PgPool::connect(&admin).await {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "drop database if exists {name} with (force)"
                        )))
                        .execute(&pool)
                        .await;
                        pool.close().await;
                    }
                });
            })
            .join();
        }
    }
}

fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// The text of every page of a PDF (read with lopdf), pages separated by a line break:
/// what a check for names in written files reads of a letter's PDF.
pub fn pdf_text(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc = lopdf::Document::load_mem(&bytes)
        .unwrap_or_else(|e| panic!("{}: not a PDF: {e}", path.display()));
    doc.get_pages()
        .keys()
        .map(|n| doc.extract_text(&[*n]).expect("the page's text"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn shipped_policies() -> PathBuf {
    repo().join("policies")
}

pub fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures").join(name)
}

/// A migrated database with the shipped tenants synced.
pub async fn ready(db: &TestDb) -> Context {
    let ctx = db.context().await;
    datenwart::ops::migrate(&ctx).await.expect("migrate");
    datenwart::ops::seeding::sync_tenants(&ctx)
        .await
        .expect("tenants sync");
    ctx
}

/// Opens slots of the fixture service PA at `tenant` on `day` (every weekday, public
/// holidays included) in the local time ranges `times` (e.g. "08:00-10:00"), with
/// `capacity` places each.
pub async fn open_slots(
    ctx: &Context,
    tenant: &str,
    day: chrono::NaiveDate,
    times: &str,
    capacity: i64,
) {
    let req = datenwart::ops::seeding::GenerateRequest {
        service: "PA".into(),
        from: day,
        to: day,
        weekdays: "mon-sun".parse().unwrap(),
        times: datenwart::domain::slots::parse_time_ranges(times).unwrap(),
        every_minutes: None,
        capacity,
        include_holidays: true,
    };
    datenwart::ops::seeding::generate_slots(ctx, tenant, &req)
        .await
        .unwrap();
}

/// Declares one test per backend for an `async fn(TestDb)` story.
#[macro_export]
macro_rules! on_both_backends {
    ($($story:ident),* $(,)?) => {
        $(
            mod $story {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let db = $crate::common::TestDb::new($crate::common::Kind::Sqlite).await.unwrap();
                    super::$story(db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(db) = $crate::common::TestDb::new($crate::common::Kind::Postgres).await {
                        super::$story(db).await;
                    }
                }
            }
        )*
    };
}
