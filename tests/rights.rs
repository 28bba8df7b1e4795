//! The DPO's rights commands on both backends: find, erase (dry run, holds, restrictions,
//! the raw-bytes check, replay after a restore), correct, restrict, the request register.

mod common;

use chrono::{Duration, NaiveDate, Utc};
use common::cli::{assert_exit, json, run, stderr, stdout};
use common::people::{self, Citizen};
use common::{Kind, TestDb, fixture, ready};
use datenwart::domain::booking::BookingForm;
use datenwart::domain::requests::{Channel, IdentityCheck, Outcome, RequestKind};
use datenwart::domain::subject::SubjectRef;
use datenwart::ops::rights::{self, Controllers, EraseRequest, FindBy, HoldOn};
use datenwart::ops::seeding;
use datenwart::ops::{Context, Refusal, requests};
use datenwart::store::RequestFilter;

const ANNA: &str = "Anna.Schmidt@Example.com";
const ANNA_PHONE: &str = "0171 2223334";
const BERND: &str = "bernd.vogel@example.org";

async fn open_day(ctx: &Context, tenant: &str, day: NaiveDate) {
    common::open_slots(ctx, tenant, day, "08:00-12:00", 3).await;
}

/// Slots yesterday and in five days at Recklinghausen and Westendorf.
async fn setup(db: &TestDb) -> Context {
    let ctx = ready(db).await;
    let today = Utc::now().date_naive();
    for t in ["recklinghausen", "westendorf"] {
        seeding::import_services(&ctx, t, &fixture("services.csv"))
            .await
            .unwrap();
        open_day(&ctx, t, today - Duration::days(1)).await;
        open_day(&ctx, t, today + Duration::days(5)).await;
    }
    ctx
}

/// Books `who` at `tenant`: one past appointment (booked three days ago) and one future
/// one, each with an access-log row of the booking request.
async fn book_both(ctx: &Context, tenant: &str, who: Citizen) -> Vec<String> {
    let form = |slot| BookingForm {
        sms_reminder: tenant == "westendorf",
        consent: tenant == "recklinghausen",
        ..who.form(slot)
    };
    let (past, future) =
        people::book_past_and_future(ctx, tenant, form, Duration::days(3), true).await;
    vec![past.reference, future.reference]
}

const ANNA_T: Citizen = Citizen {
    first: "Anna",
    last: "Schmidt",
    email: ANNA,
    phone: ANNA_PHONE,
};
const BERND_T: Citizen = Citizen {
    first: "Bernd",
    last: "Vogel",
    email: BERND,
    phone: "0160 9998887",
};

fn erase_req<'a>(email: &'a str, tenant: Option<&'static str>, dry_run: bool) -> EraseRequest<'a> {
    EraseRequest {
        email,
        controllers: scope(tenant),
        dry_run,
        request: None,
        channel: Channel::Email,
        identity: None,
    }
}

/// One tenant, or (None) every tenant.
fn scope(tenant: Option<&str>) -> Controllers {
    tenant.map_or(Controllers::All, |t| Controllers::One(t.to_owned()))
}

on_both_backends!(
    find_shows_a_person_by_email_phone_and_name_at_every_tenant,
    a_dry_run_lists_every_row_and_changes_nothing,
    erasure_removes_the_person_everywhere_and_leaves_others_untouched,
    holds_and_restrictions_keep_data_and_are_reported,
    replay_erases_again_after_a_backup_is_restored,
    an_erasure_on_postgresql_without_a_ledger_is_refused_before_anything_changes,
    correction_validates_every_value_and_changes_nothing_on_error,
    the_register_computes_deadlines_and_extends_only_before_them,
    art_19_follows_the_person_to_a_new_address_and_only_those_who_received_data_are_told,
    every_tenant_means_one_request_per_tenant_where_something_changes,
    an_erasure_the_database_refuses_leaves_its_request_open_without_an_identity,
    requests_for_several_tenants_are_registered_together_or_not_at_all,
    a_request_named_by_number_must_fit_and_one_made_without_a_tenant_is_closed_once,
);

async fn find_shows_a_person_by_email_phone_and_name_at_every_tenant(db: TestDb) {
    let ctx = setup(&db).await;
    book_both(&ctx, "recklinghausen", ANNA_T).await;
    book_both(&ctx, "westendorf", ANNA_T).await;
    book_both(&ctx, "westendorf", BERND_T).await;
    let by_email = rights::find(
        &ctx,
        &FindBy::Email("  anna.schmidt@EXAMPLE.com ".into()),
        None,
    )
    .await
    .unwrap();
    let tenants: std::collections::BTreeSet<&str> =
        by_email.iter().map(|a| a.tenant.as_str()).collect();
    assert_eq!(
        tenants.into_iter().collect::<Vec<_>>(),
        vec!["recklinghausen", "westendorf"]
    );
    let bookings = |rows: &[rights::Appearance], t: &str| {
        rows.iter()
            .find(|a| a.tenant == t && a.category == "bookings")
            .map(|a| a.rows)
    };
    assert_eq!(bookings(&by_email, "westendorf"), Some(2));
    assert!(
        by_email
            .iter()
            .any(|a| a.category == "access_log" && a.rows == 2)
    );
    let by_phone = rights::find(&ctx, &FindBy::Phone("+49 171 2223334".into()), None)
        .await
        .unwrap();
    assert_eq!(bookings(&by_phone, "recklinghausen"), Some(2));
    let by_name = rights::find(
        &ctx,
        &FindBy::Name("anna SCHMIDT".into()),
        Some("westendorf"),
    )
    .await
    .unwrap();
    assert!(by_name.iter().all(|a| a.tenant == "westendorf"));
    assert_eq!(bookings(&by_name, "westendorf"), Some(2));
    let nobody = rights::find(&ctx, &FindBy::Email("nobody@example.net".into()), None)
        .await
        .unwrap_err();
    assert!(matches!(
        nobody.downcast_ref::<Refusal>(),
        Some(Refusal::NotFound(_))
    ));
}

