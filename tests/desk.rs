//! The CLI at the DPO's desk (issue 15 §3), driven as the binary on SQLite and PostgreSQL:
//! finding a person by a name typed without accents, the handle every person command
//! takes, dates in the forms a German office writes them, output that scripts and
//! terminals can trust, consistent options, completions and manual pages.

mod common;

use chrono::{Duration, Utc};
use common::cli::{assert_exit, command, datenwart, json, run, run_with, stderr, stdout};
use common::people::{self, Citizen, subject_ref};
use common::{TestDb, fixture, ready, shipped_policies};
use datenwart::ops::Context;
use datenwart::ops::seeding;
use std::io::Read;
use std::process::Stdio;

on_both_backends!(
    a_name_typed_without_accents_finds_the_person_shown_masked_with_a_handle,
    every_person_command_takes_the_handle_and_refuses_an_unknown_or_ambiguous_one,
    dates_are_taken_in_german_and_iso_forms_and_a_bad_one_is_named_with_the_formats,
    json_says_null_details_is_an_object_csv_has_a_header_and_tables_show_local_time_and_handles,
    slots_list_refuses_an_unknown_service_and_a_range_that_ends_before_it_starts,
    a_listing_piped_into_a_reader_that_goes_away_ends_quietly,
    control_characters_in_a_typed_value_reach_neither_the_table_nor_an_error,
);

const CLARA: Citizen = Citizen {
    first: "Clara",
    last: "Wójcik",
    email: "clara.wojcik@example.org",
    phone: "0171 5550101",
};

const JUERGEN: Citizen = Citizen {
    first: "Jürgen",
    last: "Strauß",
    email: "j.strauss@example.net",
    phone: "0171 5550102",
};

/// Someone whose name only starts like Clara's: must not be found for her.
const OTHER: Citizen = Citizen {
    first: "Clara",
    last: "Wojcikowska",
    email: "cw@example.com",
    phone: "0171 5550103",
};

/// Services and slots tomorrow at two tenants; Clara booked at both, Jürgen and the other
/// Clara at Recklinghausen.
async fn setup(db: &TestDb) -> Context {
    let ctx = ready(db).await;
    let day = (Utc::now() + Duration::days(1)).date_naive();
    for tenant in ["recklinghausen", "westendorf"] {
        seeding::import_services(&ctx, tenant, &fixture("services.csv"))
            .await
            .unwrap();
        common::open_slots(&ctx, tenant, day, "08:00-12:00", 2).await;
    }
    for (tenant, who) in [
        ("recklinghausen", CLARA),
        ("westendorf", CLARA),
        ("recklinghausen", JUERGEN),
        ("recklinghausen", OTHER),
    ] {
        let slot = people::first_free_slot(&ctx, tenant, Utc::now()).await;
        people::book(&ctx, tenant, &who.form(slot), Utc::now(), None).await;
    }
    ctx
}

fn is_hex64(s: &str) -> bool {
    s.len() >= 64
        && s.as_bytes()
            .windows(64)
            .any(|w| w.iter().all(u8::is_ascii_hexdigit))
}

async fn a_name_typed_without_accents_finds_the_person_shown_masked_with_a_handle(db: TestDb) {
    let ctx = setup(&db).await;
    let clara = subject_ref(&ctx, CLARA.email).await;
    for typed in ["Clara Wojcik", "clara wójcik", "CLARA  WOJCIK", "Wojcik"] {
        let o = run(&db, &["subject", "find", "--name", typed]);
        assert_exit(&o, 0);
        let out = stdout(&o);
        assert!(out.contains("C. W***k"), "{typed}: {out}");
        assert!(out.contains("c***@example.org"), "{typed}: {out}");
        assert!(out.contains(clara.handle()), "{typed}: {out}");
        assert!(
            out.contains("recklinghausen") && out.contains("westendorf"),
            "{out}"
        );
        // Nobody's name or address, and no 64-character reference, in the table.
        for personal in ["Wójcik", "Clara", "clara.wojcik", "Strau", "Wojcikowska"] {
            assert!(!out.contains(personal), "{typed}: {personal} in {out}");
        }
        assert!(!is_hex64(&out), "{out}");
    }
    // The last name alone finds the other Clara only by her own name.
    let o = run(
        &db,
        &[
            "--format",
            "json",
            "subject",
            "find",
            "--name",
            "wojcikowska",
        ],
    );
    let found = json(&o);
    assert!(
        found
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["subject_ref"] != clara.as_str())
    );
    // ß, ü and their spellings.
    for typed in [
        "Jurgen Strauss",
        "Juergen Strauss",
        "JÜRGEN STRAUß",
        "strauss",
    ] {
        let o = run(
            &db,
            &["--format", "json", "subject", "find", "--name", typed],
        );
        assert_exit(&o, 0);
        let rows = json(&o);
        let row = &rows[0];
        assert_eq!(row["name"], "J. S***ß", "{typed}");
        assert_eq!(row["email"], "j***@example.net");
        let full = row["subject_ref"].as_str().unwrap();
        assert_eq!(full.len(), 64);
        assert_eq!(row["handle"].as_str().unwrap(), &full[..12]);
    }
    // The handle finds the person again; a name nobody has is "not found".
    let o = run(&db, &["subject", "find", "--subject", clara.handle()]);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("C. W***k"), "{}", stdout(&o));
    let o = run(&db, &["subject", "find", "--name", "Niemand"]);
    assert_exit(&o, 3);
}

