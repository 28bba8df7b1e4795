//! Retention on both backends: the 48-hour boundary, every kind of data and action,
//! holds and restrictions, the one-run lock (also a stale one), a run killed mid-way and
//! run again, and the self-check failing when a row resists.

#[macro_use]
mod common;

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use common::cli::{self, assert_exit, json, output};
use common::people::{self, Citizen};
use common::{Kind, TestDb, fixture, ready, shipped_policies, values};
use datenwart::domain::booking::BookingForm;
use datenwart::domain::requests::{Channel, Outcome, RequestKind};
use datenwart::ops::retention::{self, Quiet, RunReport, RunRequest};
use datenwart::ops::seeding;
use datenwart::ops::{Context, Refusal, booking};
use datenwart::store::{
    AccessLogEntry, AuditContext, HoldTarget, InboxEntry, IntakeEffect, NewRequest, RetentionStart,
    Slot, SlotFilter,
};
use std::path::Path;
use std::process::{Command, Stdio};

const R: &str = "recklinghausen";
const W: &str = "westendorf";
const OE: &str = "oer-erkenschwick";

type Who = (&'static str, &'static str, &'static str);
const ANNA: Who = ("anna.schmidt@example.com", "Anna", "Schmidt");
const BERND: Who = ("bernd.vogel@example.org", "Bernd", "Vogel");
const CARLA: Who = ("carla.weiss@example.net", "Carla", "Weiß");
const DORA: Who = ("dora.krause@example.com", "Dora", "Krause");
const ERIK: Who = ("erik.lange@example.org", "Erik", "Lange");
const FRITZ: Who = ("fritz.huber@example.net", "Fritz", "Huber");
const GRETA: Who = ("greta.koch@example.com", "Greta", "Koch");
const HANS: Who = ("hans.berger@example.org", "Hans", "Berger");

fn now() -> DateTime<Utc> {
    datenwart::domain::time::now()
}

/// An instant as SQL text both backends read as a stored instant.
fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, false)
}

fn days(n: i64) -> Duration {
    Duration::days(n)
}

fn admin_at(at: DateTime<Utc>) -> AuditContext {
    AuditContext {
        actor: "test:retention".into(),
        at,
    }
}

async fn setup(db: &TestDb) -> Context {
    let ctx = ready(db).await;
    for t in [R, W, OE] {
        seeding::import_services(&ctx, t, &fixture("services.csv"))
            .await
            .unwrap();
    }
    ctx
}

/// Opens a day of slots (08:00–12:00 local, three places each) and returns them.
async fn open_day(ctx: &Context, tenant: &str, day: NaiveDate) -> Vec<Slot> {
    common::open_slots(ctx, tenant, day, "08:00-12:00", 3).await;
    let start = day.and_hms_opt(0, 0, 0).unwrap().and_utc();
    let filter = SlotFilter {
        service: Some("PA".into()),
        from: Some(start),
        to: Some(start + days(1)),
        limit: 100,
    };
    ctx.store.list_slots(tenant, &filter).await.unwrap()
}

/// Books `who` into `slot` at instant `at`, with the access-log row of the request.
async fn book(
    ctx: &Context,
    tenant: &str,
    who: Who,
    slot: i64,
    at: DateTime<Utc>,
    sms: bool,
) -> (String, i64) {
    let citizen = Citizen {
        email: who.0,
        first: who.1,
        last: who.2,
        phone: "0171 5550123",
    };
    let form = BookingForm {
        consent: tenant == R,
        sms_reminder: sms && tenant != R,
        ..citizen.form(slot)
    };
    let request = AccessLogEntry {
        browser: Some("Firefox".into()),
        browser_version: Some("133.0".into()),
        operating_system: Some("Linux".into()),
        ..people::booking_request(tenant, slot, at)
    };
    let receipt = people::book(ctx, tenant, &form, at, Some(request)).await;
    (receipt.reference, receipt.booking_id)
}

async fn page_view(ctx: &Context, tenant: Option<&str>, at: DateTime<Utc>, ip: &str) {
    let entry = AccessLogEntry {
        tenant: tenant.map(str::to_owned),
        logged_at: at,
        ip: ip.into(),
        method: "GET".into(),
        path: "/t/x/termine?service=PA&mail=anna.schmidt@example.com".into(),
        status: 200,
        referrer: Some("https://www.suche.example/?q=termin+anna+schmidt".into()),
        browser: Some("Firefox".into()),
        browser_version: Some("133.0".into()),
        operating_system: Some("Windows 10 NT 10.0".into()),
        language: Some("de-DE".into()),
        ..Default::default()
    };
    ctx.store.log_access(&[entry]).await.unwrap();
}

async fn subject(ctx: &Context, who: Who) -> datenwart::domain::subject::SubjectRef {
    people::subject_ref(ctx, who.0).await
}

async fn run_at(ctx: &Context, at: DateTime<Utc>) -> RunReport {
    let req = RunRequest {
        tenant: None,
        now: at,
        batch_size: 3,
    };
    retention::run(ctx, &req, &Quiet).await.unwrap()
}

/// Counts of one rule in a report: (anonymized, deleted, held).
fn counts(report: &RunReport, tenant: Option<&str>, data: &str) -> (i64, i64, i64) {
    let r = report
        .rules
        .iter()
        .find(|r| r.rule.tenant.as_deref() == tenant && r.rule.data.as_str() == data)
        .unwrap_or_else(|| panic!("no rule {tenant:?} {data}"));
    (r.counts.anonymized, r.counts.deleted, r.counts.held)
}

async fn with_personal_data(db: &TestDb, reference: &str) -> bool {
    db.count(&format!(
        "select count(*) from bookings where reference = '{reference}' and first_name is not null"
    ))
    .await
        == 1
}

on_both_backends!(
    the_48_hour_boundary_keeps_47_59_59_and_anonymizes_48_00_00,
    every_rule_of_the_shipped_policies_treats_what_is_due_and_nothing_else,
    the_other_actions_delete_bookings_with_their_rows_and_anonymize_the_access_log,
    holds_and_restrictions_keep_rows_and_are_counted_per_rule,
    a_second_run_is_refused_while_another_holds_the_lock,
    a_lock_left_by_a_killed_run_does_not_block_forever,
    a_run_killed_mid_way_leaves_rows_treated_or_untouched_and_the_next_run_finishes,
    the_self_check_fails_the_run_and_names_the_rule_when_a_row_resists,
    the_cli_plans_runs_and_lists_runs_with_documented_exit_codes,
    an_anonymized_bookings_consents_keep_only_their_proof_and_the_person_is_not_found,
    the_audit_trails_old_pseudonyms_are_cleared_and_the_chain_still_verifies,
    old_lines_of_the_erasure_ledger_file_go_after_the_policys_period,
);

