//! The foundation's behaviour stories, run on SQLite and on PostgreSQL.

mod common;

use chrono::{Duration, NaiveDate, Utc};
use common::people::{self, Citizen};
use common::{TestDb, fixture, ready};
use datenwart::domain::requests::Channel;
use datenwart::domain::slots::parse_time_ranges;
use datenwart::ops::export::{self, ExportRequest};
use datenwart::ops::rights::{self, EraseRequest};
use datenwart::ops::seeding::{self, GenerateRequest};
use datenwart::ops::{self, Refusal, audit};
use datenwart::store::StoreError;

on_both_backends!(
    commands_refuse_a_database_that_was_never_migrated,
    migrate_twice_applies_nothing_the_second_time,
    tenants_sync_twice_creates_nothing_the_second_time,
    a_changed_policy_updates_its_tenant_on_sync,
    services_import_twice_creates_nothing_the_second_time,
    a_bad_service_row_is_reported_with_its_line_and_nothing_is_written,
    slots_generate_gives_the_expected_count_and_a_second_run_adds_none,
    slots_generate_leaves_out_slots_that_overlap_existing_ones,
    slots_import_opens_the_rows_of_the_file,
    an_overlapping_slots_file_is_refused_whole,
    audit_verify_passes_and_fails_after_an_entry_is_edited,
    audit_verify_fails_after_the_newest_entry_is_removed,
    every_change_is_audited_with_counts_only,
);

async fn commands_refuse_a_database_that_was_never_migrated(db: TestDb) {
    let ctx = db.context().await;
    let err = ctx.store.check_schema().await.unwrap_err();
    assert!(matches!(err, StoreError::SchemaBehind), "{err}");
    assert_eq!(
        err.to_string(),
        "database schema is behind; run `datenwart migrate`"
    );
}

async fn migrate_twice_applies_nothing_the_second_time(db: TestDb) {
    let ctx = db.context().await;
    let first = ops::migrate(&ctx).await.unwrap();
    assert_eq!(first.applied.len(), first.known);
    assert!(first.applied.iter().any(|m| m.version == 1));
    assert!(first.key_created);
    let key = ctx.store.pseudonym_key().await.unwrap();

    let second = ops::migrate(&ctx).await.unwrap();
    assert!(second.applied.is_empty());
    assert!(!second.key_created);
    assert_eq!(ctx.store.check_schema().await.unwrap().deferred_indexes, 0);
    // The key survives: pseudonyms stay stable across upgrades.
    let ctx2 = db.context().await;
    assert_eq!(
        ctx2.store.pseudonym_key().await.unwrap().as_bytes(),
        key.as_bytes()
    );
    assert_eq!(
        db.count("select count(*) from audit_log where action = 'schema.migrate'")
            .await,
        1
    );
}

async fn tenants_sync_twice_creates_nothing_the_second_time(db: TestDb) {
    let ctx = db.context().await;
    ops::migrate(&ctx).await.unwrap();
    let first = seeding::sync_tenants(&ctx).await.unwrap();
    assert_eq!(
        first.created,
        vec!["oer-erkenschwick", "recklinghausen", "westendorf"]
    );
    let second = seeding::sync_tenants(&ctx).await.unwrap();
    assert!(second.created.is_empty() && second.updated.is_empty());
    assert_eq!(second.unchanged.len(), 3);
    assert_eq!(db.count("select count(*) from tenants").await, 3);
}

async fn a_changed_policy_updates_its_tenant_on_sync(db: TestDb) {
    ready(&db).await;
    let dir = tempfile::tempdir().unwrap();
    for f in ["recklinghausen.toml", "westendorf.toml"] {
        std::fs::copy(common::shipped_policies().join(f), dir.path().join(f)).unwrap();
    }
    let path = dir.path().join("westendorf.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}\n# reviewed by the DPO\n")).unwrap();

    let ctx = db.context_with(dir.path()).await;
    let r = seeding::sync_tenants(&ctx).await.unwrap();
    assert_eq!(r.updated, vec!["westendorf"]);
    assert_eq!(r.unchanged, vec!["recklinghausen"]);
    // A tenant whose policy file is gone is kept, never deleted with its data.
    assert_eq!(r.without_policy, vec!["oer-erkenschwick"]);
    assert_eq!(db.count("select count(*) from tenants").await, 3);
}

