//! End to end in a real browser: a citizen books through the HTML pages in headless Chromium
//! and cancels with the code, on SQLite and PostgreSQL. Chromium is driven over chromedriver's
//! W3C WebDriver HTTP API with plain `reqwest` calls.
//!
//! Needs the Debian packages `chromium` and `chromium-driver` (`.ci/run` installs them). Without
//! them the test says it is skipped — unless `CI` is set, where a missing browser fails it.
//! Every page a flow passes is checked with axe-core (tests/fixtures/axe/, MPL-2.0) for WCAG
//! 2.1 A and AA at 390 px and 1280 px width, and photographed into `target/screenshots/`
//! (`DATENWART_TEST_SCREENSHOT_DIR=DIR` keeps a copy in `DIR` as well).

mod common;

use chrono::{Duration, Utc};
use common::{TestDb, fixture, ready};
use datenwart::http::{self, ServeConfig};
use datenwart::ops::seeding;
use serde_json::{Value, json};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The W3C name of an element reference in WebDriver JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const WAIT: std::time::Duration = std::time::Duration::from_secs(20);

on_both_backends!(
    a_citizen_books_fixes_errors_and_cancels_at_phone_and_desktop_width,
    a_citizen_withdraws_consent_on_the_page_in_headless_chromium,
    every_citizen_page_passes_axe_core_at_both_widths
);

/// The widths the pages are looked at: a phone (iPhone 12–15) and a desktop.
const WIDTHS: [i64; 2] = [390, 1280];

/// Whether the browser test can run here; fails when it cannot but `CI` is set.
fn chromium_available() -> bool {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return true;
    }
    common::cannot_run(
        &format!("headless Chromium is not installed ({CHROMIUM}, {CHROMEDRIVER})"),
        "apt-get install chromium chromium-driver",
    );
    false
}

/// A ready database with the services of the fixture and free slots the day after tomorrow
/// at Recklinghausen, served in-process on 127.0.0.1; the server stops when this drops.
async fn start(db: &TestDb) -> (String, tokio::sync::oneshot::Sender<()>) {
    let ctx = ready(db).await;
    seeding::import_services(&ctx, "recklinghausen", &fixture("services.csv"))
        .await
        .unwrap();
    let day = (Utc::now() + Duration::days(2)).date_naive();
    common::open_slots(&ctx, "recklinghausen", day, "08:00-10:00", 1).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = ServeConfig {
        attempts_per_minute: 0,
        ..ServeConfig::default()
    };
    tokio::spawn(http::serve(listener, Arc::new(ctx), config, async {
        let _ = stopped.await;
    }));
    (url, stop)
}

