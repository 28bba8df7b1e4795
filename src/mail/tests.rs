//! Tests of reading, parsing and replying against the fixtures in `tests/fixtures/mail/`.
//!
//! Maildirs are built in temporary directories from those fixtures: Maildir file names contain
//! `:`, which a checkout on Windows could not hold. The big attachment is generated, not
//! committed.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{TimeZone, Utc};

use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mail")
        .join(name)
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    fs::read(fixture(name)).expect("fixture exists")
}

fn parse_fixture(name: &str) -> ParsedMail {
    parse(&fixture_bytes(name)).expect("fixture parses")
}

fn origins(source: &Source) -> Vec<String> {
    read(source)
        .expect("source opens")
        .map(|m| m.expect("message reads").origin)
        .collect()
}

/// A Maildir with messages in new/ and cur/ in scrambled order, one in tmp/ and a dot file.
fn sample_maildir(root: &Path) {
    for sub in ["new", "cur", "tmp"] {
        fs::create_dir_all(root.join(sub)).unwrap();
    }
    let files = [
        ("new/1700000300.M3P1.host", "no-message-id.eml"),
        ("cur/1700000100.M10P1.host:2,S", "latin1-qp.eml"),
        ("cur/999999999.M1P1.host:2,RS", "cp1252.eml"),
        ("new/1700000100.M9P1.host", "utf8-base64.eml"),
        ("tmp/1700000050.M0P1.host", "alternative.eml"),
        ("cur/.1700000000.M0P1.host:2,S", "alternative.eml"),
    ];
    for (name, source) in files {
        fs::copy(fixture(source), root.join(name)).unwrap();
    }
}

// ---- reading ----

#[test]
fn a_maildir_is_read_from_new_and_cur_in_order_of_receipt_without_tmp() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    sample_maildir(&root);
    let expected: Vec<String> = [
        "cur/999999999.M1P1.host:2,RS",
        "new/1700000100.M9P1.host",
        "cur/1700000100.M10P1.host:2,S",
        "new/1700000300.M3P1.host",
    ]
    .iter()
    .map(|name| root.join(name).display().to_string())
    .collect();
    assert_eq!(origins(&Source::Maildir(root)), expected);
}

#[test]
fn maildir_messages_come_with_their_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    sample_maildir(&root);
    let first = read(&Source::Maildir(root))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(first.bytes, fixture_bytes("cp1252.eml"));
}

#[test]
fn a_message_moved_to_cur_after_listing_is_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    sample_maildir(&root);
    let mut messages = read(&Source::Maildir(root.clone())).unwrap();
    // A mail client marks the message as seen between listing and reading.
    fs::rename(
        root.join("new/1700000100.M9P1.host"),
        root.join("cur/1700000100.M9P1.host:2,S"),
    )
    .unwrap();
    messages.next().unwrap().unwrap();
    let moved = messages.next().unwrap().unwrap();
    assert_eq!(
        moved.origin,
        root.join("cur/1700000100.M9P1.host:2,S")
            .display()
            .to_string()
    );
    assert_eq!(moved.bytes, fixture_bytes("utf8-base64.eml"));
}

#[test]
fn a_maildir_message_deleted_after_listing_is_an_error_item_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    sample_maildir(&root);
    let messages = read(&Source::Maildir(root.clone())).unwrap();
    let gone = root.join("new/1700000100.M9P1.host");
    fs::remove_file(&gone).unwrap();
    let results: Vec<_> = messages.collect();
    assert_eq!(results.len(), 4);
    let error = results[1].as_ref().unwrap_err();
    assert_eq!(error.path(), gone);
    assert!(results[2].is_ok() && results[3].is_ok());
}

