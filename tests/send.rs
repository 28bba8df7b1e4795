//! `datenwart send` against a real SMTP server (aiosmtpd) on both backends: what a
//! confirmation looks like when it arrives, reminders only when due, refusals retried or
//! failed for good, two workers at once, a dead worker's claim, restriction and erasure,
//! and `sent_at` starting the retention period.

#[macro_use]
mod common;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use common::cli::{self, assert_exit, json, stderr, stdout};
use common::people::{self, Citizen};
use common::smtp::{SmtpServer, free_port};
use common::{TestDb, fixture, ready, shipped_policies};
use datenwart::ops::{Context, seeding};
use datenwart::store::Claim;
use std::collections::{BTreeMap, HashSet};
use std::process::Stdio;

const OE: &str = "oer-erkenschwick";
const SENDER: &str = "rathaus@oer-erkenschwick.de";

const CARLA: Citizen = Citizen {
    first: "Carla",
    last: "Weiß",
    email: "carla.weiss@example.net",
    phone: "0171 5550123",
};

fn now() -> DateTime<Utc> {
    datenwart::domain::time::now()
}

fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, false)
}

fn citizen(email: &'static str) -> Citizen {
    Citizen {
        first: "Test",
        last: "Person",
        email,
        phone: "0171 5550199",
    }
}

async fn setup(db: &TestDb) -> Context {
    let ctx = ready(db).await;
    seeding::import_services(&ctx, OE, &fixture("services.csv"))
        .await
        .unwrap();
    let day = (now() + Duration::days(3)).date_naive();
    common::open_slots(&ctx, OE, day, "08:00-12:00", 20).await;
    ctx
}

/// Books `who` at Oer-Erkenschwick (confirmation and office copy, an SMS reminder if
/// `sms`); returns the booking's reference and id.
async fn book(ctx: &Context, who: Citizen, sms: bool) -> (String, i64) {
    let slot = people::first_free_slot(ctx, OE, now()).await;
    let form = datenwart::domain::booking::BookingForm {
        sms_reminder: sms,
        ..who.form(slot)
    };
    let r = people::book(ctx, OE, &form, now(), None).await;
    (r.reference, r.booking_id)
}

fn send(db: &TestDb, server_url: &str) -> std::process::Output {
    cli::run(
        db,
        &[
            "send",
            "--smtp-url",
            server_url,
            "--public-url",
            "https://termine.example.de",
        ],
    )
}

async fn status_of(db: &TestDb, booking: i64, kind: &str) -> String {
    let sql = format!(
        "select status from notifications where booking_id = {booking} and kind = '{kind}'"
    );
    let rows: Vec<String> = text_rows(db, &sql).await;
    assert_eq!(rows.len(), 1, "{sql}");
    rows.into_iter().next().unwrap()
}

async fn text_rows(db: &TestDb, sql: &str) -> Vec<String> {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match db.kind {
        common::Kind::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            let rows = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
            pool.close().await;
            rows
        }
        common::Kind::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let rows = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
            pool.close().await;
            rows
        }
    }
}

on_both_backends!(
    a_confirmation_arrives_with_its_headers_calendar_entry_and_cancel_link,
    a_message_goes_only_once_its_send_after_has_come,
    a_permanent_refusal_fails_for_good_and_a_temporary_one_is_tried_again_later,
    a_server_that_cannot_be_reached_exits_1_and_leaves_everything_queued,
    two_send_processes_at_once_deliver_each_message_exactly_once,
    one_run_keeps_its_connections_open_and_a_refusal_does_not_break_the_rest,
    a_claim_whose_worker_died_is_taken_again_and_sent_with_the_same_message_id,
    a_restricted_persons_messages_wait_and_an_erased_persons_are_never_sent,
    sent_at_starts_the_retention_period_of_a_sent_notification,
    serve_with_send_every_delivers_what_is_queued_while_it_runs,
    a_confirmation_whose_appointment_has_begun_is_not_sent,
    a_sent_message_is_recorded_as_a_disclosure_and_a_correction_lists_whom_to_tell,
    a_correction_reaches_every_queued_copy_and_send_delivers_the_new_values,
    erasure_and_restriction_open_the_recipients_to_tell,
    the_outbox_replies_go_out_once_and_what_is_no_tenants_reply_is_set_aside,
);