/// The booking, error and cancel flows as a citizen goes through them, on a phone and on a
/// desktop: each page checked by axe-core and photographed into `target/screenshots/`.
async fn a_citizen_books_fixes_errors_and_cancels_at_phone_and_desktop_width(db: TestDb) {
    if !chromium_available() {
        return;
    }
    let (site, _stop) = start(&db).await;
    let browser = Browser::start().await;
    let shots = Screenshots::new(&db);
    let mut booked = 0;
    for width in WIDTHS {
        browser.resize(width).await;

        // Service → a week of free slots with the first free one on top → form.
        browser.go(&format!("{site}/t/recklinghausen")).await;
        browser
            .wait_for("a[href='/t/recklinghausen/termine?service=PA']")
            .await
            .click()
            .await;
        let first = browser.wait_for("#book-first").await;
        let form_path = first.attribute("href").await;
        assert!(
            form_path.starts_with("/t/recklinghausen/buchen/"),
            "{form_path}"
        );
        browser.check_page("slots", width, &shots).await;
        first.click().await;
        browser.wait_for("#first_name").await;
        assert!(browser.url().await.ends_with(&form_path));
        browser.check_page("form", width, &shots).await;
        let crumbs = browser
            .find("nav[aria-label=Brotkrumen]")
            .await
            .text()
            .await;
        assert!(
            crumbs.contains("Stadt Recklinghausen") && crumbs.contains("Personalausweis"),
            "the breadcrumb names the tenant and the service: {crumbs}"
        );
        // Touch targets and the checkbox are big enough; the button has the page's font.
        let book = browser.find("#book").await;
        assert!(browser.height_of(&book).await >= 44.0);
        let consent = browser.find("#consent").await;
        assert!(browser.height_of(&consent).await >= 24.0);
        assert_eq!(
            browser
                .script(
                    "return getComputedStyle(arguments[0]).fontFamily === getComputedStyle(document.body).fontFamily",
                    &[&book]
                )
                .await,
            json!(true),
            "the button inherits the font"
        );

        // An empty form: the error summary links every field, each field says why. (The slot
        // may have been booked and cancelled at the width before: count from here.)
        let posts = format!(
            "select count(*) from access_log where method = 'POST' and path = '{form_path}'"
        );
        let refused_before = db.count(&format!("{posts} and status = 422")).await;
        let redirected_before = db.count(&format!("{posts} and status = 303")).await;
        book.click().await;
        browser.wait_for("#error-summary").await;
        let title = browser.title().await;
        assert!(title.starts_with("Fehler: "), "{title}");
        let links = browser.find_all("#error-summary a").await;
        let mut targets = Vec::new();
        for l in &links {
            targets.push(l.attribute("href").await);
        }
        for field in ["first_name", "last_name", "email", "phone", "consent"] {
            assert!(
                targets.contains(&format!("#{field}")),
                "{field} in {targets:?}"
            );
            let input = browser.find(&format!("#{field}")).await;
            assert_eq!(input.attribute("aria-invalid").await, "true", "{field}");
            let described = input.attribute("aria-describedby").await;
            assert!(
                described.contains(&format!("{field}-error")),
                "{field}: {described}"
            );
            let message = browser.find(&format!("#{field}-error")).await.text().await;
            assert!(!message.is_empty(), "{field}");
        }
        browser.check_page("form-errors", width, &shots).await;
        assert_eq!(
            db.count(&format!("{posts} and status = 422")).await,
            refused_before + 1,
            "the empty form reached the server and was refused"
        );

        // A typo in the e-mail address: only that field is marked, the rest is kept.
        fill_in_the_form(&browser).await;
        browser.find("#email").await.clear().await;
        browser
            .find("#email")
            .await
            .type_in("joerg(at)example.com")
            .await;
        browser.find("#consent").await.click().await;
        browser.find("#book").await.click().await;
        browser.wait_for("#email-error").await;
        assert_eq!(browser.find_all("#error-summary a").await.len(), 1);
        assert_eq!(
            browser.find("#first_name").await.property("value").await,
            json!("Jörg"),
            "the form keeps what was typed"
        );
        browser.find("#email").await.clear().await;
        browser
            .find("#email")
            .await
            .type_in("joerg@example.com")
            .await;
        if !browser.find("#consent").await.selected().await {
            browser.find("#consent").await.click().await;
        }
        browser.find("#book").await.click().await;

        // Post/redirect/get: the confirmation has its own address, with the reference, the
        // code once, the office's address, what to bring, the masked e-mail and a calendar file.
        let reference = browser.wait_for("#reference").await;
        let confirmation_url = browser.url().await;
        assert!(
            confirmation_url.contains("/t/recklinghausen/gebucht/"),
            "{confirmation_url}"
        );
        let (lines, right) = browser.lines_and_right_edge(&reference).await;
        assert_eq!(lines, 1, "the reference does not wrap at {width} px");
        assert!(
            right <= width as f64,
            "the reference fits at {width} px ({right})"
        );
        let reference = reference.text().await;
        let code = browser.find("#code").await.text().await;
        assert!(reference.starts_with("T-"), "{reference}");
        assert_eq!(code.len(), 9, "{code}");
        assert!(
            browser
                .find("#address")
                .await
                .text()
                .await
                .contains("Rathausplatz 3/4")
        );
        assert!(
            browser
                .find("#bring")
                .await
                .text()
                .await
                .contains("Passfoto")
        );
        assert_eq!(
            browser.find("#email").await.text().await,
            "j•••@example.com"
        );
        let h2 = browser.find("main h2").await.text().await;
        assert!(
            browser
                .source()
                .await
                .contains("Ihr Termin bei der Stadt Recklinghausen"),
            "{h2}"
        );
        let ics_path = browser.find("#ics").await.attribute("href").await;
        let ics = reqwest::get(format!("{site}{ics_path}")).await.unwrap();
        assert_eq!(
            ics.headers()["content-type"],
            "text/calendar; charset=utf-8"
        );
        let ics = ics.text().await.unwrap();
        assert!(
            ics.contains("BEGIN:VEVENT") && ics.contains(&reference),
            "{ics}"
        );
        assert!(!ics.contains("Jörg") && !ics.contains("joerg"), "{ics}");
        browser.check_page("confirmation", width, &shots).await;
        // The print view: the confirmation alone (no header, breadcrumb, footer or buttons)
        // on one A4 page.
        let pdf = browser.print_a4().await;
        assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
        assert_eq!(pdf_pages(&pdf), 1, "the confirmation prints on one page");
        if width == WIDTHS[0] {
            for d in &shots.dirs {
                std::fs::write(
                    d.join(format!("confirmation-print-{}.pdf", shots.backend)),
                    &pdf,
                )
                .unwrap();
            }
        }
        booked += 1;
        let stored = format!(
            "select count(*) from bookings where reference = '{reference}' and status = 'booked'
               and first_name = 'Jörg' and last_name = 'Müller' and email = 'joerg@example.com'
               and phone = '+491717654321' and code_hash <> '{code}'"
        );
        assert_eq!(db.count(&stored).await, 1);
        assert_eq!(
            db.count("select count(*) from bookings").await,
            booked,
            "one booking per width"
        );

        // A reload asks the server for the page again, never posts the form again; the
        // code is not shown a second time.
        browser.refresh().await;
        browser.wait_for("#code-shown").await;
        assert!(browser.find_all("#code").await.is_empty());
        assert_eq!(browser.find("#reference").await.text().await, reference);
        assert_eq!(db.count("select count(*) from bookings").await, booked);
        assert_eq!(
            db.count(&format!("{posts} and status = 303")).await,
            redirected_before + 1,
            "one booking post, answered with a redirect"
        );

        // Cancel: empty fields get field errors; the reference is taken in lower case and
        // without the hyphen; afterwards only the result and a link to book anew.
        browser
            .go(&format!("{site}/t/recklinghausen/absagen"))
            .await;
        browser.wait_for("#cancel").await.click().await;
        browser.wait_for("#error-summary").await;
        assert!(browser.title().await.starts_with("Fehler: "));
        for field in ["reference", "code"] {
            let input = browser.find(&format!("#{field}")).await;
            assert_eq!(input.attribute("aria-invalid").await, "true", "{field}");
        }
        browser.check_page("cancel-errors", width, &shots).await;
        let lost = browser.find("#lost-code").await;
        assert!(
            browser
                .script("return arguments[0].textContent", &[&lost])
                .await
                .as_str()
                .unwrap()
                .contains("+49 2361 50-1640"),
            "a lost code: the office's phone"
        );
        let typed = reference.replace('-', "").to_lowercase();
        browser.find("#reference").await.type_in(&typed).await;
        browser
            .find("#code")
            .await
            .type_in(&code.to_lowercase())
            .await;
        browser.find("#cancel").await.click().await;
        let result = browser.wait_for("#result").await.text().await;
        assert!(result.contains("ist abgesagt"), "{result}");
        assert!(
            browser.find_all("form").await.is_empty(),
            "no form after success"
        );
        assert_eq!(
            browser.find("#book-new").await.attribute("href").await,
            "/t/recklinghausen"
        );
        browser.check_page("cancelled", width, &shots).await;
        assert_eq!(
            db.count(&format!(
                "select count(*) from bookings where reference = '{reference}'
                   and status = 'cancelled' and cancelled_by = 'citizen'"
            ))
            .await,
            1
        );
    }
    browser.quit().await;
}

