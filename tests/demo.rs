//! `demo` on both backends: what the report counts is what the database holds, bookings lie
//! in the past and the future, the same seed gives the same people, and every e-mail
//! address is at a reserved example domain.

#[macro_use]
mod common;

use common::{Kind, TestDb};
use datenwart::ops::demo::{self, DemoReport, DemoRequest, Silent};

const BOOKINGS: u64 = 300;

fn request(seed: u64) -> DemoRequest {
    DemoRequest {
        bookings: BOOKINGS,
        page_views: 2,
        seed,
    }
}

async fn demo_on(db: &TestDb, req: &DemoRequest) -> DemoReport {
    let ctx = db.context().await;
    demo::run(&ctx, req, &Silent).await.expect("demo runs")
}

/// Every person's (first name, last name, e-mail), sorted.
async fn people(db: &TestDb) -> Vec<(String, String, String)> {
    let sql = "select first_name, last_name, lower(email) from bookings order by 3, 1, 2";
    with_pool!(db, |pool| sqlx::query_as(sql)
        .fetch_all(&pool)
        .await
        .unwrap())
}

async fn the_report_counts_what_the_database_holds(db: TestDb) {
    let r = demo_on(&db, &request(demo::DEFAULT_SEED)).await;
    let t = &r.totals;
    assert_eq!(t.bookings, BOOKINGS);
    assert_eq!(t.refused, 0);
    assert_eq!(r.bookings_before, 0);
    assert_eq!(r.tenants.len(), 3);
    assert_eq!(r.tenants_created, 3);
    assert_eq!(
        db.count("select count(*) from bookings").await,
        BOOKINGS as i64
    );
    assert_eq!(
        db.count("select count(*) from consents").await,
        t.consents as i64
    );
    assert_eq!(
        db.count("select count(*) from notifications").await,
        t.notifications as i64
    );
    assert_eq!(
        db.count("select count(*) from access_log").await,
        t.access_log as i64
    );
    // One request per booking, linked to it, and two page views each.
    assert_eq!(
        db.count("select count(*) from access_log where booking_id is not null")
            .await,
        BOOKINGS as i64
    );
    assert_eq!(t.access_log, BOOKINGS * 3);
    assert_eq!(
        db.count("select count(*) from bookings where status = 'cancelled'")
            .await,
        t.cancelled as i64
    );
    for tenant in &r.tenants {
        let n = db
            .count(&format!(
                "select count(*) from bookings b join tenants t on t.id = b.tenant_id where t.slug = '{}'",
                tenant.tenant
            ))
            .await;
        assert_eq!(n, tenant.bookings as i64, "{}", tenant.tenant);
        assert!(tenant.bookings > 0 && tenant.slots_created > 0 && tenant.services > 0);
    }

    // Past and future, as the report says; every booking made before its appointment.
    let now = datenwart::domain::time::format_instant(&datenwart::domain::time::now());
    let past = db
        .count(&format!(
            "select count(*) from bookings where appointment_start <= '{now}'"
        ))
        .await;
    assert!(past > 0 && past < BOOKINGS as i64, "{past}");
    assert_eq!(past as u64, t.past);
    assert_eq!(t.past + t.future, BOOKINGS);
    assert_eq!(
        db.count("select count(*) from bookings where booked_at >= appointment_start")
            .await,
        0
    );

    // Recklinghausen asks for consent and neither address nor birth date; the other two
    // rest on contract, take both voluntarily and send SMS reminders to who asks.
    let of = |tenant: &str, cond: &str| {
        format!(
            "select count(*) from bookings b join tenants t on t.id = b.tenant_id \
             where t.slug = '{tenant}' and {cond}"
        )
    };
    assert_eq!(
        db.count(&of(
            "recklinghausen",
            "(b.address is not null or b.birth_date is not null)"
        ))
        .await,
        0
    );
    assert_eq!(
        db.count(&of(
            "recklinghausen",
            "not exists (select 1 from consents c where c.booking_id = b.id and c.purpose = 'booking')"
        ))
        .await,
        0
    );
    assert!(
        db.count(&of("oer-erkenschwick", "b.address is not null"))
            .await
            > 0
    );
    assert!(
        db.count(&of("westendorf", "b.birth_date is not null"))
            .await
            > 0
    );
    assert!(
        db.count("select count(*) from notifications where kind = 'sms_reminder'")
            .await
            > 0
    );

    // Some people booked more than once, some of them at two tenants.
    assert!(r.persons_with_several_bookings > 0);
    assert!(r.persons_at_several_tenants > 0);
    assert_eq!(
        db.count(
            "select count(*) from (select subject_ref from bookings group by subject_ref \
             having count(distinct tenant_id) > 1) x"
        )
        .await as u64,
        r.persons_at_several_tenants
    );
    assert_eq!(
        db.count("select count(distinct subject_ref) from bookings")
            .await as u64,
        r.persons
    );

    // No e-mail outside the reserved example domains (RFC 2606).
    for (_, _, email) in people(&db).await {
        let domain = email.rsplit_once('@').unwrap().1;
        assert!(
            ["example.com", "example.org", "example.net"].contains(&domain)
                || domain.ends_with(".example"),
            "{domain}"
        );
    }

    // The audit trail records the demo and stays intact.
    assert_eq!(
        db.count("select count(*) from audit_log where action = 'demo.bookings'")
            .await,
        3
    );
    let ctx = db.context().await;
    let verified = datenwart::ops::audit::verify(ctx.store.as_ref())
        .await
        .unwrap();
    assert!(verified.ok, "{:?}", verified.problem);
}