async fn a_dry_run_lists_every_row_and_changes_nothing(db: TestDb) {
    let ctx = setup(&db).await;
    book_both(&ctx, "recklinghausen", ANNA_T).await;
    let before = db.count("select count(*) from notifications").await;
    let audit_before = db.count("select count(*) from audit_log").await;
    let dry = rights::erase(&ctx, &erase_req(ANNA, None, true))
        .await
        .unwrap();
    assert!(dry.report.dry_run);
    let actions: Vec<(&str, &str)> = dry
        .report
        .changes
        .iter()
        .map(|c| (c.category, c.action))
        .collect();
    assert!(actions.contains(&("bookings", "cancel")));
    assert!(actions.contains(&("slots", "free_place")));
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == ("bookings", "anonymize"))
            .count(),
        2
    );
    assert_eq!(actions.iter().filter(|a| a.0 == "access_log").count(), 2);
    assert_eq!(
        db.count("select count(*) from bookings where email is not null")
            .await,
        2
    );
    assert_eq!(db.count("select count(*) from notifications").await, before);
    assert_eq!(
        db.count("select count(*) from requests").await,
        0,
        "a dry run opens no request"
    );
    assert!(ctx.store.erasure_ledger().await.unwrap().is_empty());
    assert!(!db.ledger().exists(), "a dry run writes no ledger");
    assert_eq!(
        db.count("select count(*) from audit_log").await,
        audit_before
    );
}

async fn erasure_removes_the_person_everywhere_and_leaves_others_untouched(db: TestDb) {
    let ctx = setup(&db).await;
    book_both(&ctx, "recklinghausen", ANNA_T).await;
    let anna_w = book_both(&ctx, "westendorf", ANNA_T).await;
    book_both(&ctx, "westendorf", BERND_T).await;
    let future_slot = db
        .count(&format!(
            "select slot_id from bookings where reference = '{}'",
            anna_w[1]
        ))
        .await;
    let booked_before = db
        .count(&format!(
            "select booked from slots where id = {future_slot}"
        ))
        .await;

    let done = rights::erase(&ctx, &erase_req(ANNA, None, false))
        .await
        .unwrap();
    assert_eq!(done.report.counts.len(), 2);
    for (_, c) in &done.report.counts {
        assert_eq!(
            (
                c.bookings_cancelled,
                c.bookings_anonymized,
                c.access_log_deleted
            ),
            (1, 2, 2)
        );
    }
    assert_eq!(
        db.count(&format!(
            "select booked from slots where id = {future_slot}"
        ))
        .await,
        booked_before - 1
    );
    // Anna's personal data are gone from every table …
    for sql in [
        "select count(*) from bookings where email like '%schmidt%' or phone = '+491712223334' or last_name = 'Schmidt'",
        "select count(*) from notifications where recipient like '%schmidt%' or body like '%Schmidt%'",
        "select count(*) from access_log where booking_id in (select id from bookings where anonymized_at is not null)",
        "select count(*) from consents where subject_ref is not null and booking_id in (select id from bookings where anonymized_at is not null)",
    ] {
        assert_eq!(db.count(sql).await, 0, "{sql}");
    }
    // … statistics survive, consents remain as proof of withdrawal …
    assert_eq!(
        db.count("select count(*) from bookings where anonymized_at is not null")
            .await,
        4
    );
    assert_eq!(db.count("select count(*) from consents where subject_ref is null and withdrawal_source = 'erasure'").await, 4);
    // … Bernd is untouched.
    assert_eq!(db.count("select count(*) from bookings where email = 'bernd.vogel@example.org' and status = 'booked'").await, 2);
    assert_eq!(
        db.count("select count(*) from access_log where booking_id is not null")
            .await,
        2
    );
    // The register, the ledger and the audit trail record it pseudonymously.
    let closed = requests::list(
        &ctx,
        &RequestFilter {
            kind: Some(RequestKind::Erasure),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(closed.len(), 2);
    assert!(
        closed
            .iter()
            .all(|r| r.outcome.map(|o| o.as_str()) == Some("erased"))
    );
    let ledger = ctx.store.erasure_ledger().await.unwrap();
    assert_eq!(
        ledger
            .iter()
            .filter(|e| e.subject_ref == done.subject_ref)
            .count(),
        2
    );
    // The ledger file holds pseudonyms, never the address, and only its owner reads it.
    let text = std::fs::read_to_string(db.ledger()).unwrap();
    assert!(!text.to_lowercase().contains("anna"), "{text}");
    assert!(text.contains(done.subject_ref.as_str()));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(db.ledger()).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        db.count("select count(*) from audit_log where action = 'subject.erase'")
            .await,
        2
    );
    assert_eq!(db.count("select count(*) from audit_log where lower(details) like '%schmidt%' or details like '%2223334%'").await, 0);
    // Nor anywhere else in the trail (actor, subject, details), hers or the other person's.
    people::assert_audit_trail_names_nobody(&ctx, &[ANNA_T, BERND_T]).await;

    if db.kind == Kind::Sqlite {
        // No byte of her e-mail, phone or names is left in the database files.
        drop(ctx);
        let mut bytes = Vec::new();
        for suffix in ["", "-wal"] {
            let path = format!("{}{suffix}", db.sqlite_file().display());
            if let Ok(b) = std::fs::read(&path) {
                bytes.extend(b);
            }
        }
        assert!(!bytes.is_empty());
        for needle in [
            "anna.schmidt@example.com",
            "Anna.Schmidt@Example.com",
            "+491712223334",
            "Schmidt",
        ] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} is still in the database files"
            );
        }
        assert!(
            bytes.windows(5).any(|w| w == b"Vogel"),
            "the other person is still there"
        );
    }
}

