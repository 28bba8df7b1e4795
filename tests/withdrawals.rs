//! The mailbox intake (`withdrawals import`) on both backends, through Maildir, mbox and
//! single `.eml` files, against the corpus in `tests/fixtures/inbox/`.
//!
//! Every file of the corpus is named after what must become of it; [`CORPUS`] states it
//! exactly: the outcome, the tenant, whose message it is and what it does to that person's
//! data. The people are created in [`setup`] with a past and a future booking at their tenant:
//! at Recklinghausen the booking rests on consent (a withdrawal cancels the future booking,
//! frees its place and erases the person there); at Westendorf and Oer-Erkenschwick it rests on
//! the public task (not consent) and the SMS reminder on consent (a withdrawal ends only the SMS-reminder consent,
//! the bookings stay). One more message, with a multi-megabyte attachment, is generated.

mod common;

use datenwart::domain::requests::{IdentityCheck, InboxOutcome};
use datenwart::ops::identity::{self, CodeState};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use common::cli::{assert_exit, run, stderr, stdout};
use common::people::{self, Citizen, subject_ref};
use common::{Kind, TestDb, fixture, ready};
use datenwart::domain::booking::BookingForm;
use datenwart::mail::{self, ParsedMail, Source};
use datenwart::ops::rights::{self, HoldOn};
use datenwart::ops::seeding;
use datenwart::ops::withdrawals::{self, ImportOptions, MessageReport};
use datenwart::ops::{Context, booking, requests};
use datenwart::store;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const R: &str = "recklinghausen";
const W: &str = "westendorf";
const O: &str = "oer-erkenschwick";

const BUERGERBUERO: &str = "buergerbuero@recklinghausen.de";
const STADTVERWALTUNG: &str = "stadtverwaltung@recklinghausen.de";
const RATHAUS_OE: &str = "rathaus@oer-erkenschwick.de";
const WESTENDORF: &str = "geschaeftsleitung@vg-westendorf.de";

// ===========================================================================================
// The people
// ===========================================================================================

/// A citizen with a past and a future booking at one tenant (with the SMS reminder where the
/// tenant offers it).
struct Person {
    who: Citizen,
    tenant: &'static str,
}

const fn person(
    email: &'static str,
    first: &'static str,
    last: &'static str,
    phone: &'static str,
    tenant: &'static str,
) -> Person {
    Person {
        who: Citizen {
            first,
            last,
            email,
            phone,
        },
        tenant,
    }
}

const PEOPLE: &[Person] = &[
    // Recklinghausen: the booking rests on consent.
    person(
        "lena.hoffmann@example.com",
        "Lena",
        "Hoffmann",
        "0171 1000001",
        R,
    ),
    person(
        "james.carter@example.org",
        "James",
        "Carter",
        "0171 1000002",
        R,
    ),
    person(
        "fatma.demir@example.net",
        "Fatma",
        "Demir",
        "0171 1000003",
        R,
    ),
    // Stored as typed; the mail comes from "Karl.Otto@EXAMPLE.NET".
    person("Karl.Otto@example.net", "Karl", "Otto", "0171 1000004", R),
    person(
        "sophie.wagner@example.com",
        "Sophie",
        "Wagner",
        "0171 1000005",
        R,
    ),
    person(
        "heinz.brandt@example.org",
        "Heinz",
        "Brandt",
        "0171 1000006",
        R,
    ),
    person(
        "marie.schulz@example.com",
        "Marie",
        "Schulz",
        "0171 1000007",
        R,
    ),
    person(
        "thomas.becker@example.org",
        "Thomas",
        "Becker",
        "0171 1000008",
        R,
    ),
    person(
        "ursula.klein@example.net",
        "Ursula",
        "Klein",
        "0171 1000009",
        R,
    ),
    person(
        "juergen.weiss@example.com",
        "Jürgen",
        "Weiß",
        "0171 1000010",
        R,
    ),
    person(
        "elif.arslan@example.org",
        "Elif",
        "Arslan",
        "0171 1000011",
        R,
    ),
    person(
        "peter.lange@example.net",
        "Peter",
        "Lange",
        "0171 1000012",
        R,
    ),
    // Under a legal hold at Recklinghausen (set in `setup`).
    person(
        "heike.sommer@example.com",
        "Heike",
        "Sommer",
        "0171 1000013",
        R,
    ),
    // Known at Recklinghausen only; writes to Westendorf.
    person("nina.vogel@example.org", "Nina", "Vogel", "0171 1000014", R),
    // Westendorf: the booking rests on the public task, the SMS reminder on consent.
    person(
        "d.krueger@example.net",
        "Dieter",
        "Krüger",
        "0160 2000001",
        W,
    ),
    person(
        "monika.schroeder@example.com",
        "Monika",
        "Schröder",
        "0160 2000002",
        W,
    ),
    person(
        "emma.wilson@example.com",
        "Emma",
        "Wilson",
        "0160 2000003",
        W,
    ),
    person(
        "olivia.brown@example.org",
        "Olivia",
        "Brown",
        "0160 2000004",
        W,
    ),
    person("hans.meier@example.net", "Hans", "Meier", "0160 2000005", W),
    person(
        "gisela.koch@example.com",
        "Gisela",
        "Koch",
        "0160 2000006",
        W,
    ),
    person(
        "sabine.koch@example.org",
        "Sabine",
        "Koch",
        "0160 2000016",
        W,
    ),
    person(
        "frank.neumann@example.org",
        "Frank",
        "Neumann",
        "0160 2000007",
        W,
    ),
    // Oer-Erkenschwick: as Westendorf.
    person(
        "ayse.yilmaz@example.com",
        "Ayşe",
        "Yılmaz",
        "0152 3000001",
        O,
    ),
    person(
        "w.richter@example.org",
        "Wolfgang",
        "Richter",
        "0152 3000002",
        O,
    ),
    person(
        "sabine.fischer@example.net",
        "Sabine",
        "Fischer",
        "0152 3000003",
        O,
    ),
    person(
        "bjoern.lehmann@example.com",
        "Björn",
        "Lehmann",
        "0152 3000004",
        O,
    ),
    person(
        "b.schneider@example.com",
        "Bernd",
        "Schneider",
        "0152 3000005",
        O,
    ),
    person(
        "klaus.zimmermann@example.net",
        "Klaus",
        "Zimmermann",
        "0152 3000006",
        O,
    ),
];

const ON_HOLD: &str = "heike.sommer@example.com";

/// What a person was given in `setup`.
#[derive(Clone, Debug)]
struct Booked {
    tenant: &'static str,
    /// References of the past and the future booking.
    past: String,
    future: String,
    future_service: String,
    future_start: DateTime<Utc>,
}

// ===========================================================================================
// The corpus and what must become of each message
// ===========================================================================================

/// What a message does to its sender's data (checked in the database after the import).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    /// Nothing changes for anyone.
    Nothing,
    /// Recklinghausen, booking on consent: both booking consents withdrawn, the future booking
    /// cancelled and its place freed, the person erased (bookings anonymized).
    Erased,
    /// As `Erased`, but a legal hold keeps the data and the booking: only the consents end.
    Held,
    /// Contract tenant: the two SMS-reminder consents end, the reminders are cancelled, both
    /// bookings stay with the person's data.
    SmsConsentEnded,
    /// A request of this kind (`access`, `erasure`) is open in the register.
    Opened(&'static str),
}

struct Expect {
    file: &'static str,
    outcome: &'static str,
    tenant: Option<&'static str>,
    /// The withdrawal address the message reached (the reply comes from it).
    address: Option<&'static str>,
    /// The sender, when the sender is one of [`PEOPLE`].
    who: Option<&'static str>,
    effect: Effect,
}

const fn e(
    file: &'static str,
    outcome: &'static str,
    tenant: Option<&'static str>,
    address: Option<&'static str>,
    who: Option<&'static str>,
    effect: Effect,
) -> Expect {
    Expect {
        file,
        outcome,
        tenant,
        address,
        who,
        effect,
    }
}

use Effect::*;

/// The generated message with a multi-megabyte attachment.
const BIG: &str = "36-access-request-oer-erkenschwick-big-attachment.eml";

#[rustfmt::skip]
const CORPUS: &[Expect] = &[
    e("01-withdrawn-recklinghausen-de.eml", "withdrawn", Some(R), Some(BUERGERBUERO), Some("lena.hoffmann@example.com"), Erased),
    e("02-withdrawn-recklinghausen-en-qp-crlf.eml", "withdrawn", Some(R), Some(STADTVERWALTUNG), Some("james.carter@example.org"), Erased),
    e("03-withdrawn-westendorf-contract-latin1-qp.eml", "withdrawn", Some(W), Some(WESTENDORF), Some("d.krueger@example.net"), SmsConsentEnded),
    e("04-withdrawn-oer-erkenschwick-contract-en-base64.eml", "withdrawn", Some(O), Some(RATHAUS_OE), Some("ayse.yilmaz@example.com"), SmsConsentEnded),
    e("05-sms-withdrawn-westendorf-cp1252.eml", "sms_withdrawn", Some(W), Some(WESTENDORF), Some("monika.schroeder@example.com"), SmsConsentEnded),
    e("06-sms-withdrawn-oer-erkenschwick-encoded-subject.eml", "sms_withdrawn", Some(O), Some(RATHAUS_OE), Some("w.richter@example.org"), SmsConsentEnded),
    e("07-sms-withdrawn-westendorf-en.eml", "sms_withdrawn", Some(W), Some(WESTENDORF), Some("emma.wilson@example.com"), SmsConsentEnded),
    e("08-access-request-recklinghausen-de.eml", "access_request", Some(R), Some(BUERGERBUERO), Some("Karl.Otto@example.net"), Opened("access")),
    e("09-access-request-westendorf-en-alternative.eml", "access_request", Some(W), Some(WESTENDORF), Some("olivia.brown@example.org"), Opened("access")),
    e("10-erasure-request-oer-erkenschwick-iso-8859-15.eml", "erasure_request", Some(O), Some(RATHAUS_OE), Some("sabine.fischer@example.net"), Opened("erasure")),
    e("11-erasure-request-recklinghausen-en.eml", "erasure_request", Some(R), Some(BUERGERBUERO), Some("sophie.wagner@example.com"), Opened("erasure")),
    e("12-withdrawn-recklinghausen-html-only.eml", "withdrawn", Some(R), Some(STADTVERWALTUNG), Some("fatma.demir@example.net"), Erased),
    e("13-withdrawn-westendorf-reply-with-quote.eml", "withdrawn", Some(W), Some(WESTENDORF), Some("hans.meier@example.net"), SmsConsentEnded),
    e("14-not-a-request-recklinghausen-quoted-history-only.eml", "not_a_request", Some(R), Some(BUERGERBUERO), Some("juergen.weiss@example.com"), Nothing),
    // Olivia's second message; her state is checked with her access request (09).
    e("15-not-a-request-westendorf-en-outlook-reply.eml", "not_a_request", Some(W), Some(WESTENDORF), None, Nothing),
    e("16-review-recklinghausen-forward-by-staff.eml", "review", Some(R), Some(BUERGERBUERO), None, Nothing),
    e("17-review-recklinghausen-spoofed-dmarc-fail.eml", "review", Some(R), Some(BUERGERBUERO), Some("heinz.brandt@example.org"), Nothing),
    e("18-unmatched-recklinghausen-unknown-sender.eml", "unmatched", Some(R), Some(BUERGERBUERO), None, Nothing),
    e("19-unmatched-westendorf-person-of-another-tenant.eml", "unmatched", Some(W), Some(WESTENDORF), Some("nina.vogel@example.org"), Nothing),
    e("20-not-addressed-recklinghausen-dpo-address.eml", "not_addressed", None, None, None, Nothing),
    e("21-not-a-request-recklinghausen-newsletter-en.eml", "not_a_request", Some(R), Some(BUERGERBUERO), None, Nothing),
    e("22-not-a-request-oer-erkenschwick-opening-hours.eml", "not_a_request", Some(O), Some(RATHAUS_OE), Some("b.schneider@example.com"), Nothing),
    e("23-not-addressed-other-municipality.eml", "not_addressed", None, None, None, Nothing),
    e("24-withdrawn-recklinghausen-bcc-delivered-to.eml", "withdrawn", Some(R), Some(BUERGERBUERO), Some("ursula.klein@example.net"), Erased),
    e("25-duplicate-of-01.eml", "duplicate", None, None, None, Nothing),
    e("26-access-request-westendorf-no-message-id.eml", "access_request", Some(W), Some(WESTENDORF), Some("gisela.koch@example.com"), Opened("access")),
    e("27-unreadable-garbage.eml", "unreadable", None, None, None, Nothing),
    e("28-unreadable-truncated.eml", "unreadable", None, None, None, Nothing),
    e("29-review-recklinghausen-withdrawal-and-erasure.eml", "review", Some(R), Some(BUERGERBUERO), Some("marie.schulz@example.com"), Nothing),
    e("30-review-recklinghausen-negated.eml", "review", Some(R), Some(BUERGERBUERO), Some("thomas.becker@example.org"), Nothing),
    e("31-withdrawn-oer-erkenschwick-ascii-umlauts.eml", "withdrawn", Some(O), Some(RATHAUS_OE), Some("bjoern.lehmann@example.com"), SmsConsentEnded),
    e("32-access-request-recklinghausen-from-lines.eml", "access_request", Some(R), Some(BUERGERBUERO), Some("elif.arslan@example.org"), Opened("access")),
    e("33-not-a-request-recklinghausen-cancel-appointment.eml", "not_a_request", Some(R), Some(BUERGERBUERO), Some("peter.lange@example.net"), Nothing),
    e("34-withdrawn-recklinghausen-person-on-hold.eml", "withdrawn", Some(R), Some(BUERGERBUERO), Some(ON_HOLD), Held),
    e("35-review-westendorf-asks-how-to-withdraw.eml", "review", Some(W), Some(WESTENDORF), Some("frank.neumann@example.org"), Nothing),
    e("36-objection-request-westendorf-de.eml", "objection_request", Some(W), Some(WESTENDORF), Some("sabine.koch@example.org"), Opened("objection")),
    e(BIG, "access_request", Some(O), Some(RATHAUS_OE), Some("klaus.zimmermann@example.net"), Opened("access")),
];