/// Every citizen page, also the empty states and the error pages, has no violation of WCAG
/// 2.1 A and AA that axe-core finds, on a phone and on a desktop.
async fn every_citizen_page_passes_axe_core_at_both_widths(db: TestDb) {
    if !chromium_available() {
        return;
    }
    let (site, _stop) = start(&db).await;
    let browser = Browser::start().await;
    let shots = Screenshots::new(&db);
    let pages = [
        ("index", "/"),
        ("tenant", "/t/recklinghausen"),
        ("privacy", "/t/recklinghausen/datenschutz"),
        ("contact", "/t/recklinghausen/kontakt"),
        (
            "slots-afternoon-empty",
            "/t/recklinghausen/termine?service=PA&zeit=nachmittag",
        ),
        ("slots-none", "/t/recklinghausen/termine?service=RP"),
        ("cancel", "/t/recklinghausen/absagen"),
        ("withdraw", "/t/recklinghausen/widerrufen"),
        ("withdraw-by-email", "/t/recklinghausen/widerruf-per-email"),
        ("identity-confirm", "/t/recklinghausen/bestaetigen"),
        ("receipt-gone", "/t/recklinghausen/gebucht/ABCDEFGH"),
        ("not-found", "/gibt/es/nicht"),
        ("westendorf", "/t/westendorf"),
    ];
    for width in WIDTHS {
        browser.resize(width).await;
        for (name, path) in pages {
            browser.go(&format!("{site}{path}")).await;
            browser.wait_for("footer").await;
            browser.check_page(name, width, &shots).await;
        }
    }
    // The empty state names how else to get an appointment.
    browser
        .go(&format!("{site}/t/recklinghausen/termine?service=RP"))
        .await;
    let empty = browser.wait_for("#no-slots").await.text().await;
    assert!(
        empty.contains("+49 2361 50-1640") && empty.contains("Rathausplatz 3/4"),
        "{empty}"
    );
    // The footer of every tenant page links what BITV 2.0 and the TMG/DDG want.
    browser.go(&format!("{site}/t/recklinghausen")).await;
    let footer = browser.wait_for("footer").await.text().await;
    for link in [
        "Impressum",
        "Barrierefreiheitserklärung",
        "Kontakt",
        "Datenschutz",
    ] {
        assert!(footer.contains(link), "{link} in {footer}");
    }
    // The check can fail: an image without a text alternative and a field without a label
    // put into the page are found.
    browser
        .script(
            "document.querySelector('main').insertAdjacentHTML('beforeend', '<img src=\"/x.png\"><input type=\"text\">')",
            &[],
        )
        .await;
    let found: Vec<String> = browser
        .axe()
        .await
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        found.contains(&"image-alt".to_owned()) && found.contains(&"label".to_owned()),
        "{found:?}"
    );
    browser.quit().await;
}