async fn a_confirmation_arrives_with_its_headers_calendar_entry_and_cancel_link(db: TestDb) {
    let Some(server) = SmtpServer::start() else {
        return;
    };
    let ctx = setup(&db).await;
    let (reference, booking) = book(&ctx, CARLA, true).await;

    let out = send(&db, &server.url());
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("sent 2"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("1 SMS left queued: no SMS gateway configured"),
        "{}",
        stdout(&out)
    );
    // Counts and ids only: no address in what cron mails the operator.
    assert!(!stdout(&out).contains("example.net") && !stderr(&out).contains("example.net"));

    let mails = server.received_by(CARLA.email);
    assert_eq!(mails.len(), 1, "one confirmation for Carla");
    let m = &mails[0];
    let raw_subject = m.raw_header("Subject").unwrap();
    assert!(
        raw_subject.starts_with("=?utf-8?"),
        "encoded word: {raw_subject}"
    );
    let parsed = m.parsed();
    assert!(
        parsed
            .subject()
            .unwrap()
            .starts_with("Terminbestätigung: Personalausweis beantragen am "),
        "{:?}",
        parsed.subject()
    );
    let from = parsed.from().unwrap().first().unwrap();
    assert_eq!(from.address(), Some(SENDER));
    assert_eq!(from.name(), Some("Stadt Oer-Erkenschwick"));
    assert_eq!(
        parsed.to().unwrap().first().unwrap().address(),
        Some(CARLA.email)
    );
    assert!(parsed.date().is_some(), "a Date header");
    let stored: Vec<String> = text_rows(
        &db,
        &format!(
            "select message_id from notifications where booking_id = {booking} and kind = 'confirmation'"
        ),
    )
    .await;
    assert_eq!(
        format!("<{}>", parsed.message_id().unwrap()),
        stored[0],
        "the Message-ID drawn at the claim"
    );
    assert!(stored[0].ends_with("@oer-erkenschwick.de>"));

    let text = parsed.body_text(0).unwrap();
    let link = format!("https://termine.example.de/t/{OE}/absagen?buchung={reference}");
    assert!(text.contains(&link), "{text}");
    assert!(text.contains("Guten Tag Carla Weiß"), "{text}");
    assert!(
        text.contains("Rathausplatz 1, 45739 Oer-Erkenschwick"),
        "{text}"
    );
    let html = parsed.body_html(0).unwrap();
    assert!(html.contains(&format!("href=\"{link}\"")), "{html}");

    // The calendar entry parses back and names the appointment (in UTC).
    let ics = parsed
        .attachments()
        .find(|a| a.attachment_name() == Some("termin.ics"))
        .expect("termin.ics attached");
    assert!(ics.is_text());
    let ics_text = String::from_utf8(ics.contents().to_vec()).unwrap();
    let cal: icalendar::Calendar = ics_text.parse().expect("valid iCalendar");
    use icalendar::Component;
    use mail_parser::MimeHeaders;
    let event = cal.events().next().expect("one VEVENT");
    assert_eq!(
        event.get_uid(),
        Some(format!("{reference}@oer-erkenschwick.de").as_str())
    );
    let starts_at: Vec<String> = text_rows(
        &db,
        &format!("select cast(appointment_start as text) from bookings where id = {booking}"),
    )
    .await;
    match event.get_start() {
        Some(icalendar::DatePerhapsTime::DateTime(icalendar::CalendarDateTime::Utc(at))) => {
            let stored = starts_at[0]
                .replace(' ', "T")
                .replace("+00:00", "Z")
                .replace("+00", "Z");
            assert_eq!(
                ts(at).replace("+00:00", "Z"),
                stored,
                "DTSTART is the appointment"
            );
        }
        other => panic!("DTSTART in UTC expected, got {other:?}"),
    }
    assert!(event.get_end().is_some());

    // The office copy went to the office; the SMS reminder waits.
    assert_eq!(server.received_by(SENDER).len(), 1);
    assert_eq!(status_of(&db, booking, "confirmation").await, "sent");
    assert_eq!(status_of(&db, booking, "office_copy").await, "sent");
    assert_eq!(status_of(&db, booking, "sms_reminder").await, "queued");

    // Sent once: a second run has nothing to do.
    let again = send(&db, &server.url());
    assert_exit(&again, 0);
    assert!(
        stdout(&again).contains("nothing to send"),
        "{}",
        stdout(&again)
    );
    assert_eq!(server.received().len(), 2);

    let audit = json(&cli::run(
        &db,
        &[
            "--format",
            "json",
            "audit",
            "list",
            "--action",
            "notifications.send",
        ],
    ));
    let entries = audit.as_array().unwrap();
    assert_eq!(
        entries.len(),
        1,
        "one audit entry per run that sent: {audit}"
    );
    // `details` is the entry's object; its compact text for the checks below.
    let details = entries[0]["details"].to_string();
    assert!(details.contains("\"sent\":2"), "{details}");
    assert!(!details.contains("example.net"), "{details}");
}

async fn a_message_goes_only_once_its_send_after_has_come(db: TestDb) {
    let Some(server) = SmtpServer::start() else {
        return;
    };
    let ctx = setup(&db).await;
    let (_, booking) = book(&ctx, CARLA, false).await;
    // As a reminder is queued: with a time to go out.
    db.execute_raw(&format!(
        "update notifications set send_after = '{}' where booking_id = {booking} and kind = 'confirmation'",
        ts(now() + Duration::hours(1))
    ))
    .await;

    assert_exit(&send(&db, &server.url()), 0);
    assert!(server.received_by(CARLA.email).is_empty(), "not due yet");
    assert_eq!(status_of(&db, booking, "confirmation").await, "queued");
    assert_eq!(status_of(&db, booking, "office_copy").await, "sent");

    db.execute_raw(&format!(
        "update notifications set send_after = '{}' where booking_id = {booking} and kind = 'confirmation'",
        ts(now() - Duration::minutes(1))
    ))
    .await;
    assert_exit(&send(&db, &server.url()), 0);
    assert_eq!(server.received_by(CARLA.email).len(), 1, "due now");
    assert_eq!(status_of(&db, booking, "confirmation").await, "sent");
}

