//! The rights of issue 12 §5 that the DPO decides and answers in writing, on both backends:
//! objection (Art. 21) by mail and by command, decided with `requests close`; withdrawals
//! that reach the office by letter, phone or in person (Art. 7(3)); the notice before a
//! restriction is lifted (Art. 18(3)); and the letters of Art. 12 (extension, refusal,
//! manifestly unfounded or excessive, no data), each rendered and checked for its legal parts.

mod common;

use chrono::{Duration, Utc};
use common::cli::{assert_exit, json, run, stderr, stdout};
use common::people::{self, Citizen};
use common::{TestDb, fixture, ready};
use datenwart::domain::booking::BookingForm;
use datenwart::ops::{Context, seeding};
use std::path::{Path, PathBuf};

on_both_backends!(
    an_objection_by_mail_is_registered_answered_and_when_granted_stops_e_and_f_processing,
    an_objection_by_letter_is_rejected_with_a_refusal_letter_naming_authority_and_court,
    the_letters_of_article_12_name_reasons_dates_authority_and_remedy,
    an_extension_after_the_first_month_and_a_refusal_without_reasons_change_nothing,
    lifting_a_restriction_writes_the_notice_of_article_18_3_first,
    a_withdrawal_by_letter_or_phone_has_the_effects_and_reply_of_a_withdrawal_mail,
    an_objection_decided_twice_at_once_is_decided_once,
);

const ANNA: Citizen = Citizen {
    first: "Anna",
    last: "Schmidt",
    email: "anna.schmidt@example.com",
    phone: "0171 2223334",
};

/// Slots yesterday and in five days at Recklinghausen and Westendorf.
async fn setup(db: &TestDb) -> Context {
    let ctx = ready(db).await;
    let today = Utc::now().date_naive();
    for t in ["recklinghausen", "westendorf"] {
        seeding::import_services(&ctx, t, &fixture("services.csv"))
            .await
            .unwrap();
        for day in [today - Duration::days(1), today + Duration::days(5)] {
            common::open_slots(&ctx, t, day, "08:00-12:00", 3).await;
        }
    }
    ctx
}

/// A past and a future booking of `who` at `tenant`, each with its access-log row; at
/// Westendorf with SMS reminders.
async fn book(ctx: &Context, tenant: &str, who: Citizen) {
    let form = |slot| BookingForm {
        sms_reminder: tenant == "westendorf",
        ..who.form(slot)
    };
    people::book_past_and_future(ctx, tenant, form, Duration::days(3), true).await;
}

