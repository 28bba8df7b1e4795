//! `export`, the Auskunft (Art. 15, 20), on SQLite and PostgreSQL: the folder, the letter per
//! controller, daten.json and the CSV files, the register, the audit trail, and that nobody
//! else's data gets in.

mod common;

use chrono::{Duration, Utc};
use common::cli::assert_exit;
use common::people::{self, Citizen, subject_ref};
use common::{Kind, TestDb, cli, fixture, ready, shipped_policies};
use datenwart::domain::booking::BookingForm;
use datenwart::domain::requests::{Channel, IdentityCheck, Outcome, RequestKind};
use datenwart::ops::booking::BookingReceipt;
use datenwart::ops::export::{self, ExportReport, ExportRequest};
use datenwart::ops::rights::Controllers;
use datenwart::ops::seeding;
use datenwart::ops::{Context, Refusal};
use datenwart::store::{AccessLogEntry, AuditFilter, RequestFilter};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

const ANNA: &str = "Anna.Schmidt@Example.com";
const BERND: &str = "bernd.nachbar@example.org";

on_both_backends!(
    a_person_at_two_tenants_gets_a_letter_from_each_with_all_their_rows,
    with_a_tenant_only_that_tenants_data_is_exported,
    another_persons_name_email_and_phone_are_in_no_exported_file,
    an_unknown_person_gets_a_no_data_letter_from_the_named_tenant_only,
    files_are_private_and_an_existing_folder_is_not_overwritten,
    bad_input_is_refused_before_anything_is_registered,
    an_explicit_request_is_answered_and_closed,
    the_binary_writes_the_folder_and_reports_json,
    a_request_registered_without_a_tenant_is_listed_once,
    a_name_that_is_a_spreadsheet_formula_is_neutralized_in_csv_and_exact_in_json,
    an_export_that_cannot_be_written_registers_nothing_and_leaves_no_half_folder,
    the_auskunft_states_the_third_country_position_and_shows_holds_and_restrictions_with_others_redacted,
    the_register_file_has_no_pseudonym_and_one_tenant_column,
    the_requests_are_closed_audited_and_their_identity_recorded_together_or_not_at_all,
);

/// Services at Recklinghausen and Westendorf and slots tomorrow, two places each.
async fn setup(db: &TestDb) -> Context {
    let ctx = ready(db).await;
    let day = (Utc::now() + Duration::days(1)).date_naive();
    for tenant in ["recklinghausen", "westendorf"] {
        seeding::import_services(&ctx, tenant, &fixture("services.csv"))
            .await
            .unwrap();
        common::open_slots(&ctx, tenant, day, "08:00-10:00", 2).await;
    }
    ctx
}

/// Books the first slot of PA at a tenant and logs the request that made it, as `serve` does.
async fn book(ctx: &Context, tenant: &str, who: Citizen, sms: bool, ip: &str) -> BookingReceipt {
    let now = Utc::now();
    let slot = people::first_free_slot(ctx, tenant, now).await;
    let form = BookingForm {
        sms_reminder: sms,
        ..who.form(slot)
    };
    let request = AccessLogEntry {
        logged_at: datenwart::domain::time::now(),
        utc_offset_minutes: 60,
        ip: ip.into(),
        path: format!("/api/v1/tenants/{tenant}/bookings"),
        bytes: 412,
        referrer: Some(format!("https://termine.example/t/{tenant}")),
        browser: Some("Firefox".into()),
        browser_version: Some("128.0".into()),
        operating_system: Some("Linux".into()),
        language: Some("de-DE".into()),
        ..people::booking_request(tenant, slot, now)
    };
    people::book(ctx, tenant, &form, now, Some(request)).await
}

const ANNA_DATA: Citizen = Citizen {
    first: "Anna",
    last: "Schmidt",
    email: ANNA,
    phone: "0171 1234567",
};
const BERND_DATA: Citizen = Citizen {
    first: "Bernd",
    last: "Nachbarsohn",
    email: BERND,
    phone: "0160 9876543",
};

/// Anna at Recklinghausen and Westendorf (with an SMS reminder there); Bernd in the very
/// same slot at Recklinghausen.
async fn two_people(ctx: &Context) -> (BookingReceipt, BookingReceipt, BookingReceipt) {
    let a1 = book(ctx, "recklinghausen", ANNA_DATA, false, "203.0.113.7").await;
    let a2 = book(ctx, "westendorf", ANNA_DATA, true, "203.0.113.7").await;
    let b = book(ctx, "recklinghausen", BERND_DATA, false, "198.51.100.99").await;
    (a1, a2, b)
}

fn request(email: &str, out: &Path) -> ExportRequest {
    ExportRequest {
        email: email.into(),
        controllers: Controllers::All,
        out: Some(out.to_owned()),
        request_id: None,
        channel: Channel::Email,
        address: Vec::new(),
        identity: None,
    }
}

