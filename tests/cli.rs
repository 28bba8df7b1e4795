//! The built binary, driven as a DPO or a cron job would: exit codes, stdout/stderr, formats.

mod common;

use common::cli::{assert_exit, datenwart, json, run, run_with, stderr, stdout};
use common::{Kind, TestDb, fixture, shipped_policies};
use std::path::Path;
use std::process::Output;

on_both_backends!(
    the_admin_story_from_migrate_to_audit_verify,
    a_command_before_migrate_says_to_run_migrate,
    a_bad_services_file_exits_2_names_the_line_and_writes_nothing,
    listings_come_as_json_and_csv,
    audit_verify_exits_1_and_names_the_entry_after_a_row_is_edited,
    commands_refuse_to_run_on_invalid_policies,
    hostile_text_reaches_neither_the_terminal_nor_a_spreadsheet_as_code,
);

async fn the_admin_story_from_migrate_to_audit_verify(db: TestDb) {
    let o = run(&db, &["migrate"]);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("applied migration 0001 booking store"),
        "{}",
        stdout(&o)
    );
    let o = run(&db, &["migrate"]);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("nothing applied"), "{}", stdout(&o));
    let o = run(&db, &["--format", "json", "migrate"]);
    assert_eq!(json(&o)["applied"], serde_json::json!([]));

    let o = run(&db, &["--format", "json", "tenants", "sync"]);
    assert_exit(&o, 0);
    assert_eq!(json(&o)["created"].as_array().unwrap().len(), 3);
    let o = run(&db, &["--format", "json", "tenants", "sync"]);
    assert_eq!(json(&o)["created"].as_array().unwrap().len(), 0);
    assert_eq!(json(&o)["unchanged"].as_array().unwrap().len(), 3);

    let services = fixture("services.csv");
    let services = services.to_str().unwrap();
    let o = run(
        &db,
        &[
            "--format",
            "json",
            "services",
            "import",
            "--tenant",
            "recklinghausen",
            services,
        ],
    );
    assert_exit(&o, 0);
    assert_eq!(json(&o)["created"], 4);
    let o = run(
        &db,
        &[
            "--format",
            "json",
            "services",
            "import",
            "--tenant",
            "recklinghausen",
            services,
        ],
    );
    assert_eq!(
        (json(&o)["created"].as_i64(), json(&o)["unchanged"].as_i64()),
        (Some(0), Some(4))
    );

    let generate = [
        "--format",
        "json",
        "slots",
        "generate",
        "--tenant",
        "recklinghausen",
        "--service",
        "PA",
        "--from",
        "2026-11-30",
        "--to",
        "2026-12-04",
        "--weekdays",
        "mon-fri",
        "--times",
        "08:00-12:00",
        "--every",
        "20m",
    ];
    let o = run(&db, &generate);
    assert_exit(&o, 0);
    assert_eq!(json(&o)["created"], 5 * 12);
    let o = run(&db, &generate);
    assert_eq!(
        (json(&o)["created"].as_i64(), json(&o)["existing"].as_i64()),
        (Some(0), Some(60))
    );

    let o = run(
        &db,
        &[
            "slots",
            "list",
            "--tenant",
            "recklinghausen",
            "--from",
            "2026-11-30",
            "--to",
            "2026-11-30",
        ],
    );
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("Mon 2026-11-30 08:00"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        stdout(&o).matches(":00 CET").count(),
        2 * 12,
        "{}",
        stdout(&o)
    );

    let o = run(&db, &["audit", "verify"]);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("audit trail intact: 6 entries verified"),
        "{}",
        stdout(&o)
    );
    let o = run(
        &db,
        &[
            "--format",
            "csv",
            "audit",
            "list",
            "--tenant",
            "recklinghausen",
        ],
    );
    let csv = stdout(&o);
    assert!(
        csv.starts_with("id,at,actor,action,tenant,subject_ref,details\n"),
        "{csv}"
    );
    assert!(
        csv.contains(",test:cli,slots.generate,recklinghausen,"),
        "{csv}"
    );
}

async fn a_command_before_migrate_says_to_run_migrate(db: TestDb) {
    let o = run(&db, &["tenants", "list"]);
    assert_exit(&o, 1);
    assert!(
        stderr(&o).contains("database schema is behind; run `datenwart migrate`"),
        "{}",
        stderr(&o)
    );
}