async fn services_import_twice_creates_nothing_the_second_time(db: TestDb) {
    let ctx = ready(&db).await;
    let first = seeding::import_services(&ctx, "recklinghausen", &fixture("services.csv"))
        .await
        .unwrap();
    assert_eq!((first.created, first.updated, first.unchanged), (4, 0, 0));
    let second = seeding::import_services(&ctx, "recklinghausen", &fixture("services.csv"))
        .await
        .unwrap();
    assert_eq!(
        (second.created, second.updated, second.unchanged),
        (0, 0, 4)
    );
    let services = ctx.store.list_services("recklinghausen").await.unwrap();
    assert_eq!(services.len(), 4);
    assert!(
        services
            .iter()
            .any(|s| s.code == "FZ" && s.name == "Führungszeugnis" && s.duration_minutes == 10)
    );
    assert!(
        ctx.store
            .list_services("westendorf")
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_bad_service_row_is_reported_with_its_line_and_nothing_is_written(db: TestDb) {
    let ctx = ready(&db).await;
    let err = seeding::import_services(&ctx, "recklinghausen", &fixture("services_bad_row.csv"))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(
        err.downcast_ref::<Refusal>(),
        Some(Refusal::InvalidInput(_))
    ));
    assert!(
        msg.contains("services_bad_row.csv:3: duration_minutes: \"zwanzig\""),
        "{msg}"
    );
    assert_eq!(db.count("select count(*) from services").await, 0);
    assert_eq!(
        db.count("select count(*) from audit_log where action = 'services.import'")
            .await,
        0,
        "nor an audit entry of an import"
    );

    let unknown = seeding::import_services(&ctx, "nowhere", &fixture("services.csv"))
        .await
        .unwrap_err();
    assert!(
        unknown.to_string().contains("--tenant nowhere"),
        "{unknown}"
    );
}

fn generate_request(service: &str, every: Option<i64>) -> GenerateRequest {
    GenerateRequest {
        service: service.into(),
        // Monday 2026-11-30 to Sunday 2026-12-06.
        from: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
        to: NaiveDate::from_ymd_opt(2026, 12, 6).unwrap(),
        weekdays: "mon-fri".parse().unwrap(),
        times: parse_time_ranges("08:00-12:00").unwrap(),
        every_minutes: every,
        capacity: 2,
        include_holidays: false,
    }
}

async fn slots_generate_gives_the_expected_count_and_a_second_run_adds_none(db: TestDb) {
    let ctx = ready(&db).await;
    seeding::import_services(&ctx, "recklinghausen", &fixture("services.csv"))
        .await
        .unwrap();
    // AN takes 15 minutes: 16 slots a morning, 5 mornings.
    let first = seeding::generate_slots(&ctx, "recklinghausen", &generate_request("AN", None))
        .await
        .unwrap();
    assert_eq!(
        (first.created, first.existing, first.overlapping),
        (80, 0, 0)
    );
    let second = seeding::generate_slots(&ctx, "recklinghausen", &generate_request("AN", None))
        .await
        .unwrap();
    assert_eq!(
        (second.created, second.existing, second.overlapping),
        (0, 80, 0)
    );
    assert_eq!(db.count("select count(*) from slots").await, 80);
    assert_eq!(
        db.count("select count(*) from slots where capacity = 2 and booked = 0")
            .await,
        80
    );

    let filter = datenwart::store::SlotFilter {
        service: Some("AN".into()),
        limit: 1,
        ..Default::default()
    };
    let first_slot = &ctx
        .store
        .list_slots("recklinghausen", &filter)
        .await
        .unwrap()[0];
    // 08:00 in Recklinghausen on 30 November is 07:00 UTC.
    assert_eq!(
        datenwart::domain::time::format_instant(&first_slot.starts_at),
        "2026-11-30T07:00:00Z"
    );
}

async fn slots_generate_leaves_out_slots_that_overlap_existing_ones(db: TestDb) {
    let ctx = ready(&db).await;
    seeding::import_services(&ctx, "recklinghausen", &fixture("services.csv"))
        .await
        .unwrap();
    seeding::generate_slots(&ctx, "recklinghausen", &generate_request("PA", Some(30)))
        .await
        .unwrap();
    // Starting every 20 minutes instead: 08:00, 09:00, 10:00, 11:00 exist; 08:20, 08:40 …
    // collide with the 30-minute grid except 08:40? No: 08:30-08:50 is taken, so 08:40 overlaps.
    let r = seeding::generate_slots(&ctx, "recklinghausen", &generate_request("PA", Some(20)))
        .await
        .unwrap();
    assert_eq!(r.created + r.existing + r.overlapping, 5 * 12);
    assert_eq!(r.existing, 5 * 4);
    let before = db.count("select count(*) from slots").await;
    assert_eq!(before as usize, 5 * 8 + r.created);
    // The slots of one service still never overlap.
    let overlaps = db
        .count(
            "select count(*) from slots a join slots b on a.service_id = b.service_id and a.id < b.id
             and a.starts_at < b.ends_at and b.starts_at < a.ends_at",
        )
        .await;
    assert_eq!(overlaps, 0);
}

async fn slots_import_opens_the_rows_of_the_file(db: TestDb) {
    let ctx = ready(&db).await;
    seeding::import_services(&ctx, "oer-erkenschwick", &fixture("services.csv"))
        .await
        .unwrap();
    let first = seeding::import_slots(&ctx, "oer-erkenschwick", &fixture("slots.csv"))
        .await
        .unwrap();
    assert_eq!((first.created, first.existing), (3, 0));
    let second = seeding::import_slots(&ctx, "oer-erkenschwick", &fixture("slots.csv"))
        .await
        .unwrap();
    assert_eq!((second.created, second.existing), (0, 3));
    assert_eq!(
        db.count("select count(*) from slots where capacity = 2")
            .await,
        1
    );
}

async fn an_overlapping_slots_file_is_refused_whole(db: TestDb) {
    let ctx = ready(&db).await;
    seeding::import_services(&ctx, "oer-erkenschwick", &fixture("services.csv"))
        .await
        .unwrap();
    let err = seeding::import_slots(&ctx, "oer-erkenschwick", &fixture("slots_overlapping.csv"))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("slots_overlapping.csv:3: start: overlaps"),
        "{err}"
    );
    assert_eq!(db.count("select count(*) from slots").await, 0);
}

