//! Letters as PDF: the one document model every letter fills (the Auskunft, the Art. 12
//! and 18(3) letters, the breach letter, the reply to a withdrawal by letter, the Art. 30
//! record), laid out on A4 after DIN 5008 form B and written as PDF/A-2b.
//!
//! A [`Letter`] is the sender, the address window, the information block's fields, the
//! Aktenzeichen and a list of [`Block`]s (subject, headings, paragraphs, lists, key-value
//! lists, tables). Each letter kind builds it from the same values its HTML template gets —
//! no HTML is parsed. [`render`] lays the letters out (`layout`: line breaking by the
//! measured glyph advances of the embedded font, tables breaking across pages with their
//! header repeated, "Seite n von m" and the Aktenzeichen in every page's foot) and writes
//! them with krilla: DejaVu Sans (regular and bold, committed in `assets/fonts/` with its
//! license) is embedded as a subset, checked against PDF/A-2b by krilla's validator. No
//! browser, no font of the machine is used.

mod layout;

use chrono::{DateTime, Datelike, Timelike, Utc};
use krilla::color::luma;
use krilla::configure::{Archival, ConfigurationBuilder};
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::{DateTime as PdfDateTime, Metadata};
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::text::{Font, TextDirection};
use krilla::{Document, SerializeSettings};

pub use layout::WINDOW_LINES;

static REGULAR: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

/// One letter (or record): what the first page's head shows and the body.
#[derive(Clone, Debug, Default)]
pub struct Letter {
    /// The document's title (PDF metadata).
    pub title: String,
    /// The address window; `None` for a document that is not sent (the Art. 30 record).
    pub window: Option<Window>,
    /// The information block's first part: the sender's name (bold, also the letterhead),
    /// then its address, phone, e-mail, one line each.
    pub sender: Vec<String>,
    /// The information block's labelled fields (Aktenzeichen, Ihr Antrag vom, Datum …).
    pub fields: Vec<(String, String)>,
    /// The Aktenzeichen, printed in every page's foot.
    pub reference: String,
    /// Printed before the Aktenzeichen in the foot (the sender's name).
    pub footer: String,
    pub blocks: Vec<Block>,
}

/// The address field of DIN 5008 form B.
#[derive(Clone, Debug, Default)]
pub struct Window {
    /// The sender in one line above the address (made smaller to fit the window).
    pub return_address: String,
    /// Up to [`WINDOW_LINES`] lines: name, street, postcode and town.
    pub lines: Vec<String>,
}

/// A piece of the letter's body, in reading order.
#[derive(Clone, Debug, PartialEq)]
pub enum Block {
    /// The subject line (Betreff), bold.
    Subject(String),
    /// A section heading with a rule below it.
    Heading(String),
    /// A heading inside a section.
    Subheading(String),
    Paragraph(String),
    /// A paragraph that is the answer itself: bold, with a bar beside it.
    Emphasis(String),
    /// An explanation in grey (still 10 pt).
    Small(String),
    /// A bulleted list.
    List(Vec<String>),
    /// A two-column table of label and value (one record of many fields).
    KeyValue(Vec<(String, String)>),
    /// A table with a header row that is repeated where it continues on a new page.
    Table {
        columns: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    /// The closing lines, kept together on one page.
    Closing(Vec<String>),
}

/// Why a PDF could not be written (krilla refused it, e.g. PDF/A validation).
#[derive(Debug, thiserror::Error)]
#[error("cannot write the PDF: {0}")]
pub struct PdfError(String);

/// Writes the letters into one PDF, each starting on a new page and numbered on its own
/// ("Seite 1 von 3" counts the pages of that letter). `created` is the document's date.
pub fn render(letters: &[Letter], created: DateTime<Utc>) -> Result<Vec<u8>, PdfError> {
    let measure = layout::Fonts::new(REGULAR, BOLD);
    let regular = Font::new(REGULAR.to_vec().into(), 0).expect("the embedded font loads");
    let bold = Font::new(BOLD.to_vec().into(), 0).expect("the embedded font loads");
    let configuration = ConfigurationBuilder::new()
        .with_archival_validator(Archival::A2_B)
        .finish()
        .map_err(|e| PdfError(format!("{e:?}")))?;
    let settings = SerializeSettings {
        configuration,
        ..SerializeSettings::default()
    };
    let mut document = Document::new_with(settings);
    let title = letters.first().map(|l| l.title.clone()).unwrap_or_default();
    document.set_metadata(
        Metadata::new()
            .title(title)
            .language("de-DE".into())
            .creator("datenwart".into())
            .creation_date(
                PdfDateTime::new(created.year() as u16)
                    .month(created.month() as u8)
                    .day(created.day() as u8)
                    .hour(created.hour() as u8)
                    .minute(created.minute() as u8)
                    .second(created.second() as u8)
                    .utc_offset_hour(0)
                    .utc_offset_minute(0),
            ),
    );
    let size = PageSettings::from_wh(layout::PAGE_WIDTH, layout::PAGE_HEIGHT)
        .expect("A4 is a valid page size");
    for letter in letters {
        for page in layout::pages(&measure, letter) {
            let mut pdf_page = document.start_page_with(size.clone());
            let mut surface = pdf_page.surface();
            for op in page.ops {
                match op {
                    layout::Op::Text {
                        x,
                        y,
                        size,
                        bold: is_bold,
                        gray,
                        text,
                    } => {
                        surface.set_stroke(None);
                        surface.set_fill(Some(fill(gray)));
                        let font = if is_bold {
                            bold.clone()
                        } else {
                            regular.clone()
                        };
                        surface.draw_text(
                            Point::from_xy(x, y),
                            font,
                            size,
                            &text,
                            false,
                            TextDirection::LeftToRight,
                        );
                    }
                    layout::Op::Line {
                        x1,
                        y1,
                        x2,
                        y2,
                        width,
                    } => {
                        let mut path = PathBuilder::new();
                        path.move_to(x1, y1);
                        path.line_to(x2, y2);
                        if let Some(path) = path.finish() {
                            surface.set_fill(None);
                            surface.set_stroke(Some(Stroke {
                                paint: luma::Color::new(60).into(),
                                width,
                                ..Stroke::default()
                            }));
                            surface.draw_path(&path);
                        }
                    }
                    layout::Op::Fill { x, y, w, h, gray } => {
                        if let Some(rect) = Rect::from_xywh(x, y, w, h) {
                            let mut path = PathBuilder::new();
                            path.push_rect(rect);
                            if let Some(path) = path.finish() {
                                surface.set_stroke(None);
                                surface.set_fill(Some(fill(gray)));
                                surface.draw_path(&path);
                            }
                        }
                    }
                }
            }
            surface.finish();
            pdf_page.finish();
        }
    }
    document.finish().map_err(|e| PdfError(format!("{e:?}")))
}

fn fill(gray: u8) -> Fill {
    Fill {
        paint: luma::Color::new(gray).into(),
        ..Fill::default()
    }
}

/// The sender's lines for the information block: the name, the address split at commas,
/// then phone, e-mail and website where known.
pub fn sender_lines(
    name: &str,
    address: &str,
    phone: Option<&str>,
    email: &str,
    website: Option<&str>,
) -> Vec<String> {
    let mut lines = vec![name.to_owned()];
    lines.extend(
        address
            .split(',')
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty()),
    );
    if let Some(p) = phone {
        lines.push(format!("Telefon {p}"));
    }
    lines.push(format!("E-Mail {email}"));
    if let Some(w) = website {
        lines.push(w.to_owned());
    }
    lines
}