async fn every_person_command_takes_the_handle_and_refuses_an_unknown_or_ambiguous_one(db: TestDb) {
    let ctx = setup(&db).await;
    let clara = subject_ref(&ctx, CLARA.email).await;
    let handle = clara.handle();
    let out = tempfile::tempdir().unwrap();
    let folder = out.path().join("auskunft");
    let o = run(
        &db,
        &[
            "export",
            "--subject",
            handle,
            "--tenant",
            "recklinghausen",
            "--identity-checked-by",
            "in_person",
            "--out",
            folder.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 0);
    let data = std::fs::read_to_string(folder.join("daten.json")).unwrap();
    assert!(data.contains("Wójcik"), "the export is Clara's");
    // The phone and the handle lead to the same person as the e-mail.
    for who in [
        ["--subject", handle],
        ["--phone", CLARA.phone],
        ["--email", CLARA.email],
    ] {
        let mut args = vec![
            "--format",
            "json",
            "erase",
            "--tenant",
            "westendorf",
            "--dry-run",
        ];
        args.extend(who);
        let o = run(&db, &args);
        assert_exit(&o, 0);
        assert_eq!(json(&o)[0]["subject_ref"], clara.as_str(), "{who:?}");
    }
    let o = run(
        &db,
        &[
            "--format",
            "json",
            "requests",
            "open",
            "--kind",
            "objection",
            "--subject",
            handle,
            "--tenant",
            "westendorf",
        ],
    );
    assert_exit(&o, 0);
    assert_eq!(json(&o)[0]["subject_ref"], clara.as_str());
    let o = run(
        &db,
        &[
            "restrict",
            "--subject",
            handle,
            "--tenant",
            "westendorf",
            "--reason",
            "Art. 18(1)(a): accuracy contested",
            "--identity-checked-by",
            "letter",
        ],
    );
    assert_exit(&o, 0);
    let o = run(
        &db,
        &[
            "hold",
            "add",
            "--tenant",
            "recklinghausen",
            "--subject",
            handle,
            "--reason",
            "Az. 1 K 23/26",
        ],
    );
    assert_exit(&o, 0);

    // Unknown: exit 3, nothing registered. Not a handle at all: exit 2.
    let requests_before = db.count("select count(*) from requests").await;
    let o = run(
        &db,
        &[
            "erase",
            "--subject",
            "00000000",
            "--tenant",
            "recklinghausen",
            "--yes",
            "--identity-checked-by",
            "letter",
        ],
    );
    assert_exit(&o, 3);
    assert!(
        stderr(&o).contains("--subject \"00000000\": no person"),
        "{}",
        stderr(&o)
    );
    for bad in ["xyz", "abc123", "00000000g"] {
        let o = run(
            &db,
            &["export", "--subject", bad, "--tenant", "recklinghausen"],
        );
        assert_exit(&o, 2);
        assert!(
            stderr(&o).contains("not a subject handle"),
            "{}",
            stderr(&o)
        );
    }
    // Two persons whose references start alike: the short handle is refused and the
    // longer ones are offered.
    for tail in ["a", "b"] {
        db.execute_raw(&format!(
            "insert into holds (tenant_id, subject_ref, reason, created_at)
             select id, 'abcdef01' || '{}', 'test', '2026-11-30T10:00:00Z'
             from tenants where slug = 'recklinghausen'",
            tail.repeat(56)
        ))
        .await;
    }
    let o = run(
        &db,
        &[
            "requests",
            "open",
            "--kind",
            "access",
            "--subject",
            "ABCDEF01",
            "--tenant",
            "recklinghausen",
        ],
    );
    assert_exit(&o, 2);
    let e = stderr(&o);
    assert!(
        e.contains("fits 2 persons") && e.contains("abcdef01aaaa") && e.contains("abcdef01bbbb"),
        "{e}"
    );
    assert_eq!(
        db.count("select count(*) from requests").await,
        requests_before
    );
    // With enough characters it is one person again.
    let o = run(
        &db,
        &[
            "requests",
            "open",
            "--kind",
            "access",
            "--subject",
            "abcdef01aaaa",
            "--tenant",
            "recklinghausen",
        ],
    );
    assert_exit(&o, 0);
    // No person named at all.
    let o = run(&db, &["erase", "--tenant", "recklinghausen", "--dry-run"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("--subject HANDLE"), "{}", stderr(&o));
}

async fn dates_are_taken_in_german_and_iso_forms_and_a_bad_one_is_named_with_the_formats(
    db: TestDb,
) {
    let ctx = setup(&db).await;
    drop(ctx);
    for since in [
        "01.11.2026",
        "2026-11-01",
        "2026-11-01 14:30",
        "01.11.2026 14:30",
        "2026-11-01T13:30:00Z",
    ] {
        let o = run(&db, &["audit", "list", "--since", since, "--limit", "1"]);
        assert_exit(&o, 0);
    }
    // A day is the tenant's local midnight: 1 Dec 2026 00:00 in Berlin is 23:00 UTC before.
    let o = run(
        &db,
        &[
            "--format",
            "json",
            "retention",
            "plan",
            "--now",
            "01.12.2026",
        ],
    );
    assert_exit(&o, 0);
    assert_eq!(json(&o)["clock"], "2026-11-30T23:00:00Z", "{}", stdout(&o));
    let day = (Utc::now() + Duration::days(1)).date_naive();
    let german = day.format("%d.%m.%Y").to_string();
    let o = run(
        &db,
        &[
            "--format",
            "json",
            "slots",
            "list",
            "--tenant",
            "recklinghausen",
            "--from",
            &german,
            "--to",
            &german,
        ],
    );
    assert_exit(&o, 0);
    assert!(!json(&o).as_array().unwrap().is_empty());
    let o = run(
        &db,
        &[
            "--format",
            "json",
            "requests",
            "open",
            "--kind",
            "access",
            "--email",
            CLARA.email,
            "--tenant",
            "recklinghausen",
            "--received",
            "02.11.2026 09:15",
        ],
    );
    assert_exit(&o, 0);
    assert_eq!(json(&o)[0]["received_at"], "2026-11-02T08:15:00Z");

    for (args, option) in [
        (vec!["audit", "list", "--since", "2026-13-01"], "--since"),
        (vec!["retention", "plan", "--now", "1.12."], "--now"),
        (
            vec![
                "slots",
                "list",
                "--tenant",
                "recklinghausen",
                "--from",
                "12/01/2026",
            ],
            "--from",
        ),
        (
            vec![
                "hold",
                "add",
                "--tenant",
                "recklinghausen",
                "--email",
                CLARA.email,
                "--reason",
                "x",
                "--until",
                "morgen",
            ],
            "--until",
        ),
    ] {
        let o = run(&db, &args);
        assert_exit(&o, 2);
        let e = stderr(&o);
        let value = args[args.iter().position(|a| *a == option).unwrap() + 1];
        assert!(
            e.contains(option) && e.contains(&format!("\"{value}\"")),
            "{e}"
        );
        assert!(e.contains("01.12.2026"), "{e}");
    }
}

async fn json_says_null_details_is_an_object_csv_has_a_header_and_tables_show_local_time_and_handles(
    db: TestDb,
) {
    assert_exit(&run(&db, &["migrate"]), 0);
    // Empty listings: CSV still has its header.
    let o = run(&db, &["--format", "csv", "requests", "list"]);
    assert_exit(&o, 0);
    let header = stdout(&o);
    assert!(
        header.starts_with("id,tenant,kind,channel,identity,received_at"),
        "{header}"
    );
    assert_eq!(header.lines().count(), 1, "{header}");
    let o = run(&db, &["--format", "csv", "breach", "list"]);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).starts_with("id,tenant,known_at"),
        "{}",
        stdout(&o)
    );

    let ctx = setup(&db).await;
    let clara = subject_ref(&ctx, CLARA.email).await;
    let o = run(
        &db,
        &[
            "requests",
            "open",
            "--kind",
            "access",
            "--email",
            CLARA.email,
            "--tenant",
            "recklinghausen",
        ],
    );
    assert_exit(&o, 0);
    let o = run(&db, &["--format", "json", "requests", "list"]);
    let r = &json(&o)[0];
    assert!(
        r["closed_at"].is_null() && r["outcome"].is_null() && r["extended_due_on"].is_null(),
        "{r}"
    );
    assert_eq!(r["subject_ref"], clara.as_str());
    let o = run(&db, &["--format", "json", "audit", "list"]);
    let entries = json(&o);
    let entries = entries.as_array().unwrap();
    assert!(
        entries.iter().all(|e| e["details"].is_object()),
        "{entries:?}"
    );
    assert!(
        entries.iter().any(|e| e["tenant"].is_null()),
        "migrate has no tenant"
    );
    assert!(entries.iter().all(|e| e["tenant"] != ""));

    // Tables: Berlin time with the zone, handles instead of references.
    for args in [vec!["audit", "list"], vec!["requests", "list"]] {
        let o = run(&db, &args);
        assert_exit(&o, 0);
        let t = stdout(&o);
        assert!(t.contains(" CET") || t.contains(" CEST"), "{t}");
        assert!(!t.contains(clara.as_str()), "{t}");
        assert!(t.contains(clara.handle()), "{t}");
    }
}