async fn a_permanent_refusal_fails_for_good_and_a_temporary_one_is_tried_again_later(db: TestDb) {
    let Some(server) = SmtpServer::start() else {
        return;
    };
    let ctx = setup(&db).await;
    let (_, rejected) = book(&ctx, citizen("reject.me@example.com"), false).await;
    let (_, later) = book(&ctx, citizen("later.please@example.com"), false).await;

    let out = send(&db, &server.url());
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("sent 2, to retry later 1, failed for good 1"),
        "{}",
        stdout(&out)
    );
    assert!(!stderr(&out).contains("example.com"), "{}", stderr(&out));
    assert_eq!(status_of(&db, rejected, "confirmation").await, "failed");
    assert_eq!(status_of(&db, later, "confirmation").await, "queued");
    let class = |b: i64| {
        format!(
            "select coalesce(last_error_class, '') || ' ' || cast(attempts as text) from notifications
             where booking_id = {b} and kind = 'confirmation'"
        )
    };
    assert_eq!(text_rows(&db, &class(rejected)).await, ["permanent 1"]);
    assert_eq!(text_rows(&db, &class(later)).await, ["temporary 1"]);

    // Listed, without the address.
    let listed = cli::run(&db, &["--format", "json", "send", "--list-failed"]);
    assert_exit(&listed, 0);
    let rows = json(&listed);
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["error_class"], "permanent");
    assert!(
        !stdout(&listed).contains("reject.me"),
        "{}",
        stdout(&listed)
    );

    // Not again before its time.
    assert_exit(&send(&db, &server.url()), 0);
    assert_eq!(text_rows(&db, &class(later)).await, ["temporary 1"]);

    // Its time has come, on its last attempt: failed for good.
    db.execute_raw(&format!(
        "update notifications set next_attempt_at = '{}', attempts = {} where booking_id = {later} and kind = 'confirmation'",
        ts(now() - Duration::minutes(1)),
        datenwart::domain::delivery::MAX_ATTEMPTS - 1
    ))
    .await;
    let out = send(&db, &server.url());
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("failed for good 1"),
        "{}",
        stdout(&out)
    );
    assert_eq!(status_of(&db, later, "confirmation").await, "failed");
    assert_eq!(
        text_rows(&db, &class(later)).await,
        [format!(
            "temporary {}",
            datenwart::domain::delivery::MAX_ATTEMPTS
        )]
    );
    assert!(server.received_by("reject.me@example.com").is_empty());
    assert!(server.received_by("later.please@example.com").is_empty());
}

async fn a_server_that_cannot_be_reached_exits_1_and_leaves_everything_queued(db: TestDb) {
    let ctx = setup(&db).await;
    let (_, booking) = book(&ctx, CARLA, false).await;
    let closed = format!("smtp://127.0.0.1:{}?tls=none", free_port());
    let out = send(&db, &closed);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("cannot deliver through"),
        "{}",
        stderr(&out)
    );
    assert_eq!(status_of(&db, booking, "confirmation").await, "queued");
    assert_eq!(
        db.count("select count(*) from notifications where attempts > 0")
            .await,
        0
    );

    // Usage errors: exit 2, and a password never appears.
    let out = cli::run(&db, &["send"]);
    assert_exit(&out, 2);
    let out = cli::run(
        &db,
        &["send", "--smtp-url", "smtp://dw:geheim@mail.example.de"],
    );
    assert_exit(&out, 2);
    assert!(!stderr(&out).contains("geheim"), "{}", stderr(&out));
    let mut cmd = cli::command(
        &db.url,
        &shipped_policies(),
        &["send", "--smtp-url", "smtp://dw@127.0.0.1:1?tls=none"],
    );
    cmd.env("DATENWART_SMTP_PASSWORD", "geheim-42");
    let out = cli::output(cmd);
    assert_exit(&out, 1);
    assert!(!stderr(&out).contains("geheim-42"), "{}", stderr(&out));
}