#[test]
fn a_directory_without_new_and_cur_is_not_a_maildir() {
    let dir = tempfile::tempdir().unwrap();
    let error = read(&Source::Maildir(dir.path().to_path_buf()))
        .err()
        .unwrap();
    assert!(matches!(error, ReadError::NotAMaildir { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains(&dir.path().display().to_string())
    );
}

#[test]
fn a_missing_maildir_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let error = read(&Source::Maildir(missing.clone())).err().unwrap();
    assert!(matches!(error, ReadError::Io { .. }));
    assert_eq!(error.path(), missing);
}

#[test]
fn an_mbox_is_read_in_file_order_with_numbered_origins() {
    let path = fixture("export.mbox");
    let expected: Vec<String> = (1..=3)
        .map(|n| format!("mbox:{}#{n}", path.display()))
        .collect();
    assert_eq!(origins(&Source::Mbox(path)), expected);
}

#[test]
fn from_quoting_in_an_mbox_is_undone() {
    let second = read(&Source::Mbox(fixture("export.mbox")))
        .unwrap()
        .nth(1)
        .unwrap()
        .unwrap();
    let text = String::from_utf8(second.bytes).unwrap();
    assert!(
        text.contains("\nFrom here on… bitte keine SMS mehr.\n"),
        "{text}"
    );
    assert!(text.contains("\n>From is quoted twice"), "{text}");
    assert!(!text.contains(">From here"));
    // The separator line before the next "From " belongs to the mbox, not to the message.
    assert!(text.ends_with("in the original.\n"), "{text:?}");
    let parsed = parse(text.as_bytes()).unwrap();
    assert_eq!(parsed.message_id.as_deref(), Some("mbox-2@example.org"));
    assert!(parsed.text.contains("From here on… bitte keine SMS mehr."));
}

#[test]
fn an_mbox_message_hashes_like_the_same_message_in_a_file() {
    let third = read(&Source::Mbox(fixture("export.mbox")))
        .unwrap()
        .nth(2)
        .unwrap()
        .unwrap();
    let as_file = String::from_utf8(third.bytes.clone())
        .unwrap()
        .replace("Message-ID: <mbox-3@example.com>\n", "")
        .replace('\n', "\r\n");
    let without_id = String::from_utf8(third.bytes)
        .unwrap()
        .replace("Message-ID: <mbox-3@example.com>\n", "");
    assert_eq!(
        parse(as_file.as_bytes()).unwrap().key,
        parse(without_id.as_bytes()).unwrap().key
    );
}

#[test]
fn a_file_that_is_not_an_mbox_is_refused_rather_than_read_as_empty() {
    let error = read(&Source::Mbox(fixture("latin1-qp.eml"))).err().unwrap();
    assert!(matches!(error, ReadError::NotAnMbox { .. }), "{error}");
}

#[test]
fn an_empty_mbox_has_no_messages() {
    assert!(origins(&Source::Mbox(fixture("empty.eml"))).is_empty());
}

#[test]
fn a_large_mbox_is_streamed_message_by_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.mbox");
    let mut mbox = String::new();
    for n in 0..2000 {
        mbox.push_str(&format!(
            "From x@example.org Tue Nov 14 10:14:00 2023\nMessage-ID: <{n}@x>\nSubject: {n}\n\nText {n}\n\n"
        ));
    }
    fs::write(&path, mbox).unwrap();
    let mut count = 0;
    for (n, message) in read(&Source::Mbox(path)).unwrap().enumerate() {
        let parsed = parse(&message.unwrap().bytes).unwrap();
        assert_eq!(parsed.key, format!("{n}@x"));
        count += 1;
    }
    assert_eq!(count, 2000);
}

#[test]
fn eml_files_are_read_in_the_order_given_and_a_missing_one_is_an_error_item() {
    let missing = fixture("does-not-exist.eml");
    let files = vec![
        fixture("utf8-base64.eml"),
        missing.clone(),
        fixture("cp1252.eml"),
    ];
    let results: Vec<_> = read(&Source::Files(files)).unwrap().collect();
    assert_eq!(results.len(), 3);
    assert_eq!(
        results[0].as_ref().unwrap().origin,
        fixture("utf8-base64.eml").display().to_string()
    );
    let error = results[1].as_ref().unwrap_err();
    assert_eq!(error.path(), missing);
    assert!(error.to_string().contains("does-not-exist.eml"));
    assert_eq!(
        results[2].as_ref().unwrap().bytes,
        fixture_bytes("cp1252.eml")
    );
}

// ---- parsing ----

#[test]
fn an_iso_8859_1_quoted_printable_body_keeps_its_umlauts() {
    let mail = parse_fixture("latin1-qp.eml");
    assert!(
        mail.text.contains(
            "ich möchte meine Einwilligung zur Speicherung zurückziehen.\nGrüße aus Köln"
        ),
        "{}",
        mail.text
    );
    assert!(!mail.text.contains('\r'));
}