/// A file's text; of the PDF letter, the text on its pages.
fn read(dir: &Path, file: &str) -> String {
    if file.ends_with(".pdf") {
        return common::pdf_text(&dir.join(file));
    }
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&read(dir, "daten.json")).unwrap()
}

fn csv_rows(dir: &Path, file: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(dir.join(file)).unwrap();
    let header = r.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = r
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

async fn access_requests(ctx: &Context, email: &str) -> Vec<datenwart::store::Request> {
    ctx.store
        .list_requests(&RequestFilter {
            subject_ref: Some(subject_ref(ctx, email).await),
            kind: Some(RequestKind::Access),
            ..Default::default()
        })
        .await
        .unwrap()
}

fn counts(report: &ExportReport, tenant: &str) -> [usize; 6] {
    let t = report.tenants.iter().find(|t| t.tenant == tenant).unwrap();
    [
        t.bookings,
        t.consents,
        t.notifications,
        t.access_log,
        t.requests,
        t.inbox,
    ]
}

async fn a_person_at_two_tenants_gets_a_letter_from_each_with_all_their_rows(db: TestDb) {
    let ctx = setup(&db).await;
    let (a1, a2, _) = two_people(&ctx).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("anna");
    let report = export::export(&ctx, &request(ANNA, &out)).await.unwrap();

    assert_eq!(report.folder, out);
    assert_eq!(
        files_in(&out),
        vec![
            "auskunft.html",
            "auskunft.pdf",
            "benachrichtigungen.csv",
            "buchungen.csv",
            "daten.json",
            "einwilligungen.csv",
            "zugriffsprotokoll.csv"
        ]
    );
    let mut reported = report.files.clone();
    reported.sort();
    assert_eq!(reported, files_in(&out));
    // Recklinghausen: booking consent; confirmation only. Westendorf: booking as a public task,
    // SMS consent; confirmation, office copy, SMS reminder.
    assert_eq!(counts(&report, "recklinghausen"), [1, 1, 1, 1, 0, 0]);
    assert_eq!(counts(&report, "westendorf"), [1, 1, 3, 1, 0, 0]);

    // Two letters, one from each controller, with the person's rows.
    let html = read(&out, "auskunft.html");
    assert_eq!(html.matches("<article class=\"letter\">").count(), 2);
    assert!(
        html.contains("Stadt Recklinghausen")
            && html.contains("Verwaltungsgemeinschaft Westendorf")
    );
    assert!(
        html.contains("Wir bestätigen Ihnen, dass wir personenbezogene Daten über Sie verarbeiten")
    );
    assert!(!html.contains("Wir verarbeiten keine personenbezogenen Daten"));
    assert!(html.contains(&a1.reference) && html.contains(&a2.reference));
    assert!(html.contains("Terminbuchungen") && html.contains("Zugriffsprotokoll"));
    assert!(html.contains("203.0.113.7"));
    // Art. 15(1)(a)–(h) from the policies: storage in words, the authority by name.
    assert!(
        html.contains("48 Stunden"),
        "Recklinghausen's retention in words"
    );
    assert!(html.contains("Landesbeauftragte für Datenschutz und Informationsfreiheit"));
    assert!(html.contains("Der Bayerische Landesbeauftragte für den Datenschutz"));
    assert!(html.contains("Recht auf Widerspruch") && html.contains("Profiling"));
    assert!(html.contains("Art. 15 Abs. 3") && html.contains("daten.json"));

    // daten.json: per tenant its name, the request and every row.
    let data = json(&out);
    let tenants = data["tenants"].as_array().unwrap();
    assert_eq!(tenants.len(), 2);
    assert_eq!(tenants[0]["tenant"], "recklinghausen");
    assert_eq!(tenants[0]["tenant_name"], "Stadt Recklinghausen");
    assert_eq!(
        tenants[0]["bookings"][0]["reference"],
        a1.reference.as_str()
    );
    assert_eq!(tenants[0]["bookings"][0]["email"], ANNA);
    assert_eq!(tenants[1]["tenant"], "westendorf");
    assert_eq!(
        tenants[1]["bookings"][0]["reference"],
        a2.reference.as_str()
    );
    assert_eq!(tenants[1]["notifications"].as_array().unwrap().len(), 3);
    assert_eq!(tenants[1]["access_log"][0]["ip"], "203.0.113.7");

    // One CSV per category, the tenant first, the record's fields in their order.
    let (header, rows) = csv_rows(&out, "buchungen.csv");
    assert_eq!(&header[..3], ["tenant", "reference", "service_code"]);
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0][0].as_str(), rows[0][1].as_str()),
        ("recklinghausen", a1.reference.as_str())
    );
    assert_eq!(
        (rows[1][0].as_str(), rows[1][1].as_str()),
        ("westendorf", a2.reference.as_str())
    );
    let (header, rows) = csv_rows(&out, "zugriffsprotokoll.csv");
    assert_eq!(header[0], "tenant");
    assert_eq!(rows.len(), 2);
    assert_eq!(csv_rows(&out, "benachrichtigungen.csv").1.len(), 4);
    assert_eq!(csv_rows(&out, "einwilligungen.csv").1.len(), 2);

    // The register: one access request per tenant, answered and closed.
    let register = access_requests(&ctx, ANNA).await;
    assert_eq!(register.len(), 2);
    for r in &register {
        assert_eq!(r.status, "closed");
        assert_eq!(r.outcome.map(|o| o.as_str()), Some("answered"));
        assert_eq!(r.channel, "email");
        let t = report
            .tenants
            .iter()
            .find(|t| Some(&t.tenant) == r.tenant.as_ref())
            .unwrap();
        assert_eq!(t.request_id, r.id);
        assert_eq!(t.outcome, Outcome::Answered);
        assert!(html.contains(&format!("Vorgangsnummer {}", r.id)));
    }

    // The audit trail: counts and the pseudonym, never the address or the folder.
    let entries = ctx
        .store
        .audit_entries(&AuditFilter {
            action: Some("subject.export".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(entries.len(), 2);
    let anna_ref = subject_ref(&ctx, ANNA).await;
    for e in &entries {
        assert_eq!(e.subject_ref.as_deref(), Some(anna_ref.as_str()));
        let details: serde_json::Value = serde_json::from_str(&e.details).unwrap();
        assert_eq!(details["files"], 7);
        assert_eq!(details["bookings"], 1);
        assert!(!e.details.to_lowercase().contains("anna"));
        assert!(!e.details.contains("example"));
        assert!(!e.details.contains(out.to_str().unwrap()));
    }
    let verify = datenwart::ops::audit::verify(ctx.store.as_ref())
        .await
        .unwrap();
    assert!(verify.ok, "{verify:?}");
}

async fn with_a_tenant_only_that_tenants_data_is_exported(db: TestDb) {
    let ctx = setup(&db).await;
    let (a1, a2, _) = two_people(&ctx).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("westendorf");
    let mut req = request(ANNA, &out);
    req.controllers = Controllers::One("westendorf".into());
    let report = export::export(&ctx, &req).await.unwrap();

    assert_eq!(report.tenants.len(), 1);
    assert_eq!(report.tenants[0].tenant, "westendorf");
    let html = read(&out, "auskunft.html");
    assert_eq!(html.matches("<article class=\"letter\">").count(), 1);
    assert!(html.contains("Verwaltungsgemeinschaft Westendorf"));
    assert!(!html.contains("Recklinghausen"));
    assert!(html.contains(&a2.reference) && !html.contains(&a1.reference));
    let data = json(&out);
    assert_eq!(data["tenants"].as_array().unwrap().len(), 1);
    assert_eq!(data["tenants"][0]["tenant"], "westendorf");
    for file in files_in(&out) {
        assert!(!read(&out, &file).contains("recklinghausen"), "{file}");
    }
    let register = access_requests(&ctx, ANNA).await;
    assert_eq!(register.len(), 1);
    assert_eq!(register[0].tenant.as_deref(), Some("westendorf"));

    // A second Auskunft lists the first one among the person's requests.
    let again = tmp.path().join("again");
    let mut req = request(ANNA, &again);
    req.controllers = Controllers::One("westendorf".into());
    let report = export::export(&ctx, &req).await.unwrap();
    assert_eq!(report.tenants[0].requests, 1);
    let (_, rows) = csv_rows(&again, "antraege.csv");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], "westendorf");
    assert_eq!(rows[0][1], register[0].id.to_string());

    // An unknown tenant is refused.
    let mut req = request(ANNA, &tmp.path().join("x"));
    req.controllers = Controllers::One("gotham".into());
    let err = export::export(&ctx, &req).await.unwrap_err();
    assert!(
        matches!(
            err.downcast_ref::<Refusal>(),
            Some(Refusal::InvalidInput(_))
        ),
        "{err}"
    );
    assert!(err.to_string().contains("--tenant gotham"), "{err}");
}