async fn the_same_seed_gives_the_same_people(db: TestDb) {
    let other = TestDb::new(db.kind).await.unwrap();
    demo_on(&db, &request(7)).await;
    demo_on(&other, &request(7)).await;
    let (a, b) = (people(&db).await, people(&other).await);
    assert_eq!(a.len(), BOOKINGS as usize);
    assert_eq!(a, b);
}

async fn a_second_demo_adds_bookings_and_says_so(db: TestDb) {
    demo_on(&db, &request(1)).await;
    let second = demo_on(&db, &request(2)).await;
    assert_eq!(second.bookings_before, BOOKINGS as i64);
    assert_eq!(second.totals.bookings, BOOKINGS);
    assert_eq!(second.migrations_applied, 0);
    assert_eq!(second.tenants_created, 0);
    assert_eq!(second.totals.services_created, 0);
    assert_eq!(
        db.count("select count(*) from bookings").await,
        2 * BOOKINGS as i64
    );
}

/// Bookings enough for two batches of the store's bulk path (more than 2,000 in one call of
/// `book`, chunked into full and partial multi-row statements, the partial ones not kept
/// prepared, and SQLite's larger cache for the batch's connection).
const BULK: u64 = 2_600;

/// (bookings, cancelled, consents, notifications, access-log rows, people) as the database
/// holds them.
async fn held(db: &TestDb) -> [i64; 6] {
    [
        db.count("select count(*) from bookings").await,
        db.count("select count(*) from bookings where status = 'cancelled'")
            .await,
        db.count("select count(*) from consents").await,
        db.count("select count(*) from notifications").await,
        db.count("select count(*) from access_log").await,
        db.count("select count(distinct lower(email)) from bookings")
            .await,
    ]
}

async fn a_bulk_run_makes_the_same_data_from_the_same_seed_and_counts_it(db: TestDb) {
    let other = TestDb::new(db.kind).await.unwrap();
    let req = DemoRequest {
        bookings: BULK,
        page_views: 1,
        seed: demo::DEFAULT_SEED,
    };
    let a = demo_on(&db, &req).await;
    let b = demo_on(&other, &req).await;
    let t = &a.totals;
    assert_eq!((t.bookings, t.refused), (BULK, 0));
    let counts = held(&db).await;
    assert_eq!(
        counts,
        [
            BULK as i64,
            t.cancelled as i64,
            t.consents as i64,
            t.notifications as i64,
            t.access_log as i64,
            a.persons as i64
        ]
    );
    assert_eq!(t.access_log, 2 * BULK);
    assert!(t.cancelled > 0 && a.persons_with_several_bookings > 0);
    // The same seed: the same counts, the same people in both databases.
    assert_eq!(held(&other).await, counts);
    assert_eq!(
        serde_json::to_value(&b.totals).unwrap(),
        serde_json::to_value(t).unwrap()
    );
    assert_eq!(
        (
            b.persons,
            b.persons_with_several_bookings,
            b.persons_at_several_tenants
        ),
        (
            a.persons,
            a.persons_with_several_bookings,
            a.persons_at_several_tenants
        )
    );
    assert_eq!(people(&db).await, people(&other).await);
}