async fn two_send_processes_at_once_deliver_each_message_exactly_once(db: TestDb) {
    let Some(server) = SmtpServer::start() else {
        return;
    };
    let ctx = setup(&db).await;
    for i in 0..25 {
        let email: &'static str = Box::leak(format!("person{i}@example.org").into_boxed_str());
        book(&ctx, citizen(email), false).await;
    }
    let expected = db
        .count("select count(*) from notifications where channel = 'email'")
        .await;
    assert_eq!(expected, 50);

    let spawn = || {
        let mut cmd = cli::command(
            &db.url,
            &shipped_policies(),
            &["send", "--smtp-url", &server.url()],
        );
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn().unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert_exit(&out, 0);
    }
    let mails = server.received();
    let ids: HashSet<String> = mails
        .iter()
        .map(|m| m.raw_header("Message-ID").unwrap())
        .collect();
    assert_eq!(mails.len() as i64, expected, "each message once");
    assert_eq!(ids.len() as i64, expected);
    assert_eq!(
        db.count("select count(*) from notifications where status = 'sent' and attempts = 1")
            .await,
        expected
    );
}

/// A run greets the server once per pooled connection, not once per message; a refused
/// recipient closes only its own connection, and the messages after it still go out.
async fn one_run_keeps_its_connections_open_and_a_refusal_does_not_break_the_rest(db: TestDb) {
    let Some(server) = SmtpServer::start() else {
        return;
    };
    let ctx = setup(&db).await;
    for i in 0..30 {
        let email: &'static str = if i == 7 {
            "reject.me@example.org"
        } else {
            Box::leak(format!("person{i}@example.org").into_boxed_str())
        };
        book(&ctx, citizen(email), false).await;
    }
    // 30 confirmations and 30 office copies.
    let out = send(&db, &server.url());
    assert_exit(&out, 0);
    let mails = server.received();
    assert_eq!(mails.len(), 59, "all but the refused one arrived");
    assert_eq!(
        db.count("select count(*) from notifications where status = 'sent'")
            .await,
        59
    );
    assert_eq!(
        db.count("select count(*) from notifications where status = 'failed'")
            .await,
        1
    );
    // The connection check, then at most one connection per message in flight, plus one
    // to replace the connection the refusal closed: far fewer than 60.
    let greetings = server.greetings();
    assert!(
        (1..=datenwart::mail::smtp::PARALLEL + 2).contains(&greetings),
        "{greetings} connections for 60 messages"
    );
}

async fn a_claim_whose_worker_died_is_taken_again_and_sent_with_the_same_message_id(db: TestDb) {
    let Some(server) = SmtpServer::start() else {
        return;
    };
    let ctx = setup(&db).await;
    let (_, booking) = book(&ctx, CARLA, false).await;
    // A worker claims everything and dies before it marks anything.
    let claimed = ctx
        .store
        .claim_notifications(&Claim {
            channel: datenwart::domain::delivery::Channel::Email,
            worker: "send:dead".into(),
            now: now(),
            until: now() + Duration::minutes(10),
            limit: 10,
            sender_domains: BTreeMap::from([(OE.to_owned(), "oer-erkenschwick.de".to_owned())]),
        })
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let first_id = claimed
        .iter()
        .find(|n| n.kind == "confirmation")
        .unwrap()
        .message_id
        .clone();

    // While its claim lasts, no other run takes the messages.
    let out = send(&db, &server.url());
    assert_exit(&out, 0);
    assert!(server.received().is_empty());
    assert_eq!(status_of(&db, booking, "confirmation").await, "claimed");

    // Its lease ends: the next run sends them, with the Message-ID of the first claim.
    db.execute_raw(&format!(
        "update notifications set claimed_until = '{}' where claimed_by = 'send:dead'",
        ts(now() - Duration::seconds(1))
    ))
    .await;
    assert_exit(&send(&db, &server.url()), 0);
    let mails = server.received_by(CARLA.email);
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].raw_header("Message-ID").unwrap(), first_id);
    assert_eq!(status_of(&db, booking, "confirmation").await, "sent");
    assert_eq!(
        text_rows(
            &db,
            &format!(
                "select cast(attempts as text) from notifications where booking_id = {booking} and kind = 'confirmation'"
            )
        )
        .await,
        ["2"]
    );
}

async fn a_restricted_persons_messages_wait_and_an_erased_persons_are_never_sent(db: TestDb) {
    let Some(server) = SmtpServer::start() else {
        return;
    };
    let ctx = setup(&db).await;
    let (_, carla) = book(&ctx, CARLA, false).await;
    let erik = citizen("erik.lange@example.org");
    let (_, erik_booking) = book(&ctx, erik, false).await;

    assert_exit(
        &cli::run(
            &db,
            &[
                "restrict",
                "--identity-checked-by",
                "in-person",
                "--email",
                CARLA.email,
                "--all-tenants",
                "--reason",
                "Richtigkeit bestritten",
            ],
        ),
        0,
    );
    assert_exit(
        &cli::run(
            &db,
            &[
                "erase",
                "--identity-checked-by",
                "in-person",
                "--email",
                erik.email,
                "--all-tenants",
                "--yes",
            ],
        ),
        0,
    );
    let out = send(&db, &server.url());
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("2 held"), "{}", stdout(&out));
    assert!(server.received().is_empty(), "nothing for Carla or Erik");
    assert_eq!(status_of(&db, carla, "confirmation").await, "queued");
    assert_eq!(
        db.count(&format!(
            "select count(*) from notifications where booking_id = {erik_booking}"
        ))
        .await,
        0,
        "erasure deleted Erik's messages"
    );

    let notice = tempfile::tempdir().unwrap();
    let folder = notice.path().join("vorgang");
    assert_exit(
        &cli::run(
            &db,
            &[
                "restrict",
                "--identity-checked-by",
                "in-person",
                "--email",
                CARLA.email,
                "--all-tenants",
                "--lift",
                "--out",
                folder.to_str().unwrap(),
            ],
        ),
        0,
    );
    let mut notice: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            p.extension().unwrap().to_string_lossy().into_owned()
        })
        .collect();
    notice.sort();
    assert_eq!(
        notice,
        ["html", "pdf"],
        "the notice of Art. 18(3) is written with the lifting, as HTML and PDF"
    );
    assert_exit(&send(&db, &server.url()), 0);
    assert_eq!(server.received_by(CARLA.email).len(), 1);
    assert_eq!(server.received_by(SENDER).len(), 1);
    assert!(server.received_by(erik.email).is_empty());
}

