//! `datenwart serve` as a real process: it reports its port, books, shuts down cleanly on
//! SIGTERM, and two processes on one PostgreSQL never overbook a slot.

mod common;

use chrono::{Duration, Utc};
use common::{Kind, TestDb, cli, fixture, ready, shipped_policies};
use datenwart::ops::seeding;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A `serve` process that is killed if the test fails before stopping it.
struct Serve {
    child: Child,
    url: String,
}

impl Serve {
    fn start(db: &TestDb) -> Serve {
        let args = ["serve", "--listen", "127.0.0.1:0", "--rate-limit", "0"];
        let mut child = cli::command(&db.url, &shipped_policies(), &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start datenwart serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Serve { child, url }
    }

    /// SIGTERM, then the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
        .get(format!("{}/healthz", serve.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let r = client
        .post(format!(
            "{}/api/v1/tenants/recklinghausen/bookings",
            serve.url
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
        let url = format!(
            "{}/api/v1/tenants/recklinghausen/bookings",
            if i % 2 == 0 { &a.url } else { &b.url }
        );
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