/// Cancels of four bookings (a past and a future one each of two people) at `now`, one after
/// the other or all in one transaction (`cancel_bookings`, as `demo` cancels its batches):
/// each outcome (the booking by its position), and what the database holds afterwards.
async fn cancels(db: &TestDb, together: bool) -> (Vec<String>, [i64; 6]) {
    use chrono::{Duration, Utc};
    use common::people::{self, Citizen};
    use datenwart::domain::booking::{CODE_GUESSES, code_hash};
    use datenwart::store::CancelRequest;
    let ctx = common::ready(db).await;
    datenwart::ops::seeding::import_services(
        &ctx,
        "recklinghausen",
        &common::fixture("services.csv"),
    )
    .await
    .unwrap();
    let today = Utc::now().date_naive();
    for day in [today - Duration::days(1), today + Duration::days(5)] {
        common::open_slots(&ctx, "recklinghausen", day, "08:00-12:00", 3).await;
    }
    let mut made = Vec::new();
    for who in [
        Citizen {
            first: "Anna",
            last: "Schmidt",
            email: "anna.schmidt@example.com",
            phone: "0171 2223334",
        },
        Citizen {
            first: "Bernd",
            last: "Meier",
            email: "bernd.meier@example.org",
            phone: "0152 9998887",
        },
    ] {
        let form = |slot| who.form(slot);
        let (past, future) =
            people::book_past_and_future(&ctx, "recklinghausen", form, Duration::days(3), false)
                .await;
        made.push(past);
        made.push(future);
    }
    let key = ctx.store.pseudonym_key().await.unwrap();
    let now = Utc::now();
    let cancel = |i: usize, right: bool| CancelRequest {
        reference: made[i].reference.clone(),
        code_hash: if right {
            code_hash(&key, &made[i].reference, &made[i].code)
        } else {
            code_hash(&key, &made[i].reference, "WRONG-CODE")
        },
        at: now,
    };
    // Cancelled, then already cancelled; in the past; wrong codes until the lock, then the
    // right code refused while locked; a reference nobody has.
    let mut list = vec![cancel(1, true), cancel(1, true), cancel(0, true)];
    list.extend((0..CODE_GUESSES).map(|_| cancel(3, false)));
    list.push(cancel(3, true));
    list.push(CancelRequest {
        reference: "NOBODY-0000".into(),
        ..cancel(2, true)
    });
    let outcomes = if together {
        ctx.store.cancel_bookings(&list).await.unwrap()
    } else {
        let mut all = Vec::new();
        for c in &list {
            all.push(
                ctx.store
                    .cancel_booking(&c.reference, &c.code_hash, c.at)
                    .await
                    .unwrap(),
            );
        }
        all
    };
    let outcomes = outcomes
        .into_iter()
        .map(|o| match o {
            Ok(c) => format!(
                "cancelled booking {}",
                made.iter()
                    .position(|m| m.reference == c.reference)
                    .unwrap()
            ),
            Err(refusal) => format!("{refusal:?}"),
        })
        .collect();
    let held = [
        db.count("select count(*) from bookings where status = 'cancelled'")
            .await,
        db.count("select cast(coalesce(sum(code_failures), 0) as bigint) from bookings")
            .await,
        db.count("select count(*) from bookings where code_locked_until is not null")
            .await,
        db.count("select cast(coalesce(sum(booked), 0) as bigint) from slots")
            .await,
        db.count("select count(*) from notifications where status = 'cancelled'")
            .await,
        db.count("select count(*) from notifications where status = 'queued'")
            .await,
    ];
    (outcomes, held)
}

async fn cancelling_in_one_transaction_does_what_cancelling_one_by_one_does(db: TestDb) {
    let other = TestDb::new(db.kind).await.unwrap();
    let one_by_one = cancels(&db, false).await;
    let together = cancels(&other, true).await;
    assert_eq!(together, one_by_one);
    let (outcomes, held) = one_by_one;
    for kind in [
        "cancelled booking 1",
        "AlreadyCancelled",
        "InPast",
        "WrongCode",
        "Locked",
        "NotFound",
    ] {
        assert!(outcomes.iter().any(|o| o == kind), "{kind}: {outcomes:?}");
    }
    // One booking cancelled, one locked, its place freed: three of four places taken.
    assert_eq!(&held[..4], &[1, 0, 1, 3]);
}

on_both_backends!(
    cancelling_in_one_transaction_does_what_cancelling_one_by_one_does,
    a_bulk_run_makes_the_same_data_from_the_same_seed_and_counts_it,
    the_report_counts_what_the_database_holds,
    the_same_seed_gives_the_same_people,
    a_second_demo_adds_bookings_and_says_so,
    the_demo_leaves_its_database_whole_in_one_file_and_with_statistics,
    a_demo_into_an_empty_database_ends_with_every_index_the_migrations_make,
    indexes_left_out_by_a_demo_that_died_are_built_by_the_next_command,
    two_processes_building_the_deferred_indexes_build_each_once,
    a_demo_whose_load_fails_still_leaves_every_index,
    a_demo_process_killed_during_its_load_leaves_a_database_the_next_command_makes_whole,
);

