//! `datenwart send` delivering SMS reminders through LOX24's API — a stand-in in the test
//! process that checks the key and the body as LOX24 does — on both backends: a reminder
//! goes when due and not before, once, to the number in E.164 with a short text and no
//! name; refusals are retried or failed for good; two workers at once send each SMS once;
//! a restricted person's SMS wait and an erased person's are gone; the handover to LOX24
//! is recorded as a disclosure; and the key is never shown.

#[macro_use]
mod common;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use common::cli::{self, assert_exit, json, stderr, stdout};
use common::lox24::Lox24;
use common::people::{self, Citizen};
use common::smtp::SmtpServer;
use common::{TestDb, fixture, ready, shipped_policies};
use datenwart::ops::{Context, seeding};
use std::collections::HashSet;
use std::process::{Command, Output, Stdio};

const OE: &str = "oer-erkenschwick";
const KEY: &str = "1234567:e3f3a759b6677959b6ebfc0123456789";
const LOX24: &str = "LOX24 GmbH, Seestraße 109, 13353 Berlin";

const CARLA: Citizen = Citizen {
    first: "Carla",
    last: "Weiß",
    email: "carla.weiss@example.net",
    phone: "0171 5550123",
};
const CARLA_E164: &str = "+491715550123";

fn now() -> DateTime<Utc> {
    datenwart::domain::time::now()
}

fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// A citizen with a mobile number of their own.
fn citizen(n: u32) -> Citizen {
    let email: &'static str = Box::leak(format!("person{n}@example.org").into_boxed_str());
    let phone: &'static str = Box::leak(format!("0172 {:07}", 1_000_000 + n).into_boxed_str());
    Citizen {
        first: "Test",
        last: "Person",
        email,
        phone,
    }
}

