//! The letters as PDF, read back with lopdf: A4, DIN 5008 address window with the address
//! given or on file, "Seite n von m" and the Aktenzeichen on every page, fonts embedded,
//! no text below 10 pt but the return address, tables that break across pages with their
//! header repeated, a known page count; on SQLite and PostgreSQL where a database is used.

mod common;

use chrono::{Duration, Utc};
use common::cli::{assert_exit, json, run, stderr};
use common::people::{self, Citizen};
use common::{TestDb, fixture, ready, shipped_policies};
use datenwart::ops::Context;
use datenwart::pdf::{Block, Letter, Window};
use lopdf::{Document, Object};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

on_both_backends!(
    an_auskunft_pdf_has_the_window_page_numbers_and_the_aktenzeichen_on_every_page,
    a_decision_letter_is_written_as_pdf_beside_the_html_with_the_address_given,
    a_bad_address_is_refused_before_anything_changes,
    the_breach_letter_is_written_as_pdf_too,
    a_withdrawal_by_letter_is_answered_by_a_pdf_letter_to_the_name_on_file,
);

const MARTINA: Citizen = Citizen {
    first: "Martina",
    last: "Lutz",
    email: "martina.lutz@example.com",
    phone: "0171 5550101",
};

/// What a test reads of a PDF: the pages' text, the sizes of the text on each page.
struct Read {
    doc: Document,
    pages: Vec<String>,
}

fn read(path: &Path) -> Read {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.starts_with(b"%PDF-"), "{} is no PDF", path.display());
    let doc = Document::load_mem(&bytes).expect("lopdf reads the PDF");
    let pages = doc
        .get_pages()
        .keys()
        .map(|n| doc.extract_text(&[*n]).expect("text of the page"))
        .collect();
    Read { doc, pages }
}

impl Read {
    /// Every page is A4 (595.28 × 841.89 pt).
    fn assert_a4(&self) {
        for (n, id) in self.doc.get_pages() {
            let page = self.doc.get_dictionary(id).unwrap();
            let media: Vec<f32> = page
                .get(b"MediaBox")
                .and_then(Object::as_array)
                .expect("a MediaBox on the page")
                .iter()
                .map(|o| o.as_float().unwrap())
                .collect();
            assert_eq!(media.len(), 4);
            assert!(
                media[0] == 0.0
                    && media[1] == 0.0
                    && (media[2] - 595.28).abs() < 0.1
                    && (media[3] - 841.89).abs() < 0.1,
                "page {n}: {media:?}"
            );
        }
    }

    /// Every font is a subset of an embedded TrueType font (FontFile2 in its descriptor).
    fn assert_fonts_embedded(&self) -> usize {
        let mut fonts = 0;
        for (_, object) in self.doc.objects.iter() {
            let Ok(dict) = object.as_dict() else { continue };
            if dict.get(b"Type").and_then(Object::as_name).ok() != Some(b"Font".as_slice()) {
                continue;
            }
            let subtype = dict.get(b"Subtype").and_then(Object::as_name).unwrap();
            if subtype == b"Type0" {
                continue; // its descendant CIDFontType2 is checked itself
            }
            fonts += 1;
            let descriptor = dict
                .get(b"FontDescriptor")
                .and_then(Object::as_reference)
                .and_then(|r| self.doc.get_dictionary(r))
                .expect("a font descriptor");
            assert!(
                descriptor.get(b"FontFile2").is_ok(),
                "font {:?} is not embedded",
                String::from_utf8_lossy(subtype)
            );
        }
        fonts
    }

    /// The type sizes (Tf) used on each page.
    fn sizes(&self) -> Vec<Vec<f32>> {
        self.doc
            .get_pages()
            .values()
            .map(|id| {
                let content = self.doc.get_and_decode_page_content(*id).unwrap();
                content
                    .operations
                    .iter()
                    .filter(|op| op.operator == "Tf")
                    .map(|op| op.operands[1].as_float().unwrap())
                    .collect()
            })
            .collect()
    }

