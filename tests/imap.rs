//! `withdrawals import --imap` against a real Dovecot on both backends: what the intake took
//! over is moved (or flagged) after its commit and the rest stays for the office; a run
//! that stopped between commit and move is carried on without repeating anything; a
//! renumbered mailbox (UIDVALIDITY) is read again and recognised; a wrong password or an
//! untrusted certificate changes nothing.

#[macro_use]
mod common;

use chrono::{Duration, Utc};
use common::cli::{self, assert_exit, json, stderr, stdout};
use common::imap::{ImapServer, PASSWORD};
use common::people::{self, Citizen};
use common::{TestDb, fixture, ready};
use datenwart::ops::{Context, seeding};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

const R: &str = "recklinghausen";
const OFFICE: &str = "buergerbuero@recklinghausen.de";
const FOLDER: &str = "datenwart/verarbeitet";
const KEYWORD: &str = "datenwart-verarbeitet";

const ANNA: Citizen = Citizen {
    first: "Anna",
    last: "Schmidt",
    email: "anna.schmidt@example.com",
    phone: "0171 5550001",
};

async fn setup(db: &TestDb) -> Context {
    let ctx = ready(db).await;
    seeding::import_services(&ctx, R, &fixture("services.csv"))
        .await
        .unwrap();
    let day = (Utc::now() + Duration::days(3)).date_naive();
    common::open_slots(&ctx, R, day, "08:00-12:00", 20).await;
    let slot = people::first_free_slot(&ctx, R, Utc::now()).await;
    people::book(&ctx, R, &ANNA.form(slot), Utc::now(), None).await;
    ctx
}

/// A message the office's receiving server (trusted by the policies) found to pass DMARC.
fn mail(id: &str, from: &str, to: &str, subject: &str, body: &str) -> Vec<u8> {
    let domain = from.rsplit('@').next().unwrap_or("");
    format!(
        "Authentication-Results: mx01.kommunal-it.example; dmarc=pass header.from={domain}\r\n\
         Received: from mail.example.net by mx01.kommunal-it.example; Tue, 1 Dec 2026 08:00:00 +0100\r\n\
         From: {from}\r\n\
         To: {to}\r\n\
         Subject: {subject}\r\n\
         Date: Tue, 1 Dec 2026 07:59:57 +0100\r\n\
         Message-ID: <{id}@example.net>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         {body}\r\n"
    )
    .into_bytes()
}

fn access_request(id: &str) -> Vec<u8> {
    mail(
        id,
        ANNA.email,
        OFFICE,
        "Auskunft nach Art. 15 DSGVO",
        "Sehr geehrte Damen und Herren,\r\n\r\nbitte erteilen Sie mir Auskunft über meine gespeicherten Daten.\r\n\r\nAnna Schmidt",
    )
}

fn ordinary_question(id: &str) -> Vec<u8> {
    mail(
        id,
        "karl.meier@example.org",
        OFFICE,
        "Öffnungszeiten am Samstag",
        "Guten Tag,\r\n\r\nhaben Sie am Samstag geöffnet?\r\n\r\nKarl Meier",
    )
}

fn elsewhere(id: &str) -> Vec<u8> {
    mail(
        id,
        "newsletter@example.org",
        "presse@recklinghausen.de",
        "Newsletter",
        "Unsere Angebote im Dezember.",
    )
}

fn unknown_withdrawal(id: &str) -> Vec<u8> {
    mail(
        id,
        "fremd@example.org",
        OFFICE,
        "Widerruf meiner Einwilligung",
        "Ich widerrufe meine Einwilligung.",
    )
}

/// `withdrawals import --imap URL …` with the JSON output.
fn import(db: &TestDb, url: &str, outbox: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "--format",
        "json",
        "withdrawals",
        "import",
        "--imap",
        url,
        "--outbox",
        outbox.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let mut cmd = cli::command(&db.url, &common::shipped_policies(), &args);
    cmd.env_remove("DATENWART_IMAP_PASSWORD")
        .env_remove("DATENWART_IMAP_URL");
    let out = cli::output(cmd);
    assert!(
        !stdout(&out).contains(PASSWORD) && !stderr(&out).contains(PASSWORD),
        "the password was printed"
    );
    out
}