#[test]
fn a_q_encoded_latin_1_subject_is_decoded() {
    let mail = parse_fixture("latin1-qp.eml");
    assert_eq!(mail.subject, "Widerruf meiner Einwilligung (Rückzug)");
}

#[test]
fn the_from_address_is_the_addr_spec_lowercased() {
    let mail = parse_fixture("latin1-qp.eml");
    assert_eq!(mail.from.as_deref(), Some("max.mustermann@example.de"));
}

#[test]
fn a_from_with_an_unquoted_comma_in_the_name_still_gives_the_address() {
    // Outlook address books hold "Last, First"; some gateways forward it unquoted, which
    // reads as a group of two mailboxes of which only the second has an address.
    let mail = parse(
        b"From: Schulte, Martina <M.Schulte@recklinghausen.de>\nTo: a@example.org\nSubject: x\n\nbody\n",
    )
    .unwrap();
    assert_eq!(mail.from.as_deref(), Some("m.schulte@recklinghausen.de"));
}

#[test]
fn recipients_come_from_to_cc_delivered_to_and_x_original_to_once_each() {
    let mail = parse_fixture("latin1-qp.eml");
    assert_eq!(
        mail.recipients,
        [
            "datenschutz@stadt-musterhausen.de",
            "widerruf@stadt-musterhausen.de",
            "buergerbuero@stadt-musterhausen.de",
        ]
    );
}

#[test]
fn the_top_received_header_gives_the_time_of_receipt() {
    let mail = parse_fixture("latin1-qp.eml");
    // 10:15:30 +0100 of the top header, not 09:14 of the one below nor the Date header.
    assert_eq!(
        mail.received,
        Some(Utc.with_ymd_and_hms(2023, 11, 14, 9, 15, 30).unwrap())
    );
    assert_eq!(
        mail.message_id.as_deref(),
        Some("20231114091400.1234@smtp.example.de")
    );
    assert_eq!(mail.key, "20231114091400.1234@smtp.example.de");
    assert!(mail.auth_results.is_empty());
}

#[test]
fn a_windows_1252_body_and_a_raw_8_bit_subject_are_decoded() {
    let mail = parse_fixture("cp1252.eml");
    assert_eq!(mail.subject, "Löschung meiner Daten");
    assert!(
        mail.text
            .contains("bitte „löschen“ Sie meine Daten – die Gebühr von 5 € habe ich bezahlt."),
        "{}",
        mail.text
    );
}

#[test]
fn a_base64_utf_8_body_and_a_b_encoded_subject_are_decoded() {
    let mail = parse_fixture("utf8-base64.eml");
    assert_eq!(mail.subject, "Widerruf SMS-Erinnerung – Jürgen");
    assert_eq!(
        mail.text,
        "Hallo,\n\nich widerrufe hiermit meine Zustimmung zur Erinnerung per SMS.\nViele Grüße\nJürgen Weiß"
    );
}

#[test]
fn authentication_results_headers_are_parsed_top_first() {
    let mail = parse_fixture("utf8-base64.eml");
    assert!(!mail.auth_results.is_empty());
    assert!(
        mail.auth_results
            .iter()
            .flat_map(|h| &h.results)
            .any(|r| r.method == "dmarc" && r.result == "fail")
    );
}

#[test]
fn in_reply_to_and_references_are_kept_without_brackets() {
    let mail = parse_fixture("utf8-base64.eml");
    assert_eq!(
        mail.in_reply_to_id.as_deref(),
        Some("termin-42@stadt-musterhausen.de")
    );
    assert_eq!(
        mail.references,
        [
            "termin-41@stadt-musterhausen.de",
            "termin-42@stadt-musterhausen.de"
        ]
    );
}

#[test]
fn the_plain_part_of_multipart_alternative_is_chosen() {
    let mail = parse_fixture("alternative.eml");
    assert_eq!(
        mail.text,
        "Ich bitte um Auskunft über meine Daten (PLAIN-VERSION)."
    );
}