    /// Nothing below 10 pt, but the return address above the window: one or two lines
    /// (at most `lines`) on the first page of each letter (`first_pages`, 0-based).
    fn assert_readable_sizes(&self, first_pages: &[usize], lines: usize) {
        for (n, sizes) in self.sizes().iter().enumerate() {
            assert!(!sizes.is_empty(), "page {} has no text", n + 1);
            let small: Vec<&f32> = sizes.iter().filter(|s| **s < 10.0).collect();
            let allowed = if first_pages.contains(&n) {
                1..=lines
            } else {
                0..=0
            };
            assert!(
                allowed.contains(&small.len()),
                "page {}: sizes {sizes:?}",
                n + 1
            );
            assert!(
                small.iter().all(|s| **s >= 6.0),
                "page {}: {small:?}",
                n + 1
            );
        }
    }

    /// "Seite n von m" and the Aktenzeichen on every page.
    fn assert_numbered(&self, reference: &str) {
        let total = self.pages.len();
        for (n, text) in self.pages.iter().enumerate() {
            let flat = flat(text);
            assert!(
                flat.contains(&format!("Seite {} von {total}", n + 1)),
                "page {}: {flat}",
                n + 1
            );
            assert!(
                flat.contains(&format!("Aktenzeichen {reference}")),
                "page {} lacks {reference}: {flat}",
                n + 1
            );
        }
    }
}

/// The text with line breaks and runs of spaces made single spaces.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn private(path: &Path) {
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", path.display());
}

/// The fixture services at Oer-Erkenschwick and `n` bookings of Martina there, on the
/// days after tomorrow.
async fn martina_with_bookings(db: &TestDb, n: usize) -> Context {
    let ctx = ready(db).await;
    let tenant = "oer-erkenschwick";
    datenwart::ops::seeding::import_services(&ctx, tenant, &fixture("services.csv"))
        .await
        .unwrap();
    let now = Utc::now();
    for d in 0..n {
        let day = (now + Duration::days(2 + d as i64)).date_naive();
        common::open_slots(&ctx, tenant, day, "09:00-09:20", 1).await;
        let slot = people::first_free_slot(&ctx, tenant, now).await;
        let request = people::booking_request(tenant, slot, now);
        people::book(&ctx, tenant, &MARTINA.form(slot), now, Some(request)).await;
    }
    ctx
}

