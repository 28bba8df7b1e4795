//! Lays a [`Letter`] out on A4 pages: line breaking by the measured advance widths of the
//! embedded font, paragraphs, headings kept with what follows, lists, and tables whose rows
//! break across pages with the header row repeated. The result is pages of positioned text,
//! lines and filled boxes, in points from the page's top left corner; nothing is drawn here.

use super::{Block, Letter};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Millimetres to PDF points.
pub(super) const fn mm(v: f32) -> f32 {
    v * 72.0 / 25.4
}

pub(super) const PAGE_WIDTH: f32 = mm(210.0);
pub(super) const PAGE_HEIGHT: f32 = mm(297.0);

/// The type sizes: nothing a reader must read is below 10 pt. The return-address line in
/// the window is the one exception DIN 5008 makes (it is read by the post, not the person).
pub(super) const BODY: f32 = 10.5;
const TABLE: f32 = 10.0;
const FOOTER: f32 = 10.0;
const INFO: f32 = 10.0;
const SUBJECT: f32 = 12.5;
const HEADING: f32 = 11.5;
const SUBHEADING: f32 = 10.5;
const LETTERHEAD: f32 = 15.0;
const RETURN_ADDRESS: f32 = 8.0;
const RETURN_ADDRESS_MIN: f32 = 7.0;

/// Line height as a multiple of the type size.
const LEADING: f32 = 1.35;

// DIN 5008 form B: the body's left edge 25 mm, right margin 20 mm; the address field
// 20 mm from the left and 45 mm from the top, 85 × 45 mm, the return address in its upper
// 17.7 mm; the information block from 125 mm; fold marks at 105 and 210 mm, the punch mark
// at 148.5 mm.
const LEFT: f32 = mm(25.0);
const RIGHT: f32 = mm(190.0);
const WINDOW_LEFT: f32 = mm(20.0);
const WINDOW_TOP: f32 = mm(45.0);
const WINDOW_WIDTH: f32 = mm(85.0);
const WINDOW_INNER: f32 = mm(5.0);
const ADDRESS_TOP: f32 = WINDOW_TOP + mm(17.7);
/// The recipient lines the window shows (27.3 mm of the 45 mm).
pub const WINDOW_LINES: usize = 6;
const INFO_LEFT: f32 = mm(125.0);
const INFO_TOP: f32 = mm(50.0);
const INFO_RIGHT: f32 = mm(200.0);
const INFO_LABEL: f32 = mm(33.0);
const BODY_TOP_FIRST: f32 = mm(98.5);
const BODY_TOP: f32 = mm(20.0);
const BODY_BOTTOM: f32 = mm(270.0);
const FOOTER_RULE: f32 = mm(276.0);
const FOOTER_BASELINE: f32 = mm(282.0);

const GAP: f32 = mm(2.8);
const CELL_X: f32 = mm(1.5);
const CELL_Y: f32 = mm(0.7);
const RULE: f32 = 0.5;

/// Something to draw, positioned in points from the top left corner.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Op {
    /// Text on the baseline `y`; `gray` 0 is black.
    Text {
        x: f32,
        y: f32,
        size: f32,
        bold: bool,
        gray: u8,
        text: String,
    },
    Line {
        x1: f32,
        y1: f32,
        x2: f32,
        y2: f32,
        width: f32,
    },
    /// A filled box (the background of table header and label cells).
    Fill {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        gray: u8,
    },
}

#[derive(Clone, Debug, Default)]
pub(super) struct Page {
    pub ops: Vec<Op>,
}

/// Measures text in the two embedded faces, and shapes it for drawing.
///
/// Made once per [`super::render`] call and dropped with it: its caches hold the
/// document's text (personal data) and are never shared between documents. What they
/// save: rustybuzz builds a shaping plan (the font's lookups for a script and direction)
/// on every `shape` call, and the line breaking measured every candidate line from
/// scratch; plans are now made once per face, script and direction, and the width of a
/// text once per document.
pub(super) struct Fonts {
    regular: rustybuzz::Face<'static>,
    bold: rustybuzz::Face<'static>,
    /// Shaping plans by face (bold), direction and script; a handful per document.
    plans: RefCell<Vec<PlanEntry>>,
    /// The shaped advance width in font units of each text measured, by face.
    widths: RefCell<HashMap<(bool, String), i32>>,
    /// [`ESTIMATE_MARGIN_EM`]; infinite shapes every candidate line (the tests' reference).
    margin_em: f32,
}

