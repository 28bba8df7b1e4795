//! The booking endpoint over real HTTP on 127.0.0.1, port 0, on SQLite and PostgreSQL:
//! booking, free slots, cancelling, every error, the access log, concurrency.

mod common;

use chrono::{Duration, Utc};
use common::server::{self, Server, unlimited};
use common::{TestDb, fixture, ready};
use datenwart::http::ServeConfig;
use datenwart::ops::seeding;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A running endpoint over a ready database with services and slots.
async fn open_slots(
    ctx: &datenwart::ops::Context,
    tenant: &str,
    days_from_today: i64,
    capacity: i64,
) {
    let day = (Utc::now() + Duration::days(days_from_today)).date_naive();
    common::open_slots(ctx, tenant, day, "08:00-10:00", capacity).await;
}

/// Services at all three tenants; Recklinghausen: slots tomorrow (capacity 1), the day
/// after (capacity 2) and yesterday; Westendorf: slots tomorrow.
async fn start(db: &TestDb, config: ServeConfig) -> Server {
    let ctx = ready(db).await;
    for t in ["recklinghausen", "westendorf", "oer-erkenschwick"] {
        seeding::import_services(&ctx, t, &fixture("services.csv"))
            .await
            .unwrap();
    }
    open_slots(&ctx, "recklinghausen", 1, 1).await;
    open_slots(&ctx, "recklinghausen", 2, 2).await;
    open_slots(&ctx, "recklinghausen", -1, 1).await;
    open_slots(&ctx, "westendorf", 1, 1).await;
    server::spawn(ctx, config).await
}