/// Where the screenshots go: `target/screenshots/` (and `DATENWART_TEST_SCREENSHOT_DIR`).
struct Screenshots {
    dirs: Vec<std::path::PathBuf>,
    backend: String,
}

impl Screenshots {
    fn new(db: &TestDb) -> Screenshots {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
        let mut dirs = vec![target.join("screenshots")];
        if let Some(dir) = std::env::var_os("DATENWART_TEST_SCREENSHOT_DIR") {
            dirs.push(dir.into());
        }
        for d in &dirs {
            std::fs::create_dir_all(d).unwrap();
        }
        Screenshots {
            dirs,
            backend: format!("{:?}", db.kind).to_lowercase(),
        }
    }

    fn save(&self, name: &str, width: i64, png: &[u8]) {
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        for d in &self.dirs {
            std::fs::write(d.join(format!("{name}-{width}-{}.png", self.backend)), png).unwrap();
        }
    }
}

/// Art. 7(3): withdrawing is as easy as consenting — from the confirmation's link, with the
/// reference and the code, with the effects and the reply of a withdrawal mail.
async fn a_citizen_withdraws_consent_on_the_page_in_headless_chromium(db: TestDb) {
    if !chromium_available() {
        return;
    }
    let (site, _stop) = start(&db).await;
    let browser = Browser::start().await;

    // The privacy notice links the page.
    browser
        .go(&format!("{site}/t/recklinghausen/datenschutz"))
        .await;
    assert_eq!(
        browser
            .wait_for("#withdraw-link")
            .await
            .attribute("href")
            .await,
        "/t/recklinghausen/widerrufen"
    );

    // Book, as a citizen does.
    browser
        .go(&format!("{site}/t/recklinghausen/termine?service=PA"))
        .await;
    browser.wait_for("#book-first").await.click().await;
    browser.wait_for("#first_name").await;
    fill_in_the_form(&browser).await;
    browser.find("#consent").await.click().await;
    browser.find("#book").await.click().await;
    let reference = browser.wait_for("#reference").await.text().await;
    let code = browser.find("#code").await.text().await;

    // The confirmation links the page with the reference filled in; a wrong code is
    // refused and changes nothing.
    browser.find("#withdraw-link").await.click().await;
    assert_eq!(
        browser.wait_for("#reference").await.property("value").await,
        json!(reference)
    );
    browser.find("#code").await.type_in("FALSCH123").await;
    browser.find("#withdraw").await.click().await;
    let refused = browser.wait_for("#result").await.text().await;
    assert!(refused.contains("passt nicht"), "{refused}");
    assert_eq!(
        db.count("select count(*) from consents where withdrawn_at is not null")
            .await,
        0
    );
    assert_eq!(
        db.count(&format!(
            "select code_failures from bookings where reference = '{reference}'"
        ))
        .await,
        1,
        "the wrong code counts towards the lockout, as when cancelling"
    );

    // With the code: withdrawn, the appointment cancelled, the data erased (Recklinghausen's
    // booking rests on consent), and the page says what the reply mail says. (A link with
    // the reference fills it in, as the cancel link does.)
    browser
        .go(&format!(
            "{site}/t/recklinghausen/widerrufen?buchung={reference}"
        ))
        .await;
    browser.wait_for("#scope-all").await;
    assert_eq!(
        browser.find("#reference").await.property("value").await,
        json!(reference)
    );
    browser.find("#code").await.type_in(&code).await;
    assert!(browser.find("#scope-all").await.selected().await);
    browser.find("#withdraw").await.click().await;
    let result = browser.wait_for("#result").await.text().await;
    assert!(
        result.contains("wir haben Ihren Widerruf vom") && result.contains("wurde abgesagt"),
        "{result}"
    );
    assert!(result.contains("haben wir gelöscht"), "{result}");
    assert_eq!(
        db.count(
            "select count(*) from consents where withdrawn_at is not null and booking_id is null"
        )
        .await,
        1,
        "the consent is reduced to the proof of its withdrawal"
    );
    assert_eq!(
        db.count(&format!(
            "select count(*) from bookings where reference = '{reference}'
               and status = 'cancelled' and email is null and code_hash is null"
        ))
        .await,
        1
    );
    assert_eq!(
        db.count(
            "select count(*) from requests where kind = 'withdrawal' and channel = 'web'
               and status = 'closed' and outcome = 'erased'"
        )
        .await,
        1
    );
    assert_eq!(
        db.count("select count(*) from replies where written_at is null and eml like '%Widerruf%'")
            .await,
        1,
        "the reply waits for the next `withdrawals import` to write it into the outbox"
    );

    // The code was erased with the data: it opens nothing any more.
    browser
        .go(&format!(
            "{site}/t/recklinghausen/widerrufen?x=1&buchung={reference}"
        ))
        .await;
    browser.wait_for("#scope-all").await;
    browser.find("#code").await.type_in(&code).await;
    browser.find("#withdraw").await.click().await;
    let again = browser.wait_for("#result").await.text().await;
    assert!(again.contains("passt nicht"), "{again}");
    assert_eq!(
        db.count("select count(*) from requests where kind = 'withdrawal'")
            .await,
        1
    );

    browser.quit().await;
}

