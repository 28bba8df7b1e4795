//! The matcher: a text as folded words and sentences, and wordings ("zieh* … zurück") found in it.

use super::words::*;

/// Appends `c` to `out` lowercased, with umlauts and ß spelled out, so that both spellings
/// compare equal. A combining diaeresis (decomposed "u" + "¨", as some Mac mailers send it)
/// turns the vowel before it into its spelled-out form too.
pub(super) fn fold_char(c: char, out: &mut String) {
    if c == '\u{308}' {
        if out.ends_with(['a', 'o', 'u']) {
            out.push('e');
        }
        return;
    }
    if is_combining(c) || is_apostrophe(c) {
        return;
    }
    for l in c.to_lowercase() {
        match l {
            'ä' => out.push_str("ae"),
            'ö' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            other => out.push(other),
        }
    }
}

pub(super) fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        fold_char(c, &mut out);
    }
    out
}

pub(super) fn is_combining(c: char) -> bool {
    ('\u{300}'..='\u{36f}').contains(&c)
}

pub(super) fn is_apostrophe(c: char) -> bool {
    c == '\'' || c == '’'
}

pub(super) fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || is_combining(c)
}

/// A word of the text: folded form, byte range in the text, sentence and clause number.
pub(super) struct Word {
    pub(super) norm: String,
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) sentence: usize,
    pub(super) clause: usize,
}

/// Indices of the words a wording matched, ascending (words inside a `…` are not included).
pub(super) type Found = Vec<usize>;

pub(super) fn first(f: &Found) -> usize {
    f[0]
}

pub(super) fn last(f: &Found) -> usize {
    f[f.len() - 1]
}

/// Words between two matches (0 when they touch or overlap).
pub(super) fn dist(a: &Found, b: &Found) -> usize {
    if last(a) < first(b) {
        first(b) - last(a)
    } else if last(b) < first(a) {
        first(a) - last(b)
    } else {
        0
    }
}

/// A text cut into words, sentences and clauses.
pub(super) struct Doc<'a> {
    pub(super) text: &'a str,
    pub(super) words: Vec<Word>,
    /// Per sentence: whether it ends with a question mark.
    pub(super) questions: Vec<bool>,
}

impl<'a> Doc<'a> {
    /// Sentences end at `.`, `!`, `?` or `…` followed by a space (not after a number or an
    /// abbreviation), and at blank lines; clauses also end at `,`, `;`, `:`, brackets and dashes.
    pub(super) fn new(text: &'a str) -> Self {
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let mut words: Vec<Word> = Vec::new();
        let mut questions = vec![false];
        let (mut sentence, mut clause) = (0, 0);
        let (mut end_sentence, mut end_clause) = (false, false);
        let mut newlines = 0;
        let mut current: Option<(usize, String)> = None;
        for (k, &(i, c)) in chars.iter().enumerate() {
            let next = chars.get(k + 1).map(|&(_, n)| n);
            let apostrophe_inside =
                is_apostrophe(c) && current.is_some() && next.is_some_and(char::is_alphabetic);
            if is_word_char(c) || apostrophe_inside {
                let (_, norm) = current.get_or_insert_with(|| {
                    if end_sentence {
                        sentence += 1;
                        questions.push(false);
                    }
                    if end_sentence || end_clause {
                        clause += 1;
                    }
                    (end_sentence, end_clause, newlines) = (false, false, 0);
                    (i, String::new())
                });
                fold_char(c, norm);
                continue;
            }
            if let Some((start, norm)) = current.take() {
                words.push(Word {
                    norm,
                    start,
                    end: i,
                    sentence,
                    clause,
                });
            }
            if !c.is_whitespace() {
                newlines = 0;
            }
            match c {
                '.' | '!' | '?' | '…' => {
                    if c == '?' {
                        questions[sentence] = true;
                    }
                    let spaced =
                        next.is_none_or(|n| n.is_whitespace() || "\"')]»«“”„’.!?".contains(n));
                    let abbreviation = c == '.'
                        && words
                            .last()
                            .is_some_and(|w| w.end == i && is_abbreviation(&w.norm));
                    if spaced && !abbreviation {
                        end_sentence = true;
                    }
                }
                ',' | ';' | ':' | '(' | ')' | '[' | ']' | '–' | '—' => end_clause = true,
                '\n' => {
                    newlines += 1;
                    if newlines >= 2 {
                        end_sentence = true;
                    }
                }
                _ => {}
            }
        }
        if let Some((start, norm)) = current {
            words.push(Word {
                norm,
                start,
                end: text.len(),
                sentence,
                clause,
            });
        }
        Doc {
            text,
            words,
            questions,
        }
    }

