//! End to end in a real browser: a citizen books through the HTML pages in headless Chromium
//! and cancels with the code, on SQLite and PostgreSQL. Chromium is driven over chromedriver's
//! W3C WebDriver HTTP API with plain `reqwest` calls.
//!
//! Needs the Debian packages `chromium` and `chromium-driver` (`.ci/run` installs them). Without
//! them the test says it is skipped — unless `CI` is set, where a missing browser fails it.
//! `DATENWART_TEST_SCREENSHOT_DIR=DIR` keeps a copy of the form's screenshot in `DIR`.

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
    a_citizen_books_and_cancels_in_headless_chromium,
    a_citizen_withdraws_consent_on_the_page_in_headless_chromium
);

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

async fn a_citizen_books_and_cancels_in_headless_chromium(db: TestDb) {
    if !chromium_available() {
        return;
    }
    let (site, _stop) = start(&db).await;
    let browser = Browser::start().await;

    // Service → first free slot → form.
    browser.go(&format!("{site}/t/recklinghausen")).await;
    browser
        .wait_for("a[href='/t/recklinghausen/termine?service=PA']")
        .await
        .click()
        .await;
    let first_slot = browser.wait_for("ul.slots a").await;
    let form_path = first_slot.attribute("href").await;
    assert!(
        form_path.starts_with("/t/recklinghausen/buchen/"),
        "{form_path}"
    );
    first_slot.click().await;
    browser.wait_for("#first_name").await;
    assert!(browser.url().await.ends_with(&form_path));

    fill_in_the_form(&browser).await;
    browser.find("#consent").await.click().await;
    let png = browser.screenshot_of_whole_page().await;
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let shot = db.dir.path().join(format!("form-{:?}.png", db.kind));
    std::fs::write(&shot, &png).unwrap();
    if let Some(dir) = std::env::var_os("DATENWART_TEST_SCREENSHOT_DIR") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(&shot, Path::new(&dir).join(shot.file_name().unwrap())).unwrap();
    }
    browser.find("#book").await.click().await;

    // The confirmation shows the reference and the code once; the booking is stored.
    let reference = browser.wait_for("#reference").await.text().await;
    let code = browser.find("#code").await.text().await;
    assert!(reference.starts_with("T-"), "{reference}");
    assert_eq!(code.len(), 9, "{code}");
    let stored = format!(
        "select count(*) from bookings where reference = '{reference}' and status = 'booked'
           and first_name = 'Jörg' and last_name = 'Müller' and email = 'joerg@example.com'
           and phone = '+491717654321' and code_hash <> '{code}'"
    );
    assert_eq!(db.count(&stored).await, 1);
    assert_eq!(
        db.count("select count(*) from consents where purpose = 'booking'")
            .await,
        1
    );

    // Cancelling with the code frees the slot.
    browser
        .go(&format!("{site}/t/recklinghausen/absagen"))
        .await;
    browser
        .wait_for("#reference")
        .await
        .type_in(&reference)
        .await;
    browser.find("#code").await.type_in(&code).await;
    browser.find("#cancel").await.click().await;
    let result = browser.wait_for("#result").await.text().await;
    assert!(result.contains("ist abgesagt"), "{result}");
    assert_eq!(
        db.count(&format!(
            "select count(*) from bookings where reference = '{reference}'
               and status = 'cancelled' and cancelled_by = 'citizen'"
        ))
        .await,
        1
    );

    // Without consent the browser does not send the form: the checkbox is required.
    let form_url = format!("{site}{form_path}");
    browser.go(&form_url).await;
    fill_in_the_form(&browser).await;
    let consent = browser.find("#consent").await;
    assert!(!consent.selected().await);
    browser.find("#book").await.click().await;
    assert_eq!(browser.url().await, form_url);
    assert_eq!(
        browser
            .script("return arguments[0].validity.valueMissing", &[&consent])
            .await,
        json!(true),
        "the browser should hold the form back for the missing consent"
    );
    let posts =
        format!("select count(*) from access_log where method = 'POST' and path = '{form_path}'");
    assert_eq!(db.count(&posts).await, 1, "only the first booking was sent");

    // Without the `required` attribute the form goes out, and the server refuses it.
    browser
        .script("arguments[0].removeAttribute('required')", &[&consent])
        .await;
    browser.find("#book").await.click().await;
    let alert = browser.wait_for("p.error[role=alert]").await.text().await;
    assert!(
        alert.contains("Bitte die markierten Angaben prüfen"),
        "{alert}"
    );
    let source = browser.source().await;
    assert!(source.contains("Ohne Ihre Einwilligung"), "{source}");
    assert_eq!(
        browser.find("#email").await.property("value").await,
        json!("joerg@example.com"),
        "the form keeps what was typed"
    );
    assert_eq!(
        db.count(&format!("{posts} and status = 422 and booking_id is null"))
            .await,
        1
    );
    assert_eq!(db.count("select count(*) from bookings").await, 1);
    assert_eq!(db.count("select count(*) from consents").await, 1);

    browser.quit().await;
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
    browser.wait_for("ul.slots a").await.click().await;
    browser.wait_for("#first_name").await;
    fill_in_the_form(&browser).await;
    browser.find("#consent").await.click().await;
    browser.find("#book").await.click().await;
    let reference = browser.wait_for("#reference").await.text().await;
    let code = browser.find("#code").await.text().await;

    // The confirmation links the page; a wrong code is refused and changes nothing.
    browser.find("#withdraw-link").await.click().await;
    browser
        .wait_for("#reference")
        .await
        .type_in(&reference)
        .await;
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

    /// A PNG of the whole page: the window is made as tall as the page first.
    async fn screenshot_of_whole_page(&self) -> Vec<u8> {
        let height = self
            .script("return document.documentElement.scrollHeight", &[])
            .await
            .as_i64()
            .unwrap();
        self.post(
            "/window/rect",
            json!({ "width": 1024, "height": height + 200 }),
        )
        .await;
        self.script("window.scrollTo(0, 0)", &[]).await;
        let png = self.get("/screenshot").await;
        base64_decode(png.as_str().unwrap())
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