fn e164(c: &Citizen) -> String {
    datenwart::domain::sms::e164(c.phone).unwrap()
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

/// Books `who` at Oer-Erkenschwick with an SMS reminder; returns the booking's id.
async fn book(ctx: &Context, who: Citizen) -> i64 {
    let slot = people::first_free_slot(ctx, OE, now()).await;
    let form = datenwart::domain::booking::BookingForm {
        sms_reminder: true,
        ..who.form(slot)
    };
    people::book(ctx, OE, &form, now(), None).await.booking_id
}

/// Makes every queued SMS reminder due (as if its 24 hours before had come).
async fn reminders_due(db: &TestDb) {
    db.execute_raw(&format!(
        "update notifications set send_after = '{}' where channel = 'sms' and status = 'queued'",
        ts(now() - Duration::minutes(1))
    ))
    .await;
}

/// `datenwart send` with the SMS gateway `gateway` only, its key in the environment.
fn send_cmd(db: &TestDb, gateway: &Lox24, extra: &[&str]) -> Command {
    let mut args = vec!["send", "--sms-url", gateway.url.as_str()];
    args.extend_from_slice(extra);
    let mut cmd = cli::command(&db.url, &shipped_policies(), &args);
    cmd.env("DATENWART_SMS_KEY", &gateway.key)
        .env_remove("DATENWART_SMS_URL")
        .env_remove("DATENWART_SMTP_URL");
    cmd
}

fn send(db: &TestDb, gateway: &Lox24) -> Output {
    let out = cli::output(send_cmd(db, gateway, &[]));
    assert_no_secret_or_number(&out);
    out
}

/// Neither the key nor a phone number nor a name in what cron mails the operator.
#[track_caller]
fn assert_no_secret_or_number(out: &Output) {
    let all = format!("{}{}", stdout(out), stderr(out));
    for secret in [KEY, "e3f3a759", "5550123", "Carla", "example.net"] {
        assert!(!all.contains(secret), "{secret} in:\n{all}");
    }
}

async fn rows(db: &TestDb, sql: &str) -> Vec<String> {
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

/// status, error class and attempts of a booking's SMS reminder.
async fn reminder(db: &TestDb, booking: i64) -> String {
    let r = rows(
        db,
        &format!(
            "select status || ' ' || coalesce(last_error_class, '-') || ' ' || cast(attempts as text)
             from notifications where booking_id = {booking} and kind = 'sms_reminder'"
        ),
    )
    .await;
    assert_eq!(r.len(), 1);
    r[0].clone()
}

on_both_backends!(
    a_reminder_goes_to_lox24_once_when_due_and_not_before,
    refusals_are_retried_and_end_as_failed_and_an_unusable_number_is_never_sent,
    a_refused_key_or_an_unreachable_gateway_sends_nothing_and_never_shows_the_key,
    two_send_processes_at_once_send_each_sms_once,
    a_restricted_persons_sms_wait_and_an_erased_persons_are_gone,
    e_mail_and_sms_go_out_in_one_run_and_sent_at_starts_the_retention_period,
    a_claim_whose_worker_died_is_sent_again_with_the_same_id,
    serve_with_send_every_delivers_sms_with_only_a_gateway_configured,
);

async fn a_reminder_goes_to_lox24_once_when_due_and_not_before(db: TestDb) {
    let gateway = Lox24::start(KEY);
    let ctx = setup(&db).await;
    let booking = book(&ctx, CARLA).await;

    // Booked three days ahead: the reminder waits for its time, the e-mails for a server.
    let out = send(&db, &gateway);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("nothing to send"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("1 waiting for their time"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("2 e-mail(s) left queued: no SMTP server configured"),
        "{}",
        stdout(&out)
    );
    assert!(
        gateway.requests().is_empty(),
        "nothing sent before its time"
    );
    assert_eq!(reminder(&db, booking).await, "queued - 0");

    reminders_due(&db).await;
    let out = send(&db, &gateway);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("sent 1, to retry later 0, failed for good 0"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("of these SMS: sent 1"),
        "{}",
        stdout(&out)
    );
    let sent = gateway.accepted();
    assert_eq!(sent.len(), 1);
    let sms = &sent[0];
    assert_eq!(sms.phone, CARLA_E164, "E.164");
    assert_eq!(sms.sender_id, "OerErkensch");
    assert_eq!(sms.service_code, "direct");
    assert_eq!(sms.is_unicode, Some(false), "German text fits GSM-7");
    assert_eq!(
        sms.is_delete_text,
        Some(true),
        "LOX24 deletes the text once sent"
    );
    // The text: short, German, the appointment in local time, the service and reference,
    // the office, and no name.
    let reference = rows(
        &db,
        &format!("select reference from bookings where id = {booking}"),
    )
    .await
    .remove(0);
    let starts_at = rows(
        &db,
        &format!("select cast(appointment_start as text) from bookings where id = {booking}"),
    )
    .await
    .remove(0);
    // SQLite keeps RFC 3339 text, PostgreSQL prints `2026-12-04 07:00:00+00`.
    let mut starts_at = starts_at.replace(' ', "T");
    if starts_at.ends_with("+00") {
        starts_at.push_str(":00");
    }
    let starts_at = DateTime::parse_from_rfc3339(&starts_at).unwrap();
    let local = starts_at.with_timezone(&chrono_tz::Europe::Berlin);
    assert!(
        sms.text
            .contains(&local.format("%d.%m.%Y, %H:%M Uhr").to_string()),
        "local time in {}",
        sms.text
    );
    assert!(
        sms.text.starts_with("Erinnerung: Personalausweis"),
        "{}",
        sms.text
    );
    assert!(sms.text.contains(&reference), "{}", sms.text);
    assert!(!sms.text.contains("Carla") && !sms.text.contains("Weiß"));
    assert_eq!(
        datenwart::domain::sms::segments(&sms.text),
        1,
        "{}",
        sms.text
    );
    // Our Message-ID goes along, so a duplicate can be found at the provider.
    let message_id = rows(
        &db,
        &format!(
            "select message_id from notifications where booking_id = {booking} and kind = 'sms_reminder'"
        ),
    )
    .await;
    assert_eq!(
        format!("<{}>", sms.callback_data.as_deref().unwrap()),
        message_id[0]
    );
    // Sent, with sent_at and the gateway's id.
    assert_eq!(reminder(&db, booking).await, "sent - 1");
    let reply = rows(
        &db,
        &format!(
            "select smtp_reply from notifications where booking_id = {booking} and kind = 'sms_reminder' and sent_at is not null"
        ),
    )
    .await;
    assert!(reply[0].contains(&sms.uuid), "{reply:?}");
    assert_eq!(gateway.wrong_keys(), 0);

    // The handover is recorded as a disclosure to LOX24 (Art. 15(1)(c), 19): the phone
    // number, not the name or the e-mail address.
    let disclosed = rows(
        &db,
        "select recipient || '|' || recipient_role || '|' || kind || '|' || categories from disclosures",
    )
    .await;
    assert_eq!(disclosed.len(), 1, "{disclosed:?}");
    assert!(
        disclosed[0].starts_with(&format!("{LOX24}|processor|sms_reminder|")),
        "{disclosed:?}"
    );
    assert!(disclosed[0].contains("phone") && !disclosed[0].contains("5550123"));

    // Once: a second run sends nothing.
    let again = send(&db, &gateway);
    assert_exit(&again, 0);
    assert!(
        stdout(&again).contains("nothing to send"),
        "{}",
        stdout(&again)
    );
    assert_eq!(gateway.requests().len(), 1);

    // The audit names the gateway and counts, never the key or the number.
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
    // `details` is an object in the JSON output; its text is what must name nobody.
    let details = &audit[0]["details"].to_string();
    assert!(details.contains("LOX24 http://127.0.0.1"), "{details}");
    assert!(
        !details.contains(KEY) && !details.contains("5550123"),
        "{details}"
    );
}

async fn refusals_are_retried_and_end_as_failed_and_an_unusable_number_is_never_sent(db: TestDb) {
    let gateway = Lox24::start(KEY);
    let ctx = setup(&db).await;
    let busy = citizen(1);
    let refused = citizen(2);
    let landline = Citizen {
        phone: "02368 691-0",
        ..citizen(3)
    };
    let b_busy = book(&ctx, busy).await;
    let b_refused = book(&ctx, refused).await;
    let b_landline = book(&ctx, landline).await;
    gateway.answer(&e164(&busy), 503);
    gateway.answer(&e164(&refused), 400);
    reminders_due(&db).await;

    let out = send(&db, &gateway);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("sent 0, to retry later 1, failed for good 2"),
        "{}",
        stdout(&out)
    );
    assert_eq!(reminder(&db, b_busy).await, "queued temporary 1");
    assert_eq!(reminder(&db, b_refused).await, "failed permanent 1");
    assert_eq!(reminder(&db, b_landline).await, "failed address 1");
    // The landline never reached the gateway.
    let asked: Vec<String> = gateway.requests().into_iter().map(|(p, _)| p).collect();
    assert_eq!(asked, [e164(&busy), e164(&refused)]);
    assert!(
        stderr(&out).contains("the stored phone number is unusable"),
        "{}",
        stderr(&out)
    );

    // Listed as failed for good, without the number.
    let listed = cli::run(&db, &["--format", "json", "send", "--list-failed"]);
    assert_exit(&listed, 0);
    let classes: HashSet<String> = json(&listed)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r["kind"], r["error_class"]))
        .collect();
    assert_eq!(
        classes,
        HashSet::from([
            "\"sms_reminder\" \"permanent\"".to_owned(),
            "\"sms_reminder\" \"address\"".to_owned()
        ])
    );
    assert!(!stdout(&listed).contains("0172"));

    // Not again before its next attempt.
    assert_exit(&send(&db, &gateway), 0);
    assert_eq!(gateway.requests().len(), 2);

    // Its time has come, and the gateway is back: sent.
    db.execute_raw(&format!(
        "update notifications set next_attempt_at = '{}' where booking_id = {b_busy}",
        ts(now() - Duration::minutes(1))
    ))
    .await;
    gateway.answer(&e164(&busy), 429);
    let out = send(&db, &gateway);
    // Too many requests: the run's SMS wait, and cron hears of it.
    assert_exit(&out, 1);
    assert!(stdout(&out).contains("stopped early"), "{}", stdout(&out));
    assert_eq!(reminder(&db, b_busy).await, "queued temporary 2");

    // On its last attempt a temporary refusal fails it for good.
    db.execute_raw(&format!(
        "update notifications set next_attempt_at = '{}', attempts = {} where booking_id = {b_busy} and kind = 'sms_reminder'",
        ts(now() - Duration::minutes(1)),
        datenwart::domain::delivery::MAX_ATTEMPTS - 1
    ))
    .await;
    gateway.answer(&e164(&busy), 502);
    let out = send(&db, &gateway);
    assert_exit(&out, 0);
    assert_eq!(
        reminder(&db, b_busy).await,
        format!(
            "failed temporary {}",
            datenwart::domain::delivery::MAX_ATTEMPTS
        )
    );
    assert!(gateway.accepted().is_empty());
    assert_eq!(db.count("select count(*) from disclosures").await, 0);
}