async fn slots_list_refuses_an_unknown_service_and_a_range_that_ends_before_it_starts(db: TestDb) {
    setup(&db).await;
    let o = run(
        &db,
        &[
            "slots",
            "list",
            "--tenant",
            "recklinghausen",
            "--service",
            "XY",
        ],
    );
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("--service \"XY\": no such service"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("PA"),
        "names the known codes: {}",
        stderr(&o)
    );
    let o = run(
        &db,
        &[
            "slots",
            "list",
            "--tenant",
            "recklinghausen",
            "--from",
            "02.12.2026",
            "--to",
            "01.12.2026",
        ],
    );
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("is after --to"), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    let o = run(
        &db,
        &[
            "slots",
            "list",
            "--tenant",
            "recklinghausen",
            "--service",
            "PA",
        ],
    );
    assert_exit(&o, 0);
}

async fn a_listing_piped_into_a_reader_that_goes_away_ends_quietly(db: TestDb) {
    setup(&db).await;
    // More than a pipe holds (64 KiB), so that the writer meets the closed pipe.
    let from = (Utc::now() + Duration::days(3)).date_naive().to_string();
    let to = (Utc::now() + Duration::days(60)).date_naive().to_string();
    let o = run(
        &db,
        &[
            "slots",
            "generate",
            "--tenant",
            "recklinghausen",
            "--service",
            "PA",
            "--from",
            &from,
            "--to",
            &to,
            "--weekdays",
            "mon-sun",
            "--times",
            "06:00-20:00",
            "--include-holidays",
        ],
    );
    assert_exit(&o, 0);
    let full = run(
        &db,
        &[
            "--format",
            "json",
            "slots",
            "list",
            "--tenant",
            "recklinghausen",
            "--limit",
            "100000",
        ],
    );
    assert!(
        full.stdout.len() > 256 * 1024,
        "{} bytes",
        full.stdout.len()
    );
    for args in [
        vec![
            "--format",
            "json",
            "slots",
            "list",
            "--tenant",
            "recklinghausen",
            "--limit",
            "100000",
        ],
        vec![
            "slots",
            "list",
            "--tenant",
            "recklinghausen",
            "--limit",
            "100000",
        ],
        vec!["completions", "bash"],
    ] {
        let mut child = command(&db.url, &shipped_policies(), &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 16];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut first)
            .unwrap();
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let e = stderr(&o);
        assert!(!e.to_lowercase().contains("broken pipe"), "{args:?}: {e}");
        assert!(!e.contains("panicked"), "{args:?}: {e}");
    }
}