async fn the_48_hour_boundary_keeps_47_59_59_and_anonymizes_48_00_00(db: TestDb) {
    let ctx = setup(&db).await;
    let slot = open_day(&ctx, R, now().date_naive() - days(6)).await[0].clone();
    let (reference, _) = book(&ctx, R, ANNA, slot.id, slot.starts_at - days(2), false).await;
    let boundary = slot.ends_at + Duration::hours(48);

    let plan = retention::plan(&ctx, Some(R), boundary - Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(
        plan.rules
            .iter()
            .find(|r| r.rule.data.as_str() == "bookings")
            .unwrap()
            .due,
        0
    );
    let early = run_at(&ctx, boundary - Duration::seconds(1)).await;
    assert_eq!(counts(&early, Some(R), "bookings"), (0, 0, 0));
    assert!(
        with_personal_data(&db, &reference).await,
        "47:59:59 after the end: kept"
    );

    let plan = retention::plan(&ctx, Some(R), boundary).await.unwrap();
    let rule = plan
        .rules
        .iter()
        .find(|r| r.rule.data.as_str() == "bookings")
        .unwrap();
    assert_eq!((rule.due, rule.oldest_due), (1, Some(slot.ends_at)));
    let on_time = run_at(&ctx, boundary).await;
    assert_eq!(counts(&on_time, Some(R), "bookings"), (1, 0, 0));
    assert!(
        !with_personal_data(&db, &reference).await,
        "48:00:00 after the end: anonymized"
    );
    // Everything personal is gone, everything statistical stays.
    let sql = format!(
        "select count(*) from bookings where reference = '{reference}'
           and subject_ref is null and first_name is null and last_name is null and email is null
           and phone is null and address is null and birth_date is null and code_hash is null
           and anonymized_at = '{}' and status = 'booked' and slot_id = {} and appointment_end = '{}'",
        ts(boundary),
        slot.id,
        ts(slot.ends_at)
    );
    assert_eq!(db.count(&sql).await, 1);
    assert_eq!(on_time.outcome, "completed");
}

async fn every_rule_of_the_shipped_policies_treats_what_is_due_and_nothing_else(db: TestDb) {
    let ctx = setup(&db).await;
    let t = now();
    let old_r = open_day(&ctx, R, t.date_naive() - days(10)).await;
    let ahead_r = open_day(&ctx, R, t.date_naive() + days(5)).await;
    let old_w = open_day(&ctx, W, t.date_naive() - days(40)).await;
    let recent_w = open_day(&ctx, W, t.date_naive() - days(10)).await;
    // Recklinghausen: 48 hours after the appointment, notifications 48 hours after creation.
    let (anna, anna_id) = book(&ctx, R, ANNA, old_r[0].id, t - days(12), false).await;
    let (bernd, bernd_id) = book(&ctx, R, BERND, ahead_r[0].id, t, false).await;
    // Westendorf: 30 days after the appointment, notifications 7 days after sending.
    let (carla, carla_id) = book(&ctx, W, CARLA, old_w[0].id, t - days(41), true).await;
    let (dora, _) = book(&ctx, W, DORA, recent_w[0].id, t - days(11), true).await;
    // Erik's notifications were never sent (nothing sends them): they go with the anonymizing
    // of his booking instead of keeping his name and address for good.
    let (erik, erik_id) = book(&ctx, W, ERIK, old_w[1].id, t - days(41), true).await;
    assert!(
        db.count(&format!(
            "select count(*) from notifications where booking_id = {erik_id} and sent_at is null"
        ))
        .await
            > 0
    );
    db.execute_raw(&format!(
        "update notifications set status = 'sent', sent_at = '{}' where booking_id = {carla_id}",
        ts(t - days(8))
    ))
    .await;
    // Page views: old and new, of a tenant and of none.
    page_view(&ctx, Some(R), t - days(8), "203.0.113.77").await;
    // Recklinghausen keeps the access log 48 hours (its notice): 47 hours old is not due.
    page_view(&ctx, Some(R), t - Duration::hours(47), "203.0.113.78").await;
    page_view(&ctx, None, t - days(8), "2001:db8:4:5::1").await;
    // Consents: Bernd's withdrawn 157 weeks ago (proof kept 156 weeks), Anna's never.
    db.execute_raw(&format!(
        "update consents set withdrawn_at = '{}', withdrawal_source = 'email' where booking_id = {bernd_id}",
        ts(t - Duration::weeks(157))
    ))
    .await;
    // Mailbox: processed 91 and 10 days ago; one addressed to no tenant.
    let bernd_ref = subject(&ctx, BERND).await;
    for (key, tenant, age) in [
        ("<old@x>", Some(R), 91),
        ("<new@x>", Some(R), 10),
        ("<none@x>", None, 91),
    ] {
        let entry = InboxEntry {
            message_key: key.into(),
            tenant: tenant.map(str::to_owned),
            received_at: Some(t - days(age)),
            processed_at: t - days(age),
            outcome: values::inbox_outcome(if tenant.is_some() {
                "review"
            } else {
                "not_addressed"
            }),
            subject_ref: tenant.map(|_| bernd_ref.clone()),
            sender: Some(BERND.0.into()),
            subject: Some("Widerruf meiner Einwilligung, Bernd Vogel".into()),
            reason: None,
            address: None,
            channel: Channel::Email,
            identity: None,
            confirms: None,
        };
        ctx.store
            .record_message(
                &entry,
                &IntakeEffect::Nothing,
                &|_| None,
                &admin_at(t - days(age)),
            )
            .await
            .unwrap();
    }
    // Requests: closed 157 weeks ago (at a tenant and at none), closed lately, open.
    let mut requests = Vec::new();
    for (tenant, closed) in [
        (Some(R), Some(157)),
        (None, Some(157)),
        (Some(R), Some(1)),
        (Some(R), None),
    ] {
        let received = t - Duration::weeks(closed.unwrap_or(0) + 2);
        let req = NewRequest {
            tenant: tenant.map(str::to_owned),
            kind: RequestKind::Access,
            subject_ref: Some(bernd_ref.clone()),
            channel: Channel::Email,
            received_at: received,
            due_on: received.date_naive() + days(30),
            identity: None,
        };
        let id = ctx
            .store
            .open_request(&req, &admin_at(received))
            .await
            .unwrap();
        if let Some(weeks) = closed {
            ctx.store
                .close_request(id, Outcome::Answered, &admin_at(t - Duration::weeks(weeks)))
                .await
                .unwrap();
        }
        requests.push(id);
    }

    // The plan shows what is due and changes nothing.
    let tables = [
        "bookings",
        "notifications",
        "access_log",
        "consents",
        "inbox_messages",
        "requests",
        "audit_log",
        "retention_runs",
    ];
    let mut before = Vec::new();
    for table in tables {
        before.push(db.count(&format!("select count(*) from {table}")).await);
    }
    let anna_personal = "select count(*) from bookings where first_name is not null";
    let personal_before = db.count(anna_personal).await;
    let plan = retention::plan(&ctx, None, t).await.unwrap();
    let due = |tenant: Option<&str>, data: &str| {
        plan.rules
            .iter()
            .find(|r| r.rule.tenant.as_deref() == tenant && r.rule.data.as_str() == data)
            .unwrap()
            .due
    };
    assert_eq!(due(Some(R), "bookings"), 1);
    assert_eq!(due(Some(W), "bookings"), 2);
    assert_eq!(
        due(Some(W), "notifications"),
        db.count(&format!(
            "select count(*) from notifications where booking_id = {carla_id}"
        ))
        .await
    );
    assert_eq!(
        due(Some(R), "access_log"),
        2,
        "Anna's booking request and the old page view"
    );
    assert_eq!(due(Some(R), "consents"), 1);
    assert_eq!(due(Some(R), "inbox"), 1);
    assert_eq!(due(Some(R), "requests"), 1);
    assert_eq!(due(None, "access_log"), 1);
    assert_eq!(due(None, "inbox"), 1);
    assert_eq!(due(None, "requests"), 1);
    for (table, n) in tables.iter().zip(&before) {
        assert_eq!(
            db.count(&format!("select count(*) from {table}")).await,
            *n,
            "plan changed {table}"
        );
    }
    assert_eq!(db.count(anna_personal).await, personal_before);

    let report = run_at(&ctx, t).await;
    assert_eq!(report.outcome, "completed", "{:?}", report.problems);
    assert!(report.rules.iter().all(|r| r.resisting == Some(0)));
    assert_eq!(counts(&report, Some(R), "audit_subjects"), (2, 0, 0));
    // Bookings: the due ones anonymized, the others untouched.
    assert!(!with_personal_data(&db, &anna).await);
    assert!(with_personal_data(&db, &bernd).await);
    assert!(!with_personal_data(&db, &carla).await);
    assert!(with_personal_data(&db, &dora).await);
    assert!(!with_personal_data(&db, &erik).await);
    assert_eq!(
        db.count(&format!(
            "select count(*) from notifications where booking_id = {erik_id}"
        ))
        .await,
        0,
        "an anonymized booking keeps no notification"
    );
    // Notifications: Anna's (created 12 days ago) and Carla's (sent 8 days ago) deleted;
    // Bernd's (new) and Dora's (never sent) kept.
    assert_eq!(
        db.count(&format!(
            "select count(*) from notifications where booking_id in ({anna_id}, {carla_id})"
        ))
        .await,
        0
    );
    assert!(
        db.count(&format!(
            "select count(*) from notifications where booking_id = {bernd_id}"
        ))
        .await
            > 0
    );
    assert!(db.count("select count(*) from notifications where sent_at is null and booking_id in (select id from bookings where first_name = 'Dora')").await > 0);
    // Access log: older than 7 days deleted, at a tenant and without one.
    assert_eq!(
        db.count(&format!(
            "select count(*) from access_log where logged_at <= '{}'",
            ts(t - days(7))
        ))
        .await,
        0
    );
    assert_eq!(
        db.count("select count(*) from access_log where ip = '203.0.113.78'")
            .await,
        1
    );
    // Consents: the old proof of withdrawal deleted; Anna's, never withdrawn, kept as the
    // proof of her consent — without her and without the link to her anonymized booking.
    assert_eq!(
        db.count(&format!(
            "select count(*) from consents where booking_id = {bernd_id}"
        ))
        .await,
        0
    );
    assert_eq!(
        db.count(&format!(
            "select count(*) from consents where booking_id = {anna_id}"
        ))
        .await,
        0
    );
    assert_eq!(
        db.count(
            "select count(*) from consents where withdrawn_at is null and booking_id is null
               and subject_ref is null and anonymized_at is not null and text_sha256 is not null
               and tenant_id = (select id from tenants where slug = 'recklinghausen')"
        )
        .await,
        1
    );
    // So are the SMS consents of the Westendorf bookings anonymized (Carla's, Erik's).
    assert_eq!(
        db.count("select count(*) from consents where subject_ref is not null and booking_id in (select id from bookings where anonymized_at is not null)").await,
        0
    );
    // Mailbox: sender, subject and person cleared after 90 days, also without a tenant.
    assert_eq!(
        db.count("select count(*) from inbox_messages where anonymized_at is not null and sender is null and subject is null and subject_ref is null and message_key in ('<old@x>', '<none@x>')").await,
        2
    );
    assert_eq!(db.count("select count(*) from inbox_messages where message_key = '<new@x>' and sender is not null").await, 1);
    // Requests: the person's reference cleared 156 weeks after closing; the entry stays.
    let cleared = |id: i64| {
        format!(
            "select count(*) from requests where id = {id} and subject_ref is null and anonymized_at is not null and kind = 'access' and status = 'closed'"
        )
    };
    assert_eq!(db.count(&cleared(requests[0])).await, 1);
    assert_eq!(db.count(&cleared(requests[1])).await, 1);
    assert_eq!(
        db.count(&format!(
            "select count(*) from requests where id in ({}, {}) and subject_ref is not null",
            requests[2], requests[3]
        ))
        .await,
        2
    );
    // The run is recorded and audited with counts only.
    let runs = retention::runs(&ctx, 10).await.unwrap();
    assert_eq!((runs.len(), runs[0].outcome.as_str()), (1, "completed"));
    // Anna's, Carla's and Erik's bookings, two mails, two requests, and the pseudonyms of
    // the two audit entries of the request opened and closed at Recklinghausen long ago.
    assert_eq!(runs[0].anonymized, 9);
    let audit = db
        .count("select count(*) from audit_log where action = 'retention.run'")
        .await;
    assert_eq!(
        audit, 4,
        "one entry per tenant and one for rows without a tenant"
    );
    for needle in [BERND.0, "Vogel", "Anna", bernd_ref.as_str()] {
        assert_eq!(db.count(&format!("select count(*) from audit_log where action = 'retention.run' and details like '%{needle}%'")).await, 0);
    }
    // A second run finds nothing to do.
    let again = run_at(&ctx, t).await;
    assert!(
        again.rules.iter().all(|r| r.counts.seen == 0),
        "{:?}",
        again.rules
    );
}

/// The shipped policies with Westendorf's rules switched to the other action (and other
/// reference times), to cover every action of every kind of data.
fn other_actions_policies() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(shipped_policies()).unwrap() {
        let path = entry.unwrap().path();
        let mut text = std::fs::read_to_string(&path).unwrap();
        if path.file_name().unwrap() == "westendorf.toml" {
            for (from, to) in [
                (
                    "data = \"bookings\"\nafter = \"30d\"\nsince = \"appointment_end\"\naction = \"anonymize\"",
                    "data = \"bookings\"\nafter = \"30d\"\nsince = \"booked_at\"\naction = \"delete\"",
                ),
                (
                    "data = \"access_log\"\nafter = \"7d\"\nsince = \"logged_at\"\naction = \"delete\"",
                    "data = \"access_log\"\nafter = \"7d\"\nsince = \"logged_at\"\naction = \"anonymize\"",
                ),
                (
                    "data = \"consents\"\nafter = \"156w\"\nsince = \"withdrawn_at\"",
                    "data = \"consents\"\nafter = \"156w\"\nsince = \"given_at\"",
                ),
                (
                    "data = \"inbox\"\nafter = \"90d\"\nsince = \"processed_at\"\naction = \"anonymize\"",
                    "data = \"inbox\"\nafter = \"90d\"\nsince = \"received_at\"\naction = \"delete\"",
                ),
                (
                    "data = \"requests\"\nafter = \"156w\"\nsince = \"closed_at\"\naction = \"anonymize\"",
                    "data = \"requests\"\nafter = \"156w\"\nsince = \"closed_at\"\naction = \"delete\"",
                ),
            ] {
                assert!(text.contains(from), "westendorf.toml no longer has {from}");
                text = text.replace(from, to);
            }
        }
        std::fs::write(dir.path().join(path.file_name().unwrap()), text).unwrap();
    }
    dir
}

