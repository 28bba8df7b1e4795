//! The breach register (Art. 33(5), 34 DSGVO) driven as a DPO would: the 72-hour clock,
//! notifications that happen once, closing only when the risk's notifications are done, the
//! count of persons and records from the store, the Art. 34 letter, and the audit trail.

mod common;

use chrono::{Duration, SubsecRound, Utc};
use common::cli::{assert_exit, json, run, stderr, stdout};
use common::people::{self, Citizen};
use common::{TestDb, fixture, ready};
use datenwart::ops::seeding;

on_both_backends!(
    a_breach_runs_its_72_hour_clock_and_closes_only_after_its_notifications,
    the_count_of_persons_and_records_comes_from_the_store_for_the_window,
    bad_input_changes_nothing_and_names_the_value,
    the_annual_report_counts_one_year_at_one_tenant,
);

const R: &str = "recklinghausen";

fn local(at: chrono::DateTime<Utc>) -> String {
    at.to_rfc3339()
}

async fn a_breach_runs_its_72_hour_clock_and_closes_only_after_its_notifications(db: TestDb) {
    ready(&db).await;
    // Known 73 hours ago with a risk: the authority notification is overdue.
    let known = (Utc::now() - Duration::hours(73)).trunc_subsecs(0);
    let o = run(
        &db,
        &[
            "--format",
            "json",
            "breach",
            "add",
            "--tenant",
            R,
            "--known-at",
            &local(known),
            "--description",
            "Fehlversand der Terminliste an eine falsche Verteilerliste",
            "--category",
            "email",
            "--category",
            "name",
            "--persons",
            "40",
            "--records",
            "40",
            "--risk",
            "high",
            "--consequences",
            "Spam und Phishing möglich",
        ],
    );
    assert_exit(&o, 0);
    let id = json(&o)["breach"].as_i64().unwrap();
    assert_eq!(
        json(&o)["authority_due"].as_str().unwrap(),
        (known + Duration::hours(72)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    // Known an hour ago, risk unlikely: documented only, nothing to notify.
    let o = run(
        &db,
        &[
            "breach",
            "add",
            "--tenant",
            R,
            "--description",
            "Ausdruck im Papierkorb",
            "--category",
            "name",
            "--risk",
            "unlikely",
        ],
    );
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("documented only"), "{}", stdout(&o));

    let o = run(&db, &["--format", "json", "breach", "list", "--overdue"]);
    let rows = json(&o);
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["id"], id);
    assert_eq!(rows[0]["state"], "overdue");

    // Closing needs the notifications the risk requires, each recorded once.
    let o = run(
        &db,
        &["breach", "close", &id.to_string(), "--note", "erledigt"],
    );
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("has not been notified"),
        "{}",
        stderr(&o)
    );
    let o = run(
        &db,
        &[
            "breach",
            "notify",
            &id.to_string(),
            "--authority",
            "--reference",
            "LDI-2026-17",
        ],
    );
    assert_exit(&o, 0);
    let o = run(&db, &["breach", "notify", &id.to_string(), "--authority"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("notified already"), "{}", stderr(&o));
    let o = run(&db, &["--format", "json", "breach", "list", "--overdue"]);
    assert_eq!(json(&o).as_array().unwrap().len(), 0);
    let o = run(
        &db,
        &["breach", "close", &id.to_string(), "--note", "erledigt"],
    );
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("persons have not been notified"),
        "{}",
        stderr(&o)
    );

    // The letter to the persons names what Art. 34(2) asks for.
    let out = tempfile::tempdir().unwrap();
    let o = run(
        &db,
        &[
            "breach",
            "letter",
            &id.to_string(),
            "--out",
            out.path().to_str().unwrap(),
        ],
    );
    assert_exit(&o, 0);
    let path = out
        .path()
        .join(format!("benachrichtigung-datenpanne-{id}.html"));
    let letter = std::fs::read_to_string(&path).unwrap();
    for part in [
        "Art. 34 DSGVO",
        "Fehlversand der Terminliste",
        "E-Mail-Adresse, Name",
        "Spam und Phishing möglich",
        "datenschutz@recklinghausen.de",
        "Landesbeauftragte für Datenschutz",
    ] {
        assert!(letter.contains(part), "letter lacks {part}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A second letter does not overwrite the first.
    let o = run(
        &db,
        &[
            "breach",
            "letter",
            &id.to_string(),
            "--out",
            out.path().to_str().unwrap(),
        ],
    );
    assert_ne!(o.status.code(), Some(0));

    assert_exit(
        &run(&db, &["breach", "notify", &id.to_string(), "--persons"]),
        0,
    );
    assert_exit(
        &run(
            &db,
            &["breach", "close", &id.to_string(), "--note", "erledigt"],
        ),
        0,
    );
    let o = run(
        &db,
        &["breach", "close", &id.to_string(), "--note", "nochmal"],
    );
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("closed"), "{}", stderr(&o));
    let o = run(
        &db,
        &["--format", "json", "breach", "show", &id.to_string()],
    );
    let shown = json(&o);
    assert_eq!(shown["authority_reference"], "LDI-2026-17");
    assert_eq!(shown["closing_note"], "erledigt");
    let o = run(&db, &["--format", "json", "breach", "list", "--open"]);
    assert_eq!(
        json(&o).as_array().unwrap().len(),
        1,
        "only the unlikely one"
    );

    // The audit trail has each step, with ids and counts but none of the DPO's free text.
    let o = run(&db, &["--format", "json", "audit", "list"]);
    let trail = stdout(&o);
    for action in ["breach.add", "breach.notified", "breach.close"] {
        assert!(trail.contains(action), "{action} missing");
    }
    assert!(
        !trail.contains("Fehlversand"),
        "free text in the audit trail"
    );
    assert_exit(&run(&db, &["audit", "verify"]), 0);
}