async fn a_bad_services_file_exits_2_names_the_line_and_writes_nothing(db: TestDb) {
    assert_exit(&run(&db, &["migrate"]), 0);
    assert_exit(&run(&db, &["tenants", "sync"]), 0);
    let bad = fixture("services_bad_row.csv");
    let o = run(
        &db,
        &[
            "services",
            "import",
            "--tenant",
            "westendorf",
            bad.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 2);
    assert!(
        stderr(&o)
            .contains("services_bad_row.csv:3: duration_minutes: \"zwanzig\" is not a duration"),
        "{}",
        stderr(&o)
    );
    assert_eq!(db.count("select count(*) from services").await, 0);
    assert_eq!(
        db.count("select count(*) from audit_log where action = 'services.import'")
            .await,
        0,
        "nor an audit entry of an import"
    );

    let o = run(
        &db,
        &[
            "services",
            "import",
            "--tenant",
            "nowhere",
            bad.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("known tenants: oer-erkenschwick, recklinghausen, westendorf"),
        "{}",
        stderr(&o)
    );
}

async fn listings_come_as_json_and_csv(db: TestDb) {
    assert_exit(&run(&db, &["migrate"]), 0);
    assert_exit(&run(&db, &["tenants", "sync"]), 0);
    let o = run(&db, &["--format", "json", "tenants", "list"]);
    let tenants = json(&o);
    assert_eq!(tenants[1]["slug"], "recklinghausen");
    assert_eq!(tenants[1]["name"], "Stadt Recklinghausen");
    let o = run(&db, &["--format", "csv", "tenants", "list"]);
    let csv = stdout(&o);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("slug,name,services,slots,bookings,updated_at")
    );
    assert_eq!(lines.count(), 3);
    // Logs never mix into data: stderr is empty on success.
    assert_eq!(stderr(&o), "");
}

async fn audit_verify_exits_1_and_names_the_entry_after_a_row_is_edited(db: TestDb) {
    assert_exit(&run(&db, &["migrate"]), 0);
    assert_exit(&run(&db, &["tenants", "sync"]), 0);
    assert_exit(&run(&db, &["audit", "verify"]), 0);
    db.execute_raw("update audit_log set actor = 'cli:mallory' where id = 2")
        .await;
    let o = run(&db, &["audit", "verify"]);
    assert_exit(&o, 1);
    assert!(
        stdout(&o).contains("audit trail BROKEN: audit entry 2:"),
        "{}",
        stdout(&o)
    );
    let o = run(&db, &["--format", "json", "audit", "verify"]);
    assert_exit(&o, 1);
    assert_eq!(json(&o)["ok"], false);
}

/// A copy of the shipped policies with one file replaced by `text`.
fn policies_with(file: &str, text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(shipped_policies()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(dir.path().join(file), text).unwrap();
    dir
}

fn shipped(file: &str) -> String {
    std::fs::read_to_string(shipped_policies().join(file)).unwrap()
}

async fn commands_refuse_to_run_on_invalid_policies(db: TestDb) {
    let bad = shipped("westendorf.toml").replacen("after = \"7d\"", "after = \"7x\"", 1);
    let dir = policies_with("westendorf.toml", &bad);
    let o = run_with(&db.url, dir.path(), &["migrate"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("westendorf.toml:"), "{}", stderr(&o));
    assert!(stderr(&o).contains("\"7x\""), "{}", stderr(&o));
    // Nothing ran: the database was not even migrated.
    assert_exit(&run(&db, &["tenants", "list"]), 1);
}

// ---- policy check: no database involved ----

fn policy_check(dir: &Path) -> Output {
    run_with("sqlite://unused.db", dir, &["policy", "check"])
}

#[test]
fn policy_check_passes_on_the_shipped_policies() {
    let o = policy_check(&shipped_policies());
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("3 policies valid"), "{}", stdout(&o));
}

/// The shipped policies hold values the offices must still confirm: warnings, exit 0; with
/// --strict exit 1. Recklinghausen without its `confirm` lists passes --strict; a broken copy
/// (legitimate interest at a public authority, a consent text that names no recipient) does not.
#[test]
fn policy_check_warns_and_strict_fails_on_what_a_review_would_flag() {
    let o = policy_check(&shipped_policies());
    assert_exit(&o, 0);
    assert!(
        stderr(&o).contains("warning: policies/") || stderr(&o).contains("westendorf.toml:"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("tenant.dpo: not yet confirmed by the office"),
        "{}",
        stderr(&o)
    );
    let strict = run_with(
        "sqlite://unused.db",
        &shipped_policies(),
        &["policy", "check", "--strict"],
    );
    assert_exit(&strict, 1);

    let only = |file: &str, text: &str| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(file), text).unwrap();
        dir
    };
    // Confirmed, and with the processors register the seeds do not give (Art. 28).
    let reviewed = chrono::Utc::now().date_naive().format("%Y-%m-%d");
    let confirmed: String = shipped("recklinghausen.toml")
        .lines()
        .filter(|l| !l.starts_with("confirm = "))
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .replace(
            "role = \"processor\"\n",
            &format!(
                "role = \"processor\"\ncontract_date = \"2024-05-02\"\nlast_review = \"{reviewed}\"\n"
            ),
        );
    let dir = only("recklinghausen.toml", &confirmed);
    let o = run_with(
        "sqlite://unused.db",
        dir.path(),
        &["policy", "check", "--strict"],
    );
    assert_exit(&o, 0);
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));

    let bad = confirmed
        .replacen(
            "legal_basis = \"public_task\"\nlegal_basis_ref = \"Art. 6 Abs. 1 lit. e DSGVO i. V. m. § 3 Abs. 1 DSG NRW\"",
            "legal_basis = \"legitimate_interest\"\nlegitimate_interests = \"Abwehr von Angriffen\"",
            1,
        )
        .replacen("Bentjen Software GmbH (Betrieb der Software)", "ihr Dienstleister", 1);
    assert_ne!(bad, confirmed);
    let dir = only("recklinghausen.toml", &bad);
    let o = run_with(
        "sqlite://unused.db",
        dir.path(),
        &["--format", "json", "policy", "check", "--strict"],
    );
    assert_exit(&o, 1);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["valid"], false);
    let fields: Vec<&str> = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "purpose[booking].consent.text",
            "purpose[access_log].legal_basis"
        ],
        "{report}"
    );
}