#[test]
fn an_html_only_body_becomes_text_without_tags_and_with_entities_decoded() {
    let mail = parse_fixture("html-only.eml");
    assert_eq!(
        mail.text,
        "Bitte löschen Sie meine Daten & sagen Sie den Termin ab.\n\
         Mit freundlichen Grüßen\n\
         Peter Schmidt\n\
         > Ihr Termin wurde bestätigt."
    );
    assert_eq!(mail.subject, "AW: Ihr Termin am 20.11.");
}

#[test]
fn a_big_attachment_is_ignored_and_parsed_quickly() {
    let mut raw = String::from(
        "From: a@example.org\r\nTo: datenschutz@stadt-musterhausen.de\r\nSubject: Anhang\r\n\
         Message-ID: <big@example.org>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n\
         --XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSiehe Anhang, bitte löschen.\r\n\
         --XX\r\nContent-Type: application/pdf; name=\"scan.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"scan.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n",
    );
    let line = "JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFIvRmlsdGVyIC9GbGF0ZUR\r\n";
    while raw.len() < 5 * 1024 * 1024 {
        raw.push_str(line);
    }
    raw.push_str("--XX--\r\n");
    let started = Instant::now();
    let mail = parse(raw.as_bytes()).unwrap();
    // Measured, not asserted: about 0.3 s in a debug build, most of it base64 decoding.
    eprintln!("5 MB message parsed in {:?}", started.elapsed());
    assert_eq!(mail.text, "Siehe Anhang, bitte löschen.");
    assert_eq!(mail.key, "big@example.org");
}

#[test]
fn a_message_without_message_id_is_keyed_by_the_hash_of_its_bytes() {
    let mail = parse_fixture("no-message-id.eml");
    assert_eq!(mail.message_id, None);
    let hex = mail.key.strip_prefix("sha256:").expect("hash key");
    assert_eq!(hex.len(), 64);
    assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
    // Same message with LF line ends: same key; another message: another key.
    let lf = String::from_utf8(fixture_bytes("no-message-id.eml"))
        .unwrap()
        .replace("\r\n", "\n");
    assert_eq!(parse(lf.as_bytes()).unwrap().key, mail.key);
    let other = lf.replace("Widerruf", "Widerspruch");
    assert_ne!(parse(other.as_bytes()).unwrap().key, mail.key);
}

#[test]
fn unreadable_bytes_have_one_key_whatever_the_line_ends() {
    // What an mbox makes of a truncated file: a line end added, the envelope line on top.
    let file = b"Return-Path: <sophie.wag";
    assert!(parse(file).is_err());
    assert_eq!(hash_key(file), hash_key(b"Return-Path: <sophie.wag\n"));
    assert_eq!(
        hash_key(file),
        hash_key(b"From MAILER-DAEMON Fri Nov 20 17:17:17 2026\nReturn-Path: <sophie.wag\r\n")
    );
    assert_ne!(hash_key(file), hash_key(b"Return-Path: <sophie.wagner"));
    // A readable message without Message-ID is keyed the same way.
    let mail = parse_fixture("no-message-id.eml");
    assert_eq!(mail.key, hash_key(&fixture_bytes("no-message-id.eml")));
}

#[test]
fn without_received_headers_the_date_header_gives_the_time() {
    let mail = parse_fixture("no-message-id.eml");
    assert_eq!(
        mail.received,
        Some(Utc.with_ymd_and_hms(2023, 11, 19, 18, 0, 0).unwrap())
    );
    assert_eq!(mail.in_reply_to_id, None);
    assert!(mail.references.is_empty());
}

#[test]
fn a_qmail_style_received_header_still_gives_its_date() {
    let raw = b"Received: (qmail 4711 invoked by uid 89); 14 Nov 2023 10:00:00 -0000\r\n\
                Received: from x by y; Mon, 13 Nov 2023 10:00:00 +0000\r\n\
                From: a@example.org\r\nDate: Sun, 12 Nov 2023 10:00:00 +0000\r\n\r\nText\r\n";
    assert_eq!(
        parse(raw).unwrap().received,
        Some(Utc.with_ymd_and_hms(2023, 11, 14, 10, 0, 0).unwrap())
    );
}