async fn holds_and_restrictions_keep_data_and_are_reported(db: TestDb) {
    let ctx = setup(&db).await;
    let anna = book_both(&ctx, "westendorf", ANNA_T).await;
    book_both(&ctx, "recklinghausen", ANNA_T).await;
    // A hold on one booking keeps that booking; the rest goes.
    rights::hold_add(
        &ctx,
        "westendorf",
        HoldOn::Booking(&anna[0]),
        "Widerspruchsverfahren",
        None,
    )
    .await
    .unwrap();
    // A restriction at Recklinghausen keeps everything there.
    rights::restrict(
        &ctx,
        ANNA,
        &scope(Some("recklinghausen")),
        "Richtigkeit bestritten",
        None,
        Channel::Letter,
    )
    .await
    .unwrap();
    let done = rights::erase(&ctx, &erase_req(ANNA, None, false))
        .await
        .unwrap();
    let kept: Vec<(&str, &str)> = done
        .report
        .kept
        .iter()
        .map(|k| (k.tenant.as_str(), k.what.as_str()))
        .collect();
    assert!(kept.contains(&("westendorf", anna[0].as_str())), "{kept:?}");
    assert!(kept.contains(&("recklinghausen", "all")), "{kept:?}");
    assert!(
        done.report
            .kept
            .iter()
            .any(|k| k.reason.contains("Richtigkeit bestritten"))
    );
    assert_eq!(
        db.count(&format!(
            "select count(*) from bookings where reference = '{}' and email is not null",
            anna[0]
        ))
        .await,
        1
    );
    assert_eq!(
        db.count(&format!(
            "select count(*) from bookings where reference = '{}' and email is null",
            anna[1]
        ))
        .await,
        1
    );
    assert_eq!(db.count("select count(*) from bookings b join tenants t on t.id = b.tenant_id where t.slug = 'recklinghausen' and b.email is not null").await, 2);
    let partly = requests::list(
        &ctx,
        &RequestFilter {
            tenant: Some("westendorf".into()),
            kind: Some(RequestKind::Erasure),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(partly[0].outcome.map(|o| o.as_str()), Some("erased_partly"));

    // Lifted and removed: the next erasure takes the rest.
    let notices = tempfile::tempdir().unwrap();
    let to_notices = requests::LetterOptions {
        out: Some(notices.path().join("vorgang")),
        salutation: None,
        ..Default::default()
    };
    let lifted = rights::lift(&ctx, ANNA, &Controllers::All, None, &to_notices)
        .await
        .unwrap();
    assert_eq!(
        lifted.letters.len(),
        1,
        "a notice before lifting (Art. 18(3))"
    );
    let holds = rights::hold_list(&ctx, Some("westendorf"), false)
        .await
        .unwrap();
    rights::hold_remove(&ctx, holds[0].id).await.unwrap();
    assert!(rights::hold_remove(&ctx, holds[0].id).await.is_err());
    rights::erase(&ctx, &erase_req(ANNA, None, false))
        .await
        .unwrap();
    assert_eq!(
        db.count("select count(*) from bookings where email is not null")
            .await,
        0
    );
}

/// Anna's bookings that still hold her address.
async fn annas_bookings(db: &TestDb) -> i64 {
    db.count("select count(*) from bookings where lower(email) = 'anna.schmidt@example.com'")
        .await
}

/// Books Anna at Westendorf in the next free slot, stamped `at`.
async fn book_anna_at(ctx: &Context, at: chrono::DateTime<Utc>) {
    let slot = people::first_free_slot(ctx, "westendorf", Utc::now()).await;
    people::book(ctx, "westendorf", &ANNA_T.form(slot), at, None).await;
}

async fn replay_erases_again_after_a_backup_is_restored(db: TestDb) {
    let ctx = setup(&db).await;
    book_both(&ctx, "westendorf", ANNA_T).await;
    book_both(&ctx, "westendorf", BERND_T).await;
    drop(ctx);
    // The backup: a copy of the database (SQLite: the file; PostgreSQL: `create database …
    // template …`). The ledger file is not part of it.
    let backup = db.snapshot().await;
    let ctx = db.context().await;
    rights::erase(&ctx, &erase_req(ANNA, Some("westendorf"), false))
        .await
        .unwrap();
    let ledger = ctx.store.erasure_ledger().await.unwrap();
    assert_eq!(ledger.len(), 1);
    let erased_at = ledger[0].erased_at;
    assert_eq!(annas_bookings(&db).await, 0);

    // Anna books again in the very second of her erasure: a replay leaves that booking.
    book_anna_at(&ctx, erased_at).await;
    rights::replay(&ctx).await.unwrap();
    assert_eq!(
        annas_bookings(&db).await,
        1,
        "a booking after the erasure stays"
    );
    drop(ctx);

    // The backup from before the erasure is restored: Anna is back, the ledger is not
    // touched (SQLite: the copy replaces the database file, the ledger beside it stays;
    // PostgreSQL: the copy is the database now, with the same ledger file).
    let ledger_path = db.ledger();
    let restored = match db.kind {
        Kind::Sqlite => {
            let file = db.sqlite_file();
            for suffix in ["-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
            std::fs::copy(backup.sqlite_file(), &file).unwrap();
            assert!(ledger_path.exists(), "the restore did not touch the ledger");
            &db
        }
        Kind::Postgres => &backup,
    };
    assert_eq!(annas_bookings(restored).await, 2);

    // erase --replay through the binary re-erases her from the ledger file.
    let ledger_arg = ledger_path.display().to_string();
    let o = run(
        restored,
        &[
            "--ledger",
            &ledger_arg,
            "--format",
            "json",
            "erase",
            "--replay",
            "--yes",
        ],
    );
    assert_exit(&o, 0);
    assert_eq!(annas_bookings(restored).await, 0);
    assert_eq!(
        restored
            .count("select count(*) from bookings where email = 'bernd.vogel@example.org'")
            .await,
        2
    );
    assert_eq!(
        restored
            .count("select count(*) from audit_log where action = 'subject.erase_replay'")
            .await,
        1
    );

    // After the restore, Anna books again, stamped in the second of her erasure: a later
    // replay leaves it, and adds nothing to the ledger.
    let rctx = restored
        .context_with_ledger(&common::shipped_policies(), ledger_path.clone())
        .await;
    book_anna_at(&rctx, erased_at).await;
    rights::replay(&rctx).await.unwrap();
    assert_eq!(annas_bookings(restored).await, 1);
    assert_eq!(rctx.store.erasure_ledger().await.unwrap().len(), 1);
}

async fn an_erasure_on_postgresql_without_a_ledger_is_refused_before_anything_changes(db: TestDb) {
    let ctx = setup(&db).await;
    book_both(&ctx, "westendorf", ANNA_T).await;
    drop(ctx);
    let mut cmd = common::cli::command(
        &db.url,
        &common::shipped_policies(),
        &[
            "erase",
            "--identity-checked-by",
            "in-person",
            "--email",
            ANNA,
            "--tenant",
            "westendorf",
            "--yes",
        ],
    );
    cmd.env_remove("DATENWART_LEDGER");
    let o = common::cli::output(cmd);
    match db.kind {
        // SQLite has its default beside the database file.
        Kind::Sqlite => {
            assert_exit(&o, 0);
            assert!(db.ledger().exists());
        }
        Kind::Postgres => {
            assert_exit(&o, 2);
            assert!(stderr(&o).contains("--ledger"), "{}", stderr(&o));
            assert_eq!(annas_bookings(&db).await, 2);
            assert_eq!(db.count("select count(*) from requests").await, 0);
        }
    }
}

async fn correction_validates_every_value_and_changes_nothing_on_error(db: TestDb) {
    let ctx = setup(&db).await;
    book_both(&ctx, "westendorf", ANNA_T).await;
    let bad = rights::correct(
        &ctx,
        ANNA,
        &Controllers::All,
        &["last_name=Schmidt-Berg".into(), "phone=nope".into()],
        None,
        Channel::Letter,
    )
    .await
    .unwrap_err();
    assert!(matches!(
        bad.downcast_ref::<Refusal>(),
        Some(Refusal::InvalidInput(_))
    ));
    assert!(bad.to_string().contains("--set phone=nope"), "{bad}");
    let unknown = rights::correct(
        &ctx,
        ANNA,
        &Controllers::All,
        &["nickname=Anni".into()],
        None,
        Channel::Letter,
    )
    .await
    .unwrap_err();
    assert!(unknown.to_string().contains("unknown field"), "{unknown}");
    assert_eq!(
        db.count("select count(*) from bookings where last_name = 'Schmidt'")
            .await,
        2
    );
    assert_eq!(db.count("select count(*) from requests").await, 0);

    let new_email = "anna.berg@example.net";
    let r = rights::correct(
        &ctx,
        ANNA,
        &Controllers::All,
        &[
            "last_name=Schmidt-Berg".into(),
            format!("email={new_email}"),
            "birth_date=1985-04-12".into(),
        ],
        None,
        Channel::Letter,
    )
    .await
    .unwrap();
    assert_eq!(r.bookings, vec![("westendorf".to_owned(), 2)]);
    assert_eq!(db.count("select count(*) from bookings where last_name = 'Schmidt-Berg' and email = 'anna.berg@example.net'").await, 2);
    // She is found by the new address, with her consents and history.
    let found = rights::find(&ctx, &FindBy::Email(new_email.into()), None)
        .await
        .unwrap();
    assert!(found.iter().any(|a| a.category == "consents"));
    assert!(found.iter().any(|a| a.category == "requests"));
    assert!(
        rights::find(&ctx, &FindBy::Email(ANNA.into()), None)
            .await
            .is_err()
    );
    // Audited without the values.
    assert_eq!(db.count("select count(*) from audit_log where action = 'subject.correct' and details like '%last_name%'").await, 1);
    assert_eq!(
        db.count(
            "select count(*) from audit_log where details like '%Berg%' or details like '%1985%'"
        )
        .await,
        0
    );
}

async fn the_register_computes_deadlines_and_extends_only_before_them(db: TestDb) {
    let ctx = setup(&db).await;
    let subject = rights::email_ref(&ctx, ANNA).await.unwrap();
    let received = |d: &str| format!("{d}T10:00:00Z").parse().unwrap();
    // 31 January 2026 → no 31 February → 28 February, a Saturday → Monday 2 March.
    let r = requests::open(
        &ctx,
        Some("recklinghausen"),
        RequestKind::Access,
        Some(&subject),
        Channel::Letter,
        received("2026-01-31"),
    )
    .await
    .unwrap();
    assert_eq!(r.due_on, NaiveDate::from_ymd_opt(2026, 3, 2).unwrap());
    let r2 = requests::open(
        &ctx,
        Some("westendorf"),
        RequestKind::Erasure,
        Some(&subject),
        Channel::Email,
        received("2026-12-06"),
    )
    .await
    .unwrap();
    // 6 January 2027 (Heilige Drei Könige) is a holiday in Bavaria → 7 January.
    assert_eq!(r2.due_on, NaiveDate::from_ymd_opt(2027, 1, 7).unwrap());

    // Extension: only before the first deadline, only with a reason, only once.
    let letters = tempfile::tempdir().unwrap();
    let to_letters = requests::LetterOptions {
        out: Some(letters.path().join("vorgang")),
        salutation: None,
        ..Default::default()
    };
    let late = requests::extend(
        &ctx,
        r.id,
        2,
        "viele Anfragen",
        NaiveDate::from_ymd_opt(2026, 3, 3).unwrap(),
        &to_letters,
    )
    .await
    .unwrap_err();
    assert!(late.to_string().contains("has passed"), "{late}");
    let no_reason = requests::extend(
        &ctx,
        r2.id,
        2,
        " ",
        NaiveDate::from_ymd_opt(2026, 12, 10).unwrap(),
        &to_letters,
    )
    .await
    .unwrap_err();
    assert!(no_reason.to_string().contains("reason"));
    let ext = requests::extend(
        &ctx,
        r2.id,
        2,
        "Komplexität",
        NaiveDate::from_ymd_opt(2026, 12, 10).unwrap(),
        &to_letters,
    )
    .await
    .unwrap();
    assert_eq!(
        ext.request.extended_due_on,
        Some(NaiveDate::from_ymd_opt(2027, 3, 8).unwrap())
    );
    assert!(
        requests::extend(
            &ctx,
            r2.id,
            1,
            "nochmal",
            NaiveDate::from_ymd_opt(2026, 12, 11).unwrap(),
            &to_letters,
        )
        .await
        .is_err()
    );

    let overdue = requests::list(
        &ctx,
        &RequestFilter {
            due_on_or_before: Some(Utc::now().date_naive()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(overdue.iter().map(|r| r.id).collect::<Vec<_>>(), vec![r.id]);
    let closed = requests::close(&ctx, r.id, Outcome::Answered)
        .await
        .unwrap();
    assert_eq!(
        (closed.status.as_str(), closed.outcome.map(|o| o.as_str())),
        ("closed", Some("answered"))
    );
    assert!(
        requests::close(&ctx, r.id, Outcome::Answered)
            .await
            .is_err()
    );
    assert_eq!(
        db.count("select count(*) from audit_log where action like 'request.%'")
            .await,
        4
    );
}

// ---- the same commands through the binary: exit codes and refusals ----

on_both_backends!(the_rights_commands_exit_with_the_documented_codes);

async fn the_rights_commands_exit_with_the_documented_codes(db: TestDb) {
    let ctx = setup(&db).await;
    book_both(&ctx, "westendorf", ANNA_T).await;
    drop(ctx);

    let o = run(&db, &["subject", "find", "--email", "nobody@example.net"]);
    assert_exit(&o, 3);
    let o = run(
        &db,
        &["--format", "json", "subject", "find", "--email", ANNA],
    );
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("\"category\": \"bookings\""));

    // Not on a terminal and no --yes: refused, nothing erased.
    let o = run(
        &db,
        &[
            "erase",
            "--identity-checked-by",
            "in-person",
            "--email",
            ANNA,
            "--all-tenants",
        ],
    );
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("--yes"), "{}", stderr(&o));
    // One controller at a time: neither --tenant nor --all-tenants (or both) is a usage
    // error for each of the four commands, and changes nothing.
    for args in [
        &[
            "erase",
            "--identity-checked-by",
            "in-person",
            "--email",
            ANNA,
            "--yes",
        ][..],
        &[
            "erase",
            "--identity-checked-by",
            "in-person",
            "--email",
            ANNA,
            "--yes",
            "--tenant",
            "westendorf",
            "--all-tenants",
        ][..],
        &[
            "correct",
            "--identity-checked-by",
            "in-person",
            "--email",
            ANNA,
            "--set",
            "last_name=Berg",
        ][..],
        &[
            "restrict",
            "--identity-checked-by",
            "in-person",
            "--email",
            ANNA,
            "--reason",
            "bestritten",
        ][..],
        &[
            "restrict",
            "--identity-checked-by",
            "in-person",
            "--email",
            ANNA,
            "--lift",
        ][..],
        &[
            "export",
            "--identity-checked-by",
            "in-person",
            "--email",
            ANNA,
            "--out",
            "nirgends",
        ][..],
    ] {
        let o = run(&db, args);
        assert_exit(&o, 2);
        assert!(
            stderr(&o).contains("--all-tenants"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    assert_eq!(db.count("select count(*) from requests").await, 0);
    assert_eq!(db.count("select count(*) from restrictions").await, 0);
    assert_eq!(
        db.count("select count(*) from bookings where email is not null")
            .await,
        2
    );

    let o = run(
        &db,
        &[
            "correct",
            "--identity-checked-by",
            "in-person",
            "--email",
            ANNA,
            "--all-tenants",
            "--set",
            "birth_date=31.02.1980",
        ],
    );
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("--set birth_date=31.02.1980"),
        "{}",
        stderr(&o)
    );
    let o = run(
        &db,
        &[
            "correct",
            "--identity-checked-by",
            "in-person",
            "--email",
            ANNA,
            "--tenant",
            "westendorf",
            "--set",
            "shoe_size=42",
        ],
    );
    assert_exit(&o, 2);
    assert_eq!(
        db.count("select count(*) from bookings where birth_date is not null")
            .await,
        0
    );
    assert_eq!(
        db.count("select count(*) from audit_log where action = 'subject.correct'")
            .await,
        0
    );

    let o = run(
        &db,
        &[
            "erase",
            "--identity-checked-by",
            "in-person",
            "--email",
            ANNA,
            "--all-tenants",
            "--dry-run",
        ],
    );
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("nothing was changed"));
    let o = run(
        &db,
        &[
            "--format",
            "json",
            "erase",
            "--identity-checked-by",
            "in-person",
            "--email",
            ANNA,
            "--all-tenants",
            "--yes",
        ],
    );
    assert_exit(&o, 0);
    let report = json(&o);
    assert_eq!(report[0]["counts"][0][1]["bookings_anonymized"], 2);
    assert_eq!(
        db.count("select count(*) from bookings where email is not null")
            .await,
        0
    );
    // Asked again for every tenant: nothing changes anywhere, so no request is opened.
    let requests = db.count("select count(*) from requests").await;
    let o = run(
        &db,
        &[
            "erase",
            "--identity-checked-by",
            "in-person",
            "--email",
            ANNA,
            "--all-tenants",
            "--yes",
        ],
    );
    assert_exit(&o, 3);
    assert_eq!(db.count("select count(*) from requests").await, requests);
    // Asked at Westendorf: only the register still knows her (pseudonymously); the request
    // is answered, nothing left to erase.
    let o = run(
        &db,
        &[
            "--format",
            "json",
            "erase",
            "--identity-checked-by",
            "in-person",
            "--email",
            ANNA,
            "--tenant",
            "westendorf",
            "--yes",
        ],
    );
    assert_exit(&o, 0);
    assert_eq!(
        db.count("select count(*) from requests").await,
        requests + 1
    );
    let again = json(&o);
    assert_eq!(again[0]["counts"][0][1]["bookings_anonymized"], 0);
    assert_eq!(again[0]["changes"].as_array().map(Vec::len), Some(0));

    let o = run(&db, &["--format", "csv", "requests", "list"]);
    let csv = stdout(&o);
    assert!(
        csv.starts_with("id,tenant,kind,channel,identity,received_at,due_on,"),
        "{csv}"
    );
    assert!(
        csv.contains(",westendorf,erasure,email,in_person,"),
        "{csv}"
    );
    let o = run(&db, &["requests", "extend", "999", "--reason", "x"]);
    assert_exit(&o, 3);
    let o = run(
        &db,
        &["requests", "open", "--kind", "auskunft", "--email", ANNA],
    );
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("\"auskunft\" is not one of access"),
        "{}",
        stderr(&o)
    );
}

/// Hands every due e-mail to a pretend mail server: claimed and marked sent through the
/// store, with the disclosures `send` records.
async fn mark_all_sent(ctx: &Context) -> usize {
    let now = datenwart::domain::time::now();
    let claim = datenwart::store::Claim {
        channel: datenwart::domain::delivery::Channel::Email,
        worker: "test".into(),
        now,
        until: now + Duration::minutes(5),
        limit: 100,
        sender_domains: [("westendorf".to_owned(), "vg-westendorf.de".to_owned())].into(),
    };
    let claimed = ctx.store.claim_notifications(&claim).await.unwrap();
    for n in &claimed {
        let policy = ctx.policies.get(&n.tenant).unwrap();
        let sent = datenwart::store::Attempt::Sent {
            reply: "250 ok".into(),
            disclosed: datenwart::ops::send::disclosed_to(
                policy,
                &n.kind,
                datenwart::domain::policy::Handover::Email,
            ),
        };
        assert!(
            ctx.store
                .record_attempt("test", n.id, &sent, now)
                .await
                .unwrap()
        );
    }
    claimed.len()
}

async fn art_19_follows_the_person_to_a_new_address_and_only_those_who_received_data_are_told(
    db: TestDb,
) {
    let ctx = setup(&db).await;
    book_both(&ctx, "westendorf", ANNA_T).await;
    let sent = mark_all_sent(&ctx).await;
    assert!(
        sent >= 2,
        "the future booking's confirmation and office copy"
    );
    book_both(&ctx, "westendorf", BERND_T).await; // nothing of his goes out
    let anna = people::subject_ref(&ctx, ANNA).await;
    let disclosed = format!(
        "select count(*) from disclosures where subject_ref = '{}'",
        anna.as_str()
    );
    assert_eq!(db.count(&disclosed).await, sent as i64);

    // A new e-mail address: her disclosures follow her to the new reference, and the one
    // recipient that received her data is to be told.
    let new_email = "anna.berg@example.net";
    let r = rights::correct(
        &ctx,
        ANNA,
        &scope(Some("westendorf")),
        &[format!("email={new_email}")],
        None,
        Channel::Letter,
    )
    .await
    .unwrap();
    assert_eq!(db.count(&disclosed).await, 0);
    let new_ref = people::subject_ref(&ctx, new_email).await;
    assert_eq!(
        db.count(&format!(
            "select count(*) from disclosures where subject_ref = '{}'",
            new_ref.as_str()
        ))
        .await,
        sent as i64
    );
    assert_eq!(r.to_tell.len(), 1);
    assert_eq!(
        r.to_tell[0].recipient,
        "Bentjen Software GmbH, Hebelweg 8, 76275 Ettlingen"
    );
    assert_eq!(r.to_tell[0].recipient_role, "processor");
    // Her later Auskunft names the recipient under her new address.
    let data = ctx
        .store
        .subject_data(&new_ref, "westendorf")
        .await
        .unwrap();
    assert_eq!(data.recipients.len(), sent);

    // Bernd received nothing from anyone: restricting him opens nothing to tell.
    let b = rights::restrict(
        &ctx,
        BERND,
        &scope(Some("westendorf")),
        "bestritten",
        None,
        Channel::Letter,
    )
    .await
    .unwrap();
    assert_eq!(b.recipients_to_tell, 0);
    assert_eq!(db.count("select count(*) from recipient_notices").await, 1);
    // Restricted at all tenants (no --tenant), she gets her recipient once more on that request.
    let a = rights::restrict(
        &ctx,
        new_email,
        &scope(None),
        "bestritten",
        None,
        Channel::Letter,
    )
    .await
    .unwrap();
    assert_eq!(a.recipients_to_tell, 1);
    let told = requests::told(
        &ctx,
        a.restrictions[0].request,
        "BENTJEN",
        None,
        Utc::now()
            .with_timezone(&chrono_tz::Europe::Berlin)
            .date_naive(),
    )
    .await
    .unwrap();
    assert!(told[0].told_on.is_some() && told[0].told_by.as_deref() == Some(ctx.actor.as_str()));
    assert_eq!(
        requests::untold(&ctx).await.unwrap(),
        vec![(r.requests[0].1, 1)]
    );
}

async fn every_tenant_means_one_request_per_tenant_where_something_changes(db: TestDb) {
    let ctx = setup(&db).await;
    book_both(&ctx, "recklinghausen", ANNA_T).await;
    book_both(&ctx, "westendorf", ANNA_T).await;
    // Erased at Recklinghausen only: one request there, Westendorf untouched.
    let done = rights::erase(&ctx, &erase_req(ANNA, Some("recklinghausen"), false))
        .await
        .unwrap();
    assert_eq!(done.requests.len(), 1);
    assert_eq!(done.requests[0].0, "recklinghausen");
    assert_eq!(
        db.count("select count(*) from bookings where email is not null")
            .await,
        2
    );

    // Corrected everywhere: only Westendorf still holds bookings to change, so only it
    // gets a request (Recklinghausen knows her from its register alone).
    let r = rights::correct(
        &ctx,
        ANNA,
        &Controllers::All,
        &["last_name=Schmidt-Berg".into()],
        None,
        Channel::Letter,
    )
    .await
    .unwrap();
    assert_eq!(r.bookings, vec![("westendorf".to_owned(), 2)]);
    assert_eq!(r.requests.len(), 1);
    assert_eq!(r.requests[0].0, "westendorf");
    assert_eq!(
        db.count("select count(*) from requests where kind = 'rectification'")
            .await,
        1
    );

    // Restricted everywhere: one restriction and one request per tenant, none without one.
    let r = rights::restrict(
        &ctx,
        ANNA,
        &Controllers::All,
        "Richtigkeit bestritten",
        None,
        Channel::Letter,
    )
    .await
    .unwrap();
    let tenants: Vec<&str> = r.restrictions.iter().map(|x| x.tenant.as_str()).collect();
    assert_eq!(tenants, ["recklinghausen", "westendorf"]);
    assert_eq!(
        db.count("select count(*) from restrictions where tenant_id is null")
            .await,
        0
    );
    assert_eq!(
        db.count("select count(*) from requests where tenant_id is null")
            .await,
        0
    );
    assert_eq!(
        db.count("select count(*) from requests where kind = 'restriction'")
            .await,
        2
    );
    // Lifted at one tenant only.
    let notices = tempfile::tempdir().unwrap();
    let to_notices = requests::LetterOptions {
        out: Some(notices.path().join("vorgang")),
        salutation: None,
        ..Default::default()
    };
    let lifted = rights::lift(&ctx, ANNA, &scope(Some("westendorf")), None, &to_notices)
        .await
        .unwrap();
    assert_eq!(lifted.lifted, 1);
    assert_eq!(
        db.count("select count(*) from restrictions where lifted_at is null")
            .await,
        1
    );
}

on_both_backends!(the_identity_check_is_required_off_a_terminal_and_recorded_on_the_request);

async fn the_identity_check_is_required_off_a_terminal_and_recorded_on_the_request(db: TestDb) {
    let ctx = setup(&db).await;
    book_both(&ctx, "westendorf", ANNA_T).await;
    drop(ctx);
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("auskunft");
    let out = out.to_str().unwrap();
    let audit = "select count(*) from audit_log";
    let before = (
        db.count("select count(*) from requests").await,
        db.count(audit).await,
    );

    // Not on a terminal (the test's stdin) and no --identity-checked-by: refused, exit 2,
    // nothing done, the flag and its kinds named.
    for args in [
        vec!["export", "--email", ANNA, "--all-tenants", "--out", out],
        vec!["erase", "--email", ANNA, "--all-tenants", "--yes"],
        vec![
            "correct",
            "--email",
            ANNA,
            "--all-tenants",
            "--set",
            "last_name=Schmitt",
        ],
        vec![
            "restrict",
            "--email",
            ANNA,
            "--all-tenants",
            "--reason",
            "Richtigkeit bestritten",
        ],
    ] {
        let o = run(&db, &args);
        assert_exit(&o, 2);
        assert!(
            stderr(&o).contains("--identity-checked-by")
                && stderr(&o).contains("in_person, id_document"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    assert_eq!(
        (
            db.count("select count(*) from requests").await,
            db.count(audit).await
        ),
        before,
        "nothing registered, nothing audited"
    );
    assert!(!work.path().join("auskunft").exists());
    assert_eq!(
        db.count("select count(*) from bookings where email is not null")
            .await,
        2
    );
    assert_eq!(db.count("select count(*) from restrictions").await, 0);

    // A kind that does not exist: exit 2, the value named.
    let o = run(
        &db,
        &[
            "correct",
            "--email",
            ANNA,
            "--all-tenants",
            "--set",
            "last_name=Schmitt",
            "--identity-checked-by",
            "gut",
        ],
    );
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("\"gut\" is not one of"),
        "{}",
        stderr(&o)
    );

    // With it: recorded on the request each command answers, shown by `requests list`.
    for (args, kind, identity) in [
        (
            vec![
                "export",
                "--email",
                ANNA,
                "--all-tenants",
                "--out",
                out,
                "--identity-checked-by",
                "id-document",
            ],
            "access",
            "id_document",
        ),
        (
            vec![
                "correct",
                "--email",
                ANNA,
                "--all-tenants",
                "--set",
                "last_name=Schmitt",
                "--identity-checked-by",
                "phone_callback",
            ],
            "rectification",
            "phone_callback",
        ),
        (
            vec![
                "restrict",
                "--email",
                ANNA,
                "--tenant",
                "westendorf",
                "--reason",
                "Richtigkeit bestritten",
                "--identity-checked-by",
                "letter",
            ],
            "restriction",
            "letter",
        ),
    ] {
        let o = run(&db, &args);
        assert_exit(&o, 0);
        assert_eq!(
            db.count(&format!(
                "select count(*) from requests where kind = '{kind}' and identity = '{identity}'"
            ))
            .await,
            1,
            "{args:?}"
        );
    }
    let notices = work.path().join("vorgang");
    run(
        &db,
        &[
            "restrict",
            "--email",
            ANNA,
            "--all-tenants",
            "--lift",
            "--out",
            notices.to_str().unwrap(),
        ],
    );
    let o = run(
        &db,
        &[
            "erase",
            "--email",
            ANNA,
            "--all-tenants",
            "--yes",
            "--identity-checked-by",
            "in-person",
        ],
    );
    assert_exit(&o, 0);
    assert_eq!(
        db.count("select count(*) from requests where kind = 'erasure' and identity = 'in_person'")
            .await,
        1
    );
    assert_eq!(
        db.count("select count(*) from audit_log where action = 'request.identity'")
            .await,
        4
    );
    let o = run(&db, &["--format", "csv", "requests", "list"]);
    assert!(
        stdout(&o).contains(",westendorf,access,email,id_document,"),
        "{}",
        stdout(&o)
    );
    // A later Auskunft lists the earlier requests with how identity was established.
    let later = work.path().join("auskunft-2");
    let o = run(
        &db,
        &[
            "export",
            "--email",
            ANNA,
            "--all-tenants",
            "--out",
            later.to_str().unwrap(),
            "--identity-checked-by",
            "letter",
        ],
    );
    assert_exit(&o, 0);
    let csv = std::fs::read_to_string(later.join("antraege.csv")).unwrap();
    assert!(csv.lines().next().unwrap().contains("identity"), "{csv}");
    for kind in ["id_document", "phone_callback", "letter", "in_person"] {
        assert!(csv.contains(kind), "{kind}: {csv}");
    }
    // `requests open` records it when given (it does not ask: registering acts on nobody).
    let o = run(
        &db,
        &[
            "--format",
            "json",
            "requests",
            "open",
            "--kind",
            "objection",
            "--email",
            ANNA,
            "--tenant",
            "westendorf",
            "--channel",
            "letter",
            "--identity-checked-by",
            "letter",
        ],
    );
    assert_exit(&o, 0);
    assert_eq!(json(&o)[0]["identity"], "letter", "{}", stdout(&o));
}

/// The identity is recorded in the erasure's own transaction: when the database refuses
/// the erasure, the request registered for it stays open with no identity and no entry
/// in the audit trail says otherwise; the person's bookings are as they were.
async fn an_erasure_the_database_refuses_leaves_its_request_open_without_an_identity(db: TestDb) {
    let ctx = setup(&db).await;
    book_both(&ctx, "recklinghausen", ANNA_T).await;
    db.refuse(
        "refuse_erasure",
        "before update on bookings",
        None,
        "erasure refused",
    )
    .await;
    let req = EraseRequest {
        identity: Some(IdentityCheck::InPerson),
        ..erase_req(ANNA, Some("recklinghausen"), false)
    };
    let err = rights::erase(&ctx, &req).await.unwrap_err();
    assert!(format!("{err:#}").contains("erasure refused"), "{err:#}");
    assert_eq!(
        db.count("select count(*) from requests where kind = 'erasure' and status = 'open' and identity is null")
            .await,
        1
    );
    for action in ["request.identity", "request.close", "subject.erase"] {
        assert_eq!(db.audit_count(action).await, 0, "{action}");
    }
    assert_eq!(
        db.count("select count(*) from bookings where email is not null")
            .await,
        2
    );
    let verified = datenwart::ops::audit::verify(ctx.store.as_ref())
        .await
        .unwrap();
    assert!(verified.ok, "{:?}", verified.problem);
}

async fn requests_for_several_tenants_are_registered_together_or_not_at_all(db: TestDb) {
    // `export` and `erase` for every tenant register the missing requests in one
    // transaction and take them as the insert returns them, without reading them back.
    let ctx = setup(&db).await;
    let subject = rights::email_ref(&ctx, ANNA).await.unwrap();
    let existing = requests::open(
        &ctx,
        Some("westendorf"),
        RequestKind::Access,
        Some(&subject),
        Channel::Letter,
        "2026-11-02T09:00:00Z".parse().unwrap(),
    )
    .await
    .unwrap();
    let each = requests::ensure_each(
        &ctx,
        &[
            "recklinghausen".to_owned(),
            "westendorf".to_owned(),
            "oer-erkenschwick".to_owned(),
        ],
        RequestKind::Access,
        &subject,
        Channel::Email,
        None,
    )
    .await
    .unwrap();
    let tenants: Vec<(Option<&str>, bool)> = each
        .iter()
        .map(|(r, new)| (r.tenant.as_deref(), *new))
        .collect();
    assert_eq!(
        tenants,
        [
            (Some("recklinghausen"), true),
            (Some("westendorf"), false),
            (Some("oer-erkenschwick"), true)
        ]
    );
    assert_eq!(each[1].0.id, existing.id);
    for (r, _) in &each {
        // What the insert returned is the register's row, field by field.
        let stored = requests::get(&ctx, r.id).await.unwrap();
        assert_eq!(format!("{r:?}"), format!("{stored:?}"));
        assert_eq!(r.subject_ref.as_ref(), Some(&subject));
    }
    assert_eq!(db.audit_count("request.open").await, 3);

    // A tenant the database does not know, after one it does: neither is registered.
    let bernd = rights::email_ref(&ctx, BERND).await.unwrap();
    let new = |tenant: &str| datenwart::store::NewRequest {
        tenant: Some(tenant.to_owned()),
        kind: RequestKind::Erasure,
        subject_ref: Some(bernd.clone()),
        channel: Channel::Email,
        received_at: Utc::now(),
        due_on: NaiveDate::from_ymd_opt(2027, 1, 4).unwrap(),
        identity: None,
    };
    let refused = ctx
        .store
        .open_requests(&[new("recklinghausen"), new("gibt-es-nicht")], &ctx.audit())
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("gibt-es-nicht"), "{refused}");
    assert_eq!(db.count("select count(*) from requests").await, 3);
    assert_eq!(db.audit_count("request.open").await, 3);
    let verified = datenwart::ops::audit::verify(ctx.store.as_ref())
        .await
        .unwrap();
    assert!(verified.ok, "{:?}", verified.problem);
}

async fn a_request_named_by_number_must_fit_and_one_made_without_a_tenant_is_closed_once(
    db: TestDb,
) {
    // `--request N` closes N as answered: a mistyped number must never close another
    // person's request, one of another kind, or one made at another controller.
    let ctx = setup(&db).await;
    book_both(&ctx, "recklinghausen", ANNA_T).await;
    book_both(&ctx, "westendorf", ANNA_T).await;
    book_both(&ctx, "recklinghausen", BERND_T).await;
    let anna = rights::email_ref(&ctx, ANNA).await.unwrap();
    let bernd = rights::email_ref(&ctx, BERND).await.unwrap();
    let received = Utc::now();
    let open = |tenant: Option<&'static str>, kind: RequestKind, who: &SubjectRef| {
        let ctx = &ctx;
        let who = who.clone();
        async move {
            requests::open(ctx, tenant, kind, Some(&who), Channel::Letter, received)
                .await
                .unwrap()
                .id
        }
    };
    let bernds = open(Some("recklinghausen"), RequestKind::Erasure, &bernd).await;
    let access = open(Some("recklinghausen"), RequestKind::Access, &anna).await;
    let at_westendorf = open(Some("westendorf"), RequestKind::Erasure, &anna).await;
    let bookings = || db.count("select count(*) from bookings where email is not null");
    let before = bookings().await;
    let erase_with = |tenant: Option<&'static str>, request: i64| EraseRequest {
        request: Some(request),
        ..erase_req(ANNA, tenant, false)
    };
    for (tenant, request, says) in [
        (Some("recklinghausen"), bernds, "another person"),
        (
            Some("recklinghausen"),
            access,
            "of kind access, not erasure",
        ),
        (
            Some("recklinghausen"),
            at_westendorf,
            "was made at westendorf",
        ),
        (None, at_westendorf, "answer it with --tenant westendorf"),
        (Some("recklinghausen"), 9999, "no such request"),
    ] {
        let refused = rights::erase(&ctx, &erase_with(tenant, request))
            .await
            .unwrap_err();
        assert!(refused.to_string().contains(says), "{refused}");
        assert!(
            matches!(
                refused.downcast_ref::<Refusal>(),
                Some(Refusal::InvalidInput(_))
            ),
            "{refused:?}"
        );
    }
    assert_eq!(bookings().await, before, "a refused erasure erased");
    assert_eq!(
        db.count("select count(*) from requests where status = 'open'")
            .await,
        3
    );
    assert_eq!(db.count("select count(*) from requests").await, 3);

    // A request made without a tenant (to the shared service) answers at every tenant and
    // is closed once: correct, restrict and erase.
    for (kind, outcome) in [
        (RequestKind::Rectification, "rectified"),
        (RequestKind::Restriction, "restricted"),
        (RequestKind::Erasure, "erased_partly"),
    ] {
        let shared = open(None, kind, &anna).await;
        match kind {
            RequestKind::Rectification => {
                let r = rights::correct(
                    &ctx,
                    ANNA,
                    &Controllers::All,
                    &["last_name=Schmidt-Berg".into()],
                    Some(shared),
                    Channel::Letter,
                )
                .await
                .unwrap();
                assert_eq!(r.requests.len(), 2, "{:?}", r.requests);
            }
            RequestKind::Restriction => {
                let r = rights::restrict(
                    &ctx,
                    ANNA,
                    &Controllers::All,
                    "Richtigkeit bestritten",
                    Some(shared),
                    Channel::Letter,
                )
                .await
                .unwrap();
                assert_eq!(r.restrictions.len(), 2);
            }
            _ => {
                // Restricted at both tenants above: the erasure keeps everything.
                let done = rights::erase(&ctx, &erase_with(None, shared))
                    .await
                    .unwrap();
                assert_eq!(done.requests.len(), 2, "{:?}", done.requests);
                assert!(!done.report.kept.is_empty());
            }
        }
        assert_eq!(
            db.text(&format!(
                "select status || ' ' || outcome from requests where id = {shared}"
            ))
            .await,
            format!("closed {outcome}")
        );
        assert_eq!(
            db.count(&format!(
                "select count(*) from audit_log where action = 'request.close'
                 and (details like '%\"request\":{shared},%' or details like '%\"request\":{shared}}}%')"
            ))
            .await,
            1
        );
    }
    let verified = datenwart::ops::audit::verify(ctx.store.as_ref())
        .await
        .unwrap();
    assert!(verified.ok, "{:?}", verified.problem);
}