/// A reply in the outbox: its headers as written and its text decoded.
fn reply_of(path: &Path) -> String {
    let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let head = String::from_utf8_lossy(&raw);
    let head = head
        .split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .split("\n\n")
        .next()
        .unwrap_or("");
    format!("{head}\n\n{}", datenwart::mail::parse(&raw).unwrap().text)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The one letter in `folder` (the letter a command wrote: its HTML and the same letter
/// as PDF beside it), checked to be readable by the owner only.
fn only_letter(folder: &Path) -> (PathBuf, String) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    let path = files[0].clone();
    assert_eq!(path.extension().unwrap(), "html");
    assert_eq!(files[1], path.with_extension("pdf"));
    use std::os::unix::fs::PermissionsExt;
    for file in &files {
        let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
    let text = read(&path);
    (path, text)
}

fn open_request(db: &TestDb, kind: &str, email: &str, tenant: &str, received: &str) -> i64 {
    let o = run(
        db,
        &[
            "--format",
            "json",
            "requests",
            "open",
            "--kind",
            kind,
            "--email",
            email,
            "--tenant",
            tenant,
            "--received",
            received,
            "--channel",
            "letter",
        ],
    );
    assert_exit(&o, 0);
    json(&o)[0]["id"].as_i64().unwrap()
}

fn today() -> String {
    Utc::now().date_naive().to_string()
}

async fn an_objection_by_mail_is_registered_answered_and_when_granted_stops_e_and_f_processing(
    db: TestDb,
) {
    let ctx = setup(&db).await;
    book(&ctx, "westendorf", ANNA).await;
    let anna = people::subject_ref(&ctx, ANNA.email).await;
    let dir = tempfile::tempdir().unwrap();
    let eml = dir.path().join("widerspruch.eml");
    std::fs::write(
        &eml,
        format!(
            "From: Anna Schmidt <{}>\r\nTo: geschaeftsleitung@vg-westendorf.de\r\n\
             Subject: Widerspruch\r\nMessage-ID: <widerspruch-1@example.com>\r\n\
             Date: {}\r\n\r\nGuten Tag,\r\n\r\nhiermit lege ich Widerspruch gegen die \
             Verarbeitung meiner Daten ein.\r\n\r\nAnna Schmidt\r\n",
            ANNA.email,
            Utc::now().to_rfc2822()
        ),
    )
    .unwrap();
    let outbox = dir.path().join("outbox");
    let o = run(
        &db,
        &[
            "--format",
            "json",
            "withdrawals",
            "import",
            "--outbox",
            outbox.to_str().unwrap(),
            eml.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 0);
    let report = json(&o);
    assert_eq!(report[0]["outcome"], "objection_request", "{report}");
    let id = report[0]["request_id"].as_i64().unwrap();

    // Registered as an open objection with its deadline, and answered.
    let o = run(
        &db,
        &["--format", "json", "requests", "show", &id.to_string()],
    );
    let r = &json(&o)["request"];
    assert_eq!(
        (
            r["kind"].as_str(),
            r["status"].as_str(),
            r["channel"].as_str()
        ),
        (Some("objection"), Some("open"), Some("email"))
    );
    assert!(!r["due_on"].as_str().unwrap().is_empty());
    let reply = reply_of(Path::new(report[0]["reply"].as_str().unwrap()));
    assert!(
        reply.contains("Widerspruch gegen die Verarbeitung Ihrer personenbezogenen Daten")
            && reply.contains("Art. 21 DSGVO")
            && reply.contains(&format!("unter der Nummer {id} erfasst")),
        "{reply}"
    );

    // Granted: needs its reasons, and only objection outcomes fit.
    let letters = dir.path().join("vorgang");
    let out = letters.to_str().unwrap();
    let id_text = id.to_string();
    let close = |extra: &[&str]| {
        let mut args = vec!["--format", "json", "requests", "close", id_text.as_str()];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--out", out]);
        run(&db, &args)
    };
    let o = close(&["--outcome", "granted"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("--reason"), "{}", stderr(&o));
    assert_exit(&close(&["--outcome", "erased", "--reason", "x"]), 2);
    assert!(!letters.exists(), "a refused decision writes nothing");
    let queued_copies = format!(
        "select count(*) from notifications n join bookings b on b.id = n.booking_id
         where n.kind = 'office_copy' and n.status = 'queued' and b.subject_ref = '{anna}'"
    );
    assert!(db.count(&queued_copies).await > 0);

    let o = close(&[
        "--outcome",
        "granted",
        "--reason",
        "Keine zwingenden schutzwürdigen Gründe ersichtlich.",
    ]);
    assert_exit(&o, 0);
    let decided = json(&o);
    assert_eq!(decided["request"]["outcome"], "granted", "{decided}");
    assert!(decided["effects"]["access_log_deleted"].as_u64().unwrap() >= 2);
    assert_eq!(db.count(&queued_copies).await, 0, "office copies cancelled");
    assert_eq!(
        db.count(&format!(
            "select count(*) from access_log a join bookings b on b.id = a.booking_id
             where b.subject_ref = '{anna}'"
        ))
        .await,
        0,
        "the access-log rows kept for a purpose of lit. f are gone"
    );
    assert_eq!(
        db.count(&format!(
            "select count(*) from objections where subject_ref = '{anna}'
               and purposes = 'analysis,access_log,office_copy'"
        ))
        .await,
        1
    );
    assert_eq!(
        db.count(&format!(
            "select count(*) from bookings where subject_ref = '{anna}' and status = 'booked'"
        ))
        .await,
        2,
        "the bookings stay: an objection does not cancel the appointment asked for"
    );
    let (path, letter) = only_letter(&letters);
    assert!(
        path.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .contains("widerspruch-stattgegeben"),
        "{}",
        path.display()
    );
    for part in [
        "Entscheidung über Ihren Widerspruch (Art. 21 DSGVO)",
        "Wir geben Ihrem Widerspruch statt",
        "Analyse der Nutzung des Dienstes",
        "Automatische Kopie jeder Online-Buchung",
        "Art. 6 Abs. 1 S. 1 lit. e, Abs. 3 DSGVO i. V. m. Art. 4 Abs. 1 BayDSG",
        "Guten Tag Anna Schmidt,",
        &format!("DS-VGW-{id}"),
        "Geschäftsleitung der Verwaltungsgemeinschaft Westendorf",
        "Keine zwingenden schutzwürdigen Gründe ersichtlich.",
        "Die Protokolleinträge Ihrer Zugriffe auf den Buchungsdienst",
        "werden nicht mehr versandt",
    ] {
        assert!(letter.contains(part), "{part:?} missing:\n{letter}");
    }
    // A decided request is decided once.
    assert_exit(&close(&["--outcome", "rejected", "--reason", "x"]), 2);

    // The Auskunft shows the objection and its decision.
    let auskunft = dir.path().join("auskunft");
    let o = run(
        &db,
        &[
            "export",
            "--identity-checked-by",
            "in-person",
            "--email",
            ANNA.email,
            "--tenant",
            "westendorf",
            "--out",
            auskunft.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 0);
    let html = read(&auskunft.join("auskunft.html"));
    assert!(
        html.contains("Widerspruch (Art. 21 DSGVO)") && html.contains("stattgegeben"),
        "{html}"
    );
    people::assert_audit_trail_names_nobody(&ctx, &[ANNA]).await;
}

async fn an_objection_by_letter_is_rejected_with_a_refusal_letter_naming_authority_and_court(
    db: TestDb,
) {
    let ctx = setup(&db).await;
    book(&ctx, "westendorf", ANNA).await;
    let id = open_request(&db, "objection", ANNA.email, "westendorf", &today());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("vorgang");
    let o = run(
        &db,
        &[
            "requests",
            "close",
            &id.to_string(),
            "--outcome",
            "rejected",
            "--reason",
            "Das Zugriffsprotokoll dient der Abwehr eines laufenden Angriffs auf den Dienst.",
            "--salutation",
            "frau",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("letter: "), "{}", stdout(&o));
    let (_, letter) = only_letter(&out);
    for part in [
        "Sehr geehrte Frau Schmidt,",
        "Frau Anna Schmidt",
        "Widerspruch gegen die Verarbeitung Ihrer personenbezogenen Daten eingelegt",
        "geben ihm nicht statt",
        "Art. 21 Abs. 1 Satz 2 DSGVO",
        "Das Zugriffsprotokoll dient der Abwehr eines laufenden Angriffs auf den Dienst.",
        "Der Bayerische Landesbeauftragte für den Datenschutz, Wagmüllerstraße 18, 80538 München",
        "Art. 77 DSGVO",
        "Verwaltungsgericht",
        "Art. 78 und 79 DSGVO",
        "per Brief",
    ] {
        assert!(letter.contains(part), "{part:?} missing:\n{letter}");
    }
    assert_eq!(db.count("select count(*) from objections").await, 0);
    assert!(
        db.count(
            "select count(*) from notifications where kind = 'office_copy' and status = 'queued'"
        )
        .await
            > 0,
        "a rejected objection stops nothing"
    );
}

async fn the_letters_of_article_12_name_reasons_dates_authority_and_remedy(db: TestDb) {
    let ctx = setup(&db).await;
    book(&ctx, "recklinghausen", ANNA).await;
    let dir = tempfile::tempdir().unwrap();
    const AUTHORITY: &str = "Landesbeauftragte für Datenschutz und Informationsfreiheit Nordrhein-Westfalen, Kavalleriestraße 2–4, 40213 Düsseldorf";

    // Extension (Art. 12(3) s. 3): reasons, the first and the new deadline, within the month.
    let received = (Utc::now() - Duration::days(3)).date_naive();
    let id = open_request(
        &db,
        "access",
        ANNA.email,
        "recklinghausen",
        &received.to_string(),
    );
    let folder = dir.path().join("verlaengerung");
    let o = run(
        &db,
        &[
            "--format",
            "json",
            "requests",
            "extend",
            &id.to_string(),
            "--reason",
            "Daten aus drei Fachverfahren müssen zusammengeführt werden.",
            "--months",
            "2",
            "--out",
            folder.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 0);
    let extended = json(&o);
    let de = |day: &serde_json::Value| {
        chrono::NaiveDate::parse_from_str(day.as_str().unwrap(), "%Y-%m-%d")
            .unwrap()
            .format("%d.%m.%Y")
            .to_string()
    };
    let (first, new) = (
        de(&extended["request"]["due_on"]),
        de(&extended["request"]["extended_due_on"]),
    );
    let (path, letter) = only_letter(&folder);
    assert_eq!(
        Path::new(extended["letter"].as_str().unwrap()),
        path.as_path()
    );
    for part in [
        "Verlängerung der Frist zur Beantwortung Ihres Antrags (Art. 12 Abs. 3 DSGVO)",
        "Daten aus drei Fachverfahren müssen zusammengeführt werden.",
        &received.format("%d.%m.%Y").to_string(),
        &format!("endet diese Frist am {first}"),
        &format!("spätestens bis zum {new}"),
        "um 2 Monate",
        "innerhalb eines Monats nach Eingang Ihres Antrags mit",
        "Art. 12 Abs. 3 Satz 3 DSGVO",
        "Guten Tag Anna Schmidt,",
        &format!("DS-RE-{id}"),
        "Datenschutzbeauftragte der Stadt Recklinghausen",
    ] {
        assert!(letter.contains(part), "{part:?} missing:\n{letter}");
    }

    // Refusal (Art. 12(4)): the reasons, the authority, the court.
    let id = open_request(&db, "erasure", ANNA.email, "recklinghausen", &today());
    let folder = dir.path().join("ablehnung");
    let o = run(
        &db,
        &[
            "requests",
            "close",
            &id.to_string(),
            "--outcome",
            "rejected",
            "--reason",
            "Aufbewahrungspflicht nach § 7 Abs. 2 der Aktenordnung bis 31.12.2027.",
            "--out",
            folder.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 0);
    let (path, letter) = only_letter(&folder);
    assert!(path.to_str().unwrap().contains("ablehnung"));
    for part in [
        "Ablehnung Ihres Antrags auf Löschung (Art. 17 DSGVO)",
        "Art. 12 Abs. 4 DSGVO",
        "Aufbewahrungspflicht nach § 7 Abs. 2 der Aktenordnung bis 31.12.2027.",
        AUTHORITY,
        "Art. 77 DSGVO",
        "Verwaltungsgericht",
        &today_de(),
    ] {
        assert!(letter.contains(part), "{part:?} missing:\n{letter}");
    }

    // Manifestly unfounded and excessive (Art. 12(5)): the decision, its reason, the burden
    // of proof, the remedies.
    for (outcome, judged) in [
        ("unfounded", "offenkundig unbegründet"),
        ("excessive", "exzessiv"),
    ] {
        let id = open_request(&db, "access", ANNA.email, "recklinghausen", &today());
        let folder = dir.path().join(outcome);
        let reason =
            format!("Begründung zu {outcome}: der zwölfte gleichlautende Antrag in diesem Monat.");
        let o = run(
            &db,
            &[
                "requests",
                "close",
                &id.to_string(),
                "--outcome",
                outcome,
                "--reason",
                &reason,
                "--out",
                folder.to_str().unwrap(),
            ],
        );
        assert_exit(&o, 0);
        let (_, letter) = only_letter(&folder);
        for part in [
            "Entscheidung über Ihren Antrag nach Art. 12 Abs. 5 DSGVO",
            judged,
            "Art. 12 Abs. 5 Satz 2 lit. b DSGVO",
            "Art. 12 Abs. 5 Satz 3 DSGVO",
            reason.as_str(),
            AUTHORITY,
            "Verwaltungsgericht",
        ] {
            assert!(
                letter.contains(part),
                "{outcome}: {part:?} missing:\n{letter}"
            );
        }
    }

    // No data: nobody known, so "Sehr geehrte Damen und Herren".
    let id = open_request(
        &db,
        "access",
        "niemand@example.net",
        "recklinghausen",
        &today(),
    );
    let folder = dir.path().join("keine-daten");
    assert_exit(
        &run(
            &db,
            &[
                "requests",
                "close",
                &id.to_string(),
                "--outcome",
                "no_data",
                "--out",
                folder.to_str().unwrap(),
            ],
        ),
        0,
    );
    let (_, letter) = only_letter(&folder);
    for part in [
        "keine Daten über Sie gespeichert",
        "Stadt Recklinghausen verarbeitet keine personenbezogenen Daten über Sie",
        "Sehr geehrte Damen und Herren,",
        AUTHORITY,
    ] {
        assert!(letter.contains(part), "{part:?} missing:\n{letter}");
    }
    assert!(!letter.contains("Guten Tag"), "{letter}");
    people::assert_audit_trail_names_nobody(&ctx, &[ANNA]).await;
    let reasons = db
        .count("select count(*) from audit_log where details like '%Aktenordnung%'")
        .await;
    assert_eq!(reasons, 0, "the reasons stay out of the audit trail");
}

fn today_de() -> String {
    Utc::now()
        .with_timezone(&chrono_tz::Europe::Berlin)
        .format("%d.%m.%Y")
        .to_string()
}

async fn an_extension_after_the_first_month_and_a_refusal_without_reasons_change_nothing(
    db: TestDb,
) {
    let ctx = setup(&db).await;
    book(&ctx, "recklinghausen", ANNA).await;
    let dir = tempfile::tempdir().unwrap();
    let received = (Utc::now() - Duration::days(45)).date_naive().to_string();
    let id = open_request(&db, "access", ANNA.email, "recklinghausen", &received);
    let folder = dir.path().join("vorgang");
    let o = run(
        &db,
        &[
            "requests",
            "extend",
            &id.to_string(),
            "--reason",
            "zu spät",
            "--out",
            folder.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("has passed"), "{}", stderr(&o));
    assert!(!folder.exists(), "no letter");
    let extended =
        format!("select count(*) from requests where id = {id} and extended_due_on is not null");
    assert_eq!(db.count(&extended).await, 0);

    for (outcome, args) in [
        ("rejected", vec![]),
        ("unfounded", vec!["--reason", "  "]),
        ("granted", vec!["--reason", "kein Widerspruch"]),
    ] {
        let mut all = vec!["requests", "close"];
        let id = id.to_string();
        all.push(&id);
        all.extend_from_slice(&["--outcome", outcome, "--out", folder.to_str().unwrap()]);
        all.extend(args);
        let o = run(&db, &all);
        assert_exit(&o, 2);
        assert!(!folder.exists(), "{outcome}: no letter");
    }
    assert_eq!(
        db.count(&format!(
            "select count(*) from requests where id = {id} and status = 'open'"
        ))
        .await,
        1
    );
    // A folder that is a symbolic link is refused before anything changes.
    let target = dir.path().join("elsewhere");
    std::fs::create_dir(&target).unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let o = run(
        &db,
        &[
            "requests",
            "close",
            &id.to_string(),
            "--outcome",
            "rejected",
            "--reason",
            "x",
            "--out",
            link.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 2);
    assert_eq!(
        db.count(&format!(
            "select count(*) from requests where id = {id} and status = 'open'"
        ))
        .await,
        1
    );
}

async fn lifting_a_restriction_writes_the_notice_of_article_18_3_first(db: TestDb) {
    let ctx = setup(&db).await;
    book(&ctx, "westendorf", ANNA).await;
    assert_exit(
        &run(
            &db,
            &[
                "restrict",
                "--identity-checked-by",
                "in-person",
                "--email",
                ANNA.email,
                "--tenant",
                "westendorf",
                "--reason",
                "Richtigkeit bestritten (Art. 18 Abs. 1 lit. a)",
            ],
        ),
        0,
    );
    let active = "select count(*) from restrictions where lifted_at is null";
    assert_eq!(db.count(active).await, 1);
    let dir = tempfile::tempdir().unwrap();

    // A notice that cannot be written lifts nothing.
    let blocked = dir.path().join("a-file");
    std::fs::write(&blocked, "").unwrap();
    let o = run(
        &db,
        &[
            "restrict",
            "--identity-checked-by",
            "in-person",
            "--email",
            ANNA.email,
            "--tenant",
            "westendorf",
            "--lift",
            "--out",
            blocked.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 2);
    assert_eq!(db.count(active).await, 1);

    let folder = dir.path().join("vorgang");
    let o = run(
        &db,
        &[
            "restrict",
            "--identity-checked-by",
            "in-person",
            "--email",
            ANNA.email,
            "--tenant",
            "westendorf",
            "--lift",
            "--reason",
            "Die Richtigkeit der Daten ist geprüft und bestätigt.",
            "--out",
            folder.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 0);
    assert_eq!(db.count(active).await, 0);
    let (_, letter) = only_letter(&folder);
    for part in [
        "Aufhebung der Einschränkung der Verarbeitung (Art. 18 Abs. 3 DSGVO)",
        "bevor die Einschränkung aufgehoben wird",
        &format!("endet am {}", today_de()),
        "Richtigkeit bestritten (Art. 18 Abs. 1 lit. a)",
        "Die Richtigkeit der Daten ist geprüft und bestätigt.",
        "Guten Tag Anna Schmidt,",
        "Der Bayerische Landesbeauftragte für den Datenschutz",
    ] {
        assert!(letter.contains(part), "{part:?} missing:\n{letter}");
    }
}

async fn a_withdrawal_by_letter_or_phone_has_the_effects_and_reply_of_a_withdrawal_mail(
    db: TestDb,
) {
    let ctx = setup(&db).await;
    book(&ctx, "recklinghausen", ANNA).await;
    book(&ctx, "westendorf", ANNA).await;
    let anna = people::subject_ref(&ctx, ANNA.email).await;
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox");
    let record = |tenant: &str, channel: &str, extra: &[&str]| {
        let mut args = vec![
            "--format",
            "json",
            "withdrawals",
            "record",
            "--tenant",
            tenant,
            "--email",
            ANNA.email,
            "--channel",
            channel,
            "--outbox",
            outbox.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        run(&db, &args)
    };

    // By phone at Westendorf, SMS only: the SMS consent ends, the bookings stay.
    let o = record("westendorf", "phone", &["--sms-only"]);
    assert_exit(&o, 0);
    let r = json(&o);
    assert_eq!(
        (r["outcome"].as_str(), r["channel"].as_str()),
        (Some("sms_withdrawn"), Some("phone"))
    );
    let reply = reply_of(Path::new(r["reply"].as_str().unwrap()));
    assert!(reply.contains("keine SMS-Erinnerungen mehr"), "{reply}");
    assert!(reply.contains(&format!("To: {}", ANNA.email)), "{reply}");
    assert_eq!(
        db.count(&format!(
            "select count(*) from consents where subject_ref = '{anna}' and purpose = 'sms_reminder'
               and withdrawal_source = 'phone'"
        ))
        .await,
        2
    );

    // By letter at Recklinghausen (booking on consent): as a withdrawal mail does — consents
    // end, the future appointment is cancelled, the data erased, the same reply.
    let o = record("recklinghausen", "letter", &[]);
    assert_exit(&o, 0);
    let r = json(&o);
    assert_eq!(r["outcome"], "withdrawn");
    assert_eq!(r["bookings_cancelled"], 1);
    let reply = reply_of(Path::new(r["reply"].as_str().unwrap()));
    for part in [
        "wir haben Ihren Widerruf vom",
        "enden mit Wirkung für die Zukunft (Art. 7 Abs. 3 DSGVO)",
        "wurde abgesagt",
        "haben wir gelöscht",
        "From: buergerbuero@recklinghausen.de",
    ] {
        assert!(reply.contains(part), "{part:?} missing:\n{reply}");
    }
    assert_eq!(
        db.count(&format!(
            "select count(*) from requests where subject_ref = '{anna}' and kind = 'withdrawal'
               and channel = 'letter' and outcome = 'erased'"
        ))
        .await,
        1
    );
    assert_eq!(
        db.count(
            "select count(*) from bookings b join tenants t on t.id = b.tenant_id
             where t.slug = 'recklinghausen' and b.email is not null"
        )
        .await,
        0
    );

    // A second letter finds nothing left to end (as a second mail would); an unknown
    // person and a bad channel are refused.
    let o = record("recklinghausen", "letter", &[]);
    assert_exit(&o, 0);
    assert_eq!(
        (
            json(&o)["consents_withdrawn"].as_u64(),
            json(&o)["bookings_cancelled"].as_u64()
        ),
        (Some(0), Some(0))
    );
    assert_exit(&record("oer-erkenschwick", "in-person", &[]), 3);
    let o = record("westendorf", "email", &[]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("letter, phone or in-person"),
        "{}",
        stderr(&o)
    );
    people::assert_audit_trail_names_nobody(&ctx, &[ANNA]).await;
}

async fn an_objection_decided_twice_at_once_is_decided_once(db: TestDb) {
    use datenwart::domain::requests::Outcome;
    use datenwart::ops::requests::{self, LetterOptions};
    let ctx = setup(&db).await;
    book(&ctx, "westendorf", ANNA).await;
    let id = open_request(&db, "objection", ANNA.email, "westendorf", &today());
    let dir = tempfile::tempdir().unwrap();
    let opts = LetterOptions {
        out: Some(dir.path().join("vorgang")),
        salutation: None,
        ..Default::default()
    };
    let decide = |outcome| requests::decide(&ctx, id, outcome, Some("Gründe"), &opts);
    let (a, b) = tokio::join!(decide(Outcome::Granted), decide(Outcome::Granted));
    assert_eq!(
        [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "{a:?} / {b:?}"
    );
    assert_eq!(db.count("select count(*) from objections").await, 1);
    assert_eq!(
        db.count("select count(*) from audit_log where action = 'request.close'")
            .await,
        1
    );
}