#[test]
fn a_top_received_header_without_a_date_falls_back_to_the_date_header() {
    let raw = b"Received: by localhost (Postfix, from userid 1000)\r\n\
                Received: from x by y; Mon, 13 Nov 2023 10:00:00 +0000\r\n\
                From: a@example.org\r\nDate: Sun, 12 Nov 2023 10:00:00 +0000\r\n\r\nText\r\n";
    assert_eq!(
        parse(raw).unwrap().received,
        Some(Utc.with_ymd_and_hms(2023, 11, 12, 10, 0, 0).unwrap())
    );
}

#[test]
fn a_garbage_file_is_unreadable() {
    let error = parse(&fixture_bytes("garbage.eml")).unwrap_err();
    assert!(
        error.to_string().starts_with("unreadable message: "),
        "{error}"
    );
}

#[test]
fn an_empty_file_is_unreadable() {
    assert_eq!(
        parse(&fixture_bytes("empty.eml")).unwrap_err(),
        Unreadable("empty".into())
    );
    assert!(parse(b" \r\n\r\n").is_err());
}

#[test]
fn prose_with_a_colon_is_not_taken_for_a_header() {
    assert!(parse(b"Dear sir: please delete my data.\n\nThanks").is_err());
    assert!(parse(b"just some text\nwith lines: and a colon\n").is_err());
}

#[test]
fn headers_without_any_identifying_field_are_unreadable() {
    assert!(parse(b"X-Foo: bar\nX-Bar: baz\n\nbody\n").is_err());
}

#[test]
fn a_message_cut_off_in_its_headers_still_yields_what_is_there() {
    let mail = parse(b"From: a@example.org\r\nSubject: Widerruf\r\nTo: datens").unwrap();
    assert_eq!(mail.from.as_deref(), Some("a@example.org"));
    assert_eq!(mail.subject, "Widerruf");
    assert_eq!(mail.text, "");
}

#[test]
fn a_from_that_is_not_an_address_gives_none() {
    let mail = parse(b"From: Max Mustermann\nSubject: x\n\nbody\n").unwrap();
    assert_eq!(mail.from, None);
    let mail = parse(b"Subject: x\n\nbody\n").unwrap();
    assert_eq!(mail.from, None);
    assert!(mail.recipients.is_empty());
}

#[test]
fn an_mbox_envelope_line_on_top_of_an_eml_is_skipped() {
    let mut raw = b"From erika@example.org Wed Nov 15 08:00:00 2023\r\n".to_vec();
    raw.extend(fixture_bytes("cp1252.eml"));
    let mail = parse(&raw).unwrap();
    assert_eq!(mail.from.as_deref(), Some("erika@example.org"));
    assert_eq!(mail.key, "cp1252@example.org");
}

// ---- replying ----

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2023, 11, 20, 8, 30, 0).unwrap()
}

#[test]
fn a_reply_parses_back_with_its_headers_and_umlauts_intact() {
    let original = parse_fixture("utf8-base64.eml");
    let body = "Sehr geehrter Herr Weiß,\n\nIhre Einwilligung in SMS-Erinnerungen ist widerrufen. \
                Künftige Erinnerungen erhalten Sie nur noch per E-Mail; Ihre übrigen Daten bleiben \
                für die Terminverwaltung gespeichert.\n\n= Ende =   \nFrom here on: nichts mehr.\n\
                \nMit freundlichen Grüßen\nIhre Stadtverwaltung Musterhausen\n";
    let eml = reply_eml(
        "Stadt Musterhausen – Datenschutz <widerruf@stadt-musterhausen.de>",
        original.from.as_deref().unwrap(),
        &original,
        &original.subject,
        body,
        now(),
    );
    let reply = parse(eml.as_bytes()).expect("reply parses");
    assert_eq!(
        reply.from.as_deref(),
        Some("widerruf@stadt-musterhausen.de")
    );
    assert_eq!(reply.recipients, ["juergen@example.net"]);
    assert_eq!(reply.subject, "Re: Widerruf SMS-Erinnerung – Jürgen");
    assert_eq!(reply.received, Some(now()));
    assert_eq!(reply.in_reply_to_id.as_deref(), Some("b64-1@example.net"));
    assert_eq!(
        reply.references,
        [
            "termin-41@stadt-musterhausen.de",
            "termin-42@stadt-musterhausen.de",
            "b64-1@example.net"
        ]
    );
    let id = reply.message_id.expect("reply has a Message-ID");
    assert!(id.ends_with("@datenwart.invalid"), "{id}");
    // Trailing spaces and a line starting with "From " survive the transfer encoding.
    assert_eq!(reply.text, body.trim_end());
}