async fn a_refused_key_or_an_unreachable_gateway_sends_nothing_and_never_shows_the_key(db: TestDb) {
    let gateway = Lox24::start(KEY);
    let ctx = setup(&db).await;
    let booking = book(&ctx, CARLA).await;
    reminders_due(&db).await;

    // A wrong key: refused at the check, nothing claimed, exit 1, the key not shown.
    let wrong = "7654321:dieserschluesselistfalsch";
    let mut cmd = send_cmd(&db, &gateway, &[]);
    cmd.env("DATENWART_SMS_KEY", wrong);
    let out = cli::output(cmd);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("cannot deliver SMS through LOX24")
            && stderr(&out).contains("refused the key (401)"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("dieserschluessel"),
        "{}",
        stderr(&out)
    );
    assert!(gateway.requests().is_empty());
    assert_eq!(reminder(&db, booking).await, "queued - 0");

    // The key from a file works the same, and -v logging does not show it either.
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("lox24.key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    let mut cmd = cli::command(
        &db.url,
        &shipped_policies(),
        &[
            "-v",
            "send",
            "--sms-url",
            &gateway.url,
            "--sms-key-file",
            key_file.to_str().unwrap(),
        ],
    );
    cmd.env_remove("DATENWART_SMS_KEY");
    let out = cli::output(cmd);
    assert_exit(&out, 0);
    assert_no_secret_or_number(&out);
    assert_eq!(gateway.accepted().len(), 1);

    // A gateway that does not answer: exit 1, nothing claimed.
    let ctx2 = &ctx;
    let other = book(ctx2, citizen(7)).await;
    reminders_due(&db).await;
    let closed = format!("http://127.0.0.1:{}", common::smtp::free_port());
    let mut cmd = cli::command(
        &db.url,
        &shipped_policies(),
        &["send", "--sms-url", &closed],
    );
    cmd.env("DATENWART_SMS_KEY", KEY);
    let out = cli::output(cmd);
    assert_exit(&out, 1);
    assert_no_secret_or_number(&out);
    assert_eq!(reminder(&db, other).await, "queued - 0");

    // An account without funds: the run stops at the first SMS, which waits for its next
    // attempt, exit 1.
    gateway.answer(&e164(&citizen(7)), 402);
    let out = send(&db, &gateway);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("no funds left (402)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(reminder(&db, other).await, "queued connection 1");

    // Usage errors, exit 2: no key; a key in the URL; plain http to another host; a bad
    // sender; neither SMTP nor SMS given.
    let mut cmd = cli::command(
        &db.url,
        &shipped_policies(),
        &["send", "--sms-url", &gateway.url],
    );
    cmd.env_remove("DATENWART_SMS_KEY");
    let out = cli::output(cmd);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("DATENWART_SMS_KEY"),
        "{}",
        stderr(&out)
    );
    for (url, extra) in [
        ("https://1234567:geheim@api.lox24.eu", None),
        ("http://api.lox24.eu", None),
        ("https://api.lox24.eu", Some("Stadt Oer-Erkenschwick")),
    ] {
        let mut args = vec!["send", "--sms-url", url];
        if let Some(sender) = extra {
            args.extend(["--sms-sender", sender]);
        }
        let mut cmd = cli::command(&db.url, &shipped_policies(), &args);
        cmd.env("DATENWART_SMS_KEY", KEY);
        let out = cli::output(cmd);
        assert_exit(&out, 2);
        assert!(!stderr(&out).contains("geheim"), "{}", stderr(&out));
        assert_no_secret_or_number(&out);
    }
    let mut cmd = cli::command(&db.url, &shipped_policies(), &["send"]);
    cmd.env_remove("DATENWART_SMS_URL")
        .env_remove("DATENWART_SMTP_URL");
    let out = cli::output(cmd);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("--smtp-url") && stderr(&out).contains("--sms-url"),
        "{}",
        stderr(&out)
    );
}