async fn fill_in_the_form(browser: &Browser) {
    for (field, value) in [
        ("#first_name", "Jörg"),
        ("#last_name", "Müller"),
        ("#email", "joerg@example.com"),
        ("#phone", "0171 7654321"),
    ] {
        browser.find(field).await.type_in(value).await;
    }
}

/// chromedriver on a free local port, in a process group of its own so that dropping it also
/// ends the Chromium it started.
struct Driver {
    child: Child,
    url: String,
    profile: tempfile::TempDir,
}

impl Driver {
    fn start() -> Driver {
        use std::os::unix::process::CommandExt;
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let profile = tempfile::tempdir().unwrap();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                profile.path().join("chromedriver.log").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            profile,
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One WebDriver session in headless Chromium.
struct Browser {
    client: reqwest::Client,
    session: String,
    closed: bool,
    // Dropped after the session is deleted (fields drop in order).
    driver: Driver,
}

/// An element of the current page.
struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Browser {
    async fn start() -> Browser {
        let driver = Driver::start();
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .unwrap();
        let started = Instant::now();
        loop {
            let ready = match client.get(format!("{}/status", driver.url)).send().await {
                Ok(r) => r.json::<Value>().await.ok(),
                Err(_) => None,
            };
            if ready.is_some_and(|v| v["value"]["ready"] == json!(true)) {
                break;
            }
            assert!(started.elapsed() < WAIT, "chromedriver did not come up");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let user_data_dir = driver.profile.path().join("chromium");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1024,900", "--lang=de-DE",
                    format!("--user-data-dir={}", user_data_dir.display()),
                ],
            },
        }}});
        let r = client
            .post(format!("{}/session", driver.url))
            .json(&caps)
            .send()
            .await
            .expect("chromedriver answers");
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        let session = body["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session ({status}): {body}"))
            .to_owned();
        Browser {
            client,
            session,
            closed: false,
            driver,
        }
    }

    /// One WebDriver command; its `value`, or a panic naming the command and the error.
    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.driver.url, self.session);
        let mut request = self.client.request(method.clone(), &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let r = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = r.status();
        let mut v: Value = r.json().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {v}");
        v["value"].take()
    }

    async fn get(&self, path: &str) -> Value {
        self.command(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.command(reqwest::Method::POST, path, Some(body)).await
    }

    async fn go(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    async fn url(&self) -> String {
        self.get("/url").await.as_str().unwrap().to_owned()
    }

    async fn source(&self) -> String {
        self.get("/source").await.as_str().unwrap().to_owned()
    }

    async fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let found = self
            .post(
                "/elements",
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        found
            .as_array()
            .unwrap()
            .iter()
            .map(|e| Element {
                browser: self,
                id: e[ELEMENT].as_str().unwrap().to_owned(),
            })
            .collect()
    }

    /// The first element matching `css`, which must be there.
    async fn find(&self, css: &str) -> Element<'_> {
        self.find_all(css)
            .await
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no {css} on the page"))
    }

    /// The first element matching `css`, waiting for a page still loading.
    async fn wait_for(&self, css: &str) -> Element<'_> {
        let started = Instant::now();
        loop {
            if let Some(e) = self.find_all(css).await.into_iter().next() {
                return e;
            }
            assert!(
                started.elapsed() < WAIT,
                "no {css} on {}:\n{}",
                self.url().await,
                self.source().await
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    async fn script(&self, script: &str, args: &[&Element<'_>]) -> Value {
        let args: Vec<Value> = args.iter().map(|e| json!({ ELEMENT: e.id })).collect();
        self.post("/execute/sync", json!({ "script": script, "args": args }))
            .await
    }

    /// A PNG of the whole page at the current width: the window is made as tall as the
    /// page first, then back to the height it had.
    async fn screenshot_of_whole_page(&self) -> Vec<u8> {
        let rect = self.get("/window/rect").await;
        let height = self
            .script("return document.documentElement.scrollHeight", &[])
            .await
            .as_i64()
            .unwrap();
        self.post(
            "/window/rect",
            json!({ "width": rect["width"], "height": height + 200 }),
        )
        .await;
        self.script("window.scrollTo(0, 0)", &[]).await;
        let png = self.get("/screenshot").await;
        self.post(
            "/window/rect",
            json!({ "width": rect["width"], "height": rect["height"] }),
        )
        .await;
        base64_decode(png.as_str().unwrap())
    }

    /// Makes the page's viewport `width` CSS pixels wide (the window's frame, if any, on top).
    async fn resize(&self, width: i64) {
        self.post("/window/rect", json!({ "width": width, "height": 900 }))
            .await;
        let inner = self
            .script("return window.innerWidth", &[])
            .await
            .as_i64()
            .unwrap();
        if inner != width {
            self.post(
                "/window/rect",
                json!({ "width": 2 * width - inner, "height": 900 }),
            )
            .await;
        }
    }

    /// The current page printed to A4 (WebDriver "Print Page"), as PDF bytes.
    async fn print_a4(&self) -> Vec<u8> {
        let pdf = self
            .post(
                "/print",
                json!({ "page": { "width": 21.0, "height": 29.7 }, "background": true }),
            )
            .await;
        base64_decode(pdf.as_str().unwrap())
    }

    async fn title(&self) -> String {
        self.get("/title").await.as_str().unwrap().to_owned()
    }

    async fn refresh(&self) {
        self.post("/refresh", json!({})).await;
    }

    async fn height_of(&self, e: &Element<'_>) -> f64 {
        self.script("return arguments[0].getBoundingClientRect().height", &[e])
            .await
            .as_f64()
            .unwrap()
    }

    /// How many line boxes an inline element takes, and where its right edge is.
    async fn lines_and_right_edge(&self, e: &Element<'_>) -> (i64, f64) {
        let v = self
            .script(
                "return [arguments[0].getClientRects().length, arguments[0].getBoundingClientRect().right]",
                &[e],
            )
            .await;
        (v[0].as_i64().unwrap(), v[1].as_f64().unwrap())
    }

    /// The checks every page gets: axe-core finds no WCAG 2.1 A/AA violation, nothing is
    /// wider than the viewport, and a screenshot of the whole page is kept.
    async fn check_page(&self, name: &str, width: i64, shots: &Screenshots) {
        let violations = self.axe().await;
        assert!(
            violations.is_empty(),
            "axe-core: {name} at {width} px ({}):\n{}",
            self.url().await,
            serde_json::to_string_pretty(&violations).unwrap()
        );
        let overflow = self
            .script(
                "return document.documentElement.scrollWidth - window.innerWidth",
                &[],
            )
            .await
            .as_i64()
            .unwrap();
        assert!(
            overflow <= 0,
            "{name} is {overflow} px wider than {width} px"
        );
        shots.save(name, width, &self.screenshot_of_whole_page().await);
    }

    /// The WCAG 2.1 A and AA violations axe-core finds in the current page. axe is put into
    /// the page through WebDriver, which the page's CSP (no scripts) does not govern.
    async fn axe(&self) -> Vec<Value> {
        const AXE: &str = include_str!("fixtures/axe/axe.min.js");
        let loaded = self
            .post(
                "/execute/sync",
                json!({ "script": format!("{AXE}\n;return typeof window.axe;"), "args": [] }),
            )
            .await;
        assert_eq!(loaded, json!("object"), "axe-core did not load");
        let result = self
            .post(
                "/execute/async",
                json!({ "script": r#"
                    const done = arguments[arguments.length - 1];
                    axe.run(document, { runOnly: { type: 'tag',
                        values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
                      .then(r => done({ ok: true, passes: r.passes.length, violations: r.violations.map(v => ({
                          id: v.id, impact: v.impact, help: v.help,
                          nodes: v.nodes.map(n => n.target.join(' ') + ' — ' + n.failureSummary) })) }))
                      .catch(e => done({ ok: false, error: String(e) }));
                "#, "args": [] }),
            )
            .await;
        assert_eq!(result["ok"], json!(true), "axe-core failed: {result}");
        assert!(
            result["passes"].as_i64().unwrap() > 5,
            "axe-core checked next to nothing: {result}"
        );
        result["violations"].as_array().unwrap().clone()
    }

    async fn quit(mut self) {
        self.command(reqwest::Method::DELETE, "", None).await;
        self.closed = true;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        // A failed test: end the session from a thread of its own (Drop cannot await).
        let url = format!("{}/session/{}", self.driver.url, self.session);
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let client = reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(10))
                    .build()
                    .unwrap();
                let _ = client.delete(url).send().await;
            });
        })
        .join();
    }
}

impl Element<'_> {
    fn path(&self, what: &str) -> String {
        format!("/element/{}/{what}", self.id)
    }

    async fn click(&self) {
        self.browser.post(&self.path("click"), json!({})).await;
    }

    async fn clear(&self) {
        self.browser.post(&self.path("clear"), json!({})).await;
    }

    async fn type_in(&self, text: &str) {
        self.browser
            .post(&self.path("value"), json!({ "text": text }))
            .await;
    }

    async fn text(&self) -> String {
        let v = self.browser.get(&self.path("text")).await;
        v.as_str().unwrap().trim().to_owned()
    }

    async fn attribute(&self, name: &str) -> String {
        let v = self
            .browser
            .get(&self.path(&format!("attribute/{name}")))
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    async fn property(&self, name: &str) -> Value {
        self.browser
            .get(&self.path(&format!("property/{name}")))
            .await
    }

    async fn selected(&self) -> bool {
        self.browser.get(&self.path("selected")).await == json!(true)
    }
}

/// The page objects of a PDF (`/Type /Page`, not `/Pages`), as Chromium writes them.
fn pdf_pages(pdf: &[u8]) -> usize {
    let text = String::from_utf8_lossy(pdf);
    text.match_indices("/Type")
        .filter(|(at, _)| {
            let rest = text[at + 5..].trim_start();
            rest.starts_with("/Page") && !rest.starts_with("/Pages")
        })
        .count()
}

/// Standard base64 (the screenshot), without a crate for it.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .map(value)
        .collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, d)| n | u32::from(*d) << (18 - 6 * i));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

#[test]
fn base64_decodes_what_webdriver_sends() {
    assert_eq!(base64_decode("aGVsbG8="), b"hello");
    assert_eq!(base64_decode("aGk="), b"hi");
    assert_eq!(base64_decode("YWJj"), b"abc");
}