#[test]
fn policy_check_names_file_and_line_of_an_unknown_category() {
    let text = shipped("recklinghausen.toml");
    let bad = text.replacen(
        "categories = [\"name\", \"email\"",
        "categories = [\"nmae\", \"email\"",
        1,
    );
    assert_ne!(text, bad);
    let line = bad.lines().position(|l| l.contains("\"nmae\"")).unwrap() + 1;
    let dir = policies_with("recklinghausen.toml", &bad);
    let o = policy_check(dir.path());
    assert_exit(&o, 2);
    let expected =
        format!("recklinghausen.toml:{line}: purpose.categories: unknown category \"nmae\"");
    assert!(
        stderr(&o).contains(&expected),
        "expected {expected} in\n{}",
        stderr(&o)
    );
}

#[test]
fn policy_check_names_file_and_line_of_a_bad_duration() {
    let bad = shipped("oer-erkenschwick.toml").replacen("after = \"7d\"", "after = \"7 days\"", 1);
    let line = bad.lines().position(|l| l.contains("\"7 days\"")).unwrap() + 1;
    let dir = policies_with("oer-erkenschwick.toml", &bad);
    let o = policy_check(dir.path());
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains(&format!("oer-erkenschwick.toml:{line}: retention.after:")),
        "{}",
        stderr(&o)
    );
}

#[test]
fn policy_check_names_a_purpose_without_legal_basis() {
    let text = shipped("westendorf.toml");
    let start = text.find("legal_basis = \"public_task\"").unwrap();
    let bad = format!(
        "{}{}",
        &text[..start],
        &text[start..].replacen("legal_basis = \"public_task\"\n", "", 1)
    );
    let dir = policies_with("westendorf.toml", &bad);
    let o = policy_check(dir.path());
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("westendorf.toml:"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("purpose without a legal basis"),
        "{}",
        stderr(&o)
    );

    let o = run_with(
        "sqlite://unused.db",
        dir.path(),
        &["--format", "json", "policy", "check"],
    );
    assert_exit(&o, 2);
    let report = json(&o);
    assert_eq!(report["valid"], false);
    assert_eq!(report["problems"][0]["field"], "purpose.legal_basis");
}