async fn two_send_processes_at_once_send_each_sms_once(db: TestDb) {
    let gateway = Lox24::start(KEY);
    let ctx = setup(&db).await;
    for i in 0..30 {
        book(&ctx, citizen(100 + i)).await;
    }
    reminders_due(&db).await;
    let spawn = || {
        let mut cmd = send_cmd(&db, &gateway, &[]);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn().unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert_exit(&out, 0);
    }
    let sent = gateway.accepted();
    assert_eq!(sent.len(), 30, "each SMS once");
    let ids: HashSet<_> = sent.iter().map(|s| s.callback_data.clone()).collect();
    let phones: HashSet<_> = sent.iter().map(|s| s.phone.clone()).collect();
    assert_eq!((ids.len(), phones.len()), (30, 30));
    assert_eq!(
        db.count(
            "select count(*) from notifications where channel = 'sms' and status = 'sent' and attempts = 1"
        )
        .await,
        30
    );
    assert_eq!(
        db.count("select count(*) from disclosures where kind = 'sms_reminder'")
            .await,
        30,
        "one disclosure per SMS handed over"
    );
}

async fn a_restricted_persons_sms_wait_and_an_erased_persons_are_gone(db: TestDb) {
    let gateway = Lox24::start(KEY);
    let ctx = setup(&db).await;
    let carla = book(&ctx, CARLA).await;
    let erik = citizen(9);
    let erik_booking = book(&ctx, erik).await;
    let nora = citizen(10);
    book(&ctx, nora).await;
    reminders_due(&db).await;

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
    assert_eq!(
        db.count(&format!(
            "select count(*) from notifications where booking_id = {erik_booking}"
        ))
        .await,
        0,
        "erasure deleted Erik's SMS"
    );

    let out = send(&db, &gateway);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("1 held"), "{}", stdout(&out));
    let phones: Vec<String> = gateway.accepted().into_iter().map(|s| s.phone).collect();
    assert_eq!(phones, [e164(&nora)], "only Nora's");
    assert_eq!(reminder(&db, carla).await, "queued - 0");

    // Lifted: Carla's reminder goes at the next run.
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
    assert_exit(&send(&db, &gateway), 0);
    let phones: Vec<String> = gateway.accepted().into_iter().map(|s| s.phone).collect();
    assert_eq!(phones, [e164(&nora), CARLA_E164.to_owned()]);

    // A reminder of an appointment that has begun is not sent.
    let late = citizen(11);
    let late_booking = book(&ctx, late).await;
    reminders_due(&db).await;
    db.execute_raw(&format!(
        "update bookings set appointment_start = '{}' where id = {late_booking}",
        ts(now() - Duration::minutes(5))
    ))
    .await;
    let out = send(&db, &gateway);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("1 confirmation(s) or reminder(s) not sent"),
        "{}",
        stdout(&out)
    );
    assert_eq!(reminder(&db, late_booking).await, "cancelled - 1");
    assert_eq!(gateway.accepted().len(), 2);
}