async fn audit_verify_passes_and_fails_after_an_entry_is_edited(db: TestDb) {
    let ctx = ready(&db).await;
    seeding::import_services(&ctx, "recklinghausen", &fixture("services.csv"))
        .await
        .unwrap();
    let ok = audit::verify(ctx.store.as_ref()).await.unwrap();
    assert!(ok.ok, "{:?}", ok.problem);
    assert_eq!(ok.entries, 5); // migrate, three tenants, one import

    assert_eq!(
        db.execute_raw("update audit_log set details = '{\"created\":40}' where id = 3")
            .await,
        1
    );
    let broken = audit::verify(ctx.store.as_ref()).await.unwrap();
    assert!(!broken.ok);
    assert!(broken.problem.unwrap().starts_with("audit entry 3:"));
}

async fn audit_verify_fails_after_the_newest_entry_is_removed(db: TestDb) {
    let ctx = ready(&db).await;
    assert_eq!(
        db.execute_raw("delete from audit_log where id = 4").await,
        1
    );
    let broken = audit::verify(ctx.store.as_ref()).await.unwrap();
    assert!(!broken.ok);
    assert!(broken.problem.unwrap().contains("entry 4 was written"));
}

async fn every_change_is_audited_with_counts_only(db: TestDb) {
    let ctx = ready(&db).await;
    seeding::import_services(&ctx, "westendorf", &fixture("services.csv"))
        .await
        .unwrap();
    seeding::generate_slots(&ctx, "westendorf", &generate_request("FZ", None))
        .await
        .unwrap();
    let filter = datenwart::store::AuditFilter {
        tenant: Some("westendorf".into()),
        limit: 10,
        ..Default::default()
    };
    let entries = ctx.store.audit_entries(&filter).await.unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        vec!["slots.generate", "services.import", "tenant.create"]
    );
    assert_eq!(
        entries[0].details,
        r#"{"created":120,"existing":0,"overlapping":0}"#
    );
    assert!(entries.iter().all(|e| e.actor == "test:harness"));

    // Changes over people: two bookings, a correction, a restriction, an Auskunft and an
    // erasure. Each is audited under the person's pseudonym, never by name, e-mail or phone.
    let day = (Utc::now() + Duration::days(2)).date_naive();
    common::open_slots(&ctx, "westendorf", day, "08:00-10:00", 2).await;
    for who in [ANNA, BERND] {
        let now = Utc::now();
        let slot = people::first_free_slot(&ctx, "westendorf", now).await;
        let request = people::booking_request("westendorf", slot, now);
        people::book(&ctx, "westendorf", &who.form(slot), now, Some(request)).await;
    }
    let letter = Channel::Letter;
    let sets = ["last_name=Schmidt-Berg".to_owned()];
    rights::correct(
        &ctx,
        ANNA.email,
        &rights::Controllers::All,
        &sets,
        None,
        letter,
    )
    .await
    .unwrap();
    rights::restrict(
        &ctx,
        BERND.email,
        &rights::Controllers::One("westendorf".into()),
        "Richtigkeit bestritten",
        None,
        letter,
    )
    .await
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let auskunft = ExportRequest {
        email: ANNA.email.into(),
        controllers: rights::Controllers::All,
        out: Some(out.path().join("anna")),
        request_id: None,
        channel: letter,
        address: Vec::new(),
        identity: None,
    };
    export::export(&ctx, &auskunft).await.unwrap();
    let erasure = EraseRequest {
        email: ANNA.email,
        controllers: rights::Controllers::All,
        dry_run: false,
        request: None,
        channel: letter,
        identity: None,
    };
    rights::erase(&ctx, &erasure).await.unwrap();

    let all = people::assert_audit_trail_names_nobody(&ctx, &[ANNA, BERND]).await;
    assert!(all > entries.len(), "the changes over people were audited");
    let all = ctx
        .store
        .audit_entries(&datenwart::store::AuditFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    for (who, actions) in [
        (ANNA, &["subject.correct", "subject.erase"][..]),
        (BERND, &["subject.restrict"][..]),
    ] {
        let pseudonym = people::subject_ref(&ctx, who.email).await;
        let theirs: Vec<&str> = all
            .iter()
            .filter(|e| e.subject_ref.as_deref() == Some(pseudonym.as_str()))
            .map(|e| e.action.as_str())
            .collect();
        for action in actions {
            assert!(
                theirs.contains(action),
                "{action} of {who:?} not under their pseudonym: {theirs:?}"
            );
        }
    }
}

const ANNA: Citizen = Citizen {
    first: "Anna",
    last: "Schmidt",
    email: "Anna.Schmidt@Example.com",
    phone: "0171 2223334",
};
const BERND: Citizen = Citizen {
    first: "Bernd",
    last: "Vogel",
    email: "bernd.vogel@example.org",
    phone: "0160 9998887",
};