async fn the_other_actions_delete_bookings_with_their_rows_and_anonymize_the_access_log(
    db: TestDb,
) {
    setup(&db).await;
    let policies = other_actions_policies();
    let ctx = db.context_with(policies.path()).await;
    let t = now();
    let past = open_day(&ctx, W, t.date_naive() - days(40)).await;
    let ahead = open_day(&ctx, W, t.date_naive() + days(5)).await;
    let recent = open_day(&ctx, W, t.date_naive() - days(10)).await;
    // Bookings: deleted 30 days after booking, with their messages and log rows.
    let (_, carla_id) = book(&ctx, W, CARLA, past[0].id, t - days(41), true).await;
    let (_, erik_id) = book(&ctx, W, ERIK, ahead[0].id, t - days(41), false).await;
    let (fritz, fritz_id) = book(&ctx, W, FRITZ, past[1].id, t - days(41), false).await;
    let (dora, dora_id) = book(&ctx, W, DORA, recent[0].id, t - days(11), true).await;
    // A hold on Fritz's booking, since removed: the booking can only be anonymized.
    let hold = ctx
        .store
        .add_hold(
            W,
            &HoldTarget::Booking(fritz.clone()),
            "Beschwerde",
            None,
            &admin_at(t - days(20)),
        )
        .await
        .unwrap();
    ctx.store
        .remove_hold(hold, &admin_at(t - days(15)))
        .await
        .unwrap();
    assert_eq!(
        db.count(&format!(
            "select booked from slots where id = {}",
            ahead[0].id
        ))
        .await,
        1
    );
    // Consents: deleted 156 weeks after they were given.
    db.execute_raw(&format!(
        "update consents set given_at = '{}' where booking_id = {dora_id}",
        ts(t - Duration::weeks(157))
    ))
    .await;
    // Access log: anonymized after 7 days.
    page_view(&ctx, Some(W), t - days(8), "203.0.113.77").await;
    page_view(&ctx, Some(W), t - days(8), "2001:db8:4:5::1").await;
    page_view(&ctx, Some(W), t - days(2), "203.0.113.99").await;
    // Mailbox: deleted 90 days after receipt. Requests: deleted 156 weeks after closing,
    // also when a consent's withdrawal points to them.
    let dora_ref = subject(&ctx, DORA).await;
    let entry = InboxEntry {
        message_key: "<w@x>".into(),
        tenant: Some(W.into()),
        received_at: Some(t - days(95)),
        processed_at: t - days(80),
        outcome: values::inbox_outcome("review"),
        subject_ref: Some(dora_ref.clone()),
        sender: Some(DORA.0.into()),
        subject: Some("Auskunft".into()),
        reason: None,
        address: None,
        channel: Channel::Email,
        identity: None,
        confirms: None,
    };
    ctx.store
        .record_message(
            &entry,
            &IntakeEffect::Nothing,
            &|_| None,
            &admin_at(t - days(80)),
        )
        .await
        .unwrap();
    let received = t - Duration::weeks(160);
    let req = NewRequest {
        tenant: Some(W.into()),
        kind: RequestKind::Withdrawal,
        subject_ref: Some(dora_ref.clone()),
        channel: Channel::Letter,
        received_at: received,
        due_on: received.date_naive() + days(30),
        identity: None,
    };
    let request = ctx
        .store
        .open_request(&req, &admin_at(received))
        .await
        .unwrap();
    ctx.store
        .close_request(
            request,
            Outcome::Answered,
            &admin_at(t - Duration::weeks(157)),
        )
        .await
        .unwrap();
    db.execute_raw(&format!(
        "update consents set withdrawal_request_id = {request}, withdrawn_at = '{}', withdrawal_source = 'letter' where booking_id = {carla_id}",
        ts(t - Duration::weeks(157))
    ))
    .await;

    let report = run_at(&ctx, t).await;
    assert_eq!(report.outcome, "completed", "{:?}", report.problems);
    // Carla's and Erik's bookings are gone with their notifications and log rows; Erik's
    // place ahead is free again; Fritz's booking is anonymized; Dora's is young.
    assert_eq!(
        db.count(&format!(
            "select count(*) from bookings where id in ({carla_id}, {erik_id})"
        ))
        .await,
        0
    );
    assert_eq!(db.count(&format!("select count(*) from notifications where booking_id in ({carla_id}, {erik_id}, {fritz_id}) or booking_id is null")).await, 0);
    assert_eq!(db.count(&format!("select count(*) from access_log where booking_id in ({carla_id}, {erik_id}, {fritz_id}) or (booking_id is null and method = 'POST')")).await, 0);
    assert_eq!(
        db.count(&format!(
            "select booked from slots where id = {}",
            ahead[0].id
        ))
        .await,
        0
    );
    assert!(!with_personal_data(&db, &fritz).await);
    assert_eq!(
        db.count(&format!(
            "select count(*) from bookings where id = {fritz_id} and anonymized_at is not null"
        ))
        .await,
        1
    );
    assert!(with_personal_data(&db, &dora).await);
    let r = report
        .rules
        .iter()
        .find(|r| r.rule.tenant.as_deref() == Some(W) && r.rule.data.as_str() == "bookings")
        .unwrap();
    assert_eq!(
        (r.counts.deleted, r.counts.anonymized, r.counts.places_freed),
        (2, 1, 1)
    );
    assert!(r.counts.dependents_deleted >= 4, "{:?}", r.counts);
    // Carla's consent lost its booking and then went with its request… its proof stays.
    assert_eq!(db.count("select count(*) from consents where booking_id is null and withdrawal_request_id is null and withdrawn_at is not null").await, 1);
    // Dora's consent, given 157 weeks ago, deleted.
    assert_eq!(
        db.count(&format!(
            "select count(*) from consents where booking_id = {dora_id}"
        ))
        .await,
        0
    );
    // Access log: cut to /24 and /48, no query, the referrer's origin, browser family kept.
    let anonymized =
        "select count(*) from access_log where anonymized_at is not null and browser = 'Firefox'
        and browser_version is null and operating_system is null and path = '/t/x/termine'
        and referrer = 'https://www.suche.example' and language = 'de-DE'";
    assert_eq!(db.count(anonymized).await, 2);
    assert_eq!(
        db.count("select count(*) from access_log where ip in ('203.0.113.0', '2001:db8:4::')")
            .await,
        2
    );
    assert_eq!(db.count("select count(*) from access_log where ip = '203.0.113.99' and anonymized_at is null and browser_version = '133.0'").await, 1);
    // Mail and requests deleted; nothing points to the request any more.
    assert_eq!(
        db.count("select count(*) from inbox_messages where message_key = '<w@x>'")
            .await,
        0
    );
    assert_eq!(
        db.count(&format!(
            "select count(*) from requests where id = {request}"
        ))
        .await,
        0
    );
    // Running again changes nothing: Fritz's anonymized booking is done for good.
    let again = run_at(&ctx, t).await;
    assert!(
        again
            .rules
            .iter()
            .all(|r| r.counts.anonymized + r.counts.deleted == 0),
        "{:?}",
        again.rules
    );
    assert_eq!(again.outcome, "completed");
}