async fn another_persons_name_email_and_phone_are_in_no_exported_file(db: TestDb) {
    let ctx = setup(&db).await;
    let (_, _, bernd) = two_people(&ctx).await;
    let tmp = tempfile::tempdir().unwrap();
    for (name, controllers) in [
        ("all", Controllers::All),
        ("one", Controllers::One("recklinghausen".into())),
    ] {
        let out = tmp.path().join(name);
        let mut req = request(ANNA, &out);
        req.controllers = controllers;
        let report = export::export(&ctx, &req).await.unwrap();
        // Bernd's booking is in the same slot: still only Anna's row.
        assert_eq!(counts(&report, "recklinghausen")[0], 1);
        for file in files_in(&out) {
            let text = read(&out, &file).to_lowercase();
            for needle in [
                "bernd",
                "nachbarsohn",
                "bernd.nachbar@example.org",
                "9876543",
                "198.51.100.99",
                &bernd.reference.to_lowercase(),
            ] {
                assert!(!text.contains(needle), "{needle} in {name}/{file}");
            }
        }
    }
}

async fn an_unknown_person_gets_a_no_data_letter_from_the_named_tenant_only(db: TestDb) {
    let ctx = setup(&db).await;
    two_people(&ctx).await;
    let tmp = tempfile::tempdir().unwrap();

    // For every tenant, a person known nowhere is refused: nothing registered, no folder.
    let everywhere = tmp.path().join("everywhere");
    let mut req = request("niemand@example.net", &everywhere);
    req.channel = Channel::Letter;
    let err = export::export(&ctx, &req).await.unwrap_err();
    assert!(
        matches!(err.downcast_ref::<Refusal>(), Some(Refusal::NotFound(_))),
        "{err}"
    );
    assert!(err.to_string().contains("--tenant"), "{err}");
    assert!(!everywhere.exists());
    assert!(
        access_requests(&ctx, "niemand@example.net")
            .await
            .is_empty()
    );

    // The controller that received the request answers "no data", and only it.
    let out = tmp.path().join("nobody");
    let mut req = request("niemand@example.net", &out);
    req.channel = Channel::Letter;
    req.controllers = Controllers::One("recklinghausen".into());
    let report = export::export(&ctx, &req).await.unwrap();
    let tenants: Vec<&str> = report.tenants.iter().map(|t| t.tenant.as_str()).collect();
    assert_eq!(tenants, ["recklinghausen"]);
    assert!(report.tenants.iter().all(|t| t.outcome == Outcome::NoData));
    assert_eq!(
        files_in(&out),
        ["auskunft.html", "auskunft.pdf", "daten.json"]
    );
    let html = read(&out, "auskunft.html");
    assert_eq!(
        html.matches("Wir verarbeiten keine personenbezogenen Daten über Sie")
            .count(),
        1
    );
    assert!(html.contains("per Brief"));
    assert!(!html.contains("Anna") && !html.contains("Bernd"));

    let register = access_requests(&ctx, "niemand@example.net").await;
    assert_eq!(register.len(), 1);
    assert_eq!(register[0].tenant.as_deref(), Some("recklinghausen"));
    assert!(
        register[0].status == "closed"
            && register[0].outcome.map(|o| o.as_str()) == Some("no_data")
    );
    assert_eq!(register[0].channel, "letter");
}