/// The options that trust the test CA and read the password file.
fn trusted(server: &ImapServer) -> Vec<String> {
    vec![
        "--imap-ca-file".into(),
        server.ca_file.display().to_string(),
        "--imap-password-file".into(),
        server.password_file.display().to_string(),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn outcomes(out: &std::process::Output) -> Vec<String> {
    json(out)
        .as_array()
        .expect("a list of messages")
        .iter()
        .map(|m| m["outcome"].as_str().unwrap().to_owned())
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn message_ids(messages: &[(Vec<u8>, String)]) -> Vec<String> {
    let mut ids: Vec<String> = messages
        .iter()
        .map(|(raw, _)| {
            let text = String::from_utf8_lossy(raw);
            text.lines()
                .find_map(|l| l.strip_prefix("Message-ID: <"))
                .map(|r| r.trim_end_matches('>').to_owned())
                .unwrap_or_default()
        })
        .collect();
    ids.sort();
    ids
}

async fn rows(db: &TestDb, table: &str) -> i64 {
    db.count(&format!("select count(*) from {table}")).await
}

macro_rules! need_server {
    () => {
        match ImapServer::start() {
            Some(s) => s,
            None => return,
        }
    };
}

on_both_backends!(
    an_import_moves_what_it_took_over_after_the_commit_and_leaves_the_offices_mail,
    flag_mode_leaves_every_message_in_place_and_flags_what_it_took_over,
    a_run_that_stopped_after_the_commit_is_carried_on_by_the_next_without_repeating,
    a_renumbered_mailbox_is_read_again_and_what_was_processed_is_recognised,
    a_wrong_password_exits_1_and_changes_nothing,
    an_untrusted_certificate_is_refused_and_nothing_changes,
    a_dry_run_reads_the_mailbox_read_only_and_changes_nothing,
);

async fn an_import_moves_what_it_took_over_after_the_commit_and_leaves_the_offices_mail(
    db: TestDb,
) {
    let server = need_server!();
    setup(&db).await;
    let work = tempfile::tempdir().unwrap();
    let outbox = work.path().join("outbox");
    server.deliver(&access_request("a1"));
    server.deliver(&ordinary_question("q1"));
    server.deliver(&elsewhere("n1"));
    server.deliver(&unknown_withdrawal("u1"));
    server.deliver(&access_request("a1")); // the same mail twice in the inbox

    // Batches of two: three fetches, each followed by its move and the stored position.
    let mut extra = trusted(&server);
    extra.extend(["--imap-batch".into(), "2".into()]);
    let out = import(&db, &server.url(), &outbox, &strs(&extra));
    assert_exit(&out, 0);
    assert_eq!(
        outcomes(&out),
        vec![
            "access_request",
            "not_a_request",
            "not_addressed",
            "unmatched",
            "duplicate"
        ],
        "{}",
        server.log()
    );
    let origins: Vec<String> = json(&out)
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["origin"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(origins[0], "imap:INBOX#1");

    // Filed away: the request, the unmatched withdrawal (it waits in `withdrawals review`)
    // and the copy; the office's own mail stays where the office works.
    assert_eq!(
        message_ids(&server.messages(FOLDER)),
        vec!["a1@example.net", "a1@example.net", "u1@example.net"]
    );
    assert_eq!(
        message_ids(&server.messages("INBOX")),
        vec!["n1@example.net", "q1@example.net"]
    );
    // Moved as stored: byte for byte.
    assert!(
        server
            .messages(FOLDER)
            .iter()
            .any(|(raw, _)| raw == &access_request("a1"))
    );
    // Fetched with BODY.PEEK: the office still sees its mail as unread.
    assert!(
        server
            .messages("INBOX")
            .iter()
            .all(|(_, flags)| !flags.contains('S'))
    );

    // The request is registered and answered as from a Maildir.
    assert_eq!(
        db.count("select count(*) from requests where kind = 'access' and channel = 'email'")
            .await,
        1
    );
    assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), 1, "one reply");
    assert_eq!(
        db.count("select last_uid from imap_mailboxes").await,
        5,
        "the position is the last UID"
    );

    // Again: nothing new (the messages left in the inbox are not read again).
    let before = (
        rows(&db, "inbox_messages").await,
        rows(&db, "audit_log").await,
    );
    let again = import(&db, &server.url(), &outbox, &strs(&trusted(&server)));
    assert_exit(&again, 0);
    assert!(outcomes(&again).is_empty(), "{}", stdout(&again));
    assert_eq!(
        (
            rows(&db, "inbox_messages").await,
            rows(&db, "audit_log").await
        ),
        before
    );

    // A new message arrives: only it is read.
    server.deliver(&unknown_withdrawal("u2"));
    let third = import(&db, &server.url(), &outbox, &strs(&trusted(&server)));
    assert_exit(&third, 0);
    assert_eq!(outcomes(&third), vec!["unmatched"]);
    assert_eq!(server.messages(FOLDER).len(), 4);
}

async fn flag_mode_leaves_every_message_in_place_and_flags_what_it_took_over(db: TestDb) {
    let server = need_server!();
    setup(&db).await;
    let work = tempfile::tempdir().unwrap();
    let outbox = work.path().join("outbox");
    server.deliver(&access_request("a1"));
    server.deliver(&ordinary_question("q1"));
    server.deliver(&unknown_withdrawal("u1"));

    // STARTTLS this time, the password from the environment.
    let mut cmd = cli::command(
        &db.url,
        &common::shipped_policies(),
        &[
            "--format",
            "json",
            "withdrawals",
            "import",
            "--imap",
            &server.starttls_url(),
            "--imap-ca-file",
            server.ca_file.to_str().unwrap(),
            "--imap-after",
            "flag",
            "--outbox",
            outbox.to_str().unwrap(),
        ],
    );
    cmd.env("DATENWART_IMAP_PASSWORD", PASSWORD);
    let out = cli::output(cmd);
    assert_exit(&out, 0);
    assert!(!stderr(&out).contains(PASSWORD));
    assert_eq!(
        outcomes(&out),
        vec!["access_request", "not_a_request", "unmatched"]
    );
    assert!(server.messages(FOLDER).is_empty(), "nothing moved");
    assert_eq!(server.messages("INBOX").len(), 3, "nothing deleted");
    assert_eq!(server.flagged(KEYWORD), 2, "{}", server.log());
    let letter = server.keyword_letter(KEYWORD).unwrap();
    for (raw, flags) in server.messages("INBOX") {
        let question = raw == ordinary_question("q1");
        assert_eq!(flags.contains(letter), !question, "{flags}");
    }
}

/// The reply's file names for the next two minutes are taken by folders, so the run stops
/// after the message's commit (as a crash would) and before its move.
fn block_outbox(outbox: &Path, raw: &[u8]) -> Vec<PathBuf> {
    let key = datenwart::mail::parse(raw).unwrap().key;
    let hash = &hex::encode(Sha256::digest(key.as_bytes()))[..12];
    let start = Utc::now();
    let blocked: Vec<PathBuf> = (-2..120)
        .map(|s| {
            let at = start + Duration::seconds(s);
            outbox.join(format!("{}-{hash}.eml", at.format("%Y%m%dT%H%M%SZ")))
        })
        .collect();
    for dir in &blocked {
        std::fs::create_dir_all(dir).unwrap();
    }
    blocked
}

async fn a_run_that_stopped_after_the_commit_is_carried_on_by_the_next_without_repeating(
    db: TestDb,
) {
    let server = need_server!();
    setup(&db).await;
    let work = tempfile::tempdir().unwrap();
    let outbox = work.path().join("outbox");
    let raw = access_request("crash1");
    server.deliver(&raw);

    let blocked = block_outbox(&outbox, &raw);
    let first = import(&db, &server.url(), &outbox, &strs(&trusted(&server)));
    assert_exit(&first, 1);
    assert!(
        stderr(&first).contains("written by the next run"),
        "{}",
        stderr(&first)
    );
    // Committed, but neither moved nor counted as read.
    assert_eq!(
        db.count("select count(*) from requests where kind = 'access'")
            .await,
        1
    );
    assert_eq!(server.messages("INBOX").len(), 1);
    assert!(server.messages(FOLDER).is_empty());
    assert_eq!(
        db.count("select last_uid from imap_mailboxes").await,
        0,
        "the position stays before the message"
    );
    for dir in blocked {
        std::fs::remove_dir(dir).unwrap();
    }

    // The next run writes the reply, recognises the message and only moves it.
    let second = import(&db, &server.url(), &outbox, &strs(&trusted(&server)));
    assert_exit(&second, 0);
    assert_eq!(outcomes(&second), vec!["duplicate"]);
    assert_eq!(
        db.count("select count(*) from requests where kind = 'access'")
            .await,
        1,
        "not registered twice"
    );
    assert_eq!(
        db.count("select count(*) from replies where written_at is not null")
            .await,
        1
    );
    assert!(server.messages("INBOX").is_empty());
    assert_eq!(
        message_ids(&server.messages(FOLDER)),
        vec!["crash1@example.net"]
    );
    assert_eq!(db.count("select last_uid from imap_mailboxes").await, 1);
}

async fn a_renumbered_mailbox_is_read_again_and_what_was_processed_is_recognised(db: TestDb) {
    let server = need_server!();
    setup(&db).await;
    let work = tempfile::tempdir().unwrap();
    let outbox = work.path().join("outbox");
    server.deliver(&access_request("a1"));
    server.deliver(&unknown_withdrawal("u1"));
    server.deliver(&unknown_withdrawal("u2"));
    let mut flag = trusted(&server);
    flag.extend(["--imap-after".into(), "flag".into()]);
    let first = import(&db, &server.url(), &outbox, &strs(&flag));
    assert_exit(&first, 0);
    assert_eq!(outcomes(&first).len(), 3);
    let old = db.count("select uid_validity from imap_mailboxes").await;
    assert_eq!(db.count("select last_uid from imap_mailboxes").await, 3);

    // The mailbox is restored on another server: new UIDVALIDITY, UIDs from 1 again. The
    // new message's UID is below the stored position of the old numbering.
    server.renumber(4242);
    server.deliver(&unknown_withdrawal("u3"));
    let second = import(&db, &server.url(), &outbox, &strs(&flag));
    assert_exit(&second, 0);
    assert_eq!(
        sorted(outcomes(&second)),
        vec!["duplicate", "duplicate", "duplicate", "unmatched"],
        "{}",
        server.log()
    );
    assert_ne!(old, 4242);
    assert_eq!(
        db.count("select uid_validity from imap_mailboxes").await,
        4242
    );
    assert_eq!(db.count("select last_uid from imap_mailboxes").await, 4);
    assert_eq!(
        db.count("select count(*) from audit_log where action = 'inbox.imap_uidvalidity_changed'")
            .await,
        1
    );
    assert_eq!(
        db.count("select count(*) from requests where kind = 'access'")
            .await,
        1,
        "nothing applied twice"
    );
    assert_eq!(server.flagged(KEYWORD), 4);
}

async fn a_wrong_password_exits_1_and_changes_nothing(db: TestDb) {
    let server = need_server!();
    setup(&db).await;
    let work = tempfile::tempdir().unwrap();
    let outbox = work.path().join("outbox");
    server.deliver(&access_request("a1"));
    let wrong = work.path().join("wrong-password");
    std::fs::write(&wrong, "Falsches-Passwort\n").unwrap();
    let audit = rows(&db, "audit_log").await;

    let out = import(
        &db,
        &server.url(),
        &outbox,
        &[
            "--imap-ca-file",
            server.ca_file.to_str().unwrap(),
            "--imap-password-file",
            wrong.to_str().unwrap(),
        ],
    );
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("refused the login"), "{err}");
    assert!(!err.contains("Falsches-Passwort"), "{err}");
    assert_eq!(rows(&db, "inbox_messages").await, 0);
    assert_eq!(rows(&db, "imap_mailboxes").await, 0);
    assert_eq!(rows(&db, "audit_log").await, audit);
    assert!(!outbox.exists(), "not even the outbox was made");
    assert_eq!(server.messages("INBOX").len(), 1);

    // No password at all is a usage error.
    let none = import(
        &db,
        &server.url(),
        &outbox,
        &["--imap-ca-file", server.ca_file.to_str().unwrap()],
    );
    assert_exit(&none, 2);
    assert!(stderr(&none).contains("DATENWART_IMAP_PASSWORD"));
}

async fn an_untrusted_certificate_is_refused_and_nothing_changes(db: TestDb) {
    let server = need_server!();
    setup(&db).await;
    let work = tempfile::tempdir().unwrap();
    let outbox = work.path().join("outbox");
    server.deliver(&access_request("a1"));
    let audit = rows(&db, "audit_log").await;
    // Neither with TLS from the start nor after STARTTLS: the test CA is not trusted
    // unless named, so no password goes out.
    for url in [server.url(), server.starttls_url()] {
        let out = import(
            &db,
            &url,
            &outbox,
            &[
                "--imap-password-file",
                server.password_file.to_str().unwrap(),
            ],
        );
        assert_exit(&out, 1);
        let err = stderr(&out);
        assert!(err.contains("not trusted"), "{err}");
        assert!(err.contains("--imap-ca-file"), "{err}");
    }
    assert!(
        !server.log().contains("Login: user="),
        "no login reached the server:\n{}",
        server.log()
    );
    assert_eq!(rows(&db, "inbox_messages").await, 0);
    assert_eq!(rows(&db, "audit_log").await, audit);
    assert_eq!(server.messages("INBOX").len(), 1);

    // A CA file that is no certificate is a usage error.
    let bogus = work.path().join("bogus.pem");
    std::fs::write(&bogus, "kein Zertifikat\n").unwrap();
    let out = import(
        &db,
        &server.url(),
        &outbox,
        &[
            "--imap-ca-file",
            bogus.to_str().unwrap(),
            "--imap-password-file",
            server.password_file.to_str().unwrap(),
        ],
    );
    assert_exit(&out, 2);
}

async fn a_dry_run_reads_the_mailbox_read_only_and_changes_nothing(db: TestDb) {
    let server = need_server!();
    setup(&db).await;
    let work = tempfile::tempdir().unwrap();
    let outbox = work.path().join("outbox");
    server.deliver(&access_request("a1"));
    server.deliver(&ordinary_question("q1"));
    let audit = rows(&db, "audit_log").await;
    let mut extra = trusted(&server);
    extra.push("--dry-run".into());
    let out = import(&db, &server.url(), &outbox, &strs(&extra));
    assert_exit(&out, 0);
    assert_eq!(outcomes(&out), vec!["access_request", "not_a_request"]);
    assert_eq!(rows(&db, "inbox_messages").await, 0);
    assert_eq!(rows(&db, "imap_mailboxes").await, 0);
    assert_eq!(rows(&db, "audit_log").await, audit);
    assert!(!outbox.exists());
    assert_eq!(server.messages("INBOX").len(), 2);
    assert!(
        server.messages(FOLDER).is_empty(),
        "no folder made, nothing moved"
    );

    // The real run afterwards sees both.
    let real = import(&db, &server.url(), &outbox, &strs(&trusted(&server)));
    assert_exit(&real, 0);
    assert_eq!(outcomes(&real), vec!["access_request", "not_a_request"]);
    assert_eq!(server.messages(FOLDER).len(), 1);
}