#[test]
fn policy_show_prints_the_record_of_processing() {
    let o = run_with(
        "sqlite://unused.db",
        &shipped_policies(),
        &["policy", "show", "recklinghausen"],
    );
    assert_exit(&o, 0);
    let text = stdout(&o);
    for expected in [
        "Verzeichnis von Verarbeitungstätigkeiten",
        "Stadt Recklinghausen",
        "datenschutz@recklinghausen.de",
        "Bentjen Software GmbH",
        "Einwilligung (Art. 6 Abs. 1 lit. a DSGVO",
        "48 Stunden nach dem Ende des Termins anonymisiert",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    let o = run_with(
        "sqlite://unused.db",
        &shipped_policies(),
        &["policy", "show", "atlantis"],
    );
    assert_exit(&o, 2);
}

/// Art. 30(1)(a)–(g) and the processors register for each shipped tenant, in every format.
#[test]
fn policy_record_has_each_item_of_art_30_and_the_processors_register_per_tenant() {
    let dir = tempfile::tempdir().unwrap();
    for tenant in ["recklinghausen", "oer-erkenschwick", "westendorf"] {
        let page = dir.path().join(format!("{tenant}.html"));
        let page_arg = page.to_str().unwrap();
        let o = run_with(
            "sqlite://unused.db",
            &shipped_policies(),
            &["policy", "record", "--tenant", tenant, "--html", page_arg],
        );
        assert_exit(&o, 0);
        let text = stdout(&o);
        let html = std::fs::read_to_string(&page).unwrap();
        for (item, in_text, in_html) in [
            ("a", "Datenschutzbeauftragte/r:", "a) Verantwortlicher"),
            ("b", "Rechtsgrundlage:", "b) Zweck und Rechtsgrundlage"),
            (
                "b: requests",
                "[requests] Register der Anträge",
                "Register der Anträge",
            ),
            (
                "b: mailbox",
                "[mailbox] Eingang von E-Mails",
                "Eingang von E-Mails",
            ),
            ("b: audit", "[audit] Prüfprotokoll", "Prüfprotokoll"),
            (
                "c",
                "Besucherinnen und Besucher der Webseite",
                "Absender von E-Mails an das Postfach",
            ),
            ("c: German categories", "E-Mail-Adresse", "E-Mail-Adresse"),
            ("d", "Empfänger:", "d) Empfänger"),
            (
                "e",
                "Drittländer (lit. e)",
                "e) Übermittlung in Drittländer",
            ),
            ("f", "Löschfrist: Buchungen werden", "f) Löschfristen"),
            ("g", "(lit. g, Art. 32 DSGVO)", "secure_delete"),
            (
                "Art. 28",
                "Verzeichnis der Auftragsverarbeiter",
                "Verzeichnis der Auftragsverarbeiter",
            ),
            (
                "Art. 28 fields",
                "Letzte Überprüfung: nicht erfasst",
                "Mittwald",
            ),
        ] {
            assert!(
                text.contains(in_text),
                "{tenant} {item}: {in_text:?} missing in\n{text}"
            );
            assert!(
                html.contains(in_html),
                "{tenant} {item}: {in_html:?} missing in the page"
            );
        }
        assert!(html.contains("@page { size: A4"), "{tenant}");
        assert!(
            !text.contains("[booking]") || text.contains("Betroffene: Buchende"),
            "{text}"
        );
        // An existing file is never overwritten.
        let again = run_with(
            "sqlite://unused.db",
            &shipped_policies(),
            &["policy", "record", "--tenant", tenant, "--html", page_arg],
        );
        assert_exit(&again, 2);
        assert!(stdout(&again).is_empty());

        let o = run_with(
            "sqlite://unused.db",
            &shipped_policies(),
            &["--format", "json", "policy", "record", "--tenant", tenant],
        );
        assert_exit(&o, 0);
        let record = json(&o);
        for key in [
            "controller",
            "activities",
            "data_subjects",
            "third_countries",
            "measures",
            "processors",
        ] {
            assert!(
                !record[key].is_null(),
                "{tenant}: {key} missing in {record}"
            );
        }
        assert!(!record["processors"].as_array().unwrap().is_empty());
    }

    // The CSV: recipients of that purpose only, and its periods.
    let o = run_with(
        "sqlite://unused.db",
        &shipped_policies(),
        &[
            "--format",
            "csv",
            "policy",
            "record",
            "--tenant",
            "oer-erkenschwick",
        ],
    );
    assert_exit(&o, 0);
    let mut reader = csv::Reader::from_reader(o.stdout.as_slice());
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let row = |id: &str| {
        rows.iter()
            .find(|r| &r[column("activity")] == id)
            .unwrap_or_else(|| panic!("no row {id}"))
    };
    assert!(row("sms_reminder")[column("recipients")].contains("LOX24"));
    assert!(!row("booking")[column("recipients")].contains("LOX24"));
    assert!(row("booking")[column("periods")].contains("Buchungen werden"));
    assert!(row("access_log")[column("periods")].contains("Zugriffsprotokoll"));
    assert!(row("requests")[column("periods")].contains("Anträge"));
    assert!(!row("requests")[column("third_countries")].is_empty());

    let o = run_with(
        "sqlite://unused.db",
        &shipped_policies(),
        &["policy", "record", "--tenant", "atlantis"],
    );
    assert_exit(&o, 2);
}

#[test]
fn an_unsupported_database_url_is_a_usage_error() {
    let o = run_with(
        "mysql://localhost/x",
        &shipped_policies(),
        &["tenants", "list"],
    );
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("unsupported database URL"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_default_database_is_a_sqlite_file_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let o = datenwart(&shipped_policies())
        .current_dir(dir.path())
        .arg("migrate")
        .output()
        .unwrap();
    assert_exit(&o, 0);
    assert!(dir.path().join("datenwart.db").exists());
}

async fn hostile_text_reaches_neither_the_terminal_nor_a_spreadsheet_as_code(db: TestDb) {
    assert_exit(&run(&db, &["migrate"]), 0);
    assert_exit(&run(&db, &["tenants", "sync"]), 0);
    let reason = "\x1b[2J\x1b]0;pwned\x07=HYPERLINK(\"http://evil.example\")";
    let args = [
        "hold",
        "add",
        "--tenant",
        "recklinghausen",
        "--email",
        "x@example.org",
        "--reason",
        reason,
    ];
    assert_exit(&run(&db, &args), 0);
    let table = stdout(&run(&db, &["hold", "list"]));
    assert!(table.contains("\\u{1b}[2J"), "{table}");
    assert!(
        !table.contains('\x1b') && !table.contains('\x07'),
        "{table:?}"
    );
    let csv = stdout(&run(&db, &["--format", "csv", "hold", "list"]));
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let column = rows
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "reason")
        .unwrap();
    let cell = rows.records().next().unwrap().unwrap()[column].to_owned();
    assert_eq!(cell, reason, "a cell starting with an escape is no formula");
    let json = json(&run(&db, &["--format", "json", "hold", "list"]));
    assert_eq!(json[0]["reason"], reason, "JSON keeps the exact value");
    // A reason that starts like a formula is neutralized in CSV.
    let args = [
        "hold",
        "add",
        "--tenant",
        "recklinghausen",
        "--email",
        "y@example.org",
        "--reason",
        "=1+1",
    ];
    assert_exit(&run(&db, &args), 0);
    let csv = stdout(&run(&db, &["--format", "csv", "hold", "list"]));
    assert!(csv.lines().any(|l| l.contains(",'=1+1")), "{csv}");
}

/// PostgreSQL's count of the sessions ever started on the connection's database, once the
/// number has stayed the same for half a second (a session is counted when it ends).
async fn settled_sessions(conn: &mut sqlx::PgConnection) -> i64 {
    let read = async |conn: &mut sqlx::PgConnection| -> i64 {
        sqlx::query_scalar(
            "select sessions from pg_stat_database where datname = current_database()",
        )
        .fetch_one(conn)
        .await
        .unwrap()
    };
    let mut last = read(conn).await;
    for _ in 0..20 {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let now = read(conn).await;
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("PostgreSQL's session count did not settle within 10 seconds");
}

/// A command does one thing after another on one session: a second one would cost a
/// backend start and a first parse of every statement again (the driver hands a connection
/// back after a ping in a task of its own, and the next statement did not wait for it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_on_postgresql_works_on_one_session() {
    use sqlx::Connection;
    let Some(db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    assert_exit(&run(&db, &["migrate"]), 0);
    assert_exit(&run(&db, &["tenants", "sync"]), 0);
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("auskunft");
    let export = [
        "export",
        "--email",
        "niemand@example.org",
        "--tenant",
        "recklinghausen",
        "--identity-checked-by",
        "in_person",
        "--out",
        out.to_str().unwrap(),
    ];
    for args in [&["hold", "list"][..], &export[..]] {
        let before = settled_sessions(&mut conn).await;
        assert_exit(&run(&db, args), 0);
        let after = settled_sessions(&mut conn).await;
        assert_eq!(after - before, 1, "sessions of `datenwart {}`", args[0]);
    }
    conn.close().await.unwrap();
}