async fn sent_at_starts_the_retention_period_of_a_sent_notification(db: TestDb) {
    let Some(server) = SmtpServer::start() else {
        return;
    };
    let ctx = setup(&db).await;
    let (_, booking) = book(&ctx, CARLA, true).await;
    assert_exit(&send(&db, &server.url()), 0);
    let of_booking = format!("select count(*) from notifications where booking_id = {booking}");
    assert_eq!(db.count(&of_booking).await, 3);

    assert_eq!(
        db.count(&format!("{of_booking} and sent_at is not null"))
            .await,
        2,
        "send set sent_at"
    );
    // `retention run` acts at the present only, so the sending is moved into the past.
    let sent_ago = |days: i64| {
        format!(
            "update notifications set sent_at = '{}' where booking_id = {booking} and sent_at is not null",
            ts(now() - Duration::days(days))
        )
    };
    let run = || cli::run(&db, &["retention", "run", "--tenant", OE, "--yes"]);

    // Sent six days ago: kept (the rule is 7 days after sent_at).
    db.execute_raw(&sent_ago(6)).await;
    assert_exit(&run(), 0);
    assert_eq!(db.count(&of_booking).await, 3);

    // Eight days ago: the two sent e-mails are deleted; the SMS reminder, never sent,
    // waits (the booking itself is anonymized 30 days after the appointment).
    db.execute_raw(&sent_ago(8)).await;
    assert_exit(&run(), 0);
    assert_eq!(db.count(&of_booking).await, 1);
    assert_eq!(status_of(&db, booking, "sms_reminder").await, "queued");
}

async fn serve_with_send_every_delivers_what_is_queued_while_it_runs(db: TestDb) {
    let Some(server) = SmtpServer::start() else {
        return;
    };
    let ctx = setup(&db).await;
    book(&ctx, CARLA, false).await;
    let mut serve = cli::command(
        &db.url,
        &shipped_policies(),
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--send-every",
            "1s",
            "--smtp-url",
            &server.url(),
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while server.received().len() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = serve.kill();
    let _ = serve.wait();
    assert_eq!(server.received_by(CARLA.email).len(), 1);
    assert_eq!(server.received_by(SENDER).len(), 1);

    // A wrong SMTP setting stops serve before it listens.
    let out = cli::run(
        &db,
        &["serve", "--listen", "127.0.0.1:0", "--send-every", "30s"],
    );
    assert_exit(&out, 2);
}

async fn a_confirmation_whose_appointment_has_begun_is_not_sent(db: TestDb) {
    let Some(server) = SmtpServer::start() else {
        return;
    };
    let ctx = setup(&db).await;
    let (_, booking) = book(&ctx, CARLA, false).await;
    // The server was down until after the appointment began.
    db.execute_raw(&format!(
        "update bookings set appointment_start = '{}' where id = {booking}",
        ts(now() - Duration::minutes(5))
    ))
    .await;
    let out = send(&db, &server.url());
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("1 confirmation(s) or reminder(s) not sent"),
        "{}",
        stdout(&out)
    );
    assert!(server.received_by(CARLA.email).is_empty());
    assert_eq!(status_of(&db, booking, "confirmation").await, "cancelled");
    // The office copy still goes: it is the office's record of the booking.
    assert_eq!(server.received_by(SENDER).len(), 1);
}

const BENTJEN: &str = "Bentjen Software GmbH, Hebelweg 8, 76275 Ettlingen";

/// Today in Germany, as `requests told` counts days.
fn today() -> chrono::NaiveDate {
    now().with_timezone(&chrono_tz::Europe::Berlin).date_naive()
}

