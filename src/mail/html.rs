//! HTML bodies as plain text, keeping the line structure the classifier relies on.
//!
//! mail-parser's own `html_to_text` only breaks lines at `<br>` and `</p>`: `<div>` paragraphs
//! (what Outlook, Gmail and most webmailers write), list items and table cells run together
//! ("Herren,ich widerrufe"), and a `<blockquote>` becomes indistinguishable from new text. The
//! intake ignores quoted lines and the quoted part of replies, so here block elements end lines
//! and blockquotes come out as `> ` lines, the way a plain-text reply quotes. Entities are
//! decoded with mail-parser's complete HTML5 table.

use mail_parser::decoders::html::add_html_token;

/// Elements whose content is never shown.
const HIDDEN: &[&str] = &["head", "script", "style", "template", "title", "xml"];

/// Elements that start and end a line of their own.
const BLOCKS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "center",
    "dd",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "tbody",
    "thead",
    "tfoot",
    "tr",
    "ul",
];

/// Converts an HTML document or fragment to text: no tags, entities decoded, one line per block.
pub(super) fn html_to_text(html: &str) -> String {
    let mut out = TextBuilder::default();
    let bytes = html.as_bytes();
    let mut pos = 0;
    // Name of the hidden element being skipped, if any; `<head>` may contain `<title>`, so
    // skipping ends only at the closing tag of the element that started it.
    let mut hidden: Option<String> = None;

    while pos < bytes.len() {
        if bytes[pos] == b'<' {
            if bytes[pos..].starts_with(b"<!--") {
                pos = find(bytes, pos + 4, b"-->").map_or(bytes.len(), |end| end + 3);
                continue;
            }
            if let Some(tag) = parse_tag(bytes, pos) {
                pos = tag.end;
                match &hidden {
                    Some(name) => {
                        // `<body>` also ends a `<head>` whose closing tag is missing, which
                        // would otherwise hide the whole message.
                        if tag.closing && tag.name == *name
                            || name == "head" && tag.name == "body" && !tag.closing
                        {
                            hidden = None;
                        }
                    }
                    None => {
                        if !tag.closing && !tag.self_closing && HIDDEN.contains(&tag.name.as_str())
                        {
                            hidden = Some(tag.name);
                        } else {
                            out.tag(&tag);
                        }
                    }
                }
                continue;
            }
            // A `<` that starts no tag ("a < b") is text.
        }
        let next = bytes[pos + 1..]
            .iter()
            .position(|&b| b == b'<')
            .map_or(bytes.len(), |n| pos + 1 + n);
        if hidden.is_none() {
            out.text(&html[pos..next]);
        }
        pos = next;
    }
    out.finish()
}

struct Tag {
    name: String,
    closing: bool,
    self_closing: bool,
    end: usize,
}

/// Parses the tag starting at `bytes[start] == b'<'`; `None` if it is not a tag.
fn parse_tag(bytes: &[u8], start: usize) -> Option<Tag> {
    let mut pos = start + 1;
    let closing = bytes.get(pos) == Some(&b'/');
    if closing {
        pos += 1;
    }
    let first = *bytes.get(pos)?;
    if !(first.is_ascii_alphabetic() || first == b'!' || first == b'?') {
        return None;
    }
    let name_start = pos;
    while pos < bytes.len()
        && !bytes[pos].is_ascii_whitespace()
        && bytes[pos] != b'>'
        && bytes[pos] != b'/'
    {
        pos += 1;
    }
    let name = String::from_utf8_lossy(&bytes[name_start..pos]).to_ascii_lowercase();
    // Attribute values may contain `>` (style="a>b"); skip quoted strings.
    let mut quote = None;
    while pos < bytes.len() {
        let b = bytes[pos];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => {
                let self_closing = bytes[pos - 1] == b'/';
                return Some(Tag {
                    // Outlook's namespaced tags (`<o:p>`) count as the plain element name.
                    name: name.rsplit(':').next().unwrap_or_default().to_string(),
                    closing,
                    self_closing,
                    end: pos + 1,
                });
            }
            None => {}
        }
        pos += 1;
    }
    // An unterminated tag at the end of a truncated part: drop it.
    Some(Tag {
        name,
        closing,
        self_closing: true,
        end: bytes.len(),
    })
}

fn find(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|n| from + n)
}

/// Collects text into lines, collapsing whitespace the way a browser does.
#[derive(Default)]
struct TextBuilder {
    lines: Vec<String>,
    line: String,
    /// Blockquote depth of the current line, fixed when its first text arrives.
    line_depth: Option<usize>,
    depth: usize,
    pending_space: bool,
    pre: usize,
}

impl TextBuilder {
    fn tag(&mut self, tag: &Tag) {
        let name = tag.name.as_str();
        if name == "br" {
            self.hard_break();
        } else if name == "blockquote" {
            self.end_line();
            if tag.closing {
                self.depth = self.depth.saturating_sub(1);
            } else if !tag.self_closing {
                self.depth += 1;
            }
        } else if BLOCKS.contains(&name) {
            self.end_line();
            if name == "pre" && !tag.self_closing {
                self.pre = if tag.closing {
                    self.pre.saturating_sub(1)
                } else {
                    self.pre + 1
                };
            }
            if name == "li" && !tag.closing {
                self.push_str("- ");
            }
        } else if (name == "td" || name == "th") && !tag.closing {
            // Cells of a row on one line, apart.
            self.pending_space = !self.line.is_empty();
        }
        // Other tags (inline formatting, images with their alt text) leave no trace: alt texts
        // of logos and banners are noise for classification.
    }