async fn an_auskunft_pdf_has_the_window_page_numbers_and_the_aktenzeichen_on_every_page(
    db: TestDb,
) {
    let _ctx = martina_with_bookings(&db, 12).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("auskunft");
    let o = run(
        &db,
        &[
            "--format",
            "json",
            "export",
            "--email",
            MARTINA.email,
            "--tenant",
            "oer-erkenschwick",
            "--channel",
            "letter",
            "--identity-checked-by",
            "letter",
            "--out",
            out.to_str().unwrap(),
            "--address",
            "Frau Martina Lutz\\nLudwigstraße 34",
            "--address",
            "45739 Oer-Erkenschwick",
        ],
    );
    assert_exit(&o, 0);
    let report = json(&o);
    assert!(
        report["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "auskunft.pdf"),
        "{report}"
    );
    let request = report["tenants"][0]["request_id"].as_i64().unwrap();
    let reference = format!("DS-OE-{request}");
    let pdf = out.join("auskunft.pdf");
    private(&pdf);
    let r = read(&pdf);
    r.assert_a4();
    assert_eq!(r.assert_fonts_embedded(), 2, "regular and bold");
    r.assert_readable_sizes(&[0], 2);
    r.assert_numbered(&reference);
    let first = flat(&r.pages[0]);
    for line in [
        "Frau Martina Lutz",
        "Ludwigstraße 34",
        "45739 Oer-Erkenschwick",
    ] {
        assert!(first.contains(line), "the window lacks {line}: {first}");
    }
    assert!(first.contains("Auskunft über Ihre personenbezogenen Daten"));
    // Every booking is in it, each once, and the tables went on over pages.
    let all = flat(&r.pages.join("\n"));
    assert_eq!(all.matches("Terminbestätigung an Sie").count(), 12, "{all}");
    assert!(all.contains("12. Eintrag"));
    assert!(all.contains("Mit freundlichen Grüßen"));
    // Twelve bookings, each with its confirmation, its office copy and its log row: two
    // pages each at most, with the head and Art. 15(1) (the HTML printed 9 pages for two).
    // Not exact: the random booking references and the weekdays in the notifications'
    // texts can move a line break, and with it a row to the next page.
    assert!(
        (KNOWN_AUSKUNFT_PAGES - 1..=KNOWN_AUSKUNFT_PAGES + 1).contains(&r.pages.len()),
        "{} pages",
        r.pages.len()
    );
}

/// The page count of the Auskunft above, give or take one.
const KNOWN_AUSKUNFT_PAGES: usize = 24;

async fn a_decision_letter_is_written_as_pdf_beside_the_html_with_the_address_given(db: TestDb) {
    let _ctx = ready(&db).await;
    let o = run(
        &db,
        &[
            "--format",
            "json",
            "requests",
            "open",
            "--kind",
            "access",
            "--email",
            "nobody.here@example.org",
            "--tenant",
            "recklinghausen",
            "--channel",
            "letter",
        ],
    );
    assert_exit(&o, 0);
    let id = json(&o)[0]["id"].as_i64().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("vorgang");
    let o = run(
        &db,
        &[
            "--format",
            "json",
            "requests",
            "close",
            &id.to_string(),
            "--outcome",
            "no_data",
            "--out",
            out.to_str().unwrap(),
            "--address",
            "Herrn Jonas Beispiel\\nAm Markt 5\\n45657 Recklinghausen",
        ],
    );
    assert_exit(&o, 0);
    let html: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let pdf = html
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "pdf"))
        .expect("a PDF in the request's folder");
    assert!(pdf.with_extension("html").exists(), "{html:?}");
    private(pdf);
    let r = read(pdf);
    r.assert_a4();
    r.assert_fonts_embedded();
    r.assert_readable_sizes(&[0], 2);
    let reference = format!("DS-RE-{id}");
    r.assert_numbered(&reference);
    // The head, the answer, the remedies; the closing on a second page.
    assert_eq!(r.pages.len(), 2);
    let text = flat(&r.pages[0]);
    for line in [
        "Herrn Jonas Beispiel",
        "Am Markt 5",
        "45657 Recklinghausen",
        "keine Daten über Sie gespeichert",
        "Stadt Recklinghausen",
        "Ihre Rechtsbehelfe",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    assert!(flat(&r.pages[1]).contains("Mit freundlichen Grüßen"));
}

async fn a_bad_address_is_refused_before_anything_changes(db: TestDb) {
    let _ctx = martina_with_bookings(&db, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("auskunft");
    let o = run(
        &db,
        &[
            "export",
            "--email",
            MARTINA.email,
            "--tenant",
            "oer-erkenschwick",
            "--identity-checked-by",
            "letter",
            "--out",
            out.to_str().unwrap(),
            "--address",
            "1\\n2\\n3\\n4\\n5\\n6\\n7",
        ],
    );
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("--address: 7 lines"), "{}", stderr(&o));
    assert!(!out.exists());
    assert_eq!(db.count("select count(*) from requests").await, 0);
}

async fn the_breach_letter_is_written_as_pdf_too(db: TestDb) {
    let _ctx = ready(&db).await;
    let o = run(
        &db,
        &[
            "--format",
            "json",
            "breach",
            "add",
            "--tenant",
            "westendorf",
            "--description",
            "Fehlversand der Terminliste an eine falsche Verteilerliste",
            "--category",
            "email",
            "--category",
            "name",
            "--risk",
            "high",
        ],
    );
    assert_exit(&o, 0);
    let id = json(&o)["breach"].as_i64().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        &db,
        &[
            "--format",
            "json",
            "breach",
            "letter",
            &id.to_string(),
            "--out",
            dir.path().to_str().unwrap(),
            "--address",
            "Erika Muster\\nDorfstraße 2\\n91639 Wolframs-Eschenbach",
        ],
    );
    assert_exit(&o, 0);
    let pdf = PathBuf::from(json(&o)["pdf"].as_str().unwrap());
    private(&pdf);
    let r = read(&pdf);
    r.assert_a4();
    r.assert_fonts_embedded();
    r.assert_readable_sizes(&[0], 2);
    r.assert_numbered(&format!("DS-VGW-DP-{id}"));
    let text = flat(&r.pages.join("\n"));
    for line in [
        "Erika Muster",
        "Dorfstraße 2",
        "Art. 34 DSGVO",
        "Fehlversand der Terminliste",
        "Was können Sie tun?",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
}