async fn e_mail_and_sms_go_out_in_one_run_and_sent_at_starts_the_retention_period(db: TestDb) {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let gateway = Lox24::start(KEY);
    let ctx = setup(&db).await;
    let booking = book(&ctx, CARLA).await;
    reminders_due(&db).await;
    let mut cmd = send_cmd(&db, &gateway, &["--smtp-url", &smtp.url()]);
    cmd.env_remove("DATENWART_SMTP_PASSWORD");
    let out = cli::output(cmd);
    assert_exit(&out, 0);
    assert_no_secret_or_number(&out);
    assert!(
        stdout(&out).contains("sent 3, to retry later 0, failed for good 0"),
        "{}",
        stdout(&out)
    );
    assert_eq!(smtp.received().len(), 2, "confirmation and office copy");
    assert_eq!(gateway.accepted().len(), 1, "the reminder");
    let of_booking = format!("select count(*) from notifications where booking_id = {booking}");
    assert_eq!(
        db.count(&format!("{of_booking} and sent_at is not null"))
            .await,
        3
    );
    // Disclosed: the mail server's operator twice, LOX24 once.
    let recipients = rows(&db, "select recipient from disclosures order by kind").await;
    assert_eq!(recipients.len(), 3, "{recipients:?}");
    assert_eq!(recipients[2], LOX24, "{recipients:?}");

    // The "7 days after sent_at" rule: kept at six days, deleted at eight — the SMS too.
    let sent_ago = |days: i64| {
        format!(
            "update notifications set sent_at = '{}' where booking_id = {booking}",
            ts(now() - Duration::days(days))
        )
    };
    let run = || cli::run(&db, &["retention", "run", "--tenant", OE, "--yes"]);
    db.execute_raw(&sent_ago(6)).await;
    assert_exit(&run(), 0);
    assert_eq!(db.count(&of_booking).await, 3);
    db.execute_raw(&sent_ago(8)).await;
    assert_exit(&run(), 0);
    assert_eq!(db.count(&of_booking).await, 0);
}