struct PlanEntry {
    bold: bool,
    direction: rustybuzz::Direction,
    script: Option<rustybuzz::Script>,
    plan: Rc<rustybuzz::ShapePlan>,
}

/// How far (in ems of the type size) the sum of the widths of a line's words and spaces may
/// lie from the line's shaped width before line breaking shapes the line to decide. Within
/// a line, shaping changes widths only by kerning at the spaces (a few hundredths of an em
/// each in DejaVu Sans); the margin is far wider, and a line near the limit is always
/// measured exactly.
const ESTIMATE_MARGIN_EM: f32 = 1.0;

impl Fonts {
    pub(super) fn new(regular: &'static [u8], bold: &'static [u8]) -> Fonts {
        Fonts {
            regular: rustybuzz::Face::from_slice(regular, 0).expect("the embedded font parses"),
            bold: rustybuzz::Face::from_slice(bold, 0).expect("the embedded font parses"),
            plans: RefCell::new(Vec::new()),
            widths: RefCell::new(HashMap::new()),
            margin_em: ESTIMATE_MARGIN_EM,
        }
    }

    /// Fonts whose line breaking shapes every candidate line, as it did before widths were
    /// added up (the reference the tests compare [`Fonts::wrap`] with).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) fn shaping_every_candidate(regular: &'static [u8], bold: &'static [u8]) -> Fonts {
        Fonts {
            margin_em: f32::INFINITY,
            ..Fonts::new(regular, bold)
        }
    }

    fn face(&self, bold: bool) -> &rustybuzz::Face<'static> {
        if bold { &self.bold } else { &self.regular }
    }

    /// Shapes `text` exactly as `rustybuzz::shape` does (segment properties guessed from the
    /// text, no features), with `direction` overriding the guessed direction as krilla's
    /// `draw_text` does; the plan is reused for every text of the same script and direction.
    pub(super) fn shape(
        &self,
        text: &str,
        bold: bool,
        direction: Option<rustybuzz::Direction>,
    ) -> rustybuzz::GlyphBuffer {
        let mut buffer = rustybuzz::UnicodeBuffer::new();
        buffer.push_str(text);
        buffer.guess_segment_properties();
        if let Some(d) = direction {
            buffer.set_direction(d);
        }
        let direction = buffer.direction();
        // After guessing, the script is a real one or none at all (text of digits and
        // punctuation only); `script()` reports none as UNKNOWN.
        let script = Some(buffer.script()).filter(|s| *s != rustybuzz::script::UNKNOWN);
        let plan = self.plan(bold, direction, script);
        rustybuzz::shape_with_plan(self.face(bold), &plan, buffer)
    }

    fn plan(
        &self,
        bold: bool,
        direction: rustybuzz::Direction,
        script: Option<rustybuzz::Script>,
    ) -> Rc<rustybuzz::ShapePlan> {
        let mut plans = self.plans.borrow_mut();
        if let Some(e) = plans
            .iter()
            .find(|e| e.bold == bold && e.direction == direction && e.script == script)
        {
            return e.plan.clone();
        }
        let plan = Rc::new(rustybuzz::ShapePlan::new(
            self.face(bold),
            direction,
            script,
            None,
            &[],
        ));
        plans.push(PlanEntry {
            bold,
            direction,
            script,
            plan: plan.clone(),
        });
        plan
    }

    /// The font's units per em (both faces have the same).
    pub(super) fn units_per_em(&self, bold: bool) -> f32 {
        self.face(bold).units_per_em() as f32
    }

    /// The shaped advance width of `text` in font units.
    fn units(&self, text: &str, bold: bool) -> i32 {
        if text.is_empty() {
            return 0;
        }
        let key = (bold, text.to_owned());
        if let Some(u) = self.widths.borrow().get(&key) {
            return *u;
        }
        let shaped = self.shape(text, bold, None);
        let units: i32 = shaped.glyph_positions().iter().map(|p| p.x_advance).sum();
        self.widths.borrow_mut().insert(key, units);
        units
    }

    /// The advance width of `text` in points, shaped as krilla shapes it when drawing.
    pub(super) fn width(&self, text: &str, size: f32, bold: bool) -> f32 {
        if text.is_empty() {
            return 0.0;
        }
        self.units(text, bold) as f32 / self.units_per_em(bold) * size
    }

    /// Breaks `text` into lines no wider than `width`: at spaces, at hard line breaks, and
    /// inside a word only where the word alone is too wide (an e-mail address or a hash in
    /// a narrow column). Control characters become spaces.
    ///
    /// A candidate line (the line so far, a space, the next word) is measured by adding the
    /// word's and the space's widths to the line's; only where that sum comes within
    /// [`ESTIMATE_MARGIN_EM`] of `width` is the candidate shaped as a whole, and that exact
    /// width decides, as it did when every candidate was shaped
    /// ([`Fonts::shaping_every_candidate`] is the reference the tests compare it with).
    pub(super) fn wrap(&self, text: &str, width: f32, size: f32, bold: bool) -> Vec<String> {
        let margin = self.margin_em * size;
        let space = self.width(" ", size, bold);
        let mut lines = Vec::new();
        for hard in text.split('\n') {
            let hard: String = hard
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            let mut line = String::new();
            // The line's width: exact where it was last shaped, plus the words added since.
            let mut line_width = 0.0f32;
            for word in hard.split(' ').filter(|w| !w.is_empty()) {
                if line.is_empty() {
                    let w = self.width(word, size, bold);
                    if w <= width {
                        line = word.to_owned();
                        line_width = w;
                        continue;
                    }
                } else {
                    let estimate = line_width + space + self.width(word, size, bold);
                    let fits = if estimate + margin <= width {
                        Some(estimate)
                    } else if estimate - margin > width {
                        None
                    } else {
                        let candidate = format!("{line} {word}");
                        let exact = self.width(&candidate, size, bold);
                        (exact <= width).then_some(exact)
                    };
                    if let Some(w) = fits {
                        line.push(' ');
                        line.push_str(word);
                        line_width = w;
                        continue;
                    }
                    lines.push(std::mem::take(&mut line));
                    let w = self.width(word, size, bold);
                    if w <= width {
                        line = word.to_owned();
                        line_width = w;
                        continue;
                    }
                }
                // Too wide alone: cut it where the line is full.
                for c in word.chars() {
                    line.push(c);
                    if self.width(&line, size, bold) > width && line.chars().count() > 1 {
                        line.pop();
                        lines.push(std::mem::replace(&mut line, c.to_string()));
                    }
                }
                line_width = self.width(&line, size, bold);
            }
            lines.push(line);
        }
        lines
    }
}