async fn the_count_of_persons_and_records_comes_from_the_store_for_the_window(db: TestDb) {
    let ctx = ready(&db).await;
    seeding::import_services(&ctx, R, &fixture("services.csv"))
        .await
        .unwrap();
    let tomorrow = (Utc::now() + Duration::days(1)).date_naive();
    common::open_slots(&ctx, R, tomorrow, "08:00-10:00", 5).await;
    let anna = Citizen {
        first: "Anna",
        last: "Berg",
        email: "anna.berg@example.net",
        phone: "0171 1111111",
    };
    let bernd = Citizen {
        first: "Bernd",
        last: "Cramer",
        email: "bernd.cramer@example.net",
        phone: "0171 2222222",
    };
    let now = Utc::now().trunc_subsecs(0);
    let slot = people::first_free_slot(&ctx, R, now).await;
    for (who, ago) in [(&anna, 10), (&anna, 9), (&bernd, 8)] {
        let at = now - Duration::hours(ago);
        people::book(
            &ctx,
            R,
            &who.form(slot),
            at,
            Some(people::booking_request(R, slot, at)),
        )
        .await;
    }
    let from = local(now - Duration::hours(12));
    let to = local(now);
    let o = run(
        &db,
        &[
            "--format", "json", "breach", "count", "--tenant", R, "--from", &from, "--to", &to,
        ],
    );
    assert_exit(&o, 0);
    let counted = json(&o);
    let of = |category: &str| {
        let row = counted
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["category"] == category)
            .unwrap()
            .clone();
        (
            row["persons"].as_i64().unwrap(),
            row["records"].as_i64().unwrap(),
        )
    };
    assert_eq!(of("bookings"), (2, 3));
    assert_eq!(of("consents"), (2, 3));
    // One IP made all three requests.
    assert_eq!(of("access_log"), (1, 3));

    // A window before everything counts nothing in the access log; bookings are counted as
    // stored by its end.
    let o = run(
        &db,
        &[
            "--format",
            "json",
            "breach",
            "count",
            "--tenant",
            R,
            "--from",
            &local(now - Duration::hours(30)),
            "--to",
            &local(now - Duration::hours(20)),
        ],
    );
    let counted = json(&o);
    for row in counted.as_array().unwrap() {
        assert_eq!(row["records"], 0, "{row}");
    }

    // --count fills the breach's numbers from the same helper.
    let o = run(
        &db,
        &[
            "--format",
            "json",
            "breach",
            "add",
            "--tenant",
            R,
            "--from",
            &from,
            "--to",
            &to,
            "--description",
            "Zugriff auf die Datenbank",
            "--category",
            "email",
            "--count",
            "--risk",
            "risk",
        ],
    );
    assert_exit(&o, 0);
    let id = json(&o)["breach"].as_i64().unwrap();
    let o = run(
        &db,
        &["--format", "json", "breach", "show", &id.to_string()],
    );
    assert_eq!(json(&o)["persons_approx"], 2);
    assert!(json(&o)["records_approx"].as_i64().unwrap() >= 9);
}