/// The request id of the line "request N: … recipient(s) to tell" in a command's output.
fn request_to_tell(out: &str) -> i64 {
    let line = out
        .lines()
        .find(|l| l.contains("recipient(s) to tell (Art. 19)"))
        .unwrap_or_else(|| panic!("no recipients to tell in: {out}"));
    line.trim_start_matches("request ")
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

async fn a_sent_message_is_recorded_as_a_disclosure_and_a_correction_lists_whom_to_tell(
    db: TestDb,
) {
    let Some(server) = SmtpServer::start() else {
        return;
    };
    let ctx = setup(&db).await;
    book(&ctx, CARLA, true).await;
    // Nothing is disclosed before anything is handed over.
    assert_eq!(db.count("select count(*) from disclosures").await, 0);
    assert_exit(&send(&db, &server.url()), 0);

    // The confirmation and the office copy passed the mail server of the operator the
    // policy names (`receives = ["email"]`): two disclosures to it, none to the SMS
    // provider (the reminder is still queued), and no address or text in them.
    let rows = text_rows(
        &db,
        "select recipient || '|' || recipient_role || '|' || kind || '|' || categories
         from disclosures order by kind",
    )
    .await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows[0].starts_with(&format!("{BENTJEN}|processor|confirmation|")),
        "{rows:?}"
    );
    assert!(
        rows[1].starts_with(&format!("{BENTJEN}|processor|office_copy|")),
        "{rows:?}"
    );
    assert!(
        rows[1].contains("phone") && !rows[0].contains("phone"),
        "{rows:?}"
    );
    for r in &rows {
        assert!(!r.contains("example.net") && !r.contains("Carla"), "{r}");
    }
    let sent_again = send(&db, &server.url());
    assert_exit(&sent_again, 0);
    assert_eq!(
        db.count("select count(*) from disclosures").await,
        2,
        "once per handover"
    );

    // The Auskunft names the actual recipient (Art. 15(1)(c)).
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("auskunft");
    assert_exit(
        &cli::run(
            &db,
            &[
                "export",
                "--identity-checked-by",
                "in-person",
                "--email",
                CARLA.email,
                "--tenant",
                OE,
                "--out",
                folder.to_str().unwrap(),
            ],
        ),
        0,
    );
    let letter = std::fs::read_to_string(folder.join("auskunft.html")).unwrap();
    assert!(
        letter.contains("Tatsächlich erhalten haben Ihre Daten"),
        "{letter}"
    );
    assert!(
        letter.contains("Bentjen Software GmbH, Hebelweg 8, 76275 Ettlingen (Auftragsverarbeiter"),
        "{letter}"
    );
    let csv = std::fs::read_to_string(folder.join("empfaenger.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        3,
        "a header and two disclosures: {csv}"
    );
    assert!(
        csv.starts_with("tenant,recipient,recipient_role,categories,kind,disclosed_at"),
        "{csv}"
    );

    // A rectification lists the recipient to tell and opens it in the register.
    let out = cli::run(
        &db,
        &[
            "correct",
            "--identity-checked-by",
            "in-person",
            "--email",
            CARLA.email,
            "--tenant",
            OE,
            "--set",
            "last_name=Weiß-Berger",
        ],
    );
    assert_exit(&out, 0);
    let id = request_to_tell(&stdout(&out));
    assert!(stdout(&out).contains(BENTJEN), "{}", stdout(&out));
    let untold = cli::run(&db, &["--format", "json", "requests", "list", "--untold"]);
    assert_exit(&untold, 0);
    let ids: Vec<i64> = json(&untold)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![id]);
    let shown = json(&cli::run(
        &db,
        &["--format", "json", "requests", "show", &id.to_string()],
    ));
    assert_eq!(shown["request"]["kind"], "rectification");
    let recipients = shown["recipients_to_tell"].as_array().unwrap();
    assert_eq!(recipients.len(), 1);
    assert_eq!(recipients[0]["recipient"], BENTJEN);
    assert!(recipients[0]["told_on"].is_null(), "{shown}");

    // Marking told: a wrong name, a future day, an unknown request are refused.
    let id_s = id.to_string();
    let o = cli::run(&db, &["requests", "told", &id_s, "--recipient", "LOX24"]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("not a recipient of request"),
        "{}",
        stderr(&o)
    );
    let tomorrow = (today() + Duration::days(1)).to_string();
    let o = cli::run(
        &db,
        &[
            "requests",
            "told",
            &id_s,
            "--recipient",
            "bentjen",
            "--date",
            &tomorrow,
        ],
    );
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("in the future"), "{}", stderr(&o));
    assert_exit(
        &cli::run(
            &db,
            &["requests", "told", "99999", "--recipient", "bentjen"],
        ),
        3,
    );
    assert_eq!(
        db.count("select count(*) from recipient_notices where told_on is not null")
            .await,
        0
    );

    let o = cli::run(&db, &["requests", "told", &id_s, "--recipient", "bentjen"]);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains(&today().to_string()), "{}", stdout(&o));
    let o = cli::run(&db, &["requests", "told", &id_s, "--recipient", "bentjen"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("was told on"), "{}", stderr(&o));
    let untold = cli::run(&db, &["--format", "json", "requests", "list", "--untold"]);
    assert!(json(&untold).as_array().unwrap().is_empty());
    let audit = cli::run(
        &db,
        &[
            "--format",
            "json",
            "audit",
            "list",
            "--action",
            "request.told",
        ],
    );
    assert_eq!(json(&audit).as_array().unwrap().len(), 1);
}

