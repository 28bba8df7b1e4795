//! Tenant policies: the TOML record of processing per tenant, its validation and its German wording.
//!
//! Parsing happens in two steps: serde reads the file into loose `Raw*` structs (every
//! field optional, every string spanned), then `Checker` validates all of it in one
//! pass so a data-protection officer sees every problem of a file at once, each with
//! the line it is on.

mod check;
mod model;
mod review;
#[cfg(test)]
mod tests;

pub use model::*;

use check::{Checker, RawPolicy};
use std::collections::HashMap;

pub use super::subject::is_email_address;

/// Parses and validates one policy file. `file` is only used in messages.
/// On failure returns every problem found, sorted by line.
pub fn parse_policy(file: &str, source: &str) -> Result<Policy, Vec<PolicyError>> {
    let raw: RawPolicy = match toml::from_str(source) {
        Ok(raw) => raw,
        Err(e) => return Err(vec![toml_error(file, source, &e)]),
    };
    let mut checker = Checker {
        file,
        lines: LineIndex::new(source),
        errors: Vec::new(),
        unconfirmed: Vec::new(),
        kind: None,
    };
    let policy = checker.policy(raw);
    let mut errors = checker.errors;
    match policy {
        Some(policy) if errors.is_empty() => Ok(policy),
        _ => {
            // Every rejection records an error; this only guards against a checker bug
            // turning into an "invalid, but no reason given".
            if errors.is_empty() {
                errors.push(PolicyError {
                    file: file.to_string(),
                    line: 1,
                    field: "policy".into(),
                    problem: "invalid policy".into(),
                });
            }
            // Stable sort keeps the order of discovery within a line.
            errors.sort_by_key(|e| e.line);
            Err(errors)
        }
    }
}

/// Rules that span files: slugs and withdrawal addresses must be unique, or URLs and
/// mail routing become ambiguous. Each clash is reported on the later file.
pub fn check_set(policies: &[Policy]) -> Vec<PolicyError> {
    let mut errors = Vec::new();
    let mut slugs: HashMap<&str, &str> = HashMap::new();
    let mut addresses: HashMap<String, &str> = HashMap::new();
    for policy in policies {
        let slug = policy.tenant.slug.as_str();
        if let Some(other) = slugs.get(slug) {
            errors.push(PolicyError {
                file: policy.file.clone(),
                line: policy.lines.slug.max(1),
                field: "tenant.slug".into(),
                problem: format!("duplicate slug \"{slug}\": also in {other}"),
            });
        } else {
            slugs.insert(slug, &policy.file);
        }
        for (i, address) in policy.tenant.withdrawal_addresses.iter().enumerate() {
            let key = address.trim().to_lowercase();
            match addresses.get(&key) {
                // Within one file this was already reported by parse_policy.
                Some(other) if *other != policy.file => errors.push(PolicyError {
                    file: policy.file.clone(),
                    line: policy
                        .lines
                        .withdrawal_addresses
                        .get(i)
                        .copied()
                        .unwrap_or(0)
                        .max(1),
                    field: "tenant.withdrawal_addresses".into(),
                    problem: format!(
                        "withdrawal address \"{address}\" is also used in {other}; \
                         incoming mail could not be routed to one tenant"
                    ),
                }),
                Some(_) => {}
                None => {
                    addresses.insert(key, &policy.file);
                }
            }
        }
    }
    errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    errors
}

/// Turns a TOML/serde error into our format. toml reports no key path, so the field
/// is recovered from the source around the error.
fn toml_error(file: &str, source: &str, e: &toml::de::Error) -> PolicyError {
    let offset = e.span().map_or(0, |s| s.start);
    let problem = e
        .message()
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("invalid TOML")
        .to_string();
    PolicyError {
        file: file.to_string(),
        line: line_of(source, offset),
        field: field_at(source, offset).unwrap_or_else(|| "toml".to_string()),
        problem,
    }
}

fn line_of(source: &str, offset: usize) -> usize {
    LineIndex::new(source).line(offset)
}

/// Where the lines of a policy file start, so that the checker finds the line of each of
/// its many spans by binary search instead of counting newlines from the top every time
/// (that counting was the largest single cost of starting any command).
pub(super) struct LineIndex {
    newlines: Vec<usize>,
    len: usize,
}

impl LineIndex {
    pub(super) fn new(source: &str) -> Self {
        let newlines = source
            .bytes()
            .enumerate()
            .filter_map(|(i, b)| (b == b'\n').then_some(i))
            .collect();
        LineIndex {
            newlines,
            len: source.len(),
        }
    }

    /// The 1-based line of the byte at `offset` (the last line past the end).
    pub(super) fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.len);
        self.newlines.partition_point(|&n| n < end) + 1
    }
}

/// Best-effort key path at `offset`: the last table header before it plus the key on
/// (or last assigned before) the error's line. Multi-line strings are skipped so that
/// their content is not mistaken for keys.
fn field_at(source: &str, offset: usize) -> Option<String> {
    let target = line_of(source, offset);
    let mut table: Option<String> = None;
    let mut key: Option<String> = None;
    let mut in_multiline: Option<&str> = None;
    for (index, raw_line) in source.lines().enumerate() {
        let line = raw_line.trim();
        let number = index + 1;
        if let Some(delim) = in_multiline {
            if line.matches(delim).count() % 2 == 1 {
                in_multiline = None;
            }
            if number == target {
                break;
            }
            continue;
        }
        if line.starts_with('[') {
            let name = line
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim();
            table = Some(name.replace(['"', '\'', ' '], ""));
            key = None;
        } else if let Some((k, rest)) = line.split_once('=') {
            let k = k.trim();
            if !k.is_empty()
                && k.chars()
                    .all(|c| c.is_alphanumeric() || "_-.\"'".contains(c))
            {
                key = Some(k.replace(['"', '\''], ""));
            }
            for delim in ["\"\"\"", "'''"] {
                if rest.matches(delim).count() % 2 == 1 {
                    in_multiline = Some(delim);
                }
            }
        }
        if number == target {
            break;
        }
    }
    match (table, key) {
        (Some(t), Some(k)) => Some(format!("{t}.{k}")),
        (Some(t), None) => Some(t),
        (None, Some(k)) => Some(k),
        (None, None) => None,
    }
}