async fn files_are_private_and_an_existing_folder_is_not_overwritten(db: TestDb) {
    let ctx = setup(&db).await;
    two_people(&ctx).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("nested").join("anna");
    export::export(&ctx, &request(ANNA, &out)).await.unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&out), 0o700);
    for file in files_in(&out) {
        assert_eq!(mode(&out.join(&file)), 0o600, "{file}");
    }
    let before = db.count("select count(*) from requests").await;
    let html = read(&out, "auskunft.html");

    // The same folder again: refused, nothing changed, nothing registered.
    let err = export::export(&ctx, &request(ANNA, &out))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.downcast_ref::<Refusal>(),
            Some(Refusal::InvalidInput(_))
        ),
        "{err}"
    );
    assert!(err.to_string().contains("not empty"), "{err}");
    assert_eq!(read(&out, "auskunft.html"), html);
    assert_eq!(db.count("select count(*) from requests").await, before);

    // An existing empty folder is used, and made private.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::set_permissions(&empty, std::fs::Permissions::from_mode(0o755)).unwrap();
    export::export(&ctx, &request(ANNA, &empty)).await.unwrap();
    assert_eq!(mode(&empty), 0o700);
    assert!(empty.join("daten.json").exists());
}

async fn bad_input_is_refused_before_anything_is_registered(db: TestDb) {
    let ctx = setup(&db).await;
    two_people(&ctx).await;
    let before = db.count("select count(*) from requests").await;
    let tmp = tempfile::tempdir().unwrap();
    let refused = |e: anyhow::Error| {
        assert!(
            matches!(e.downcast_ref::<Refusal>(), Some(Refusal::InvalidInput(_))),
            "{e}"
        );
        e.to_string()
    };
    let msg = refused(
        export::export(&ctx, &request("anna.example.com", &tmp.path().join("a")))
            .await
            .unwrap_err(),
    );
    assert!(
        msg.contains("--email") && msg.contains("\"anna.example.com\""),
        "{msg}"
    );
    // A folder named after the person would put the address in a file name.
    let msg = refused(
        export::export(
            &ctx,
            &request(ANNA, &tmp.path().join("anna.schmidt@example.com")),
        )
        .await
        .unwrap_err(),
    );
    assert!(msg.contains("--out"), "{msg}");
    let mut req = request(ANNA, &tmp.path().join("b"));
    req.request_id = Some(4242);
    let msg = refused(export::export(&ctx, &req).await.unwrap_err());
    assert!(msg.contains("--request 4242"), "{msg}");
    assert_eq!(db.count("select count(*) from requests").await, before);
    assert!(std::fs::read_dir(tmp.path()).unwrap().next().is_none());
}