async fn holds_and_restrictions_keep_rows_and_are_counted_per_rule(db: TestDb) {
    let ctx = setup(&db).await;
    let t = now();
    let slots = open_day(&ctx, R, t.date_naive() - days(10)).await;
    let people = [ANNA, BERND, CARLA, DORA, ERIK, FRITZ, GRETA, HANS];
    let mut refs = Vec::new();
    for (i, who) in people.iter().enumerate() {
        refs.push(
            book(&ctx, R, *who, slots[i].id, t - days(12), false)
                .await
                .0,
        );
    }
    let a = admin_at(t - days(1));
    let today = t.date_naive();
    // Kept: a hold on Anna (no end), a restriction of Bernd everywhere, a hold on Carla's
    // booking until tomorrow.
    ctx.store
        .add_hold(
            R,
            &HoldTarget::Subject(subject(&ctx, ANNA).await),
            "Rechtsstreit",
            None,
            &a,
        )
        .await
        .unwrap();
    ctx.store
        .add_restriction(
            None,
            &subject(&ctx, BERND).await,
            "Richtigkeit bestritten",
            None,
            &a,
        )
        .await
        .unwrap();
    ctx.store
        .add_hold(
            R,
            &HoldTarget::Booking(refs[2].clone()),
            "Beschwerde",
            Some(today + days(1)),
            &a,
        )
        .await
        .unwrap();
    // Treated: a hold that ended yesterday, a removed hold, a lifted restriction, a
    // restriction at another tenant only, nobody's.
    ctx.store
        .add_hold(
            R,
            &HoldTarget::Subject(subject(&ctx, DORA).await),
            "erledigt",
            Some(today - days(1)),
            &a,
        )
        .await
        .unwrap();
    let erik_hold = ctx
        .store
        .add_hold(
            R,
            &HoldTarget::Subject(subject(&ctx, ERIK).await),
            "alt",
            None,
            &a,
        )
        .await
        .unwrap();
    ctx.store.remove_hold(erik_hold, &a).await.unwrap();
    let fritz = subject(&ctx, FRITZ).await;
    ctx.store
        .add_restriction(Some(R), &fritz, "vorübergehend", None, &a)
        .await
        .unwrap();
    ctx.store
        .lift_restrictions(Some(R), &fritz, &a)
        .await
        .unwrap();
    ctx.store
        .add_restriction(Some(W), &subject(&ctx, HANS).await, "nur dort", None, &a)
        .await
        .unwrap();

    let plan = retention::plan(&ctx, Some(R), t).await.unwrap();
    let rule = |data: &str| {
        plan.rules
            .iter()
            .find(|r| r.rule.data.as_str() == data)
            .unwrap()
    };
    assert_eq!((rule("bookings").due, rule("bookings").held), (5, 3));
    assert_eq!((rule("access_log").due, rule("access_log").held), (5, 3));
    assert!(rule("notifications").held >= 3);

    let report = run_at(&ctx, t).await;
    assert_eq!(report.outcome, "completed", "{:?}", report.problems);
    assert_eq!(counts(&report, Some(R), "bookings"), (5, 0, 3));
    assert_eq!(counts(&report, Some(R), "access_log"), (0, 5, 3));
    // The notifications of the five bookings anonymized go with them (counted with the
    // bookings' rule); those of the held ones stay and are counted as held.
    let (_, _, held) = counts(&report, Some(R), "notifications");
    assert!(held >= 3, "{held}");
    let bookings_rule = report
        .rules
        .iter()
        .find(|r| r.rule.tenant.as_deref() == Some(R) && r.rule.data.as_str() == "bookings")
        .unwrap();
    assert!(
        bookings_rule.counts.dependents_deleted >= 5,
        "{}",
        bookings_rule.counts.dependents_deleted
    );
    for (i, r) in refs.iter().enumerate() {
        assert_eq!(with_personal_data(&db, r).await, i < 3, "{}", people[i].1);
    }
    // The kept rows are not "resisting": the self-check leaves held data alone.
    assert!(report.rules.iter().all(|r| r.resisting == Some(0)));
    // Once the hold on Anna is removed, the next run treats her booking.
    let anna_hold: i64 = ctx
        .store
        .list_holds(Some(R), false)
        .await
        .unwrap()
        .iter()
        .find(|h| h.reason == "Rechtsstreit")
        .unwrap()
        .id;
    ctx.store.remove_hold(anna_hold, &a).await.unwrap();
    let next = run_at(&ctx, t).await;
    assert_eq!(counts(&next, Some(R), "bookings"), (1, 0, 2));
    assert!(!with_personal_data(&db, &refs[0]).await);
}