/// Outcomes that are answered with a reply.
const ANSWERED: &[&str] = &[
    "withdrawn",
    "sms_withdrawn",
    "access_request",
    "erasure_request",
    "objection_request",
];

/// A sentence of a message body that must never reach the database.
const BODY_SENTENCES: &[&str] = &[
    "ich komme lieber persönlich vorbei",
    "I am moving back to Manchester",
    "Meinen Termin im Dezember möchte ich aber behalten",
    "ich trage mir den Termin selbst ein",
    "Sagen Sie alle Termine ab",
    "Frau Schulz widerruft ihre Einwilligung",
    "anbei die Kopie meines Ausweises",
];

/// The subject of a message that went to review (30), kept so that a human can find it.
const KEPT_SUBJECT: &str = "Termin verschieben";

// ===========================================================================================
// Setup
// ===========================================================================================

async fn open_day(ctx: &Context, tenant: &str, day: NaiveDate) {
    common::open_slots(ctx, tenant, day, "08:00-12:00", 3).await;
}

/// Books `p` at their tenant: a past appointment (booked four days ago) and one in five days,
/// with consent where the booking rests on it and the SMS reminder where the tenant has one.
async fn book(ctx: &Context, p: &Person) -> Booked {
    let form = |slot| BookingForm {
        consent: p.tenant == R,
        sms_reminder: p.tenant != R,
        ..p.who.form(slot)
    };
    let (past, future) =
        people::book_past_and_future(ctx, p.tenant, form, Duration::days(4), false).await;
    Booked {
        tenant: p.tenant,
        past: past.reference,
        future: future.reference,
        future_service: "Personalausweis beantragen".to_owned(),
        future_start: future.starts_at,
    }
}

/// The three tenants with their services and slots yesterday and in five days.
async fn tenants(db: &TestDb) -> Context {
    let ctx = ready(db).await;
    let today = Utc::now().date_naive();
    for t in [R, W, O] {
        seeding::import_services(&ctx, t, &fixture("services.csv"))
            .await
            .unwrap();
        open_day(&ctx, t, today - Duration::days(1)).await;
        open_day(&ctx, t, today + Duration::days(5)).await;
    }
    ctx
}

/// [`tenants`], [`PEOPLE`] booked, and a legal hold on [`ON_HOLD`] at Recklinghausen.
async fn setup(db: &TestDb) -> (Context, BTreeMap<&'static str, Booked>) {
    let ctx = tenants(db).await;
    let mut booked = BTreeMap::new();
    for p in PEOPLE {
        booked.insert(p.who.email, book(&ctx, p).await);
    }
    rights::hold_add(
        &ctx,
        R,
        HoldOn::Email(ON_HOLD),
        "Ordnungswidrigkeitenverfahren 2026-0815",
        None,
    )
    .await
    .unwrap();
    (ctx, booked)
}

// ===========================================================================================
// The corpus as Maildir, mbox and files
// ===========================================================================================

/// The corpus in order: (file name, bytes), the generated message last.
fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = fixture("inbox");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".eml"))
        .collect();
    names.sort();
    let mut messages: Vec<(String, Vec<u8>)> = names
        .into_iter()
        .map(|n| {
            let bytes = fs::read(dir.join(&n)).unwrap();
            (n, bytes)
        })
        .collect();
    messages.push((BIG.to_owned(), big_message()));
    let expected: Vec<&str> = CORPUS.iter().map(|e| e.file).collect();
    let found: Vec<&str> = messages.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(found, expected, "tests/fixtures/inbox and CORPUS disagree");
    messages
}

/// An access request from Klaus Zimmermann with a scanned ID card of about 6 MB attached.
fn big_message() -> Vec<u8> {
    let mut m = String::from(
        "Return-Path: <klaus.zimmermann@example.net>\n\
         Delivered-To: rathaus@oer-erkenschwick.de\n\
         Received: from mout.example.net (mout.example.net [203.0.113.88])\n\
         \tby mx01.kommunal-it.example (Postfix) with ESMTPS id 4Ck1a36\n\
         \tfor <rathaus@oer-erkenschwick.de>; Fri, 20 Nov 2026 17:17:17 +0100 (CET)\n\
         Authentication-Results: mx01.kommunal-it.example; dkim=pass header.d=example.net;\n\
         \tdmarc=pass header.from=example.net\n\
         From: Klaus Zimmermann <klaus.zimmermann@example.net>\n\
         To: rathaus@oer-erkenschwick.de\n\
         Subject: Antrag auf Auskunft\n\
         Date: Fri, 20 Nov 2026 17:17:10 +0100\n\
         Message-ID: <zimmermann-k-1717@example.net>\n\
         MIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"----=_Part_1717\"\n\
         \n\
         ------=_Part_1717\n\
         Content-Type: text/plain; charset=utf-8\n\
         Content-Transfer-Encoding: 8bit\n\
         \n\
         Guten Tag,\n\
         \n\
         ich bitte um Auskunft über meine bei Ihnen gespeicherten Daten, anbei die Kopie meines Ausweises.\n\
         \n\
         Klaus Zimmermann\n\
         \n\
         ------=_Part_1717\n\
         Content-Type: application/pdf; name=\"Ausweis-Scan.pdf\"\n\
         Content-Disposition: attachment; filename=\"Ausweis-Scan.pdf\"\n\
         Content-Transfer-Encoding: base64\n\
         \n",
    );
    // 80,000 lines of 76 base64 characters: 6 MB of text, 4.5 MB decoded.
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state: u64 = 0x2026_1120;
    let mut line = [0u8; 76];
    for _ in 0..80_000 {
        for c in line.iter_mut() {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            *c = ALPHABET[(state >> 58) as usize];
        }
        m.push_str(std::str::from_utf8(&line).unwrap());
        m.push('\n');
    }
    m.push_str("------=_Part_1717--\n");
    m.into_bytes()
}

/// The three ways the corpus is given to the import, built in `dir`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Way {
    Maildir,
    Mbox,
    Eml,
}

/// Writes the corpus in `dir` the given way; returns the source and every file it consists of.
fn build_source(way: Way, dir: &Path, messages: &[(String, Vec<u8>)]) -> (Source, Vec<PathBuf>) {
    match way {
        Way::Maildir => {
            let root = dir.join("Maildir");
            for sub in ["new", "cur", "tmp"] {
                fs::create_dir_all(root.join(sub)).unwrap();
            }
            let mut files = Vec::new();
            for (i, (_, bytes)) in messages.iter().enumerate() {
                // Delivery time first, as Dovecot names them; seen ones in cur/ with flags.
                let unique = format!("{}.M{}P4242.mx01", 1_763_280_000 + i * 97, 100 + i);
                let path = if i % 2 == 0 {
                    root.join("cur").join(format!("{unique}:2,S"))
                } else {
                    root.join("new").join(unique)
                };
                fs::write(&path, bytes).unwrap();
                files.push(path);
            }
            // A delivery in progress is not a message yet.
            fs::write(root.join("tmp/1763290000.M999P4242.mx01"), &messages[0].1).unwrap();
            (Source::Maildir(root), files)
        }
        Way::Mbox => {
            let path = dir.join("export.mbox");
            fs::write(&path, mbox(messages)).unwrap();
            (Source::Mbox(path.clone()), vec![path])
        }
        Way::Eml => {
            let mut files = Vec::new();
            for (name, bytes) in messages {
                let path = fixture("inbox").join(name);
                if path.exists() {
                    files.push(path);
                } else {
                    let path = dir.join(name);
                    fs::write(&path, bytes).unwrap();
                    files.push(path);
                }
            }
            (Source::Files(files.clone()), files)
        }
    }
}