async fn a_claim_whose_worker_died_is_sent_again_with_the_same_id(db: TestDb) {
    let gateway = Lox24::start(KEY);
    let ctx = setup(&db).await;
    let booking = book(&ctx, CARLA).await;
    reminders_due(&db).await;
    // A worker claims the SMS and dies before it marks it (it may have been sent).
    let claimed = ctx
        .store
        .claim_notifications(&datenwart::store::Claim {
            channel: datenwart::domain::delivery::Channel::Sms,
            worker: "send:dead".into(),
            now: now(),
            until: now() + Duration::minutes(10),
            limit: 10,
            sender_domains: [(OE.to_owned(), "oer-erkenschwick.de".to_owned())].into(),
        })
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "the SMS only, no e-mail");
    assert_eq!(claimed[0].kind, "sms_reminder");
    let first_id = claimed[0].message_id.clone();

    // While the claim lasts, no other run takes it.
    assert_exit(&send(&db, &gateway), 0);
    assert!(gateway.requests().is_empty());
    assert_eq!(reminder(&db, booking).await, "claimed - 1");

    // Its lease ends: the next run sends it, with the id of the first claim.
    db.execute_raw(&format!(
        "update notifications set claimed_until = '{}' where claimed_by = 'send:dead'",
        ts(now() - Duration::seconds(1))
    ))
    .await;
    assert_exit(&send(&db, &gateway), 0);
    let sent = gateway.accepted();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        format!("<{}>", sent[0].callback_data.as_deref().unwrap()),
        first_id
    );
    assert_eq!(reminder(&db, booking).await, "sent - 2");
}

async fn serve_with_send_every_delivers_sms_with_only_a_gateway_configured(db: TestDb) {
    let gateway = Lox24::start(KEY);
    let ctx = setup(&db).await;
    book(&ctx, CARLA).await;
    reminders_due(&db).await;
    let mut serve = cli::command(
        &db.url,
        &shipped_policies(),
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--allow-unconfirmed",
            "--send-every",
            "1s",
            "--sms-url",
            &gateway.url,
        ],
    );
    serve
        .env("DATENWART_SMS_KEY", KEY)
        .env_remove("DATENWART_SMTP_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = serve.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while gateway.accepted().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let sent = gateway.accepted();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].phone, CARLA_E164);
    // The e-mails wait for an SMTP server.
    assert_eq!(
        db.count(
            "select count(*) from notifications where channel = 'email' and status = 'queued'"
        )
        .await,
        2
    );
}