async fn a_withdrawal_by_letter_is_answered_by_a_pdf_letter_to_the_name_on_file(db: TestDb) {
    let _ctx = martina_with_bookings(&db, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let (outbox, letters) = (dir.path().join("outbox"), dir.path().join("briefe"));
    let o = run(
        &db,
        &[
            "--format",
            "json",
            "withdrawals",
            "record",
            "--tenant",
            "oer-erkenschwick",
            "--email",
            MARTINA.email,
            "--channel",
            "letter",
            "--outbox",
            outbox.to_str().unwrap(),
            "--letters",
            letters.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 0);
    let report = json(&o);
    let request = report["request_id"].as_i64().unwrap();
    let pdf = PathBuf::from(report["letter"].as_str().expect("a letter"));
    assert!(pdf.starts_with(&letters), "{}", pdf.display());
    private(&pdf);
    let r = read(&pdf);
    r.assert_a4();
    r.assert_fonts_embedded();
    r.assert_readable_sizes(&[0], 2);
    r.assert_numbered(&format!("DS-OE-{request}"));
    let text = flat(&r.pages.join("\n"));
    // The name on file is in the window; this booking gave no postal address.
    for line in [
        "Martina Lutz",
        "E-Mail: martina.lutz@example.com",
        "Widerruf Ihrer Einwilligung",
        "Art. 7 Abs. 3 DSGVO",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    // A phone call is answered by e-mail only, and --address is for letters.
    let o = run(
        &db,
        &[
            "withdrawals",
            "record",
            "--tenant",
            "oer-erkenschwick",
            "--email",
            MARTINA.email,
            "--channel",
            "phone",
            "--outbox",
            outbox.to_str().unwrap(),
            "--address",
            "Martina Lutz",
        ],
    );
    assert_exit(&o, 2);
}

#[test]
fn the_record_of_processing_is_written_as_pdf() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("vvt.pdf");
    let o = common::cli::output({
        let mut c = common::cli::datenwart(&shipped_policies());
        c.args([
            "policy",
            "record",
            "--tenant",
            "recklinghausen",
            "--pdf",
            pdf.to_str().unwrap(),
        ]);
        c
    });
    assert_exit(&o, 0);
    let r = read(&pdf);
    r.assert_a4();
    r.assert_fonts_embedded();
    // No window, so no return address: nothing below 10 pt at all.
    r.assert_readable_sizes(&[], 0);
    r.assert_numbered("VVT-recklinghausen");
    let text = flat(&r.pages.join("\n"));
    for item in [
        "Verzeichnis von Verarbeitungstätigkeiten (Art. 30 Abs. 1 DSGVO)",
        "a) Verantwortlicher",
        "c) Betroffene Personen",
        "e) Übermittlung in Drittländer",
        "g) Technische und organisatorische Maßnahmen",
        "Verzeichnis der Auftragsverarbeiter (Art. 28 DSGVO)",
        "Bentjen Software GmbH",
    ] {
        assert!(text.contains(item), "{item}: {text}");
    }
    // The file exists now: a second run refuses to overwrite it.
    let o = common::cli::output({
        let mut c = common::cli::datenwart(&shipped_policies());
        c.args(["policy", "record", "--tenant", "recklinghausen", "--pdf"])
            .arg(&pdf);
        c
    });
    assert_exit(&o, 2);
}

/// A letter of a long table: 120 rows of varying height.
fn long_table() -> Letter {
    Letter {
        title: "Tabelle".into(),
        window: Some(Window {
            return_address: "Stadt Musterhausen · Markt 1 · 12345 Musterhausen".into(),
            lines: vec![
                "Erika Muster".into(),
                "Hauptstraße 1".into(),
                "12345 Musterhausen".into(),
            ],
        }),
        sender: datenwart::pdf::sender_lines(
            "Stadt Musterhausen",
            "Markt 1, 12345 Musterhausen",
            Some("+49 1234 5678"),
            "rathaus@musterhausen.example",
            None,
        ),
        fields: vec![("Aktenzeichen".into(), "DS-MU-7".into())],
        reference: "DS-MU-7".into(),
        footer: "Stadt Musterhausen".into(),
        blocks: vec![
            Block::Subject("Eine lange Tabelle".into()),
            Block::Paragraph("Guten Tag Erika Muster,".into()),
            Block::Table {
                columns: vec!["Nr.".into(), "Beschreibung".into(), "Kennung".into()],
                rows: (1..=120)
                    .map(|i| {
                        vec![
                            format!("Zeile {i}"),
                            "Wort ".repeat(i % 25),
                            format!("{i:0>64}"),
                        ]
                    })
                    .collect(),
            },
            Block::Closing(vec![
                "Mit freundlichen Grüßen".into(),
                "Stadt Musterhausen".into(),
            ]),
        ],
    }
}

#[test]
fn a_long_table_breaks_across_pages_with_its_header_on_each_and_a_known_page_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.pdf");
    let created = chrono::DateTime::parse_from_rfc3339("2026-12-01T09:00:00Z")
        .unwrap()
        .to_utc();
    std::fs::write(
        &path,
        datenwart::pdf::render(&[long_table()], created).unwrap(),
    )
    .unwrap();
    let r = read(&path);
    r.assert_a4();
    r.assert_readable_sizes(&[0], 2);
    r.assert_numbered("DS-MU-7");
    assert_eq!(r.pages.len(), KNOWN_TABLE_PAGES);
    // Every page that holds rows of the table starts them under its header row; the closing
    // may end on a page of its own.
    let with_rows = r
        .pages
        .iter()
        .filter(|text| flat(text).contains("Zeile "))
        .count();
    assert!(
        with_rows + 1 >= r.pages.len(),
        "{with_rows} pages with rows"
    );
    for (n, text) in r.pages.iter().enumerate() {
        let text = flat(text);
        if !text.contains("Zeile ") {
            continue;
        }
        assert!(
            text.contains("Nr. Beschreibung Kennung"),
            "page {}: the header row is repeated: {text}",
            n + 1
        );
    }
    // Every row once, in order, none lost at a page break; the 64-digit ids cut to fit.
    let all = flat(&r.pages.join("\n"));
    let mut at = 0;
    for i in 1..=120 {
        let row = format!("Zeile {i} ");
        let found = all[at..]
            .find(&row)
            .unwrap_or_else(|| panic!("row {i} missing"));
        at += found + row.len();
    }
    assert!(all.contains("Mit freundlichen Grüßen"));
}

const KNOWN_TABLE_PAGES: usize = 13;

#[test]
fn two_letters_in_one_file_are_numbered_each_on_its_own() {
    let mut second = long_table();
    second.reference = "DS-MU-8".into();
    second.blocks.truncate(2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.pdf");
    std::fs::write(
        &path,
        datenwart::pdf::render(&[long_table(), second], Utc::now()).unwrap(),
    )
    .unwrap();
    let r = read(&path);
    assert_eq!(r.pages.len(), KNOWN_TABLE_PAGES + 1);
    let last = flat(r.pages.last().unwrap());
    assert!(last.contains("Seite 1 von 1"), "{last}");
    assert!(last.contains("Aktenzeichen DS-MU-8"), "{last}");
    assert!(
        last.contains("Erika Muster"),
        "the second letter has its window"
    );
}
