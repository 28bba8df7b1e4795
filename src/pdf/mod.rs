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
use krilla::text::{Font, GlyphId, KrillaGlyph, TextDirection};
use krilla::{Document, SerializeSettings};
use std::collections::HashMap;

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
    render_with(letters, created, Shaping::Cached)
}

/// A PDF made on a thread of its own from letters handed to it one at a time, as
/// [`render`] makes it of them all: each letter is laid out and drawn as soon as it is
/// pushed, while the caller reads what the next letter says (the Auskunft's rows of the
/// next tenant). Dropped without [`Pipeline::finish`], the thread makes the document of
/// what it got and throws it away.
pub struct Pipeline {
    letters: Option<std::sync::mpsc::Sender<Letter>>,
    thread: std::thread::JoinHandle<Result<Vec<u8>, PdfError>>,
}

impl Pipeline {
    pub fn start(created: DateTime<Utc>) -> Pipeline {
        let (letters, received) = std::sync::mpsc::channel::<Letter>();
        let thread = std::thread::Builder::new()
            .name("pdf".into())
            .spawn(move || render_with(received, created, Shaping::Cached))
            .expect("a thread for the PDF");
        Pipeline {
            letters: Some(letters),
            thread,
        }
    }

    /// The next letter of the document.
    pub fn push(&self, letter: Letter) {
        // Only a thread that panicked has hung up; `finish` reports that.
        if let Some(letters) = &self.letters {
            let _ = letters.send(letter);
        }
    }

    /// The document of every letter pushed, once the thread has written it.
    pub fn finish(mut self) -> Result<Vec<u8>, PdfError> {
        drop(self.letters.take());
        self.thread
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    }
}

/// Who shapes the text that is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Shaping {
    /// The layout's shaper, which keeps its plans and the glyphs of each text for the
    /// document ([`glyphs`]).
    Cached,
    /// krilla's `draw_text`, which parses the font and builds a shaping plan for every text,
    /// and line breaking that shapes every candidate line: what `render` did before, the
    /// reference the tests compare it with.
    #[cfg_attr(not(test), allow(dead_code))]
    Krilla,
}

/// The glyphs krilla's `draw_text` makes of `text` (its `naive_shape`: the guessed script,
/// left to right, advances and offsets in ems), from the layout's shaper. Returned with the
/// text, which the glyphs' ranges index.
fn glyphs(fonts: &layout::Fonts, text: &str, bold: bool) -> (String, Vec<KrillaGlyph>) {
    let output = fonts.shape(text, bold, Some(rustybuzz::Direction::LeftToRight));
    let upem = fonts.units_per_em(bold);
    let positions = output.glyph_positions();
    let infos = output.glyph_infos();
    let mut glyphs = Vec::with_capacity(output.len());
    for (i, (pos, info)) in positions.iter().zip(infos).enumerate() {
        let start = info.cluster as usize;
        // Left to right: the cluster ends where the next glyph of another cluster starts.
        let end = infos[i + 1..]
            .iter()
            .find(|next| next.cluster != info.cluster)
            .map_or(text.len(), |next| next.cluster as usize);
        glyphs.push(KrillaGlyph::new(
            GlyphId::new(info.glyph_id),
            pos.x_advance as f32 / upem,
            pos.x_offset as f32 / upem,
            pos.y_offset as f32 / upem,
            pos.y_advance as f32 / upem,
            start..end,
            None,
        ));
    }
    (text.to_owned(), glyphs)
}