async fn a_second_run_is_refused_while_another_holds_the_lock(db: TestDb) {
    let ctx = setup(&db).await;
    // Another process (another host, on PostgreSQL): a store of its own.
    let other = db.context().await;
    let start = RetentionStart {
        tenant: None,
        clock: now(),
        holder: "cron:retention, pid 4711 on web1".into(),
        take_over: None,
    };
    let first = other
        .store
        .start_retention_run(&start, &admin_at(now()))
        .await
        .unwrap()
        .unwrap();
    let req = RunRequest {
        tenant: None,
        now: now(),
        batch_size: 100,
    };
    let refused = retention::run(&ctx, &req, &Quiet).await.unwrap_err();
    assert!(matches!(
        refused.downcast_ref::<Refusal>(),
        Some(Refusal::CheckFailed(_))
    ));
    let message = refused.to_string();
    assert!(
        message.contains("another retention run is in progress"),
        "{message}"
    );
    assert!(message.contains("pid 4711 on web1"), "{message}");
    assert!(message.contains("nothing was done"), "{message}");
    // The refused run left no record.
    assert_eq!(db.count("select count(*) from retention_runs").await, 1);
    let finish = datenwart::store::RetentionFinish {
        status: "completed",
        counts: "{}".into(),
        events: Vec::new(),
    };
    other
        .store
        .finish_retention_run(first, &finish, &admin_at(now()))
        .await
        .unwrap();
    let report = retention::run(&ctx, &req, &Quiet).await.unwrap();
    assert_eq!(report.outcome, "completed");
    assert_eq!(
        db.count("select count(*) from job_locks").await,
        0,
        "the lock is let go"
    );
}