async fn an_explicit_request_is_answered_and_closed(db: TestDb) {
    let ctx = setup(&db).await;
    two_people(&ctx).await;
    let anna = subject_ref(&ctx, ANNA).await;
    let received = Utc::now() - Duration::days(3);
    let opened = datenwart::ops::requests::open(
        &ctx,
        Some("westendorf"),
        RequestKind::Access,
        Some(&anna),
        Channel::Phone,
        received,
    )
    .await
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("a");
    let mut req = request(ANNA, &out);
    req.request_id = Some(opened.id);
    // A request belongs to one controller: answering it for every tenant is refused.
    let err = export::export(&ctx, &req).await.unwrap_err();
    assert!(err.to_string().contains("--tenant westendorf"), "{err}");
    assert!(!out.exists());
    req.controllers = Controllers::One("westendorf".into());
    let report = export::export(&ctx, &req).await.unwrap();
    // The request's tenant is the scope.
    assert_eq!(report.tenants.len(), 1);
    assert_eq!(report.tenants[0].tenant, "westendorf");
    assert_eq!(report.tenants[0].request_id, opened.id);
    let html = read(&out, "auskunft.html");
    assert!(html.contains("telefonisch"), "the channel of the request");
    let received_de = received
        .with_timezone(&chrono_tz::Europe::Berlin)
        .format("%d.%m.%Y")
        .to_string();
    assert!(html.contains(&format!("Sie haben am {received_de}")));
    let closed = datenwart::ops::requests::get(&ctx, opened.id)
        .await
        .unwrap();
    assert_eq!(
        (closed.status.as_str(), closed.outcome.map(|o| o.as_str())),
        ("closed", Some("answered"))
    );
    assert_eq!(
        access_requests(&ctx, ANNA).await.len(),
        1,
        "no second request opened"
    );

    // Another person's request cannot be answered with this person's data; a closed one not again.
    let mut req = request(BERND, &tmp.path().join("b"));
    let bernd_request = datenwart::ops::requests::open(
        &ctx,
        Some("recklinghausen"),
        RequestKind::Access,
        Some(&subject_ref(&ctx, BERND).await),
        Channel::Email,
        Utc::now(),
    )
    .await
    .unwrap();
    req.email = ANNA.into();
    req.request_id = Some(bernd_request.id);
    let err = export::export(&ctx, &req).await.unwrap_err();
    assert!(err.to_string().contains("another person"), "{err}");
    req.request_id = Some(opened.id);
    let err = export::export(&ctx, &req).await.unwrap_err();
    assert!(err.to_string().contains("closed"), "{err}");
}

/// `datenwart ARGS…` on `db` in the folder `cwd`.
fn datenwart(db: &TestDb, cwd: &Path, args: &[&str]) -> Output {
    let mut cmd = cli::command(&db.url, &shipped_policies(), args);
    cmd.current_dir(cwd);
    cli::output(cmd)
}

