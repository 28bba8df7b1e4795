//! `datenwart serve` as a real process: it reports its port, books, shuts down cleanly on
//! SIGTERM, and two processes on one PostgreSQL never overbook a slot.

mod common;

use common::server::ServeProcess;

use chrono::{Duration, Utc};
use common::{Kind, TestDb, cli, fixture, ready, shipped_policies};
use datenwart::ops::seeding;
use serde_json::json;

use std::process::{Command, Stdio};

/// `serve` with the rate limit off, on a test's database or another URL.
struct Serve;

impl Serve {
    fn start(db: &TestDb) -> ServeProcess {
        Serve::start_on(&db.url)
    }

    fn start_on(url: &str) -> ServeProcess {
        let serve = ServeProcess::start(url, &["--rate-limit", "0"]);
        assert!(!serve.addr.is_empty());
        serve
    }
}

async fn prepared(db: &TestDb, capacity: i64) -> i64 {
    let ctx = ready(db).await;
    seeding::import_services(&ctx, "recklinghausen", &fixture("services.csv"))
        .await
        .unwrap();
    let day = (Utc::now() + Duration::days(3)).date_naive();
    common::open_slots(&ctx, "recklinghausen", day, "08:00-08:20", capacity).await;
    db.count("select min(id) from slots").await
}

fn body(slot: i64, i: usize) -> serde_json::Value {
    json!({
        "slot_id": slot, "first_name": "Eva", "last_name": "Weber",
        "email": format!("eva{i}@example.org"), "phone": "0151 2345678", "consent": true,
    })
}

on_both_backends!(a_serve_process_books_and_stops_cleanly_on_sigterm);