async fn bad_input_changes_nothing_and_names_the_value(db: TestDb) {
    ready(&db).await;
    for (args, needle) in [
        (
            vec![
                "breach",
                "add",
                "--tenant",
                "nirgendwo",
                "--description",
                "x",
                "--category",
                "email",
                "--risk",
                "risk",
            ],
            "nirgendwo",
        ),
        (
            vec![
                "breach",
                "add",
                "--tenant",
                R,
                "--description",
                "x",
                "--category",
                "emial",
                "--risk",
                "risk",
            ],
            "unknown category \"emial\"",
        ),
        (
            vec![
                "breach",
                "add",
                "--tenant",
                R,
                "--description",
                "x",
                "--category",
                "email",
                "--risk",
                "hoch",
            ],
            "use unlikely, risk or high",
        ),
        (
            vec![
                "breach",
                "add",
                "--tenant",
                R,
                "--description",
                "x",
                "--category",
                "email",
                "--risk",
                "risk",
                "--known-at",
                "gestern",
            ],
            "\"gestern\" is not a date or time",
        ),
        (
            vec![
                "breach",
                "add",
                "--tenant",
                R,
                "--description",
                "x",
                "--category",
                "email",
                "--risk",
                "risk",
                "--known-at",
                "2999-01-01 10:00",
            ],
            "lies in the future",
        ),
        (
            vec![
                "breach",
                "add",
                "--tenant",
                R,
                "--description",
                "x",
                "--category",
                "email",
                "--risk",
                "risk",
                "--count",
            ],
            "--count needs --from and --to",
        ),
        (
            vec![
                "breach",
                "add",
                "--tenant",
                R,
                "--description",
                "  ",
                "--category",
                "email",
                "--risk",
                "risk",
            ],
            "--description",
        ),
    ] {
        let o = run(&db, &args);
        assert_exit(&o, 2);
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    }
    assert_eq!(db.count("select count(*) from breaches").await, 0);
    let o = run(&db, &["breach", "show", "99"]);
    assert_exit(&o, 3);
    let o = run(&db, &["breach", "notify", "99", "--authority"]);
    assert_exit(&o, 3);
}