async fn the_binary_writes_the_folder_and_reports_json(db: TestDb) {
    let ctx = setup(&db).await;
    two_people(&ctx).await;
    let cwd = tempfile::tempdir().unwrap();

    // The default folder: the date and the first characters of the pseudonym, never the address.
    let o = datenwart(
        &db,
        cwd.path(),
        &[
            "--format",
            "json",
            "export",
            "--identity-checked-by",
            "in-person",
            "--email",
            ANNA,
            "--all-tenants",
            "--channel",
            "in-person",
        ],
    );
    assert_exit(&o, 0);
    let report = cli::json(&o);
    let folder = PathBuf::from(report["folder"].as_str().unwrap());
    let anna = subject_ref(&ctx, ANNA).await;
    let today = Utc::now()
        .with_timezone(&chrono_tz::Europe::Berlin)
        .format("%Y%m%d");
    assert_eq!(
        folder,
        PathBuf::from(format!("auskunft-{today}-{}", &anna.as_str()[..8]))
    );
    assert!(cwd.path().join(&folder).join("auskunft.html").exists());
    assert_eq!(report["files"].as_array().unwrap().len(), 7);
    let tenants = report["tenants"].as_array().unwrap();
    assert_eq!(tenants.len(), 2);
    assert_eq!(tenants[1]["tenant"], "westendorf");
    assert_eq!(tenants[1]["notifications"], 3);
    assert_eq!(tenants[1]["outcome"], "answered");
    assert!(tenants[1]["request_id"].as_i64().unwrap() > 0);
    assert!(!cli::stdout(&o).to_lowercase().contains("anna"));
    let register = access_requests(&ctx, ANNA).await;
    assert!(register.iter().all(|r| r.channel == "in_person"));

    // The same folder again, a bad address: exit 2 and the value named.
    let o = datenwart(
        &db,
        cwd.path(),
        &[
            "export",
            "--identity-checked-by",
            "in-person",
            "--email",
            ANNA,
            "--all-tenants",
        ],
    );
    assert_exit(&o, 2);
    assert!(cli::stderr(&o).contains("not empty"));
    // Neither --tenant nor --all-tenants, or both: a usage error, nothing registered.
    let before = access_requests(&ctx, ANNA).await.len();
    for scope in [&[][..], &["--tenant", "westendorf", "--all-tenants"][..]] {
        let mut args = vec![
            "export",
            "--identity-checked-by",
            "in-person",
            "--email",
            ANNA,
            "--out",
            "scoped",
        ];
        args.extend_from_slice(scope);
        let o = datenwart(&db, cwd.path(), &args);
        assert_exit(&o, 2);
        assert!(
            cli::stderr(&o).contains("--all-tenants"),
            "{}",
            cli::stderr(&o)
        );
        assert!(!cwd.path().join("scoped").exists());
    }
    assert_eq!(access_requests(&ctx, ANNA).await.len(), before);
    let o = datenwart(
        &db,
        cwd.path(),
        &[
            "export",
            "--identity-checked-by",
            "in-person",
            "--email",
            "anna(at)example.com",
            "--out",
            "x",
            "--all-tenants",
        ],
    );
    assert_exit(&o, 2);
    assert!(cli::stderr(&o).contains("\"anna(at)example.com\""));

    // An unknown person is not an error: the no-data letter, exit 0; CSV gives a row per tenant.
    let o = datenwart(
        &db,
        cwd.path(),
        &[
            "--format",
            "csv",
            "export",
            "--identity-checked-by",
            "in-person",
            "--email",
            "niemand@example.net",
            "--out",
            "leer",
            "--tenant",
            "westendorf",
        ],
    );
    assert_exit(&o, 0);
    let out = cli::stdout(&o);
    let mut lines = out.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("tenant,request,outcome,bookings")
    );
    assert!(lines.next().unwrap().starts_with("westendorf,"));
    assert!(out.contains("no_data"));
    assert!(
        read(&cwd.path().join("leer"), "auskunft.html")
            .contains("Wir verarbeiten keine personenbezogenen Daten über Sie")
    );
}

/// A request registered for the whole installation (no tenant) belongs to every tenant's
/// view of the person, but a letter covering two tenants lists it once, not once per tenant.
async fn a_request_registered_without_a_tenant_is_listed_once(db: TestDb) {
    let ctx = setup(&db).await;
    two_people(&ctx).await;
    let anna = subject_ref(&ctx, ANNA).await;
    let shared = datenwart::ops::requests::open(
        &ctx,
        None,
        RequestKind::Erasure,
        Some(&anna),
        Channel::Letter,
        Utc::now() - Duration::days(2),
    )
    .await
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("anna");
    let report = export::export(&ctx, &request(ANNA, &out)).await.unwrap();
    assert_eq!(report.tenants.len(), 2);
    assert_eq!(
        counts(&report, "recklinghausen")[4] + counts(&report, "westendorf")[4],
        1,
        "the shared request once"
    );
    let data = json(&out);
    let listed: usize = data["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["requests"].as_array().cloned().unwrap_or_default())
        .filter(|r| r["id"] == shared.id)
        .count();
    assert_eq!(listed, 1, "{data}");
}

async fn a_name_that_is_a_spreadsheet_formula_is_neutralized_in_csv_and_exact_in_json(db: TestDb) {
    let ctx = setup(&db).await;
    let formula = "=HYPERLINK(\"http://evil.example\",\"x\")";
    let who = Citizen {
        first: formula,
        last: "+Schmidt",
        email: ANNA,
        phone: "0171 5550101",
    };
    book(&ctx, "recklinghausen", who, false, "198.51.100.4").await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("anna");
    export::export(&ctx, &request(ANNA, &out)).await.unwrap();
    let (header, rows) = csv_rows(&out, "buchungen.csv");
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(rows[0][column("first_name")], format!("'{formula}"));
    assert_eq!(rows[0][column("last_name")], "'+Schmidt");
    // The machine-readable copy (Art. 20) keeps the exact value.
    let data = json(&out);
    let booking = &data["tenants"][0]["bookings"][0];
    assert_eq!(booking["first_name"], formula);
    assert_eq!(booking["last_name"], "+Schmidt");
}

async fn an_export_that_cannot_be_written_registers_nothing_and_leaves_no_half_folder(db: TestDb) {
    let ctx = setup(&db).await;
    two_people(&ctx).await;
    let tmp = tempfile::tempdir().unwrap();
    let requests_now = || db.count("select count(*) from requests");
    let before = requests_now().await;

    // A symbolic link at --out is refused; its target is neither written nor restricted.
    let target = tmp.path().join("target");
    std::fs::create_dir(&target).unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).unwrap();
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let err = export::export(&ctx, &request(ANNA, &link))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.downcast_ref::<Refusal>(),
            Some(Refusal::InvalidInput(_))
        ),
        "{err}"
    );
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert!(files_in(&target).is_empty());
    let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o755);

    // A folder that cannot be made (its parent is a file): nothing registered.
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    assert!(
        export::export(&ctx, &request(ANNA, &file.join("anna")))
            .await
            .is_err()
    );
    assert_eq!(requests_now().await, before);

    // A disk that fills up while the files are written: the requests opened for the
    // Auskunft are taken back, no half-written folder is left, and the next try works.
    let disk = tmp.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    let mounted = std::process::Command::new("mount")
        // Room for the Auskunft with its PDF (fonts embedded) once the filler is gone.
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&disk)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        common::cannot_run(
            "a small tmpfs cannot be mounted here",
            "run the tests as root, as CI does",
        );
        return;
    }
    let unmount = scopeguard(&disk);
    let filler = disk.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        for size in [4096, 512, 1] {
            let block = vec![0u8; size];
            while f.write_all(&block).is_ok() {}
        }
    }
    let out = disk.join("anna");
    let err = export::export(&ctx, &request(ANNA, &out))
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("cannot"), "{err:#}");
    assert_eq!(
        requests_now().await,
        before,
        "the opened requests are taken back"
    );
    let left: Vec<String> = files_in(&disk)
        .into_iter()
        .filter(|f| f != "filler")
        .collect();
    assert!(left.is_empty(), "nothing half-written is left: {left:?}");
    let discarded = db
        .count("select count(*) from audit_log where action = 'request.discard'")
        .await;
    assert_eq!(discarded, 2, "one per tenant, in the audit trail");
    std::fs::remove_file(&filler).unwrap();
    export::export(&ctx, &request(ANNA, &out)).await.unwrap();
    assert!(files_in(&out).contains(&"auskunft.html".to_owned()));
    drop(unmount);
}