async fn a_serve_process_books_and_stops_cleanly_on_sigterm(db: TestDb) {
    let slot = prepared(&db, 1).await;
    let serve = Serve::start(&db);
    let client = reqwest::Client::new();
    let health = client
        .get(format!("{}/healthz", serve.url("")))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let r = client
        .post(format!(
            "{}/api/v1/tenants/recklinghausen/bookings",
            serve.url("")
        ))
        .json(&body(slot, 0))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(serve.stop().success(), "serve exits 0 on SIGTERM");
    assert_eq!(db.count("select count(*) from bookings").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_serve_processes_on_one_postgresql_never_overbook() {
    let Some(db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    let slot = prepared(&db, 1).await;
    let (a, b) = (Serve::start(&db), Serve::start(&db));
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let url = if i % 2 == 0 { &a } else { &b }.url("/api/v1/tenants/recklinghausen/bookings");
        let (client, body) = (client.clone(), body(slot, i));
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        49,
        "{statuses:?}"
    );
    assert_eq!(
        db.count(&format!("select booked from slots where id = {slot}"))
            .await,
        1
    );
    assert_eq!(db.count("select count(*) from bookings").await, 1);
}

/// Books one person through the API: (reference, code).
async fn book_one(
    client: &reqwest::Client,
    serve: &ServeProcess,
    slot: i64,
    i: usize,
) -> (String, String) {
    let r = client
        .post(format!(
            "{}/api/v1/tenants/recklinghausen/bookings",
            serve.url("")
        ))
        .json(&body(slot, i))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let b: serde_json::Value = r.json().await.unwrap();
    (
        b["reference"].as_str().unwrap().to_owned(),
        b["code"].as_str().unwrap().to_owned(),
    )
}

async fn cancel(client: &reqwest::Client, url: &str, reference: &str, code: &str) -> u16 {
    client
        .delete(format!("{url}/api/v1/bookings/{reference}"))
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Places taken in each slot that no active booking holds (or the reverse): must be none.
async fn slots_out_of_step(db: &TestDb) -> i64 {
    db.count(
        "select count(*) from slots s where s.booked <> (select count(*) from bookings b
             where b.slot_id = s.id and b.status = 'booked')",
    )
    .await
}

on_both_backends!(twenty_parallel_cancels_of_one_booking_succeed_once_and_free_one_place);

async fn twenty_parallel_cancels_of_one_booking_succeed_once_and_free_one_place(db: TestDb) {
    let slot = prepared(&db, 3).await;
    // Two processes on one database, as in a scaled-out installation.
    let (a, b) = (Serve::start(&db), Serve::start(&db));
    let client = reqwest::Client::new();
    let mut booked = Vec::new();
    for i in 0..3 {
        booked.push(book_one(&client, &a, slot, i).await);
    }
    let (reference, code) = booked[0].clone();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let url = if i % 2 == 0 { a.url("") } else { b.url("") };
            let (client, reference, code) = (client.clone(), reference.clone(), code.clone());
            tokio::spawn(async move { cancel(&client, &url, &reference, &code).await })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        19,
        "{statuses:?}"
    );
    let booked_now = db
        .count(&format!("select booked from slots where id = {slot}"))
        .await;
    assert_eq!(booked_now, 2);
    assert_eq!(slots_out_of_step(&db).await, 0);
    // The one freed place can be booked once, not more.
    let mut created = 0;
    for i in 10..13 {
        let r = client
            .post(format!(
                "{}/api/v1/tenants/recklinghausen/bookings",
                b.url("")
            ))
            .json(&body(slot, i))
            .send()
            .await
            .unwrap();
        created += usize::from(r.status() == 201);
    }
    assert_eq!(created, 1);
    assert_eq!(
        db.count(&format!("select booked from slots where id = {slot}"))
            .await,
        3
    );
    assert_eq!(slots_out_of_step(&db).await, 0);
}

on_both_backends!(an_erasure_racing_the_citizens_cancel_frees_the_place_once);

async fn an_erasure_racing_the_citizens_cancel_frees_the_place_once(db: TestDb) {
    let slot = prepared(&db, 40).await;
    let serve = Serve::start(&db);
    let client = reqwest::Client::new();
    for round in 0..30 {
        let (reference, code) = book_one(&client, &serve, slot, 100 + round).await;
        let email = format!("eva{}@example.org", 100 + round);
        let erase = cli::command(
            &db.url,
            &shipped_policies(),
            &[
                "erase",
                "--identity-checked-by",
                "in-person",
                "--email",
                &email,
                "--tenant",
                "recklinghausen",
                "--yes",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        let status = cancel(&client, &serve.url(""), &reference, &code).await;
        let erased = tokio::task::spawn_blocking(move || erase.wait_with_output().unwrap())
            .await
            .unwrap();
        assert!(erased.status.success(), "round {round}: erase failed");
        // The citizen's cancel came first (200), or the erasure did and took the code
        // with it (403: no code matches an erased booking any more), or it cancelled the
        // booking first (409).
        assert!([200, 403, 409].contains(&status), "round {round}: {status}");
        assert_eq!(slots_out_of_step(&db).await, 0, "round {round}");
    }
    assert_eq!(
        db.count(&format!("select booked from slots where id = {slot}"))
            .await,
        0
    );
}

on_both_backends!(wrong_codes_lock_cancelling_by_code_across_processes);

async fn wrong_codes_lock_cancelling_by_code_across_processes(db: TestDb) {
    let slot = prepared(&db, 2).await;
    let a = Serve::start(&db);
    let client = reqwest::Client::new();
    let (reference, code) = book_one(&client, &a, slot, 0).await;
    for _ in 0..datenwart::domain::booking::CODE_GUESSES - 1 {
        assert_eq!(cancel(&client, &a.url(""), &reference, "FALSCH").await, 403);
    }
    // The last wrong guess locks the booking; a new process and the right code do not help.
    assert_eq!(cancel(&client, &a.url(""), &reference, "FALSCH").await, 429);
    drop(a);
    let b = Serve::start(&db);
    let r = client
        .delete(format!("{}/api/v1/bookings/{reference}", b.url("")))
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let message: serde_json::Value = r.json().await.unwrap();
    assert!(
        message["error"].as_str().unwrap().contains("Bürgerbüro an"),
        "{message}"
    );
    assert_eq!(
        db.count("select count(*) from bookings where status = 'booked'")
            .await,
        1
    );
    // Once the lock has run out, the right code cancels.
    let ctx = db.context().await;
    let later = Utc::now() + datenwart::domain::booking::CODE_LOCKOUT + Duration::minutes(1);
    let outcome = datenwart::ops::booking::cancel(&ctx, &reference, &code, later)
        .await
        .unwrap();
    assert!(outcome.is_ok(), "{outcome:?}");
}

on_both_backends!(the_log_row_of_a_citizens_cancel_goes_with_the_erasure);

async fn the_log_row_of_a_citizens_cancel_goes_with_the_erasure(db: TestDb) {
    let slot = prepared(&db, 2).await;
    let serve = Serve::start(&db);
    let client = reqwest::Client::new();
    let (reference, code) = book_one(&client, &serve, slot, 7).await;
    assert_eq!(
        cancel(&client, &serve.url(""), &reference, "FALSCH").await,
        403
    );
    assert_eq!(
        cancel(&client, &serve.url(""), &reference, &code).await,
        200
    );
    drop(serve);
    let cancels = "select count(*) from access_log where method = 'DELETE'";
    let linked = "select count(*) from access_log a join bookings b on b.id = a.booking_id
                  where a.method = 'DELETE' and b.status = 'cancelled'";
    // The successful cancel belongs to the booking; the wrong guess may be anyone's.
    assert_eq!(db.count(cancels).await, 2);
    assert_eq!(db.count(linked).await, 1);
    let out = cli::run(
        &db,
        &[
            "erase",
            "--identity-checked-by",
            "in-person",
            "--email",
            "eva7@example.org",
            "--tenant",
            "recklinghausen",
            "--yes",
        ],
    );
    cli::assert_exit(&out, 0);
    assert_eq!(
        db.count(cancels).await,
        1,
        "the citizen's own cancel request is erased"
    );
    assert_eq!(db.count(linked).await, 0);
}

/// A tmpfs of `size` mounted at `dir` for the test (root only), unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &std::path::Path, size: &str) -> Option<SmallDisk> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(dir.to_owned()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the disk holding `path` with a file of that name until it is full.
fn fill(path: &std::path::Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    for size in [64 * 1024, 4096, 512, 1] {
        let block = vec![0u8; size];
        while f.write_all(&block).is_ok() {}
    }
    let _ = f.sync_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_recovers_by_itself_after_the_disk_was_full() {
    let dir = tempfile::tempdir().unwrap();
    let Some(_disk) = SmallDisk::mount(dir.path(), "8m") else {
        common::cannot_run(
            "a small tmpfs cannot be mounted here",
            "run the tests as root, as CI does",
        );
        return;
    };
    let url = format!("sqlite://{}", dir.path().join("datenwart.db").display());
    let policies = shipped_policies();
    let day = (Utc::now() + Duration::days(3)).date_naive().to_string();
    for args in [
        vec!["migrate"],
        vec!["tenants", "sync"],
        vec!["services", "import", "--tenant", "recklinghausen"],
        vec![
            "slots",
            "generate",
            "--tenant",
            "recklinghausen",
            "--service",
            "PA",
            "--from",
            &day,
            "--to",
            &day,
            "--weekdays",
            "mon-sun",
            "--times",
            "08:00-12:00",
            "--capacity",
            "50",
            "--include-holidays",
        ],
    ] {
        let mut args = args.clone();
        let services = fixture("services.csv");
        if args[0] == "services" {
            args.push(services.to_str().unwrap());
        }
        cli::assert_exit(&cli::run_with(&url, &policies, &args), 0);
    }
    let serve = Serve::start_on(&url);
    let client = reqwest::Client::new();
    let slot: i64 = {
        let r: serde_json::Value = client
            .get(format!(
                "{}/api/v1/tenants/recklinghausen/slots?service=PA",
                serve.url("")
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r[0]["id"].as_i64().unwrap()
    };
    let book = |i: usize| {
        let (client, url) = (client.clone(), serve.url(""));
        async move {
            client
                .post(format!("{url}/api/v1/tenants/recklinghausen/bookings"))
                .json(&body(slot, i))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let health = || {
        let (client, url) = (client.clone(), serve.url(""));
        async move {
            client
                .get(format!("{url}/healthz"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(book(0).await, 201);
    let filler = dir.path().join("filler");
    fill(&filler);
    let mut statuses = Vec::new();
    for i in 1..20 {
        statuses.push(book(i).await);
    }
    assert!(
        statuses.iter().any(|s| *s >= 500),
        "a full disk refuses bookings: {statuses:?}"
    );
    std::fs::remove_file(&filler).unwrap();
    // Without a restart: the health check and bookings work again, ...
    assert_eq!(health().await, 200);
    for i in 100..110 {
        assert_eq!(
            book(i).await,
            201,
            "booking {i} after the disk has room again"
        );
    }
    // ... and no connection of serve's still holds the write lock from the failed writes.
    let out = cli::run_with(
        &url,
        &policies,
        &[
            "hold",
            "add",
            "--tenant",
            "recklinghausen",
            "--email",
            "eva100@example.org",
            "--reason",
            "Prüfung",
        ],
    );
    cli::assert_exit(&out, 0);
    // A database that cannot be written at all (here: opened read-only) is not healthy.
    let read_only = Serve::start_on(&format!("{url}?mode=ro"));
    let status = client
        .get(format!("{}/healthz", read_only.url("")))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 503, "a read-only database is not healthy");
    assert_eq!(health().await, 200);
    assert!(serve.stop().success());
}