/// The annual report counts the year's requests (by kind, channel, outcome, with the days
/// they took and how many were late), breaches with their 72 hours, and the retention
/// volumes of the year's runs; other years and other tenants stay out.
async fn the_annual_report_counts_one_year_at_one_tenant(db: TestDb) {
    ready(&db).await;
    let open = |received: &str, kind: &str, tenant: &str, channel: &str| {
        let o = run(
            &db,
            &[
                "--format",
                "json",
                "requests",
                "open",
                "--kind",
                kind,
                "--email",
                "jahr@example.net",
                "--tenant",
                tenant,
                "--received",
                received,
                "--channel",
                channel,
            ],
        );
        assert_exit(&o, 0);
        json(&o)[0]["id"].as_i64().unwrap()
    };
    let a = open("2025-03-02", "access", R, "email");
    let letters = tempfile::tempdir().unwrap();
    let _b = open("2025-06-10", "erasure", R, "letter");
    let _other_year = open("2024-12-30", "access", R, "email");
    let _other_tenant = open("2025-04-01", "access", "westendorf", "email");
    assert_exit(
        &run(
            &db,
            &[
                "requests",
                "close",
                &a.to_string(),
                "--outcome",
                "no_data",
                // The no-data letter goes to a folder of the test's own, not into the
                // working directory.
                "--out",
                letters.path().to_str().unwrap(),
            ],
        ),
        0,
    );
    let o = run(
        &db,
        &[
            "breach",
            "add",
            "--tenant",
            R,
            "--known-at",
            "2025-05-01 08:00",
            "--description",
            "Fehlversand",
            "--category",
            "email",
            "--risk",
            "risk",
        ],
    );
    assert_exit(&o, 0);
    assert_exit(
        &run(
            &db,
            &[
                "breach",
                "notify",
                "1",
                "--authority",
                "--at",
                "2025-05-02 08:00",
            ],
        ),
        0,
    );

    let o = run(
        &db,
        &[
            "--format", "json", "report", "--year", "2025", "--tenant", R,
        ],
    );
    assert_exit(&o, 0);
    let r = json(&o);
    assert_eq!(r["requests"], 2, "{r}");
    let count = |list: &str, key: &str| {
        r[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"] == key)
            .map_or(0, |c| c["count"].as_i64().unwrap())
    };
    assert_eq!(count("requests_by_kind", "access"), 1);
    assert_eq!(count("requests_by_kind", "erasure"), 1);
    assert_eq!(count("requests_by_channel", "letter"), 1);
    assert_eq!(count("requests_by_outcome", "no_data"), 1);
    assert_eq!(count("requests_by_outcome", "open"), 1);
    let today = Utc::now()
        .with_timezone(&chrono_tz::Europe::Berlin)
        .date_naive();
    let days = (today - chrono::NaiveDate::from_ymd_opt(2025, 3, 2).unwrap()).num_days();
    assert_eq!(r["days_to_answer"]["closed"], 1);
    assert_eq!(r["days_to_answer"]["max"], days);
    assert_eq!(r["days_to_answer"]["median"], days as f64);
    // Both are late: one answered after its month, one still open past it.
    assert_eq!(r["days_to_answer"]["overdue"], 2);
    assert_eq!(r["days_to_answer"]["open"], 1);
    assert_eq!(r["breaches"]["total"], 1);
    assert_eq!(r["breaches"]["notified_in_time"], 1);

    // CSV: one figure per row; the printable page is written once.
    let o = run(
        &db,
        &["--format", "csv", "report", "--year", "2025", "--tenant", R],
    );
    assert!(
        stdout(&o).starts_with("section,key,value\n"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("requests_by_kind,erasure,1"),
        "{}",
        stdout(&o)
    );
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("bericht.html");
    let page_arg = page.to_str().unwrap();
    let o = run(&db, &["report", "--year", "2025", "--html", page_arg]);
    assert_exit(&o, 0);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("Tätigkeitsbericht Datenschutz 2025"),
        "{html}"
    );
    let o = run(&db, &["report", "--year", "2025", "--html", page_arg]);
    assert_exit(&o, 2);
    assert!(stdout(&o).is_empty(), "nothing printed before the refusal");

    // This year's retention run is in this year's report, with the run's own totals.
    let o = run(&db, &["--format", "json", "retention", "run"]);
    assert_exit(&o, 0);
    let year = today.format("%Y").to_string();
    let o = run(&db, &["--format", "json", "report", "--year", &year]);
    let r = json(&o);
    assert!(!r["retention"].as_array().unwrap().is_empty(), "{r}");
    let o = run(&db, &["report", "--year", "1999"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("--year"), "{}", stderr(&o));
}