/// Unmounts a test's tmpfs when dropped.
fn scopeguard(dir: &Path) -> impl Drop {
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
    Unmount(dir.to_owned())
}

async fn the_auskunft_states_the_third_country_position_and_shows_holds_and_restrictions_with_others_redacted(
    db: TestDb,
) {
    let ctx = setup(&db).await;
    two_people(&ctx).await;
    let r = "recklinghausen";
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let o = datenwart(&db, tmp.path(), args);
        assert_exit(&o, 0);
        cli::stdout(&o)
    };
    run(&[
        "hold",
        "add",
        "--tenant",
        r,
        "--email",
        ANNA,
        "--reason",
        "Beschwerde von Bernd Nachbarsohn (bernd.nachbar@example.org, 0160 9876543) und Herrn Nachbarsohn, Az. 3 K 12/26",
    ]);
    run(&[
        "restrict",
        "--identity-checked-by",
        "in-person",
        "--email",
        ANNA,
        "--tenant",
        r,
        "--reason",
        "Richtigkeit bestritten; Hinweis von fremd@example.com, +49 30 1234567",
    ]);
    let opened = cli::json(&datenwart(
        &db,
        tmp.path(),
        &[
            "--format",
            "json",
            "requests",
            "open",
            "--kind",
            "rectification",
            "--email",
            ANNA,
            "--tenant",
            r,
        ],
    ));
    let id = opened[0]["id"].as_i64().unwrap().to_string();
    run(&[
        "requests",
        "extend",
        &id,
        "--reason",
        "Rückfrage bei Weber, Bernd und bei Bernd Nachbarsohn nötig",
    ]);

    let out = tmp.path().join("anna");
    let request = ExportRequest {
        controllers: Controllers::One(r.into()),
        ..request(ANNA, &out)
    };
    let report = export::export(&ctx, &request).await.unwrap();
    let t = &report.tenants[0];
    assert_eq!((t.holds, t.restrictions), (1, 1));

    let letter = read(&out, "auskunft.html");
    assert!(
        letter.contains("Übermittlung in Drittländer (Art. 15 Abs. 2 DSGVO)"),
        "{letter}"
    );
    assert!(
        letter.contains(datenwart::domain::policy::NO_THIRD_COUNTRY),
        "the shipped policy says none: {letter}"
    );
    assert_eq!(
        json(&out)["tenants"][0]["third_countries"],
        datenwart::domain::policy::NO_THIRD_COUNTRY
    );
    assert!(
        letter.contains("Sperren wegen Aufbewahrungspflichten"),
        "{letter}"
    );
    assert!(
        letter.contains("Einschränkungen der Verarbeitung"),
        "{letter}"
    );
    assert!(
        letter.contains("Richtigkeit bestritten; Hinweis von [geschwärzt], [geschwärzt]"),
        "{letter}"
    );
    assert!(letter.contains("Beschwerde von [geschwärzt] ([geschwärzt], [geschwärzt]) und [geschwärzt], Az. 3 K 12/26"), "{letter}");
    assert!(
        letter.contains("Rückfrage bei Weber, Bernd und bei [geschwärzt] nötig"),
        "{letter}"
    );
    assert!(
        letter.contains("Tatsächlich erhalten hat Ihre Daten bisher keiner dieser Empfänger"),
        "{letter}"
    );

    let (header, rows) = csv_rows(&out, "sperren.csv");
    assert_eq!(
        header,
        [
            "tenant",
            "booking_reference",
            "reason",
            "until_on",
            "created_at",
            "removed_at"
        ]
    );
    assert!(rows[0][2].contains("[geschwärzt]"));
    let (_, rows) = csv_rows(&out, "einschraenkungen.csv");
    assert_eq!(rows.len(), 1);
    // Bernd appears in no file, in no form.
    for file in files_in(&out) {
        let text = read(&out, &file).to_lowercase();
        for needle in [
            "nachbarsohn",
            "bernd.nachbar",
            "9876543",
            "fremd@example.com",
            "30 1234567",
        ] {
            assert!(!text.contains(needle), "{needle} in {file}");
        }
    }
}