async fn control_characters_in_a_typed_value_reach_neither_the_table_nor_an_error(db: TestDb) {
    setup(&db).await;
    let hostile = "\x1b]0;pwned\x07\x1b[2J";
    let mut echoed = 0;
    for args in [
        vec![
            "subject".to_owned(),
            "find".into(),
            "--email".into(),
            format!("{hostile}@example.org"),
        ],
        vec![
            "subject".into(),
            "find".into(),
            "--name".into(),
            hostile.into(),
        ],
        vec![
            "audit".into(),
            "list".into(),
            "--since".into(),
            hostile.into(),
        ],
        vec![
            "export".into(),
            "--subject".into(),
            hostile.into(),
            "--tenant".into(),
            "x".into(),
        ],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&db, &args);
        assert_ne!(o.status.code(), Some(0), "{args:?}");
        for stream in [&o.stdout, &o.stderr] {
            assert!(
                !stream.contains(&0x1b) && !stream.contains(&0x07),
                "{args:?}: {}",
                String::from_utf8_lossy(stream)
            );
        }
        if stderr(&o).contains("pwned") {
            echoed += 1;
            assert!(
                stderr(&o).contains("\\u{1b}"),
                "shown escaped: {}",
                stderr(&o)
            );
        }
    }
    // The e-mail's refusal quotes the value, escaped; clap's plain rendering of its own
    // errors (--since, --subject) drops an escape sequence from the value altogether.
    assert!(echoed >= 1, "{echoed}");
}