/// Every index of the database as `name: definition`, sorted.
async fn indexes(db: &TestDb) -> Vec<String> {
    let sql = match db.kind {
        Kind::Sqlite => {
            "select name || ': ' || sql from sqlite_master where type = 'index' and sql is not null order by name"
        }
        Kind::Postgres => {
            "select indexname || ': ' || indexdef from pg_indexes where schemaname = current_schema() order by indexname"
        }
    };
    with_pool!(db, |pool| sqlx::query_scalar(sql)
        .fetch_all(&pool)
        .await
        .unwrap())
}

/// The demo drops the lookup indexes of an empty database before its load and builds them
/// at its end: afterwards the database has exactly the indexes the migrations made, and
/// no record of a deferred one.
async fn a_demo_into_an_empty_database_ends_with_every_index_the_migrations_make(db: TestDb) {
    let ctx = db.context().await;
    datenwart::ops::migrate(&ctx).await.unwrap();
    let migrated = indexes(&db).await;
    assert!(
        migrated.iter().any(|i| i.starts_with("bookings_subject: ")),
        "{migrated:?}"
    );
    let report = demo::run(&ctx, &request(11), &Silent).await.unwrap();
    assert_eq!(report.totals.bookings, BOOKINGS);
    assert_eq!(indexes(&db).await, migrated);
    assert_eq!(db.count("select count(*) from deferred_indexes").await, 0);
    // A person is found by the rebuilt index.
    let subject = db
        .text("select subject_ref from bookings where subject_ref is not null order by id limit 1")
        .await;
    let found = db
        .count(&format!(
            "select count(*) from bookings where subject_ref = '{subject}'"
        ))
        .await;
    assert!(found >= 1);
}

/// A demo killed during its load leaves its lookup indexes dropped and recorded. While
/// its process lives nothing touches them; once it is gone the next command builds them,
/// says so on stderr, and they are exactly the migrations' again. A database that holds
/// bookings is never stripped of its indexes.
async fn indexes_left_out_by_a_demo_that_died_are_built_by_the_next_command(db: TestDb) {
    let ctx = db.context().await;
    datenwart::ops::migrate(&ctx).await.unwrap();
    let migrated = indexes(&db).await;
    let me = datenwart::ops::holder::describe("test");
    let now = chrono::Utc::now();
    let deferred = ctx.store.defer_indexes(&me, now).await.unwrap();
    assert_eq!(deferred, 7);
    let stripped = indexes(&db).await;
    assert_eq!(stripped.len(), migrated.len() - 7, "{stripped:?}");
    assert!(!stripped.iter().any(|i| i.starts_with("bookings_subject: ")));
    assert_eq!(ctx.store.check_schema().await.unwrap().deferred_indexes, 7);
    // Deferring again finds nothing left to defer.
    assert_eq!(ctx.store.defer_indexes(&me, now).await.unwrap(), 0);

    // The loading process (this one) still runs: its indexes are its own business.
    assert_eq!(demo::build_left_indexes(&ctx).await.unwrap(), 0);
    assert_eq!(indexes(&db).await, stripped);

    // The process died: the next command, whatever it is, builds them.
    let pid = std::process::id();
    let renamed = db
        .execute_raw(&format!(
            "update deferred_indexes set holder = replace(holder, 'pid {pid} ', 'pid 4194305 ')"
        ))
        .await;
    assert_eq!(renamed, 7);
    drop(ctx);
    let out = common::cli::run(&db, &["hold", "list"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("a demo load did not finish (test, pid 4194305 on "),
        "{stderr}"
    );
    assert_eq!(indexes(&db).await, migrated);
    assert_eq!(db.count("select count(*) from deferred_indexes").await, 0);

    // With bookings in the database nothing is deferred, and nothing changes.
    demo_on(&db, &request(12)).await;
    let ctx = db.context().await;
    assert_eq!(ctx.store.defer_indexes(&me, now).await.unwrap(), 0);
    assert_eq!(indexes(&db).await, migrated);
    assert_eq!(db.count("select count(*) from deferred_indexes").await, 0);
}

/// Two processes that find the same deferred indexes (two commands started at once after
/// a demo died) build each exactly once between them, and neither fails.
async fn two_processes_building_the_deferred_indexes_build_each_once(db: TestDb) {
    let ctx = db.context().await;
    datenwart::ops::migrate(&ctx).await.unwrap();
    let migrated = indexes(&db).await;
    let holder = "test, pid 4194305 on elsewhere";
    assert_eq!(
        ctx.store
            .defer_indexes(holder, chrono::Utc::now())
            .await
            .unwrap(),
        7
    );
    let other = db.context().await;
    let (a, b) = tokio::join!(
        ctx.store.build_deferred_indexes(),
        other.store.build_deferred_indexes()
    );
    assert_eq!(a.unwrap() + b.unwrap(), 7);
    assert_eq!(indexes(&db).await, migrated);
    assert_eq!(db.count("select count(*) from deferred_indexes").await, 0);
}

/// After `demo`, SQLite's WAL is empty (the database file alone can be copied) and
/// PostgreSQL's planner knows how many rows the tables hold.
async fn the_demo_leaves_its_database_whole_in_one_file_and_with_statistics(db: TestDb) {
    let report = demo_on(&db, &request(5)).await;
    let bookings = report.totals.bookings as i64;
    assert!(bookings > 0);
    match db.kind {
        Kind::Sqlite => {
            let file = db.url.trim_start_matches("sqlite://").to_owned();
            let wal = std::path::PathBuf::from(format!("{file}-wal"));
            let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
            assert_eq!(size, 0, "{} holds {size} bytes", wal.display());
        }
        Kind::Postgres => {
            // ANALYZE reads every row of a table this small.
            let estimated = db
                .count("select reltuples::bigint from pg_class where relname = 'bookings'")
                .await;
            assert_eq!(estimated, db.count("select count(*) from bookings").await);
            assert_eq!(estimated, bookings);
        }
    }
}

#[test]
fn the_command_prints_its_report_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("demo.db").display());
    let mut cmd = common::cli::command(
        &url,
        &common::shipped_policies(),
        &["--format", "json", "demo"],
    );
    cmd.current_dir(common::repo())
        .args(["--bookings", "40", "--page-views", "0"]);
    let out = common::cli::output(cmd);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["totals"]["bookings"], 40);
    assert_eq!(report["totals"]["access_log"], 40);
    assert_eq!(report["seed"], demo::DEFAULT_SEED);
    // No progress bar without a terminal.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A load the database refuses (as a full disk would) fails the demo, and the indexes it