async fn the_register_file_has_no_pseudonym_and_one_tenant_column(db: TestDb) {
    let ctx = setup(&db).await;
    two_people(&ctx).await;
    let anna = subject_ref(&ctx, ANNA).await;
    datenwart::ops::requests::open(
        &ctx,
        Some("recklinghausen"),
        RequestKind::Erasure,
        Some(&anna),
        Channel::Letter,
        Utc::now() - Duration::days(2),
    )
    .await
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("anna");
    export::export(&ctx, &request(ANNA, &out)).await.unwrap();
    let (header, rows) = csv_rows(&out, "antraege.csv");
    assert_eq!(
        header,
        [
            "tenant",
            "id",
            "kind",
            "channel",
            "identity",
            "received_at",
            "due_on",
            "extended_due_on",
            "extension_reason",
            "status",
            "outcome",
            "closed_at"
        ]
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], "recklinghausen");
    for file in files_in(&out) {
        assert!(
            !read(&out, &file).contains(anna.as_str()),
            "the pseudonym in {file}"
        );
    }
    let data = json(&out);
    let listed = &data["tenants"][0]["requests"][0];
    assert!(
        listed.get("subject_ref").is_none() && listed.get("tenant").is_none(),
        "{listed}"
    );
}

/// After the files are written, closing the requests, the `subject.export` entries and the
/// identity check are one transaction: when the database refuses the last of them, none
/// is there (the requests stay open, to be answered again), and once it accepts, all are.
async fn the_requests_are_closed_audited_and_their_identity_recorded_together_or_not_at_all(
    db: TestDb,
) {
    let ctx = setup(&db).await;
    two_people(&ctx).await;
    // The database refuses to record an identity check.
    db.refuse(
        "refuse_identity",
        "before update of identity on requests",
        None,
        "identity refused",
    )
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let with_identity = |out: PathBuf| ExportRequest {
        identity: Some(IdentityCheck::InPerson),
        ..request(ANNA, &out)
    };
    let err = export::export(&ctx, &with_identity(tmp.path().join("first")))
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("identity refused"), "{err:#}");
    let open = access_requests(&ctx, ANNA).await;
    assert_eq!(open.len(), 2, "one request at each tenant");
    assert!(
        open.iter()
            .all(|r| r.outcome.is_none() && r.identity.is_none()),
        "{open:?}"
    );
    for action in ["subject.export", "request.close", "request.identity"] {
        assert_eq!(db.audit_count(action).await, 0, "{action}");
    }

    db.execute_raw(match db.kind {
        Kind::Sqlite => "drop trigger refuse_identity",
        Kind::Postgres => "drop trigger refuse_identity on requests",
    })
    .await;
    let report = export::export(&ctx, &with_identity(tmp.path().join("again")))
        .await
        .unwrap();
    let ids: Vec<i64> = report.tenants.iter().map(|t| t.request_id).collect();
    assert_eq!(
        ids,
        open.iter().map(|r| r.id).collect::<Vec<_>>(),
        "the open requests are the ones answered"
    );
    let answered = access_requests(&ctx, ANNA).await;
    assert!(
        answered
            .iter()
            .all(|r| r.outcome == Some(Outcome::Answered)
                && r.identity == Some(IdentityCheck::InPerson)),
        "{answered:?}"
    );
    for action in ["subject.export", "request.close", "request.identity"] {
        assert_eq!(db.audit_count(action).await, 2, "{action}");
    }
    let verified = datenwart::ops::audit::verify(ctx.store.as_ref())
        .await
        .unwrap();
    assert!(verified.ok, "{:?}", verified.problem);
}