    /// Every place where one of `wordings` matches.
    pub(super) fn find(&self, wordings: &'static [&'static str]) -> Vec<Found> {
        let mut found: Vec<Found> = Vec::new();
        for elements in parsed(wordings).iter() {
            for i in 0..self.words.len() {
                if let Some(f) = self.match_at(elements, i)
                    && !found.contains(&f)
                {
                    found.push(f);
                }
            }
        }
        found.sort();
        found
    }

    /// Indices of the words where one of `wordings` matches (for single-word lists).
    pub(super) fn marks(&self, wordings: &'static [&'static str]) -> Vec<usize> {
        self.find(wordings).iter().flatten().copied().collect()
    }

    pub(super) fn match_at(&self, elements: &[Element], i: usize) -> Option<Found> {
        let (Element::Word(globs), rest) = elements.split_first()? else {
            return None;
        };
        let word = self.words.get(i)?;
        if !globs.iter().any(|g| g.matches(&word.norm)) {
            return None;
        }
        let mut found = vec![i];
        let candidates = match rest.first() {
            None => return Some(found),
            // Nearest first, so "keine SMS mehr … mehr" takes the first "mehr".
            Some(Element::Gap) => (i + 1..=i + 1 + GAP, &rest[1..]),
            Some(Element::Word(_)) => (i + 1..=i + 1, rest),
        };
        let (range, rest) = candidates;
        for j in range {
            if self
                .words
                .get(j)
                .is_none_or(|w| w.sentence != word.sentence)
            {
                break;
            }
            if let Some(more) = self.match_at(rest, j) {
                found.extend(more);
                return Some(found);
            }
        }
        None
    }

    pub(super) fn sentence(&self, i: usize) -> usize {
        self.words[i].sentence
    }

    pub(super) fn same_clause(&self, i: usize, j: usize) -> bool {
        self.words[i].clause == self.words[j].clause
    }

    /// A withdraw word and a consent word belong together.
    pub(super) fn near(&self, a: &Found, b: &Found) -> bool {
        let d = dist(a, b);
        d <= NEAR || (self.sentence(first(a)) == self.sentence(first(b)) && d <= SENTENCE_REACH)
    }

    /// Within `n` words in the same sentence.
    pub(super) fn reach(&self, a: &Found, b: &Found, n: usize) -> bool {
        self.sentence(first(a)) == self.sentence(first(b)) && dist(a, b) <= n
    }

    /// Word `i` lies inside `span`, or up to `before` words before it in the same clause
    /// (also across a comma followed by "dass"), or up to `after` words after it
    /// in the same clause.
    pub(super) fn around(
        &self,
        span: (usize, usize),
        i: usize,
        before: usize,
        after: usize,
    ) -> bool {
        if (span.0..=span.1).contains(&i) {
            return true;
        }
        if i > span.1 {
            return i - span.1 <= after && self.same_clause(span.1, i);
        }
        if span.0 - i > before || self.sentence(i) != self.sentence(span.0) {
            return false;
        }
        (i..span.0).all(|k| {
            self.same_clause(k, k + 1) || THAT_WORDS.contains(&self.words[k + 1].norm.as_str())
        })
    }

    /// The given words as written: runs of nearby words verbatim, " … " for longer gaps.
    pub(super) fn quote(&self, words: &[usize]) -> String {
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for &i in words {
            match runs.last_mut() {
                Some(run) if i <= run.1 + 4 => run.1 = i,
                _ => runs.push((i, i)),
            }
        }
        runs.iter()
            .map(|&(a, b)| {
                let slice = &self.text[self.words[a].start..self.words[b].end];
                slice.split_whitespace().collect::<Vec<_>>().join(" ")
            })
            .collect::<Vec<_>>()
            .join(" … ")
    }
}

pub(super) fn is_abbreviation(norm: &str) -> bool {
    ABBREVIATIONS.contains(&norm)
        || norm.chars().all(|c| c.is_ascii_digit())
        || norm.chars().count() == 1
}

// ===========================================================================================
// Wordings
// ===========================================================================================

/// One place of a wording: a word (with alternatives) or a gap of up to [`GAP`] words.
pub(super) enum Element {
    Word(Vec<Glob>),
    Gap,
}

/// A word with optional `*` at either end.
pub(super) struct Glob {
    pub(super) text: String,
    pub(super) any_before: bool,
    pub(super) any_after: bool,
}

impl Glob {
    pub(super) fn matches(&self, word: &str) -> bool {
        match (self.any_before, self.any_after) {
            (false, false) => word == self.text,
            (false, true) => word.starts_with(&self.text),
            (true, false) => word.ends_with(&self.text),
            (true, true) => word.contains(&self.text),
        }
    }
}

pub(super) fn parse_glob(folded: &str) -> Glob {
    Glob {
        text: folded.trim_matches('*').to_string(),
        any_before: folded.starts_with('*'),
        any_after: folded.ends_with('*'),
    }
}

/// The wordings of a list, parsed once: every message is matched against the same lists,
/// and parsing (folding, splitting, a string per word) cost as much as the matching. A list
/// is a `'static` slice, so its address and length name it (the same address and length
/// are the same words).
fn parsed(wordings: &'static [&'static str]) -> std::sync::Arc<Vec<Vec<Element>>> {
    type Cache = std::collections::HashMap<(usize, usize), std::sync::Arc<Vec<Vec<Element>>>>;
    static CACHE: std::sync::OnceLock<std::sync::Mutex<Cache>> = std::sync::OnceLock::new();
    let key = (wordings.as_ptr() as usize, wordings.len());
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return hit.clone();
    }
    let list = std::sync::Arc::new(wordings.iter().map(|w| parse_wording(w)).collect());
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, std::sync::Arc::clone(&list));
    list
}

pub(super) fn parse_wording(wording: &str) -> Vec<Element> {
    fold(wording)
        .split_whitespace()
        .map(|part| match part {
            "…" | "..." => Element::Gap,
            _ => Element::Word(part.split('|').map(parse_glob).collect()),
        })
        .collect()
}