/// dropped are built before it returns.
async fn a_demo_whose_load_fails_still_leaves_every_index(db: TestDb) {
    let ctx = db.context().await;
    datenwart::ops::migrate(&ctx).await.unwrap();
    let migrated = indexes(&db).await;
    db.refuse(
        "refuse_load",
        "before insert on access_log",
        None,
        "refused by the test",
    )
    .await;
    let err = demo::run(&ctx, &request(13), &Silent).await.unwrap_err();
    assert!(
        format!("{err:#}").contains("refused by the test"),
        "{err:#}"
    );
    assert_eq!(db.count("select count(*) from bookings").await, 0);
    assert_eq!(indexes(&db).await, migrated);
    assert_eq!(db.count("select count(*) from deferred_indexes").await, 0);
}

/// The real thing: `datenwart demo` killed with SIGKILL in the middle of its load. What it
/// committed stays, and the next command builds the indexes it had dropped, so the database
/// ends with exactly the migrations' indexes and no record of a deferred one.
async fn a_demo_process_killed_during_its_load_leaves_a_database_the_next_command_makes_whole(
    db: TestDb,
) {
    let migrate = common::cli::run(&db, &["migrate"]);
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let migrated = indexes(&db).await;
    let mut demo = common::cli::command(
        &db.url,
        &common::shipped_policies(),
        &["-q", "demo", "--bookings", "200000", "--page-views", "0"],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    // Killed once its first batches are committed, well before its end.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        assert!(
            demo.try_wait().unwrap().is_none(),
            "the demo ended before it could be killed"
        );
        if db.count("select count(*) from bookings").await >= 2_000 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no batch committed");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    demo.kill().unwrap();
    demo.wait().unwrap();
    let committed = db.count("select count(*) from bookings").await;
    assert!(committed < 200_000, "{committed}");
    assert_eq!(db.count("select count(*) from deferred_indexes").await, 7);

    let out = common::cli::run(&db, &["hold", "list"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("a demo load did not finish"), "{stderr}");
    assert_eq!(indexes(&db).await, migrated);
    assert_eq!(db.count("select count(*) from deferred_indexes").await, 0);
    assert_eq!(db.count("select count(*) from bookings").await, committed);
    // Whole and not written to since: the next command finds nothing to build.
    let again = common::cli::run(&db, &["hold", "list"]);
    assert!(again.status.success());
    assert!(
        again.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}