/// Address lines given on the command line (`--address "Name\nStraße 1\n12345 Ort"`, a
/// literal `\n` or a real line break between lines, or `--address-line` repeated): trimmed,
/// empty lines dropped; at most [`WINDOW_LINES`] lines of at most 60 characters, so that
/// all of it shows in the window.
pub fn address_lines(given: &[String]) -> Result<Vec<String>, String> {
    let lines: Vec<String> = given
        .iter()
        .flat_map(|g| {
            g.replace("\\n", "\n")
                .split('\n')
                .map(|l| l.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .filter(|l| !l.is_empty())
        .collect();
    if lines.len() > WINDOW_LINES {
        return Err(format!(
            "--address: {} lines; the window of a DIN 5008 envelope shows {WINDOW_LINES}",
            lines.len()
        ));
    }
    if let Some(l) = lines.iter().find(|l| l.chars().count() > 60) {
        return Err(format!(
            "--address: the line \"{l}\" is longer than 60 characters and would not fit the window"
        ));
    }
    if let Some(l) = lines.iter().find(|l| l.chars().any(char::is_control)) {
        return Err(format!(
            "--address: the line {l:?} holds a control character"
        ));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_lines_split_at_line_breaks_and_are_limited_to_the_window() {
        assert_eq!(
            address_lines(&["Erika Muster\\nHauptstraße 1\n45657 Recklinghausen".into()]).unwrap(),
            vec!["Erika Muster", "Hauptstraße 1", "45657 Recklinghausen"]
        );
        assert_eq!(
            address_lines(&["A".into(), " ".into(), "B".into()]).unwrap(),
            vec!["A", "B"]
        );
        assert!(
            address_lines(&["1\n2\n3\n4\n5\n6\n7".into()])
                .unwrap_err()
                .contains("7 lines")
        );
        assert!(address_lines(&["x".repeat(61)]).is_err());
    }

    #[test]
    fn a_letter_renders_as_a_pdf_a_document() {
        let letter = Letter {
            title: "Test".into(),
            window: Some(Window {
                return_address: "Stadt Musterhausen · Markt 1 · 12345 Musterhausen".into(),
                lines: vec!["Erika Muster".into(), "Hauptstraße 1".into()],
            }),
            sender: sender_lines(
                "Stadt Musterhausen",
                "Markt 1, 12345 Musterhausen",
                None,
                "a@b.de",
                None,
            ),
            fields: vec![("Aktenzeichen".into(), "DS-1".into())],
            reference: "DS-1".into(),
            footer: "Stadt Musterhausen".into(),
            blocks: vec![
                Block::Subject("Betreff".into()),
                Block::Table {
                    columns: vec!["A".into(), "B".into()],
                    rows: (0..200)
                        .map(|i| vec![i.to_string(), "x ".repeat(i % 40)])
                        .collect(),
                },
            ],
        };
        let pdf = render(&[letter], Utc::now()).expect("valid PDF/A-2b");
        assert!(pdf.starts_with(b"%PDF-"));
    }
}