/// The pages of one letter.
pub(super) fn pages(fonts: &Fonts, letter: &Letter) -> Vec<Page> {
    let mut flow = Flow {
        fonts,
        pages: vec![Page::default()],
        y: 0.0,
    };
    flow.y = flow.first_page(letter);
    for (i, block) in letter.blocks.iter().enumerate() {
        flow.block(block, letter.blocks.get(i + 1));
    }
    let total = flow.pages.len();
    for (n, page) in flow.pages.iter_mut().enumerate() {
        footer(fonts, page, letter, n + 1, total);
    }
    flow.pages
}

/// Every page's foot: who and the Aktenzeichen on the left, "Seite n von m" on the right.
fn footer(fonts: &Fonts, page: &mut Page, letter: &Letter, n: usize, total: usize) {
    page.ops.push(Op::Line {
        x1: LEFT,
        y1: FOOTER_RULE,
        x2: RIGHT,
        y2: FOOTER_RULE,
        width: RULE,
    });
    let number = format!("Seite {n} von {total}");
    let number_width = fonts.width(&number, FOOTER, false);
    let left = format!("{} · Aktenzeichen {}", letter.footer, letter.reference);
    // The reference is what must not be lost: a long name gives way.
    let room = RIGHT - LEFT - number_width - mm(5.0);
    let left = fonts
        .wrap(&left, room, FOOTER, false)
        .into_iter()
        .next()
        .filter(|first| first.len() == left.len())
        .unwrap_or_else(|| format!("Aktenzeichen {}", letter.reference));
    page.ops
        .push(text(LEFT, FOOTER_BASELINE, FOOTER, false, 0, left));
    page.ops.push(text(
        RIGHT - number_width,
        FOOTER_BASELINE,
        FOOTER,
        false,
        0,
        number,
    ));
}

fn text(x: f32, y: f32, size: f32, bold: bool, gray: u8, text: String) -> Op {
    Op::Text {
        x,
        y,
        size,
        bold,
        gray,
        text,
    }
}