impl Server {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
    }

    async fn book(&self, tenant: &str, body: &Value) -> (StatusCode, Value) {
        let r = self
            .client
            .post(format!("{}/api/v1/tenants/{tenant}/bookings", self.url))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Free slots of PA at a tenant: (id, starts_at).
    async fn free(&self, tenant: &str) -> Vec<(i64, String)> {
        let v: Value = self
            .get(&format!("/api/v1/tenants/{tenant}/slots?service=PA"))
            .await
            .json()
            .await
            .unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["id"].as_i64().unwrap(),
                    s["starts_at"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

fn citizen(slot_id: i64) -> Value {
    json!({
        "slot_id": slot_id,
        "first_name": "Anna",
        "last_name": "Schmidt",
        "email": "anna.schmidt@example.com",
        "phone": "0171 1234567",
        "consent": true,
    })
}

on_both_backends!(
    a_booking_returns_201_with_reference_and_code_and_stores_only_a_hash,
    a_booked_slot_is_no_longer_listed_and_cancelling_frees_it,
    bad_input_gets_4xx_with_a_message_per_field_and_writes_nothing,
    slots_in_the_past_full_or_of_another_tenant_are_refused,
    oversized_and_malformed_bodies_are_refused,
    booking_attempts_are_rate_limited_per_ip,
    every_request_gets_an_access_log_row_with_the_seeds_fields,
    fifty_concurrent_bookings_of_a_one_place_slot_give_exactly_one_booking,
    bookings_committed_together_each_get_their_own_outcome_and_log_row,
    the_html_pages_book_and_cancel_without_javascript,
    a_reference_that_exists_already_is_refused_and_its_place_given_back,
    a_tenant_whose_dpo_is_unconfirmed_gets_no_pages_and_no_booking_api,
    the_privacy_page_starts_with_a_first_layer_and_the_start_page_links_it,
    the_withdrawal_page_shares_the_cancel_lockout_and_refuses_cross_site_posts,
    the_confirmation_page_needs_its_token_and_lasts_an_hour,
    unknown_paths_get_an_html_404_and_api_paths_json,
    cancelling_takes_the_reference_in_any_case_and_marks_empty_fields,
    the_slots_page_shows_the_first_free_slot_and_a_week_per_page_with_a_day_part_filter,
);

/// Art. 13 on the page: one h1, the first layer (who, what, why, how long, rights) above the
/// full text, the required data and the consequence, a storage period for every kind of data;
/// the booking form shows the first layer with a link; the start page, which logs IP
/// addresses too, links every tenant's notice.
async fn the_privacy_page_starts_with_a_first_layer_and_the_start_page_links_it(db: TestDb) {
    let s = start(&db, unlimited()).await;
    for tenant in ["recklinghausen", "oer-erkenschwick", "westendorf"] {
        let page = s
            .get(&format!("/t/{tenant}/datenschutz"))
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(page.matches("<h1").count(), 1, "{tenant}");
        let at = |needle: &str| {
            page.find(needle)
                .unwrap_or_else(|| panic!("{tenant}: no {needle} in {page}"))
        };
        assert!(at("Auf einen Blick") < at("Zwecke und Rechtsgrundlagen"));
        for label in [
            "Wer ist verantwortlich?",
            "Welche Daten?",
            "Wozu?",
            "Wie lange?",
            "Ihre Rechte",
        ] {
            assert!(
                at(label) < at("Zwecke und Rechtsgrundlagen"),
                "{tenant}: {label}"
            );
        }
        at("Pflichtangaben");
        at("ohne sie können Sie online keinen Termin buchen");
        at("Art. 77 DSGVO");
        let storage = &page[at("Speicherdauer")..at("Ihre Rechte</h2>")];
        assert_eq!(storage.matches("<li>").count(), 9, "{tenant}: {storage}");
    }
    let index = s.get("/").await.text().await.unwrap();
    for tenant in ["recklinghausen", "oer-erkenschwick", "westendorf"] {
        assert!(
            index.contains(&format!("href=\"/t/{tenant}/datenschutz\"")),
            "{index}"
        );
    }
    assert!(index.contains("IP-Adresse"), "{index}");

    let (slot, _) = s.free("recklinghausen").await[0].clone();
    let form = s
        .get(&format!("/t/recklinghausen/buchen/{slot}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(form.contains("Datenschutz auf einen Blick"), "{form}");
    assert!(
        form.contains("href=\"/t/recklinghausen/datenschutz\""),
        "{form}"
    );
    assert!(
        !form.contains("Speicherdauer"),
        "the full text is one click away, not in the form"
    );
}

/// Westendorf's policy lists its DPO under `confirm`: without `--allow-unconfirmed` its
/// notice, pages and booking API answer 503 (HTML or JSON), nothing is booked, and the
/// confirmed Recklinghausen is served as before.
async fn a_tenant_whose_dpo_is_unconfirmed_gets_no_pages_and_no_booking_api(db: TestDb) {
    let s = start(
        &db,
        ServeConfig {
            attempts_per_minute: 0,
            ..ServeConfig::default()
        },
    )
    .await;
    for path in [
        "/t/westendorf",
        "/t/westendorf/datenschutz",
        "/t/westendorf/termine",
    ] {
        let r = s.get(path).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let body = r.text().await.unwrap();
        assert!(body.contains("noch nicht freigegeben"), "{path}: {body}");
        assert!(!body.contains("Datenschutzbeauftragte"), "{path}: {body}");
    }
    let r = s.get("/api/v1/tenants/westendorf/slots").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("nicht freigegeben")
    );
    let slot: i64 = db
        .count("select min(s.id) from slots s join tenants t on t.id = s.tenant_id where t.slug = 'westendorf'")
        .await;
    let (status, _) = s.book("westendorf", &citizen(slot)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(db.count("select count(*) from bookings").await, 0);

    assert_eq!(
        s.get("/t/recklinghausen/datenschutz").await.status(),
        StatusCode::OK
    );
    let free = s.free("recklinghausen").await;
    assert_eq!(
        s.book("recklinghausen", &citizen(free[0].0)).await.0,
        StatusCode::CREATED
    );
}

async fn a_booking_returns_201_with_reference_and_code_and_stores_only_a_hash(db: TestDb) {
    let s = start(&db, unlimited()).await;
    let (slot, _) = s.free("recklinghausen").await[0].clone();
    let (status, body) = s.book("recklinghausen", &citizen(slot)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let reference = body["reference"].as_str().unwrap();
    let code = body["code"].as_str().unwrap();
    assert!(reference.starts_with("T-") && code.len() == 9, "{body}");
    assert!(body["appointment"].as_str().unwrap().ends_with("Uhr"));
    let stored = db
        .count(&format!("select count(*) from bookings where reference = '{reference}' and code_hash <> '{code}' and phone = '+491711234567'"))
        .await;
    assert_eq!(stored, 1);
    // The code itself is nowhere: not in the booking, not in a notification.
    let code_anywhere = db
        .count(&format!(
            "select (select count(*) from bookings where code_hash like '%{code}%')
                  + (select count(*) from notifications where body like '%{code}%')"
        ))
        .await;
    assert_eq!(code_anywhere, 0);
    // Recklinghausen: booking rests on consent; recorded with the policy's text version.
    assert_eq!(
        db.count(
            "select count(*) from consents where purpose = 'booking' and text_version = '2026-12'"
        )
        .await,
        1
    );
    // Confirmation to the citizen; no office copy (not a purpose there); no SMS (no consent).
    assert_eq!(
        db.count("select count(*) from notifications where kind = 'confirmation'")
            .await,
        1
    );
    assert_eq!(
        db.count("select count(*) from notifications where kind <> 'confirmation'")
            .await,
        0
    );

    // Westendorf: public task, an office copy, and an SMS reminder only with SMS consent.
    let (wslot, _) = s.free("westendorf").await[0].clone();
    let mut b = citizen(wslot);
    b["consent"] = json!(false);
    b["sms_reminder"] = json!(true);
    let (status, body) = s.book("westendorf", &b).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        db.count("select count(*) from consents where purpose = 'sms_reminder'")
            .await,
        1
    );
    assert_eq!(
        db.count("select count(*) from notifications where kind = 'office_copy'")
            .await,
        1
    );
    assert_eq!(db.count("select count(*) from notifications where kind = 'sms_reminder' and send_after is not null").await, 1);
    // No cookies, ever.
    assert!(
        s.get("/t/recklinghausen")
            .await
            .headers()
            .get("set-cookie")
            .is_none()
    );
}

async fn a_booked_slot_is_no_longer_listed_and_cancelling_frees_it(db: TestDb) {
    let s = start(&db, unlimited()).await;
    let before = s.free("recklinghausen").await;
    let (slot, _) = before[0].clone();
    let (_, body) = s.book("recklinghausen", &citizen(slot)).await;
    let reference = body["reference"].as_str().unwrap().to_owned();
    let code = body["code"].as_str().unwrap().to_owned();
    let after = s.free("recklinghausen").await;
    assert_eq!(after.len(), before.len() - 1);
    assert!(!after.iter().any(|(id, _)| *id == slot));

    let cancel = |code: &str| {
        s.client
            .delete(format!("{}/api/v1/bookings/{reference}", s.url))
            .json(&json!({ "code": code }))
            .send()
    };
    assert_eq!(
        cancel("AAAA-AAAA").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let r = cancel(&code.to_lowercase()).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "cancelled");
    assert_eq!(cancel(&code).await.unwrap().status(), StatusCode::CONFLICT);
    assert!(
        s.free("recklinghausen")
            .await
            .iter()
            .any(|(id, _)| *id == slot)
    );
    assert_eq!(
        db.count(&format!("select booked from slots where id = {slot}"))
            .await,
        0
    );
    let unknown = s
        .client
        .delete(format!("{}/api/v1/bookings/T-NOSUCHREF0", s.url))
        .header("booking-code", "X")
        .send();
    assert_eq!(unknown.await.unwrap().status(), StatusCode::NOT_FOUND);
    let no_code = s
        .client
        .delete(format!("{}/api/v1/bookings/{reference}", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(no_code.status(), StatusCode::BAD_REQUEST);
}

async fn bad_input_gets_4xx_with_a_message_per_field_and_writes_nothing(db: TestDb) {
    let s = start(&db, unlimited()).await;
    let (slot, _) = s.free("recklinghausen").await[0].clone();
    let mut b = citizen(slot);
    b["email"] = json!("anna at example");
    b["phone"] = json!("ruf mich an");
    b["first_name"] = json!("A".repeat(101));
    b["consent"] = json!(false);
    let (status, body) = s.book("recklinghausen", &b).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for field in ["email", "phone", "first_name", "consent"] {
        assert!(
            body["fields"][field].is_string(),
            "no message for {field}: {body}"
        );
    }
    // A field the policy does not ask for is refused, not stored.
    let mut b = citizen(slot);
    b["birth_date"] = json!("1980-01-01");
    let (status, body) = s.book("recklinghausen", &b).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["fields"]["birth_date"].is_string());
    // Unknown tenant and service.
    assert_eq!(
        s.book("atlantis", &citizen(slot)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get("/api/v1/tenants/recklinghausen/slots?service=NOPE")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get("/api/v1/tenants/recklinghausen/slots").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        s.get("/api/v1/tenants/recklinghausen/slots?service=PA&from=morgen")
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        s.get("/api/v1/nothing").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(db.count("select count(*) from bookings").await, 0);
    assert_eq!(db.count("select count(*) from consents").await, 0);
    assert_eq!(db.count("select count(*) from notifications").await, 0);
    assert_eq!(
        db.count("select count(*) from slots where booked > 0")
            .await,
        0
    );
}

async fn slots_in_the_past_full_or_of_another_tenant_are_refused(db: TestDb) {
    let s = start(&db, unlimited()).await;
    let ctx = db.context().await;
    let yesterday = (Utc::now() - Duration::days(1)).date_naive();
    let filter = datenwart::store::SlotFilter {
        limit: 1000,
        ..Default::default()
    };
    let all = ctx
        .store
        .list_slots("recklinghausen", &filter)
        .await
        .unwrap();
    let past = all
        .iter()
        .find(|sl| sl.starts_at.date_naive() <= yesterday)
        .unwrap()
        .id;
    let (status, body) = s.book("recklinghausen", &citizen(past)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["fields"]["slot_id"].is_string());

    let (free, _) = s.free("recklinghausen").await[0].clone();
    assert_eq!(
        s.book("recklinghausen", &citizen(free)).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        s.book("recklinghausen", &citizen(free)).await.0,
        StatusCode::CONFLICT
    );

    let (westendorf_slot, _) = s.free("westendorf").await[0].clone();
    assert_eq!(
        s.book("recklinghausen", &citizen(westendorf_slot)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.book("recklinghausen", &citizen(999_999)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(db.count("select count(*) from bookings").await, 1);
}

async fn oversized_and_malformed_bodies_are_refused(db: TestDb) {
    let s = start(&db, unlimited()).await;
    let url = format!("{}/api/v1/tenants/recklinghausen/bookings", s.url);
    let post = |body: String| {
        s.client
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_eq!(
        post("{\"slot_id\": 1,".into()).await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    let big = json!({ "slot_id": 1, "first_name": "x".repeat(20_000) }).to_string();
    assert_eq!(
        post(big).await.unwrap().status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let unknown = json!({ "slot_id": 1, "password": "x" }).to_string();
    assert_eq!(
        post(unknown).await.unwrap().status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let wrong_type = json!({ "slot_id": "eins" }).to_string();
    assert_eq!(
        post(wrong_type).await.unwrap().status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let r = s.client.post(&url).body("slot_id=1").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(db.count("select count(*) from bookings").await, 0);
}

async fn booking_attempts_are_rate_limited_per_ip(db: TestDb) {
    let s = start(
        &db,
        ServeConfig {
            attempts_per_minute: 3,
            allow_unconfirmed: true,
            ..ServeConfig::default()
        },
    )
    .await;
    let slots = s.free("recklinghausen").await;
    for (slot, _) in &slots[..3] {
        assert_eq!(
            s.book("recklinghausen", &citizen(*slot)).await.0,
            StatusCode::CREATED
        );
    }
    let r = s
        .client
        .post(format!("{}/api/v1/tenants/recklinghausen/bookings", s.url))
        .json(&citizen(slots[3].0))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get("retry-after").is_some());
    // Reading is not limited.
    assert_eq!(
        s.get("/api/v1/tenants/recklinghausen/services")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(db.count("select count(*) from bookings").await, 3);
}

async fn every_request_gets_an_access_log_row_with_the_seeds_fields(db: TestDb) {
    let s = start(&db, unlimited()).await;
    let (slot, _) = s.free("recklinghausen").await[0].clone();
    let r = s
        .client
        .post(format!("{}/api/v1/tenants/recklinghausen/bookings", s.url))
        .header(
            "user-agent",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
        )
        .header("accept-language", "de-DE,de;q=0.9")
        .header("referer", "https://www.recklinghausen.de/termine")
        .json(&citizen(slot))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let length = r.content_length().unwrap();
    let offset = if chrono_tz::Europe::Berlin
        .offset_from_utc_datetime(&Utc::now().naive_utc())
        .to_string()
        == "CEST"
    {
        120
    } else {
        60
    };
    let row = db
        .count(&format!(
            "select count(*) from access_log a join tenants t on t.id = a.tenant_id
             where t.slug = 'recklinghausen' and a.ip = '127.0.0.1' and a.method = 'POST'
               and a.path = '/api/v1/tenants/recklinghausen/bookings' and a.status = 201 and a.bytes = {length}
               and a.referrer = 'https://www.recklinghausen.de/termine' and a.browser = 'Firefox'
               and a.browser_version = '128.0' and a.operating_system like 'Windows 10%'
               and a.language = 'de-DE' and a.utc_offset_minutes = {offset}
               and a.booking_id = (select id from bookings)"
        ))
        .await;
    assert_eq!(row, 1);
    s.get("/api/v1/tenants/recklinghausen/services").await;
    assert_eq!(db.count("select count(*) from access_log where path = '/api/v1/tenants/recklinghausen/services' and status = 200").await, 1);
    s.get("/healthz").await;
    assert_eq!(
        db.count("select count(*) from access_log where path = '/healthz' and tenant_id is null")
            .await,
        1
    );
}

use chrono::TimeZone as _;

async fn fifty_concurrent_bookings_of_a_one_place_slot_give_exactly_one_booking(db: TestDb) {
    let s = start(&db, unlimited()).await;
    let (slot, _) = s.free("recklinghausen").await[0].clone();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let client = s.client.clone();
        let url = format!("{}/api/v1/tenants/recklinghausen/bookings", s.url);
        let mut body = citizen(slot);
        body["email"] = json!(format!("person{i}@example.com"));
        tasks.push(tokio::spawn(async move {
            client.post(url).json(&body).send().await.unwrap().status()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        49,
        "{statuses:?}"
    );
    assert_eq!(
        db.count(&format!("select booked from slots where id = {slot}"))
            .await,
        1
    );
    assert_eq!(db.count("select count(*) from bookings").await, 1);
    assert_eq!(db.count("select count(*) from consents").await, 1);
}

/// Concurrent requests are written in groups (one transaction for what arrives together):
/// each still gets its own answer — a full slot or an invalid form refuses that request
/// alone, never its neighbours — and its own access-log row, written before the answer.
async fn bookings_committed_together_each_get_their_own_outcome_and_log_row(db: TestDb) {
    let s = start(&db, unlimited()).await;
    let slots: Vec<i64> = s
        .free("recklinghausen")
        .await
        .into_iter()
        .take(10)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(slots.len(), 10);
    let mut tasks = Vec::new();
    for i in 0..35 {
        let client = s.client.clone();
        let url = format!("{}/api/v1/tenants/recklinghausen/bookings", s.url);
        let mut body = citizen(slots[i % 10]);
        body["email"] = json!(format!("group{i}@example.com"));
        if i >= 30 {
            body["email"] = json!("not an address");
        }
        tasks.push(tokio::spawn(async move {
            let r = client.post(url).json(&body).send().await.unwrap();
            (i, r.status())
        }));
    }
    let mut created = 0;
    for t in tasks {
        let (i, status) = t.await.unwrap();
        if i >= 30 {
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "request {i}");
        } else if status == StatusCode::CREATED {
            created += 1;
        } else {
            assert_eq!(status, StatusCode::CONFLICT, "request {i}");
        }
    }
    // Three requests per slot: as many succeed as the slot has places, never more.
    let mut places = 0;
    for slot in &slots {
        let capacity = db
            .count(&format!("select capacity from slots where id = {slot}"))
            .await;
        let booked = db
            .count(&format!("select booked from slots where id = {slot}"))
            .await;
        assert_eq!(booked, capacity.min(3), "slot {slot}");
        places += booked;
    }
    assert!(places < 30, "some requests must meet a full slot");
    assert_eq!(created, places);
    assert_eq!(db.count("select count(*) from bookings").await, places);
    assert_eq!(
        db.count(
            "select count(*) from access_log where method = 'POST'
               and path = '/api/v1/tenants/recklinghausen/bookings'"
        )
        .await,
        35,
        "one row per request, each written before its answer"
    );
    assert_eq!(
        db.count("select count(*) from access_log where booking_id is not null")
            .await,
        places
    );
}

async fn the_html_pages_book_and_cancel_without_javascript(db: TestDb) {
    let s = start(&db, unlimited()).await;
    let page = s.get("/t/recklinghausen").await.text().await.unwrap();
    assert!(
        page.contains("/t/recklinghausen/termine?service=PA"),
        "{page}"
    );
    let page = s
        .get("/t/recklinghausen/termine?service=PA")
        .await
        .text()
        .await
        .unwrap();
    let (slot, _) = s.free("recklinghausen").await[0].clone();
    assert!(
        page.contains(&format!("/t/recklinghausen/buchen/{slot}")),
        "{page}"
    );
    let form = s
        .get(&format!("/t/recklinghausen/buchen/{slot}"))
        .await
        .text()
        .await
        .unwrap();
    // The first layer of the notice and a plain consent label; the full notice and the
    // consent's wording one click away.
    for expected in [
        "href=\"/t/recklinghausen/datenschutz\"",
        "Datenschutz auf einen Blick",
        "48 Stunden",
        "name=\"consent\"",
        "<summary>Wortlaut der Einwilligung</summary>",
        "Ihre Angaben – Personalausweis beantragen",
    ] {
        assert!(form.contains(expected), "form lacks {expected}");
    }
    assert!(
        !form.contains("<h2>Empfänger</h2>"),
        "the recipients are in the full notice, not in the form"
    );
    assert!(
        !form.contains("name=\"birth_date\""),
        "Recklinghausen does not ask for a birth date"
    );
    assert!(!form.contains("<script"), "no JavaScript");

    let url = format!("{}/t/recklinghausen/buchen/{slot}", s.url);
    let fields = [
        ("first_name", "Jörg"),
        ("last_name", "Müller <b>"),
        ("email", "joerg@example.com"),
        ("phone", "0171 7654321"),
    ];
    let r = s.client.post(&url).form(&fields).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let again = r.text().await.unwrap();
    assert!(again.contains("<title>Fehler: "), "{again}");
    assert!(
        again.contains("<a href=\"#consent\">Ohne Ihre Einwilligung"),
        "{again}"
    );
    assert!(
        again.contains("aria-invalid=\"true\"") && again.contains("consent-error"),
        "{again}"
    );
    assert!(
        again.contains("value=\"joerg@example.com\""),
        "the form keeps what was typed"
    );
    assert!(!again.contains("Müller <b>"), "input is escaped");

    // Post/redirect/get: the booking answers 303 to its confirmation page.
    let mut with_consent = fields.to_vec();
    with_consent[1] = ("last_name", "Müller");
    with_consent.push(("consent", "on"));
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirects
        .post(&url)
        .form(&with_consent)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("/t/recklinghausen/gebucht/"),
        "{location}"
    );
    let done = s.get(&location).await.text().await.unwrap();
    let grab = |page: &str, id: &str| {
        let start = page.find(&format!("id=\"{id}\">")).unwrap() + id.len() + 6;
        page[start..].split('<').next().unwrap().to_owned()
    };
    let (reference, code) = (grab(&done, "reference"), grab(&done, "code"));
    assert!(reference.starts_with("T-"), "{done}");
    assert!(done.contains("j•••@example.com"), "{done}");
    assert!(
        !done.contains("joerg@example.com") && !done.contains("Müller"),
        "{done}"
    );
    let again = s.get(&location).await.text().await.unwrap();
    assert_eq!(
        grab(&again, "reference"),
        reference,
        "a reload shows the booking again"
    );
    assert!(
        !again.contains(&code),
        "the code is shown on the first view only"
    );
    assert_eq!(db.count("select count(*) from bookings").await, 1);

    let cancel = format!("{}/t/recklinghausen/absagen", s.url);
    let r = s
        .client
        .post(&cancel)
        .form(&[("reference", reference.as_str()), ("code", "FALSCH")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = s
        .client
        .post(&cancel)
        .form(&[("reference", reference.as_str()), ("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("ist abgesagt"));
    assert_eq!(
        db.count(
            "select count(*) from bookings where status = 'cancelled' and cancelled_by = 'citizen'"
        )
        .await,
        1
    );
}

/// A booking whose random reference another booking already has is refused whole — its
/// place given back, no consent or notification stored — while the rest of its batch is
/// booked (one update takes both places of the slot); renewed, it books.
async fn a_reference_that_exists_already_is_refused_and_its_place_given_back(db: TestDb) {
    use datenwart::domain::booking::{self, BookingForm};
    use datenwart::ops::booking::{cancel, prepare};
    use datenwart::store::BookingRefusal;

    let ctx = ready(&db).await;
    seeding::import_services(&ctx, "recklinghausen", &fixture("services.csv"))
        .await
        .unwrap();
    open_slots(&ctx, "recklinghausen", 1, 1).await;
    open_slots(&ctx, "recklinghausen", 3, 2).await;
    let policy = ctx.policies.get("recklinghausen").unwrap();
    let key = ctx.store.pseudonym_key().await.unwrap();
    let now = Utc::now();
    let free = ctx
        .store
        .free_slots("recklinghausen", "PA", now, now + Duration::days(5), 100)
        .await
        .unwrap();
    let with_places = |n: i64| free.iter().find(|s| s.capacity == n).unwrap().id;
    let (tomorrow, later) = (with_places(1), with_places(2));
    let prepared = |slot_id: i64, email: &str| {
        let form = BookingForm {
            slot_id: Some(slot_id),
            first_name: Some("Anna".into()),
            last_name: Some("Schmidt".into()),
            email: Some(email.into()),
            phone: Some("0171 1234567".into()),
            consent: true,
            ..Default::default()
        };
        let valid = booking::validate(policy, &form, now.date_naive()).unwrap();
        (valid, slot_id)
    };
    let open = |id: i64| {
        let ctx = &ctx;
        async move {
            ctx.store
                .open_slot("recklinghausen", id)
                .await
                .unwrap()
                .unwrap()
        }
    };

    let (valid, id) = prepared(tomorrow, "first@example.com");
    let first = prepare(policy, &key, valid, &open(id).await, now, None);
    let booked = ctx
        .store
        .book("recklinghausen", std::slice::from_ref(&first.booking))
        .await
        .unwrap();
    assert!(booked[0].is_ok(), "{booked:?}");

    let (valid, id) = prepared(later, "second@example.com");
    let mut clash = prepare(policy, &key, valid, &open(id).await, now, None);
    let old = clash.booking.reference.clone();
    for n in &mut clash.booking.notifications {
        n.body = n.body.replace(&old, &first.booking.reference);
    }
    clash.booking.reference = first.booking.reference.clone();
    let (valid, id) = prepared(later, "third@example.com");
    let third = prepare(policy, &key, valid, &open(id).await, now, None);
    let results = ctx
        .store
        .book(
            "recklinghausen",
            &[clash.booking.clone(), third.booking.clone()],
        )
        .await
        .unwrap();
    assert_eq!(
        results[0].as_ref().err(),
        Some(&BookingRefusal::ReferenceTaken)
    );
    assert!(results[1].is_ok(), "{results:?}");
    let booked_places = |id: i64| {
        let db = &db;
        async move {
            db.count(&format!("select booked from slots where id = {id}"))
                .await
        }
    };
    assert_eq!(
        booked_places(later).await,
        1,
        "the refused booking's place is free again"
    );
    assert_eq!(db.count("select count(*) from bookings").await, 2);
    assert_eq!(
        db.count("select count(*) from notifications where recipient = 'second@example.com'")
            .await,
        0
    );
    // Two entries of one batch with one reference: the second is refused.
    let mut twin = third.booking.clone();
    twin.slot_id = later;
    let (valid, id) = prepared(later, "fourth@example.com");
    let mut fourth = prepare(policy, &key, valid, &open(id).await, now, None);
    fourth.booking.reference = "T-TWINTWINTW".into();
    twin.reference = "T-TWINTWINTW".into();
    let results = ctx
        .store
        .book("recklinghausen", &[fourth.booking.clone(), twin])
        .await
        .unwrap();
    assert!(results[0].is_ok(), "{results:?}");
    assert_eq!(
        results[1].as_ref().err(),
        Some(&BookingRefusal::ReferenceTaken)
    );
    assert_eq!(booked_places(later).await, 2);

    // Renewed — new reference and code, the notifications naming the new reference — the
    // clashing booking books, and its new code cancels it.
    ctx.store
        .cancel_booking(&fourth.booking.reference, &fourth.booking.code_hash, now)
        .await
        .unwrap()
        .unwrap();
    clash.renew(&key);
    assert_ne!(clash.booking.reference, first.booking.reference);
    assert!(
        clash.booking.notifications[0]
            .body
            .contains(&clash.booking.reference)
    );
    assert!(
        !clash.booking.notifications[0]
            .body
            .contains(&first.booking.reference)
    );
    let results = ctx
        .store
        .book("recklinghausen", std::slice::from_ref(&clash.booking))
        .await
        .unwrap();
    assert!(results[0].is_ok(), "{results:?}");
    cancel(&ctx, &clash.booking.reference, &clash.code, now)
        .await
        .unwrap()
        .expect("the renewed code cancels the renewed reference");
}

/// The withdrawal page checks the code with cancelling's one check: wrong codes on either
/// page count towards the same lock; a post from another site and an unknown choice change
/// nothing.
async fn the_withdrawal_page_shares_the_cancel_lockout_and_refuses_cross_site_posts(db: TestDb) {
    let s = start(&db, unlimited()).await;
    let (slot, _) = s.free("recklinghausen").await[0].clone();
    let (status, body) = s.book("recklinghausen", &citizen(slot)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let reference = body["reference"].as_str().unwrap().to_owned();
    let code = body["code"].as_str().unwrap().to_owned();
    let withdraw = format!("{}/t/recklinghausen/widerrufen", s.url);
    let cancel = format!("{}/t/recklinghausen/absagen", s.url);
    let withdrawn = "select count(*) from consents where withdrawn_at is not null";

    let page = s.client.get(&withdraw).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Einwilligung widerrufen")
    );

    let r = s
        .client
        .post(&withdraw)
        .header("Sec-Fetch-Site", "cross-site")
        .form(&[("reference", reference.as_str()), ("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = s
        .client
        .post(&withdraw)
        .form(&[
            ("reference", reference.as_str()),
            ("code", code.as_str()),
            ("scope", "everything"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(db.count(withdrawn).await, 0);

    // Four wrong codes here and one on the cancel page lock the booking for both.
    for _ in 0..4 {
        let r = s
            .client
            .post(&withdraw)
            .form(&[("reference", reference.as_str()), ("code", "FALSCH")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    let r = s
        .client
        .post(&cancel)
        .form(&[("reference", reference.as_str()), ("code", "FALSCH")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let r = s
        .client
        .post(&withdraw)
        .form(&[("reference", reference.as_str()), ("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.text().await.unwrap().contains("gesperrt"));
    assert_eq!(db.count(withdrawn).await, 0);
    assert_eq!(
        db.count("select count(*) from bookings where status = 'booked'")
            .await,
        1
    );
}

// ---- identity: withdrawing by e-mail address, confirming by link ----

on_both_backends!(a_withdrawal_by_email_address_is_applied_only_through_the_link_and_once);

async fn a_withdrawal_by_email_address_is_applied_only_through_the_link_and_once(db: TestDb) {
    let s = start(
        &db,
        ServeConfig {
            attempts_per_minute: 0,
            public_url: Some("https://termine.example.de".into()),
            allow_unconfirmed: true,
            ..ServeConfig::default()
        },
    )
    .await;
    let slot = s.free("recklinghausen").await[0].0;
    assert_eq!(
        s.book("recklinghausen", &citizen(slot)).await.0,
        StatusCode::CREATED
    );
    let unchanged = async || {
        (
            db.count("select count(*) from consents where withdrawn_at is null")
                .await,
            db.count("select count(*) from bookings where email is not null and status = 'booked'")
                .await,
        )
    };
    let before = unchanged().await;
    assert_eq!(before, (1, 1));
    let page = s.get("/t/recklinghausen/widerruf-per-email").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("E-Mail-Adresse"));

    // An address that is not on file and one that is get the same page.
    let post = async |path: &str, form: &[(&str, &str)]| {
        let r = s
            .client
            .post(format!("{}{path}", s.url))
            .form(form)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    };
    let stranger = post(
        "/t/recklinghausen/widerruf-per-email",
        &[("email", "niemand@example.net")],
    )
    .await;
    let anna = post(
        "/t/recklinghausen/widerruf-per-email",
        &[("email", " Anna.Schmidt@Example.com ")],
    )
    .await;
    assert_eq!(stranger, anna);
    assert_eq!(anna.0, StatusCode::OK);
    // Asked again at once: the same page, but no second mail.
    let twice = post(
        "/t/recklinghausen/widerruf-per-email",
        &[("email", "anna.schmidt@example.com")],
    )
    .await;
    assert_eq!(twice, anna);
    assert!(
        anna.1.contains("Wenn diese E-Mail-Adresse bei uns"),
        "{}",
        anna.1
    );
    assert_eq!(
        unchanged().await,
        before,
        "nothing withdrawn before the confirmation"
    );
    assert_eq!(
        db.count("select count(*) from notifications where kind = 'reply' and status = 'queued'")
            .await,
        1,
        "one confirmation request, to Anna only"
    );
    let body = db
        .text("select body from notifications where kind = 'reply'")
        .await;
    let code = datenwart::domain::identity::find_codes(&body)[0].clone();
    assert!(
        body.contains(&format!(
            "https://termine.example.de/t/recklinghausen/bestaetigen?code={code}"
        )),
        "{body}"
    );
    assert_eq!(
        db.text("select recipient from notifications where kind = 'reply'")
            .await,
        "anna.schmidt@example.com"
    );

    // Following the link shows what will be confirmed and changes nothing.
    let link = format!("/t/recklinghausen/bestaetigen?code={code}");
    let shown = s.get(&link).await;
    assert_eq!(shown.status(), StatusCode::OK);
    let shown = shown.text().await.unwrap();
    assert!(
        shown.contains("Widerruf Ihrer Einwilligungen") && shown.contains("Ja, ich bestätige"),
        "{shown}"
    );
    let shown_again = s.get(&link).await;
    assert_eq!(shown_again.status(), StatusCode::OK);
    assert_eq!(unchanged().await, before, "GET changes nothing");

    // A wrong code: a clear German page, nothing done.
    let wrong = post(
        "/t/recklinghausen/bestaetigen",
        &[("code", "DW-AAAA-BBBB-CCCC")],
    )
    .await;
    assert_eq!(wrong.0, StatusCode::NOT_FOUND);
    assert!(wrong.1.contains("nicht bekannt"), "{}", wrong.1);
    let elsewhere = post("/t/westendorf/bestaetigen", &[("code", code.as_str())]).await;
    assert_eq!(elsewhere.0, StatusCode::NOT_FOUND);
    assert_eq!(unchanged().await, before);

    // Confirmed: withdrawn (Recklinghausen: booking on consent, so cancelled and erased).
    let done = post("/t/recklinghausen/bestaetigen", &[("code", code.as_str())]).await;
    assert_eq!(done.0, StatusCode::OK, "{}", done.1);
    assert!(done.1.contains("bestätigt und ausgeführt"), "{}", done.1);
    assert_eq!(unchanged().await, (0, 0));
    assert_eq!(
        db.count(
            "select count(*) from requests where kind = 'withdrawal' and channel = 'web' \
             and identity = 'confirmed_by_link'"
        )
        .await,
        1
    );
    // Once only.
    let again = post("/t/recklinghausen/bestaetigen", &[("code", code.as_str())]).await;
    assert_eq!(again.0, StatusCode::CONFLICT);
    assert!(again.1.contains("bereits verwendet"), "{}", again.1);
    assert_eq!(
        db.count("select count(*) from requests where kind = 'withdrawal'")
            .await,
        1
    );
    // The code never reaches the access log.
    assert_eq!(
        db.count(&format!(
            "select count(*) from access_log where path like '%{}%' or referrer like '%{}%'",
            &code[3..],
            &code[3..]
        ))
        .await,
        0
    );
    assert!(
        db.count(
            "select count(*) from access_log where path like '/t/recklinghausen/bestaetigen?code=%'"
        )
        .await
            >= 2
    );
}

/// Books through the HTML form and returns the confirmation page's path (without following
/// the redirect).
async fn book_on_the_page(s: &Server, slot: i64) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .post(format!("{}/t/recklinghausen/buchen/{slot}", s.url))
        .form(&[
            ("first_name", "Jörg"),
            ("last_name", "Müller"),
            ("email", "joerg@example.com"),
            ("phone", "0171 7654321"),
            ("consent", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// The text of the element with `id` in `page` (up to the next tag).
fn by_id(page: &str, id: &str) -> String {
    let start = page
        .find(&format!("id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no #{id} in {page}"))
        + id.len()
        + 6;
    page[start..].split('<').next().unwrap().to_owned()
}

/// The confirmation's URL is the only key to it: a guessed token, another tenant's path or
/// an expired receipt get a 404 page; only the token's keyed hash is stored, and nothing of
/// the code in clear. The calendar file comes through the same token.
async fn the_confirmation_page_needs_its_token_and_lasts_an_hour(db: TestDb) {
    let s = start(&db, unlimited()).await;
    let (slot, _) = s.free("recklinghausen").await[0].clone();
    let location = book_on_the_page(&s, slot).await;
    let token = location.rsplit('/').next().unwrap().to_owned();
    assert_eq!(token.len(), 32, "{token}");
    assert_eq!(
        db.count(&format!(
            "select count(*) from booking_receipts where token_hash <> '{token}' and length(token_hash) = 64"
        ))
        .await,
        1
    );
    let page = s.get(&location).await.text().await.unwrap();
    let code = by_id(&page, "code");
    assert_eq!(
        db.count(&format!(
            "select count(*) from booking_receipts where sealed_code = '{code}'"
        ))
        .await,
        0,
        "the code is not stored in clear"
    );
    assert_eq!(
        db.count("select count(*) from booking_receipts where sealed_code is null")
            .await,
        1,
        "the first view took the code"
    );

    for wrong in [
        "/t/recklinghausen/gebucht/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        format!("/t/westendorf/gebucht/{token}"),
        format!("/t/recklinghausen/gebucht/{}", &token[..31]),
    ] {
        let r = s.get(&wrong).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{wrong}");
        let body = r.text().await.unwrap();
        assert!(body.contains("Bestätigungsseite ist abgelaufen"), "{body}");
        assert!(!body.contains("T-"), "{body}");
    }

    let ics = s.get(&format!("{location}/termin.ics")).await;
    assert_eq!(ics.status(), StatusCode::OK);
    // Linked from the confirmation, the cancel page gets its address as the referrer.
    s.client
        .get(format!("{}/t/recklinghausen/absagen", s.url))
        .header("referer", format!("{}{location}", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        db.count(&format!(
            "select count(*) from access_log where path like '%{token}%' or referrer like '%{token}%'"
        ))
        .await,
        0,
        "the token is not logged"
    );
    assert!(
        db.count("select count(*) from access_log where path like '%/gebucht/…%'")
            .await
            >= 2
    );
    let ics = ics.text().await.unwrap();
    assert!(
        ics.contains("BEGIN:VEVENT") && ics.contains("Rathausplatz"),
        "{ics}"
    );

    db.execute_raw("update booking_receipts set expires_at = '2020-01-01T00:00:00Z'")
        .await;
    assert_eq!(s.get(&location).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        s.get(&format!("{location}/termin.ics")).await.status(),
        StatusCode::NOT_FOUND
    );
    // The next receipt clears the expired ones.
    let (slot, _) = s.free("recklinghausen").await[0].clone();
    book_on_the_page(&s, slot).await;
    assert_eq!(
        db.count("select count(*) from booking_receipts").await,
        1,
        "expired receipts are deleted when the next is stored"
    );
}

/// An address that is not a page gets the HTML 404 page with the site's frame; under /api/
/// the answer stays JSON.
async fn unknown_paths_get_an_html_404_and_api_paths_json(db: TestDb) {
    let s = start(&db, unlimited()).await;
    for path in [
        "/gibt-es-nicht",
        "/t/recklinghausen/gibt-es-nicht",
        "/t/nirgendwo",
        "/favicon.ico",
    ] {
        let r = s.get(path).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        let body = r.text().await.unwrap();
        assert!(body.contains("<html lang=\"de\">"), "{path}: {body}");
        assert!(body.contains("aria-label=\"Brotkrumen\""), "{path}");
        assert!(
            body.contains("href=\"/t/recklinghausen/datenschutz\""),
            "{path}: the footer"
        );
    }
    // Inside a tenant the page carries that tenant's footer.
    let body = s
        .get("/t/recklinghausen/gibt-es-nicht")
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("+49 2361 50-1640"), "{body}");
    for path in ["/api/v1/gibt-es-nicht", "/api"] {
        let r = s.get(path).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        let v: Value = r.json().await.unwrap();
        assert!(v["error"].is_string(), "{path}: {v}");
    }
}

/// The reference is taken as people type it: lower case, without the hyphen, with spaces;
/// empty fields are marked one by one; after the cancel the page shows only the result.
async fn cancelling_takes_the_reference_in_any_case_and_marks_empty_fields(db: TestDb) {
    let s = start(&db, unlimited()).await;
    let cancel = format!("{}/t/recklinghausen/absagen", s.url);
    let r = s
        .client
        .post(&cancel)
        .form(&[("reference", " "), ("code", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains("<title>Fehler: "), "{page}");
    for field in ["reference", "code"] {
        assert!(
            page.contains(&format!("<a href=\"#{field}\">")),
            "{field}: {page}"
        );
        assert!(page.contains(&format!("id=\"{field}-error\"")), "{field}");
    }
    assert!(page.contains("Buchungscode verloren?") && page.contains("+49 2361 50-1640"));

    let (slot, _) = s.free("recklinghausen").await[0].clone();
    let location = book_on_the_page(&s, slot).await;
    let page = s.get(&location).await.text().await.unwrap();
    let (reference, code) = (by_id(&page, "reference"), by_id(&page, "code"));
    let typed = format!(" {} ", reference.replace('-', "").to_lowercase());
    let r = s
        .client
        .post(&cancel)
        .form(&[
            ("reference", typed.as_str()),
            ("code", &code.to_lowercase()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let done = r.text().await.unwrap();
    assert!(done.contains("ist abgesagt"), "{done}");
    assert!(!done.contains("<form"), "only the result: {done}");
    assert!(done.contains("Neuen Termin buchen"), "{done}");
    assert_eq!(
        db.count("select count(*) from bookings where status = 'cancelled'")
            .await,
        1
    );
    // The API takes it the same way.
    let r = s
        .client
        .post(format!("{}/t/recklinghausen/absagen", s.url))
        .form(&[("reference", typed.as_str()), ("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CONFLICT,
        "already cancelled, found by the typed form"
    );
}

/// One week per page: the first free slot on top, the week's slots, links to the weeks
/// with more; `zeit=vormittag|nachmittag` keeps only that part of the day; a service
/// without free slots names the phone and address.
async fn the_slots_page_shows_the_first_free_slot_and_a_week_per_page_with_a_day_part_filter(
    db: TestDb,
) {
    let s = start(&db, unlimited()).await;
    let ctx = db.context().await;
    let later = (Utc::now() + Duration::days(16)).date_naive();
    common::open_slots(&ctx, "recklinghausen", later, "14:00-15:00", 1).await;
    let free = s.free("recklinghausen").await;
    let (first, _) = free[0].clone();
    let (last, _) = free.last().unwrap().clone();
    let link = |id: i64| format!("href=\"/t/recklinghausen/buchen/{id}\"");

    let page = s
        .get("/t/recklinghausen/termine?service=PA")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("{} id=\"book-first\"", link(first))),
        "{page}"
    );
    assert!(
        !page.contains(&link(last)),
        "a slot 16 days ahead is not in the first week"
    );
    assert!(
        !page.contains("id=\"previous\""),
        "nothing before the first week"
    );
    // Follow "Spätere Termine" to the week of the last slot.
    let mut page = page;
    let mut weeks = 1;
    while !page.contains(&link(last)) {
        let next = page
            .split("rel=\"next\"")
            .next()
            .and_then(|before| before.rsplit("href=\"").next())
            .map(|h| h.split('"').next().unwrap().replace("&#38;", "&"))
            .unwrap_or_else(|| panic!("no next link: {page}"));
        page = s.get(&next).await.text().await.unwrap();
        weeks += 1;
        assert!(weeks <= 4, "the slot 16 days ahead is within three weeks");
    }
    assert!(page.contains("id=\"previous\""), "{page}");
    assert!(!page.contains("id=\"next\""), "{page}");

    // Afternoon: only the slots from 14:00, the first of them on top; morning: none of them.
    let afternoon = s
        .get("/t/recklinghausen/termine?service=PA&zeit=nachmittag")
        .await
        .text()
        .await
        .unwrap();
    assert!(afternoon.contains(&link(last)) || afternoon.contains("id=\"next\""));
    assert!(!afternoon.contains(&link(first)), "{afternoon}");
    assert!(
        afternoon.contains("value=\"nachmittag\" checked"),
        "{afternoon}"
    );
    let morning = s
        .get(&format!(
            "/t/recklinghausen/termine?service=PA&zeit=vormittag&ab={later}"
        ))
        .await
        .text()
        .await
        .unwrap();
    assert!(!morning.contains(&link(last)), "{morning}");
    // A date that is no date shows the first week.
    let r = s
        .get("/t/recklinghausen/termine?service=PA&ab=morgen")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains(&link(first)));

    let none = s
        .get("/t/recklinghausen/termine?service=RP")
        .await
        .text()
        .await
        .unwrap();
    assert!(none.contains("id=\"no-slots\""), "{none}");
    assert!(
        none.contains("+49 2361 50-1640") && none.contains("Rathausplatz 3/4"),
        "{none}"
    );
}