    fn text(&mut self, raw: &str) {
        let mut rest = raw;
        while !rest.is_empty() {
            // Entities: `&name;` or `&#123;` up to a sane length; mail-parser decodes them and
            // copies anything it does not know verbatim.
            if rest.starts_with('&')
                && let Some(end) = rest[1..].find(';').filter(|&n| n < 40)
                && rest[1..=end]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'#')
            {
                let mut decoded = String::new();
                add_html_token(&mut decoded, &rest.as_bytes()[..end + 2], false);
                for c in decoded.chars() {
                    self.push_char(c);
                }
                rest = &rest[end + 2..];
                continue;
            }
            let c = rest.chars().next().unwrap_or_default();
            self.push_char(c);
            rest = &rest[c.len_utf8()..];
        }
    }

    fn push_char(&mut self, c: char) {
        if self.pre > 0 {
            match c {
                '\n' => self.hard_break(),
                '\r' => {}
                _ => self.push_visible(c),
            }
            return;
        }
        // NBSP counts as an ordinary space: the classifier matches words, not layout.
        if c.is_whitespace() || c == '\u{a0}' {
            self.pending_space = true;
        } else {
            self.push_visible(c);
        }
    }

    fn push_str(&mut self, s: &str) {
        for c in s.chars() {
            self.push_visible(c);
        }
    }

    fn push_visible(&mut self, c: char) {
        if self.line_depth.is_none() {
            self.line_depth = Some(self.depth);
            self.pending_space = false;
        }
        if self.pending_space && !self.line.is_empty() {
            self.line.push(' ');
        }
        self.pending_space = false;
        self.line.push(c);
    }

    /// Ends the current line if it has text (block boundaries do not stack up empty lines).
    fn end_line(&mut self) {
        if !self.line.is_empty() {
            self.hard_break();
        }
        self.pending_space = false;
    }

    /// Ends the current line even when empty (`<br>`): two `<br>` make an empty line.
    fn hard_break(&mut self) {
        let depth = self.line_depth.take().unwrap_or(self.depth);
        let mut line = "> ".repeat(depth);
        line.push_str(&self.line);
        let line = line.trim_end().to_string();
        self.lines.push(line);
        self.line.clear();
        self.pending_space = false;
    }

    fn finish(mut self) -> String {
        self.end_line();
        // At most one empty line in a row, none at the start or the end.
        let mut text = String::new();
        let mut blank = true;
        for line in &self.lines {
            let is_blank = line.is_empty() || line.chars().all(|c| c == '>' || c == ' ');
            if is_blank && blank {
                continue;
            }
            text.push_str(if is_blank { "" } else { line });
            text.push('\n');
            blank = is_blank;
        }
        text.trim_end().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::html_to_text;

    #[test]
    fn divs_and_paragraphs_become_lines() {
        let html = "<div>Sehr geehrte Damen und Herren,</div><div>ich widerrufe.</div><p>Gruß</p>";
        assert_eq!(
            html_to_text(html),
            "Sehr geehrte Damen und Herren,\nich widerrufe.\nGruß"
        );
    }

    #[test]
    fn entities_are_decoded_and_whitespace_collapses() {
        let html = "M&ouml;chte&nbsp;&quot;nichts&quot;   &amp;\n  &#252;&#xFC; &unknown; a < b";
        assert_eq!(html_to_text(html), "Möchte \"nichts\" & üü &unknown; a < b");
    }

    #[test]
    fn head_style_script_and_comments_are_dropped() {
        let html = "<html><head><title>Titel</title><style>p{x:1}</style></head>\
                    <body><!-- note --><script>var a = '<b>';</script>Text</body></html>";
        assert_eq!(html_to_text(html), "Text");
    }

    #[test]
    fn a_head_without_closing_tag_ends_at_the_body() {
        let html = "<html><head><meta charset=utf-8><body>Text</body></html>";
        assert_eq!(html_to_text(html), "Text");
    }

    #[test]
    fn blockquotes_become_quoted_lines() {
        let html = "Neu<blockquote>Alt<br>Zeile<blockquote>Älter</blockquote></blockquote>Ende";
        assert_eq!(html_to_text(html), "Neu\n> Alt\n> Zeile\n> > Älter\nEnde");
    }

    #[test]
    fn list_items_and_table_cells_stay_apart() {
        let html =
            "<ul><li>eins</li><li>zwei</li></ul><table><tr><td>a</td><td>b</td></tr></table>";
        assert_eq!(html_to_text(html), "- eins\n- zwei\na b");
    }

    #[test]
    fn double_breaks_leave_one_empty_line() {
        assert_eq!(html_to_text("a<br><br><br><br>b<br>"), "a\n\nb");
    }

    #[test]
    fn inline_tags_do_not_split_words_or_lose_spaces() {
        let html = "<b>Von:</b> x@y.de<br><span>wi</span><span>derrufen</span>";
        assert_eq!(html_to_text(html), "Von: x@y.de\nwiderrufen");
    }

    #[test]
    fn attributes_with_angle_brackets_do_not_end_the_tag() {
        assert_eq!(html_to_text("<div title=\"a>b\">Text</div>"), "Text");
    }

    #[test]
    fn preformatted_text_keeps_its_lines() {
        assert_eq!(html_to_text("<pre>a  b\nc</pre>"), "a  b\nc");
    }
}