#[test]
fn a_reply_is_well_formed_rfc_5322() {
    let original = parse_fixture("latin1-qp.eml");
    let eml = reply_eml(
        "datenschutz@stadt-musterhausen.de",
        "max.mustermann@example.de",
        &original,
        "",
        &format!("{}\n", "Lange Zeile mit Umlauten äöü ".repeat(20)),
        now(),
    );
    let (head, body) = eml.split_once("\r\n\r\n").expect("header and body");
    assert!(eml.is_ascii(), "only ASCII on the wire");
    assert!(!eml.replace("\r\n", "").contains('\n'), "CRLF only");
    assert!(eml.lines().all(|l| l.len() <= 78), "{eml}");
    for header in [
        "From: datenschutz@stadt-musterhausen.de",
        "To: max.mustermann@example.de",
        "Date: Mon, 20 Nov 2023 08:30:00 +0000",
        "In-Reply-To: <20231114091400.1234@smtp.example.de>",
        "References: <20231114091400.1234@smtp.example.de>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        "Auto-Submitted: auto-replied",
    ] {
        assert!(
            head.lines().any(|l| l == header),
            "{header} missing:\n{head}"
        );
    }
    assert!(head.contains("Subject: =?utf-8?B?"), "{head}");
    assert!(body.ends_with("\r\n"));
    let reply = parse(eml.as_bytes()).unwrap();
    // An empty subject argument answers to the original's subject.
    assert_eq!(reply.subject, "Re: Widerruf meiner Einwilligung (Rückzug)");
    assert_eq!(
        reply.text,
        "Lange Zeile mit Umlauten äöü ".repeat(20).trim_end()
    );
}

#[test]
fn a_subject_already_starting_with_re_or_aw_gets_no_second_prefix() {
    let original = parse_fixture("html-only.eml");
    let eml = reply_eml("a@x.de", "b@y.de", &original, "", "Text", now());
    assert_eq!(
        parse(eml.as_bytes()).unwrap().subject,
        "AW: Ihr Termin am 20.11."
    );
    let eml = reply_eml("a@x.de", "b@y.de", &original, "RE: Frage", "Text", now());
    assert_eq!(parse(eml.as_bytes()).unwrap().subject, "RE: Frage");
}

#[test]
fn a_reply_to_a_message_without_ids_has_no_in_reply_to() {
    let original = parse_fixture("no-message-id.eml");
    let eml = reply_eml("a@x.de", "b@y.de", &original, "Widerruf", "Text", now());
    assert!(!eml.contains("In-Reply-To:"));
    assert!(!eml.contains("References:"));
    assert_eq!(parse(eml.as_bytes()).unwrap().subject, "Re: Widerruf");
}

#[test]
fn line_breaks_in_the_subject_cannot_inject_headers() {
    let original = parse_fixture("no-message-id.eml");
    let eml = reply_eml(
        "a@x.de",
        "b@y.de",
        &original,
        "Hallo\r\nBcc: victim@example.org",
        "Text",
        now(),
    );
    assert!(!eml.lines().any(|l| l.starts_with("Bcc:")), "{eml}");
    let reply = parse(eml.as_bytes()).unwrap();
    assert_eq!(reply.subject, "Re: Hallo Bcc: victim@example.org");
}

#[test]
fn message_ids_differ_between_replies_and_over_time() {
    let original = parse_fixture("latin1-qp.eml");
    let id = |body: &str, at| {
        parse(reply_eml("a@x.de", "b@y.de", &original, "", body, at).as_bytes())
            .unwrap()
            .message_id
            .unwrap()
    };
    let later = now() + chrono::Duration::nanoseconds(1);
    assert_ne!(id("Text", now()), id("Text", later));
    assert_ne!(id("Text", now()), id("Anderer Text", now()));
    assert_eq!(id("Text", now()), id("Text", now()));
}