/// An mbox (mboxrd) of the messages: a `From ` line before each, `From ` lines of the message
/// (and already quoted `>From ` lines) quoted with one more `>`, an empty line after each.
fn mbox(messages: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (_, bytes) in messages {
        out.extend_from_slice(b"From MAILER-DAEMON Fri Nov 20 17:17:17 2026\n");
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            let quotes = line.iter().take_while(|&&b| b == b'>').count();
            if line[quotes..].starts_with(b"From ") {
                out.push(b'>');
            }
            out.extend_from_slice(line);
        }
        if !out.ends_with(b"\n") {
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    out
}

fn digest(files: &[PathBuf]) -> Vec<(PathBuf, String)> {
    files
        .iter()
        .map(|f| (f.clone(), hex::encode(Sha256::digest(fs::read(f).unwrap()))))
        .collect()
}

fn outbox_files(outbox: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match fs::read_dir(outbox) {
        Ok(list) => list.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

async fn import(ctx: &Context, source: Source, outbox: &Path, dry_run: bool) -> Vec<MessageReport> {
    let opts = ImportOptions {
        source,
        outbox: outbox.to_path_buf(),
        dry_run,
        public_url: Some("https://termine.example.de".into()),
    };
    withdrawals::import(ctx, &opts).await.unwrap().messages
}

// ===========================================================================================
// Checks
// ===========================================================================================

/// One connection pool for the many counts of a check (`TestDb::count` connects per query,
/// which PostgreSQL makes slow).
enum Counter {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Counter {
    async fn new(db: &TestDb) -> Counter {
        match db.kind {
            Kind::Sqlite => Counter::Sqlite(sqlx::SqlitePool::connect(&db.url).await.unwrap()),
            Kind::Postgres => Counter::Postgres(sqlx::PgPool::connect(&db.url).await.unwrap()),
        }
    }

    async fn count(&self, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Counter::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
            Counter::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        }
    }

    /// One text per row, such as `select a || '|' || b from t order by id`.
    async fn rows(&self, sql: &str) -> Vec<String> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Counter::Sqlite(pool) => sqlx::query_scalar(sql).fetch_all(pool).await.unwrap(),
            Counter::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(pool).await.unwrap(),
        }
    }

    async fn close(self) {
        match self {
            Counter::Sqlite(pool) => pool.close().await,
            Counter::Postgres(pool) => pool.close().await,
        }
    }
}

fn quoted(refs: &[&str]) -> String {
    refs.iter()
        .map(|r| format!("'{r}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows that show the state of one person's data, from their booking references.
#[derive(Debug, PartialEq, Eq)]
struct State {
    /// Bookings that still hold the person's e-mail.
    with_email: i64,
    /// Bookings with status `booked`.
    booked: i64,
    /// Bookings cancelled by an erasure.
    cancelled_by_erasure: i64,
    /// Consents of their bookings withdrawn by e-mail.
    withdrawn_by_email: i64,
    /// Consents of their bookings still in force.
    consents_in_force: i64,
    /// Their SMS reminders cancelled.
    reminders_cancelled: i64,
    /// Their notifications, whatever the status.
    notifications: i64,
}

async fn state(q: &Counter, b: &Booked) -> State {
    let refs = quoted(&[&b.past, &b.future]);
    let bookings = |cond: &str| {
        format!("select count(*) from bookings where reference in ({refs}) and {cond}")
    };
    let joined = |table: &str, cond: &str| {
        format!(
            "select count(*) from {table} x join bookings b on b.id = x.booking_id
             where b.reference in ({refs}) and {cond}"
        )
    };
    State {
        with_email: q.count(&bookings("email is not null")).await,
        booked: q.count(&bookings("status = 'booked'")).await,
        cancelled_by_erasure: q
            .count(&bookings(
                "status = 'cancelled' and cancelled_by = 'erasure'",
            ))
            .await,
        withdrawn_by_email: q
            .count(&joined("consents", "x.withdrawal_source = 'email'"))
            .await,
        consents_in_force: q.count(&joined("consents", "x.withdrawn_at is null")).await,
        reminders_cancelled: q
            .count(&joined(
                "notifications",
                "x.kind = 'sms_reminder' and x.status = 'cancelled'",
            ))
            .await,
        notifications: q.count(&joined("notifications", "1 = 1")).await,
    }
}

/// The state a person must be in after the import, from the effect of their message.
fn expected_state(effect: Effect, tenant: &str) -> State {
    // Recklinghausen: two booking consents, a confirmation per booking (no office copy).
    // Contract tenants: two SMS-reminder consents, and an SMS reminder besides per booking.
    let (consents, notifications) = if tenant == R { (2, 2) } else { (2, 6) };
    let untouched = State {
        with_email: 2,
        booked: 2,
        cancelled_by_erasure: 0,
        withdrawn_by_email: 0,
        consents_in_force: consents,
        reminders_cancelled: 0,
        notifications,
    };
    match effect {
        Nothing | Opened(_) => untouched,
        Erased => State {
            with_email: 0,
            // The past appointment stays booked (anonymized, for the statistics).
            booked: 1,
            cancelled_by_erasure: 1,
            // Consents are reduced to proof: no longer linked to a booking.
            withdrawn_by_email: 0,
            consents_in_force: 0,
            reminders_cancelled: 0,
            notifications: 0,
        },
        Held => State {
            withdrawn_by_email: 2,
            consents_in_force: 0,
            ..untouched
        },
        SmsConsentEnded => State {
            withdrawn_by_email: 2,
            consents_in_force: 0,
            reminders_cancelled: 2,
            ..untouched
        },
    }
}

/// Runs the corpus through one source and checks every message, its effects and its reply.
async fn check_corpus(db: TestDb, way: Way) {
    let (ctx, booked) = setup(&db).await;
    let q = Counter::new(&db).await;
    let work = tempfile::tempdir().unwrap();
    let messages = corpus();
    let (source, files) = build_source(way, work.path(), &messages);
    let before = digest(&files);
    let outbox = work.path().join("outbox");
    let places_before = q
        .count("select cast(coalesce(sum(booked), 0) as bigint) from slots")
        .await;

    let reports = import(&ctx, source, &outbox, false).await;

    assert_eq!(reports.len(), CORPUS.len(), "one outcome per message");
    assert_eq!(digest(&files), before, "the mailbox is never modified");
    let parsed: Vec<Option<ParsedMail>> =
        messages.iter().map(|(_, b)| mail::parse(b).ok()).collect();

    for ((expect, report), original) in CORPUS.iter().zip(&reports).zip(&parsed) {
        let f = expect.file;
        assert_eq!(
            report.outcome, expect.outcome,
            "{f} ({way:?}): {}",
            report.reason
        );
        assert_eq!(report.tenant.as_deref(), expect.tenant, "{f}: tenant");
        if way == Way::Eml {
            assert!(report.origin.ends_with(f), "{f}: origin {}", report.origin);
        }
        let message_id = original.as_ref().and_then(|m| m.message_id.clone());
        assert_eq!(report.message_id, message_id, "{f}: message id");

        // The report's counts.
        let (consents, cancelled) = match expect.effect {
            Erased => (2, 1),
            Held | SmsConsentEnded => (2, 0),
            Nothing | Opened(_) => (0, 0),
        };
        assert_eq!(
            report.consents_withdrawn, consents,
            "{f}: consents withdrawn"
        );
        assert_eq!(
            report.bookings_cancelled, cancelled,
            "{f}: bookings cancelled"
        );

        // The register.
        match expect.effect {
            Nothing => assert_eq!(report.request_id, None, "{f}: no request"),
            Opened(kind) => {
                let id = report
                    .request_id
                    .unwrap_or_else(|| panic!("{f}: a request"));
                let r = ctx.store.request(id).await.unwrap().unwrap();
                let who = expect.who.unwrap();
                let original = original.as_ref().unwrap();
                assert_eq!(r.kind, kind, "{f}");
                assert_eq!(r.status, "open", "{f}");
                assert_eq!(r.channel, "email", "{f}");
                assert_eq!(r.tenant.as_deref(), expect.tenant, "{f}");
                assert_eq!(r.subject_ref, Some(subject_ref(&ctx, who).await), "{f}");
                assert_eq!(
                    Some(r.received_at),
                    original.received,
                    "{f}: received = top Received"
                );
                let due = requests::due_on(&ctx, expect.tenant, r.received_at).unwrap();
                assert_eq!(r.due_on, due, "{f}: Art. 12(3) deadline");
            }
            Erased | Held | SmsConsentEnded => {
                let id = report
                    .request_id
                    .unwrap_or_else(|| panic!("{f}: a request"));
                let r = ctx.store.request(id).await.unwrap().unwrap();
                assert_eq!(r.kind, "withdrawal", "{f}");
                assert_eq!(r.status, "closed", "{f}");
                let outcome = match expect.effect {
                    Erased => "erased",
                    Held => "erased_partly",
                    _ => "answered",
                };
                assert_eq!(r.outcome.map(|o| o.as_str()), Some(outcome), "{f}");
            }
        }

        // The reply.
        let answered = ANSWERED.contains(&expect.outcome);
        assert_eq!(report.reply.is_some(), answered, "{f}: reply");
        if let Some(path) = &report.reply {
            assert!(path.starts_with(&outbox), "{f}: reply in the outbox");
            let who = expect.who.unwrap();
            let b = &booked[who];
            let request = match report.request_id {
                Some(id) => ctx.store.request(id).await.unwrap(),
                None => None,
            };
            check_reply(
                &ctx,
                expect,
                original.as_ref().unwrap(),
                path,
                b,
                request.as_ref(),
            );
        }
    }

    // Every person's data, after all messages.
    for expect in CORPUS.iter().filter(|e| e.who.is_some()) {
        let who = expect.who.unwrap();
        let b = &booked[who];
        assert_eq!(
            state(&q, b).await,
            expected_state(expect.effect, b.tenant),
            "{} ({who})",
            expect.file
        );
    }
    // Everyone else of PEOPLE was not touched either.
    for p in PEOPLE {
        if !CORPUS.iter().any(|e| e.who == Some(p.who.email)) {
            panic!("{} has no message in CORPUS", p.who.email);
        }
    }

    // Totals: places freed, consents, requests, inbox rows, replies.
    let erased = CORPUS.iter().filter(|e| e.effect == Erased).count() as i64;
    assert_eq!(
        q.count("select cast(coalesce(sum(booked), 0) as bigint) from slots")
            .await,
        places_before - erased,
        "each cancelled booking frees its place"
    );
    assert_eq!(
        q.count(
            "select count(*) from slots s where s.booked <> (select count(*) from bookings b where b.slot_id = s.id and b.status = 'booked')"
        )
        .await,
        0,
        "slot counters match the bookings"
    );
    let withdrawals = CORPUS
        .iter()
        .filter(|e| matches!(e.effect, Erased | Held | SmsConsentEnded))
        .count() as i64;
    assert_eq!(
        q.count("select count(*) from consents where withdrawal_source = 'email'")
            .await,
        2 * withdrawals
    );
    for kind in ["access", "erasure"] {
        let n = CORPUS.iter().filter(|e| e.effect == Opened(kind)).count() as i64;
        assert_eq!(
            q.count(&format!(
                "select count(*) from requests where kind = '{kind}' and status = 'open'"
            ))
            .await,
            n,
            "{kind} requests"
        );
    }
    assert_eq!(
        q.count("select count(*) from requests where kind = 'withdrawal' and status = 'closed'")
            .await,
        withdrawals
    );
    let recorded = CORPUS.iter().filter(|e| e.outcome != "duplicate").count() as i64;
    assert_eq!(
        q.count("select count(*) from inbox_messages").await,
        recorded
    );
    for outcome in InboxOutcome::ALL.iter().map(|o| o.as_str()) {
        let n = CORPUS.iter().filter(|e| e.outcome == outcome).count() as i64;
        let n = if outcome == "duplicate" { 0 } else { n };
        assert_eq!(
            q.count(&format!(
                "select count(*) from inbox_messages where outcome = '{outcome}'"
            ))
            .await,
            n,
            "inbox rows with outcome {outcome}"
        );
    }
    let replies = CORPUS
        .iter()
        .filter(|e| ANSWERED.contains(&e.outcome))
        .count();
    assert_eq!(
        outbox_files(&outbox).len(),
        replies,
        "one reply per answered message, no more"
    );
    // The sender and subject are kept only where a human must look.
    assert_eq!(
        q.count("select count(*) from inbox_messages where sender is not null")
            .await,
        CORPUS
            .iter()
            .filter(|e| matches!(e.outcome, "review" | "unmatched"))
            .count() as i64
    );
    let o = q
        .count("select count(*) from audit_log where action = 'inbox.message'")
        .await;
    assert_eq!(o, recorded, "one audit entry per recorded message");
    no_body_in_the_database(&db, &q).await;
    q.close().await;
}

/// The reply's headers and German text.
fn check_reply(
    ctx: &Context,
    expect: &Expect,
    original: &ParsedMail,
    path: &Path,
    b: &Booked,
    request: Option<&datenwart::store::Request>,
) {
    let f = expect.file;
    let raw = fs::read(path).unwrap();
    assert!(
        raw.windows(2).filter(|w| w == b"\r\n").count() > 5
            && !raw.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'),
        "{f}: CRLF line ends only"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}: the reply is readable by the owner only");
    }
    let reply = mail::parse(&raw).unwrap_or_else(|e| panic!("{f}: reply parses: {e}"));
    let head =
        String::from_utf8_lossy(&raw[..raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap()])
            .into_owned();
    assert_eq!(
        reply.from.as_deref(),
        expect.address,
        "{f}: From the address it was sent to"
    );
    assert_eq!(
        reply.recipients,
        vec![original.from.clone().unwrap()],
        "{f}: To the sender only"
    );
    match &original.message_id {
        Some(id) => {
            assert_eq!(reply.in_reply_to_id.as_ref(), Some(id), "{f}: In-Reply-To");
            assert_eq!(
                reply.references.last(),
                Some(id),
                "{f}: References end with it"
            );
            let mut thread = original.references.clone();
            if thread.last() != Some(id) {
                thread.push(id.clone());
            }
            assert_eq!(reply.references, thread, "{f}: References keep the thread");
        }
        None => {
            assert!(!head.contains("In-Reply-To:"), "{f}: nothing to reply to");
            assert!(reply.references.is_empty(), "{f}");
        }
    }
    let subject = &original.subject;
    let lower = subject.to_lowercase();
    let expected_subject = if lower.starts_with("re:") || lower.starts_with("aw:") {
        subject.clone()
    } else {
        format!("Re: {subject}")
    };
    assert_eq!(reply.subject, expected_subject, "{f}: subject");
    assert!(head.contains("Auto-Submitted: auto-replied"), "{f}");
    assert!(
        reply
            .message_id
            .as_deref()
            .is_some_and(|id| id.ends_with("@datenwart.invalid"))
    );

    let policy = ctx.policies.get(b.tenant).unwrap();
    let text = &reply.text;
    assert!(text.starts_with("Guten Tag,"), "{f}: {text}");
    assert!(
        text.contains("persönlich vereinbaren"),
        "{f}: how to book again: {text}"
    );
    if let Some(phone) = &policy.tenant.phone {
        assert!(
            text.contains(&format!("telefonisch unter {phone}")),
            "{f}: {text}"
        );
    }
    assert!(
        text.trim_end()
            .ends_with(&format!("Mit freundlichen Grüßen\n{}", policy.tenant.name)),
        "{f}: {text}"
    );
    let when = booking::appointment_de(policy.tenant.zone(), b.future_start);
    let cancelled = format!(
        "Ihr Termin „{}“ am {when} wurde abgesagt.",
        b.future_service
    );
    let received = original
        .received
        .unwrap()
        .with_timezone(&policy.tenant.zone())
        .format("%d.%m.%Y")
        .to_string();
    match expect.effect {
        Erased => {
            assert!(
                text.contains(&format!("Widerruf vom {received}")),
                "{f}: {text}"
            );
            assert!(
                text.contains(&cancelled),
                "{f}: names the cancelled appointment: {text}"
            );
            assert!(text.contains("haben wir gelöscht"), "{f}: {text}");
        }
        Held => {
            assert!(
                !text.contains("wurde abgesagt"),
                "{f}: the hold kept the appointment: {text}"
            );
            assert!(text.contains("Aufbewahrungspflicht"), "{f}: {text}");
        }
        SmsConsentEnded if expect.outcome == "withdrawn" => {
            assert!(text.contains("bleiben bestehen"), "{f}: {text}");
            assert!(text.contains("SMS-Erinnerung"), "{f}: {text}");
            assert!(
                !text.contains("gelöscht") && !text.contains("abgesagt"),
                "{f}: {text}"
            );
        }
        SmsConsentEnded => {
            assert!(text.contains("keine SMS-Erinnerungen mehr"), "{f}: {text}");
            assert!(text.contains("Termine bleiben bestehen"), "{f}: {text}");
        }
        Opened(kind) => {
            let r = request.unwrap();
            let article = match kind {
                "access" => "Art. 15 DSGVO",
                "objection" => "Art. 21 DSGVO",
                _ => "Art. 17 DSGVO",
            };
            assert!(text.contains(article), "{f}: {text}");
            assert!(
                text.contains(&format!("unter der Nummer {}", r.id)),
                "{f}: {text}"
            );
            assert!(
                text.contains(&format!(
                    "spätestens bis zum {}",
                    r.due_on.format("%d.%m.%Y")
                )),
                "{f}: names the deadline: {text}"
            );
            assert!(
                text.contains(&format!("am {received} erhalten")),
                "{f}: {text}"
            );
        }
        Nothing => panic!("{f}: a reply without an effect"),
    }
}

/// No sentence of a message body is stored anywhere. SQLite: the bytes of the database files;
/// PostgreSQL: every row of every table as text.
async fn no_body_in_the_database(db: &TestDb, q: &Counter) {
    match db.kind {
        Kind::Sqlite => {
            let mut bytes = Vec::new();
            for suffix in ["", "-wal"] {
                let mut name = db.sqlite_file().into_os_string();
                name.push(suffix);
                if let Ok(b) = fs::read(&name) {
                    bytes.extend(b);
                }
            }
            let found = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
            // The search works: a subject kept for the review list is found.
            assert!(found(KEPT_SUBJECT));
            for sentence in BODY_SENTENCES {
                assert!(
                    !found(sentence),
                    "the body sentence \"{sentence}\" is in the database file"
                );
            }
        }
        Kind::Postgres => {
            let tables = [
                "inbox_messages",
                "requests",
                "audit_log",
                "consents",
                "notifications",
                "bookings",
            ];
            let kept = format!(
                "select count(*) from inbox_messages t where t::text like '%{KEPT_SUBJECT}%'"
            );
            assert_eq!(q.count(&kept).await, 1, "the search works");
            for table in tables {
                for sentence in BODY_SENTENCES {
                    let sql = format!(
                        "select count(*) from {table} t where t::text like '%{}%'",
                        sentence.replace('\'', "''")
                    );
                    assert_eq!(q.count(&sql).await, 0, "\"{sentence}\" in {table}");
                }
            }
        }
    }
}

/// No reply text is left in the database once the replies are written. SQLite: the bytes of
/// the database files (the WAL too); PostgreSQL: the rows of `replies` as text.
async fn no_reply_text_in_the_database(db: &TestDb, q: &Counter) {
    const REPLY_LINE: &str = "Auto-Submitted: auto-replied";
    match db.kind {
        Kind::Sqlite => {
            let mut bytes = Vec::new();
            for suffix in ["", "-wal"] {
                let mut name = db.sqlite_file().into_os_string();
                name.push(suffix);
                if let Ok(b) = fs::read(&name) {
                    bytes.extend(b);
                }
            }
            let needle = REPLY_LINE.as_bytes();
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "a reply's text is in the database files"
            );
        }
        Kind::Postgres => {
            let sql = format!("select count(*) from replies t where t::text like '%{REPLY_LINE}%'");
            assert_eq!(q.count(&sql).await, 0, "a reply's text is in replies");
        }
    }
}

// ===========================================================================================
// The corpus through each source, on each backend
// ===========================================================================================

on_both_backends!(
    the_corpus_from_a_maildir,
    the_corpus_from_an_mbox,
    the_corpus_from_eml_files,
);

async fn the_corpus_from_a_maildir(db: TestDb) {
    check_corpus(db, Way::Maildir).await;
}

async fn the_corpus_from_an_mbox(db: TestDb) {
    check_corpus(db, Way::Mbox).await;
}

async fn the_corpus_from_eml_files(db: TestDb) {
    check_corpus(db, Way::Eml).await;
}

// ===========================================================================================
// Idempotency, dry run, an interrupted run
// ===========================================================================================

/// Row counts of everything an import can change.
async fn snapshot(q: &Counter) -> Vec<(&'static str, i64)> {
    let queries = [
        ("inbox messages", "select count(*) from inbox_messages"),
        ("requests", "select count(*) from requests"),
        (
            "open requests",
            "select count(*) from requests where status = 'open'",
        ),
        ("consents", "select count(*) from consents"),
        (
            "consents withdrawn",
            "select count(*) from consents where withdrawn_at is not null",
        ),
        (
            "consents of a person",
            "select count(*) from consents where subject_ref is not null",
        ),
        ("notifications", "select count(*) from notifications"),
        (
            "queued notifications",
            "select count(*) from notifications where status = 'queued'",
        ),
        (
            "bookings booked",
            "select count(*) from bookings where status = 'booked'",
        ),
        (
            "bookings with data",
            "select count(*) from bookings where email is not null",
        ),
        (
            "places taken",
            "select cast(coalesce(sum(booked), 0) as bigint) from slots",
        ),
        ("audit entries", "select count(*) from audit_log"),
    ];
    let mut out = Vec::new();
    for (name, sql) in queries {
        out.push((name, q.count(sql).await));
    }
    out
}

on_both_backends!(
    importing_the_same_mailbox_again_changes_nothing,
    a_dry_run_shows_the_outcomes_and_changes_nothing,
    an_interrupted_import_carries_on_where_it_stopped,
);

async fn importing_the_same_mailbox_again_changes_nothing(db: TestDb) {
    let (ctx, _) = setup(&db).await;
    let q = Counter::new(&db).await;
    let work = tempfile::tempdir().unwrap();
    let messages = corpus();
    let (maildir, maildir_files) = build_source(Way::Maildir, work.path(), &messages);
    let outbox = work.path().join("outbox");
    let first = import(&ctx, maildir.clone(), &outbox, false).await;
    assert!(first.iter().any(|r| r.outcome == "withdrawn"));
    let after_first = snapshot(&q).await;
    let ledger_first = ctx.store.erasure_ledger().await.unwrap();
    assert!(!ledger_first.is_empty(), "the corpus erases someone");
    let replies = digest(&outbox_files(&outbox));
    assert!(!replies.is_empty());
    // Every reply is written, and its row keeps nothing of it.
    let n = replies.len() as i64;
    assert_eq!(reply_rows(&q).await, (0, n, n));
    no_reply_text_in_the_database(&db, &q).await;
    let mailbox = digest(&maildir_files);

    // The same Maildir again, then the same messages as an mbox export and as .eml files:
    // every message is known by its Message-ID or, without one, by the hash of its bytes.
    let (mbox, _) = build_source(Way::Mbox, work.path(), &messages);
    let (files, _) = build_source(Way::Eml, work.path(), &messages);
    for (source, what) in [(maildir, "Maildir"), (mbox, "mbox"), (files, ".eml files")] {
        let again = import(&ctx, source, &outbox, false).await;
        assert_eq!(again.len(), CORPUS.len(), "{what}");
        for (r, e) in again.iter().zip(CORPUS) {
            assert_eq!(r.outcome, "duplicate", "{what}: {}", e.file);
            assert_eq!(r.request_id, None, "{what}: {}", e.file);
            assert_eq!(r.reply, None, "{what}: {}", e.file);
            assert_eq!((r.consents_withdrawn, r.bookings_cancelled), (0, 0));
        }
        assert_eq!(
            snapshot(&q).await,
            after_first,
            "{what}: no new rows anywhere"
        );
        assert_eq!(
            ctx.store.erasure_ledger().await.unwrap(),
            ledger_first,
            "{what}: no new ledger entry"
        );
        assert_eq!(
            digest(&outbox_files(&outbox)),
            replies,
            "{what}: no new reply"
        );
    }
    assert_eq!(
        digest(&maildir_files),
        mailbox,
        "the Maildir is never modified"
    );
    q.close().await;
}

async fn a_dry_run_shows_the_outcomes_and_changes_nothing(db: TestDb) {
    let (ctx, _) = setup(&db).await;
    let q = Counter::new(&db).await;
    let work = tempfile::tempdir().unwrap();
    let messages = corpus();
    let (mbox, files) = build_source(Way::Mbox, work.path(), &messages);
    let outbox = work.path().join("outbox");
    let before = snapshot(&q).await;
    let mailbox = digest(&files);

    let dry = import(&ctx, mbox.clone(), &outbox, true).await;
    for (r, e) in dry.iter().zip(CORPUS) {
        assert_eq!(r.outcome, e.outcome, "{}: {}", e.file, r.reason);
        assert_eq!(r.tenant.as_deref(), e.tenant, "{}", e.file);
        assert_eq!(r.request_id, None, "{}", e.file);
        assert_eq!(r.reply, None, "{}", e.file);
    }
    assert_eq!(snapshot(&q).await, before, "a dry run changes nothing");
    assert!(
        !outbox.exists(),
        "a dry run writes no reply and makes no outbox"
    );
    assert_eq!(digest(&files), mailbox);

    // Nothing was recorded: the real run gives every message its outcome.
    let real = import(&ctx, mbox, &outbox, false).await;
    let outcomes: Vec<&str> = real.iter().map(|r| r.outcome.as_str()).collect();
    let expected: Vec<&str> = CORPUS.iter().map(|e| e.outcome).collect();
    assert_eq!(outcomes, expected);
    q.close().await;
}

async fn an_interrupted_import_carries_on_where_it_stopped(db: TestDb) {
    let (ctx, _) = setup(&db).await;
    let q = Counter::new(&db).await;
    let work = tempfile::tempdir().unwrap();
    let messages = corpus();
    let (source, files) = build_source(Way::Eml, work.path(), &messages);
    let outbox = work.path().join("outbox");
    // A run that stopped after 15 messages (each is committed with its effects on its own).
    let first = import(&ctx, Source::Files(files[..15].to_vec()), &outbox, false).await;
    assert_eq!(first.len(), 15);
    let replies_first = outbox_files(&outbox).len();
    let all = import(&ctx, source, &outbox, false).await;
    for (i, (r, e)) in all.iter().zip(CORPUS).enumerate() {
        let expected = if i < 15 { "duplicate" } else { e.outcome };
        assert_eq!(r.outcome, expected, "{}", e.file);
    }
    let replies = CORPUS
        .iter()
        .filter(|e| ANSWERED.contains(&e.outcome))
        .count();
    assert!(replies_first > 0 && replies_first < replies);
    assert_eq!(
        outbox_files(&outbox).len(),
        replies,
        "each reply written once"
    );
    let recorded = CORPUS.iter().filter(|e| e.outcome != "duplicate").count() as i64;
    assert_eq!(
        q.count("select count(*) from inbox_messages").await,
        recorded
    );
    q.close().await;
}

// ===========================================================================================
// Batches: the records of many messages in one transaction
// ===========================================================================================

on_both_backends!(
    batches_of_any_size_give_each_message_the_outcome_it_gets_alone,
    a_batch_that_fails_is_recorded_message_by_message_and_a_retry_lands_the_rest_exactly_once,
    a_batch_leaves_the_same_records_as_one_message_at_a_time,
);

async fn import_batched(
    ctx: &Context,
    source: Source,
    outbox: &Path,
    batch: usize,
) -> anyhow::Result<withdrawals::ImportReport> {
    let opts = ImportOptions {
        source,
        outbox: outbox.to_path_buf(),
        dry_run: false,
        public_url: Some("https://termine.example.de".into()),
    };
    withdrawals::import_in_batches(ctx, &opts, batch).await
}

async fn audit_chain_holds(ctx: &Context) {
    let verified = datenwart::ops::audit::verify(ctx.store.as_ref())
        .await
        .unwrap();
    assert!(verified.ok, "{:?}", verified.problem);
}

/// Batches of 4 cut the corpus between a person's messages and elsewhere: every message
/// gets the outcome of the corpus (which the whole corpus in one batch gets too, see
/// `the_corpus_from_an_mbox`), each reply is written once, and the same mailbox again in one
/// batch is all duplicates and changes nothing.
async fn batches_of_any_size_give_each_message_the_outcome_it_gets_alone(db: TestDb) {
    let (ctx, _) = setup(&db).await;
    let q = Counter::new(&db).await;
    let work = tempfile::tempdir().unwrap();
    let (mbox, _) = build_source(Way::Mbox, work.path(), &corpus());
    let outbox = work.path().join("outbox");
    let first = import_batched(&ctx, mbox.clone(), &outbox, 4)
        .await
        .unwrap()
        .messages;
    let outcomes: Vec<&str> = first.iter().map(|r| r.outcome.as_str()).collect();
    let expected: Vec<&str> = CORPUS.iter().map(|e| e.outcome).collect();
    assert_eq!(outcomes, expected);
    let answered = CORPUS
        .iter()
        .filter(|e| ANSWERED.contains(&e.outcome))
        .count();
    assert_eq!(outbox_files(&outbox).len(), answered, "one reply each");
    let n = answered as i64;
    assert_eq!(reply_rows(&q).await, (0, n, n), "every reply written");
    audit_chain_holds(&ctx).await;
    let after = snapshot(&q).await;
    let replies = digest(&outbox_files(&outbox));

    let again = import_batched(&ctx, mbox, &outbox, 1000)
        .await
        .unwrap()
        .messages;
    assert_eq!(again.len(), CORPUS.len());
    assert!(again.iter().all(|r| r.outcome == "duplicate"));
    assert_eq!(snapshot(&q).await, after, "nothing changed");
    assert_eq!(digest(&outbox_files(&outbox)), replies, "no new reply");
    q.close().await;
}

/// Everything an import leaves behind that does not depend on the clock, row by row in
/// the order of the ids; and the erasure ledger's entries without their instant.
async fn records(q: &Counter, ledger: &Path) -> Vec<(&'static str, Vec<String>)> {
    let t = |col: &str| format!("coalesce(cast({col} as text), '-')");
    let tables = [
        (
            "inbox_messages",
            [
                "id",
                "message_key",
                "tenant_id",
                "outcome",
                "subject_ref",
                "sender",
                "subject",
                "reason",
                "address",
                "request_id",
                "anonymized_at is null",
            ]
            .as_slice(),
        ),
        (
            "requests",
            &[
                "id",
                "tenant_id",
                "kind",
                "subject_ref",
                "channel",
                "status",
                "outcome",
                "identity",
                "due_on",
            ],
        ),
        (
            "replies",
            &[
                "id",
                "tenant_id",
                "inbox_message_id",
                "subject_ref",
                "eml",
                "written_at is null",
                "substr(file_name, 18)",
            ],
        ),
        (
            "disclosures",
            &[
                "id",
                "tenant_id",
                "subject_ref",
                "recipient",
                "recipient_role",
                "categories",
                "kind",
            ],
        ),
        (
            "consents",
            &[
                "id",
                "subject_ref",
                "booking_id",
                "withdrawn_at is null",
                "withdrawal_source",
                "withdrawal_request_id",
            ],
        ),
        (
            "bookings",
            &["id", "status", "cancelled_by", "email", "subject_ref"],
        ),
        ("slots", &["id", "booked"]),
        ("notifications", &["id", "kind", "status"]),
        (
            "identity_confirmations",
            &[
                "id",
                "tenant_id",
                "subject_ref",
                "asked",
                "status",
                "inbox_message_id",
                "request_id",
            ],
        ),
        (
            "audit_log",
            &[
                "id",
                "actor",
                "action",
                "tenant",
                "subject_ref",
                "details",
                "prev_hash is null",
            ],
        ),
    ];
    let mut out = Vec::new();
    for (table, columns) in tables {
        let row: Vec<String> = columns.iter().map(|c| t(c)).collect();
        let sql = format!(
            "select {} from {table} order by id",
            row.join(" || '|' || ")
        );
        out.push((table, q.rows(&sql).await));
    }
    let entries = store::LedgerFile::new(ledger.to_path_buf())
        .read()
        .unwrap()
        .into_iter()
        .map(|e| {
            format!(
                "{} {:?} {:?} {:?}",
                e.subject_ref, e.tenant, e.request_id, e.upto
            )
        })
        .collect();
    out.push(("ledger", entries));
    out
}

/// The fast paths of a batch — the rows of many messages inserted by one statement, the
/// replies' files synced together, the erasures' ledger lines appended together, the marks
/// of the written replies set by a few statements — change nothing: the corpus in batches
/// of 500 leaves, row by row, what it leaves one message at a time, on a copy of the same
/// database.
async fn a_batch_leaves_the_same_records_as_one_message_at_a_time(db: TestDb) {
    let (ctx, _) = setup(&db).await;
    // PostgreSQL copies a database only when nobody is connected to it: the snapshot ends
    // the sessions of `ctx`'s pool, so `ctx` is made again afterwards.
    drop(ctx);
    let copy = db.snapshot().await;
    let ctx = db.context().await;
    let copy_ctx = copy.context().await;
    let work = tempfile::tempdir().unwrap();
    let (mbox, _) = build_source(Way::Mbox, work.path(), &corpus());
    let mut seen = Vec::new();
    for (db, ctx, batch) in [(&db, &ctx, 1), (&copy, &copy_ctx, 500)] {
        let outbox = work.path().join(format!("outbox{batch}"));
        let reports = import_batched(ctx, mbox.clone(), &outbox, batch)
            .await
            .unwrap()
            .messages;
        let outcomes: Vec<String> = reports
            .iter()
            .map(|r| format!("{} {:?} {:?}", r.outcome, r.tenant, r.request_id))
            .collect();
        let mut files: Vec<String> = outbox_files(&outbox)
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy()[17..].to_owned())
            .collect();
        files.sort();
        let q = Counter::new(db).await;
        let records = records(&q, &db.ledger()).await;
        q.close().await;
        audit_chain_holds(ctx).await;
        seen.push((outcomes, files, records));
    }
    let (one, batched) = (&seen[0], &seen[1]);
    assert_eq!(batched.0, one.0, "outcomes");
    assert_eq!(batched.1, one.1, "reply files");
    assert!(!one.1.is_empty());
    for ((table, a), (_, b)) in one.2.iter().zip(&batched.2) {
        assert_eq!(b, a, "{table}");
    }
    let ledger = &one.2.last().unwrap().1;
    assert!(!ledger.is_empty(), "the corpus erases");
}

/// The database refuses one message of a batch (a trigger here; a full disk or a broken
/// connection in life): the batch is rolled back whole and recorded again message by
/// message, so the messages before the refused one are committed with their replies and
/// audit entries, the refused one and everything after it are not recorded at all, and the
/// run stops with the error. The next run (the cause gone) finds the committed messages
/// duplicates and records each of the others once.
async fn a_batch_that_fails_is_recorded_message_by_message_and_a_retry_lands_the_rest_exactly_once(
    db: TestDb,
) {
    let (ctx, _) = setup(&db).await;
    let q = Counter::new(&db).await;
    let work = tempfile::tempdir().unwrap();
    let messages = corpus();
    let (mbox, _) = build_source(Way::Mbox, work.path(), &messages);
    let outbox = work.path().join("outbox");
    // The sixth answered message (a few decided messages come before it in its batch).
    let refused = CORPUS
        .iter()
        .enumerate()
        .filter(|(_, e)| ANSWERED.contains(&e.outcome))
        .nth(5)
        .unwrap()
        .0;
    let key = mail::parse(&messages[refused].1).unwrap().key;
    db.refuse(
        "refuse_one",
        "before insert on inbox_messages",
        Some(&format!("new.message_key = '{key}'")),
        "refused by the test",
    )
    .await;
    let err = import_batched(&ctx, mbox.clone(), &outbox, 100)
        .await
        .unwrap_err();
    let err = format!("{err:#}");
    assert!(err.contains("refused by the test"), "{err}");
    assert!(
        err.contains(&format!("#{}:", refused + 1)),
        "the error names the refused message: {err}"
    );
    let before = &CORPUS[..refused];
    let recorded = before.iter().filter(|e| e.outcome != "duplicate").count() as i64;
    let answered = |es: &[Expect]| es.iter().filter(|e| ANSWERED.contains(&e.outcome)).count();
    assert!(recorded > 0 && answered(before) == 5);
    assert_eq!(
        q.count("select count(*) from inbox_messages").await,
        recorded,
        "the messages before the refused one are committed, nothing after"
    );
    let n = answered(before) as i64;
    assert_eq!(reply_rows(&q).await, (0, n, n), "their replies are written");
    assert_eq!(outbox_files(&outbox).len(), answered(before));
    assert_eq!(
        q.count("select count(*) from audit_log where action = 'inbox.message'")
            .await,
        recorded
    );
    audit_chain_holds(&ctx).await;
    // One ledger line per committed erasure: the rolled-back batch wrote none.
    let ledger = store::LedgerFile::new(db.ledger());
    let erasures = "select count(*) from audit_log where action = 'subject.erase'";
    let erased = q.count(erasures).await;
    assert!(erased > 0, "the batch erased before the refused message");
    assert_eq!(ledger.read().unwrap().len() as i64, erased);

    // The cause is gone: the next run carries on where the first stopped.
    match db.kind {
        Kind::Sqlite => db.execute_raw("drop trigger refuse_one").await,
        Kind::Postgres => {
            db.execute_raw("drop trigger refuse_one on inbox_messages")
                .await
        }
    };
    let again = import_batched(&ctx, mbox, &outbox, 100)
        .await
        .unwrap()
        .messages;
    for (i, (r, e)) in again.iter().zip(CORPUS).enumerate() {
        let expected = if i < refused { "duplicate" } else { e.outcome };
        assert_eq!(r.outcome, expected, "{}: {}", e.file, r.reason);
    }
    let all = CORPUS.iter().filter(|e| e.outcome != "duplicate").count() as i64;
    assert_eq!(q.count("select count(*) from inbox_messages").await, all);
    assert_eq!(
        q.count("select count(*) from audit_log where action = 'inbox.message'")
            .await,
        all,
        "one audit entry per message"
    );
    let n = answered(CORPUS) as i64;
    assert_eq!(reply_rows(&q).await, (0, n, n));
    assert_eq!(
        outbox_files(&outbox).len(),
        answered(CORPUS),
        "each reply once"
    );
    audit_chain_holds(&ctx).await;
    assert_eq!(
        ledger.read().unwrap().len() as i64,
        q.count(erasures).await,
        "one ledger line per erasure"
    );
    q.close().await;
}

// ===========================================================================================
// Consent versus contract, SMS only
// ===========================================================================================

/// A plain message as a citizen's mail program writes it, received by the office's own
/// server, which found that it passed DMARC.
fn message(id: &str, from: &str, to: &str, subject: &str, body: &str) -> String {
    let domain = from.rsplit('@').next().unwrap_or("").trim_end_matches('>');
    with_auth(
        &format!("mx01.kommunal-it.example; dmarc=pass header.from={domain}"),
        &unauthenticated(id, from, to, subject, body),
    )
}

/// A message with an `Authentication-Results` header on top.
fn with_auth(value: &str, mail: &str) -> String {
    format!("Authentication-Results: {value}\n{mail}")
}

/// A message without any `Authentication-Results` header (as a forger writes it).
fn unauthenticated(id: &str, from: &str, to: &str, subject: &str, body: &str) -> String {
    format!(
        "Received: from mail.example.net (mail.example.net [203.0.113.5])\n\
         \tby mx01.kommunal-it.example (Postfix) with ESMTPS id {id}\n\
         \tfor <{to}>; Fri, 20 Nov 2026 10:00:00 +0100 (CET)\n\
         From: {from}\n\
         To: {to}\n\
         Subject: {subject}\n\
         Date: Fri, 20 Nov 2026 09:59:57 +0100\n\
         Message-ID: <{id}@example.net>\n\
         MIME-Version: 1.0\n\
         Content-Type: text/plain; charset=utf-8\n\
         Content-Transfer-Encoding: 8bit\n\
         \n\
         {body}\n"
    )
}

async fn import_one(ctx: &Context, dir: &Path, eml: &str) -> MessageReport {
    let path = dir.join(format!("{}.eml", hex::encode(&Sha256::digest(eml)[..6])));
    fs::write(&path, eml).unwrap();
    let mut reports = import(ctx, Source::Files(vec![path]), &dir.join("outbox"), false).await;
    assert_eq!(reports.len(), 1);
    reports.remove(0)
}

fn reply_text(report: &MessageReport) -> String {
    let raw = fs::read(report.reply.as_ref().expect("a reply")).unwrap();
    mail::parse(&raw).unwrap().text
}

const ANNA: &str = "anna.schmidt@example.com";

on_both_backends!(
    a_withdrawal_follows_the_legal_basis_of_the_booking_at_that_tenant,
    an_sms_only_withdrawal_ends_only_the_sms_reminders,
);

async fn a_withdrawal_follows_the_legal_basis_of_the_booking_at_that_tenant(db: TestDb) {
    let ctx = tenants(&db).await;
    let q = Counter::new(&db).await;
    let work = tempfile::tempdir().unwrap();
    // The same citizen booked at Recklinghausen (consent) and at Westendorf (public task).
    let at_r = book(&ctx, &person(ANNA, "Anna", "Schmidt", "0171 5550001", R)).await;
    let at_w = book(&ctx, &person(ANNA, "Anna", "Schmidt", "0171 5550001", W)).await;
    let text =
        "Sehr geehrte Damen und Herren,\n\nich widerrufe meine Einwilligung.\n\nAnna Schmidt";
    let from = "Anna Schmidt <anna.schmidt@example.com>";

    // At Westendorf only the consent-based extra ends; the bookings stay, with her data.
    let r = import_one(
        &ctx,
        work.path(),
        &message("w1", from, WESTENDORF, "Widerruf", text),
    )
    .await;
    assert_eq!(
        (r.outcome.as_str(), r.tenant.as_deref()),
        ("withdrawn", Some(W)),
        "{}",
        r.reason
    );
    assert_eq!((r.consents_withdrawn, r.bookings_cancelled), (2, 0));
    assert_eq!(state(&q, &at_w).await, expected_state(SmsConsentEnded, W));
    assert_eq!(
        state(&q, &at_r).await,
        expected_state(Nothing, R),
        "Recklinghausen untouched"
    );
    let reply = reply_text(&r);
    assert!(
        reply.contains("Ihre gebuchten Termine bleiben bestehen"),
        "{reply}"
    );
    assert!(
        !reply.contains("gelöscht") && !reply.contains("abgesagt"),
        "{reply}"
    );
    assert_eq!(
        q.count(&format!(
            "select count(*) from consents where purpose = 'sms_reminder' and withdrawal_source = 'email' and withdrawal_request_id = {}",
            r.request_id.unwrap()
        ))
        .await,
        2,
        "the consents point to the withdrawal in the register"
    );

    // At Recklinghausen the booking itself rests on consent: cancelled, place freed, erased.
    let places = q
        .count("select cast(coalesce(sum(booked), 0) as bigint) from slots")
        .await;
    let r = import_one(
        &ctx,
        work.path(),
        &message("r1", from, BUERGERBUERO, "Widerruf", text),
    )
    .await;
    assert_eq!(
        (r.outcome.as_str(), r.tenant.as_deref()),
        ("withdrawn", Some(R)),
        "{}",
        r.reason
    );
    assert_eq!((r.consents_withdrawn, r.bookings_cancelled), (2, 1));
    assert_eq!(state(&q, &at_r).await, expected_state(Erased, R));
    assert_eq!(
        state(&q, &at_w).await,
        expected_state(SmsConsentEnded, W),
        "Westendorf untouched"
    );
    assert_eq!(
        q.count("select cast(coalesce(sum(booked), 0) as bigint) from slots")
            .await,
        places - 1
    );
    // The erasure is in the ledger file, under the pseudonym only.
    let ledger = ctx.store.erasure_ledger().await.unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].tenant.as_deref(), Some(R));
    let reply = reply_text(&r);
    let when = booking::appointment_de(
        ctx.policies.get(R).unwrap().tenant.zone(),
        at_r.future_start,
    );
    assert!(
        reply.contains(&format!("am {when} wurde abgesagt")),
        "{reply}"
    );
    assert!(reply.contains("haben wir gelöscht"), "{reply}");
    // The reply to Westendorf went through the operator's mail server and is recorded as a
    // disclosure; the one to Recklinghausen, whose data were erased, leaves no record of her.
    assert_eq!(
        q.count("select count(*) from disclosures where kind = 'reply'")
            .await,
        1
    );
    assert_eq!(
        q.count("select count(*) from disclosures d join tenants t on t.id = d.tenant_id where t.slug = 'recklinghausen'")
            .await,
        0
    );
    // What is left of her at Recklinghausen is the register's proof of the withdrawal.
    let her = subject_ref(&ctx, ANNA).await;
    let left = ctx.store.subject_data(&her, R).await.unwrap();
    assert!(left.bookings.is_empty() && left.consents.is_empty() && left.notifications.is_empty());
    assert!(left.inbox.is_empty(), "her message's row is anonymized too");
    let kinds: Vec<(&str, &str)> = left
        .requests
        .iter()
        .map(|r| {
            (
                r.kind.as_str(),
                r.outcome.map(|o| o.as_str()).unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(kinds, [("withdrawal", "erased")]);
    assert_eq!(
        ctx.store
            .subject_data(&her, W)
            .await
            .unwrap()
            .bookings
            .len(),
        2
    );
    q.close().await;
}

async fn an_sms_only_withdrawal_ends_only_the_sms_reminders(db: TestDb) {
    let ctx = tenants(&db).await;
    let q = Counter::new(&db).await;
    let work = tempfile::tempdir().unwrap();
    let bernd = |t| {
        person(
            "bernd.vogel@example.org",
            "Bernd",
            "Vogel",
            "0160 9998887",
            t,
        )
    };
    let at_w = book(&ctx, &bernd(W)).await;
    let at_o = book(&ctx, &bernd(O)).await;
    let at_r = book(&ctx, &bernd(R)).await;
    let from = "bernd.vogel@example.org";

    // Westendorf: the SMS-reminder consent ends and the queued reminders are cancelled;
    // the bookings stay; Oer-Erkenschwick, where he booked too, is not touched.
    let body = "Hallo,\nbitte keine SMS-Erinnerungen mehr.\nDanke, Bernd Vogel";
    let r = import_one(
        &ctx,
        work.path(),
        &message("s1", from, WESTENDORF, "Termin", body),
    )
    .await;
    assert_eq!(r.outcome, "sms_withdrawn", "{}", r.reason);
    assert_eq!((r.consents_withdrawn, r.bookings_cancelled), (2, 0));
    assert_eq!(state(&q, &at_w).await, expected_state(SmsConsentEnded, W));
    assert_eq!(state(&q, &at_o).await, expected_state(Nothing, O));
    assert_eq!(state(&q, &at_r).await, expected_state(Nothing, R));
    let reply = reply_text(&r);
    assert!(
        reply.contains("Sie erhalten keine SMS-Erinnerungen mehr"),
        "{reply}"
    );
    assert!(reply.contains("Ihre Termine bleiben bestehen"), "{reply}");

    // Recklinghausen sends no SMS reminders: nothing to end there, and an SMS-only withdrawal
    // never touches the consent the booking rests on.
    let body = "Bitte schicken Sie mir keine SMS-Erinnerungen mehr.";
    let r = import_one(
        &ctx,
        work.path(),
        &message("s2", from, STADTVERWALTUNG, "SMS", body),
    )
    .await;
    assert_eq!(
        (r.outcome.as_str(), r.tenant.as_deref()),
        ("sms_withdrawn", Some(R)),
        "{}",
        r.reason
    );
    assert_eq!((r.consents_withdrawn, r.bookings_cancelled), (0, 0));
    assert_eq!(state(&q, &at_r).await, expected_state(Nothing, R));
    // The reply says what happened: no SMS consent there, so none ended.
    let reply = reply_text(&r);
    assert!(
        reply.contains("versendet bei der Online-Terminvergabe keine SMS-Erinnerungen"),
        "{reply}"
    );
    assert!(
        !reply.contains(" endet") && !reply.contains("keine SMS-Erinnerungen mehr"),
        "no consent is said to end: {reply}"
    );

    // The same at Westendorf again: the consent ended already, nothing ends twice.
    let body = "Bitte keine SMS-Erinnerungen mehr.";
    let r = import_one(
        &ctx,
        work.path(),
        &message("s1b", from, WESTENDORF, "SMS", body),
    )
    .await;
    assert_eq!(
        (r.outcome.as_str(), r.consents_withdrawn),
        ("sms_withdrawn", 0)
    );
    let reply = reply_text(&r);
    assert!(
        reply.contains("liegt uns von Ihnen nicht (mehr) vor"),
        "{reply}"
    );
    assert!(!reply.contains(" endet"), "{reply}");

    // An English SMS-only withdrawal with the consent word: the same.
    let body = "I withdraw my consent to SMS reminders.";
    let r = import_one(
        &ctx,
        work.path(),
        &message("s3", from, RATHAUS_OE, "SMS reminders", body),
    )
    .await;
    assert_eq!(
        (r.outcome.as_str(), r.tenant.as_deref()),
        ("sms_withdrawn", Some(O)),
        "{}",
        r.reason
    );
    assert_eq!(state(&q, &at_o).await, expected_state(SmsConsentEnded, O));
    q.close().await;
}

// ===========================================================================================
// The CLI: import --format json, review, resolve, exit codes
// ===========================================================================================

on_both_backends!(review_and_resolve_through_the_cli);

async fn review_and_resolve_through_the_cli(db: TestDb) {
    let (ctx, booked) = setup(&db).await;
    drop(ctx);
    let work = tempfile::tempdir().unwrap();
    let messages = corpus();
    let (_, _) = build_source(Way::Maildir, work.path(), &messages);
    let maildir = work.path().join("Maildir");
    let maildir = maildir.to_str().unwrap();
    let outbox = work.path().join("outbox");
    let outbox = outbox.to_str().unwrap();

    // A dry run in the table view ends with the counts and says that nothing changed.
    let o = run(
        &db,
        &[
            "withdrawals",
            "import",
            "--dry-run",
            "--maildir",
            maildir,
            "--outbox",
            outbox,
        ],
    );
    assert_exit(&o, 0);
    let out = stdout(&o);
    let mut lines = out.lines().rev();
    assert_eq!(
        lines.next(),
        Some("dry run: nothing was changed, no reply written")
    );
    let counts: Vec<String> = InboxOutcome::ALL
        .iter()
        .map(|o| (o, CORPUS.iter().filter(|e| e.outcome == o.as_str()).count()))
        .filter(|(_, n)| *n > 0)
        .map(|(o, n)| format!("{o}: {n}"))
        .collect();
    assert_eq!(
        lines.next(),
        Some(format!("{} message(s); {}", CORPUS.len(), counts.join(", ")).as_str())
    );
    // Every outcome but those of identity confirmation (every mail of the corpus passed
    // DMARC at the office's server; the confirmation tests below cover them).
    assert!(
        counts.len() == InboxOutcome::ALL.len() - 2,
        "the corpus has every outcome"
    );

    // --format json: one object per message.
    let o = run(
        &db,
        &[
            "--format",
            "json",
            "withdrawals",
            "import",
            "--maildir",
            maildir,
            "--outbox",
            outbox,
        ],
    );
    assert_exit(&o, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let items = json.as_array().unwrap();
    assert_eq!(items.len(), CORPUS.len());
    for (item, e) in items.iter().zip(CORPUS) {
        for field in ["message_id", "outcome", "tenant", "request_id"] {
            assert!(item.get(field).is_some(), "{}: {field} in {item}", e.file);
        }
        assert_eq!(item["outcome"], e.outcome, "{}", e.file);
        assert_eq!(item["tenant"].as_str(), e.tenant, "{}", e.file);
        let has_request = !matches!(e.effect, Nothing);
        assert_eq!(
            item["request_id"].is_i64(),
            has_request,
            "{}: {item}",
            e.file
        );
        assert_eq!(
            item["reply"].is_string(),
            ANSWERED.contains(&e.outcome),
            "{}",
            e.file
        );
    }
    assert_eq!(
        items[0]["message_id"],
        "3f1c9a2e-01a4-4b7e-9d1f-lena@example.com"
    );
    assert!(items[25]["message_id"].is_null(), "26 has no Message-ID");

    // The second run: all duplicates.
    let o = run(
        &db,
        &[
            "withdrawals",
            "import",
            "--maildir",
            maildir,
            "--outbox",
            outbox,
        ],
    );
    assert_exit(&o, 0);
    assert_eq!(
        stdout(&o).lines().last(),
        Some("37 message(s); duplicate: 37")
    );

    // review: what needs a human.
    let review = |db: &TestDb| {
        let o = run(db, &["--format", "json", "withdrawals", "review"]);
        assert_exit(&o, 0);
        serde_json::from_str::<Vec<serde_json::Value>>(&stdout(&o)).unwrap()
    };
    let items = review(&db);
    let waiting: Vec<&Expect> = CORPUS
        .iter()
        .filter(|e| matches!(e.outcome, "review" | "unmatched" | "unreadable"))
        .collect();
    assert_eq!(items.len(), waiting.len(), "{items:?}");
    for (item, e) in items.iter().zip(&waiting) {
        assert_eq!(item["outcome"], e.outcome, "{}", e.file);
        assert_eq!(
            item["tenant"].as_str().filter(|t| !t.is_empty()),
            e.tenant,
            "{}",
            e.file
        );
        if e.outcome != "unreadable" {
            // Where a human must look, the sender and subject are shown to find the mail.
            assert!(
                item["sender"].as_str().is_some_and(|s| s.contains('@')),
                "{item}"
            );
            assert!(
                item["subject"].as_str().is_some_and(|s| !s.is_empty()),
                "{item}"
            );
        }
    }
    let table = stdout(&run(&db, &["withdrawals", "review"]));
    assert!(
        table.contains("schulz-m-9921@example.com") && table.contains("unreadable"),
        "{table}"
    );

    // resolve: Marie Schulz's mixed message (29) becomes an erasure request.
    let answers = work.path().join("answers");
    let answers = answers.to_str().unwrap();
    let o = run(
        &db,
        &[
            "withdrawals",
            "resolve",
            "schulz-m-9921@example.com",
            "--as",
            "erasure_request",
            "--email",
            "Marie.Schulz@example.com",
            "--outbox",
            answers,
            "--identity-checked-by",
            "phone-callback",
        ],
    );
    assert_exit(&o, 0);
    assert_eq!(
        db.count(
            "select count(*) from requests where kind = 'erasure' and identity = 'phone_callback'"
        )
        .await,
        1,
        "the decision records how the sender was identified"
    );
    let out = stdout(&o);
    assert!(
        out.starts_with("schulz-m-9921@example.com: erasure_request, request "),
        "{out}"
    );
    let id: i64 = out
        .split("request ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("a request id in {out}"));
    let ctx = db.context().await;
    let request = ctx.store.request(id).await.unwrap().unwrap();
    assert_eq!(
        (request.kind.as_str(), request.status.as_str()),
        ("erasure", "open")
    );
    assert_eq!(
        request.subject_ref,
        Some(subject_ref(&ctx, "marie.schulz@example.com").await)
    );
    assert_eq!(request.tenant.as_deref(), Some(R));
    let replies = outbox_files(Path::new(answers));
    assert_eq!(replies.len(), 1);
    let reply = mail::parse(&fs::read(&replies[0]).unwrap()).unwrap();
    assert_eq!(
        reply.recipients,
        vec!["marie.schulz@example.com".to_owned()]
    );
    assert_eq!(reply.from.as_deref(), Some(BUERGERBUERO));
    assert_eq!(
        reply.in_reply_to_id.as_deref(),
        Some("schulz-m-9921@example.com")
    );
    assert_eq!(reply.subject, "Re: Widerruf und Datenlöschung");
    assert!(reply.text.contains(&format!(
        "spätestens bis zum {}",
        request.due_on.format("%d.%m.%Y")
    )));
    // Her data are untouched until the erasure request is carried out.
    let q = Counter::new(&db).await;
    assert_eq!(
        state(&q, &booked["marie.schulz@example.com"]).await,
        expected_state(Nothing, R)
    );
    let items = review(&db);
    assert_eq!(items.len(), waiting.len() - 1);
    assert!(
        items
            .iter()
            .all(|i| i["message"] != "schulz-m-9921@example.com")
    );

    // The spoofed message (17) was not from Heinz Brandt: not a request; nothing happens.
    let o = run(
        &db,
        &[
            "withdrawals",
            "resolve",
            "20261119021409.77310@mailer.example.net",
            "--as",
            "not_a_request",
            "--outbox",
            answers,
        ],
    );
    assert_exit(&o, 0);
    assert_eq!(
        outbox_files(Path::new(answers)).len(),
        1,
        "no reply to not_a_request"
    );
    assert_eq!(
        state(&q, &booked["heinz.brandt@example.org"]).await,
        expected_state(Nothing, R)
    );

    // Refusals: a message not waiting (exit 3), an unreadable one as a withdrawal, a missing
    // --email, an unknown decision (exit 2), a missing Maildir (exit 2).
    let o = run(
        &db,
        &[
            "withdrawals",
            "resolve",
            "schulz-m-9921@example.com",
            "--as",
            "withdrawn",
            "--email",
            "marie.schulz@example.com",
            "--outbox",
            answers,
        ],
    );
    assert_exit(&o, 3);
    let garbage = review(&db)
        .into_iter()
        .find(|i| i["outcome"] == "unreadable")
        .unwrap();
    let key = garbage["message"].as_str().unwrap().to_owned();
    assert!(key.starts_with("sha256:"));
    let o = run(
        &db,
        &[
            "withdrawals",
            "resolve",
            &key,
            "--as",
            "withdrawn",
            "--email",
            "x@example.org",
            "--outbox",
            answers,
        ],
    );
    assert_exit(&o, 2);
    let o = run(
        &db,
        &[
            "withdrawals",
            "resolve",
            &key,
            "--as",
            "not_a_request",
            "--outbox",
            answers,
        ],
    );
    assert_exit(&o, 0);
    let o = run(
        &db,
        &[
            "withdrawals",
            "resolve",
            "neumann-f-1616@example.org",
            "--as",
            "access_request",
            "--outbox",
            answers,
        ],
    );
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("--email"), "{}", stderr(&o));
    let o = run(
        &db,
        &[
            "withdrawals",
            "resolve",
            "neumann-f-1616@example.org",
            "--as",
            "maybe",
            "--email",
            "frank.neumann@example.org",
            "--outbox",
            answers,
        ],
    );
    assert_exit(&o, 2);
    let missing = work.path().join("no-such-maildir");
    let o = run(
        &db,
        &[
            "withdrawals",
            "import",
            "--maildir",
            missing.to_str().unwrap(),
            "--outbox",
            outbox,
        ],
    );
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("no-such-maildir"), "{}", stderr(&o));
    q.close().await;
}

// ===========================================================================================
// Replies survive a crash between the commit and the file
// ===========================================================================================

/// A reply stays in the database until its file is written: the `replies` rows by state.
async fn reply_rows(q: &Counter) -> (i64, i64, i64) {
    (
        q.count("select count(*) from replies where written_at is null and eml is not null and subject_ref is not null")
            .await,
        q.count("select count(*) from replies where written_at is not null and eml is null and subject_ref is null")
            .await,
        q.count("select count(*) from replies").await,
    )
}

/// Regular files in the outbox (the folders [`block_outbox`] made are not).
fn outbox_regular_files(outbox: &Path) -> Vec<PathBuf> {
    outbox_files(outbox)
        .into_iter()
        .filter(|p| p.is_file())
        .collect()
}

/// Makes the outbox fail for the reply to `eml` the way a full or broken disk does, after
/// the message is committed: every name its reply can get in the next two minutes is taken
/// by a folder, so the reply cannot be renamed into place (also for root, unlike a read-only
/// folder). Returns the folders, to remove when the disk is "repaired".
fn block_outbox(outbox: &Path, eml: &str) -> Vec<PathBuf> {
    let key = mail::parse(eml.as_bytes()).unwrap().key;
    let hash = &hex::encode(Sha256::digest(key.as_bytes()))[..12];
    let start = Utc::now();
    let blocked: Vec<PathBuf> = (-2..120)
        .map(|s| {
            let at = start + Duration::seconds(s);
            outbox.join(format!("{}-{hash}.eml", at.format("%Y%m%dT%H%M%SZ")))
        })
        .collect();
    for dir in &blocked {
        fs::create_dir_all(dir).unwrap();
    }
    blocked
}

/// An import of one message whose reply cannot be written: it fails after the commit.
async fn import_failing_after_commit(ctx: &Context, dir: &Path, eml: &str) -> ImportOptions {
    let outbox = dir.join("outbox");
    let blocked = block_outbox(&outbox, eml);
    let path = dir.join(format!("{}.eml", hex::encode(&Sha256::digest(eml)[..6])));
    fs::write(&path, eml).unwrap();
    let opts = ImportOptions {
        source: Source::Files(vec![path]),
        outbox,
        dry_run: false,
        public_url: None,
    };
    let err = withdrawals::import(ctx, &opts).await.unwrap_err();
    assert!(
        format!("{err:#}").contains("it is kept in the database and written by the next run"),
        "{err:#}"
    );
    for dir in blocked {
        fs::remove_dir(dir).unwrap();
    }
    opts
}

on_both_backends!(
    a_reply_committed_before_a_crash_is_written_by_the_next_run,
    an_erasure_deletes_a_reply_not_yet_written,
);

async fn a_reply_committed_before_a_crash_is_written_by_the_next_run(db: TestDb) {
    let ctx = tenants(&db).await;
    let q = Counter::new(&db).await;
    let work = tempfile::tempdir().unwrap();
    let at_w = book(&ctx, &person(ANNA, "Anna", "Schmidt", "0171 5550001", W)).await;
    let eml = message(
        "crash1",
        "Anna Schmidt <anna.schmidt@example.com>",
        WESTENDORF,
        "Widerruf",
        "Sehr geehrte Damen und Herren,\n\nich widerrufe meine Einwilligung.\n\nAnna Schmidt",
    );

    // The run stops after the commit: the withdrawal is done, its reply waits in the database.
    let opts = import_failing_after_commit(&ctx, work.path(), &eml).await;
    assert_eq!(state(&q, &at_w).await, expected_state(SmsConsentEnded, W));
    assert_eq!(reply_rows(&q).await, (1, 0, 1), "the reply is pending");
    assert!(outbox_regular_files(&opts.outbox).is_empty());

    // The next run writes it before anything else, and does not apply the message again.
    let again = withdrawals::import(&ctx, &opts).await.unwrap();
    assert_eq!(again.replies_recovered, 1);
    assert_eq!(again.messages.len(), 1);
    assert_eq!(again.messages[0].outcome, "duplicate");
    assert_eq!(again.messages[0].reply, None);
    assert_eq!(state(&q, &at_w).await, expected_state(SmsConsentEnded, W));
    let files = outbox_files(&opts.outbox);
    assert_eq!(
        files.len(),
        1,
        "one reply, no temporary file left: {files:?}"
    );
    let raw = fs::read(&files[0]).unwrap();
    let reply = mail::parse(&raw).unwrap();
    assert_eq!(reply.in_reply_to_id.as_deref(), Some("crash1@example.net"));
    assert_eq!(reply.recipients, vec![ANNA.to_owned()], "To the sender");
    assert_eq!(reply.from.as_deref(), Some(WESTENDORF));
    assert!(
        reply.text.contains("wir haben Ihren Widerruf vom"),
        "{}",
        reply.text
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert_eq!(reply_rows(&q).await, (0, 1, 1), "written, its text gone");

    // Written once: a third run has nothing to recover. A temporary file that a killed run
    // left (a reply's text) is removed; one of a process that still runs is not.
    let left = opts
        .outbox
        .join(".20261121T101500Z-0a1b2c3d4e5f.eml.4194304999.tmp");
    let running = opts.outbox.join(format!(
        ".20261121T101500Z-0a1b2c3d4e5f.eml.{}.tmp",
        std::process::id()
    ));
    fs::write(&left, "To: anna.schmidt@example.com\r\n").unwrap();
    fs::write(&running, "To: anna.schmidt@example.com\r\n").unwrap();
    let third = withdrawals::import(&ctx, &opts).await.unwrap();
    assert_eq!(third.replies_recovered, 0);
    assert!(!left.exists(), "a killed run's temporary file is removed");
    assert!(
        running.exists(),
        "a running import's temporary file is kept"
    );
    fs::remove_file(&running).unwrap();
    assert_eq!(outbox_files(&opts.outbox), files);
    q.close().await;
}

async fn an_erasure_deletes_a_reply_not_yet_written(db: TestDb) {
    let ctx = tenants(&db).await;
    let q = Counter::new(&db).await;
    let work = tempfile::tempdir().unwrap();
    book(&ctx, &person(ANNA, "Anna", "Schmidt", "0171 5550001", R)).await;
    let eml = message(
        "crash2",
        ANNA,
        BUERGERBUERO,
        "Auskunft nach Art. 15 DSGVO",
        "Bitte teilen Sie mir mit, welche Daten Sie über mich gespeichert haben.",
    );
    let opts = import_failing_after_commit(&ctx, work.path(), &eml).await;
    assert_eq!(reply_rows(&q).await, (1, 0, 1), "the reply is pending");

    // An Auskunft in the meantime shows the reply that waits (it holds her address).
    let out = work.path().join("auskunft");
    let export = datenwart::ops::export::export(
        &ctx,
        &datenwart::ops::export::ExportRequest {
            email: ANNA.into(),
            controllers: rights::Controllers::One(R.into()),
            out: Some(out.clone()),
            request_id: None,
            channel: datenwart::domain::requests::Channel::Email,
            address: Vec::new(),
            identity: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(export.tenants[0].replies, 1);
    let csv = fs::read_to_string(out.join("antworten.csv")).unwrap();
    assert!(csv.contains("In-Reply-To: <crash2@example.net>"), "{csv}");

    // Her erasure takes the pending reply with it: nothing of her is sent or kept.
    let erased = rights::erase(
        &ctx,
        &rights::EraseRequest {
            email: ANNA,
            controllers: rights::Controllers::One(R.into()),
            dry_run: false,
            request: None,
            channel: datenwart::domain::requests::Channel::Email,
            identity: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(erased.report.counts[0].1.replies_deleted, 1);
    assert_eq!(reply_rows(&q).await, (0, 0, 0));
    let next = withdrawals::import(&ctx, &opts).await.unwrap();
    assert_eq!(next.replies_recovered, 0);
    assert_eq!(next.messages[0].outcome, "duplicate");
    assert!(
        outbox_regular_files(&opts.outbox).is_empty(),
        "no reply written"
    );
    q.close().await;
}

on_both_backends!(
    a_message_to_two_tenants_is_handled_for_each_of_them,
    mail_from_the_tenants_own_domain_goes_to_review_whatever_its_wording,
);

/// A message with a `Cc` besides its `To`.
fn message_cc(id: &str, from: &str, to: &str, cc: &str, subject: &str, body: &str) -> String {
    message(id, from, to, subject, body).replacen(
        &format!("To: {to}\n"),
        &format!("To: {to}\nCc: {cc}\n"),
        1,
    )
}

async fn a_message_to_two_tenants_is_handled_for_each_of_them(db: TestDb) {
    let ctx = tenants(&db).await;
    let q = Counter::new(&db).await;
    let text = "Hiermit widerrufe ich meine Einwilligung.";
    // Oer-Erkenschwick's policy comes first; each citizen is known at Recklinghausen only.
    let rounds = [
        ("anna.two@example.com", RATHAUS_OE, BUERGERBUERO),
        ("bert.two@example.com", BUERGERBUERO, RATHAUS_OE),
    ];
    for (n, (email, to, cc)) in rounds.into_iter().enumerate() {
        let booked = book(&ctx, &person(email, "Anna", "Zwei", "0171 5550002", R)).await;
        let work = tempfile::tempdir().unwrap();
        let eml = message_cc(&format!("two{n}"), email, to, cc, "Widerruf", text);
        let path = work.path().join("m.eml");
        fs::write(&path, &eml).unwrap();
        let outbox = work.path().join("outbox");
        let reports = import(&ctx, Source::Files(vec![path.clone()]), &outbox, false).await;
        let mut got: Vec<(Option<&str>, &str)> = reports
            .iter()
            .map(|r| (r.tenant.as_deref(), r.outcome.as_str()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [(Some(O), "unmatched"), (Some(R), "withdrawn")],
            "{to} / {cc}"
        );
        let replies: Vec<_> = reports.iter().filter(|r| r.reply.is_some()).collect();
        assert_eq!(replies.len(), 1, "one reply, from the tenant that acted");
        assert_eq!(replies[0].tenant.as_deref(), Some(R));
        assert_eq!(state(&q, &booked).await, expected_state(Erased, R));
        // The same mailbox again: a duplicate at each tenant, nothing repeated.
        let again = import(&ctx, Source::Files(vec![path]), &outbox, false).await;
        assert_eq!(again.len(), 2);
        assert!(
            again.iter().all(|r| r.outcome == InboxOutcome::Duplicate),
            "{again:?}"
        );
    }
}

async fn mail_from_the_tenants_own_domain_goes_to_review_whatever_its_wording(db: TestDb) {
    let ctx = tenants(&db).await;
    let work = tempfile::tempdir().unwrap();
    let chat = message(
        "staff1",
        "Kollegin <k.mueller@recklinghausen.de>",
        BUERGERBUERO,
        "Kuchen",
        "Wer bringt morgen Kuchen mit?",
    );
    let r = import_one(&ctx, work.path(), &chat).await;
    assert_eq!(
        (r.outcome.as_str(), r.tenant.as_deref()),
        ("review", Some(R)),
        "{}",
        r.reason
    );
    assert!(r.reply.is_none());
}

// ===========================================================================================
// Identity before anything destructive: confirmation requests
// ===========================================================================================

on_both_backends!(
    a_forged_mail_without_authentication_gets_a_confirmation_request_and_changes_nothing,
    authentication_results_of_an_untrusted_server_are_ignored,
    a_trusted_dmarc_pass_from_an_address_on_file_acts_at_once_recorded_as_dmarc,
    a_reply_with_the_code_applies_the_withdrawal_once_confirmed_by_mail,
    a_confirmation_link_applies_once_even_when_followed_twice_at_once,
    an_unconfirmed_request_expires_with_its_own_outcome_and_changes_nothing,
    erasing_the_person_ends_their_pending_confirmation_requests,
);

const WITHDRAWAL: &str =
    "Sehr geehrte Damen und Herren,\n\nich widerrufe meine Einwilligung.\n\nAnna Schmidt";
const ANNA_FROM: &str = "Anna Schmidt <anna.schmidt@example.com>";

/// The code of the confirmation request a report's reply carries (its subject has it).
fn code_of(report: &MessageReport) -> String {
    let raw = fs::read(report.reply.as_ref().expect("a confirmation request")).unwrap();
    let parsed = mail::parse(&raw).unwrap();
    let codes = datenwart::domain::identity::find_codes(&parsed.subject);
    assert_eq!(codes.len(), 1, "{}", parsed.subject);
    codes[0].clone()
}

/// A forged withdrawal in Anna's name reached Recklinghausen: the confirmation request
/// it got, with its checks.
async fn forged_withdrawal(ctx: &Context, q: &Counter, dir: &Path, id: &str) -> MessageReport {
    let r = import_one(
        ctx,
        dir,
        &unauthenticated(id, ANNA_FROM, BUERGERBUERO, "Widerruf", WITHDRAWAL),
    )
    .await;
    assert_eq!(
        (r.outcome.as_str(), r.tenant.as_deref()),
        ("confirmation_requested", Some(R)),
        "{}",
        r.reason
    );
    assert_eq!(
        (r.request_id, r.consents_withdrawn, r.bookings_cancelled),
        (None, 0, 0)
    );
    let code = code_of(&r);
    assert_eq!(
        q.count(&format!(
            "select count(*) from identity_confirmations where code_hash like '%{}%'",
            &code[3..7]
        ))
        .await,
        0,
        "only a keyed hash of the code is stored"
    );
    r
}

async fn a_forged_mail_without_authentication_gets_a_confirmation_request_and_changes_nothing(
    db: TestDb,
) {
    let ctx = tenants(&db).await;
    let q = Counter::new(&db).await;
    let work = tempfile::tempdir().unwrap();
    let at_r = book(&ctx, &person(ANNA, "Anna", "Schmidt", "0171 5550001", R)).await;
    let requests_before = q.count("select count(*) from requests").await;

    let r = forged_withdrawal(&ctx, &q, work.path(), "forged1").await;
    assert_eq!(state(&q, &at_r).await, expected_state(Nothing, R));
    assert_eq!(
        q.count("select count(*) from requests").await,
        requests_before
    );

    // The request goes to the address on file, in German: what was asked, the code, the
    // link, the validity, and that nothing happens if it was not them.
    let raw = String::from_utf8(fs::read(r.reply.as_ref().unwrap()).unwrap()).unwrap();
    assert!(raw.contains("To: anna.schmidt@example.com"), "{raw}");
    let text = reply_text(&r);
    let code = code_of(&r);
    for part in [
        "Widerruf Ihrer Einwilligungen",
        code.as_str(),
        &format!("https://termine.example.de/t/recklinghausen/bestaetigen?code={code}"),
        "gilt bis zum",
        "ignorieren Sie diese E-Mail",
        "es geschieht dann nichts",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }
    assert_eq!(
        q.count("select count(*) from identity_confirmations where status = 'pending' and channel = 'email'")
            .await,
        1
    );
    q.close().await;
}

async fn authentication_results_of_an_untrusted_server_are_ignored(db: TestDb) {
    let ctx = tenants(&db).await;
    let q = Counter::new(&db).await;
    let work = tempfile::tempdir().unwrap();
    let at_r = book(&ctx, &person(ANNA, "Anna", "Schmidt", "0171 5550001", R)).await;
    let mail = |id: &str, header: &str| {
        with_auth(
            header,
            &unauthenticated(id, ANNA_FROM, BUERGERBUERO, "Widerruf", WITHDRAWAL),
        )
    };
    for (id, header) in [
        ("evil1", "evil.example; dmarc=pass header.from=example.com"),
        // The trusted name in a comment or as a property is not the authserv-id.
        (
            "evil2",
            "(mx01.kommunal-it.example) evil.example; dmarc=pass header.from=example.com",
        ),
        (
            "evil3",
            "evil.example; dkim=pass header.d=example.com header.i=@mx01.kommunal-it.example",
        ),
        // A trusted server's pass for another domain proves nothing about Anna's.
        (
            "evil4",
            "mx01.kommunal-it.example; dmarc=pass header.from=evil.example",
        ),
        (
            "evil5",
            "mx01.kommunal-it.example; dkim=pass header.d=evil.example",
        ),
    ] {
        let r = import_one(&ctx, work.path(), &mail(id, header)).await;
        assert_eq!(
            r.outcome.as_str(),
            "confirmation_requested",
            "{header}: {}",
            r.reason
        );
    }
    assert_eq!(state(&q, &at_r).await, expected_state(Nothing, R));
    q.close().await;
}

async fn a_trusted_dmarc_pass_from_an_address_on_file_acts_at_once_recorded_as_dmarc(db: TestDb) {
    let ctx = tenants(&db).await;
    let q = Counter::new(&db).await;
    let work = tempfile::tempdir().unwrap();
    let at_r = book(&ctx, &person(ANNA, "Anna", "Schmidt", "0171 5550001", R)).await;
    let r = import_one(
        &ctx,
        work.path(),
        &message("trusted1", ANNA_FROM, BUERGERBUERO, "Widerruf", WITHDRAWAL),
    )
    .await;
    assert_eq!(r.outcome.as_str(), "withdrawn", "{}", r.reason);
    assert_eq!(state(&q, &at_r).await, expected_state(Erased, R));
    let request = ctx
        .store
        .request(r.request_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(request.identity, Some(IdentityCheck::Dmarc));

    // An aligned DKIM signature (the From domain's parent signed) counts as well.
    let at_w = book(&ctx, &person(ANNA, "Anna", "Schmidt", "0171 5550001", W)).await;
    let r = import_one(
        &ctx,
        work.path(),
        &with_auth(
            "mx01.kommunal-it.example; dkim=pass (2048-bit key) header.d=example.com; dmarc=none",
            &unauthenticated("dkim1", ANNA_FROM, WESTENDORF, "Widerruf", WITHDRAWAL),
        ),
    )
    .await;
    assert_eq!(r.outcome.as_str(), "withdrawn", "{}", r.reason);
    assert_eq!(state(&q, &at_w).await, expected_state(SmsConsentEnded, W));
    let request = ctx
        .store
        .request(r.request_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(request.identity, Some(IdentityCheck::Dkim));
    q.close().await;
}

async fn a_reply_with_the_code_applies_the_withdrawal_once_confirmed_by_mail(db: TestDb) {
    let ctx = tenants(&db).await;
    let q = Counter::new(&db).await;
    let work = tempfile::tempdir().unwrap();
    let at_r = book(&ctx, &person(ANNA, "Anna", "Schmidt", "0171 5550001", R)).await;
    let r = forged_withdrawal(&ctx, &q, work.path(), "forged2").await;
    let code = code_of(&r);

    // A wrong code is no confirmation: the mail is a new unproven withdrawal.
    let wrong = import_one(
        &ctx,
        work.path(),
        &unauthenticated(
            "wrong1",
            ANNA_FROM,
            BUERGERBUERO,
            "Re: Bitte bestätigen Sie Ihren Antrag (Code DW-AAAA-BBBB-CCCC)",
            WITHDRAWAL,
        ),
    )
    .await;
    assert_eq!(
        wrong.outcome.as_str(),
        "confirmation_requested",
        "{}",
        wrong.reason
    );
    assert_eq!(state(&q, &at_r).await, expected_state(Nothing, R));

    // The reply with the right code (no authentication at all: the code is the proof).
    let reply = format!("Ja, das war ich.\n\n> Bestätigungscode:\n> {code}\n");
    let confirmed = import_one(
        &ctx,
        work.path(),
        &unauthenticated(
            "confirm1",
            ANNA_FROM,
            BUERGERBUERO,
            &format!("Re: Bitte bestätigen Sie Ihren Antrag (Code {code})"),
            &reply,
        ),
    )
    .await;
    assert_eq!(
        confirmed.outcome.as_str(),
        "withdrawn",
        "{}",
        confirmed.reason
    );
    assert_eq!(state(&q, &at_r).await, expected_state(Erased, R));
    let request = ctx
        .store
        .request(confirmed.request_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(request.identity, Some(IdentityCheck::ConfirmedByMail));
    assert!(reply_text(&confirmed).contains("Widerruf"));
    let withdrawals = q
        .count("select count(*) from requests where kind = 'withdrawal'")
        .await;

    // The same code again: used, so a human looks; nothing is applied twice.
    let again = import_one(
        &ctx,
        work.path(),
        &unauthenticated(
            "confirm2",
            ANNA_FROM,
            BUERGERBUERO,
            &format!("Code {code}"),
            "nochmal",
        ),
    )
    .await;
    assert_eq!(again.outcome.as_str(), "review", "{}", again.reason);
    assert!(again.reason.contains("used already"), "{}", again.reason);
    assert_eq!(
        q.count("select count(*) from requests where kind = 'withdrawal'")
            .await,
        withdrawals
    );
    q.close().await;
}

async fn a_confirmation_link_applies_once_even_when_followed_twice_at_once(db: TestDb) {
    let ctx = tenants(&db).await;
    let q = Counter::new(&db).await;
    let work = tempfile::tempdir().unwrap();
    let at_r = book(&ctx, &person(ANNA, "Anna", "Schmidt", "0171 5550001", R)).await;
    let r = forged_withdrawal(&ctx, &q, work.path(), "forged3").await;
    let code = code_of(&r);

    // A code of Recklinghausen is unknown at Westendorf, and an invented one everywhere.
    assert_eq!(
        identity::confirm_by_link(&ctx, W, &code)
            .await
            .unwrap()
            .unwrap_err(),
        CodeState::Unknown
    );
    assert_eq!(
        identity::confirm_by_link(&ctx, R, "DW-AAAA-BBBB-CCCC")
            .await
            .unwrap()
            .unwrap_err(),
        CodeState::Unknown
    );
    assert_eq!(state(&q, &at_r).await, expected_state(Nothing, R));

    let (a, b) = tokio::join!(
        identity::confirm_by_link(&ctx, R, &code),
        identity::confirm_by_link(&ctx, R, &code)
    );
    let results = [a.unwrap(), b.unwrap()];
    let done: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(done.len(), 1, "{results:?}");
    assert!(
        results
            .iter()
            .any(|r| r.as_ref().err() == Some(&CodeState::Used)),
        "{results:?}"
    );
    assert_eq!(done[0].bookings_cancelled, 1);
    assert_eq!(state(&q, &at_r).await, expected_state(Erased, R));
    let request = ctx
        .store
        .request(done[0].request_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(request.identity, Some(IdentityCheck::ConfirmedByLink));
    assert_eq!(request.channel.as_str(), "email");
    // The message that asked has the outcome of what it asked now.
    assert_eq!(
        q.count("select count(*) from inbox_messages where outcome = 'withdrawn'")
            .await,
        1
    );
    assert_eq!(
        identity::confirm_by_link(&ctx, R, &code)
            .await
            .unwrap()
            .unwrap_err(),
        CodeState::Used
    );
    q.close().await;
}

async fn an_unconfirmed_request_expires_with_its_own_outcome_and_changes_nothing(db: TestDb) {
    let ctx = tenants(&db).await;
    let q = Counter::new(&db).await;
    let work = tempfile::tempdir().unwrap();
    let at_r = book(&ctx, &person(ANNA, "Anna", "Schmidt", "0171 5550001", R)).await;
    let r = forged_withdrawal(&ctx, &q, work.path(), "forged4").await;
    let code = code_of(&r);

    // Not yet: the policy gives 14 days.
    let now = Utc::now();
    assert_eq!(
        identity::expire(&ctx, now + Duration::days(13))
            .await
            .unwrap()
            .total,
        0
    );
    let expired = identity::expire(&ctx, now + Duration::days(15))
        .await
        .unwrap();
    assert_eq!(expired.total, 1);
    assert_eq!(expired.per_tenant, vec![(R.to_owned(), 1)]);
    assert_eq!(
        q.count("select count(*) from inbox_messages where outcome = 'unconfirmed' and subject_ref is null")
            .await,
        1
    );
    assert_eq!(
        q.count("select count(*) from identity_confirmations where status = 'expired' and subject_ref is null")
            .await,
        1
    );
    assert_eq!(state(&q, &at_r).await, expected_state(Nothing, R));
    assert_eq!(
        identity::confirm_by_link(&ctx, R, &code)
            .await
            .unwrap()
            .unwrap_err(),
        CodeState::Expired
    );
    assert_eq!(state(&q, &at_r).await, expected_state(Nothing, R));
    // Audited, without the person.
    let audit = q
        .count("select count(*) from audit_log where action = 'identity.unconfirmed' and subject_ref is null")
        .await;
    assert_eq!(audit, 1);
    let anna = people::Citizen {
        first: "Anna",
        last: "Schmidt",
        email: ANNA,
        phone: "0171 5550001",
    };
    people::assert_audit_trail_names_nobody(&ctx, &[anna]).await;
    // Nothing left to expire; the import counts what expired.
    assert_eq!(
        identity::expire(&ctx, now + Duration::days(30))
            .await
            .unwrap()
            .total,
        0
    );
    q.close().await;
}

async fn erasing_the_person_ends_their_pending_confirmation_requests(db: TestDb) {
    let ctx = tenants(&db).await;
    let q = Counter::new(&db).await;
    let work = tempfile::tempdir().unwrap();
    book(&ctx, &person(ANNA, "Anna", "Schmidt", "0171 5550001", R)).await;
    let r = forged_withdrawal(&ctx, &q, work.path(), "forged5").await;
    let code = code_of(&r);
    rights::erase(
        &ctx,
        &rights::EraseRequest {
            email: ANNA,
            controllers: datenwart::ops::rights::Controllers::One(R.into()),
            dry_run: false,
            request: None,
            channel: datenwart::domain::requests::Channel::Letter,
            identity: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        q.count("select count(*) from identity_confirmations where subject_ref is not null")
            .await,
        0
    );
    assert_eq!(
        q.count("select count(*) from inbox_messages where outcome = 'unconfirmed'")
            .await,
        1
    );
    assert_eq!(
        identity::confirm_by_link(&ctx, R, &code)
            .await
            .unwrap()
            .unwrap_err(),
        CodeState::Expired
    );
    q.close().await;
}