/// The distance from a line box's top to its baseline.
fn ascent(size: f32) -> f32 {
    size * 1.02
}

struct Flow<'a> {
    fonts: &'a Fonts,
    pages: Vec<Page>,
    /// The top of the next line box on the last page.
    y: f32,
}

impl Flow<'_> {
    fn ops(&mut self) -> &mut Vec<Op> {
        &mut self.pages.last_mut().expect("a page at least").ops
    }

    fn new_page(&mut self) {
        self.pages.push(Page::default());
        self.y = BODY_TOP;
    }

    /// Starts a new page unless `height` fits below the cursor.
    fn ensure(&mut self, height: f32) {
        if self.y + height > BODY_BOTTOM && self.y > BODY_TOP {
            self.new_page();
        }
    }

    /// The letterhead, the address window, the information block and the fold marks;
    /// returns where the body starts.
    fn first_page(&mut self, letter: &Letter) -> f32 {
        let fonts = self.fonts;
        let mut ops = Vec::new();
        let head = letter.sender.first().cloned().unwrap_or_default();
        let mut y = mm(20.0);
        for line in fonts.wrap(&head, INFO_LEFT - LEFT - mm(5.0), LETTERHEAD, true) {
            ops.push(text(LEFT, y, LETTERHEAD, true, 0, line));
            y += LETTERHEAD * LEADING;
        }
        if let Some(window) = &letter.window {
            // The return address: one line, made smaller until it fits the window; where
            // even the smallest size is too wide, the first parts of the address (an office's
            // name before the street) give way.
            let room = WINDOW_WIDTH - 2.0 * WINDOW_INNER;
            let (lines, size) = return_address(fonts, &window.return_address, room);
            let baseline = ADDRESS_TOP - mm(3.0);
            let mut line_width: f32 = 0.0;
            let count = lines.len();
            for (i, line) in lines.into_iter().enumerate() {
                line_width = line_width.max(fonts.width(&line, size, false));
                let y = baseline - (count - 1 - i) as f32 * size * 1.2;
                ops.push(text(WINDOW_LEFT + WINDOW_INNER, y, size, false, 0, line));
            }
            ops.push(Op::Line {
                x1: WINDOW_LEFT + WINDOW_INNER,
                y1: baseline + mm(1.0),
                x2: WINDOW_LEFT + WINDOW_INNER + line_width,
                y2: baseline + mm(1.0),
                width: 0.4,
            });
            let mut y = ADDRESS_TOP;
            for line in window.lines.iter().take(WINDOW_LINES) {
                let line = fonts
                    .wrap(line, room, BODY, false)
                    .into_iter()
                    .next()
                    .unwrap_or_default();
                ops.push(text(
                    WINDOW_LEFT + WINDOW_INNER,
                    y + ascent(BODY),
                    BODY,
                    false,
                    0,
                    line,
                ));
                y += BODY * LEADING;
            }
            for at in [105.0, 210.0] {
                ops.push(Op::Line {
                    x1: mm(4.0),
                    y1: mm(at),
                    x2: mm(9.0),
                    y2: mm(at),
                    width: RULE,
                });
            }
            ops.push(Op::Line {
                x1: mm(4.0),
                y1: mm(148.5),
                x2: mm(11.0),
                y2: mm(148.5),
                width: RULE,
            });
        }
        // The information block: the sender, then the labelled fields; 75 mm wide, to
        // 10 mm from the edge.
        let width = INFO_RIGHT - INFO_LEFT;
        let mut info_y = if letter.window.is_some() {
            INFO_TOP
        } else {
            y + mm(2.0)
        };
        for (i, line) in letter.sender.iter().enumerate() {
            for part in fonts.wrap(line, width, INFO, i == 0) {
                ops.push(text(
                    INFO_LEFT,
                    info_y + ascent(INFO),
                    INFO,
                    i == 0,
                    0,
                    part,
                ));
                info_y += INFO * LEADING;
            }
        }
        info_y += mm(2.0);
        for (label, value) in &letter.fields {
            ops.push(text(
                INFO_LEFT,
                info_y + ascent(INFO),
                INFO,
                false,
                90,
                label.clone(),
            ));
            // Beside the label; below it where a word would not fit beside it.
            let beside = value
                .split_whitespace()
                .all(|w| fonts.width(w, INFO, false) <= width - INFO_LABEL);
            let (x, room) = if beside {
                (INFO_LEFT + INFO_LABEL, width - INFO_LABEL)
            } else {
                info_y += INFO * LEADING;
                (INFO_LEFT, width)
            };
            for part in fonts.wrap(value, room, INFO, false) {
                ops.push(text(x, info_y + ascent(INFO), INFO, false, 0, part));
                info_y += INFO * LEADING;
            }
        }
        self.ops().extend(ops);
        let below_head = if letter.window.is_some() {
            BODY_TOP_FIRST
        } else {
            y + mm(4.0)
        };
        below_head.max(info_y + mm(8.0))
    }

    /// Lines of text at the left edge (or indented), each moved to a new page when the
    /// page is full.
    fn lines(&mut self, lines: Vec<String>, x: f32, size: f32, bold: bool, gray: u8) {
        for line in lines {
            self.ensure(size * LEADING);
            let y = self.y + ascent(size);
            self.ops().push(text(x, y, size, bold, gray, line));
            self.y += size * LEADING;
        }
    }

    fn block(&mut self, block: &Block, next: Option<&Block>) {
        let fonts = self.fonts;
        let width = RIGHT - LEFT;
        match block {
            Block::Subject(s) => {
                let lines = fonts.wrap(s, width, SUBJECT, true);
                self.lines(lines, LEFT, SUBJECT, true, 0);
                self.y += GAP * 1.5;
            }
            Block::Heading(s) | Block::Subheading(s) => {
                let (size, rule) = match block {
                    Block::Heading(_) => (HEADING, true),
                    _ => (SUBHEADING, false),
                };
                let lines = fonts.wrap(s, width, size, true);
                self.y += if rule { mm(4.0) } else { mm(2.0) };
                // A heading is never the last thing on a page.
                let keep = lines.len() as f32 * size * LEADING + following_height(next);
                self.ensure(keep);
                self.lines(lines, LEFT, size, true, 0);
                if rule {
                    let y = self.y + mm(0.3);
                    self.ops().push(Op::Line {
                        x1: LEFT,
                        y1: y,
                        x2: RIGHT,
                        y2: y,
                        width: RULE,
                    });
                    self.y += mm(2.0);
                } else {
                    self.y += mm(0.8);
                }
            }
            Block::Paragraph(s) => {
                let lines = fonts.wrap(s, width, BODY, false);
                self.lines(lines, LEFT, BODY, false, 0);
                self.y += GAP;
            }
            Block::Emphasis(s) => {
                let lines = fonts.wrap(s, width - mm(4.0), BODY, true);
                let top = self.y;
                let pages = self.pages.len();
                self.lines(lines, LEFT + mm(4.0), BODY, true, 0);
                // The bar beside it, where the paragraph stayed on one page.
                if self.pages.len() == pages {
                    let bottom = self.y;
                    self.ops().push(Op::Fill {
                        x: LEFT,
                        y: top,
                        w: 2.0,
                        h: bottom - top,
                        gray: 0,
                    });
                }
                self.y += GAP;
            }
            Block::Small(s) => {
                let lines = fonts.wrap(s, width, TABLE, false);
                self.lines(lines, LEFT, TABLE, false, 70);
                self.y += GAP;
            }
            Block::List(items) => {
                for item in items {
                    let lines = fonts.wrap(item, width - mm(5.0), BODY, false);
                    self.ensure(BODY * LEADING);
                    let y = self.y + ascent(BODY);
                    self.ops()
                        .push(text(LEFT + mm(1.0), y, BODY, false, 0, "•".into()));
                    self.lines(lines, LEFT + mm(5.0), BODY, false, 0);
                    self.y += mm(1.0);
                }
                self.y += GAP;
            }
            Block::Closing(lines) => {
                let wrapped: Vec<Vec<String>> = lines
                    .iter()
                    .map(|l| fonts.wrap(l, width, BODY, false))
                    .collect();
                let height: f32 = wrapped
                    .iter()
                    .map(|l| l.len() as f32 * BODY * LEADING + GAP)
                    .sum();
                self.y += mm(3.0);
                self.ensure(height);
                for l in wrapped {
                    self.lines(l, LEFT, BODY, false, 0);
                    self.y += GAP;
                }
            }
            Block::KeyValue(pairs) => {
                let rows: Vec<Vec<String>> = pairs
                    .iter()
                    .map(|(k, v)| vec![k.clone(), v.clone()])
                    .collect();
                let widths = [width * 0.32, width * 0.68];
                self.table(None, &rows, &widths, true);
            }
            Block::Table { columns, rows } => {
                let widths = column_widths(fonts, columns, rows, width);
                self.table(Some(columns), rows, &widths, false);
            }
        }
    }

    /// A table with cell borders; rows that do not fit move to the next page, a row taller
    /// than what is left is split between its lines; the header row is repeated on every
    /// page the table continues on. `labels`: the first column is a grey label column.
    fn table(
        &mut self,
        header: Option<&Vec<String>>,
        rows: &[Vec<String>],
        widths: &[f32],
        labels: bool,
    ) {
        let fonts = self.fonts;
        let line = TABLE * LEADING;
        let wrap_row = |cells: &[String], bold: bool| -> Vec<Vec<String>> {
            widths
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    let cell = cells.get(i).map(String::as_str).unwrap_or("");
                    fonts.wrap(cell, w - 2.0 * CELL_X, TABLE, bold)
                })
                .collect()
        };
        let header_cells = header.map(|h| wrap_row(h, true));
        let header_height = header_cells
            .as_ref()
            .map_or(0.0, |h| row_lines(h) as f32 * line + 2.0 * CELL_Y);
        let wrapped: Vec<Vec<Vec<String>>> = rows.iter().map(|r| wrap_row(r, false)).collect();
        // The header with the first two lines of the first row, or a new page.
        let first = wrapped.first().map_or(0, |r| row_lines(r).min(2));
        self.ensure(header_height + first as f32 * line + 2.0 * CELL_Y);
        if let Some(h) = &header_cells {
            self.row(h, 0, row_lines(h), widths, true, false);
        }
        for cells in &wrapped {
            let total = row_lines(cells);
            let mut from = 0;
            while from < total {
                let fits = ((BODY_BOTTOM - self.y - 2.0 * CELL_Y) / line)
                    .floor()
                    .max(0.0) as usize;
                let fresh = ((BODY_BOTTOM - BODY_TOP - header_height - 2.0 * CELL_Y) / line).floor()
                    as usize;
                if total - from <= fits {
                    self.row(cells, from, total, widths, false, labels);
                    break;
                }
                if (from == 0 && total <= fresh) || fits < 2 {
                    // The whole row on the next page (or nothing useful fits here).
                    self.new_page();
                } else {
                    self.row(cells, from, from + fits, widths, false, labels);
                    from += fits;
                    self.new_page();
                }
                if let Some(h) = &header_cells {
                    self.row(h, 0, row_lines(h), widths, true, false);
                }
            }
        }
        self.y += GAP + mm(1.0);
    }

    /// Lines `from..to` of each cell of one row at the cursor, with its borders.
    fn row(
        &mut self,
        cells: &[Vec<String>],
        from: usize,
        to: usize,
        widths: &[f32],
        header: bool,
        labels: bool,
    ) {
        let line = TABLE * LEADING;
        let top = self.y;
        let height = (to - from) as f32 * line + 2.0 * CELL_Y;
        let mut ops = Vec::new();
        let mut x = LEFT;
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let label = labels && i == 0;
            if header || label {
                ops.push(Op::Fill {
                    x,
                    y: top,
                    w: *w,
                    h: height,
                    gray: if header { 225 } else { 240 },
                });
            }
            for (n, l) in cell.iter().enumerate().skip(from).take(to - from) {
                let y = top + CELL_Y + (n - from) as f32 * line + ascent(TABLE);
                ops.push(text(x + CELL_X, y, TABLE, header, 0, l.clone()));
            }
            ops.push(Op::Line {
                x1: x,
                y1: top,
                x2: x,
                y2: top + height,
                width: RULE,
            });
            x += w;
        }
        ops.push(Op::Line {
            x1: x,
            y1: top,
            x2: x,
            y2: top + height,
            width: RULE,
        });
        for y in [top, top + height] {
            ops.push(Op::Line {
                x1: LEFT,
                y1: y,
                x2: x,
                y2: y,
                width: RULE,
            });
        }
        self.ops().extend(ops);
        self.y = top + height;
    }
}