async fn a_correction_reaches_every_queued_copy_and_send_delivers_the_new_values(db: TestDb) {
    let Some(server) = SmtpServer::start() else {
        return;
    };
    let ctx = setup(&db).await;
    book(&ctx, CARLA, true).await;
    let out = cli::run(
        &db,
        &[
            "correct",
            "--identity-checked-by",
            "in-person",
            "--email",
            CARLA.email,
            "--tenant",
            OE,
            "--set",
            "first_name=Karla",
            "--set",
            "last_name=Weiß-Berger",
            "--set",
            "phone=0152 1223648",
        ],
    );
    assert_exit(&out, 0);
    // Nothing was sent yet, so nobody is to be told.
    assert!(!stdout(&out).contains("to tell"), "{}", stdout(&out));

    // Confirmation, office copy and SMS reminder carry the corrected values, in subject,
    // body and recipient, and no old value is left in any notification.
    let texts = text_rows(
        &db,
        "select coalesce(recipient, '') || '|' || coalesce(subject, '') || '|' || body from notifications",
    )
    .await;
    assert_eq!(texts.len(), 3);
    for t in &texts {
        assert!(
            !t.contains("Carla") && !t.contains("Weiß ") && !t.contains("5550123"),
            "old value in {t}"
        );
    }
    let office = texts.iter().find(|t| t.contains("Online-Buchung")).unwrap();
    assert!(
        office.contains("Name: Karla Weiß-Berger") && office.contains("1223648"),
        "{office}"
    );
    let sms = texts.iter().find(|t| t.contains("Erinnerung:")).unwrap();
    assert!(
        sms.contains("1223648"),
        "the reminder goes to the new number: {sms}"
    );

    assert_exit(&send(&db, &server.url()), 0);
    let mails = server.received_by(CARLA.email);
    assert_eq!(mails.len(), 1);
    let text = mails[0].parsed().body_text(0).unwrap().into_owned();
    assert!(text.contains("Guten Tag Karla Weiß-Berger"), "{text}");
    assert!(!text.contains("Carla"), "{text}");
    let copies = server.received_by(SENDER);
    assert_eq!(copies.len(), 1);
    let copy = copies[0].parsed().body_text(0).unwrap().into_owned();
    assert!(copy.contains("Name: Karla Weiß-Berger"), "{copy}");
    assert!(
        copy.contains("1223648") && !copy.contains("5550123"),
        "{copy}"
    );
}

async fn erasure_and_restriction_open_the_recipients_to_tell(db: TestDb) {
    let Some(server) = SmtpServer::start() else {
        return;
    };
    let ctx = setup(&db).await;
    book(&ctx, CARLA, false).await;
    let erik = citizen("erik.lange@example.org");
    book(&ctx, erik, false).await;
    let nora = citizen("nora.neu@example.org");
    assert_exit(&send(&db, &server.url()), 0);
    book(&ctx, nora, false).await; // booked after the send: nothing of hers went out

    let o = cli::run(
        &db,
        &[
            "restrict",
            "--identity-checked-by",
            "in-person",
            "--email",
            CARLA.email,
            "--tenant",
            OE,
            "--reason",
            "Richtigkeit bestritten",
        ],
    );
    assert_exit(&o, 0);
    let restricted = request_to_tell(&stdout(&o));
    let o = cli::run(
        &db,
        &[
            "erase",
            "--identity-checked-by",
            "in-person",
            "--email",
            erik.email,
            "--tenant",
            OE,
            "--yes",
        ],
    );
    assert_exit(&o, 0);
    let erased = request_to_tell(&stdout(&o));
    let o = cli::run(
        &db,
        &[
            "erase",
            "--identity-checked-by",
            "in-person",
            "--email",
            nora.email,
            "--tenant",
            OE,
            "--yes",
        ],
    );
    assert_exit(&o, 0);
    assert!(!stdout(&o).contains("to tell"), "{}", stdout(&o));

    for id in [restricted, erased] {
        let shown = json(&cli::run(
            &db,
            &["--format", "json", "requests", "show", &id.to_string()],
        ));
        let r = shown["recipients_to_tell"].as_array().unwrap();
        assert_eq!(r.len(), 1, "{shown}");
        assert_eq!(r[0]["recipient"], BENTJEN);
    }
    // The erased person's disclosure records went with the erasure; the duty to tell stays.
    let erik_ref = people::subject_ref(&ctx, erik.email).await;
    assert_eq!(
        db.count(&format!(
            "select count(*) from disclosures where subject_ref = '{}'",
            erik_ref.as_str()
        ))
        .await,
        0
    );
    assert_eq!(
        db.count("select count(*) from recipient_notices where told_on is null")
            .await,
        2
    );
}

