//! `datenwart send` against an SMTP server as an office runs one: STARTTLS (`smtp://`) or
//! implicit TLS (`smtps://`), AUTH required, a certificate of the office's own CA (made for
//! the test). Delivered when told to trust that CA (`--smtp-ca-file`), refused otherwise;
//! a wrong password is refused; the password never appears in the output.

#[macro_use]
mod common;

use chrono::Duration;
use common::cli::{self, assert_exit, stderr, stdout};
use common::people::{self, Citizen};
use common::smtp::{SmtpServer, TlsKind};
use common::{TestDb, fixture, ready, shipped_policies};
use datenwart::ops::{Context, seeding};
use std::process::{Command, Output};

const OE: &str = "oer-erkenschwick";
const USER: &str = "buergerbuero";
const PASSWORD: &str = "Sommer-2026-geheim";

const CARLA: Citizen = Citizen {
    first: "Carla",
    last: "Weiß",
    email: "carla.weiss@example.net",
    phone: "0171 5550123",
};

async fn setup(db: &TestDb) -> Context {
    let ctx = ready(db).await;
    seeding::import_services(&ctx, OE, &fixture("services.csv"))
        .await
        .unwrap();
    let now = datenwart::domain::time::now();
    let day = (now + Duration::days(3)).date_naive();
    common::open_slots(&ctx, OE, day, "08:00-12:00", 20).await;
    let slot = people::first_free_slot(&ctx, OE, now).await;
    people::book(&ctx, OE, &CARLA.form(slot), now, None).await;
    ctx
}

/// `datenwart send --smtp-url URL ARGS…` with the password in the environment (or not).
fn send(db: &TestDb, server: &SmtpServer, password: Option<&str>, args: &[&str]) -> Output {
    let url = server.url();
    let mut all = vec!["send", "--smtp-url", url.as_str()];
    all.extend_from_slice(args);
    let mut cmd: Command = cli::command(&db.url, &shipped_policies(), &all);
    cmd.env_remove("DATENWART_SMS_URL");
    match password {
        Some(p) => cmd.env("DATENWART_SMTP_PASSWORD", p),
        None => cmd.env_remove("DATENWART_SMTP_PASSWORD"),
    };
    let out = cli::output(cmd);
    for secret in [PASSWORD, "falsch-geraten"] {
        assert!(
            !stdout(&out).contains(secret) && !stderr(&out).contains(secret),
            "the password in the output:\n{}\n{}",
            stdout(&out),
            stderr(&out)
        );
    }
    out
}

async fn queued(db: &TestDb) -> i64 {
    db.count("select count(*) from notifications where channel = 'email' and status = 'queued'")
        .await
}

on_both_backends!(
    starttls_with_auth_delivers_only_when_the_offices_ca_is_trusted,
    implicit_tls_with_auth_delivers_with_the_password_from_a_file,
);

async fn starttls_with_auth_delivers_only_when_the_offices_ca_is_trusted(db: TestDb) {
    let Some(server) = SmtpServer::start_tls(TlsKind::StartTls, USER, PASSWORD) else {
        return;
    };
    let ca = server.tls.as_ref().unwrap().ca_file.clone();
    setup(&db).await;

    // The server's certificate is not from a public CA: refused, nothing sent or claimed.
    let out = send(&db, &server, Some(PASSWORD), &[]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("cannot deliver through smtp://buergerbuero@127.0.0.1"),
        "{}",
        stderr(&out)
    );
    assert!(server.received().is_empty());
    assert_eq!(queued(&db).await, 2);
    assert!(
        server.auth_log().is_empty(),
        "no login before the certificate is trusted"
    );

    // A wrong password: the server refuses the login (535), nothing is sent.
    let ca_arg = ca.to_str().unwrap();
    let out = send(
        &db,
        &server,
        Some("falsch-geraten"),
        &["--smtp-ca-file", ca_arg],
    );
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("(535)"), "{}", stderr(&out));
    assert_eq!(server.auth_log(), format!("refused {USER}\n"));
    assert_eq!(queued(&db).await, 2);

    // No password at all for a URL with a user: a usage error.
    let out = send(&db, &server, None, &["--smtp-ca-file", ca_arg]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("DATENWART_SMTP_PASSWORD"),
        "{}",
        stderr(&out)
    );

    // Told to trust the office's CA: delivered over STARTTLS after AUTH.
    let out = send(&db, &server, Some(PASSWORD), &["--smtp-ca-file", ca_arg]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("sent 2"), "{}", stdout(&out));
    assert_eq!(server.received_by(CARLA.email).len(), 1);
    assert_eq!(server.received().len(), 2);
    assert!(server.auth_log().ends_with(&format!("ok {USER}\n")));
    assert_eq!(queued(&db).await, 0);

    // A CA file that is no certificate: a usage error naming it.
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("ca.pem");
    std::fs::write(&junk, "kein Zertifikat\n").unwrap();
    let out = send(
        &db,
        &server,
        Some(PASSWORD),
        &["--smtp-ca-file", junk.to_str().unwrap()],
    );
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("CA file"), "{}", stderr(&out));
}

async fn implicit_tls_with_auth_delivers_with_the_password_from_a_file(db: TestDb) {
    let Some(server) = SmtpServer::start_tls(TlsKind::Implicit, USER, PASSWORD) else {
        return;
    };
    let ca = server.tls.as_ref().unwrap().ca_file.clone();
    setup(&db).await;
    assert!(server.url().starts_with("smtps://"), "{}", server.url());

    let out = send(&db, &server, Some(PASSWORD), &[]);
    assert_exit(&out, 1);
    assert!(server.received().is_empty());

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("smtp.password");
    std::fs::write(&file, format!("{PASSWORD}\n")).unwrap();
    let out = send(
        &db,
        &server,
        None,
        &[
            "--smtp-ca-file",
            ca.to_str().unwrap(),
            "--smtp-password-file",
            file.to_str().unwrap(),
        ],
    );
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("sent 2"), "{}", stdout(&out));
    assert_eq!(server.received_by(CARLA.email).len(), 1);
    let log = server.auth_log();
    assert!(
        log.starts_with(&format!("ok {USER}\n")) && !log.contains("refused"),
        "{log}"
    );
}