async fn a_lock_left_by_a_killed_run_does_not_block_forever(db: TestDb) {
    let ctx = setup(&db).await;
    let req = RunRequest {
        tenant: None,
        now: now(),
        batch_size: 100,
    };
    match db.kind {
        Kind::Sqlite => {
            // A lease that is still running blocks, naming its holder and its end.
            let t = now();
            db.execute_raw(&format!(
                "insert into job_locks (name, holder, acquired_at, expires_at)
                 values ('retention', 'cron:retention, pid 99 on web2', '{}', '{}')",
                ts(t - Duration::seconds(30)),
                ts(t + Duration::seconds(200))
            ))
            .await;
            let refused = retention::run(&ctx, &req, &Quiet)
                .await
                .unwrap_err()
                .to_string();
            assert!(
                refused.contains("pid 99 on web2") && refused.contains("at the latest"),
                "{refused}"
            );
            // The process died on another host: its lease runs out without being renewed.
            db.execute_raw(&format!(
                "update job_locks set expires_at = '{}'",
                ts(t - Duration::seconds(1))
            ))
            .await;
            assert_eq!(
                retention::run(&ctx, &req, &Quiet).await.unwrap().outcome,
                "completed"
            );
            // A killed run on this host is seen to be gone: no waiting for its lease.
            let mut gone = Command::new("true").spawn().unwrap();
            let pid = gone.id();
            gone.wait().unwrap();
            let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
            db.execute_raw(&format!(
                "insert into job_locks (name, holder, acquired_at, expires_at)
                 values ('retention', 'cron:retention, pid {pid} on {} [0badc0de]', '{}', '{}')",
                host.trim(),
                ts(t),
                ts(t + Duration::seconds(290))
            ))
            .await;
        }
        Kind::Postgres => {
            // A session holding the advisory lock blocks; when it ends (the process was
            // killed), so does the lock.
            let mut session = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
                .await
                .unwrap();
            let got: bool = sqlx::query_scalar("select pg_try_advisory_lock($1)")
                .bind(datenwart::store::RETENTION_LOCK_KEY)
                .fetch_one(&mut session)
                .await
                .unwrap();
            assert!(got);
            let refused = retention::run(&ctx, &req, &Quiet)
                .await
                .unwrap_err()
                .to_string();
            assert!(
                refused.contains("another retention run is in progress"),
                "{refused}"
            );
            drop(session);
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
    }
    let report = retention::run(&ctx, &req, &Quiet).await.unwrap();
    assert_eq!(report.outcome, "completed");
}

/// `n` bookings at a tenant in the slots of days 35 to 80 days ago, each booked a day
/// ahead with the access-log row of its request, written a few hundred at a time.
async fn many_bookings(ctx: &Context, tenant: &str, n: usize) {
    let policy = booking::policy(ctx, tenant).unwrap();
    let key = ctx.store.pseudonym_key().await.unwrap();
    let names = [
        "Schmidt", "Vogel", "Weiß", "Krause", "Lange", "Huber", "Koch", "Berger",
    ];
    let mut prepared = Vec::new();
    'days: for d in 35..=80 {
        for slot in open_day(ctx, tenant, now().date_naive() - days(d)).await {
            let open = ctx.store.open_slot(tenant, slot.id).await.unwrap().unwrap();
            for _ in 0..slot.capacity {
                let i = prepared.len();
                let at = slot.starts_at - days(1);
                let form = BookingForm {
                    slot_id: Some(slot.id),
                    first_name: Some("Kim".into()),
                    last_name: Some(names[i % names.len()].into()),
                    email: Some(format!("kim.{i}@{tenant}.example")),
                    phone: Some(format!("0171 {:07}", i)),
                    consent: tenant == R,
                    sms_reminder: tenant != R && i % 2 == 0,
                    ..Default::default()
                };
                let valid =
                    datenwart::domain::booking::validate(policy, &form, at.date_naive()).unwrap();
                let access = AccessLogEntry {
                    tenant: Some(tenant.into()),
                    logged_at: at,
                    ip: format!("198.51.100.{}", i % 250),
                    method: "POST".into(),
                    path: format!("/t/{tenant}/buchen/{}", slot.id),
                    status: 201,
                    browser_version: Some("133.0".into()),
                    ..Default::default()
                };
                prepared
                    .push(booking::prepare(policy, &key, valid, &open, at, Some(access)).booking);
                if prepared.len() == n {
                    break 'days;
                }
            }
        }
    }
    assert_eq!(prepared.len(), n, "not enough slots");
    for chunk in prepared.chunks(300) {
        for result in ctx.store.book(tenant, chunk).await.unwrap() {
            result.unwrap();
        }
    }
}

/// `datenwart ARGS…` on `db` as cron runs it, not started.
fn datenwart(db: &TestDb, policies: &Path, args: &[&str]) -> Command {
    let mut cmd = cli::command(&db.url, policies, args);
    cmd.env("DATENWART_ACTOR", "test:cron");
    cmd
}

/// Sums a count over the rules of a run's recorded counts.
fn recorded(counts: &str, tenant: &str, data: &str, key: &str) -> i64 {
    let v: serde_json::Value = serde_json::from_str(counts).unwrap_or_default();
    v["rules"]
        .as_array()
        .map(|rules| {
            rules
                .iter()
                .filter(|r| r["tenant"] == tenant && r["data"] == data)
                .filter_map(|r| r[key].as_i64())
                .sum()
        })
        .unwrap_or(0)
}

async fn run_counts(db: &TestDb, id: i64) -> String {
    let sql = format!("select counts from retention_runs where id = {id}");
    with_pool!(db, |pool| sqlx::query_scalar::<_, String>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .fetch_one(&pool)
    .await
    .unwrap())
}