/// The Message-ID header of an `.eml` file.
fn message_id_of(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .unwrap_or_else(|| panic!("no Message-ID in {}", path.display()))
        .trim()
        .to_owned()
}

fn eml_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|list| list.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.retain(|p: &std::path::PathBuf| p.extension().is_some_and(|e| e == "eml"));
    files.sort();
    files
}

async fn the_outbox_replies_go_out_once_and_what_is_no_tenants_reply_is_set_aside(db: TestDb) {
    let Some(server) = SmtpServer::start() else {
        return;
    };
    let ctx = setup(&db).await;
    let anna = citizen("anna.outbox@example.org");
    book(&ctx, CARLA, false).await;
    book(&ctx, anna, false).await;
    let work = tempfile::tempdir().unwrap();
    let outbox = work.path().join("outbox");
    let outbox_arg = outbox.to_str().unwrap();
    // Two withdrawals by letter: each answered with a reply written to the outbox.
    for who in [CARLA.email, anna.email] {
        let out = cli::run(
            &db,
            &[
                "withdrawals",
                "record",
                "--tenant",
                OE,
                "--email",
                who,
                "--channel",
                "letter",
                "--outbox",
                outbox_arg,
            ],
        );
        assert_exit(&out, 0);
    }
    let replies = eml_files(&outbox);
    assert_eq!(replies.len(), 2, "{replies:?}");
    let ids: HashSet<String> = replies.iter().map(|p| message_id_of(p)).collect();
    // Someone who can write into the outbox tries to use it as a relay, and a reply goes to
    // an address the server refuses for good.
    std::fs::write(
        outbox.join("20260101T000000Z-forged.eml"),
        "From: chef@evil.example\r\nTo: victim@example.org\r\nSubject: Hallo\r\n\
         Message-ID: <forged@evil.example>\r\n\r\nText\r\n",
    )
    .unwrap();
    std::fs::write(
        outbox.join("20260101T000001Z-refused.eml"),
        format!(
            "From: {SENDER}\r\nTo: reject.me@example.org\r\nSubject: Re: Widerruf\r\n\
             Message-ID: <refused@oer-erkenschwick.de>\r\n\r\nText\r\n"
        ),
    )
    .unwrap();

    // Two workers at once: each reply goes out once.
    let spawn = || {
        let mut cmd = cli::command(
            &db.url,
            &shipped_policies(),
            &[
                "--format",
                "json",
                "send",
                "--smtp-url",
                &server.url(),
                "--outbox",
                outbox_arg,
            ],
        );
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn().unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let mut sent = 0;
    let mut failed = 0;
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert_exit(&out, 0);
        let report = json(&out);
        sent += report["outbox"]["sent"].as_u64().unwrap();
        failed += report["outbox"]["failed"].as_u64().unwrap();
        let text = stdout(&out) + &stderr(&out);
        for secret in [CARLA.email, anna.email, "victim@example.org"] {
            assert!(!text.contains(secret), "{secret} in the output: {text}");
        }
    }
    assert_eq!((sent, failed), (2, 2));
    let replies: Vec<_> = server
        .received()
        .into_iter()
        .filter(|m| m.raw_header("Auto-Submitted").is_some())
        .collect();
    assert_eq!(replies.len(), 2, "each reply once");
    let arrived: HashSet<String> = replies
        .iter()
        .map(|m| m.raw_header("Message-ID").unwrap())
        .collect();
    assert_eq!(arrived, ids, "sent with the Message-ID the file carries");
    for m in &replies {
        assert_eq!(m.raw_header("From").as_deref(), Some(SENDER));
        assert_eq!(
            m.raw_header("X-MailFrom").as_deref(),
            Some(SENDER),
            "the envelope sender"
        );
    }
    assert!(
        server
            .received()
            .iter()
            .all(|m| !m.text().contains("victim@example.org")),
        "the outbox is no relay"
    );
    // Sent replies are gone; what was refused waits for the office, readable by it alone.
    assert!(eml_files(&outbox).is_empty(), "{:?}", eml_files(&outbox));
    let aside = outbox.join("fehlgeschlagen");
    let names: Vec<String> = eml_files(&aside)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "20260101T000000Z-forged.eml",
            "20260101T000001Z-refused.eml"
        ]
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&aside).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
    // A second run finds nothing more to send.
    let out = cli::run(
        &db,
        &["send", "--smtp-url", &server.url(), "--outbox", outbox_arg],
    );
    assert_exit(&out, 0);
    assert_eq!(
        server
            .received()
            .iter()
            .filter(|m| m.raw_header("Auto-Submitted").is_some())
            .count(),
        2
    );
    // The audit trail counts, and names nobody.
    let audit = db
        .text("select cast(details as text) from audit_log where action = 'outbox.send' order by id limit 1")
        .await;
    assert!(
        !audit.contains("example.org") && !audit.contains("example.net"),
        "{audit}"
    );
}