fn render_with<L: std::borrow::Borrow<Letter>>(
    letters: impl IntoIterator<Item = L>,
    created: DateTime<Utc>,
    mode: Shaping,
) -> Result<Vec<u8>, PdfError> {
    let measure = match mode {
        Shaping::Cached => layout::Fonts::new(REGULAR, BOLD),
        Shaping::Krilla => layout::Fonts::shaping_every_candidate(REGULAR, BOLD),
    };
    // The glyphs of each text drawn (headers, labels and bullets repeat), for this
    // document only.
    let mut shaped: HashMap<(bool, String), (String, Vec<KrillaGlyph>)> = HashMap::new();
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
    // The document's title is the first letter's.
    let mut title = None;
    let size = PageSettings::from_wh(layout::PAGE_WIDTH, layout::PAGE_HEIGHT)
        .expect("A4 is a valid page size");
    for letter in letters {
        let letter = letter.borrow();
        title.get_or_insert_with(|| letter.title.clone());
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
                        if mode == Shaping::Krilla {
                            surface.draw_text(
                                Point::from_xy(x, y),
                                font,
                                size,
                                &text,
                                false,
                                TextDirection::LeftToRight,
                            );
                        } else {
                            let glyphs = shaped
                                .entry((is_bold, text))
                                .or_insert_with_key(|(b, t)| glyphs(&measure, t, *b));
                            surface.draw_glyphs(
                                Point::from_xy(x, y),
                                &glyphs.1,
                                font,
                                &glyphs.0,
                                size,
                                false,
                            );
                        }
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
    document.set_metadata(metadata(title.unwrap_or_default(), created));
    document.finish().map_err(|e| PdfError(format!("{e:?}")))
}

fn metadata(title: String, created: DateTime<Utc>) -> Metadata {
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
        )
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

    /// German text the letters are made of: the lines of the policies and templates
    /// (tags and TOML syntax dropped), each alone and three at a time as a paragraph.
    pub(super) fn corpus() -> Vec<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut lines = Vec::new();
        for dir in ["policies", "templates"] {
            let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            for file in files {
                for line in std::fs::read_to_string(file).unwrap().lines() {
                    let mut out = String::new();
                    let mut tag = false;
                    for c in line.chars() {
                        match c {
                            '<' | '{' => tag = true,
                            '>' | '}' => {
                                tag = false;
                                out.push(' ');
                            }
                            '"' | '#' | '=' | '[' | ']' => out.push(' '),
                            c if !tag => out.push(c),
                            _ => {}
                        }
                    }
                    let out = out.split_whitespace().collect::<Vec<_>>().join(" ");
                    if out.split(' ').count() >= 3 {
                        lines.push(out);
                    }
                }
            }
        }
        let paragraphs: Vec<String> = lines.chunks(3).map(|c| c.join(" ")).collect();
        lines.extend(paragraphs);
        lines
    }

    fn corpus_letter(texts: &[String]) -> Letter {
        let mut blocks = vec![Block::Subject(
            "Auskunft nach Art. 15 DSGVO – Ihr Antrag vom 1. Dezember 2026".into(),
        )];
        for (i, t) in texts.iter().enumerate() {
            blocks.push(match i % 7 {
                0 => Block::Heading(t.chars().take(60).collect()),
                1 => Block::Emphasis(t.clone()),
                2 => Block::Small(t.clone()),
                3 => Block::List(t.split(". ").map(str::to_owned).collect()),
                4 => Block::KeyValue(vec![("Zweck".into(), t.clone())]),
                5 => Block::Table {
                    columns: vec!["Datum".into(), "Angabe".into(), "Empfänger".into()],
                    rows: vec![vec![
                        "01.12.2026 14:03".into(),
                        t.clone(),
                        "Jürgen Öztürk-Müßig <j.oeztuerk@example.net>".into(),
                    ]],
                },
                _ => Block::Paragraph(t.clone()),
            });
        }
        blocks.push(Block::Closing(vec![
            "Mit freundlichen Grüßen".into(),
            "Datenschutzbeauftragte der Stadt Recklinghausen".into(),
        ]));
        Letter {
            title: "Auskunft".into(),
            window: Some(Window {
                return_address:
                    "Stadt Recklinghausen · Bürgerbüro, Rathausplatz 3/4, 45657 Recklinghausen"
                        .into(),
                lines: vec!["Frau Žofia Ødegård-Straße".into(), "Hauptstraße 1".into()],
            }),
            sender: sender_lines(
                "Stadt Recklinghausen",
                "Bürgerbüro, Rathausplatz 3/4, 45657 Recklinghausen",
                Some("+49 2361 50-1640"),
                "buergerbuero@recklinghausen.de",
                Some("https://www.recklinghausen.de"),
            ),
            fields: vec![
                ("Aktenzeichen".into(), "DS-RE-42".into()),
                ("Datum".into(), "1. Dezember 2026".into()),
            ],
            reference: "DS-RE-42".into(),
            footer: "Stadt Recklinghausen".into(),
            blocks,
        }
    }

    #[test]
    fn cached_shaping_and_added_up_widths_write_the_same_pdf_as_shaping_everything() {
        // The fast path (plans kept, widths added up, glyphs shaped once per text) against
        // what `render` did before (krilla shaping each text, every candidate line shaped).
        let texts = corpus();
        assert!(texts.len() > 200, "{}", texts.len());
        let created = "2026-12-01T14:00:00Z".parse().unwrap();
        for chunk in texts.chunks(120).take(4) {
            let letter = corpus_letter(chunk);
            let fast =
                render_with(std::slice::from_ref(&letter), created, Shaping::Cached).unwrap();
            let reference = render_with(&[letter], created, Shaping::Krilla).unwrap();
            assert!(fast == reference, "the PDFs differ");
        }
    }

    #[test]
    fn two_documents_rendered_one_after_the_other_hold_only_their_own_text() {
        // The caches live for one document: the second letter's PDF is the one it gets
        // alone, and no text of the first is in it.
        let created = "2026-12-01T14:00:00Z".parse().unwrap();
        let first = corpus_letter(&["Erika Mustermann, erika@example.net, Hauptstraße 1".into()]);
        let second = corpus_letter(&["Max Muster, max@example.net, Nebenweg 2".into()]);
        let _ = render(&[first], created).unwrap();
        let after = render(std::slice::from_ref(&second), created).unwrap();
        let alone = render_with(&[second], created, Shaping::Krilla).unwrap();
        assert!(after == alone, "the second PDF changed after the first");
    }

    #[test]
    fn letters_pushed_into_a_pipeline_make_the_pdf_render_makes_of_them() {
        // The Auskunft pushes each tenant's letter as soon as its rows are read; the file
        // must be the one `render` writes of the same letters, titled by the first.
        let created = "2026-12-01T14:00:00Z".parse().unwrap();
        let texts = corpus();
        let mut first = corpus_letter(&texts[..40]);
        first.title = "Auskunft Recklinghausen".into();
        let second = corpus_letter(&texts[40..90]);
        let pipeline = Pipeline::start(created);
        pipeline.push(first.clone());
        pipeline.push(second.clone());
        let pushed = pipeline.finish().unwrap();
        assert!(
            pushed == render(&[first, second], created).unwrap(),
            "the PDFs differ"
        );
        let text = String::from_utf8_lossy(&pushed);
        assert!(text.contains("Auskunft Recklinghausen"), "no title");
        // Nothing pushed: an empty document, as `render` makes of no letters.
        let empty = Pipeline::start(created).finish();
        assert_eq!(
            empty.map_err(|e| e.to_string()),
            render(&[], created).map_err(|e| e.to_string())
        );
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