async fn a_run_killed_mid_way_leaves_rows_treated_or_untouched_and_the_next_run_finishes(
    db: TestDb,
) {
    // Westendorf deletes bookings (with their notifications and log rows), Recklinghausen
    // anonymizes its bookings: a kill in the middle of either must not leave half a batch.
    setup(&db).await;
    let policies = other_actions_policies();
    let ctx = db.context_with(policies.path()).await;
    for tenant in [R, W] {
        many_bookings(&ctx, tenant, 600).await;
    }
    let plan = json(&output(datenwart(
        &db,
        policies.path(),
        &["--format", "json", "retention", "plan"],
    )));
    let due = |tenant: &str, data: &str| -> i64 {
        plan["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["tenant"] == tenant && r["data"] == data)
            .unwrap()["due"]
            .as_i64()
            .unwrap()
    };
    let (w_due, r_due) = (due(W, "bookings"), due(R, "bookings"));
    assert!(w_due > 50 && r_due > 50, "{w_due} {r_due}");
    let w_before = db.count("select count(*) from bookings where tenant_id = (select id from tenants where slug = 'westendorf')").await;

    let mut child = datenwart(
        &db,
        policies.path(),
        &["retention", "run", "--batch-size", "5"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    // Wait until it has committed some batches, then kill it without warning.
    let mut waited = 0;
    loop {
        let done = db.count("select count(*) from bookings where anonymized_at is not null").await
            + (w_before - db.count("select count(*) from bookings where tenant_id = (select id from tenants where slug = 'westendorf')").await);
        if done > 10 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        waited += 1;
        assert!(waited < 3000, "the run made no progress");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        db.count("select count(*) from retention_runs where status = 'running'")
            .await,
        1,
        "killed while running"
    );

    // Every row is treated or untouched: no booking lost its notifications or log rows
    // without being deleted itself, no booking is half anonymized (the schema's check),
    // and the killed run's record counts exactly what it committed.
    assert_eq!(
        db.count("select count(*) from notifications where booking_id is null")
            .await,
        0
    );
    assert_eq!(
        db.count("select count(*) from access_log where booking_id is null and method = 'POST'")
            .await,
        0
    );
    let w_after = db.count("select count(*) from bookings where tenant_id = (select id from tenants where slug = 'westendorf')").await;
    let r_done = db.count("select count(*) from bookings where anonymized_at is not null and tenant_id = (select id from tenants where slug = 'recklinghausen')").await;
    let killed = run_counts(&db, 1).await;
    assert_eq!(
        recorded(&killed, W, "bookings", "deleted"),
        w_before - w_after,
        "{killed}"
    );
    assert_eq!(
        recorded(&killed, R, "bookings", "anonymized"),
        r_done,
        "{killed}"
    );
    assert!(
        w_before - w_after + r_done < w_due + r_due,
        "the kill came too late to test anything"
    );

    // The next run carries on, marks the killed one as interrupted, and finishes the job.
    let o = output(datenwart(
        &db,
        policies.path(),
        &["--format", "json", "retention", "run", "--batch-size", "50"],
    ));
    assert_exit(&o, 0);
    let report = json(&o);
    assert_eq!(report["outcome"], "completed");
    let second = run_counts(&db, 2).await;
    assert_eq!(
        recorded(&killed, W, "bookings", "deleted") + recorded(&second, W, "bookings", "deleted"),
        w_due
    );
    assert_eq!(
        recorded(&killed, R, "bookings", "anonymized")
            + recorded(&second, R, "bookings", "anonymized"),
        r_due
    );
    let runs = json(&output(datenwart(
        &db,
        policies.path(),
        &["--format", "json", "retention", "runs"],
    )));
    assert_eq!(runs[0]["outcome"], "completed");
    assert_eq!(runs[1]["outcome"], "interrupted");
    assert_eq!(
        db.count("select count(*) from audit_log where action = 'retention.interrupted'")
            .await,
        1
    );
    let plan = json(&output(datenwart(
        &db,
        policies.path(),
        &["--format", "json", "retention", "plan"],
    )));
    assert!(
        plan["rules"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["due"] == 0),
        "{plan}"
    );
    let o = output(datenwart(&db, policies.path(), &["audit", "verify"]));
    assert_exit(&o, 0);
}

async fn the_self_check_fails_the_run_and_names_the_rule_when_a_row_resists(db: TestDb) {
    let ctx = setup(&db).await;
    let t = now();
    let slots = open_day(&ctx, R, t.date_naive() - days(10)).await;
    let (anna, anna_id) = book(&ctx, R, ANNA, slots[0].id, t - days(12), false).await;
    let (bernd, _) = book(&ctx, R, BERND, slots[1].id, t - days(12), false).await;
    // A trigger in this database silently refuses any change to Anna's booking.
    match db.kind {
        Kind::Sqlite => {
            db.execute_raw(&format!(
                "create trigger resist before update on bookings when old.id = {anna_id}
                 begin select raise(ignore); end"
            ))
            .await;
        }
        Kind::Postgres => {
            db.execute_raw("create function resist() returns trigger language plpgsql as $$ begin return null; end $$").await;
            db.execute_raw(&format!(
                "create trigger resist before update on bookings for each row when (old.id = {anna_id}) execute function resist()"
            ))
            .await;
        }
    }
    let report = run_at(&ctx, t).await;
    assert_eq!(report.outcome, "failed");
    assert!(with_personal_data(&db, &anna).await);
    assert!(
        !with_personal_data(&db, &bernd).await,
        "the other rows are treated"
    );
    let rule = report
        .rules
        .iter()
        .find(|r| r.rule.tenant.as_deref() == Some(R) && r.rule.data.as_str() == "bookings")
        .unwrap();
    assert_eq!(rule.resisting, Some(1));
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(
        report.problems[0]
            .starts_with("recklinghausen bookings: anonymize 48h after appointment_end: 1 row(s)"),
        "{}",
        report.problems[0]
    );
    assert_eq!(db.count("select count(*) from retention_runs where status = 'failed' and finished_at is not null").await, 1);
    assert_eq!(db.count("select count(*) from audit_log where action = 'retention.run' and details like '%\"outcome\":\"failed\"%'").await, 4);
    // From cron: exit 1, and stderr names the rule.
    let o = output(datenwart(&db, &shipped_policies(), &["retention", "run"]));
    assert_exit(&o, 1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("recklinghausen bookings: anonymize 48h after appointment_end: 1 row(s) due and not on hold still hold personal data"), "{err}");
    // Once the row gives way, the run completes.
    db.execute_raw(match db.kind {
        Kind::Sqlite => "drop trigger resist",
        Kind::Postgres => "drop trigger resist on bookings",
    })
    .await;
    let report = run_at(&ctx, t).await;
    assert_eq!(report.outcome, "completed", "{:?}", report.problems);
    assert!(!with_personal_data(&db, &anna).await);
}

async fn the_cli_plans_runs_and_lists_runs_with_documented_exit_codes(db: TestDb) {
    let ctx = setup(&db).await;
    let t = now();
    let slots = open_day(&ctx, R, t.date_naive() - days(10)).await;
    book(&ctx, R, ANNA, slots[0].id, t - days(12), false).await;
    let policies = shipped_policies();
    let run = |args: &[&str]| output(datenwart(&db, &policies, args));

    let o = run(&["retention", "plan", "--tenant", R]);
    assert_exit(&o, 0);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("| bookings") && out.contains("nothing was changed"),
        "{out}"
    );
    let plan = json(&run(&[
        "--format",
        "json",
        "retention",
        "plan",
        "--now",
        &ts(t),
    ]));
    assert_eq!(plan["rules"][0]["tenant"], OE);
    assert!(
        plan["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["tenant"] == R && r["data"] == "bookings" && r["due"] == 1)
    );
    let csv = run(&["--format", "csv", "retention", "plan"]);
    assert!(
        String::from_utf8_lossy(&csv.stdout)
            .starts_with("tenant,data,action,after,since,due,held,oldest_due_age\n")
    );

    // Invalid input: exit 2, nothing done.
    for (args, needle) in [
        (
            vec!["retention", "run", "--tenant", "nowhere"],
            "--tenant nowhere",
        ),
        (
            vec!["retention", "run", "--batch-size", "0"],
            "--batch-size 0",
        ),
        (
            vec!["retention", "run", "--now", "2999-01-01T00:00:00Z"],
            "lies in the future",
        ),
        (vec!["retention", "run", "--now", "gestern"], "--now"),
    ] {
        let o = run(&args);
        assert_exit(&o, 2);
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(needle),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert_eq!(db.count("select count(*) from retention_runs").await, 0);

    // A lock held elsewhere: exit 1 with the holder.
    let start = RetentionStart {
        tenant: None,
        clock: t,
        holder: "cron:retention, pid 4711 on web1".into(),
        take_over: None,
    };
    let held = ctx
        .store
        .start_retention_run(&start, &admin_at(t))
        .await
        .unwrap()
        .unwrap();
    let o = run(&["retention", "run"]);
    assert_exit(&o, 1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("another retention run is in progress") && err.contains("pid 4711 on web1"),
        "{err}"
    );
    let finish = datenwart::store::RetentionFinish {
        status: "failed",
        counts: "{}".into(),
        events: Vec::new(),
    };
    ctx.store
        .finish_retention_run(held, &finish, &admin_at(t))
        .await
        .unwrap();

    // The run: JSON report per rule, quiet on stderr off a terminal.
    let o = run(&["--format", "json", "retention", "run", "--now", &ts(t)]);
    assert_exit(&o, 0);
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report = json(&o);
    assert_eq!(report["outcome"], "completed");
    assert_eq!(
        report["clock"],
        t.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    let bookings = report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["tenant"] == R && r["data"] == "bookings")
        .unwrap();
    assert_eq!(
        (
            bookings["anonymized"].as_i64(),
            bookings["resisting"].as_i64()
        ),
        (Some(1), Some(0))
    );
    let o = run(&["retention", "runs"]);
    assert_exit(&o, 0);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("completed") && out.contains("test:cron"),
        "{out}"
    );
    let csv = run(&["--format", "csv", "retention", "runs"]);
    assert!(String::from_utf8_lossy(&csv.stdout).starts_with(
        "id,started_at,finished_at,clock,tenant,outcome,actor,anonymized,deleted,held\n"
    ));
    // A tenant-limited run treats that tenant only.
    let o = run(&["--format", "json", "retention", "run", "--tenant", W]);
    assert_exit(&o, 0);
    assert!(
        json(&o)["rules"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["tenant"] == W)
    );
}

async fn an_anonymized_bookings_consents_keep_only_their_proof_and_the_person_is_not_found(
    db: TestDb,
) {
    let ctx = setup(&db).await;
    // Long ago, so that the proof's own period (156 weeks) has passed by today as well.
    let slot = open_day(&ctx, R, now().date_naive() - Duration::weeks(200)).await[0].clone();
    let (reference, booking_id) =
        book(&ctx, R, ANNA, slot.id, slot.starts_at - days(2), false).await;
    let with_subject = "select count(*) from consents where subject_ref is not null";
    assert_eq!(db.count(with_subject).await, 1);
    // The booking path stored the hash of the exact consent text shown.
    let policies = datenwart::ops::policies::load(&shipped_policies()).unwrap();
    let shown = &policies
        .get(R)
        .unwrap()
        .booking_purpose()
        .consent
        .as_ref()
        .unwrap()
        .text;
    use sha2::Digest;
    let hash = hex::encode(sha2::Sha256::digest(shown.as_bytes()));
    assert_eq!(
        db.count(&format!(
            "select count(*) from consents where text_sha256 = '{hash}'"
        ))
        .await,
        1
    );

    let boundary = slot.ends_at + Duration::hours(48);
    let report = run_at(&ctx, boundary).await;
    assert_eq!(counts(&report, Some(R), "bookings"), (1, 0, 0));
    assert!(!with_personal_data(&db, &reference).await);
    // The consent proves that consent was given, and to which text, but not by whom or
    // for which booking.
    assert_eq!(db.count(with_subject).await, 0);
    assert_eq!(
        db.count(&format!(
            "select count(*) from consents where booking_id = {booking_id}"
        ))
        .await,
        0
    );
    assert_eq!(
        db.count(&format!(
            "select count(*) from consents where booking_id is null and subject_ref is null
               and text_sha256 = '{hash}' and text_version is not null and given_at is not null
               and anonymized_at = '{}'",
            ts(boundary)
        ))
        .await,
        1
    );
    // Nothing links the person to anything any more: `subject find` finds nobody.
    drop(ctx);
    let o = cli::run(&db, &["subject", "find", "--email", ANNA.0]);
    assert_exit(&o, 3);

    // The proof goes after the period of the policy's consent_proofs rule.
    let ctx = db.context().await;
    let report = run_at(&ctx, now()).await;
    assert_eq!(counts(&report, Some(R), "consent_proofs"), (0, 1, 0));
    assert_eq!(db.count("select count(*) from consents").await, 0);
}

async fn the_audit_trails_old_pseudonyms_are_cleared_and_the_chain_still_verifies(db: TestDb) {
    use datenwart::domain::audit::AuditEvent;
    let ctx = setup(&db).await;
    let anna = subject(&ctx, ANNA).await;
    let t = now();
    for (at, tenant) in [
        (t - Duration::weeks(157), R),
        (t - Duration::weeks(155), R),
        (t - Duration::weeks(157), W),
    ] {
        ctx.store
            .record_audit(
                AuditEvent::new("request.open", serde_json::json!({ "kind": "access" }))
                    .tenant(tenant)
                    .subject(anna.as_str()),
                &admin_at(at),
            )
            .await
            .unwrap();
    }
    let named = format!(
        "select count(*) from audit_log where subject_ref = '{}'",
        anna.as_str()
    );
    assert_eq!(db.count(&named).await, 3);

    let report = run_at(&ctx, t).await;
    assert_eq!(counts(&report, Some(R), "audit_subjects"), (1, 0, 0));
    assert_eq!(counts(&report, Some(W), "audit_subjects"), (1, 0, 0));
    // The entry within its period keeps the pseudonym; the others keep their action and
    // commitment, but neither pseudonym nor salt.
    assert_eq!(db.count(&named).await, 1);
    assert_eq!(
        db.count(
            "select count(*) from audit_log where action = 'request.open' and subject_ref is null
               and subject_salt is null and subject_commit is not null and anonymized_at is not null"
        )
        .await,
        2
    );
    // The hash chain is intact.
    drop(ctx);
    let o = cli::run(&db, &["audit", "verify"]);
    assert_exit(&o, 0);
    // A pseudonym put back by hand does not match the commitment: verify names the entry.
    db.execute_raw(&format!(
        "update audit_log set subject_ref = '{}', subject_salt = 'x' where subject_ref is null and action = 'request.open'",
        anna.as_str()
    ))
    .await;
    let o = cli::run(&db, &["audit", "verify"]);
    assert_exit(&o, 1);
}

async fn old_lines_of_the_erasure_ledger_file_go_after_the_policys_period(db: TestDb) {
    use datenwart::store::{LedgerEntry, LedgerFile, RowMarks};
    let ctx = setup(&db).await;
    let anna = subject(&ctx, ANNA).await;
    let t = now();
    let line = |tenant: &str, weeks: i64| LedgerEntry {
        subject_ref: anna.clone(),
        tenant: Some(tenant.into()),
        request_id: None,
        erased_at: t - Duration::weeks(weeks),
        upto: RowMarks::default(),
    };
    let ledger = LedgerFile::new(db.ledger());
    ledger
        .append(&[line(R, 105), line(R, 103), line(W, 105)])
        .unwrap();
    let plan = retention::plan(&ctx, Some(R), t).await.unwrap();
    let rule = plan
        .rules
        .iter()
        .find(|r| r.rule.data.as_str() == "erasure_ledger")
        .unwrap();
    assert_eq!(rule.due, 1);
    assert_eq!(ledger.read().unwrap().len(), 3, "a plan changes nothing");

    let report = run_at(&ctx, t).await;
    assert_eq!(report.outcome, "completed", "{:?}", report.problems);
    assert_eq!(counts(&report, Some(R), "erasure_ledger"), (0, 1, 0));
    assert_eq!(counts(&report, Some(W), "erasure_ledger"), (0, 1, 0));
    assert_eq!(ledger.read().unwrap(), vec![line(R, 103)]);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(db.ledger()).unwrap().permissions().mode() & 0o777,
        0o600
    );
}