/// The return address and its size: `Name · address` in one line at the largest size from
/// 8 pt down to 7 pt that fits `room`; otherwise the name above the address (the zone above
/// the address has room for it), and where the address is still too wide, its first parts
/// (an office's name before the street) give way.
fn return_address(fonts: &Fonts, given: &str, room: f32) -> (Vec<String>, f32) {
    let fit = |line: &str| {
        let mut size = RETURN_ADDRESS;
        while size >= RETURN_ADDRESS_MIN {
            if fonts.width(line, size, false) <= room {
                return Some(size);
            }
            size -= 0.25;
        }
        None
    };
    if let Some(size) = fit(given) {
        return (vec![given.to_owned()], size);
    }
    let (name, address) = given.split_once(" · ").unwrap_or((given, ""));
    let parts: Vec<&str> = address
        .split([',', '·'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    for skip in 0..parts.len() {
        let rest = parts[skip..].join(", ");
        if let (Some(a), Some(b)) = (fit(name), fit(&rest)) {
            return (vec![name.to_owned(), rest], a.min(b));
        }
    }
    let lines = fonts.wrap(given, room, RETURN_ADDRESS_MIN, false);
    (lines.into_iter().take(2).collect(), RETURN_ADDRESS_MIN)
}

fn row_lines(cells: &[Vec<String>]) -> usize {
    cells.iter().map(Vec::len).max().unwrap_or(1).max(1)
}

/// What must fit below a heading with it: the first lines of what follows.
fn following_height(next: Option<&Block>) -> f32 {
    match next {
        Some(Block::Table { .. }) | Some(Block::KeyValue(_)) => 3.0 * TABLE * LEADING + mm(4.0),
        Some(Block::Heading(_)) | Some(Block::Subheading(_)) => 4.0 * BODY * LEADING,
        _ => 2.0 * BODY * LEADING,
    }
}

/// Column widths from the content: each column gets at least its longest word (up to a
/// third of the table), and what is left goes to the columns by how much text they hold.
fn column_widths(fonts: &Fonts, columns: &[String], rows: &[Vec<String>], total: f32) -> Vec<f32> {
    let n = columns.len().max(1);
    let pad = 2.0 * CELL_X;
    let mut min = vec![0.0f32; n];
    let mut natural = vec![0.0f32; n];
    let cells = std::iter::once((columns, true)).chain(rows.iter().map(|r| (r.as_slice(), false)));
    for (row, bold) in cells {
        for (i, cell) in row.iter().enumerate().take(n) {
            for word in cell.split_whitespace() {
                min[i] = min[i].max(fonts.width(word, TABLE, bold) + pad);
            }
            let longest = cell
                .split('\n')
                .map(|l| fonts.width(l, TABLE, bold))
                .fold(0.0, f32::max);
            natural[i] = natural[i].max(longest + pad);
        }
    }
    // Where the longest words do not fit side by side, the columns with the longest words
    // give way (they are cut), not the short ones: every minimum is capped at the largest
    // width that lets them all fit.
    if min.iter().sum::<f32>() > total {
        let (mut low, mut high) = (0.0f32, total);
        for _ in 0..30 {
            let cap = (low + high) / 2.0;
            if min.iter().map(|m| m.min(cap)).sum::<f32>() <= total {
                low = cap;
            } else {
                high = cap;
            }
        }
        for m in &mut min {
            *m = m.min(low);
        }
    }
    let min_sum: f32 = min.iter().sum();
    let natural_sum: f32 = natural.iter().sum();
    if natural_sum <= total {
        let extra = (total - natural_sum) / n as f32;
        return natural.iter().map(|w| w + extra).collect();
    }
    if min_sum >= total - 0.01 {
        return min;
    }
    let want: Vec<f32> = natural.iter().zip(&min).map(|(a, b)| a - b).collect();
    let want_sum: f32 = want.iter().sum::<f32>().max(1.0);
    min.iter()
        .zip(&want)
        .map(|(m, w)| m + w / want_sum * (total - min_sum))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fonts() -> Fonts {
        Fonts::new(super::super::REGULAR, super::super::BOLD)
    }

    #[test]
    fn lines_break_at_spaces_and_never_exceed_the_width() {
        let f = fonts();
        let text = "Wir bestätigen Ihnen, dass wir personenbezogene Daten über Sie verarbeiten. "
            .repeat(5);
        let width = mm(80.0);
        let lines = f.wrap(&text, width, BODY, false);
        assert!(lines.len() > 3);
        for l in &lines {
            assert!(f.width(l, BODY, false) <= width, "{l}");
        }
        assert_eq!(
            lines.join(" ").split_whitespace().count(),
            text.split_whitespace().count()
        );
    }

    #[test]
    fn adding_up_widths_breaks_lines_where_shaping_every_candidate_does() {
        let fast = fonts();
        let exact = Fonts::shaping_every_candidate(super::super::REGULAR, super::super::BOLD);
        let texts = super::super::tests::corpus();
        let mut compared = 0;
        for (i, text) in texts.iter().enumerate().step_by(3) {
            let bold = i % 2 == 1;
            for (width, size) in [(mm(40.0), TABLE), (mm(75.0), INFO), (RIGHT - LEFT, BODY)] {
                assert_eq!(
                    fast.wrap(text, width, size, bold),
                    exact.wrap(text, width, size, bold),
                    "{text}"
                );
                compared += 1;
            }
        }
        assert!(compared > 300, "{compared}");
    }

    #[test]
    fn a_word_wider_than_the_column_is_cut_and_nothing_is_lost() {
        let f = fonts();
        let hash = "0123456789abcdef".repeat(4);
        let lines = f.wrap(&hash, mm(30.0), TABLE, false);
        assert!(lines.len() > 1);
        assert_eq!(lines.concat(), hash);
    }

    #[test]
    fn hard_line_breaks_are_kept_and_control_characters_dropped() {
        let f = fonts();
        assert_eq!(
            f.wrap("eins\nzwei\u{7}drei", mm(100.0), BODY, false),
            vec!["eins".to_owned(), "zwei drei".to_owned()]
        );
    }

    #[test]
    fn a_long_return_address_goes_on_two_lines_and_drops_the_office_before_the_street() {
        let f = fonts();
        let room = WINDOW_WIDTH - 2.0 * WINDOW_INNER;
        let (lines, size) = return_address(
            &f,
            "Stadt Recklinghausen · Bürgerbüro, Rathausplatz 3/4, 45657 Recklinghausen",
            room,
        );
        assert!(size >= RETURN_ADDRESS_MIN);
        assert!(lines.iter().all(|l| f.width(l, size, false) <= room));
        assert_eq!(
            lines,
            [
                "Stadt Recklinghausen",
                "Bürgerbüro, Rathausplatz 3/4, 45657 Recklinghausen"
            ]
        );
        let (lines, size) = return_address(
            &f,
            "Verwaltungsgemeinschaft Westendorf · Geschäftsstelle der Verwaltungsgemeinschaft, \
             Kaltentaler Straße 1, 87679 Westendorf",
            room,
        );
        assert!(lines.iter().all(|l| f.width(l, size, false) <= room));
        assert_eq!(
            lines,
            [
                "Verwaltungsgemeinschaft Westendorf",
                "Kaltentaler Straße 1, 87679 Westendorf"
            ]
        );
        let (short, _) = return_address(&f, "Gemeinde A · Markt 1, 12345 B", room);
        assert_eq!(short, vec!["Gemeinde A · Markt 1, 12345 B"]);
    }

    #[test]
    fn column_widths_fill_the_table() {
        let f = fonts();
        let cols = vec!["Nr.".to_owned(), "Beschreibung".to_owned()];
        let rows = vec![vec!["1".to_owned(), "kurz ".repeat(60)]];
        let w = column_widths(&f, &cols, &rows, mm(165.0));
        assert!((w.iter().sum::<f32>() - mm(165.0)).abs() < 0.01);
        assert!(w[0] < w[1]);
    }

    #[test]
    fn a_column_with_an_overlong_word_gives_way_to_the_short_words_of_the_others() {
        let f = fonts();
        let cols: Vec<String> = ["Vertrag", "Ort", "Kennung"].map(str::to_owned).to_vec();
        let rows = vec![vec![
            "nicht erfasst".to_owned(),
            "Berlin".to_owned(),
            "x".repeat(200),
        ]];
        let w = column_widths(&f, &cols, &rows, mm(165.0));
        assert!((w.iter().sum::<f32>() - mm(165.0)).abs() < 0.1, "{w:?}");
        assert!(
            w[0] >= f.width("Vertrag", TABLE, true) + 2.0 * CELL_X,
            "{w:?}"
        );
        assert!(
            w[0] >= f.width("erfasst", TABLE, false) + 2.0 * CELL_X,
            "{w:?}"
        );
        assert!(
            w[1] >= f.width("Berlin", TABLE, false) + 2.0 * CELL_X,
            "{w:?}"
        );
    }
}