#[test]
fn policy_show_takes_the_tenant_as_an_option_and_still_as_a_word() {
    let policies = shipped_policies();
    let by_option = common::cli::output({
        let mut c = datenwart(&policies);
        c.args(["policy", "show", "--tenant", "westendorf"]);
        c
    });
    assert_exit(&by_option, 0);
    let by_word = common::cli::output({
        let mut c = datenwart(&policies);
        c.args(["policy", "show", "westendorf"]);
        c
    });
    assert_exit(&by_word, 0);
    assert_eq!(by_option.stdout, by_word.stdout);
    let neither = common::cli::output({
        let mut c = datenwart(&policies);
        c.args(["policy", "show"]);
        c
    });
    assert_exit(&neither, 2);
    assert!(
        stderr(&neither).contains("--tenant"),
        "{}",
        stderr(&neither)
    );
}

#[test]
fn completions_and_manual_pages_are_generated_from_the_commands() {
    let policies = shipped_policies();
    for (shell, marker) in [
        ("bash", "_datenwart()"),
        ("zsh", "#compdef datenwart"),
        ("fish", "complete -c datenwart"),
    ] {
        let o = common::cli::output({
            let mut c = datenwart(&policies);
            c.args(["completions", shell]);
            c
        });
        assert_exit(&o, 0);
        let script = stdout(&o);
        assert!(script.contains(marker), "{shell}");
        assert!(
            script.contains("--subject") && script.contains("completions"),
            "{shell}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    let o = common::cli::output({
        let mut c = datenwart(&policies);
        c.args(["man", "--out", out.to_str().unwrap()]);
        c
    });
    assert_exit(&o, 0);
    let page = std::fs::read_to_string(out.join("datenwart-subject-find.1")).unwrap();
    assert!(page.contains(".TH") && page.contains("masked"), "{page}");
    assert!(out.join("datenwart.1").exists());
    assert!(out.join("datenwart-hold-add.1").exists());
    // Not over a file.
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let o = common::cli::output({
        let mut c = datenwart(&policies);
        c.args(["man", "--out", file.to_str().unwrap()]);
        c
    });
    assert_exit(&o, 2);
}

#[test]
fn a_missing_postgresql_socket_is_named_at_once() {
    let started = std::time::Instant::now();
    let o = run_with(
        "postgres://postgres@localhost/datenwart?host=/nonexistent-datenwart-test",
        &shipped_policies(),
        &["audit", "list"],
    );
    assert_exit(&o, 1);
    let e = stderr(&o);
    assert!(
        e.contains("/nonexistent-datenwart-test/.s.PGSQL.5432: No such file or directory"),
        "{e}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn an_unreachable_postgresql_says_connection_refused_at_once() {
    let started = std::time::Instant::now();
    // Port 1 on the loopback: nothing listens there.
    let o = run_with(
        "postgres://postgres@127.0.0.1:1/datenwart?sslmode=disable",
        &shipped_policies(),
        &["audit", "list"],
    );
    assert_exit(&o, 1);
    let e = stderr(&o);
    assert!(e.to_lowercase().contains("connection refused"), "{e}");
    assert!(!e.contains("pool timed out"), "{e}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
